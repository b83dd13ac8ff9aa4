//! Canned replies: the team's saved answers, put into a chat reply by their shortcut.
//!
//! - `GET /api/v1/canned-replies` (`messages:read`): all of the tenant's, by shortcut.
//! - `POST /api/v1/canned-replies` (`messages:write`) with `{"shortcut", "body"}`: 201; 409
//!   `conflict` for a shortcut in use; 422 for a bad shortcut (1-32 of a-z 0-9 - _) or body.
//! - `PATCH /api/v1/canned-replies/{id}` (`messages:write`) with `shortcut?`, `body?`.
//! - `DELETE /api/v1/canned-replies/{id}` (`messages:write`): 204.
//!
//! Every member of the team uses them and saves new ones; an agent changes or deletes only
//! those they saved (403 `forbidden` for the rest), owners and admins any.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use ringside_storage::{AuthContext, CannedReply, Role, StorageError};
use serde::Deserialize;

use crate::auth::{MessagesRead, MessagesWrite, Scoped};
use crate::extract::ApiJson;
use crate::openapi::{Auth, Body, DataList, DocRouter, Spec};
use crate::{ApiError, AppState};

pub(crate) fn routes() -> DocRouter {
    const T: &str = "Conversations";
    DocRouter::new("/api/v1")
        .get(
            "/canned-replies",
            list,
            Spec::new(T, Auth::Scope("messages:read"), "The team's canned replies")
                .returns::<DataList<CannedReply>>(),
        )
        .post(
            "/canned-replies",
            create,
            Spec::new(T, Auth::Scope("messages:write"), "Save a canned reply")
                .body(Body::Json("shortcut (1-32 of a-z 0-9 - _), body"))
                .takes::<NewBody>()
                .ok(201, "The canned reply")
                .returns::<CannedReply>()
                .also(&[(409, "The shortcut is in use")]),
        )
        .patch(
            "/canned-replies/{id}",
            update,
            Spec::new(T, Auth::Scope("messages:write"), "Change a canned reply")
                .body(Body::Json("shortcut?, body?"))
                .takes::<PatchBody>()
                .returns::<CannedReply>()
                .also(&[(409, "The shortcut is in use")]),
        )
        .delete(
            "/canned-replies/{id}",
            remove,
            Spec::new(T, Auth::Scope("messages:write"), "Delete a canned reply")
                .ok(204, "Deleted")
                .content(""),
        )
}

fn invalid(e: StorageError) -> ApiError {
    match e {
        StorageError::Invalid("shortcut") => ApiError::InvalidField {
            field: "shortcut",
            reason: "1-32 letters a-z, digits, - and _",
        },
        StorageError::Invalid("body") => ApiError::InvalidField {
            field: "body",
            reason: "1-4000 characters",
        },
        StorageError::Invalid(_) => ApiError::InvalidField {
            field: "shortcut",
            reason: "an account keeps at most 200 canned replies",
        },
        other => other.into(),
    }
}

async fn list(
    State(st): State<AppState>,
    Scoped(ctx, _): Scoped<MessagesRead>,
) -> Result<Json<DataList<CannedReply>>, ApiError> {
    let data = st.store.list_canned_replies(&ctx.tenant_id).await?;
    Ok(Json(data.into()))
}

/// A new canned reply.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBody {
    /// 1-32 of a-z 0-9 - _, unique in the account.
    #[schemars(regex(pattern = r"^[a-z0-9_-]{1,32}$"), example = &"pricing")]
    shortcut: String,
    /// The text, 1-4000 characters.
    #[schemars(length(min = 1, max = 4000), example = &"Plans start at 19 EUR a month: https://shop.example/pricing")]
    body: String,
}

async fn create(
    State(st): State<AppState>,
    Scoped(ctx, _): Scoped<MessagesWrite>,
    ApiJson(b): ApiJson<NewBody>,
) -> Result<(StatusCode, Json<CannedReply>), ApiError> {
    let c = st
        .store
        .create_canned_reply(&ctx.tenant_id, &b.shortcut, &b.body, Some(&ctx.user_id))
        .await
        .map_err(invalid)?;
    Ok((StatusCode::CREATED, Json(c)))
}

/// What to change of a canned reply.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    /// A new shortcut.
    #[serde(default)]
    #[schemars(regex(pattern = r"^[a-z0-9_-]{1,32}$"))]
    shortcut: Option<String>,
    /// A new text.
    #[serde(default)]
    #[schemars(length(min = 1, max = 4000))]
    body: Option<String>,
}

/// 404 unless `id` is one of the tenant's replies; 403 when `ctx` is an agent and someone
/// else saved it.
async fn may_change(st: &AppState, ctx: &AuthContext, id: &str) -> Result<(), ApiError> {
    if !crate::conversations::plain_id(id) {
        return Err(ApiError::NotFound);
    }
    let reply = st
        .store
        .list_canned_replies(&ctx.tenant_id)
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or(ApiError::NotFound)?;
    if ctx.role == Role::Agent && reply.created_by.as_deref() != Some(ctx.user_id.as_str()) {
        return Err(ApiError::RoleForbidden(
            "owners and admins, or the agent who saved it",
        ));
    }
    Ok(())
}

async fn update(
    State(st): State<AppState>,
    Scoped(ctx, _): Scoped<MessagesWrite>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<PatchBody>,
) -> Result<Json<CannedReply>, ApiError> {
    may_change(&st, &ctx, &id).await?;
    Ok(Json(
        st.store
            .update_canned_reply(
                &ctx.tenant_id,
                &id,
                b.shortcut.as_deref(),
                b.body.as_deref(),
            )
            .await
            .map_err(invalid)?,
    ))
}

async fn remove(
    State(st): State<AppState>,
    Scoped(ctx, _): Scoped<MessagesWrite>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    may_change(&st, &ctx, &id).await?;
    st.store.delete_canned_reply(&ctx.tenant_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
