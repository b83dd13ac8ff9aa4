//! Visitor chat, operator messages, callbacks/leads with voice notes, and internal notes.
//!
//! Public widget runtime (widget id + key, page origin checked against the widget's allowed
//! domains, per-widget CORS — the helpers of [`crate::widget_runtime`]):
//!
//! - `POST /api/widgets/{widgetId}/chat` (live-chat shape: `sessionId`, `message`, optional
//!   `conversationId`, `visitorId`; key as `Authorization: Bearer` or `?key=`) stores the
//!   visitor's message and answers `{"success": true, "conversationId": ...}`. When the widget
//!   has a knowledge base (or a company profile) and nobody from the team has written in the
//!   conversation yet, the assistant answers too ([`assistant_turn`]): the answer is stored
//!   as an `assistant` message and returned as `message` with `reply` (its id and sources)
//!   and `metadata`; otherwise operators reply through `/api/v1/widgets/{id}/messages`.
//! - `POST /widget/ask` (LaysanX shape: `clientId`, `widgetKey`, `domain` in the body) stores
//!   the message and the assistant's answer ([`crate::assistant`]) with its `sources`,
//!   `usedAi: false`.
//! - `POST /widget/lead` stores a lead; the widget needs an assigned lead form (else 422
//!   `invalid_field`, field `leadForm`) and the form's required fields must be present.
//! - `POST /api/widgets/{widgetId}/callbacks`: a callback request as JSON, or as
//!   `multipart/form-data` with an optional `voiceNote` file (`audio/*` only, else 415; at
//!   most [`MAX_VOICE_NOTE`] bytes, else 413), stored under `<data_dir>/voice-notes/`.
//!
//! Every visitor and operator message queues `chat.message.created`, every callback or lead
//! `callback.submitted`, through the webhook outbox with the widget id.
//!
//! `/api/v1` (bearer tokens): `GET|POST /widgets/{id}/messages` (`messages:read` /
//! `messages:write`), `GET /widgets/{id}/callbacks`, `GET
//! /widgets/{id}/callbacks/{callbackId}/voice-note`, `GET|POST
//! /widgets/{id}/visitors/{visitorId}/notes` (private notes are shown to their author only).
//! Another tenant's widget is 404.
//!
//! Here: the routes, the views and the storing of messages and callbacks (with their events
//! and webhooks); the handlers live in `chat` (the visitor's chat), `laysanx` (ask, lead),
//! `callbacks`, `attachments` and `operator` (the `/api/v1` side).

use std::collections::HashMap;

use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Json;
use ringside_storage::{
    Callback, Message, NewCallback, NewMessage, Widget, MAX_LIST_MESSAGES, MAX_MESSAGE_CHARS,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::auth::{MessagesRead, MessagesWrite, Scoped};
use crate::extract::ApiJson;
use crate::openapi::{Auth, Body, DocRouter, Spec};
use crate::realtime::{Audience, Event};
use crate::usage::Metric;
use crate::widget_runtime::{
    bearer_or_query, bootstrap_preflight, check_origin, config_preflight, fail, lookup, with_cors,
};
use crate::{ApiError, AppState};

/// What the chat, callback and lead endpoints (and the operator reply of a handoff link) use
/// of the application state.
#[derive(Clone)]
pub struct MessagesState {
    pub(crate) store: ringside_storage::Store,
    pub(crate) bus: std::sync::Arc<crate::realtime::Bus>,
    pub(crate) presence: std::sync::Arc<crate::Presence>,
    pub(crate) widget_cache: std::sync::Arc<crate::widget_cache::WidgetCache>,
    pub(crate) usage: crate::usage::UsageGate,
    pub(crate) public_url: String,
    pub(crate) data_dir: std::path::PathBuf,
    pub(crate) console: std::sync::Arc<crate::console::ConsoleOperators>,
    pub(crate) knowledge: std::sync::Arc<crate::knowledge::Knowledge>,
    pub(crate) fetch_policy: crate::outbound::FetchPolicy,
    pub(crate) link_secret: crate::http::sealed::LinkSecret,
    pub(crate) accounts: std::sync::Arc<crate::accounts::Accounts>,
    pub(crate) rate_limits: std::sync::Arc<crate::RateLimits>,
}

impl axum::extract::FromRef<AppState> for MessagesState {
    fn from_ref(st: &AppState) -> Self {
        MessagesState {
            store: st.store.clone(),
            bus: st.bus.clone(),
            presence: st.presence.clone(),
            widget_cache: st.widget_cache.clone(),
            usage: axum::extract::FromRef::from_ref(st),
            public_url: st.public_url.clone(),
            data_dir: st.data_dir.clone(),
            console: st.console.clone(),
            knowledge: st.knowledge.clone(),
            fetch_policy: st.fetch_policy,
            link_secret: st.link_secret,
            accounts: st.accounts.clone(),
            rate_limits: st.rate_limits.clone(),
        }
    }
}

/// Largest JSON body of the public chat, ask and lead endpoints, in bytes.
pub const MAX_PUBLIC_BODY: usize = 32 * 1024;
/// Largest voice note, in bytes.
pub const MAX_VOICE_NOTE: usize = 2 * 1024 * 1024;
/// Largest multipart callback body (voice note plus fields), in bytes.
const MAX_CALLBACK_BODY: usize = MAX_VOICE_NOTE + 64 * 1024;
/// Subdirectory of the data directory holding voice notes.
const VOICE_NOTE_DIR: &str = "voice-notes";

/// The public runtime routes (merged at the root).
pub(crate) fn public_routes() -> DocRouter {
    const T: &str = "Widget runtime";
    DocRouter::new("")
        .post(
            "/api/widgets/{widget_id}/chat",
            chat,
            Spec::new(T, Auth::WidgetKey, "A visitor's chat message")
                .body(Body::Json(
                    "sessionId, message, conversationId?, visitorId?",
                ))
                .takes::<ChatBody>()
                .returns::<ChatStored>(),
        )
        .preflight("/api/widgets/{widget_id}/chat", config_preflight)
        .post(
            "/api/widgets/{widget_id}/transcript",
            transcript::send_transcript,
            Spec::new(
                T,
                Auth::WidgetKey,
                "Mail the visitor a copy of their chat so far (three a visitor, then one an hour)",
            )
            .body(Body::Json("visitorId, email"))
            .takes::<transcript::TranscriptBody>()
            .ok(202, "Queued for mailing")
            .returns::<transcript::TranscriptQueued>()
            .also(&[(503, "No mail server is configured, or its queue is full")]),
        )
        .preflight("/api/widgets/{widget_id}/transcript", config_preflight)
        .post(
            "/api/widgets/{widget_id}/voice/start",
            voice::voice_start,
            Spec::new(
                T,
                Auth::WidgetKey,
                "Start a voice call (live-chat shape): the conversation, whether someone can \
                 take it now, the widget socket to start it on, and the public number",
            )
            .body(Body::Json("sessionId, assistantId?, visitorId?"))
            .takes::<voice::VoiceStartBody>()
            .returns::<voice::VoiceStarted>(),
        )
        .preflight("/api/widgets/{widget_id}/voice/start", config_preflight)
        .get(
            "/api/widgets/{widget_id}/messages",
            history,
            Spec::new(
                T,
                Auth::WidgetKey,
                "The visitor's own chat so far, oldest first (restored after a reload or a \
                 dropped socket); no internal notes, no operator identities",
            )
            .query(&[
                ("visitorId", "The visitor (required)"),
                ("key", "The widget key (or Authorization: Bearer)"),
                ("limit", "1-200, default 100"),
            ])
            .returns::<VisitorChat>(),
        )
        .preflight("/api/widgets/{widget_id}/messages", config_preflight)
        .route(
            "/api/widgets/{widget_id}/attachments",
            post(attachments::visitor_upload)
                .options(config_preflight)
                .layer(DefaultBodyLimit::max(attachments::MAX_ATTACHMENT_BODY)),
            &[(
                "post",
                Spec::new(
                    T,
                    Auth::WidgetKey,
                    "A visitor sends a file in the chat (multipart: file, visitorId; images, \
                     pdf, txt, csv, docx, xlsx, odt, ods; 10 MiB)",
                )
                .body(Body::Multipart("file, visitorId"))
                .ok(201, "The attachment")
                .returns::<attachments::AttachmentView>(),
            )],
        )
        .get(
            "/api/widgets/{widget_id}/attachments/{attachment_id}",
            attachments::visitor_download,
            Spec::new(
                T,
                Auth::WidgetKey,
                "A file of the visitor's own chat, as a download",
            )
            .query(&[("visitorId", "The visitor (required)")])
            .content("application/octet-stream"),
        )
        .route(
            "/api/widgets/{widget_id}/callbacks",
            post(submit_callback)
                .options(config_preflight)
                .layer(DefaultBodyLimit::max(MAX_CALLBACK_BODY)),
            &[(
                "post",
                Spec::new(
                    T,
                    Auth::WidgetKey,
                    "A callback request, optionally with a voice note (multipart, audio/*, 2 MiB)",
                )
                .body(Body::JsonOrMultipart(
                    "name, email or phone, message, visitorId; voiceNote file part",
                ))
                .ok(201, "The stored callback")
                .returns::<CallbackStored>(),
            )],
        )
        .post(
            "/widget/ask",
            ask,
            Spec::new(
                T,
                Auth::WidgetClient,
                "A visitor's question (LaysanX shape)",
            )
            .body(Body::Json(
                "clientId, widgetKey, message, sessionId?, visitorId?, domain",
            ))
            .returns::<AskAnswer>(),
        )
        .preflight("/widget/ask", bootstrap_preflight)
        .post(
            "/widget/lead",
            lead,
            Spec::new(T, Auth::WidgetClient, "A lead from the widget's lead form")
                .body(Body::Json("clientId, widgetKey, the form's fields, domain"))
                .returns::<LeadStored>(),
        )
        .preflight("/widget/lead", bootstrap_preflight)
}

/// The `/api/v1` routes (nested under `/api/v1`).
pub(crate) fn routes() -> DocRouter {
    const T: &str = "Messages";
    let (r, w) = (Auth::Scope("messages:read"), Auth::Scope("messages:write"));
    DocRouter::new("/api/v1")
        .get(
            "/widgets/{id}/messages",
            operator::list_messages,
            Spec::new(T, r, "Chat messages, oldest first")
                .query(&[("visitorId", "Only this visitor's"), ("limit", "1-500")])
                .returns::<MessageList>(),
        )
        .post(
            "/widgets/{id}/messages",
            operator::send_message,
            Spec::new(
                T,
                w,
                "Send a message to a visitor as operator or automation",
            )
            .body(Body::Json(
                "visitorId, body, sender (operator | automation)?, conversationId?",
            ))
            .takes::<operator::SendBody>()
            .ok(201, "The message")
            .returns::<MessageView>(),
        )
        .get(
            "/widgets/{id}/callbacks",
            operator::list_callbacks,
            Spec::new(T, r, "Callback requests and leads, newest first")
                .query(&[("visitorId", "Only this visitor's"), ("limit", "1-500")])
                .returns::<CallbackList>(),
        )
        .get(
            "/widgets/{id}/callbacks/{callback_id}/voice-note",
            operator::voice_note,
            Spec::new(T, r, "A callback's voice note").content("audio/*"),
        )
        .get(
            "/widgets/{id}/visitors/{visitor_id}/notes",
            operator::list_notes,
            Spec::new(
                T,
                r,
                "Internal notes about a visitor (team notes and your private ones)",
            )
            .returns::<NoteList>(),
        )
        .route(
            "/widgets/{id}/visitors/{visitor_id}/attachments",
            post(attachments::operator_upload)
                .layer(DefaultBodyLimit::max(attachments::MAX_ATTACHMENT_BODY)),
            &[(
                "post",
                Spec::new(
                    T,
                    w,
                    "Send a file to a visitor's chat (multipart: file; 10 MiB)",
                )
                .body(Body::Multipart("file"))
                .ok(201, "The attachment")
                .returns::<attachments::AttachmentView>(),
            )],
        )
        .get(
            "/widgets/{id}/attachments/{attachment_id}",
            attachments::operator_download,
            Spec::new(T, r, "A file sent in a chat, as a download")
                .content("application/octet-stream"),
        )
        .post(
            "/widgets/{id}/visitors/{visitor_id}/notes",
            operator::add_note,
            Spec::new(T, w, "Add an internal note")
                .body(Body::Json("body, visibility (team | private)?"))
                .takes::<operator::NoteBody>()
                .ok(201, "The note")
                .returns::<ringside_storage::Note>(),
        )
}

mod attachments;
mod callbacks;
mod chat;
mod laysanx;
pub(crate) mod operator;
mod transcript;
mod turns;
mod voice;

use chat::{chat, history, ChatBody, ChatStored, VisitorChat};
use laysanx::{ask, lead, AskAnswer, LeadStored};
use turns::campaign_progress;
pub(crate) use turns::{assistant_answers_chat, assistant_turn};

pub use attachments::MAX_ATTACHMENT;
use callbacks::{safe_rel_path, submit_callback};

// ---------------------------------------------------------------- helpers

fn bad(field: &'static str, reason: &'static str) -> ApiError {
    ApiError::InvalidField { field, reason }
}

/// Client-chosen ids (session, visitor, conversation): 1-128 of `A-Z a-z 0-9 _ - . :`.
fn client_id(v: &str, field: &'static str) -> Result<String, ApiError> {
    let ok = (1..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b));
    if ok {
        Ok(v.to_owned())
    } else {
        Err(bad(field, "1-128 letters, digits, _ - . :"))
    }
}

/// A message body: non-blank, at most [`MAX_MESSAGE_CHARS`] characters.
fn message_body(v: &str, field: &'static str) -> Result<String, ApiError> {
    if v.trim().is_empty() {
        return Err(bad(field, "must not be empty"));
    }
    if v.chars().count() > MAX_MESSAGE_CHARS {
        return Err(bad(field, "at most 4000 characters"));
    }
    Ok(v.to_owned())
}

/// Reads a JSON body of at most [`MAX_PUBLIC_BODY`] bytes (any content type).
async fn read_json<T: serde::de::DeserializeOwned>(body: axum::body::Body) -> Result<T, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_PUBLIC_BODY)
        .await
        .map_err(|_| ApiError::PayloadTooLarge {
            limit: MAX_PUBLIC_BODY as u64,
        })?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::InvalidBody(e.to_string()))
}

fn opt_str(body: &Map<String, Value>, k: &str) -> Option<String> {
    body.get(k)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .filter(|s| !s.trim().is_empty())
}

/// `clientId` given as a string or a number.
fn id_value(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A chat message as the API shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    /// The message id.
    id: String,
    /// The widget the chat is on.
    widget_id: String,
    /// The visitor.
    visitor_id: String,
    /// The conversation (the visitor's id unless the site names one).
    conversation_id: String,
    /// Who wrote it.
    #[schemars(extend("enum" = ["visitor", "operator", "automation", "assistant"]))]
    sender: String,
    /// The operator who wrote it, for operator messages.
    author_user_id: Option<String>,
    /// The text.
    body: String,
    /// Sent, Unix milliseconds.
    created_at: i64,
}

impl From<&Message> for MessageView {
    fn from(m: &Message) -> Self {
        MessageView {
            id: m.id.clone(),
            widget_id: m.widget_id.clone(),
            visitor_id: m.visitor_id.clone(),
            conversation_id: m.conversation_id.clone(),
            sender: m.sender.clone(),
            author_user_id: m.author_user_id.clone(),
            body: m.body.clone(),
            created_at: m.created_at,
        }
    }
}

/// Answer of `GET /api/v1/widgets/{id}/messages`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct MessageList {
    /// Oldest first.
    messages: Vec<MessageView>,
}

fn message_json(m: &Message) -> Value {
    serde_json::to_value(MessageView::from(m)).unwrap_or(Value::Null)
}

/// A callback request or lead as the API shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallbackView {
    /// Its id.
    id: String,
    /// The widget it came from.
    widget_id: String,
    /// The visitor, when known.
    visitor_id: Option<String>,
    /// `callback` (the call-me-back form) or `lead` (the lead form).
    #[schemars(extend("enum" = ["callback", "lead"]))]
    kind: String,
    /// The name left.
    name: Option<String>,
    /// The email left.
    email: Option<String>,
    /// The phone number left.
    phone: Option<String>,
    /// The message (or the original question).
    message: Option<String>,
    /// Every field the form sent.
    fields: Map<String, Value>,
    /// The voice note, if one was recorded.
    voice_note: Option<VoiceNoteRef>,
    /// Unix ms.
    created_at: i64,
}

/// A callback's voice note.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VoiceNoteRef {
    /// `audio/*`.
    #[schemars(example = &"audio/webm")]
    content_type: String,
    /// Size in bytes.
    bytes: i64,
    /// Where to fetch it (a token with messages:read).
    #[schemars(extend("format" = "uri"))]
    url: String,
}

/// The answer to a callback request from the widget.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CallbackStored {
    /// Always true.
    success: bool,
    /// The stored request.
    #[serde(flatten)]
    callback: CallbackView,
}

/// `GET /api/v1/widgets/{id}/callbacks`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CallbackList {
    /// Newest first.
    callbacks: Vec<CallbackView>,
}

/// `GET /api/v1/widgets/{id}/visitors/{visitor_id}/notes`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct NoteList {
    /// The team's notes and the caller's private ones, newest first.
    notes: Vec<ringside_storage::Note>,
}

fn callback_json(st: &MessagesState, c: &Callback) -> CallbackView {
    CallbackView {
        id: c.id.clone(),
        widget_id: c.widget_id.clone(),
        visitor_id: c.visitor_id.clone(),
        kind: c.kind.clone(),
        name: c.name.clone(),
        email: c.email.clone(),
        phone: c.phone.clone(),
        message: c.message.clone(),
        fields: c.fields.clone(),
        voice_note: c.voice_note.as_ref().map(|v| VoiceNoteRef {
            content_type: v.content_type.clone(),
            bytes: v.bytes,
            url: format!(
                "{}/api/v1/widgets/{}/callbacks/{}/voice-note",
                st.public_url.trim_end_matches('/'),
                c.widget_id,
                c.id
            ),
        }),
        created_at: c.created_at,
    }
}

/// Stores a message and queues `chat.message.created`.
pub(crate) async fn store_message(
    st: &MessagesState,
    w: &Widget,
    new: NewMessage,
) -> Result<Message, ApiError> {
    store_message_with(st, w, new, None).await
}

/// [`store_message`] for a message announcing `file`: the file is linked to the message
/// before anyone hears of it, and the events carry it.
pub(crate) async fn store_message_with(
    st: &MessagesState,
    w: &Widget,
    new: NewMessage,
    file: Option<&ringside_storage::Attachment>,
) -> Result<Message, ApiError> {
    store_message_full(st, w, new, file, None).await
}

/// [`store_message_with`] for an assistant's answer that streamed as `stream_id` first: the
/// events carry it so the page replaces the streamed text with the stored message.
pub(crate) async fn store_message_full(
    st: &MessagesState,
    w: &Widget,
    new: NewMessage,
    file: Option<&ringside_storage::Attachment>,
    stream_id: Option<&str>,
) -> Result<Message, ApiError> {
    // The visitor's and the team's messages count; the assistant's replies to them do not.
    let counts = new.sender != "assistant";
    if counts {
        crate::usage::enforce(&st.usage, &w.tenant_id, Metric::MonthlyMessages).await?;
    }
    let conversation = if new.conversation_id.trim().is_empty() {
        new.visitor_id.trim().to_owned()
    } else {
        new.conversation_id.trim().to_owned()
    };
    let existed = st
        .store
        .conversation_exists(&w.tenant_id, &w.id, new.visitor_id.trim(), &conversation)
        .await?;
    let m = st.store.add_message(&w.tenant_id, &w.id, new).await?;
    if counts {
        crate::usage::counted(&st.usage, &w.tenant_id, Metric::MonthlyMessages).await;
    }
    let mut data = message_json(&m);
    if let Some(a) = file {
        st.store.set_attachment_message(&a.id, &m.id).await?;
        data["attachment"] = json!({"id": a.id, "fileName": a.file_name, "bytes": a.bytes,
                                    "contentType": a.content_type});
    }
    if let Some(s) = stream_id {
        data["streamId"] = json!(s);
    }
    let now = st.presence.now_ms();
    let dash = Audience::Tenant("messages:read");
    st.bus.publish(&w.tenant_id, || {
        Event::new(
            if existed {
                "conversation:updated"
            } else {
                "conversation:new"
            },
            dash,
            Some(&w.id),
            Some(&m.visitor_id),
            json!({"id": m.conversation_id, "channel": "chat", "widgetId": w.id,
                   "visitorId": m.visitor_id, "lastMessageAt": m.created_at,
                   "lastSender": m.sender}),
            now,
        )
    });
    if !existed && m.sender == "visitor" {
        campaign_progress(st, w, &m.visitor_id, "chat", &m.conversation_id).await;
    }
    st.bus.publish(&w.tenant_id, || {
        Event::new(
            "message:new",
            dash,
            Some(&w.id),
            Some(&m.visitor_id),
            data.clone(),
            now,
        )
    });
    st.store
        .enqueue_webhook_event(&w.tenant_id, "chat.message.created", Some(&w.id), &{
            // Receivers get the dashboard page of the chat; the pages' sockets do not need it.
            let mut hook = data.clone();
            hook["dashboardUrl"] = json!(crate::http::urls::chat_page(
                &st.public_url,
                &w.id,
                &m.visitor_id
            ));
            hook
        })
        .await?;
    Ok(m)
}

/// Stores a callback or lead, files it under a contact (found by the visitor's session, email
/// or phone, or created) and queues `callback.submitted` (with `contactId`).
async fn store_callback(
    st: &MessagesState,
    w: &Widget,
    new: NewCallback,
) -> Result<Callback, ApiError> {
    crate::usage::enforce(&st.usage, &w.tenant_id, Metric::MonthlyCallbacks).await?;
    let c = st.store.add_callback(&w.tenant_id, &w.id, new).await?;
    crate::usage::counted(&st.usage, &w.tenant_id, Metric::MonthlyCallbacks).await;
    // A new contact only while the tenant is under its contact limit (an existing one is
    // still found and updated).
    let may_create = crate::usage::enforce(&st.usage, &w.tenant_id, Metric::Contacts)
        .await
        .is_ok();
    // The submission is stored; failing to file it under a contact must not lose it.
    let contact = match st
        .store
        .contact_for_lead(
            &w.tenant_id,
            &w.id,
            c.visitor_id.as_deref(),
            c.name.as_deref(),
            c.email.as_deref(),
            c.phone.as_deref(),
            &c.kind,
            may_create,
        )
        .await
    {
        Ok(contact) => {
            if may_create {
                crate::usage::counted(&st.usage, &w.tenant_id, Metric::Contacts).await;
            }
            contact.map(|c| c.id)
        }
        Err(e) => {
            tracing::error!(error = %e, callback = %c.id, "could not file a callback under a contact");
            None
        }
    };
    let mut data = serde_json::to_value(callback_json(st, &c)).unwrap_or_default();
    data["contactId"] = contact.map_or(Value::Null, Value::String);
    if let Some(v) = &c.visitor_id {
        let step = if c.kind == "lead" { "lead" } else { "callback" };
        campaign_progress(st, w, v, step, v).await;
    }
    // Contact details given: the visitor's conversation is qualified.
    st.bus.publish(&w.tenant_id, || {
        Event::new(
            "conversation:qualified",
            Audience::Tenant("messages:read"),
            Some(&w.id),
            c.visitor_id.as_deref(),
            json!({"id": c.visitor_id, "channel": "chat", "widgetId": w.id,
                   "visitorId": c.visitor_id, "contactId": data["contactId"],
                   "contact_data": {"name": c.name, "email": c.email, "phone": c.phone},
                   "callback": data.clone()}),
            st.presence.now_ms(),
        )
    });
    st.store
        .enqueue_webhook_event(&w.tenant_id, "callback.submitted", Some(&w.id), &{
            let mut hook = data.clone();
            if let Some(v) = &c.visitor_id {
                hook["dashboardUrl"] =
                    json!(crate::http::urls::chat_page(&st.public_url, &w.id, v));
            }
            hook
        })
        .await?;
    // The team finds it in the inbox: the visitor's conversation shows what they left (the
    // submission itself stays a callback, listed beside the chat).
    if let Some(visitor) = &c.visitor_id {
        let now = st.presence.now_ms();
        match st
            .store
            .conversation_saw_submission(&w.tenant_id, &w.id, visitor, &submission_summary(&c), now)
            .await
        {
            Ok(()) => st.bus.publish(&w.tenant_id, || {
                Event::new(
                    "conversation:updated",
                    Audience::Tenant("messages:read"),
                    Some(&w.id),
                    Some(visitor),
                    json!({"id": visitor, "channel": "chat", "widgetId": w.id,
                           "visitorId": visitor, "lastMessageAt": now,
                           "lastSender": "visitor", "callbackId": c.id}),
                    now,
                )
            }),
            // Stored as a callback already: the inbox line is a convenience.
            Err(e) => {
                tracing::warn!(error = %e, callback = %c.id, "could not show the submission in the inbox")
            }
        }
    }
    Ok(c)
}

/// What a callback or lead looks like in the inbox.
fn submission_summary(c: &Callback) -> String {
    let what = if c.kind == "lead" {
        "Left their details"
    } else {
        "Asked to be called back"
    };
    let mut parts: Vec<String> = Vec::new();
    for (label, v) in [("Name", &c.name), ("Email", &c.email), ("Phone", &c.phone)] {
        if let Some(v) = v {
            parts.push(format!("{label}: {v}"));
        }
    }
    let mut body = format!("[{what}] {}", parts.join(" · "));
    if let Some(m) = &c.message {
        body.push('\n');
        body.push_str(m);
    }
    if c.voice_note.is_some() {
        body.push_str("\n(with a voice note)");
    }
    body.chars()
        .take(ringside_storage::MAX_MESSAGE_CHARS)
        .collect()
}

/// Public handler prologue: widget by id and key, then origin; returns the widget and the
/// allow-origin value, or the finished error response.
async fn public_widget(
    st: &MessagesState,
    id: &str,
    key: Option<&str>,
    headers: &HeaderMap,
    domain: Option<&str>,
) -> Result<(std::sync::Arc<Widget>, Option<HeaderValue>), Response> {
    let w = lookup(&st.widget_cache, &st.store, id, key)
        .await
        .map_err(fail)?;
    let allow = check_origin(&w, headers, domain).map_err(fail)?;
    Ok((w, allow))
}

/// [`public_widget`] for a request from the widget's page: the key as a bearer token or
/// `?key=`, the page's domain as `?domain=`.
async fn page_widget(
    st: &MessagesState,
    id: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<(std::sync::Arc<Widget>, Option<HeaderValue>), Response> {
    let domain = q.get("domain").map(String::as_str);
    public_widget(st, id, bearer_or_query(headers, q), headers, domain).await
}

fn respond(r: Result<Response, ApiError>, allow: Option<HeaderValue>) -> Response {
    with_cors(r.unwrap_or_else(IntoResponse::into_response), allow)
}

/// Writes `data` to `rel` under the data directory (its folders made as needed); an I/O
/// failure is logged and answered 500.
async fn write_data_file(st: &MessagesState, rel: &str, data: &[u8]) -> Result<(), ApiError> {
    let path = st.data_dir.join(rel);
    let write = async {
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        tokio::fs::write(&path, data).await
    };
    write.await.map_err(|e| {
        tracing::error!(error = %e, path = %rel, "writing a file under the data directory");
        ApiError::Internal
    })
}

/// A file as a stream of chunks (64 KiB reads).
fn tokio_util_stream(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<Vec<u8>>> + Send {
    use tokio::io::AsyncReadExt;
    futures_util::stream::unfold(Some(file), |state| async move {
        let mut file = state?;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(buf), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}
