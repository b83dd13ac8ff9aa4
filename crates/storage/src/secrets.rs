//! Secrets the nodes of a cluster share (the SIP digest nonce secret, the link secret that
//! signs conversation links and seals alert credentials, the VAPID key of Web Push): one
//! value per name in the database, made once by whichever node needs it first.

use sqlx::Row;

use crate::error::Result;
use crate::{now_ms, Store};

/// Where a value sealed with the server's secret root is kept (tenants' credentials and the
/// cluster's VAPID key): what `ringside secret reseal` goes through after the root changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedColumn {
    /// `ai_providers.api_key_sealed`, one row per tenant.
    AiProviderKey,
    /// `integrations.auth_header_sealed`.
    IntegrationAuthHeader,
    /// `integrations.hmac_secret_sealed`.
    IntegrationHmac,
    /// `alert_rules.secret_sealed`.
    AlertChannelSecret,
    /// `shared_secrets.value` of the VAPID key (sealed for no tenant).
    VapidKey,
}

impl SealedColumn {
    /// Every place a sealed value is kept.
    pub const ALL: [SealedColumn; 5] = [
        SealedColumn::AiProviderKey,
        SealedColumn::IntegrationAuthHeader,
        SealedColumn::IntegrationHmac,
        SealedColumn::AlertChannelSecret,
        SealedColumn::VapidKey,
    ];

    /// (table, row key, tenant, sealed column): fixed names, never input.
    fn sql(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            SealedColumn::AiProviderKey => {
                ("ai_providers", "tenant_id", "tenant_id", "api_key_sealed")
            }
            SealedColumn::IntegrationAuthHeader => {
                ("integrations", "id", "tenant_id", "auth_header_sealed")
            }
            SealedColumn::IntegrationHmac => {
                ("integrations", "id", "tenant_id", "hmac_secret_sealed")
            }
            SealedColumn::AlertChannelSecret => ("alert_rules", "id", "tenant_id", "secret_sealed"),
            SealedColumn::VapidKey => ("shared_secrets", "name", "''", "value"),
        }
    }

    fn filter(self) -> &'static str {
        match self {
            SealedColumn::VapidKey => " AND name = 'vapid-key'",
            _ => "",
        }
    }
}

/// One sealed value as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedValue {
    /// Where it is kept.
    pub column: SealedColumn,
    /// The row's key (an id; the tenant for an AI provider; the name of a shared secret).
    pub key: String,
    /// The tenant it was sealed for (empty for the cluster's own).
    pub tenant_id: String,
    /// The sealed value (`v1:...`).
    pub sealed: String,
}

impl Store {
    /// The secret `name`: the stored one, or, when there is none yet, `first()` stored (by
    /// this caller, or by another node that got there first, whose value wins).
    pub async fn shared_secret(
        &self,
        name: &str,
        first: impl FnOnce() -> String,
    ) -> Result<String> {
        if let Some(v) = self.read_secret(name).await? {
            return Ok(v);
        }
        sqlx::query(
            "INSERT INTO shared_secrets (name, value, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(first())
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(self
            .read_secret(name)
            .await?
            .expect("a shared secret just written (or written by another node) is there"))
    }

    /// Replaces the secret `name` with `value` (rotation: the nodes use it from their next
    /// start; what the old one signed stops being accepted then).
    pub async fn rotate_secret(&self, name: &str, value: &str) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO shared_secrets (name, value, created_at, rotated_at) \
             VALUES ($1, $2, $3, $3) ON CONFLICT (name) DO UPDATE \
             SET value = excluded.value, rotated_at = excluded.rotated_at",
        )
        .bind(name)
        .bind(value)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets the secret `name` (the next node to need it makes a new one); whether there
    /// was one.
    pub async fn forget_secret(&self, name: &str) -> Result<bool> {
        let res = sqlx::query("DELETE FROM shared_secrets WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() > 0)
    }

    async fn read_secret(&self, name: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM shared_secrets WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Every sealed value stored in `column`.
    pub async fn sealed_values(&self, column: SealedColumn) -> Result<Vec<SealedValue>> {
        let (table, key, tenant, col) = column.sql();
        let rows = sqlx::query(&format!(
            "SELECT {key} AS k, {tenant} AS t, {col} AS v FROM {table} \
             WHERE {col} IS NOT NULL{} ORDER BY {key}",
            column.filter()
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SealedValue {
                    column,
                    key: r.try_get("k")?,
                    tenant_id: r.try_get("t")?,
                    sealed: r.try_get("v")?,
                })
            })
            .collect()
    }

    /// `v` replaced by `sealed`, unless it changed meanwhile (a new value entered, the row
    /// deleted): whether it was replaced.
    pub async fn replace_sealed(&self, v: &SealedValue, sealed: &str) -> Result<bool> {
        let (table, key, _, col) = v.column.sql();
        let res = sqlx::query(&format!(
            "UPDATE {table} SET {col} = $1 WHERE {key} = $2 AND {col} = $3{}",
            v.column.filter()
        ))
        .bind(sealed)
        .bind(&v.key)
        .bind(&v.sealed)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() > 0)
    }
}
