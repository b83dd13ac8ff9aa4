//! SIP extensions: the accounts phones and browser widgets register as.
//!
//! Extensions belong to a tenant, but their `username` is unique across the
//! whole server so a phone can register without a per-tenant domain. Only
//! digest HA1 values are stored (MD5 and SHA-256), never a password.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{Result, StorageError};
use crate::util::{
    algorithm_list, bind_all, bounded, digest_algorithms, digest_algorithms_of, hex_digest,
    id_list, json_list, required, session_timer, session_timer_of, sip_username, srtp_policy,
    to_json, Param, SetList,
};
use crate::{new_id, now_ms, Store};

/// A SIP extension (a registrable user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    /// Extension id (UUID, see [`crate::new_id`]).
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// SIP username, unique server-wide (`[A-Za-z0-9._~+-]`, 1..=64 chars).
    pub username: String,
    /// Display name (may be empty).
    pub display_name: String,
    /// Digest realm the HA1 values were computed for.
    pub realm: String,
    /// `MD5(username:realm:password)`, lowercase hex.
    pub ha1_md5: String,
    /// `SHA-256(username:realm:password)`, lowercase hex.
    pub ha1_sha256: String,
    /// Web widgets that may place calls as this extension.
    pub widget_ids: Vec<String>,
    /// Digest algorithms it is challenged with, in order (`MD5`, `SHA-256`); empty for the
    /// server's.
    #[serde(default)]
    pub digest_algorithms: Vec<String>,
    /// SRTP on its calls: `off`, `optional` or `required`; `None`: the default (`optional`).
    #[serde(default)]
    pub srtp: Option<String>,
    /// Session timer (RFC 4028) Ringside asks for on calls to it, seconds; `None`: none.
    #[serde(default)]
    pub session_timer_secs: Option<u32>,
    /// SRTP passthrough: on a call whose other leg allows it too and both legs key with
    /// SDES, the legs are given each other's keys and the encrypted packets go through as
    /// they came (otherwise each leg is keyed on its own).
    #[serde(default)]
    pub srtp_passthrough: bool,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Last modification time, unix ms.
    pub updated_at: i64,
}

/// Input of [`Store::create_extension`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewExtension {
    /// SIP username, unique server-wide.
    pub username: String,
    /// Display name (may be empty, at most 128 chars).
    pub display_name: String,
    /// Digest realm (non-empty).
    pub realm: String,
    /// MD5 HA1, 32 hex chars.
    pub ha1_md5: String,
    /// SHA-256 HA1, 64 hex chars.
    pub ha1_sha256: String,
    /// Widget ids allowed to use this extension.
    pub widget_ids: Vec<String>,
    /// See [`Extension::digest_algorithms`].
    #[serde(default)]
    pub digest_algorithms: Vec<String>,
    /// See [`Extension::srtp`].
    #[serde(default)]
    pub srtp: Option<String>,
    /// See [`Extension::session_timer_secs`].
    #[serde(default)]
    pub session_timer_secs: Option<u32>,
    /// See [`Extension::srtp_passthrough`].
    #[serde(default)]
    pub srtp_passthrough: bool,
}

/// Changes for [`Store::update_extension`]; `None` leaves a field unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtensionPatch {
    /// New display name.
    pub display_name: Option<String>,
    /// New widget list (replaces the old one).
    pub widget_ids: Option<Vec<String>>,
    /// New credentials: `(realm, ha1_md5, ha1_sha256)`, changed together.
    pub credentials: Option<(String, String, String)>,
    /// New digest algorithms (empty: back to the server's).
    pub digest_algorithms: Option<Vec<String>>,
    /// Set or clear (back to the default) [`Extension::srtp`].
    pub srtp: Option<Option<String>>,
    /// Set or clear [`Extension::session_timer_secs`].
    pub session_timer_secs: Option<Option<u32>>,
    /// New [`Extension::srtp_passthrough`].
    pub srtp_passthrough: Option<bool>,
}

const EXT_COLS: &str = "id, tenant_id, username, display_name, realm, ha1_md5, ha1_sha256, \
                        widget_ids, digest_algorithms, srtp, session_timer_secs, srtp_passthrough, created_at, updated_at";

fn ext_from_row(row: &AnyRow) -> Result<Extension> {
    Ok(Extension {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        realm: row.try_get("realm")?,
        ha1_md5: row.try_get("ha1_md5")?,
        ha1_sha256: row.try_get("ha1_sha256")?,
        widget_ids: json_list(row, "widget_ids")?,
        digest_algorithms: digest_algorithms_of(row)?,
        srtp: row.try_get("srtp")?,
        session_timer_secs: session_timer_of(row)?,
        srtp_passthrough: row.try_get::<i64, _>("srtp_passthrough")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Validates and normalises `(realm, ha1_md5, ha1_sha256)`.
fn credentials(realm: &str, md5: &str, sha256: &str) -> Result<(String, String, String)> {
    Ok((
        required(realm, 255, "realm")?,
        hex_digest(md5, 32, "ha1_md5 must be 32 hex chars")?,
        hex_digest(sha256, 64, "ha1_sha256 must be 64 hex chars")?,
    ))
}

impl Store {
    /// Creates an extension in `tenant_id`. [`StorageError::Conflict`] when
    /// the username is taken (by any tenant); NotFound for an unknown tenant.
    pub async fn create_extension(&self, tenant_id: &str, new: NewExtension) -> Result<Extension> {
        let username = sip_username(&new.username, "username")?;
        let display_name = bounded(&new.display_name, 128, "display_name")?;
        let (realm, ha1_md5, ha1_sha256) = credentials(&new.realm, &new.ha1_md5, &new.ha1_sha256)?;
        id_list(&new.widget_ids, 256, "widget_ids")?;
        let algorithms = digest_algorithms(&new.digest_algorithms)?;
        let now = now_ms();
        let ext = Extension {
            id: new_id(),
            tenant_id: tenant_id.to_owned(),
            username,
            display_name,
            realm,
            ha1_md5,
            ha1_sha256,
            widget_ids: new.widget_ids,
            digest_algorithms: algorithm_list(algorithms.as_deref()),
            srtp: new.srtp.as_deref().map(srtp_policy).transpose()?,
            session_timer_secs: new.session_timer_secs,
            srtp_passthrough: new.srtp_passthrough,
            created_at: now,
            updated_at: now,
        };
        sqlx::query(&format!(
            "INSERT INTO extensions ({EXT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
        .bind(&ext.id)
        .bind(&ext.tenant_id)
        .bind(&ext.username)
        .bind(&ext.display_name)
        .bind(&ext.realm)
        .bind(&ext.ha1_md5)
        .bind(&ext.ha1_sha256)
        .bind(to_json(&ext.widget_ids))
        .bind(algorithms)
        .bind(&ext.srtp)
        .bind(session_timer(ext.session_timer_secs)?)
        .bind(i64::from(ext.srtp_passthrough))
        .bind(ext.created_at)
        .bind(ext.updated_at)
        .execute(&self.pool)
        .await
        .map_err(|e| StorageError::from_write(e, "extension username already exists"))?;
        Ok(ext)
    }

    /// Extensions of a tenant, oldest first.
    pub async fn list_extensions(&self, tenant_id: &str) -> Result<Vec<Extension>> {
        let sql = format!(
            "SELECT {EXT_COLS} FROM extensions WHERE tenant_id = $1 ORDER BY created_at, id"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(ext_from_row).collect()
    }

    /// One extension of a tenant; NotFound if missing or another tenant's.
    pub async fn get_extension(&self, tenant_id: &str, id: &str) -> Result<Extension> {
        let sql = format!("SELECT {EXT_COLS} FROM extensions WHERE id = $1 AND tenant_id = $2");
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StorageError::NotFound)?;
        ext_from_row(&row)
    }

    /// The extension with this SIP username, whatever its tenant (for the registrar).
    pub async fn find_extension_by_username(&self, username: &str) -> Result<Option<Extension>> {
        let sql = format!("SELECT {EXT_COLS} FROM extensions WHERE username = $1");
        let row = sqlx::query(&sql)
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(ext_from_row).transpose()
    }

    /// Whether `username` is taken as a SIP login anywhere on the server: an extension's
    /// username or a trunk's inbound digest username, of any tenant (they share one namespace,
    /// so no tenant's login can shadow another's). `except_trunk` leaves one trunk out (the
    /// trunk being changed).
    pub async fn sip_login_taken(
        &self,
        username: &str,
        except_trunk: Option<&str>,
    ) -> Result<bool> {
        let ext: Option<(String,)> =
            sqlx::query_as("SELECT id FROM extensions WHERE username = $1")
                .bind(username)
                .fetch_optional(&self.pool)
                .await?;
        if ext.is_some() {
            return Ok(true);
        }
        let trunk: Option<(String,)> =
            sqlx::query_as("SELECT id FROM trunks WHERE inbound_username = $1 AND id <> $2")
                .bind(username)
                .bind(except_trunk.unwrap_or(""))
                .fetch_optional(&self.pool)
                .await?;
        Ok(trunk.is_some())
    }

    /// Applies `patch` to an extension of the tenant and returns the result.
    /// NotFound if missing or another tenant's. An empty patch only bumps
    /// `updated_at`.
    pub async fn update_extension(
        &self,
        tenant_id: &str,
        id: &str,
        patch: ExtensionPatch,
    ) -> Result<Extension> {
        let mut set = SetList::default();
        set.set("updated_at", Param::Int(now_ms()));
        if let Some(name) = &patch.display_name {
            set.set(
                "display_name",
                Param::Text(bounded(name, 128, "display_name")?),
            );
        }
        if let Some(widgets) = &patch.widget_ids {
            id_list(widgets, 256, "widget_ids")?;
            set.set("widget_ids", Param::Text(to_json(widgets)));
        }
        if let Some((realm, md5, sha256)) = &patch.credentials {
            let (realm, md5, sha256) = credentials(realm, md5, sha256)?;
            set.set("realm", Param::Text(realm));
            set.set("ha1_md5", Param::Text(md5));
            set.set("ha1_sha256", Param::Text(sha256));
        }
        if let Some(list) = &patch.digest_algorithms {
            set.set(
                "digest_algorithms",
                Param::OptText(digest_algorithms(list)?),
            );
        }
        if let Some(p) = &patch.srtp {
            set.set(
                "srtp",
                Param::OptText(p.as_deref().map(srtp_policy).transpose()?),
            );
        }
        if let Some(v) = patch.session_timer_secs {
            set.set("session_timer_secs", Param::OptInt(session_timer(v)?));
        }
        if let Some(v) = patch.srtp_passthrough {
            set.set("srtp_passthrough", Param::Int(i64::from(v)));
        }
        let (sql, params) = set.finish_scoped("extensions", id, tenant_id, EXT_COLS);
        let row = bind_all(sqlx::query(&sql), params)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StorageError::NotFound)?;
        ext_from_row(&row)
    }

    /// Deletes an extension of the tenant and its registrations, atomically.
    /// NotFound if missing or another tenant's (then nothing is deleted).
    pub async fn delete_extension(&self, tenant_id: &str, id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM bindings WHERE extension_id IN \
             (SELECT id FROM extensions WHERE id = $1 AND tenant_id = $2)",
        )
        .bind(id)
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
        let res = sqlx::query("DELETE FROM extensions WHERE id = $1 AND tenant_id = $2")
            .bind(id)
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
        if res.rows_affected() == 0 {
            tx.rollback().await?;
            return Err(StorageError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every extension of every tenant (to load the SIP directory at start).
    pub async fn all_extensions(&self) -> Result<Vec<Extension>> {
        let sql = format!("SELECT {EXT_COLS} FROM extensions ORDER BY created_at, id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(ext_from_row).collect()
    }
}
