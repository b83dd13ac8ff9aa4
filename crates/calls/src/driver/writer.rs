//! The storage writer, the call core's one outbox writer: registrations and call records
//! (batched into one transaction each), then what follows from them in the order the core
//! decided it: call events onto the bus and into the webhook outbox, browser rings onto the
//! bus. The webhook dispatcher (`ringside_api::webhook_dispatch`) delivers the outbox.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use ringside_domain::Bus;
use ringside_sip::registrar::BindingChange;
use ringside_storage::Store;

use crate::clock::Clock;
use crate::core::CoreOutput;
use crate::metrics::SipMetrics;

/// What the core task hands the storage writer.
pub(super) enum WriterMsg {
    Out(CoreOutput),
    Flush(oneshot::Sender<()>),
}

/// What the storage writer publishes once the records before it are stored, in the order the
/// core decided it.
enum Publish {
    /// A call event (bus and webhook outbox).
    Event(crate::events::CallEvent),
    /// A call rings (or stopped ringing) a visitor's browser or the console operators.
    Ring(crate::b2bua::BrowserRing),
}

/// Writes registrations and call records, batching call records into one transaction, then
/// publishes what follows from them (call events onto the bus and into the webhook outbox,
/// browser rings): the one outbox writer of the call core.
pub(super) async fn storage_writer(
    store: Store,
    mut rx: mpsc::UnboundedReceiver<WriterMsg>,
    bus: Arc<Bus>,
    metrics: Arc<SipMetrics>,
    clock: Arc<dyn Clock>,
    public_url: Option<String>,
) {
    let mut inserts = Vec::new();
    let mut updates = Vec::new();
    let mut tracker = crate::events::CallEvents::default();
    let mut subs = Subscriptions::default();
    let mut events = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < 512 {
            match rx.try_recv() {
                Ok(o) => batch.push(o),
                Err(_) => break,
            }
        }
        let mut acks = Vec::new();
        for m in batch {
            let o = match m {
                WriterMsg::Out(o) => o,
                WriterMsg::Flush(tx) => {
                    acks.push(tx);
                    continue;
                }
            };
            match o {
                CoreOutput::Binding(BindingChange::Upsert(b)) => {
                    flush(&store, &mut inserts, &mut updates, &metrics).await;
                    let sb = ringside_storage::Binding {
                        extension_id: b.account_id,
                        contact_uri: b.contact,
                        source_addr: b.source.to_string(),
                        transport: b.transport.name().into(),
                        expires_at: b.expires_at,
                        call_id: b.call_id,
                        cseq: i64::from(b.cseq),
                        user_agent: b.user_agent,
                        updated_at: clock.now().unix_ms,
                        path: b.path,
                    };
                    if let Err(e) = store.upsert_binding(&sb).await {
                        warn!(error = %e, "persisting registration");
                    }
                    // The other nodes keep a copy, to reach the phone too: over UDP, from any
                    // address, or through the edge proxy of its Path (a TCP, TLS or
                    // WebSocket phone is reached on its connection to this node alone).
                    if sb.transport == "udp" || !sb.path.is_empty() {
                        let data = || serde_json::json!({"op": "upsert", "binding": sb});
                        super::replica::send(&bus, data, sb.updated_at);
                    }
                }
                CoreOutput::Binding(BindingChange::Remove {
                    account_id,
                    contact,
                    lapsed_at,
                }) => {
                    flush(&store, &mut inserts, &mut updates, &metrics).await;
                    let removed = match lapsed_at {
                        None => store.remove_binding(&account_id, &contact).await,
                        Some(at) => store.remove_lapsed_binding(&account_id, &contact, at).await,
                    };
                    if let Err(e) = removed {
                        warn!(error = %e, "removing registration");
                    }
                    let data = || {
                        serde_json::json!({"op": "remove", "extensionId": account_id,
                                           "contactUri": contact, "lapsedAt": lapsed_at})
                    };
                    super::replica::send(&bus, data, clock.now().unix_ms);
                }
                CoreOutput::InsertCall(c) => {
                    events.extend(tracker.observe(&c).into_iter().map(Publish::Event));
                    inserts.push(c);
                }
                // A ring is published after the call it rings for is stored: whoever it
                // reaches can read the call back.
                CoreOutput::BrowserRing(r) => events.push(Publish::Ring(r)),
                // Routed to the browsers by the core task.
                CoreOutput::Browser { .. } => {}
                CoreOutput::UpdateCall(c) => {
                    events.extend(tracker.observe(&c).into_iter().map(Publish::Event));
                    // An update of a call not yet inserted must follow its insert.
                    if inserts.iter().any(|i| i.id == c.id) {
                        if let Some(i) = inserts.iter_mut().find(|i| i.id == c.id) {
                            *i = c;
                        }
                    } else if let Some(u) = updates
                        .iter_mut()
                        .find(|u: &&mut ringside_storage::CallRecord| u.id == c.id)
                    {
                        *u = c;
                    } else {
                        updates.push(c);
                    }
                }
                CoreOutput::Transmit { .. } => {}
            }
        }
        flush(&store, &mut inserts, &mut updates, &metrics).await;
        // After the records: a receiver may read the call back.
        for p in events.drain(..) {
            let mut e = match p {
                Publish::Event(e) => e,
                Publish::Ring(r) => {
                    crate::publish::browser_ring(&bus, &r, clock.now().unix_ms);
                    continue;
                }
            };
            // Realtime listeners (dashboards); none is fine.
            crate::publish::call_event(&bus, &e, clock.now().unix_ms);
            if subs.wants(&store, &e.tenant_id, e.kind).await {
                if let (Some(base), Some(id)) = (&public_url, e.data["callId"].as_str()) {
                    // The call's page of the dashboard (as `calls-waiting` links it).
                    let url = format!("{}/calls/{id}", base.trim_end_matches('/'));
                    e.data["dashboardUrl"] = Value::String(url);
                }
                if let Err(err) = store
                    .enqueue_webhook_event(&e.tenant_id, e.kind, None, &e.data)
                    .await
                {
                    warn!(error = %err, event = e.kind, "queueing a call webhook event");
                }
            }
        }
        for tx in acks {
            let _ = tx.send(());
        }
    }
}

/// Which call events each tenant's webhooks take, re-read every few seconds, so that calls of
/// tenants without such webhooks cost no outbox work.
#[derive(Default)]
struct Subscriptions {
    by_tenant: HashMap<String, (Instant, Vec<String>)>,
}

impl Subscriptions {
    const TTL: std::time::Duration = std::time::Duration::from_secs(5);

    async fn wants(&mut self, store: &Store, tenant: &str, kind: &str) -> bool {
        let fresh = self
            .by_tenant
            .get(tenant)
            .is_some_and(|(at, _)| at.elapsed() < Self::TTL);
        if !fresh {
            // Webhooks' and users' alert rules' call events.
            let kinds = match (
                store.list_webhooks(tenant).await,
                store.alerted_events(tenant).await,
            ) {
                (Ok(list), Ok(alerted)) => list
                    .into_iter()
                    .filter(|w| w.enabled)
                    .flat_map(|w| w.events)
                    .chain(alerted)
                    .filter(|e| e.starts_with("call."))
                    .collect(),
                (Err(e), _) | (_, Err(e)) => {
                    warn!(error = %e, "reading webhooks and alert rules for call events");
                    return false;
                }
            };
            if self.by_tenant.len() > 10_000 {
                self.by_tenant.clear();
            }
            self.by_tenant
                .insert(tenant.to_owned(), (Instant::now(), kinds));
        }
        self.by_tenant
            .get(tenant)
            .is_some_and(|(_, k)| k.iter().any(|e| e == kind))
    }
}

async fn flush(
    store: &Store,
    inserts: &mut Vec<ringside_storage::CallRecord>,
    updates: &mut Vec<ringside_storage::CallRecord>,
    metrics: &SipMetrics,
) {
    if !inserts.is_empty() {
        if let Err(e) = store.insert_calls_batch(inserts).await {
            warn!(error = %e, n = inserts.len(), "writing call records; retrying one by one");
            write_each(store, inserts, metrics).await;
        }
        inserts.clear();
    }
    if !updates.is_empty() {
        if let Err(e) = store.update_calls_batch(updates).await {
            warn!(error = %e, n = updates.len(), "updating call records; retrying one by one");
            write_each(store, updates, metrics).await;
        }
        updates.clear();
    }
}

/// After a batch failed: upsert each record on its own (so one bad record cannot take the
/// others with it), a few times with a pause, then count and log what still fails.
async fn write_each(store: &Store, records: &[ringside_storage::CallRecord], metrics: &SipMetrics) {
    use std::sync::atomic::Ordering::Relaxed;
    for c in records {
        let mut last = None;
        for attempt in 0..3u64 {
            metrics.record_write_retries.fetch_add(1, Relaxed);
            match store.update_calls_batch(std::slice::from_ref(c)).await {
                Ok(()) => {
                    last = None;
                    break;
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(std::time::Duration::from_millis(50 << (2 * attempt))).await;
        }
        if let Some(e) = last {
            metrics.record_write_failures.fetch_add(1, Relaxed);
            tracing::error!(call_id = %c.id, tenant = %c.tenant_id, error = %e, "call record lost: could not be stored");
        }
    }
}
