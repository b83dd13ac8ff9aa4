//! Sign-up and sign-in by emailed code, sessions, CSRF, and the limits on codes and tries.

use super::*;

#[tokio::test]
async fn sign_up_and_sign_in_by_code_make_revocable_sessions() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(&backend.store);
        let email = uniq("ana");
        // Bad input: stable errors, nothing mailed.
        for (body, status, code) in [
            (json!({"email": "no-at-sign"}), 422, "invalid_field"),
            (json!({"email": ""}), 422, "invalid_field"),
            (json!({"mail": email}), 400, "invalid_body"),
        ] {
            let r = c.post("/api/v1/auth/email-code", body, None).await;
            assert_eq!(r.status.as_u16(), status, "[{name}] {}", r.body);
            assert_error(&r.body, code);
        }
        // A wrong code creates nothing and says how many tries are left.
        let code = c.request_code(&email).await;
        let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
        let r = c
            .post(
                "/api/v1/auth/session",
                json!({"email": email, "code": wrong}),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "[{name}]");
        assert_error(&r.body, "invalid_code");
        assert!(r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("4 tries left"));
        assert!(r.header("set-cookie").is_none());
        assert!(c.store.find_user_by_email(&email).await.unwrap().is_none());
        for (body, status, code) in [
            (json!({"email": email, "code": ""}), 422, "invalid_field"),
            (
                json!({"email": "x", "code": "123456"}),
                422,
                "invalid_field",
            ),
            (json!({"email": email}), 400, "invalid_body"),
        ] {
            let r = c.post("/api/v1/auth/session", body, None).await;
            assert_eq!(r.status.as_u16(), status, "[{name}] {}", r.body);
            assert_error(&r.body, code);
        }
        // The right code signs up: a new tenant with this user as its owner.
        let r = c
            .post(
                "/api/v1/auth/session",
                json!({"email": email, "code": code}),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "[{name}] {}", r.body);
        assert_eq!(r.body["user"]["email"], email.as_str());
        assert_eq!(r.body["user"]["role"], "owner");
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let first = Browser {
            cookie: r
                .header("set-cookie")
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .into(),
            csrf: r.body["csrfToken"].as_str().unwrap().into(),
            body: r.body.clone(),
        };
        // The code is used up.
        let r = c
            .post(
                "/api/v1/auth/session",
                json!({"email": email, "code": code}),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_error(&r.body, "invalid_code");
        // Signing in again is the same user and tenant, as is the CLI's user of that email.
        let second = c.sign_in(&email.to_uppercase()).await;
        assert_eq!(second.user_id(), first.user_id());
        assert_eq!(second.tenant(), first.tenant());
        let cli = c.store.ensure_user(&email).await.unwrap();
        assert_eq!(cli.tenant_id, first.tenant());
        // GET /auth/session answers the same body for the cookie; nothing without one.
        let r = c.by(&first, "GET", "/api/v1/auth/session", None).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body, first.body);
        let r = c.send("GET", "/api/v1/auth/session", &[], None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_error(&r.body, "unauthorized");
        // A bearer token is not a session.
        let tok = c.token(&email, &["widgets:read"]).await;
        let (st, _) = c
            .call("GET", "/api/v1/auth/session", Some(&tok), None)
            .await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        // The session works on every /api/v1 endpoint with the owner's rights ...
        let r = c.by(&first, "GET", "/api/v1/widgets", None).await;
        assert_eq!(r.status, StatusCode::OK, "[{name}] {}", r.body);
        // ... and a write needs the CSRF token: none or a wrong one is refused, nothing made.
        let w = json!({"name": "Site"});
        let r = c
            .as_browser(&first, "POST", "/api/v1/widgets", Some(w.clone()), false)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_error(&r.body, "csrf_failed");
        let forged = Browser {
            csrf: second.csrf.clone(),
            ..first.clone()
        };
        let r = c
            .by(&forged, "POST", "/api/v1/widgets", Some(w.clone()))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_error(&r.body, "csrf_failed");
        assert_eq!(c.store.list_widgets(first.tenant()).await.unwrap().len(), 0);
        let r = c
            .by(&first, "POST", "/api/v1/widgets", Some(w.clone()))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "[{name}] {}", r.body);
        // Bearer-token writes need no CSRF token.
        let wtok = c.token(&email, &["widgets:write"]).await;
        let (st, _) = c.json("POST", "/api/v1/widgets", &wtok, w.clone()).await;
        assert_eq!(st, StatusCode::CREATED);
        // Sessions: listed with the current one marked; one signed out from another.
        let r = c.by(&first, "GET", "/api/v1/auth/sessions", None).await;
        let list = r.body["data"].as_array().unwrap().clone();
        assert_eq!(list.len(), 2, "{}", r.body);
        assert_eq!(list.iter().filter(|s| s["current"] == true).count(), 1);
        assert_eq!(list[0]["userAgent"], "Mozilla/5.0 (accounts test)");
        let second_id = list.iter().find(|s| s["current"] == false).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = c
            .as_browser(
                &first,
                "DELETE",
                &format!("/api/v1/auth/sessions/{second_id}"),
                None,
                false,
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "CSRF-less sign-out of another session"
        );
        let r = c
            .by(
                &first,
                "DELETE",
                &format!("/api/v1/auth/sessions/{second_id}"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        let r = c.by(&second, "GET", "/api/v1/widgets", None).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "[{name}] revoked at once"
        );
        let r = c
            .by(
                &first,
                "DELETE",
                "/api/v1/auth/sessions/no-such-session",
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        // Sign out: CSRF needed; then the cookie is cleared and dead.
        let r = c
            .as_browser(&first, "DELETE", "/api/v1/auth/session", None, false)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = c.by(&first, "DELETE", "/api/v1/auth/session", None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
        let r = c.by(&first, "GET", "/api/v1/auth/session", None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        // Sign out everywhere.
        let x = c.sign_in(&email).await;
        let y = c.sign_in(&email).await;
        let r = c.by(&x, "DELETE", "/api/v1/auth/sessions", None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        for b in [&x, &y] {
            assert_eq!(
                c.by(b, "GET", "/api/v1/widgets", None).await.status,
                StatusCode::UNAUTHORIZED
            );
        }
        // The metrics count what happened.
        let m =
            String::from_utf8_lossy(&c.send("GET", "/metrics", &[], None).await.raw).into_owned();
        let value = |name: &str| -> u64 {
            m.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("{name} in {m}"))
        };
        assert!(value("ringside_auth_sign_ins_total") >= 4, "{m}");
        assert!(value("ringside_auth_sign_in_failures_total") >= 2, "{m}");
        assert!(value("ringside_mail_sent_total") >= 4, "{m}");
        assert_eq!(value("ringside_mail_failed_total"), 0);
        // Garbage cookies are plain 401s.
        for cookie in [
            "ringside_session=",
            "ringside_session=ringside_ses_x",
            "other=1",
        ] {
            let r = c
                .send("GET", "/api/v1/widgets", &[("cookie", cookie)], None)
                .await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{cookie}");
        }
        backend.finish().await;
    }
}

#[tokio::test]
async fn expired_codes_and_plain_http_cookies() {
    for backend in backends().await {
        let c = ctx_with(
            &backend.store,
            AccountsConfig {
                code_ttl: Duration::ZERO,
                ..Default::default()
            },
            false,
        );
        let email = uniq("late");
        let code = c.request_code(&email).await;
        let r = c
            .post(
                "/api/v1/auth/session",
                json!({"email": email, "code": code}),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_error(&r.body, "invalid_code");
        assert!(r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired"));
        assert!(c.store.find_user_by_email(&email).await.unwrap().is_none());
        // A server on plain http (a laptop) sets no Secure attribute, or browsers drop it.
        let inbox = Arc::new(Inbox::default());
        let state = common::state(&backend.store);
        let presence = state.presence.clone();
        let app = router(AppState {
            public_url: "http://127.0.0.1:8080".into(),
            accounts: Arc::new(Accounts::new(Default::default(), inbox.clone())),
            ..state
        });
        let plain = Ctx {
            app,
            store: backend.store.clone(),
            inbox,
            presence,
        };
        let code = plain.request_code(&email).await;
        let r = plain
            .post(
                "/api/v1/auth/session",
                json!({"email": email, "code": code}),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let set = r.header("set-cookie").unwrap();
        assert!(set.contains("HttpOnly") && !set.contains("Secure"), "{set}");
        backend.finish().await;
    }
}

#[tokio::test]
async fn code_requests_and_sign_in_tries_are_rate_limited() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx_with(
            &backend.store,
            AccountsConfig {
                code_per_email: Limit::new(0.001, 3),
                code_per_ip: Limit::new(0.001, 5),
                verify_per_ip: Limit::new(0.001, 4),
                ..Default::default()
            },
            true,
        );
        let email = uniq("flood");
        // An honest user may ask a few times in a row; then 429 with Retry-After.
        for _ in 0..3 {
            let r = c
                .post(
                    "/api/v1/auth/email-code",
                    json!({"email": email}),
                    Some("192.0.2.1"),
                )
                .await;
            assert_eq!(r.status, StatusCode::ACCEPTED, "[{name}]");
        }
        let r = c
            .post(
                "/api/v1/auth/email-code",
                json!({"email": email}),
                Some("192.0.2.2"),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::TOO_MANY_REQUESTS,
            "[{name}] per email"
        );
        assert_error(&r.body, "rate_limited");
        assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
        let _ = c.inbox.nth_to(&email, CODE, 3).await;
        tokio::task::yield_now().await;
        assert_eq!(c.inbox.count_to(&email, CODE), 3);
        // One IP asking for many emails.
        let mut limited = false;
        for i in 0..6 {
            let r = c
                .post(
                    "/api/v1/auth/email-code",
                    json!({"email": format!("n{i}-{email}")}),
                    Some("192.0.2.9"),
                )
                .await;
            if r.status == StatusCode::TOO_MANY_REQUESTS {
                limited = true;
                assert!(i >= 5, "[{name}] limited after {i}");
            }
        }
        assert!(limited, "[{name}] per IP");
        // Guessing codes from one IP.
        let target = uniq("victim");
        c.request_code(&target).await;
        let mut statuses = Vec::new();
        for _ in 0..6 {
            let r = c
                .post(
                    "/api/v1/auth/session",
                    json!({"email": target, "code": "000000"}),
                    Some("198.51.100.7"),
                )
                .await;
            statuses.push(r.status.as_u16());
        }
        assert_eq!(&statuses[4..], &[429, 429], "[{name}] {statuses:?}");
        // Guessing one email's codes, code after code, stops at the day's cap: 429.
        let open = ctx_with(
            &backend.store,
            AccountsConfig {
                code_per_email: Limit::new(0.0, 1),
                ..Default::default()
            },
            false,
        );
        let target = uniq("guessed");
        let mut last = 0;
        for _ in 0..ringside_storage::MAX_WRONG_PER_DAY / ringside_storage::MAX_CODE_ATTEMPTS + 1 {
            let code = open.request_code(&target).await;
            let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
            for _ in 0..ringside_storage::MAX_CODE_ATTEMPTS {
                let r = open
                    .post(
                        "/api/v1/auth/session",
                        json!({"email": target, "code": wrong}),
                        None,
                    )
                    .await;
                last = r.status.as_u16();
            }
        }
        assert_eq!(last, 429, "[{name}]");
        let code = open.request_code(&target).await;
        let r = open
            .post(
                "/api/v1/auth/session",
                json!({"email": target, "code": code}),
                None,
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::TOO_MANY_REQUESTS,
            "[{name}] locked for the day"
        );
        assert!(r.header("retry-after").is_some());
        // An owner cannot use invitations to mail without limit.
        let limited = ctx_with(
            &backend.store,
            AccountsConfig {
                invites_per_tenant: Limit::new(0.001, 2),
                ..Default::default()
            },
            false,
        );
        let boss = limited.sign_in(&uniq("inviter")).await;
        let mut codes = Vec::new();
        for i in 0..3 {
            let r = limited
                .by(
                    &boss,
                    "POST",
                    "/api/v1/invites",
                    Some(json!({"email": format!("spam{i}-{}", uniq("x")), "role": "agent"})),
                )
                .await;
            codes.push(r.status.as_u16());
        }
        assert_eq!(codes, [201, 201, 429], "[{name}]");
        backend.finish().await;
    }
}
