//! A widget's assistant: name, tone, what it may use and when it hands over.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{Result, StorageError};
use crate::{now_ms, Store};

/// When the assistant hands a conversation to the team.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct Handover {
    /// When the visitor asks for a person.
    pub on_request: bool,
    /// When nothing answers the question.
    pub low_confidence: bool,
    /// Only while someone can take the chat (outside, the visitor is offered a message or a
    /// callback and the inbox is not alerted).
    pub during_hours_only: bool,
}

impl Default for Handover {
    fn default() -> Self {
        Handover {
            on_request: true,
            low_confidence: true,
            during_hours_only: false,
        }
    }
}

/// A widget's assistant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Assistant {
    /// `asst_...` (the live-chat shape's `assistantId`).
    pub id: String,
    /// Owning tenant.
    #[serde(skip)]
    pub tenant_id: String,
    /// Its widget.
    pub widget_id: String,
    /// Its name.
    pub name: String,
    /// Tone of voice given to the model (it cannot change the assistant's rules).
    pub tone: Option<String>,
    /// When it hands over.
    pub handover: Handover,
    /// Whether answers may be written by the tenant's AI provider.
    pub use_model: bool,
    /// Whether it may look up orders and tickets.
    pub use_lookups: bool,
    /// Whether it answers at all (off: the team answers the chat alone).
    pub enabled: bool,
    /// The knowledge sources it answers from, its widget's or other widgets' of the tenant
    /// (`None`: all of its widget's, including ones added later).
    pub source_ids: Option<Vec<String>>,
    /// The tenant's integrations it may look up with (`None`: all of them).
    pub integration_ids: Option<Vec<String>>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

const COLS: &str = "id, tenant_id, widget_id, name, tone, handover_on_request, \
                    handover_low_confidence, handover_hours_only, use_model, use_lookups, \
                    enabled, source_ids, integration_ids, created_at, updated_at";

/// A list of ids as stored (JSON), `None` as NULL.
fn ids_text(ids: &Option<Vec<String>>) -> Option<String> {
    ids.as_ref()
        .map(|v| serde_json::to_string(v).expect("a list of strings serialises"))
}

fn ids_of(text: Option<String>) -> Result<Option<Vec<String>>> {
    text.map(|t| serde_json::from_str(&t).map_err(|_| StorageError::Invalid("assistant ids")))
        .transpose()
}

fn from_row(r: &AnyRow) -> Result<Assistant> {
    let b = |c: &str| -> Result<bool> { Ok(r.try_get::<i64, _>(c)? != 0) };
    Ok(Assistant {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        widget_id: r.try_get("widget_id")?,
        name: r.try_get("name")?,
        tone: r.try_get("tone")?,
        handover: Handover {
            on_request: b("handover_on_request")?,
            low_confidence: b("handover_low_confidence")?,
            during_hours_only: b("handover_hours_only")?,
        },
        use_model: b("use_model")?,
        use_lookups: b("use_lookups")?,
        enabled: b("enabled")?,
        source_ids: ids_of(r.try_get("source_ids")?)?,
        integration_ids: ids_of(r.try_get("integration_ids")?)?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Store {
    /// A widget's assistant, if it has one (`None` also for another tenant's widget).
    pub async fn get_assistant(
        &self,
        tenant_id: &str,
        widget_id: &str,
    ) -> Result<Option<Assistant>> {
        let row = sqlx::query(&format!(
            "SELECT {COLS} FROM assistants WHERE tenant_id = $1 AND widget_id = $2"
        ))
        .bind(tenant_id)
        .bind(widget_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Sets a widget's assistant (its id kept when it had one); NotFound for another
    /// tenant's widget.
    pub async fn put_assistant(&self, a: &Assistant) -> Result<Assistant> {
        self.get_widget(&a.tenant_id, &a.widget_id).await?;
        let now = now_ms();
        let id = match self.get_assistant(&a.tenant_id, &a.widget_id).await? {
            Some(old) => old.id,
            None => format!("asst_{}", uuid::Uuid::new_v4().simple()),
        };
        sqlx::query(&format!(
            "INSERT INTO assistants ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
             ON CONFLICT (widget_id) DO UPDATE SET name = excluded.name, tone = excluded.tone, \
             handover_on_request = excluded.handover_on_request, \
             handover_low_confidence = excluded.handover_low_confidence, \
             handover_hours_only = excluded.handover_hours_only, use_model = excluded.use_model, \
             use_lookups = excluded.use_lookups, enabled = excluded.enabled, \
             source_ids = excluded.source_ids, integration_ids = excluded.integration_ids, \
             updated_at = excluded.updated_at"
        ))
        .bind(&id)
        .bind(&a.tenant_id)
        .bind(&a.widget_id)
        .bind(&a.name)
        .bind(&a.tone)
        .bind(i64::from(a.handover.on_request))
        .bind(i64::from(a.handover.low_confidence))
        .bind(i64::from(a.handover.during_hours_only))
        .bind(i64::from(a.use_model))
        .bind(i64::from(a.use_lookups))
        .bind(i64::from(a.enabled))
        .bind(ids_text(&a.source_ids))
        .bind(ids_text(&a.integration_ids))
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| StorageError::from_write(e, "assistant"))?;
        self.get_assistant(&a.tenant_id, &a.widget_id)
            .await?
            .ok_or(StorageError::NotFound)
    }

    /// Removes a widget's assistant; NotFound when it has none.
    pub async fn delete_assistant(&self, tenant_id: &str, widget_id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM assistants WHERE tenant_id = $1 AND widget_id = $2")
            .bind(tenant_id)
            .bind(widget_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        Ok(())
    }
}
