//! Conversations as work: the inbox's list of visitor chats by state and assignee, and a
//! chat's state (open, pending, resolved, snoozed) and unread count.
//!
//! - `GET /api/v1/conversations` (`messages:read`): `state` (`open`, `pending`,
//!   `resolved`, `snoozed`), `assignee` (`me`, `none` or a user id), `widgetId`, `cursor`
//!   (the previous page's `nextCursor`), `before` (unix ms: older activity only) and `limit`
//!   (1-200, default 50). Answers `{data, counts, nextCursor, nextBefore}` (the next ones
//!   `null` on the last page); `counts` is per view (open, pending, resolved, snoozed, mine,
//!   unassigned, unread). A user given some widgets sees those widgets' chats only.
//! - `GET /api/v1/widgets/{id}/visitors/{visitorId}/conversation` (`messages:read`).
//! - `PATCH` the same (`messages:write`) with `{"state", "snoozedUntil"?}`: a snooze needs a
//!   future time (at most 90 days ahead); a visitor message reopens a resolved or snoozed
//!   chat. Published to dashboards as `conversation:state` and queued as the webhook event
//!   `conversation.state_changed`.
//! - `POST .../conversation/read` (`messages:read`): the team has read it (unread 0),
//!   published as `conversation:read` so other dashboards clear their badge.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::Json;
use ringside_domain::bus::{Audience, Event};
use ringside_storage::{
    now_ms, AuthContext, Conversation, ConversationFilter, ConversationKey, StorageError,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::{MessagesRead, MessagesWrite, Scoped};
use crate::extract::ApiJson;
use crate::openapi::{Auth, Body, DocRouter, Spec};
use crate::{ApiError, AppState};

pub(crate) fn routes() -> DocRouter {
    const T: &str = "Conversations";
    DocRouter::new("/api/v1")
        .get(
            "/conversations",
            list,
            Spec::new(
                T,
                Auth::Scope("messages:read"),
                "The inbox: visitor chats by state and assignee, latest activity first, with \
                 counts per view",
            )
            .query(&[
                (
                    "state",
                    "open | pending | resolved | snoozed (default: every state)",
                ),
                ("assignee", "me | none | a user id"),
                ("widgetId", "Only this widget's"),
                (
                    "cursor",
                    "The previous page's nextCursor: the chats after its last one",
                ),
                ("before", "Unix ms: chats whose last message is older"),
                ("limit", "1-200, default 50"),
            ])
            .returns::<ConversationList>(),
        )
        .get(
            "/widgets/{id}/visitors/{visitor_id}/conversation",
            get_one,
            Spec::new(
                T,
                Auth::Scope("messages:read"),
                "A visitor's chat: state, unread count, assignee, contact",
            )
            .returns::<Conversation>(),
        )
        .patch(
            "/widgets/{id}/visitors/{visitor_id}/conversation",
            set_state,
            Spec::new(
                T,
                Auth::Scope("messages:write"),
                "Open, set pending, resolve or snooze a visitor's chat",
            )
            .body(Body::Json(
                "state: open | pending | resolved | snoozed; snoozedUntil (unix ms, with \
                 snoozed only)",
            ))
            .takes::<StateBody>()
            .returns::<Conversation>(),
        )
        .post(
            "/widgets/{id}/visitors/{visitor_id}/conversation/read",
            mark_read,
            Spec::new(
                T,
                Auth::Scope("messages:read"),
                "The team has read the visitor's chat (unread count to 0)",
            )
            .returns::<Conversation>(),
        )
}

fn bad(field: &'static str, reason: &'static str) -> ApiError {
    ApiError::InvalidField { field, reason }
}

fn visitor(id: &str) -> Result<(), ApiError> {
    if crate::widget_runtime::valid_client_id(id) {
        Ok(())
    } else {
        Err(bad("visitorId", "6-128 letters, digits, _ - . :"))
    }
}

/// An id as Ringside makes them (uuids, `call_…`): 1-128 letters, digits, `-`, `_`, `.`, `:`.
pub(crate) fn plain_id(v: &str) -> bool {
    (1..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// A page's `nextCursor`: where its last chat stands (`<ms>~<widget>~<visitor>`).
pub(crate) fn cursor(c: &Conversation) -> String {
    format!("{}~{}~{}", c.last_message_at, c.widget_id, c.visitor_id)
}

/// The key a `cursor` names; `None` for anything else.
pub(crate) fn parse_cursor(c: &str) -> Option<ConversationKey> {
    let mut it = c.splitn(3, '~');
    let at = it.next()?.parse::<i64>().ok().filter(|t| *t >= 0)?;
    let widget_id = it.next().filter(|w| plain_id(w))?;
    let visitor_id = it
        .next()
        .filter(|v| crate::widget_runtime::valid_client_id(v))?;
    Some(ConversationKey {
        last_message_at: at,
        visitor_id: visitor_id.to_owned(),
        widget_id: widget_id.to_owned(),
    })
}

/// The filter a query asks for, for `ctx` (a user given some widgets sees only theirs).
fn filter(ctx: &AuthContext, q: &HashMap<String, String>) -> Result<ConversationFilter, ApiError> {
    const KNOWN: &[&str] = &["state", "assignee", "widgetId", "cursor", "before", "limit"];
    if q.keys().any(|k| !KNOWN.contains(&k.as_str())) {
        return Err(bad(
            "query",
            "unknown parameter (state, assignee, widgetId, cursor, before, limit)",
        ));
    }
    let mut f = ConversationFilter {
        limit: 50,
        widgets: ctx.widgets.clone(),
        ..ConversationFilter::default()
    };
    if let Some(s) = q.get("state").filter(|s| !s.is_empty()) {
        if !ringside_storage::CONVERSATION_STATES.contains(&s.as_str()) {
            return Err(bad("state", "open, pending, resolved or snoozed"));
        }
        f.state = Some(s.clone());
    }
    match q.get("assignee").map(String::as_str) {
        None | Some("") => {}
        Some("me") => f.assignee = Some(ctx.user_id.clone()),
        Some("none") => f.unassigned = true,
        Some(u) if plain_id(u) => f.assignee = Some(u.to_owned()),
        Some(_) => return Err(bad("assignee", "me, none or a user id")),
    }
    if let Some(w) = q.get("widgetId").filter(|w| !w.is_empty()) {
        if !plain_id(w) {
            return Err(bad("widgetId", "a widget id"));
        }
        f.widget_id = Some(w.clone());
    }
    if let Some(b) = q.get("before") {
        f.before = Some(
            b.parse::<i64>()
                .ok()
                .filter(|b| *b > 0)
                .ok_or(bad("before", "unix ms"))?,
        );
    }
    if let Some(c) = q.get("cursor").filter(|c| !c.is_empty()) {
        f.after = Some(parse_cursor(c).ok_or(bad("cursor", "a nextCursor as answered"))?);
    }
    if let Some(l) = q.get("limit") {
        f.limit = l
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=ringside_storage::MAX_LIST_CONVERSATIONS).contains(l))
            .ok_or(bad("limit", "1-200"))?;
    }
    Ok(f)
}

async fn list(
    State(st): State<AppState>,
    Scoped(ctx, _): Scoped<MessagesRead>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<ConversationList>, ApiError> {
    let f = filter(&ctx, &q)?;
    if let Some(w) = &f.widget_id {
        // Another tenant's (or a withheld) widget answers 404, as everywhere.
        if ctx.widgets.as_ref().is_some_and(|mine| !mine.contains(w)) {
            return Err(ApiError::NotFound);
        }
        st.store.get_widget(&ctx.tenant_id, w).await?;
    }
    let now = now_ms();
    let data = st.store.list_conversations(&ctx.tenant_id, &f, now).await?;
    let counts = st
        .store
        .conversation_counts(&ctx.tenant_id, &ctx.user_id, ctx.widgets.as_deref(), now)
        .await?;
    let full = i64::try_from(data.len()).unwrap_or(i64::MAX) >= f.limit;
    let last = data.last().filter(|_| full);
    Ok(Json(ConversationList {
        next_cursor: last.map(cursor),
        next_before: last.map(|c| c.last_message_at),
        data,
        counts,
    }))
}

/// Answer of `GET /api/v1/conversations`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationList {
    /// The chats, latest activity first.
    data: Vec<Conversation>,
    /// How many chats each inbox view holds.
    counts: ringside_storage::ConversationCounts,
    /// Pass as `cursor` for the next page (null on the last page).
    next_cursor: Option<String>,
    /// The last chat's last message, Unix milliseconds (for `before`; null on the last page).
    next_before: Option<i64>,
}

async fn get_one(
    State(st): State<AppState>,
    Scoped(ctx, _): Scoped<MessagesRead>,
    Path((id, visitor_id)): Path<(String, String)>,
) -> Result<Json<Conversation>, ApiError> {
    visitor(&visitor_id)?;
    Ok(Json(
        st.store
            .get_conversation(&ctx.tenant_id, &id, &visitor_id, now_ms())
            .await?,
    ))
}

/// A chat's new state.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StateBody {
    /// The state.
    #[schemars(extend("enum" = ["open", "pending", "resolved", "snoozed"]))]
    state: String,
    /// Until when, Unix milliseconds (with `snoozed` only).
    #[serde(default)]
    snoozed_until: Option<i64>,
}

async fn set_state(
    State(st): State<AppState>,
    Scoped(ctx, _): Scoped<MessagesWrite>,
    Path((id, visitor_id)): Path<(String, String)>,
    ApiJson(b): ApiJson<StateBody>,
) -> Result<Json<Conversation>, ApiError> {
    visitor(&visitor_id)?;
    if !ringside_storage::CONVERSATION_STATES.contains(&b.state.as_str()) {
        return Err(bad("state", "open, pending, resolved or snoozed"));
    }
    let now = now_ms();
    let c = st
        .store
        .set_conversation_state(
            &ctx.tenant_id,
            &id,
            &visitor_id,
            &b.state,
            b.snoozed_until,
            now,
        )
        .await
        .map_err(|e| match e {
            StorageError::Invalid("snoozedUntil") => bad(
                "snoozedUntil",
                "a future time within 90 days, with state snoozed only",
            ),
            other => other.into(),
        })?;
    let data = json!({"widgetId": id, "visitorId": visitor_id, "state": c.state,
                      "snoozedUntil": c.snoozed_until, "by": ctx.user_id});
    publish(&st, &ctx.tenant_id, &c, "conversation:state", &data);
    st.store
        .enqueue_webhook_event(
            &ctx.tenant_id,
            "conversation.state_changed",
            Some(&c.widget_id),
            &{
                let mut hook = data.clone();
                hook["dashboardUrl"] = json!(crate::http::urls::chat_page(
                    &st.public_url,
                    &c.widget_id,
                    &c.visitor_id
                ));
                hook
            },
        )
        .await?;
    Ok(Json(c))
}

async fn mark_read(
    State(st): State<AppState>,
    Scoped(ctx, _): Scoped<MessagesRead>,
    Path((id, visitor_id)): Path<(String, String)>,
) -> Result<Json<Conversation>, ApiError> {
    visitor(&visitor_id)?;
    let c = st
        .store
        .mark_conversation_read(&ctx.tenant_id, &id, &visitor_id, now_ms())
        .await?;
    let data = json!({"widgetId": id, "visitorId": visitor_id, "by": ctx.user_id});
    publish(&st, &ctx.tenant_id, &c, "conversation:read", &data);
    Ok(Json(c))
}

fn publish(st: &AppState, tenant_id: &str, c: &Conversation, kind: &'static str, data: &Value) {
    st.bus.publish(tenant_id, || {
        Event::new(
            kind,
            Audience::Tenant("messages:read"),
            Some(&c.widget_id),
            Some(&c.visitor_id),
            data.clone(),
            now_ms(),
        )
    });
}
