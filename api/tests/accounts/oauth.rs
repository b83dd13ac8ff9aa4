//! The OAuth 2.1 authorization server through the router, on SQLite and PostgreSQL: discovery,
//! registration, the authorize forms (sign-in by mailed code, consent), the token endpoint and
//! revocation, and every refusal the issue names — wrong PKCE verifier, reused code,
//! mismatched redirect URI, expired code, token for another resource, tampered request — plus
//! refresh-token rotation with replay detection, OAuth tokens refused on REST, tenant
//! isolation through `/mcp`, and connected apps.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use tower::ServiceExt;

use super::common::PUBLIC_URL;
use super::*;

const CB: &str = "http://127.0.0.1:4999/callback";

async fn raw(
    ctx: &Ctx,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    form: Option<&str>,
) -> Resp {
    let mut b = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let body = match form {
        Some(f) => {
            b = b.header("content-type", "application/x-www-form-urlencoded");
            Body::from(f.to_owned())
        }
        None => Body::empty(),
    };
    Resp::read(
        ctx.app
            .clone()
            .oneshot(b.body(body).unwrap())
            .await
            .unwrap(),
    )
    .await
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn html(r: &Resp) -> String {
    String::from_utf8_lossy(&r.raw).into_owned()
}

/// The value of the hidden input `name` on a page.
fn field(page: &str, name: &str) -> String {
    let at = page
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no {name} on the page: {page}"));
    let rest = &page[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].replace("&amp;", "&")
}

/// The query parameters of a redirect's Location.
fn location(r: &Resp) -> std::collections::HashMap<String, String> {
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", html(r));
    let loc = r.header("location").unwrap();
    assert!(
        loc.starts_with(CB) || loc.starts_with("https://app.example/"),
        "{loc}"
    );
    url::Url::parse(loc)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn pkce() -> (String, String) {
    let verifier = format!(
        "v{}-{}-0123456789abcdefghijklmnopqrstuvwxyz",
        rand::random::<u64>(),
        rand::random::<u64>()
    );
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn authorize_url(client: &str, challenge: &str, extra: &[(&str, &str)]) -> String {
    let mut p = vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", CB),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("state", "st-42"),
    ];
    for (k, v) in extra {
        p.retain(|(x, _)| x != k);
        if !v.is_empty() {
            p.push((k, v));
        }
    }
    format!("/oauth/authorize?{}", form(&p))
}

async fn register(ctx: &Ctx, body: Value) -> Resp {
    ctx.send("POST", "/oauth/register", &[], Some(&body.to_string()))
        .await
}

async fn public_client(ctx: &Ctx) -> String {
    let r = register(
        ctx,
        json!({"client_name": "Test Agent", "redirect_uris": [CB]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(r.body.get("client_secret").is_none());
    r.body["client_id"].as_str().unwrap().to_owned()
}

/// A code through the consent page of a signed-in browser.
async fn code_for(ctx: &Ctx, b: &Browser, client: &str, challenge: &str, scope: &str) -> String {
    let r = raw(
        ctx,
        "GET",
        &authorize_url(client, challenge, &[("scope", scope)]),
        &[("cookie", &b.cookie)],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let page = html(&r);
    assert!(
        page.contains("Connect an app") && page.contains("Test Agent"),
        "{page}"
    );
    let mut pairs = vec![
        ("req", field(&page, "req")),
        ("step", "consent".into()),
        ("csrf", field(&page, "csrf")),
        ("decision", "allow".into()),
    ];
    for s in scope.split(' ').filter(|s| *s != "mcp:read") {
        pairs.push(("scope", s.to_owned()));
    }
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = raw(
        ctx,
        "POST",
        "/oauth/authorize",
        &[("cookie", &b.cookie)],
        Some(&form(&pairs)),
    )
    .await;
    let q = location(&r);
    assert_eq!(q["state"], "st-42");
    assert_eq!(q["iss"], PUBLIC_URL);
    q["code"].clone()
}

async fn token(ctx: &Ctx, pairs: &[(&str, &str)], basic: Option<&str>) -> Resp {
    let auth = basic.map(|b| format!("Basic {b}"));
    let h: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("authorization", a)])
        .unwrap_or_default();
    raw(ctx, "POST", "/oauth/token", &h, Some(&form(pairs))).await
}

async fn exchange(ctx: &Ctx, client: &str, code: &str, verifier: &str) -> Resp {
    token(
        ctx,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CB),
            ("client_id", client),
            ("code_verifier", verifier),
            ("resource", &format!("{PUBLIC_URL}/mcp")),
        ],
        None,
    )
    .await
}

fn oauth_error(r: &Resp, status: StatusCode, error: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.body["error"], error, "{}", r.body);
    assert!(r.body["error_description"].is_string(), "{}", r.body);
}

/// `/mcp` with a bearer token: the status and body of a `tools/call` (legacy bare call).
async fn mcp_tool(ctx: &Ctx, bearer: &str, name: &str, args: Value) -> Resp {
    let auth = format!("Bearer {bearer}");
    ctx.send(
        "POST",
        "/mcp",
        &[("authorization", &auth)],
        Some(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": name, "arguments": args}})
            .to_string(),
        ),
    )
    .await
}

#[tokio::test]
async fn discovery_and_registration() {
    for backend in backends().await {
        let ctx = ctx(&backend.store);
        let r = ctx
            .send(
                "GET",
                "/.well-known/oauth-protected-resource/mcp",
                &[],
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["resource"], format!("{PUBLIC_URL}/mcp"));
        assert_eq!(r.body["authorization_servers"], json!([PUBLIC_URL]));
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        let root = ctx
            .send("GET", "/.well-known/oauth-protected-resource", &[], None)
            .await;
        assert_eq!(root.body, r.body);
        let m = ctx
            .send("GET", "/.well-known/oauth-authorization-server", &[], None)
            .await;
        assert_eq!(m.body["issuer"], PUBLIC_URL);
        assert_eq!(
            m.body["token_endpoint"],
            format!("{PUBLIC_URL}/oauth/token")
        );
        assert_eq!(m.body["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(m.body["client_id_metadata_document_supported"], true);

        // The MCP challenge points at the metadata.
        let r = ctx.send("POST", "/mcp", &[], Some("{}")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let ch = r.header("www-authenticate").unwrap();
        assert!(
            ch.contains(&format!(
                "resource_metadata=\"{PUBLIC_URL}/.well-known/oauth-protected-resource/mcp\""
            )),
            "{ch}"
        );

        // Registration refusals.
        for (body, error) in [
            (
                json!({"redirect_uris": ["http://example.com/cb"]}),
                "invalid_redirect_uri",
            ),
            (
                json!({"redirect_uris": ["javascript:alert(1)"]}),
                "invalid_redirect_uri",
            ),
            (
                json!({"redirect_uris": ["https://app.example/cb#x"]}),
                "invalid_redirect_uri",
            ),
            (json!({"redirect_uris": []}), "invalid_redirect_uri"),
            (json!({"client_name": "x"}), "invalid_redirect_uri"),
            (
                json!({"redirect_uris": [CB], "grant_types": ["client_credentials"]}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": [CB], "response_types": ["token"]}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": [CB], "token_endpoint_auth_method": "private_key_jwt"}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": [CB], "scope": "sip:write"}),
                "invalid_client_metadata",
            ),
            (json!([1, 2]), "invalid_client_metadata"),
        ] {
            let r = register(&ctx, body.clone()).await;
            oauth_error(&r, StatusCode::BAD_REQUEST, error);
        }
        let r = ctx
            .send("POST", "/oauth/register", &[], Some("{not json"))
            .await;
        oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_client_metadata");
        // A confidential client gets a secret, shown once.
        let r = register(
            &ctx,
            json!({"client_name": "Server App", "redirect_uris": ["https://app.example/cb"],
                   "token_endpoint_auth_method": "client_secret_basic"}),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert!(r.body["client_secret"]
            .as_str()
            .unwrap()
            .starts_with("ringside_ocs_"));
        assert_eq!(r.body["client_secret_expires_at"], 0);
        backend.finish().await;
    }
}

#[tokio::test]
async fn authorize_refusals() {
    for backend in backends().await {
        let ctx = ctx(&backend.store);
        let client = public_client(&ctx).await;
        let (_, challenge) = pkce();
        // Unknown client and foreign redirect URI: a page, never a redirect.
        for url in [
            authorize_url("no-such-client", &challenge, &[]),
            authorize_url(
                &client,
                &challenge,
                &[("redirect_uri", "https://evil.example/cb")],
            ),
            authorize_url(
                &client,
                &challenge,
                &[("redirect_uri", "http://127.0.0.1:4999/other")],
            ),
            format!(
                "{}&client_id=again",
                authorize_url(&client, &challenge, &[])
            ),
        ] {
            let r = raw(&ctx, "GET", &url, &[], None).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{url}");
            assert!(r.header("location").is_none());
            assert!(html(&r).contains("Cannot connect this app"));
        }
        // Everything else goes back to the client with state.
        for (extra, error) in [
            (vec![("code_challenge", "")], "invalid_request"),
            (vec![("code_challenge_method", "plain")], "invalid_request"),
            (vec![("code_challenge_method", "")], "invalid_request"),
            (
                vec![("response_type", "token")],
                "unsupported_response_type",
            ),
            (
                vec![("resource", "https://other.example/mcp")],
                "invalid_target",
            ),
            (vec![("scope", "mcp:read sip:write")], "invalid_scope"),
        ] {
            let r = raw(
                &ctx,
                "GET",
                &authorize_url(&client, &challenge, &extra),
                &[],
                None,
            )
            .await;
            let q = location(&r);
            assert_eq!(q["error"], error, "{extra:?}");
            assert_eq!(q["state"], "st-42");
        }
        // A loopback redirect URI on another port is the same app (RFC 8252).
        let r = raw(
            &ctx,
            "GET",
            &authorize_url(
                &client,
                &challenge,
                &[("redirect_uri", "http://127.0.0.1:5123/callback")],
            ),
            &[],
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        // The sign-in page, then a tampered request.
        let r = raw(
            &ctx,
            "GET",
            &authorize_url(&client, &challenge, &[]),
            &[],
            None,
        )
        .await;
        let page = html(&r);
        assert!(
            page.contains("Sign in to connect") && page.contains("Test Agent"),
            "{page}"
        );
        let csp = r.header("content-security-policy").unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        let req = field(&page, "req");
        let (payload, tag) = req.split_once('.').unwrap();
        let json_bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        let tampered = String::from_utf8(json_bytes)
            .unwrap()
            .replace("st-42", "st-43");
        let forged = format!(
            "{}.{tag}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tampered.as_bytes())
        );
        let email = uniq("oauth-tamper");
        let r = raw(
            &ctx,
            "POST",
            "/oauth/authorize",
            &[],
            Some(&form(&[
                ("req", &forged),
                ("step", "email"),
                ("email", &email),
            ])),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(html(&r).contains("was changed"));
        assert_eq!(
            ctx.inbox.count_to(&email, CODE),
            0,
            "nothing mailed for a tampered request"
        );
        // A form posted from another site's page: refused before anything happens.
        let r = raw(
            &ctx,
            "POST",
            "/oauth/authorize",
            &[("origin", "https://evil.example")],
            Some(&form(&[
                ("req", &req),
                ("step", "email"),
                ("email", &email),
            ])),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = raw(
            &ctx,
            "POST",
            "/oauth/authorize",
            &[("origin", "null")],
            Some(&form(&[
                ("req", &req),
                ("step", "email"),
                ("email", &email),
            ])),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(ctx.inbox.count_to(&email, CODE), 0);
        let r = raw(
            &ctx,
            "POST",
            "/oauth/authorize",
            &[("origin", PUBLIC_URL)],
            Some(&form(&[
                ("req", &req),
                ("step", "email"),
                ("email", &email),
            ])),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", html(&r));
        // Consent without a session, or with another session's form token.
        let r = raw(
            &ctx,
            "POST",
            "/oauth/authorize",
            &[],
            Some(&form(&[
                ("req", &req),
                ("step", "consent"),
                ("decision", "allow"),
            ])),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let b = ctx.sign_in(&uniq("oauth-csrf")).await;
        let r = raw(
            &ctx,
            "POST",
            "/oauth/authorize",
            &[("cookie", &b.cookie)],
            Some(&form(&[
                ("req", &req),
                ("step", "consent"),
                ("decision", "allow"),
                ("csrf", "00"),
            ])),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(r.header("location").is_none());
        // Denied: back with access_denied.
        let r = raw(
            &ctx,
            "POST",
            "/oauth/authorize",
            &[("cookie", &b.cookie)],
            Some(&form(&[
                ("req", &req),
                ("step", "consent"),
                ("decision", "deny"),
                ("csrf", &b.csrf),
            ])),
        )
        .await;
        assert_eq!(location(&r)["error"], "access_denied");
        backend.finish().await;
    }
}

#[tokio::test]
async fn sign_in_consent_tokens_and_refusals() {
    for backend in backends().await {
        let ctx = ctx(&backend.store);
        let client = public_client(&ctx).await;
        let (verifier, challenge) = pkce();
        let full = "mcp:read widgets:read messages:read messages:write";

        // Signed out: email, code, consent, all as plain forms.
        let r = raw(
            &ctx,
            "GET",
            &authorize_url(&client, &challenge, &[("scope", full)]),
            &[],
            None,
        )
        .await;
        let req = field(&html(&r), "req");
        let email = uniq("oauth-user");
        let r = raw(
            &ctx,
            "POST",
            "/oauth/authorize",
            &[],
            Some(&form(&[
                ("req", &req),
                ("step", "email"),
                ("email", &email),
            ])),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(html(&r).contains("Enter your code"));
        let code = code_in(&ctx.inbox.nth_to(&email, CODE, 1).await);
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let r = raw(
            &ctx,
            "POST",
            "/oauth/authorize",
            &[],
            Some(&form(&[
                ("req", &req),
                ("step", "code"),
                ("email", &email),
                ("code", wrong),
            ])),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(html(&r).contains("the code is wrong"), "{}", html(&r));
        assert!(r.header("set-cookie").is_none());
        let r = raw(
            &ctx,
            "POST",
            "/oauth/authorize",
            &[],
            Some(&form(&[
                ("req", &req),
                ("step", "code"),
                ("email", &email),
                ("code", &code),
            ])),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        let cookie = r
            .header("set-cookie")
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let page = html(&r);
        assert!(
            page.contains("Connect an app") && page.contains(&email),
            "{page}"
        );
        // The consent form may redirect to the client (form-action).
        assert!(r
            .header("content-security-policy")
            .unwrap()
            .contains("form-action 'self' http://127.0.0.1:4999"));
        // Untick messages:write: the grant has only what stayed ticked.
        let r = raw(
            &ctx,
            "POST",
            "/oauth/authorize",
            &[("cookie", &cookie)],
            Some(&form(&[
                ("req", &field(&page, "req")),
                ("step", "consent"),
                ("csrf", &field(&page, "csrf")),
                ("decision", "allow"),
                ("scope", "widgets:read"),
                ("scope", "messages:read"),
                ("scope", "sip:write"),
            ])),
        )
        .await;
        let q = location(&r);
        let first_code = q["code"].clone();

        // Token refusals, each burning the code it was given.
        let r = exchange(
            &ctx,
            &client,
            &first_code,
            "wrong-verifier-wrong-verifier-wrong-verifier",
        )
        .await;
        oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_grant");
        assert!(r.body["error_description"]
            .as_str()
            .unwrap()
            .contains("code_verifier"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let r = exchange(&ctx, &client, &first_code, &verifier).await;
        oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_grant");

        let b = Browser {
            cookie: cookie.clone(),
            csrf: String::new(),
            body: Value::Null,
        };
        let c = code_for(&ctx, &b, &client, &challenge, "mcp:read").await;
        let r = token(
            &ctx,
            &[
                ("grant_type", "authorization_code"),
                ("code", &c),
                ("redirect_uri", "http://127.0.0.1:4999/other"),
                ("client_id", &client),
                ("code_verifier", &verifier),
            ],
            None,
        )
        .await;
        oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_grant");
        assert!(r.body["error_description"]
            .as_str()
            .unwrap()
            .contains("redirect_uri"));
        let c = code_for(&ctx, &b, &client, &challenge, "mcp:read").await;
        let r = token(
            &ctx,
            &[
                ("grant_type", "authorization_code"),
                ("code", &c),
                ("redirect_uri", CB),
                ("client_id", &client),
                ("code_verifier", &verifier),
                ("resource", "https://other.example/mcp"),
            ],
            None,
        )
        .await;
        oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_target");
        let other = public_client(&ctx).await;
        let c = code_for(&ctx, &b, &client, &challenge, "mcp:read").await;
        let r = exchange(&ctx, &other, &c, &verifier).await;
        oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_grant");
        for bad in [
            vec![("grant_type", "password"), ("client_id", client.as_str())],
            vec![("client_id", client.as_str())],
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", client.as_str()),
            ],
        ] {
            let r = token(&ctx, &bad, None).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad:?}");
        }
        let r = token(
            &ctx,
            &[("grant_type", "authorization_code"), ("code", "x")],
            None,
        )
        .await;
        oauth_error(&r, StatusCode::UNAUTHORIZED, "invalid_client");
        let r = ctx
            .send(
                "POST",
                "/oauth/token",
                &[],
                Some("{\"grant_type\": \"authorization_code\"}"),
            )
            .await;
        oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        let r = raw(
            &ctx,
            "POST",
            "/oauth/token",
            &[],
            Some("grant_type=refresh_token&grant_type=refresh_token"),
        )
        .await;
        oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_request");

        // The real exchange.
        let c = code_for(&ctx, &b, &client, &challenge, full).await;
        let r = exchange(&ctx, &client, &c, &verifier).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["token_type"], "Bearer");
        assert_eq!(r.body["expires_in"], 3600);
        assert_eq!(r.body["scope"], full);
        let access = r.body["access_token"].as_str().unwrap().to_owned();
        let refresh = r.body["refresh_token"].as_str().unwrap().to_owned();
        assert!(access.starts_with("ringside_oat_") && refresh.starts_with("ringside_ort_"));

        // It works on /mcp, and only there.
        let r = mcp_tool(&ctx, &access, "ringside_list_widgets", json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["result"]["isError"], false, "{}", r.body);
        let (st, _) = ctx
            .call("GET", "/api/v1/widgets", Some(&access), None)
            .await;
        assert_eq!(
            st,
            StatusCode::UNAUTHORIZED,
            "OAuth tokens are for /mcp only"
        );

        // The reused code revokes what it gave.
        let r = exchange(&ctx, &client, &c, &verifier).await;
        oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_grant");
        let r = mcp_tool(&ctx, &access, "ringside_list_widgets", json!({})).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r
            .header("www-authenticate")
            .unwrap()
            .contains("invalid_token"));
        let r = token(
            &ctx,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("client_id", &client),
            ],
            None,
        )
        .await;
        oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_grant");

        // Rotation: a refresh gives a new pair; the old refresh token presented again ends
        // the whole family.
        let c = code_for(&ctx, &b, &client, &challenge, full).await;
        let r = exchange(&ctx, &client, &c, &verifier).await;
        let refresh1 = r.body["refresh_token"].as_str().unwrap().to_owned();
        let r = token(
            &ctx,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh1),
                ("client_id", &other),
            ],
            None,
        )
        .await;
        oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_grant");
        let r = token(
            &ctx,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh1),
                ("client_id", &client),
            ],
            None,
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "another client's try left the token alone: {}",
            r.body
        );
        let access2 = r.body["access_token"].as_str().unwrap().to_owned();
        let refresh2 = r.body["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(refresh2, refresh1);
        assert_eq!(
            mcp_tool(&ctx, &access2, "ringside_list_widgets", json!({}))
                .await
                .status,
            StatusCode::OK
        );
        let r = token(
            &ctx,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh1),
                ("client_id", &client),
            ],
            None,
        )
        .await;
        oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_grant");
        assert!(r.body["error_description"]
            .as_str()
            .unwrap()
            .contains("already used"));
        assert_eq!(
            mcp_tool(&ctx, &access2, "ringside_list_widgets", json!({}))
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        let r = token(
            &ctx,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh2),
                ("client_id", &client),
            ],
            None,
        )
        .await;
        oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_grant");

        // Revocation (RFC 7009): an access token alone; a refresh token with its grant.
        let c = code_for(&ctx, &b, &client, &challenge, full).await;
        let r = exchange(&ctx, &client, &c, &verifier).await;
        let (a3, r3) = (
            r.body["access_token"].as_str().unwrap().to_owned(),
            r.body["refresh_token"].as_str().unwrap().to_owned(),
        );
        let r = raw(
            &ctx,
            "POST",
            "/oauth/revoke",
            &[],
            Some(&form(&[("token", &a3), ("client_id", &other)])),
        )
        .await;
        oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        let r = raw(
            &ctx,
            "POST",
            "/oauth/revoke",
            &[],
            Some(&form(&[("token", &a3), ("client_id", &client)])),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            mcp_tool(&ctx, &a3, "ringside_list_widgets", json!({}))
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        let r = token(
            &ctx,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &r3),
                ("client_id", &client),
            ],
            None,
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "revoking the access token left the grant: {}",
            r.body
        );
        let r4 = r.body["refresh_token"].as_str().unwrap().to_owned();
        let a4 = r.body["access_token"].as_str().unwrap().to_owned();
        let r = raw(
            &ctx,
            "POST",
            "/oauth/revoke",
            &[],
            Some(&form(&[
                ("token", &r4),
                ("client_id", &client),
                ("token_type_hint", "refresh_token"),
            ])),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            mcp_tool(&ctx, &a4, "ringside_list_widgets", json!({}))
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        let r = raw(
            &ctx,
            "POST",
            "/oauth/revoke",
            &[],
            Some(&form(&[("token", "nonsense"), ("client_id", &client)])),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "unknown tokens revoke fine");

        // Connected apps: listed for the user, disconnected from the dashboard.
        let c = code_for(&ctx, &b, &client, &challenge, full).await;
        let r = exchange(&ctx, &client, &c, &verifier).await;
        let a5 = r.body["access_token"].as_str().unwrap().to_owned();
        let r = raw(
            &ctx,
            "GET",
            "/api/v1/oauth/grants",
            &[("cookie", &cookie)],
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        let grants = r.body["data"].as_array().unwrap().clone();
        assert_eq!(grants.len(), 1, "{grants:?}");
        assert_eq!(grants[0]["clientName"], "Test Agent");
        assert_eq!(
            grants[0]["scopes"],
            json!([
                "mcp:read",
                "widgets:read",
                "messages:read",
                "messages:write"
            ])
        );
        assert!(grants[0]["lastUsedAt"].is_null());
        let page = raw(&ctx, "GET", "/settings/apps", &[("cookie", &cookie)], None).await;
        assert!(html(&page).contains("Test Agent") && html(&page).contains("Disconnect"));
        // Someone else (another tenant) neither sees nor disconnects it.
        let stranger = ctx.sign_in(&uniq("oauth-stranger")).await;
        let r = ctx.by(&stranger, "GET", "/api/v1/oauth/grants", None).await;
        assert_eq!(r.body["data"], json!([]));
        let gid = grants[0]["id"].as_str().unwrap();
        let r = ctx
            .by(
                &stranger,
                "DELETE",
                &format!("/api/v1/oauth/grants/{gid}"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(
            mcp_tool(&ctx, &a5, "ringside_list_widgets", json!({}))
                .await
                .status,
            StatusCode::OK
        );
        let me = raw(
            &ctx,
            "GET",
            "/api/v1/auth/session",
            &[("cookie", &cookie)],
            None,
        )
        .await;
        let csrf = me.body["csrfToken"].as_str().unwrap();
        let r = raw(
            &ctx,
            "DELETE",
            &format!("/api/v1/oauth/grants/{gid}"),
            &[("cookie", &cookie), ("x-csrf-token", csrf)],
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(
            mcp_tool(&ctx, &a5, "ringside_list_widgets", json!({}))
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        backend.finish().await;
    }
}

#[tokio::test]
async fn expired_codes_and_tokens_and_tenants() {
    for backend in backends().await {
        let ctx = ctx_with(
            &backend.store,
            AccountsConfig {
                oauth_code_ttl: Duration::ZERO,
                ..Default::default()
            },
            false,
        );
        let client = public_client(&ctx).await;
        let (verifier, challenge) = pkce();
        let b = ctx.sign_in(&uniq("oauth-exp")).await;
        let c = code_for(&ctx, &b, &client, &challenge, "mcp:read").await;
        let r = exchange(&ctx, &client, &c, &verifier).await;
        oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_grant");
        assert!(r.body["error_description"]
            .as_str()
            .unwrap()
            .contains("expired"));

        // Access tokens that have run out.
        let ctx = ctx_with(
            &backend.store,
            AccountsConfig {
                oauth_access_ttl: Duration::ZERO,
                ..Default::default()
            },
            false,
        );
        let b = ctx.sign_in(&uniq("oauth-exp2")).await;
        let c = code_for(&ctx, &b, &client, &challenge, "mcp:read widgets:read").await;
        let r = exchange(&ctx, &client, &c, &verifier).await;
        assert_eq!(r.status, StatusCode::OK);
        let a = r.body["access_token"].as_str().unwrap();
        assert_eq!(
            mcp_tool(&ctx, a, "ringside_list_widgets", json!({}))
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );

        // Tenant isolation: each grant sees its own tenant's widgets only.
        let ctx = super::ctx(&backend.store);
        let mut seen = Vec::new();
        for who in ["oauth-ten-a", "oauth-ten-b"] {
            let b = ctx.sign_in(&uniq(who)).await;
            let name = uniq(who);
            let r = ctx
                .by(
                    &b,
                    "POST",
                    "/api/v1/widgets",
                    Some(json!({"name": name, "allowedDomains": ["example.com"]})),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            let c = code_for(&ctx, &b, &client, &challenge, "mcp:read widgets:read").await;
            let r = exchange(&ctx, &client, &c, &verifier).await;
            let a = r.body["access_token"].as_str().unwrap().to_owned();
            let r = mcp_tool(&ctx, &a, "ringside_list_widgets", json!({})).await;
            let text = r.body["result"]["content"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned();
            seen.push((name, text, r.body["result"]["structuredContent"].clone()));
        }
        assert!(
            seen[0].1.contains(&seen[0].0) && !seen[0].1.contains(&seen[1].0),
            "{seen:?}"
        );
        assert!(
            seen[1].1.contains(&seen[1].0) && !seen[1].1.contains(&seen[0].0),
            "{seen:?}"
        );
        // A read-only grant calling a write tool is told which scope is missing.
        let b = ctx.sign_in(&uniq("oauth-ro")).await;
        let c = code_for(&ctx, &b, &client, &challenge, "mcp:read webhooks:read").await;
        let r = exchange(&ctx, &client, &c, &verifier).await;
        let a = r.body["access_token"].as_str().unwrap();
        let r = mcp_tool(
            &ctx,
            a,
            "ringside_create_webhook",
            json!({"name": "h", "url": "https://example.com/h", "events": ["call.missed"]}),
        )
        .await;
        assert_eq!(r.body["result"]["isError"], true, "{}", r.body);
        assert!(
            r.body["result"]["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("webhooks:write"),
            "{}",
            r.body
        );
        backend.finish().await;
    }
}

#[tokio::test]
async fn confidential_clients_authenticate() {
    for backend in backends().await {
        let ctx = ctx(&backend.store);
        let r = register(
            &ctx,
            json!({"client_name": "Test Agent", "redirect_uris": [CB],
                   "token_endpoint_auth_method": "client_secret_basic"}),
        )
        .await;
        let id = r.body["client_id"].as_str().unwrap().to_owned();
        let secret = r.body["client_secret"].as_str().unwrap().to_owned();
        let (verifier, challenge) = pkce();
        let b = ctx.sign_in(&uniq("oauth-conf")).await;
        let c = code_for(&ctx, &b, &id, &challenge, "mcp:read").await;
        let r = exchange(&ctx, &id, &c, &verifier).await;
        oauth_error(&r, StatusCode::UNAUTHORIZED, "invalid_client");
        assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
        let wrong = base64::engine::general_purpose::STANDARD
            .encode(format!("{id}:ringside_ocs_{}", "x".repeat(43)));
        let pairs = [
            ("grant_type", "authorization_code"),
            ("code", c.as_str()),
            ("redirect_uri", CB),
            ("code_verifier", verifier.as_str()),
        ];
        let r = token(&ctx, &pairs, Some(&wrong)).await;
        oauth_error(&r, StatusCode::UNAUTHORIZED, "invalid_client");
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        let r = token(&ctx, &pairs, Some(&basic)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        backend.finish().await;
    }
}

/// A client known by its Client ID Metadata Document: fetched from its URL (here a server on
/// loopback, which only a lab setting lets Ringside reach), checked, cached.
#[tokio::test]
async fn client_metadata_documents() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let good_id = format!("{base}/client.json");
    let liar_id = format!("{base}/liar.json");
    let good = json!({"client_id": good_id, "client_name": "Doc Agent", "redirect_uris": [CB]});
    let liar = json!({"client_id": "https://elsewhere.example/client.json", "redirect_uris": [CB]});
    let docs = axum::Router::new()
        .route(
            "/client.json",
            axum::routing::get(move || async move { axum::Json(good) }),
        )
        .route(
            "/liar.json",
            axum::routing::get(move || async move { axum::Json(liar) }),
        );
    tokio::spawn(async move { axum::serve(listener, docs).await.unwrap() });
    for backend in backends().await {
        let (_, challenge) = pkce();
        // The default policy refuses loopback addresses: no fetching into the server's network.
        let strict = ctx(&backend.store);
        let https_id = format!("https://127.0.0.1:{port}/client.json");
        let r = raw(
            &strict,
            "GET",
            &authorize_url(&https_id, &challenge, &[]),
            &[],
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(html(&r).contains("not a public address"), "{}", html(&r));
        // Nor is a plain-http document trusted outside a lab.
        let r = raw(
            &strict,
            "GET",
            &authorize_url(&good_id, &challenge, &[]),
            &[],
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(html(&r).contains("unknown client_id"), "{}", html(&r));
        // A lab that allows private fetches.
        let inbox = Arc::new(Inbox::default());
        let lab = Ctx {
            app: router(AppState {
                accounts: Arc::new(Accounts::new(AccountsConfig::default(), inbox.clone())),
                fetch_policy: ringside_api::outbound::FetchPolicy {
                    allow_private: true,
                },
                ..common::state(&backend.store)
            }),
            store: backend.store.clone(),
            inbox,
            presence: strict.presence.clone(),
        };
        let r = raw(
            &lab,
            "GET",
            &authorize_url(&good_id, &challenge, &[]),
            &[],
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", html(&r));
        assert!(html(&r).contains("Doc Agent"));
        let stored = backend.store.oauth_client(&good_id).await.unwrap().unwrap();
        assert_eq!(stored.redirect_uris, vec![CB.to_owned()]);
        let r = raw(
            &lab,
            "GET",
            &authorize_url(
                &good_id,
                &challenge,
                &[("redirect_uri", "https://evil.example/cb")],
            ),
            &[],
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = raw(
            &lab,
            "GET",
            &authorize_url(&liar_id, &challenge, &[]),
            &[],
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(html(&r).contains("does not name itself"), "{}", html(&r));
        let r = raw(
            &lab,
            "GET",
            &authorize_url(&format!("{base}/missing.json"), &challenge, &[]),
            &[],
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(html(&r).contains("answered HTTP 404"), "{}", html(&r));
        backend.finish().await;
    }
}
