//! A widget's knowledge base: what the assistant answers from.
//!
//! - `GET /api/v1/widgets/{id}/knowledge/sources` (`widgets:read`): the sources with their
//!   `status` (`pending`, `indexing`, `ready`, `failed` with a `reason`) and passage counts.
//! - `POST /api/v1/widgets/{id}/knowledge/sources` (`widgets:write`), 201 with the source:
//!   - JSON `{"type": "text", "title"?, "text", "lang"?}` or `{"type": "qa", "question",
//!     "answer", "lang"?}`: indexed at once (`ready`);
//!   - JSON `{"type": "url" | "sitemap", "url", "lang"?}`: the address must be on one of the
//!     widget's allowed domains; `pending` until the crawler ([`crawl`]) has fetched it;
//!   - `multipart/form-data` with a `file` part (Markdown, HTML, plain text or PDF, at most
//!     [`MAX_UPLOAD_BYTES`]) and optional `title` and `lang` parts: indexed at once, or
//!     `failed` with a reason when no text could be read from it.
//! - `GET /api/v1/widgets/{id}/knowledge/sources/{sourceId}`: one source, with the pages a
//!   crawl met (`indexed`, `unchanged` or `skipped` with a reason).
//! - `DELETE .../sources/{sourceId}`: 204; its passages leave the index at once.
//! - `POST .../sources/{sourceId}/refresh`: a crawl again (`url`, `sitemap`; 409 for other
//!   kinds), 202 with the source `pending`.
//! - `GET /api/v1/widgets/{id}/knowledge/search?q=&limit=` (`widgets:read`): the passages the
//!   assistant would read, and the answer it would give without a model.
//! - `GET|PUT /api/v1/widgets/{id}/knowledge/profile`: the company profile (name, what the
//!   business does, hours, phone, email, address, website) that answers the common questions
//!   the knowledge base does not.
//!
//! Changes are limited per tenant (a burst of 30, then 2 a second) and so are searches (50,
//! then 20 a second): 429 `rate_limited` with `Retry-After` beyond that.

pub mod crawl;
mod service;

pub use service::{Knowledge, SyncReport};

use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::Json;
use ringside_knowledge::{html, text, Lang};
use ringside_storage::{KnowledgePage, KnowledgeSource, NewKnowledgeSource, StorageError};
use serde::{Deserialize, Serialize};

use crate::auth::{Scoped, WidgetsRead, WidgetsWrite};
use crate::extract::ApiJson;
use crate::openapi::{Auth, Body, DataList, DocRouter, Spec};
use crate::{ApiError, AppState};

/// Largest uploaded document, in bytes.
pub const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;
/// Longest text source, in characters.
pub const MAX_TEXT_CHARS: usize = 200_000;
/// Longest Q/A question.
pub const MAX_QUESTION_CHARS: usize = 500;
/// Longest Q/A answer.
pub const MAX_ANSWER_CHARS: usize = 4_000;
/// Longest title.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest profile field.
pub const MAX_PROFILE_CHARS: usize = 1_000;

pub(crate) fn routes() -> DocRouter {
    const T: &str = "Knowledge";
    let (r, w) = (Auth::Scope("widgets:read"), Auth::Scope("widgets:write"));
    DocRouter::new("/api/v1")
        .route(
            "/widgets/{id}/knowledge/sources",
            axum::routing::get(list)
                .post(create)
                .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES + 64 * 1024)),
            &[
                (
                    "get",
                    Spec::new(T, r, "A widget's knowledge sources with their status")
                        .returns::<DataList<KnowledgeSource>>(),
                ),
                (
                    "post",
                    Spec::new(
                        T,
                        w,
                        "Add a knowledge source: JSON {type: text|qa|url|sitemap, ...} or a \
                         multipart upload (part `file`: Markdown, HTML, text or PDF)",
                    )
                    .body(Body::Json("type and its fields, or multipart file"))
                    .takes::<NewSourceBody>()
                    .ok(201, "The source")
                    .returns::<KnowledgeSource>()
                    .also(&[
                        (413, "The upload is too large"),
                        (415, "Not JSON or multipart"),
                        (429, "Too many changes"),
                    ]),
                ),
            ],
        )
        .get(
            "/widgets/{id}/knowledge/sources/{source_id}",
            get_one,
            Spec::new(T, r, "A knowledge source with the pages its crawl met")
                .returns::<SourceDetail>(),
        )
        .delete(
            "/widgets/{id}/knowledge/sources/{source_id}",
            remove,
            Spec::new(
                T,
                w,
                "Delete a knowledge source (its passages leave the index)",
            )
            .ok(204, "Deleted")
            .content(""),
        )
        .post(
            "/widgets/{id}/knowledge/sources/{source_id}/refresh",
            refresh,
            Spec::new(T, w, "Crawl a url or sitemap source again")
                .ok(202, "The source, pending")
                .returns::<KnowledgeSource>()
                .also(&[
                    (409, "Not a url or sitemap source, or a crawl waits already"),
                    (429, "Too many changes"),
                ]),
        )
        .get(
            "/widgets/{id}/knowledge/search",
            search,
            Spec::new(
                T,
                r,
                "Search a widget's knowledge: the passages found and the answer without a model",
            )
            .returns::<SearchResult>()
            .also(&[(429, "Too many searches")]),
        )
        .get(
            "/widgets/{id}/knowledge/profile",
            get_profile,
            Spec::new(T, r, "The widget's company profile").returns::<Profile>(),
        )
        .put(
            "/widgets/{id}/knowledge/profile",
            put_profile,
            Spec::new(T, w, "Set the widget's company profile")
                .body(Body::Json(
                    "name?, description?, hours?, phone?, email?, address?, website?",
                ))
                .takes::<Profile>()
                .returns::<Profile>(),
        )
}

/// A new source (JSON).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSourceBody {
    /// `text`, `qa`, `url` or `sitemap`.
    #[serde(rename = "type")]
    #[schemars(extend("enum" = ["text", "qa", "url", "sitemap"]))]
    kind: String,
    /// `url`/`sitemap`: an http(s) address on one of the widget's allowed domains.
    #[serde(default)]
    #[schemars(example = &"https://shop.example/sitemap.xml")]
    url: Option<String>,
    /// `text`: a title (default: the text's first line).
    #[serde(default)]
    title: Option<String>,
    /// `text`: the text, 1-200000 characters.
    #[serde(default)]
    text: Option<String>,
    /// `qa`: the question, 1-500 characters.
    #[serde(default)]
    #[schemars(example = &"Do you ship to Portugal?")]
    question: Option<String>,
    /// `qa`: the answer, 1-4000 characters.
    #[serde(default)]
    #[schemars(example = &"Yes, in two working days.")]
    answer: Option<String>,
    /// ISO 639-1 language of the text (en, de, es, fr, it, nl, pt; default en, or a page's
    /// own `<html lang>`).
    #[serde(default)]
    #[schemars(example = &"en")]
    lang: Option<String>,
}

fn invalid(field: &'static str, reason: &'static str) -> ApiError {
    ApiError::InvalidField { field, reason }
}

/// Trimmed, 1..=max characters, no control characters other than line breaks and tabs.
fn text_field(
    v: Option<&str>,
    field: &'static str,
    max: usize,
    reason: &'static str,
) -> Result<String, ApiError> {
    let s = v.map(str::trim).unwrap_or("");
    if s.is_empty()
        || s.chars().count() > max
        || s.chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(invalid(field, reason));
    }
    Ok(s.to_owned())
}

fn lang_field(v: Option<&str>) -> Result<Option<Lang>, ApiError> {
    match v.map(str::trim) {
        None | Some("") => Ok(None),
        Some(l) => Lang::parse(l)
            .map(Some)
            .ok_or_else(|| invalid("lang", "one of en, de, es, fr, it, nl, pt")),
    }
}

fn storage(e: StorageError) -> ApiError {
    match e {
        StorageError::Invalid("sources") => {
            invalid("type", "a widget keeps at most 500 knowledge sources")
        }
        other => other.into(),
    }
}

/// Whether `url` is an http(s) address on one of `domains` (the widget's allowed domains).
pub(crate) fn on_allowed_domain(url: &reqwest::Url, domains: &[String]) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let port = url.port_or_known_default();
    domains
        .iter()
        .any(|d| crate::widgets::HostPattern::parse(d).is_some_and(|p| p.matches(&host, port)))
}

async fn list(
    Scoped(ctx, _): Scoped<WidgetsRead>,
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DataList<KnowledgeSource>>, ApiError> {
    let data = st.store.list_knowledge_sources(&ctx.tenant_id, &id).await?;
    Ok(Json(data.into()))
}

async fn create(
    Scoped(ctx, _): Scoped<WidgetsWrite>,
    State(st): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Result<(StatusCode, Json<KnowledgeSource>), ApiError> {
    let w = st.store.get_widget(&ctx.tenant_id, &id).await?;
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if ct == "multipart/form-data" {
        st.knowledge.take_write(&ctx.tenant_id)?;
        let upload = read_upload(req).await?;
        let src = upload_source(&st, &w, upload).await?;
        return Ok((StatusCode::CREATED, Json(src)));
    }
    if ct != "application/json" {
        return Err(ApiError::UnsupportedMediaType(
            "send application/json or multipart/form-data",
        ));
    }
    let ApiJson(b) = ApiJson::<NewSourceBody>::from_request(req, &()).await?;
    let lang = lang_field(b.lang.as_deref())?;
    let mut new = NewKnowledgeSource {
        kind: b.kind.clone(),
        lang: lang.map(|l| l.code().to_owned()),
        ..Default::default()
    };
    match b.kind.as_str() {
        "text" => {
            let body = text_field(
                b.text.as_deref(),
                "text",
                MAX_TEXT_CHARS,
                "1-200000 characters",
            )?;
            let title = match b.title.as_deref().map(str::trim) {
                None | Some("") => text::trim_to(body.lines().next().unwrap_or(""), 80),
                Some(_) => text_field(
                    b.title.as_deref(),
                    "title",
                    MAX_TITLE_CHARS,
                    "1-200 characters",
                )?,
            };
            new.title = Some(title);
            new.body = Some(body);
        }
        "qa" => {
            new.question = Some(text_field(
                b.question.as_deref(),
                "question",
                MAX_QUESTION_CHARS,
                "1-500 characters",
            )?);
            new.answer = Some(text_field(
                b.answer.as_deref(),
                "answer",
                MAX_ANSWER_CHARS,
                "1-4000 characters",
            )?);
        }
        "url" | "sitemap" => {
            let raw = b.url.as_deref().map(str::trim).unwrap_or("");
            let u = st.fetch_policy.check_syntax(raw).map_err(|e| match e {
                crate::outbound::Refusal::NotPublic => invalid(
                    "url",
                    "the address is not public (RINGSIDE_ALLOW_PRIVATE_FETCH allows it in a lab)",
                ),
                _ => invalid("url", "an http or https URL"),
            })?;
            if !on_allowed_domain(&u, &w.allowed_domains) {
                return Err(invalid(
                    "url",
                    "the address must be on one of the widget's allowed domains",
                ));
            }
            new.url = Some(u.to_string());
        }
        _ => return Err(invalid("type", "one of text, qa, url, sitemap")),
    }
    st.knowledge.take_write(&ctx.tenant_id)?;
    let crawled = matches!(b.kind.as_str(), "url" | "sitemap");
    let status = if crawled { "pending" } else { "indexing" };
    let src = st
        .store
        .create_knowledge_source(&ctx.tenant_id, &w.id, new, status)
        .await
        .map_err(storage)?;
    if crawled {
        st.crawler.wake();
        return Ok((StatusCode::CREATED, Json(src)));
    }
    let lang = lang.unwrap_or_default();
    let passages = match src.kind.as_str() {
        "qa" => vec![service::qa_passage(
            src.question.as_deref().unwrap_or_default(),
            src.answer.as_deref().unwrap_or_default(),
            lang,
        )],
        _ => service::text_passages(
            src.title.as_deref().unwrap_or_default(),
            None,
            src.body.as_deref().unwrap_or_default(),
            lang,
        ),
    };
    let bytes = passages.iter().map(|p| p.body.len() as i64).sum();
    let src = st
        .knowledge
        .store_passages(&st.store, &src, passages, 0, bytes, None)
        .await?;
    Ok((StatusCode::CREATED, Json(src)))
}

/// An uploaded document.
struct Upload {
    file_name: String,
    content_type: String,
    bytes: Vec<u8>,
    title: Option<String>,
    lang: Option<String>,
}

async fn read_upload(req: Request) -> Result<Upload, ApiError> {
    let too_large = || ApiError::PayloadTooLarge {
        limit: MAX_UPLOAD_BYTES as u64,
    };
    let mut mp = Multipart::from_request(req, &())
        .await
        .map_err(|e| ApiError::InvalidBody(e.body_text()))?;
    let mut file = None;
    let (mut title, mut lang) = (None, None);
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|e| ApiError::InvalidBody(e.body_text()))?
    {
        let name = field.name().unwrap_or("").to_owned();
        match name.as_str() {
            "file" => {
                let file_name = field.file_name().unwrap_or("upload").to_owned();
                let content_type = field.content_type().unwrap_or("").to_ascii_lowercase();
                let bytes = field.bytes().await.map_err(|e| {
                    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        too_large()
                    } else {
                        ApiError::InvalidBody(e.body_text())
                    }
                })?;
                if bytes.len() > MAX_UPLOAD_BYTES {
                    return Err(too_large());
                }
                file = Some((file_name, content_type, bytes.to_vec()));
            }
            "title" | "lang" => {
                let v = field
                    .text()
                    .await
                    .map_err(|e| ApiError::InvalidBody(e.body_text()))?;
                if name == "title" {
                    title = Some(v);
                } else {
                    lang = Some(v);
                }
            }
            _ => {}
        }
    }
    let (file_name, content_type, bytes) =
        file.ok_or_else(|| invalid("file", "a multipart part named file is required"))?;
    Ok(Upload {
        file_name,
        content_type,
        bytes,
        title,
        lang,
    })
}

/// What kind of document an upload is, by its content type or else its file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DocKind {
    Markdown,
    Html,
    Text,
    Pdf,
}

pub(crate) fn doc_kind(content_type: &str, file_name: &str) -> Option<DocKind> {
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let ct = content_type.split(';').next().unwrap_or("").trim();
    match (ct, ext.as_str()) {
        ("text/markdown" | "text/x-markdown", _) | (_, "md" | "markdown") => {
            Some(DocKind::Markdown)
        }
        ("text/html" | "application/xhtml+xml", _) | (_, "html" | "htm" | "xhtml") => {
            Some(DocKind::Html)
        }
        ("application/pdf", _) | (_, "pdf") => Some(DocKind::Pdf),
        ("text/plain", _) | (_, "txt" | "text") => Some(DocKind::Text),
        _ => None,
    }
}

/// A document's text and title (its own, if it names one).
pub(crate) fn document_text(
    kind: DocKind,
    bytes: &[u8],
) -> Result<(String, Option<String>, Option<String>), &'static str> {
    match kind {
        DocKind::Pdf => crate::knowledge::crawl::pdf_text(bytes).map(|t| (t, None, None)),
        _ => {
            if bytes.contains(&0) {
                return Err("binary");
            }
            let s = std::str::from_utf8(bytes).map_err(|_| "not_utf8")?;
            match kind {
                DocKind::Markdown => Ok((text::markdown_to_text(s), None, None)),
                DocKind::Html => {
                    let d = html::html_to_text(s);
                    Ok((d.text, d.title, d.lang))
                }
                _ => Ok((text::normalize(s), None, None)),
            }
        }
    }
}

async fn upload_source(
    st: &AppState,
    w: &ringside_storage::Widget,
    up: Upload,
) -> Result<KnowledgeSource, ApiError> {
    let kind = doc_kind(&up.content_type, &up.file_name).ok_or(ApiError::UnsupportedMediaType(
        "upload Markdown, HTML, plain text or PDF",
    ))?;
    let lang = lang_field(up.lang.as_deref())?;
    let title = match up.title.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(_) => Some(text_field(
            up.title.as_deref(),
            "title",
            MAX_TITLE_CHARS,
            "1-200 characters",
        )?),
    };
    let file_name: String = up
        .file_name
        .chars()
        .filter(|c| !c.is_control() && *c != '/' && *c != '\\')
        .take(200)
        .collect();
    let new = NewKnowledgeSource {
        kind: "file".into(),
        title: title.clone(),
        file_name: Some(file_name.clone()),
        lang: lang.map(|l| l.code().to_owned()),
        ..Default::default()
    };
    let src = st
        .store
        .create_knowledge_source(&w.tenant_id, &w.id, new, "indexing")
        .await
        .map_err(storage)?;
    let bytes = up.bytes;
    let size = bytes.len() as i64;
    let read = tokio::task::spawn_blocking(move || document_text(kind, &bytes))
        .await
        .unwrap_or(Err("unreadable"));
    let (body, own_title, own_lang) = match read {
        Ok(v) if !v.0.trim().is_empty() => v,
        Ok(_) => {
            st.store
                .set_knowledge_status(&src.id, "failed", Some("no_text"))
                .await?;
            return Ok(st
                .store
                .get_knowledge_source(&w.tenant_id, &w.id, &src.id)
                .await?);
        }
        Err(why) => {
            st.store
                .set_knowledge_status(&src.id, "failed", Some(why))
                .await?;
            return Ok(st
                .store
                .get_knowledge_source(&w.tenant_id, &w.id, &src.id)
                .await?);
        }
    };
    let lang = lang
        .or_else(|| own_lang.as_deref().and_then(Lang::parse))
        .unwrap_or_default();
    let title = title.or(own_title).unwrap_or(file_name);
    let passages = service::text_passages(&title, None, &body, lang);
    st.knowledge
        .store_passages(&st.store, &src, passages, 1, size, None)
        .await
}

/// A source with the pages its crawl met.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceDetail {
    /// The source.
    #[serde(flatten)]
    source: KnowledgeSource,
    /// The pages (crawls only), by address.
    pages_detail: Vec<KnowledgePage>,
}

async fn get_one(
    Scoped(ctx, _): Scoped<WidgetsRead>,
    State(st): State<AppState>,
    Path((id, source_id)): Path<(String, String)>,
) -> Result<Json<SourceDetail>, ApiError> {
    let source = st
        .store
        .get_knowledge_source(&ctx.tenant_id, &id, &source_id)
        .await?;
    let pages_detail = st.store.list_knowledge_pages(&source.id).await?;
    Ok(Json(SourceDetail {
        source,
        pages_detail,
    }))
}

async fn remove(
    Scoped(ctx, _): Scoped<WidgetsWrite>,
    State(st): State<AppState>,
    Path((id, source_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    st.store
        .get_knowledge_source(&ctx.tenant_id, &id, &source_id)
        .await?;
    // Out of the index first: an answer never cites a source that is gone.
    st.knowledge.remove(&source_id).await?;
    st.store
        .delete_knowledge_source(&ctx.tenant_id, &id, &source_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn refresh(
    Scoped(ctx, _): Scoped<WidgetsWrite>,
    State(st): State<AppState>,
    Path((id, source_id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<KnowledgeSource>), ApiError> {
    let s = st
        .store
        .get_knowledge_source(&ctx.tenant_id, &id, &source_id)
        .await?;
    if !matches!(s.kind.as_str(), "url" | "sitemap") {
        return Err(ApiError::ConflictState(
            "only url and sitemap sources are crawled again",
        ));
    }
    if matches!(s.status.as_str(), "pending" | "indexing") {
        return Err(ApiError::ConflictState(
            "the source is being crawled already",
        ));
    }
    st.knowledge.take_write(&ctx.tenant_id)?;
    let s = st
        .store
        .refresh_knowledge_source(&ctx.tenant_id, &id, &source_id)
        .await?;
    st.crawler.wake();
    Ok((StatusCode::ACCEPTED, Json(s)))
}

/// `?q=&limit=`.
#[derive(Debug, Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    limit: Option<usize>,
}

/// What a search found.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchResult {
    /// The passages, best first.
    passages: Vec<PassageView>,
    /// The answer without a model, or null when nothing answers the question.
    answer: Option<AnswerView>,
}

/// A passage found.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PassageView {
    /// Its source.
    source_id: String,
    /// Its title.
    title: String,
    /// Its address.
    url: Option<String>,
    /// Its text.
    text: String,
    /// BM25 score.
    score: f32,
}

/// An extractive answer.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnswerView {
    /// Whole sentences from the best passage.
    text: String,
    /// Where it came from.
    sources: Vec<crate::assistant::SourceView>,
}

async fn search(
    Scoped(ctx, _): Scoped<WidgetsRead>,
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<SearchQuery>,
) -> Result<Json<SearchResult>, ApiError> {
    let w = st.store.get_widget(&ctx.tenant_id, &id).await?;
    let query = q.q.trim();
    if query.is_empty() || query.chars().count() > 1000 {
        return Err(invalid("q", "1-1000 characters"));
    }
    let limit = q.limit.unwrap_or(5);
    if !(1..=50).contains(&limit) {
        return Err(invalid("limit", "1-50"));
    }
    st.knowledge.take_search(&ctx.tenant_id)?;
    let hits = st
        .knowledge
        .search(&ctx.tenant_id, &w.id, None, query, limit)
        .await?;
    let answer = st
        .knowledge
        .answer(&ctx.tenant_id, &w.id, None, query)
        .await?;
    Ok(Json(SearchResult {
        passages: hits
            .into_iter()
            .map(|h| PassageView {
                source_id: h.source_id,
                title: h.title,
                url: h.url,
                text: h.body,
                score: h.score,
            })
            .collect(),
        answer: answer.map(|a| AnswerView {
            text: a.text,
            sources: a.sources.into_iter().map(Into::into).collect(),
        }),
    }))
}

/// The company profile: what answers "when are you open", "how do I reach you", "where are
/// you" and "what do you do" when the knowledge base does not.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Profile {
    /// The business's name (default: the widget's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What it does, a sentence or two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Opening hours as people write them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"Monday to Friday, 9:00-18:00")]
    pub hours: Option<String>,
    /// Phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Postal address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The website (http or https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
}

impl Profile {
    fn validated(mut self) -> Result<Profile, ApiError> {
        let fields: [(&'static str, &mut Option<String>); 7] = [
            ("name", &mut self.name),
            ("description", &mut self.description),
            ("hours", &mut self.hours),
            ("phone", &mut self.phone),
            ("email", &mut self.email),
            ("address", &mut self.address),
            ("website", &mut self.website),
        ];
        for (field, v) in fields {
            match v.as_deref().map(str::trim) {
                None => {}
                Some("") => *v = None,
                Some(_) => {
                    *v = Some(text_field(
                        v.as_deref(),
                        field,
                        MAX_PROFILE_CHARS,
                        "at most 1000 characters",
                    )?)
                }
            }
        }
        if let Some(e) = &self.email {
            if !e.contains('@') || e.contains(char::is_whitespace) {
                return Err(invalid("email", "an email address"));
            }
        }
        if let Some(u) = &self.website {
            let ok = reqwest::Url::parse(u)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                return Err(invalid("website", "an http or https URL"));
            }
        }
        Ok(self)
    }
}

/// A widget's profile as stored (an empty one when it has none).
pub(crate) async fn profile_of(
    store: &ringside_storage::Store,
    tenant: &str,
    widget: &str,
) -> Result<Profile, ApiError> {
    Ok(store
        .get_knowledge_profile(tenant, widget)
        .await?
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default())
}

async fn get_profile(
    Scoped(ctx, _): Scoped<WidgetsRead>,
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Profile>, ApiError> {
    Ok(Json(profile_of(&st.store, &ctx.tenant_id, &id).await?))
}

async fn put_profile(
    Scoped(ctx, _): Scoped<WidgetsWrite>,
    State(st): State<AppState>,
    Path(id): Path<String>,
    ApiJson(p): ApiJson<Profile>,
) -> Result<Json<Profile>, ApiError> {
    let p = p.validated()?;
    let v = serde_json::to_value(&p).map_err(|_| ApiError::Internal)?;
    st.store
        .put_knowledge_profile(&ctx.tenant_id, &id, &v)
        .await?;
    Ok(Json(p))
}
