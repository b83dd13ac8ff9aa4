//! Contacts (leads) under `/api/v1/contacts`: list and search, one contact with its sessions
//! and a unified timeline, create, PATCH identity fields, attach visitor sessions, merge.
//!
//! Scopes: reading needs `messages:read`, changing `messages:write` (contacts are the
//! people behind chats and callbacks; the guide's default read scopes include
//! `messages:read`). Another tenant's contact, widget or visitor answers 404.
//!
//! The timeline joins everything stored about the contact's visitor sessions, newest first:
//! `visit` (a session's visitor record), `activity` (page views, clicks, ...), `message`,
//! `note` (team notes and the caller's own private ones), `callback` / `lead`,
//! `session.attached` and `merge`. Times are unix milliseconds.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use ringside_storage::{
    Contact, ContactActivity, ContactPatch, Visitor, VisitorEvent, MAX_LIST_CONTACTS,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::{MessagesRead, MessagesWrite, Scoped};
use crate::extract::{double_option, query_limit, ApiJson};
use crate::openapi::{Auth, Body, DocRouter, Spec};
use crate::{ApiError, AppState};

/// What the contact handlers use of the application state.
#[derive(Clone)]
pub struct ContactsState {
    store: ringside_storage::Store,
    presence: std::sync::Arc<crate::Presence>,
    public_url: std::sync::Arc<str>,
    usage: crate::usage::UsageGate,
}

impl axum::extract::FromRef<AppState> for ContactsState {
    fn from_ref(st: &AppState) -> Self {
        ContactsState {
            store: st.store.clone(),
            presence: st.presence.clone(),
            public_url: st.public_url.as_str().into(),
            usage: axum::extract::FromRef::from_ref(st),
        }
    }
}

/// Default and largest `?limit=` of the timeline.
const TIMELINE_DEFAULT: u32 = 200;
const TIMELINE_MAX: u32 = 1000;
/// Page activity events per session in a timeline (the newest).
const SESSION_EVENTS: u32 = 200;
/// Default `?limit=` of the list.
const LIST_DEFAULT: u32 = 80;

pub(crate) fn routes() -> DocRouter {
    const T: &str = "Contacts";
    let (r, w) = (Auth::Scope("messages:read"), Auth::Scope("messages:write"));
    DocRouter::new("/api/v1")
        .get(
            "/contacts",
            list,
            Spec::new(T, r, "List and search contacts (leads)")
                .query(&[
                    ("q", "Name, company, email or phone contains"),
                    ("limit", "1-500, default 80"),
                ])
                .returns::<ContactList>(),
        )
        .post(
            "/contacts",
            create,
            Spec::new(T, w, "Create a contact")
                .body(Body::Json("firstName, lastName, email, phone, companyName, status, otherEmails, otherPhones"))
                .takes::<Fields>()
                .ok(201, "The contact")
                .returns::<ContactView>(),
        )
        .get(
            "/contacts/{id}",
            one,
            Spec::new(T, r, "A contact with its visitor sessions and unified timeline")
                .query(&[("limit", "timeline entries, 1-1000, default 200")])
                .returns::<ContactDetail>(),
        )
        .patch(
            "/contacts/{id}",
            patch,
            Spec::new(T, w, "Change identity fields (null clears)")
                .body(Body::Json("fields to change"))
                .takes::<Fields>()
                .returns::<ContactView>(),
        )
        .post(
            "/contacts/{id}/visitor-sessions",
            attach,
            Spec::new(T, w, "Attach a visitor session")
                .body(Body::Json("widgetId, visitorId"))
                .takes::<AttachBody>()
                .ok(201, "The session")
                .returns::<ringside_storage::ContactSession>(),
        )
        .post(
            "/contacts/{id}/merge",
            merge,
            Spec::new(T, w, "Merge another contact into this one (nothing is lost)")
                .body(Body::Json("sourceContactId, reason"))
                .takes::<MergeBody>()
                .returns::<Merged>(),
        )
}

fn bad(field: &'static str, reason: &'static str) -> ApiError {
    ApiError::InvalidField { field, reason }
}

/// A contact as the API shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactView {
    /// The contact id.
    id: String,
    /// First and last name together, when either is known.
    name: Option<String>,
    /// Given name.
    first_name: Option<String>,
    /// Family name.
    last_name: Option<String>,
    /// Main email.
    #[schemars(extend("format" = "email"))]
    email: Option<String>,
    /// Main phone.
    phone: Option<String>,
    /// Company.
    company_name: Option<String>,
    /// Where the lead stands.
    #[schemars(extend("enum" = ["lead", "qualified", "customer", "disqualified", "archived"]))]
    status: String,
    /// Further emails (from merges or edits).
    other_emails: Vec<String>,
    /// Further phones.
    other_phones: Vec<String>,
    /// The contact this one was merged into, if it was.
    merged_into_contact_id: Option<String>,
    /// Created, Unix milliseconds.
    created_at: i64,
    /// Last changed, Unix milliseconds.
    updated_at: i64,
}

impl From<&Contact> for ContactView {
    fn from(c: &Contact) -> Self {
        let name = match (&c.first_name, &c.last_name) {
            (Some(f), Some(l)) => Some(format!("{f} {l}")),
            (Some(n), None) | (None, Some(n)) => Some(n.clone()),
            (None, None) => None,
        };
        ContactView {
            id: c.id.clone(),
            name,
            first_name: c.first_name.clone(),
            last_name: c.last_name.clone(),
            email: c.email.clone(),
            phone: c.phone.clone(),
            company_name: c.company_name.clone(),
            status: c.status.clone(),
            other_emails: c.other_emails.clone(),
            other_phones: c.other_phones.clone(),
            merged_into_contact_id: c.merged_into.clone(),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// Answer of `GET /api/v1/contacts`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ContactList {
    /// The contacts, most recently changed first.
    contacts: Vec<ContactView>,
}

/// Answer of `GET /api/v1/contacts/{id}`: the contact, its sessions and its timeline.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactDetail {
    #[serde(flatten)]
    contact: ContactView,
    /// Visitor sessions attached to it.
    sessions: Vec<ringside_storage::ContactSession>,
    /// Newest first: `{type, at, ...}` with type `session.attached`, `visit`, `activity`,
    /// `message`, `note`, `callback`, `lead`, `voice_note` or `merge`.
    timeline: Vec<Value>,
    /// Timeline entries in all (the answer holds `limit` of them).
    timeline_total: usize,
}

/// Answer of `POST /api/v1/contacts/{id}/merge`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Merged {
    /// The contact that remains.
    contact: ContactView,
    /// The merge, with the source contact as it was.
    merge: ringside_storage::ContactMerge,
}

async fn list(
    State(st): State<ContactsState>,
    Scoped(auth, _): Scoped<MessagesRead>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<ContactList>, ApiError> {
    let n = query_limit(&q, LIST_DEFAULT, MAX_LIST_CONTACTS as u32)?;
    let query = q.get("q").map(String::as_str);
    if query.is_some_and(|s| s.chars().count() > 200) {
        return Err(bad("q", "at most 200 characters"));
    }
    let list = st
        .store
        .list_contacts(&auth.tenant_id, query, i64::from(n))
        .await?;
    Ok(Json(ContactList {
        contacts: list.iter().map(ContactView::from).collect(),
    }))
}

/// Identity fields of POST and PATCH; `null` clears a field in a PATCH.
#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fields {
    /// First name.
    #[serde(default, deserialize_with = "double_option")]
    #[schemars(length(max = 200), example = &"Ana")]
    first_name: Option<Option<String>>,
    /// Last name.
    #[serde(default, deserialize_with = "double_option")]
    #[schemars(length(max = 200), example = &"Silva")]
    last_name: Option<Option<String>>,
    /// Main email address.
    #[serde(default, deserialize_with = "double_option")]
    #[schemars(length(max = 320), example = &"ana@example.com")]
    email: Option<Option<String>>,
    /// Main phone number.
    #[serde(default, deserialize_with = "double_option")]
    #[schemars(length(max = 64), example = &"+351912345678")]
    phone: Option<Option<String>>,
    /// Company.
    #[serde(default, deserialize_with = "double_option")]
    #[schemars(length(max = 200))]
    company_name: Option<Option<String>>,
    /// Where the lead stands.
    #[serde(default)]
    #[schemars(extend("enum" = ["lead", "qualified", "customer", "disqualified", "archived", null]))]
    status: Option<String>,
    /// Further email addresses, replacing the list.
    #[serde(default)]
    other_emails: Option<Vec<String>>,
    /// Further phone numbers, replacing the list.
    #[serde(default)]
    other_phones: Option<Vec<String>>,
}

impl From<Fields> for ContactPatch {
    fn from(f: Fields) -> Self {
        ContactPatch {
            first_name: f.first_name,
            last_name: f.last_name,
            email: f.email,
            phone: f.phone,
            company_name: f.company_name,
            status: f.status,
            other_emails: f.other_emails,
            other_phones: f.other_phones,
        }
    }
}

async fn create(
    State(st): State<ContactsState>,
    Scoped(auth, _): Scoped<MessagesWrite>,
    ApiJson(f): ApiJson<Fields>,
) -> Result<(StatusCode, Json<ContactView>), ApiError> {
    let has_identity = [&f.first_name, &f.last_name, &f.email, &f.phone]
        .iter()
        .any(|v| matches!(v, Some(Some(s)) if !s.trim().is_empty()));
    if !has_identity {
        return Err(bad("email", "a name, email or phone is required"));
    }
    crate::usage::enforce(&st.usage, &auth.tenant_id, crate::usage::Metric::Contacts).await?;
    let c = st.store.create_contact(&auth.tenant_id, f.into()).await?;
    crate::usage::counted(&st.usage, &auth.tenant_id, crate::usage::Metric::Contacts).await;
    Ok((StatusCode::CREATED, Json(ContactView::from(&c))))
}

async fn patch(
    State(st): State<ContactsState>,
    Scoped(auth, _): Scoped<MessagesWrite>,
    Path(id): Path<String>,
    ApiJson(f): ApiJson<Fields>,
) -> Result<Json<ContactView>, ApiError> {
    let c = st
        .store
        .update_contact(&auth.tenant_id, &id, f.into())
        .await?;
    Ok(Json(ContactView::from(&c)))
}

async fn one(
    State(st): State<ContactsState>,
    Scoped(auth, _): Scoped<MessagesRead>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<ContactDetail>, ApiError> {
    let n = query_limit(&q, TIMELINE_DEFAULT, TIMELINE_MAX)? as usize;
    let c = st.store.get_contact(&auth.tenant_id, &id).await?;
    let act = st
        .store
        .contact_activity(&auth.tenant_id, &c.id, &auth.user_id)
        .await?;
    // Visitor records and page activity from the presence: fresher than storage between its
    // flushes.
    let mut visitors = Vec::new();
    let mut events = Vec::new();
    for s in &act.sessions {
        match st
            .presence
            .visitor(&auth.tenant_id, &s.widget_id, &s.visitor_id)
            .await
        {
            Ok(v) => visitors.push(v),
            Err(ApiError::NotFound) => {}
            Err(e) => return Err(e),
        }
        events.extend(
            st.presence
                .activity(&auth.tenant_id, &s.widget_id, &s.visitor_id, SESSION_EVENTS)
                .await?,
        );
    }
    let sessions = act.sessions.clone();
    let (timeline, total) = timeline(&st, act, &visitors, &events, n);
    Ok(Json(ContactDetail {
        contact: ContactView::from(&c),
        sessions,
        timeline,
        timeline_total: total,
    }))
}

/// The contact's timeline, newest first, at most `n` entries; and how many there were.
pub(crate) fn timeline(
    st: &ContactsState,
    a: ContactActivity,
    visitors: &[Visitor],
    events: &[VisitorEvent],
    n: usize,
) -> (Vec<Value>, usize) {
    let mut items: Vec<(i64, String, Value)> = Vec::new();
    let mut push = |at: i64, id: &str, v: Value| items.push((at, id.to_owned(), v));
    for s in &a.sessions {
        push(
            s.attached_at,
            &format!("{}/{}", s.widget_id, s.visitor_id),
            json!({"type": "session.attached", "at": s.attached_at, "widgetId": s.widget_id,
                   "visitorId": s.visitor_id, "source": s.source}),
        );
    }
    for v in visitors {
        push(
            v.first_seen_at,
            &v.visitor_id,
            json!({"type": "visit", "at": v.first_seen_at, "widgetId": v.widget_id,
                   "visitorId": v.visitor_id, "lastSeenAt": v.last_seen_at,
                   "visitCount": v.visit_count, "referrer": v.referrer, "ip": v.ip,
                   "browser": v.browser, "os": v.os, "device": v.device,
                   "utmSource": v.utm_source, "utmMedium": v.utm_medium,
                   "utmCampaign": v.utm_campaign, "gclid": v.gclid, "fbclid": v.fbclid}),
        );
    }
    for e in events {
        push(
            e.at,
            &e.id,
            json!({"type": "activity", "at": e.at, "id": e.id, "widgetId": e.widget_id,
                   "visitorId": e.visitor_id, "event": e.kind, "url": e.url,
                   "data": serde_json::from_str::<Value>(&e.data).unwrap_or(Value::Null)}),
        );
    }
    for m in &a.messages {
        push(
            m.created_at,
            &m.id,
            json!({"type": "message", "at": m.created_at, "id": m.id, "widgetId": m.widget_id,
                   "visitorId": m.visitor_id, "conversationId": m.conversation_id,
                   "sender": m.sender, "authorUserId": m.author_user_id, "body": m.body}),
        );
    }
    for note in &a.notes {
        push(
            note.created_at,
            &note.id,
            json!({"type": "note", "at": note.created_at, "id": note.id,
                   "widgetId": note.widget_id, "visitorId": note.visitor_id,
                   "authorUserId": note.author_user_id, "visibility": note.visibility,
                   "body": note.body}),
        );
    }
    for c in &a.callbacks {
        let voice = c.voice_note.as_ref().map(|v| {
            json!({"contentType": v.content_type, "bytes": v.bytes, "url": format!(
                "{}/api/v1/widgets/{}/callbacks/{}/voice-note",
                st.public_url.trim_end_matches('/'), c.widget_id, c.id)})
        });
        push(
            c.created_at,
            &c.id,
            json!({"type": c.kind, "at": c.created_at, "id": c.id, "widgetId": c.widget_id,
                   "visitorId": c.visitor_id, "name": c.name, "email": c.email,
                   "phone": c.phone, "message": c.message, "fields": c.fields,
                   "voiceNote": voice}),
        );
    }
    for m in &a.merges {
        push(
            m.created_at,
            &m.id,
            json!({"type": "merge", "at": m.created_at, "id": m.id,
                   "sourceContactId": m.source_contact_id, "reason": m.reason,
                   "sessionsMoved": m.sessions_moved, "mergedByUserId": m.merged_by_user_id,
                   "source": m.source_snapshot}),
        );
    }
    items.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
    let total = items.len();
    (items.into_iter().take(n).map(|i| i.2).collect(), total)
}

/// A visitor session to attach.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttachBody {
    /// The widget the visitor was seen on (from ringside_list_widgets).
    #[schemars(length(min = 1, max = 128))]
    widget_id: String,
    /// The visitor (from ringside_get_live_visitors or a message).
    #[schemars(length(min = 1, max = 128))]
    visitor_id: String,
}

async fn attach(
    State(st): State<ContactsState>,
    Scoped(auth, _): Scoped<MessagesWrite>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<AttachBody>,
) -> Result<(StatusCode, Json<ringside_storage::ContactSession>), ApiError> {
    let c = st.store.get_contact(&auth.tenant_id, &id).await?;
    let w = st.store.get_widget(&auth.tenant_id, &b.widget_id).await?;
    // The visitor must have been seen on that widget (in memory or stored).
    st.presence
        .visitor(&auth.tenant_id, &w.id, &b.visitor_id)
        .await?;
    let s = st
        .store
        .attach_contact_session(&auth.tenant_id, &c.id, &w.id, &b.visitor_id, "api")
        .await
        .map_err(|e| match e {
            ringside_storage::StorageError::Conflict("merged contact") => ApiError::ConflictState(
                "the contact was merged; use the contact it was merged into",
            ),
            ringside_storage::StorageError::Conflict(_) => ApiError::ConflictState(
                "the session belongs to another contact; merge the contacts instead",
            ),
            e => e.into(),
        })?;
    Ok((StatusCode::CREATED, Json(s)))
}

/// A contact to merge into this one.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MergeBody {
    /// The duplicate merged into this one (it remains, pointing at this one).
    #[schemars(length(min = 1, max = 128))]
    source_contact_id: String,
    /// Why they are the same person (kept with the merge).
    #[schemars(length(min = 1, max = 500))]
    reason: String,
}

async fn merge(
    State(st): State<ContactsState>,
    Scoped(auth, _): Scoped<MessagesWrite>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<MergeBody>,
) -> Result<Json<Merged>, ApiError> {
    if b.source_contact_id == id {
        return Err(bad("sourceContactId", "cannot merge a contact into itself"));
    }
    if b.reason.trim().is_empty() {
        return Err(bad("reason", "must not be empty"));
    }
    let (target, m) = st
        .store
        .merge_contacts(
            &auth.tenant_id,
            &id,
            &b.source_contact_id,
            &b.reason,
            Some(&auth.user_id),
        )
        .await
        .map_err(|e| match e {
            ringside_storage::StorageError::Conflict(_) => ApiError::ConflictState(
                "the contact was merged; use the contact it was merged into",
            ),
            e => e.into(),
        })?;
    Ok(Json(Merged {
        contact: ContactView::from(&target),
        merge: m,
    }))
}
