//! Router tests for `/api/v1/widgets` and the public widget runtime (`/widget/bootstrap`,
//! `/api/widgets/{id}/config`): authentication, scopes, tenant isolation, validation with the
//! stable JSON error body, origin checks and per-widget CORS — on SQLite, and on PostgreSQL
//! when `RINGSIDE_TEST_POSTGRES_URL` is set.

mod common;

use axum::http::StatusCode;
use common::{assert_error, uniq, Backend, Harness, PUBLIC_URL};
use ringside_api::router;
use ringside_storage::Store;
use serde_json::{json, Value};

async fn backends() -> Vec<Backend> {
    common::backends("ringside-widgets").await
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

fn ctx(store: Store) -> Ctx {
    let app = router(common::state(&store));
    Ctx { app, store }
}

const RW: &[&str] = &["widgets:read", "widgets:write"];

#[tokio::test]
async fn widgets_create_list_get_patch_and_snippet() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(backend.store.clone());
        let a = c.token(&format!("{}@a.example", uniq("wa")), RW).await;

        // Create with defaults: only a name.
        let (st, minimal) = c
            .json("POST", "/api/v1/widgets", &a, json!({"name": "Minimal"}))
            .await;
        assert_eq!(st, StatusCode::CREATED, "[{name}] {minimal}");
        assert_eq!(minimal["position"], "bottom-right");
        assert_eq!(minimal["primaryColor"], "#3B82F6");
        assert_eq!(minimal["allowedDomains"], json!([]));
        assert_eq!(minimal["leadForm"], Value::Null);

        // Create with everything.
        let (st, w) = c
            .json(
                "POST",
                "/api/v1/widgets",
                &a,
                json!({
                    "name": "  Main site ",
                    "allowedDomains": ["Example.com", "*.example.com", "localhost:3000", "example.com"],
                    "greeting": "Hello!",
                    "agentName": "Ana",
                    "agentTitle": "Support",
                    "inputPlaceholder": "Ask us",
                    "primaryColor": "#112233",
                    "position": "bottom-left",
                    "avatarUrl": "https://cdn.example.com/ana.png",
                    "logoUrl": "https://cdn.example.com/logo.png",
                    "offlineForm": {
                        "enabled": true,
                        "message": "We are away",
                        "fields": [{"name": "email", "label": "Email", "type": "email", "required": true}]
                    }
                }),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "[{name}] {w}");
        let id = w["id"].as_str().unwrap().to_owned();
        let key = w["publicKey"].as_str().unwrap().to_owned();
        assert!(key.starts_with("wk_") && key.len() == 35, "{key}");
        assert_eq!(w["widgetKey"], key);
        assert_eq!(w["name"], "Main site");
        assert_eq!(
            w["allowedDomains"],
            json!(["example.com", "*.example.com", "localhost:3000"])
        );
        assert_eq!(
            (&w["greeting"], &w["agentName"], &w["agentTitle"]),
            (&json!("Hello!"), &json!("Ana"), &json!("Support"))
        );
        assert_eq!(w["inputPlaceholder"], "Ask us");
        assert_eq!(w["primaryColor"], "#112233");
        assert_eq!(w["position"], "bottom-left");
        assert_eq!(w["avatarUrl"], "https://cdn.example.com/ana.png");
        assert_eq!(w["logoUrl"], "https://cdn.example.com/logo.png");
        assert_eq!(w["offlineForm"]["enabled"], true);
        assert_eq!(w["offlineForm"]["fields"][0]["type"], "email");
        assert!(w["createdAt"].is_i64() && w["updatedAt"].is_i64());

        // List and get.
        let (st, list) = c.call("GET", "/api/v1/widgets", Some(&a), None).await;
        assert_eq!(st, StatusCode::OK);
        let ids: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [minimal["id"].as_str().unwrap(), id.as_str()]);
        let (st, got) = c
            .call("GET", &format!("/api/v1/widgets/{id}"), Some(&a), None)
            .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(got, w);

        // Patch: only the given fields change; null clears the nullable ones.
        let (st, p) = c
            .json(
                "PATCH",
                &format!("/api/v1/widgets/{id}"),
                &a,
                json!({
                    "greeting": "Hi again",
                    "logoUrl": null,
                    "leadForm": {"prompt": "Leave your number", "fields": [{"name": "phone", "type": "tel"}]}
                }),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "[{name}] {p}");
        assert_eq!(p["greeting"], "Hi again");
        assert_eq!(p["logoUrl"], Value::Null);
        assert_eq!(p["leadForm"]["prompt"], "Leave your number");
        assert_eq!(p["leadForm"]["fields"][0]["required"], false);
        for same in [
            "name",
            "publicKey",
            "allowedDomains",
            "avatarUrl",
            "position",
            "offlineForm",
            "createdAt",
        ] {
            assert_eq!(p[same], w[same], "[{name}] {same}");
        }
        let (_, got) = c
            .call("GET", &format!("/api/v1/widgets/{id}"), Some(&a), None)
            .await;
        assert_eq!(got, p);
        let (st, p2) = c
            .json(
                "PATCH",
                &format!("/api/v1/widgets/{id}"),
                &a,
                json!({"leadForm": null, "allowedDomains": ["*.Shop.example.org"]}),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(p2["leadForm"], Value::Null);
        assert_eq!(p2["allowedDomains"], json!(["*.shop.example.org"]));

        // Install snippet.
        let (st, s) = c
            .call(
                "GET",
                &format!("/api/v1/widgets/{id}/install-snippet"),
                Some(&a),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(s["widgetId"], id);
        assert_eq!(s["scriptUrl"], format!("{PUBLIC_URL}/widget.js"));
        assert_eq!(
            s["snippet"],
            format!(
                "<script src=\"{PUBLIC_URL}/widget.js\" data-widget-id=\"{id}\" \
                 data-widget-key=\"{key}\" async></script>"
            )
        );
        backend.finish().await;
    }
}

#[tokio::test]
async fn widget_endpoints_need_token_scope_and_own_tenant() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(backend.store.clone());
        let a = c.token(&format!("{}@a.example", uniq("wa")), RW).await;
        let b = c.token(&format!("{}@b.example", uniq("wb")), RW).await;
        let read_only = c
            .token(&format!("{}@a.example", uniq("ro")), &["widgets:read"])
            .await;
        let calls_only = c
            .token(&format!("{}@a.example", uniq("co")), &["calls:read"])
            .await;
        let (_, w) = c
            .json(
                "POST",
                "/api/v1/widgets",
                &a,
                json!({"name": "A", "allowedDomains": ["a.example"]}),
            )
            .await;
        let id = w["id"].as_str().unwrap();
        let body = r#"{"name":"Taken"}"#;
        let endpoints = [
            ("GET", "/api/v1/widgets".to_owned(), None),
            ("POST", "/api/v1/widgets".to_owned(), Some(body)),
            ("GET", format!("/api/v1/widgets/{id}"), None),
            ("PATCH", format!("/api/v1/widgets/{id}"), Some(body)),
            ("GET", format!("/api/v1/widgets/{id}/install-snippet"), None),
        ];
        for (m, p, body) in &endpoints {
            let (st, e) = c.call(m, p, None, *body).await;
            assert_eq!(st, StatusCode::UNAUTHORIZED, "[{name}] {m} {p}");
            assert_error(&e, "unauthorized");
            let (st, e) = c.call(m, p, Some("ringside_pat_bogus"), *body).await;
            assert_eq!(st, StatusCode::UNAUTHORIZED, "[{name}] {m} {p}");
            assert_error(&e, "unauthorized");
            let token = if *m == "GET" { &calls_only } else { &read_only };
            let (st, e) = c.call(m, p, Some(token), *body).await;
            assert_eq!(st, StatusCode::FORBIDDEN, "[{name}] {m} {p}");
            assert_error(&e, "forbidden");
        }
        // Another tenant: 404 on every endpoint naming the widget; absent from its list.
        for (m, p, body) in &endpoints[2..] {
            let (st, e) = c.call(m, p, Some(&b), *body).await;
            assert_eq!(st, StatusCode::NOT_FOUND, "[{name}] {m} {p}");
            assert_error(&e, "not_found");
        }
        let (_, list) = c.call("GET", "/api/v1/widgets", Some(&b), None).await;
        assert_eq!(list, json!([]));
        let (_, got) = c
            .call("GET", &format!("/api/v1/widgets/{id}"), Some(&a), None)
            .await;
        assert_eq!(got, w, "[{name}] unchanged by the refused calls");
        let (st, _) = c
            .call("GET", "/api/v1/widgets/no-such-widget", Some(&a), None)
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        backend.finish().await;
    }
}

#[tokio::test]
async fn bad_widget_bodies_get_stable_errors_and_change_nothing() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(backend.store.clone());
        let a = c.token(&format!("{}@a.example", uniq("wa")), RW).await;
        let (_, w) = c
            .json(
                "POST",
                "/api/v1/widgets",
                &a,
                json!({"name": "Keep", "allowedDomains": ["keep.example"]}),
            )
            .await;
        let id = w["id"].as_str().unwrap();
        let path = format!("/api/v1/widgets/{id}");

        // 400: not JSON, wrong types, unknown fields, missing name.
        for raw in [
            "{",
            "[]",
            r#"{"name": 5}"#,
            r#"{"name": "x", "allowedDomains": "example.com"}"#,
            r##"{"name": "x", "colour": "#000000"}"##,
            r#"{"greeting": "no name"}"#,
        ] {
            let (st, e) = c.call("POST", "/api/v1/widgets", Some(&a), Some(raw)).await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "[{name}] POST {raw}");
            assert_error(&e, "invalid_body");
        }
        for raw in [
            "{",
            r#"{"name": 5}"#,
            r#"{"bogus": 1}"#,
            r#"{"offlineForm": {"x": 1}}"#,
        ] {
            let (st, e) = c.call("PATCH", &path, Some(&a), Some(raw)).await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "[{name}] PATCH {raw}");
            assert_error(&e, "invalid_body");
        }

        // 422: field validation, on create and patch alike.
        let long_name = "x".repeat(121);
        let invalid: Vec<(Value, &str)> = vec![
            (json!({"name": ""}), "name"),
            (json!({"name": "   "}), "name"),
            (json!({"name": long_name}), "name"),
            (
                json!({"allowedDomains": ["https://example.com"]}),
                "allowedDomains",
            ),
            (
                json!({"allowedDomains": ["example.com/shop"]}),
                "allowedDomains",
            ),
            (json!({"allowedDomains": ["*"]}), "allowedDomains"),
            (
                json!({"allowedDomains": ["ex ample.com"]}),
                "allowedDomains",
            ),
            (
                json!({"allowedDomains": ["example.com:70000"]}),
                "allowedDomains",
            ),
            (json!({"primaryColor": "red"}), "primaryColor"),
            (json!({"primaryColor": "#12345"}), "primaryColor"),
            (json!({"position": "top-left"}), "position"),
            (json!({"avatarUrl": "javascript:alert(1)"}), "avatarUrl"),
            (json!({"logoUrl": "ftp://cdn.example.com/x.png"}), "logoUrl"),
            (
                json!({"offlineForm": {"fields": [{"name": "a", "type": "checkbox"}]}}),
                "offlineForm",
            ),
            (
                json!({"leadForm": {"fields": [{"name": "bad name"}]}}),
                "leadForm",
            ),
        ];
        for (patch, field) in &invalid {
            let mut create = patch.clone();
            if create.get("name").is_none() {
                create["name"] = json!("Fine");
            }
            let (st, e) = c.json("POST", "/api/v1/widgets", &a, create).await;
            assert_eq!(
                st,
                StatusCode::UNPROCESSABLE_ENTITY,
                "[{name}] POST {patch}"
            );
            assert_error(&e, "invalid_field");
            assert!(
                e["error"]["message"].as_str().unwrap().starts_with(field),
                "{e}"
            );
            let (st, e) = c.json("PATCH", &path, &a, patch.clone()).await;
            assert_eq!(
                st,
                StatusCode::UNPROCESSABLE_ENTITY,
                "[{name}] PATCH {patch}"
            );
            assert_error(&e, "invalid_field");
        }

        // Nothing was created or changed.
        let (_, list) = c.call("GET", "/api/v1/widgets", Some(&a), None).await;
        assert_eq!(list, json!([w]), "[{name}]");
        backend.finish().await;
    }
}

/// Creates a widget for the runtime tests and returns `(id, key)`.
async fn runtime_widget(c: &Ctx, token: &str, domains: Value) -> (String, String) {
    let (st, w) = c
        .json(
            "POST",
            "/api/v1/widgets",
            token,
            json!({
                "name": "Runtime",
                "allowedDomains": domains,
                "greeting": "Welcome",
                "agentName": "Ana",
                "primaryColor": "#0A0B0C",
                "position": "bottom-left",
                "logoUrl": "https://cdn.example.com/logo.png",
                "leadForm": {"prompt": "Your email?", "fields": [{"name": "email", "type": "email", "required": true}]}
            }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{w}");
    (
        w["id"].as_str().unwrap().to_owned(),
        w["publicKey"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn widget_runtime_checks_key_and_origin_with_per_widget_cors() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(backend.store.clone());
        let a = c.token(&format!("{}@a.example", uniq("wa")), RW).await;
        let (id, key) = runtime_widget(&c, &a, json!(["shop.example.org", "*.example.com"])).await;
        let boot = |k: &str, domain: &str| {
            format!("/widget/bootstrap?clientId={id}&widgetKey={k}&domain={domain}")
        };
        let config_path = format!("/api/widgets/{id}/config");
        let bearer = format!("Bearer {key}");

        // Bootstrap from an allowed origin: the LaysanX shape, CORS for that origin.
        for origin in [
            "https://shop.example.org",
            "https://www.example.com",
            "https://A.B.EXAMPLE.COM",
            "http://shop.example.org:8080",
        ] {
            let r = c
                .send(
                    "GET",
                    &boot(&key, "ignored.example"),
                    &[("origin", origin)],
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "[{name}] {origin} {}", r.body);
            assert_eq!(r.header("access-control-allow-origin"), Some(origin));
            assert_eq!(r.header("vary"), Some("Origin"));
            assert_eq!(r.body["title"], "Runtime");
            assert_eq!(r.body["agentName"], "Ana");
            assert_eq!(r.body["greeting"], "Welcome");
            assert_eq!(r.body["primaryColor"], "#0A0B0C");
            assert_eq!(r.body["position"], "bottom-left");
            assert_eq!(r.body["logoUrl"], "https://cdn.example.com/logo.png");
            assert_eq!(r.body["inputPlaceholder"], "Type your message...");
            assert_eq!(r.body["leadCapture"]["available"], true);
            assert_eq!(r.body["leadCapture"]["prompt"], "Your email?");
            assert_eq!(r.body["poweredBy"], "Ringside");
            assert_eq!(r.body["clientId"], id);
            assert!(r.body.get("publicKey").is_none() && r.body.get("allowedDomains").is_none());
        }

        // Not allowed: the wildcard's apex, look-alikes, other sites, `null`.
        for origin in [
            "https://example.com",
            "https://evil-example.com",
            "https://example.com.evil.net",
            "https://www.shop.example.org",
            "https://elsewhere.net",
            "null",
        ] {
            let r = c
                .send(
                    "GET",
                    &boot(&key, "shop.example.org"),
                    &[("origin", origin)],
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "[{name}] {origin}");
            assert_error(&r.body, "origin_not_allowed");
            assert_eq!(r.header("access-control-allow-origin"), None, "{origin}");
            let r = c
                .send(
                    "GET",
                    &config_path,
                    &[("origin", origin), ("authorization", &bearer)],
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "[{name}] config {origin}");
            assert_eq!(r.header("access-control-allow-origin"), None);
        }

        // Without an Origin header, the domain parameter decides (and no CORS header).
        let r = c
            .send("GET", &boot(&key, "www.example.com"), &[], None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "[{name}] {}", r.body);
        assert_eq!(r.header("access-control-allow-origin"), None);
        for domain in ["example.com", "elsewhere.net", ""] {
            let r = c.send("GET", &boot(&key, domain), &[], None).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "[{name}] domain={domain}");
            assert_error(&r.body, "origin_not_allowed");
        }

        // Wrong or missing key: 401; unknown widget: 404; no CORS header either way.
        let wrong = format!("wk_{}", "x".repeat(32));
        let allowed = [("origin", "https://www.example.com")];
        for path in [
            boot(&wrong, "www.example.com"),
            format!("/widget/bootstrap?clientId={id}&domain=www.example.com"),
            format!("{config_path}?key={wrong}"),
            config_path.clone(),
        ] {
            let r = c.send("GET", &path, &allowed, None).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "[{name}] {path}");
            assert_error(&r.body, "unauthorized");
            assert_eq!(r.header("access-control-allow-origin"), None);
        }
        let other = ringside_storage::new_id();
        for path in [
            format!("/widget/bootstrap?clientId={other}&widgetKey={key}"),
            format!("/api/widgets/{other}/config?key={key}"),
        ] {
            let r = c.send("GET", &path, &allowed, None).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "[{name}] {path}");
            assert_error(&r.body, "not_found");
        }
        let r = c.send("GET", "/widget/bootstrap", &allowed, None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_error(&r.body, "invalid_body");

        // Config: the live-chat shape, key as bearer or ?key=.
        for (path, headers) in [
            (
                config_path.clone(),
                vec![
                    ("origin", "https://www.example.com"),
                    ("authorization", bearer.as_str()),
                ],
            ),
            (
                format!("{config_path}?key={key}"),
                vec![("origin", "https://www.example.com")],
            ),
        ] {
            let r = c.send("GET", &path, &headers, None).await;
            assert_eq!(r.status, StatusCode::OK, "[{name}] {path} {}", r.body);
            assert_eq!(
                r.header("access-control-allow-origin"),
                Some("https://www.example.com")
            );
            assert_eq!(r.header("vary"), Some("Origin"));
            assert_eq!(r.body["success"], true);
            let cfg = &r.body["config"];
            assert_eq!(cfg["name"], "Runtime");
            assert_eq!(cfg["widget"]["primaryColor"], "#0A0B0C");
            assert_eq!(cfg["widget"]["position"], "bottom-left");
            assert_eq!(cfg["branding"]["logo"], "https://cdn.example.com/logo.png");
        }
        let r = c
            .send(
                "GET",
                &format!("{config_path}?key={key}&domain=shop.example.org"),
                &[],
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);

        // Preflights: allowed origin gets the CORS answer; others get none.
        for path in [
            config_path.clone(),
            format!("/widget/bootstrap?clientId={id}&widgetKey={key}"),
        ] {
            let r = c
                .send(
                    "OPTIONS",
                    &path,
                    &[
                        ("origin", "https://app.example.com"),
                        ("access-control-request-method", "GET"),
                        ("access-control-request-headers", "authorization"),
                    ],
                    None,
                )
                .await;
            assert!(r.status.is_success(), "[{name}] {path} {}", r.status);
            assert_eq!(
                r.header("access-control-allow-origin"),
                Some("https://app.example.com")
            );
            assert_eq!(r.header("vary"), Some("Origin"));
            let methods = r.header("access-control-allow-methods").unwrap();
            for m in ["GET", "POST", "OPTIONS"] {
                assert!(methods.contains(m), "{methods}");
            }
            let hdrs = r
                .header("access-control-allow-headers")
                .unwrap()
                .to_ascii_lowercase();
            assert!(hdrs.contains("content-type") && hdrs.contains("authorization"));
            for origin in ["https://example.com", "https://elsewhere.net"] {
                let r = c
                    .send(
                        "OPTIONS",
                        &path,
                        &[("origin", origin), ("access-control-request-method", "GET")],
                        None,
                    )
                    .await;
                assert_eq!(r.status, StatusCode::FORBIDDEN, "[{name}] {path} {origin}");
                assert_eq!(r.header("access-control-allow-origin"), None);
                assert_eq!(r.header("access-control-allow-methods"), None);
            }
        }

        // Patching the allowed domains takes effect at once; an empty list allows nothing.
        let (st, _) = c
            .json(
                "PATCH",
                &format!("/api/v1/widgets/{id}"),
                &a,
                json!({"allowedDomains": []}),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        let r = c
            .send("GET", &boot(&key, "www.example.com"), &allowed, None)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "[{name}]");
        assert_eq!(r.header("access-control-allow-origin"), None);
        let r = c
            .send("GET", &boot(&key, "www.example.com"), &[], None)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "[{name}]");

        // Another widget's key does not open this one.
        let (id2, key2) = runtime_widget(&c, &a, json!(["www.example.com"])).await;
        let r = c
            .send(
                "GET",
                &format!("/widget/bootstrap?clientId={id}&widgetKey={key2}&domain=www.example.com"),
                &[],
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let r = c
            .send(
                "GET",
                &format!("/widget/bootstrap?clientId={id2}&widgetKey={key2}"),
                &[("origin", "https://www.example.com")],
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["leadCapture"]["available"], true);
        backend.finish().await;
    }
}

#[tokio::test]
async fn widget_script_is_served() {
    for backend in backends().await {
        let c = ctx(backend.store.clone());
        let r = c.send("GET", "/widget.js", &[], None).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            r.header("content-type"),
            Some("application/javascript; charset=utf-8")
        );
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        assert!(ringside_api::widget_runtime::WIDGET_JS.contains("data-widget-key"));
        assert_eq!(r.header("content-encoding"), None, "not asked for");
        assert_eq!(r.raw, ringside_api::widget_runtime::WIDGET_JS.as_bytes());

        // A browser accepting gzip gets it, a third of the size or less, and the same script.
        let r = c
            .send(
                "GET",
                "/widget.js",
                &[("accept-encoding", "gzip, deflate, br")],
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert!(r
            .header("vary")
            .is_some_and(|v| v.to_ascii_lowercase().contains("accept-encoding")));
        assert_eq!(
            r.header("content-type"),
            Some("application/javascript; charset=utf-8")
        );
        let plain = ringside_api::widget_runtime::WIDGET_JS;
        assert!(
            r.raw.len() * 3 <= plain.len(),
            "{} of {} bytes",
            r.raw.len(),
            plain.len()
        );
        let mut unzipped = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&r.raw[..]), &mut unzipped)
            .unwrap();
        assert_eq!(unzipped, plain);
        backend.finish().await;
    }
}
