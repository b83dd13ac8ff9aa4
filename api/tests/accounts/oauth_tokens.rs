//! The OAuth token endpoint, revocation and connected apps through the router, on SQLite and
//! PostgreSQL: sign-in and consent to a code, each refusal of a code (wrong PKCE verifier,
//! replay, mismatched redirect URI, another resource or client, expiry), refresh-token rotation
//! with replay detection, OAuth tokens refused on REST, tenant isolation through `/mcp`,
//! confidential clients. Helpers in `oauth`.

use axum::http::StatusCode;
use base64::Engine as _;

use super::oauth::*;
use super::*;

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
        let r = refresh_grant(&ctx, &client, &refresh).await;
        oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_grant");

        // Rotation: a refresh gives a new pair; the old refresh token presented again ends
        // the whole family.
        let c = code_for(&ctx, &b, &client, &challenge, full).await;
        let r = exchange(&ctx, &client, &c, &verifier).await;
        let refresh1 = r.body["refresh_token"].as_str().unwrap().to_owned();
        let r = refresh_grant(&ctx, &other, &refresh1).await;
        oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_grant");
        let r = refresh_grant(&ctx, &client, &refresh1).await;
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
        let r = refresh_grant(&ctx, &client, &refresh1).await;
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
        let r = refresh_grant(&ctx, &client, &refresh2).await;
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
        let r = refresh_grant(&ctx, &client, &r3).await;
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
