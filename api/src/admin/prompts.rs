//! A tenant's prompts and hold music: uploaded WAV files replacing the deployment's defaults
//! for the tenant's calls.
//!
//! - `GET /api/v1/media/prompts` (`widgets:read`): the three kinds (`holdMusic`,
//!   `unavailable`, `acceptPrompt`, `ringtone`) with `source` (`default` or `custom`), `durationMs` and
//!   `bytes`.
//! - `PUT /api/v1/media/prompts/{kind}` (`widgets:write`): the raw WAV file as the body
//!   (`Content-Type: audio/wav`, `audio/x-wav`, `audio/wave` or `application/octet-stream`,
//!   at most [`MAX_UPLOAD_BYTES`]). Answers the new entry; 413 `payload_too_large` over the limit, 415
//!   `unsupported_media_type` for another content type, 422 `invalid_audio` for a file that is
//!   not a usable WAV (the previous prompt stays in force).
//! - `GET /api/v1/media/prompts/{kind}/audio` (`widgets:read`): the WAV in force (`audio/wav`).
//! - `DELETE /api/v1/media/prompts/{kind}` (`widgets:write`): back to the default, 204; 404 if
//!   the tenant had no upload for that kind.
//!
//! An unknown kind answers 404. The files themselves live behind the narrow [`PromptStore`]
//! port of ringside-domain (implemented by the media crate's asset registry), so the API
//! knows nothing about WAV decoding or where prompts are kept.

use std::borrow::Cow;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::auth::{Scoped, WidgetsRead, WidgetsWrite};
use crate::openapi::{Auth, Body, DocRouter, Spec};
use crate::{ApiError, AppState};

/// What the prompt handlers use of the application state.
#[derive(Clone)]
pub struct Prompts {
    prompts: Arc<dyn PromptStore>,
}

impl axum::extract::FromRef<AppState> for Prompts {
    fn from_ref(st: &AppState) -> Self {
        Prompts {
            prompts: st.prompts.clone(),
        }
    }
}

/// Largest accepted upload, in bytes (10 MiB).
pub const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;

/// Content types accepted for uploads.
const WAV_TYPES: &[&str] = &[
    "audio/wav",
    "audio/x-wav",
    "audio/wave",
    "application/octet-stream",
];

pub use ringside_domain::prompts::{
    PromptInfo, PromptKind, PromptSource, PromptStore, PromptStoreError,
};

impl From<PromptStoreError> for ApiError {
    fn from(e: PromptStoreError) -> Self {
        match e {
            PromptStoreError::TooLarge { limit } => ApiError::PayloadTooLarge { limit },
            PromptStoreError::InvalidAudio(why) => ApiError::InvalidAudio(why),
            PromptStoreError::Internal(why) => {
                tracing::error!(error = %why, "prompt storage error");
                ApiError::Internal
            }
        }
    }
}

pub(crate) fn routes() -> DocRouter {
    const T: &str = "Media";
    let (r, w) = (Auth::Scope("widgets:read"), Auth::Scope("widgets:write"));
    DocRouter::new("/api/v1")
        .get(
            "/media/prompts",
            list,
            Spec::new(
                T,
                r,
                "The tenant's prompts and hold music (uploaded or default)",
            )
            .returns::<Vec<PromptView>>(),
        )
        .route(
            "/media/prompts/{kind}",
            axum::routing::put(upload)
                .delete(remove)
                .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
            &[
                (
                    "put",
                    Spec::new(
                        T,
                        w,
                        "Upload a WAV overriding a prompt (hold_music, unavailable, accept_prompt)",
                    )
                    .body(Body::Wav)
                    .returns::<PromptView>(),
                ),
                (
                    "delete",
                    Spec::new(T, w, "Go back to the shipped default")
                        .ok(204, "Reset")
                        .content(""),
                ),
            ],
        )
        .get(
            "/media/prompts/{kind}/audio",
            audio,
            Spec::new(T, r, "The prompt's audio as WAV").content("audio/wav"),
        )
}

/// A prompt as the API shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromptView {
    /// Which prompt.
    #[schemars(extend("enum" = ["holdMusic", "unavailable", "acceptPrompt", "ringtone"]))]
    kind: &'static str,
    /// `custom` (the tenant's upload) or `default` (shipped).
    #[schemars(extend("enum" = ["default", "custom"]))]
    source: &'static str,
    /// Its length.
    duration_ms: u64,
    /// The WAV's size.
    bytes: u64,
    /// Where to fetch the WAV (same bearer token).
    #[schemars(example = &"/api/v1/media/prompts/holdMusic/audio")]
    audio_url: String,
}

impl From<PromptInfo> for PromptView {
    fn from(p: PromptInfo) -> Self {
        PromptView {
            kind: p.kind.as_str(),
            source: p.source.as_str(),
            duration_ms: p.duration_ms,
            bytes: p.bytes,
            audio_url: format!("/api/v1/media/prompts/{}/audio", p.kind.as_str()),
        }
    }
}

/// Runs a (possibly blocking) store call on the blocking pool.
pub(crate) async fn blocking<T, F>(store: &Arc<dyn PromptStore>, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&dyn PromptStore) -> Result<T, PromptStoreError> + Send + 'static,
{
    let store = Arc::clone(store);
    match tokio::task::spawn_blocking(move || f(store.as_ref())).await {
        Ok(r) => Ok(r?),
        Err(e) => {
            tracing::error!(error = %e, "prompt store task failed");
            Err(ApiError::Internal)
        }
    }
}

fn kind(s: &str) -> Result<PromptKind, ApiError> {
    PromptKind::parse(s).ok_or(ApiError::NotFound)
}

async fn list(
    Scoped(ctx, _): Scoped<WidgetsRead>,
    State(st): State<Prompts>,
) -> Result<Json<Vec<PromptView>>, ApiError> {
    let tenant = ctx.tenant_id;
    let infos = blocking(&st.prompts, move |s| s.list(&tenant)).await?;
    Ok(Json(infos.into_iter().map(Into::into).collect()))
}

async fn upload(
    Scoped(ctx, _): Scoped<WidgetsWrite>,
    State(st): State<Prompts>,
    Path(kind_name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PromptView>, ApiError> {
    let kind = kind(&kind_name)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if !content_type
        .as_deref()
        .is_some_and(|t| WAV_TYPES.contains(&t))
    {
        return Err(ApiError::UnsupportedMediaType(
            "expected Content-Type: audio/wav, audio/x-wav or application/octet-stream",
        ));
    }
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Err(ApiError::PayloadTooLarge {
                limit: MAX_UPLOAD_BYTES as u64,
            })
        }
        Err(e) => return Err(ApiError::InvalidBody(e.body_text())),
    };
    if body.len() > MAX_UPLOAD_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_UPLOAD_BYTES as u64,
        });
    }
    let tenant = ctx.tenant_id;
    let info = blocking(&st.prompts, move |s| s.set(&tenant, kind, &body)).await?;
    Ok(Json(info.into()))
}

async fn audio(
    Scoped(ctx, _): Scoped<WidgetsRead>,
    State(st): State<Prompts>,
    Path(kind_name): Path<String>,
) -> Result<Response, ApiError> {
    let kind = kind(&kind_name)?;
    let tenant = ctx.tenant_id;
    let wav = blocking(&st.prompts, move |s| s.audio(&tenant, kind)).await?;
    Ok(wav_response(wav))
}

/// A prompt's WAV as a response (`audio/wav`, not cached: uploads replace it).
pub(crate) fn wav_response(wav: Cow<'static, [u8]>) -> Response {
    let body = match wav {
        Cow::Borrowed(b) => Bytes::from_static(b),
        Cow::Owned(v) => Bytes::from(v),
    };
    (
        [
            (header::CONTENT_TYPE, "audio/wav"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn remove(
    Scoped(ctx, _): Scoped<WidgetsWrite>,
    State(st): State<Prompts>,
    Path(kind_name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let kind = kind(&kind_name)?;
    let tenant = ctx.tenant_id;
    if blocking(&st.prompts, move |s| s.clear(&tenant, kind)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}
