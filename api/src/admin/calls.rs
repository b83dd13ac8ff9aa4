//! `/api/v1/calls`: call records of the tenant (scope `calls:read`), and a widget's calls:
//! `/api/v1/widgets/{id}/calls` (`?visitorId=`) and `/api/v1/widgets/{id}/calls-waiting`
//! (browser calls still ringing, with a dashboard link).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::Json;
use ringside_domain::{CallKind, CallStatus, EndReason, HangupSide, LegRole};
use ringside_storage::{CallLeg, CallRecord, LegStats};
use serde::{Deserialize, Serialize};

use crate::auth::{CallsRead, Scoped};
use crate::openapi::{Auth, DocRouter, Spec};
use crate::{ApiError, AppState};

/// What the call-history handlers use of the application state.
#[derive(Clone)]
pub struct CallsState {
    store: ringside_storage::Store,
    presence: std::sync::Arc<crate::Presence>,
    channels: std::sync::Arc<crate::channels::Channels>,
    public_url: std::sync::Arc<str>,
}

impl axum::extract::FromRef<AppState> for CallsState {
    fn from_ref(st: &AppState) -> Self {
        CallsState {
            store: st.store.clone(),
            presence: st.presence.clone(),
            channels: st.channels.clone(),
            public_url: st.public_url.as_str().into(),
        }
    }
}

pub(crate) fn routes() -> DocRouter {
    const T: &str = "Calls";
    let r = Auth::Scope("calls:read");
    DocRouter::new("/api/v1")
        .get(
            "/calls",
            list_calls,
            Spec::new(T, r, "Call history, newest first")
                .query(&[("limit", "1-1000")])
                .returns::<Vec<CallView>>(),
        )
        .get(
            "/calls/{id}",
            get_call,
            Spec::new(
                T,
                r,
                "One call with its legs, timings, end reason, who answered, per-leg quality \
                 and recording links",
            )
            .returns::<CallView>(),
        )
        .get(
            "/widgets/{id}/calls",
            widget_calls,
            Spec::new(T, r, "A widget's calls, newest first")
                .query(&[
                    ("visitorId", "Only this visitor's calls"),
                    ("limit", "1-500"),
                ])
                .returns::<Vec<CallView>>(),
        )
        .get(
            "/widgets/{id}/calls-waiting",
            widget_calls_waiting,
            Spec::new(
                T,
                r,
                "A widget's calls waiting for an answer (ringing now), with dashboard links",
            )
            .returns::<Vec<CallView>>(),
        )
}

/// A waiting call is shown for at most this long (older rows are left by a crash).
pub(crate) const WAITING_MAX_MS: i64 = 15 * 60 * 1000;

/// Query of `GET /api/v1/calls`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<String>,
}

/// A call as the API shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallView {
    id: String,
    kind: CallKind,
    from: String,
    to: String,
    status: CallStatus,
    started_at: i64,
    answered_at: Option<i64>,
    ended_at: Option<i64>,
    end_reason: Option<EndReason>,
    hangup_side: Option<HangupSide>,
    widget_id: Option<String>,
    visitor_id: Option<String>,
    answered_by: Option<String>,
    /// The cluster node that held the call (`RINGSIDE_NODE_ID`; absent on calls older than
    /// node ids).
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<String>,
    duration_ms: Option<i64>,
    legs: Vec<LegView>,
    /// Only on `GET /api/v1/calls/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    recordings: Option<Vec<crate::recordings::RecordingView>>,
    /// Only on calls-waiting: where an operator opens the call.
    #[serde(skip_serializing_if = "Option::is_none")]
    dashboard_url: Option<String>,
    /// Only on calls-waiting: the calling visitor's channel number, while its page is open.
    #[serde(skip_serializing_if = "Option::is_none")]
    channel_number: Option<String>,
    /// The user the call is assigned to, if any.
    assigned_to: Option<ringside_storage::Assignment>,
}

/// Fills in each call's assignee.
async fn with_assignees(
    store: &ringside_storage::Store,
    tenant_id: &str,
    mut views: Vec<CallView>,
) -> Result<Vec<CallView>, ApiError> {
    let ids: Vec<String> = views.iter().map(|v| v.id.clone()).collect();
    let mut assigned = store.call_assignees(tenant_id, &ids).await?;
    for v in &mut views {
        v.assigned_to = assigned.remove(&v.id);
    }
    Ok(views)
}

/// One leg of a call.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LegView {
    id: String,
    role: LegRole,
    sip_call_id: String,
    peer: String,
    started_at: i64,
    answered_at: Option<i64>,
    ended_at: Option<i64>,
    final_status: Option<i64>,
    quality: Option<QualityView>,
}

/// Media quality of a leg as measured by Ringside.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QualityView {
    packets_received: i64,
    packets_lost: i64,
    loss_percent: f64,
    jitter_ms: f64,
    rtt_ms: Option<f64>,
    packets_sent: i64,
}

impl From<LegStats> for QualityView {
    fn from(q: LegStats) -> Self {
        let expected = q.rx_packets + q.rx_lost.max(0);
        QualityView {
            packets_received: q.rx_packets,
            packets_lost: q.rx_lost,
            loss_percent: if expected > 0 {
                (q.rx_lost.max(0) as f64 * 10000.0 / expected as f64).round() / 100.0
            } else {
                0.0
            },
            jitter_ms: q.jitter_us as f64 / 1000.0,
            rtt_ms: q.rtt_us.map(|r| r as f64 / 1000.0),
            packets_sent: q.tx_packets,
        }
    }
}

impl From<CallLeg> for LegView {
    fn from(l: CallLeg) -> Self {
        LegView {
            id: l.id,
            role: l.role,
            sip_call_id: l.sip_call_id,
            peer: l.peer,
            started_at: l.started_at,
            answered_at: l.answered_at,
            ended_at: l.ended_at,
            final_status: l.final_status,
            quality: l.quality.map(Into::into),
        }
    }
}

impl From<CallRecord> for CallView {
    fn from(c: CallRecord) -> Self {
        CallView {
            id: c.id,
            kind: c.kind,
            from: c.from_uri,
            to: c.to_uri,
            status: c.status,
            started_at: c.started_at,
            answered_at: c.answered_at,
            ended_at: c.ended_at,
            end_reason: c.end_reason,
            hangup_side: c.hangup_side,
            widget_id: c.widget_id,
            visitor_id: c.visitor_id,
            answered_by: c.answered_by,
            node: c.node_id,
            duration_ms: match (c.answered_at, c.ended_at) {
                (Some(a), Some(e)) if e >= a => Some(e - a),
                _ => None,
            },
            legs: c.legs.into_iter().map(Into::into).collect(),
            recordings: None,
            dashboard_url: None,
            channel_number: None,
            assigned_to: None,
        }
    }
}

async fn list_calls(
    Scoped(ctx, _): Scoped<CallsRead>,
    State(st): State<CallsState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<CallView>>, ApiError> {
    let limit = match q.limit.as_deref() {
        None => 50,
        Some(v) => v.parse::<i64>().unwrap_or(0),
    };
    if !(1..=500).contains(&limit) {
        return Err(ApiError::InvalidField {
            field: "limit",
            reason: "must be 1-500",
        });
    }
    let calls = st.store.list_calls(&ctx.tenant_id, limit as u32).await?;
    let views = calls.into_iter().map(Into::into).collect();
    Ok(Json(
        with_assignees(&st.store, &ctx.tenant_id, views).await?,
    ))
}

async fn get_call(
    Scoped(ctx, _): Scoped<CallsRead>,
    State(st): State<CallsState>,
    Path(id): Path<String>,
) -> Result<Json<CallView>, ApiError> {
    let call = st.store.get_call(&ctx.tenant_id, &id).await?;
    let recs = st.store.list_call_recordings(&ctx.tenant_id, &id).await?;
    let mut view = CallView::from(call);
    view.recordings = Some(recs.into_iter().map(Into::into).collect());
    view.assigned_to = st
        .store
        .call_assignees(&ctx.tenant_id, std::slice::from_ref(&view.id))
        .await?
        .remove(&view.id);
    Ok(Json(view))
}

async fn widget_calls(
    Scoped(ctx, _): Scoped<CallsRead>,
    State(st): State<CallsState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<CallView>>, ApiError> {
    let limit = crate::extract::query_limit(&q, 50, 500)?;
    let visitor = q.get("visitorId").map(String::as_str);
    if visitor.is_some_and(|v| !crate::widget_runtime::valid_client_id(v)) {
        return Err(ApiError::InvalidField {
            field: "visitorId",
            reason: "6-128 letters, digits, _ - . :",
        });
    }
    let w = st.store.get_widget(&ctx.tenant_id, &id).await?;
    let filter = ringside_storage::WidgetCallFilter {
        visitor_id: visitor,
        ..Default::default()
    };
    let calls = st
        .store
        .list_widget_calls(&ctx.tenant_id, &w.id, filter, limit)
        .await?;
    let views = calls.into_iter().map(Into::into).collect();
    Ok(Json(
        with_assignees(&st.store, &ctx.tenant_id, views).await?,
    ))
}

async fn widget_calls_waiting(
    Scoped(ctx, _): Scoped<CallsRead>,
    State(st): State<CallsState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<CallView>>, ApiError> {
    let w = st.store.get_widget(&ctx.tenant_id, &id).await?;
    let filter = ringside_storage::WidgetCallFilter {
        waiting: true,
        since_ms: st.presence.now_ms() - WAITING_MAX_MS,
        ..Default::default()
    };
    let calls = st
        .store
        .list_widget_calls(&ctx.tenant_id, &w.id, filter, 100)
        .await?;
    let base = st.public_url.trim_end_matches('/');
    Ok(Json(
        calls
            .into_iter()
            .map(|c| {
                let url = format!("{base}/console/calls/{}", c.id);
                let channel = c
                    .visitor_id
                    .as_deref()
                    .and_then(|vis| st.channels.number_of(&w.id, vis));
                let mut v = CallView::from(c);
                v.dashboard_url = Some(url);
                v.channel_number = channel;
                v
            })
            .collect(),
    ))
}
