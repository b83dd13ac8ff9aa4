//! Commands for a visitor's page (direct-navigate) in a cluster: queued on the node holding
//! the visitor (the one their page's requests and widget socket reach), which may be another
//! node than the one the API call came to. That node is the one whose presence last wrote
//! the visitor (`visitors.node_id`); the command goes there over the bus
//! ([`Bus::send_to_node`]) and [`spawn_node_inbox`] on that node queues it and wakes the
//! visitor's socket. Alone, or when the visitor's requests come here, it is queued here.

use ringside_storage::Store;
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use crate::live::presence::{Presence, VisitorCommand};
use crate::realtime::{Audience, Bus, Event};
use crate::ApiError;

/// The event kind of a command for a visitor's page (data: the [`VisitorCommand`] when sent
/// to another node; none when it only wakes this node's socket).
const VISITOR_COMMAND: &str = "visitor:command";

/// Queues `cmd` for the visitor where their page is held: here, or on the node that last saw
/// them. False when too many visitors have commands waiting here.
pub(crate) async fn deliver(
    (store, bus, presence): (&Store, &Bus, &Presence),
    tenant_id: &str,
    widget_id: &str,
    visitor_id: &str,
    cmd: VisitorCommand,
) -> Result<bool, ApiError> {
    if bus.node_id().is_some() && !presence.holds(widget_id, visitor_id) {
        // Only while the visitor is live there: a command for a visitor whose node has
        // stopped (or who left) waits here for their next request, as on a single node.
        let live_since = cmd.created_at - presence.config().live_timeout_ms;
        let owner = store
            .visitor_node(tenant_id, widget_id, visitor_id)
            .await?
            .filter(|(_, seen)| *seen >= live_since)
            .and_then(|(node, _)| node);
        if let Some(node) = owner {
            let at = cmd.created_at;
            let data = serde_json::to_value(&cmd).unwrap_or(Value::Null);
            let event = Event::new(
                VISITOR_COMMAND,
                Audience::Visitor,
                Some(widget_id),
                Some(visitor_id),
                data,
                at,
            );
            if bus.send_to_node(&node, tenant_id, event) {
                return Ok(true);
            }
        }
    }
    Ok(queue_here(
        bus, presence, tenant_id, widget_id, visitor_id, cmd,
    ))
}

/// Queues `cmd` in this node's presence and wakes the visitor's widget socket if it is here.
fn queue_here(
    bus: &Bus,
    presence: &Presence,
    tenant_id: &str,
    widget_id: &str,
    visitor_id: &str,
    cmd: VisitorCommand,
) -> bool {
    let at = cmd.created_at;
    if !presence.queue_command(widget_id, visitor_id, cmd) {
        return false;
    }
    // A widget socket open for the visitor takes it at once.
    bus.publish(tenant_id, || {
        Event::new(
            VISITOR_COMMAND,
            Audience::Visitor,
            Some(widget_id),
            Some(visitor_id),
            Value::Null,
            at,
        )
    });
    true
}

/// Takes the commands other nodes send this one ([`Bus::node_inbox`]) for as long as the
/// process runs: a visitor's command is queued here and their socket woken; sessions
/// forgotten on another node (sign-out, role change, removal) are forgotten here. Joins the
/// session cache to the other nodes.
pub fn spawn_node_inbox(st: &crate::AppState) -> tokio::task::JoinHandle<()> {
    let (bus, presence, accounts) = (st.bus.clone(), st.presence.clone(), st.accounts.clone());
    if bus.clustered() {
        accounts.sessions.set_cluster(bus.clone());
    }
    let mut inbox = bus.node_inbox();
    tokio::spawn(async move {
        loop {
            let (tenant, event) = match inbox.recv().await {
                Ok(m) => m,
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(
                        missed = n,
                        "commands from other nodes came faster than handled"
                    );
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            if event.kind == crate::accounts::session::FORGET_EVENT {
                accounts.sessions.forget_from_peer(&event.data);
                continue;
            }
            let (Some(widget), Some(visitor)) = (&event.widget_id, &event.visitor_id) else {
                continue;
            };
            match (
                event.kind,
                serde_json::from_value::<VisitorCommand>(event.data.clone()),
            ) {
                (VISITOR_COMMAND, Ok(cmd)) => {
                    tracing::debug!(widget, visitor, "a command for a visitor from another node");
                    if !queue_here(&bus, &presence, &tenant, widget, visitor, cmd) {
                        tracing::warn!(
                            widget,
                            visitor,
                            "a command from another node was refused: too many waiting"
                        );
                    }
                }
                (kind, _) => tracing::debug!(kind, "an unknown command from another node"),
            }
        }
    })
}
