//! Router tests for visitor chat, callbacks/leads with voice notes, operator messages and
//! internal notes ([`ringside_api::messages`]): widget key and origin checks, CORS, webhook
//! events queued in the outbox, scopes, tenant isolation and validation — on SQLite, and on
//! PostgreSQL when `RINGSIDE_TEST_POSTGRES_URL` is set.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use common::{assert_error, multipart, uniq, Backend, Harness, Resp, PUBLIC_URL};
use http_body_util::BodyExt;
use ringside_api::{router, AppState};
use ringside_storage::Store;
use serde_json::{json, Value};
use tower::ServiceExt;

async fn backends() -> Vec<Backend> {
    common::backends("ringside-messages").await
}

struct Ctx {
    app: axum::Router,
    store: Store,
    data_dir: std::path::PathBuf,
    /// Operators available in the dashboard (someone there: the offline form is not offered).
    console: Arc<ringside_api::console::ConsoleOperators>,
}

impl Harness for Ctx {
    fn app(&self) -> &axum::Router {
        &self.app
    }
    fn store(&self) -> &Store {
        &self.store
    }
}

fn ctx(store: Store) -> Ctx {
    ctx_limited(store, Default::default())
}

/// A context with the given abuse limits, trusting no proxy.
fn ctx_limited(store: Store, limits: ringside_api::RateLimitConfig) -> Ctx {
    let data_dir =
        std::env::temp_dir().join(format!("ringside-msg-data-{}", rand::random::<u64>()));
    let console = Arc::new(ringside_api::console::ConsoleOperators::default());
    let app = router(AppState {
        data_dir: data_dir.clone(),
        rate_limits: Arc::new(ringside_api::RateLimits::new(limits)),
        console: console.clone(),
        ..common::state(&store)
    });
    Ctx {
        app,
        store,
        data_dir,
        console,
    }
}

impl Ctx {
    /// A raw request: status, headers and body bytes.
    async fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut b = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let resp = self
            .app
            .clone()
            .oneshot(b.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, headers, bytes.to_vec())
    }

    /// A tenant with a token (all message and widget scopes), a widget allowing
    /// `example.com`, and a webhook subscribed to chat and callback events.
    async fn setup(&self, prefix: &str) -> Setup {
        let email = format!("{}@m.example", uniq(prefix));
        let token = self.token(&email, ALL).await;
        let tenant = self.store.ensure_user(&email).await.unwrap().tenant_id;
        let (st, w) = self
            .json(
                "POST",
                "/api/v1/widgets",
                &token,
                json!({"name": "Site", "allowedDomains": ["example.com"], "greeting": "Hi there"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{w}");
        let hook = self
            .store
            .create_webhook(
                &tenant,
                ringside_storage::NewWebhook {
                    name: "h".into(),
                    url: "http://127.0.0.1:9/hook".into(),
                    events: vec!["chat.message.created".into(), "callback.submitted".into()],
                    widget_ids: vec![],
                },
            )
            .await
            .unwrap();
        Setup {
            token,
            tenant,
            widget: w["id"].as_str().unwrap().to_owned(),
            key: w["publicKey"].as_str().unwrap().to_owned(),
            hook: hook.id,
        }
    }

    async fn events(&self, s: &Setup, kind: &str) -> Vec<Value> {
        self.store
            .list_webhook_deliveries(&s.tenant, &s.hook, 500)
            .await
            .unwrap()
            .into_iter()
            .filter(|d| d.event_type == kind)
            .map(|d| serde_json::from_str(&d.payload).unwrap())
            .collect()
    }

    async fn message_count(&self, s: &Setup) -> usize {
        self.store
            .list_messages(&s.tenant, &s.widget, None, 500)
            .await
            .unwrap()
            .len()
    }

    async fn callback_count(&self, s: &Setup) -> usize {
        self.store
            .list_callbacks(&s.tenant, &s.widget, None, 500)
            .await
            .unwrap()
            .len()
    }
}

struct Setup {
    token: String,
    tenant: String,
    widget: String,
    key: String,
    hook: String,
}

const ALL: &[&str] = &[
    "widgets:read",
    "widgets:write",
    "messages:read",
    "messages:write",
];
const ORIGIN: (&str, &str) = ("origin", "https://example.com");

#[tokio::test]
async fn visitor_chat_and_operator_messages() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(backend.store.clone());
        let s = c.setup("chat").await;
        let chat = format!("/api/widgets/{}/chat", s.widget);
        let bearer = format!("Bearer {}", s.key);

        // Preflight from an allowed origin.
        let r = c
            .send(
                "OPTIONS",
                &chat,
                &[ORIGIN, ("access-control-request-method", "POST")],
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "[{name}]");
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://example.com")
        );

        // Visitor message from an allowed origin: stored, webhook queued, CORS echoed.
        let r = c
            .send(
                "POST",
                &chat,
                &[ORIGIN, ("authorization", &bearer)],
                Some(r#"{"sessionId": "sess-0001", "message": "Hello, pricing?"}"#),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "[{name}] {}", r.body);
        assert_eq!(r.body["success"], true);
        assert_eq!(r.body["conversationId"], "sess-0001");
        assert!(r.body.get("message").is_none(), "no automatic answer");
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://example.com")
        );
        let stored = c
            .store
            .list_messages(&s.tenant, &s.widget, Some("sess-0001"), 10)
            .await
            .unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(
            (stored[0].sender.as_str(), stored[0].body.as_str()),
            ("visitor", "Hello, pricing?")
        );
        let ev = c.events(&s, "chat.message.created").await;
        assert_eq!(ev.len(), 1, "[{name}]");
        assert_eq!(ev[0]["widgetId"], s.widget.as_str());
        assert_eq!(ev[0]["sender"], "visitor");

        // Key as ?key=, page given by ?domain= (no Origin header).
        let r = c
            .send(
                "POST",
                &format!("{chat}?key={}&domain=example.com", s.key),
                &[],
                Some(r#"{"sessionId": "sess-0001", "message": "second"}"#),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "[{name}] {}", r.body);

        // Refusals store nothing.
        let before = c.message_count(&s).await;
        let msg = r#"{"sessionId": "sess-0001", "message": "x"}"#;
        let r = c
            .send(
                "POST",
                &chat,
                &[
                    ("origin", "https://evil.example"),
                    ("authorization", &bearer),
                ],
                Some(msg),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "[{name}]");
        assert_error(&r.body, "origin_not_allowed");
        let r = c
            .send(
                "POST",
                &chat,
                &[ORIGIN, ("authorization", "Bearer wk_wrong")],
                Some(msg),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "[{name}]");
        assert_error(&r.body, "unauthorized");
        let r = c.send("POST", &chat, &[ORIGIN], Some(msg)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "[{name}]");
        let r = c
            .send(
                "POST",
                "/api/widgets/nope/chat",
                &[ORIGIN, ("authorization", &bearer)],
                Some(msg),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "[{name}]");
        let long = json!({"sessionId": "sess-0001", "message": "x".repeat(4001)}).to_string();
        for (body, status, code) in [
            (
                r#"{"sessionId": "sess-0001"}"#.to_owned(),
                StatusCode::BAD_REQUEST,
                "invalid_body",
            ),
            (
                r#"{"message": "hi"}"#.to_owned(),
                StatusCode::BAD_REQUEST,
                "invalid_body",
            ),
            (
                "not json".to_owned(),
                StatusCode::BAD_REQUEST,
                "invalid_body",
            ),
            (
                r#"{"sessionId": "sess-0001", "message": "   "}"#.to_owned(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
            ),
            (
                r#"{"sessionId": "bad id!", "message": "hi"}"#.to_owned(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
            ),
            (long, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        ] {
            let r = c
                .send(
                    "POST",
                    &chat,
                    &[ORIGIN, ("authorization", &bearer)],
                    Some(&body),
                )
                .await;
            assert_eq!(r.status, status, "[{name}] {body:.80}: {}", r.body);
            assert_error(&r.body, code);
            assert_eq!(
                r.header("access-control-allow-origin"),
                Some("https://example.com")
            );
        }
        let r = c
            .send(
                "POST",
                &chat,
                &[ORIGIN, ("authorization", &bearer)],
                Some(&"x".repeat(40_000)),
            )
            .await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "[{name}]");
        assert_eq!(
            c.message_count(&s).await,
            before,
            "[{name}] refusals stored nothing"
        );

        // Operator reply through /api/v1, then the visitor's conversation lists both sides.
        let v1 = format!("/api/v1/widgets/{}/messages", s.widget);
        let (st, m) = c
            .json(
                "POST",
                &v1,
                &s.token,
                json!({"visitorId": "sess-0001", "body": "Happy to help"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "[{name}] {m}");
        assert_eq!(m["sender"], "operator");
        assert!(m["authorUserId"].is_string());
        let (st, m) = c
            .json(
                "POST",
                &v1,
                &s.token,
                json!({"visitorId": "sess-0001", "body": "Auto", "sender": "automation"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "[{name}] {m}");
        assert_eq!(m["authorUserId"], Value::Null);
        let (st, list) = c
            .call(
                "GET",
                &format!("{v1}?visitorId=sess-0001"),
                Some(&s.token),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        let senders: Vec<&str> = list["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["sender"].as_str().unwrap())
            .collect();
        assert_eq!(
            senders,
            ["visitor", "visitor", "operator", "automation"],
            "[{name}]"
        );
        let (_, other) = c
            .call(
                "GET",
                &format!("{v1}?visitorId=someone-else"),
                Some(&s.token),
                None,
            )
            .await;
        assert_eq!(other["messages"], json!([]));
        let ev = c.events(&s, "chat.message.created").await;
        assert_eq!(ev.len(), 4, "[{name}] visitor and operator messages queued");

        // Bad v1 bodies store nothing.
        let before = c.message_count(&s).await;
        for (body, status) in [
            (json!({"visitorId": "sess-0001"}), StatusCode::BAD_REQUEST),
            (
                json!({"visitorId": "sess-0001", "body": "x", "sender": "visitor"}),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                json!({"visitorId": "sess-0001", "body": ""}),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                json!({"visitorId": "", "body": "x"}),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                json!({"visitorId": "sess-0001", "body": "x", "extra": 1}),
                StatusCode::BAD_REQUEST,
            ),
        ] {
            let (st, b) = c.json("POST", &v1, &s.token, body.clone()).await;
            assert_eq!(st, status, "[{name}] {body}: {b}");
            assert!(b["error"]["code"].is_string());
        }
        assert_eq!(c.message_count(&s).await, before);

        // 401 / 403 / 404 on every v1 endpoint.
        let reader = c
            .token(&format!("{}@m.example", uniq("noscope")), &["widgets:read"])
            .await;
        let stranger = c.setup("stranger").await;
        let cb = format!("/api/v1/widgets/{}/callbacks", s.widget);
        let notes = format!("/api/v1/widgets/{}/visitors/sess-0001/notes", s.widget);
        let vn = format!("{cb}/00000000-0000-0000-0000-000000000000/voice-note");
        for (method, path, body) in [
            ("GET", v1.as_str(), None),
            (
                "POST",
                v1.as_str(),
                Some(json!({"visitorId": "sess-0001", "body": "x"})),
            ),
            ("GET", cb.as_str(), None),
            ("GET", vn.as_str(), None),
            ("GET", notes.as_str(), None),
            ("POST", notes.as_str(), Some(json!({"body": "x"}))),
        ] {
            let body = body.map(|b| b.to_string());
            let (st, _) = c.call(method, path, None, body.as_deref()).await;
            assert_eq!(st, StatusCode::UNAUTHORIZED, "[{name}] {method} {path}");
            let (st, b) = c.call(method, path, Some(&reader), body.as_deref()).await;
            assert_eq!(st, StatusCode::FORBIDDEN, "[{name}] {method} {path}");
            assert_error(&b, "forbidden");
            let (st, b) = c
                .call(method, path, Some(&stranger.token), body.as_deref())
                .await;
            assert_eq!(st, StatusCode::NOT_FOUND, "[{name}] {method} {path}");
            assert_error(&b, "not_found");
        }
        assert_eq!(c.message_count(&s).await, before);
        backend.finish().await;
    }
}

#[tokio::test]
async fn ask_and_lead() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(backend.store.clone());
        let s = c.setup("lead").await;
        let r = c
            .send(
                "POST",
                "/widget/ask",
                &[],
                Some(
                    &json!({"clientId": s.widget, "widgetKey": s.key, "message": "What do you offer?",
                        "sessionId": "ask-session-1", "domain": "www.example.com"})
                    .to_string(),
                ),
            )
            .await;
        // www.example.com is not example.com: refused.
        assert_eq!(r.status, StatusCode::FORBIDDEN, "[{name}] {}", r.body);
        let ask = |domain: &str| {
            json!({"clientId": s.widget, "widgetKey": s.key, "message": "What do you offer?",
                "sessionId": "ask-session-1", "domain": domain})
            .to_string()
        };
        let r = c
            .send("POST", "/widget/ask", &[], Some(&ask("example.com")))
            .await;
        assert_eq!(r.status, StatusCode::OK, "[{name}] {}", r.body);
        assert_eq!(r.body["sessionId"], "ask-session-1");
        assert_eq!(r.body["usedAi"], false);
        assert!(r.body["answer"].is_string());
        // No knowledge and nobody there: it does not know, and asks for a way back.
        assert_eq!(r.body["answered"], false);
        assert_eq!(r.body["humanOffered"], true);
        assert_eq!(
            r.body["leadCapture"],
            json!({"required": true,
                   "prompt": "Leave your email or phone number and we'll get back to you."})
        );
        assert_eq!(r.body["sources"], json!([]));
        assert_eq!(r.body["branding"]["siteName"], "Site");
        // The question and the assistant's answer, each a message with its webhook.
        assert_eq!(c.message_count(&s).await, 2);
        let hooks = c.events(&s, "chat.message.created").await;
        assert_eq!(hooks.len(), 2);
        let senders: Vec<&Value> = hooks.iter().map(|h| &h["sender"]).collect();
        assert!(senders.contains(&&json!("assistant")), "{senders:?}");
        assert!(senders.contains(&&json!("visitor")), "{senders:?}");
        let mut wrong = serde_json::from_str::<Value>(&ask("example.com")).unwrap();
        wrong["widgetKey"] = json!("wk_nope");
        let r = c
            .send("POST", "/widget/ask", &[], Some(&wrong.to_string()))
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);

        // Lead without an assigned form while someone is there to chat: refused, nothing
        // stored (with nobody there the offline form takes it: the dashboard tests).
        let _seat = c.console.join(&s.tenant, "someone", vec![]);
        let lead = json!({"clientId": s.widget, "widgetKey": s.key, "name": "John Doe",
            "email": "john@example.com", "mobile": "9999999999",
            "originalQuestion": "I need pricing details", "sessionId": "ask-session-1",
            "domain": "example.com"});
        let r = c
            .send("POST", "/widget/lead", &[ORIGIN], Some(&lead.to_string()))
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "[{name}] {}",
            r.body
        );
        assert_error(&r.body, "invalid_field");
        assert_eq!(c.callback_count(&s).await, 0);

        // Assign a form (email required), then the lead is stored.
        let (st, w) = c
            .json(
                "PATCH",
                &format!("/api/v1/widgets/{}", s.widget),
                &s.token,
                json!({"leadForm": {"prompt": "Leave your details", "fields": [
                    {"name": "email", "label": "Email", "type": "email", "required": true}]}}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "[{name}] {w}");
        let mut missing = lead.clone();
        missing.as_object_mut().unwrap().remove("email");
        let r = c
            .send(
                "POST",
                "/widget/lead",
                &[ORIGIN],
                Some(&missing.to_string()),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "[{name}] {}",
            r.body
        );
        assert_eq!(c.callback_count(&s).await, 0);
        let r = c
            .send("POST", "/widget/lead", &[ORIGIN], Some(&lead.to_string()))
            .await;
        assert_eq!(r.status, StatusCode::OK, "[{name}] {}", r.body);
        assert_eq!(r.body["success"], true);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://example.com")
        );
        let (st, list) = c
            .call(
                "GET",
                &format!(
                    "/api/v1/widgets/{}/callbacks?visitorId=ask-session-1",
                    s.widget
                ),
                Some(&s.token),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        let cb = &list["callbacks"][0];
        assert_eq!(cb["kind"], "lead");
        assert_eq!(cb["phone"], "9999999999");
        assert_eq!(cb["message"], "I need pricing details");
        assert_eq!(cb["voiceNote"], Value::Null);
        assert!(cb["fields"].get("widgetKey").is_none());
        let ev = c.events(&s, "callback.submitted").await;
        assert_eq!(ev.len(), 1, "[{name}]");
        assert_eq!(ev[0]["widgetId"], s.widget.as_str());

        // ask now reports the lead form.
        let r = c
            .send("POST", "/widget/ask", &[], Some(&ask("example.com")))
            .await;
        assert_eq!(
            r.body["leadCapture"],
            json!({"required": true, "prompt": "Leave your details"})
        );
        backend.finish().await;
    }
}

#[tokio::test]
async fn callbacks_with_voice_notes() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(backend.store.clone());
        let s = c.setup("cb").await;
        let url = format!("/api/widgets/{}/callbacks?key={}", s.widget, s.key);
        let audio: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let (ct, body) = multipart(&[
            ("name", None, b"Ana"),
            ("phone", None, b"+15550100"),
            ("message", None, b"Call me after 5"),
            ("visitorId", None, b"visitor-cb-1"),
            (
                "voiceNote",
                Some(("note.webm", "audio/webm;codecs=opus")),
                &audio,
            ),
        ]);
        let (st, h, out) = c
            .raw("POST", &url, &[ORIGIN, ("content-type", &ct)], body)
            .await;
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(st, StatusCode::CREATED, "[{name}] {out}");
        assert_eq!(
            h.get("access-control-allow-origin").unwrap(),
            "https://example.com"
        );
        assert_eq!(out["voiceNote"]["contentType"], "audio/webm");
        assert_eq!(out["voiceNote"]["bytes"], 5000);
        let id = out["id"].as_str().unwrap().to_owned();

        let (st, list) = c
            .call(
                "GET",
                &format!(
                    "/api/v1/widgets/{}/callbacks?visitorId=visitor-cb-1",
                    s.widget
                ),
                Some(&s.token),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        let cb = &list["callbacks"][0];
        assert_eq!(cb["id"], id.as_str());
        assert_eq!(cb["name"], "Ana");
        let dl = format!("/api/v1/widgets/{}/callbacks/{id}/voice-note", s.widget);
        assert_eq!(cb["voiceNote"]["url"], format!("{PUBLIC_URL}{dl}"));
        let auth = format!("Bearer {}", s.token);
        let (st, h, bytes) = c.raw("GET", &dl, &[("authorization", &auth)], vec![]).await;
        assert_eq!(st, StatusCode::OK, "[{name}]");
        assert_eq!(h.get("content-type").unwrap(), "audio/webm");
        assert_eq!(bytes, audio);
        let stored = c
            .store
            .get_callback(&s.tenant, &s.widget, &id)
            .await
            .unwrap();
        let path = stored.voice_note.unwrap().path;
        assert!(
            path.starts_with("voice-notes/") && !path.contains(".."),
            "{path}"
        );
        assert!(c.data_dir.join(&path).is_file());
        assert_eq!(c.events(&s, "callback.submitted").await.len(), 1);

        // JSON without a note.
        let (st, _, out) = c
            .raw(
                "POST",
                &url,
                &[ORIGIN, ("content-type", "application/json")],
                br#"{"email": "b@example.com", "message": "hi"}"#.to_vec(),
            )
            .await;
        assert_eq!(
            st,
            StatusCode::CREATED,
            "[{name}] {}",
            String::from_utf8_lossy(&out)
        );
        assert_eq!(c.callback_count(&s).await, 2);

        // Refusals store nothing.
        let big = vec![0u8; 2 * 1024 * 1024 + 1];
        let (ct, body) = multipart(&[
            ("phone", None, b"+15550100"),
            ("voiceNote", Some(("n.ogg", "audio/ogg")), &big),
        ]);
        let (st, _, out) = c
            .raw("POST", &url, &[ORIGIN, ("content-type", &ct)], body)
            .await;
        assert_eq!(
            st,
            StatusCode::PAYLOAD_TOO_LARGE,
            "[{name}] {}",
            String::from_utf8_lossy(&out)
        );
        let (ct, body) = multipart(&[
            ("phone", None, b"+15550100"),
            ("voiceNote", Some(("n.txt", "text/plain")), b"hello"),
        ]);
        let (st, _, out) = c
            .raw("POST", &url, &[ORIGIN, ("content-type", &ct)], body)
            .await;
        assert_eq!(
            st,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "[{name}] {}",
            String::from_utf8_lossy(&out)
        );
        let (ct, body) = multipart(&[("name", None, b"No contact")]);
        let (st, _, _) = c
            .raw("POST", &url, &[ORIGIN, ("content-type", &ct)], body)
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "[{name}]");
        let (ct, body) = multipart(&[("phone", None, b"+15550100")]);
        let (st, _, _) = c
            .raw(
                "POST",
                &url,
                &[("origin", "https://evil.example"), ("content-type", &ct)],
                body,
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "[{name}]");
        let (st, _, _) = c
            .raw(
                "POST",
                &url,
                &[ORIGIN, ("content-type", "application/json")],
                b"{bad".to_vec(),
            )
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "[{name}]");
        assert_eq!(
            c.callback_count(&s).await,
            2,
            "[{name}] refusals stored nothing"
        );

        // Another tenant cannot download it.
        let stranger = c.setup("cbs").await;
        let auth = format!("Bearer {}", stranger.token);
        let (st, _, _) = c.raw("GET", &dl, &[("authorization", &auth)], vec![]).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        let _ = std::fs::remove_dir_all(&c.data_dir);
        backend.finish().await;
    }
}

#[tokio::test]
async fn internal_notes() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(backend.store.clone());
        let s = c.setup("notes").await;
        let url = format!("/api/v1/widgets/{}/visitors/visitor-n-1/notes", s.widget);
        let (st, n) = c
            .json("POST", &url, &s.token, json!({"body": "Prefers email"}))
            .await;
        assert_eq!(st, StatusCode::CREATED, "[{name}] {n}");
        assert_eq!(n["visibility"], "team");
        let (st, n) = c
            .json(
                "POST",
                &url,
                &s.token,
                json!({"body": "Seems price sensitive", "visibility": "private"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "[{name}] {n}");
        for bad in [
            json!({"body": ""}),
            json!({"body": "x", "visibility": "public"}),
            json!({"visibility": "team"}),
        ] {
            let (st, _) = c.json("POST", &url, &s.token, bad.clone()).await;
            assert!(
                st == StatusCode::BAD_REQUEST || st == StatusCode::UNPROCESSABLE_ENTITY,
                "{bad}"
            );
        }
        let (st, list) = c.call("GET", &url, Some(&s.token), None).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(
            list["notes"].as_array().unwrap().len(),
            2,
            "[{name}] {list}"
        );
        // Another visitor has none.
        let (_, list) = c
            .call(
                "GET",
                &format!("/api/v1/widgets/{}/visitors/visitor-n-2/notes", s.widget),
                Some(&s.token),
                None,
            )
            .await;
        assert_eq!(list["notes"], json!([]));

        // A second user of the same tenant (inserted directly: the API has no way to add
        // one yet) sees the team note but not the first user's private note.
        let colleague = ringside_storage::new_id();
        sqlx::query("INSERT INTO users (id, tenant_id, email, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&colleague)
            .bind(&s.tenant)
            .bind(format!("{}@m.example", uniq("colleague")))
            .bind(ringside_storage::now_ms())
            .execute(c.store.pool())
            .await
            .unwrap();
        let (_, colleague_token) = c
            .store
            .create_token(&colleague, "t", &["messages:read".to_owned()])
            .await
            .unwrap();
        let (st, list) = c.call("GET", &url, Some(&colleague_token), None).await;
        assert_eq!(st, StatusCode::OK, "[{name}] {list}");
        let bodies: Vec<&str> = list["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["body"].as_str().unwrap())
            .collect();
        assert_eq!(bodies, ["Prefers email"], "[{name}] private note hidden");
        backend.finish().await;
    }
}

/// A public JSON POST from client address `ip` (as the server's `ConnectInfo`).
async fn from_ip(c: &Ctx, ip: &str, path: &str, body: Value) -> Resp {
    let peer: std::net::SocketAddr = format!("{ip}:40000").parse().unwrap();
    let req = Request::builder()
        .method("POST")
        .uri(path)
        .header(ORIGIN.0, ORIGIN.1)
        .header("content-type", "application/json")
        .extension(axum::extract::ConnectInfo(peer))
        .body(Body::from(body.to_string()))
        .unwrap();
    Resp::read(c.app.clone().oneshot(req).await.unwrap()).await
}

/// A 429 with a whole-seconds `Retry-After`, the stable body, and CORS for the allowed origin.
fn assert_limited(r: &Resp) {
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert_error(&r.body, "rate_limited");
    let secs: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(secs >= 1);
    assert_eq!(r.header("access-control-allow-origin"), Some(ORIGIN.1));
    assert_eq!(r.header("vary"), Some("Origin"));
}

/// Practically no refill during a test (one token per 1000 s), so counts are exact however
/// slowly the test runs.
const SLOW: f64 = 0.001;

#[tokio::test]
async fn per_ip_limit_on_chat() {
    for b in backends().await {
        let limits = ringside_api::RateLimitConfig {
            chat_per_ip: ringside_api::Limit::new(SLOW, 2),
            ..Default::default()
        };
        let c = ctx_limited(b.store.clone(), limits);
        let s = c.setup("rl-ip").await;
        let path = format!("/api/widgets/{}/chat?key={}", s.widget, s.key);
        let msg = |i: u32| json!({"sessionId": "sess-1", "message": format!("hello {i}")});
        for i in 0..2 {
            let r = from_ip(&c, "192.0.2.1", &path, msg(i)).await;
            assert_eq!(r.status, StatusCode::OK, "{}: {}", b.name, r.body);
        }
        let r = from_ip(&c, "192.0.2.1", &path, msg(2)).await;
        assert_limited(&r);
        // The refused message was not stored; another client is unaffected.
        assert_eq!(c.message_count(&s).await, 2, "{}", b.name);
        let r = from_ip(&c, "192.0.2.2", &path, msg(3)).await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", b.name, r.body);
        // Chat and tracking have separate per-IP budgets.
        let track = format!("/api/widgets/{}/track?key={}", s.widget, s.key);
        let r = from_ip(
            &c,
            "192.0.2.1",
            &track,
            json!({"visitorId": "visitor-1", "event": "page_view"}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", b.name, r.body);
        b.finish().await;
    }
}

#[tokio::test]
async fn per_widget_limit() {
    for b in backends().await {
        let limits = ringside_api::RateLimitConfig {
            per_widget: ringside_api::Limit::new(SLOW, 2),
            ..Default::default()
        };
        let c = ctx_limited(b.store.clone(), limits);
        let s = c.setup("rl-w").await;
        let other = c.setup("rl-w2").await;
        let path = format!("/api/widgets/{}/chat?key={}", s.widget, s.key);
        let msg = json!({"sessionId": "sess-1", "message": "hello"});
        // Different clients share the widget's budget.
        for ip in ["198.51.100.1", "198.51.100.2"] {
            let r = from_ip(&c, ip, &path, msg.clone()).await;
            assert_eq!(r.status, StatusCode::OK, "{}: {}", b.name, r.body);
        }
        // `/widget/ask` names the widget in its body and counts against the same budget.
        let ask = json!({"clientId": s.widget, "widgetKey": s.key, "message": "hi"});
        let r = from_ip(&c, "198.51.100.3", "/widget/ask", ask).await;
        assert_limited(&r);
        assert_eq!(c.message_count(&s).await, 2, "{}", b.name);
        // Another widget is unaffected.
        let path = format!("/api/widgets/{}/chat?key={}", other.widget, other.key);
        let r = from_ip(&c, "198.51.100.3", &path, msg).await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", b.name, r.body);
        b.finish().await;
    }
}

#[path = "messages/transcript.rs"]
mod transcript;
