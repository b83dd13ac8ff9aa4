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
                    secret_sealed, quiet, group_secs, enabled, failing, created_at, updated_at";

fn from_row(r: &AnyRow) -> Result<AlertRule> {
    let widget_ids: Option<String> = r.try_get("widget_ids")?;
    let channel: String = r.try_get("channel")?;
    let quiet: Option<String> = r.try_get("quiet")?;
    Ok(AlertRule {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        user_id: r.try_get("user_id")?,
        name: r.try_get("name")?,
        events: json_list(r, "events")?,
        widget_ids: widget_ids
            .map(|t| serde_json::from_str(&t).map_err(|_| StorageError::Corrupt("widget_ids")))
            .transpose()?,
        channel_type: r.try_get("channel_type")?,
        channel: serde_json::from_str(&channel).map_err(|_| StorageError::Corrupt("channel"))?,
        secret_sealed: r.try_get("secret_sealed")?,
        quiet: quiet
            .map(|t| serde_json::from_str(&t).map_err(|_| StorageError::Corrupt("quiet")))
            .transpose()?,
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
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
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
             updated_at = $10 WHERE tenant_id = $11 AND user_id = $12 AND id = $13",
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

/// Channel types whose alerts are queued (the others' rules are kept, and queue nothing until
/// their sender exists).
pub const QUEUED_ALERT_CHANNELS: &[&str] = &["ntfy"];
/// Events a grouped alert keeps (its `count` says how many there were).
pub const GROUPED_EVENTS_KEPT: usize = 10;

/// An alert in the outbox: one message to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertDelivery {
    /// Id.
    pub id: String,
    /// Its rule.
    pub rule_id: String,
    /// The tenant.
    #[serde(skip)]
    pub tenant_id: String,
    /// The event type.
    pub event_type: String,
    /// The widget of its first event.
    pub widget_id: Option<String>,
    /// `{"count", "events": [{"type", "widgetId", "at", "data"}]}` (the first
    /// [`GROUPED_EVENTS_KEPT`] events).
    #[serde(skip)]
    pub payload: String,
    /// Events it tells of.
    pub event_count: i64,
    /// `pending`, `delivered`, `failed` or `suppressed` (quiet hours, or a widget its user no
    /// longer sees).
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// When it was first due (unix ms): at once for the first event of a burst, at the end of
    /// the grouping window for the ones after it.
    pub due_at: i64,
    /// When the next attempt is due.
    pub next_attempt_at: i64,
    /// HTTP status of the last attempt.
    pub last_status_code: Option<i64>,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub delivered_at: Option<i64>,
}

const DELIVERY_COLS: &str = "id, rule_id, tenant_id, event_type, widget_id, payload, event_count, \
                             status, attempts, due_at, next_attempt_at, last_status_code, \
                             last_error, created_at, delivered_at";

fn delivery_from_row(r: &AnyRow) -> Result<AlertDelivery> {
    Ok(AlertDelivery {
        id: r.try_get("id")?,
        rule_id: r.try_get("rule_id")?,
        tenant_id: r.try_get("tenant_id")?,
        event_type: r.try_get("event_type")?,
        widget_id: r.try_get("widget_id")?,
        payload: r.try_get("payload")?,
        event_count: r.try_get("event_count")?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        due_at: r.try_get("due_at")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        last_status_code: r.try_get("last_status_code")?,
        last_error: r.try_get("last_error")?,
        created_at: r.try_get("created_at")?,
        delivered_at: r.try_get("delivered_at")?,
    })
}

impl AlertDelivery {
    /// Still collecting the events of its grouping window: never tried, not yet due, not
    /// claimed.
    fn collecting(&self, now: i64) -> bool {
        self.status == "pending"
            && self.attempts == 0
            && self.next_attempt_at == self.due_at
            && self.due_at > now
    }
}

/// Whether `rule` alerts on `event_type` of widget `widget` (`None`: an event of no widget,
/// which only rules covering every widget get).
fn rule_covers(rule: &AlertRule, event_type: &str, widget: Option<&str>) -> bool {
    rule.enabled
        && QUEUED_ALERT_CHANNELS.contains(&rule.channel_type.as_str())
        && rule.events.iter().any(|e| e == event_type)
        && match &rule.widget_ids {
            None => true,
            Some(ids) => widget.is_some_and(|w| ids.iter().any(|x| x == w)),
        }
}

/// Queues the alerts an event causes, in the transaction that queues its webhook deliveries:
/// for each rule covering it, the first event of a burst gets a message due now; events after
/// it within the rule's grouping window join one message due when the window closes (one per
/// window while the burst goes on). Returns how many events were queued or joined.
pub(crate) async fn queue_alerts(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant_id: &str,
    event_type: &str,
    widget_id: Option<&str>,
    data: &serde_json::Value,
    now: i64,
) -> Result<usize> {
    let widget = widget_id.or_else(|| data.get("widgetId").and_then(|v| v.as_str()));
    let rows = sqlx::query(&format!(
        "SELECT {COLS} FROM alert_rules WHERE tenant_id = $1 AND enabled = 1"
    ))
    .bind(tenant_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut queued = 0;
    for row in &rows {
        let rule = from_row(row)?;
        if !rule_covers(&rule, event_type, widget) {
            continue;
        }
        let event =
            serde_json::json!({"type": event_type, "widgetId": widget, "at": now, "data": data});
        let window = rule.group_secs.saturating_mul(1000);
        let last = sqlx::query(&format!(
            "SELECT {DELIVERY_COLS} FROM alert_deliveries WHERE rule_id = $1 AND event_type = $2 \
             ORDER BY created_at DESC, id DESC LIMIT 1"
        ))
        .bind(&rule.id)
        .bind(event_type)
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| delivery_from_row(&r))
        .transpose()?;
        let due = match &last {
            Some(l) if window > 0 && l.collecting(now) => {
                let mut p: serde_json::Value = serde_json::from_str(&l.payload)
                    .map_err(|_| StorageError::Corrupt("payload"))?;
                if let Some(list) = p["events"].as_array_mut() {
                    if list.len() < GROUPED_EVENTS_KEPT {
                        list.push(event.clone());
                    }
                }
                p["count"] = serde_json::json!(l.event_count + 1);
                let joined = sqlx::query(
                    "UPDATE alert_deliveries SET event_count = event_count + 1, payload = $1 \
                     WHERE id = $2 AND attempts = 0 AND next_attempt_at = due_at",
                )
                .bind(p.to_string())
                .bind(&l.id)
                .execute(&mut **tx)
                .await?;
                if joined.rows_affected() == 1 {
                    queued += 1;
                    continue;
                }
                // Claimed meanwhile: the event goes out on its own, now.
                now
            }
            Some(l) if window > 0 && l.due_at > now - window => {
                l.due_at.saturating_add(window).max(now)
            }
            _ => now,
        };
        let payload = serde_json::json!({"count": 1, "events": [event]});
        sqlx::query(&format!(
            "INSERT INTO alert_deliveries ({DELIVERY_COLS}) VALUES \
             ($1, $2, $3, $4, $5, $6, 1, 'pending', 0, $7, $7, NULL, NULL, $8, NULL)"
        ))
        .bind(crate::new_id())
        .bind(&rule.id)
        .bind(tenant_id)
        .bind(event_type)
        .bind(widget)
        .bind(payload.to_string())
        .bind(due)
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(|e| StorageError::from_write(e, "alert delivery"))?;
        queued += 1;
    }
    Ok(queued)
}

impl Store {
    /// A user's rule's alerts, newest first (at most `limit`, 1-500); NotFound for another
    /// user's or tenant's rule.
    pub async fn list_alert_deliveries(
        &self,
        tenant_id: &str,
        user_id: &str,
        rule_id: &str,
        limit: i64,
    ) -> Result<Vec<AlertDelivery>> {
        self.get_alert_rule(tenant_id, user_id, rule_id).await?;
        let rows = sqlx::query(&format!(
            "SELECT {DELIVERY_COLS} FROM alert_deliveries WHERE tenant_id = $1 AND rule_id = $2 \
             ORDER BY created_at DESC, id DESC LIMIT $3"
        ))
        .bind(tenant_id)
        .bind(rule_id)
        .bind(limit.clamp(1, 500))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(delivery_from_row).collect()
    }
}
