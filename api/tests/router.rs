//! Router tests for the SIP administration and call endpoints: authentication, scopes, tenant
//! isolation, validation and the stable JSON error body — on SQLite, and on PostgreSQL when
//! `RINGSIDE_TEST_POSTGRES_URL` is set.

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{assert_error, Backend, Harness};
use ringside_api::{router, AppState, MetricsSource, SipDirectory};
use ringside_storage::{Extension, Store, Trunk};
use serde_json::{json, Value};
use tower::ServiceExt;

#[derive(Default)]
struct RecordingDirectory(Mutex<Vec<String>>);

impl SipDirectory for RecordingDirectory {
    fn extension_upserted(&self, ext: &Extension) {
        self.0.lock().unwrap().push(format!("ext+{}", ext.username));
    }
    fn extension_removed(&self, id: &str) {
        self.0.lock().unwrap().push(format!("ext-{id}"));
    }
    fn trunk_upserted(&self, t: &Trunk) {
        self.0.lock().unwrap().push(format!("trunk+{}", t.name));
    }
    fn trunk_removed(&self, id: &str) {
        self.0.lock().unwrap().push(format!("trunk-{id}"));
    }
}

struct NoMetrics;
impl MetricsSource for NoMetrics {
    fn render(&self, out: &mut String) {
        out.push_str("# TYPE x gauge\nx 1\n");
    }
}

struct Ctx {
    app: axum::Router,
    dir: Arc<RecordingDirectory>,
    store: Store,
}

async fn backends() -> Vec<Backend> {
    common::backends("ringside-api").await
}

fn ctx(store: Store) -> Ctx {
    let dir = Arc::new(RecordingDirectory::default());
    let app = router(AppState {
        directory: dir.clone(),
        metrics: vec![Arc::new(NoMetrics)],
        public_url: "https://calls.example.net".into(),
        ..common::state(&store)
    });
    Ctx { app, dir, store }
}

impl Harness for Ctx {
    fn app(&self) -> &axum::Router {
        &self.app
    }
    fn store(&self) -> &Store {
        &self.store
    }
}
fn uniq(p: &str) -> String {
    format!("{p}{}", rand::random::<u32>() % 1_000_000)
}

#[tokio::test]
async fn tokens_and_scopes_guard_every_endpoint() {
    for backend in backends().await {
        let (name, store) = (backend.name, backend.store.clone());
        let c = ctx(store);
        let read_only = c
            .token(&format!("{}@a.example", uniq("ro")), &["sip:read"])
            .await;
        let calls_only = c
            .token(&format!("{}@a.example", uniq("co")), &["calls:read"])
            .await;
        for (m, p, body) in [
            ("GET", "/api/v1/sip/extensions", None),
            ("POST", "/api/v1/sip/extensions", Some("{}")),
            ("GET", "/api/v1/sip/extensions/x", None),
            ("PATCH", "/api/v1/sip/extensions/x", Some("{}")),
            ("DELETE", "/api/v1/sip/extensions/x", None),
            ("GET", "/api/v1/sip/trunks", None),
            ("POST", "/api/v1/sip/trunks", Some("{}")),
            ("GET", "/api/v1/sip/trunks/x", None),
            ("PATCH", "/api/v1/sip/trunks/x", Some("{}")),
            ("DELETE", "/api/v1/sip/trunks/x", None),
            ("GET", "/api/v1/calls", None),
            ("GET", "/api/v1/calls/x", None),
        ] {
            let (st, b) = c.call(m, p, None, body).await;
            assert_eq!(st, StatusCode::UNAUTHORIZED, "[{name}] {m} {p}");
            assert_error(&b, "unauthorized");
            let (st, b) = c.call(m, p, Some("ringside_pat_bogus"), body).await;
            assert_eq!(st, StatusCode::UNAUTHORIZED, "[{name}] {m} {p} bogus token");
            assert_error(&b, "unauthorized");
            let needs_write = m != "GET";
            let is_calls = p.starts_with("/api/v1/calls");
            // sip:read cannot write SIP objects nor read calls; calls:read cannot read SIP.
            let token = if is_calls || needs_write {
                &read_only
            } else {
                &calls_only
            };
            let (st, b) = c.call(m, p, Some(token), body).await;
            assert_eq!(st, StatusCode::FORBIDDEN, "[{name}] {m} {p} without scope");
            assert_error(&b, "forbidden");
        }
        // A revoked token stops working at once.
        let u = c
            .store
            .ensure_user(&format!("{}@a.example", uniq("rv")))
            .await
            .unwrap();
        let (info, tok) = c
            .store
            .create_token(&u.id, "t", &["sip:read".into()])
            .await
            .unwrap();
        assert_eq!(
            c.call("GET", "/api/v1/sip/extensions", Some(&tok), None)
                .await
                .0,
            StatusCode::OK
        );
        c.store.revoke_token(&u.tenant_id, &info.id).await.unwrap();
        assert_eq!(
            c.call("GET", "/api/v1/sip/extensions", Some(&tok), None)
                .await
                .0,
            StatusCode::UNAUTHORIZED
        );
        backend.finish().await;
    }
}

#[tokio::test]
async fn extensions_crud_never_returns_passwords_and_is_tenant_scoped() {
    for backend in backends().await {
        let (name, store) = (backend.name, backend.store.clone());
        let c = ctx(store);
        let a = c
            .token(
                &format!("{}@a.example", uniq("a")),
                &["sip:read", "sip:write"],
            )
            .await;
        let b = c
            .token(
                &format!("{}@b.example", uniq("b")),
                &["sip:read", "sip:write"],
            )
            .await;
        let user = uniq("9");
        let a_tenant = c
            .store
            .authenticate_token(&a)
            .await
            .unwrap()
            .unwrap()
            .tenant_id;
        let w1 = c
            .store
            .create_widget(
                &a_tenant,
                ringside_storage::NewWidget {
                    name: "Site".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .id;
        // Unknown widget ids are refused: such a phone would never ring.
        for ids in [json!(["nope"]), json!([w1.clone(), "nope"])] {
            let (st, body) = c
                .json(
                    "POST",
                    "/api/v1/sip/extensions",
                    &a,
                    json!({"username": user, "password": "longenough1", "widgetIds": ids}),
                )
                .await;
            assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "[{name}] {body}");
            assert_error(&body, "invalid_field");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("widgetIds"),
                "{body}"
            );
        }
        let (st, ext) = c
            .json("POST", "/api/v1/sip/extensions", &a, json!({"username": user, "password": "longenough1", "displayName": "Desk", "widgetIds": [w1]}))
            .await;
        assert_eq!(st, StatusCode::CREATED, "[{name}] {ext}");
        let id = ext["id"].as_str().unwrap().to_string();
        assert_eq!(ext["username"], user.as_str());
        assert_eq!(ext["widgetIds"], json!([w1]));
        let text = ext.to_string();
        assert!(
            !text.contains("longenough1")
                && !text.to_lowercase().contains("password")
                && !text.contains("ha1"),
            "{text}"
        );
        assert!(
            c.dir.0.lock().unwrap().contains(&format!("ext+{user}")),
            "SIP side told"
        );

        let path = format!("/api/v1/sip/extensions/{id}");
        let (st, got) = c.call("GET", &path, Some(&a), None).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(got["displayName"], "Desk");
        let (st, list) = c
            .call("GET", "/api/v1/sip/extensions", Some(&a), None)
            .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(list.as_array().unwrap().len(), 1);

        // Tenant B sees nothing of it and cannot touch it.
        assert_eq!(
            c.call("GET", "/api/v1/sip/extensions", Some(&b), None)
                .await
                .1,
            json!([])
        );
        for (m, body) in [
            ("GET", None),
            ("PATCH", Some(r#"{"displayName":"x"}"#)),
            ("DELETE", None),
        ] {
            let (st, body) = c.call(m, &path, Some(&b), body).await;
            assert_eq!(st, StatusCode::NOT_FOUND, "[{name}] {m} cross-tenant");
            assert_error(&body, "not_found");
        }
        // Duplicate usernames conflict, even across tenants (phones register without a domain).
        let (st, body) = c
            .json(
                "POST",
                "/api/v1/sip/extensions",
                &b,
                json!({"username": user, "password": "longenough2"}),
            )
            .await;
        assert_eq!(st, StatusCode::CONFLICT);
        assert_error(&body, "conflict");

        let (st, got) = c
            .json(
                "PATCH",
                &path,
                &a,
                json!({"displayName": "Front desk", "password": "newpassword9"}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{got}");
        assert_eq!(got["displayName"], "Front desk");
        assert_eq!(got["username"], user.as_str());
        // Digest algorithms: the server's unless set; MD5 alone for a phone that cannot
        // answer SHA-256; anything else is refused naming the field, and changes nothing.
        assert_eq!(got["digestAlgorithms"], json!([]));
        let (st, got) = c
            .json("PATCH", &path, &a, json!({"digestAlgorithms": ["md5"]}))
            .await;
        assert_eq!(st, StatusCode::OK, "{got}");
        assert_eq!(got["digestAlgorithms"], json!(["MD5"]));
        for bad in [json!(["SHA-512"]), json!(["MD5", "MD5"]), json!("MD5")] {
            let (st, body) = c
                .json("PATCH", &path, &a, json!({"digestAlgorithms": bad}))
                .await;
            assert!(
                st == StatusCode::UNPROCESSABLE_ENTITY || st == StatusCode::BAD_REQUEST,
                "[{name}] {bad}: {st} {body}"
            );
            assert!(body.to_string().contains("digestAlgorithms"), "{body}");
        }
        let (_, got) = c.call("GET", &path, Some(&a), None).await;
        assert_eq!(got["digestAlgorithms"], json!(["MD5"]), "unchanged");
        let (_, got) = c
            .json("PATCH", &path, &a, json!({"digestAlgorithms": []}))
            .await;
        assert_eq!(got["digestAlgorithms"], json!([]), "back to the server's");
        // SRTP policy and session timer: defaults, set, refused out of range, cleared.
        assert_eq!(got["srtp"], "optional");
        assert_eq!(got["sessionTimerSecs"], json!(null));
        let (st, got) = c
            .json(
                "PATCH",
                &path,
                &a,
                json!({"srtp": "required", "sessionTimerSecs": 1800}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{got}");
        assert_eq!(
            (got["srtp"].as_str(), got["sessionTimerSecs"].as_u64()),
            (Some("required"), Some(1800))
        );
        let (st, body) = c
            .json("PATCH", &path, &a, json!({"sessionTimerSecs": 30}))
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body.to_string().contains("sessionTimerSecs"), "{body}");
        let (st, body) = c.json("PATCH", &path, &a, json!({"srtp": "maybe"})).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
        let (_, got) = c
            .json("PATCH", &path, &a, json!({"sessionTimerSecs": null}))
            .await;
        assert_eq!(got["sessionTimerSecs"], json!(null), "cleared");
        assert_eq!(got["srtp"], "required", "unchanged");

        assert_eq!(
            c.call("DELETE", &path, Some(&a), None).await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            c.call("GET", &path, Some(&a), None).await.0,
            StatusCode::NOT_FOUND
        );
        backend.finish().await;
    }
}

#[tokio::test]
async fn bad_bodies_get_stable_errors_and_change_nothing() {
    for backend in backends().await {
        let (name, store) = (backend.name, backend.store.clone());
        let c = ctx(store);
        let a = c
            .token(
                &format!("{}@a.example", uniq("v")),
                &["sip:read", "sip:write"],
            )
            .await;
        for (body, status, code) in [
            ("{not json", StatusCode::BAD_REQUEST, "invalid_body"),
            (
                r#"{"username":"1"}"#,
                StatusCode::BAD_REQUEST,
                "invalid_body",
            ),
            (
                r#"{"username":"1","password":"longenough","bogus":1}"#,
                StatusCode::BAD_REQUEST,
                "invalid_body",
            ),
            (
                r#"{"username":"1","password":"short"}"#,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
            ),
            (
                r#"{"username":"has space","password":"longenough"}"#,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
            ),
            (
                r#"{"username":"","password":"longenough"}"#,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
            ),
        ] {
            let (st, b) = c
                .call("POST", "/api/v1/sip/extensions", Some(&a), Some(body))
                .await;
            assert_eq!(st, status, "[{name}] {body}: {b}");
            assert_error(&b, code);
        }
        for body in [
            json!({"name": "t", "inboundCidrs": ["not-an-ip"]}),
            json!({"name": "t", "outboundTransport": "sctp"}),
            json!({"name": "t", "allowedDestinations": "+1NXX*X"}),
            json!({"name": "t", "inboundUsername": "pbx"}),
            json!({"name": ""}),
            json!({"name": "t", "outboundHost": "bad host!"}),
        ] {
            let (st, b) = c.json("POST", "/api/v1/sip/trunks", &a, body.clone()).await;
            assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "[{name}] {body}: {b}");
            assert_error(&b, "invalid_field");
        }
        assert_eq!(
            c.call("GET", "/api/v1/sip/extensions", Some(&a), None)
                .await
                .1,
            json!([])
        );
        assert_eq!(
            c.call("GET", "/api/v1/sip/trunks", Some(&a), None).await.1,
            json!([])
        );
        let (st, b) = c
            .call(
                "GET",
                "/api/v1/calls?limit=0",
                Some(
                    &c.token(&format!("{}@a.example", uniq("cl")), &["calls:read"])
                        .await,
                ),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        let (st, b) = c.call("GET", "/nope", None, None).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        assert_error(&b, "not_found");
        backend.finish().await;
    }
}

#[tokio::test]
async fn trunks_crud_patch_clears_fields_and_hides_passwords() {
    for backend in backends().await {
        let (name, store) = (backend.name, backend.store.clone());
        let c = ctx(store);
        let a = c
            .token(
                &format!("{}@a.example", uniq("t")),
                &["sip:read", "sip:write"],
            )
            .await;
        let b = c
            .token(
                &format!("{}@b.example", uniq("t")),
                &["sip:read", "sip:write"],
            )
            .await;
        let inbound_user = uniq("pbx");
        let (st, t) = c
            .json("POST", "/api/v1/sip/trunks", &a, json!({
                "name": "carrier",
                "inboundCidrs": ["203.0.113.7/32", "198.51.100.1"],
                "inboundUsername": inbound_user, "inboundPassword": "inbound-secret",
                "outboundHost": "sip.carrier.example", "outboundPort": 5080, "outboundTransport": "tcp",
                "outboundUsername": "acct", "outboundPassword": "carrier-secret",
                "allowedDestinations": "+1NXXNXXXXXX,+4420*"
            }))
            .await;
        assert_eq!(st, StatusCode::CREATED, "[{name}] {t}");
        let text = t.to_string();
        assert!(
            !text.contains("secret") && !text.contains("assword"),
            "{text}"
        );
        assert_eq!(
            t["inboundCidrs"],
            json!(["203.0.113.7/32", "198.51.100.1/32"])
        );
        assert_eq!(t["outboundPort"], 5080);
        assert_eq!(t["digestAlgorithms"], json!([]));
        let path = format!("/api/v1/sip/trunks/{}", t["id"].as_str().unwrap());
        let (st, t1) = c
            .json("PATCH", &path, &a, json!({"digestAlgorithms": ["SHA-256"]}))
            .await;
        assert_eq!(st, StatusCode::OK, "{t1}");
        assert_eq!(t1["digestAlgorithms"], json!(["SHA-256"]));
        let (st, e) = c
            .json("PATCH", &path, &a, json!({"digestAlgorithms": ["SHA1"]}))
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        let (st, t2) = c
            .json(
                "PATCH",
                &path,
                &a,
                json!({"allowedDestinations": null, "outboundPort": 5060}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{t2}");
        assert_eq!(t2["allowedDestinations"], Value::Null);
        assert_eq!(t2["outboundPort"], 5060);
        assert_eq!(
            t2["outboundHost"], "sip.carrier.example",
            "untouched fields stay"
        );
        assert_eq!(
            c.call("GET", &path, Some(&b), None).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            c.call("DELETE", &path, Some(&b), None).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            c.call("GET", &path, Some(&a), None).await.0,
            StatusCode::OK,
            "B's delete changed nothing"
        );
        assert_eq!(
            c.call("DELETE", &path, Some(&a), None).await.0,
            StatusCode::NO_CONTENT
        );
        assert!(c
            .dir
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.starts_with("trunk-")));
        backend.finish().await;
    }
}

#[tokio::test]
async fn health_and_metrics_need_no_token() {
    let mut all = backends().await;
    let store = all[0].store.clone();
    for b in all.drain(1..) {
        b.finish().await;
    }
    let c = ctx(store);
    let (st, b) = c.call("GET", "/healthz", None, None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(b["status"], "ok");
    let resp = c
        .app
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let mut all = backends().await;
    let store = all[0].store.clone();
    for b in all.drain(1..) {
        b.finish().await;
    }
    let c = ctx(store);
    let get = |uri: &str, id: Option<&str>| {
        let mut r = Request::get(uri);
        if let Some(id) = id {
            r = r.header("x-request-id", id);
        }
        c.app.clone().oneshot(r.body(Body::empty()).unwrap())
    };
    let id_of = |resp: &axum::response::Response| {
        resp.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    // Made here: a UUID, a new one per request, on successes and errors alike.
    let a = get("/healthz", None).await.unwrap();
    let b = get("/api/v1/sip/extensions", None).await.unwrap();
    assert_eq!(b.status(), StatusCode::UNAUTHORIZED);
    let (a, b) = (id_of(&a).expect("an id"), id_of(&b).expect("an id"));
    assert_ne!(a, b);
    for id in [&a, &b] {
        assert_eq!(id.len(), 36, "{id}");
        assert_eq!(id.matches('-').count(), 4, "{id}");
    }
    // Given by a proxy in front: kept and sent back.
    let c2 = get("/no/such/path", Some("edge-7f3a")).await.unwrap();
    assert_eq!(c2.status(), StatusCode::NOT_FOUND);
    assert_eq!(id_of(&c2).as_deref(), Some("edge-7f3a"));
}

#[tokio::test]
async fn trunks_cannot_trust_the_world_or_another_tenants_networks_or_take_its_logins() {
    for backend in backends().await {
        let (name, store) = (backend.name, backend.store.clone());
        let c = ctx(store);
        let scopes = ["sip:read", "sip:write"];
        let a = c.token(&format!("{}@a.example", uniq("ta")), &scopes).await;
        let b = c.token(&format!("{}@b.example", uniq("tb")), &scopes).await;
        // Over-broad networks: wider than /16 (IPv4, also written IPv4-mapped) or /48 (IPv6).
        for cidr in [
            "0.0.0.0/0",
            "10.0.0.0/8",
            "172.16.0.0/15",
            "::/0",
            "2001:db8::/32",
            "::ffff:0.0.0.0/96",
        ] {
            let (st, body) = c
                .json(
                    "POST",
                    "/api/v1/sip/trunks",
                    &a,
                    json!({"name": "pbx", "inboundCidrs": [cidr]}),
                )
                .await;
            assert_eq!(
                st,
                StatusCode::UNPROCESSABLE_ENTITY,
                "[{name}] {cidr}: {body}"
            );
            assert_error(&body, "invalid_field");
        }
        // A /16 and a /48 are accepted; networks are unique per test run.
        let n = rand::random::<u8>();
        let mine = format!("100.{n}.0.0/16");
        let (st, t) = c
            .json(
                "POST",
                "/api/v1/sip/trunks",
                &a,
                json!({"name": "pbx", "inboundCidrs": [mine, format!("2001:db8:{n:x}::/48")]}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "[{name}] {t}");
        // The same tenant may overlap its own networks; another tenant may not.
        let inside = format!("100.{n}.7.0/24");
        let (st, body) = c
            .json(
                "POST",
                "/api/v1/sip/trunks",
                &a,
                json!({"name": "pbx2", "inboundCidrs": [inside.clone()]}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "[{name}] {body}");
        for cidr in [inside.as_str(), "100.0.0.0/8"] {
            let (st, body) = c
                .json(
                    "POST",
                    "/api/v1/sip/trunks",
                    &b,
                    json!({"name": "theirs", "inboundCidrs": [cidr]}),
                )
                .await;
            assert_eq!(
                st,
                StatusCode::UNPROCESSABLE_ENTITY,
                "[{name}] {cidr}: {body}"
            );
            assert!(!body.to_string().contains("a.example"), "{body}");
        }
        let (st, tb) = c
            .json(
                "POST",
                "/api/v1/sip/trunks",
                &b,
                json!({"name": "theirs", "inboundCidrs": [format!("100.{}.1.1", n.wrapping_add(1))]}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "[{name}] {tb}");
        // Patching into tenant A's networks is refused the same way.
        let (st, _) = c
            .json(
                "PATCH",
                &format!("/api/v1/sip/trunks/{}", tb["id"].as_str().unwrap()),
                &b,
                json!({"inboundCidrs": [format!("100.{n}.9.9")]}),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "[{name}]");

        // Extension usernames and trunk logins are one namespace; a taken name is refused
        // with the same answer whoever holds it, and never says who.
        let login = uniq("shared");
        let (st, _) = c
            .json(
                "POST",
                "/api/v1/sip/extensions",
                &a,
                json!({"username": login, "password": "longenough1"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED);
        let mut answers = vec![];
        for (tok, path, body) in [
            (
                &b,
                "/api/v1/sip/trunks",
                json!({"name": "x", "inboundUsername": login, "inboundPassword": "longenough2"}),
            ),
            (
                &b,
                "/api/v1/sip/extensions",
                json!({"username": login, "password": "longenough2"}),
            ),
            (
                &a,
                "/api/v1/sip/extensions",
                json!({"username": login, "password": "longenough2"}),
            ),
        ] {
            let (st, body) = c.json("POST", path, tok, body).await;
            assert_eq!(st, StatusCode::CONFLICT, "[{name}] {path}: {body}");
            assert_error(&body, "conflict");
            assert!(!body.to_string().contains("a.example"), "{body}");
            answers.push(body["error"]["message"].clone());
        }
        assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
        // A trunk login blocks the extension username the other way round, also on PATCH.
        let tlogin = uniq("trunklogin");
        let (st, t2) = c
            .json(
                "POST",
                "/api/v1/sip/trunks",
                &b,
                json!({"name": "y", "inboundUsername": tlogin, "inboundPassword": "longenough2"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{t2}");
        let (st, _) = c
            .json(
                "POST",
                "/api/v1/sip/extensions",
                &a,
                json!({"username": tlogin, "password": "longenough1"}),
            )
            .await;
        assert_eq!(st, StatusCode::CONFLICT);
        // Re-setting a trunk's own login keeps working.
        let (st, body) = c
            .json(
                "PATCH",
                &format!("/api/v1/sip/trunks/{}", t2["id"].as_str().unwrap()),
                &b,
                json!({"inboundUsername": tlogin, "inboundPassword": "longenough3"}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{body}");
        let (st, _) = c
            .json(
                "PATCH",
                &format!("/api/v1/sip/trunks/{}", t2["id"].as_str().unwrap()),
                &b,
                json!({"inboundUsername": login, "inboundPassword": "longenough3"}),
            )
            .await;
        assert_eq!(st, StatusCode::CONFLICT);
        backend.finish().await;
    }
}
