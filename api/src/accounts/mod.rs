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
    /// Invitations sent per tenant.
    pub invites_per_tenant: Limit,
    /// Client registrations (`/oauth/register`) per client IP.
    pub oauth_register_per_ip: Limit,
    /// Token requests (`/oauth/token`, `/oauth/revoke`) per client IP.
    pub oauth_token_per_ip: Limit,
    /// How long an OAuth authorization code works.
    pub oauth_code_ttl: Duration,
    /// How long an OAuth access token works.
    pub oauth_access_ttl: Duration,
    /// How long an OAuth refresh token works (each refresh starts a new one).
    pub oauth_refresh_ttl: Duration,
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
            // Twenty at once, then one every 3 minutes.
            invites_per_tenant: Limit::new(1.0 / 180.0, 20),
            // Ten at once, then one a minute: a person connects a few assistants, a script
            // filling the table does not get far.
            oauth_register_per_ip: Limit::new(1.0 / 60.0, 10),
            oauth_token_per_ip: Limit::new(1.0, 60),
            oauth_code_ttl: Duration::from_secs(5 * 60),
            oauth_access_ttl: Duration::from_secs(3600),
            oauth_refresh_ttl: Duration::from_secs(30 * 24 * 3600),
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
    invite_tenant: TokenBuckets<String>,
    oauth_register_ip: TokenBuckets<IpAddr>,
    oauth_token_ip: TokenBuckets<IpAddr>,
    code_requests: AtomicU64,
    sign_ins: AtomicU64,
    sign_in_failures: AtomicU64,
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
            invite_tenant: TokenBuckets::new(config.invites_per_tenant, config.max_keys),
            oauth_register_ip: TokenBuckets::new(config.oauth_register_per_ip, config.max_keys),
            oauth_token_ip: TokenBuckets::new(config.oauth_token_per_ip, config.max_keys),
            code_requests: AtomicU64::new(0),
            sign_ins: AtomicU64::new(0),
            sign_in_failures: AtomicU64::new(0),
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
        let epoch = self.sessions.epoch();
        let found = store.authenticate_session(secret, now_ms(), idle).await?;
        if let Some(auth) = &found {
            self.sessions.put(key, auth.clone(), now, epoch);
        }
        Ok(found)
    }

    fn take(buckets: &TokenBuckets<IpAddr>, ip: Option<IpAddr>) -> Result<(), ApiError> {
        match ip.map(|ip| buckets.check(&limit_key(ip), Instant::now())) {
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

    /// Takes an invitation by `tenant_id` to `email` out of the tenant's limit and out of
    /// the recipient's (the one sign-in codes to that address also take from), so invitations
    /// cannot mail anyone more than codes can.
    fn limit_invite(&self, tenant_id: &str, email: &str) -> Result<(), ApiError> {
        let now = Instant::now();
        let wait = self
            .invite_tenant
            .check(tenant_id, now)
            .and_then(|()| self.code_email.check(email, now));
        wait.map_err(|wait| ApiError::TooManyRequests {
            retry_after_secs: retry_after_secs(wait),
        })
    }

    /// Takes a client registration from `ip` out of its limit.
    pub(crate) fn limit_oauth_register(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        Self::take(&self.oauth_register_ip, ip)
    }

    /// Takes a token or revocation request from `ip` out of its limit.
    pub(crate) fn limit_oauth_token(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        Self::take(&self.oauth_token_ip, ip)
    }

    /// Takes a sign-in attempt from `ip` out of its limit.
    fn limit_verify(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        Self::take(&self.verify_ip, ip)
    }

    /// Counts a sign-in that succeeded (`true`) or was refused for its code or invitation.
    fn count_sign_in(&self, ok: bool) {
        let c = if ok {
            &self.sign_ins
        } else {
            &self.sign_in_failures
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Appends the accounts' Prometheus metrics: codes asked for, sign-ins, mail, sessions
    /// cached.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        let m = &self.outbox.stats;
        let counters = [
            (
                "ringside_auth_code_requests_total",
                "Sign-in codes asked for (accepted requests).",
                self.code_requests.load(Ordering::Relaxed),
            ),
            (
                "ringside_auth_sign_ins_total",
                "Sign-ins that made a session.",
                self.sign_ins.load(Ordering::Relaxed),
            ),
            (
                "ringside_auth_sign_in_failures_total",
                "Sign-ins refused for a wrong, used, expired or locked code.",
                self.sign_in_failures.load(Ordering::Relaxed),
            ),
            (
                "ringside_mail_sent_total",
                "Messages (codes, invitations) handed to the mail server or the log.",
                m.sent.load(Ordering::Relaxed),
            ),
            (
                "ringside_mail_failed_total",
                "Messages the mail server did not take.",
                m.failed.load(Ordering::Relaxed),
            ),
            (
                "ringside_mail_refused_total",
                "Messages refused because the outbox was full (the request got 503).",
                m.refused.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP ringside_sessions_cached Dashboard sessions in the session cache.\n\
             # TYPE ringside_sessions_cached gauge\nringside_sessions_cached {}",
            self.sessions.len()
        );
    }

    /// Whether this code request is one that should also purge expired codes (one in 256).
    fn purge_due(&self) -> bool {
        self.code_requests
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(256)
    }
}

impl Default for Accounts {
    fn default() -> Self {
        Accounts::new(AccountsConfig::default(), Arc::new(mail::LogMailer))
    }
}

/// The key an address is limited under: IPv4 as is, IPv6 by its /64 (one subscriber's
/// network has a whole /64 to rotate through).
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let mut o = v6.octets();
            o[8..].fill(0);
            IpAddr::V6(std::net::Ipv6Addr::from(o))
        }
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
        widgets: auth.widgets.clone(),
    }
}

/// For a caller given only some widgets (an agent): what of `/api/v1` they may reach. A
/// widget's own routes (`/widgets/{id}/…`) for their widgets (another's answers 404, as if it
/// did not exist), the widget list (filtered), and what concerns only themself or the account
/// as a whole (sign-in, sessions, tokens, the team list, usage), their own alert rules (a rule
/// names only widgets its user sees, and its alerts never tell of another: checked by the
/// handlers and again when sent), and the inbox (filtered to their widgets by its handler). Everything else spans every
/// widget (calls, contacts, recordings, analytics across widgets) and is refused (403): fail
/// closed, so a route added later is not an open door.
pub fn within_widgets(ctx: &AuthContext, path: &str) -> Result<(), ApiError> {
    let Some(allowed) = &ctx.widgets else {
        return Ok(());
    };
    let rest = path.strip_prefix("/api/v1").unwrap_or(path);
    let segs: Vec<&str> = rest.trim_matches('/').split('/').collect();
    match segs.as_slice() {
        ["widgets"]
        | ["conversations"]
        | ["canned-replies", ..]
        | ["auth", ..]
        | ["tokens", ..]
        | ["users"]
        | ["alert-rules", ..]
        | ["account", "usage"] => Ok(()),
        ["widgets", id, ..] => {
            if allowed.iter().any(|w| w == id) {
                Ok(())
            } else {
                Err(ApiError::NotFound)
            }
        }
        _ => Err(ApiError::RoleForbidden(
            "users who see every widget (you were given some)",
        )),
    }
}
