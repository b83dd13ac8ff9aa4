//! The SIP state each node of a cluster keeps a copy of.
//!
//! - Registrations: each node's registrar keeps a copy of the UDP registrations the other
//!   nodes took, so that a call on any node reaches a phone that registered through another.
//!   The node that took a REGISTER stores it and broadcasts the change ([`send`], over the
//!   bus to every other node); the others apply it without storing it again ([`spawn`]).
//! - The directory (extensions, trunks, queue numbers): a change made through one node's API
//!   is broadcast by id ([`directory_changed`]); the others read it back from the database
//!   (no credential travels on the bus) and apply it.
//!
//! A node starting loads every live registration and the whole directory from the
//! database, so a change it missed while it was down is not lost; and every `resync_every`
//! (`RINGSIDE_CLUSTER_RESYNC_SECS`) it reads them back again ([`resync`]), so a change whose
//! broadcast it missed (NATS down for a while, a message dropped) is caught within that time.

use std::sync::Arc;

use ringside_domain::bus::{Audience, Bus, Event};
use ringside_sip::registrar::BindingChange;
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;
use tracing::{debug, warn};

use super::{Command, SipServer};

/// The directory entries a node has applied, by id, with the `updated_at` it applied.
#[derive(Default)]
struct Applied {
    extensions: std::collections::HashMap<String, i64>,
    trunks: std::collections::HashMap<String, i64>,
}

/// Reads every live registration and the directory back from `store` into `sip`: the
/// registrations over UDP or with a Path as other nodes' copies (a later expiry wins, so
/// nothing newer is undone), and the extensions and trunks changed or gone since `applied`.
async fn resync(
    store: &ringside_storage::Store,
    sip: &SipServer,
    applied: &mut Applied,
    first: bool,
) -> Result<(), ringside_storage::StorageError> {
    use crate::directory::DirectoryChange as D;
    let now = ringside_storage::now_ms();
    for b in store.live_bindings(now).await? {
        if b.transport != "udp" && b.path.is_empty() {
            continue;
        }
        if let Some(b) = super::binding_from_store(b) {
            if sip
                .cmd
                .send(Command::ReplicaBinding(BindingChange::Upsert(b)))
                .is_err()
            {
                return Ok(());
            }
        }
    }
    let (exts, trunks) = (store.all_extensions().await?, store.all_trunks().await?);
    let mut changes = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for e in exts {
        seen.insert(e.id.clone());
        if applied.extensions.insert(e.id.clone(), e.updated_at) != Some(e.updated_at) && !first {
            changes.push(D::ExtensionUpserted(e));
        }
    }
    applied.extensions.retain(|id, _| {
        let keep = seen.contains(id);
        if !keep {
            changes.push(D::ExtensionRemoved(id.clone()));
        }
        keep
    });
    seen.clear();
    for t in trunks {
        seen.insert(t.id.clone());
        if applied.trunks.insert(t.id.clone(), t.updated_at) != Some(t.updated_at) && !first {
            changes.push(D::TrunkUpserted(t));
        }
    }
    applied.trunks.retain(|id, _| {
        let keep = seen.contains(id);
        if !keep {
            changes.push(D::TrunkRemoved(id.clone()));
        }
        keep
    });
    if !changes.is_empty() {
        debug!(
            changes = changes.len(),
            "directory entries caught up from the database"
        );
    }
    for c in changes {
        sip.change_directory(c);
    }
    Ok(())
}

/// The kind of a registration change on the bus.
const BINDING_EVENT: &str = "sip:binding";
/// The kind of a directory change on the bus.
const DIRECTORY_EVENT: &str = "sip:directory";
/// The scope nobody's dashboard holds: the event only travels between nodes.
const NODES_ONLY: &str = "nodes";

/// Broadcasts a registration change (`{"op": "upsert", "binding"}` or `{"op": "remove",
/// "extensionId", "contactUri", "lapsedAt"}`, made by `data`) to the other nodes; nothing,
/// not even `data`, when alone.
pub(super) fn send(bus: &Bus, data: impl FnOnce() -> Value, at_ms: i64) {
    broadcast(bus, BINDING_EVENT, data, at_ms);
}

/// An event of `kind` for the other nodes' inboxes alone.
fn broadcast(bus: &Bus, kind: &'static str, data: impl FnOnce() -> Value, at_ms: i64) {
    bus.broadcast_nodes(|| {
        Event::new(
            kind,
            Audience::Tenant(NODES_ONLY),
            None,
            None,
            data(),
            at_ms,
        )
    });
}

/// Broadcasts a directory change made through this node's API to the other nodes, by id.
pub fn directory_changed(bus: &Bus, change: &crate::directory::DirectoryChange) {
    use crate::directory::DirectoryChange as D;
    let data = move || match change {
        D::ExtensionUpserted(e) => {
            serde_json::json!({"op": "extension", "tenantId": e.tenant_id, "id": e.id})
        }
        D::ExtensionRemoved(id) => serde_json::json!({"op": "extensionRemoved", "id": id}),
        D::TrunkUpserted(t) => {
            serde_json::json!({"op": "trunk", "tenantId": t.tenant_id, "id": t.id})
        }
        D::TrunkRemoved(id) => serde_json::json!({"op": "trunkRemoved", "id": id}),
        D::QueueNumber {
            tenant_id,
            widget_id,
            number,
        } => serde_json::json!({"op": "queueNumber", "tenantId": tenant_id,
                                "widgetId": widget_id, "number": number}),
        // Each node resolves trunks' host names itself (never sent: see below).
        D::TrunkResolved { .. } => Value::Null,
    };
    if !matches!(change, D::TrunkResolved { .. }) {
        broadcast(bus, DIRECTORY_EVENT, data, 0);
    }
}

/// The directory change another node's [`directory_changed`] event names, read back from
/// `store`: `Ok(None)` when it is malformed or what it names is gone; an error when the
/// database could not tell.
async fn directory_change_of(
    store: &ringside_storage::Store,
    data: &Value,
) -> Result<Option<crate::directory::DirectoryChange>, ringside_storage::StorageError> {
    use crate::directory::DirectoryChange as D;
    use ringside_storage::StorageError::NotFound;
    let s = |k: &str| data[k].as_str().map(str::to_owned);
    let (Some(op), id, tenant) = (data["op"].as_str(), s("id"), s("tenantId")) else {
        return Ok(None);
    };
    Ok(match (op, id, tenant) {
        ("extension", Some(id), Some(t)) => match store.get_extension(&t, &id).await {
            Ok(e) => Some(D::ExtensionUpserted(e)),
            Err(NotFound) => None,
            Err(e) => return Err(e),
        },
        ("extensionRemoved", Some(id), _) => Some(D::ExtensionRemoved(id)),
        ("trunk", Some(id), Some(t)) => match store.get_trunk(&t, &id).await {
            Ok(tr) => Some(D::TrunkUpserted(tr)),
            Err(NotFound) => None,
            Err(e) => return Err(e),
        },
        ("trunkRemoved", Some(id), _) => Some(D::TrunkRemoved(id)),
        ("queueNumber", _, Some(t)) => s("widgetId").map(|w| D::QueueNumber {
            tenant_id: t,
            widget_id: w,
            number: s("number"),
        }),
        _ => None,
    })
}

/// The change a [`send`] event carries; `None` for anything else.
fn change_of(event: &Event) -> Option<BindingChange> {
    if event.kind != BINDING_EVENT {
        return None;
    }
    match event.data["op"].as_str()? {
        "upsert" => {
            let b: ringside_storage::Binding =
                serde_json::from_value(event.data["binding"].clone()).ok()?;
            super::binding_from_store(b).map(BindingChange::Upsert)
        }
        "remove" => Some(BindingChange::Remove {
            account_id: event.data["extensionId"].as_str()?.to_owned(),
            contact: event.data["contactUri"].as_str()?.to_owned(),
            lapsed_at: event.data["lapsedAt"].as_i64(),
        }),
        _ => None,
    }
}

/// Applies the other nodes' registration and directory changes to this node's SIP core, and
/// reads them back from the database every `resync_every`; until aborted.
pub fn spawn(
    bus: &Arc<Bus>,
    sip: SipServer,
    store: ringside_storage::Store,
    resync_every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    let mut inbox = bus.node_inbox();
    tokio::spawn(async move {
        // What this node's directory holds: as loaded at its start (a change since then is
        // applied by the first resync that sees it).
        let mut applied = Applied::default();
        if let Err(e) = resync(&store, &sip, &mut applied, true).await {
            warn!(error = %e, "reading the directory back from the database");
        }
        let mut every = tokio::time::interval(resync_every);
        every.reset();
        loop {
            let event = tokio::select! {
                _ = every.tick() => {
                    if let Err(e) = resync(&store, &sip, &mut applied, false).await {
                        warn!(error = %e, "reading registrations and the directory back from the database");
                    }
                    continue;
                }
                m = inbox.recv() => match m {
                    Ok((_, e)) => e,
                    Err(RecvError::Lagged(n)) => {
                        warn!(missed = n, "SIP changes from other nodes were missed");
                        continue;
                    }
                    Err(RecvError::Closed) => return,
                },
            };
            match event.kind {
                BINDING_EVENT => match change_of(&event) {
                    Some(c) => {
                        debug!("a registration change from another node");
                        if sip.cmd.send(Command::ReplicaBinding(c)).is_err() {
                            return;
                        }
                    }
                    None => warn!("a registration change from another node was malformed; dropped"),
                },
                DIRECTORY_EVENT => match directory_change_of(&store, &event.data).await {
                    Ok(Some(c)) => {
                        debug!("a directory change from another node");
                        sip.change_directory(c);
                    }
                    Ok(None) => debug!("a directory change from another node names nothing now"),
                    // This node's directory stays as it was until that entry changes again or
                    // the node restarts.
                    Err(e) => {
                        warn!(error = %e, "a directory change from another node could not be read")
                    }
                },
                _ => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_survive_the_trip() {
        let sb = ringside_storage::Binding {
            extension_id: "ext1".into(),
            contact_uri: "sip:1002@192.0.2.7:5062".into(),
            source_addr: "192.0.2.7:5062".into(),
            transport: "udp".into(),
            expires_at: 9_000,
            call_id: "reg-1".into(),
            cseq: 3,
            user_agent: Some("sipp".into()),
            updated_at: 1_000,
            path: vec!["<sip:127.0.0.1:5070;lr;received=sip:192.0.2.7:5062>".into()],
        };
        let trip = |data: Value| {
            let e = Event::new(
                BINDING_EVENT,
                Audience::Tenant(NODES_ONLY),
                None,
                None,
                data,
                1,
            );
            let wire = ringside_domain::bus::encode_remote(&e);
            change_of(&ringside_domain::bus::decode_remote(&wire).unwrap())
        };
        match trip(serde_json::json!({"op": "upsert", "binding": sb})) {
            Some(BindingChange::Upsert(b)) => {
                assert_eq!(
                    (
                        b.account_id.as_str(),
                        b.contact.as_str(),
                        b.source.to_string()
                    ),
                    (
                        "ext1",
                        "sip:1002@192.0.2.7:5062",
                        "192.0.2.7:5062".to_owned()
                    )
                );
                assert_eq!(
                    (b.expires_at, b.cseq, b.call_id.as_str()),
                    (9_000, 3, "reg-1")
                );
            }
            other => panic!("{other:?}"),
        }
        let removed = trip(serde_json::json!({"op": "remove", "extensionId": "ext1",
                                              "contactUri": "sip:x@y", "lapsedAt": 5}));
        assert!(matches!(
            removed,
            Some(BindingChange::Remove { ref account_id, lapsed_at: Some(5), .. }) if account_id == "ext1"
        ));
        assert!(trip(serde_json::json!({"op": "other"})).is_none());
        assert!(trip(serde_json::json!({"op": "upsert", "binding": {"nope": 1}})).is_none());
    }
}
