//! A session never reaches another tenant; the pages send strangers to sign in and show each
//! role its part.

use super::*;

#[tokio::test]
async fn a_session_never_reaches_another_tenant() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(&backend.store);
        let a = c.sign_in(&uniq("tenant-a")).await;
        let a2 = c.sign_in(a.body["user"]["email"].as_str().unwrap()).await;
        let b = c.sign_in(&uniq("tenant-b")).await;
        assert_ne!(a.tenant(), b.tenant());
        let made = |r: Resp, what: &str| {
            assert_eq!(r.status, StatusCode::CREATED, "[{name}] {what}: {}", r.body);
            r.body["id"].as_str().unwrap().to_owned()
        };
        let w = made(
            c.by(&a, "POST", "/api/v1/widgets", Some(json!({"name": "A"})))
                .await,
            "widget",
        );
        let h = made(
            c.by(
                &a,
                "POST",
                "/api/v1/webhooks",
                Some(
                    json!({"name": "A", "url": "https://example.com/a", "events": ["call.missed"]}),
                ),
            )
            .await,
            "webhook",
        );
        let e = made(
            c.by(
                &a,
                "POST",
                "/api/v1/sip/extensions",
                Some(json!({"username": format!("7{}", rand::random::<u32>() % 1_000_000), "password": "longenough1"})),
            )
            .await,
            "extension",
        );
        let t = made(
            c.by(
                &a,
                "POST",
                "/api/v1/sip/trunks",
                Some(json!({"name": "A trunk"})),
            )
            .await,
            "trunk",
        );
        let tok = made(
            c.by(
                &a,
                "POST",
                "/api/v1/tokens",
                Some(json!({"name": "A", "scopes": ["widgets:read"]})),
            )
            .await,
            "token",
        );
        let inv = made(
            c.by(
                &a,
                "POST",
                "/api/v1/invites",
                Some(json!({"email": uniq("inv"), "role": "agent"})),
            )
            .await,
            "invite",
        );
        let a2_session = c.by(&a2, "GET", "/api/v1/auth/sessions", None).await.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["current"] == true)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let user = a.user_id().to_owned();
        let matrix: Vec<(&str, String, Option<Value>)> = vec![
            ("GET", format!("/api/v1/widgets/{w}"), None),
            (
                "PATCH",
                format!("/api/v1/widgets/{w}"),
                Some(json!({"name": "B was here"})),
            ),
            ("GET", format!("/api/v1/widgets/{w}/live-visitors"), None),
            ("GET", format!("/api/v1/webhooks/{h}"), None),
            (
                "PATCH",
                format!("/api/v1/webhooks/{h}"),
                Some(json!({"name": "B"})),
            ),
            ("POST", format!("/api/v1/webhooks/{h}/rotate-secret"), None),
            ("DELETE", format!("/api/v1/webhooks/{h}"), None),
            ("GET", format!("/api/v1/sip/extensions/{e}"), None),
            (
                "PATCH",
                format!("/api/v1/sip/extensions/{e}"),
                Some(json!({"displayName": "B"})),
            ),
            ("DELETE", format!("/api/v1/sip/extensions/{e}"), None),
            ("GET", format!("/api/v1/sip/trunks/{t}"), None),
            (
                "PATCH",
                format!("/api/v1/sip/trunks/{t}"),
                Some(json!({"name": "B"})),
            ),
            ("DELETE", format!("/api/v1/sip/trunks/{t}"), None),
            ("DELETE", format!("/api/v1/tokens/{tok}"), None),
            (
                "PATCH",
                format!("/api/v1/users/{user}"),
                Some(json!({"role": "agent"})),
            ),
            ("DELETE", format!("/api/v1/users/{user}"), None),
            ("DELETE", format!("/api/v1/invites/{inv}"), None),
            (
                "DELETE",
                format!("/api/v1/auth/sessions/{a2_session}"),
                None,
            ),
        ];
        for (m, p, body) in matrix {
            let r = c.by(&b, m, &p, body).await;
            assert_eq!(
                r.status,
                StatusCode::NOT_FOUND,
                "[{name}] B {m} {p}: {}",
                r.body
            );
            assert_error(&r.body, "not_found");
        }
        // B's lists hold none of A's objects.
        for (p, id) in [
            ("/api/v1/widgets", &w),
            ("/api/v1/webhooks", &h),
            ("/api/v1/sip/extensions", &e),
            ("/api/v1/sip/trunks", &t),
            ("/api/v1/tokens", &tok),
            ("/api/v1/users", &user),
            ("/api/v1/invites", &inv),
        ] {
            let r = c.by(&b, "GET", p, None).await;
            assert_eq!(r.status, StatusCode::OK, "[{name}] B GET {p}");
            let text = String::from_utf8_lossy(&r.raw).into_owned();
            assert!(
                !text.contains(id.as_str()),
                "[{name}] B sees A's {p}: {text}"
            );
        }
        // Everything of A's is still there and A's other session still works.
        for p in [
            format!("/api/v1/widgets/{w}"),
            format!("/api/v1/webhooks/{h}"),
            format!("/api/v1/sip/extensions/{e}"),
            format!("/api/v1/sip/trunks/{t}"),
        ] {
            let r = c.by(&a2, "GET", &p, None).await;
            assert_eq!(r.status, StatusCode::OK, "[{name}] A GET {p}");
        }
        let r = c.by(&a, "GET", "/api/v1/widgets", None).await;
        assert_eq!(
            r.body
                .as_array()
                .map(|v| v.len())
                .or_else(|| r.body["data"].as_array().map(|v| v.len())),
            Some(1),
            "{}",
            r.body
        );
        backend.finish().await;
    }
}

#[tokio::test]
async fn pages_send_strangers_to_sign_in_and_show_each_role_its_part() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(&backend.store);
        let text = |r: &Resp| String::from_utf8_lossy(&r.raw).into_owned();
        // Signed out: the sign-in pages; everything else sends you there.
        for p in ["/login", "/signup"] {
            let r = c.send("GET", p, &[], None).await;
            assert_eq!(r.status, StatusCode::OK, "[{name}] {p}");
            assert!(r.header("content-type").unwrap().starts_with("text/html"));
            let csp = r.header("content-security-policy").unwrap();
            assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
            assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
            let t = text(&r);
            assert!(t.contains("id=\"email-form\"") && t.contains("<label for=\"email\">"));
            assert!(!t.contains("<script>"), "no inline script under the CSP");
        }
        for p in [
            "/",
            "/settings/tokens",
            "/settings/sessions",
            "/settings/team",
            "/settings/usage",
        ] {
            let r = c.send("GET", p, &[], None).await;
            assert_eq!(r.status, StatusCode::SEE_OTHER, "[{name}] {p}");
            assert_eq!(r.header("location"), Some("/login"));
            let r = c
                .send(
                    "GET",
                    p,
                    &[("cookie", "ringside_session=ringside_ses_x")],
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::SEE_OTHER, "[{name}] {p} bad cookie");
        }
        for (p, ty) in [
            ("/assets/account.js", "text/javascript"),
            ("/assets/account.css", "text/css"),
        ] {
            let r = c.send("GET", p, &[], None).await;
            assert_eq!(r.status, StatusCode::OK);
            assert!(r.header("content-type").unwrap().starts_with(ty));
        }
        // Signed in: the owner's pages, with what they hold escaped.
        let owner = c.sign_in(&uniq("pages-owner")).await;
        let r = c
            .by(
                &owner,
                "POST",
                "/api/v1/widgets",
                Some(json!({"name": "<script>alert(1)</script>"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        let home = c.as_browser(&owner, "GET", "/", None, false).await;
        assert_eq!(home.status, StatusCode::OK);
        let t = text(&home);
        assert!(t.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{t}");
        assert!(!t.contains("<script>alert"));
        assert!(
            t.contains(&format!("content=\"{}\"", owner.csrf)),
            "the page's CSRF token"
        );
        let r = c.as_browser(&owner, "GET", "/login", None, false).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.header("location"), Some("/"));
        let r = c
            .as_browser(&owner, "GET", "/login?invite=ringside_inv_x", None, false)
            .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "an invitation link still shows the form"
        );
        let team = text(
            &c.as_browser(&owner, "GET", "/settings/team", None, false)
                .await,
        );
        assert!(team.contains("Invite someone"));
        // The sole owner is offered no way to demote or remove themself.
        assert!(!team.contains(&format!("/api/v1/users/{}", owner.user_id())));
        let tokens = text(
            &c.as_browser(&owner, "GET", "/settings/tokens", None, false)
                .await,
        );
        assert!(tokens.contains("value=\"webhooks:write\""));
        // An agent's pages offer only an agent's part.
        let r = c
            .by(
                &owner,
                "POST",
                "/api/v1/invites",
                Some(json!({"email": uniq("pages-agent"), "role": "agent"})),
            )
            .await;
        let email = r.body["email"].as_str().unwrap().to_owned();
        let secret = r.body["link"]
            .as_str()
            .unwrap()
            .split("invite=")
            .nth(1)
            .unwrap()
            .to_owned();
        let agent = c.sign_in_with(&email, Some(&secret)).await;
        let team = text(
            &c.as_browser(&agent, "GET", "/settings/team", None, false)
                .await,
        );
        assert!(!team.contains("Invite someone") && !team.contains("<select"));
        assert!(team.contains(&email));
        let tokens = text(
            &c.as_browser(&agent, "GET", "/settings/tokens", None, false)
                .await,
        );
        assert!(
            !tokens.contains("value=\"webhooks:write\"")
                && tokens.contains("value=\"messages:write\"")
        );
        for p in ["/settings/sessions", "/settings/usage"] {
            let r = c.as_browser(&agent, "GET", p, None, false).await;
            assert_eq!(r.status, StatusCode::OK, "[{name}] {p}");
        }
        backend.finish().await;
    }
}
