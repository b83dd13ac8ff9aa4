//! Call detail records: one [`CallRecord`] per call, with one [`CallLeg`]
//! per SIP dialog (caller side, callee side, forks...).
//!
//! The B2BUA writes records in batches ([`Store::insert_calls_batch`],
//! [`Store::update_calls_batch`]): each batch is ONE transaction made of
//! multi-row `INSERT ... VALUES (...), (...)` statements, so a thousand calls
//! cost a handful of round trips. A failed batch writes nothing.

use std::collections::HashMap;
use std::str::FromStr;

use ringside_domain::{CallKind, CallStatus, EndReason, HangupSide, LegRole};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::error::{Result, StorageError};
use crate::util::{values_list, AnyQuery};
use crate::Store;

/// Most records [`Store::list_calls`] returns at once.
pub const MAX_LIST_CALLS: u32 = 1000;

/// Calls per multi-row statement (14 parameters each).
const CALL_CHUNK: usize = 200;
/// Legs per multi-row statement (12 parameters each).
const LEG_CHUNK: usize = 200;
/// Ids per `IN (...)` list when loading legs.
const IN_CHUNK: usize = 500;

/// Which of a widget's calls [`Store::list_widget_calls`] returns.
#[derive(Debug, Clone, Copy, Default)]
pub struct WidgetCallFilter<'a> {
    /// Only this visitor's calls.
    pub visitor_id: Option<&'a str>,
    /// Only calls still waiting for an answer (ringing or queued).
    pub waiting: bool,
    /// With `waiting`: ignore calls started before this (unix ms; stale rows after a crash).
    pub since_ms: i64,
}

/// One call as seen by the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Call id (a UUID, chosen by the caller of [`Store::insert_call`]).
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Kind of call (`sip` or `webrtc` in the column).
    pub kind: CallKind,
    /// Caller URI.
    pub from_uri: String,
    /// Callee URI.
    pub to_uri: String,
    /// Where the call stands (its text in the column).
    pub status: CallStatus,
    /// Start time, unix ms.
    pub started_at: i64,
    /// Answer time, unix ms.
    pub answered_at: Option<i64>,
    /// End time, unix ms.
    pub ended_at: Option<i64>,
    /// Why the call ended.
    pub end_reason: Option<EndReason>,
    /// Who hung up.
    pub hangup_side: Option<HangupSide>,
    /// The widget a browser call came from (or was made to).
    #[serde(default)]
    pub widget_id: Option<String>,
    /// The visitor of a browser call.
    #[serde(default)]
    pub visitor_id: Option<String>,
    /// Who answered, e.g. `extension:1002`, `pstn:+15551234567`.
    #[serde(default)]
    pub answered_by: Option<String>,
    /// The node that held the call (`RINGSIDE_NODE_ID`). Written by the store from its own
    /// node id ([`Store::with_node_id`]) when the record names none; kept by later writes.
    #[serde(default)]
    pub node_id: Option<String>,
    /// The call's legs, ordered by `idx` when read back.
    pub legs: Vec<CallLeg>,
}

/// One SIP dialog of a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallLeg {
    /// Leg id (UUID, see [`crate::new_id`]).
    pub id: String,
    /// The call this leg belongs to; may be left empty when writing (the
    /// record's id is used), must otherwise equal it.
    pub call_id: String,
    /// Position of the leg within the call.
    pub idx: i64,
    /// Caller or callee.
    pub role: LegRole,
    /// SIP Call-ID of the dialog.
    pub sip_call_id: String,
    /// Our tag in the dialog.
    pub local_tag: String,
    /// The peer's tag, once known.
    pub remote_tag: Option<String>,
    /// Who the leg talks to (URI or address).
    pub peer: String,
    /// Start time, unix ms.
    pub started_at: i64,
    /// Answer time, unix ms.
    pub answered_at: Option<i64>,
    /// End time, unix ms.
    pub ended_at: Option<i64>,
    /// Final SIP response status of the leg.
    pub final_status: Option<i64>,
    /// Media quality of the leg, once measured.
    #[serde(default)]
    pub quality: Option<LegStats>,
}

/// Media quality of one leg: what Ringside received from the peer and the round trip to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegStats {
    /// RTP packets received from the peer.
    pub rx_packets: i64,
    /// RTP packets the peer sent that were lost (RFC 3550 cumulative loss).
    pub rx_lost: i64,
    /// Interarrival jitter, microseconds.
    pub jitter_us: i64,
    /// Round-trip time from RTCP, microseconds, when the peer sent reports.
    pub rtt_us: Option<i64>,
    /// RTP packets sent to the peer.
    pub tx_packets: i64,
}

const CALL_COLS: &str = "id, tenant_id, kind, from_uri, to_uri, status, started_at, \
                         answered_at, ended_at, end_reason, hangup_side, widget_id, visitor_id, \
                         answered_by, node_id";
const CALL_NCOLS: usize = 15;
const LEG_COLS: &str = "id, call_id, idx, role, sip_call_id, local_tag, remote_tag, peer, \
                        started_at, answered_at, ended_at, final_status, rx_packets, rx_lost, jitter_us, rtt_us, \
                        tx_packets";
const LEG_NCOLS: usize = 17;

/// Upsert tail for calls; never touches another tenant's call.
const CALL_UPSERT: &str = " ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, \
     from_uri = excluded.from_uri, to_uri = excluded.to_uri, status = excluded.status, \
     started_at = excluded.started_at, answered_at = excluded.answered_at, \
     ended_at = excluded.ended_at, end_reason = excluded.end_reason, \
     hangup_side = excluded.hangup_side, widget_id = excluded.widget_id, \
     visitor_id = excluded.visitor_id, answered_by = excluded.answered_by, \
     node_id = COALESCE(calls.node_id, excluded.node_id) \
     WHERE calls.tenant_id = excluded.tenant_id";

/// Upsert tail for legs; never moves a leg to another call.
const LEG_UPSERT: &str = " ON CONFLICT (id) DO UPDATE SET idx = excluded.idx, \
     role = excluded.role, sip_call_id = excluded.sip_call_id, local_tag = excluded.local_tag, \
     remote_tag = excluded.remote_tag, peer = excluded.peer, started_at = excluded.started_at, \
     answered_at = excluded.answered_at, ended_at = excluded.ended_at, \
     final_status = excluded.final_status, rx_packets = excluded.rx_packets, \
     rx_lost = excluded.rx_lost, jitter_us = excluded.jitter_us, rtt_us = excluded.rtt_us, \
     tx_packets = excluded.tx_packets WHERE call_legs.call_id = excluded.call_id";

/// A typed value kept as its text; a text no value has is [`StorageError::Corrupt`].
fn text<T: FromStr>(row: &AnyRow, column: &'static str) -> Result<T> {
    row.try_get::<String, _>(column)?
        .parse()
        .map_err(|_| StorageError::Corrupt(column))
}

/// [`text`] of a nullable column.
fn optional_text<T: FromStr>(row: &AnyRow, column: &'static str) -> Result<Option<T>> {
    row.try_get::<Option<String>, _>(column)?
        .map(|t| t.parse().map_err(|_| StorageError::Corrupt(column)))
        .transpose()
}

fn call_from_row(row: &AnyRow) -> Result<CallRecord> {
    Ok(CallRecord {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        kind: text(row, "kind")?,
        from_uri: row.try_get("from_uri")?,
        to_uri: row.try_get("to_uri")?,
        status: text(row, "status")?,
        started_at: row.try_get("started_at")?,
        answered_at: row.try_get("answered_at")?,
        ended_at: row.try_get("ended_at")?,
        end_reason: optional_text(row, "end_reason")?,
        hangup_side: optional_text(row, "hangup_side")?,
        widget_id: row.try_get("widget_id")?,
        visitor_id: row.try_get("visitor_id")?,
        answered_by: row.try_get("answered_by")?,
        node_id: row.try_get("node_id")?,
        legs: Vec::new(),
    })
}

fn leg_from_row(row: &AnyRow) -> Result<CallLeg> {
    Ok(CallLeg {
        id: row.try_get("id")?,
        call_id: row.try_get("call_id")?,
        idx: row.try_get("idx")?,
        role: text(row, "role")?,
        sip_call_id: row.try_get("sip_call_id")?,
        local_tag: row.try_get("local_tag")?,
        remote_tag: row.try_get("remote_tag")?,
        peer: row.try_get("peer")?,
        started_at: row.try_get("started_at")?,
        answered_at: row.try_get("answered_at")?,
        ended_at: row.try_get("ended_at")?,
        final_status: row.try_get("final_status")?,
        quality: match row.try_get::<Option<i64>, _>("rx_packets")? {
            None => None,
            Some(rx_packets) => Some(LegStats {
                rx_packets,
                rx_lost: row.try_get::<Option<i64>, _>("rx_lost")?.unwrap_or(0),
                jitter_us: row.try_get::<Option<i64>, _>("jitter_us")?.unwrap_or(0),
                rtt_us: row.try_get("rtt_us")?,
                tx_packets: row.try_get::<Option<i64>, _>("tx_packets")?.unwrap_or(0),
            }),
        },
    })
}

/// Binds the call columns but the node id (without copying strings).
fn bind_call<'q>(q: AnyQuery<'q>, c: &'q CallRecord) -> AnyQuery<'q> {
    q.bind(c.id.as_str())
        .bind(c.tenant_id.as_str())
        .bind(c.kind.as_str())
        .bind(c.from_uri.as_str())
        .bind(c.to_uri.as_str())
        .bind(c.status.as_str())
        .bind(c.started_at)
        .bind(c.answered_at)
        .bind(c.ended_at)
        .bind(c.end_reason.map(EndReason::as_str))
        .bind(c.hangup_side.map(HangupSide::as_str))
        .bind(c.widget_id.as_deref())
        .bind(c.visitor_id.as_deref())
        .bind(c.answered_by.as_deref())
}

/// Binds the 17 leg columns; `call_id` is the owning record's id.
fn bind_leg<'q>(q: AnyQuery<'q>, l: &'q CallLeg, call_id: &'q str) -> AnyQuery<'q> {
    q.bind(l.id.as_str())
        .bind(call_id)
        .bind(l.idx)
        .bind(l.role.as_str())
        .bind(l.sip_call_id.as_str())
        .bind(l.local_tag.as_str())
        .bind(l.remote_tag.as_deref())
        .bind(l.peer.as_str())
        .bind(l.started_at)
        .bind(l.answered_at)
        .bind(l.ended_at)
        .bind(l.final_status)
        .bind(l.quality.map(|q| q.rx_packets))
        .bind(l.quality.map(|q| q.rx_lost))
        .bind(l.quality.map(|q| q.jitter_us))
        .bind(l.quality.and_then(|q| q.rtt_us))
        .bind(l.quality.map(|q| q.tx_packets))
}

fn validate(c: &CallRecord) -> Result<()> {
    if c.id.is_empty() || c.tenant_id.is_empty() {
        return Err(StorageError::Invalid("call id and tenant_id are required"));
    }
    for leg in &c.legs {
        if leg.id.is_empty() {
            return Err(StorageError::Invalid("call leg id is required"));
        }
        if !leg.call_id.is_empty() && leg.call_id != c.id {
            return Err(StorageError::Invalid(
                "call leg call_id must equal the call id",
            ));
        }
    }
    Ok(())
}

/// Keeps the last occurrence of each key (a batch may carry several
/// snapshots of one call), in order of those last occurrences.
fn last_per_key<'a, T>(items: impl Iterator<Item = T>, key: impl Fn(&T) -> &'a str) -> Vec<T> {
    let items: Vec<T> = items.collect();
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        last.insert(key(item), i);
    }
    if last.len() == items.len() {
        return items;
    }
    items
        .into_iter()
        .enumerate()
        .filter(|(i, item)| last.get(key(item)) == Some(i))
        .map(|(_, item)| item)
        .collect()
}

/// Multi-row INSERT (or upsert) of calls.
async fn write_calls(
    conn: &mut AnyConnection,
    calls: &[&CallRecord],
    upsert: bool,
    (anonymous, node): (bool, Option<&str>),
) -> Result<()> {
    for chunk in calls.chunks(CALL_CHUNK) {
        let mut sql = format!(
            "INSERT INTO calls ({CALL_COLS}) VALUES {}",
            values_list(chunk.len(), CALL_NCOLS, anonymous)
        );
        if upsert {
            sql.push_str(CALL_UPSERT);
        }
        let persistent = chunk.len() == CALL_CHUNK || chunk.len() == 1;
        let mut q = sqlx::query(&sql).persistent(persistent);
        for c in chunk {
            q = bind_call(q, c).bind(c.node_id.as_deref().or(node));
        }
        q.execute(&mut *conn)
            .await
            .map_err(|e| StorageError::from_write(e, "call id already exists"))?;
    }
    Ok(())
}

/// Multi-row INSERT (or upsert) of legs, given as `(leg, call id)`.
async fn write_legs(
    conn: &mut AnyConnection,
    legs: &[(&CallLeg, &str)],
    upsert: bool,
    anonymous: bool,
) -> Result<()> {
    for chunk in legs.chunks(LEG_CHUNK) {
        let mut sql = format!(
            "INSERT INTO call_legs ({LEG_COLS}) VALUES {}",
            values_list(chunk.len(), LEG_NCOLS, anonymous)
        );
        if upsert {
            sql.push_str(LEG_UPSERT);
        }
        let persistent = chunk.len() == LEG_CHUNK || chunk.len() <= 2;
        let mut q = sqlx::query(&sql).persistent(persistent);
        for (leg, call_id) in chunk {
            q = bind_leg(q, leg, call_id);
        }
        q.execute(&mut *conn)
            .await
            .map_err(|e| StorageError::from_write(e, "call leg id already exists"))?;
    }
    Ok(())
}

fn legs_of<'a>(calls: &[&'a CallRecord]) -> Vec<(&'a CallLeg, &'a str)> {
    calls
        .iter()
        .flat_map(|c| c.legs.iter().map(|l| (l, c.id.as_str())))
        .collect()
}

impl Store {
    /// How [`write_calls`] writes: its placeholders, and the node id calls without one get.
    fn call_params(&self) -> (bool, Option<&str>) {
        (self.anonymous_params(), self.node_id())
    }

    /// Inserts a call and its legs in one transaction. Conflict when the call
    /// or a leg id exists (nothing is written); NotFound for an unknown tenant.
    pub async fn insert_call(&self, call: &CallRecord) -> Result<()> {
        self.insert_calls_batch(std::slice::from_ref(call)).await
    }

    /// Inserts many calls with their legs in ONE transaction, using multi-row
    /// statements. All or nothing: on any error (e.g. Conflict on an existing
    /// id) no call of the batch is written and existing rows are untouched.
    pub async fn insert_calls_batch(&self, calls: &[CallRecord]) -> Result<()> {
        if calls.is_empty() {
            return Ok(());
        }
        calls.iter().try_for_each(validate)?;
        let refs: Vec<&CallRecord> = calls.iter().collect();
        let legs = legs_of(&refs);
        let mut tx = self.pool.begin().await?;
        write_calls(&mut tx, &refs, false, self.call_params()).await?;
        write_legs(&mut tx, &legs, false, self.anonymous_params()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Updates a call row and upserts its legs (legs not in `call.legs` are
    /// kept), in one transaction. NotFound when the call is not the tenant's.
    pub async fn update_call(&self, call: &CallRecord) -> Result<()> {
        validate(call)?;
        let mut tx = self.pool.begin().await?;
        let res = sqlx::query(
            "UPDATE calls SET kind = $3, from_uri = $4, to_uri = $5, status = $6, \
             started_at = $7, answered_at = $8, ended_at = $9, end_reason = $10, \
             hangup_side = $11, widget_id = $12, visitor_id = $13, answered_by = $14 \
             WHERE id = $1 AND tenant_id = $2",
        );
        let res = bind_call(res, call).execute(&mut *tx).await?;
        if res.rows_affected() == 0 {
            tx.rollback().await?;
            return Err(StorageError::NotFound);
        }
        let legs = legs_of(&[call]);
        write_legs(&mut tx, &legs, true, self.anonymous_params()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes many call snapshots in ONE transaction: each call row is
    /// upserted (inserted when not stored yet, so an update overtaking its
    /// insert loses nothing) and its legs upserted. When a call or leg id
    /// appears several times, the last occurrence wins. A record whose id
    /// belongs to another tenant is ignored. All or nothing on error.
    pub async fn update_calls_batch(&self, calls: &[CallRecord]) -> Result<()> {
        if calls.is_empty() {
            return Ok(());
        }
        calls.iter().try_for_each(validate)?;
        let refs = last_per_key(calls.iter(), |c| c.id.as_str());
        let legs = last_per_key(legs_of(&refs).into_iter(), |(l, _)| l.id.as_str());
        let mut tx = self.pool.begin().await?;
        write_calls(&mut tx, &refs, true, self.call_params()).await?;
        write_legs(&mut tx, &legs, true, self.anonymous_params()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Closes the call records this node left open (no `ended_at`) when it stopped without
    /// ending its calls (killed, crashed, power lost): answered calls become `ended`, the
    /// others `missed`, with end reason `reason` (`server_restart`), hangup side `system` and
    /// `now` as end time; their open legs end at `now` too. Returns how many calls were
    /// closed. Run once at start, before any call is taken. Only this node's calls
    /// ([`Store::with_node_id`]) and those of no node (stored before nodes were recorded) are
    /// closed: in a cluster, the other nodes' open calls are live.
    pub async fn close_open_calls(&self, reason: EndReason, now: i64) -> Result<u64> {
        let node = self.node_id();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE call_legs SET ended_at = $1 WHERE ended_at IS NULL AND call_id IN \
             (SELECT id FROM calls WHERE ended_at IS NULL AND (node_id IS NULL OR node_id = $2))",
        )
        .bind(now)
        .bind(node)
        .execute(&mut *tx)
        .await?;
        let res = sqlx::query(
            "UPDATE calls SET status = CASE WHEN answered_at IS NULL THEN 'missed' ELSE 'ended' END, \
             ended_at = $1, end_reason = $2, hangup_side = 'system' \
             WHERE ended_at IS NULL AND (node_id IS NULL OR node_id = $3)",
        )
        .bind(now)
        .bind(reason.as_str())
        .bind(node)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(res.rows_affected())
    }

    /// Closes the call records left open by nodes that are gone: stopped, or silent (no
    /// heartbeat) since before `silent_since` (unix ms), this store's own node never (it is
    /// running this). As [`Store::close_open_calls`] does for a node's own calls at its
    /// start, for a node that may never start again. Returns how many calls were closed. Any
    /// node may run it, any number of times.
    pub async fn close_calls_of_gone_nodes(
        &self,
        reason: EndReason,
        now: i64,
        silent_since: i64,
    ) -> Result<u64> {
        const GONE: &str = "SELECT id FROM nodes WHERE (stopped_at IS NOT NULL OR last_seen < $2) \
             AND id <> $4";
        let me = self.node_id().unwrap_or("");
        let mut tx = self.pool.begin().await?;
        // The same nodes, their id placeholder numbered for this statement.
        let gone_here = GONE.replace("$4", "$3");
        sqlx::query(&format!(
            "UPDATE call_legs SET ended_at = $1 WHERE ended_at IS NULL AND call_id IN \
             (SELECT id FROM calls WHERE ended_at IS NULL AND node_id IN ({gone_here}))"
        ))
        .bind(now)
        .bind(silent_since)
        .bind(me)
        .execute(&mut *tx)
        .await?;
        let res = sqlx::query(&format!(
            "UPDATE calls SET status = CASE WHEN answered_at IS NULL THEN 'missed' ELSE 'ended' END, \
             ended_at = $1, end_reason = $3, hangup_side = 'system' \
             WHERE ended_at IS NULL AND node_id IN ({GONE})"
        ))
        .bind(now)
        .bind(silent_since)
        .bind(reason.as_str())
        .bind(me)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(res.rows_affected())
    }

    /// One call of the tenant with its legs (ordered by `idx`); NotFound if
    /// missing or another tenant's.
    pub async fn get_call(&self, tenant_id: &str, id: &str) -> Result<CallRecord> {
        let sql = format!("SELECT {CALL_COLS} FROM calls WHERE id = $1 AND tenant_id = $2");
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StorageError::NotFound)?;
        let mut call = call_from_row(&row)?;
        let sql = format!("SELECT {LEG_COLS} FROM call_legs WHERE call_id = $1 ORDER BY idx, id");
        let rows = sqlx::query(&sql).bind(id).fetch_all(&self.pool).await?;
        call.legs = rows.iter().map(leg_from_row).collect::<Result<_>>()?;
        Ok(call)
    }

    /// The tenant's most recent calls, newest first (by `started_at`), with
    /// their legs; at most `limit` (capped at [`MAX_LIST_CALLS`]).
    pub async fn list_calls(&self, tenant_id: &str, limit: u32) -> Result<Vec<CallRecord>> {
        let limit = limit.min(MAX_LIST_CALLS);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {CALL_COLS} FROM calls WHERE tenant_id = $1 \
             ORDER BY started_at DESC, id DESC LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        self.with_legs(&rows).await
    }

    /// The calls of one widget, newest first, with their legs; only `visitor_id`'s when
    /// given, and with `waiting` only those still ringing or queued (not ended, started at
    /// or after `since_ms`).
    pub async fn list_widget_calls(
        &self,
        tenant_id: &str,
        widget_id: &str,
        filter: WidgetCallFilter<'_>,
        limit: u32,
    ) -> Result<Vec<CallRecord>> {
        let limit = limit.min(MAX_LIST_CALLS);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut sql = format!(
            "SELECT {CALL_COLS} FROM calls WHERE tenant_id = $1 AND widget_id = $2 \
             AND ($3 = '' OR visitor_id = $3) AND started_at >= $5"
        );
        if filter.waiting {
            sql.push_str(" AND ended_at IS NULL AND status IN ('ringing', 'waiting')");
        }
        sql.push_str(" ORDER BY started_at DESC, id DESC LIMIT $4");
        let rows = sqlx::query(&sql)
            .bind(tenant_id)
            .bind(widget_id)
            .bind(filter.visitor_id.unwrap_or(""))
            .bind(i64::from(limit))
            .bind(if filter.waiting {
                filter.since_ms
            } else {
                i64::MIN
            })
            .fetch_all(&self.pool)
            .await?;
        self.with_legs(&rows).await
    }

    /// How many of the tenant's calls (of `widgets` only, when given) started at or after
    /// `since` (unix ms).
    pub async fn count_calls_since(
        &self,
        tenant_id: &str,
        widgets: Option<&[String]>,
        since: i64,
    ) -> Result<i64> {
        let mut sql = String::from(
            "SELECT COUNT(*) AS n FROM calls WHERE tenant_id = $1 AND started_at >= $2",
        );
        if let Some(ws) = widgets {
            if ws.is_empty() {
                return Ok(0);
            }
            let list: Vec<String> = (3..3 + ws.len()).map(|i| format!("${i}")).collect();
            sql.push_str(&format!(" AND widget_id IN ({})", list.join(", ")));
        }
        let mut q = sqlx::query(&sql).bind(tenant_id).bind(since);
        for w in widgets.unwrap_or_default() {
            q = q.bind(w);
        }
        Ok(q.fetch_one(&self.pool).await?.try_get("n")?)
    }

    /// Call rows with their legs loaded (a few `IN (...)` queries).
    async fn with_legs(&self, rows: &[AnyRow]) -> Result<Vec<CallRecord>> {
        let mut calls = rows.iter().map(call_from_row).collect::<Result<Vec<_>>>()?;
        let mut legs: HashMap<String, Vec<CallLeg>> = HashMap::new();
        let ids: Vec<&str> = calls.iter().map(|c| c.id.as_str()).collect();
        for chunk in ids.chunks(IN_CHUNK) {
            let list: Vec<String> = (1..=chunk.len())
                .map(|i| {
                    if self.anonymous_params() {
                        "?".to_owned()
                    } else {
                        format!("${i}")
                    }
                })
                .collect();
            let sql = format!(
                "SELECT {LEG_COLS} FROM call_legs WHERE call_id IN ({}) ORDER BY call_id, idx, id",
                list.join(", ")
            );
            let mut q = sqlx::query(&sql).persistent(false);
            for id in chunk {
                q = q.bind(*id);
            }
            for row in q.fetch_all(&self.pool).await? {
                let leg = leg_from_row(&row)?;
                legs.entry(leg.call_id.clone()).or_default().push(leg);
            }
        }
        for call in &mut calls {
            call.legs = legs.remove(&call.id).unwrap_or_default();
        }
        Ok(calls)
    }
}
