//! Personal access tokens for the HTTP API.
//!
//! A token is `ringside_pat_` followed by 40 random alphanumeric characters.
//! Only its SHA-256 hex hash is stored; the plaintext is returned once, by
//! [`Store::create_token`]. Lookups hash the presented token and search by
//! hash, so no plaintext comparison ever happens.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::accounts::Role;
use crate::error::{Result, StorageError};
use crate::util::{id_list, json_list, required, sha256_hex, to_json, SecretShape};
use crate::{new_id, now_ms, Store};

/// Prefix of every personal access token (lets secret scanners spot them).
pub const TOKEN_PREFIX: &str = "ringside_pat_";

/// A token: [`TOKEN_PREFIX`] and 40 random characters.
const TOKEN: SecretShape = SecretShape {
    prefix: TOKEN_PREFIX,
    len: 40,
};

/// `last_used_at` is refreshed at most this often per token.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// A stored token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// Token id (UUID, see [`crate::new_id`]); not secret.
    pub id: String,
    /// The user who created the token.
    pub user_id: String,
    /// The user's tenant; the token acts within it.
    pub tenant_id: String,
    /// Human label.
    pub name: String,
    /// Granted scopes, as given at creation.
    pub scopes: Vec<String>,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Last successful authentication (minute resolution), unix ms.
    pub last_used_at: Option<i64>,
    /// When the token was revoked, unix ms; a revoked token never authenticates.
    pub revoked_at: Option<i64>,
}

/// What a request authenticated with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Credential {
    /// A personal access token (its id).
    Token(String),
    /// A dashboard session cookie (the session's id).
    Session(String),
    /// An OAuth access token (its grant's id).
    OAuth(String),
}

/// Who is calling, as established by [`Store::authenticate_token`] (or, for a session, by the
/// API from [`Store::authenticate_session`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthContext {
    /// Tenant the request acts in.
    pub tenant_id: String,
    /// User who owns the token or the session.
    pub user_id: String,
    /// The user's role now: a token never does more than its creator may.
    pub role: Role,
    /// The token or session used.
    pub credential: Credential,
    /// Scopes granted to the token (for a session: every scope of the user's role).
    pub scopes: Vec<String>,
    /// The widgets the caller may see: `None` for all of the tenant's; some for an agent
    /// given only some.
    pub widgets: Option<Vec<String>>,
}

const TOKEN_COLS: &str =
    "id, user_id, tenant_id, name, scopes, created_at, last_used_at, revoked_at";

fn token_from_row(row: &AnyRow) -> Result<TokenInfo> {
    Ok(TokenInfo {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        tenant_id: row.try_get("tenant_id")?,
        name: row.try_get("name")?,
        scopes: json_list(row, "scopes")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

impl Store {
    /// Creates a token for `user_id` (in the user's tenant) and returns its
    /// info and the plaintext, which is not stored and cannot be shown again.
    ///
    /// `name` must be non-empty (at most 100 chars); scopes must be non-empty
    /// strings without whitespace (at most 64). Unknown user: NotFound.
    pub async fn create_token(
        &self,
        user_id: &str,
        name: &str,
        scopes: &[String],
    ) -> Result<(TokenInfo, String)> {
        let name = required(name, 100, "token name")?;
        id_list(scopes, 64, "scopes")?;
        let user = self.get_user(user_id).await?;
        let plaintext = TOKEN.generate();
        let info = TokenInfo {
            id: new_id(),
            user_id: user.id,
            tenant_id: user.tenant_id,
            name,
            scopes: scopes.to_vec(),
            created_at: now_ms(),
            last_used_at: None,
            revoked_at: None,
        };
        sqlx::query(
            "INSERT INTO tokens (id, tenant_id, user_id, name, token_hash, scopes, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&info.id)
        .bind(&info.tenant_id)
        .bind(&info.user_id)
        .bind(&info.name)
        .bind(sha256_hex(&plaintext))
        .bind(to_json(&info.scopes))
        .bind(info.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| StorageError::from_write(e, "token"))?;
        Ok((info, plaintext))
    }

    /// Resolves a presented token. `None` when it is malformed, unknown or
    /// revoked. Refreshes `last_used_at` at most once a minute per token.
    pub async fn authenticate_token(&self, plaintext: &str) -> Result<Option<AuthContext>> {
        let plaintext = plaintext.trim();
        if !TOKEN.matches(plaintext) {
            return Ok(None);
        }
        let sql = "SELECT t.id, t.user_id, t.tenant_id, t.name, t.scopes, t.created_at, \
             t.last_used_at, t.revoked_at, u.role FROM tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1";
        let Some(row) = sqlx::query(sql)
            .bind(sha256_hex(plaintext))
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let info = token_from_row(&row)?;
        let role = Role::from_row(&row)?;
        if info.revoked_at.is_some() {
            return Ok(None);
        }
        let now = now_ms();
        if info
            .last_used_at
            .is_none_or(|t| now - t >= LAST_USED_RESOLUTION_MS)
        {
            sqlx::query(
                "UPDATE tokens SET last_used_at = $1 \
                 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $3)",
            )
            .bind(now)
            .bind(&info.id)
            .bind(now - LAST_USED_RESOLUTION_MS)
            .execute(&self.pool)
            .await?;
        }
        let widgets = self.widgets_of(&info.user_id, role).await?;
        Ok(Some(AuthContext {
            tenant_id: info.tenant_id,
            user_id: info.user_id,
            role,
            credential: Credential::Token(info.id),
            scopes: info.scopes.into_iter().filter(|s| role.allows(s)).collect(),
            widgets,
        }))
    }

    /// Revokes a token of this tenant (idempotent: the first revocation time
    /// is kept). NotFound when the token is not the tenant's.
    pub async fn revoke_token(&self, tenant_id: &str, token_id: &str) -> Result<()> {
        let res = sqlx::query(
            "UPDATE tokens SET revoked_at = COALESCE(revoked_at, $1) \
             WHERE id = $2 AND tenant_id = $3",
        )
        .bind(now_ms())
        .bind(token_id)
        .bind(tenant_id)
        .execute(&self.pool)
        .await?;
        if res.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        Ok(())
    }

    /// All tokens of a tenant, revoked ones included, oldest first.
    pub async fn list_tokens(&self, tenant_id: &str) -> Result<Vec<TokenInfo>> {
        let sql =
            format!("SELECT {TOKEN_COLS} FROM tokens WHERE tenant_id = $1 ORDER BY created_at, id");
        let rows = sqlx::query(&sql)
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(token_from_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shape() {
        let t = TOKEN.generate();
        assert!(t.starts_with(TOKEN_PREFIX));
        assert_eq!(t.len(), TOKEN_PREFIX.len() + 40);
        assert!(TOKEN.matches(&t));
        assert!(!TOKEN.matches("ringside_pat_short"));
        assert!(!TOKEN.matches(&format!("{TOKEN_PREFIX}{}", "-".repeat(40))));
        assert_ne!(TOKEN.generate(), t);
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
