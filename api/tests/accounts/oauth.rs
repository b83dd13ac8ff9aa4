//! The OAuth 2.1 authorization server through the router, on SQLite and PostgreSQL: discovery,
//! registration, client metadata documents and the authorize forms (sign-in by mailed code,
//! consent), with the helpers the token tests (`oauth_tokens`) share. Together they cover the
//! token endpoint and revocation, and every refusal the issue names — wrong PKCE verifier, reused code,
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

pub(super) const CB: &str = "http://127.0.0.1:4999/callback";

pub(super) async fn raw(
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

pub(super) fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

pub(super) fn html(r: &Resp) -> String {
    String::from_utf8_lossy(&r.raw).into_owned()
}

/// The value of the hidden input `name` on a page.
pub(super) fn field(page: &str, name: &str) -> String {
    let at = page
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no {name} on the page: {page}"));
    let rest = &page[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].replace("&amp;", "&")
}

/// The query parameters of a redirect's Location.
pub(super) fn location(r: &Resp) -> std::collections::HashMap<String, String> {
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

pub(super) fn pkce() -> (String, String) {
    let verifier = format!(
        "v{}-{}-0123456789abcdefghijklmnopqrstuvwxyz",
        rand::random::<u64>(),
        rand::random::<u64>()
    );
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

pub(super) fn authorize_url(client: &str, challenge: &str, extra: &[(&str, &str)]) -> String {
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

pub(super) async fn register(ctx: &Ctx, body: Value) -> Resp {
    ctx.send("POST", "/oauth/register", &[], Some(&body.to_string()))
        .await
}

pub(super) async fn public_client(ctx: &Ctx) -> String {
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
pub(super) async fn code_for(
    ctx: &Ctx,
    b: &Browser,
    client: &str,
    challenge: &str,
    scope: &str,
) -> String {
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

pub(super) async fn token(ctx: &Ctx, pairs: &[(&str, &str)], basic: Option<&str>) -> Resp {
    let auth = basic.map(|b| format!("Basic {b}"));
    let h: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("authorization", a)])
        .unwrap_or_default();
    raw(ctx, "POST", "/oauth/token", &h, Some(&form(pairs))).await
}

pub(super) async fn exchange(ctx: &Ctx, client: &str, code: &str, verifier: &str) -> Resp {
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

/// Presents `refresh_token` for a new pair, as `client`.
pub(super) async fn refresh_grant(ctx: &Ctx, client: &str, refresh_token: &str) -> Resp {
    token(
        ctx,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client),
        ],
        None,
    )
    .await
}

pub(super) fn oauth_error(r: &Resp, status: StatusCode, error: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.body["error"], error, "{}", r.body);
    assert!(r.body["error_description"].is_string(), "{}", r.body);
}

/// `/mcp` with a bearer token: the status and body of a `tools/call` (legacy bare call).
pub(super) async fn mcp_tool(ctx: &Ctx, bearer: &str, name: &str, args: Value) -> Resp {
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
