//! The OpenAPI document (`/openapi.json`, [`ringside_api::openapi`]): a valid 3.1 document
//! whose every `/api/v1` operation exists and needs exactly the scope it names (401 without
//! a token, 403 with every scope but that one, neither with that one alone), and no router
//! in the API that bypasses the documenting router.

mod common;

use axum::http::StatusCode;
use common::{uniq, Harness};
use ringside_api::auth::SCOPES;
use serde_json::json;

/// The test context: the router and its store.
type Ctx = common::App;

#[tokio::test]
async fn every_operation_is_documented_with_its_scope() {
    for backend in common::backends("ringside-openapi").await {
        let name = backend.name;
        let c = Ctx::on(&backend.store);
        let r = c.send("GET", "/openapi.json", &[], None).await;
        assert_eq!(r.status, StatusCode::OK);
        let doc = r.body;
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        assert_eq!(doc["servers"][0]["url"], common::PUBLIC_URL);
        let paths = doc["paths"].as_object().unwrap();
        // Spot checks of what the guide documents.
        for p in [
            "/api/v1/widgets",
            "/api/v1/widgets/{id}/live-visitors",
            "/api/v1/widgets/{id}/analytics",
            "/api/v1/widgets/{id}/campaign-aliases",
            "/api/v1/contacts/{id}/merge",
            "/api/v1/webhooks/{id}/rotate-secret",
            "/api/v1/account/usage",
            "/api/v1/widgets/{id}/visitors/{visitor_id}/conversation-link",
            "/api/widgets/{widget_id}/track",
            "/widget/bootstrap",
            "/api/ws/tenant",
            "/openapi.json",
        ] {
            assert!(paths.contains_key(p), "{p} documented");
        }
        // What signing in and the pages may answer besides success is declared.
        let code = &paths["/api/v1/auth/email-code"]["post"]["responses"];
        assert!(code["429"].is_object() && code["503"].is_object(), "{code}");
        assert!(paths["/"]["get"]["responses"]["303"].is_object());
        assert!(paths["/api/v1/users/{id}"]["patch"]["responses"]["409"].is_object());
        let email = format!("{}@oa.example", uniq("oa"));
        let mut ops = 0;
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                ops += 1;
                assert!(op["summary"].is_string(), "{method} {path}");
                assert!(op["responses"].is_object(), "{method} {path}");
                // Every JSON answer and every /api/v1 JSON body is described by its type:
                // named fields, not an empty or bare-object schema.
                let described = |s: &serde_json::Value| {
                    s.get("$ref").is_some()
                        || s.get("properties").is_some()
                        || s.get("items").is_some()
                        || s.get("additionalProperties").is_some()
                };
                for (status, r) in op["responses"].as_object().unwrap() {
                    if let Some(schema) = r["content"]["application/json"].get("schema") {
                        assert!(described(schema), "{method} {path} {status}: {schema}");
                    }
                }
                if path.starts_with("/api/v1") {
                    if let Some(schema) =
                        op["requestBody"]["content"]["application/json"].get("schema")
                    {
                        assert!(described(schema), "{method} {path} body: {schema}");
                    }
                }
                let Some(scope) = op["x-required-scope"].as_str() else {
                    if op.get("x-roles").is_some() {
                        // For people in the dashboard only: even a token with every scope is
                        // refused.
                        assert_eq!(op["security"][0]["session"], json!([]), "{method} {path}");
                        let url = path.replace("{id}", "x");
                        let body = op.get("requestBody").map(|_| "{}");
                        let tok = c.token(&email, SCOPES).await;
                        let m = method.to_uppercase();
                        let (st, _) = c.call(&m, &url, Some(&tok), body).await;
                        assert_eq!(st, StatusCode::UNAUTHORIZED, "[{name}] {m} {url} by token");
                        continue;
                    }
                    // Public: signing in, and what is not under /api/v1.
                    assert!(
                        !path.starts_with("/api/v1") || path.starts_with("/api/v1/auth/"),
                        "{method} {path} has no scope"
                    );
                    continue;
                };
                assert_eq!(op["security"][0]["bearer"][0], scope);
                let url = path
                    .split('/')
                    .map(|s| if s.starts_with('{') { "x" } else { s })
                    .collect::<Vec<_>>()
                    .join("/");
                let m = method.to_uppercase();
                let body = op.get("requestBody").map(|_| "{}");
                let (st, _) = c.call(&m, &url, None, body).await;
                assert_eq!(
                    st,
                    StatusCode::UNAUTHORIZED,
                    "[{name}] {m} {url} without a token"
                );
                let others: Vec<&str> = SCOPES.iter().copied().filter(|s| *s != scope).collect();
                let tok = c.token(&email, &others).await;
                let (st, e) = c.call(&m, &url, Some(&tok), body).await;
                assert_eq!(
                    st,
                    StatusCode::FORBIDDEN,
                    "[{name}] {m} {url} without {scope}: {e}"
                );
                let tok = c.token(&email, &[scope]).await;
                let (st, e) = c.call(&m, &url, Some(&tok), body).await;
                assert!(
                    st != StatusCode::UNAUTHORIZED && st != StatusCode::FORBIDDEN,
                    "[{name}] {m} {url} with {scope}: {st} {e}"
                );
            }
        }
        assert!(ops >= 70, "{ops} operations");
        backend.finish().await;
    }
}

/// axum's own rejections (a query string that does not parse, a request to a WebSocket path
/// that is not an upgrade, a method the path does not take) answer the stable JSON error
/// body like every other error, with a status the document declares for the operation.
#[tokio::test]
async fn framework_rejections_answer_the_json_error_body() {
    for backend in common::backends("ringside-rejections").await {
        let name = backend.name;
        let c = Ctx::on(&backend.store);
        let doc = c.send("GET", "/openapi.json", &[], None).await.body;
        let tok = c.token(&format!("{}@rj.example", uniq("rj")), SCOPES).await;
        let (_, w) = c
            .json(
                "POST",
                "/api/v1/widgets",
                &tok,
                serde_json::json!({"name": "w", "allowedDomains": ["example.com"]}),
            )
            .await;
        let id = w["id"].as_str().expect("a widget").to_owned();
        let cases = [
            (
                "GET",
                format!("/api/v1/widgets/{id}/callbacks?limit="),
                "/api/v1/widgets/{id}/callbacks",
                StatusCode::BAD_REQUEST,
                "invalid_request",
            ),
            (
                "GET",
                "/api/ws/tenant".to_owned(),
                "/api/ws/tenant",
                StatusCode::BAD_REQUEST,
                "invalid_request",
            ),
            (
                "DELETE",
                "/api/v1/calls".to_owned(),
                "",
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
            ),
        ];
        for (method, url, documented, status, code) in cases {
            let r = c
                .send(
                    method,
                    &url,
                    &[("authorization", &format!("Bearer {tok}"))],
                    None,
                )
                .await;
            assert_eq!(r.status, status, "[{name}] {method} {url}: {}", r.body);
            assert_eq!(
                r.header("content-type"),
                Some("application/json"),
                "[{name}] {method} {url}"
            );
            common::assert_error(&r.body, code);
            if !documented.is_empty() {
                let declared =
                    &doc["paths"][documented][method.to_lowercase()]["responses"][status.as_str()];
                assert!(
                    declared.is_object(),
                    "[{name}] {method} {documented} declares {status}"
                );
            }
        }
        backend.finish().await;
    }
}

/// Every route goes through the documenting router: no plain axum `Router::new()` in the
/// API's sources (tests aside) but the one that implements it.
#[test]
fn no_router_bypasses_the_document() {
    let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    let mut files = 0;
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("openapi.rs") {
                continue;
            }
            files += 1;
            let src = std::fs::read_to_string(&path).unwrap();
            let code = src.split("#[cfg(test)]").next().unwrap();
            assert!(
                !code.contains("Router::new()") && !code.contains(".nest_service("),
                "{} builds a router outside openapi::DocRouter",
                path.display()
            );
        }
    }
    assert!(files > 20, "{files} source files read");
}
