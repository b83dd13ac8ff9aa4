//! Live events on `/mcp` through the whole router, on SQLite (and PostgreSQL when
//! `RINGSIDE_TEST_POSTGRES_URL` is set): the live resources listed and read,
//! `subscriptions/listen` (2026-07-28) and a session's `resources/subscribe` with its
//! `GET /mcp` stream, and the events each may and may not carry.

mod common;

use common::{uniq, App, Harness};
use ringside_api::realtime::{Audience, Bus, Event};
use serde_json::{json, Value};

const STATELESS: &str = "2026-07-28";

async fn rpc(app: &App, token: &str, extra: &[(&str, &str)], body: Value) -> common::Resp {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("authorization", auth.as_str())];
    headers.extend_from_slice(extra);
    app.send("POST", "/mcp", &headers, Some(&body.to_string()))
        .await
}

/// Publishes an event of `kind` for holders of `scope` in `tenant`, about widget `w` and
/// visitor `v`, with no data.
fn publish(
    bus: &Bus,
    tenant: &str,
    kind: &'static str,
    scope: &'static str,
    w: Option<&str>,
    v: Option<&str>,
) {
    bus.publish(tenant, || {
        Event::new(kind, Audience::Tenant(scope), w, v, json!({}), 0)
    });
}

/// The next event of an event stream (comments skipped), as JSON.
async fn next_event(body: &mut axum::body::Body) -> Value {
    use http_body_util::BodyExt;
    let mut buf = String::new();
    loop {
        if let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                return serde_json::from_str(data).unwrap();
            }
            continue;
        }
        // A hang guard, not a speed check.
        let frame = tokio::time::timeout(std::time::Duration::from_secs(60), body.frame())
            .await
            .expect("an event within a minute")
            .expect("the stream goes on")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            buf.push_str(std::str::from_utf8(&data).unwrap());
        }
    }
}

async fn open_stream(
    app: &App,
    method: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> axum::response::Response {
    use tower::ServiceExt;
    let mut b = axum::http::Request::builder().method(method).uri("/mcp");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = match body {
        Some(v) => b
            .header("content-type", "application/json")
            .body(axum::body::Body::from(v.to_string()))
            .unwrap(),
        None => b.body(axum::body::Body::empty()).unwrap(),
    };
    app.app.clone().oneshot(req).await.unwrap()
}

/// Live events: the live resources are listed and read; `subscriptions/listen` (2026-07-28)
/// streams updates of what it named, acknowledged first; `resources/subscribe` in a session
/// and the session's `GET /mcp` stream (earlier revisions) do the same; events the token may
/// not see, or nobody subscribed to, are not sent.
#[tokio::test]
async fn live_events_reach_listeners_and_sessions() {
    for backend in common::backends("ringside-mcp-live").await {
        let name = backend.name;
        let state = common::state(&backend.store);
        let bus = state.bus.clone();
        let app = App::with_state(state);
        let email = uniq("live@mcp.example");
        let token = app
            .token(
                &email,
                &[
                    "mcp:read",
                    "widgets:read",
                    "analytics:read",
                    "messages:read",
                ],
            )
            .await;
        let tenant = backend.store.ensure_user(&email).await.unwrap().tenant_id;
        let meta = json!({"io.modelcontextprotocol/protocolVersion": STATELESS,
                          "io.modelcontextprotocol/clientCapabilities": {}});
        let r = rpc(&app, &token, &[], json!({"jsonrpc": "2.0", "id": 1, "method": "resources/list", "params": {"_meta": meta}})).await;
        let uris: Vec<&str> = r.body["result"]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|x| x["uri"].as_str())
            .collect();
        assert_eq!(
            uris[..3],
            [
                "ringside://visitors/live",
                "ringside://conversations",
                "ringside://calls/waiting"
            ],
            "[{name}] {}",
            r.body
        );
        let r = rpc(
            &app,
            &token,
            &[],
            json!({"jsonrpc": "2.0", "id": 2, "method": "resources/read",
            "params": {"_meta": meta, "uri": "ringside://visitors/live"}}),
        )
        .await;
        let text = r.body["result"]["contents"][0]["text"].as_str().unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(text).unwrap(),
            json!({"widgets": []}),
            "[{name}]"
        );
        // Waiting calls need calls:read: the read says so.
        let r = rpc(
            &app,
            &token,
            &[],
            json!({"jsonrpc": "2.0", "id": 3, "method": "resources/read",
            "params": {"_meta": meta, "uri": "ringside://calls/waiting"}}),
        )
        .await;
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("calls:read")
                || r.body["result"].is_object(),
            "[{name}] {}",
            r.body
        );

        // 2026-07-28: listen. The event stream needs Accept: text/event-stream.
        let auth = format!("Bearer {token}");
        let listen = json!({"jsonrpc": "2.0", "id": "listen-1", "method": "subscriptions/listen",
            "params": {"_meta": meta, "notifications": {"resourceSubscriptions":
                ["ringside://conversations", "ringside://recordings/r1"], "toolsListChanged": true}}});
        let r = rpc(&app, &token, &[], listen.clone()).await;
        assert_eq!(r.status, 400, "[{name}] {}", r.body);
        let resp = open_stream(
            &app,
            "POST",
            &[
                ("authorization", &auth),
                ("accept", "application/json, text/event-stream"),
            ],
            Some(listen),
        )
        .await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        let mut body = resp.into_body();
        let ack = next_event(&mut body).await;
        assert_eq!(
            ack["method"], "notifications/subscriptions/acknowledged",
            "[{name}] {ack}"
        );
        assert_eq!(
            ack["params"]["notifications"],
            json!({"resourceSubscriptions": ["ringside://conversations"]}),
            "[{name}] {ack}"
        );
        assert_eq!(
            ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
            "listen-1"
        );
        // Not subscribed (visitors), not the token's scope (calls), another tenant's: none
        // reaches the stream; the chat message does.
        publish(
            &bus,
            &tenant,
            "visitor:connected",
            "analytics:read",
            Some("w1"),
            Some("v0"),
        );
        bus.publish(&tenant, || {
            Event::new(
                "call:requested",
                Audience::Tenant("calls:read"),
                None,
                None,
                json!({"callId": "c1"}),
                0,
            )
        });
        let _other = bus.subscribe("another-tenant");
        publish(
            &bus,
            "another-tenant",
            "message:new",
            "messages:read",
            Some("w9"),
            Some("v9"),
        );
        publish(
            &bus,
            &tenant,
            "message:new",
            "messages:read",
            Some("w1"),
            Some("v1"),
        );
        let ev = next_event(&mut body).await;
        assert_eq!(
            ev["method"], "notifications/resources/updated",
            "[{name}] {ev}"
        );
        assert_eq!(
            ev["params"]["uri"], "ringside://conversations/w1/v1",
            "[{name}] {ev}"
        );
        assert_eq!(
            ev["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
            "listen-1"
        );
        assert_eq!(
            ev["params"]["_meta"]["io.ringside/event"]["type"],
            "message:new"
        );
        drop(body);

        // Earlier revisions: subscribe in the session, hear it on the session's GET stream.
        let r = rpc(&app, &token, &[], json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})).await;
        assert_eq!(
            r.body["result"]["capabilities"]["resources"]["subscribe"],
            true
        );
        let session = r.header("mcp-session-id").unwrap().to_owned();
        let sub = |uri: &str| json!({"jsonrpc": "2.0", "id": 5, "method": "resources/subscribe", "params": {"uri": uri}});
        let r = rpc(&app, &token, &[], sub("ringside://visitors/live")).await;
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Mcp-Session-Id"),
            "[{name}] {}",
            r.body
        );
        let with_session = [
            ("mcp-session-id", session.as_str()),
            ("mcp-protocol-version", "2025-11-25"),
        ];
        let r = rpc(&app, &token, &with_session, sub("ringside://recordings/r1")).await;
        assert_eq!(r.body["error"]["code"], -32602, "[{name}] {}", r.body);
        let r = rpc(&app, &token, &with_session, sub("ringside://visitors/live")).await;
        assert_eq!(r.body["result"], json!({}), "[{name}] {}", r.body);
        // GET without a session: 405; with another token's session: 404; without SSE: 406.
        let other = app.token(&uniq("live2@mcp.example"), &["mcp:read"]).await;
        let r = app
            .send("GET", "/mcp", &[("authorization", &auth)], None)
            .await;
        assert_eq!(r.status, 405);
        let other_auth = format!("Bearer {other}");
        let r = app
            .send(
                "GET",
                "/mcp",
                &[
                    ("authorization", &other_auth),
                    ("mcp-session-id", &session),
                    ("accept", "text/event-stream"),
                ],
                None,
            )
            .await;
        assert_eq!(r.status, 404);
        let r = app
            .send(
                "GET",
                "/mcp",
                &[("authorization", &auth), ("mcp-session-id", &session)],
                None,
            )
            .await;
        assert_eq!(r.status, 406);
        let resp = open_stream(
            &app,
            "GET",
            &[
                ("authorization", &auth),
                ("mcp-session-id", &session),
                ("accept", "text/event-stream"),
            ],
            None,
        )
        .await;
        assert_eq!(resp.status(), 200);
        let mut body = resp.into_body();
        publish(
            &bus,
            &tenant,
            "message:new",
            "messages:read",
            Some("w1"),
            Some("v1"),
        );
        publish(
            &bus,
            &tenant,
            "visitor:connected",
            "analytics:read",
            Some("w1"),
            Some("v2"),
        );
        let ev = next_event(&mut body).await;
        assert_eq!(
            ev["params"]["uri"], "ringside://visitors/live",
            "[{name}] {ev}"
        );
        assert_eq!(
            ev["params"]["_meta"]["io.ringside/event"]["visitorId"],
            "v2"
        );
        assert!(ev["params"]["_meta"]
            .get("io.modelcontextprotocol/subscriptionId")
            .is_none());
        drop(body);
        backend.finish().await;
    }
}
