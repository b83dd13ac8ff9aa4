//! Per-tenant usage counts for account usage and limits, and the alerts already sent.

use serde::Serialize;
use sqlx::Row;

use crate::error::Result;
use crate::{now_ms, Store};

/// What a tenant uses: totals now, and what was created in the current period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageCounts {
    /// Widgets.
    pub widgets: i64,
    /// Webhooks.
    pub webhooks: i64,
    /// Contacts not merged away.
    pub contacts: i64,
    /// SIP extensions.
    pub extensions: i64,
    /// SIP trunks.
    pub trunks: i64,
    /// Visitors first seen in the period.
    pub monthly_visitors: i64,
    /// Chat messages of visitors and the team in the period (the assistant's answers are
    /// not counted here).
    pub monthly_messages: i64,
    /// Answers a language model wrote in the period.
    pub monthly_ai_messages: i64,
    /// Tokens (prompt and completion) those answers used.
    pub monthly_ai_tokens: i64,
    /// Callbacks and leads in the period.
    pub monthly_callbacks: i64,
    /// Calls started in the period.
    pub monthly_calls: i64,
    /// Answered call time in the period, in whole minutes (rounded up per call).
    pub monthly_call_minutes: i64,
    /// Stored recordings.
    pub recordings: i64,
    /// Bytes of stored recordings.
    pub recording_bytes: i64,
}

/// Metrics counted by [`Store::count_usage`].
pub const USAGE_METRICS: &[&str] = &[
    "widgets",
    "webhooks",
    "contacts",
    "monthlyVisitors",
    "monthlyMessages",
    "monthlyCallbacks",
    "monthlyAiMessages",
    "monthlyAiTokens",
];

impl Store {
    async fn scalar(&self, sql: &str, tenant_id: &str, since: Option<i64>) -> Result<i64> {
        let mut q = sqlx::query(sql).bind(tenant_id);
        if let Some(s) = since {
            q = q.bind(s);
        }
        let row = q.fetch_one(&self.pool).await?;
        Ok(row.try_get::<Option<i64>, _>(0)?.unwrap_or(0))
    }

    /// One metric of [`USAGE_METRICS`] for the tenant; monthly ones count from
    /// `period_start` (unix ms). An unknown metric counts 0.
    pub async fn count_usage(
        &self,
        tenant_id: &str,
        metric: &str,
        period_start: i64,
    ) -> Result<i64> {
        let (sql, since) = match metric {
            "widgets" => ("SELECT COUNT(*) FROM widgets WHERE tenant_id = $1", None),
            "webhooks" => ("SELECT COUNT(*) FROM webhooks WHERE tenant_id = $1", None),
            "contacts" => (
                "SELECT COUNT(*) FROM contacts WHERE tenant_id = $1 AND merged_into IS NULL",
                None,
            ),
            "monthlyVisitors" => (
                "SELECT COUNT(*) FROM visitors WHERE tenant_id = $1 AND first_seen_at >= $2",
                Some(period_start),
            ),
            "monthlyMessages" => (
                "SELECT COUNT(*) FROM messages WHERE tenant_id = $1 AND created_at >= $2 \
                 AND sender <> 'assistant'",
                Some(period_start),
            ),
            "monthlyCallbacks" => (
                "SELECT COUNT(*) FROM callbacks WHERE tenant_id = $1 AND created_at >= $2",
                Some(period_start),
            ),
            "monthlyAiMessages" => (
                "SELECT COUNT(*) FROM ai_usage WHERE tenant_id = $1 AND created_at >= $2 \
                 AND outcome = 'ok'",
                Some(period_start),
            ),
            "monthlyAiTokens" => (
                "SELECT CAST(SUM(prompt_tokens + completion_tokens) AS BIGINT) FROM ai_usage \
                 WHERE tenant_id = $1 AND created_at >= $2",
                Some(period_start),
            ),
            _ => return Ok(0),
        };
        self.scalar(sql, tenant_id, since).await
    }

    /// Everything the tenant uses, monthly figures from `period_start` (unix ms).
    pub async fn usage_counts(&self, tenant_id: &str, period_start: i64) -> Result<UsageCounts> {
        let mut u = UsageCounts {
            widgets: self.count_usage(tenant_id, "widgets", period_start).await?,
            webhooks: self
                .count_usage(tenant_id, "webhooks", period_start)
                .await?,
            contacts: self
                .count_usage(tenant_id, "contacts", period_start)
                .await?,
            monthly_visitors: self
                .count_usage(tenant_id, "monthlyVisitors", period_start)
                .await?,
            monthly_messages: self
                .count_usage(tenant_id, "monthlyMessages", period_start)
                .await?,
            monthly_callbacks: self
                .count_usage(tenant_id, "monthlyCallbacks", period_start)
                .await?,
            monthly_ai_messages: self
                .count_usage(tenant_id, "monthlyAiMessages", period_start)
                .await?,
            monthly_ai_tokens: self
                .count_usage(tenant_id, "monthlyAiTokens", period_start)
                .await?,
            ..UsageCounts::default()
        };
        u.extensions = self
            .scalar(
                "SELECT COUNT(*) FROM extensions WHERE tenant_id = $1",
                tenant_id,
                None,
            )
            .await?;
        u.trunks = self
            .scalar(
                "SELECT COUNT(*) FROM trunks WHERE tenant_id = $1",
                tenant_id,
                None,
            )
            .await?;
        u.monthly_calls = self
            .scalar(
                "SELECT COUNT(*) FROM calls WHERE tenant_id = $1 AND started_at >= $2",
                tenant_id,
                Some(period_start),
            )
            .await?;
        u.monthly_call_minutes = self
            .scalar(
                "SELECT CAST(SUM((ended_at - answered_at + 59999) / 60000) AS BIGINT) FROM calls \
                 WHERE tenant_id = $1 AND started_at >= $2 AND answered_at IS NOT NULL \
                 AND ended_at IS NOT NULL AND ended_at > answered_at",
                tenant_id,
                Some(period_start),
            )
            .await?;
        u.recordings = self
            .scalar(
                "SELECT COUNT(*) FROM recordings WHERE tenant_id = $1",
                tenant_id,
                None,
            )
            .await?;
        u.recording_bytes = self
            .scalar(
                "SELECT CAST(SUM(bytes) AS BIGINT) FROM recordings WHERE tenant_id = $1",
                tenant_id,
                None,
            )
            .await?;
        Ok(u)
    }

    /// Records that the alert (metric, period, threshold) was sent; `false` if it already
    /// was (so each is sent once).
    pub async fn record_usage_alert(
        &self,
        tenant_id: &str,
        metric: &str,
        period_start: i64,
        threshold: i64,
    ) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO usage_alerts (tenant_id, metric, period_start, threshold, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(tenant_id)
        .bind(metric)
        .bind(period_start)
        .bind(threshold)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }
}
