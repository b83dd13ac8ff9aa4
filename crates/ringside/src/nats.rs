//! The event bus between the nodes of a cluster, over NATS (`RINGSIDE_NATS_URL`): the thin
//! driver behind [`ringside_domain::bus::Remote`]. Every subject starts with
//! `ringside.<cluster>.`, a token derived from the cluster's secret root, so two clusters
//! sharing one NATS server never hear each other. Every event published on this node goes to
//! `…t.<tenant>.ev`; this node subscribes to the subjects of the tenants it has
//! subscribers for (the bus tells it, [`Remote::interest`]), so the NATS server sends each
//! node only what it can deliver. Commands for what one node holds (a visitor's page) go to
//! that node's own subject, `…node.<node id>.cmd` (dots in the id written `~`), state every
//! node keeps a copy of to `…nodes.all`. The
//! wire form is the bus's ([`encode_remote`]); headers name the origin node, when it sent
//! the event (for the cross-node delay metric) and, on commands, the tenant.
//!
//! Core NATS is at most once, like the bus itself (a socket that is not connected misses
//! what happens meanwhile); what must not be lost (webhooks, alerts, call records) goes
//! through the shared database instead.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Weak};

use anyhow::Context;
use async_nats::HeaderMap;
use futures_util::StreamExt;
use ringside_domain::bus::{decode_remote, encode_remote, Bus, Event, Remote};
use tokio::sync::mpsc;
use tracing::{info, warn};

/// Events waiting to be handed to the NATS client; beyond this they are dropped (and
/// counted) rather than held while NATS is unreachable.
const OUT_QUEUE: usize = 16_384;
/// The origin node's header.
const NODE_HEADER: &str = "Ringside-Node";
/// When the origin sent it, Unix microseconds.
const SENT_HEADER: &str = "Ringside-Sent-Us";
/// The tenant of a command sent to one node.
const TENANT_HEADER: &str = "Ringside-Tenant";
/// Upper bounds (µs) of the cross-node delay histogram.
const DELAY_BUCKETS_US: [u64; 9] = [
    500, 1_000, 2_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000,
];

/// The subjects of one cluster: each starts with `ringside.<cluster>.`.
#[derive(Debug, Clone)]
pub struct Subjects {
    prefix: String,
}

impl Subjects {
    /// The subjects of the cluster named `cluster` (one subject token: letters and digits).
    pub fn new(cluster: &str) -> Subjects {
        Subjects {
            prefix: format!("ringside.{cluster}"),
        }
    }

    /// The subject of a tenant's events; `None` for an id that cannot be one subject token.
    pub fn tenant(&self, tenant_id: &str) -> Option<String> {
        let ok = !tenant_id.is_empty()
            && tenant_id.len() <= 128
            && !tenant_id
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b"*.>".contains(&b));
        ok.then(|| format!("{}.t.{tenant_id}.ev", self.prefix))
    }

    /// The subject of the commands for node `node_id` (a valid node id: letters, digits,
    /// `.`, `_`, `-`; dots would split the token, so they are written `~`, which ids never
    /// hold).
    pub fn node(&self, node_id: &str) -> String {
        format!("{}.node.{}.cmd", self.prefix, node_id.replace('.', "~"))
    }

    /// The subject every node listens to (state each node keeps a copy of).
    pub fn all_nodes(&self) -> String {
        format!("{}.nodes.all", self.prefix)
    }
}

/// The cluster token of the nodes whose cluster id (kept in their shared database) is `id`:
/// the same on every node of a cluster, different between clusters, and short.
pub fn cluster_token(id: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::new()
        .chain_update(b"ringside nats subjects\0")
        .chain_update(id.as_bytes())
        .finalize();
    d[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Counters of the link, for `/metrics`.
#[derive(Debug, Default)]
struct Stats {
    sent: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
    send_errors: AtomicU64,
    malformed: AtomicU64,
    subscriptions: AtomicU64,
    delay_buckets: [AtomicU64; DELAY_BUCKETS_US.len()],
    delay_count: AtomicU64,
    delay_sum_us: AtomicU64,
}

impl Stats {
    fn observe_delay(&self, us: u64) {
        for (b, le) in self.delay_buckets.iter().zip(DELAY_BUCKETS_US) {
            if us <= le {
                b.fetch_add(1, Relaxed);
            }
        }
        self.delay_count.fetch_add(1, Relaxed);
        self.delay_sum_us.fetch_add(us, Relaxed);
    }
}

/// An event on its way out: its subject, the tenant header of a command, the event.
type Outgoing = (String, Option<String>, Arc<Event>);

/// This node's link to the others: what the bus hands it, and the tasks moving it.
#[derive(Debug)]
pub struct NatsLink {
    client: async_nats::Client,
    node_id: String,
    out: mpsc::Sender<Outgoing>,
    interest: mpsc::UnboundedSender<(String, bool)>,
    stats: Arc<Stats>,
    subjects: Subjects,
}

impl NatsLink {
    /// Connects to `url` as node `node_id` of the cluster `subjects` name and joins `bus` to
    /// the other nodes. A server that is not reachable yet is retried in the background (the
    /// node serves meanwhile, alone).
    pub async fn start(
        url: &str,
        node_id: &str,
        subjects: Subjects,
        bus: &Arc<Bus>,
    ) -> anyhow::Result<Arc<Self>> {
        let stats = Arc::new(Stats::default());
        let trouble = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let client = async_nats::ConnectOptions::new()
            .name(format!("ringside-{node_id}"))
            .no_echo()
            .retry_on_initial_connect()
            .event_callback(move |e| {
                let trouble = trouble.clone();
                async move {
                    match e {
                        async_nats::Event::Connected => {
                            trouble.store(false, Relaxed);
                            info!("NATS connected: the bus reaches the other nodes");
                        }
                        async_nats::Event::Disconnected => {
                            warn!("NATS disconnected: events stay on this node until it is back");
                        }
                        // Told once until connected again (the client retries on its own).
                        async_nats::Event::ClientError(e) => {
                            if !trouble.swap(true, Relaxed) {
                                warn!(error = %e, "NATS unreachable; retrying");
                            }
                        }
                        other => warn!(event = %other, "NATS"),
                    }
                }
            })
            .connect(url)
            .await
            .context("connecting to NATS (RINGSIDE_NATS_URL)")?;
        let (out, out_rx) = mpsc::channel(OUT_QUEUE);
        let (interest, interest_rx) = mpsc::unbounded_channel();
        tokio::spawn(send(
            client.clone(),
            node_id.to_owned(),
            out_rx,
            stats.clone(),
        ));
        tokio::spawn(subscriptions(
            client.clone(),
            subjects.clone(),
            Arc::downgrade(bus),
            interest_rx,
            stats.clone(),
        ));
        let commands = client
            .subscribe(subjects.node(node_id))
            .await
            .context("subscribing to this node's commands on NATS")?;
        tokio::spawn(receive_commands(
            commands,
            Arc::downgrade(bus),
            stats.clone(),
        ));
        let everyone = client
            .subscribe(subjects.all_nodes())
            .await
            .context("subscribing to the nodes' broadcasts on NATS")?;
        tokio::spawn(receive_commands(
            everyone,
            Arc::downgrade(bus),
            stats.clone(),
        ));
        let link = Arc::new(NatsLink {
            client,
            node_id: node_id.to_owned(),
            out,
            interest,
            stats,
            subjects,
        });
        bus.set_remote(link.clone());
        Ok(link)
    }
}

impl NatsLink {
    fn enqueue(&self, out: Outgoing) {
        if self.out.try_send(out).is_err() {
            self.stats.dropped.fetch_add(1, Relaxed);
        }
    }
}

impl Remote for NatsLink {
    fn node_id(&self) -> &str {
        &self.node_id
    }

    fn publish(&self, tenant_id: &str, event: &Arc<Event>) {
        match self.subjects.tenant(tenant_id) {
            Some(subject) => self.enqueue((subject, None, event.clone())),
            None => {
                self.stats.malformed.fetch_add(1, Relaxed);
            }
        }
    }

    fn broadcast(&self, event: &Arc<Event>) {
        self.enqueue((self.subjects.all_nodes(), None, event.clone()));
    }

    fn send_to_node(&self, node_id: &str, tenant_id: &str, event: &Arc<Event>) {
        self.enqueue((
            self.subjects.node(node_id),
            Some(tenant_id.to_owned()),
            event.clone(),
        ));
    }

    fn interest(&self, tenant_id: &str, listening: bool) {
        let _ = self.interest.send((tenant_id.to_owned(), listening));
    }
}

/// Publishes what the bus hands over, in order.
async fn send(
    client: async_nats::Client,
    node_id: String,
    mut rx: mpsc::Receiver<Outgoing>,
    stats: Arc<Stats>,
) {
    while let Some((subject, tenant, event)) = rx.recv().await {
        let mut headers = HeaderMap::new();
        headers.insert(NODE_HEADER, node_id.as_str());
        headers.insert(SENT_HEADER, now_us().to_string().as_str());
        if let Some(t) = tenant {
            headers.insert(TENANT_HEADER, t.as_str());
        }
        match client
            .publish_with_headers(subject, headers, encode_remote(&event).into())
            .await
        {
            Ok(()) => stats.sent.fetch_add(1, Relaxed),
            Err(_) => stats.send_errors.fetch_add(1, Relaxed),
        };
    }
}

/// Keeps one subscription per tenant this node has subscribers for.
async fn subscriptions(
    client: async_nats::Client,
    subjects: Subjects,
    bus: Weak<Bus>,
    mut rx: mpsc::UnboundedReceiver<(String, bool)>,
    stats: Arc<Stats>,
) {
    let mut subs: HashMap<String, tokio::task::AbortHandle> = HashMap::new();
    while let Some((tenant, listening)) = rx.recv().await {
        if !listening {
            if let Some(h) = subs.remove(&tenant) {
                h.abort();
            }
        } else if let std::collections::hash_map::Entry::Vacant(slot) = subs.entry(tenant) {
            let Some(subject) = subjects.tenant(slot.key()) else {
                continue;
            };
            match client.subscribe(subject).await {
                Ok(sub) => {
                    let task =
                        tokio::spawn(receive(sub, slot.key().clone(), bus.clone(), stats.clone()));
                    slot.insert(task.abort_handle());
                }
                Err(e) => warn!(error = %e, "NATS subscribe failed"),
            }
        }
        stats.subscriptions.store(subs.len() as u64, Relaxed);
    }
}

/// Delivers the tenant's events from other nodes to this node's subscribers.
async fn receive(
    mut sub: async_nats::Subscriber,
    tenant: String,
    bus: Weak<Bus>,
    stats: Arc<Stats>,
) {
    while let Some(msg) = sub.next().await {
        let Some(bus) = bus.upgrade() else { return };
        match decode_remote(&msg.payload) {
            Ok(event) => {
                let sent = msg
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(SENT_HEADER))
                    .and_then(|v| v.as_str().parse::<u64>().ok());
                if let Some(sent) = sent {
                    stats.observe_delay(now_us().saturating_sub(sent));
                }
                stats.received.fetch_add(1, Relaxed);
                bus.deliver_remote(&tenant, event);
            }
            Err(why) => {
                if stats.malformed.fetch_add(1, Relaxed) == 0 {
                    warn!(why, "an event from another node was malformed; dropped");
                }
            }
        }
    }
}

/// Hands the commands other nodes sent to this one (or to all) to the bus's node inbox; a
/// broadcast has no tenant (`""`).
async fn receive_commands(mut sub: async_nats::Subscriber, bus: Weak<Bus>, stats: Arc<Stats>) {
    while let Some(msg) = sub.next().await {
        let Some(bus) = bus.upgrade() else { return };
        let tenant = msg
            .headers
            .as_ref()
            .and_then(|h| h.get(TENANT_HEADER))
            .map_or_else(String::new, |v| v.as_str().to_owned());
        match decode_remote(&msg.payload) {
            Ok(event) => {
                stats.received.fetch_add(1, Relaxed);
                bus.deliver_to_node(&tenant, event);
            }
            Err(why) => {
                if stats.malformed.fetch_add(1, Relaxed) == 0 {
                    warn!(why, "a command from another node was malformed; dropped");
                }
            }
        }
    }
}

impl ringside_api::MetricsSource for NatsLink {
    fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let s = &self.stats;
        for (name, help, kind, v) in [
            (
                "ringside_cluster_nats_connected",
                "1 while the NATS link to the other nodes is up.",
                "gauge",
                u64::from(
                    self.client.connection_state() == async_nats::connection::State::Connected,
                ),
            ),
            (
                "ringside_cluster_events_sent_total",
                "Bus events sent to the other nodes.",
                "counter",
                s.sent.load(Relaxed),
            ),
            (
                "ringside_cluster_events_received_total",
                "Bus events received from the other nodes.",
                "counter",
                s.received.load(Relaxed),
            ),
            (
                "ringside_cluster_events_dropped_total",
                "Bus events not sent because the link was backed up.",
                "counter",
                s.dropped.load(Relaxed),
            ),
            (
                "ringside_cluster_events_send_errors_total",
                "Bus events the NATS client refused.",
                "counter",
                s.send_errors.load(Relaxed),
            ),
            (
                "ringside_cluster_events_malformed_total",
                "Bus events from other nodes (or for tenants) that could not be handled.",
                "counter",
                s.malformed.load(Relaxed),
            ),
            (
                "ringside_cluster_subscriptions",
                "Tenants this node receives other nodes' events for.",
                "gauge",
                s.subscriptions.load(Relaxed),
            ),
        ] {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
            );
        }
        let name = "ringside_cluster_event_delay_seconds";
        let _ = write!(
            out,
            "# HELP {name} From another node's publish to delivery here (clocks of both).\n# TYPE {name} histogram\n"
        );
        for (b, le) in s.delay_buckets.iter().zip(DELAY_BUCKETS_US) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{}\"}} {}",
                le as f64 / 1e6,
                b.load(Relaxed)
            );
        }
        let count = s.delay_count.load(Relaxed);
        let _ = write!(
            out,
            "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {}\n{name}_count {count}\n",
            s.delay_sum_us.load(Relaxed) as f64 / 1e6
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_subjects_keep_dotted_ids_in_one_token() {
        let s = Subjects::new("c1");
        assert_eq!(s.node("node-b"), "ringside.c1.node.node-b.cmd");
        assert_eq!(s.node("eu.node_1"), "ringside.c1.node.eu~node_1.cmd");
        assert_ne!(s.node("a.b"), s.node("a_b"));
        assert_eq!(s.all_nodes(), "ringside.c1.nodes.all");
    }

    #[test]
    fn tenant_subjects_are_one_token() {
        let s = Subjects::new("c1");
        assert_eq!(
            s.tenant("0193a3c4-1b2c-7d3e-8f90-123456789abc").as_deref(),
            Some("ringside.c1.t.0193a3c4-1b2c-7d3e-8f90-123456789abc.ev")
        );
        for bad in ["", "a.b", "a*", ">", "a b", "a\tb"] {
            assert_eq!(s.tenant(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn clusters_with_other_ids_have_other_subjects() {
        let (a, b) = (cluster_token("0123"), cluster_token("4567"));
        assert_eq!(a, cluster_token("0123"), "the same on every node");
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(Subjects::new(&a).all_nodes(), Subjects::new(&b).all_nodes());
    }
}
