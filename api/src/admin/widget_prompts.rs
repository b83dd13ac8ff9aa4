//! A widget's own prompts and hold music: uploads that win over the tenant's (and the shipped
//! defaults) for that widget's calls.
//!
//! - `GET /api/v1/widgets/{id}/prompts` (`widgets:read`): every kind (`holdMusic`,
//!   `unavailable`, `acceptPrompt`, `ringtone`) with `source`: `widget` (this widget's upload), `tenant`
//!   (the tenant's upload, [`crate::prompts`]) or `default`.
//! - `PUT /api/v1/widgets/{id}/prompts/{kind}` (`widgets:write`), one of:
//!   - `multipart/form-data` with the WAV in a part named `file`;
//!   - the raw WAV (`audio/wav`, `audio/x-wav`, `audio/wave`, `application/octet-stream`);
//!   - `application/json` `{"url": "https://..."}`: Ringside fetches the WAV (http/https, no
//!     redirects, 10 s, at most 10 MiB; addresses that are loopback, private, link-local or
//!     otherwise not public are refused unless `RINGSIDE_ALLOW_PRIVATE_FETCH`; see [`crate::outbound`]).
//!
//!   413 over 10 MiB, 415 another content type, 422 `invalid_audio` for a file that is not a
//!   usable WAV, 422 `invalid_field` for a bad URL; the previous prompt stays in force.
//! - `GET /api/v1/widgets/{id}/prompts/{kind}/audio` (`widgets:read`): the WAV in force.
//! - `DELETE /api/v1/widgets/{id}/prompts/{kind}` (`widgets:write`): back to the tenant's or
//!   the default, 204; 404 without an upload.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::auth::{Scoped, WidgetsRead, WidgetsWrite};
use crate::openapi::{Auth, Body, DocRouter, Spec};
use crate::prompts::{
    blocking, wav_response, PromptInfo, PromptKind, PromptSource, MAX_UPLOAD_BYTES,
};
use crate::{ApiError, AppState};

/// What the widget prompt endpoints use of the application state.
#[derive(Clone)]
pub struct WidgetPromptsState {
    store: ringside_storage::Store,
    prompts: std::sync::Arc<dyn crate::PromptStore>,
    widget_prompts: std::sync::Arc<dyn crate::PromptStore>,
    fetch_policy: crate::outbound::FetchPolicy,
}

impl axum::extract::FromRef<AppState> for WidgetPromptsState {
    fn from_ref(st: &AppState) -> Self {
        WidgetPromptsState {
            store: st.store.clone(),
            prompts: st.prompts.clone(),
            widget_prompts: st.widget_prompts.clone(),
            fetch_policy: st.fetch_policy,
        }
    }
}

/// How long an import may take.
const IMPORT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn routes() -> DocRouter {
    const T: &str = "Widgets";
    let (r, w) = (Auth::Scope("widgets:read"), Auth::Scope("widgets:write"));
    DocRouter::new("/api/v1")
        .get(
            "/widgets/{id}/prompts",
            list,
            Spec::new(
                T,
                r,
                "A widget's prompts and hold music (widget upload, tenant upload or default)",
            )
            .returns::<Vec<WidgetPromptView>>(),
        )
        .route(
            "/widgets/{id}/prompts/{kind}",
            axum::routing::put(upload)
                .delete(remove)
                .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES + 64 * 1024)),
            &[
                (
                    "put",
                    Spec::new(
                        T,
                        w,
                        "Upload a WAV for the widget (multipart part `file`, raw audio/wav, or \
                         JSON {url} to import) overriding holdMusic, unavailable, acceptPrompt or ringtone",
                    )
                    .body(Body::Json("multipart file, raw WAV, or {url}"))
                    .takes::<Import>()
                    .returns::<WidgetPromptView>(),
                ),
                (
                    "delete",
                    Spec::new(T, w, "Remove the widget's upload")
                        .ok(204, "Removed")
                        .content(""),
                ),
            ],
        )
        .get(
            "/widgets/{id}/prompts/{kind}/audio",
            audio,
            Spec::new(T, r, "The widget's prompt in force, as WAV").content("audio/wav"),
        )
}

/// A widget prompt as the API shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WidgetPromptView {
    /// Which prompt.
    #[schemars(extend("enum" = ["holdMusic", "unavailable", "acceptPrompt", "ringtone"]))]
    kind: &'static str,
    /// Whose file is in force: the widget's upload, the tenant's, or the shipped default.
    #[schemars(extend("enum" = ["widget", "tenant", "default"]))]
    source: &'static str,
    /// Its length.
    duration_ms: u64,
    /// The WAV's size.
    bytes: u64,
    /// Where to fetch the WAV in force (same bearer token).
    audio_url: String,
}

fn view(widget: &str, p: PromptInfo, source: &'static str) -> WidgetPromptView {
    WidgetPromptView {
        kind: p.kind.as_str(),
        source,
        duration_ms: p.duration_ms,
        bytes: p.bytes,
        audio_url: format!("/api/v1/widgets/{widget}/prompts/{}/audio", p.kind.as_str()),
    }
}

fn kind(s: &str) -> Result<PromptKind, ApiError> {
    PromptKind::parse(s).ok_or(ApiError::NotFound)
}

async fn list(
    Scoped(ctx, _): Scoped<WidgetsRead>,
    State(st): State<WidgetPromptsState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<WidgetPromptView>>, ApiError> {
    let w = st.store.get_widget(&ctx.tenant_id, &id).await?;
    let wid = w.id.clone();
    let mine = blocking(&st.widget_prompts, move |s| s.list(&wid)).await?;
    let tenant = ctx.tenant_id.clone();
    let theirs = blocking(&st.prompts, move |s| s.list(&tenant)).await?;
    let out = mine
        .into_iter()
        .zip(theirs)
        .map(|(m, t)| match (m.source, t.source) {
            (PromptSource::Custom, _) => view(&w.id, m, "widget"),
            (_, PromptSource::Custom) => view(&w.id, t, "tenant"),
            _ => view(&w.id, t, "default"),
        })
        .collect();
    Ok(Json(out))
}

/// `{"url": ...}` of an import.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Import {
    /// An http(s) URL of a WAV file to fetch (public addresses only).
    #[schemars(extend("format" = "uri"), example = &"https://shop.example/hold.wav")]
    url: String,
}

async fn upload(
    Scoped(ctx, _): Scoped<WidgetsWrite>,
    State(st): State<WidgetPromptsState>,
    Path((id, kind_name)): Path<(String, String)>,
    req: Request,
) -> Result<Json<WidgetPromptView>, ApiError> {
    let kind = kind(&kind_name)?;
    let w = st.store.get_widget(&ctx.tenant_id, &id).await?;
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let too_large = ApiError::PayloadTooLarge {
        limit: MAX_UPLOAD_BYTES as u64,
    };
    let wav: Vec<u8> = match ct.as_str() {
        "multipart/form-data" => {
            let mut mp = Multipart::from_request(req, &())
                .await
                .map_err(|e| ApiError::InvalidBody(e.body_text()))?;
            let mut file = None;
            while let Some(field) = mp
                .next_field()
                .await
                .map_err(|e| ApiError::InvalidBody(e.body_text()))?
            {
                if field.name() == Some("file") {
                    let b = field.bytes().await.map_err(|e| {
                        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                            ApiError::PayloadTooLarge {
                                limit: MAX_UPLOAD_BYTES as u64,
                            }
                        } else {
                            ApiError::InvalidBody(e.body_text())
                        }
                    })?;
                    file = Some(b.to_vec());
                }
            }
            file.ok_or(ApiError::InvalidField {
                field: "file",
                reason: "a multipart part named file holds the WAV",
            })?
        }
        "application/json" => {
            let Json(i) = Json::<Import>::from_request(req, &())
                .await
                .map_err(|e| ApiError::InvalidBody(e.body_text()))?;
            fetch(&i.url, st.fetch_policy).await?
        }
        "audio/wav" | "audio/x-wav" | "audio/wave" | "application/octet-stream" => {
            Bytes::from_request(req, &())
                .await
                .map_err(|e| {
                    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        ApiError::PayloadTooLarge {
                            limit: MAX_UPLOAD_BYTES as u64,
                        }
                    } else {
                        ApiError::InvalidBody(e.body_text())
                    }
                })?
                .to_vec()
        }
        _ => {
            return Err(ApiError::UnsupportedMediaType(
                "expected multipart/form-data, audio/wav or application/json {url}",
            ))
        }
    };
    if wav.len() > MAX_UPLOAD_BYTES {
        return Err(too_large);
    }
    let wid = w.id.clone();
    let info = blocking(&st.widget_prompts, move |s| s.set(&wid, kind, &wav)).await?;
    Ok(Json(view(&w.id, info, "widget")))
}

/// Fetch the WAV at `url` under the outbound-fetch policy ([`crate::outbound`]).
async fn fetch(url: &str, policy: crate::outbound::FetchPolicy) -> Result<Vec<u8>, ApiError> {
    use crate::outbound::Refusal;
    let bad = |reason: &'static str| ApiError::InvalidField {
        field: "url",
        reason,
    };
    let (u, _) = policy.check(url).await.map_err(|e| match e {
        Refusal::BadUrl(r) => bad(r),
        Refusal::NoAddress => bad("the host does not resolve"),
        Refusal::NotPublic => bad("the host is not a public address"),
    })?;
    // The client's resolver only yields addresses the policy allows; no redirects.
    let client = policy
        .client(
            IMPORT_TIMEOUT,
            concat!("Ringside/", env!("CARGO_PKG_VERSION")),
        )
        .map_err(|_| ApiError::Internal)?;
    let resp = client
        .get(u)
        .send()
        .await
        .map_err(|_| bad("the URL could not be fetched"))?;
    if !resp.status().is_success() {
        return Err(bad("the URL did not answer 200"));
    }
    crate::outbound::read_limited(resp, MAX_UPLOAD_BYTES)
        .await
        .map_err(|e| match e {
            crate::outbound::BodyError::TooLarge(_) => ApiError::PayloadTooLarge {
                limit: MAX_UPLOAD_BYTES as u64,
            },
            crate::outbound::BodyError::Broken => bad("the download failed"),
        })
}

async fn audio(
    Scoped(ctx, _): Scoped<WidgetsRead>,
    State(st): State<WidgetPromptsState>,
    Path((id, kind_name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let kind = kind(&kind_name)?;
    let w = st.store.get_widget(&ctx.tenant_id, &id).await?;
    let wid = w.id.clone();
    let mine = blocking(&st.widget_prompts, move |s| s.list(&wid)).await?;
    let custom = mine
        .iter()
        .any(|p| p.kind == kind && p.source == PromptSource::Custom);
    let wav = if custom {
        let wid = w.id.clone();
        blocking(&st.widget_prompts, move |s| s.audio(&wid, kind)).await?
    } else {
        let tenant = ctx.tenant_id.clone();
        blocking(&st.prompts, move |s| s.audio(&tenant, kind)).await?
    };
    Ok(wav_response(wav))
}

async fn remove(
    Scoped(ctx, _): Scoped<WidgetsWrite>,
    State(st): State<WidgetPromptsState>,
    Path((id, kind_name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let kind = kind(&kind_name)?;
    let w = st.store.get_widget(&ctx.tenant_id, &id).await?;
    let wid = w.id;
    if blocking(&st.widget_prompts, move |s| s.clear(&wid, kind)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}
