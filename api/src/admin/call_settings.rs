//! `/api/v1/widgets/{id}/call-settings`: how a widget's browser calls are delivered — ring
//! timeout, recording, whether the assigned SIP extensions ring, PSTN forward numbers and the
//! outbound trunk they go through (each answerer must press 1 after the accept prompt), and
//! the queue number trusted PBX calls dial. Read with `widgets:read`, replaced with
//! `widgets:write`; a widget never configured has the defaults.

use axum::extract::{Path, State};
use axum::Json;
use ringside_storage::CallSettings;

use crate::auth::{Scoped, WidgetsRead, WidgetsWrite};
use crate::extract::ApiJson;
use crate::openapi::{Auth, Body, DocRouter, Spec};
use crate::{ApiError, AppState};

/// What the call-settings handlers use of the application state.
#[derive(Clone)]
pub struct CallSettingsState {
    store: ringside_storage::Store,
    directory: std::sync::Arc<dyn crate::SipDirectory>,
}

impl axum::extract::FromRef<AppState> for CallSettingsState {
    fn from_ref(st: &AppState) -> Self {
        CallSettingsState {
            store: st.store.clone(),
            directory: st.directory.clone(),
        }
    }
}

pub(crate) fn routes() -> DocRouter {
    const T: &str = "Widgets";
    DocRouter::new("/api/v1")
        .get(
            "/widgets/{id}/call-settings",
            get_settings,
            Spec::new(T, Auth::Scope("widgets:read"), "A widget's call settings"),
        )
        .put(
            "/widgets/{id}/call-settings",
            put_settings,
            Spec::new(
                T,
                Auth::Scope("widgets:write"),
                "Replace a widget's call settings (ringTimeoutSecs 5-300, record, \
                 ringExtensions, pstnNumbers in E.164, pstnTrunkId, queueNumber)",
            )
            .body(Body::Json(
                "ringTimeoutSecs, record, ringExtensions, pstnNumbers, pstnTrunkId, queueNumber",
            )),
        )
}

async fn get_settings(
    Scoped(ctx, _): Scoped<WidgetsRead>,
    State(st): State<CallSettingsState>,
    Path(id): Path<String>,
) -> Result<Json<CallSettings>, ApiError> {
    Ok(Json(st.store.get_call_settings(&ctx.tenant_id, &id).await?))
}

async fn put_settings(
    Scoped(ctx, _): Scoped<WidgetsWrite>,
    State(st): State<CallSettingsState>,
    Path(id): Path<String>,
    ApiJson(s): ApiJson<CallSettings>,
) -> Result<Json<CallSettings>, ApiError> {
    if let Some(t) = &s.pstn_trunk_id {
        let trunk = match st.store.get_trunk(&ctx.tenant_id, t).await {
            Err(ringside_storage::StorageError::NotFound) => {
                return Err(ApiError::InvalidField {
                    field: "pstnTrunkId",
                    reason: "no such trunk",
                })
            }
            r => r?,
        };
        if trunk.outbound_host.is_none() {
            return Err(ApiError::InvalidField {
                field: "pstnTrunkId",
                reason: "the trunk has no outbound host",
            });
        }
    }
    st.store.put_call_settings(&ctx.tenant_id, &id, &s).await?;
    st.directory
        .queue_number_set(&ctx.tenant_id, &id, s.queue_number.as_deref());
    Ok(Json(s))
}
