//! Abuse limits on the public widget endpoints: in-memory token buckets per client IP and per
//! widget id.
//!
//! [`TokenBuckets`] is sans-IO: the caller passes the current [`Instant`], so tests run on
//! simulated time. Each key has a bucket of `burst` tokens refilled at `rate` tokens per
//! second; a request takes one token, or is refused with the time until one is available.
//! Memory is bounded: at most `max_keys` buckets; when the table is full, buckets that have
//! refilled completely (idle keys, indistinguishable from new ones) are evicted, and if none
//! can be, the new key is let through untracked (the per-widget limit still bounds the load).
//!
//! [`RateLimits`] holds the buckets of the public runtime and [`limit_page`] / [`limit_chat`]
//! apply them as route layers: over the limit answers 429 `rate_limited` with `Retry-After`
//! (whole seconds, at least 1) and, for an origin the widget allows, its CORS headers.
//!
//! In a cluster each node keeps its own buckets. A widget's limit is shared out: each of `n`
//! live nodes allows `1/n` of its rate and burst ([`RateLimits::set_cluster_nodes`]), so with
//! a balancer spreading the widget's visitors the cluster allows about the configured limit
//! (within one node's share when the spread is uneven). Per-IP limits are each node's own: a
//! visitor's requests stay on one node behind the HTTP edge (stickiness by visitor), so a
//! client gets the configured limit; one that spreads its requests over `n` nodes gets up to
//! `n` times it.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::widget_runtime::{check_origin, client_addr, fail, with_cors};
use crate::{ApiError, AppState};

/// What the public endpoints' rate limits use of the application state.
#[derive(Clone)]
pub struct RateLimitState {
    store: ringside_storage::Store,
    presence: std::sync::Arc<crate::Presence>,
    rate_limits: std::sync::Arc<RateLimits>,
    widget_cache: std::sync::Arc<crate::widget_cache::WidgetCache>,
}

impl axum::extract::FromRef<AppState> for RateLimitState {
    fn from_ref(st: &AppState) -> Self {
        RateLimitState {
            store: st.store.clone(),
            presence: st.presence.clone(),
            rate_limits: st.rate_limits.clone(),
            widget_cache: st.widget_cache.clone(),
        }
    }
}

/// A token bucket's refill rate and size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    /// Tokens added per second (may be fractional); 0 disables the limit.
    pub rate: f64,
    /// Bucket size: how many requests may come at once (at least 1 is used).
    pub burst: u32,
}

impl Limit {
    /// `rate` per second with bursts of `burst`.
    pub const fn new(rate: f64, burst: u32) -> Limit {
        Limit { rate, burst }
    }
}

/// Rate limits of the public widget runtime.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitConfig {
    /// Per client IP, for `/track`, `/widget/bootstrap`, `/config` and all preflights.
    pub track_per_ip: Limit,
    /// Per client IP, for chat, ask, lead and callbacks.
    pub chat_per_ip: Limit,
    /// Per widget id, all public endpoints together.
    pub per_widget: Limit,
    /// Most keys tracked by each bucket table.
    pub max_keys: usize,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            track_per_ip: Limit::new(20.0, 60),
            chat_per_ip: Limit::new(2.0, 10),
            per_widget: Limit::new(1000.0, 2000),
            max_keys: 100_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

#[derive(Debug)]
struct Table<K> {
    buckets: HashMap<K, Bucket>,
    last_sweep: Option<Instant>,
}

/// Token buckets keyed by `K` (see the module docs).
#[derive(Debug)]
pub struct TokenBuckets<K> {
    limit: Limit,
    max_keys: usize,
    table: Mutex<Table<K>>,
    /// The limit is divided by this (the live nodes sharing it; 1 alone).
    share: std::sync::atomic::AtomicU32,
}

impl<K: Hash + Eq> TokenBuckets<K> {
    /// Buckets of `limit`, at most `max_keys` of them.
    pub fn new(limit: Limit, max_keys: usize) -> Self {
        TokenBuckets {
            limit,
            max_keys,
            table: Mutex::new(Table {
                buckets: HashMap::new(),
                last_sweep: None,
            }),
            share: std::sync::atomic::AtomicU32::new(1),
        }
    }

    /// Allows this process `1/nodes` of the limit's rate and burst (the burst at least 1).
    pub fn share_among(&self, nodes: u32) {
        self.share
            .store(nodes.max(1), std::sync::atomic::Ordering::Relaxed);
    }

    /// Takes a token for `key` at `now`: `Err(retry_after)` when the bucket is empty. Allocates
    /// only when a new key is inserted.
    pub fn check<Q>(&self, key: &Q, now: Instant) -> Result<(), Duration>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        // Zero, negative or NaN: no limit.
        if self.limit.rate.is_nan() || self.limit.rate <= 0.0 {
            return Ok(());
        }
        let share = f64::from(self.share.load(std::sync::atomic::Ordering::Relaxed).max(1));
        let rate = self.limit.rate / share;
        let burst = (f64::from(self.limit.burst) / share).ceil().max(1.0);
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = t.buckets.get_mut(key) {
            let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
            b.tokens = (b.tokens + elapsed * rate).min(burst);
            b.last = now;
            if b.tokens >= 1.0 {
                b.tokens -= 1.0;
                return Ok(());
            }
            return Err(Duration::from_secs_f64((1.0 - b.tokens) / rate));
        }
        if t.buckets.len() >= self.max_keys {
            // Sweep at most once a second, so a full table of busy keys costs O(1) per request.
            let due = t
                .last_sweep
                .is_none_or(|s| now.saturating_duration_since(s) >= Duration::from_secs(1));
            if due {
                t.last_sweep = Some(now);
                t.buckets.retain(|_, b| {
                    b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate < burst
                });
            }
            if t.buckets.len() >= self.max_keys {
                return Ok(());
            }
        }
        t.buckets.insert(
            key.to_owned(),
            Bucket {
                tokens: burst - 1.0,
                last: now,
            },
        );
        Ok(())
    }

    /// How many keys are tracked.
    pub fn len(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .buckets
            .len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The buckets of the public widget runtime.
#[derive(Debug)]
pub struct RateLimits {
    track_ip: TokenBuckets<IpAddr>,
    chat_ip: TokenBuckets<IpAddr>,
    widget: TokenBuckets<String>,
    /// Chat transcripts mailed, per widget and visitor ([`TRANSCRIPTS_PER_VISITOR`]).
    pub(crate) transcripts: TokenBuckets<String>,
}

/// Chat transcripts a visitor may have mailed: three in a row, then one an hour.
pub const TRANSCRIPTS_PER_VISITOR: Limit = Limit::new(1.0 / 3600.0, 3);

impl RateLimits {
    /// Empty buckets with the given limits.
    pub fn new(c: RateLimitConfig) -> Self {
        RateLimits {
            track_ip: TokenBuckets::new(c.track_per_ip, c.max_keys),
            chat_ip: TokenBuckets::new(c.chat_per_ip, c.max_keys),
            widget: TokenBuckets::new(c.per_widget, c.max_keys),
            transcripts: TokenBuckets::new(TRANSCRIPTS_PER_VISITOR, c.max_keys),
        }
    }
}

impl RateLimits {
    /// `nodes` live nodes share each widget's limit (see the module docs).
    pub fn set_cluster_nodes(&self, nodes: u32) {
        self.widget.share_among(nodes);
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits::new(RateLimitConfig::default())
    }
}

/// Whole seconds to announce in `Retry-After`: rounded up, at least 1.
pub fn retry_after_secs(d: Duration) -> u64 {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    s.max(1)
}

/// Longest widget id worth a bucket: real ids are 36-character UUIDs, and longer claimed ids
/// must not inflate the table's memory (they fail authentication anyway, and the per-IP limit
/// still applies).
const MAX_WIDGET_KEY: usize = 64;

/// The widget id a public request names: `/api/widgets/{id}/...`, else `?clientId=`.
fn widget_in_uri(req: &Request) -> Option<String> {
    let path = req.uri().path();
    if let Some(rest) = path.strip_prefix("/api/widgets/") {
        return rest
            .split('/')
            .next()
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
    }
    req.uri()
        .query()?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "clientId")
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

/// Layer for `/track`, bootstrap and config (and preflights): the track per-IP limit.
pub async fn limit_page(State(st): State<RateLimitState>, req: Request, next: Next) -> Response {
    limit(st, false, req, next).await
}

/// Layer for chat, ask, lead and callbacks: the chat per-IP limit (preflights take the track
/// limit).
pub async fn limit_chat(State(st): State<RateLimitState>, req: Request, next: Next) -> Response {
    limit(st, true, req, next).await
}

async fn limit(st: RateLimitState, chat: bool, req: Request, next: Next) -> Response {
    let now = Instant::now();
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0);
    let ip = client_addr(
        req.headers(),
        peer,
        st.presence.config().trust_forwarded_for,
    );
    let chat = chat && req.method() != Method::OPTIONS;
    let ip_buckets = if chat {
        &st.rate_limits.chat_ip
    } else {
        &st.rate_limits.track_ip
    };
    let mut denied = ip.and_then(|ip| ip_buckets.check(&ip, now).err());
    let mut widget = widget_in_uri(&req);
    // `/widget/ask` and `/widget/lead` name the widget in their JSON body.
    let mut req = req;
    if widget.is_none() && req.method() == Method::POST {
        let (parts, body) = req.into_parts();
        let bytes = match axum::body::to_bytes(body, crate::messages::MAX_PUBLIC_BODY).await {
            Ok(b) => b,
            Err(_) => {
                return fail(ApiError::PayloadTooLarge {
                    limit: crate::messages::MAX_PUBLIC_BODY as u64,
                })
            }
        };
        widget =
            serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| match v.get("clientId")? {
                    Value::String(s) if !s.is_empty() => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                });
        req = Request::from_parts(parts, axum::body::Body::from(bytes));
    }
    if denied.is_none() {
        if let Some(id) = widget.as_ref().filter(|id| id.len() <= MAX_WIDGET_KEY) {
            denied = st.rate_limits.widget.check(id.as_str(), now).err();
        }
    }
    let Some(wait) = denied else {
        return next.run(req).await;
    };
    let secs = retry_after_secs(wait);
    let resp = ApiError::TooManyRequests {
        retry_after_secs: secs,
    }
    .into_response();
    // CORS for an origin the widget allows, so the page can read the 429 (one indexed lookup;
    // refused requests never reach the handlers' key check and writes).
    let mut allow = None;
    if let (Some(id), Some(_)) = (&widget, req.headers().get(header::ORIGIN)) {
        if let Ok(w) = st.widget_cache.get(&st.store, id).await {
            allow = check_origin(&w, req.headers(), None).ok().flatten();
        }
    }
    with_cors(resp, allow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let b = TokenBuckets::<String>::new(Limit::new(2.0, 3), 10);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(b.check("a", t0), Ok(()));
        }
        // Empty: the next token is half a second away at 2/s.
        assert_eq!(b.check("a", t0), Err(Duration::from_millis(500)));
        assert_eq!(b.check("b", t0), Ok(()), "other keys are independent");
        let t1 = t0 + Duration::from_millis(250);
        assert_eq!(b.check("a", t1), Err(Duration::from_millis(250)));
        let t2 = t0 + Duration::from_millis(500);
        assert_eq!(b.check("a", t2), Ok(()));
        assert!(b.check("a", t2).is_err());
        // A long pause refills to the burst, not beyond.
        let t3 = t2 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(b.check("a", t3), Ok(()));
        }
        assert!(b.check("a", t3).is_err());
    }

    #[test]
    fn a_limit_shared_by_nodes_gives_each_its_part() {
        let b = TokenBuckets::<String>::new(Limit::new(8.0, 10), 10);
        b.share_among(4);
        let t0 = Instant::now();
        // 10 / 4, rounded up: 3 at once, then 2 a second.
        for _ in 0..3 {
            assert_eq!(b.check("w", t0), Ok(()));
        }
        assert_eq!(b.check("w", t0), Err(Duration::from_millis(500)));
        assert_eq!(b.check("w", t0 + Duration::from_millis(500)), Ok(()));
        // Alone again: the whole limit.
        b.share_among(0);
        let t1 = t0 + Duration::from_secs(60);
        for _ in 0..10 {
            assert_eq!(b.check("w", t1), Ok(()));
        }
        assert!(b.check("w", t1).is_err());
        // Per-IP buckets are each node's own.
        let limits = RateLimits::new(RateLimitConfig {
            per_widget: Limit::new(8.0, 10),
            ..RateLimitConfig::default()
        });
        limits.set_cluster_nodes(5);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..10 {
            assert_eq!(limits.chat_ip.check(&ip, t0), Ok(()));
        }
        for _ in 0..2 {
            assert_eq!(limits.widget.check("w", t0), Ok(()));
        }
        assert!(limits.widget.check("w", t0).is_err());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        let b = TokenBuckets::<String>::new(Limit::new(1.0, 1), 10);
        let t0 = Instant::now();
        assert!(b.check("a", t0).is_ok());
        let wait = b.check("a", t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        assert_eq!(retry_after_secs(wait), 1);
    }

    #[test]
    fn widget_ids_from_uris() {
        let id = |uri: &str| {
            widget_in_uri(
                &Request::builder()
                    .uri(uri)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
        };
        assert_eq!(id("/api/widgets/w1/chat?key=k").as_deref(), Some("w1"));
        assert_eq!(
            id("/widget/bootstrap?widgetKey=k&clientId=w2").as_deref(),
            Some("w2")
        );
        assert_eq!(id("/widget/bootstrap?clientId="), None);
        assert_eq!(id("/widget/ask"), None);
    }

    #[test]
    fn zero_rate_disables() {
        let b = TokenBuckets::<String>::new(Limit::new(0.0, 1), 10);
        let t0 = Instant::now();
        for _ in 0..100 {
            assert!(b.check("a", t0).is_ok());
        }
        assert!(b.is_empty());
    }

    #[test]
    fn idle_buckets_are_evicted_and_keys_capped() {
        let b = TokenBuckets::<String>::new(Limit::new(1.0, 2), 2);
        let t0 = Instant::now();
        assert!(b.check("a", t0).is_ok());
        assert!(b.check("b", t0).is_ok());
        // Full of active buckets: a new key goes through untracked.
        assert!(b.check("c", t0).is_ok());
        assert_eq!(b.len(), 2);
        // "b" stays busy; "a" idles until full again and is evicted for "c".
        let t1 = t0 + Duration::from_secs(2);
        assert!(b.check("b", t1).is_ok());
        assert!(b.check("b", t1).is_ok());
        assert!(b.check("c", t1).is_ok());
        assert_eq!(b.len(), 2);
        assert!(b.check("b", t1).is_err(), "busy bucket kept its state");
        assert!(b.check("c", t1).is_ok() && b.check("c", t1).is_err());
    }
}
