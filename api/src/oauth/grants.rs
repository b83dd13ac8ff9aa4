//! Connected apps: the OAuth grants people gave, listed and disconnected from the dashboard
//! (`/api/v1/oauth/grants`, the settings page `/settings/apps`). Everyone sees and
//! disconnects their own; owners and admins see and disconnect everyone's in the tenant.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ringside_storage::{now_ms, OAuthGrant};

use crate::auth::SignedIn;
use crate::openapi::{Auth, DocRouter, Spec};
use crate::{ApiError, AppState};

/// Whose grants `who` sees: `None` for the whole tenant's.
pub(crate) fn scope_of(who: &SignedIn) -> Option<&str> {
    (!who.manages_tokens()).then_some(who.0.user_id.as_str())
}

/// Answer of `GET /api/v1/oauth/grants`.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct GrantList {
    /// Live grants, newest first.
    data: Vec<OAuthGrant>,
}

async fn list(State(st): State<AppState>, who: SignedIn) -> Result<Json<GrantList>, ApiError> {
    let data = st
        .store
        .list_oauth_grants(&who.0.tenant_id, scope_of(&who))
        .await?;
    Ok(Json(GrantList { data }))
}

async fn disconnect(
    State(st): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    st.store
        .revoke_oauth_grant(&who.0.tenant_id, scope_of(&who), &id, now_ms())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) fn routes() -> DocRouter {
    const T: &str = "Accounts";
    let any = Auth::Session("any signed-in user (owners and admins: everyone's)");
    DocRouter::new("/api/v1")
        .get(
            "/oauth/grants",
            list,
            Spec::new(
                T,
                any,
                "Connected apps: live OAuth grants (client, scopes, when connected, last used)",
            )
            .returns::<GrantList>(),
        )
        .delete(
            "/oauth/grants/{id}",
            disconnect,
            Spec::new(
                T,
                any,
                "Disconnect an app: revoke the grant and every token it issued",
            )
            .ok(204, "Disconnected")
            .content(""),
        )
}
