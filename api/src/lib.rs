//! Ringside's HTTP control plane (axum).
//!
//! The code lives in four rooms: [`http`] (auth, errors, extractors, OpenAPI, rate and
//! connection limits, health), [`admin`] (the `/api/v1` resources), [`public`] (what visitors'
//! pages reach) and [`live`] (sockets, presence, the console, browser-call signalling). Their
//! modules are also re-exported here by their short names. Handlers take the part of the state
//! they use where that is a clear subset (e.g. [`sip_admin::SipAdmin`],
//! [`prompts::Prompts`], [`recordings::Recordings`], [`calls::CallsState`]), through axum's
//! `FromRef`.
//!
//! [`router`] builds the whole HTTP surface from an [`AppState`]:
//! - `/healthz` and `/metrics` (Prometheus text),
//! - `/api/v1/...` behind bearer personal access tokens with per-scope checks, or a dashboard
//!   session cookie with its user's rights and CSRF checks ([`auth`]), tenant-scoped: another
//!   tenant's object answers 404,
//! - people ([`accounts`]): sign-up and sign-in by emailed one-time code, sessions, teams
//!   with roles and invitations, tokens made by people,
//! - the operators' dashboard pages ([`dashboard`]): home, inbox, calls answered in the
//!   browser, widgets,
//! - the inbox's conversations: states, unread counts, views ([`conversations`]),
//! - call recordings: listing, metadata, ranged download and deletion ([`recordings`]),
//! - per-tenant prompts and hold music: upload, listing, download, reset ([`prompts`]),
//! - widgets: create, list, get, patch, install snippet ([`widgets`]),
//! - signed webhooks: CRUD, secret rotation, test events, delivery log ([`webhooks`]), sent
//!   from the storage outbox by the [`webhook_dispatch::Dispatcher`] task,
//! - the public widget runtime (`/widget/bootstrap`, `/api/widgets/{id}/config`), known by
//!   widget id and key, origin-checked against the widget's allowed domains, with per-widget
//!   CORS ([`widget_runtime`]), including visitor tracking (`/api/widgets/{id}/track`),
//! - live visitors and their activity (`/api/v1/widgets/{id}/live-visitors`, `.../activity`)
//!   from the in-memory [`Presence`], persisted in batches ([`presence`], [`visitors`]),
//! - visitor chat, callbacks/leads with voice notes, operator messages and internal notes
//!   ([`messages`]),
//! - visitor analytics, campaign report and aliases, site directory ([`analytics`]),
//! - direct-navigate commands for live visitors and signed 24-hour conversation links that
//!   open an operator view without a token ([`handoff`]),
//! - account usage against configured limits, enforced with 429 `usage_limit_exceeded`
//!   ([`usage`]),
//! - contacts (leads): search, unified timeline, identity edits, visitor sessions, merges
//!   ([`contacts`]),
//! - abuse limits on all public widget endpoints: token buckets per client IP and per widget,
//!   429 `rate_limited` with `Retry-After` ([`rate_limit`]),
//! - realtime WebSockets for dashboards (`/api/ws/tenant`) and widget pages
//!   (`/api/widgets/{id}/ws`) fed by an in-process event bus ([`realtime`]),
//! - the widgets' knowledge bases: sources (text, Q/A pairs, pages and sitemaps crawled,
//!   uploaded documents), search and the company profile ([`knowledge`]), which
//!   `/widget/ask` and the visitor's chat answer from ([`assistant`]),
//! - `/mcp`: the Model Context Protocol for AI agents, every current revision side by side,
//!   its `ringside_*` tools running through the `/api/v1` handlers ([`mcp`]),
//! - the OpenAPI 3.1 document at `/openapi.json`, generated from the route registrations
//!   ([`openapi`]),
//! - errors always as `{"error": {"code": "...", "message": "..."}}` ([`error::ApiError`]).
//!
//! The API never touches sockets or SIP state directly: changes to extensions and trunks are
//! pushed to the SIP side through the narrow [`SipDirectory`] trait, and metrics come in through
//! [`MetricsSource`]; tenants' prompts live behind [`PromptStore`].

pub mod accounts;
pub mod admin;
pub mod dashboard;
pub mod http;
pub mod live;
pub mod mcp;
pub mod oauth;
pub mod public;
pub mod testing;

// The rooms' modules by their short names (`crate::auth`, `ringside_api::webhook_dispatch`).
pub use admin::{
    ai_provider, alert_dispatch, alerts, analytics, assignments, assistants, call_settings, calls,
    canned, contacts, conversations, integrations, knowledge, prompts, recordings, sip_admin,
    usage, visitors, webhook_dispatch, webhooks, webpush, widget_prompts, widgets,
};
pub use http::{auth, conn_limits, error, extract, health, openapi, outbound, rate_limit};
pub use live::{browser_calls, console, presence, realtime};
pub use public::{
    ai, assistant, availability, handoff, lookup, messages, user_agent, widget_cache,
    widget_runtime,
};
pub use ringside_domain::channels;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use ringside_storage::{Extension, Store, Trunk};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use presence::{Presence, PresenceConfig};
pub use prompts::{PromptInfo, PromptKind, PromptSource, PromptStore, PromptStoreError};
pub use rate_limit::{Limit, RateLimitConfig, RateLimits};
pub use usage::UsageLimits;

/// Changes the API makes that the SIP side must see at once.
pub trait SipDirectory: Send + Sync {
    /// An extension was created or changed.
    fn extension_upserted(&self, ext: &Extension);
    /// An extension was deleted (its registrations go with it).
    fn extension_removed(&self, id: &str);
    /// A trunk was created or changed.
    fn trunk_upserted(&self, trunk: &Trunk);
    /// A trunk was deleted.
    fn trunk_removed(&self, id: &str);
    /// A widget's queue number changed (`None`: it has none now).
    fn queue_number_set(&self, _tenant_id: &str, _widget_id: &str, _number: Option<&str>) {}
}

/// Something that can append Prometheus text-format metrics.
pub trait MetricsSource: Send + Sync {
    /// Append metric families to `out`.
    fn render(&self, out: &mut String);
}

/// Shared state of all handlers.
#[derive(Clone)]
pub struct AppState {
    /// Storage (SQLite or PostgreSQL).
    pub store: Store,
    /// The SIP side's view of extensions and trunks.
    pub directory: Arc<dyn SipDirectory>,
    /// Metric sources rendered by `/metrics`.
    pub metrics: Vec<Arc<dyn MetricsSource>>,
    /// The digest realm extension credentials are hashed with.
    pub sip_realm: String,
    /// The tenants' files directory (`RINGSIDE_FILES_DIR`, by default the data directory):
    /// stored paths of recordings, attachments and voice notes are relative to it.
    pub data_dir: PathBuf,
    /// Tenants' uploaded prompts and hold music.
    pub prompts: Arc<dyn PromptStore>,
    /// Base URL the public reaches this server at (e.g. `https://calls.example.com`), for
    /// install snippets; no trailing slash needed.
    pub public_url: String,
    /// Live visitor presence, fed by the tracking endpoint and flushed to storage in batches.
    pub presence: Arc<Presence>,
    /// Abuse limits of the public widget endpoints ([`rate_limit`]).
    pub rate_limits: Arc<RateLimits>,
    /// Key of the signed conversation links ([`handoff`]); keep it across restarts so links
    /// stay valid.
    pub link_secret: http::sealed::LinkSecret,
    /// The server's VAPID key (Web Push alerts, RFC 8292): browsers subscribe with its public
    /// half; keep it across restarts so their subscriptions stay valid.
    pub vapid: Arc<webpush::VapidKey>,
    /// Per-tenant usage limits ([`usage`]); the default is unlimited.
    pub usage_limits: UsageLimits,
    /// Realtime events for the dashboard and widget sockets ([`realtime`]).
    pub bus: Arc<realtime::Bus>,
    /// Widgets as the public runtime endpoints see them ([`widget_cache`]).
    pub widget_cache: Arc<widget_cache::WidgetCache>,
    /// Browser calls (the WebRTC edge and the call core); `None` where the server runs without
    /// media (some tests): `call.start` is then refused.
    pub calls: Option<Arc<dyn browser_calls::BrowserCalls>>,
    /// Visitor channel numbers (trusted PBX calls ring the visitor's browser).
    pub channels: Arc<channels::Channels>,
    /// Widgets' own prompt uploads (keyed by widget id), over the tenant's.
    pub widget_prompts: Arc<dyn PromptStore>,
    /// What requests made on a tenant's behalf (prompt imports, webhook receivers) may reach
    /// ([`outbound`]).
    pub fetch_policy: outbound::FetchPolicy,
    /// Operators available in the browser console ([`console`]).
    pub console: Arc<console::ConsoleOperators>,
    /// Longest a request may take, its body upload included, before it is answered
    /// `408 request_timeout` (sockets and streamed downloads run on after their handler has
    /// answered, so they are not cut).
    pub request_timeout: std::time::Duration,
    /// People: sign-in codes and their mail, sessions, limits ([`accounts`]).
    pub accounts: Arc<accounts::Accounts>,
    /// The widgets' knowledge bases: the search index and its limits ([`knowledge`]).
    pub knowledge: Arc<knowledge::Knowledge>,
    /// The crawler's bell and bounds ([`knowledge::crawl`]); the binary runs its worker.
    pub crawler: Arc<knowledge::crawl::Crawler>,
}

/// The complete HTTP router.
pub fn router(state: AppState) -> Router {
    use openapi::{Auth, DocRouter, Spec};
    let limits: rate_limit::RateLimitState = axum::extract::FromRef::from_ref(&state);
    let page_limit = axum::middleware::from_fn_with_state(limits.clone(), rate_limit::limit_page);
    let chat_limit = axum::middleware::from_fn_with_state(limits, rate_limit::limit_chat);
    let root = DocRouter::new("")
        .merge(health::routes())
        .merge(accounts::pages::routes())
        .merge(oauth::routes())
        .merge(dashboard::routes())
        .merge(widget_runtime::routes().map_router(|r| r.route_layer(page_limit)))
        .merge(messages::public_routes().map_router(|r| r.route_layer(chat_limit.clone())))
        .merge(handoff::public_routes().map_router(|r| r.route_layer(chat_limit)))
        .get(
            "/api/ws/console",
            console::console_ws,
            Spec::new(
                "Realtime",
                Auth::Public,
                "Console operators' WebSocket: send {type: auth, token (calls:write), widgetIds?} \
                 first (from a page of this server with a session cookie the token may be left \
                 out); visitors' calls are offered (call.offered) and answered with \
                 call.accept {callId, sdp}",
            )
            .ok(101, "Switching to WebSocket")
            .content(""),
        )
        .get(
            "/console",
            console::console_page,
            Spec::new(
                "Realtime",
                Auth::Public,
                "The operators' browser console page",
            )
            .content("text/html"),
        )
        .get(
            "/api/ws/tenant",
            realtime::tenant_ws,
            Spec::new(
                "Realtime",
                Auth::Public,
                "Dashboard WebSocket: send {type: auth, token} first (within 5 s; from a page of \
                 this server with a session cookie, {type: auth} alone); then the tenant's \
                 conversation, message, visitor, call and assignment events",
            )
            .ok(101, "Switching to WebSocket")
            .content(""),
        );
    let v1 = DocRouter::new("/api/v1")
        .merge(sip_admin::routes())
        .merge(calls::routes())
        .merge(call_settings::routes())
        .merge(widget_prompts::routes())
        .merge(recordings::routes())
        .merge(prompts::routes())
        .merge(widgets::routes())
        .merge(messages::routes())
        .merge(visitors::routes())
        .merge(webhooks::routes())
        .merge(contacts::routes())
        .merge(analytics::routes())
        .merge(handoff::routes())
        .merge(usage::routes())
        .merge(accounts::routes::routes())
        .merge(oauth::grants::routes())
        .merge(assignments::routes())
        .merge(conversations::routes())
        .merge(canned::routes())
        .merge(knowledge::routes())
        .merge(ai_provider::routes())
        .merge(integrations::routes())
        .merge(assistants::routes())
        .merge(alerts::routes());
    let (v1, v1_ops) = v1.into_parts();
    // The MCP tools run through the `/api/v1` handlers, as the caller (see `auth::Delegated`).
    let tools_api = openapi::remount("/api/v1", v1.clone())
        .fallback(|| async { ApiError::NotFound })
        .layer(axum::middleware::from_fn(error::json_rejections))
        .with_state(state.clone());
    let root = root.merge(mcp::routes(tools_api));
    let (root, mut ops) = root.into_parts();
    ops.extend(v1_ops);
    ops.push(openapi::Op {
        method: "get",
        path: "/openapi.json".into(),
        spec: Spec::new("Operations", Auth::Public, "This OpenAPI 3.1 document")
            .returns::<serde_json::Map<String, serde_json::Value>>(),
    });
    let doc: Arc<str> = openapi::document(&ops, state.public_url.trim_end_matches('/'))
        .to_string()
        .into();
    root.route(
        "/openapi.json",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    doc.to_string(),
                )
            }
        }),
    )
    .nest("/api/v1", v1)
    .fallback(|| async { ApiError::NotFound })
    .layer(tower_http::timeout::TimeoutLayer::with_status_code(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        state.request_timeout,
    ))
    .layer(axum::middleware::from_fn(error::json_rejections))
    // Every request gets an id (a UUID, or the `X-Request-Id` a proxy in front already gave
    // it); the answer carries it back in `X-Request-Id`, and the request's tracing span
    // (debug level: method, path, id) wraps whatever its handler logs, so a client's report
    // and the server's log meet on one id. Layers run outermost last-added.
    .layer(PropagateRequestIdLayer::x_request_id())
    .layer(TraceLayer::new_for_http().make_span_with(request_span))
    .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
    .with_state(state)
}

fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::debug_span!(
        "http",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %id
    )
}
