//! The one event bus: a tenant's events, built once, delivered to every socket subscribed to
//! that tenant (dashboards, visitors' widgets, console operators), each of which filters by
//! [`Audience`]. Publishers are the control plane (chat, visitors) and the call core (call
//! events, browser rings, console offers).
//!
//! Delivery is best effort and bounded: each tenant has a broadcast channel of
//! [`TENANT_CHANNEL`] events, a subscriber too slow for the rate learns how many it missed
//! and goes on, and nothing is kept for a tenant nobody listens to.
//!
//! In a cluster the bus has a [`Remote`] (the NATS link, set once at start): every event
//! published here also goes to the other nodes, and the tenants this node has subscribers
//! for are announced to it, so that events published on other nodes for those tenants come
//! back through [`Bus::deliver_remote`]. [`encode_remote`] and [`decode_remote`] are the
//! wire form of an event between nodes.

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
    /// When it happened, Unix milliseconds.
    pub at_ms: i64,
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
            at_ms,
            frame: Bytes::from(frame),
        }
    }

    /// The frame sent to dashboards: `{"type": kind, "data": data, "at": at_ms}`, valid UTF-8.
    pub fn frame(&self) -> &Bytes {
        &self.frame
    }
}

/// The other nodes of a cluster, as the bus sees them (the NATS link). Both methods are
/// called with the bus's lock held, in order: they must only hand their work on, never
/// block.
pub trait Remote: Send + Sync + std::fmt::Debug {
    /// This node's id.
    fn node_id(&self) -> &str;
    /// An event published on this node, for the other nodes.
    fn publish(&self, tenant_id: &str, event: &Arc<Event>);
    /// This node now has subscribers of the tenant (`true`), or has none any more.
    fn interest(&self, tenant_id: &str, listening: bool);
    /// An event for node `node_id` alone: a command for what that node holds (a visitor's
    /// page, a call), which it takes from [`Bus::node_inbox`].
    fn send_to_node(&self, node_id: &str, tenant_id: &str, event: &Arc<Event>);
    /// An event for every other node's [`Bus::node_inbox`] (state each node keeps a copy
    /// of, such as the SIP registrations).
    fn broadcast(&self, event: &Arc<Event>);
}

/// Commands other nodes addressed to this one, buffered for the task handling them.
pub const NODE_INBOX: usize = 16_384;

/// Publishes tenants' events to the subscribers of each tenant.
#[derive(Debug)]
pub struct Bus {
    tenants: Mutex<HashMap<String, broadcast::Sender<Arc<Event>>>>,
    auth_timeout: Duration,
    remote: std::sync::OnceLock<Arc<dyn Remote>>,
    /// Events other nodes addressed to this one: `(tenant, event)`.
    inbox: broadcast::Sender<(String, Arc<Event>)>,
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
            remote: std::sync::OnceLock::new(),
            inbox: broadcast::channel(NODE_INBOX).0,
        }
    }

    /// This node's id, in a cluster.
    pub fn node_id(&self) -> Option<&str> {
        self.remote.get().map(|r| r.node_id())
    }

    /// Sends the event to node `node_id` alone. False when there is no such other node to
    /// send to (this bus is alone, or `node_id` is this node): the caller acts here instead.
    pub fn send_to_node(&self, node_id: &str, tenant_id: &str, event: Event) -> bool {
        match self.remote.get() {
            Some(r) if r.node_id() != node_id => {
                r.send_to_node(node_id, tenant_id, &Arc::new(event));
                true
            }
            _ => false,
        }
    }

    /// Sends the event `make` builds to every other node's inbox (tenant `""`); false, and
    /// nothing built, when alone.
    pub fn broadcast_nodes(&self, make: impl FnOnce() -> Event) -> bool {
        match self.remote.get() {
            Some(r) => {
                r.broadcast(&Arc::new(make()));
                true
            }
            None => false,
        }
    }

    /// Events other nodes addressed to this node ([`Bus::send_to_node`],
    /// [`Bus::broadcast_nodes`]), as `(tenant, event)`, from now on.
    pub fn node_inbox(&self) -> broadcast::Receiver<(String, Arc<Event>)> {
        self.inbox.subscribe()
    }

    /// Hands an event another node addressed to this one to [`Bus::node_inbox`].
    pub fn deliver_to_node(&self, tenant_id: &str, event: Event) {
        let _ = self.inbox.send((tenant_id.to_owned(), Arc::new(event)));
    }

    /// Joins this bus to the other nodes of a cluster (once; later calls are ignored). The
    /// tenants already subscribed to are announced to it.
    pub fn set_remote(&self, remote: Arc<dyn Remote>) {
        let t = self.lock();
        if self.remote.set(remote.clone()).is_ok() {
            for tenant in t.keys() {
                remote.interest(tenant, true);
            }
        }
    }

    /// Whether the bus is joined to other nodes.
    pub fn clustered(&self) -> bool {
        self.remote.get().is_some()
    }

    /// How long a socket may take to authenticate before it is closed.
    pub fn auth_timeout(&self) -> Duration {
        self.auth_timeout
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, broadcast::Sender<Arc<Event>>>> {
        self.tenants.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends the event `make` builds to the tenant's subscribers, and in a cluster to the
    /// other nodes. Without a subscriber (and alone) nothing is built: publishing is nearly
    /// free on the paths that do it (tracking, chat, every call) when no dashboard listens.
    pub fn publish(&self, tenant_id: &str, make: impl FnOnce() -> Event) {
        let remote = self.remote.get();
        let tx = {
            let mut t = self.lock();
            match t.get(tenant_id) {
                Some(tx) if tx.receiver_count() > 0 => Some(tx.clone()),
                Some(_) => {
                    // Every receiver is gone.
                    t.remove(tenant_id);
                    if let Some(r) = remote {
                        r.interest(tenant_id, false);
                    }
                    None
                }
                None => None,
            }
        };
        if tx.is_none() && remote.is_none() {
            return;
        }
        let ev = Arc::new(make());
        if let Some(r) = remote {
            r.publish(tenant_id, &ev);
        }
        if let Some(tx) = tx {
            let _ = tx.send(ev);
        }
    }

    /// Delivers an event another node published to this node's subscribers of the tenant
    /// (never back to the other nodes).
    pub fn deliver_remote(&self, tenant_id: &str, event: Event) {
        let tx = {
            let mut t = self.lock();
            match t.get(tenant_id) {
                Some(tx) if tx.receiver_count() > 0 => tx.clone(),
                Some(_) => {
                    t.remove(tenant_id);
                    if let Some(r) = self.remote.get() {
                        r.interest(tenant_id, false);
                    }
                    return;
                }
                None => return,
            }
        };
        let _ = tx.send(Arc::new(event));
    }

    /// A receiver of the tenant's events from now on.
    pub fn subscribe(&self, tenant_id: &str) -> broadcast::Receiver<Arc<Event>> {
        let mut t = self.lock();
        match t.get(tenant_id) {
            Some(tx) => tx.subscribe(),
            None => {
                let (tx, rx) = broadcast::channel(TENANT_CHANNEL);
                t.insert(tenant_id.to_owned(), tx);
                if let Some(r) = self.remote.get() {
                    r.interest(tenant_id, true);
                }
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

/// Longest event kind or scope accepted from another node.
const MAX_REMOTE_NAME: usize = 64;
/// Most distinct kinds and scopes learnt from other nodes (they are few and fixed: a peer
/// sending more is broken, and is refused rather than growing this process).
const MAX_REMOTE_NAMES: usize = 1024;

/// `name` as a `&'static str`: the kinds and scopes of events from other nodes are the
/// same few names this node's own code uses, kept once for the process.
fn intern(name: &str) -> Option<&'static str> {
    static NAMES: Mutex<Option<std::collections::HashSet<&'static str>>> = Mutex::new(None);
    if name.is_empty()
        || name.len() > MAX_REMOTE_NAME
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'_' | b'-'))
    {
        return None;
    }
    let mut names = NAMES.lock().unwrap_or_else(|p| p.into_inner());
    let names = names.get_or_insert_with(Default::default);
    if let Some(n) = names.get(name) {
        return Some(n);
    }
    if names.len() >= MAX_REMOTE_NAMES {
        return None;
    }
    let n: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(n);
    Some(n)
}

/// An event as it travels to other nodes: UTF-8 JSON `{"k": kind, "a": audience, "w":
/// widget, "v": visitor, "d": data, "at": ms}`, the audience being `tenant:<scope>`,
/// `visitor` or `console`.
pub fn encode_remote(e: &Event) -> Vec<u8> {
    let audience = match e.audience {
        Audience::Tenant(scope) => format!("tenant:{scope}"),
        Audience::Visitor => "visitor".to_owned(),
        Audience::Console => "console".to_owned(),
    };
    serde_json::to_vec(&json!({
        "k": e.kind, "a": audience, "w": e.widget_id, "v": e.visitor_id, "d": e.data,
        "at": e.at_ms,
    }))
    .unwrap_or_default()
}

/// An event another node sent ([`encode_remote`]); what is wrong with it otherwise.
pub fn decode_remote(bytes: &[u8]) -> Result<Event, &'static str> {
    #[derive(serde::Deserialize)]
    struct Wire {
        k: String,
        a: String,
        w: Option<String>,
        v: Option<String>,
        d: Value,
        at: i64,
    }
    let w: Wire = serde_json::from_slice(bytes).map_err(|_| "not an event")?;
    let kind = intern(&w.k).ok_or("bad kind")?;
    let audience = match w.a.as_str() {
        "visitor" => Audience::Visitor,
        "console" => Audience::Console,
        a => Audience::Tenant(
            a.strip_prefix("tenant:")
                .and_then(intern)
                .ok_or("bad audience")?,
        ),
    };
    Ok(Event::new(
        kind,
        audience,
        w.w.as_deref(),
        w.v.as_deref(),
        w.d,
        w.at,
    ))
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

    /// What a remote saw, in order.
    #[derive(Debug, Default)]
    struct Seen(Mutex<Vec<String>>);

    impl Remote for Seen {
        fn node_id(&self) -> &str {
            "me"
        }
        fn send_to_node(&self, node_id: &str, tenant_id: &str, event: &Arc<Event>) {
            let mut s = self.0.lock().unwrap();
            s.push(format!("to {node_id} {tenant_id} {}", event.kind));
        }
        fn broadcast(&self, event: &Arc<Event>) {
            let mut s = self.0.lock().unwrap();
            s.push(format!("to all {}", event.kind));
        }
        fn publish(&self, tenant_id: &str, event: &Arc<Event>) {
            let mut s = self.0.lock().unwrap();
            s.push(format!("publish {tenant_id} {}", event.kind));
        }
        fn interest(&self, tenant_id: &str, listening: bool) {
            let mut s = self.0.lock().unwrap();
            s.push(format!("interest {tenant_id} {listening}"));
        }
    }

    #[test]
    fn in_a_cluster_every_event_goes_out_and_interest_follows_subscribers() {
        let bus = Bus::default();
        let early = bus.subscribe("t0");
        let seen = Arc::new(Seen::default());
        bus.set_remote(seen.clone());
        assert!(bus.clustered());
        // Built and sent out even though nobody here listens: another node may.
        bus.publish("t1", || ev("message:new"));
        let mut rx = bus.subscribe("t1");
        let rx2 = bus.subscribe("t1");
        bus.publish("t1", || ev("call:answered"));
        assert_eq!(rx.try_recv().unwrap().kind, "call:answered");
        // From another node: to the subscribers here, not back out.
        let remote = decode_remote(&encode_remote(&ev("visitor:page"))).unwrap();
        bus.deliver_remote("t1", remote);
        let got = rx.try_recv().unwrap();
        assert_eq!(
            (got.kind, got.audience, got.widget_id.as_deref(), got.at_ms),
            (
                "visitor:page",
                Audience::Tenant("calls:read"),
                Some("w1"),
                7
            )
        );
        let frame: Value = serde_json::from_slice(got.frame()).unwrap();
        assert_eq!(
            frame,
            json!({"type": "visitor:page", "data": {"n": 1}, "at": 7})
        );
        // The last subscriber gone: the next event (either way) withdraws the interest.
        drop((rx, rx2, early));
        bus.deliver_remote("t1", ev("visitor:page"));
        bus.publish("t0", || ev("call:ended"));
        assert_eq!(
            *seen.0.lock().unwrap(),
            [
                "interest t0 true",
                "publish t1 message:new",
                "interest t1 true",
                "publish t1 call:answered",
                "interest t1 false",
                "interest t0 false",
                "publish t0 call:ended",
            ]
        );
    }

    #[test]
    fn commands_go_to_one_other_node_and_come_in_through_the_inbox() {
        let bus = Bus::default();
        assert_eq!(bus.node_id(), None);
        assert!(
            !bus.send_to_node("n2", "t1", ev("visitor:command")),
            "alone"
        );
        let seen = Arc::new(Seen::default());
        bus.set_remote(seen.clone());
        assert_eq!(bus.node_id(), Some("me"));
        assert!(
            !bus.send_to_node("me", "t1", ev("visitor:command")),
            "this node"
        );
        assert!(bus.send_to_node("n2", "t1", ev("visitor:command")));
        assert!(bus.broadcast_nodes(|| ev("sip:binding")));
        assert_eq!(
            *seen.0.lock().unwrap(),
            ["to n2 t1 visitor:command", "to all sip:binding"]
        );
        let mut inbox = bus.node_inbox();
        bus.deliver_to_node("t1", ev("visitor:command"));
        let (tenant, e) = inbox.try_recv().unwrap();
        assert_eq!((tenant.as_str(), e.kind), ("t1", "visitor:command"));
        assert_eq!(
            bus.subscribers(),
            0,
            "the inbox is not a tenant's subscriber"
        );
    }

    #[test]
    fn events_from_other_nodes_are_checked() {
        for (bad, why) in [
            (&b"nope"[..], "not an event"),
            (br#"{"k":"","a":"visitor","d":1,"at":1}"#, "bad kind"),
            (br#"{"k":"a b","a":"visitor","d":1,"at":1}"#, "bad kind"),
            (
                br#"{"k":"x:y","a":"everyone","d":1,"at":1}"#,
                "bad audience",
            ),
            (br#"{"k":"x:y","a":"tenant:","d":1,"at":1}"#, "bad audience"),
        ] {
            assert_eq!(decode_remote(bad).unwrap_err(), why);
        }
        let e = decode_remote(br#"{"k":"call:ended","a":"console","d":{},"at":3}"#).unwrap();
        assert_eq!(
            (e.kind, e.audience, e.visitor_id),
            ("call:ended", Audience::Console, None)
        );
        // The same name twice is one string.
        let again = decode_remote(br#"{"k":"call:ended","a":"visitor","d":{},"at":3}"#).unwrap();
        assert!(std::ptr::eq(e.kind, again.kind));
    }

    #[test]
    fn call_webhook_kinds_map_to_dashboard_kinds() {
        assert_eq!(call_event_kind("call.answered"), Some("call:answered"));
        assert_eq!(call_event_kind("call.missed"), Some("call:missed"));
        assert_eq!(call_event_kind("message.created"), None);
    }
}
