//! A tenant's integrations (order-status and helpdesk APIs) and the log of lookups.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{Result, StorageError};
use crate::{new_id, now_ms, Store};

/// Integration kinds.
pub const INTEGRATION_KINDS: &[&str] = &["order", "ticket"];
/// Most integrations a tenant keeps.
pub const MAX_INTEGRATIONS: i64 = 20;
/// Most lookups listed.
pub const MAX_LIST_LOOKUPS: i64 = 200;

/// One mapped response field: where it is and what the visitor is told it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct FieldMap {
    /// Dotted path in the JSON answer (`status`, `delivery.eta`).
    pub path: String,
    /// The label shown (`Status`, `Expected delivery`).
    pub label: String,
}

/// An integration as stored (secrets sealed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Integration {
    /// Id.
    pub id: String,
    /// Tenant.
    #[serde(skip)]
    pub tenant_id: String,
    /// `order` or `ticket`.
    pub kind: String,
    /// A name for the team.
    pub name: String,
    /// `GET` or `POST`.
    pub method: String,
    /// The URL with `{reference}` and `{email}` or `{postcode}`.
    pub url_template: String,
    /// The reference's pattern (a regular expression).
    pub reference_pattern: String,
    /// `email` or `postcode`.
    pub verifier: String,
    /// A field of the answer that must equal the verifier (else: not found).
    pub match_field: Option<String>,
    /// The fields the visitor is told.
    pub field_map: Vec<FieldMap>,
    /// The auth header's name.
    pub auth_header_name: Option<String>,
    /// Its value, sealed.
    #[serde(skip)]
    pub auth_header_sealed: Option<String>,
    /// The HMAC signing secret, sealed.
    #[serde(skip)]
    pub hmac_secret_sealed: Option<String>,
    /// Whether the assistant uses it.
    pub enabled: bool,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

/// A lookup, or a refusal to look up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Lookup {
    /// Id.
    pub id: String,
    /// The widget.
    pub widget_id: String,
    /// The visitor.
    pub visitor_id: String,
    /// The conversation.
    pub conversation_id: String,
    /// The integration asked (none when nothing was sent).
    pub integration_id: Option<String>,
    /// `order` or `ticket`.
    pub kind: String,
    /// The reference, masked (its last four characters).
    pub reference: Option<String>,
    /// `found`, `not_found`, `mismatch` (the answer's verifier differed), `missing`
    /// (identifiers asked for, nothing sent), `failed` (the API failed).
    pub outcome: String,
    /// The API's HTTP status.
    pub http_status: Option<i64>,
    /// Unix ms.
    pub created_at: i64,
}

const COLS: &str = "id, tenant_id, kind, name, method, url_template, reference_pattern, verifier, \
                    match_field, field_map, auth_header_name, auth_header_sealed, \
                    hmac_secret_sealed, enabled, created_at, updated_at";

fn from_row(r: &AnyRow) -> Result<Integration> {
    let map: String = r.try_get("field_map")?;
    Ok(Integration {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        kind: r.try_get("kind")?,
        name: r.try_get("name")?,
        method: r.try_get("method")?,
        url_template: r.try_get("url_template")?,
        reference_pattern: r.try_get("reference_pattern")?,
        verifier: r.try_get("verifier")?,
        match_field: r.try_get("match_field")?,
        field_map: serde_json::from_str(&map).map_err(|_| StorageError::Corrupt("field_map"))?,
        auth_header_name: r.try_get("auth_header_name")?,
        auth_header_sealed: r.try_get("auth_header_sealed")?,
        hmac_secret_sealed: r.try_get("hmac_secret_sealed")?,
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Store {
    /// The tenant's integrations, oldest first.
    pub async fn list_integrations(&self, tenant_id: &str) -> Result<Vec<Integration>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM integrations WHERE tenant_id = $1 ORDER BY created_at, id LIMIT {MAX_INTEGRATIONS}"
        ))
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// One integration; NotFound for another tenant's.
    pub async fn get_integration(&self, tenant_id: &str, id: &str) -> Result<Integration> {
        let row = sqlx::query(&format!(
            "SELECT {COLS} FROM integrations WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StorageError::NotFound)?;
        from_row(&row)
    }

    /// Saves an integration: a new one when `i.id` is empty (Invalid past
    /// [`MAX_INTEGRATIONS`]), else replaces that one (NotFound for another tenant's).
    pub async fn save_integration(&self, i: &Integration) -> Result<Integration> {
        if !INTEGRATION_KINDS.contains(&i.kind.as_str()) {
            return Err(StorageError::Invalid("kind"));
        }
        let map =
            serde_json::to_string(&i.field_map).map_err(|_| StorageError::Invalid("fieldMap"))?;
        let now = now_ms();
        if i.id.is_empty() {
            let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM integrations WHERE tenant_id = $1")
                .bind(&i.tenant_id)
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?;
            if n >= MAX_INTEGRATIONS {
                return Err(StorageError::Invalid("integrations"));
            }
            let id = new_id();
            sqlx::query(&format!(
                "INSERT INTO integrations ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
            ))
            .bind(&id)
            .bind(&i.tenant_id)
            .bind(&i.kind)
            .bind(&i.name)
            .bind(&i.method)
            .bind(&i.url_template)
            .bind(&i.reference_pattern)
            .bind(&i.verifier)
            .bind(&i.match_field)
            .bind(&map)
            .bind(&i.auth_header_name)
            .bind(&i.auth_header_sealed)
            .bind(&i.hmac_secret_sealed)
            .bind(i64::from(i.enabled))
            .bind(now)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(|e| StorageError::from_write(e, "integration"))?;
            return self.get_integration(&i.tenant_id, &id).await;
        }
        let done = sqlx::query(
            "UPDATE integrations SET kind = $1, name = $2, method = $3, url_template = $4, \
             reference_pattern = $5, verifier = $6, match_field = $7, field_map = $8, \
             auth_header_name = $9, auth_header_sealed = $10, hmac_secret_sealed = $11, \
             enabled = $12, updated_at = $13 WHERE tenant_id = $14 AND id = $15",
        )
        .bind(&i.kind)
        .bind(&i.name)
        .bind(&i.method)
        .bind(&i.url_template)
        .bind(&i.reference_pattern)
        .bind(&i.verifier)
        .bind(&i.match_field)
        .bind(&map)
        .bind(&i.auth_header_name)
        .bind(&i.auth_header_sealed)
        .bind(&i.hmac_secret_sealed)
        .bind(i64::from(i.enabled))
        .bind(now)
        .bind(&i.tenant_id)
        .bind(&i.id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        self.get_integration(&i.tenant_id, &i.id).await
    }

    /// Deletes an integration; NotFound for another tenant's.
    pub async fn delete_integration(&self, tenant_id: &str, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM integrations WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        Ok(())
    }

    /// Logs a lookup.
    pub async fn log_lookup(&self, tenant_id: &str, l: &Lookup) -> Result<()> {
        sqlx::query(
            "INSERT INTO lookup_log (id, tenant_id, widget_id, visitor_id, conversation_id, \
             integration_id, kind, reference, outcome, http_status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(new_id())
        .bind(tenant_id)
        .bind(&l.widget_id)
        .bind(&l.visitor_id)
        .bind(&l.conversation_id)
        .bind(&l.integration_id)
        .bind(&l.kind)
        .bind(&l.reference)
        .bind(&l.outcome)
        .bind(l.http_status)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(|e| StorageError::from_write(e, "lookup"))?;
        Ok(())
    }

    /// The lookups of a widget's conversation, oldest first.
    pub async fn list_lookups(
        &self,
        tenant_id: &str,
        widget_id: &str,
        conversation_id: &str,
    ) -> Result<Vec<Lookup>> {
        let rows = sqlx::query(&format!(
            "SELECT id, widget_id, visitor_id, conversation_id, integration_id, kind, reference, \
             outcome, http_status, created_at FROM lookup_log WHERE tenant_id = $1 AND \
             widget_id = $2 AND conversation_id = $3 ORDER BY created_at, id LIMIT {MAX_LIST_LOOKUPS}"
        ))
        .bind(tenant_id)
        .bind(widget_id)
        .bind(conversation_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Lookup {
                    id: r.try_get("id")?,
                    widget_id: r.try_get("widget_id")?,
                    visitor_id: r.try_get("visitor_id")?,
                    conversation_id: r.try_get("conversation_id")?,
                    integration_id: r.try_get("integration_id")?,
                    kind: r.try_get("kind")?,
                    reference: r.try_get("reference")?,
                    outcome: r.try_get("outcome")?,
                    http_status: r.try_get("http_status")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }
}
