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
    presence: Arc<ringside_api::Presence>,
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
        presence: presence.clone(),
        ..state
    });
    Ctx {
        app,
        store: store.clone(),
        inbox,
        presence,
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

#[path = "accounts/alert_pages.rs"]
mod alert_pages;
#[path = "accounts/chat_tools.rs"]
mod chat_tools;
#[path = "accounts/dashboard.rs"]
mod dashboard;
#[path = "accounts/isolation.rs"]
mod isolation;
#[path = "accounts/knowledge_pages.rs"]
mod knowledge_pages;
#[path = "accounts/oauth.rs"]
mod oauth;
#[path = "accounts/oauth_tokens.rs"]
mod oauth_tokens;
#[path = "accounts/sign_in.rs"]
mod sign_in;
#[path = "accounts/team.rs"]
mod team;
