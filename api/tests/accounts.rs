//! Accounts through the router: sign-up and sign-in by emailed code, sessions (cookie, CSRF,
//! sign-out everywhere), tokens made by people, teams with roles and invitations, the refusal
//! matrix (401/403/404/422/429) and the cross-tenant matrix through session cookies — on
//! SQLite, and on PostgreSQL when `RINGSIDE_TEST_POSTGRES_URL` is set.
//!
//! Mail is caught by an in-process [`Mailer`]; the real SMTP path (lettre to an SMTP server
//! on loopback) is tested end to end in the `tests` crate.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use common::{assert_error, Backend, Harness, Resp};
use ringside_api::accounts::mail::{Mail, MailFuture, Mailer};
use ringside_api::accounts::{Accounts, AccountsConfig};
use ringside_api::{router, AppState, Limit};
use ringside_storage::Store;
use serde_json::{json, Value};

#[derive(Default)]
struct Inbox(Mutex<Vec<Mail>>);

impl Mailer for Inbox {
    fn send<'a>(&'a self, mail: &'a Mail) -> MailFuture<'a> {
        self.0.lock().unwrap().push(mail.clone());
        Box::pin(async { Ok(()) })
    }
    fn delivers(&self) -> bool {
        true
    }
}

impl Inbox {
    /// The `n`th message (from 1) to `to` whose subject has `about`, waiting for the
    /// outbox's task to hand it over.
    async fn nth_to(&self, to: &str, about: &str, n: usize) -> Mail {
        for _ in 0..1000 {
            if let Some(m) = self
                .0
                .lock()
                .unwrap()
                .iter()
                .filter(|m| m.to == to && m.subject.contains(about))
                .nth(n - 1)
            {
                return m.clone();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no mail #{n} to {to}");
    }

    fn count_to(&self, to: &str, about: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.to == to && m.subject.contains(about))
            .count()
    }
}

/// What sign-in code mails have in their subject.
const CODE: &str = "sign-in code";

/// The six-digit code in a sign-in mail.
fn code_in(mail: &Mail) -> String {
    let digits: String = mail
        .subject
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    let code: String = digits.chars().rev().collect();
    assert_eq!(code.len(), 6, "{mail:?}");
    assert!(mail.text.contains(&code));
    code
}

struct Ctx {
    app: axum::Router,
    store: Store,
    inbox: Arc<Inbox>,
}

impl Harness for Ctx {
    fn app(&self) -> &axum::Router {
        &self.app
    }
    fn store(&self) -> &Store {
        &self.store
    }
}

fn ctx_with(store: &Store, config: AccountsConfig, trust_xff: bool) -> Ctx {
    let inbox = Arc::new(Inbox::default());
    let state = common::state(store);
    let presence = Arc::new(ringside_api::Presence::new(
        store.clone(),
        ringside_api::PresenceConfig {
            trust_forwarded_for: trust_xff,
            ..Default::default()
        },
    ));
    let app = router(AppState {
        accounts: Arc::new(Accounts::new(config, inbox.clone())),
        presence,
        ..state
    });
    Ctx {
        app,
        store: store.clone(),
        inbox,
    }
}

fn ctx(store: &Store) -> Ctx {
    ctx_with(store, AccountsConfig::default(), false)
}

fn uniq(p: &str) -> String {
    format!("{p}{}@acct.example", rand::random::<u32>())
}

/// A signed-in browser: its cookie and CSRF token.
#[derive(Clone, Debug)]
struct Browser {
    cookie: String,
    csrf: String,
    body: Value,
}

impl Browser {
    fn user_id(&self) -> &str {
        self.body["user"]["id"].as_str().unwrap()
    }
    fn tenant(&self) -> &str {
        self.body["tenant"]["id"].as_str().unwrap()
    }
}

impl Ctx {
    async fn post(&self, path: &str, body: Value, xff: Option<&str>) -> Resp {
        let mut h = vec![("user-agent", "Mozilla/5.0 (accounts test)")];
        if let Some(ip) = xff {
            h.push(("x-forwarded-for", ip));
        }
        self.send("POST", path, &h, Some(&body.to_string())).await
    }

    async fn request_code(&self, email: &str) -> String {
        let to = email.trim().to_lowercase();
        let before = self.inbox.count_to(&to, CODE);
        let r = self
            .post("/api/v1/auth/email-code", json!({ "email": email }), None)
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        code_in(&self.inbox.nth_to(&to, CODE, before + 1).await)
    }

    async fn sign_in_with(&self, email: &str, invite: Option<&str>) -> Browser {
        let code = self.request_code(email).await;
        let mut body = json!({ "email": email, "code": code });
        if let Some(i) = invite {
            body["invite"] = json!(i);
        }
        let r = self.post("/api/v1/auth/session", body, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let set = r.header("set-cookie").unwrap().to_owned();
        for attr in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/", "Max-Age="] {
            assert!(set.contains(attr), "{set}");
        }
        let cookie = set.split(';').next().unwrap().to_owned();
        assert!(
            cookie.starts_with("__Host-ringside_session=ringside_ses_"),
            "{cookie}"
        );
        Browser {
            cookie,
            csrf: r.body["csrfToken"].as_str().unwrap().to_owned(),
            body: r.body,
        }
    }

    async fn sign_in(&self, email: &str) -> Browser {
        self.sign_in_with(email, None).await
    }

    /// A request as the browser makes it: cookie, and the CSRF token unless `csrf` is false.
    async fn as_browser(
        &self,
        b: &Browser,
        method: &str,
        path: &str,
        body: Option<Value>,
        csrf: bool,
    ) -> Resp {
        let mut h = vec![("cookie", b.cookie.as_str())];
        if csrf {
            h.push(("x-csrf-token", b.csrf.as_str()));
        }
        let body = body.map(|v| v.to_string());
        self.send(method, path, &h, body.as_deref()).await
    }

    async fn by(&self, b: &Browser, method: &str, path: &str, body: Option<Value>) -> Resp {
        self.as_browser(b, method, path, body, true).await
    }
}

async fn backends() -> Vec<Backend> {
    common::backends("ringside-accounts").await
}

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
        let app = router(AppState {
            public_url: "http://127.0.0.1:8080".into(),
            accounts: Arc::new(Accounts::new(Default::default(), inbox.clone())),
            ..common::state(&backend.store)
        });
        let plain = Ctx {
            app,
            store: backend.store.clone(),
            inbox,
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

#[tokio::test]
async fn people_make_tokens_with_at_most_their_rights() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(&backend.store);
        let owner = c.sign_in(&uniq("own")).await;
        // Tokens are managed from a session only.
        let tok = c
            .token(&uniq("bearer"), &["widgets:read", "webhooks:write"])
            .await;
        for (m, p) in [
            ("GET", "/api/v1/tokens"),
            ("POST", "/api/v1/tokens"),
            ("GET", "/api/v1/users"),
        ] {
            let (st, b) = c.call(m, p, Some(&tok), Some("{}")).await;
            assert_eq!(st, StatusCode::UNAUTHORIZED, "[{name}] {m} {p}");
            assert_error(&b, "unauthorized");
        }
        // Validation.
        for (body, status, code) in [
            (json!({"name": "r", "scopes": []}), 422, "invalid_field"),
            (
                json!({"name": "", "scopes": ["widgets:read"]}),
                422,
                "invalid_field",
            ),
            (
                json!({"name": "r", "scopes": ["root"]}),
                422,
                "invalid_field",
            ),
            (json!({"name": "r"}), 400, "invalid_body"),
        ] {
            let r = c.by(&owner, "POST", "/api/v1/tokens", Some(body)).await;
            assert_eq!(r.status.as_u16(), status, "[{name}] {}", r.body);
            assert_error(&r.body, code);
        }
        let r = c
            .as_browser(
                &owner,
                "POST",
                "/api/v1/tokens",
                Some(json!({"name": "r", "scopes": ["widgets:read"]})),
                false,
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "CSRF-less token creation");
        // A read-only token: shown once, works, is listed without its secret.
        let r = c
            .by(
                &owner,
                "POST",
                "/api/v1/tokens",
                Some(json!({"name": "Reporting", "scopes": ["widgets:read", "calls:read", "widgets:read"]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "[{name}] {}", r.body);
        assert_eq!(r.body["scopes"], json!(["widgets:read", "calls:read"]));
        let secret = r.body["token"].as_str().unwrap().to_owned();
        let id = r.body["id"].as_str().unwrap().to_owned();
        let (st, _) = c.call("GET", "/api/v1/widgets", Some(&secret), None).await;
        assert_eq!(st, StatusCode::OK);
        let (st, _) = c
            .json("POST", "/api/v1/widgets", &secret, json!({"name": "x"}))
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        let r = c.by(&owner, "GET", "/api/v1/tokens", None).await;
        let listed = &r.body["data"][0];
        assert_eq!(listed["id"], id.as_str());
        assert!(listed.get("token").is_none(), "{listed}");
        assert!(!r.raw.windows(secret.len()).any(|w| w == secret.as_bytes()));
        // Revoked: refused at once.
        let r = c
            .by(&owner, "DELETE", &format!("/api/v1/tokens/{id}"), None)
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        let (st, b) = c.call("GET", "/api/v1/widgets", Some(&secret), None).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        assert_error(&b, "unauthorized");
        let r = c.by(&owner, "DELETE", "/api/v1/tokens/nope", None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        backend.finish().await;
    }
}

#[tokio::test]
async fn teams_invite_agents_who_see_only_what_agents_may() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(&backend.store);
        let owner_email = uniq("boss");
        let owner = c.sign_in(&owner_email).await;
        let agent_email = uniq("agent");
        // Invitations: validation, then one with a link by mail.
        for (body, status, code) in [
            (
                json!({"email": "nope", "role": "agent"}),
                422,
                "invalid_field",
            ),
            (
                json!({"email": agent_email, "role": "king"}),
                422,
                "invalid_field",
            ),
            (json!({"email": agent_email}), 400, "invalid_body"),
        ] {
            let r = c.by(&owner, "POST", "/api/v1/invites", Some(body)).await;
            assert_eq!(r.status.as_u16(), status, "[{name}] {}", r.body);
            assert_error(&r.body, code);
        }
        let r = c
            .by(
                &owner,
                "POST",
                "/api/v1/invites",
                Some(json!({"email": agent_email, "role": "agent"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "[{name}] {}", r.body);
        let link = r.body["link"].as_str().unwrap().to_owned();
        let invite_id = r.body["id"].as_str().unwrap().to_owned();
        let mail = c.inbox.nth_to(&agent_email, "invited you", 1).await;
        assert!(mail.text.contains(&link), "{mail:?}");
        assert!(mail.subject.contains(&owner_email));
        let secret = link.split("invite=").nth(1).unwrap().to_owned();
        let r = c.by(&owner, "GET", "/api/v1/invites", None).await;
        assert_eq!(r.body["data"][0]["id"], invite_id.as_str());
        assert!(r.body["data"][0].get("link").is_none());
        // The link tells what it offers; a bad one is 404.
        let r = c
            .post("/api/v1/auth/invite", json!({"invite": secret}), None)
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["email"], agent_email.as_str());
        assert_eq!(r.body["role"], "agent");
        assert_eq!(r.body["tenant"]["id"], owner.tenant());
        let r = c
            .post(
                "/api/v1/auth/invite",
                json!({"invite": "ringside_inv_nope"}),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        // The agent signs in with their own code and the invitation: joins the owner's tenant.
        let agent = c.sign_in_with(&agent_email, Some(&secret)).await;
        assert_eq!(agent.tenant(), owner.tenant());
        assert_eq!(agent.body["user"]["role"], "agent");
        // Used up.
        let r = c
            .post("/api/v1/auth/invite", json!({"invite": secret}), None)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        // What an agent may and may not do.
        let w = c
            .by(
                &owner,
                "POST",
                "/api/v1/widgets",
                Some(json!({"name": "Shop"})),
            )
            .await;
        assert_eq!(w.status, StatusCode::CREATED);
        let widget_id = w.body["id"].as_str().unwrap().to_owned();
        assert_eq!(
            c.by(&agent, "GET", "/api/v1/widgets", None).await.status,
            StatusCode::OK
        );
        assert_eq!(
            c.by(&agent, "GET", "/api/v1/users", None).await.status,
            StatusCode::OK
        );
        for (m, p, body) in [
            (
                "POST",
                "/api/v1/widgets".to_owned(),
                Some(json!({"name": "x"})),
            ),
            (
                "PATCH",
                format!("/api/v1/widgets/{widget_id}"),
                Some(json!({"name": "x"})),
            ),
            ("GET", "/api/v1/webhooks".to_owned(), None),
            ("GET", "/api/v1/sip/trunks".to_owned(), None),
            ("GET", "/api/v1/invites".to_owned(), None),
            (
                "POST",
                "/api/v1/invites".to_owned(),
                Some(json!({"email": "z@z.example", "role": "owner"})),
            ),
            (
                "PATCH",
                format!("/api/v1/users/{}", agent.user_id()),
                Some(json!({"role": "owner"})),
            ),
            ("DELETE", format!("/api/v1/users/{}", owner.user_id()), None),
            (
                "POST",
                "/api/v1/tokens".to_owned(),
                Some(json!({"name": "t", "scopes": ["webhooks:write"]})),
            ),
        ] {
            let r = c.by(&agent, m, &p, body).await;
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "[{name}] agent {m} {p}: {}",
                r.body
            );
            assert_error(&r.body, "forbidden");
        }
        // An agent's token holds agent scopes only.
        let r = c
            .by(
                &agent,
                "POST",
                "/api/v1/tokens",
                Some(json!({"name": "mine", "scopes": ["messages:write"]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        let agent_token_id = r.body["id"].as_str().unwrap().to_owned();
        // Agents list and revoke their own tokens only; owners see all.
        let owner_tok = c
            .by(
                &owner,
                "POST",
                "/api/v1/tokens",
                Some(json!({"name": "o", "scopes": ["sip:read"]})),
            )
            .await;
        let owner_tok_id = owner_tok.body["id"].as_str().unwrap();
        let r = c.by(&agent, "GET", "/api/v1/tokens", None).await;
        assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
        let r = c
            .by(
                &agent,
                "DELETE",
                &format!("/api/v1/tokens/{owner_tok_id}"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = c.by(&owner, "GET", "/api/v1/tokens", None).await;
        assert_eq!(r.body["data"].as_array().unwrap().len(), 2);
        // Agents answer calls; deleting recordings is not theirs to do.
        let r = c.by(&agent, "DELETE", "/api/v1/recordings/any", None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "[{name}] {}", r.body);
        // Role changes apply to a live session at once.
        let r = c
            .by(
                &owner,
                "PATCH",
                &format!("/api/v1/users/{}", agent.user_id()),
                Some(json!({"role": "admin"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["role"], "admin");
        assert_eq!(
            c.by(&agent, "GET", "/api/v1/webhooks", None).await.status,
            StatusCode::OK
        );
        // Admins do everything but users.
        let r = c.by(&agent, "GET", "/api/v1/invites", None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        // The last owner stays; bad roles and strangers' ids are refused.
        let r = c
            .by(
                &owner,
                "PATCH",
                &format!("/api/v1/users/{}", owner.user_id()),
                Some(json!({"role": "agent"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
        let r = c
            .by(
                &owner,
                "DELETE",
                &format!("/api/v1/users/{}", owner.user_id()),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        let r = c
            .by(
                &owner,
                "PATCH",
                &format!("/api/v1/users/{}", agent.user_id()),
                Some(json!({"role": "god"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        // Removal ends the agent's sessions and tokens at once.
        let r = c
            .by(
                &owner,
                "DELETE",
                &format!("/api/v1/users/{}", agent.user_id()),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(
            c.by(&agent, "GET", "/api/v1/widgets", None).await.status,
            StatusCode::UNAUTHORIZED
        );
        let r = c.by(&owner, "GET", "/api/v1/tokens", None).await;
        assert!(r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["id"] != agent_token_id.as_str()));
        // A withdrawn invitation's link no longer signs anyone in.
        let late = uniq("late");
        let r = c
            .by(
                &owner,
                "POST",
                "/api/v1/invites",
                Some(json!({"email": late, "role": "admin"})),
            )
            .await;
        let (id, link) = (
            r.body["id"].as_str().unwrap().to_owned(),
            r.body["link"].as_str().unwrap().to_owned(),
        );
        let r = c
            .by(&owner, "DELETE", &format!("/api/v1/invites/{id}"), None)
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        let code = c.request_code(&late).await;
        let r = c
            .post(
                "/api/v1/auth/session",
                json!({"email": late, "code": code, "invite": link.split("invite=").nth(1).unwrap()}),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "[{name}] {}", r.body);
        assert!(c.store.find_user_by_email(&late).await.unwrap().is_none());
        backend.finish().await;
    }
}

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

#[tokio::test]
async fn chats_and_calls_are_assigned_and_notes_show_their_author() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(&backend.store);
        let owner_email = uniq("assign-owner");
        let owner = c.sign_in(&owner_email).await;
        let r = c
            .by(
                &owner,
                "POST",
                "/api/v1/invites",
                Some(json!({"email": uniq("assign-agent"), "role": "agent"})),
            )
            .await;
        let agent_email = r.body["email"].as_str().unwrap().to_owned();
        let secret = r.body["link"]
            .as_str()
            .unwrap()
            .split("invite=")
            .nth(1)
            .unwrap()
            .to_owned();
        let agent = c.sign_in_with(&agent_email, Some(&secret)).await;
        let stranger = c.sign_in(&uniq("assign-stranger")).await;
        let w = c
            .by(
                &owner,
                "POST",
                "/api/v1/widgets",
                Some(json!({"name": "Desk"})),
            )
            .await
            .body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let hook = c
            .by(
                &owner,
                "POST",
                "/api/v1/webhooks",
                Some(json!({"name": "team", "url": "https://example.com/team",
                            "events": ["conversation.assigned", "call.assigned"]})),
            )
            .await;
        assert_eq!(hook.status, StatusCode::CREATED, "{}", hook.body);
        let hook = hook.body["id"].as_str().unwrap().to_owned();
        let chat = format!("/api/v1/widgets/{w}/visitors/visitor-0001/assignee");
        // Nobody yet; the agent takes it.
        let r = c.by(&agent, "GET", &chat, None).await;
        assert_eq!(
            (r.status, &r.body["assignee"]),
            (StatusCode::OK, &Value::Null),
            "[{name}]"
        );
        let r = c
            .by(&agent, "PUT", &chat, Some(json!({"userId": "me"})))
            .await;
        assert_eq!(r.status, StatusCode::OK, "[{name}] {}", r.body);
        assert_eq!(r.body["assignee"]["email"], agent_email.as_str());
        assert_eq!(r.body["assignee"]["assignedBy"], agent.user_id());
        // The owner moves it to themself; the agent can no longer take it or give it away.
        let r = c
            .by(
                &owner,
                "PUT",
                &chat,
                Some(json!({"userId": owner.user_id()})),
            )
            .await;
        assert_eq!(r.body["assignee"]["email"], owner_email.as_str());
        for body in [
            json!({"userId": "me"}),
            json!({"userId": null}),
            json!({"userId": owner.user_id()}),
        ] {
            let r = c.by(&agent, "PUT", &chat, Some(body.clone())).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "[{name}] agent {body}");
            assert_error(&r.body, "forbidden");
        }
        // Back to the agent, listed as theirs; they let go of it.
        c.by(
            &owner,
            "PUT",
            &chat,
            Some(json!({"userId": agent.user_id()})),
        )
        .await;
        let r = c
            .by(
                &agent,
                "GET",
                &format!("/api/v1/widgets/{w}/assignments?userId=me"),
                None,
            )
            .await;
        assert_eq!(r.body["data"][0]["visitorId"], "visitor-0001", "{}", r.body);
        let r = c
            .by(
                &owner,
                "GET",
                &format!("/api/v1/widgets/{w}/assignments?userId=me"),
                None,
            )
            .await;
        assert_eq!(r.body["data"], json!([]));
        let r = c
            .by(&agent, "PUT", &chat, Some(json!({"userId": null})))
            .await;
        assert_eq!(
            (r.status, &r.body["assignee"]),
            (StatusCode::OK, &Value::Null)
        );
        // Refusals: a stranger's user id, a stranger's widget, a bad visitor id, a bad body.
        let r = c
            .by(
                &owner,
                "PUT",
                &chat,
                Some(json!({"userId": stranger.user_id()})),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "[{name}] {}",
            r.body
        );
        assert_error(&r.body, "invalid_field");
        let r = c
            .by(&stranger, "PUT", &chat, Some(json!({"userId": "me"})))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = c
            .by(
                &owner,
                "PUT",
                &format!("/api/v1/widgets/{w}/visitors/x/assignee"),
                Some(json!({"userId": "me"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let r = c
            .by(&owner, "PUT", &chat, Some(json!({"user": "me"})))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        // Calls: assigned the same way, and the call shows its assignee.
        let call_id = ringside_storage::new_id();
        let now = ringside_storage::now_ms();
        c.store
            .insert_call(&ringside_storage::CallRecord {
                id: call_id.clone(),
                tenant_id: owner.tenant().to_owned(),
                kind: "sip".parse().unwrap(),
                from_uri: "sip:alice@example.com".into(),
                to_uri: "sip:desk@example.com".into(),
                status: "ended".parse().unwrap(),
                started_at: now,
                answered_at: Some(now),
                ended_at: Some(now + 1000),
                end_reason: None,
                hangup_side: None,
                widget_id: None,
                visitor_id: None,
                answered_by: None,
                legs: Vec::new(),
            })
            .await
            .unwrap();
        let call = format!("/api/v1/calls/{call_id}/assignee");
        let r = c
            .by(&agent, "PUT", &call, Some(json!({"userId": "me"})))
            .await;
        assert_eq!(r.status, StatusCode::OK, "[{name}] {}", r.body);
        let r = c
            .by(&owner, "GET", &format!("/api/v1/calls/{call_id}"), None)
            .await;
        assert_eq!(
            r.body["assignedTo"]["email"],
            agent_email.as_str(),
            "{}",
            r.body
        );
        let r = c.by(&owner, "GET", "/api/v1/calls", None).await;
        assert_eq!(r.body[0]["assignedTo"]["userId"], agent.user_id());
        let r = c
            .by(&stranger, "PUT", &call, Some(json!({"userId": "me"})))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        // Every change was queued for the webhook, newest first: the call, then the chat's.
        let r = c
            .by(
                &owner,
                "GET",
                &format!("/api/v1/webhooks/{hook}/deliveries"),
                None,
            )
            .await;
        let log = r.body.as_array().unwrap().clone();
        assert_eq!(log[0]["type"], "call.assigned", "{}", r.body);
        assert_eq!(log[0]["data"]["callId"], call_id.as_str());
        assert_eq!(log[0]["data"]["assignee"]["email"], agent_email.as_str());
        let chats: Vec<&Value> = log
            .iter()
            .filter(|d| d["type"] == "conversation.assigned")
            .collect();
        assert_eq!(
            chats.len(),
            4,
            "taken, moved, moved back, let go: {}",
            r.body
        );
        assert_eq!(
            chats[0]["data"]["assignee"],
            Value::Null,
            "the last one cleared it"
        );
        assert_eq!(chats[0]["data"]["visitorId"], "visitor-0001");
        // Notes carry their author's email.
        let notes = format!("/api/v1/widgets/{w}/visitors/visitor-0001/notes");
        let r = c
            .by(
                &agent,
                "POST",
                &notes,
                Some(json!({"body": "Called back, wants a quote"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body["authorEmail"], agent_email.as_str(), "{}", r.body);
        let r = c.by(&owner, "GET", &notes, None).await;
        assert_eq!(
            r.body["notes"][0]["authorEmail"],
            agent_email.as_str(),
            "{}",
            r.body
        );
        // Removing the agent clears their assignments; their notes stay, without an email.
        c.by(
            &owner,
            "DELETE",
            &format!("/api/v1/users/{}", agent.user_id()),
            None,
        )
        .await;
        let r = c
            .by(&owner, "GET", &format!("/api/v1/calls/{call_id}"), None)
            .await;
        assert_eq!(r.body["assignedTo"], Value::Null);
        let r = c.by(&owner, "GET", &notes, None).await;
        assert_eq!(r.body["notes"][0]["body"], "Called back, wants a quote");
        assert_eq!(r.body["notes"][0]["authorEmail"], Value::Null);
        backend.finish().await;
    }
}

#[tokio::test]
async fn an_agent_given_some_widgets_sees_only_those() {
    for backend in backends().await {
        let name = backend.name;
        let c = ctx(&backend.store);
        let owner = c.sign_in(&uniq("widgets-owner")).await;
        let stranger = c.sign_in(&uniq("widgets-stranger")).await;
        let mk = |b: &Browser, n: &str| {
            let b = b.clone();
            let n = n.to_owned();
            let c = &c;
            async move {
                c.by(&b, "POST", "/api/v1/widgets", Some(json!({"name": n})))
                    .await
                    .body["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
        };
        let (a, b) = (mk(&owner, "Shop A").await, mk(&owner, "Shop B").await);
        let theirs = mk(&stranger, "Elsewhere").await;
        let r = c
            .by(
                &owner,
                "POST",
                "/api/v1/invites",
                Some(json!({"email": uniq("widgets-agent"), "role": "agent"})),
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
        let path = format!("/api/v1/users/{}/widgets", agent.user_id());
        // Refusals: another tenant's widget, an agent doing it, an unknown user.
        let r = c
            .by(
                &owner,
                "PUT",
                &path,
                Some(json!({"widgetIds": [a, theirs]})),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "[{name}] {}",
            r.body
        );
        let r = c
            .by(&agent, "PUT", &path, Some(json!({"widgetIds": null})))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = c
            .by(
                &owner,
                "PUT",
                "/api/v1/users/nobody/widgets",
                Some(json!({"widgetIds": null})),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        // Everything at first; then only Shop A, at once for the live session.
        let listed = |r: &Resp| -> Vec<String> {
            r.body
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w["id"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            listed(&c.by(&agent, "GET", "/api/v1/widgets", None).await).len(),
            2
        );
        let r = c
            .by(&owner, "PUT", &path, Some(json!({"widgetIds": [a]})))
            .await;
        assert_eq!(r.status, StatusCode::OK, "[{name}] {}", r.body);
        assert_eq!(r.body["widgetIds"], json!([a]));
        let r = c.by(&owner, "GET", "/api/v1/users", None).await;
        let me = r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == email.as_str())
            .unwrap()
            .clone();
        assert_eq!(me["widgetIds"], json!([a]));
        assert_eq!(
            listed(&c.by(&agent, "GET", "/api/v1/widgets", None).await),
            vec![a.clone()]
        );
        let tok = c
            .by(
                &agent,
                "POST",
                "/api/v1/tokens",
                Some(
                    json!({"name": "t", "scopes": ["messages:read", "widgets:read", "calls:read"]}),
                ),
            )
            .await
            .body["token"]
            .as_str()
            .unwrap()
            .to_owned();
        for (p, want) in [
            (format!("/api/v1/widgets/{a}"), 200),
            (format!("/api/v1/widgets/{a}/messages"), 200),
            (format!("/api/v1/widgets/{b}"), 404),
            (format!("/api/v1/widgets/{b}/messages"), 404),
            (format!("/api/v1/widgets/{b}/calls"), 404),
            ("/api/v1/calls".to_owned(), 403),
            ("/api/v1/contacts".to_owned(), 403),
            ("/api/v1/recordings/x".to_owned(), 403),
            ("/api/v1/users".to_owned(), 200),
        ] {
            let r = c.by(&agent, "GET", &p, None).await;
            assert_eq!(
                r.status.as_u16(),
                want,
                "[{name}] session GET {p}: {}",
                r.body
            );
            if !p.ends_with("/users") {
                let (st, _) = c.call("GET", &p, Some(&tok), None).await;
                assert_eq!(st.as_u16(), want, "[{name}] token GET {p}");
            }
        }
        let home = c.as_browser(&agent, "GET", "/", None, false).await;
        let text = String::from_utf8_lossy(&home.raw).into_owned();
        assert!(
            text.contains("Shop A") && !text.contains("Shop B"),
            "{text}"
        );
        let team = String::from_utf8_lossy(
            &c.as_browser(&owner, "GET", "/settings/team", None, false)
                .await
                .raw,
        )
        .into_owned();
        assert!(
            team.contains(&format!("data-url=\"{path}\"")),
            "the owner can change it"
        );
        // Back to all.
        let r = c
            .by(&owner, "PUT", &path, Some(json!({"widgetIds": null})))
            .await;
        assert_eq!(r.body["widgetIds"], Value::Null);
        assert_eq!(
            c.by(&agent, "GET", &format!("/api/v1/widgets/{b}"), None)
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(
            c.by(&agent, "GET", "/api/v1/calls", None).await.status,
            StatusCode::OK
        );
        backend.finish().await;
    }
}
