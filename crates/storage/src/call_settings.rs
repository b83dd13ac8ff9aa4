//! Per-widget call settings: how a widget's browser calls ring and what they play.
//!
//! Stored as one JSON document per widget (`widget_call_settings`); a widget without a row has
//! the defaults. Validation lives here so every writer (API, MCP) gets the same rules.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::error::{Result, StorageError};
use crate::{now_ms, Store};

/// Ring timeout bounds (seconds).
pub const RING_TIMEOUT_RANGE: std::ops::RangeInclusive<u32> = 5..=300;
/// Most PSTN forward numbers per widget.
pub const MAX_PSTN_NUMBERS: usize = 10;

/// A widget's call settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CallSettings {
    /// How long the targets ring before the visitor hears the unavailable message, seconds.
    #[serde(default = "default_ring_timeout")]
    #[schemars(range(min = 5, max = 300))]
    pub ring_timeout_secs: u32,
    /// Record the widget's answered calls.
    #[serde(default)]
    pub record: bool,
    /// Ring the SIP extensions assigned to the widget.
    #[serde(default = "yes")]
    pub ring_extensions: bool,
    /// Mobile or landline numbers (E.164) rung through `pstn_trunk_id`; the answerer must press
    /// 1 after the accept prompt before the call is theirs.
    #[serde(default)]
    #[schemars(length(max = 10), inner(regex(pattern = r"^\+[1-9][0-9]{7,14}$")), example = ["+351912345678"])]
    pub pstn_numbers: Vec<String>,
    /// The outbound trunk PSTN legs use (the tenant's first trunk allowed to dial the number
    /// when unset).
    #[serde(default)]
    pub pstn_trunk_id: Option<String>,
    /// A number trusted PBX calls dial to reach this widget's queue (digits, 2-15).
    #[serde(default)]
    #[schemars(regex(pattern = r"^[0-9]{2,15}$"), example = &"800")]
    pub queue_number: Option<String>,
    /// Visitors may call with video (the widget shows a video-call button).
    #[serde(default)]
    pub video: bool,
}

fn default_ring_timeout() -> u32 {
    30
}

fn yes() -> bool {
    true
}

impl Default for CallSettings {
    fn default() -> Self {
        CallSettings {
            ring_timeout_secs: default_ring_timeout(),
            record: false,
            ring_extensions: true,
            pstn_numbers: Vec::new(),
            pstn_trunk_id: None,
            queue_number: None,
            video: false,
        }
    }
}

/// Whether `n` is an E.164 number: `+` then 8-15 digits, not starting with 0.
pub fn is_e164(n: &str) -> bool {
    n.strip_prefix('+').is_some_and(|d| {
        (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    })
}

impl CallSettings {
    /// Check the settings; the error names the field.
    pub fn validate(&self) -> Result<()> {
        if !RING_TIMEOUT_RANGE.contains(&self.ring_timeout_secs) {
            return Err(StorageError::Invalid("ringTimeoutSecs must be 5-300"));
        }
        if self.pstn_numbers.len() > MAX_PSTN_NUMBERS {
            return Err(StorageError::Invalid("pstnNumbers: at most 10"));
        }
        if !self.pstn_numbers.iter().all(|n| is_e164(n)) {
            return Err(StorageError::Invalid(
                "pstnNumbers must be E.164 numbers (+ and 8-15 digits)",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        if !self.pstn_numbers.iter().all(|n| seen.insert(n)) {
            return Err(StorageError::Invalid("pstnNumbers has duplicates"));
        }
        if let Some(q) = &self.queue_number {
            if !(2..=15).contains(&q.len()) || !q.bytes().all(|b| b.is_ascii_digit()) {
                return Err(StorageError::Invalid("queueNumber must be 2-15 digits"));
            }
        }
        Ok(())
    }
}

impl Store {
    /// The call settings of the tenant's widget (defaults when never set); NotFound when the
    /// widget is not the tenant's.
    pub async fn get_call_settings(
        &self,
        tenant_id: &str,
        widget_id: &str,
    ) -> Result<CallSettings> {
        self.get_widget(tenant_id, widget_id).await?;
        let row = sqlx::query(
            "SELECT settings FROM widget_call_settings WHERE widget_id = $1 AND tenant_id = $2",
        )
        .bind(widget_id)
        .bind(tenant_id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            None => Ok(CallSettings::default()),
            Some(r) => {
                let text: String = r.try_get("settings")?;
                serde_json::from_str(&text).map_err(|_| StorageError::Corrupt("settings"))
            }
        }
    }

    /// Replace the call settings of the tenant's widget (validated; nothing changes on error).
    /// A queue number must be unique within the tenant (Conflict).
    pub async fn put_call_settings(
        &self,
        tenant_id: &str,
        widget_id: &str,
        s: &CallSettings,
    ) -> Result<()> {
        s.validate()?;
        self.get_widget(tenant_id, widget_id).await?;
        if let Some(q) = &s.queue_number {
            if let Some((w, _)) = self.widget_for_queue_number(tenant_id, q).await? {
                if w != widget_id {
                    return Err(StorageError::Conflict("queue number already in use"));
                }
            }
        }
        let text = serde_json::to_string(s).map_err(|_| StorageError::Invalid("settings"))?;
        sqlx::query(
            "INSERT INTO widget_call_settings (widget_id, tenant_id, settings, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (widget_id) DO UPDATE SET \
             settings = excluded.settings, updated_at = excluded.updated_at \
             WHERE widget_call_settings.tenant_id = excluded.tenant_id",
        )
        .bind(widget_id)
        .bind(tenant_id)
        .bind(text)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every widget's queue number: (tenant, widget, number), for the SIP directory at start.
    pub async fn all_queue_numbers(&self) -> Result<Vec<(String, String, String)>> {
        let rows = sqlx::query("SELECT tenant_id, widget_id, settings FROM widget_call_settings")
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::new();
        for r in rows {
            let text: String = r.try_get("settings")?;
            if let Ok(CallSettings {
                queue_number: Some(q),
                ..
            }) = serde_json::from_str(&text)
            {
                out.push((r.try_get("tenant_id")?, r.try_get("widget_id")?, q));
            }
        }
        Ok(out)
    }

    /// The tenant's widget whose queue number is `number`, with its settings.
    pub async fn widget_for_queue_number(
        &self,
        tenant_id: &str,
        number: &str,
    ) -> Result<Option<(String, CallSettings)>> {
        let rows = sqlx::query(
            "SELECT widget_id, settings FROM widget_call_settings WHERE tenant_id = $1",
        )
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?;
        for r in rows {
            let text: String = r.try_get("settings")?;
            let Ok(s) = serde_json::from_str::<CallSettings>(&text) else {
                continue;
            };
            if s.queue_number.as_deref() == Some(number) {
                return Ok(Some((r.try_get("widget_id")?, s)));
            }
        }
        Ok(None)
    }
}
