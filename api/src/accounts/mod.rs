//! People: sign-in by emailed one-time code, dashboard sessions, teams, and the tokens people
//! make.
//!
//! - [`mail`]: where codes and invitations are mailed (SMTP, or the log when none is set).
//! - [`session`]: the session cookie, CSRF tokens and the session cache.
//! - [`routes`]: `/api/v1/auth/...` (codes, sign-in, sign-out, sessions, invitation lookup),
//!   `/api/v1/tokens`, `/api/v1/users` and `/api/v1/invites`.
//!
//! Sign-up and sign-in are one flow: a verified email that has no user yet gets a new tenant
//! with that user as its owner, unless it arrives with an invitation, which puts it in the
//! inviting tenant with the invitation's role. Answers never tell whether an email has an
//! account: every well-formed email gets a code the same way.

pub mod mail;
pub mod pages;
pub mod routes;
pub mod session;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringside_storage::{now_ms, AuthContext, Credential, SessionAuth, Store};

use crate::rate_limit::{retry_after_secs, Limit, TokenBuckets};
use crate::ApiError;

/// Timings and limits of accounts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AccountsConfig {
    /// How long a mailed code works.
    pub code_ttl: Duration,
    /// A session's absolute lifetime.
    pub session_lifetime: Duration,
    /// A session unused this long ends.
    pub session_idle: Duration,
    /// How long an invitation link works.
    pub invite_ttl: Duration,
    /// Code requests per email address.
    pub code_per_email: Limit,
    /// Code requests per client IP.
    pub code_per_ip: Limit,
    /// Sign-in attempts (and invitation lookups) per client IP.
    pub verify_per_ip: Limit,
    /// Most keys each limit tracks.
    pub max_keys: usize,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        AccountsConfig {
            code_ttl: Duration::from_secs(10 * 60),
            session_lifetime: Duration::from_secs(30 * 24 * 3600),
            session_idle: Duration::from_secs(7 * 24 * 3600),
            invite_ttl: Duration::from_secs(7 * 24 * 3600),
            // Five at once, then one every 30 s: an honest user who asks again a few times a
            // minute is never stopped; a mailbomb gets two messages a minute.
            code_per_email: Limit::new(1.0 / 30.0, 5),
            code_per_ip: Limit::new(0.2, 20),
            verify_per_ip: Limit::new(0.5, 30),
            max_keys: 100_000,
        }
    }
}

/// The accounts side of the application state.
#[derive(Debug)]
pub struct Accounts {
    /// Timings and limits.
    pub config: AccountsConfig,
    /// Outgoing mail.
    pub outbox: mail::MailOutbox,
    /// Recently checked sessions.
    pub sessions: session::SessionCache,
    code_email: TokenBuckets<String>,
    code_ip: TokenBuckets<IpAddr>,
    verify_ip: TokenBuckets<IpAddr>,
    code_requests: AtomicU64,
}

impl Accounts {
    /// Accounts with `config`, mailing through `mailer`.
    pub fn new(config: AccountsConfig, mailer: Arc<dyn mail::Mailer>) -> Accounts {
        Accounts {
            config,
            outbox: mail::MailOutbox::new(mailer),
            sessions: Default::default(),
            code_email: TokenBuckets::new(config.code_per_email, config.max_keys),
            code_ip: TokenBuckets::new(config.code_per_ip, config.max_keys),
            verify_ip: TokenBuckets::new(config.verify_per_ip, config.max_keys),
            code_requests: AtomicU64::new(0),
        }
    }

    /// The live session a cookie's secret names, from the cache or the database.
    pub async fn session(
        &self,
        store: &Store,
        secret: &str,
    ) -> Result<Option<SessionAuth>, ApiError> {
        let key = session::cache_key(secret);
        let now = Instant::now();
        if let Some(auth) = self.sessions.get(&key, now) {
            return Ok(Some(auth));
        }
        let idle = i64::try_from(self.config.session_idle.as_millis()).unwrap_or(i64::MAX);
        let found = store.authenticate_session(secret, now_ms(), idle).await?;
        if let Some(auth) = &found {
            self.sessions.put(key, auth.clone(), now);
        }
        Ok(found)
    }

    fn take(buckets: &TokenBuckets<IpAddr>, ip: Option<IpAddr>) -> Result<(), ApiError> {
        match ip.map(|ip| buckets.check(&ip, Instant::now())) {
            Some(Err(wait)) => Err(ApiError::TooManyRequests {
                retry_after_secs: retry_after_secs(wait),
            }),
            _ => Ok(()),
        }
    }

    /// Takes a code request of `email` from `ip` out of their limits.
    fn limit_code_request(&self, ip: Option<IpAddr>, email: &str) -> Result<(), ApiError> {
        Self::take(&self.code_ip, ip)?;
        self.code_email
            .check(email, Instant::now())
            .map_err(|wait| ApiError::TooManyRequests {
                retry_after_secs: retry_after_secs(wait),
            })
    }

    /// Takes a sign-in attempt from `ip` out of its limit.
    fn limit_verify(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        Self::take(&self.verify_ip, ip)
    }

    /// Whether this code request is one that should also purge expired codes (one in 256).
    fn purge_due(&self) -> bool {
        self.code_requests.fetch_add(1, Ordering::Relaxed) % 256 == 0
    }
}

impl Default for Accounts {
    fn default() -> Self {
        Accounts::new(AccountsConfig::default(), Arc::new(mail::LogMailer))
    }
}

/// What a session may do through `/api/v1`: every scope its user's role allows.
pub fn session_context(auth: &SessionAuth) -> AuthContext {
    AuthContext {
        tenant_id: auth.tenant_id.clone(),
        user_id: auth.user_id.clone(),
        role: auth.role,
        credential: Credential::Session(auth.session_id.clone()),
        scopes: crate::auth::SCOPES
            .iter()
            .filter(|s| auth.role.allows(s))
            .map(|s| (*s).to_owned())
            .collect(),
    }
}
