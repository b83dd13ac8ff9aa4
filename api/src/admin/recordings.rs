//! Call recordings: listing, metadata, download (with single byte ranges) and deletion.
//!
//! - `GET /api/v1/calls/{id}/recordings` (`calls:read`): the call's recordings, oldest first.
//! - `GET /api/v1/recordings/{id}` (`calls:read`): one recording.
//! - `GET /api/v1/recordings/{id}/download` (`calls:read`): the WAV file, streamed from disk
//!   as `audio/wav` with `Accept-Ranges: bytes`. One range `bytes=a-b`, `bytes=a-` or
//!   `bytes=-n` answers 206 with `Content-Range`; an unsatisfiable one 416 with
//!   `Content-Range: bytes */len`; several ranges or a malformed header are ignored (200, whole
//!   file). A recording still in progress serves what is on disk at request time.
//! - `DELETE /api/v1/recordings/{id}` (`calls:write`): removes the file, then the row; 204.
//!
//! Another tenant's call or recording answers 404. Recording paths are stored relative to
//! [`AppState::data_dir`].

use std::io::SeekFrom;
use std::path::{Component, Path, PathBuf};

use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ringside_storage::Recording;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::auth::{CallsRead, CallsWrite, Scoped};
use crate::openapi::{Auth, DocRouter, Spec};
use crate::{ApiError, AppState};

/// What the recording handlers use of the application state.
#[derive(Clone)]
pub struct Recordings {
    store: ringside_storage::Store,
    data_dir: std::path::PathBuf,
}

impl axum::extract::FromRef<AppState> for Recordings {
    fn from_ref(st: &AppState) -> Self {
        Recordings {
            store: st.store.clone(),
            data_dir: st.data_dir.clone(),
        }
    }
}

/// Bytes read from disk per body chunk.
const CHUNK: usize = 64 * 1024;

pub(crate) fn routes() -> DocRouter {
    const T: &str = "Recordings";
    let r = Auth::Scope("calls:read");
    DocRouter::new("/api/v1")
        .get(
            "/calls/{id}/recordings",
            list_for_call,
            Spec::new(T, r, "Recordings of a call").returns::<Vec<RecordingView>>(),
        )
        .get(
            "/recordings/{id}",
            get_recording,
            Spec::new(T, r, "One recording's metadata").returns::<RecordingView>(),
        )
        .delete(
            "/recordings/{id}",
            delete_recording,
            Spec::new(
                T,
                Auth::Scope("calls:write"),
                "Delete a recording and its file",
            )
            .ok(204, "Deleted")
            .content(""),
        )
        .get(
            "/recordings/{id}/download",
            download,
            Spec::new(
                T,
                r,
                "Download the stereo WAV (single byte ranges: 206, 416)",
            )
            .content("audio/wav"),
        )
}

/// A recording as the API shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordingView {
    id: String,
    call_id: String,
    format: String,
    status: &'static str,
    sample_rate: i64,
    channels: i64,
    duration_ms: i64,
    bytes: i64,
    started_at: i64,
    ended_at: Option<i64>,
    download_url: String,
}

impl From<Recording> for RecordingView {
    fn from(r: Recording) -> Self {
        RecordingView {
            download_url: format!("/api/v1/recordings/{}/download", r.id),
            id: r.id,
            call_id: r.call_id,
            format: r.format,
            status: r.status.as_str(),
            sample_rate: r.sample_rate,
            channels: r.channels,
            duration_ms: r.duration_ms,
            bytes: r.bytes,
            started_at: r.started_at,
            ended_at: r.ended_at,
        }
    }
}

async fn list_for_call(
    Scoped(ctx, _): Scoped<CallsRead>,
    State(st): State<Recordings>,
    UrlPath(call_id): UrlPath<String>,
) -> Result<Json<Vec<RecordingView>>, ApiError> {
    let recs = st
        .store
        .list_call_recordings(&ctx.tenant_id, &call_id)
        .await?;
    Ok(Json(recs.into_iter().map(Into::into).collect()))
}

async fn get_recording(
    Scoped(ctx, _): Scoped<CallsRead>,
    State(st): State<Recordings>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<RecordingView>, ApiError> {
    Ok(Json(
        st.store.get_recording(&ctx.tenant_id, &id).await?.into(),
    ))
}

/// The file of a recording: `data_dir` joined with its stored relative path, which must
/// consist of plain components only (never escaping `data_dir`).
fn file_path(data_dir: &Path, rec: &Recording) -> Result<PathBuf, ApiError> {
    let rel = Path::new(&rec.path);
    if rel.as_os_str().is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        tracing::error!(recording = %rec.id, path = %rec.path, "unsafe recording path");
        return Err(ApiError::Internal);
    }
    Ok(data_dir.join(rel))
}

/// A byte range to serve, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeReq {
    /// No usable Range header: the whole file, 200.
    Full,
    /// One satisfiable range `start..=end`, 206.
    Partial(u64, u64),
    /// A well-formed single range that the file cannot satisfy, 416.
    Unsatisfiable,
}

/// Interprets a `Range` header against a file of `len` bytes. Only single `bytes=` ranges are
/// honoured; anything else (other units, several ranges, bad syntax) is ignored, as RFC 9110
/// allows.
fn parse_range(value: Option<&HeaderValue>, len: u64) -> RangeReq {
    let Some(spec) = value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return RangeReq::Full;
    };
    if spec.contains(',') {
        return RangeReq::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeReq::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            // Absurdly long numbers saturate: they are past any end.
            Some(s.parse().unwrap_or(u64::MAX))
        }
    };
    match (a.is_empty(), b.is_empty()) {
        // bytes=-n: the last n bytes.
        (true, false) => match num(b) {
            Some(0) => RangeReq::Unsatisfiable,
            Some(_) if len == 0 => RangeReq::Unsatisfiable,
            Some(n) => RangeReq::Partial(len.saturating_sub(n), len - 1),
            None => RangeReq::Full,
        },
        // bytes=a-: from a to the end.
        (false, true) => match num(a) {
            Some(start) if start < len => RangeReq::Partial(start, len - 1),
            Some(_) => RangeReq::Unsatisfiable,
            None => RangeReq::Full,
        },
        // bytes=a-b.
        (false, false) => match (num(a), num(b)) {
            (Some(start), Some(end)) if start <= end => {
                if start < len {
                    RangeReq::Partial(start, end.min(len - 1))
                } else {
                    RangeReq::Unsatisfiable
                }
            }
            _ => RangeReq::Full,
        },
        (true, true) => RangeReq::Full,
    }
}

async fn download(
    Scoped(ctx, _): Scoped<CallsRead>,
    State(st): State<Recordings>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let rec = st.store.get_recording(&ctx.tenant_id, &id).await?;
    let path = file_path(&st.data_dir, &rec)?;
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(recording = %rec.id, path = %path.display(), "recording file missing");
            return Err(ApiError::NotFound);
        }
        Err(e) => {
            tracing::error!(recording = %rec.id, path = %path.display(), error = %e, "opening recording");
            return Err(ApiError::Internal);
        }
    };
    let len = file
        .metadata()
        .await
        .map_err(|e| {
            tracing::error!(recording = %rec.id, error = %e, "reading recording metadata");
            ApiError::Internal
        })?
        .len();
    let (status, start, count) = match parse_range(headers.get(header::RANGE), len) {
        RangeReq::Full => (StatusCode::OK, 0, len),
        RangeReq::Partial(a, b) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1),
        RangeReq::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable { len }),
    };
    if start > 0 {
        file.seek(SeekFrom::Start(start)).await.map_err(|e| {
            tracing::error!(recording = %rec.id, error = %e, "seeking in recording");
            ApiError::Internal
        })?;
    }
    let reader = file.take(count);
    let stream = futures_util::stream::try_unfold(reader, |mut reader| async move {
        let want = usize::try_from(reader.limit()).unwrap_or(CHUNK).min(CHUNK);
        if want == 0 {
            return Ok(None);
        }
        let mut buf = vec![0u8; want];
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            // The file shrank under us: end the body short (the client sees it).
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "recording file shrank during download",
            ));
        }
        buf.truncate(n);
        Ok::<_, std::io::Error>(Some((Bytes::from(buf), reader)))
    });

    let mut resp = Response::new(Body::from_stream(stream));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}.wav\"", rec.id)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if status == StatusCode::PARTIAL_CONTENT {
        let range = format!("bytes {}-{}/{}", start, start + count - 1, len);
        if let Ok(v) = HeaderValue::from_str(&range) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(resp)
}

async fn delete_recording(
    Scoped(ctx, _): Scoped<CallsWrite>,
    State(st): State<Recordings>,
    UrlPath(id): UrlPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    // Agents answer calls; deleting what was recorded is for owners and admins.
    if ctx.role == ringside_storage::Role::Agent {
        return Err(ApiError::RoleForbidden("owners and admins"));
    }
    let rec = st.store.get_recording(&ctx.tenant_id, &id).await?;
    let path = file_path(&st.data_dir, &rec)?;
    // File first: if this fails the row stays, and the delete can be retried.
    match tokio::fs::remove_file(&path).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::error!(recording = %rec.id, path = %path.display(), error = %e, "deleting recording file");
            return Err(ApiError::Internal);
        }
    }
    if !st.store.delete_recording(&ctx.tenant_id, &id).await? {
        return Err(ApiError::NotFound);
    }
    tracing::info!(recording = %rec.id, call = %rec.call_id, "recording deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(v: &str, len: u64) -> RangeReq {
        parse_range(Some(&HeaderValue::from_str(v).unwrap()), len)
    }

    #[test]
    fn ranges() {
        use RangeReq::*;
        assert_eq!(parse_range(None, 10), Full);
        assert_eq!(r("bytes=0-0", 10), Partial(0, 0));
        assert_eq!(r("bytes=2-5", 10), Partial(2, 5));
        assert_eq!(r("bytes=2-500", 10), Partial(2, 9));
        assert_eq!(r("bytes=7-", 10), Partial(7, 9));
        assert_eq!(r("bytes=-3", 10), Partial(7, 9));
        assert_eq!(r("bytes=-30", 10), Partial(0, 9));
        assert_eq!(r("bytes=10-", 10), Unsatisfiable);
        assert_eq!(r("bytes=10-20", 10), Unsatisfiable);
        assert_eq!(r("bytes=-0", 10), Unsatisfiable);
        assert_eq!(r("bytes=-5", 0), Unsatisfiable);
        assert_eq!(r("bytes=0-", 0), Unsatisfiable);
        assert_eq!(r("bytes=99999999999999999999999-", 10), Unsatisfiable);
        assert_eq!(r("bytes=5-2", 10), Full);
        assert_eq!(r("bytes=0-1,3-4", 10), Full);
        assert_eq!(r("bytes=a-b", 10), Full);
        assert_eq!(r("bytes=-", 10), Full);
        assert_eq!(r("items=0-1", 10), Full);
        assert_eq!(r("bytes=+1-2", 10), Full);
    }

    #[test]
    fn paths_stay_inside_the_data_dir() {
        let rec = |p: &str| Recording {
            id: "r".into(),
            tenant_id: "t".into(),
            call_id: "c".into(),
            path: p.into(),
            format: "wav".into(),
            sample_rate: 8000,
            channels: 2,
            duration_ms: 0,
            bytes: 0,
            status: ringside_storage::RecordingStatus::Complete,
            started_at: 0,
            ended_at: None,
            created_at: 0,
        };
        let dir = Path::new("/data");
        assert_eq!(
            file_path(dir, &rec("recordings/a.wav")).unwrap(),
            Path::new("/data/recordings/a.wav")
        );
        for bad in ["/etc/passwd", "../x.wav", "a/../../x", "./a.wav", ""] {
            assert!(file_path(dir, &rec(bad)).is_err(), "{bad}");
        }
    }
}
