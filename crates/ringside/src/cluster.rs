//! This node's membership of the cluster: its row in the shared database's `nodes` table,
//! written at start, heartbeated every [`HEARTBEAT`] and marked stopped on a clean stop. A
//! single node (SQLite) keeps its row too, so `/healthz` and call records name it the same
//! way.

use std::time::Duration;

use anyhow::bail;
use ringside_storage::{now_ms, Join, NodeInfo, Store, NODE_DEAD_AFTER_MS};
use tracing::{error, info, warn};

use crate::config::Settings;

/// How often the node's row is heartbeated (a node is dead after
/// [`NODE_DEAD_AFTER_MS`] without one).
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// Every this many heartbeats, the calls left open by gone nodes are closed.
const SWEEP_EVERY: u32 = 10;
/// A node silent this long (ms) is gone for good as far as its calls go: far longer than it
/// takes to be seen dead, so that a node cut off from the database for a moment (a
/// PostgreSQL restart) keeps its calls.
const GONE_AFTER_MS: i64 = 60_000;

/// This node's row: its id and this process's instance.
#[derive(Debug, Clone)]
pub struct Membership {
    /// `RINGSIDE_NODE_ID`.
    pub id: String,
    /// Random per process.
    pub instance: String,
    store: Store,
}

impl Membership {
    /// Writes this node's row. On PostgreSQL (shared by a cluster), when another live
    /// process holds the id (its previous run, killed a moment ago, or a second node wrongly
    /// given the same id), waits until that one's heartbeat lapses; if it goes on
    /// heartbeating, fails with an explanation. On SQLite (one node, one file) the row is
    /// taken at once: a restart after a crash does not wait.
    pub async fn join(store: &Store, s: &Settings) -> anyhow::Result<Membership> {
        let instance = ringside_storage::new_id();
        let started = now_ms();
        let mut info = NodeInfo {
            id: s.cluster.node_id.clone(),
            instance: instance.clone(),
            http_addr: s.http.addr.to_string(),
            sip_addr: s.sip.addr.to_string(),
            webrtc_addr: s.webrtc.addr.to_string(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at: started,
            last_seen: started,
            stopped_at: None,
        };
        let deadline = started + NODE_DEAD_AFTER_MS + 2_000;
        let mut told = false;
        loop {
            info.last_seen = now_ms();
            let take_over = store.backend() == ringside_storage::Backend::Sqlite;
            match store.join_node(&info, take_over).await? {
                Join::Joined => break,
                Join::InUse { last_seen } if info.last_seen < deadline => {
                    if !told {
                        told = true;
                        warn!(
                            node = %info.id,
                            last_heartbeat_ms_ago = info.last_seen - last_seen,
                            "another process holds this node id; waiting for its heartbeat to lapse"
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Join::InUse { last_seen } => bail!(
                    "node id {:?} is in use by a live node (last heartbeat {} ms ago): give \
                     each node its own RINGSIDE_NODE_ID",
                    info.id,
                    info.last_seen - last_seen
                ),
            }
        }
        info!(node = %info.id, "joined the cluster");
        Ok(Membership {
            id: info.id,
            instance,
            store: store.clone(),
        })
    }

    /// Heartbeats the row every [`HEARTBEAT`] until aborted. A database that does not
    /// answer is logged and retried; a row another instance took over is logged as the
    /// error it is (two processes under one node id).
    pub fn spawn_heartbeat(&self) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            let mut beats = 0u32;
            // Since when this node's heartbeats have been written without a break: only a node
            // in touch with the database for longer than a node takes to be gone judges others
            // gone (after a database outage every node looks silent).
            let mut steady_since: Option<std::time::Instant> = None;
            loop {
                tick.tick().await;
                beats = beats.wrapping_add(1);
                let steady = steady_since.is_some_and(|t| {
                    t.elapsed() >= Duration::from_millis(GONE_AFTER_MS.unsigned_abs())
                });
                if steady && beats.is_multiple_of(SWEEP_EVERY) {
                    me.sweep_gone_nodes().await;
                }
                let beat = me
                    .store
                    .heartbeat_node(&me.id, &me.instance, now_ms())
                    .await;
                if !matches!(beat, Ok(true)) {
                    steady_since = None;
                } else if steady_since.is_none() {
                    steady_since = Some(std::time::Instant::now());
                }
                match beat {
                    Ok(true) => {
                        if std::mem::take(&mut failing) {
                            info!(node = %me.id, "node heartbeat written again");
                        }
                    }
                    Ok(false) => {
                        if !std::mem::replace(&mut failing, true) {
                            error!(
                                node = %me.id,
                                "another process took this node id over; give each node its \
                                 own RINGSIDE_NODE_ID"
                            );
                        }
                    }
                    Err(e) => {
                        if !std::mem::replace(&mut failing, true) {
                            warn!(node = %me.id, error = %e, "node heartbeat failed; retrying");
                        }
                    }
                }
            }
        })
    }

    /// Closes the call records of nodes gone for good (stopped, or silent for
    /// [`GONE_AFTER_MS`]): a node that never starts again would leave them `answered`.
    async fn sweep_gone_nodes(&self) {
        let now = now_ms();
        match self
            .store
            .close_calls_of_gone_nodes(
                ringside_domain::EndReason::ServerRestart,
                now,
                now - GONE_AFTER_MS,
            )
            .await
        {
            Ok(0) => {}
            Ok(n) => warn!(
                calls = n,
                "closed call records left open by nodes that are gone"
            ),
            Err(e) => warn!(error = %e, "could not close the calls of gone nodes"),
        }
    }

    /// Marks the row stopped (a clean stop: the other nodes see it gone at once).
    pub async fn leave(&self) {
        if let Err(e) = self
            .store
            .leave_node(&self.id, &self.instance, now_ms())
            .await
        {
            warn!(node = %self.id, error = %e, "could not mark this node stopped");
        }
    }
}

/// How often the live nodes are counted for the shared limits.
const COUNT_EVERY: Duration = Duration::from_secs(5);

/// Counts the live nodes every [`COUNT_EVERY`] and shares each widget's rate limit among
/// them (`ringside_api::RateLimits::set_cluster_nodes`), until aborted.
pub fn spawn_limit_sharing(
    store: Store,
    limits: std::sync::Arc<ringside_api::RateLimits>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(COUNT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = 1;
        loop {
            tick.tick().await;
            let now = now_ms();
            match store.list_nodes().await {
                Ok(nodes) => {
                    let alive = nodes.iter().filter(|n| n.alive(now)).count().max(1);
                    let alive = u32::try_from(alive).unwrap_or(u32::MAX);
                    if alive != last {
                        info!(nodes = alive, "live nodes share each widget's rate limit");
                        last = alive;
                    }
                    limits.set_cluster_nodes(alive);
                }
                Err(e) => warn!(error = %e, "counting the live nodes failed"),
            }
        }
    })
}
