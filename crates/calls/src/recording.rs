//! Call recordings: stereo WAV files under the data dir, their rows in storage, repair of
//! files a crash interrupted, and retention cleanup.
//!
//! The media task writes frames straight into a [`RecordingWriter`] (streaming, header
//! updated every half second). Storage is touched from one task fed by a channel, so the row
//! of a recording is always inserted before it is finished, whatever the order in which calls
//! end.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use ringside_media::FrameSink;
use ringside_recordings::{RecordingError, RecordingWriter};
use ringside_storage::{new_id, NewRecording, Store};
use tokio::sync::mpsc;
use tracing::{info, warn};

enum RecOp {
    Start {
        tenant: String,
        new: NewRecording,
    },
    Finish {
        tenant: String,
        id: String,
        duration_ms: i64,
        bytes: i64,
        ended_at: i64,
    },
}

/// Starts recordings; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct Recorder {
    data_dir: PathBuf,
    ops: mpsc::UnboundedSender<RecOp>,
}

impl std::fmt::Debug for RecOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecOp::Start { new, .. } => write!(f, "Start({})", new.id),
            RecOp::Finish { id, .. } => write!(f, "Finish({id})"),
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Keeps only characters safe in a file name.
fn safe(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(64)
        .collect()
}

impl Recorder {
    /// A recorder writing under `data_dir/recordings`, with rows in `store`. Must be called
    /// inside a tokio runtime (it spawns the storage task).
    pub fn spawn(data_dir: PathBuf, store: Store) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<RecOp>();
        tokio::spawn(async move {
            while let Some(op) = rx.recv().await {
                let r = match &op {
                    RecOp::Start { tenant, new } => {
                        // The call's own record may not be stored yet (the core's writer
                        // stores records in batches, later under load): wait for it, up to
                        // 10 s, rather than lose the recording's row.
                        let mut tries = 0;
                        loop {
                            match store.insert_recording(tenant, new).await {
                                Err(ringside_storage::StorageError::NotFound) if tries < 40 => {
                                    tries += 1;
                                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                                }
                                r => break r.map(|_| ()),
                            }
                        }
                    }
                    RecOp::Finish {
                        tenant,
                        id,
                        duration_ms,
                        bytes,
                        ended_at,
                    } => store
                        .finish_recording(tenant, id, *duration_ms, *bytes, *ended_at)
                        .await
                        .map(|_| ()),
                };
                if let Err(e) = r {
                    warn!(error = %e, ?op, "recording metadata not stored");
                }
            }
        });
        Recorder { data_dir, ops: tx }
    }

    /// Starts a recording of `tenant_id`'s call `call_id` at `rate` Hz; returns the sink the
    /// media task writes into.
    pub fn start(
        &self,
        call_id: &str,
        tenant_id: &str,
        started_at_ms: i64,
        rate: u32,
    ) -> Result<Box<dyn FrameSink>, RecordingError> {
        let id = new_id();
        let rel = format!(
            "recordings/{}/{}-{}.wav",
            safe(tenant_id),
            safe(call_id),
            safe(&id)
        );
        let writer = RecordingWriter::create(self.data_dir.join(&rel), rate)?;
        let _ = self.ops.send(RecOp::Start {
            tenant: tenant_id.to_string(),
            new: NewRecording {
                id: id.clone(),
                call_id: call_id.to_string(),
                path: rel,
                sample_rate: rate,
                channels: 2,
                started_at: started_at_ms,
            },
        });
        Ok(Box::new(WavSink {
            writer: Some(writer),
            id,
            tenant: tenant_id.to_string(),
            ops: self.ops.clone(),
            failed: false,
        }))
    }
}

struct WavSink {
    writer: Option<RecordingWriter>,
    id: String,
    tenant: String,
    ops: mpsc::UnboundedSender<RecOp>,
    failed: bool,
}

impl FrameSink for WavSink {
    fn write(&mut self, left: &[i16], right: &[i16]) {
        let Some(w) = &mut self.writer else { return };
        if let Err(e) = w.write_frame(left, right) {
            if !self.failed {
                warn!(error = %e, id = %self.id, "recording write failed");
                self.failed = true;
            }
        }
    }

    fn finish(mut self: Box<Self>) {
        let Some(w) = self.writer.take() else { return };
        match w.finish() {
            Ok(s) => {
                let _ = self.ops.send(RecOp::Finish {
                    tenant: self.tenant.clone(),
                    id: self.id.clone(),
                    duration_ms: s.duration_ms as i64,
                    bytes: s.bytes as i64,
                    ended_at: now_ms(),
                });
            }
            Err(e) => warn!(error = %e, id = %self.id, "recording not finished"),
        }
    }
}

/// Repairs recordings a crash left in progress: fixes each file's header to the audio on disk
/// and marks the row `repaired`. Returns how many were repaired.
pub async fn repair_interrupted(data_dir: &Path, store: &Store) -> usize {
    let list = match store.list_recordings_in_progress().await {
        Ok(l) => l,
        Err(e) => {
            warn!(error = %e, "cannot list interrupted recordings");
            return 0;
        }
    };
    let mut n = 0;
    for r in list {
        let path = data_dir.join(&r.path);
        let p = path.clone();
        let outcome = tokio::task::spawn_blocking(move || ringside_recordings::repair(p)).await;
        let (duration_ms, bytes) = match outcome {
            Ok(Ok(o)) => (o.duration_ms as i64, o.bytes as i64),
            Ok(Err(e)) => {
                warn!(error = %e, id = %r.id, "recording could not be repaired");
                (0, 0)
            }
            Err(_) => continue,
        };
        let ended_at = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or_else(now_ms, |d| d.as_millis() as i64);
        match store
            .mark_recording_repaired(&r.tenant_id, &r.id, duration_ms, bytes, ended_at)
            .await
        {
            Ok(_) => {
                info!(id = %r.id, duration_ms, "interrupted recording repaired");
                n += 1;
            }
            Err(e) => warn!(error = %e, id = %r.id, "repaired recording not stored"),
        }
    }
    n
}

/// Deletes recordings (files and rows) that ended more than `retention_days` ago. Returns how
/// many were deleted. A retention of 0 keeps everything.
pub async fn cleanup_expired(data_dir: &Path, store: &Store, retention_days: u32) -> usize {
    let Some(cutoff) = ringside_recordings::retention::cutoff_ms(retention_days, now_ms()) else {
        return 0;
    };
    let mut n = 0;
    loop {
        let list = match store.list_expired_recordings(cutoff, 100).await {
            Ok(l) => l,
            Err(e) => {
                warn!(error = %e, "cannot list expired recordings");
                return n;
            }
        };
        if list.is_empty() {
            return n;
        }
        for r in list {
            let path = data_dir.join(&r.path);
            if let Err(e) = tokio::fs::remove_file(&path).await {
                if e.kind() != std::io::ErrorKind::NotFound {
                    warn!(error = %e, id = %r.id, "expired recording file not removed");
                    return n;
                }
            }
            match store.delete_recording(&r.tenant_id, &r.id).await {
                Ok(_) => n += 1,
                Err(e) => {
                    warn!(error = %e, id = %r.id, "expired recording row not removed");
                    return n;
                }
            }
        }
    }
}
