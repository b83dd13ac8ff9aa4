//! Assigning conversations (chats) and calls to the tenant's users.
//!
//! `PUT /api/v1/widgets/{id}/visitors/{visitor_id}/assignee` (`messages:write`) and
//! `PUT /api/v1/calls/{id}/assignee` (`calls:write`) take `{"userId": "<id>" | "me" | null}`.
//! Owners and admins assign anyone of the tenant; an agent takes a conversation or call for
//! themself, or lets go of their own (403 otherwise). Call views carry `assignedTo`;
//! `GET .../assignee` and `GET /api/v1/widgets/{id}/assignments?userId=me` read them.
//!
//! Each change is published to dashboards (`conversation:assigned` for `messages:read`,
//! `call:assigned` for `calls:read`) and queued as the webhook events `conversation.assigned`
//! and `call.assigned` (`assignee` null when cleared).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::Json;
use ringside_domain::bus::{Audience, Event};
use ringside_storage::{AssignTo, Assignment, AuthContext, Role, StorageError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::{CallsWrite, MessagesRead, MessagesWrite, Scoped};
use crate::extract::ApiJson;
use crate::openapi::{Auth, Body, DataList, DocRouter, Spec};
use crate::{ApiError, AppState};

pub(crate) fn routes() -> DocRouter {
    const T: &str = "Team";
    DocRouter::new("/api/v1")
        .get(
            "/widgets/{id}/visitors/{visitor_id}/assignee",
            conversation_assignee,
            Spec::new(
                T,
                Auth::Scope("messages:read"),
                "Who the visitor's chat is assigned to",
            )
            .returns::<Assignee>(),
        )
        .put(
            "/widgets/{id}/visitors/{visitor_id}/assignee",
            assign_conversation,
            Spec::new(
                T,
                Auth::Scope("messages:write"),
                "Assign the visitor's chat to a user (agents: to themselves), or clear it",
            )
            .body(Body::Json("userId: a user id, \"me\", or null"))
            .takes::<AssignBody>()
            .returns::<Assignee>()
            .also(&[(409, "The assignment changed meanwhile; look again")]),
        )
        .get(
            "/widgets/{id}/assignments",
            list_assignments,
            Spec::new(
                T,
                Auth::Scope("messages:read"),
                "The widget's assigned chats, newest first",
            )
            .query(&[("userId", "Only this user's (\"me\": yours)")])
            .returns::<DataList<AssignedChat>>(),
        )
        .put(
            "/calls/{id}/assignee",
            assign_call,
            Spec::new(
                T,
                Auth::Scope("calls:write"),
                "Assign a call to a user (agents: to themselves), or clear it",
            )
            .body(Body::Json("userId: a user id, \"me\", or null"))
            .takes::<AssignBody>()
            .returns::<Assignee>()
            .also(&[(409, "The assignment changed meanwhile; look again")]),
        )
}

/// Whom to assign to.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AssignBody {
    /// A user id of the account, `me`, or null to clear the assignment.
    #[schemars(example = &"me")]
    user_id: Option<String>,
}

/// The assignment now (null: nobody).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Assignee {
    /// Who, by whom, since when.
    pub assignee: Option<Assignment>,
}

/// An assigned chat.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssignedChat {
    /// The visitor whose chat it is.
    pub visitor_id: String,
    /// Who, by whom, since when.
    pub assignee: Assignment,
}

/// The assignee a request names (`me` is the caller), after the role check: owners and admins
/// assign anyone; agents take for themselves or let go of what is theirs (`current`).
fn target<'a>(
    ctx: &'a AuthContext,
    asked: &'a Option<String>,
    current: Option<&Assignment>,
) -> Result<Option<&'a str>, ApiError> {
    let who = asked
        .as_deref()
        .map(|u| if u == "me" { ctx.user_id.as_str() } else { u });
    if ctx.role == Role::Agent {
        let own = |u: &str| u == ctx.user_id;
        let allowed = match who {
            Some(u) => own(u) && current.is_none_or(|c| own(&c.user_id)),
            None => current.is_none_or(|c| own(&c.user_id)),
        };
        if !allowed {
            return Err(ApiError::RoleForbidden(
                "owners and admins (agents take or let go of their own)",
            ));
        }
    }
    Ok(who)
}

/// What an agent's change must still find in place: the assignment they were allowed to
/// change (theirs, or nobody's). Owners and admins override whatever is there.
fn expectation<'a>(ctx: &AuthContext, current: Option<&'a Assignment>) -> Option<Option<&'a str>> {
    (ctx.role == Role::Agent).then(|| current.map(|c| c.user_id.as_str()))
}

fn bad_user(e: StorageError) -> ApiError {
    match e {
        StorageError::Conflict(_) => {
            ApiError::ConflictState("the assignment changed meanwhile; look again")
        }
        StorageError::Invalid("userId") => ApiError::InvalidField {
            field: "userId",
            reason: "not a user of this account",
        },
        other => other.into(),
    }
}

fn visitor(id: &str) -> Result<(), ApiError> {
    if crate::widget_runtime::valid_client_id(id) {
        Ok(())
    } else {
        Err(ApiError::InvalidField {
            field: "visitorId",
            reason: "6-128 letters, digits, _ - . :",
        })
    }
}

async fn conversation_assignee(
    State(st): State<AppState>,
    Scoped(ctx, _): Scoped<MessagesRead>,
    Path((id, visitor_id)): Path<(String, String)>,
) -> Result<Json<Assignee>, ApiError> {
    visitor(&visitor_id)?;
    st.store.get_widget(&ctx.tenant_id, &id).await?;
    let a = st
        .store
        .conversation_assignee(&ctx.tenant_id, &id, &visitor_id)
        .await?;
    Ok(Json(Assignee { assignee: a }))
}

async fn assign_conversation(
    State(st): State<AppState>,
    Scoped(ctx, _): Scoped<MessagesWrite>,
    Path((id, visitor_id)): Path<(String, String)>,
    ApiJson(b): ApiJson<AssignBody>,
) -> Result<Json<Assignee>, ApiError> {
    visitor(&visitor_id)?;
    st.store.get_widget(&ctx.tenant_id, &id).await?;
    let current = st
        .store
        .conversation_assignee(&ctx.tenant_id, &id, &visitor_id)
        .await?;
    let who = target(&ctx, &b.user_id, current.as_ref())?;
    let a = st
        .store
        .assign_conversation(
            &ctx.tenant_id,
            &id,
            &visitor_id,
            AssignTo {
                user_id: who,
                by: &ctx.user_id,
                now: ringside_storage::now_ms(),
                expect: expectation(&ctx, current.as_ref()),
            },
        )
        .await
        .map_err(bad_user)?;
    let data = json!({"widgetId": id, "visitorId": visitor_id, "assignee": a,
                      "by": ctx.user_id});
    announce(
        &st,
        &ctx.tenant_id,
        Some(&id),
        Some(&visitor_id),
        false,
        &data,
    )
    .await?;
    Ok(Json(Assignee { assignee: a }))
}

/// Tells dashboards and webhooks about an assignment.
async fn announce(
    st: &AppState,
    tenant_id: &str,
    widget_id: Option<&str>,
    visitor_id: Option<&str>,
    call: bool,
    data: &Value,
) -> Result<(), ApiError> {
    let (kind, scope, hook) = if call {
        ("call:assigned", "calls:read", "call.assigned")
    } else {
        (
            "conversation:assigned",
            "messages:read",
            "conversation.assigned",
        )
    };
    st.bus.publish(tenant_id, || {
        Event::new(
            kind,
            Audience::Tenant(scope),
            widget_id,
            visitor_id,
            data.clone(),
            ringside_storage::now_ms(),
        )
    });
    st.store
        .enqueue_webhook_event(tenant_id, hook, widget_id, &{
            // Receivers get the dashboard page of the chat or call.
            let mut d = data.clone();
            let page = match (call, data["callId"].as_str(), widget_id, visitor_id) {
                (true, Some(id), _, _) => Some(crate::http::urls::call_page(&st.public_url, id)),
                (false, _, Some(w), Some(v)) => {
                    Some(crate::http::urls::chat_page(&st.public_url, w, v))
                }
                _ => None,
            };
            if let Some(p) = page {
                d["dashboardUrl"] = json!(p);
            }
            d
        })
        .await?;
    Ok(())
}

async fn list_assignments(
    State(st): State<AppState>,
    Scoped(ctx, _): Scoped<MessagesRead>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<DataList<AssignedChat>>, ApiError> {
    let user = match q.get("userId").map(String::as_str) {
        None => None,
        Some("me") => Some(ctx.user_id.as_str()),
        Some(u) if crate::conversations::plain_id(u) => Some(u),
        // Never handed to the database as is (PostgreSQL refuses a NUL in text: a 500).
        Some(_) => {
            return Err(ApiError::InvalidField {
                field: "userId",
                reason: "a user id or \"me\"",
            })
        }
    };
    let list = st
        .store
        .list_conversation_assignments(&ctx.tenant_id, &id, user)
        .await?;
    let data: Vec<AssignedChat> = list
        .into_iter()
        .map(|(visitor_id, assignee)| AssignedChat {
            visitor_id,
            assignee,
        })
        .collect();
    Ok(Json(data.into()))
}

async fn assign_call(
    State(st): State<AppState>,
    Scoped(ctx, _): Scoped<CallsWrite>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<AssignBody>,
) -> Result<Json<Assignee>, ApiError> {
    let call = st.store.get_call(&ctx.tenant_id, &id).await?;
    let current = st
        .store
        .call_assignees(&ctx.tenant_id, std::slice::from_ref(&id))
        .await?
        .remove(&id);
    let who = target(&ctx, &b.user_id, current.as_ref())?;
    let a = st
        .store
        .assign_call(
            &ctx.tenant_id,
            &id,
            AssignTo {
                user_id: who,
                by: &ctx.user_id,
                now: ringside_storage::now_ms(),
                expect: expectation(&ctx, current.as_ref()),
            },
        )
        .await
        .map_err(bad_user)?;
    let data = json!({"callId": id, "widgetId": call.widget_id, "visitorId": call.visitor_id,
                      "assignee": a, "by": ctx.user_id});
    announce(
        &st,
        &ctx.tenant_id,
        call.widget_id.as_deref(),
        call.visitor_id.as_deref(),
        true,
        &data,
    )
    .await?;
    Ok(Json(Assignee { assignee: a }))
}
