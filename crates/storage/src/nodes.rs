//! Cluster membership: one row per node (`RINGSIDE_NODE_ID`), written when the node starts
//! ([`Store::join_node`]), heartbeated while it runs ([`Store::heartbeat_node`]) and marked
//! stopped when it stops cleanly ([`Store::leave_node`]). A node is alive while its last
//! heartbeat is younger than [`NODE_DEAD_AFTER_MS`] and it has not stopped.
//!
//! Each process has a random `instance`: a second live process started under a node id
//! already in use is refused ([`Join::InUse`]) rather than sharing the row, and a process
//! whose row another instance took over learns it from its heartbeat.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::Result;
use crate::Store;

/// A node whose heartbeat is this old (ms) is dead.
pub const NODE_DEAD_AFTER_MS: i64 = 5_000;

/// One node of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    /// The node id (`RINGSIDE_NODE_ID`).
    pub id: String,
    /// Random per process: tells a restart from a second process under the same id.
    pub instance: String,
    /// Its HTTP listen address.
    pub http_addr: String,
    /// Its SIP listen address.
    pub sip_addr: String,
    /// Its WebRTC media address.
    pub webrtc_addr: String,
    /// Its Ringside version.
    pub version: String,
    /// When this instance started, unix ms.
    pub started_at: i64,
    /// Its last heartbeat, unix ms.
    pub last_seen: i64,
    /// When it stopped cleanly, unix ms.
    pub stopped_at: Option<i64>,
}

impl NodeInfo {
    /// Whether the node is alive at `now` (unix ms).
    pub fn alive(&self, now: i64) -> bool {
        self.stopped_at.is_none() && now - self.last_seen < NODE_DEAD_AFTER_MS
    }
}

/// What [`Store::join_node`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// The row is this instance's now.
    Joined,
    /// Another live instance holds the node id; its last heartbeat, unix ms.
    InUse {
        /// Its last heartbeat, unix ms.
        last_seen: i64,
    },
}

const NODE_COLS: &str =
    "id, instance, http_addr, sip_addr, webrtc_addr, version, started_at, last_seen, stopped_at";

fn node_from_row(row: &AnyRow) -> Result<NodeInfo> {
    Ok(NodeInfo {
        id: row.try_get("id")?,
        instance: row.try_get("instance")?,
        http_addr: row.try_get("http_addr")?,
        sip_addr: row.try_get("sip_addr")?,
        webrtc_addr: row.try_get("webrtc_addr")?,
        version: row.try_get("version")?,
        started_at: row.try_get("started_at")?,
        last_seen: row.try_get("last_seen")?,
        stopped_at: row.try_get("stopped_at")?,
    })
}

impl Store {
    /// Writes `node`'s row as its `instance`'s, with `last_seen` as the first heartbeat,
    /// unless another instance holds the id and is alive at `node.last_seen` (and
    /// `take_over` is false): then nothing is written and [`Join::InUse`] says when that one
    /// was last seen.
    pub async fn join_node(&self, node: &NodeInfo, take_over: bool) -> Result<Join> {
        let sql = format!(
            "INSERT INTO nodes ({NODE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL) \
             ON CONFLICT (id) DO UPDATE SET instance = excluded.instance, \
             http_addr = excluded.http_addr, sip_addr = excluded.sip_addr, \
             webrtc_addr = excluded.webrtc_addr, version = excluded.version, \
             started_at = excluded.started_at, last_seen = excluded.last_seen, stopped_at = NULL \
             WHERE nodes.instance = excluded.instance OR nodes.stopped_at IS NOT NULL \
             OR nodes.last_seen <= $9"
        );
        let res = sqlx::query(&sql)
            .bind(node.id.as_str())
            .bind(node.instance.as_str())
            .bind(node.http_addr.as_str())
            .bind(node.sip_addr.as_str())
            .bind(node.webrtc_addr.as_str())
            .bind(node.version.as_str())
            .bind(node.started_at)
            .bind(node.last_seen)
            .bind(if take_over {
                i64::MAX
            } else {
                node.last_seen - NODE_DEAD_AFTER_MS
            })
            .execute(&self.pool)
            .await?;
        if res.rows_affected() > 0 {
            return Ok(Join::Joined);
        }
        let last_seen: i64 = sqlx::query_scalar("SELECT last_seen FROM nodes WHERE id = $1")
            .bind(node.id.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(Join::InUse { last_seen })
    }

    /// Records a heartbeat of node `id`'s `instance` at `now`. False when the row is not
    /// that instance's any more (another process took the id over, or the row is gone).
    pub async fn heartbeat_node(&self, id: &str, instance: &str, now: i64) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE nodes SET last_seen = $1 WHERE id = $2 AND instance = $3 \
             AND stopped_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .bind(instance)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() > 0)
    }

    /// Marks node `id`'s `instance` stopped at `now` (a clean stop: dead at once).
    pub async fn leave_node(&self, id: &str, instance: &str, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE nodes SET stopped_at = $1, last_seen = $1 WHERE id = $2 AND instance = $3",
        )
        .bind(now)
        .bind(id)
        .bind(instance)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every node ever joined, by id.
    pub async fn list_nodes(&self) -> Result<Vec<NodeInfo>> {
        let rows = sqlx::query(&format!("SELECT {NODE_COLS} FROM nodes ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(node_from_row).collect()
    }
}
