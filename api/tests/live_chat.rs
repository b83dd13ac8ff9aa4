//! The rest of the live-chat reference: `POST /api/widgets/{id}/voice/start` and the
//! `campaign:progress` event, on SQLite and PostgreSQL, with the refusals.

mod common;

use axum::http::StatusCode;
use common::{assert_error, backends, uniq, Harness};
use serde_json::json;

type Ctx = common::StateApp;

const ORIGIN: (&str, &str) = ("origin", "https://shop.example");

#[tokio::test]
async fn voice_start_and_campaign_progress() {
    for b in backends("ringside-livechat").await {
        let n = b.name;
        let c = Ctx::new(common::state(&b.store));
        let email = format!("{}@lc.example", uniq("lc"));
        let token = c
            .token(&email, &["widgets:read", "widgets:write", "analytics:read"])
            .await;
        let tenant = b.store.ensure_user(&email).await.unwrap().tenant_id;
        let (_, w) = c
            .json(
                "POST",
                "/api/v1/widgets",
                &token,
                json!({"name": "Shop", "allowedDomains": ["shop.example"]}),
            )
            .await;
        let (widget, key) = (
            w["id"].as_str().unwrap().to_owned(),
            w["publicKey"].as_str().unwrap().to_owned(),
        );
        let voice = format!("/api/widgets/{widget}/voice/start?key={key}");
        let body = json!({"sessionId": "s_0123456789abcdef01234567", "assistantId": "asst-123"})
            .to_string();
        let r = c.send("POST", &voice, &[ORIGIN], Some(&body)).await;
        assert_eq!(r.status, StatusCode::OK, "[{n}] {}", r.body);
        assert_eq!(r.body["success"], true);
        assert_eq!(r.body["conversationId"], "s_0123456789abcdef01234567");
        assert_eq!(r.body["phoneNumber"], serde_json::Value::Null);
        assert_eq!(r.body["available"], false, "nobody at the console");
        assert!(r.body["socketUrl"].as_str().unwrap().ends_with(&format!(
            "/api/widgets/{widget}/ws?visitorId=s_0123456789abcdef01234567"
        )));
        // The company profile's public number.
        let (st, _) = c
            .json(
                "PUT",
                &format!("/api/v1/widgets/{widget}/knowledge/profile"),
                &token,
                json!({"phone": "+14165559999"}),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        let r = c.send("POST", &voice, &[ORIGIN], Some(&body)).await;
        assert_eq!(r.body["phoneNumber"], "+14165559999");
        // Refusals: no session 400, wrong key 401, foreign page 403, no widget 404, the
        // chat's rate limit 429.
        let r = c.send("POST", &voice, &[ORIGIN], Some("{}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_error(&r.body, "invalid_body");
        let r = c
            .send(
                "POST",
                &format!("/api/widgets/{widget}/voice/start?key=wk_nope"),
                &[ORIGIN],
                Some(&body),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let r = c
            .send(
                "POST",
                &voice,
                &[("origin", "https://evil.example")],
                Some(&body),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = c
            .send(
                "POST",
                &format!("/api/widgets/nope/voice/start?key={key}"),
                &[ORIGIN],
                Some(&body),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let mut limited = false;
        let peer: std::net::SocketAddr = "198.51.100.9:40000".parse().unwrap();
        for _ in 0..30 {
            let req = axum::http::Request::builder()
                .method("POST")
                .uri(&voice)
                .header(ORIGIN.0, ORIGIN.1)
                .header("content-type", "application/json")
                .extension(axum::extract::ConnectInfo(peer))
                .body(axum::body::Body::from(body.clone()))
                .unwrap();
            let resp = tower::ServiceExt::oneshot(c.app.clone(), req)
                .await
                .unwrap();
            let r = common::Resp::read(resp).await;
            if r.status == StatusCode::TOO_MANY_REQUESTS {
                assert_error(&r.body, "rate_limited");
                limited = true;
                break;
            }
        }
        assert!(limited, "voice/start shares the chat's per-client limit");

        // A visitor from a campaign starts a chat and leaves a callback: campaign:progress.
        let mut events = c.state.bus.subscribe(&tenant);
        let auth = format!("Bearer {key}");
        let r = c
            .send(
                "POST",
                &format!("/api/widgets/{widget}/track"),
                &[ORIGIN, ("authorization", &auth)],
                Some(&json!({"visitorId": "v_campaign_visitor_0001", "event": "page_view",
                             "url": "https://shop.example/?utm_source=newsletter&utm_medium=email&utm_campaign=winter-sale",
                             "title": "Home"}).to_string()),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let chat = format!("/api/widgets/{widget}/chat?key={key}");
        for (session, text) in [
            ("v_campaign_visitor_0001", "hello there"),
            ("v_campaign_visitor_0001", "and again"),
            ("v_plain_visitor_000001", "hi"),
        ] {
            let r = c
                .send(
                    "POST",
                    &chat,
                    &[ORIGIN],
                    Some(&json!({"sessionId": session, "message": text}).to_string()),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
        let r = c
            .send(
                "POST",
                &format!("/api/widgets/{widget}/callbacks?key={key}"),
                &[ORIGIN],
                Some(&json!({"visitorId": "v_campaign_visitor_0001", "name": "Ana", "phone": "+351910000000"}).to_string()),
            )
            .await;
        assert!(r.status.is_success(), "{}", r.body);
        let mut steps = Vec::new();
        while let Ok(e) = events.try_recv() {
            if e.kind == "campaign:progress" {
                assert_eq!(e.data["campaign"], "winter-sale");
                assert_eq!(e.data["source"], "newsletter");
                assert_eq!(e.data["visitorId"], "v_campaign_visitor_0001");
                steps.push(e.data["step"].as_str().unwrap().to_owned());
            }
        }
        assert_eq!(
            steps,
            ["chat", "callback"],
            "[{n}] once per new conversation, none for the plain visitor"
        );
        b.finish().await;
    }
}
