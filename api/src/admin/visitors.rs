//! `/api/v1/widgets/{id}/live-visitors` and `/api/v1/widgets/{id}/visitors/{visitorId}/activity`
//! (scope `analytics:read`: visitor tracking is analytics data, and the guide lists
//! `analytics:read` among the default read scopes).
//!
//! Both are served from the in-memory [`crate::presence::Presence`] merged with storage, so
//! they are fresh even between flushes. Another tenant's widget or visitor answers 404.
//! Times are unix milliseconds.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::Json;
use ringside_storage::{Visitor, VisitorEvent, MAX_LIST_VISITOR_EVENTS};
use serde::Serialize;
use serde_json::Value;

use crate::auth::{AnalyticsRead, Scoped};
use crate::extract::query_limit;
use crate::openapi::{Auth, DocRouter, Spec};
use crate::{ApiError, AppState};

/// What the visitor handlers use of the application state.
#[derive(Clone)]
pub struct VisitorsState {
    store: ringside_storage::Store,
    presence: std::sync::Arc<crate::Presence>,
    channels: std::sync::Arc<crate::channels::Channels>,
}

impl axum::extract::FromRef<AppState> for VisitorsState {
    fn from_ref(st: &AppState) -> Self {
        VisitorsState {
            store: st.store.clone(),
            presence: st.presence.clone(),
            channels: st.channels.clone(),
        }
    }
}

pub(crate) fn routes() -> DocRouter {
    const T: &str = "Visitors";
    let r = Auth::Scope("analytics:read");
    DocRouter::new("/api/v1")
        .get(
            "/widgets/{id}/live-visitors",
            live_visitors,
            Spec::new(
                T,
                r,
                "Visitors on the site now, most recently seen first, with session and page \
                 timing fields, and how many are live in all (total)",
            )
            .query(&[("limit", "1-5000, default 1000")])
            .returns::<LiveVisitors>(),
        )
        .get(
            "/widgets/{id}/visitors/{visitor_id}/activity",
            activity,
            Spec::new(T, r, "A visitor's activity, newest first")
                .query(&[("limit", "1-1000")])
                .returns::<Activity>(),
        )
}

/// A live visitor as the API shows it (the guide's field names).
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveVisitorView {
    visitor_id: String,
    widget_id: String,
    session_id: Option<String>,
    first_seen_at: i64,
    last_seen_at: i64,
    previous_seen_at: Option<i64>,
    visit_count: i64,
    current_session_started_at: i64,
    current_page_started_at: Option<i64>,
    last_interaction_at: Option<i64>,
    session_event_count: i64,
    current_url: Option<String>,
    page_title: Option<String>,
    referrer: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    browser: Option<String>,
    os: Option<String>,
    device: Option<String>,
    is_bot: bool,
    utm_source: Option<String>,
    utm_medium: Option<String>,
    utm_campaign: Option<String>,
    utm_term: Option<String>,
    utm_content: Option<String>,
    gclid: Option<String>,
    fbclid: Option<String>,
    metadata: Value,
    /// The number a trusted PBX dials to ring this visitor's browser (while its page has the
    /// widget socket open).
    channel_number: Option<String>,
}

impl From<Visitor> for LiveVisitorView {
    fn from(v: Visitor) -> Self {
        LiveVisitorView {
            metadata: serde_json::from_str(&v.metadata)
                .unwrap_or_else(|_| Value::Object(Default::default())),
            visitor_id: v.visitor_id,
            widget_id: v.widget_id,
            session_id: v.session_id,
            first_seen_at: v.first_seen_at,
            last_seen_at: v.last_seen_at,
            previous_seen_at: v.previous_seen_at,
            visit_count: v.visit_count,
            current_session_started_at: v.current_session_started_at,
            current_page_started_at: v.current_page_started_at,
            last_interaction_at: v.last_interaction_at,
            session_event_count: v.session_event_count,
            current_url: v.current_url,
            page_title: v.page_title,
            referrer: v.referrer,
            ip: v.ip,
            user_agent: v.user_agent,
            browser: v.browser,
            os: v.os,
            device: v.device,
            is_bot: v.is_bot,
            utm_source: v.utm_source,
            utm_medium: v.utm_medium,
            utm_campaign: v.utm_campaign,
            utm_term: v.utm_term,
            utm_content: v.utm_content,
            gclid: v.gclid,
            fbclid: v.fbclid,
            channel_number: None,
        }
    }
}

/// Answer of `GET /api/v1/widgets/{id}/live-visitors`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveVisitors {
    widget_id: String,
    /// A visitor is live until `lastSeenAt` plus this many milliseconds.
    live_timeout_ms: i64,
    /// Live visitors in all (`visitors` holds the `limit` most recently seen).
    total: usize,
    visitors: Vec<LiveVisitorView>,
}

/// One activity event.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActivityEventView {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    url: Option<String>,
    at: i64,
    data: Value,
}

impl From<VisitorEvent> for ActivityEventView {
    fn from(e: VisitorEvent) -> Self {
        ActivityEventView {
            data: serde_json::from_str(&e.data).unwrap_or(Value::Null),
            id: e.id,
            kind: e.kind,
            url: e.url,
            at: e.at,
        }
    }
}

/// Answer of `GET /api/v1/widgets/{id}/visitors/{visitorId}/activity` (newest first).
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    widget_id: String,
    visitor_id: String,
    events: Vec<ActivityEventView>,
}

/// `?limit=` (1-5000, default 1000).
async fn live_visitors(
    Scoped(ctx, _): Scoped<AnalyticsRead>,
    State(st): State<VisitorsState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<LiveVisitors>, ApiError> {
    let limit = query_limit(&q, 1000, 5000)?;
    let w = st.store.get_widget(&ctx.tenant_id, &id).await?;
    let (list, total) = st
        .presence
        .live_visitors(&ctx.tenant_id, &w.id, limit as usize)
        .await?;
    Ok(Json(LiveVisitors {
        widget_id: w.id,
        live_timeout_ms: st.presence.config().live_timeout_ms,
        total,
        visitors: list
            .into_iter()
            .map(|v| {
                let channel = st.channels.number_of(&v.widget_id, &v.visitor_id);
                let mut view = LiveVisitorView::from(v);
                view.channel_number = channel;
                view
            })
            .collect(),
    }))
}

/// `?limit=` (1-1000, default 200).
async fn activity(
    Scoped(ctx, _): Scoped<AnalyticsRead>,
    State(st): State<VisitorsState>,
    Path((id, visitor_id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Activity>, ApiError> {
    let limit = query_limit(&q, 200, MAX_LIST_VISITOR_EVENTS)?;
    let w = st.store.get_widget(&ctx.tenant_id, &id).await?;
    st.presence
        .visitor(&ctx.tenant_id, &w.id, &visitor_id)
        .await?;
    let events = st
        .presence
        .activity(&ctx.tenant_id, &w.id, &visitor_id, limit)
        .await?;
    Ok(Json(Activity {
        widget_id: w.id,
        visitor_id,
        events: events.into_iter().map(Into::into).collect(),
    }))
}
