//! The one event bus: a tenant's events, built once, delivered to every socket subscribed to
//! that tenant (dashboards, visitors' widgets, console operators), each of which filters by
//! [`Audience`]. Publishers are the control plane (chat, visitors) and the call core (call
//! events, browser rings, console offers).
//!
//! Delivery is best effort and bounded: each tenant has a broadcast channel of
//! [`TENANT_CHANNEL`] events, a subscriber too slow for the rate learns how many it missed
//! and goes on, and nothing is kept for a tenant nobody listens to.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::broadcast;

/// Events buffered per tenant for slow subscribers.
pub const TENANT_CHANNEL: usize = 256;

/// Who an event is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Dashboards holding the scope.
    Tenant(&'static str),
    /// Only the visitor's widget socket.
    Visitor,
    /// Console operators available for the event's widget.
    Console,
}

/// One event on the bus.
#[derive(Debug)]
pub struct Event {
    /// `message:new`, `visitor:connected`, `call:answered`, ...
    pub kind: &'static str,
    /// Who may see it.
    pub audience: Audience,
    /// The widget it concerns.
    pub widget_id: Option<String>,
    /// The visitor it concerns.
    pub visitor_id: Option<String>,
    /// The payload.
    pub data: Value,
    /// `{"type", "data", "at"}` as UTF-8 JSON, serialized once for all subscribers.
    frame: Bytes,
}

impl Event {
    /// An event of `kind` for `audience`, at `at_ms` (Unix milliseconds).
    pub fn new(
        kind: &'static str,
        audience: Audience,
        widget_id: Option<&str>,
        visitor_id: Option<&str>,
        data: Value,
        at_ms: i64,
    ) -> Event {
        let frame = json!({"type": kind, "data": data, "at": at_ms}).to_string();
        Event {
            kind,
            audience,
            widget_id: widget_id.map(str::to_owned),
            visitor_id: visitor_id.map(str::to_owned),
            data,
            frame: Bytes::from(frame),
        }
    }

    /// The frame sent to dashboards: `{"type": kind, "data": data, "at": at_ms}`, valid UTF-8.
    pub fn frame(&self) -> &Bytes {
        &self.frame
    }
}

/// Publishes tenants' events to the subscribers of each tenant.
#[derive(Debug)]
pub struct Bus {
    tenants: Mutex<HashMap<String, broadcast::Sender<Arc<Event>>>>,
    auth_timeout: Duration,
}

impl Default for Bus {
    fn default() -> Self {
        Bus::new(Duration::from_secs(5))
    }
}

impl Bus {
    /// A bus whose socket subscribers must authenticate within `auth_timeout` (the sockets
    /// read it; the bus itself only delivers).
    pub fn new(auth_timeout: Duration) -> Bus {
        Bus {
            tenants: Mutex::new(HashMap::new()),
            auth_timeout,
        }
    }

    /// How long a socket may take to authenticate before it is closed.
    pub fn auth_timeout(&self) -> Duration {
        self.auth_timeout
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, broadcast::Sender<Arc<Event>>>> {
        self.tenants.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends the event `make` builds to the tenant's subscribers. Without a subscriber
    /// nothing is built: publishing is nearly free on the paths that do it (tracking, chat,
    /// every call) when no dashboard listens.
    pub fn publish(&self, tenant_id: &str, make: impl FnOnce() -> Event) {
        let tx = {
            let mut t = self.lock();
            match t.get(tenant_id) {
                Some(tx) if tx.receiver_count() > 0 => tx.clone(),
                Some(_) => {
                    // Every receiver is gone.
                    t.remove(tenant_id);
                    return;
                }
                None => return,
            }
        };
        let _ = tx.send(Arc::new(make()));
    }

    /// A receiver of the tenant's events from now on.
    pub fn subscribe(&self, tenant_id: &str) -> broadcast::Receiver<Arc<Event>> {
        let mut t = self.lock();
        match t.get(tenant_id) {
            Some(tx) => tx.subscribe(),
            None => {
                let (tx, rx) = broadcast::channel(TENANT_CHANNEL);
                t.insert(tenant_id.to_owned(), tx);
                rx
            }
        }
    }

    /// Whether a subscriber of the tenant is there (so an event would be delivered).
    pub fn listening(&self, tenant_id: &str) -> bool {
        self.lock()
            .get(tenant_id)
            .is_some_and(|tx| tx.receiver_count() > 0)
    }

    /// Subscribers, over all tenants.
    pub fn subscribers(&self) -> usize {
        self.lock()
            .values()
            .map(broadcast::Sender::receiver_count)
            .sum()
    }
}

/// The dashboard event for a call webhook event type (`call.answered` → `call:answered`).
pub fn call_event_kind(webhook_kind: &str) -> Option<&'static str> {
    Some(match webhook_kind {
        "call.requested" => "call:requested",
        "call.delivery_started" => "call:delivery_started",
        "call.delivery_failed" => "call:delivery_failed",
        "call.unavailable" => "call:unavailable",
        "call.answered" => "call:answered",
        "call.ended" => "call:ended",
        "call.missed" => "call:missed",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::broadcast::error::TryRecvError;

    fn ev(kind: &'static str) -> Event {
        Event::new(
            kind,
            Audience::Tenant("calls:read"),
            Some("w1"),
            None,
            json!({"n": 1}),
            7,
        )
    }

    #[test]
    fn nothing_is_built_for_a_tenant_nobody_listens_to() {
        let bus = Bus::default();
        let mut built = false;
        bus.publish("t1", || {
            built = true;
            ev("call:answered")
        });
        assert!(!built);
        assert!(!bus.listening("t1"));
        // A subscriber that left: the tenant's channel is dropped on the next publish.
        drop(bus.subscribe("t1"));
        bus.publish("t1", || {
            built = true;
            ev("call:answered")
        });
        assert!(!built);
        assert_eq!(bus.subscribers(), 0);
    }

    #[test]
    fn each_tenants_subscribers_get_only_its_events() {
        let bus = Bus::default();
        let mut a1 = bus.subscribe("a");
        let mut a2 = bus.subscribe("a");
        let mut b = bus.subscribe("b");
        assert_eq!(bus.subscribers(), 3);
        bus.publish("a", || ev("call:ended"));
        for rx in [&mut a1, &mut a2] {
            let e = rx.try_recv().unwrap();
            assert_eq!(e.kind, "call:ended");
            let frame: Value = serde_json::from_slice(e.frame()).unwrap();
            assert_eq!(
                frame,
                json!({"type": "call:ended", "data": {"n": 1}, "at": 7})
            );
        }
        assert!(matches!(b.try_recv(), Err(TryRecvError::Empty)));
    }

    #[test]
    fn a_slow_subscriber_learns_how_many_it_missed() {
        let bus = Bus::default();
        let mut rx = bus.subscribe("a");
        for _ in 0..TENANT_CHANNEL + 10 {
            bus.publish("a", || ev("visitor:page"));
        }
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Lagged(10))));
        assert_eq!(rx.try_recv().unwrap().kind, "visitor:page");
    }

    #[test]
    fn call_webhook_kinds_map_to_dashboard_kinds() {
        assert_eq!(call_event_kind("call.answered"), Some("call:answered"));
        assert_eq!(call_event_kind("call.missed"), Some("call:missed"));
        assert_eq!(call_event_kind("message.created"), None);
    }
}
