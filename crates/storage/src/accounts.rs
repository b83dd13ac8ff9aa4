//! Accounts: a user's role in their tenant, email one-time sign-in codes and dashboard
//! sessions.
//!
//! - A sign-in code is [`CODE_DIGITS`] random digits. Only a SHA-256 of the code's id, the
//!   email and the code is stored; requesting a new code retires the email's earlier ones, so
//!   one code is good at a time. A code is used once, until it expires, and for at most
//!   [`MAX_CODE_ATTEMPTS`] wrong tries (counted in the database, so two servers on one
//!   database count together).
//! - A session is a random secret in a cookie; only its SHA-256 is stored. It ends when it is
//!   revoked, at its absolute expiry, or after `idle` without use. Listing and revoking are per
//!   user ("sign out everywhere").
//!
//! Times are passed in (`now`, unix ms), so expiry is tested without waiting.

use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{Result, StorageError};
use crate::users::normalize_email;
use crate::util::{sha256_hex, SecretShape};
use crate::{new_id, Store};

/// What a user may do in their tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including the tenant's users and their roles.
    Owner,
    /// Everything but the tenant's users.
    Admin,
    /// Answers chats and calls; sees what their widgets show.
    Agent,
}

impl Role {
    /// The stored and wire name: `owner`, `admin` or `agent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Agent => "agent",
        }
    }

    /// The role named `s`, if any.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "agent" => Some(Role::Agent),
            _ => None,
        }
    }

    /// Whether a user of this role may hold API `scope`. Owners and admins may hold every
    /// scope; agents only [`AGENT_SCOPES`]. A token's scopes are cut to its creator's role
    /// each time it is used, so demoting a user demotes their tokens at once.
    pub fn allows(self, scope: &str) -> bool {
        match self {
            Role::Owner | Role::Admin => true,
            Role::Agent => AGENT_SCOPES.contains(&scope),
        }
    }

    /// Whether this role manages the tenant's users and invites (owners only).
    pub fn manages_users(self) -> bool {
        self == Role::Owner
    }

    /// The role in a row's `role` column (`users.role`).
    pub(crate) fn from_row(row: &AnyRow) -> Result<Role> {
        Role::parse(&row.try_get::<String, _>("role")?).ok_or(StorageError::Corrupt("users.role"))
    }
}

/// The API scopes an agent may hold: answering chats and calls and seeing what the widgets
/// show; not changing widgets, webhooks or SIP settings.
pub const AGENT_SCOPES: &[&str] = &[
    "widgets:read",
    "analytics:read",
    "messages:read",
    "messages:write",
    "calls:read",
    "calls:write",
    "mcp:read",
];

/// Digits in a sign-in code.
pub const CODE_DIGITS: usize = 6;

/// Wrong tries a code takes before it is dead.
pub const MAX_CODE_ATTEMPTS: i64 = 5;

/// Wrong tries one email's codes take in a day (24 hours) before the email can no longer
/// sign in by code until the day has passed: requesting new codes does not reset it, so a
/// code cannot be guessed by asking for code after code (30 a day against a million codes:
/// about 1 % a year, where the per-email request limit alone would allow some 14,000 a day).
pub const MAX_WRONG_PER_DAY: i64 = 30;
const DAY_MS: i64 = 24 * 3_600_000;

/// What checking a sign-in code found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// The code was right and is now used up: the email is verified.
    Verified,
    /// The code was wrong; this many tries are left on it (0: request a new one).
    Wrong {
        /// Tries left on the email's current code.
        tries_left: i64,
    },
    /// No code waits for this email: none was requested, it was used, or a newer one replaced
    /// it.
    NoCode,
    /// The code's time is up.
    Expired,
    /// The code took [`MAX_CODE_ATTEMPTS`] wrong tries and is dead.
    TooManyTries,
    /// The email's codes took [`MAX_WRONG_PER_DAY`] wrong tries in the last day; no code is
    /// checked until then.
    LockedForToday,
}

/// A fresh sign-in code: [`CODE_DIGITS`] uniformly random digits.
pub fn generate_code() -> String {
    let n: u32 = rand::thread_rng().gen_range(0..1_000_000);
    format!("{n:06}")
}

fn code_hash(id: &str, email: &str, code: &str) -> String {
    let mut h = Sha256::new();
    for part in [id, email, code] {
        h.update(part.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// Prefix of every session secret (lets secret scanners spot a leaked cookie).
pub const SESSION_PREFIX: &str = "ringside_ses_";

/// A session secret: [`SESSION_PREFIX`] and 43 random characters.
const SESSION: SecretShape = SecretShape {
    prefix: SESSION_PREFIX,
    len: 43,
};

/// `last_seen_at` is refreshed at most this often per session.
const LAST_SEEN_RESOLUTION_MS: i64 = 60_000;

/// A dashboard session, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Session id (not secret): what listing and revoking name.
    pub id: String,
    /// The signed-in user.
    pub user_id: String,
    /// The user's tenant.
    pub tenant_id: String,
    /// Sign-in time, unix ms.
    pub created_at: i64,
    /// Last use (minute resolution), unix ms.
    pub last_seen_at: i64,
    /// Absolute expiry, unix ms.
    pub expires_at: i64,
    /// When it was revoked (signed out), unix ms.
    pub revoked_at: Option<i64>,
    /// The browser's User-Agent at sign-in.
    pub user_agent: Option<String>,
    /// The address it signed in from.
    pub ip: Option<String>,
}

/// Who a live session belongs to, as found by [`Store::authenticate_session`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionAuth {
    /// The session.
    pub session_id: String,
    /// The signed-in user.
    pub user_id: String,
    /// The user's tenant.
    pub tenant_id: String,
    /// The user's role now (a role change applies to sessions at once).
    pub role: Role,
    /// The widgets the user may see: `None` for all of the tenant's (owners, admins and
    /// agents given all); some for an agent given only some.
    pub widgets: Option<Vec<String>>,
}

/// Where and how long a new session lives.
#[derive(Debug, Clone, Copy)]
pub struct NewSession<'a> {
    /// The user signing in.
    pub user_id: &'a str,
    /// Sign-in time, unix ms.
    pub now: i64,
    /// Absolute lifetime, ms.
    pub lifetime_ms: i64,
    /// The browser's User-Agent (kept to at most 512 characters).
    pub user_agent: Option<&'a str>,
    /// The client's address.
    pub ip: Option<&'a str>,
}

const SESSION_COLS: &str =
    "id, user_id, tenant_id, created_at, last_seen_at, expires_at, revoked_at, user_agent, ip";

fn session_from_row(row: &AnyRow) -> Result<SessionInfo> {
    Ok(SessionInfo {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        tenant_id: row.try_get("tenant_id")?,
        created_at: row.try_get("created_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        user_agent: row.try_get("user_agent")?,
        ip: row.try_get("ip")?,
    })
}

impl Store {
    /// The widgets a user of `role` may see: agents' as given, everyone else all.
    pub(crate) async fn widgets_of(
        &self,
        user_id: &str,
        role: Role,
    ) -> Result<Option<Vec<String>>> {
        if role != Role::Agent {
            return Ok(None);
        }
        self.user_widgets(user_id).await
    }

    /// The widgets a user may see now (as [`Store::widgets_of`] for their current role);
    /// NotFound for a user that is gone.
    pub async fn visible_widgets(&self, user_id: &str) -> Result<Option<Vec<String>>> {
        let user = self.get_user(user_id).await?;
        self.widgets_of(user_id, user.role).await
    }

    /// Stores a new sign-in code for `email`, good until `now + ttl_ms`, retires the email's
    /// earlier codes, and returns the code to mail (it is not stored). An invalid email is
    /// [`StorageError::Invalid`].
    pub async fn create_email_code(&self, email: &str, now: i64, ttl_ms: i64) -> Result<String> {
        let email = normalize_email(email)?;
        let code = generate_code();
        let id = new_id();
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE email_codes SET used_at = $1 WHERE email = $2 AND used_at IS NULL")
            .bind(now)
            .bind(&email)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO email_codes (id, email, code_hash, created_at, expires_at, attempts) \
             VALUES ($1, $2, $3, $4, $5, 0)",
        )
        .bind(&id)
        .bind(&email)
        .bind(code_hash(&id, &email, &code))
        .bind(now)
        .bind(now + ttl_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(code)
    }

    /// Checks `code` against the email's current code at `now`. A right code is used up
    /// ([`CodeCheck::Verified`] is given once, even to two concurrent tries); a wrong one
    /// counts against the code's [`MAX_CODE_ATTEMPTS`]. An invalid email is
    /// [`StorageError::Invalid`].
    pub async fn verify_email_code(&self, email: &str, code: &str, now: i64) -> Result<CodeCheck> {
        let email = normalize_email(email)?;
        let wrong_today: i64 = sqlx::query(
            "SELECT CAST(COALESCE(SUM(attempts), 0) AS BIGINT) AS n FROM email_codes \
             WHERE email = $1 AND created_at > $2",
        )
        .bind(&email)
        .bind(now - DAY_MS)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        if wrong_today >= MAX_WRONG_PER_DAY {
            return Ok(CodeCheck::LockedForToday);
        }
        let row = sqlx::query(
            "SELECT id, code_hash, expires_at, attempts FROM email_codes \
             WHERE email = $1 AND used_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(&email)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(CodeCheck::NoCode);
        };
        let id: String = row.try_get("id")?;
        let stored: String = row.try_get("code_hash")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        let attempts: i64 = row.try_get("attempts")?;
        if expires_at <= now {
            return Ok(CodeCheck::Expired);
        }
        if attempts >= MAX_CODE_ATTEMPTS {
            return Ok(CodeCheck::TooManyTries);
        }
        let code = code.trim();
        let right = code.len() == CODE_DIGITS
            && code.bytes().all(|b| b.is_ascii_digit())
            && code_hash(&id, &email, code) == stored;
        if right {
            let used = sqlx::query(
                "UPDATE email_codes SET used_at = $1 \
                 WHERE id = $2 AND used_at IS NULL AND attempts < $3",
            )
            .bind(now)
            .bind(&id)
            .bind(MAX_CODE_ATTEMPTS)
            .execute(&self.pool)
            .await?;
            // Zero rows: a concurrent try used it (or the last wrong try killed it) first.
            return Ok(if used.rows_affected() == 1 {
                CodeCheck::Verified
            } else {
                CodeCheck::NoCode
            });
        }
        let counted = sqlx::query(
            "UPDATE email_codes SET attempts = attempts + 1 \
             WHERE id = $1 AND used_at IS NULL AND attempts < $2 RETURNING attempts",
        )
        .bind(&id)
        .bind(MAX_CODE_ATTEMPTS)
        .fetch_optional(&self.pool)
        .await?;
        // No row: concurrent wrong tries used the last ones up first.
        let Some(counted) = counted else {
            return Ok(CodeCheck::TooManyTries);
        };
        let attempts: i64 = counted.try_get("attempts")?;
        Ok(CodeCheck::Wrong {
            tries_left: (MAX_CODE_ATTEMPTS - attempts).max(0),
        })
    }

    /// Deletes sign-in codes that expired before `before`; returns how many.
    pub async fn purge_email_codes(&self, before: i64) -> Result<u64> {
        let res = sqlx::query("DELETE FROM email_codes WHERE expires_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected())
    }

    /// Deletes sessions that expired or were revoked before `before`, and invitations that
    /// expired, were used or were withdrawn before it; returns how many rows went.
    pub async fn purge_sessions_and_invites(&self, before: i64) -> Result<u64> {
        let a = sqlx::query(
            "DELETE FROM sessions WHERE expires_at < $1 OR (revoked_at IS NOT NULL AND revoked_at < $1)",
        )
        .bind(before)
        .execute(&self.pool)
        .await?;
        let b = sqlx::query(
            "DELETE FROM invites WHERE expires_at < $1 OR (accepted_at IS NOT NULL AND accepted_at < $1) \
             OR (revoked_at IS NOT NULL AND revoked_at < $1)",
        )
        .bind(before)
        .execute(&self.pool)
        .await?;
        Ok(a.rows_affected() + b.rows_affected())
    }

    /// Signs `new.user_id` in: stores a session and returns it with its secret (for the
    /// cookie; it is not stored and cannot be shown again). Unknown user: NotFound.
    pub async fn create_session(&self, new: NewSession<'_>) -> Result<(SessionInfo, String)> {
        let user = self.get_user(new.user_id).await?;
        let secret = SESSION.generate();
        let clip = |s: Option<&str>, n: usize| s.map(|s| s.chars().take(n).collect::<String>());
        let info = SessionInfo {
            id: new_id(),
            user_id: user.id,
            tenant_id: user.tenant_id,
            created_at: new.now,
            last_seen_at: new.now,
            expires_at: new.now + new.lifetime_ms,
            revoked_at: None,
            user_agent: clip(new.user_agent, 512),
            ip: clip(new.ip, 64),
        };
        sqlx::query(
            "INSERT INTO sessions (id, token_hash, user_id, tenant_id, created_at, last_seen_at, \
             expires_at, user_agent, ip) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&info.id)
        .bind(sha256_hex(&secret))
        .bind(&info.user_id)
        .bind(&info.tenant_id)
        .bind(info.created_at)
        .bind(info.last_seen_at)
        .bind(info.expires_at)
        .bind(&info.user_agent)
        .bind(&info.ip)
        .execute(&self.pool)
        .await
        .map_err(|e| StorageError::from_write(e, "session"))?;
        Ok((info, secret))
    }

    /// Resolves a session secret at `now`. `None` when it is malformed, unknown, revoked,
    /// past its absolute expiry, or unused for `idle_ms`. Refreshes `last_seen_at` at most
    /// once a minute.
    pub async fn authenticate_session(
        &self,
        secret: &str,
        now: i64,
        idle_ms: i64,
    ) -> Result<Option<SessionAuth>> {
        if !SESSION.matches(secret) {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT s.id, s.user_id, s.tenant_id, s.last_seen_at, s.expires_at, s.revoked_at, \
             u.role FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1",
        )
        .bind(sha256_hex(secret))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let revoked_at: Option<i64> = row.try_get("revoked_at")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        let last_seen_at: i64 = row.try_get("last_seen_at")?;
        if revoked_at.is_some() || expires_at <= now || now - last_seen_at >= idle_ms {
            return Ok(None);
        }
        let user_id: String = row.try_get("user_id")?;
        let role = Role::from_row(&row)?;
        let auth = SessionAuth {
            session_id: row.try_get("id")?,
            widgets: self.widgets_of(&user_id, role).await?,
            user_id,
            tenant_id: row.try_get("tenant_id")?,
            role,
        };
        if now - last_seen_at >= LAST_SEEN_RESOLUTION_MS {
            sqlx::query(
                "UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1",
            )
            .bind(now)
            .bind(&auth.session_id)
            .execute(&self.pool)
            .await?;
        }
        Ok(Some(auth))
    }

    /// The user's sessions still live at `now` (not revoked, not expired), newest first.
    pub async fn list_sessions(&self, user_id: &str, now: i64) -> Result<Vec<SessionInfo>> {
        let sql = format!(
            "SELECT {SESSION_COLS} FROM sessions WHERE user_id = $1 AND revoked_at IS NULL \
             AND expires_at > $2 ORDER BY created_at DESC, id DESC"
        );
        let rows = sqlx::query(&sql)
            .bind(user_id)
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(session_from_row).collect()
    }

    /// Signs one of the user's sessions out (idempotent: the first time is kept). NotFound
    /// when it is not this user's.
    pub async fn revoke_session(&self, user_id: &str, session_id: &str, now: i64) -> Result<()> {
        let res = sqlx::query(
            "UPDATE sessions SET revoked_at = COALESCE(revoked_at, $1) \
             WHERE id = $2 AND user_id = $3",
        )
        .bind(now)
        .bind(session_id)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        if res.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        Ok(())
    }

    /// Signs the user out everywhere; returns how many sessions were still signed in.
    pub async fn revoke_all_sessions(&self, user_id: &str, now: i64) -> Result<u64> {
        let res = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_vary() {
        let codes: Vec<String> = (0..200).map(|_| generate_code()).collect();
        assert!(codes
            .iter()
            .all(|c| c.len() == CODE_DIGITS && c.bytes().all(|b| b.is_ascii_digit())));
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert!(distinct.len() > 190, "{} distinct of 200", distinct.len());
    }

    #[test]
    fn a_code_hash_binds_the_code_to_its_id_and_email() {
        let h = code_hash("id1", "a@example.com", "123456");
        assert_eq!(h.len(), 64);
        assert_ne!(h, code_hash("id2", "a@example.com", "123456"));
        assert_ne!(h, code_hash("id1", "b@example.com", "123456"));
        assert_ne!(h, code_hash("id1", "a@example.com", "123457"));
    }

    #[test]
    fn session_secrets_have_their_shape() {
        let s = SESSION.generate();
        assert!(SESSION.matches(&s));
        assert!(!SESSION.matches("ringside_ses_short"));
        assert!(!SESSION.matches(&s.replace(SESSION_PREFIX, "ringside_pat_")));
        assert_ne!(SESSION.generate(), s);
    }

    #[test]
    fn roles_round_trip() {
        for r in [Role::Owner, Role::Admin, Role::Agent] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
