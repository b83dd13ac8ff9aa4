//! Call recordings: metadata of the WAV files kept under the data directory
//! (the files themselves are written by `ringside-recordings`).
//!
//! A row is inserted with status [`RecordingStatus::Recording`] when a
//! recording starts, so a crash leaves a row that
//! [`Store::list_recordings_in_progress`] finds at the next start; it becomes
//! [`RecordingStatus::Complete`] when the writer finishes
//! ([`Store::finish_recording`]) or [`RecordingStatus::Repaired`] after
//! recovery ([`Store::mark_recording_repaired`]).

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{Result, StorageError};
use crate::{now_ms, Store};

/// Most rows [`Store::list_expired_recordings`] returns at once.
pub const MAX_LIST_RECORDINGS: u32 = 1000;

/// The only recording format so far.
pub const RECORDING_FORMAT_WAV: &str = "wav";

/// Lifecycle of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordingStatus {
    /// Being written; after a crash, needs repair.
    Recording,
    /// Finished normally.
    Complete,
    /// Recovered after a crash (header rewritten to match the data on disk).
    Repaired,
}

impl RecordingStatus {
    /// The stored (and API) name: `recording`, `complete` or `repaired`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordingStatus::Recording => "recording",
            RecordingStatus::Complete => "complete",
            RecordingStatus::Repaired => "repaired",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<RecordingStatus> {
        match s {
            "recording" => Some(RecordingStatus::Recording),
            "complete" => Some(RecordingStatus::Complete),
            "repaired" => Some(RecordingStatus::Repaired),
            _ => None,
        }
    }
}

/// One recording of a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recording {
    /// Recording id (a UUID, chosen by the caller of [`Store::insert_recording`]).
    pub id: String,
    /// Owning tenant (the call's).
    pub tenant_id: String,
    /// The recorded call.
    pub call_id: String,
    /// File path relative to the data directory.
    pub path: String,
    /// File format: `wav`.
    pub format: String,
    /// Sample rate, Hz.
    pub sample_rate: i64,
    /// Number of channels (2: left caller/visitor, right callee/operator).
    pub channels: i64,
    /// Duration, ms (0 while recording).
    pub duration_ms: i64,
    /// File size, bytes (0 while recording).
    pub bytes: i64,
    /// Lifecycle state.
    pub status: RecordingStatus,
    /// Start time, unix ms.
    pub started_at: i64,
    /// End time, unix ms (None while recording).
    pub ended_at: Option<i64>,
    /// Row creation time, unix ms.
    pub created_at: i64,
}

/// A recording that is starting, for [`Store::insert_recording`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecording {
    /// Recording id: a fresh [`crate::new_id`], typically also used in the file name.
    pub id: String,
    /// The call being recorded; must be the tenant's.
    pub call_id: String,
    /// File path relative to the data directory (no `..`, not absolute).
    pub path: String,
    /// Sample rate, Hz (1..=384000).
    pub sample_rate: u32,
    /// Number of channels (1..=8).
    pub channels: u16,
    /// Start time, unix ms.
    pub started_at: i64,
}

const COLS: &str = "id, tenant_id, call_id, path, format, sample_rate, channels, duration_ms, \
                    bytes, status, started_at, ended_at, created_at";

fn from_row(row: &AnyRow) -> Result<Recording> {
    let status: String = row.try_get("status")?;
    Ok(Recording {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        call_id: row.try_get("call_id")?,
        path: row.try_get("path")?,
        format: row.try_get("format")?,
        sample_rate: row.try_get("sample_rate")?,
        channels: row.try_get("channels")?,
        duration_ms: row.try_get("duration_ms")?,
        bytes: row.try_get("bytes")?,
        status: RecordingStatus::parse(&status).ok_or(StorageError::Corrupt("status"))?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        created_at: row.try_get("created_at")?,
    })
}

/// A relative path inside the data directory: non-empty, at most 1024
/// bytes, no control characters or backslashes, not absolute, no `.`/`..`
/// or empty components.
fn relative_path(p: &str) -> Result<()> {
    let ok = !p.is_empty()
        && p.len() <= 1024
        && !p.chars().any(|c| c.is_control() || c == '\\' || c == ':')
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..");
    if ok {
        Ok(())
    } else {
        Err(StorageError::Invalid(
            "recording path must be relative, without .. components",
        ))
    }
}

fn validate(new: &NewRecording) -> Result<()> {
    if new.id.is_empty() || new.id.len() > 64 || new.call_id.is_empty() {
        return Err(StorageError::Invalid(
            "recording id and call_id are required",
        ));
    }
    relative_path(&new.path)?;
    if !(1..=384_000).contains(&new.sample_rate) {
        return Err(StorageError::Invalid("sample_rate"));
    }
    if !(1..=8).contains(&new.channels) {
        return Err(StorageError::Invalid("channels"));
    }
    Ok(())
}

fn non_negative(v: i64, what: &'static str) -> Result<()> {
    if v < 0 {
        Err(StorageError::Invalid(what))
    } else {
        Ok(())
    }
}

impl Store {
    /// Records that a recording of the tenant's call `new.call_id` started:
    /// status `recording`, duration and size 0, format `wav`. NotFound when
    /// the call is missing or another tenant's; Conflict when the id or path
    /// is taken.
    pub async fn insert_recording(&self, tenant_id: &str, new: &NewRecording) -> Result<Recording> {
        validate(new)?;
        let now = now_ms();
        let res = sqlx::query(
            "INSERT INTO recordings (id, tenant_id, call_id, path, format, sample_rate, \
             channels, duration_ms, bytes, status, started_at, created_at, node_id) \
             SELECT $1, tenant_id, id, $2, $3, $4, $5, 0, 0, $6, $7, $8, $11 \
             FROM calls WHERE id = $9 AND tenant_id = $10",
        )
        .bind(new.id.as_str())
        .bind(new.path.as_str())
        .bind(RECORDING_FORMAT_WAV)
        .bind(i64::from(new.sample_rate))
        .bind(i64::from(new.channels))
        .bind(RecordingStatus::Recording.as_str())
        .bind(new.started_at)
        .bind(now)
        .bind(new.call_id.as_str())
        .bind(tenant_id)
        .bind(self.node_id())
        .execute(&self.pool)
        .await
        .map_err(|e| StorageError::from_write(e, "recording id or path"))?;
        if res.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        Ok(Recording {
            id: new.id.clone(),
            tenant_id: tenant_id.to_owned(),
            call_id: new.call_id.clone(),
            path: new.path.clone(),
            format: RECORDING_FORMAT_WAV.to_owned(),
            sample_rate: i64::from(new.sample_rate),
            channels: i64::from(new.channels),
            duration_ms: 0,
            bytes: 0,
            status: RecordingStatus::Recording,
            started_at: new.started_at,
            ended_at: None,
            created_at: now,
        })
    }

    /// Sets the final duration, size and end time and status `complete`.
    /// NotFound when missing or another tenant's.
    pub async fn finish_recording(
        &self,
        tenant_id: &str,
        id: &str,
        duration_ms: i64,
        bytes: i64,
        ended_at: i64,
    ) -> Result<Recording> {
        self.close_recording(
            tenant_id,
            id,
            duration_ms,
            bytes,
            ended_at,
            RecordingStatus::Complete,
        )
        .await
    }

    /// Like [`Store::finish_recording`] with status `repaired`, for a file
    /// recovered after a crash (`ended_at`: e.g. the file's modification time).
    pub async fn mark_recording_repaired(
        &self,
        tenant_id: &str,
        id: &str,
        duration_ms: i64,
        bytes: i64,
        ended_at: i64,
    ) -> Result<Recording> {
        self.close_recording(
            tenant_id,
            id,
            duration_ms,
            bytes,
            ended_at,
            RecordingStatus::Repaired,
        )
        .await
    }

    async fn close_recording(
        &self,
        tenant_id: &str,
        id: &str,
        duration_ms: i64,
        bytes: i64,
        ended_at: i64,
        status: RecordingStatus,
    ) -> Result<Recording> {
        non_negative(duration_ms, "duration_ms")?;
        non_negative(bytes, "bytes")?;
        let sql = format!(
            "UPDATE recordings SET duration_ms = $1, bytes = $2, ended_at = $3, status = $4 \
             WHERE id = $5 AND tenant_id = $6 RETURNING {COLS}"
        );
        let row = sqlx::query(&sql)
            .bind(duration_ms)
            .bind(bytes)
            .bind(ended_at)
            .bind(status.as_str())
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StorageError::NotFound)?;
        from_row(&row)
    }

    /// The recordings of the tenant's call, oldest first. NotFound when the
    /// call is missing or another tenant's (an existing call without
    /// recordings gives an empty list).
    pub async fn list_call_recordings(
        &self,
        tenant_id: &str,
        call_id: &str,
    ) -> Result<Vec<Recording>> {
        sqlx::query("SELECT id FROM calls WHERE id = $1 AND tenant_id = $2")
            .bind(call_id)
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StorageError::NotFound)?;
        let sql = format!(
            "SELECT {COLS} FROM recordings WHERE call_id = $1 AND tenant_id = $2 \
             ORDER BY started_at, id"
        );
        let rows = sqlx::query(&sql)
            .bind(call_id)
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// One recording of the tenant; NotFound if missing or another tenant's.
    pub async fn get_recording(&self, tenant_id: &str, id: &str) -> Result<Recording> {
        let sql = format!("SELECT {COLS} FROM recordings WHERE id = $1 AND tenant_id = $2");
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StorageError::NotFound)?;
        from_row(&row)
    }

    /// Deletes the row of one recording of the tenant (not its file); false
    /// when missing or another tenant's.
    pub async fn delete_recording(&self, tenant_id: &str, id: &str) -> Result<bool> {
        let res = sqlx::query("DELETE FROM recordings WHERE id = $1 AND tenant_id = $2")
            .bind(id)
            .bind(tenant_id)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() > 0)
    }

    /// Every recording of this node ([`Store::with_node_id`]; and of no node) still in
    /// status `recording`, of all tenants, oldest first: at start, these were interrupted
    /// and need repair. Other nodes' recordings in progress are theirs, and live.
    pub async fn list_recordings_in_progress(&self) -> Result<Vec<Recording>> {
        let sql = format!(
            "SELECT {COLS} FROM recordings WHERE status = $1 \
             AND (node_id IS NULL OR node_id = $2) ORDER BY started_at, id"
        );
        let rows = sqlx::query(&sql)
            .bind(RecordingStatus::Recording.as_str())
            .bind(self.node_id())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// Recordings of all tenants that ended strictly before `before_ms`
    /// (unix ms), oldest end first, at most `limit` (capped at
    /// [`MAX_LIST_RECORDINGS`]): candidates for retention cleanup. Recordings
    /// still in progress are never listed, nor those of other nodes (their files are on
    /// those nodes' disks).
    pub async fn list_expired_recordings(
        &self,
        before_ms: i64,
        limit: u32,
    ) -> Result<Vec<Recording>> {
        let limit = limit.min(MAX_LIST_RECORDINGS);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {COLS} FROM recordings WHERE ended_at IS NOT NULL AND ended_at < $1 \
             AND status <> $2 AND (node_id IS NULL OR node_id = $4) \
             ORDER BY ended_at, id LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(before_ms)
            .bind(RecordingStatus::Recording.as_str())
            .bind(i64::from(limit))
            .bind(self.node_id())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(from_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_statuses() {
        for ok in ["recordings/t/a.wav", "a.wav", "x/y-z_1.wav"] {
            assert!(relative_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x.wav",
            "a/../b.wav",
            "a//b.wav",
            "./a.wav",
            "a\\b.wav",
            "c:x.wav",
            "a/\n.wav",
        ] {
            assert!(relative_path(bad).is_err(), "{bad:?}");
        }
        for s in [
            RecordingStatus::Recording,
            RecordingStatus::Complete,
            RecordingStatus::Repaired,
        ] {
            assert_eq!(RecordingStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(RecordingStatus::parse("deleted"), None);
    }
}
