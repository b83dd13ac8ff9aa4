//! Alert rules (issue 19): which events (webhook event names), on which widgets, reach a user
//! on which channel. A rule belongs to the user who made it; its channel's settings are JSON
//! checked by the API, its secret sealed by the API.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{Result, StorageError};
use crate::util::json_list;
use crate::{now_ms, Store};

/// Channel types.
pub const ALERT_CHANNELS: &[&str] = &["ntfy", "webpush", "email"];
/// Most rules a user keeps.
pub const MAX_ALERT_RULES: i64 = 50;

/// When a rule stays quiet: from `from` to `to` (`HH:MM`, crossing midnight when `to` is
/// earlier) in `time_zone`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuietHours {
    /// Start, `HH:MM`.
    #[schemars(example = &"22:00")]
    pub from: String,
    /// End, `HH:MM`.
    #[schemars(example = &"07:00")]
    pub to: String,
    /// IANA time zone.
    #[schemars(example = &"Europe/Lisbon")]
    pub time_zone: String,
}

/// Which visitors a rule alerts on (for `visitor.connected`; other events are not filtered).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VisitorFilter {
    /// Only visitors whose page address contains this (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"/pricing")]
    pub page_contains: Option<String>,
    /// Only visitors from this campaign (`utm_campaign`, case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"spring-sale")]
    pub campaign: Option<String>,
}

impl VisitorFilter {
    /// Whether a `visitor.connected` event's data passes.
    pub fn passes(&self, data: &serde_json::Value) -> bool {
        let field = |k: &str| data.get(k).and_then(|v| v.as_str()).unwrap_or("");
        self.page_contains.as_ref().is_none_or(|p| {
            field("currentUrl")
                .to_lowercase()
                .contains(&p.to_lowercase())
        }) && self
            .campaign
            .as_ref()
            .is_none_or(|c| field("utmCampaign").eq_ignore_ascii_case(c))
    }
}

/// An alert rule as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    /// `alr_...`.
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The user it belongs to.
    pub user_id: String,
    /// A name for people.
    pub name: String,
    /// Webhook event names it alerts on.
    pub events: Vec<String>,
    /// The widgets it covers (`None`: every widget its user sees).
    pub widget_ids: Option<Vec<String>>,
    /// `ntfy`, `webpush` or `email`.
    pub channel_type: String,
    /// The channel's settings (JSON object; secrets not in it).
    pub channel: serde_json::Value,
    /// The channel's secret, sealed.
    pub secret_sealed: Option<String>,
    /// Quiet hours.
    pub quiet: Option<QuietHours>,
    /// Which visitors `visitor.connected` alerts on (`None`: all).
    pub visitor_filter: Option<VisitorFilter>,
    /// Alerts of one event type within this many seconds of the first are grouped.
    pub group_secs: i64,
    /// Whether it alerts.
    pub enabled: bool,
    /// Whether its last delivery gave up.
    pub failing: bool,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

const COLS: &str = "id, tenant_id, user_id, name, events, widget_ids, channel_type, channel, \
                    secret_sealed, quiet, group_secs, enabled, failing, created_at, updated_at, \
                    visitor_filter";

/// A nullable JSON column, parsed.
fn json_col<T: serde::de::DeserializeOwned>(r: &AnyRow, col: &'static str) -> Result<Option<T>> {
    let text: Option<String> = r.try_get(col)?;
    text.map(|t| serde_json::from_str(&t).map_err(|_| StorageError::Corrupt(col)))
        .transpose()
}

fn from_row(r: &AnyRow) -> Result<AlertRule> {
    Ok(AlertRule {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        user_id: r.try_get("user_id")?,
        name: r.try_get("name")?,
        events: json_list(r, "events")?,
        widget_ids: json_col(r, "widget_ids")?,
        channel_type: r.try_get("channel_type")?,
        channel: json_col(r, "channel")?.ok_or(StorageError::Corrupt("channel"))?,
        secret_sealed: r.try_get("secret_sealed")?,
        quiet: json_col(r, "quiet")?,
        visitor_filter: json_col(r, "visitor_filter")?,
        group_secs: r.try_get("group_secs")?,
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        failing: r.try_get::<i64, _>("failing")? != 0,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("JSON of plain data")
}

impl Store {
    /// Stores a new rule (its id and times set here); Invalid when its user has
    /// [`MAX_ALERT_RULES`] already or the channel type is unknown.
    pub async fn create_alert_rule(&self, rule: &AlertRule) -> Result<AlertRule> {
        if !ALERT_CHANNELS.contains(&rule.channel_type.as_str()) {
            return Err(StorageError::Invalid("channel"));
        }
        let n: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM alert_rules WHERE tenant_id = $1 AND user_id = $2",
        )
        .bind(&rule.tenant_id)
        .bind(&rule.user_id)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        if n >= MAX_ALERT_RULES {
            return Err(StorageError::Invalid("alertRules"));
        }
        let now = now_ms();
        let stored = AlertRule {
            id: format!("alr_{}", uuid::Uuid::new_v4().simple()),
            created_at: now,
            updated_at: now,
            failing: false,
            ..rule.clone()
        };
        sqlx::query(&format!(
            "INSERT INTO alert_rules ({COLS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        ))
        .bind(&stored.id)
        .bind(&stored.tenant_id)
        .bind(&stored.user_id)
        .bind(&stored.name)
        .bind(to_json(&stored.events))
        .bind(stored.widget_ids.as_ref().map(to_json))
        .bind(&stored.channel_type)
        .bind(stored.channel.to_string())
        .bind(&stored.secret_sealed)
        .bind(stored.quiet.as_ref().map(to_json))
        .bind(stored.group_secs)
        .bind(i64::from(stored.enabled))
        .bind(0_i64)
        .bind(now)
        .bind(now)
        .bind(stored.visitor_filter.as_ref().map(to_json))
        .execute(&self.pool)
        .await
        .map_err(|e| StorageError::from_write(e, "alert rule"))?;
        Ok(stored)
    }

    /// A user's rules, oldest first.
    pub async fn list_alert_rules(&self, tenant_id: &str, user_id: &str) -> Result<Vec<AlertRule>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM alert_rules WHERE tenant_id = $1 AND user_id = $2 \
             ORDER BY created_at, id LIMIT {MAX_ALERT_RULES}"
        ))
        .bind(tenant_id)
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// One of a user's rules; NotFound for another user's or tenant's.
    pub async fn get_alert_rule(
        &self,
        tenant_id: &str,
        user_id: &str,
        id: &str,
    ) -> Result<AlertRule> {
        let row = sqlx::query(&format!(
            "SELECT {COLS} FROM alert_rules WHERE tenant_id = $1 AND user_id = $2 AND id = $3"
        ))
        .bind(tenant_id)
        .bind(user_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StorageError::NotFound)?;
        from_row(&row)
    }

    /// Replaces a rule's settings (not its owner, id or creation time); NotFound for another
    /// user's or tenant's.
    pub async fn update_alert_rule(&self, rule: &AlertRule) -> Result<AlertRule> {
        if !ALERT_CHANNELS.contains(&rule.channel_type.as_str()) {
            return Err(StorageError::Invalid("channel"));
        }
        let done = sqlx::query(
            "UPDATE alert_rules SET name = $1, events = $2, widget_ids = $3, channel_type = $4, \
             channel = $5, secret_sealed = $6, quiet = $7, group_secs = $8, enabled = $9, \
             updated_at = $10, visitor_filter = $11 WHERE tenant_id = $12 AND user_id = $13 \
             AND id = $14",
        )
        .bind(&rule.name)
        .bind(to_json(&rule.events))
        .bind(rule.widget_ids.as_ref().map(to_json))
        .bind(&rule.channel_type)
        .bind(rule.channel.to_string())
        .bind(&rule.secret_sealed)
        .bind(rule.quiet.as_ref().map(to_json))
        .bind(rule.group_secs)
        .bind(i64::from(rule.enabled))
        .bind(now_ms())
        .bind(rule.visitor_filter.as_ref().map(to_json))
        .bind(&rule.tenant_id)
        .bind(&rule.user_id)
        .bind(&rule.id)
        .execute(&self.pool)
        .await
        .map_err(|e| StorageError::from_write(e, "alert rule"))?;
        if done.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        self.get_alert_rule(&rule.tenant_id, &rule.user_id, &rule.id)
            .await
    }

    /// Deletes one of a user's rules; NotFound for another user's or tenant's.
    pub async fn delete_alert_rule(&self, tenant_id: &str, user_id: &str, id: &str) -> Result<()> {
        let done = sqlx::query(
            "DELETE FROM alert_rules WHERE tenant_id = $1 AND user_id = $2 AND id = $3",
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        Ok(())
    }
}

/// What queueing an event needs of a rule: whether it covers the event, its grouping window,
/// whether it keeps its alerts for a daily summary. Read for every event (a thousand rules
/// may cover one), so only these columns, and the channel only of email rules.
#[derive(Debug, Clone)]
pub(crate) struct RuleMatch {
    pub(crate) id: String,
    events: Vec<String>,
    widget_ids: Option<Vec<String>>,
    visitor_filter: Option<VisitorFilter>,
    channel_type: String,
    pub(crate) group_secs: i64,
    /// An email rule with `digest`: see [`is_digest`].
    pub(crate) digest: bool,
}

const MATCH_COLS: &str = "id, events, widget_ids, visitor_filter, channel_type, group_secs, \
                          CASE WHEN channel_type = 'email' THEN channel END AS email_channel";

fn match_from_row(r: &AnyRow) -> Result<RuleMatch> {
    let email: Option<serde_json::Value> = json_col(r, "email_channel")?;
    let channel_type: String = r.try_get("channel_type")?;
    Ok(RuleMatch {
        id: r.try_get("id")?,
        events: json_list(r, "events")?,
        widget_ids: json_col(r, "widget_ids")?,
        visitor_filter: json_col(r, "visitor_filter")?,
        digest: email.is_some_and(|c| outbox::keeps_digest(&channel_type, &c)),
        channel_type,
        group_secs: r.try_get("group_secs")?,
    })
}

/// Whether `rule` alerts on `event_type` of widget `widget` (`None`: an event of no widget,
/// which only rules covering every widget get).
/// A visitor's own message is what a chat alert tells of (not operators' or the assistant's
/// answers); a visitor filter applies to `visitor.connected`.
fn rule_covers(
    rule: &RuleMatch,
    event_type: &str,
    widget: Option<&str>,
    data: &serde_json::Value,
) -> bool {
    QUEUED_ALERT_CHANNELS.contains(&rule.channel_type.as_str())
        && rule.events.iter().any(|e| e == event_type)
        && match &rule.widget_ids {
            None => true,
            Some(ids) => widget.is_some_and(|w| ids.iter().any(|x| x == w)),
        }
        && match event_type {
            "chat.message.created" => {
                data.get("sender").and_then(|s| s.as_str()) == Some("visitor")
            }
            "visitor.connected" => rule.visitor_filter.as_ref().is_none_or(|f| f.passes(data)),
            _ => true,
        }
}

/// The enabled rules of a tenant that may cover `event_type` of `widget`: their `events` JSON
/// names it and their `widget_ids` are null (every widget) or name the widget — string
/// matches in SQL, so a tenant's thousand rules are not all read for every event; checked
/// exactly by [`covering_rules`].
pub(crate) async fn candidate_rules(
    pool: &sqlx::AnyPool,
    tenant_id: &str,
    event_type: &str,
    widget: Option<&str>,
) -> Result<Vec<RuleMatch>> {
    let rows = sqlx::query(&format!(
        "SELECT {MATCH_COLS} FROM alert_rules WHERE tenant_id = $1 AND enabled = 1 \
         AND events LIKE $2 AND (widget_ids IS NULL OR widget_ids LIKE $3)"
    ))
    .bind(tenant_id)
    .bind(format!("%{}%", like_json_string(event_type)))
    .bind(widget.map_or_else(String::new, |w| format!("%{}%", like_json_string(w))))
    .fetch_all(pool)
    .await?;
    rows.iter().map(match_from_row).collect()
}

/// `s` as a JSON string inside a LIKE pattern: `%` and `_` in it match any character
/// there, which only widens the match (the caller checks exactly).
fn like_json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// The rules of `rules` that alert on this event.
pub(crate) fn covering_rules(
    rules: Vec<RuleMatch>,
    event_type: &str,
    widget: Option<&str>,
    data: &serde_json::Value,
) -> Vec<RuleMatch> {
    rules
        .into_iter()
        .filter(|r| rule_covers(r, event_type, widget, data))
        .collect()
}

mod outbox;

pub use outbox::{
    is_digest, AlertDelivery, AlertOutcome, DueAlert, DIGEST, DIGEST_ALERT, GROUPED_EVENTS_KEPT,
    QUEUED_ALERT_CHANNELS, TEST_ALERT,
};
pub(crate) use outbox::{queue_alerts, QueuedEvent};
