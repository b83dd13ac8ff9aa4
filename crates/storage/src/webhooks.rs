//! Signed webhooks and their durable delivery outbox.
//!
//! A [`Webhook`] belongs to a tenant and subscribes to event types
//! ([`WEBHOOK_EVENTS`]), optionally only for some of the tenant's widgets.
//! [`Store::enqueue_webhook_event`] writes one [`WebhookDelivery`] per
//! matching enabled webhook into the outbox table; a dispatcher claims due
//! rows ([`Store::claim_due_webhook_deliveries`]), sends them and records the
//! outcome. The delivery id stays the same across retries.

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{Result, StorageError};
use crate::util::{bind_all, id_list, json_list, required, to_json, Param, SetList};
use crate::{new_id, now_ms, Store};

/// Every event type a webhook can subscribe to.
pub const WEBHOOK_EVENTS: &[&str] = &[
    "visitor.connected",
    "chat.message.created",
    "call.requested",
    "call.delivery_started",
    "call.delivery_failed",
    "call.unavailable",
    "call.answered",
    "call.ended",
    "call.missed",
    "callback.submitted",
    "conversation.assigned",
    "conversation.state_changed",
    "call.assigned",
    "usage.updated",
    "webhook.test",
];
/// Prefix of every webhook secret.
pub const WEBHOOK_SECRET_PREFIX: &str = "whsec_";
/// Most widget ids in one webhook's filter.
pub const MAX_WEBHOOK_WIDGETS: usize = 100;
/// Most deliveries [`Store::list_webhook_deliveries`] returns.
pub const MAX_LIST_DELIVERIES: i64 = 500;

/// A stored webhook (with its secret: never show it outside create/rotate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// Webhook id (UUID, see [`crate::new_id`]).
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Name (1..=120 chars).
    pub name: String,
    /// Receiver URL (http or https).
    pub url: String,
    /// Subscribed event types (a non-empty subset of [`WEBHOOK_EVENTS`]).
    pub events: Vec<String>,
    /// Widget filter; empty = all widgets.
    pub widget_ids: Vec<String>,
    /// HMAC-SHA256 key.
    pub secret: String,
    /// Whether deliveries are made.
    pub enabled: bool,
    /// Why it was disabled, if it was.
    pub disabled_reason: Option<String>,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Last modification time, unix ms.
    pub updated_at: i64,
}

/// Input of [`Store::create_webhook`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewWebhook {
    /// Name.
    pub name: String,
    /// Receiver URL.
    pub url: String,
    /// Event types.
    pub events: Vec<String>,
    /// Widget filter (ids of the tenant's widgets; empty = all).
    pub widget_ids: Vec<String>,
}

/// Changes for [`Store::update_webhook`]; `None` leaves a field unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookPatch {
    /// New name.
    pub name: Option<String>,
    /// New URL.
    pub url: Option<String>,
    /// New event types.
    pub events: Option<Vec<String>>,
    /// New widget filter.
    pub widget_ids: Option<Vec<String>>,
    /// Enable (clears the disabled reason) or disable by hand.
    pub enabled: Option<bool>,
}

/// State of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its (next) attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Retries exhausted.
    Failed,
    /// Given up because the receiver is gone (410) or the webhook was disabled.
    Abandoned,
}

impl DeliveryStatus {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Abandoned => "abandoned",
        }
    }

    fn parse(s: &str) -> Result<DeliveryStatus> {
        Ok(match s {
            "pending" => DeliveryStatus::Pending,
            "delivered" => DeliveryStatus::Delivered,
            "failed" => DeliveryStatus::Failed,
            "abandoned" => DeliveryStatus::Abandoned,
            _ => return Err(StorageError::Corrupt("status")),
        })
    }
}

/// One event for one webhook, in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    /// Delivery id (UUID, see [`crate::new_id`]), the same on every attempt.
    pub id: String,
    /// The webhook it goes to.
    pub webhook_id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Event type.
    pub event_type: String,
    /// The event's `data` object, as JSON text.
    pub payload: String,
    /// Current state.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: i64,
    /// When the next attempt is due (unix ms); meaningful while pending.
    pub next_attempt_at: i64,
    /// HTTP status of the last attempt, if it got one.
    pub last_status_code: Option<i64>,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
    /// When the event was enqueued (unix ms); sent as `createdAt`.
    pub created_at: i64,
    /// When it was delivered (unix ms).
    pub delivered_at: Option<i64>,
}

/// A claimed delivery with what is needed to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    /// The delivery (as it was before the claim's lease).
    pub delivery: WebhookDelivery,
    /// The webhook's URL.
    pub url: String,
    /// The webhook's secret.
    pub secret: String,
    /// The claim: the `next_attempt_at` it set (until when the attempt is this worker's).
    /// The attempt's outcome is recorded only while it is still this (see
    /// [`Store::mark_webhook_delivered`]).
    pub lease: i64,
}

const WEBHOOK_COLS: &str = "id, tenant_id, name, url, events, widget_ids, secret, enabled, \
     disabled_reason, created_at, updated_at";

const DELIVERY_COLS: &str = "id, webhook_id, tenant_id, event_type, payload, status, attempts, \
     next_attempt_at, last_status_code, last_error, created_at, delivered_at";

fn webhook_from_row(row: &AnyRow) -> Result<Webhook> {
    Ok(Webhook {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        name: row.try_get("name")?,
        url: row.try_get("url")?,
        events: json_list(row, "events")?,
        widget_ids: json_list(row, "widget_ids")?,
        secret: row.try_get("secret")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        disabled_reason: row.try_get("disabled_reason")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn delivery_from_row(row: &AnyRow) -> Result<WebhookDelivery> {
    let status: String = row.try_get("status")?;
    Ok(WebhookDelivery {
        id: row.try_get("id")?,
        webhook_id: row.try_get("webhook_id")?,
        tenant_id: row.try_get("tenant_id")?,
        event_type: row.try_get("event_type")?,
        payload: row.try_get("payload")?,
        status: DeliveryStatus::parse(&status)?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_status_code: row.try_get("last_status_code")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        delivered_at: row.try_get("delivered_at")?,
    })
}

/// A fresh secret: [`WEBHOOK_SECRET_PREFIX`] + 64 hex characters (32 random bytes).
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{WEBHOOK_SECRET_PREFIX}{}", hex::encode(bytes))
}

fn webhook_url(u: &str) -> Result<String> {
    let u = u.trim();
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
    let ok = u.len() <= 2048
        && !u.chars().any(|c| c.is_whitespace() || c.is_control())
        && host.is_some_and(|h| !h.is_empty() && !h.contains('@'));
    if ok {
        Ok(u.to_owned())
    } else {
        Err(StorageError::Invalid("url"))
    }
}

fn events_json(list: &[String]) -> Result<String> {
    let ok = !list.is_empty()
        && list.len() <= WEBHOOK_EVENTS.len()
        && list.iter().all(|e| WEBHOOK_EVENTS.contains(&e.as_str()));
    if !ok {
        return Err(StorageError::Invalid("events"));
    }
    let mut uniq: Vec<String> = Vec::with_capacity(list.len());
    for e in list {
        if !uniq.contains(e) {
            uniq.push(e.clone());
        }
    }
    Ok(to_json(&uniq))
}

impl Store {
    /// Checks that every id in `ids` is a widget of the tenant.
    async fn check_widget_ids(&self, tenant_id: &str, ids: &[String]) -> Result<String> {
        id_list(ids, MAX_WEBHOOK_WIDGETS, "widget_ids")?;
        let mut uniq: Vec<String> = Vec::with_capacity(ids.len());
        for id in ids {
            match self.get_widget(tenant_id, id).await {
                Ok(_) => {}
                Err(StorageError::NotFound) => return Err(StorageError::Invalid("widget_ids")),
                Err(e) => return Err(e),
            }
            if !uniq.contains(id) {
                uniq.push(id.clone());
            }
        }
        Ok(to_json(&uniq))
    }

    /// Creates a webhook in `tenant_id`, enabled, with a fresh secret.
    /// [`StorageError::Invalid`] names a bad field (`name`, `url`, `events`,
    /// `widget_ids` — an id that is not one of the tenant's widgets).
    pub async fn create_webhook(&self, tenant_id: &str, new: NewWebhook) -> Result<Webhook> {
        let name = required(&new.name, 120, "name")?;
        let url = webhook_url(&new.url)?;
        let events = events_json(&new.events)?;
        let widget_ids = self.check_widget_ids(tenant_id, &new.widget_ids).await?;
        let now = now_ms();
        let id = new_id();
        let sql = format!(
            "INSERT INTO webhooks ({WEBHOOK_COLS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, 1, NULL, $8, $8) RETURNING {WEBHOOK_COLS}"
        );
        let row = sqlx::query(&sql)
            .bind(&id)
            .bind(tenant_id)
            .bind(name)
            .bind(url)
            .bind(events)
            .bind(widget_ids)
            .bind(new_secret())
            .bind(now)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| StorageError::from_write(e, "webhook"))?;
        webhook_from_row(&row)
    }

    /// Webhooks of a tenant, oldest first.
    pub async fn list_webhooks(&self, tenant_id: &str) -> Result<Vec<Webhook>> {
        let sql = format!(
            "SELECT {WEBHOOK_COLS} FROM webhooks WHERE tenant_id = $1 ORDER BY created_at, id"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(webhook_from_row).collect()
    }

    /// One webhook of a tenant; NotFound if missing or another tenant's.
    pub async fn get_webhook(&self, tenant_id: &str, id: &str) -> Result<Webhook> {
        let sql = format!("SELECT {WEBHOOK_COLS} FROM webhooks WHERE id = $1 AND tenant_id = $2");
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StorageError::NotFound)?;
        webhook_from_row(&row)
    }

    /// Applies `patch`; NotFound if missing or another tenant's. Enabling
    /// clears `disabled_reason`; disabling by hand sets it to `disabled by user`.
    pub async fn update_webhook(
        &self,
        tenant_id: &str,
        id: &str,
        patch: WebhookPatch,
    ) -> Result<Webhook> {
        let mut set = SetList::default();
        set.set("updated_at", Param::Int(now_ms()));
        if let Some(v) = &patch.name {
            set.set("name", Param::Text(required(v, 120, "name")?));
        }
        if let Some(v) = &patch.url {
            set.set("url", Param::Text(webhook_url(v)?));
        }
        if let Some(v) = &patch.events {
            set.set("events", Param::Text(events_json(v)?));
        }
        if let Some(v) = &patch.widget_ids {
            set.set(
                "widget_ids",
                Param::Text(self.check_widget_ids(tenant_id, v).await?),
            );
        }
        if let Some(enabled) = patch.enabled {
            set.set("enabled", Param::Int(i64::from(enabled)));
            set.set(
                "disabled_reason",
                Param::OptText((!enabled).then(|| "disabled by user".to_owned())),
            );
        }
        let (sql, params) = set.finish_scoped("webhooks", id, tenant_id, WEBHOOK_COLS);
        let row = bind_all(sqlx::query(&sql), params)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StorageError::NotFound)?;
        webhook_from_row(&row)
    }

    /// Deletes a webhook and its delivery log; NotFound if missing or another tenant's.
    pub async fn delete_webhook(&self, tenant_id: &str, id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND tenant_id = $2")
            .bind(id)
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM webhooks WHERE id = $1 AND tenant_id = $2")
            .bind(id)
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    /// Replaces the secret with a fresh one and returns the webhook (with it).
    pub async fn rotate_webhook_secret(&self, tenant_id: &str, id: &str) -> Result<Webhook> {
        let sql = format!(
            "UPDATE webhooks SET secret = $1, updated_at = $2 WHERE id = $3 AND tenant_id = $4 \
             RETURNING {WEBHOOK_COLS}"
        );
        let row = sqlx::query(&sql)
            .bind(new_secret())
            .bind(now_ms())
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StorageError::NotFound)?;
        webhook_from_row(&row)
    }

    /// Disables a webhook (whatever its tenant) with `reason`, e.g. when the
    /// receiver answered 410 Gone. Its pending deliveries stay and resume if
    /// it is enabled again.
    pub async fn disable_webhook(&self, id: &str, reason: &str) -> Result<()> {
        sqlx::query(
            "UPDATE webhooks SET enabled = 0, disabled_reason = $1, updated_at = $2 WHERE id = $3",
        )
        .bind(reason)
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Fans an event out to the tenant's enabled webhooks subscribed to
    /// `event_type` whose widget filter is empty or contains `widget_id` (an
    /// event without a widget, such as `usage.updated`, goes to every
    /// subscribed webhook). Writes one pending delivery each, due now, and
    /// returns them. `data` is the event's `data` object.
    pub async fn enqueue_webhook_event(
        &self,
        tenant_id: &str,
        event_type: &str,
        widget_id: Option<&str>,
        data: &serde_json::Value,
    ) -> Result<Vec<WebhookDelivery>> {
        if !WEBHOOK_EVENTS.contains(&event_type) {
            return Err(StorageError::Invalid("event_type"));
        }
        let targets: Vec<Webhook> = self
            .list_webhooks(tenant_id)
            .await?
            .into_iter()
            .filter(|w| {
                w.enabled
                    && w.events.iter().any(|e| e == event_type)
                    && (w.widget_ids.is_empty()
                        || widget_id.is_none_or(|id| w.widget_ids.iter().any(|x| x == id)))
            })
            .collect();
        let payload = data.to_string();
        let widget = widget_id.or_else(|| data.get("widgetId").and_then(|v| v.as_str()));
        let rules = crate::alerts::covering_rules(
            crate::alerts::candidate_rules(&self.pool, tenant_id, event_type, widget).await?,
            event_type,
            widget,
            data,
        );
        let now = now_ms();
        // The rules' last alerts are read before writing: a write transaction from the start.
        let mut w = self.begin_write().await?;
        let tx = &mut w.tx;
        let mut out = Vec::with_capacity(targets.len());
        for w in targets {
            let d = WebhookDelivery {
                id: new_id(),
                webhook_id: w.id,
                tenant_id: tenant_id.to_owned(),
                event_type: event_type.to_owned(),
                payload: payload.clone(),
                status: DeliveryStatus::Pending,
                attempts: 0,
                next_attempt_at: now,
                last_status_code: None,
                last_error: None,
                created_at: now,
                delivered_at: None,
            };
            insert_delivery(tx, &d).await?;
            out.push(d);
        }
        // The users' alert rules, in the same transaction.
        let alerts = crate::alerts::queue_alerts(
            tx,
            self.anonymous_params(),
            &crate::alerts::QueuedEvent {
                tenant_id,
                event_type,
                widget,
                data,
                now,
            },
            &rules,
        )
        .await?;
        w.tx.commit().await?;
        if alerts > 0 {
            self.alert_signal().notify_one();
        }
        Ok(out)
    }

    /// Enqueues a `webhook.test` event for one webhook of the tenant,
    /// whatever its subscriptions; NotFound if missing or another tenant's.
    pub async fn enqueue_webhook_test(
        &self,
        tenant_id: &str,
        webhook_id: &str,
        data: &serde_json::Value,
    ) -> Result<WebhookDelivery> {
        let w = self.get_webhook(tenant_id, webhook_id).await?;
        let now = now_ms();
        let d = WebhookDelivery {
            id: new_id(),
            webhook_id: w.id,
            tenant_id: tenant_id.to_owned(),
            event_type: "webhook.test".to_owned(),
            payload: data.to_string(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: now,
            last_status_code: None,
            last_error: None,
            created_at: now,
            delivered_at: None,
        };
        let mut tx = self.pool.begin().await?;
        insert_delivery(&mut tx, &d).await?;
        tx.commit().await?;
        Ok(d)
    }

    /// Claims up to `limit` pending deliveries of enabled webhooks due at
    /// `now`, oldest due first: each gets `next_attempt_at = now + lease_ms`
    /// so no other claimer takes it meanwhile, and a crash before the outcome
    /// is recorded only delays a redelivery. Returned rows show the state
    /// before the lease.
    pub async fn claim_due_webhook_deliveries(
        &self,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<DueDelivery>> {
        let cols = DELIVERY_COLS
            .split(", ")
            .map(|c| format!("d.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {cols}, w.url AS w_url, w.secret AS w_secret FROM webhook_deliveries d \
             JOIN webhooks w ON w.id = d.webhook_id \
             WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND w.enabled = 1 \
             ORDER BY d.next_attempt_at, d.created_at, d.id LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let delivery = delivery_from_row(row)?;
            let claimed = sqlx::query(
                "UPDATE webhook_deliveries SET next_attempt_at = $1 \
                 WHERE id = $2 AND status = 'pending' AND next_attempt_at = $3",
            )
            .bind(now.saturating_add(lease_ms))
            .bind(&delivery.id)
            .bind(delivery.next_attempt_at)
            .execute(&self.pool)
            .await?;
            if claimed.rows_affected() == 1 {
                out.push(DueDelivery {
                    delivery,
                    url: row.try_get("w_url")?,
                    secret: row.try_get("w_secret")?,
                    lease: now.saturating_add(lease_ms),
                });
            }
        }
        Ok(out)
    }

    /// Records a successful attempt: delivered, with the receiver's status. `lease` is the
    /// claim's ([`DueDelivery::lease`]): the outcome of an attempt whose claim another worker
    /// took over meanwhile (its lease ran out; that worker's attempt is the one that counts)
    /// is not written. Returns whether it was.
    pub async fn mark_webhook_delivered(
        &self,
        id: &str,
        lease: i64,
        status_code: i64,
    ) -> Result<bool> {
        let now = now_ms();
        let res = sqlx::query(
            "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, \
             last_status_code = $1, last_error = NULL, delivered_at = $2 \
             WHERE id = $3 AND status = 'pending' AND next_attempt_at = $4",
        )
        .bind(status_code)
        .bind(now)
        .bind(id)
        .bind(lease)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() > 0)
    }

    /// Records a failed attempt to be retried at `next_attempt_at` (`lease`: as for
    /// [`Store::mark_webhook_delivered`]).
    pub async fn retry_webhook_delivery(
        &self,
        id: &str,
        lease: i64,
        next_attempt_at: i64,
        status_code: Option<i64>,
        error: &str,
    ) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = $1, \
             last_status_code = $2, last_error = $3 \
             WHERE id = $4 AND status = 'pending' AND next_attempt_at = $5",
        )
        .bind(next_attempt_at)
        .bind(status_code)
        .bind(truncate(error))
        .bind(id)
        .bind(lease)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() > 0)
    }

    /// Records a last failed attempt: the delivery ends as `status`
    /// ([`DeliveryStatus::Failed`] or [`DeliveryStatus::Abandoned`]); `lease`: as for
    /// [`Store::mark_webhook_delivered`].
    pub async fn give_up_webhook_delivery(
        &self,
        id: &str,
        lease: i64,
        status: DeliveryStatus,
        status_code: Option<i64>,
        error: &str,
    ) -> Result<bool> {
        if !matches!(status, DeliveryStatus::Failed | DeliveryStatus::Abandoned) {
            return Err(StorageError::Invalid("status"));
        }
        let res = sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, \
             last_status_code = $2, last_error = $3 \
             WHERE id = $4 AND status = 'pending' AND next_attempt_at = $5",
        )
        .bind(status.as_str())
        .bind(status_code)
        .bind(truncate(error))
        .bind(id)
        .bind(lease)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() > 0)
    }

    /// One delivery of the tenant; NotFound if missing or another tenant's.
    pub async fn get_webhook_delivery(&self, tenant_id: &str, id: &str) -> Result<WebhookDelivery> {
        let sql = format!(
            "SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE id = $1 AND tenant_id = $2"
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StorageError::NotFound)?;
        delivery_from_row(&row)
    }

    /// The delivery log of a webhook of the tenant, newest first, at most
    /// `limit` (capped at [`MAX_LIST_DELIVERIES`]); NotFound if the webhook
    /// is missing or another tenant's.
    pub async fn list_webhook_deliveries(
        &self,
        tenant_id: &str,
        webhook_id: &str,
        limit: i64,
    ) -> Result<Vec<WebhookDelivery>> {
        self.get_webhook(tenant_id, webhook_id).await?;
        let sql = format!(
            "SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE webhook_id = $1 \
             AND tenant_id = $2 ORDER BY created_at DESC, id DESC LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(webhook_id)
            .bind(tenant_id)
            .bind(limit.clamp(1, MAX_LIST_DELIVERIES))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(delivery_from_row).collect()
    }
}

/// Keeps stored error texts short (at most 500 chars).
fn truncate(s: &str) -> String {
    s.chars().take(500).collect()
}

async fn insert_delivery(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    d: &WebhookDelivery,
) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO webhook_deliveries ({DELIVERY_COLS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(&d.id)
    .bind(&d.webhook_id)
    .bind(&d.tenant_id)
    .bind(&d.event_type)
    .bind(&d.payload)
    .bind(d.status.as_str())
    .bind(d.attempts)
    .bind(d.next_attempt_at)
    .bind(d.last_status_code)
    .bind(&d.last_error)
    .bind(d.created_at)
    .bind(d.delivered_at)
    .execute(&mut **tx)
    .await
    .map_err(|e| StorageError::from_write(e, "webhook delivery"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_urls_events() {
        let s = new_secret();
        assert!(s.starts_with(WEBHOOK_SECRET_PREFIX));
        assert_eq!(s.len(), WEBHOOK_SECRET_PREFIX.len() + 64);
        assert_ne!(s, new_secret());
        assert!(webhook_url("https://example.com/hook").is_ok());
        assert!(webhook_url("http://127.0.0.1:8080").is_ok());
        for bad in ["ftp://x", "https://", "https://a b", "https://u@evil", "x"] {
            assert!(webhook_url(bad).is_err(), "{bad}");
        }
        assert_eq!(
            events_json(&["call.missed".into(), "call.missed".into()]).unwrap(),
            r#"["call.missed"]"#
        );
        assert!(events_json(&[]).is_err());
        assert!(events_json(&["call.nope".into()]).is_err());
    }
}
