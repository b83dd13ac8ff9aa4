//! `/api/v1/widgets/{id}/call-settings`: how a widget's browser calls are delivered — ring
//! timeout, recording, whether the assigned SIP extensions ring, PSTN forward numbers and the
//! outbound trunk they go through (each answerer must press 1 after the accept prompt), and
//! the queue number trusted PBX calls dial. Read with `widgets:read`, replaced with
//! `widgets:write`; a widget never configured has the defaults.
//!
//! `/api/v1/widgets/{id}/hours`: the widget's business hours (`enabled`, `timeZone` from the
//! zone database, weekly `intervals` of `{day, open, close}`), and `availability` now on GET.
//! Outside them the widget shows its offline form and says when the team is back.

use axum::extract::{Path, State};
use axum::Json;
use ringside_storage::{BusinessHours, CallSettings};

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
            Spec::new(T, Auth::Scope("widgets:read"), "A widget's call settings")
                .returns::<CallSettings>(),
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
            ))
            .takes::<CallSettings>()
            .returns::<CallSettings>()
            .also(&[(409, "queueNumber is already another widget's queue number")]),
        )
        .get(
            "/widgets/{id}/hours",
            get_hours,
            Spec::new(
                T,
                Auth::Scope("widgets:read"),
                "A widget's business hours, and whether it is available now",
            )
            .returns::<HoursView>(),
        )
        .put(
            "/widgets/{id}/hours",
            put_hours,
            Spec::new(
                T,
                Auth::Scope("widgets:write"),
                "Replace a widget's business hours",
            )
            .body(Body::Json(
                "enabled, timeZone (IANA, e.g. Europe/Lisbon), intervals: [{day: mon..sun, \
                 open: HH:MM, close: HH:MM}]",
            ))
            .takes::<HoursBody>()
            .returns::<BusinessHours>(),
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
    st.store
        .put_call_settings(&ctx.tenant_id, &id, &s)
        .await
        .map_err(|e| match e {
            ringside_storage::StorageError::Conflict(_) => {
                ApiError::ConflictState("queueNumber is already another widget's queue number")
            }
            e => e.into(),
        })?;
    st.directory
        .queue_number_set(&ctx.tenant_id, &id, s.queue_number.as_deref());
    Ok(Json(s))
}

/// What the hours handlers use of the application state.
#[derive(Clone)]
pub struct HoursState {
    store: ringside_storage::Store,
    console: std::sync::Arc<crate::console::ConsoleOperators>,
}

impl axum::extract::FromRef<AppState> for HoursState {
    fn from_ref(st: &AppState) -> Self {
        HoursState {
            store: st.store.clone(),
            console: st.console.clone(),
        }
    }
}

async fn get_hours(
    Scoped(ctx, _): Scoped<WidgetsRead>,
    State(st): State<HoursState>,
    Path(id): Path<String>,
) -> Result<Json<HoursView>, ApiError> {
    let hours = st.store.get_business_hours(&ctx.tenant_id, &id).await?;
    let w = st.store.get_widget(&ctx.tenant_id, &id).await?;
    let now = ringside_storage::now_ms();
    let availability = crate::availability::now_for(&st.store, &st.console, &w, now).await;
    Ok(Json(HoursView {
        hours,
        availability,
    }))
}

/// A widget's business hours and its availability now.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct HoursView {
    /// The hours.
    #[serde(flatten)]
    pub hours: BusinessHours,
    /// Whether the widget is available now, and if not, why and until when.
    pub availability: crate::availability::Availability,
}

/// What `PUT .../hours` takes: the hours, and (ignored) the `availability` a GET returned, so
/// that a read-change-write round trip works.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HoursBody {
    /// Whether the hours apply (off: always open).
    #[serde(default)]
    enabled: bool,
    /// IANA time zone name (`Europe/Lisbon`); `UTC` when empty.
    #[serde(default)]
    #[schemars(example = &"Europe/Lisbon")]
    time_zone: String,
    /// The weekly opening intervals (at most 28; at least one when enabled).
    #[serde(default)]
    #[schemars(length(max = 28))]
    intervals: Vec<ringside_storage::OpenInterval>,
    /// Ignored (what a GET answered, so a read-change-write round trip works).
    #[serde(default)]
    #[allow(dead_code)]
    #[schemars(with = "Option<serde_json::Value>")]
    availability: Option<serde::de::IgnoredAny>,
}

async fn put_hours(
    Scoped(ctx, _): Scoped<WidgetsWrite>,
    State(st): State<HoursState>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<HoursBody>,
) -> Result<Json<BusinessHours>, ApiError> {
    let h = BusinessHours {
        enabled: b.enabled,
        time_zone: b.time_zone,
        intervals: b.intervals,
    };
    crate::availability::zone(&h.time_zone)?;
    st.store
        .put_business_hours(&ctx.tenant_id, &id, &h)
        .await
        .map_err(|e| match e {
            ringside_storage::StorageError::Invalid("intervals") => ApiError::InvalidField {
                field: "intervals",
                reason: "days mon..sun, times HH:MM with close after open, at most 28, \
                         at least one when enabled",
            },
            other => other.into(),
        })?;
    Ok(Json(h))
}
