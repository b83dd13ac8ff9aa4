//! Router tests for direct-navigate commands and signed conversation links
//! ([`ringside_api::handoff`]): delivery with the next tracking call, site-only targets,
//! links that open without a token and refuse tampering and expiry, replies through a link;
//! refusals (401, 403, cross-tenant 404, 400/422) — on SQLite, and on PostgreSQL when
//! `RINGSIDE_TEST_POSTGRES_URL` is set.

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::{assert_error, uniq, Harness, Resp};
use ringside_api::presence::ManualClock;
use ringside_api::{router, AppState, Presence};
use ringside_storage::Store;
use serde_json::json;

const ORIGIN: (&str, &str) = ("origin", "https://www.example.com");
const T0: i64 = 1_780_000_000_000;
const SCOPES: &[&str] = &["messages:read", "messages:write", "widgets:write"];

struct Ctx {
    app: axum::Router,
    store: Store,
    clock: Arc<ManualClock>,
}

impl Harness for Ctx {
    fn app(&self) -> &axum::Router {
        &self.app
    }
    fn store(&self) -> &Store {
        &self.store
    }
}

struct Tenant {
    email: String,
    token: String,
    widget: String,
    key: String,
}

fn ctx(store: Store) -> Ctx {
    let clock = Arc::new(ManualClock::new(T0));
    let presence = Arc::new(Presence::with_clock(
        store.clone(),
        Default::default(),
        clock.clone(),
    ));
    let app = router(AppState {
        presence,
        ..common::state(&store)
    });
    Ctx { app, store, clock }
}

impl Ctx {
    async fn tenant(&self, prefix: &str) -> Tenant {
        let email = format!("{}@h.example", uniq(prefix));
        let token = self.token(&email, SCOPES).await;
        let (st, w) = self
            .json(
                "POST",
                "/api/v1/widgets",
                &token,
                json!({"name": "Shop <Main>", "allowedDomains": ["www.example.com", "*.example.org"]}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{w}");
        Tenant {
            email,
            token,
            widget: w["id"].as_str().unwrap().into(),
            key: w["publicKey"].as_str().unwrap().into(),
        }
    }

    async fn track(&self, t: &Tenant, visitor: &str, event: &str) -> Resp {
        let auth = format!("Bearer {}", t.key);
        let body = json!({"visitorId": visitor, "event": event,
                          "url": "https://www.example.com/", "title": "Home"});
        let r = self
            .send(
                "POST",
                &format!("/api/widgets/{}/track", t.widget),
                &[ORIGIN, ("authorization", &auth)],
                Some(&body.to_string()),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r
    }
}

#[tokio::test]
async fn direct_navigate_reaches_the_page_once() {
    for backend in common::backends("ringside-handoff-nav").await {
        let name = backend.name;
        let c = ctx(backend.store.clone());
        let t = c.tenant("nav").await;
        let other = c.tenant("nav-o").await;
        c.track(&t, "visitor-nav-1", "page_view").await;
        let path = format!(
            "/api/v1/widgets/{}/visitors/visitor-nav-1/direct-navigate",
            t.widget
        );
        // Nothing waiting yet.
        let r = c.track(&t, "visitor-nav-1", "heartbeat").await;
        assert_eq!(r.body["commands"], json!([]));
        let (st, b) = c
            .json(
                "POST",
                &path,
                &t.token,
                json!({"url": "/pricing", "title": "Pricing"}),
            )
            .await;
        assert_eq!(st, StatusCode::ACCEPTED, "[{name}] {b}");
        assert_eq!(b["visitorLive"], true);
        let id = b["command"]["id"].as_str().unwrap().to_owned();
        // Another visitor's heartbeat does not get it; the visitor's next one does, once.
        c.track(&t, "visitor-nav-2", "heartbeat").await;
        let r = c.track(&t, "visitor-nav-1", "heartbeat").await;
        let cmds = r.body["commands"].as_array().unwrap();
        assert_eq!(cmds.len(), 1, "[{name}] {}", r.body);
        assert_eq!(cmds[0]["id"], id.as_str());
        assert_eq!(cmds[0]["type"], "navigate");
        assert_eq!(cmds[0]["url"], "/pricing");
        assert_eq!(cmds[0]["title"], "Pricing");
        assert_eq!(
            c.track(&t, "visitor-nav-1", "heartbeat").await.body["commands"],
            json!([])
        );
        // An absolute URL on an allowed domain works; an expired command is not delivered.
        let (st, _) = c
            .json(
                "POST",
                &path,
                &t.token,
                json!({"url": "https://shop.example.org/cart"}),
            )
            .await;
        assert_eq!(st, StatusCode::ACCEPTED);
        c.clock.advance(6 * 60 * 1000);
        assert_eq!(
            c.track(&t, "visitor-nav-1", "heartbeat").await.body["commands"],
            json!([])
        );

        // Other sites are refused, and nothing is queued.
        for url in [
            "https://evil.example/phish",
            "//evil.example/x",
            "javascript:alert(1)",
            "https://www.example.com.evil.example/",
            "pricing",
        ] {
            let (st, e) = c.json("POST", &path, &t.token, json!({"url": url})).await;
            assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "[{name}] {url}");
            assert_error(&e, "invalid_field");
        }
        assert_eq!(
            c.track(&t, "visitor-nav-1", "heartbeat").await.body["commands"],
            json!([])
        );
        for (body, status, code) in [
            ("{", StatusCode::BAD_REQUEST, "invalid_body"),
            (r#"{"link":"/x"}"#, StatusCode::BAD_REQUEST, "invalid_body"),
        ] {
            let (st, e) = c.call("POST", &path, Some(&t.token), Some(body)).await;
            assert_eq!(st, status, "{body}");
            assert_error(&e, code);
        }
        // Refusals: no token, no scope, another tenant, an unknown visitor.
        let body = json!({"url": "/x"}).to_string();
        let (st, _) = c.call("POST", &path, None, Some(&body)).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        let reader = c.token(&t.email, &["messages:read"]).await;
        let (st, e) = c.call("POST", &path, Some(&reader), Some(&body)).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        assert_error(&e, "forbidden");
        let (st, _) = c.call("POST", &path, Some(&other.token), Some(&body)).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        let (st, _) = c
            .call(
                "POST",
                &format!(
                    "/api/v1/widgets/{}/visitors/visitor-unknown/direct-navigate",
                    t.widget
                ),
                Some(&t.token),
                Some(&body),
            )
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        assert_eq!(
            c.track(&t, "visitor-nav-1", "heartbeat").await.body["commands"],
            json!([])
        );
        backend.finish().await;
    }
}

#[tokio::test]
async fn conversation_links_open_for_24_hours() {
    for backend in common::backends("ringside-handoff-link").await {
        let name = backend.name;
        let c = ctx(backend.store.clone());
        let t = c.tenant("link").await;
        let other = c.tenant("link-o").await;
        c.track(&t, "visitor-link-1", "page_view").await;
        let (st, m) = c
            .json(
                "POST",
                &format!("/api/v1/widgets/{}/messages", t.widget),
                &t.token,
                json!({"visitorId": "visitor-link-1", "body": "Hello <b>there</b>"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{m}");
        let path = format!(
            "/api/v1/widgets/{}/visitors/visitor-link-1/conversation-link",
            t.widget
        );
        // A read-only token of the same user may make links, which only show the chat.
        let reader = c.token(&t.email, &["messages:read"]).await;
        let (st, l) = c.call("POST", &path, Some(&reader), None).await;
        assert_eq!(st, StatusCode::CREATED, "[{name}] {l}");
        assert_eq!(l["expiresAt"], (T0 / 1000 + 24 * 3600) * 1000);
        assert_eq!(l["canReply"], false);
        let view_only = l["url"]
            .as_str()
            .unwrap()
            .strip_prefix(common::PUBLIC_URL)
            .unwrap()
            .to_owned();
        let r = c
            .send("GET", &view_only, &[("accept", "application/json")], None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "[{name}] {}", r.body);
        assert_eq!(r.body["canReply"], false);
        let html = c.send("GET", &view_only, &[], None).await;
        let page = String::from_utf8_lossy(&html.raw);
        assert!(!page.contains("id=\"reply\""));
        // Signing in from the link comes back to it (then the dashboard's page of the visitor).
        let back = url::form_urlencoded::byte_serialize(view_only.as_bytes()).collect::<String>();
        assert!(
            page.contains(&format!("href=\"/login?next={back}\"")),
            "[{name}] {page}"
        );
        let (st, e) = c
            .call(
                "POST",
                &view_only.replacen(
                    "/console/conversation?",
                    "/console/conversation/messages?",
                    1,
                ),
                None,
                Some(r#"{"body":"not allowed"}"#),
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "[{name}] {e}");
        assert_error(&e, "link_read_only");
        // Claiming the reply right on it breaks the signature.
        let forged = view_only.replace("reply=0", "reply=1");
        let r = c.send("GET", &forged, &[], None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "[{name}] {forged}");
        assert_error(&r.body, "link_invalid");
        // A token that may send messages makes links that answer too.
        let (st, l) = c.call("POST", &path, Some(&t.token), None).await;
        assert_eq!(st, StatusCode::CREATED, "[{name}] {l}");
        assert_eq!(l["canReply"], true);
        let url = l["url"].as_str().unwrap();
        let rel = url
            .strip_prefix(common::PUBLIC_URL)
            .expect("on the public URL");
        assert!(rel.starts_with("/console/conversation?"), "{rel}");

        // Opens without a token: HTML (escaped) and JSON.
        let r = c.send("GET", rel, &[], None).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
        let r = c
            .send("GET", rel, &[("accept", "application/json")], None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "[{name}] {}", r.body);
        assert_eq!(r.body["visitor"]["visitorId"], "visitor-link-1");
        assert_eq!(r.body["live"], true);
        assert_eq!(r.body["messages"][0]["body"], "Hello <b>there</b>");
        // A reply through the link is an operator message of the conversation.
        let reply = rel.replacen(
            "/console/conversation?",
            "/console/conversation/messages?",
            1,
        );
        let (st, b) = c
            .call("POST", &reply, None, Some(r#"{"body":"On my way"}"#))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{b}");
        let (_, list) = c
            .call(
                "GET",
                &format!(
                    "/api/v1/widgets/{}/messages?visitorId=visitor-link-1",
                    t.widget
                ),
                Some(&t.token),
                None,
            )
            .await;
        let msgs = list["messages"].as_array().unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[1]["sender"], "operator");
        assert_eq!(msgs[1]["body"], "On my way");

        // Tampering with any parameter breaks the signature.
        let tampered = [
            rel.replace("visitor=visitor-link-1", "visitor=visitor-link-2"),
            rel.replace(
                &format!("widget={}", t.widget),
                &format!("widget={}", other.widget),
            ),
            {
                let exp = (T0 / 1000 + 24 * 3600).to_string();
                rel.replace(
                    &format!("exp={exp}"),
                    &format!("exp={}", T0 / 1000 + 48 * 3600),
                )
            },
            rel.split("&sig=").next().unwrap().to_owned(),
            format!("{}0", rel),
        ];
        for bad in &tampered {
            assert_ne!(bad, rel);
            let r = c.send("GET", bad, &[], None).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "[{name}] {bad}");
            assert_error(&r.body, "link_invalid");
            let (st, _) = c
                .call(
                    "POST",
                    &bad.replacen(
                        "/console/conversation?",
                        "/console/conversation/messages?",
                        1,
                    ),
                    None,
                    Some(r#"{"body":"spoof"}"#),
                )
                .await;
            assert_eq!(st, StatusCode::FORBIDDEN);
        }
        // A shorter validity, then expiry.
        let (st, short) = c
            .call(
                "POST",
                &path,
                Some(&reader),
                Some(r#"{"expiresInSeconds": 600}"#),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED);
        let short = short["url"]
            .as_str()
            .unwrap()
            .strip_prefix(common::PUBLIC_URL)
            .unwrap()
            .to_owned();
        c.clock.advance(601_000);
        let r = c.send("GET", &short, &[], None).await;
        assert_eq!(r.status, StatusCode::GONE);
        assert_error(&r.body, "link_expired");
        assert_eq!(c.send("GET", rel, &[], None).await.status, StatusCode::OK);
        c.clock.advance(24 * 3600 * 1000);
        let r = c.send("GET", rel, &[], None).await;
        assert_eq!(r.status, StatusCode::GONE, "24 hours later");
        let (st, _) = c
            .call("POST", &reply, None, Some(r#"{"body":"late"}"#))
            .await;
        assert_eq!(st, StatusCode::GONE);

        // Refusals on creation.
        for bad in [
            r#"{"expiresInSeconds": 10}"#,
            r#"{"expiresInSeconds": 90000}"#,
        ] {
            let (st, e) = c.call("POST", &path, Some(&reader), Some(bad)).await;
            assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
            assert_error(&e, "invalid_field");
        }
        let (st, e) = c.call("POST", &path, Some(&reader), Some("{")).await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
        assert_error(&e, "invalid_body");
        let (st, _) = c.call("POST", &path, None, None).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        let (st, _) = c
            .call(
                "POST",
                &path,
                Some(
                    &c.token(&format!("{}@h.example", uniq("n")), &["widgets:read"])
                        .await,
                ),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        let (st, _) = c.call("POST", &path, Some(&other.token), None).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        backend.finish().await;
    }
}
