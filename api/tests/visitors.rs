//! Router tests for visitor tracking (`POST /api/widgets/{id}/track`) and the live-visitor
//! API (`/api/v1/widgets/{id}/live-visitors`, `.../visitors/{visitorId}/activity`): exact
//! timing fields under a manual clock, User-Agent and campaign capture, sessions, refusals,
//! tenant isolation, and persistence through a rebuilt presence — on SQLite, and on
//! PostgreSQL when `RINGSIDE_TEST_POSTGRES_URL` is set.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use common::{assert_error, uniq, Backend, Harness, Resp};
use ringside_api::presence::ManualClock;
use ringside_api::{router, AppState, Presence, PresenceConfig};
use ringside_storage::Store;
use serde_json::{json, Value};
use tower::ServiceExt;

async fn backends() -> Vec<Backend> {
    common::backends("ringside-visitors").await
}

const T0: i64 = 1_700_000_000_000;
const ORIGIN: &str = "https://www.example.com";
const PEER: &str = "198.51.100.7:4444";
const CHROME_WIN: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                          (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

struct Ctx {
    app: axum::Router,
    store: Store,
    presence: Arc<Presence>,
}

fn ctx(store: Store, clock: Arc<ManualClock>, trust_xff: bool) -> Ctx {
    let presence = Arc::new(Presence::with_clock(
        store.clone(),
        PresenceConfig {
            trust_forwarded_for: trust_xff,
            ..PresenceConfig::default()
        },
        clock,
    ));
    let app = router(AppState {
        public_url: "https://calls.example.net".into(),
        presence: presence.clone(),
        ..common::state(&store)
    });
    Ctx {
        app,
        store,
        presence,
    }
}

impl Harness for Ctx {
    fn app(&self) -> &axum::Router {
        &self.app
    }
    fn store(&self) -> &Store {
        &self.store
    }
}
impl Ctx {
    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Resp {
        let mut b = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let mut req = match body {
            Some(s) => b
                .header("content-type", "application/json")
                .body(Body::from(s))
                .unwrap(),
            None => b.body(Body::empty()).unwrap(),
        };
        req.extensions_mut()
            .insert(ConnectInfo(PEER.parse::<SocketAddr>().unwrap()));
        Resp::read(self.app.clone().oneshot(req).await.unwrap()).await
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let auth = format!("Bearer {token}");
        let r = self
            .send("GET", path, &[("authorization", &auth)], None)
            .await;
        (r.status, r.body)
    }

    /// Creates a widget allowing `*.example.com`; returns (id, key).
    async fn widget(&self, token: &str) -> (String, String) {
        let auth = format!("Bearer {token}");
        let r = self
            .send(
                "POST",
                "/api/v1/widgets",
                &[("authorization", &auth)],
                Some(json!({"name": "Site", "allowedDomains": ["*.example.com"]}).to_string()),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        (
            r.body["id"].as_str().unwrap().to_owned(),
            r.body["publicKey"].as_str().unwrap().to_owned(),
        )
    }

    async fn track(&self, widget: &str, key: &str, body: Value) -> Resp {
        self.track_raw(widget, key, ORIGIN, body.to_string(), &[])
            .await
    }

    async fn track_raw(
        &self,
        widget: &str,
        key: &str,
        origin: &str,
        body: String,
        extra: &[(&str, &str)],
    ) -> Resp {
        let auth = format!("Bearer {key}");
        let mut h = vec![
            ("authorization", auth.as_str()),
            ("origin", origin),
            ("user-agent", CHROME_WIN),
            ("x-forwarded-for", "203.0.113.5"),
        ];
        h.extend_from_slice(extra);
        self.send(
            "POST",
            &format!("/api/widgets/{widget}/track"),
            &h,
            Some(body),
        )
        .await
    }
}

async fn live_of(c: &Ctx, path: &str, tok: &str) -> Value {
    let (st, body) = c.get(path, tok).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    body
}

const SCOPES: &[&str] = &["widgets:read", "widgets:write", "analytics:read"];

#[tokio::test]
async fn tracking_sets_the_live_visitor_fields() {
    for backend in backends().await {
        let name = backend.name;
        let clock = Arc::new(ManualClock::new(T0));
        let c = ctx(backend.store.clone(), clock.clone(), false);
        let tok = c.token(&format!("{}@a.example", uniq("va")), SCOPES).await;
        let (w, key) = c.widget(&tok).await;
        let live_path = format!("/api/v1/widgets/{w}/live-visitors");

        let landing = "https://www.example.com/pricing?utm_source=google&utm_medium=cpc\
                       &utm_campaign=spring%20demo&utm_term=call+api&utm_content=hero&gclid=G-123&fbclid=FB9";
        let r = c
            .track(
                &w,
                &key,
                json!({
                    "visitorId": "visitor-aaaa-1",
                    "sessionId": "session-1",
                    "event": "page_view",
                    "url": landing,
                    "title": "Pricing",
                    "referrer": "https://www.google.com/",
                    "timestamp": "2024-01-15T10:00:00Z",
                    "metadata": {"plan": "pro", "userId": 42}
                }),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "[{name}] {}", r.body);
        assert_eq!(r.body, json!({"success": true, "commands": []}));
        assert_eq!(
            r.headers
                .get("access-control-allow-origin")
                .and_then(|v| v.to_str().ok()),
            Some(ORIGIN)
        );

        let body = live_of(&c, &live_path, &tok).await;
        assert_eq!(body["liveTimeoutMs"], 90_000);
        let v = &body["visitors"][0];
        assert_eq!(body["visitors"].as_array().unwrap().len(), 1, "{body}");
        assert_eq!(v["visitorId"], "visitor-aaaa-1");
        assert_eq!(v["sessionId"], "session-1");
        assert_eq!(v["firstSeenAt"], T0);
        assert_eq!(v["lastSeenAt"], T0);
        assert_eq!(v["previousSeenAt"], Value::Null);
        assert_eq!(v["visitCount"], 1);
        assert_eq!(v["currentSessionStartedAt"], T0);
        assert_eq!(v["currentPageStartedAt"], T0);
        assert_eq!(v["lastInteractionAt"], T0);
        assert_eq!(v["sessionEventCount"], 1);
        assert_eq!(v["currentUrl"], landing);
        assert_eq!(v["pageTitle"], "Pricing");
        assert_eq!(v["referrer"], "https://www.google.com/");
        assert_eq!(
            v["ip"], "198.51.100.7",
            "X-Forwarded-For ignored by default"
        );
        assert_eq!(v["browser"], "Chrome");
        assert_eq!(v["os"], "Windows");
        assert_eq!(v["device"], "desktop");
        assert_eq!(v["isBot"], false);
        assert_eq!(v["utmSource"], "google");
        assert_eq!(v["utmMedium"], "cpc");
        assert_eq!(v["utmCampaign"], "spring demo");
        assert_eq!(v["utmTerm"], "call api");
        assert_eq!(v["utmContent"], "hero");
        assert_eq!(v["gclid"], "G-123");
        assert_eq!(v["fbclid"], "FB9");
        assert_eq!(v["metadata"], json!({"plan": "pro", "userId": 42}));

        // A heartbeat moves lastSeenAt only.
        clock.advance(10_000);
        let hb = json!({"visitorId": "visitor-aaaa-1", "event": "heartbeat"});
        assert_eq!(c.track(&w, &key, hb.clone()).await.status, StatusCode::OK);
        let v = live_of(&c, &live_path, &tok).await["visitors"][0].clone();
        assert_eq!(v["lastSeenAt"], T0 + 10_000);
        assert_eq!(v["lastInteractionAt"], T0);
        assert_eq!(v["sessionEventCount"], 1);
        assert_eq!(v["currentPageStartedAt"], T0);

        // A scroll is an interaction, on the same page.
        clock.advance(5_000);
        let scroll = json!({"visitorId": "visitor-aaaa-1", "event": "scroll", "url": landing});
        assert_eq!(c.track(&w, &key, scroll).await.status, StatusCode::OK);
        let v = live_of(&c, &live_path, &tok).await["visitors"][0].clone();
        assert_eq!(v["sessionEventCount"], 2);
        assert_eq!(v["lastInteractionAt"], T0 + 15_000);
        assert_eq!(v["currentPageStartedAt"], T0);

        // A page change moves the current page; campaign fields stay from the landing URL.
        clock.advance(5_000);
        let change = json!({
            "visitorId": "visitor-aaaa-1", "event": "page_change",
            "url": "https://www.example.com/contact", "title": "Contact",
            "metadata": {"step": 2}
        });
        assert_eq!(c.track(&w, &key, change).await.status, StatusCode::OK);
        let v = live_of(&c, &live_path, &tok).await["visitors"][0].clone();
        assert_eq!(v["sessionEventCount"], 3);
        assert_eq!(v["currentUrl"], "https://www.example.com/contact");
        assert_eq!(v["pageTitle"], "Contact");
        assert_eq!(v["currentPageStartedAt"], T0 + 20_000);
        assert_eq!(v["lastInteractionAt"], T0 + 20_000);
        assert_eq!(v["lastSeenAt"], T0 + 20_000);
        assert_eq!(v["utmSource"], "google");
        assert_eq!(
            v["metadata"],
            json!({"plan": "pro", "userId": 42, "step": 2})
        );
        assert_eq!(v["visitCount"], 1);

        // Activity: interactions only, newest first (before any flush).
        let act_path = format!("/api/v1/widgets/{w}/visitors/visitor-aaaa-1/activity");
        let (st, act) = c.get(&act_path, &tok).await;
        assert_eq!(st, StatusCode::OK, "{act}");
        let types: Vec<&str> = act["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["page_change", "scroll", "page_view"], "[{name}]");
        assert_eq!(act["events"][2]["at"], T0);
        assert_eq!(act["events"][2]["url"], landing);
        assert_eq!(
            act["events"][2]["data"]["clientTimestamp"],
            "2024-01-15T10:00:00Z"
        );

        // Flush: the visitor and 3 events reach storage in one batch.
        assert_eq!(c.presence.flush().await.unwrap(), (1, 3));
        let stored = c
            .store
            .find_visitor(&w, "visitor-aaaa-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.session_event_count, 3);
        assert_eq!(stored.last_seen_at, T0 + 20_000);
        assert_eq!(c.presence.flush().await.unwrap(), (0, 0));

        // Not live any more after lastSeenAt + 90 s.
        clock.advance(90_001);
        let body = live_of(&c, &live_path, &tok).await;
        assert_eq!(body["visitors"], json!([]), "[{name}]");

        // Back after the session timeout, through a presence rebuilt from the same store:
        // state is loaded lazily, a new visit starts.
        clock.advance(30 * 60 * 1000);
        let back_at = T0 + 20_000 + 90_001 + 30 * 60 * 1000;
        let c2 = ctx(backend.store.clone(), clock.clone(), true);
        let r = c2
            .track_raw(
                &w,
                &key,
                ORIGIN,
                json!({"visitorId": "visitor-aaaa-1", "event": "page_view",
                       "url": "https://www.example.com/", "title": "Home"})
                .to_string(),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let (_, body) = c2.get(&live_path, &tok).await;
        let v = &body["visitors"][0];
        assert_eq!(v["visitCount"], 2, "[{name}] {body}");
        assert_eq!(v["previousSeenAt"], T0 + 20_000);
        assert_eq!(v["currentSessionStartedAt"], back_at);
        assert_eq!(v["sessionEventCount"], 1);
        assert_eq!(v["firstSeenAt"], T0);
        assert_eq!(v["lastSeenAt"], back_at);
        assert_eq!(
            v["utmSource"],
            Value::Null,
            "a new visit takes its campaign anew"
        );
        assert_eq!(
            v["ip"], "203.0.113.5",
            "trusted proxy: X-Forwarded-For used"
        );
        assert_eq!(
            v["metadata"]["plan"], "pro",
            "metadata survived the rebuild"
        );
        let (_, act) = c2.get(&act_path, &tok).await;
        assert_eq!(act["events"].as_array().unwrap().len(), 4, "{act}");
        assert_eq!(act["events"][0]["type"], "page_view");
        assert_eq!(act["events"][0]["at"], back_at);
        c2.presence.flush().await.unwrap();
        assert_eq!(
            c2.store
                .list_visitor_events(
                    &c2.store.find_widget(&w).await.unwrap().tenant_id,
                    &w,
                    "visitor-aaaa-1",
                    100
                )
                .await
                .unwrap()
                .len(),
            4
        );
        drop((c, c2));
        backend.finish().await;
    }
}

#[tokio::test]
async fn tracking_refusals_store_nothing() {
    for backend in backends().await {
        let name = backend.name;
        let clock = Arc::new(ManualClock::new(T0));
        let c = ctx(backend.store.clone(), clock.clone(), false);
        let tok = c.token(&format!("{}@a.example", uniq("vr")), SCOPES).await;
        let (w, key) = c.widget(&tok).await;
        let ok = json!({"visitorId": "visitor-bbbb-1", "event": "page_view",
                        "url": "https://www.example.com/"});

        // Key, widget and origin checks.
        let r = c.track(&w, "wk_wrong", ok.clone()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "[{name}]");
        assert_error(&r.body, "unauthorized");
        let r = c
            .send(
                "POST",
                &format!("/api/widgets/{w}/track"),
                &[("origin", ORIGIN)],
                Some(ok.to_string()),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "[{name}] no key");
        let r = c.track("no-such-widget", &key, ok.clone()).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "[{name}]");
        let r = c
            .track_raw(&w, &key, "https://evil.example.net", ok.to_string(), &[])
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "[{name}]");
        assert_error(&r.body, "origin_not_allowed");
        assert!(r.headers.get("access-control-allow-origin").is_none());
        let r = c
            .track_raw(&w, &key, "https://example.com", ok.to_string(), &[])
            .await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "apex not covered by *.example.com"
        );

        // Key in the query works too; preflight answers with CORS.
        let r = c
            .send(
                "OPTIONS",
                &format!("/api/widgets/{w}/track"),
                &[
                    ("origin", ORIGIN),
                    ("access-control-request-method", "POST"),
                ],
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "[{name}]");
        assert_eq!(
            r.headers.get("access-control-allow-origin").unwrap(),
            ORIGIN
        );

        // Bad bodies: 400 for what is not the shape, 422 for invalid fields.
        let big_meta: String = "x".repeat(5000);
        for (body, status, code) in [
            ("not json".to_owned(), StatusCode::BAD_REQUEST, "invalid_body"),
            (json!({"visitorId": "visitor-bbbb-1"}).to_string(), StatusCode::BAD_REQUEST, "invalid_body"),
            (json!({"visitorId": 5, "event": "click"}).to_string(), StatusCode::BAD_REQUEST, "invalid_body"),
            (json!({"event": "click"}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            (json!({"visitorId": "abc", "event": "click"}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            (json!({"visitorId": "visitor bbbb", "event": "click"}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            (json!({"visitorId": "v".repeat(129), "event": "click"}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            (json!({"visitorId": "visitor-bbbb-1", "event": "Page View"}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            (json!({"visitorId": "visitor-bbbb-1", "event": "click", "url": "javascript:alert(1)"}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            (json!({"visitorId": "visitor-bbbb-1", "event": "click", "metadata": [1, 2]}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            (json!({"visitorId": "visitor-bbbb-1", "event": "click", "metadata": {"big": big_meta}}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            (json!({"visitorId": "visitor-bbbb-1", "event": "click", "timestamp": {"x": 1}}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            (json!({"visitorId": "visitor-bbbb-1", "event": "click", "title": "a\u{1}b"}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            (format!("{{\"visitorId\":\"visitor-bbbb-1\",\"event\":\"click\",\"pad\":\"{}\"}}", "y".repeat(20_000)), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        ] {
            let r = c.track_raw(&w, &key, ORIGIN, body.clone(), &[]).await;
            assert_eq!(r.status, status, "[{name}] {body:.80} -> {}", r.body);
            assert_error(&r.body, code);
            assert_eq!(
                r.headers.get("access-control-allow-origin").unwrap(),
                ORIGIN,
                "errors after the origin check carry CORS"
            );
        }
        assert_eq!(c.presence.flush().await.unwrap(), (0, 0));
        let (st, body) = c
            .get(&format!("/api/v1/widgets/{w}/live-visitors"), &tok)
            .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(body["visitors"], json!([]), "[{name}] nothing stored");
        assert!(c
            .store
            .find_visitor(&w, "visitor-bbbb-1")
            .await
            .unwrap()
            .is_none());

        // The reference shape (sessionId only, ?key=) is accepted; a bot is flagged.
        let r = c
            .send(
                "POST",
                &format!("/api/widgets/{w}/track?key={key}"),
                &[("origin", ORIGIN), ("user-agent", "curl/8.4.0")],
                Some(
                    json!({"sessionId": "session_abc123", "event": "widget_opened",
                            "timestamp": "2024-01-15T10:00:00Z",
                            "metadata": {"source": "landing_page"}})
                    .to_string(),
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "[{name}] {}", r.body);
        let (_, body) = c
            .get(&format!("/api/v1/widgets/{w}/live-visitors"), &tok)
            .await;
        let v = &body["visitors"][0];
        assert_eq!(v["visitorId"], "session_abc123");
        assert_eq!(v["isBot"], true);
        assert_eq!(v["device"], "bot");
        assert_eq!(v["sessionEventCount"], 1);
        backend.finish().await;
    }
}

#[tokio::test]
async fn visitor_api_auth_scopes_and_tenants() {
    for backend in backends().await {
        let name = backend.name;
        let clock = Arc::new(ManualClock::new(T0));
        let c = ctx(backend.store.clone(), clock.clone(), false);
        let a = c.token(&format!("{}@a.example", uniq("vt")), SCOPES).await;
        let a_no_analytics = c
            .token(
                &format!("{}@a2.example", uniq("vt")),
                &["widgets:read", "widgets:write"],
            )
            .await;
        let b = c.token(&format!("{}@b.example", uniq("vt")), SCOPES).await;
        let (w, key) = c.widget(&a).await;
        let ev = json!({"visitorId": "visitor-cccc-1", "event": "click",
                        "url": "https://www.example.com/"});
        assert_eq!(c.track(&w, &key, ev).await.status, StatusCode::OK);
        c.presence.flush().await.unwrap();
        let live = format!("/api/v1/widgets/{w}/live-visitors");
        let act = format!("/api/v1/widgets/{w}/visitors/visitor-cccc-1/activity");

        for path in [&live, &act] {
            let r = c.send("GET", path, &[], None).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "[{name}] {path}");
            assert_error(&r.body, "unauthorized");
            let (st, body) = c.get(path, "rs_bogus").await;
            assert_eq!(st, StatusCode::UNAUTHORIZED, "[{name}] {path}");
            assert_error(&body, "unauthorized");
            let (st, body) = c.get(path, &a_no_analytics).await;
            assert_eq!(st, StatusCode::FORBIDDEN, "[{name}] {path}");
            assert_error(&body, "forbidden");
            let (st, body) = c.get(path, &b).await;
            assert_eq!(st, StatusCode::NOT_FOUND, "[{name}] cross-tenant {path}");
            assert_error(&body, "not_found");
            let (st, body) = c.get(path, &a).await;
            assert_eq!(st, StatusCode::OK, "[{name}] {path} {body}");
        }
        // Tenant B's own widget never shows A's visitor, and A's visitor id under B's widget
        // is unknown.
        let (wb, _) = c.widget(&b).await;
        let (st, body) = c
            .get(&format!("/api/v1/widgets/{wb}/live-visitors"), &b)
            .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(body["visitors"], json!([]));
        let (st, _) = c
            .get(
                &format!("/api/v1/widgets/{wb}/visitors/visitor-cccc-1/activity"),
                &b,
            )
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND, "[{name}]");
        let (st, _) = c
            .get(
                &format!("/api/v1/widgets/{w}/visitors/nobody-123/activity"),
                &a,
            )
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND, "[{name}] unknown visitor");
        let (st, body) = c.get(&format!("{act}?limit=0"), &a).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "[{name}]");
        assert_error(&body, "invalid_field");
        let (st, body) = c.get(&format!("{act}?limit=1"), &a).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(body["events"].as_array().unwrap().len(), 1);
        backend.finish().await;
    }
}

#[tokio::test]
async fn background_flusher_persists_batches() {
    for backend in backends().await {
        let name = backend.name;
        let presence = Arc::new(Presence::new(
            backend.store.clone(),
            PresenceConfig {
                flush_interval: std::time::Duration::from_millis(20),
                ..PresenceConfig::default()
            },
        ));
        let c = ctx(backend.store.clone(), Arc::new(ManualClock::new(T0)), false);
        let tok = c.token(&format!("{}@f.example", uniq("vf")), SCOPES).await;
        let (w, _) = c.widget(&tok).await;
        let tenant = backend.store.find_widget(&w).await.unwrap().tenant_id;
        let flusher = presence.spawn_flusher();
        for i in 0..50 {
            let ev = ringside_api::presence::TrackEvent {
                visitor_id: format!("visitor-bulk-{i:02}"),
                kind: if i % 2 == 0 { "click" } else { "heartbeat" }.into(),
                url: Some("https://www.example.com/".into()),
                ..Default::default()
            };
            presence.track(&tenant, &w, ev).await.unwrap();
        }
        // Wait (bounded) until the background task wrote everything.
        let mut stored = 0;
        for _ in 0..500 {
            let live = backend
                .store
                .list_live_visitors(&tenant, &w, 0, 1000)
                .await
                .unwrap();
            stored = live.len();
            if stored == 50 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(stored, 50, "[{name}]");
        let mut events = 0;
        for _ in 0..500 {
            events = backend
                .store
                .list_visitor_events(&tenant, &w, "visitor-bulk-00", 10)
                .await
                .unwrap()
                .len();
            if events == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(events, 1, "[{name}] clicks logged");
        assert!(
            backend
                .store
                .list_visitor_events(&tenant, &w, "visitor-bulk-01", 10)
                .await
                .unwrap()
                .is_empty(),
            "heartbeats are not logged"
        );
        flusher.abort();
        backend.finish().await;
    }
}

#[tokio::test]
async fn failed_flush_keeps_a_bounded_queue() {
    let path = std::env::temp_dir().join(format!("ringside-vq-{}.db", rand::random::<u64>()));
    let store = Store::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    let c = ctx(store.clone(), Arc::new(ManualClock::new(T0)), false);
    let tok = c.token(&format!("{}@q.example", uniq("vq")), SCOPES).await;
    let (w, _) = c.widget(&tok).await;
    let tenant = store.find_widget(&w).await.unwrap().tenant_id;
    let presence = Presence::with_clock(
        store.clone(),
        PresenceConfig {
            max_pending_events: 2,
            ..PresenceConfig::default()
        },
        Arc::new(ManualClock::new(T0)),
    );
    for kind in ["page_view", "click", "scroll"] {
        let ev = ringside_api::presence::TrackEvent {
            visitor_id: "visitor-queue-1".into(),
            kind: kind.into(),
            ..Default::default()
        };
        presence.track(&tenant, &w, ev).await.unwrap();
    }
    assert_eq!(presence.pending(), (1, 3));
    store.close().await;
    assert!(presence.flush().await.is_err());
    assert_eq!(
        presence.pending(),
        (1, 2),
        "kept for retry, oldest dropped over the cap"
    );
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn heartbeat_only_changes_are_written_every_ten_seconds() {
    for backend in backends().await {
        let name = backend.name;
        let clock = Arc::new(ManualClock::new(T0));
        let c = ctx(backend.store.clone(), clock.clone(), false);
        let tok = c.token(&format!("{}@hb.example", uniq("hb")), SCOPES).await;
        let (w, key) = c.widget(&tok).await;
        let view = json!({"visitorId": "visitor-hb-1", "event": "page_view",
                          "url": "https://www.example.com/"});
        assert_eq!(c.track(&w, &key, view).await.status, StatusCode::OK);
        assert_eq!(c.presence.flush_due().await.unwrap(), (1, 1), "[{name}]");
        let stored = |c: &Ctx| {
            let store = c.store.clone();
            let w = w.clone();
            async move {
                store
                    .find_visitor(&w, "visitor-hb-1")
                    .await
                    .unwrap()
                    .unwrap()
                    .last_seen_at
            }
        };
        assert_eq!(stored(&c).await, T0);
        // A heartbeat 3 s later: live at once (memory); storage gets it only with the next
        // heartbeat write, 10 s after the last one (the flush at T0).
        clock.advance(3_000);
        let hb = json!({"visitorId": "visitor-hb-1", "event": "heartbeat"});
        assert_eq!(c.track(&w, &key, hb.clone()).await.status, StatusCode::OK);
        let live = live_of(&c, &format!("/api/v1/widgets/{w}/live-visitors"), &tok).await;
        assert_eq!(live["visitors"][0]["lastSeenAt"], T0 + 3_000);
        assert_eq!(
            c.presence.flush_due().await.unwrap(),
            (0, 0),
            "[{name}] deferred"
        );
        assert_eq!(stored(&c).await, T0);
        assert_eq!(c.presence.pending(), (1, 0));
        // An interaction is written at once, with the newer lastSeenAt.
        clock.advance(1_000);
        let click = json!({"visitorId": "visitor-hb-1", "event": "click"});
        assert_eq!(c.track(&w, &key, click).await.status, StatusCode::OK);
        assert_eq!(c.presence.flush_due().await.unwrap(), (1, 1));
        assert_eq!(stored(&c).await, T0 + 4_000);
        // Heartbeats again: written once ten seconds have passed since the last such write.
        clock.advance(2_000);
        assert_eq!(c.track(&w, &key, hb.clone()).await.status, StatusCode::OK);
        assert_eq!(c.presence.flush_due().await.unwrap(), (0, 0));
        clock.advance(4_000);
        assert_eq!(c.presence.flush_due().await.unwrap(), (1, 0));
        assert_eq!(stored(&c).await, T0 + 6_000);
        // flush() (shutdown, tests) writes everything at once.
        clock.advance(1_000);
        assert_eq!(c.track(&w, &key, hb).await.status, StatusCode::OK);
        assert_eq!(c.presence.flush().await.unwrap(), (1, 0));
        assert_eq!(stored(&c).await, T0 + 11_000);
        backend.finish().await;
    }
}
