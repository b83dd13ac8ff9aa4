//! The alert sender (issue 19): a tokio task that sends the alert outbox's due messages to
//! their rules' channels: ntfy, email through the accounts' SMTP mailer, and Web Push to a
//! browser's push service ([`crate::webpush`]: RFC 8291 encryption, a VAPID header; 404 or
//! 410 from the push service means the subscription is gone: failed at once).
//!
//! It waits on [`Store::alert_signal`] (raised when an event queued alerts due now) and
//! otherwise polls, so the first alert of a burst leaves within milliseconds while grouped
//! ones leave when their window closes. A claim takes every due alert at once (one
//! statement) and each is sent on its own task, at most [`AlertConfig::in_flight`] at a time,
//! so a slow or dead ntfy server delays only its own alerts; outcomes are written in batches
//! by a second task.
//!
//! Before sending, an alert is checked against its rule as it is now: a disabled rule, quiet
//! hours in the rule's time zone, or events of widgets the rule's user no longer sees (a
//! demoted agent, a deleted user) make it `suppressed` — nothing of such a widget is sent.
//!
//! ntfy: the JSON publish form (`POST <server>` with `{"topic", "title", "message",
//! "priority", "tags", "click", "actions"}`), `Authorization: Bearer <token>` or Basic. A
//! ringing call is priority 5 (urgent) with actions "Answer" (the call's dashboard page, its
//! Answer button one tap away) and "Open chat"; the click URL opens the dashboard on that
//! call or visitor. A grouped alert names how many events it stands for and lists the first
//! ten. Any answer but 2xx, a timeout or a refused connection is retried with exponential
//! backoff (and `Retry-After`), then the alert is `failed` and its rule `failing` until a
//! later alert gets through. Servers on loopback or private addresses are refused unless
//! `RINGSIDE_ALLOW_PRIVATE_FETCH=true`, as for webhooks.
//!
//! Email: the same title as the subject, the message, each event's details (a missed call's
//! caller and time, what a callback left, a visitor's page), the links (click URL, actions)
//! and the way to the rule's settings ([`email_message`]). No SMTP server configured: the
//! alert fails with that reason.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine;
use ringside_storage::{
    now_ms, AlertDelivery, AlertOutcome, AlertRule, DueAlert, QuietHours, StorageError, Store,
    TEST_ALERT,
};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Semaphore};

use crate::accounts::mail::{Mail, Mailer};
use crate::alerts::SECRET_PURPOSE;
use crate::http::sealed::Sealer;
use crate::webhook_dispatch::{parse_retry_after, DispatchConfig};

mod messages;
use messages::*;
pub use messages::{digest_instant, digest_message, email_message, ntfy_message};

/// Tuning of the [`AlertDispatcher`].
#[derive(Clone)]
pub struct AlertConfig {
    /// Polling, claiming, retries, timeouts and the outbound policy (as for webhooks; alerts
    /// default to fewer, quicker retries: a late alert is worth less than a late webhook).
    pub dispatch: DispatchConfig,
    /// Most requests in flight at once.
    pub in_flight: usize,
    /// The dashboard's base URL (click and action links).
    pub public_url: String,
    /// The server's link secret (channel secrets are sealed with it).
    pub link_secret: crate::http::sealed::LinkSecret,
    /// Where email alerts go (the accounts' SMTP mailer); `None` or one that does not deliver
    /// (no `RINGSIDE_SMTP_URL`): email alerts fail with that reason.
    pub mailer: Option<Arc<dyn Mailer>>,
    /// The server's VAPID key (Web Push); `None`: push alerts fail saying so.
    pub vapid: Option<Arc<crate::webpush::VapidKey>>,
    /// How often daily summaries are looked at (each is sent once a day, at its time).
    pub digest_interval: Duration,
}

impl AlertConfig {
    /// Production defaults: 5 attempts 5 s apart and doubling (about 75 s in all), requests of
    /// at most 10 s, up to 128 in flight, claims of up to 256.
    pub fn new(
        public_url: &str,
        link_secret: impl Into<crate::http::sealed::LinkSecret>,
        policy: crate::outbound::FetchPolicy,
    ) -> AlertConfig {
        AlertConfig {
            dispatch: DispatchConfig {
                poll_interval: Duration::from_secs(1),
                batch: 256,
                // Longer than the slowest attempt: an email may take the SMTP connect and
                // send timeouts twice (15 s each, a second connection after a broken one), so
                // another node never takes over an attempt still under way.
                lease: Duration::from_secs(90),
                base_backoff: Duration::from_secs(5),
                max_backoff: Duration::from_secs(300),
                max_retry_after: Duration::from_secs(600),
                max_attempts: 5,
                request_timeout: Duration::from_secs(10),
                policy,
            },
            in_flight: 128,
            public_url: public_url.trim_end_matches('/').to_owned(),
            link_secret: link_secret.into(),
            mailer: None,
            vapid: None,
            digest_interval: Duration::from_secs(60),
        }
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Sends the alert outbox; see the module docs.
#[derive(Clone)]
pub struct AlertDispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    client: reqwest::Client,
    config: AlertConfig,
    sealer: Sealer,
    slots: Arc<Semaphore>,
}

/// An alert ready to go: where, how, what.
struct Ready {
    delivery: AlertDelivery,
    target: Target,
}

/// A channel's message.
enum Target {
    /// An ntfy JSON publish to `url`.
    Ntfy {
        url: String,
        auth: Option<String>,
        body: String,
        verdict: Verdict,
    },
    /// A mail.
    Email(Mail),
    /// A Web Push message (RFC 8030) to a browser's push service.
    Push {
        endpoint: String,
        authorization: String,
        urgency: &'static str,
        body: Vec<u8>,
        verdict: Verdict,
    },
}

/// One alert after its checks: sent, or ended without sending.
enum Prepared {
    Send(Box<Ready>),
    Done(AlertOutcome),
}

impl AlertDispatcher {
    /// A sender on `store`; fails only if the HTTP client cannot be built.
    pub fn new(store: Store, config: AlertConfig) -> Result<AlertDispatcher, reqwest::Error> {
        let client = config.dispatch.policy.client(
            config.dispatch.request_timeout,
            concat!("Ringside-Alerts/", env!("CARGO_PKG_VERSION")),
        )?;
        Ok(AlertDispatcher {
            inner: Arc::new(Inner {
                sealer: config.link_secret.sealer(),
                slots: Arc::new(Semaphore::new(config.in_flight.max(1))),
                store,
                client,
                config,
            }),
        })
    }

    /// Runs until aborted: claims, sends, records.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        let (tx, rx) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(record(self.inner.store.clone(), rx));
        let digests = {
            let me = self.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(me.inner.config.digest_interval).await;
                    if let Err(e) = me.run_digests(now_ms()).await {
                        tracing::warn!(error = %e, "alert sender: daily summaries");
                    }
                }
            })
        };
        tokio::spawn(async move {
            let _recorder = AbortOnDrop(recorder);
            let _digests = AbortOnDrop(digests);
            loop {
                let full = match self.run_once(&tx).await {
                    Ok(full) => full,
                    Err(e) => {
                        tracing::warn!(error = %e, "alert sender: claiming failed");
                        false
                    }
                };
                if !full {
                    tokio::select! {
                        () = self.inner.store.alert_signal().notified() => {}
                        () = tokio::time::sleep(self.inner.config.dispatch.poll_interval) => {}
                    }
                }
            }
        })
    }

    /// Claims what is due, as many as there are free request slots, and starts sending it;
    /// whether the claim was full (more may be due). While requests are in flight it waits a
    /// moment for a quarter of the slots to be free, so a busy sender claims in batches rather
    /// than one alert per finished request.
    async fn run_once(
        &self,
        tx: &mpsc::UnboundedSender<AlertOutcome>,
    ) -> Result<bool, StorageError> {
        let inner = &self.inner;
        let closed = |_| StorageError::Invalid("alert sender closed");
        let batch = usize::try_from(inner.config.dispatch.batch)
            .unwrap_or(1)
            .max(1);
        let quarter = u32::try_from((inner.config.in_flight / 4).clamp(1, batch)).unwrap_or(1);
        let mut permits = match tokio::time::timeout(
            Duration::from_millis(5),
            inner.slots.clone().acquire_many_owned(quarter),
        )
        .await
        {
            Ok(p) => p.map_err(closed)?,
            Err(_) => inner.slots.clone().acquire_owned().await.map_err(closed)?,
        };
        let more = inner
            .slots
            .available_permits()
            .min(batch.saturating_sub(permits.num_permits()));
        if let Ok(extra) = inner
            .slots
            .clone()
            .try_acquire_many_owned(u32::try_from(more).unwrap_or(0))
        {
            permits.merge(extra);
        }
        let room = permits.num_permits();
        let due = inner
            .store
            .claim_due_alerts(now_ms(), ms(inner.config.dispatch.lease), room as i64)
            .await?;
        let full = due.len() >= room;
        let mut cache = Lookups::default();
        for d in due {
            match self.prepare(d, &mut cache).await {
                Prepared::Done(o) => {
                    let _ = tx.send(o);
                }
                Prepared::Send(ready) => {
                    let Some(permit) = permits.split(1) else {
                        // Cannot happen (one slot per claimed alert); sent without one.
                        let outcome = self.send(*ready).await;
                        let _ = tx.send(outcome);
                        continue;
                    };
                    let me = self.clone();
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let outcome = me.send(*ready).await;
                        drop(permit);
                        let _ = tx.send(outcome);
                    });
                }
            }
        }
        // Unused slots go back.
        drop(permits);
        Ok(full)
    }

    /// Sends the daily summaries due at `now` (unix ms): for each email rule with `digest`,
    /// once a day at its `digestAt` in its `timeZone`, the alerts it kept since the last one
    /// (only of widgets its user sees now); a failed mail is tried again 15 minutes later.
    /// Returns how many were sent or tried.
    pub async fn run_digests(&self, now: i64) -> Result<usize, StorageError> {
        let store = &self.inner.store;
        let mut tried = 0;
        for rule in store.digest_rules().await? {
            let tz = rule.channel["timeZone"].as_str().unwrap_or("UTC");
            let at = rule.channel["digestAt"].as_str().unwrap_or("08:00");
            let Some(due) = digest_instant(now, tz, at) else {
                continue;
            };
            let done = |last: Option<ringside_storage::AlertDelivery>| {
                last.is_some_and(|last| {
                    last.created_at >= due
                        && (last.status == "delivered" || now - last.created_at < 15 * 60_000)
                })
            };
            if done(store.last_digest(&rule.id).await?) {
                continue;
            }
            // One node sends it; the others, whose timers fell together, find it claimed, or
            // (after the lease) made.
            if !store.claim_digest(&rule.id, now, DIGEST_LEASE_MS).await?
                || done(store.last_digest(&rule.id).await?)
            {
                continue;
            }
            let alerts = store.digest_alerts(&rule.id, 500).await?;
            if alerts.is_empty() {
                continue;
            }
            let sees = match store.visible_widgets(&rule.user_id).await {
                Ok(s) => s,
                Err(StorageError::NotFound) => continue,
                Err(e) => return Err(e),
            };
            let mut events = Vec::new();
            for a in &alerts {
                let p: Value = serde_json::from_str(&a.payload).unwrap_or(Value::Null);
                for e in p["events"].as_array().into_iter().flatten() {
                    if visible(sees.as_deref(), e["widgetId"].as_str()) {
                        events.push(e.clone());
                    }
                }
            }
            let ids: Vec<String> = alerts.iter().map(|a| a.id.clone()).collect();
            let to = rule.channel["address"].as_str().unwrap_or_default();
            let mail = digest_message(&rule, &events, to, &self.inner.config.public_url, tz);
            let error = match self.inner.config.mailer.as_ref().filter(|m| m.delivers()) {
                None => Some("no SMTP server is configured (RINGSIDE_SMTP_URL)".to_owned()),
                Some(_) if events.is_empty() => None,
                Some(m) => m.send(&mail).await.err().map(|e| e.to_string()),
            };
            store
                .record_digest(&rule, &ids, error.as_deref(), now)
                .await?;
            tried += 1;
        }
        Ok(tried)
    }

    /// Checks an alert against its rule as it is now and builds its message.
    async fn prepare(&self, d: DueAlert, cache: &mut Lookups) -> Prepared {
        let DueAlert { delivery, rule } = d;
        let end = |failed: bool, reason: &str| {
            Prepared::Done(AlertOutcome::Ended {
                id: delivery.id.clone(),
                rule_id: rule.id.clone(),
                failed,
                status_code: None,
                reason: reason.to_owned(),
            })
        };
        let test = delivery.event_type == TEST_ALERT;
        if !rule.enabled && !test {
            return end(false, "the rule is off");
        }
        if !matches!(rule.channel_type.as_str(), "ntfy" | "email" | "webpush") {
            return end(true, "alerts on this channel are not sent yet");
        }
        if !test && rule.quiet.as_ref().is_some_and(|q| quiet_now(q, now_ms())) {
            return end(false, "quiet hours");
        }
        let payload: Value = match serde_json::from_str(&delivery.payload) {
            Ok(v) => v,
            Err(_) => return end(true, "corrupt payload"),
        };
        // Only what the rule's user may see now.
        let sees = match cache.sees(&self.inner.store, &rule.user_id).await {
            Ok(s) => s,
            Err(StorageError::NotFound) => return end(false, "the rule's user is gone"),
            Err(e) => {
                tracing::warn!(error = %e, "alert sender: reading a user's widgets");
                return Prepared::Done(AlertOutcome::Retry {
                    id: delivery.id.clone(),
                    at: now_ms().saturating_add(ms(self.inner.config.dispatch.base_backoff)),
                    status_code: None,
                    error: "could not read the user's widgets".into(),
                });
            }
        };
        let all: Vec<Value> = payload["events"].as_array().cloned().unwrap_or_default();
        let kept: Vec<Value> = all
            .iter()
            .filter(|e| test || visible(sees.as_deref(), e["widgetId"].as_str()))
            .cloned()
            .collect();
        if kept.is_empty() {
            return end(false, "of a widget the rule's user does not see");
        }
        let count = payload["count"]
            .as_i64()
            .unwrap_or(1)
            .saturating_sub((all.len() - kept.len()) as i64)
            .max(kept.len() as i64);
        let mut names = HashMap::new();
        for e in &kept {
            if let Some(w) = e["widgetId"].as_str() {
                if let Some(n) = cache.widget(&self.inner.store, &rule.tenant_id, w).await {
                    names.insert(w.to_owned(), n);
                }
            }
        }
        let base = &self.inner.config.public_url;
        let body = ntfy_message(&rule, &delivery.event_type, &kept, count, &names, base);
        if rule.channel_type == "email" {
            let to = rule.channel["address"].as_str().unwrap_or_default();
            let mail = email_message(&rule, &delivery.event_type, &kept, &body, to, base);
            return Prepared::Send(Box::new(Ready {
                delivery,
                target: Target::Email(mail),
            }));
        }
        if rule.channel_type == "webpush" {
            return self.prepare_push(delivery, &rule, &body, cache).await;
        }
        let auth = match &rule.secret_sealed {
            None => None,
            Some(sealed) => match self
                .inner
                .sealer
                .open(&rule.tenant_id, SECRET_PURPOSE, sealed)
            {
                Ok(secret) => authorization(&secret),
                Err(_) => return end(true, "the stored access token cannot be read"),
            },
        };
        let url = rule.channel["url"]
            .as_str()
            .unwrap_or(crate::alerts::NTFY_DEFAULT)
            .to_owned();
        let verdict = cache
            .verdict(&self.inner.config.dispatch.policy, &url)
            .await;
        Prepared::Send(Box::new(Ready {
            delivery,
            target: Target::Ntfy {
                url,
                auth,
                body: body.to_string(),
                verdict,
            },
        }))
    }

    /// A Web Push message of an alert whose ntfy form is `msg`: `{"title", "body", "url",
    /// "tag", "urgent", "actions"}` encrypted for the rule's subscription, with the VAPID
    /// header for its push service.
    async fn prepare_push(
        &self,
        delivery: AlertDelivery,
        rule: &AlertRule,
        msg: &Value,
        cache: &mut Lookups,
    ) -> Prepared {
        let end = |reason: &str| {
            Prepared::Done(AlertOutcome::Ended {
                id: delivery.id.clone(),
                rule_id: rule.id.clone(),
                failed: true,
                status_code: None,
                reason: reason.to_owned(),
            })
        };
        let Some(vapid) = &self.inner.config.vapid else {
            return end("Web Push is not set up on this server (no VAPID key)");
        };
        let c = &rule.channel;
        let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default();
        let (Some(p256dh), Some(auth)) = (
            crate::webpush::b64(s("p256dh")),
            crate::webpush::b64(s("auth")),
        ) else {
            return end("the browser's subscription keys are not usable");
        };
        let endpoint = s("endpoint").to_owned();
        let urgent = msg["priority"].as_u64().unwrap_or(3) >= 5;
        let mut payload = json!({
            "title": msg["title"], "body": msg["message"], "url": msg["click"],
            "tag": format!("ringside-{}", delivery.id), "urgent": urgent,
            "actions": msg["actions"],
        });
        let mut text = payload.to_string();
        if text.len() > crate::webpush::MAX_PLAINTEXT {
            payload["body"] = json!(excerpt(msg["message"].as_str().unwrap_or(""), 300));
            payload["actions"] = json!([]);
            text = payload.to_string();
        }
        let body = match crate::webpush::encrypt(text.as_bytes(), &p256dh, &auth) {
            Ok(b) => b,
            Err(e) => return end(&e.to_string()),
        };
        let subject = if self.inner.config.public_url.starts_with("https://") {
            self.inner.config.public_url.clone()
        } else {
            "mailto:postmaster@localhost".to_owned()
        };
        let now_s = now_ms() / 1000;
        let Some(authorization) = vapid.authorization(&endpoint, &subject, now_s) else {
            return end("the subscription's endpoint is not a URL");
        };
        let verdict = cache
            .verdict(&self.inner.config.dispatch.policy, &endpoint)
            .await;
        Prepared::Send(Box::new(Ready {
            delivery,
            target: Target::Push {
                endpoint,
                authorization,
                urgency: if urgent { "high" } else { "normal" },
                body,
                verdict,
            },
        }))
    }

    /// One attempt, and what it came to.
    async fn send(&self, r: Ready) -> AlertOutcome {
        let cfg = &self.inner.config.dispatch;
        let d = &r.delivery;
        let failed = |status_code: Option<u16>, error: String, retry_after: Option<Duration>| {
            let attempts = d.attempts + 1;
            let status_code = status_code.map(i64::from);
            if attempts >= cfg.max_attempts {
                tracing::info!(alert = %d.id, rule = %d.rule_id, attempts, %error, "alert failed for good");
                return AlertOutcome::Ended {
                    id: d.id.clone(),
                    rule_id: d.rule_id.clone(),
                    failed: true,
                    status_code,
                    reason: error,
                };
            }
            let mut delay = cfg.backoff(attempts);
            if let Some(ra) = retry_after {
                delay = delay.max(ra.min(cfg.max_retry_after));
            }
            AlertOutcome::Retry {
                id: d.id.clone(),
                at: now_ms().saturating_add(ms(delay)),
                status_code,
                error,
            }
        };
        // The outbound policy's verdict on the server (checked once per server and claim in
        // `prepare`): what ends the attempt before any connection, if anything.
        let gate = |verdict: Verdict, server: &str| match verdict {
            Verdict::Allowed => None,
            Verdict::NoAddress => Some(failed(
                None,
                format!("the {server}'s host does not resolve"),
                None,
            )),
            Verdict::Refused(why) => Some(AlertOutcome::Ended {
                id: d.id.clone(),
                rule_id: d.rule_id.clone(),
                failed: true,
                status_code: None,
                reason: format!("refused: {why}"),
            }),
        };
        let (url, auth, body, policy_verdict) = match r.target {
            Target::Push {
                endpoint,
                authorization,
                urgency,
                body,
                verdict,
            } => {
                if let Some(stop) = gate(verdict, "push service") {
                    return stop;
                }
                // RFC 8030: the encrypted message, how long the push service may keep it
                // (a ringing call is stale in a minute), how urgent it is.
                let ttl = if urgency == "high" { "60" } else { "3600" };
                let resp = self
                    .inner
                    .client
                    .post(&endpoint)
                    .header(reqwest::header::AUTHORIZATION, authorization)
                    .header(reqwest::header::CONTENT_ENCODING, "aes128gcm")
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .header("TTL", ttl)
                    .header("Urgency", urgency)
                    .body(body)
                    .send()
                    .await;
                return match resp {
                    Ok(r) if r.status().is_success() => AlertOutcome::Delivered {
                        id: d.id.clone(),
                        rule_id: d.rule_id.clone(),
                        status_code: Some(i64::from(r.status().as_u16())),
                    },
                    // The browser unsubscribed or the subscription expired: no retry helps.
                    Ok(r) if matches!(r.status().as_u16(), 404 | 410) => AlertOutcome::Ended {
                        id: d.id.clone(),
                        rule_id: d.rule_id.clone(),
                        failed: true,
                        status_code: Some(i64::from(r.status().as_u16())),
                        reason: "the browser's subscription has expired: allow alerts in that browser again".into(),
                    },
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let retry_after = r
                            .headers()
                            .get(reqwest::header::RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| parse_retry_after(v, SystemTime::now()));
                        failed(
                            Some(status),
                            format!("the push service answered HTTP {status}"),
                            retry_after,
                        )
                    }
                    Err(e) => failed(
                        None,
                        if e.is_timeout() { "timed out" } else { "could not connect" }.into(),
                        None,
                    ),
                };
            }
            Target::Ntfy {
                url,
                auth,
                body,
                verdict,
            } => (url, auth, body, verdict),
            Target::Email(mail) => {
                let Some(mailer) = self.inner.config.mailer.as_ref().filter(|m| m.delivers())
                else {
                    return AlertOutcome::Ended {
                        id: d.id.clone(),
                        rule_id: d.rule_id.clone(),
                        failed: true,
                        status_code: None,
                        reason: "no SMTP server is configured (RINGSIDE_SMTP_URL)".into(),
                    };
                };
                return match mailer.send(&mail).await {
                    Ok(()) => AlertOutcome::Delivered {
                        id: d.id.clone(),
                        rule_id: d.rule_id.clone(),
                        status_code: None,
                    },
                    Err(e) => failed(None, e.to_string(), None),
                };
            }
        };
        if let Some(stop) = gate(policy_verdict, "ntfy server") {
            return stop;
        }
        let mut req = self
            .inner
            .client
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Ringside-Alert", &d.id)
            .body(body);
        if let Some(a) = &auth {
            req = req.header(reqwest::header::AUTHORIZATION, a);
        }
        match req.send().await {
            Ok(resp) if resp.status().is_success() => AlertOutcome::Delivered {
                id: d.id.clone(),
                rule_id: d.rule_id.clone(),
                status_code: Some(i64::from(resp.status().as_u16())),
            },
            Ok(resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, SystemTime::now()));
                failed(
                    Some(status),
                    format!("the ntfy server answered HTTP {status}"),
                    retry_after,
                )
            }
            Err(e) => {
                let what = if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "could not connect"
                } else {
                    "the request failed"
                };
                failed(None, what.into(), None)
            }
        }
    }
}

/// Aborts a task when dropped (the recorder goes with the sender).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How long one node holds a rule's daily summary while it makes and mails it (longer than
/// any SMTP exchange; shorter than the 15 minutes before a failed one is tried again).
const DIGEST_LEASE_MS: i64 = 5 * 60_000;
/// How long the recorder gathers outcomes after the first before writing them.
const RECORD_GATHER: Duration = Duration::from_millis(20);
/// The most outcomes written in one transaction.
const RECORD_BATCH: usize = 512;

/// Writes outcomes in batches: from the first that comes, it gathers for [`RECORD_GATHER`]
/// (or up to [`RECORD_BATCH`]) and writes them in one transaction. Outcomes are not urgent
/// (an attempt stays leased until then), while the claims of a busy sender share SQLite's one
/// write turn with these writes: fewer, larger ones leave it to the claims.
async fn record(store: Store, mut rx: mpsc::UnboundedReceiver<AlertOutcome>) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        let until = tokio::time::Instant::now() + RECORD_GATHER;
        while batch.len() < RECORD_BATCH {
            let room = RECORD_BATCH - batch.len();
            match tokio::time::timeout_at(until, rx.recv_many(&mut batch, room)).await {
                Ok(n) if n > 0 => {}
                // Closed, or the moment is over.
                _ => break,
            }
        }
        for attempt in 0..3 {
            match store.record_alert_outcomes(&batch).await {
                Ok(()) => break,
                Err(e) => {
                    // Unrecorded attempts are claimed again when their lease ends (at least
                    // once).
                    tracing::warn!(error = %e, n = batch.len(), attempt, "recording alert outcomes");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        batch.clear();
    }
}

/// What the outbound policy says of a server.
#[derive(Debug, Clone)]
enum Verdict {
    Allowed,
    NoAddress,
    Refused(String),
}

/// Per-claim lookups: who sees which widgets, widget names, the policy's verdict on each
/// server (one resolution per server and claim, not one per alert).
#[derive(Default)]
struct Lookups {
    users: HashMap<String, Option<Vec<String>>>,
    widgets: HashMap<String, Option<String>>,
    servers: HashMap<String, Verdict>,
}

impl Lookups {
    async fn verdict(&mut self, policy: &crate::outbound::FetchPolicy, url: &str) -> Verdict {
        if let Some(v) = self.servers.get(url) {
            return v.clone();
        }
        let v = match policy.check(url).await {
            Ok(_) => Verdict::Allowed,
            Err(crate::outbound::Refusal::NoAddress) => Verdict::NoAddress,
            Err(e) => Verdict::Refused(e.to_string()),
        };
        self.servers.insert(url.to_owned(), v.clone());
        v
    }

    async fn sees(
        &mut self,
        store: &Store,
        user: &str,
    ) -> Result<Option<Vec<String>>, StorageError> {
        if let Some(s) = self.users.get(user) {
            return Ok(s.clone());
        }
        let s = store.visible_widgets(user).await?;
        self.users.insert(user.to_owned(), s.clone());
        Ok(s)
    }

    async fn widget(&mut self, store: &Store, tenant: &str, id: &str) -> Option<String> {
        if let Some(n) = self.widgets.get(id) {
            return n.clone();
        }
        let n = store.get_widget(tenant, id).await.ok().map(|w| w.name);
        self.widgets.insert(id.to_owned(), n.clone());
        n
    }
}

/// Whether a user who sees `sees` (`None`: every widget) may see an event of `widget`
/// (`None`: the account's, such as usage: only for users who see every widget).
fn visible(sees: Option<&[String]>, widget: Option<&str>) -> bool {
    match (sees, widget) {
        (None, _) => true,
        (Some(list), Some(w)) => list.iter().any(|x| x == w),
        (Some(_), None) => false,
    }
}

/// Whether `now` (unix ms) falls in the quiet hours (from inclusive, to exclusive, crossing
/// midnight when `to` is earlier). An unreadable setting is never quiet.
pub fn quiet_now(q: &QuietHours, now: i64) -> bool {
    let mins = |t: &str| -> Option<u32> {
        let (h, m) = t.split_once(':')?;
        Some(h.parse::<u32>().ok()? * 60 + m.parse::<u32>().ok()?)
    };
    let (Some(from), Some(to)) = (mins(&q.from), mins(&q.to)) else {
        return false;
    };
    let Ok(tz) = jiff::tz::TimeZone::get(&q.time_zone) else {
        return false;
    };
    let Ok(t) = jiff::Timestamp::from_millisecond(now) else {
        return false;
    };
    let here = t.to_zoned(tz);
    let m =
        u32::try_from(here.hour()).unwrap_or(0) * 60 + u32::try_from(here.minute()).unwrap_or(0);
    if from < to {
        from <= m && m < to
    } else {
        m >= from || m < to
    }
}

/// The `Authorization` value of a sealed secret (`bearer:<token>` or `basic:<user>:<pass>`).
fn authorization(secret: &str) -> Option<String> {
    if let Some(t) = secret.strip_prefix("bearer:") {
        return Some(format!("Bearer {t}"));
    }
    secret.strip_prefix("basic:").map(|up| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(up)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(priority: Option<u8>) -> AlertRule {
        AlertRule {
            id: "alr_1".into(),
            tenant_id: "t".into(),
            user_id: "u".into(),
            name: "Phone".into(),
            events: vec!["call.requested".into()],
            widget_ids: None,
            channel_type: "ntfy".into(),
            channel: json!({"url": "https://ntfy.sh", "topic": "desk", "priority": priority}),
            secret_sealed: None,
            quiet: None,
            visitor_filter: None,
            group_secs: 60,
            enabled: true,
            failing: false,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_ringing_call_is_urgent_with_answer_and_chat_actions() {
        let ev = json!({"type": "call.requested", "widgetId": "w1", "at": 1,
                        "data": {"callId": "c1", "visitorId": "v1", "widgetId": "w1",
                                 "dashboardUrl": "https://calls.example/calls/c1"}});
        let names = HashMap::from([("w1".to_owned(), "Shop".to_owned())]);
        let m = ntfy_message(
            &rule(None),
            "call.requested",
            &[ev],
            1,
            &names,
            "https://calls.example",
        );
        assert_eq!(m["topic"], "desk");
        assert_eq!(m["priority"], 5);
        assert_eq!(m["title"], "Incoming call · Shop");
        assert_eq!(m["click"], "https://calls.example/calls/c1");
        assert_eq!(m["actions"][0]["label"], "Answer");
        assert_eq!(m["actions"][0]["url"], "https://calls.example/calls/c1");
        assert_eq!(m["actions"][1]["label"], "Open chat");
        assert_eq!(m["actions"][1]["url"], "https://calls.example/inbox/w1/v1");
        assert_eq!(m["tags"], json!(["telephone_receiver"]));
        // The rule's own priority wins.
        let m = ntfy_message(
            &rule(Some(2)),
            "call.requested",
            &[json!({})],
            1,
            &names,
            "https://x",
        );
        assert_eq!(m["priority"], 2);
    }

    #[test]
    fn a_burst_is_one_message_counting_all() {
        let evs: Vec<Value> = (0..10)
            .map(|i| json!({"type": "visitor.connected", "widgetId": "w1", "at": i,
                            "data": {"visitorId": format!("v{i}"), "pageTitle": format!("Page {i}")}}))
            .collect();
        let m = ntfy_message(
            &rule(None),
            "visitor.connected",
            &evs,
            14,
            &HashMap::new(),
            "https://x",
        );
        assert_eq!(m["title"], "14 visitors on your site");
        let msg = m["message"].as_str().unwrap();
        assert!(msg.starts_with("• On Page 0\n• On Page 1"), "{msg}");
        assert!(msg.ends_with("and 4 more"), "{msg}");
        assert_eq!(m["click"], "https://x/");
        assert_eq!(m["priority"], 3);
    }

    #[test]
    fn dashboard_links_from_elsewhere_are_not_followed() {
        let data = json!({"dashboardUrl": "https://evil.example/x", "callId": "c9"});
        assert_eq!(
            page_of("call.missed", &data, None, "https://calls.example"),
            "https://calls.example/calls/c9"
        );
    }

    #[test]
    fn quiet_hours_cross_midnight_in_their_zone() {
        let q = |from: &str, to: &str, tz: &str| QuietHours {
            from: from.into(),
            to: to.into(),
            time_zone: tz.into(),
        };
        // 2026-01-15 23:30 UTC = 23:30 in Lisbon (winter), 00:30 in Berlin.
        let t = 1_768_519_800_000;
        assert!(quiet_now(&q("22:00", "07:00", "Europe/Lisbon"), t));
        assert!(quiet_now(&q("00:00", "01:00", "Europe/Berlin"), t));
        assert!(!quiet_now(&q("00:00", "01:00", "Europe/Lisbon"), t));
        assert!(!quiet_now(&q("09:00", "17:00", "UTC"), t));
        assert!(!quiet_now(&q("22:00", "07:00", "Not/AZone"), t));
    }

    #[test]
    fn summaries_are_due_at_their_local_time() {
        // 2026-07-15 07:00 UTC = 08:00 in Lisbon (summer time).
        let t = 1_784_098_800_000;
        assert_eq!(digest_instant(t, "Europe/Lisbon", "08:00"), Some(t));
        assert_eq!(digest_instant(t - 1, "Europe/Lisbon", "08:00"), None);
        assert_eq!(digest_instant(t, "UTC", "07:00"), Some(t));
        assert_eq!(digest_instant(t, "UTC", "07:01"), None);
        assert_eq!(digest_instant(t, "Not/AZone", "07:00"), None);
        assert_eq!(digest_instant(t, "UTC", "7"), None);
    }

    #[test]
    fn secrets_become_authorization_headers() {
        assert_eq!(authorization("bearer:tk_1").as_deref(), Some("Bearer tk_1"));
        assert_eq!(
            authorization("basic:ana:p:w").as_deref(),
            Some("Basic YW5hOnA6dw==")
        );
        assert_eq!(authorization("other"), None);
    }

    #[test]
    fn visibility_of_account_events_needs_every_widget() {
        let some = vec!["w1".to_owned()];
        assert!(visible(None, None));
        assert!(visible(Some(&some), Some("w1")));
        assert!(!visible(Some(&some), Some("w2")));
        assert!(!visible(Some(&some), None));
    }
}
