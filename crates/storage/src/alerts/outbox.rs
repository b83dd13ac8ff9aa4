//! The alert outbox: alerts queued by events (grouped per rule), claimed by the sender,
//! their outcomes, test alerts and the daily summaries' bookkeeping.

use super::*;
use crate::util::{padded, Placeholders};

/// Channel types whose alerts are queued (the others' rules are kept, and queue nothing until
/// their sender exists).
pub const QUEUED_ALERT_CHANNELS: &[&str] = &["ntfy", "email", "webpush"];
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

/// The status of an alert kept for its rule's daily summary.
pub const DIGEST: &str = "digest";
/// The event type of a daily summary's own row.
pub const DIGEST_ALERT: &str = "alert.digest";

/// Whether a rule mails one summary a day instead of each alert.
pub fn is_digest(rule: &AlertRule) -> bool {
    keeps_digest(&rule.channel_type, &rule.channel)
}

/// Whether a rule of this channel mails one summary a day (an email channel with `digest`).
pub(crate) fn keeps_digest(channel_type: &str, channel: &serde_json::Value) -> bool {
    channel_type == "email" && channel["digest"].as_bool() == Some(true)
}

/// Rows per multi-row INSERT (4 parameters each plus 5 shared: 2,005 a statement, under
/// SQLite's 32,766 and PostgreSQL's 65,535).
const INSERT_CHUNK: usize = 500;

/// Ids per statement when outcomes are recorded (SQLite allows 32,766 parameters).
const OUTCOME_CHUNK: usize = 512;

/// Queues the alerts an event causes for `rules` (those covering it, read before the
/// transaction), in the transaction that queues its webhook deliveries: for each rule, the
/// first event of a burst gets a message due now; events after it within the rule's grouping
/// window join one message due when the window closes (one per window while the burst goes
/// on). The rules' recent alerts are read in one query and the new ones written in a few
/// multi-row inserts, so an event covered by a thousand rules costs a handful of statements.
/// Returns how many events were queued or joined.
pub(crate) async fn queue_alerts(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    anonymous: bool,
    ev: &QueuedEvent<'_>,
    rules: &[RuleMatch],
) -> Result<usize> {
    if rules.is_empty() {
        return Ok(0);
    }
    let QueuedEvent {
        tenant_id,
        event_type,
        widget,
        data,
        now,
    } = *ev;
    let event =
        serde_json::json!({"type": event_type, "widgetId": widget, "at": now, "data": data});
    // The latest alert of each grouping rule: only those of the last two windows can matter
    // (a grouped alert is due at most one window after it was made).
    let grouping: Vec<&RuleMatch> = rules.iter().filter(|r| r.group_secs > 0).collect();
    let mut last: std::collections::HashMap<String, AlertDelivery> = Default::default();
    for chunk in grouping.chunks(500) {
        let since = now.saturating_sub(
            chunk
                .iter()
                .map(|r| r.group_secs.saturating_mul(2000))
                .max()
                .unwrap_or(0),
        );
        let mut p = Placeholders::new(anonymous);
        let sql = format!(
            "SELECT {DELIVERY_COLS} FROM alert_deliveries WHERE event_type = {} \
             AND created_at >= {} AND rule_id IN ({})",
            p.next(),
            p.next(),
            p.list(chunk.len())
        );
        let mut q = sqlx::query(&sql).bind(event_type).bind(since);
        for r in chunk {
            q = q.bind(&r.id);
        }
        for row in q.fetch_all(&mut **tx).await? {
            let d = delivery_from_row(&row)?;
            let newer = last
                .get(&d.rule_id)
                .is_none_or(|l| (d.created_at, &d.id) > (l.created_at, &l.id));
            if newer {
                last.insert(d.rule_id.clone(), d);
            }
        }
    }
    let mut queued = 0;
    let mut inserts: Vec<(&RuleMatch, i64)> = Vec::new();
    for rule in rules {
        if rule.digest {
            // Kept for the rule's daily summary, never sent one by one.
            inserts.push((rule, now));
            continue;
        }
        let window = rule.group_secs.saturating_mul(1000);
        let due = match last.get(&rule.id) {
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
        inserts.push((rule, due));
    }
    let payload = serde_json::json!({"count": 1, "events": [event]}).to_string();
    // What every new alert of this event shares (tenant, event, widget, payload, time) is bound
    // once per statement; each row binds only its id, rule, status and due time.
    for chunk in inserts.chunks(INSERT_CHUNK) {
        let mut p = Placeholders::new(anonymous);
        let [tenant_p, event_p, widget_p, payload_p, created_p] = std::array::from_fn(|_| p.next());
        let mut sql = format!(
            "INSERT INTO alert_deliveries ({DELIVERY_COLS}) \
             SELECT v.column1, v.column2, c.t, c.e, c.w, c.p, 1, v.column3, 0, v.column4, \
             v.column4, NULL, NULL, c.n, NULL \
             FROM (SELECT {tenant_p} AS t, {event_p} AS e, {widget_p} AS w, {payload_p} AS p, \
             {created_p} AS n) AS c, (VALUES "
        );
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            let [id, rule, status, due] = std::array::from_fn(|_| p.next());
            sql.push_str(&format!("({id}, {rule}, {status}, {due})"));
        }
        sql.push_str(") AS v");
        let mut q = sqlx::query(&sql)
            .bind(tenant_id)
            .bind(event_type)
            .bind(widget)
            .bind(&payload)
            .bind(now);
        for (rule, due) in chunk {
            q = q
                .bind(crate::new_id())
                .bind(&rule.id)
                .bind(if rule.digest { DIGEST } else { "pending" })
                .bind(*due);
        }
        q.execute(&mut **tx)
            .await
            .map_err(|e| StorageError::from_write(e, "alert delivery"))?;
        queued += chunk.len();
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

/// An alert claimed for sending, with its rule as it is now.
#[derive(Debug, Clone)]
pub struct DueAlert {
    /// The alert.
    pub delivery: AlertDelivery,
    /// Its rule (its channel, secret, user, quiet hours).
    pub rule: AlertRule,
}

/// What became of one attempt at an alert ([`Store::record_alert_outcomes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertOutcome {
    /// The channel took it; clears its rule's `failing`.
    Delivered {
        /// The alert.
        id: String,
        /// Its rule.
        rule_id: String,
        /// The channel's status code.
        status_code: Option<i64>,
    },
    /// Failed; tried again at `at` (unix ms).
    Retry {
        /// The alert.
        id: String,
        /// Next attempt.
        at: i64,
        /// The channel's status code.
        status_code: Option<i64>,
        /// What went wrong.
        error: String,
    },
    /// Given up: `failed` (the rule becomes `failing`) or `suppressed` (quiet hours, a widget
    /// the user no longer sees, a disabled rule: not an error, nothing sent).
    Ended {
        /// The alert.
        id: String,
        /// Its rule.
        rule_id: String,
        /// Whether it failed (else it was suppressed).
        failed: bool,
        /// The channel's status code.
        status_code: Option<i64>,
        /// Why.
        reason: String,
    },
}

/// What [`queue_alerts`] queues alerts for: an event of a tenant, at `now`.
#[derive(Clone, Copy)]
pub(crate) struct QueuedEvent<'a> {
    pub(crate) tenant_id: &'a str,
    pub(crate) event_type: &'a str,
    pub(crate) widget: Option<&'a str>,
    pub(crate) data: &'a serde_json::Value,
    pub(crate) now: i64,
}

impl Store {
    /// Claims up to `limit` alerts due at `now`, oldest due first, hiding them from other
    /// claims for `lease_ms` (an attempt that dies with its process is retried when the lease
    /// ends). One statement claims them all, and a row another claimer took meanwhile is
    /// skipped (its `next_attempt_at` no longer matches), so two senders never send the same
    /// attempt. The due ids are picked once (a materialized CTE: as a plain `IN (SELECT ...
    /// LIMIT n)` PostgreSQL may run the subquery more than once and claim more than `n`).
    pub async fn claim_due_alerts(
        &self,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<DueAlert>> {
        // On SQLite the update finds the picked rows by id: its planner would otherwise walk
        // the due index (every due row, with the `next_attempt_at` being changed) and test
        // each against the list; the unary `+` (a no-op) keeps those columns off the index.
        // PostgreSQL has no `+` for text, and locks what it picks.
        let (lock, plus) = match self.backend {
            crate::Backend::Postgres => (" FOR UPDATE SKIP LOCKED", ""),
            crate::Backend::Sqlite => ("", "+"),
        };
        let _turn = self.write_turn().await;
        let rows = sqlx::query(&format!(
            "WITH due AS MATERIALIZED (SELECT id FROM alert_deliveries \
             WHERE status = 'pending' AND next_attempt_at <= $2 \
             ORDER BY next_attempt_at LIMIT $3{lock}) \
             UPDATE alert_deliveries SET next_attempt_at = $1 \
             WHERE {plus}status = 'pending' AND {plus}next_attempt_at <= $2 \
             AND id IN (SELECT id FROM due) \
             RETURNING {DELIVERY_COLS}"
        ))
        .bind(now.saturating_add(lease_ms))
        .bind(now)
        .bind(limit.max(1))
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut claimed = rows
            .iter()
            .map(delivery_from_row)
            .collect::<Result<Vec<_>>>()?;
        claimed.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
        let mut rule_ids: Vec<&str> = claimed.iter().map(|d| d.rule_id.as_str()).collect();
        rule_ids.sort_unstable();
        rule_ids.dedup();
        let rule_ids = padded(&rule_ids);
        let sql = format!(
            "SELECT {COLS} FROM alert_rules WHERE id IN ({})",
            Placeholders::new(self.anonymous_params()).list(rule_ids.len())
        );
        let mut q = sqlx::query(&sql);
        for id in &rule_ids {
            q = q.bind(*id);
        }
        let rules = q
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(claimed
            .into_iter()
            .filter_map(|delivery| {
                // A rule deleted meanwhile took its alerts with it (cascade).
                let rule = rules.iter().find(|r| r.id == delivery.rule_id)?.clone();
                Some(DueAlert { delivery, rule })
            })
            .collect())
    }

    /// Records what became of attempts, all in one transaction; a rule's `failing` follows
    /// its latest outcome (set when an alert failed for good, cleared by a delivery).
    pub async fn record_alert_outcomes(&self, outcomes: &[AlertOutcome]) -> Result<()> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        // Deliveries (nearly all outcomes) in a few statements: by status code, chunks of ids.
        let mut delivered: std::collections::BTreeMap<Option<i64>, Vec<&str>> = Default::default();
        // Each rule's latest outcome that decides `failing`: true = failed for good.
        let mut latest: std::collections::HashMap<&str, bool> = Default::default();
        for o in outcomes {
            match o {
                AlertOutcome::Delivered {
                    id,
                    rule_id,
                    status_code,
                } => {
                    delivered.entry(*status_code).or_default().push(id);
                    latest.insert(rule_id, false);
                }
                AlertOutcome::Ended {
                    rule_id,
                    failed: true,
                    ..
                } => {
                    latest.insert(rule_id, true);
                }
                _ => {}
            }
        }
        let mut w = self.begin_write().await?;
        let tx = &mut w.tx;
        for (status_code, ids) in &delivered {
            for chunk in ids.chunks(OUTCOME_CHUNK) {
                let chunk = padded(chunk);
                let mut p = Placeholders::new(self.anonymous_params());
                let sql = format!(
                    "UPDATE alert_deliveries SET status = 'delivered', attempts = attempts + 1, \
                     last_status_code = {}, last_error = NULL, delivered_at = {} \
                     WHERE id IN ({})",
                    p.next(),
                    p.next(),
                    p.list(chunk.len())
                );
                let mut q = sqlx::query(&sql).bind(*status_code).bind(now);
                for id in &chunk {
                    q = q.bind(*id);
                }
                q.execute(&mut **tx).await?;
            }
        }
        for o in outcomes {
            match o {
                AlertOutcome::Delivered { .. } => {}
                AlertOutcome::Retry {
                    id,
                    at,
                    status_code,
                    error,
                } => {
                    sqlx::query(
                        "UPDATE alert_deliveries SET attempts = attempts + 1, \
                         next_attempt_at = $1, last_status_code = $2, last_error = $3 \
                         WHERE id = $4 AND status = 'pending'",
                    )
                    .bind(*at)
                    .bind(*status_code)
                    .bind(error)
                    .bind(id)
                    .execute(&mut **tx)
                    .await?;
                }
                AlertOutcome::Ended {
                    id,
                    failed,
                    status_code,
                    reason,
                    ..
                } => {
                    let (status, tried) = if *failed {
                        ("failed", 1_i64)
                    } else {
                        ("suppressed", 0)
                    };
                    sqlx::query(
                        "UPDATE alert_deliveries SET status = $1, attempts = attempts + $2, \
                         last_status_code = $3, last_error = $4 WHERE id = $5",
                    )
                    .bind(status)
                    .bind(tried)
                    .bind(*status_code)
                    .bind(reason)
                    .bind(id)
                    .execute(&mut **tx)
                    .await?;
                }
            }
        }
        // `failing` follows each rule's latest outcome in this batch.
        for failing in [false, true] {
            let rules: Vec<&str> = latest
                .iter()
                .filter(|(_, f)| **f == failing)
                .map(|(r, _)| *r)
                .collect();
            for chunk in rules.chunks(OUTCOME_CHUNK) {
                let chunk = padded(chunk);
                let mut p = Placeholders::new(self.anonymous_params());
                let sql = format!(
                    "UPDATE alert_rules SET failing = {} WHERE failing <> {} AND id IN ({})",
                    p.next(),
                    p.next(),
                    p.list(chunk.len())
                );
                let mut q = sqlx::query(&sql)
                    .bind(i64::from(failing))
                    .bind(i64::from(failing));
                for id in &chunk {
                    q = q.bind(*id);
                }
                q.execute(&mut **tx).await?;
            }
        }
        w.tx.commit().await?;
        Ok(())
    }

    /// Queues a test alert for one of a user's rules, due now whatever its events, widgets and
    /// grouping (event type `alert.test`, which no rule subscribes to); NotFound for another
    /// user's or tenant's rule.
    pub async fn queue_test_alert(
        &self,
        tenant_id: &str,
        user_id: &str,
        rule_id: &str,
        data: &serde_json::Value,
    ) -> Result<AlertDelivery> {
        let rule = self.get_alert_rule(tenant_id, user_id, rule_id).await?;
        let now = now_ms();
        let event =
            serde_json::json!({"type": TEST_ALERT, "widgetId": null, "at": now, "data": data});
        let d = AlertDelivery {
            id: crate::new_id(),
            rule_id: rule.id,
            tenant_id: tenant_id.to_owned(),
            event_type: TEST_ALERT.to_owned(),
            widget_id: None,
            payload: serde_json::json!({"count": 1, "events": [event]}).to_string(),
            event_count: 1,
            status: "pending".into(),
            attempts: 0,
            due_at: now,
            next_attempt_at: now,
            last_status_code: None,
            last_error: None,
            created_at: now,
            delivered_at: None,
        };
        sqlx::query(&format!(
            "INSERT INTO alert_deliveries ({DELIVERY_COLS}) VALUES \
             ($1, $2, $3, $4, NULL, $5, 1, 'pending', 0, $6, $6, NULL, NULL, $6, NULL)"
        ))
        .bind(&d.id)
        .bind(&d.rule_id)
        .bind(tenant_id)
        .bind(TEST_ALERT)
        .bind(&d.payload)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| StorageError::from_write(e, "alert delivery"))?;
        self.alert_signal().notify_one();
        Ok(d)
    }

    /// The event names the tenant's enabled rules alert on (the call writer queues call events
    /// only when a webhook or a rule wants them).
    pub async fn alerted_events(&self, tenant_id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT events, channel_type FROM alert_rules WHERE tenant_id = $1 AND enabled = 1",
        )
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<String> = Vec::new();
        for r in &rows {
            let channel: String = r.try_get("channel_type")?;
            if !QUEUED_ALERT_CHANNELS.contains(&channel.as_str()) {
                continue;
            }
            for e in json_list(r, "events")? {
                if !out.contains(&e) {
                    out.push(e);
                }
            }
        }
        Ok(out)
    }
}

/// The event type of a test alert.
pub const TEST_ALERT: &str = "alert.test";

impl Store {
    /// Enabled rules that mail a daily summary.
    pub async fn digest_rules(&self) -> Result<Vec<AlertRule>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM alert_rules WHERE enabled = 1 AND channel_type = 'email' \
             AND channel LIKE '%\"digest\":true%'"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(from_row)
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .filter(is_digest)
            .collect())
    }

    /// Claims the sending of rule `rule_id`'s summary at `now` (unix ms) for `lease_ms`: true
    /// for one caller until the lease ends, whichever node asks (the nodes of a cluster run
    /// the same timer).
    pub async fn claim_digest(&self, rule_id: &str, now: i64, lease_ms: i64) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE alert_rules SET digest_claimed_until = $1 WHERE id = $2 \
             AND (digest_claimed_until IS NULL OR digest_claimed_until <= $3)",
        )
        .bind(now + lease_ms)
        .bind(rule_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() > 0)
    }

    /// A rule's latest summary row (delivered or failed), if any.
    pub async fn last_digest(&self, rule_id: &str) -> Result<Option<AlertDelivery>> {
        let row = sqlx::query(&format!(
            "SELECT {DELIVERY_COLS} FROM alert_deliveries WHERE rule_id = $1 AND event_type = $2 \
             ORDER BY created_at DESC, id DESC LIMIT 1"
        ))
        .bind(rule_id)
        .bind(DIGEST_ALERT)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| delivery_from_row(&r)).transpose()
    }

    /// The alerts a rule keeps for its summary, oldest first (at most `limit`).
    pub async fn digest_alerts(&self, rule_id: &str, limit: i64) -> Result<Vec<AlertDelivery>> {
        let rows = sqlx::query(&format!(
            "SELECT {DELIVERY_COLS} FROM alert_deliveries WHERE rule_id = $1 AND status = $2 \
             ORDER BY created_at, id LIMIT $3"
        ))
        .bind(rule_id)
        .bind(DIGEST)
        .bind(limit.max(1))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    /// Records a summary made at `now` (unix ms): its own row (`alert.digest`, the number of
    /// alerts it told of, delivered or failed with `error`), and when delivered the alerts it
    /// told of as delivered. A failure leaves them kept for the next try; the rule's `failing`
    /// follows.
    pub async fn record_digest(
        &self,
        rule: &AlertRule,
        alert_ids: &[String],
        error: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let mut w = self.begin_write().await?;
        let tx = &mut w.tx;
        let status = if error.is_some() {
            "failed"
        } else {
            "delivered"
        };
        sqlx::query(&format!(
            "INSERT INTO alert_deliveries ({DELIVERY_COLS}) VALUES \
             ($1, $2, $3, $4, NULL, $5, $6, $7, 1, $8, $8, NULL, $9, $8, $10)"
        ))
        .bind(crate::new_id())
        .bind(&rule.id)
        .bind(&rule.tenant_id)
        .bind(DIGEST_ALERT)
        .bind(serde_json::json!({"count": alert_ids.len()}).to_string())
        .bind(i64::try_from(alert_ids.len()).unwrap_or(i64::MAX))
        .bind(status)
        .bind(now)
        .bind(error)
        .bind(error.is_none().then_some(now))
        .execute(&mut **tx)
        .await
        .map_err(|e| StorageError::from_write(e, "alert delivery"))?;
        if error.is_none() {
            for chunk in alert_ids.chunks(500) {
                let mut p = Placeholders::new(self.anonymous_params());
                let sql = format!(
                    "UPDATE alert_deliveries SET status = 'delivered', attempts = attempts + 1, \
                     delivered_at = {} WHERE status = '{DIGEST}' AND id IN ({})",
                    p.next(),
                    p.list(chunk.len())
                );
                let mut q = sqlx::query(&sql).bind(now);
                for id in chunk {
                    q = q.bind(id);
                }
                q.execute(&mut **tx).await?;
            }
        }
        sqlx::query("UPDATE alert_rules SET failing = $1 WHERE id = $2")
            .bind(i64::from(error.is_some()))
            .bind(&rule.id)
            .execute(&mut **tx)
            .await?;
        w.tx.commit().await?;
        Ok(())
    }
}
