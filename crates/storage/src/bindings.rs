//! SIP registrations ("bindings"): where an extension can currently be
//! reached. Persisted so a restart of the gateway keeps phones reachable
//! until their registrations expire.
//!
//! A binding is keyed by `(extension_id, contact_uri)`; re-registering the
//! same contact overwrites it.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{Result, StorageError};
use crate::Store;

/// One registered contact of an extension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// The registered extension.
    pub extension_id: String,
    /// Contact URI from the REGISTER.
    pub contact_uri: String,
    /// Source address the REGISTER came from (`ip:port`), for NAT traversal.
    pub source_addr: String,
    /// Transport it arrived on (`udp`, `tcp`, `tls`, `ws`, `wss`).
    pub transport: String,
    /// Expiry time, unix ms.
    pub expires_at: i64,
    /// Call-ID of the REGISTER.
    pub call_id: String,
    /// CSeq number of the REGISTER.
    pub cseq: i64,
    /// User-Agent header, if any.
    pub user_agent: Option<String>,
    /// Last refresh, unix ms.
    pub updated_at: i64,
    /// The REGISTER's Path (RFC 3327), top first: empty when the phone is reached directly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<String>,
}

const BINDING_COLS: &str = "extension_id, contact_uri, source_addr, transport, expires_at, \
                            call_id, cseq, user_agent, updated_at, path";

fn binding_from_row(row: &AnyRow) -> Result<Binding> {
    Ok(Binding {
        extension_id: row.try_get("extension_id")?,
        contact_uri: row.try_get("contact_uri")?,
        source_addr: row.try_get("source_addr")?,
        transport: row.try_get("transport")?,
        expires_at: row.try_get("expires_at")?,
        call_id: row.try_get("call_id")?,
        cseq: row.try_get("cseq")?,
        user_agent: row.try_get("user_agent")?,
        updated_at: row.try_get("updated_at")?,
        path: row
            .try_get::<Option<String>, _>("path")?
            .map(|p| p.lines().map(str::to_owned).collect())
            .unwrap_or_default(),
    })
}

impl Store {
    /// Inserts or replaces the binding `(extension_id, contact_uri)`.
    /// NotFound when the extension does not exist (e.g. deleted meanwhile).
    pub async fn upsert_binding(&self, binding: &Binding) -> Result<()> {
        if binding.extension_id.is_empty() || binding.contact_uri.is_empty() {
            return Err(StorageError::Invalid(
                "binding extension_id and contact_uri",
            ));
        }
        let sql = format!(
            "INSERT INTO bindings ({BINDING_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (extension_id, contact_uri) DO UPDATE SET \
             source_addr = excluded.source_addr, transport = excluded.transport, \
             expires_at = excluded.expires_at, call_id = excluded.call_id, \
             cseq = excluded.cseq, user_agent = excluded.user_agent, \
             updated_at = excluded.updated_at, path = excluded.path"
        );
        sqlx::query(&sql)
            .bind(&binding.extension_id)
            .bind(&binding.contact_uri)
            .bind(&binding.source_addr)
            .bind(&binding.transport)
            .bind(binding.expires_at)
            .bind(&binding.call_id)
            .bind(binding.cseq)
            .bind(&binding.user_agent)
            .bind(binding.updated_at)
            .bind(
                // A header value holds no line break: one URI per line.
                (!binding.path.is_empty()).then(|| binding.path.join("\n")),
            )
            .execute(&self.pool)
            .await
            .map_err(|e| StorageError::from_write(e, "binding"))?;
        Ok(())
    }

    /// Removes one binding; returns whether it existed.
    pub async fn remove_binding(&self, extension_id: &str, contact_uri: &str) -> Result<bool> {
        let res = sqlx::query("DELETE FROM bindings WHERE extension_id = $1 AND contact_uri = $2")
            .bind(extension_id)
            .bind(contact_uri)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() > 0)
    }

    /// Removes one binding that lapsed at `at` (unix ms), unless the stored copy expires
    /// later (the phone refreshed it since, through another node sharing this database);
    /// returns whether it was removed.
    pub async fn remove_lapsed_binding(
        &self,
        extension_id: &str,
        contact_uri: &str,
        at: i64,
    ) -> Result<bool> {
        let res = sqlx::query(
            "DELETE FROM bindings WHERE extension_id = $1 AND contact_uri = $2 \
             AND expires_at <= $3",
        )
        .bind(extension_id)
        .bind(contact_uri)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() > 0)
    }

    /// Removes every binding of an extension (REGISTER with `Contact: *`);
    /// returns how many were removed.
    pub async fn remove_bindings(&self, extension_id: &str) -> Result<u64> {
        let res = sqlx::query("DELETE FROM bindings WHERE extension_id = $1")
            .bind(extension_id)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected())
    }

    /// Bindings still valid at `now_ms` (`expires_at > now_ms`), ordered by
    /// extension and contact.
    pub async fn live_bindings(&self, now_ms: i64) -> Result<Vec<Binding>> {
        let sql = format!(
            "SELECT {BINDING_COLS} FROM bindings WHERE expires_at > $1 \
             ORDER BY extension_id, contact_uri"
        );
        let rows = sqlx::query(&sql).bind(now_ms).fetch_all(&self.pool).await?;
        rows.iter().map(binding_from_row).collect()
    }

    /// Live bindings of one extension at `now_ms`.
    pub async fn extension_bindings(
        &self,
        extension_id: &str,
        now_ms: i64,
    ) -> Result<Vec<Binding>> {
        let sql = format!(
            "SELECT {BINDING_COLS} FROM bindings WHERE extension_id = $1 AND expires_at > $2 \
             ORDER BY contact_uri"
        );
        let rows = sqlx::query(&sql)
            .bind(extension_id)
            .bind(now_ms)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(binding_from_row).collect()
    }

    /// Deletes bindings expired at `now_ms` (`expires_at <= now_ms`); returns
    /// how many were deleted.
    pub async fn purge_expired_bindings(&self, now_ms: i64) -> Result<u64> {
        let res = sqlx::query("DELETE FROM bindings WHERE expires_at <= $1")
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected())
    }
}
