//! OAuth 2.1 authorization server state: clients, authorization codes, grants and their
//! access and refresh tokens (issue 16: AI agents' MCP clients connect without a personal
//! access token).
//!
//! - A client is registered dynamically (RFC 7591; a random id, a secret for confidential
//!   clients) or known by its Client ID Metadata Document (its id is the document's https URL;
//!   the row caches what the document said).
//! - A code is good once, for minutes. It names the grant it makes, so a code presented twice
//!   revokes that grant: whoever replayed it loses what the first exchange issued (RFC 6749
//!   §4.1.2).
//! - A grant is one user's consent to one client, with scopes and one resource (RFC 8707).
//!   Its access tokens are short-lived; each refresh token works once and is replaced by a new
//!   pair (rotation). A refresh token presented again revokes the grant, so a stolen token and
//!   the real client cannot both go on.
//! - Codes, tokens and secrets are random strings with their own prefixes (`ringside_oac_`,
//!   `ringside_oat_`, `ringside_ort_`, `ringside_ocs_`); only their SHA-256 is stored. Access
//!   tokens have a prefix of their own so that the REST API, which takes personal access
//!   tokens only, never mistakes one for the other.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::accounts::Role;
use crate::error::{Result, StorageError};
use crate::tokens::{AuthContext, Credential};
use crate::util::{json_list, sha256_hex, to_json, SecretShape};
use crate::{new_id, Store};

/// Prefix of OAuth access tokens.
pub const ACCESS_TOKEN_PREFIX: &str = "ringside_oat_";
/// Prefix of OAuth refresh tokens.
pub const REFRESH_TOKEN_PREFIX: &str = "ringside_ort_";

const ACCESS: SecretShape = SecretShape {
    prefix: ACCESS_TOKEN_PREFIX,
    len: 43,
};
const REFRESH: SecretShape = SecretShape {
    prefix: REFRESH_TOKEN_PREFIX,
    len: 43,
};
const CODE: SecretShape = SecretShape {
    prefix: "ringside_oac_",
    len: 43,
};
const CLIENT_SECRET: SecretShape = SecretShape {
    prefix: "ringside_ocs_",
    len: 43,
};

/// A grant's `last_used_at` is refreshed at most this often.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// How a client came to be known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    /// Registered through `/oauth/register` (RFC 7591).
    Registered,
    /// Its id is the URL of its Client ID Metadata Document.
    Document,
}

impl ClientKind {
    fn as_str(self) -> &'static str {
        match self {
            ClientKind::Registered => "registered",
            ClientKind::Document => "document",
        }
    }
}

/// An OAuth client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthClient {
    /// The `client_id`.
    pub id: String,
    /// Registered or known by document.
    pub kind: ClientKind,
    /// What the consent page calls it.
    pub name: String,
    /// Its home page, if it said.
    pub client_uri: Option<String>,
    /// Where codes may be sent.
    pub redirect_uris: Vec<String>,
    /// `none`, `client_secret_post` or `client_secret_basic`.
    pub auth_method: String,
    /// When it was registered (first seen), unix ms.
    pub created_at: i64,
    /// When its document was last read (registration time for registered clients), unix ms.
    pub fetched_at: i64,
}

impl OAuthClient {
    /// Whether the client authenticates with a secret at the token endpoint.
    pub fn confidential(&self) -> bool {
        self.auth_method != "none"
    }
}

/// A client to register or refresh.
#[derive(Debug, Clone)]
pub struct NewOAuthClient<'a> {
    /// For [`ClientKind::Document`], the document URL; registered clients get a random id.
    pub kind: ClientKind,
    /// The document URL (documents only).
    pub id: Option<&'a str>,
    /// Display name (at most 200 characters).
    pub name: &'a str,
    /// Home page.
    pub client_uri: Option<&'a str>,
    /// Redirect URIs, already checked by the caller (1 to 20).
    pub redirect_uris: &'a [String],
    /// `none`, `client_secret_post` or `client_secret_basic` (documents: `none`).
    pub auth_method: &'a str,
    /// Now, unix ms.
    pub now: i64,
}

/// A code to issue after consent.
#[derive(Debug, Clone)]
pub struct NewOAuthCode<'a> {
    /// The client.
    pub client_id: &'a str,
    /// The user who consented.
    pub user_id: &'a str,
    /// The redirect URI the authorization request named (the token request must repeat it).
    pub redirect_uri: &'a str,
    /// The PKCE S256 code challenge.
    pub challenge: &'a str,
    /// The scopes consented to.
    pub scopes: &'a [String],
    /// The resource the tokens are for (RFC 8707).
    pub resource: &'a str,
    /// Now, unix ms.
    pub now: i64,
    /// How long the code works.
    pub ttl_ms: i64,
}

/// A code as stored, shown to the exchange's check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthCode {
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI of the authorization request.
    pub redirect_uri: String,
    /// The PKCE S256 challenge.
    pub challenge: String,
    /// Consented scopes.
    pub scopes: Vec<String>,
    /// The resource.
    pub resource: String,
}

/// Lifetimes of the tokens an exchange issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLifetimes {
    /// Access tokens.
    pub access_ms: i64,
    /// Refresh tokens (each rotation starts a new one).
    pub refresh_ms: i64,
}

/// Tokens issued by an exchange or a refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedTokens {
    /// The grant they belong to.
    pub grant_id: String,
    /// The access token (shown once).
    pub access_token: String,
    /// The refresh token (shown once).
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in_secs: i64,
    /// The grant's scopes.
    pub scopes: Vec<String>,
}

/// What presenting a code (or a refresh token) came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exchange<E> {
    /// Tokens.
    Issued(IssuedTokens),
    /// No such code or token (or it expired, or its grant was revoked).
    Unknown,
    /// It was used before: what that use issued is revoked now.
    Replayed,
    /// The caller's check refused it (the code is used up anyway).
    Refused(E),
}

/// A grant as the connected-apps list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuthGrant {
    /// Grant id.
    pub id: String,
    /// The client.
    pub client_id: String,
    /// The client's name.
    pub client_name: String,
    /// The user who consented.
    pub user_id: String,
    /// Consented scopes.
    pub scopes: Vec<String>,
    /// The resource its tokens are for.
    pub resource: String,
    /// When consent was given, unix ms.
    pub created_at: i64,
    /// Last time one of its tokens was used (minute resolution), unix ms.
    pub last_used_at: Option<i64>,
}

/// What revoking a token (RFC 7009) came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// Revoked (a refresh token: its whole grant), or it was not valid anyway.
    Done,
    /// The token belongs to another client: nothing was changed.
    OtherClient,
}

const CLIENT_COLS: &str =
    "id, kind, name, client_uri, redirect_uris, auth_method, created_at, fetched_at";

fn client_from_row(row: &AnyRow) -> Result<OAuthClient> {
    let kind = match row.try_get::<String, _>("kind")?.as_str() {
        "registered" => ClientKind::Registered,
        "document" => ClientKind::Document,
        _ => return Err(StorageError::Corrupt("oauth_clients.kind")),
    };
    Ok(OAuthClient {
        id: row.try_get("id")?,
        kind,
        name: row.try_get("name")?,
        client_uri: row.try_get("client_uri")?,
        redirect_uris: json_list(row, "redirect_uris")?,
        auth_method: row.try_get("auth_method")?,
        created_at: row.try_get("created_at")?,
        fetched_at: row.try_get("fetched_at")?,
    })
}

fn check_client(new: &NewOAuthClient<'_>) -> Result<()> {
    if new.name.trim().is_empty() || new.name.chars().count() > 200 {
        return Err(StorageError::Invalid("client name"));
    }
    if new.redirect_uris.is_empty()
        || new.redirect_uris.len() > 20
        || new
            .redirect_uris
            .iter()
            .any(|u| u.is_empty() || u.len() > 2000)
    {
        return Err(StorageError::Invalid("redirect_uris"));
    }
    if !matches!(
        new.auth_method,
        "none" | "client_secret_post" | "client_secret_basic"
    ) {
        return Err(StorageError::Invalid("token_endpoint_auth_method"));
    }
    Ok(())
}

/// A new access and refresh token for `grant_id`, written through `tx`.
async fn issue_pair(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    grant_id: &str,
    scopes: Vec<String>,
    now: i64,
    ttl: TokenLifetimes,
) -> Result<IssuedTokens> {
    let access = ACCESS.generate();
    let refresh = REFRESH.generate();
    for (secret, kind, life) in [
        (&access, "access", ttl.access_ms),
        (&refresh, "refresh", ttl.refresh_ms),
    ] {
        sqlx::query(
            "INSERT INTO oauth_tokens (token_hash, grant_id, kind, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(sha256_hex(secret))
        .bind(grant_id)
        .bind(kind)
        .bind(now)
        .bind(now.saturating_add(life))
        .execute(&mut **tx)
        .await?;
    }
    Ok(IssuedTokens {
        grant_id: grant_id.to_owned(),
        access_token: access,
        refresh_token: refresh,
        expires_in_secs: ttl.access_ms / 1000,
        scopes,
    })
}

async fn revoke_grant_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    grant_id: &str,
    now: i64,
) -> Result<()> {
    sqlx::query("UPDATE oauth_grants SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
        .bind(now)
        .bind(grant_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM oauth_tokens WHERE grant_id = $1")
        .bind(grant_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// Registers a client (RFC 7591). Returns it and, for a confidential client, its secret
    /// (shown once). Invalid input: [`StorageError::Invalid`] naming the field.
    pub async fn register_oauth_client(
        &self,
        new: NewOAuthClient<'_>,
    ) -> Result<(OAuthClient, Option<String>)> {
        check_client(&new)?;
        let secret = (new.auth_method != "none").then(|| CLIENT_SECRET.generate());
        let client = OAuthClient {
            id: new.id.map_or_else(new_id, str::to_owned),
            kind: new.kind,
            name: new.name.trim().to_owned(),
            client_uri: new.client_uri.map(str::to_owned),
            redirect_uris: new.redirect_uris.to_vec(),
            auth_method: new.auth_method.to_owned(),
            created_at: new.now,
            fetched_at: new.now,
        };
        // A document's client is refreshed in place when it is read again: its grants stay.
        sqlx::query(
            "INSERT INTO oauth_clients (id, kind, name, client_uri, redirect_uris, auth_method, \
             secret_hash, created_at, fetched_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, \
             client_uri = EXCLUDED.client_uri, redirect_uris = EXCLUDED.redirect_uris, \
             fetched_at = EXCLUDED.fetched_at WHERE oauth_clients.kind = 'document'",
        )
        .bind(&client.id)
        .bind(client.kind.as_str())
        .bind(&client.name)
        .bind(&client.client_uri)
        .bind(to_json(&client.redirect_uris))
        .bind(&client.auth_method)
        .bind(secret.as_deref().map(sha256_hex))
        .bind(client.created_at)
        .bind(client.fetched_at)
        .execute(&self.pool)
        .await
        .map_err(|e| StorageError::from_write(e, "oauth client"))?;
        if client.kind == ClientKind::Document {
            // First seen earlier: as stored (its creation time).
            if let Some(stored) = self.oauth_client(&client.id).await? {
                return Ok((stored, None));
            }
        }
        Ok((client, secret))
    }

    /// The client with this id, if known.
    pub async fn oauth_client(&self, id: &str) -> Result<Option<OAuthClient>> {
        let sql = format!("SELECT {CLIENT_COLS} FROM oauth_clients WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(client_from_row).transpose()
    }

    /// Whether `secret` is the secret of confidential client `id` (by hash).
    pub async fn oauth_client_secret_ok(&self, id: &str, secret: &str) -> Result<bool> {
        if !CLIENT_SECRET.matches(secret.trim()) {
            return Ok(false);
        }
        let row = sqlx::query("SELECT secret_hash FROM oauth_clients WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let stored: Option<String> = match row {
            Some(r) => r.try_get("secret_hash")?,
            None => None,
        };
        Ok(stored.is_some_and(|h| h == sha256_hex(secret.trim())))
    }

    /// Issues a one-time authorization code after the user's consent; returns the code.
    pub async fn create_oauth_code(&self, new: NewOAuthCode<'_>) -> Result<String> {
        let code = CODE.generate();
        sqlx::query(
            "INSERT INTO oauth_codes (code_hash, grant_id, client_id, user_id, redirect_uri, \
             challenge, scopes, resource, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(sha256_hex(&code))
        .bind(new_id())
        .bind(new.client_id)
        .bind(new.user_id)
        .bind(new.redirect_uri)
        .bind(new.challenge)
        .bind(to_json(new.scopes))
        .bind(new.resource)
        .bind(new.now)
        .bind(new.now.saturating_add(new.ttl_ms))
        .execute(&self.pool)
        .await
        .map_err(|e| StorageError::from_write(e, "oauth code"))?;
        Ok(code)
    }

    /// Exchanges a code for tokens. The code is used up by any presentation that finds it
    /// unused; `check` then judges it (client, redirect URI, PKCE verifier, resource) and
    /// its refusal is returned as [`Exchange::Refused`]. A code presented again revokes the
    /// grant its first exchange made ([`Exchange::Replayed`]).
    pub async fn exchange_oauth_code<E>(
        &self,
        code: &str,
        now: i64,
        ttl: TokenLifetimes,
        check: impl FnOnce(&OAuthCode) -> std::result::Result<(), E>,
    ) -> Result<Exchange<E>> {
        let code = code.trim();
        if !CODE.matches(code) {
            return Ok(Exchange::Unknown);
        }
        let hash = sha256_hex(code);
        let mut tx = self.pool.begin().await?;
        let taken = sqlx::query(
            "UPDATE oauth_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL \
             RETURNING grant_id, client_id, user_id, redirect_uri, challenge, scopes, resource, \
             expires_at",
        )
        .bind(now)
        .bind(&hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = taken else {
            let used = sqlx::query("SELECT grant_id FROM oauth_codes WHERE code_hash = $1")
                .bind(&hash)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(used) = used else {
                return Ok(Exchange::Unknown);
            };
            let grant: String = used.try_get("grant_id")?;
            revoke_grant_in(&mut tx, &grant, now).await?;
            tx.commit().await?;
            return Ok(Exchange::Replayed);
        };
        let expires_at: i64 = row.try_get("expires_at")?;
        let stored = OAuthCode {
            client_id: row.try_get("client_id")?,
            redirect_uri: row.try_get("redirect_uri")?,
            challenge: row.try_get("challenge")?,
            scopes: json_list(&row, "scopes")?,
            resource: row.try_get("resource")?,
        };
        let grant_id: String = row.try_get("grant_id")?;
        let user_id: String = row.try_get("user_id")?;
        if now >= expires_at {
            tx.commit().await?;
            return Ok(Exchange::Unknown);
        }
        if let Err(e) = check(&stored) {
            tx.commit().await?;
            return Ok(Exchange::Refused(e));
        }
        let tenant = sqlx::query("SELECT tenant_id FROM users WHERE id = $1")
            .bind(&user_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(tenant) = tenant else {
            tx.commit().await?;
            return Ok(Exchange::Unknown);
        };
        let tenant_id: String = tenant.try_get("tenant_id")?;
        sqlx::query(
            "INSERT INTO oauth_grants (id, client_id, user_id, tenant_id, scopes, resource, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&grant_id)
        .bind(&stored.client_id)
        .bind(&user_id)
        .bind(&tenant_id)
        .bind(to_json(&stored.scopes))
        .bind(&stored.resource)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| StorageError::from_write(e, "oauth grant"))?;
        let issued = issue_pair(&mut tx, &grant_id, stored.scopes, now, ttl).await?;
        tx.commit().await?;
        Ok(Exchange::Issued(issued))
    }

    /// Exchanges a refresh token of `client_id` for a new pair; the presented one is used up.
    /// A refresh token presented a second time revokes its grant ([`Exchange::Replayed`]); one
    /// of another client is refused and left as it was ([`Exchange::Refused`]).
    pub async fn refresh_oauth_grant(
        &self,
        refresh_token: &str,
        client_id: &str,
        now: i64,
        ttl: TokenLifetimes,
    ) -> Result<Exchange<()>> {
        let token = refresh_token.trim();
        if !REFRESH.matches(token) {
            return Ok(Exchange::Unknown);
        }
        let hash = sha256_hex(token);
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT t.grant_id, t.expires_at, t.used_at, g.client_id, g.scopes, g.revoked_at \
             FROM oauth_tokens t JOIN oauth_grants g ON g.id = t.grant_id \
             WHERE t.token_hash = $1 AND t.kind = 'refresh'",
        )
        .bind(&hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Exchange::Unknown);
        };
        let grant_id: String = row.try_get("grant_id")?;
        if row.try_get::<String, _>("client_id")? != client_id {
            return Ok(Exchange::Refused(()));
        }
        let revoked: Option<i64> = row.try_get("revoked_at")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        if revoked.is_some() || now >= expires_at {
            return Ok(Exchange::Unknown);
        }
        let used: Option<i64> = row.try_get("used_at")?;
        let took = if used.is_none() {
            sqlx::query(
                "UPDATE oauth_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
            )
            .bind(now)
            .bind(&hash)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1
        } else {
            false
        };
        if !took {
            revoke_grant_in(&mut tx, &grant_id, now).await?;
            tx.commit().await?;
            return Ok(Exchange::Replayed);
        }
        // The used refresh token's access tokens stay valid until they expire; the old
        // refresh row is kept (used) so that a replay is recognised.
        let scopes = json_list(&row, "scopes")?;
        let issued = issue_pair(&mut tx, &grant_id, scopes, now, ttl).await?;
        tx.commit().await?;
        Ok(Exchange::Issued(issued))
    }

    /// Resolves an OAuth access token: who it acts for, and the resource it was issued for.
    /// `None` when it is malformed, unknown, expired or its grant was revoked.
    pub async fn authenticate_oauth_token(
        &self,
        access_token: &str,
        now: i64,
    ) -> Result<Option<(AuthContext, String)>> {
        let token = access_token.trim();
        if !ACCESS.matches(token) {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT g.id, g.user_id, g.tenant_id, g.scopes, g.resource, g.last_used_at, u.role \
             FROM oauth_tokens t JOIN oauth_grants g ON g.id = t.grant_id \
             JOIN users u ON u.id = g.user_id \
             WHERE t.token_hash = $1 AND t.kind = 'access' AND t.expires_at > $2 \
             AND g.revoked_at IS NULL",
        )
        .bind(sha256_hex(token))
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let grant_id: String = row.try_get("id")?;
        let user_id: String = row.try_get("user_id")?;
        let role = Role::from_row(&row)?;
        let last: Option<i64> = row.try_get("last_used_at")?;
        if last.is_none_or(|t| now - t >= LAST_USED_RESOLUTION_MS) {
            sqlx::query(
                "UPDATE oauth_grants SET last_used_at = $1 \
                 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $3)",
            )
            .bind(now)
            .bind(&grant_id)
            .bind(now - LAST_USED_RESOLUTION_MS)
            .execute(&self.pool)
            .await?;
        }
        let widgets = self.widgets_of(&user_id, role).await?;
        let scopes: Vec<String> = json_list(&row, "scopes")?;
        Ok(Some((
            AuthContext {
                tenant_id: row.try_get("tenant_id")?,
                user_id,
                role,
                credential: Credential::OAuth(grant_id),
                scopes: scopes.into_iter().filter(|s| role.allows(s)).collect(),
                widgets,
            },
            row.try_get("resource")?,
        )))
    }

    /// Revokes a token presented by `client_id` (RFC 7009): an access token alone, a refresh
    /// token with its whole grant. Unknown tokens count as done.
    pub async fn revoke_oauth_token(
        &self,
        token: &str,
        client_id: &str,
        now: i64,
    ) -> Result<Revocation> {
        let token = token.trim();
        if !ACCESS.matches(token) && !REFRESH.matches(token) {
            return Ok(Revocation::Done);
        }
        let hash = sha256_hex(token);
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT t.kind, t.grant_id, g.client_id FROM oauth_tokens t \
             JOIN oauth_grants g ON g.id = t.grant_id WHERE t.token_hash = $1",
        )
        .bind(&hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Revocation::Done);
        };
        if row.try_get::<String, _>("client_id")? != client_id {
            return Ok(Revocation::OtherClient);
        }
        if row.try_get::<String, _>("kind")? == "refresh" {
            let grant: String = row.try_get("grant_id")?;
            revoke_grant_in(&mut tx, &grant, now).await?;
        } else {
            sqlx::query("DELETE FROM oauth_tokens WHERE token_hash = $1")
                .bind(&hash)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Revocation::Done)
    }

    /// The tenant's live grants (of one user when `user_id` is some), newest first.
    pub async fn list_oauth_grants(
        &self,
        tenant_id: &str,
        user_id: Option<&str>,
    ) -> Result<Vec<OAuthGrant>> {
        let sql = "SELECT g.id, g.client_id, c.name, g.user_id, g.scopes, g.resource, \
             g.created_at, g.last_used_at FROM oauth_grants g \
             JOIN oauth_clients c ON c.id = g.client_id \
             WHERE g.tenant_id = $1 AND g.revoked_at IS NULL AND ($2 = '' OR g.user_id = $2) \
             ORDER BY g.created_at DESC, g.id";
        let rows = sqlx::query(sql)
            .bind(tenant_id)
            .bind(user_id.unwrap_or(""))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(OAuthGrant {
                    id: r.try_get("id")?,
                    client_id: r.try_get("client_id")?,
                    client_name: r.try_get("name")?,
                    user_id: r.try_get("user_id")?,
                    scopes: json_list(r, "scopes")?,
                    resource: r.try_get("resource")?,
                    created_at: r.try_get("created_at")?,
                    last_used_at: r.try_get("last_used_at")?,
                })
            })
            .collect()
    }

    /// Disconnects a client: revokes a live grant of the tenant (of user `user_id` only, when
    /// some) and deletes its tokens. NotFound when there is no such live grant.
    pub async fn revoke_oauth_grant(
        &self,
        tenant_id: &str,
        user_id: Option<&str>,
        grant_id: &str,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let res = sqlx::query(
            "UPDATE oauth_grants SET revoked_at = $1 WHERE id = $2 AND tenant_id = $3 \
             AND revoked_at IS NULL AND ($4 = '' OR user_id = $4)",
        )
        .bind(now)
        .bind(grant_id)
        .bind(tenant_id)
        .bind(user_id.unwrap_or(""))
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        revoke_grant_in(&mut tx, grant_id, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes codes and tokens that expired before `before`, and registered clients made
    /// before `unused_before` that never got a grant or a code (registration is open: what
    /// was registered and never used does not stay); returns how many rows went.
    pub async fn purge_oauth(&self, before: i64, unused_before: i64) -> Result<u64> {
        let codes = sqlx::query("DELETE FROM oauth_codes WHERE expires_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected();
        let tokens = sqlx::query("DELETE FROM oauth_tokens WHERE expires_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected();
        let clients = sqlx::query(
            "DELETE FROM oauth_clients WHERE created_at < $1 AND \
             NOT EXISTS (SELECT 1 FROM oauth_grants g WHERE g.client_id = oauth_clients.id) AND \
             NOT EXISTS (SELECT 1 FROM oauth_codes c WHERE c.client_id = oauth_clients.id)",
        )
        .bind(unused_before)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(codes + tokens + clients)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_have_distinct_shapes() {
        let a = ACCESS.generate();
        let r = REFRESH.generate();
        assert!(ACCESS.matches(&a) && !REFRESH.matches(&a) && !CODE.matches(&a));
        assert!(REFRESH.matches(&r) && !ACCESS.matches(&r));
        assert!(!crate::TOKEN_PREFIX.starts_with(ACCESS_TOKEN_PREFIX));
    }
}
