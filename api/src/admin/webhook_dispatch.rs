//! The webhook dispatcher: a tokio task that sends the storage outbox's due deliveries.
//!
//! Each delivery is POSTed as `{"id", "type", "createdAt", "data"}` with the headers
//! `Content-Type: application/json`, `X-Ringside-Event`, `X-Ringside-Delivery` (the delivery
//! id, the same on every attempt) and `X-Ringside-Signature: t=<unix seconds>,v1=<hex
//! HMAC-SHA256(secret, "<t>.<raw body>")>` ([`signature_header`], checked by
//! [`verify_signature`]).
//!
//! Outcomes: 2xx → delivered; 410 Gone → the webhook is disabled and the delivery abandoned;
//! anything else (other statuses, connection errors, timeouts) → retried after an exponential
//! backoff ([`DispatchConfig::backoff`]), or after `Retry-After` (seconds or an HTTP date) when
//! that is later, until [`DispatchConfig::max_attempts`] attempts have failed. Because the
//! outbox is in the database and a claim only leases a row, events survive restarts and are
//! delivered at least once.
//!
//! Receivers are reached under the outbound-fetch policy ([`crate::outbound`]): one on a
//! loopback, private or otherwise non-public address is never connected to; its delivery fails
//! at once with `refused: …`.
//!
//! `https://` receivers are reached with rustls (reqwest's `rustls-tls`, the webpki roots).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use ringside_storage::{now_ms, DeliveryStatus, DueDelivery, StorageError, Store};
use sha2::Sha256;

/// Tuning of the [`Dispatcher`]; [`Default`] suits production.
#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// Pause between polls when the outbox had nothing more.
    pub poll_interval: Duration,
    /// Most deliveries claimed and sent at once.
    pub batch: i64,
    /// How long a claimed delivery is hidden from other claims (must exceed the request
    /// timeout); after a crash mid-attempt it is retried once this has passed.
    pub lease: Duration,
    /// Delay after the first failed attempt; doubled after each further one.
    pub base_backoff: Duration,
    /// Longest backoff.
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured.
    pub max_retry_after: Duration,
    /// Attempts before a delivery is marked failed.
    pub max_attempts: i64,
    /// Timeout of one request, connection included.
    pub request_timeout: Duration,
    /// What receivers may be reached ([`crate::outbound`]); strict by default.
    pub policy: crate::outbound::FetchPolicy,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            poll_interval: Duration::from_secs(1),
            batch: 32,
            lease: Duration::from_secs(30),
            base_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(3600),
            max_retry_after: Duration::from_secs(24 * 3600),
            max_attempts: 8,
            request_timeout: Duration::from_secs(10),
            policy: crate::outbound::FetchPolicy::STRICT,
        }
    }
}

impl DispatchConfig {
    /// Backoff after the `attempts`-th failed attempt (1-based): `base × 2^(attempts-1)`,
    /// capped at `max_backoff`.
    pub fn backoff(&self, attempts: i64) -> Duration {
        let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        self.base_backoff
            .checked_mul(1u32 << exp)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }
}

type HmacSha256 = Hmac<Sha256>;

/// Hex HMAC-SHA256 of `"<t>.<body>"` under `secret`.
fn mac_hex(secret: &str, t: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length.
    let mut mac = match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The `X-Ringside-Signature` value for `body` signed at unix second `t`.
pub fn signature_header(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", mac_hex(secret, t, body))
}

/// Whether `header` (an `X-Ringside-Signature` value) signs `body` under `secret` with a
/// timestamp within `tolerance_s` seconds of `now_s`. Any of several `v1=` values may match;
/// comparison is constant-time.
pub fn verify_signature(
    secret: &str,
    header: &str,
    body: &[u8],
    now_s: i64,
    tolerance_s: i64,
) -> bool {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.push(v.to_owned()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if (now_s - t).abs() > tolerance_s {
        return false;
    }
    let want = mac_hex(secret, t, body);
    sigs.iter().any(|s| {
        s.len() == want.len()
            && s.bytes()
                .zip(want.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    })
}

/// The JSON body of a delivery: `{"id","type","createdAt","data"}`, `data` being the stored
/// payload text verbatim. `None` if the payload is not JSON.
pub fn delivery_body(id: &str, event_type: &str, created_at: i64, payload: &str) -> Option<String> {
    serde_json::from_str::<serde::de::IgnoredAny>(payload).ok()?;
    Some(format!(
        "{{\"id\":{},\"type\":{},\"createdAt\":{created_at},\"data\":{payload}}}",
        serde_json::Value::from(id),
        serde_json::Value::from(event_type),
    ))
}

/// Parses a `Retry-After` value (delta seconds or an HTTP date) into a delay from `now`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn unix_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// What one attempt came to.
#[derive(Debug)]
enum Attempt {
    Delivered(u16),
    Gone,
    /// The outbound-fetch policy refuses the receiver: given up without connecting.
    Refused(String),
    Failed {
        status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
    },
}

/// Sends the outbox's due deliveries; see the module docs.
#[derive(Clone)]
pub struct Dispatcher {
    store: Store,
    client: reqwest::Client,
    config: Arc<DispatchConfig>,
}

impl Dispatcher {
    /// A dispatcher on `store`; fails only if the HTTP client cannot be built.
    pub fn new(store: Store, config: DispatchConfig) -> Result<Dispatcher, reqwest::Error> {
        let client = config.policy.client(
            config.request_timeout,
            concat!("Ringside-Webhooks/", env!("CARGO_PKG_VERSION")),
        )?;
        Ok(Dispatcher {
            store,
            client,
            config: Arc::new(config),
        })
    }

    /// Claims one batch of due deliveries, sends them concurrently and records each outcome.
    /// Returns how many were claimed.
    pub async fn run_once(&self) -> Result<usize, StorageError> {
        let due = self
            .store
            .claim_due_webhook_deliveries(now_ms(), ms(self.config.lease), self.config.batch)
            .await?;
        let n = due.len();
        let mut set = tokio::task::JoinSet::new();
        for d in due {
            let me = self.clone();
            set.spawn(async move {
                let id = d.delivery.id.clone();
                if let Err(e) = me.deliver(d).await {
                    tracing::warn!(delivery = %id, error = %e, "recording webhook outcome failed");
                }
            });
        }
        while set.join_next().await.is_some() {}
        Ok(n)
    }

    /// Runs [`Dispatcher::run_once`] forever, pausing `poll_interval` whenever a batch was not
    /// full.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                let full = match self.run_once().await {
                    Ok(n) => n as i64 >= self.config.batch,
                    Err(e) => {
                        tracing::warn!(error = %e, "webhook dispatcher: claiming failed");
                        false
                    }
                };
                if !full {
                    tokio::time::sleep(self.config.poll_interval).await;
                }
            }
        })
    }

    async fn attempt(&self, d: &DueDelivery, body: String) -> Attempt {
        use crate::outbound::Refusal;
        // The outbound-fetch policy first: a refused receiver is never connected to, so the
        // delivery log cannot tell a closed port from an open one on the server's network.
        match self.config.policy.check(&d.url).await {
            Ok(_) => {}
            Err(Refusal::NoAddress) => {
                return Attempt::Failed {
                    status: None,
                    error: "the receiver's host does not resolve".into(),
                    retry_after: None,
                }
            }
            Err(e) => return Attempt::Refused(e.to_string()),
        }
        let sig = signature_header(&d.secret, unix_secs(), body.as_bytes());
        let resp = self
            .client
            .post(&d.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Ringside-Event", &d.delivery.event_type)
            .header("X-Ringside-Delivery", &d.delivery.id)
            .header("X-Ringside-Signature", sig)
            .body(body)
            .send()
            .await;
        match resp {
            Ok(r) => {
                let status = r.status();
                if status.is_success() {
                    Attempt::Delivered(status.as_u16())
                } else if status == reqwest::StatusCode::GONE {
                    Attempt::Gone
                } else {
                    let retry_after = r
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, SystemTime::now()));
                    Attempt::Failed {
                        status: Some(status.as_u16()),
                        error: format!("receiver answered HTTP {}", status.as_u16()),
                        retry_after,
                    }
                }
            }
            Err(e) => {
                let what = if e.is_timeout() {
                    "timed out".to_owned()
                } else if e.is_connect() {
                    "could not connect".to_owned()
                } else {
                    let e = e.without_url();
                    let mut s = e.to_string();
                    let mut src = std::error::Error::source(&e);
                    while let Some(x) = src {
                        s.push_str(": ");
                        s.push_str(&x.to_string());
                        src = x.source();
                    }
                    s.chars().take(300).collect()
                };
                Attempt::Failed {
                    status: None,
                    error: what,
                    retry_after: None,
                }
            }
        }
    }

    async fn deliver(&self, d: DueDelivery) -> Result<(), StorageError> {
        let written = self.attempt_and_record(&d).await?;
        if !written {
            // Its lease ran out and another worker (another node) claimed it meanwhile: that
            // worker's attempt is the one that counts.
            tracing::info!(delivery = %d.delivery.id, "webhook outcome not recorded: the delivery was claimed again meanwhile");
        }
        Ok(())
    }

    /// Makes the attempt and records its outcome; false when the claim was lost meanwhile.
    async fn attempt_and_record(&self, d: &DueDelivery) -> Result<bool, StorageError> {
        let id = d.delivery.id.clone();
        let lease = d.lease;
        let Some(body) = delivery_body(
            &d.delivery.id,
            &d.delivery.event_type,
            d.delivery.created_at,
            &d.delivery.payload,
        ) else {
            return self
                .store
                .give_up_webhook_delivery(
                    &id,
                    lease,
                    DeliveryStatus::Failed,
                    None,
                    "corrupt payload",
                )
                .await;
        };
        match self.attempt(d, body).await {
            Attempt::Delivered(code) => {
                tracing::debug!(delivery = %id, code, "webhook delivered");
                self.store
                    .mark_webhook_delivered(&id, lease, i64::from(code))
                    .await
            }
            Attempt::Gone => {
                tracing::info!(webhook = %d.delivery.webhook_id, "receiver gone (410): disabling webhook");
                self.store
                    .disable_webhook(&d.delivery.webhook_id, "receiver answered 410 Gone")
                    .await?;
                self.store
                    .give_up_webhook_delivery(
                        &id,
                        lease,
                        DeliveryStatus::Abandoned,
                        Some(410),
                        "receiver answered HTTP 410",
                    )
                    .await
            }
            Attempt::Refused(why) => {
                tracing::info!(delivery = %id, webhook = %d.delivery.webhook_id, %why, "webhook receiver refused by the outbound policy");
                self.store
                    .give_up_webhook_delivery(
                        &id,
                        lease,
                        DeliveryStatus::Failed,
                        None,
                        &format!("refused: {why}"),
                    )
                    .await
            }
            Attempt::Failed {
                status,
                error,
                retry_after,
            } => {
                let attempts = d.delivery.attempts + 1;
                let code = status.map(i64::from);
                if attempts >= self.config.max_attempts {
                    tracing::info!(delivery = %id, attempts, %error, "webhook delivery failed for good");
                    return self
                        .store
                        .give_up_webhook_delivery(&id, lease, DeliveryStatus::Failed, code, &error)
                        .await;
                }
                let mut delay = self.config.backoff(attempts);
                if let Some(ra) = retry_after {
                    delay = delay.max(ra.min(self.config.max_retry_after));
                }
                tracing::debug!(delivery = %id, attempts, %error, ?delay, "webhook delivery retried later");
                self.store
                    .retry_webhook_delivery(
                        &id,
                        lease,
                        now_ms().saturating_add(ms(delay)),
                        code,
                        &error,
                    )
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_round_trip() {
        let body = br#"{"id":"x"}"#;
        let h = signature_header("whsec_k", 1_700_000_000, body);
        assert!(h.starts_with("t=1700000000,v1="));
        assert_eq!(h.len(), "t=1700000000,v1=".len() + 64);
        assert!(verify_signature("whsec_k", &h, body, 1_700_000_010, 300));
        assert!(!verify_signature(
            "whsec_other",
            &h,
            body,
            1_700_000_010,
            300
        ));
        assert!(!verify_signature("whsec_k", &h, b"{}", 1_700_000_010, 300));
        assert!(!verify_signature("whsec_k", &h, body, 1_700_001_000, 300));
        assert!(!verify_signature(
            "whsec_k",
            "v1=abc",
            body,
            1_700_000_000,
            300
        ));
    }

    #[test]
    fn known_hmac_vector() {
        // RFC 4231 test case 2 (key "Jefe"), then the "<t>.<body>" base string.
        let mut mac = HmacSha256::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let mut mac = HmacSha256::new_from_slice(b"s").unwrap();
        mac.update(b"12.{}");
        assert_eq!(
            mac_hex("s", 12, b"{}"),
            hex::encode(mac.finalize().into_bytes())
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let c = DispatchConfig::default();
        assert_eq!(c.backoff(1), Duration::from_secs(10));
        assert_eq!(c.backoff(2), Duration::from_secs(20));
        assert_eq!(c.backoff(4), Duration::from_secs(80));
        assert_eq!(c.backoff(40), Duration::from_secs(3600));
    }

    #[test]
    fn retry_after_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(90)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn body_shape() {
        let b = delivery_body("d1", "call.missed", 42, r#"{"b":1,"a":2}"#).unwrap();
        assert_eq!(
            b,
            r#"{"id":"d1","type":"call.missed","createdAt":42,"data":{"b":1,"a":2}}"#
        );
        assert!(delivery_body("d1", "x", 1, "not json").is_none());
    }
}
