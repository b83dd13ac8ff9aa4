//! Live visitor presence: tracking events absorbed in memory, persisted in batches.
//!
//! [`Presence`] keeps one [`Visitor`] per (widget, visitor id) in a map. Each tracked event
//! updates it at once (so the live view is always fresh) and marks it dirty; interaction
//! events are also queued for the activity log. [`Presence::flush`] writes every dirty visitor
//! and the queued events in ONE storage transaction of multi-row statements
//! ([`ringside_storage::Store::write_visitor_batch`]); [`Presence::spawn_flusher`] runs it every
//! [`PresenceConfig::flush_interval`], and the server flushes once more on shutdown. A failed
//! flush keeps everything queued for the next one.
//!
//! Rules, applied at the server's clock (the client's `timestamp` is kept in the event data):
//! - a visitor unknown to memory is loaded lazily from storage; a visitor never seen starts
//!   with `visitCount` 1 and a session starting now;
//! - when more than [`PresenceConfig::session_timeout_ms`] passed since `lastSeenAt`, a new
//!   visit starts: `visitCount` + 1, `previousSeenAt` = the old `lastSeenAt`,
//!   `currentSessionStartedAt` = now, `sessionEventCount` = 0, referrer and campaign taken anew;
//! - every event sets `lastSeenAt`; a `heartbeat` does nothing else;
//! - every other event is an interaction: `sessionEventCount` + 1, `lastInteractionAt` = now,
//!   logged in the activity; `page_view` and `page_change` also set `currentUrl`, `pageTitle`
//!   and (when the URL changed, or always for `page_view`) `currentPageStartedAt`;
//! - a visitor is live until `lastSeenAt` + [`PresenceConfig::live_timeout_ms`].
//!
//! Idle visitors (not dirty, not seen for a session timeout) are dropped from memory on flush.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringside_storage::{new_id, Store, VisitDay, Visitor, VisitorEvent};
use serde_json::{Map, Value};

use crate::user_agent::{parse_campaign, parse_user_agent};
use crate::ApiError;

/// Where [`Presence`] gets the time from (unix ms); tests use a [`ManualClock`].
pub trait Clock: Send + Sync {
    /// Now, unix ms.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        ringside_storage::now_ms()
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock showing `ms`.
    pub fn new(ms: i64) -> ManualClock {
        ManualClock(AtomicI64::new(ms))
    }
    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Tunables of [`Presence`] and of the tracking endpoint.
#[derive(Debug, Clone)]
pub struct PresenceConfig {
    /// A gap longer than this starts a new visit (default 30 minutes).
    pub session_timeout_ms: i64,
    /// A visitor is live until `lastSeenAt` plus this (default 90 seconds).
    pub live_timeout_ms: i64,
    /// How often the background flusher writes to storage (default 1 second).
    pub flush_interval: Duration,
    /// Take the client IP from the last `X-Forwarded-For` entry (only behind a trusted reverse
    /// proxy; default off: the socket's peer address).
    pub trust_forwarded_for: bool,
    /// Most activity events queued in memory (while storage is failing); beyond it the oldest
    /// are dropped, with a warning (default 100,000).
    pub max_pending_events: usize,
    /// The public base URL, for the dashboard link in `visitor.connected` (none: no link).
    pub public_url: Option<String>,
}

impl Default for PresenceConfig {
    fn default() -> Self {
        PresenceConfig {
            session_timeout_ms: 30 * 60 * 1000,
            live_timeout_ms: 90 * 1000,
            flush_interval: Duration::from_secs(1),
            trust_forwarded_for: false,
            max_pending_events: 100_000,
            public_url: None,
        }
    }
}

/// Event types that set the current page.
pub const PAGE_EVENTS: &[&str] = &["page_view", "page_change"];
/// The event type that only keeps a visitor live.
pub const HEARTBEAT: &str = "heartbeat";

/// One validated tracking event, with what the server captured.
#[derive(Debug, Clone, Default)]
pub struct TrackEvent {
    /// Client-generated visitor id.
    pub visitor_id: String,
    /// Client session id, if sent.
    pub session_id: Option<String>,
    /// Event type.
    pub kind: String,
    /// Page URL.
    pub url: Option<String>,
    /// Page title.
    pub title: Option<String>,
    /// Referrer.
    pub referrer: Option<String>,
    /// The client's timestamp, as sent.
    pub client_timestamp: Option<Value>,
    /// Site-passed metadata (merged key by key into the visitor's).
    pub metadata: Option<Map<String, Value>>,
    /// Client IP.
    pub ip: Option<String>,
    /// User-Agent header.
    pub user_agent: Option<String>,
}

type Key = (String, String);

/// What `visitor.connected` (webhook) and `visitor:connected` (realtime) say of a visitor.
pub(crate) fn visitor_summary(v: &Visitor, now_ms: i64) -> Value {
    serde_json::json!({
        "widgetId": v.widget_id, "visitorId": v.visitor_id,
        "visitCount": v.visit_count, "currentUrl": v.current_url,
        "pageTitle": v.page_title, "referrer": v.referrer, "ip": v.ip,
        "browser": v.browser, "os": v.os, "device": v.device, "isBot": v.is_bot,
        "utmSource": v.utm_source, "utmMedium": v.utm_medium,
        "utmCampaign": v.utm_campaign, "connectedAt": now_ms,
    })
}

/// How often the background flusher writes visitors changed only by heartbeats.
pub const HEARTBEAT_FLUSH_MS: i64 = 10_000;

/// Commands waiting for one visitor, at most.
pub const MAX_COMMANDS_PER_VISITOR: usize = 10;
/// Visitors with waiting commands, at most (beyond it new commands are refused).
pub const MAX_COMMAND_VISITORS: usize = 100_000;

/// A command for a visitor's page (e.g. go to another page), delivered with the next answer
/// to its tracking calls (heartbeats come every few seconds) until it expires.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct VisitorCommand {
    /// Command id (uuid).
    pub id: String,
    /// `navigate`.
    #[serde(rename = "type")]
    #[schemars(extend("enum" = ["navigate"]))]
    pub kind: String,
    /// Where to go.
    pub url: String,
    /// Title to show, if any.
    pub title: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Dropped undelivered after this, unix ms.
    pub expires_at: i64,
}

#[derive(Default)]
struct Inner {
    visitors: HashMap<Key, Visitor>,
    dirty: HashSet<Key>,
    /// Visitors changed by heartbeats only (`lastSeenAt`): the live view reads memory, so the
    /// background flusher writes these only every [`HEARTBEAT_FLUSH_MS`].
    touched: HashSet<Key>,
    /// When `touched` was last written, unix ms.
    touched_flushed_at: i64,
    events: Vec<VisitorEvent>,
    /// Visits started since the last flush, per widget and UTC day (the analytics chart).
    visits: HashMap<(String, i64), i64>,
    commands: HashMap<Key, Vec<VisitorCommand>>,
}

/// The in-memory live presence (share it behind an `Arc`).
pub struct Presence {
    store: Store,
    config: PresenceConfig,
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presence")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Presence {
    /// A presence on `store` with the system clock.
    pub fn new(store: Store, config: PresenceConfig) -> Presence {
        Presence::with_clock(store, config, Arc::new(SystemClock))
    }

    /// A presence with its own clock (tests).
    pub fn with_clock(store: Store, config: PresenceConfig, clock: Arc<dyn Clock>) -> Presence {
        Presence {
            store,
            config,
            clock,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PresenceConfig {
        &self.config
    }

    /// Now, by the presence's clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Absorbs one event of a visitor of widget `widget_id` (of tenant `tenant_id`); the
    /// visitor's snapshot when the event starts a visit (and `visitor.connected` was queued).
    pub async fn track(
        &self,
        tenant_id: &str,
        widget_id: &str,
        ev: TrackEvent,
    ) -> Result<Option<Visitor>, ApiError> {
        let key = (widget_id.to_owned(), ev.visitor_id.clone());
        let known = self.lock().visitors.contains_key(&key);
        let loaded = if known {
            None
        } else {
            self.store.find_visitor(widget_id, &ev.visitor_id).await?
        };
        let now = self.clock.now_ms();
        let connected = self.absorb(tenant_id, widget_id, key, ev, loaded, now);
        if let Some(v) = &connected {
            // A new visitor, or a visitor back after the session timeout.
            let mut data = visitor_summary(v, now);
            if let Some(base) = &self.config.public_url {
                data["dashboardUrl"] =
                    serde_json::json!(crate::http::urls::chat_page(base, widget_id, &v.visitor_id));
            }
            if let Err(e) = self
                .store
                .enqueue_webhook_event(tenant_id, "visitor.connected", Some(widget_id), &data)
                .await
            {
                // The visit is tracked either way; only the notification is lost.
                tracing::error!(error = %e, "could not queue visitor.connected");
            }
        }
        Ok(connected)
    }

    /// Applies one event under the lock; the visitor's snapshot when this event starts a
    /// visit (a new visitor, or one back after the session timeout).
    fn absorb(
        &self,
        tenant_id: &str,
        widget_id: &str,
        key: Key,
        ev: TrackEvent,
        loaded: Option<Visitor>,
        now: i64,
    ) -> Option<Visitor> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let mut created = false;
        let v = inner.visitors.entry(key.clone()).or_insert_with(|| {
            loaded.unwrap_or_else(|| {
                created = true;
                Visitor {
                    widget_id: widget_id.to_owned(),
                    visitor_id: ev.visitor_id.clone(),
                    tenant_id: tenant_id.to_owned(),
                    first_seen_at: now,
                    last_seen_at: now,
                    visit_count: 1,
                    current_session_started_at: now,
                    metadata: "{}".to_owned(),
                    ..Visitor::default()
                }
            })
        });
        let fresh = created;
        let new_visit = now - v.last_seen_at > self.config.session_timeout_ms;
        if fresh || new_visit {
            let day = now - now.rem_euclid(86_400_000);
            *inner.visits.entry((widget_id.to_owned(), day)).or_default() += 1;
        }
        if new_visit {
            v.previous_seen_at = Some(v.last_seen_at);
            v.visit_count += 1;
            v.current_session_started_at = now;
            v.session_event_count = 0;
            v.referrer = None;
            v.utm_source = None;
            v.utm_medium = None;
            v.utm_campaign = None;
            v.utm_term = None;
            v.utm_content = None;
            v.gclid = None;
            v.fbclid = None;
        }
        v.last_seen_at = v.last_seen_at.max(now);
        if ev.session_id.is_some() {
            v.session_id = ev.session_id.clone();
        }
        if ev.kind == HEARTBEAT && !(fresh || new_visit) {
            if !inner.dirty.contains(&key) {
                inner.touched.insert(key);
            }
            return None;
        }
        // Who the visitor is: captured on every interaction (and a first heartbeat).
        if let Some(ip) = &ev.ip {
            v.ip = Some(ip.clone());
        }
        if let Some(ua) = &ev.user_agent {
            let info = parse_user_agent(ua);
            v.user_agent = Some(ua.clone());
            v.browser = info.browser.map(str::to_owned);
            v.os = info.os.map(str::to_owned);
            v.device = Some(info.device.to_owned());
            v.is_bot = info.is_bot;
        }
        if let Some(m) = &ev.metadata {
            let mut current: Map<String, Value> =
                serde_json::from_str(&v.metadata).unwrap_or_default();
            for (k, val) in m {
                current.insert(k.clone(), val.clone());
            }
            v.metadata = Value::Object(current).to_string();
        }
        if v.referrer.is_none() {
            v.referrer = ev.referrer.clone();
        }
        if let Some(url) = &ev.url {
            let c = parse_campaign(url);
            for (slot, value) in [
                (&mut v.utm_source, c.utm_source),
                (&mut v.utm_medium, c.utm_medium),
                (&mut v.utm_campaign, c.utm_campaign),
                (&mut v.utm_term, c.utm_term),
                (&mut v.utm_content, c.utm_content),
                (&mut v.gclid, c.gclid),
                (&mut v.fbclid, c.fbclid),
            ] {
                if value.is_some() {
                    *slot = value;
                }
            }
        }
        if ev.kind == HEARTBEAT {
            // A first heartbeat (or one after a long gap) creates the visit, nothing more.
            inner.dirty.insert(key);
            return (fresh || new_visit).then(|| v.clone());
        }
        v.session_event_count += 1;
        v.last_interaction_at = Some(now);
        if PAGE_EVENTS.contains(&ev.kind.as_str()) {
            if ev.kind == "page_view"
                || v.current_url != ev.url
                || v.current_page_started_at.is_none()
            {
                v.current_page_started_at = Some(now);
            }
            if ev.url.is_some() {
                v.current_url = ev.url.clone();
            }
            if ev.title.is_some() {
                v.page_title = ev.title.clone();
            }
        }
        let mut data = Map::new();
        if let Some(s) = &ev.session_id {
            data.insert("sessionId".into(), Value::String(s.clone()));
        }
        if let Some(t) = &ev.title {
            data.insert("title".into(), Value::String(t.clone()));
        }
        if let Some(r) = &ev.referrer {
            data.insert("referrer".into(), Value::String(r.clone()));
        }
        if let Some(ts) = &ev.client_timestamp {
            data.insert("clientTimestamp".into(), ts.clone());
        }
        if let Some(m) = &ev.metadata {
            data.insert("metadata".into(), Value::Object(m.clone()));
        }
        inner.events.push(VisitorEvent {
            id: new_id(),
            tenant_id: v.tenant_id.clone(),
            widget_id: widget_id.to_owned(),
            visitor_id: ev.visitor_id,
            kind: ev.kind,
            url: ev.url,
            at: now,
            data: Value::Object(data).to_string(),
        });
        let connected = (fresh || new_visit).then(|| v.clone());
        inner.dirty.insert(key);
        connected
    }

    /// What waits for the next flush: (dirty visitors, queued activity events).
    pub fn pending(&self) -> (usize, usize) {
        let inner = self.lock();
        (
            inner.dirty.union(&inner.touched).count(),
            inner.events.len(),
        )
    }

    /// Writes every changed visitor and the queued events in one transaction; returns how many
    /// visitors and events were written. On failure everything stays queued.
    pub async fn flush(&self) -> Result<(usize, usize), ApiError> {
        self.flush_inner(true).await
    }

    /// The background flusher's step: like [`flush`](Self::flush), but visitors changed by
    /// heartbeats alone are written only every [`HEARTBEAT_FLUSH_MS`] (their `lastSeenAt` is
    /// served from memory meanwhile; a crash loses at most that much of it).
    pub async fn flush_due(&self) -> Result<(usize, usize), ApiError> {
        self.flush_inner(false).await
    }

    async fn flush_inner(&self, all: bool) -> Result<(usize, usize), ApiError> {
        let now = self.clock.now_ms();
        let (visitors, events, visits) = {
            let mut inner = self.lock();
            let inner = &mut *inner;
            let mut keys: HashSet<Key> = inner.dirty.drain().collect();
            if all || now - inner.touched_flushed_at >= HEARTBEAT_FLUSH_MS {
                inner.touched_flushed_at = now;
                keys.extend(inner.touched.drain());
            } else {
                // Written now with their interactions anyway.
                inner.touched.retain(|k| !keys.contains(k));
            }
            let visitors: Vec<Visitor> = keys
                .iter()
                .filter_map(|k| inner.visitors.get(k).cloned())
                .collect();
            let visits: Vec<VisitDay> = inner
                .visits
                .drain()
                .map(|((widget_id, day), visits)| VisitDay {
                    widget_id,
                    day,
                    visits,
                })
                .collect();
            (visitors, std::mem::take(&mut inner.events), visits)
        };
        let counts = (visitors.len(), events.len());
        if let Err(e) = self.store.write_activity(&visitors, &events, &visits).await {
            let mut inner = self.lock();
            for d in visits {
                *inner.visits.entry((d.widget_id, d.day)).or_default() += d.visits;
            }
            for v in &visitors {
                inner
                    .dirty
                    .insert((v.widget_id.clone(), v.visitor_id.clone()));
            }
            let newer = std::mem::replace(&mut inner.events, events);
            inner.events.extend(newer);
            let excess = inner
                .events
                .len()
                .saturating_sub(self.config.max_pending_events);
            if excess > 0 {
                inner.events.drain(..excess);
                tracing::warn!(
                    dropped = excess,
                    "presence: activity queue full, oldest dropped"
                );
            }
            return Err(e.into());
        }
        // Forget idle visitors; they are reloaded from storage when they come back.
        let horizon = self.clock.now_ms() - self.config.session_timeout_ms;
        let mut inner = self.lock();
        let inner = &mut *inner;
        let (dirty, touched) = (&inner.dirty, &inner.touched);
        inner
            .visitors
            .retain(|k, v| v.last_seen_at >= horizon || dirty.contains(k) || touched.contains(k));
        Ok(counts)
    }

    /// Starts the background task flushing every [`PresenceConfig::flush_interval`].
    pub fn spawn_flusher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(me.config.flush_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = me.flush_due().await {
                    tracing::warn!(error = %e, "presence flush failed; will retry");
                }
            }
        })
    }

    /// Live visitors of the tenant's widget (seen within the live timeout): storage merged with
    /// the fresher in-memory state, most recently seen first, at most `limit`; and how many are
    /// live in all (those in memory, plus stored ones memory does not hold, e.g. from before a
    /// restart, as far as `limit` of them were read).
    pub async fn live_visitors(
        &self,
        tenant_id: &str,
        widget_id: &str,
        limit: usize,
    ) -> Result<(Vec<Visitor>, usize), ApiError> {
        let since = self.clock.now_ms() - self.config.live_timeout_ms;
        let stored = self
            .store
            .list_live_visitors(
                tenant_id,
                widget_id,
                since,
                u32::try_from(limit)
                    .unwrap_or(u32::MAX)
                    .min(ringside_storage::MAX_LIST_VISITORS),
            )
            .await?;
        let newest_first = |a: &Visitor, b: &Visitor| {
            b.last_seen_at
                .cmp(&a.last_seen_at)
                .then_with(|| a.visitor_id.cmp(&b.visitor_id))
        };
        // The newest `limit` in memory, cloned (not every live visitor of a busy site).
        let (mut mine, in_memory): (Vec<Visitor>, HashSet<String>) = {
            let inner = self.lock();
            let mut live: Vec<&Visitor> = inner
                .visitors
                .iter()
                .filter(|((w, _), v)| {
                    w == widget_id && v.tenant_id == tenant_id && v.last_seen_at >= since
                })
                .map(|(_, v)| v)
                .collect();
            let ids = live.iter().map(|v| v.visitor_id.clone()).collect();
            if live.len() > limit {
                live.select_nth_unstable_by(limit, |a, b| newest_first(a, b));
                live.truncate(limit);
            }
            (live.into_iter().cloned().collect(), ids)
        };
        let total = in_memory.len()
            + stored
                .iter()
                .filter(|v| !in_memory.contains(&v.visitor_id))
                .count();
        mine.extend(
            stored
                .into_iter()
                .filter(|v| !in_memory.contains(&v.visitor_id) && v.last_seen_at >= since),
        );
        mine.sort_by(newest_first);
        mine.truncate(limit);
        Ok((mine, total))
    }

    /// `stored` visitors of the widget overlaid with the fresher in-memory ones, most recently
    /// seen first.
    fn merged(&self, tenant_id: &str, widget_id: &str, stored: Vec<Visitor>) -> Vec<Visitor> {
        let mut by_id: HashMap<String, Visitor> = stored
            .into_iter()
            .map(|v| (v.visitor_id.clone(), v))
            .collect();
        {
            let inner = self.lock();
            for ((w, id), v) in &inner.visitors {
                if w == widget_id && v.tenant_id == tenant_id {
                    by_id.insert(id.clone(), v.clone());
                }
            }
        }
        let mut list: Vec<Visitor> = by_id.into_values().collect();
        list.sort_by(|a, b| {
            b.last_seen_at
                .cmp(&a.last_seen_at)
                .then_with(|| a.visitor_id.cmp(&b.visitor_id))
        });
        list
    }

    /// The widget's most recently seen visitors, live or not (storage merged with the fresher
    /// in-memory state), most recently seen first, at most `limit`.
    pub async fn recent_visitors(
        &self,
        tenant_id: &str,
        widget_id: &str,
        limit: u32,
    ) -> Result<Vec<Visitor>, ApiError> {
        let stored = self
            .store
            .list_recent_visitors(tenant_id, widget_id, limit)
            .await?;
        let mut list = self.merged(tenant_id, widget_id, stored);
        list.truncate(limit as usize);
        Ok(list)
    }

    /// The widget's recent page events (`page_view`, `page_change`), stored ones plus those
    /// not flushed yet, newest first, at most `limit`.
    pub async fn page_events(
        &self,
        tenant_id: &str,
        widget_id: &str,
        limit: u32,
    ) -> Result<Vec<ringside_storage::PageEvent>, ApiError> {
        let mut list = self
            .store
            .recent_page_events(tenant_id, widget_id, limit)
            .await?;
        {
            let inner = self.lock();
            list.extend(
                inner
                    .events
                    .iter()
                    .filter(|e| {
                        e.tenant_id == tenant_id
                            && e.widget_id == widget_id
                            && PAGE_EVENTS.contains(&e.kind.as_str())
                    })
                    .filter_map(|e| {
                        Some(ringside_storage::PageEvent {
                            url: e.url.clone()?,
                            title: serde_json::from_str::<Value>(&e.data).ok().and_then(|d| {
                                d.get("title").and_then(Value::as_str).map(str::to_owned)
                            }),
                            at: e.at,
                        })
                    }),
            );
        }
        list.sort_by_key(|e| std::cmp::Reverse(e.at));
        list.truncate(limit as usize);
        Ok(list)
    }

    /// Queues `cmd` for a visitor of the widget (the caller checked both are the tenant's).
    /// The oldest waiting command is dropped beyond [`MAX_COMMANDS_PER_VISITOR`]; `false` when
    /// too many visitors have commands waiting.
    pub fn queue_command(&self, widget_id: &str, visitor_id: &str, cmd: VisitorCommand) -> bool {
        let now = self.clock.now_ms();
        let mut inner = self.lock();
        let key = (widget_id.to_owned(), visitor_id.to_owned());
        if !inner.commands.contains_key(&key) && inner.commands.len() >= MAX_COMMAND_VISITORS {
            inner.commands.retain(|_, q| {
                q.retain(|c| c.expires_at > now);
                !q.is_empty()
            });
            if inner.commands.len() >= MAX_COMMAND_VISITORS {
                return false;
            }
        }
        let q = inner.commands.entry(key).or_default();
        q.retain(|c| c.expires_at > now);
        if q.len() >= MAX_COMMANDS_PER_VISITOR {
            q.remove(0);
        }
        q.push(cmd);
        true
    }

    /// Whether this process saw the visitor within the live timeout (their page's requests
    /// come here): commands for them are queued here rather than sent to another node.
    pub fn holds(&self, widget_id: &str, visitor_id: &str) -> bool {
        let since = self.clock.now_ms() - self.config.live_timeout_ms;
        self.lock()
            .visitors
            .get(&(widget_id.to_owned(), visitor_id.to_owned()))
            .is_some_and(|v| v.last_seen_at >= since)
    }

    /// Takes the visitor's unexpired waiting commands, oldest first.
    pub fn take_commands(&self, widget_id: &str, visitor_id: &str) -> Vec<VisitorCommand> {
        let now = self.clock.now_ms();
        let mut inner = self.lock();
        if inner.commands.is_empty() {
            return Vec::new();
        }
        let mut q = inner
            .commands
            .remove(&(widget_id.to_owned(), visitor_id.to_owned()))
            .unwrap_or_default();
        q.retain(|c| c.expires_at > now);
        q
    }

    /// One visitor of the tenant's widget (memory first, then storage); NotFound otherwise.
    pub async fn visitor(
        &self,
        tenant_id: &str,
        widget_id: &str,
        visitor_id: &str,
    ) -> Result<Visitor, ApiError> {
        let mem = self
            .lock()
            .visitors
            .get(&(widget_id.to_owned(), visitor_id.to_owned()))
            .cloned();
        let v = match mem {
            Some(v) => Some(v),
            None => self.store.find_visitor(widget_id, visitor_id).await?,
        };
        v.filter(|v| v.tenant_id == tenant_id)
            .ok_or(ApiError::NotFound)
    }

    /// The activity log of a visitor, newest first: stored events plus those not flushed yet.
    pub async fn activity(
        &self,
        tenant_id: &str,
        widget_id: &str,
        visitor_id: &str,
        limit: u32,
    ) -> Result<Vec<VisitorEvent>, ApiError> {
        let mut list = self
            .store
            .list_visitor_events(tenant_id, widget_id, visitor_id, limit)
            .await?;
        {
            let inner = self.lock();
            list.extend(
                inner
                    .events
                    .iter()
                    .filter(|e| {
                        e.tenant_id == tenant_id
                            && e.widget_id == widget_id
                            && e.visitor_id == visitor_id
                    })
                    .cloned(),
            );
        }
        list.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| a.id.cmp(&b.id)));
        list.dedup_by(|a, b| a.id == b.id);
        list.truncate(limit as usize);
        Ok(list)
    }
}
