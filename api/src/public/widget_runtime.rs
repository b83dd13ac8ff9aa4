//! The public widget runtime: what the embedded script fetches, without a personal access
//! token.
//!
//! A widget is named by its id and public key, and the page must be on one of the widget's
//! allowed domains: the `Origin` header decides, or — when a request has no `Origin` (a
//! same-origin or server-side fetch) — the `domain` parameter. Exact entries match the host
//! exactly, `*.example.com` matches every subdomain of example.com but not example.com itself,
//! an entry with a port matches that port only, hosts compare case-insensitively, and an empty
//! list allows nothing.
//!
//! - `GET /widget/bootstrap?clientId=&widgetKey=&domain=` (LaysanX shape),
//! - `GET /api/widgets/{widgetId}/config` (live-chat shape; key as `Authorization: Bearer` or
//!   `?key=`),
//! - `POST /api/widgets/{widgetId}/track` (visitor tracking, same key and origin rules as
//!   `config`; see [`track`] and [`crate::presence`]).
//!
//! Unknown widget: 404 `not_found`; missing or wrong key: 401 `unauthorized`; origin not
//! allowed: 403 `origin_not_allowed`; all with the stable error body.
//!
//! CORS is decided per widget: responses to an allowed `Origin`, and `OPTIONS` preflights from
//! one, carry `Access-Control-Allow-Origin: <that origin>` (never `*`); every response carries
//! `Vary: Origin`. Preflights allow `GET, POST, OPTIONS` and the headers `Content-Type,
//! Authorization`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ringside_storage::Widget;
use serde::Serialize;
use serde_json::{json, Value};
use tower_http::compression::CompressionLayer;

use crate::openapi::{Auth, Body, DocRouter, Spec};
use crate::widgets::{split_port, valid_host, HostPattern};
use crate::{ApiError, AppState};

/// The methods preflights allow.
pub const ALLOW_METHODS: &str = "GET, POST, OPTIONS";
/// The request headers preflights allow.
pub const ALLOW_HEADERS: &str = "Content-Type, Authorization";
/// How long browsers may cache a preflight, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

/// The widget script the install snippet loads (`api/assets/widget.js`).
pub const WIDGET_JS: &str = include_str!("../../assets/widget.js");

/// `GET /widget.js`: the same for every widget (it reads its id and key from its own tag).
async fn widget_script() -> Response {
    let mut r = WIDGET_JS.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/javascript; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
}

pub(crate) fn routes() -> DocRouter {
    const T: &str = "Widget runtime";
    DocRouter::new("")
        .get(
            "/widget/bootstrap",
            bootstrap,
            Spec::new(T, Auth::WidgetClient, "Widget configuration (LaysanX shape)")
                .query(&[
                    ("clientId", "Widget id"),
                    ("widgetKey", "The widget's public key"),
                    ("domain", "The page's host, when there is no Origin header"),
                ])
                .returns::<Bootstrap>(),
        )
        .preflight("/widget/bootstrap", bootstrap_preflight)
        .get(
            "/api/widgets/{widget_id}/config",
            config,
            Spec::new(T, Auth::WidgetKey, "Widget configuration (live-chat shape)")
                .query(&[("key", "The widget's public key (or a Bearer header)")])
                .returns::<ConfigAnswer>(),
        )
        .preflight("/api/widgets/{widget_id}/config", config_preflight)
        .post(
            "/api/widgets/{widget_id}/track",
            track,
            Spec::new(T, Auth::WidgetKey, "A visitor event: page_view, page_change, click, scroll, form_change, heartbeat, ...; the answer carries waiting commands (direct-navigate)")
                .query(&[("key", "The widget's public key (or a Bearer header)")])
                .body(Body::Json("visitorId, event, sessionId?, url?, title?, referrer?, timestamp?, metadata?"))
                .takes::<TrackBody>()
                .returns::<Tracked>(),
        )
        .preflight("/api/widgets/{widget_id}/track", config_preflight)
        .get(
            "/api/widgets/{widget_id}/ws",
            crate::realtime::widget_ws,
            Spec::new(T, Auth::WidgetKey, "WebSocket of the visitor's page: operator replies and direct-navigate commands are pushed; browser call signalling (call.start with the SDP offer -> call.answer; call.candidate for trickle ICE; call.hangup; call.hold/call.resume; call.accept/call.decline for calls ringing the visitor (call.incoming, call.incoming.stopped); Ringside sends call.started, call.ringing, call.answered, call.unavailable, call.ended, call.error). The first message, ready, lists iceServers for the RTCPeerConnection. Offers carry Opus audio and may carry video (VP8 or H.264): video is relayed when a console operator answers with video; SIP extensions and PSTN numbers get the audio only.")
                .query(&[("key", "The widget's public key"), ("visitorId", "The visitor")])
                .ok(101, "Switching to WebSocket")
                .content(""),
        )
        .route(
            "/widget.js",
            // Every page with the widget loads it: gzip where the browser accepts it (about
            // a third of the size), `Vary: Accept-Encoding` for caches.
            axum::routing::get(widget_script).layer(CompressionLayer::new()),
            &[(
                "get",
                Spec::new(T, Auth::Public, "The widget script the install snippet loads (gzip when accepted)")
                    .content("application/javascript"),
            )],
        )
}

/// What the widget runtime endpoints use of the application state.
#[derive(Clone)]
pub struct RuntimeState {
    store: ringside_storage::Store,
    widget_cache: Arc<crate::widget_cache::WidgetCache>,
    presence: Arc<crate::Presence>,
    bus: Arc<crate::realtime::Bus>,
    console: Arc<crate::console::ConsoleOperators>,
}

impl axum::extract::FromRef<AppState> for RuntimeState {
    fn from_ref(st: &AppState) -> Self {
        RuntimeState {
            store: st.store.clone(),
            widget_cache: st.widget_cache.clone(),
            presence: st.presence.clone(),
            bus: st.bus.clone(),
            console: st.console.clone(),
        }
    }
}

/// Where the embedding page is, as far as the request tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageOrigin {
    /// Lowercase host.
    host: String,
    /// Port: explicit, or the scheme's default; `None` for a bare `domain` without one.
    port: Option<u16>,
}

impl PageOrigin {
    /// Parses an `Origin` header value (`scheme://host[:port]`, by WHATWG URL parsing in the
    /// `url` crate); `None` for `null`, other schemes, credentials, a path, query or fragment,
    /// IPv6 literals and garbage. Hosts come out lowercase and internationalized names in
    /// their ASCII (punycode) form, as `allowedDomains` entries are stored.
    pub(crate) fn from_origin(v: &str) -> Option<PageOrigin> {
        let u = crate::http::urls::http_url(v.trim())?;
        if !matches!(u.path(), "" | "/") || u.query().is_some() || u.fragment().is_some() {
            return None;
        }
        PageOrigin::of_url(&u)
    }

    /// The host and port (explicit or the scheme's default) of an `http`/`https` URL.
    fn of_url(u: &url::Url) -> Option<PageOrigin> {
        let host = match u.host()? {
            url::Host::Domain(d) => d.to_owned(),
            url::Host::Ipv4(ip) => ip.to_string(),
            url::Host::Ipv6(_) => return None,
        };
        valid_host(&host).then(|| PageOrigin {
            host,
            port: u.port_or_known_default(),
        })
    }

    /// Parses a `domain` parameter: `host[:port]`, or an origin/URL (its path, query and
    /// fragment are ignored).
    pub(crate) fn from_domain(v: &str) -> Option<PageOrigin> {
        let v = v.trim();
        if v.contains("://") {
            return PageOrigin::of_url(&crate::http::urls::http_url(v)?);
        }
        // A bare `host[:port]` is no URL: without a port, any port of the host matches.
        let v = v.to_ascii_lowercase();
        let (host, port) = split_port(&v)?;
        valid_host(host).then(|| PageOrigin {
            host: host.to_owned(),
            port,
        })
    }

    /// Whether one of `allowed` (stored `allowedDomains` entries) admits this page.
    pub(crate) fn allowed_by(&self, allowed: &[String]) -> bool {
        allowed
            .iter()
            .filter_map(|d| HostPattern::parse(d))
            .any(|p| p.matches(&self.host, self.port))
    }
}

/// The request's `Origin` header, raw, when present.
fn origin_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
}

/// Checks the page against the widget: the `Origin` header if any, else `domain`.
/// Returns the origin to echo in `Access-Control-Allow-Origin` (when there was one).
pub(crate) fn check_origin(
    w: &Widget,
    headers: &HeaderMap,
    domain: Option<&str>,
) -> Result<Option<HeaderValue>, ApiError> {
    match origin_header(headers) {
        Some(raw) => {
            let page = PageOrigin::from_origin(raw).ok_or(ApiError::OriginNotAllowed)?;
            if !page.allowed_by(&w.allowed_domains) {
                return Err(ApiError::OriginNotAllowed);
            }
            Ok(HeaderValue::from_str(raw).ok())
        }
        None => {
            let page = domain
                .and_then(PageOrigin::from_domain)
                .ok_or(ApiError::OriginNotAllowed)?;
            if page.allowed_by(&w.allowed_domains) {
                Ok(None)
            } else {
                Err(ApiError::OriginNotAllowed)
            }
        }
    }
}

/// Adds `Vary: Origin`, and the allow-origin header when `allow` is set.
pub(crate) fn with_cors(mut resp: Response, allow: Option<HeaderValue>) -> Response {
    let h = resp.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = allow {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    resp
}

/// An error response of the runtime (no allow-origin, but `Vary: Origin`).
pub(crate) fn fail(e: ApiError) -> Response {
    with_cors(e.into_response(), None)
}

/// The answer to a preflight for widget `w` (an error such as 404 for an unknown widget is
/// passed through, without CORS headers).
pub(crate) fn preflight(w: Result<Widget, ApiError>, headers: &HeaderMap) -> Response {
    let w = match w {
        Ok(w) => w,
        Err(e) => return fail(e),
    };
    let Some(raw) = origin_header(headers) else {
        return fail(ApiError::OriginNotAllowed);
    };
    let allowed = PageOrigin::from_origin(raw).is_some_and(|p| p.allowed_by(&w.allowed_domains));
    let value = HeaderValue::from_str(raw).ok();
    match (allowed, value) {
        (true, Some(v)) => {
            let mut resp = StatusCode::NO_CONTENT.into_response();
            let h = resp.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOW_METHODS),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOW_HEADERS),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(PREFLIGHT_MAX_AGE),
            );
            with_cors(resp, Some(v))
        }
        _ => fail(ApiError::OriginNotAllowed),
    }
}

/// Looks a widget up by id and key: 404 unknown, 401 missing or wrong key.
/// The widget comes from the [`crate::widget_cache::WidgetCache`]; the key is compared in
/// constant time.
pub(crate) async fn lookup(
    widgets: &crate::widget_cache::WidgetCache,
    store: &ringside_storage::Store,
    id: &str,
    key: Option<&str>,
) -> Result<Arc<Widget>, ApiError> {
    let key = key.filter(|k| !k.is_empty());
    let w = widgets.get(store, id).await?;
    match key {
        Some(k) if w.key_matches(k) => Ok(w),
        _ => Err(ApiError::Unauthorized),
    }
}

/// The widget's lead form, as the page shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct LeadCaptureView {
    /// Whether the widget has one.
    available: bool,
    /// Its prompt.
    prompt: Option<String>,
    /// Its fields.
    fields: Vec<ringside_storage::FormField>,
}

fn lead_capture(w: &Widget) -> LeadCaptureView {
    match &w.lead_form {
        Some(f) => LeadCaptureView {
            available: true,
            prompt: Some(f.prompt.clone()),
            fields: f.fields.clone(),
        },
        None => LeadCaptureView {
            available: false,
            prompt: None,
            fields: Vec::new(),
        },
    }
}

/// The widget's configuration in the LaysanX shape (`GET /widget/bootstrap`).
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Bootstrap {
    /// Always true.
    success: bool,
    /// The widget id.
    client_id: String,
    /// The widget's title.
    title: String,
    /// The agent's name shown in the header.
    agent_name: String,
    /// The agent's title.
    agent_title: String,
    /// The agent's picture.
    avatar_url: Option<String>,
    /// The first message shown.
    greeting: String,
    /// The input's placeholder.
    input_placeholder: String,
    /// `#RRGGBB`.
    primary_color: String,
    /// `bottom-right` or `bottom-left`.
    #[schemars(extend("enum" = ["bottom-right", "bottom-left"]))]
    position: String,
    /// The logo.
    logo_url: Option<String>,
    /// The lead form.
    lead_capture: LeadCaptureView,
    /// What the widget shows when nobody can answer.
    offline_form: ringside_storage::OfflineForm,
    /// Whether someone can answer now.
    availability: crate::availability::Availability,
    /// `Ringside`.
    powered_by: &'static str,
}

/// The widget's configuration in the live-chat shape (`GET /api/widgets/{id}/config`).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ConfigAnswer {
    /// Always true.
    success: bool,
    /// The configuration.
    config: WidgetConfig,
}

/// The configuration of [`ConfigAnswer`].
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WidgetConfig {
    /// The widget id.
    id: String,
    /// Its name.
    name: String,
    /// Its assistant (live-chat shape), null when it has none or it is off.
    assistant_id: Option<String>,
    /// Its looks.
    widget: WidgetLooks,
    /// Its branding.
    branding: WidgetBranding,
    /// What it shows when nobody can answer.
    offline_form: ringside_storage::OfflineForm,
    /// The lead form.
    lead_capture: LeadCaptureView,
    /// Whether someone can answer now.
    availability: crate::availability::Availability,
    /// What calls may carry.
    calls: CallOptions,
}

/// The widget's looks.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WidgetLooks {
    /// `#RRGGBB`.
    primary_color: String,
    /// `bottom-right` or `bottom-left`.
    #[schemars(extend("enum" = ["bottom-right", "bottom-left"]))]
    position: String,
    /// The first message shown.
    greeting: String,
    /// The input's placeholder.
    input_placeholder: String,
    /// The agent's name.
    agent_name: String,
    /// The agent's title.
    agent_title: String,
    /// The agent's picture.
    avatar_url: Option<String>,
}

/// The widget's branding.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WidgetBranding {
    /// The logo URL.
    logo: Option<String>,
    /// `Ringside`.
    powered_by: &'static str,
}

/// What the widget's calls may carry.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CallOptions {
    /// Visitors may call with video.
    video: bool,
}

/// The answer to a tracked event.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Tracked {
    /// Always true.
    success: bool,
    /// Commands waiting for the page (direct-navigate), to carry out.
    commands: Vec<crate::presence::VisitorCommand>,
}

// ---------------------------------------------------------------- bootstrap

async fn bootstrap(
    State(st): State<RuntimeState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Some(id) = q.get("clientId").filter(|s| !s.is_empty()) else {
        return fail(ApiError::InvalidBody("clientId is required".into()));
    };
    let w = match lookup(
        &st.widget_cache,
        &st.store,
        id,
        q.get("widgetKey").map(String::as_str),
    )
    .await
    {
        Ok(w) => w,
        Err(e) => return fail(e),
    };
    let allow = match check_origin(&w, &headers, q.get("domain").map(String::as_str)) {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    let availability =
        crate::availability::now_for(&st.store, &st.console, &w, st.presence.now_ms()).await;
    let body = Bootstrap {
        success: true,
        client_id: w.id.clone(),
        title: w.name.clone(),
        agent_name: w.agent_name.clone(),
        agent_title: w.agent_title.clone(),
        avatar_url: w.avatar_url.clone(),
        greeting: w.greeting.clone(),
        input_placeholder: w.input_placeholder.clone(),
        primary_color: w.primary_color.clone(),
        position: w.position.clone(),
        logo_url: w.logo_url.clone(),
        lead_capture: lead_capture(&w),
        offline_form: w.offline_form.clone(),
        availability,
        powered_by: "Ringside",
    };
    with_cors(Json(body).into_response(), allow)
}

pub(crate) async fn bootstrap_preflight(
    State(st): State<RuntimeState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let w = match q.get("clientId").filter(|s| !s.is_empty()) {
        Some(id) => st
            .widget_cache
            .get(&st.store, id)
            .await
            .map(|w| (*w).clone())
            .map_err(ApiError::from),
        None => Err(ApiError::InvalidBody("clientId is required".into())),
    };
    preflight(w, &headers)
}

// ---------------------------------------------------------------- config

/// The widget key from `Authorization: Bearer <key>`, else `?key=`.
pub(crate) fn bearer_or_query<'a>(
    headers: &'a HeaderMap,
    q: &'a HashMap<String, String>,
) -> Option<&'a str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim);
    bearer.or_else(|| q.get("key").map(String::as_str))
}

async fn config(
    State(st): State<RuntimeState>,
    Path(widget_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let w = match lookup(
        &st.widget_cache,
        &st.store,
        &widget_id,
        bearer_or_query(&headers, &q),
    )
    .await
    {
        Ok(w) => w,
        Err(e) => return fail(e),
    };
    let allow = match check_origin(&w, &headers, q.get("domain").map(String::as_str)) {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    let availability =
        crate::availability::now_for(&st.store, &st.console, &w, st.presence.now_ms()).await;
    let video = st
        .store
        .get_call_settings(&w.tenant_id, &w.id)
        .await
        .map(|c| c.video)
        .unwrap_or(false);
    let assistant_id = st
        .store
        .get_assistant(&w.tenant_id, &w.id)
        .await
        .ok()
        .flatten()
        .filter(|a| a.enabled)
        .map(|a| a.id);
    let body = ConfigAnswer {
        success: true,
        config: WidgetConfig {
            id: w.id.clone(),
            name: w.name.clone(),
            assistant_id,
            widget: WidgetLooks {
                primary_color: w.primary_color.clone(),
                position: w.position.clone(),
                greeting: w.greeting.clone(),
                input_placeholder: w.input_placeholder.clone(),
                agent_name: w.agent_name.clone(),
                agent_title: w.agent_title.clone(),
                avatar_url: w.avatar_url.clone(),
            },
            branding: WidgetBranding {
                logo: w.logo_url.clone(),
                powered_by: "Ringside",
            },
            offline_form: w.offline_form.clone(),
            lead_capture: lead_capture(&w),
            availability,
            calls: CallOptions { video },
        },
    };
    with_cors(Json(body).into_response(), allow)
}

pub(crate) async fn config_preflight(
    State(st): State<RuntimeState>,
    Path(widget_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let w = st
        .widget_cache
        .get(&st.store, &widget_id)
        .await
        .map(|w| (*w).clone())
        .map_err(ApiError::from);
    preflight(w, &headers)
}

// ---------------------------------------------------------------- track

/// Largest tracking body, in bytes.
pub const MAX_TRACK_BODY: usize = 16 * 1024;
/// Largest `metadata` object, serialized, in bytes.
pub const MAX_TRACK_METADATA: usize = 4 * 1024;

/// Body of `POST /api/widgets/{widgetId}/track`. Unknown fields are ignored (page scripts
/// evolve); `visitorId` falls back to `sessionId` for clients of the reference shape that
/// send only a session id.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrackBody {
    /// The page's visitor id (6-128 of letters, digits, _ - . :).
    #[serde(default)]
    #[schemars(example = &"v_4Jq9sX2b")]
    visitor_id: Option<String>,
    /// The page's session id (stands for visitorId when that is missing).
    #[serde(default)]
    session_id: Option<String>,
    /// What happened: page_view, page_change, click, scroll, form_change, heartbeat,
    /// widget_open... (1-64 of a-z 0-9 _ - . :).
    #[schemars(length(min = 1, max = 64), example = &"page_view")]
    event: String,
    /// The page's URL.
    #[serde(default)]
    url: Option<String>,
    /// The page's title.
    #[serde(default)]
    title: Option<String>,
    /// The page's referrer.
    #[serde(default)]
    referrer: Option<String>,
    /// When, Unix ms or an ISO 8601 time (default: on arrival).
    #[serde(default)]
    timestamp: Option<Value>,
    /// More about the event (an object of at most 4 KiB).
    #[serde(default)]
    metadata: Option<Value>,
}

/// Client ids (visitor and session): 6-128 of `A-Z a-z 0-9 _ - . :`.
pub(crate) fn valid_client_id(s: &str) -> bool {
    (6..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b))
}

/// Event types: 1-64 of `a-z 0-9 _ - . :`.
fn valid_event(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.:".contains(&b))
}

fn bad(field: &'static str, reason: &'static str) -> ApiError {
    ApiError::InvalidField { field, reason }
}

/// Optional free text: empty means absent; at most `max` characters, no control characters.
fn opt_text(
    v: Option<String>,
    max: usize,
    field: &'static str,
) -> Result<Option<String>, ApiError> {
    match v {
        Some(s) if s.is_empty() => Ok(None),
        Some(s) if s.chars().count() > max || s.chars().any(char::is_control) => {
            Err(bad(field, "too long, or contains control characters"))
        }
        other => Ok(other),
    }
}

fn validate_track(body: TrackBody) -> Result<crate::presence::TrackEvent, ApiError> {
    let session_id = body.session_id.filter(|s| !s.is_empty());
    if let Some(s) = &session_id {
        if !valid_client_id(s) {
            return Err(bad("sessionId", "6-128 letters, digits, _ - . :"));
        }
    }
    let visitor_id = body
        .visitor_id
        .or_else(|| session_id.clone())
        .ok_or(bad("visitorId", "is required"))?;
    if !valid_client_id(&visitor_id) {
        return Err(bad("visitorId", "6-128 letters, digits, _ - . :"));
    }
    if !valid_event(&body.event) {
        return Err(bad("event", "1-64 lowercase letters, digits, _ - . :"));
    }
    let url = opt_text(body.url, 2048, "url")?;
    if let Some(u) = &url {
        if !(u.starts_with("https://") || u.starts_with("http://"))
            || u.contains(char::is_whitespace)
        {
            return Err(bad("url", "must be an http(s) URL"));
        }
    }
    let title = opt_text(body.title, 500, "title")?;
    let referrer = opt_text(body.referrer, 2048, "referrer")?;
    let client_timestamp = match body.timestamp {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.len() <= 64 && !s.chars().any(char::is_control) => {
            Some(Value::String(s))
        }
        Some(Value::Number(n)) => Some(Value::Number(n)),
        Some(_) => return Err(bad("timestamp", "must be an ISO 8601 string or unix ms")),
    };
    let metadata = match body.metadata {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => {
            if Value::Object(m.clone()).to_string().len() > MAX_TRACK_METADATA {
                return Err(bad("metadata", "at most 4096 bytes of JSON"));
            }
            Some(m)
        }
        Some(_) => return Err(bad("metadata", "must be an object")),
    };
    Ok(crate::presence::TrackEvent {
        visitor_id,
        session_id,
        kind: body.event,
        url,
        title,
        referrer,
        client_timestamp,
        metadata,
        ip: None,
        user_agent: None,
    })
}

/// The client address: the socket peer, or (when the proxy is trusted) the last
/// `X-Forwarded-For` entry.
pub(crate) fn client_addr(
    headers: &HeaderMap,
    peer: Option<std::net::SocketAddr>,
    trust_xff: bool,
) -> Option<std::net::IpAddr> {
    if trust_xff {
        let xff = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|s| !s.is_empty())
            .and_then(|s| s.parse::<std::net::IpAddr>().ok());
        if let Some(ip) = xff {
            return Some(ip);
        }
    }
    peer.map(|p| p.ip().to_canonical())
}

/// [`client_addr`] as text.
fn client_ip(
    headers: &HeaderMap,
    peer: Option<std::net::SocketAddr>,
    trust_xff: bool,
) -> Option<String> {
    client_addr(headers, peer, trust_xff).map(|ip| ip.to_string())
}

/// `POST /api/widgets/{widgetId}/track`: one visitor event (see [`crate::presence`] for what
/// each event does). Key and origin as for `config`; body at most 16 KiB of JSON (any content
/// type, so `navigator.sendBeacon` works); answers `{"success": true}`.
async fn track(
    State(st): State<RuntimeState>,
    Path(widget_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    req: axum::extract::Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let headers = &parts.headers;
    let w = match lookup(
        &st.widget_cache,
        &st.store,
        &widget_id,
        bearer_or_query(headers, &q),
    )
    .await
    {
        Ok(w) => w,
        Err(e) => return fail(e),
    };
    let allow = match check_origin(&w, headers, q.get("domain").map(String::as_str)) {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    let cors_fail =
        |e: ApiError, allow: &Option<HeaderValue>| with_cors(e.into_response(), allow.clone());
    let bytes = match axum::body::to_bytes(body, MAX_TRACK_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return cors_fail(
                ApiError::PayloadTooLarge {
                    limit: MAX_TRACK_BODY as u64,
                },
                &allow,
            )
        }
    };
    let parsed: TrackBody = match serde_json::from_slice(&bytes) {
        Ok(b) => b,
        Err(e) => return cors_fail(ApiError::InvalidBody(e.to_string()), &allow),
    };
    let mut ev = match validate_track(parsed) {
        Ok(ev) => ev,
        Err(e) => return cors_fail(e, &allow),
    };
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0);
    ev.ip = client_ip(headers, peer, st.presence.config().trust_forwarded_for);
    ev.user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(512).collect());
    let visitor_id = ev.visitor_id.clone();
    // Only built when a dashboard of the tenant listens.
    let page = (crate::presence::PAGE_EVENTS.contains(&ev.kind.as_str())
        && st.bus.listening(&w.tenant_id))
    .then(|| {
        json!({"widgetId": w.id, "visitorId": visitor_id, "event": ev.kind,
               "url": ev.url, "title": ev.title})
    });
    match st.presence.track(&w.tenant_id, &w.id, ev).await {
        Err(e) => return cors_fail(e, &allow),
        Ok(connected) => {
            let now = st.presence.now_ms();
            let dash = crate::realtime::Audience::Tenant("analytics:read");
            if let Some(v) = connected {
                st.bus.publish(&w.tenant_id, || {
                    crate::realtime::Event::new(
                        "visitor:connected",
                        dash,
                        Some(&w.id),
                        Some(&visitor_id),
                        crate::presence::visitor_summary(&v, now),
                        now,
                    )
                });
            }
            if let Some(data) = page {
                st.bus.publish(&w.tenant_id, || {
                    crate::realtime::Event::new(
                        "visitor:page",
                        dash,
                        Some(&w.id),
                        Some(&visitor_id),
                        data,
                        now,
                    )
                });
            }
        }
    }
    // Commands waiting for this visitor (direct-navigate) ride on the answer.
    let commands = st.presence.take_commands(&w.id, &visitor_id);
    with_cors(
        Json(Tracked {
            success: true,
            commands,
        })
        .into_response(),
        allow,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ips() {
        let peer: std::net::SocketAddr = "192.0.2.7:5555".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.1.1.1, 203.0.113.9"),
        );
        assert_eq!(
            client_ip(&h, Some(peer), false).as_deref(),
            Some("192.0.2.7")
        );
        assert_eq!(
            client_ip(&h, Some(peer), true).as_deref(),
            Some("203.0.113.9")
        );
        assert_eq!(
            client_ip(&HeaderMap::new(), Some(peer), true).as_deref(),
            Some("192.0.2.7")
        );
        assert!(valid_client_id("v_abc-123.x:y"));
        assert!(!valid_client_id("short"));
        assert!(!valid_client_id("has space 123"));
        assert!(valid_event("page_view") && !valid_event("Page View") && !valid_event(""));
    }

    #[test]
    fn origins_parse() {
        assert_eq!(
            PageOrigin::from_origin("https://WWW.Example.com"),
            Some(PageOrigin {
                host: "www.example.com".into(),
                port: Some(443)
            })
        );
        assert_eq!(
            PageOrigin::from_origin("http://localhost:3000")
                .unwrap()
                .port,
            Some(3000)
        );
        for bad in [
            "null",
            "",
            "file://",
            "ftp://x.com",
            "https://[::1]",
            "https://a b",
        ] {
            assert_eq!(PageOrigin::from_origin(bad), None, "{bad}");
        }
        for bad in [
            "https://user@example.com",
            "https://example.com/page",
            "https://example.com/?q=1",
            "https://example.com#top",
            "https://example.com:99999",
        ] {
            assert_eq!(PageOrigin::from_origin(bad), None, "{bad}");
        }
        assert_eq!(
            PageOrigin::from_origin("https://example.com/")
                .unwrap()
                .port,
            Some(443)
        );
        assert_eq!(
            PageOrigin::from_origin("https://B\u{fc}cher.example")
                .unwrap()
                .host,
            "xn--bcher-kva.example"
        );
        assert_eq!(
            PageOrigin::from_origin("http://127.0.0.1:8080"),
            Some(PageOrigin {
                host: "127.0.0.1".into(),
                port: Some(8080)
            })
        );
        assert_eq!(
            PageOrigin::from_domain("www.example.com").unwrap().port,
            None
        );
        assert_eq!(
            PageOrigin::from_domain("https://shop.example.com:8443/x")
                .unwrap()
                .port,
            Some(8443)
        );
        assert_eq!(
            PageOrigin::from_domain("https://www.example.com/page?x=1")
                .unwrap()
                .host,
            "www.example.com"
        );
    }

    #[test]
    fn allowed_lists() {
        let list = vec!["*.example.com".to_string(), "shop.example.org".to_string()];
        let o = |s: &str| PageOrigin::from_origin(s).unwrap();
        assert!(o("https://a.example.com").allowed_by(&list));
        assert!(o("https://A.EXAMPLE.COM").allowed_by(&list));
        assert!(!o("https://example.com").allowed_by(&list));
        assert!(o("http://shop.example.org:8080").allowed_by(&list));
        assert!(!o("https://www.shop.example.org").allowed_by(&list));
        assert!(!o("https://a.example.com").allowed_by(&[]));
    }
}
