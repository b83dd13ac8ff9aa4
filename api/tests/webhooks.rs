//! Router tests for `/api/v1/webhooks` (authentication, scopes, tenant isolation, validation
//! with the stable JSON error body, the secret shown only on create and rotate) and dispatcher
//! tests against a real local HTTP receiver that checks the signature (retries keep the
//! delivery id, 410 disables, Retry-After is honoured, undelivered events survive a new store
//! and dispatcher) — on SQLite, and on PostgreSQL when `RINGSIDE_TEST_POSTGRES_URL` is set.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, StatusCode};
use common::{assert_error, uniq, Backend, Harness};
use ringside_api::router;
use ringside_api::webhook_dispatch::{
    signature_header, verify_signature, DispatchConfig, Dispatcher,
};
use ringside_storage::{DeliveryStatus, Store};
use serde_json::{json, Value};

async fn backends() -> Vec<Backend> {
    common::backends("ringside-webhooks").await
}

struct Ctx {
    app: axum::Router,
    store: Store,
}

impl Harness for Ctx {
    fn app(&self) -> &axum::Router {
        &self.app
    }
    fn store(&self) -> &Store {
        &self.store
    }
}

/// A server in lab mode (`RINGSIDE_ALLOW_PRIVATE_FETCH=true`): the receivers here listen on
/// loopback.
fn ctx(store: Store) -> Ctx {
    let app = router(ringside_api::AppState {
        fetch_policy: ringside_api::outbound::FetchPolicy {
            allow_private: true,
        },
        ..common::state(&store)
    });
    Ctx { app, store }
}

/// A server with the default outbound-fetch policy.
fn strict_ctx(store: Store) -> Ctx {
    let app = router(common::state(&store));
    Ctx { app, store }
}

const RW: &[&str] = &["webhooks:read", "webhooks:write", "widgets:write"];

async fn widget(c: &Ctx, token: &str) -> String {
    let (st, w) = c
        .json("POST", "/api/v1/widgets", token, json!({"name": "Site"}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{w}");
    w["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn webhooks_create_list_get_patch_rotate_delete() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(backend.store.clone());
        let a = c.token(&format!("{}@a.example", uniq("ha")), RW).await;
        let w = widget(&c, &a).await;

        let (st, h) = c
            .json(
                "POST",
                "/api/v1/webhooks",
                &a,
                json!({
                    "name": " Agent inbox ",
                    "url": "https://example.com/laleo",
                    "events": ["visitor.connected", "call.requested", "call.missed"],
                    "widgetIds": [w]
                }),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "[{name}] {h}");
        let id = h["id"].as_str().unwrap().to_owned();
        let secret = h["secret"].as_str().unwrap().to_owned();
        assert!(
            secret.starts_with("whsec_") && secret.len() == 70,
            "{secret}"
        );
        assert_eq!(h["name"], "Agent inbox");
        assert_eq!(h["url"], "https://example.com/laleo");
        assert_eq!(
            h["events"],
            json!(["visitor.connected", "call.requested", "call.missed"])
        );
        assert_eq!(h["widgetIds"], json!([w]));
        assert_eq!(h["enabled"], true);
        assert_eq!(h["disabledReason"], Value::Null);

        // The secret never shows again outside rotate.
        let (st, got) = c
            .call("GET", &format!("/api/v1/webhooks/{id}"), Some(&a), None)
            .await;
        assert_eq!(st, StatusCode::OK);
        assert!(got.get("secret").is_none(), "{got}");
        let mut without = h.clone();
        without.as_object_mut().unwrap().remove("secret");
        assert_eq!(got, without);
        let (st, list) = c.call("GET", "/api/v1/webhooks", Some(&a), None).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(list, json!([without]));
        assert!(!list.to_string().contains(&secret));

        // Patch: only the given fields; disable and enable.
        let (st, p) = c
            .json(
                "PATCH",
                &format!("/api/v1/webhooks/{id}"),
                &a,
                json!({"name": "Renamed", "widgetIds": [], "enabled": false}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "[{name}] {p}");
        assert_eq!(p["name"], "Renamed");
        assert_eq!(p["widgetIds"], json!([]));
        assert_eq!(p["enabled"], false);
        assert!(p["disabledReason"].is_string());
        assert_eq!(p["url"], h["url"]);
        assert_eq!(p["events"], h["events"]);
        assert!(p.get("secret").is_none());
        let (st, p) = c
            .json(
                "PATCH",
                &format!("/api/v1/webhooks/{id}"),
                &a,
                json!({"enabled": true, "url": "http://127.0.0.1:1/x", "events": ["call.ended"]}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "[{name}] {p}");
        assert_eq!(
            (&p["enabled"], &p["disabledReason"]),
            (&json!(true), &Value::Null)
        );
        assert_eq!(p["events"], json!(["call.ended"]));

        // Rotate: a new secret, shown once.
        let (st, r) = c
            .call(
                "POST",
                &format!("/api/v1/webhooks/{id}/rotate-secret"),
                Some(&a),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::OK, "[{name}] {r}");
        let rotated = r["secret"].as_str().unwrap();
        assert!(rotated.starts_with("whsec_") && rotated != secret);
        assert_eq!(
            backend
                .store
                .get_webhook(&p_tenant(&c, &a).await, &id)
                .await
                .unwrap()
                .secret,
            rotated
        );

        // Test event: queued, visible in the delivery log.
        let (st, t) = c
            .call(
                "POST",
                &format!("/api/v1/webhooks/{id}/test"),
                Some(&a),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::ACCEPTED, "[{name}] {t}");
        let delivery = t["deliveryId"].as_str().unwrap().to_owned();
        assert_eq!(t["status"], "pending");
        let (st, log) = c
            .call(
                "GET",
                &format!("/api/v1/webhooks/{id}/deliveries"),
                Some(&a),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::OK, "[{name}] {log}");
        assert_eq!(log.as_array().unwrap().len(), 1);
        assert_eq!(log[0]["id"], delivery.as_str());
        assert_eq!(log[0]["type"], "webhook.test");
        assert_eq!(log[0]["status"], "pending");
        assert_eq!(log[0]["attempts"], 0);
        assert_eq!(log[0]["data"]["webhookId"], id.as_str());
        let (st, e) = c
            .call(
                "GET",
                &format!("/api/v1/webhooks/{id}/deliveries?limit=0"),
                Some(&a),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        assert_error(&e, "invalid_field");

        // Delete.
        let r = c
            .send(
                "DELETE",
                &format!("/api/v1/webhooks/{id}"),
                &[("authorization", &format!("Bearer {a}"))],
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        let (st, e) = c
            .call("GET", &format!("/api/v1/webhooks/{id}"), Some(&a), None)
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        assert_error(&e, "not_found");
        backend.finish().await;
    }
}

async fn p_tenant(c: &Ctx, token: &str) -> String {
    c.store
        .authenticate_token(token)
        .await
        .unwrap()
        .unwrap()
        .tenant_id
}

#[tokio::test]
async fn webhook_endpoints_need_token_scope_and_own_tenant() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(backend.store.clone());
        let a = c.token(&format!("{}@a.example", uniq("hx")), RW).await;
        let b = c.token(&format!("{}@b.example", uniq("hy")), RW).await;
        let read_only = c
            .token(
                &format!("{}@c.example", uniq("hz")),
                &["webhooks:read", "widgets:read"],
            )
            .await;
        let write_only = c
            .token(&format!("{}@d.example", uniq("hw")), &["webhooks:write"])
            .await;
        let (_, h) = c
            .json(
                "POST",
                "/api/v1/webhooks",
                &a,
                json!({"name": "A", "url": "http://127.0.0.1:1/a", "events": ["call.missed"]}),
            )
            .await;
        let id = h["id"].as_str().unwrap().to_owned();
        let good = json!({"name": "X", "url": "http://127.0.0.1:1/x", "events": ["call.missed"]});
        let endpoints: Vec<(&str, String, Option<Value>, bool)> = vec![
            ("GET", "/api/v1/webhooks".into(), None, false),
            ("POST", "/api/v1/webhooks".into(), Some(good.clone()), true),
            ("GET", format!("/api/v1/webhooks/{id}"), None, false),
            (
                "PATCH",
                format!("/api/v1/webhooks/{id}"),
                Some(json!({"name": "B"})),
                true,
            ),
            ("DELETE", format!("/api/v1/webhooks/{id}"), None, true),
            (
                "POST",
                format!("/api/v1/webhooks/{id}/rotate-secret"),
                None,
                true,
            ),
            ("POST", format!("/api/v1/webhooks/{id}/test"), None, true),
            (
                "GET",
                format!("/api/v1/webhooks/{id}/deliveries"),
                None,
                false,
            ),
        ];
        for (method, path, body, write) in &endpoints {
            let body_s = body.as_ref().map(|b| b.to_string());
            // 401 without a token or with a bad one.
            let r = c.send(method, path, &[], body_s.as_deref()).await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "[{name}] {method} {path}"
            );
            assert_error(&r.body, "unauthorized");
            assert_eq!(r.header("www-authenticate"), Some("Bearer"));
            let (st, _) = c
                .call(method, path, Some("rs_pat_nope"), body_s.as_deref())
                .await;
            assert_eq!(st, StatusCode::UNAUTHORIZED, "[{name}] {method} {path}");
            // 403 without the scope.
            let other = if *write { &read_only } else { &write_only };
            let (st, e) = c.call(method, path, Some(other), body_s.as_deref()).await;
            assert_eq!(st, StatusCode::FORBIDDEN, "[{name}] {method} {path}");
            assert_error(&e, "forbidden");
            // 404 for another tenant's webhook.
            if path.contains(&id) {
                let (st, e) = c.call(method, path, Some(&b), body_s.as_deref()).await;
                assert_eq!(st, StatusCode::NOT_FOUND, "[{name}] {method} {path}");
                assert_error(&e, "not_found");
            }
        }
        // Nothing of A's changed; B lists nothing of A's.
        let (_, got) = c
            .call("GET", &format!("/api/v1/webhooks/{id}"), Some(&a), None)
            .await;
        assert_eq!(got["name"], "A");
        let (_, list) = c.call("GET", "/api/v1/webhooks", Some(&b), None).await;
        assert_eq!(list, json!([]));
        let (_, log) = c
            .call(
                "GET",
                &format!("/api/v1/webhooks/{id}/deliveries"),
                Some(&a),
                None,
            )
            .await;
        assert_eq!(log, json!([]));
        backend.finish().await;
    }
}

#[tokio::test]
async fn bad_webhook_bodies_get_stable_errors() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(backend.store.clone());
        let a = c.token(&format!("{}@a.example", uniq("hb")), RW).await;
        let b = c.token(&format!("{}@b.example", uniq("hc")), RW).await;
        let theirs = widget(&c, &b).await;
        let base = json!({"name": "N", "url": "https://example.com/h", "events": ["call.missed"]});
        let with = |k: &str, v: Value| {
            let mut o = base.clone();
            o[k] = v;
            o
        };
        for (body, field) in [
            (with("url", json!("ftp://example.com")), "url"),
            (with("url", json!("example.com/hook")), "url"),
            (with("url", json!("https://user@evil.example")), "url"),
            (with("url", json!("https://a b")), "url"),
            (with("events", json!([])), "events"),
            (
                with("events", json!(["call.missed", "call.exploded"])),
                "events",
            ),
            (with("widgetIds", json!([theirs])), "widgetIds"),
            (with("widgetIds", json!(["no-such-widget"])), "widgetIds"),
            (with("name", json!("  ")), "name"),
        ] {
            let (st, e) = c.json("POST", "/api/v1/webhooks", &a, body.clone()).await;
            assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "[{name}] {body} {e}");
            assert_error(&e, "invalid_field");
            assert!(
                e["error"]["message"].as_str().unwrap().starts_with(field),
                "{e}"
            );
        }
        for raw in [
            "{",
            r#"{"name":"N","url":"https://x.example"}"#,
            r#"{"name":"N","url":"https://x.example","events":["call.missed"],"extra":1}"#,
            r#"{"name":"N","url":"https://x.example","events":"call.missed"}"#,
        ] {
            let (st, e) = c
                .call("POST", "/api/v1/webhooks", Some(&a), Some(raw))
                .await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "[{name}] {raw}");
            assert_error(&e, "invalid_body");
        }
        // PATCH validates the same way and writes nothing on error.
        let (_, h) = c.json("POST", "/api/v1/webhooks", &a, base.clone()).await;
        let id = h["id"].as_str().unwrap();
        for body in [
            json!({"url": "mailto:x@example.com"}),
            json!({"events": ["nope"]}),
            json!({"widgetIds": [theirs]}),
            json!({"name": "ok", "events": []}),
        ] {
            let (st, e) = c
                .json("PATCH", &format!("/api/v1/webhooks/{id}"), &a, body.clone())
                .await;
            assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "[{name}] {body}");
            assert_error(&e, "invalid_field");
        }
        let (st, e) = c
            .call(
                "PATCH",
                &format!("/api/v1/webhooks/{id}"),
                Some(&a),
                Some(r#"{"enabled":"yes"}"#),
            )
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
        assert_error(&e, "invalid_body");
        let (_, got) = c
            .call("GET", &format!("/api/v1/webhooks/{id}"), Some(&a), None)
            .await;
        assert_eq!(got["name"], "N");
        assert_eq!(got["events"], json!(["call.missed"]));
        backend.finish().await;
    }
}

// ---------------------------------------------------------------- dispatcher

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Vec<u8>,
}

/// Scripted answers: status and optional `Retry-After`.
type Script = Arc<Mutex<VecDeque<(u16, Option<String>)>>>;

/// A local HTTP receiver answering from a script (then 200), recording every request.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    script: Script,
}

impl Receiver {
    async fn start(script: &[(u16, Option<&str>)]) -> (Receiver, String) {
        let r = Receiver::default();
        r.script
            .lock()
            .unwrap()
            .extend(script.iter().map(|(s, h)| (*s, h.map(str::to_owned))));
        let me = r.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let me = me.clone();
                async move {
                    me.got.lock().unwrap().push(Received {
                        headers,
                        body: body.to_vec(),
                    });
                    let (status, retry_after) =
                        me.script.lock().unwrap().pop_front().unwrap_or((200, None));
                    let mut resp = axum::http::Response::builder().status(status);
                    if let Some(v) = retry_after {
                        resp = resp.header("retry-after", v);
                    }
                    resp.body(axum::body::Body::from("ok")).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, format!("http://{addr}/hook"))
    }

    fn requests(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

fn fast_config() -> DispatchConfig {
    DispatchConfig {
        poll_interval: Duration::from_millis(20),
        base_backoff: Duration::ZERO,
        request_timeout: Duration::from_secs(5),
        policy: ringside_api::outbound::FetchPolicy {
            allow_private: true,
        },
        ..DispatchConfig::default()
    }
}

fn now_s() -> i64 {
    ringside_storage::now_ms() / 1000
}

/// Checks headers and signature of `r` and returns its JSON body.
fn check_signed(r: &Received, secret: &str, event: &str) -> Value {
    let h = |n: &str| r.headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    assert_eq!(h("content-type"), "application/json");
    assert_eq!(h("x-ringside-event"), event);
    let sig = h("x-ringside-signature");
    assert!(
        verify_signature(secret, sig, &r.body, now_s(), 300),
        "signature {sig} does not verify"
    );
    // Recompute by hand: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>.
    let t: i64 = sig
        .strip_prefix("t=")
        .and_then(|s| s.split(',').next())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(sig, signature_header(secret, t, &r.body));
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["id"], h("x-ringside-delivery"));
    assert_eq!(body["type"], event);
    assert!(body["createdAt"].is_i64());
    body
}

async fn create_hook(c: &Ctx, token: &str, url: &str, events: Value) -> (String, String) {
    let (st, h) = c
        .json(
            "POST",
            "/api/v1/webhooks",
            token,
            json!({"name": "Recv", "url": url, "events": events}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{h}");
    (
        h["id"].as_str().unwrap().to_owned(),
        h["secret"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn dispatcher_signs_retries_with_same_id_and_delivers() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(backend.store.clone());
        let a = c.token(&format!("{}@a.example", uniq("da")), RW).await;
        let tenant = p_tenant(&c, &a).await;
        let w = widget(&c, &a).await;
        let (recv, url) = Receiver::start(&[(500, None)]).await;
        let (hook, secret) = create_hook(&c, &a, &url, json!(["call.missed"])).await;

        let queued = c
            .store
            .enqueue_webhook_event(
                &tenant,
                "call.missed",
                Some(&w),
                &json!({"callId": "c-1", "widgetId": w}),
            )
            .await
            .unwrap();
        assert_eq!(queued.len(), 1, "[{name}]");
        let did = queued[0].id.clone();

        let d = Dispatcher::new(c.store.clone(), fast_config()).unwrap();
        assert_eq!(d.run_once().await.unwrap(), 1);
        let after_500 = c.store.get_webhook_delivery(&tenant, &did).await.unwrap();
        assert_eq!(after_500.status, DeliveryStatus::Pending, "[{name}]");
        assert_eq!(
            (after_500.attempts, after_500.last_status_code),
            (1, Some(500))
        );
        assert!(after_500.last_error.as_deref().unwrap().contains("500"));

        assert_eq!(d.run_once().await.unwrap(), 1);
        let done = c.store.get_webhook_delivery(&tenant, &did).await.unwrap();
        assert_eq!(done.status, DeliveryStatus::Delivered, "[{name}]");
        assert_eq!((done.attempts, done.last_status_code), (2, Some(200)));
        assert_eq!(d.run_once().await.unwrap(), 0, "nothing left");

        let reqs = recv.requests();
        assert_eq!(reqs.len(), 2);
        for r in &reqs {
            assert_eq!(r.headers["x-ringside-delivery"], did.as_str());
            let body = check_signed(r, &secret, "call.missed");
            assert_eq!(body["id"], did.as_str());
            assert_eq!(body["createdAt"], queued[0].created_at);
            assert_eq!(body["data"], json!({"callId": "c-1", "widgetId": w}));
        }
        assert_eq!(reqs[0].body, reqs[1].body, "the same body on every attempt");
        assert!(!verify_signature(
            "whsec_wrong",
            reqs[0].headers["x-ringside-signature"].to_str().unwrap(),
            &reqs[0].body,
            now_s(),
            300
        ));

        // The delivery log shows it.
        let (_, log) = c
            .call(
                "GET",
                &format!("/api/v1/webhooks/{hook}/deliveries"),
                Some(&a),
                None,
            )
            .await;
        assert_eq!(log[0]["id"], did.as_str());
        assert_eq!(log[0]["status"], "delivered");
        assert_eq!(log[0]["attempts"], 2);
        assert_eq!(log[0]["lastStatusCode"], 200);
        assert_eq!(log[0]["nextAttemptAt"], Value::Null);

        // Retries run out: max_attempts failures end as failed.
        let (recv2, url2) = Receiver::start(&[(500, None), (502, None)]).await;
        let (_, _) = create_hook(&c, &a, &url2, json!(["usage.updated"])).await;
        let q = c
            .store
            .enqueue_webhook_event(&tenant, "usage.updated", None, &json!({}))
            .await
            .unwrap();
        let d2 = Dispatcher::new(
            c.store.clone(),
            DispatchConfig {
                max_attempts: 2,
                ..fast_config()
            },
        )
        .unwrap();
        d2.run_once().await.unwrap();
        d2.run_once().await.unwrap();
        let failed = c
            .store
            .get_webhook_delivery(&tenant, &q[0].id)
            .await
            .unwrap();
        assert_eq!(failed.status, DeliveryStatus::Failed, "[{name}]");
        assert_eq!((failed.attempts, failed.last_status_code), (2, Some(502)));
        assert_eq!(d2.run_once().await.unwrap(), 0);
        assert_eq!(recv2.requests().len(), 2);
        backend.finish().await;
    }
}

#[tokio::test]
async fn dispatcher_410_disables_the_webhook() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(backend.store.clone());
        let a = c.token(&format!("{}@a.example", uniq("dg")), RW).await;
        let tenant = p_tenant(&c, &a).await;
        let (recv, url) = Receiver::start(&[(410, None)]).await;
        let (hook, _) = create_hook(&c, &a, &url, json!(["call.ended"])).await;
        let q = c
            .store
            .enqueue_webhook_event(&tenant, "call.ended", None, &json!({"callId": "x"}))
            .await
            .unwrap();
        let d = Dispatcher::new(c.store.clone(), fast_config()).unwrap();
        assert_eq!(d.run_once().await.unwrap(), 1);
        let gone = c
            .store
            .get_webhook_delivery(&tenant, &q[0].id)
            .await
            .unwrap();
        assert_eq!(gone.status, DeliveryStatus::Abandoned, "[{name}]");
        assert_eq!(gone.last_status_code, Some(410));
        let (_, h) = c
            .call("GET", &format!("/api/v1/webhooks/{hook}"), Some(&a), None)
            .await;
        assert_eq!(h["enabled"], false, "[{name}] {h}");
        assert!(h["disabledReason"].as_str().unwrap().contains("410"));
        // No more events for it, and a test event waits until it is enabled again.
        assert!(c
            .store
            .enqueue_webhook_event(&tenant, "call.ended", None, &json!({}))
            .await
            .unwrap()
            .is_empty());
        let (st, t) = c
            .call(
                "POST",
                &format!("/api/v1/webhooks/{hook}/test"),
                Some(&a),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::ACCEPTED);
        assert_eq!(d.run_once().await.unwrap(), 0);
        let (st, _) = c
            .json(
                "PATCH",
                &format!("/api/v1/webhooks/{hook}"),
                &a,
                json!({"enabled": true}),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(d.run_once().await.unwrap(), 1);
        let reqs = recv.requests();
        assert_eq!(reqs.len(), 2);
        assert_eq!(
            reqs[1].headers["x-ringside-delivery"],
            t["deliveryId"].as_str().unwrap()
        );
        assert_eq!(reqs[1].headers["x-ringside-event"], "webhook.test");
        backend.finish().await;
    }
}

#[tokio::test]
async fn dispatcher_honours_retry_after_when_later_than_backoff() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(backend.store.clone());
        let a = c.token(&format!("{}@a.example", uniq("dr")), RW).await;
        let tenant = p_tenant(&c, &a).await;
        let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(600));
        let (_recv, url) = Receiver::start(&[
            (503, Some("120")),
            (503, None),
            (429, Some(date.as_str())),
            (503, Some("0")),
        ])
        .await;
        create_hook(&c, &a, &url, json!(["call.requested"])).await;
        let config = DispatchConfig {
            base_backoff: Duration::from_secs(2),
            batch: 1,
            ..fast_config()
        };
        let d = Dispatcher::new(c.store.clone(), config).unwrap();
        let mut next = Vec::new();
        for i in 0..4 {
            let q = c
                .store
                .enqueue_webhook_event(&tenant, "call.requested", None, &json!({"n": i}))
                .await
                .unwrap();
            let before = ringside_storage::now_ms();
            assert_eq!(d.run_once().await.unwrap(), 1);
            let got = c
                .store
                .get_webhook_delivery(&tenant, &q[0].id)
                .await
                .unwrap();
            assert_eq!(got.status, DeliveryStatus::Pending, "[{name}] {i}");
            assert_eq!(got.attempts, 1);
            next.push(got.next_attempt_at - before);
        }
        // Retry-After: 120 → at least 120 s; none → the 2 s backoff; an HTTP date ten
        // minutes ahead → about 600 s; Retry-After: 0 is shorter than the backoff → backoff.
        assert!(next[0] >= 120_000, "[{name}] {next:?}");
        assert!(next[1] >= 2_000 && next[1] < 120_000, "[{name}] {next:?}");
        assert!(next[2] >= 590_000, "[{name}] {next:?}");
        assert!(next[3] >= 2_000 && next[3] < 120_000, "[{name}] {next:?}");
        assert!(next[1] < next[0] && next[0] < next[2]);
        backend.finish().await;
    }
}

#[tokio::test]
async fn undelivered_events_survive_a_new_store_and_dispatcher() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(backend.store.clone());
        let a = c.token(&format!("{}@a.example", uniq("ds")), RW).await;
        let tenant = p_tenant(&c, &a).await;
        let (recv, url) = Receiver::start(&[]).await;
        let (_, secret) = create_hook(&c, &a, &url, json!(["callback.submitted"])).await;
        let mut ids = Vec::new();
        for i in 0..3 {
            let q = c
                .store
                .enqueue_webhook_event(&tenant, "callback.submitted", None, &json!({"n": i}))
                .await
                .unwrap();
            ids.push(q[0].id.clone());
        }
        // A crash mid-attempt: one delivery was claimed (leased) but never recorded.
        let leased = c
            .store
            .claim_due_webhook_deliveries(ringside_storage::now_ms(), 0, 1)
            .await
            .unwrap();
        assert_eq!(leased.len(), 1);
        c.store.close().await;

        // "Restart": a new store on the same database and a running dispatcher task.
        let store = Store::connect(&backend.url).await.unwrap();
        let task = Dispatcher::new(store.clone(), fast_config())
            .unwrap()
            .spawn();
        for _ in 0..500 {
            let mut delivered = 0;
            for id in &ids {
                let d = store.get_webhook_delivery(&tenant, id).await.unwrap();
                delivered += usize::from(d.status == DeliveryStatus::Delivered);
            }
            if delivered == ids.len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        task.abort();
        let reqs = recv.requests();
        let mut got: Vec<String> = reqs
            .iter()
            .map(|r| {
                check_signed(r, &secret, "callback.submitted");
                r.headers["x-ringside-delivery"]
                    .to_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        got.sort();
        got.dedup();
        let mut want = ids.clone();
        want.sort();
        assert_eq!(got, want, "[{name}] every original delivery id arrives");
        for id in &ids {
            let d = store.get_webhook_delivery(&tenant, id).await.unwrap();
            assert_eq!(d.status, DeliveryStatus::Delivered, "[{name}]");
        }
        store.close().await;
        backend.finish().await;
    }
}

#[tokio::test]
async fn receivers_on_the_servers_own_network_are_refused_and_never_contacted() {
    for backend in backends().await {
        let name = backend.name;
        let strict = strict_ctx(backend.store.clone());
        let a = strict
            .token(&format!("{}@a.example", uniq("ssrf")), RW)
            .await;
        let tenant = p_tenant(&strict, &a).await;
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://localhost:8080/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.5/x",
            "http://[::1]:9/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://[64:ff9b::a9fe:a9fe]/x",
            "http://2130706433/x",
            "http://0x7f.0.0.1/x",
            "http://100.64.0.1/x",
        ] {
            let (st, body) = strict
                .json(
                    "POST",
                    "/api/v1/webhooks",
                    &a,
                    json!({"name": "R", "url": url, "events": ["call.missed"]}),
                )
                .await;
            assert_eq!(
                st,
                StatusCode::UNPROCESSABLE_ENTITY,
                "[{name}] {url}: {body}"
            );
            assert_error(&body, "invalid_field");
        }
        // A hook made in lab mode (or whose host later resolves to loopback) is stored; the
        // strict dispatcher gives its delivery up without connecting.
        let lab = ctx(backend.store.clone());
        let (recv, url) = Receiver::start(&[]).await;
        let (hook, _) = create_hook(&lab, &a, &url, json!(["usage.updated"])).await;
        let (st, body) = strict
            .json(
                "PATCH",
                &format!("/api/v1/webhooks/{hook}"),
                &a,
                json!({"url": url}),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "[{name}] {body}");
        let q = strict
            .store
            .enqueue_webhook_event(&tenant, "usage.updated", None, &json!({}))
            .await
            .unwrap();
        let d = Dispatcher::new(
            strict.store.clone(),
            DispatchConfig {
                policy: ringside_api::outbound::FetchPolicy::STRICT,
                ..fast_config()
            },
        )
        .unwrap();
        assert_eq!(d.run_once().await.unwrap(), 1);
        let got = strict
            .store
            .get_webhook_delivery(&tenant, &q[0].id)
            .await
            .unwrap();
        assert_eq!(got.status, DeliveryStatus::Failed, "[{name}]");
        assert_eq!(got.attempts, 1);
        assert_eq!(got.last_status_code, None);
        let err = got.last_error.unwrap();
        assert!(err.starts_with("refused:"), "{err}");
        assert!(!err.contains("connect"), "{err}");
        assert!(recv.requests().is_empty(), "the receiver was contacted");
        // The same delivery in lab mode reaches it.
        let q = strict
            .store
            .enqueue_webhook_event(&tenant, "usage.updated", None, &json!({}))
            .await
            .unwrap();
        let lab_d = Dispatcher::new(strict.store.clone(), fast_config()).unwrap();
        assert_eq!(lab_d.run_once().await.unwrap(), 1);
        let got = strict
            .store
            .get_webhook_delivery(&tenant, &q[0].id)
            .await
            .unwrap();
        assert_eq!(got.status, DeliveryStatus::Delivered, "[{name}]");
        assert_eq!(recv.requests().len(), 1);
        backend.finish().await;
    }
}
