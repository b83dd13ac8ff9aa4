//! A tenant's AI provider and the record of its model answers.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{Result, StorageError};
use crate::{new_id, now_ms, Store};

/// Provider kinds: any OpenAI-compatible `/chat/completions` (OpenAI, Ollama, vLLM,
/// llama.cpp server, ...) or Azure OpenAI's deployment URLs.
pub const AI_PROVIDER_KINDS: &[&str] = &["openai", "azure"];

/// A tenant's AI provider as stored (the API key sealed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AiProvider {
    /// The tenant.
    #[serde(skip)]
    pub tenant_id: String,
    /// `openai` or `azure`.
    pub kind: String,
    /// Base URL (`https://api.openai.com/v1`, `http://127.0.0.1:11434/v1`, an Azure resource).
    pub base_url: String,
    /// Model (Azure: the deployment name).
    pub model: String,
    /// Azure's `api-version`.
    pub api_version: Option<String>,
    /// The API key, sealed.
    #[serde(skip)]
    pub api_key_sealed: Option<String>,
    /// Model answers a month (0: no allowance of the tenant's own).
    pub monthly_messages: i64,
    /// Tokens a month (0: none of its own).
    pub monthly_tokens: i64,
    /// Whether answers use it.
    pub enabled: bool,
    /// Seconds an answer may take in all before the assistant answers without it.
    pub timeout_secs: i64,
    /// Unix ms.
    pub updated_at: i64,
}

fn from_row(r: &AnyRow) -> Result<AiProvider> {
    Ok(AiProvider {
        tenant_id: r.try_get("tenant_id")?,
        kind: r.try_get("kind")?,
        base_url: r.try_get("base_url")?,
        model: r.try_get("model")?,
        api_version: r.try_get("api_version")?,
        api_key_sealed: r.try_get("api_key_sealed")?,
        monthly_messages: r.try_get("monthly_messages")?,
        monthly_tokens: r.try_get("monthly_tokens")?,
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        timeout_secs: r.try_get("timeout_secs")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// One model answer (or attempt).
#[derive(Debug, Clone, Default)]
pub struct AiUse {
    /// The widget it answered on.
    pub widget_id: Option<String>,
    /// The conversation.
    pub conversation_id: Option<String>,
    /// The model.
    pub model: String,
    /// `ok`, `failed` or `timeout` (the extractive answer was given instead), or `refused`
    /// (over the allowance).
    pub outcome: String,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Completion tokens.
    pub completion_tokens: i64,
}

impl Store {
    /// The tenant's provider, if it has one.
    pub async fn get_ai_provider(&self, tenant_id: &str) -> Result<Option<AiProvider>> {
        let row = sqlx::query(
            "SELECT tenant_id, kind, base_url, model, api_version, api_key_sealed, \
             monthly_messages, monthly_tokens, enabled, timeout_secs, updated_at FROM ai_providers \
             WHERE tenant_id = $1",
        )
        .bind(tenant_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Sets the tenant's provider (replacing it).
    pub async fn put_ai_provider(&self, p: &AiProvider) -> Result<()> {
        if !AI_PROVIDER_KINDS.contains(&p.kind.as_str()) {
            return Err(StorageError::Invalid("kind"));
        }
        sqlx::query(
            "INSERT INTO ai_providers (tenant_id, kind, base_url, model, api_version, \
             api_key_sealed, monthly_messages, monthly_tokens, enabled, timeout_secs, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (tenant_id) DO UPDATE SET kind = excluded.kind, \
             base_url = excluded.base_url, model = excluded.model, \
             api_version = excluded.api_version, api_key_sealed = excluded.api_key_sealed, \
             monthly_messages = excluded.monthly_messages, \
             monthly_tokens = excluded.monthly_tokens, enabled = excluded.enabled, \
             timeout_secs = excluded.timeout_secs, updated_at = excluded.updated_at",
        )
        .bind(&p.tenant_id)
        .bind(&p.kind)
        .bind(&p.base_url)
        .bind(&p.model)
        .bind(&p.api_version)
        .bind(&p.api_key_sealed)
        .bind(p.monthly_messages)
        .bind(p.monthly_tokens)
        .bind(i64::from(p.enabled))
        .bind(p.timeout_secs)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(|e| StorageError::from_write(e, "provider"))?;
        Ok(())
    }

    /// Removes the tenant's provider; NotFound when it has none.
    pub async fn delete_ai_provider(&self, tenant_id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM ai_providers WHERE tenant_id = $1")
            .bind(tenant_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        Ok(())
    }

    /// Records a model answer or attempt.
    pub async fn record_ai_use(&self, tenant_id: &str, u: &AiUse) -> Result<()> {
        sqlx::query(
            "INSERT INTO ai_usage (id, tenant_id, widget_id, conversation_id, model, outcome, \
             prompt_tokens, completion_tokens, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(new_id())
        .bind(tenant_id)
        .bind(&u.widget_id)
        .bind(&u.conversation_id)
        .bind(&u.model)
        .bind(&u.outcome)
        .bind(u.prompt_tokens)
        .bind(u.completion_tokens)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(|e| StorageError::from_write(e, "ai use"))?;
        Ok(())
    }

    /// How many model answers and attempts the tenant had since `since` (Unix ms), by outcome
    /// (`ok`, `failed`, `timeout`...), most frequent first.
    pub async fn ai_outcomes_since(
        &self,
        tenant_id: &str,
        since: i64,
    ) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT outcome, COUNT(*) AS n FROM ai_usage WHERE tenant_id = $1 AND created_at >= $2 \
             GROUP BY outcome ORDER BY n DESC, outcome",
        )
        .bind(tenant_id)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("outcome")?, r.try_get("n")?)))
            .collect()
    }
}
