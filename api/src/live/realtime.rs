//! Realtime: the WebSockets fed from the one event bus ([`ringside_domain::Bus`], re-exported
//! here), which the control plane and the call core publish to.
//!
//! - `GET /api/ws/tenant` — the dashboards' socket (live-chat reference shape). The first
//!   message must be `{"type": "auth", "token": "<personal access token>"}` within the
//!   configured timeout (5 s by default) or the socket is closed (code 4001). After
//!   `{"type": "auth:ok", ...}` the socket receives the tenant's events as
//!   `{"type", "data", "at"}`: `conversation:new`, `conversation:updated`,
//!   `conversation:qualified` (contact details given, or the assistant handed over: `reason`
//!   `handover` or `not_found`) and `message:new` (token scope `messages:read`),
//!   `visitor:connected`, `visitor:page` and `campaign:progress` (a visitor from a campaign
//!   started a chat or left a lead or callback; `analytics:read`), and call events (`call:*`,
//!   `calls:read`). A token with none of those scopes is refused (4003). `{"type": "ping"}`
//!   is answered with `{"type": "pong"}`; the server pings every 30 s. A socket too slow for
//!   the event rate gets `{"type": "lagged", "missed": n}` and continues.
//! - `GET /api/widgets/{widgetId}/ws?key=<widget key>&visitorId=<id>` — the visitor page's
//!   socket (widget key and Origin checked like the other runtime endpoints). It pushes
//!   operator, automation and assistant replies to that visitor (`{"type": "message",
//!   "data"}`; an assistant's answer written by a model streams first as `{"type":
//!   "assistant.delta", "streamId", "text"}` pieces, and its stored message carries the same
//!   `streamId`) and
//!   direct-navigate commands (`{"type": "navigate", ...}`) at once instead of with the next
//!   heartbeat.
//! - Typing, both ways: the page sends `{"type": "typing", "typing": true|false}` and
//!   dashboards get `visitor:typing` (`messages:read`); a dashboard with `messages:write`
//!   sends `{"type": "typing", "widgetId", "visitorId", "typing"}` and the visitor's page gets
//!   `{"type": "typing", "typing"}`. A socket's signals beyond a burst of 4 and 1.25 a
//!   second are dropped.
//!
//! Both sockets use small buffers (4 KiB reads, messages up to 64 KiB) so that many idle
//! connections stay cheap.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use ringside_storage::AuthContext;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::LiveState;
use crate::ApiError;

pub use ringside_domain::bus::{call_event_kind, Audience, Bus, Event};

/// Server ping interval.
const PING_EVERY: Duration = Duration::from_secs(30);
/// Largest message a client may send.
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;
/// Close codes.
const CLOSE_AUTH: u16 = 4001;
const CLOSE_FORBIDDEN: u16 = 4003;

/// The event's frame as a text message (it is JSON, so valid UTF-8; checked all the same).
fn frame_text(e: &Event) -> Utf8Bytes {
    Utf8Bytes::try_from(e.frame().clone()).unwrap_or_else(|_| Utf8Bytes::from_static("{}"))
}

fn configure(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    ws.read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
}

pub(crate) async fn close(mut socket: WebSocket, code: u16, reason: &'static str) {
    let _ = socket
        .send(Message::Text(
            json!({"type": "error", "error": {"code": reason}})
                .to_string()
                .into(),
        ))
        .await;
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

/// `GET /api/ws/tenant`.
pub(crate) async fn tenant_ws(
    State(st): State<LiveState>,
    headers: axum::http::HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let cookie = session_cookie(&st, &headers);
    configure(ws).on_upgrade(move |socket| tenant_session(st, socket, cookie))
}

/// What a socket was opened with: a token from its first message, or the session cookie of
/// its upgrade request.
#[derive(Debug, Clone)]
pub(crate) enum WsCredential {
    /// A personal access token.
    Token(String),
    /// A dashboard session's secret.
    Session(String),
}

/// The session secret of a WebSocket upgrade, taken only from a page of this server: a
/// browser sends the cookie with any page's WebSocket to us, so the `Origin` must be ours
/// (the public URL's, or the `Host` the request came to) — or absent, as from a program,
/// which no other site can make a browser do.
pub(crate) fn session_cookie(st: &LiveState, headers: &axum::http::HeaderMap) -> Option<String> {
    let secure = crate::accounts::session::secure_cookies(&st.public_url);
    let secret = crate::accounts::session::cookie_secret(headers, secure)?;
    let ours = match headers.get(axum::http::header::ORIGIN) {
        None => true,
        Some(o) => {
            let o = o.to_str().unwrap_or("").trim_end_matches('/');
            let public = st.public_url.trim_end_matches('/');
            let host = headers
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("");
            o == public
                || (!host.is_empty()
                    && (o == format!("http://{host}") || o == format!("https://{host}")))
        }
    };
    ours.then(|| secret.to_owned())
}

const DASHBOARD_SCOPES: &[&str] = &["messages:read", "analytics:read", "calls:read"];

/// How often a socket opened with a token checks that the token still stands: a revoked
/// token closes its sockets within this time (close code 4001, reason `token revoked`).
pub(crate) const RECHECK_EVERY: Duration = Duration::from_secs(5);

/// Whether the socket's token or session has been revoked (or deleted, or signed out) since
/// it opened the socket. A storage error is not taken as a revocation.
pub(crate) async fn revoked(st: &LiveState, cred: &WsCredential) -> bool {
    match cred {
        WsCredential::Token(token) => {
            matches!(st.store.authenticate_token(token).await, Ok(None))
        }
        WsCredential::Session(secret) => {
            matches!(st.accounts.session(&st.store, secret).await, Ok(None))
        }
    }
}

/// The caller a socket's first message (`{type: "auth", token?}`) names: its token, or
/// without one the session cookie the upgrade carried.
pub(crate) async fn first_auth(
    st: &LiveState,
    v: &Value,
    cookie: Option<&str>,
) -> Option<(AuthContext, WsCredential)> {
    if v["type"] != "auth" {
        return None;
    }
    // The console page sends `token: ""` when it has none.
    match v["token"].as_str().filter(|t| !t.is_empty()) {
        Some(token) => {
            let ctx = st.store.authenticate_token(token).await.ok().flatten()?;
            Some((ctx, WsCredential::Token(token.to_owned())))
        }
        None => {
            let secret = cookie?;
            let auth = st
                .accounts
                .session(&st.store, secret)
                .await
                .ok()
                .flatten()?;
            Some((
                crate::accounts::session_context(&auth),
                WsCredential::Session(secret.to_owned()),
            ))
        }
    }
}

/// A timer ticking every [`RECHECK_EVERY`], first after one period.
pub(crate) fn recheck_timer() -> tokio::time::Interval {
    tokio::time::interval_at(tokio::time::Instant::now() + RECHECK_EVERY, RECHECK_EVERY)
}

async fn authenticate(
    st: &LiveState,
    socket: &mut WebSocket,
    cookie: Option<&str>,
) -> Result<(AuthContext, WsCredential), u16> {
    let first = tokio::time::timeout(st.bus.auth_timeout(), socket.recv()).await;
    let text = match first {
        Ok(Some(Ok(Message::Text(t)))) => t,
        _ => return Err(CLOSE_AUTH),
    };
    let v: Value = serde_json::from_str(text.as_str()).map_err(|_| CLOSE_AUTH)?;
    let (ctx, cred) = first_auth(st, &v, cookie).await.ok_or(CLOSE_AUTH)?;
    if !ctx
        .scopes
        .iter()
        .any(|s| DASHBOARD_SCOPES.contains(&s.as_str()))
    {
        return Err(CLOSE_FORBIDDEN);
    }
    Ok((ctx, cred))
}

async fn tenant_session(st: LiveState, mut socket: WebSocket, cookie: Option<String>) {
    let (ctx, cred) = match authenticate(&st, &mut socket, cookie.as_deref()).await {
        Ok(c) => c,
        Err(code) => {
            let reason = if code == CLOSE_FORBIDDEN {
                "forbidden"
            } else {
                "unauthorized"
            };
            return close(socket, code, reason).await;
        }
    };
    let mut rx = st.bus.subscribe(&ctx.tenant_id);
    let scopes: Vec<&str> = ctx
        .scopes
        .iter()
        .map(String::as_str)
        .filter(|s| DASHBOARD_SCOPES.contains(s))
        .collect();
    let ok = json!({"type": "auth:ok", "tenantId": ctx.tenant_id, "userId": ctx.user_id,
                    "scopes": scopes});
    if socket
        .send(Message::Text(ok.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    let mut recheck = recheck_timer();
    let mut typing = TypingBudget::new();
    // The user is there (away until their console takes calls) while this socket is open.
    let before = st.console.status(&ctx.tenant_id, &ctx.user_id);
    let seat = st.console.watch(&ctx.tenant_id, &ctx.user_id);
    let _presence =
        crate::console::PresenceGuard::new(&st, &ctx.tenant_id, &ctx.user_id, seat, before);
    loop {
        tokio::select! {
            _ = recheck.tick() => {
                if revoked(&st, &cred).await {
                    return close(socket, CLOSE_AUTH, "token revoked").await;
                }
            }
            ev = rx.recv() => match ev {
                Ok(e) => {
                    let Audience::Tenant(scope) = e.audience else { continue };
                    if !ctx.scopes.iter().any(|s| s == scope) {
                        continue;
                    }
                    // Given some widgets: only their events (none that spans every widget).
                    if let Some(mine) = &ctx.widgets {
                        if !e.widget_id.as_ref().is_some_and(|w| mine.contains(w)) {
                            continue;
                        }
                    }
                    if socket.send(Message::Text(frame_text(&e))).await.is_err() {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    let m = json!({"type": "lagged", "missed": n}).to_string();
                    if socket.send(Message::Text(m.into())).await.is_err() {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(t))) => {
                    if is_ping(&t) && socket
                        .send(Message::Text(r#"{"type":"pong"}"#.into()))
                        .await
                        .is_err()
                    {
                        break;
                    }
                    operator_typing(&st, &ctx, &t, &mut typing);
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
        }
    }
}

/// How many typing signals a socket may send in a burst, and how fast that allowance comes
/// back: enough for "typing, sent, typing again" at once, not for a flood.
const TYPING_BURST: f64 = 4.0;
const TYPING_PER_SEC: f64 = 1.25;

/// A socket's allowance of typing signals (a token bucket); more are dropped.
#[derive(Debug)]
struct TypingBudget {
    tokens: f64,
    at: tokio::time::Instant,
}

impl TypingBudget {
    fn new() -> TypingBudget {
        TypingBudget {
            tokens: TYPING_BURST,
            at: tokio::time::Instant::now(),
        }
    }

    /// Whether a typing signal may pass now.
    fn take(&mut self) -> bool {
        let now = tokio::time::Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * TYPING_PER_SEC;
        self.tokens = (self.tokens + refill).min(TYPING_BURST);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// `{"type": "typing", "widgetId", "visitorId", "typing"}` from a dashboard with
/// `messages:write` (on a widget it may see): the visitor's page shows the team typing.
fn operator_typing(st: &LiveState, ctx: &AuthContext, t: &Utf8Bytes, budget: &mut TypingBudget) {
    let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else {
        return;
    };
    if v["type"] != "typing" || !ctx.scopes.iter().any(|s| s == "messages:write") {
        return;
    }
    let (Some(widget), Some(visitor)) = (v["widgetId"].as_str(), v["visitorId"].as_str()) else {
        return;
    };
    if !crate::widget_runtime::valid_client_id(visitor)
        || widget.len() > 64
        || ctx
            .widgets
            .as_ref()
            .is_some_and(|mine| !mine.iter().any(|w| w == widget))
        || !budget.take()
    {
        return;
    }
    // The bus is the tenant's: another tenant's widget socket never sees it.
    let typing = v["typing"].as_bool().unwrap_or(true);
    st.bus.publish(&ctx.tenant_id, || {
        Event::new(
            "operator:typing",
            Audience::Visitor,
            Some(widget),
            Some(visitor),
            json!({"typing": typing}),
            ringside_storage::now_ms(),
        )
    });
}

fn is_ping(t: &Utf8Bytes) -> bool {
    serde_json::from_str::<Value>(t.as_str()).is_ok_and(|v| v["type"] == "ping")
}

/// `GET /api/widgets/{widgetId}/ws?key=&visitorId=`.
pub(crate) async fn widget_ws(
    State(st): State<LiveState>,
    Path(widget_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let w = match crate::widget_runtime::lookup(
        &st.widget_cache,
        &st.store,
        &widget_id,
        q.get("key").map(String::as_str),
    )
    .await
    {
        Ok(w) => w,
        Err(e) => return e.into_response(),
    };
    if let Err(e) =
        crate::widget_runtime::check_origin(&w, &headers, q.get("domain").map(String::as_str))
    {
        return e.into_response();
    }
    let visitor = match q.get("visitorId") {
        Some(v) if crate::widget_runtime::valid_client_id(v) => v.clone(),
        _ => {
            return ApiError::InvalidField {
                field: "visitorId",
                reason: "6-128 letters, digits, _ - . :",
            }
            .into_response()
        }
    };
    let (tenant, widget) = (w.tenant_id.clone(), w.id.clone());
    configure(ws).on_upgrade(move |socket| widget_session(st, tenant, widget, visitor, socket))
}

async fn send_commands(
    st: &LiveState,
    socket: &mut WebSocket,
    widget: &str,
    visitor: &str,
) -> bool {
    for c in st.presence.take_commands(widget, visitor) {
        tracing::debug!(widget, visitor, kind = %c.kind, "widget socket: a command to the page");
        let mut v = serde_json::to_value(&c).unwrap_or(Value::Null);
        v["type"] = json!(c.kind);
        if socket
            .send(Message::Text(v.to_string().into()))
            .await
            .is_err()
        {
            return false;
        }
    }
    true
}

async fn widget_session(
    st: LiveState,
    tenant: String,
    widget: String,
    visitor: String,
    mut socket: WebSocket,
) {
    let mut rx = st.bus.subscribe(&tenant);
    tracing::debug!(widget, visitor, "widget socket: open");
    let ice = st.calls.as_ref().map_or(json!([]), |c| c.ice_servers());
    let channel = st.channels.open(&tenant, &widget, &visitor);
    let _release = ChannelGuard(&st.channels, &widget, &visitor);
    let ready = json!({"type": "ready", "widgetId": widget, "visitorId": visitor,
                       "iceServers": ice, "channelNumber": channel});
    if socket
        .send(Message::Text(ready.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    // Commands queued before the socket opened.
    if !send_commands(&st, &mut socket, &widget, &visitor).await {
        return;
    }
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    let mut call: Option<crate::browser_calls::BrowserCallHandle> = None;
    let mut typing = TypingBudget::new();
    loop {
        tokio::select! {
            sig = next_call_signal(&mut call) => {
                let m = call_signal_frame(&mut call, sig);
                if socket.send(Message::Text(m.into())).await.is_err() {
                    break;
                }
            }
            ev = rx.recv() => match ev {
                Ok(e) => {
                    if e.widget_id.as_deref() != Some(widget.as_str())
                        || e.visitor_id.as_deref() != Some(visitor.as_str())
                    {
                        continue;
                    }
                    let ok = match e.kind {
                        "message:new" if e.data["sender"] != "visitor" => {
                            let m = json!({"type": "message", "data": e.data});
                            socket.send(Message::Text(m.to_string().into())).await.is_ok()
                        }
                        "visitor:command" => send_commands(&st, &mut socket, &widget, &visitor).await,
                        "visitor:call" => socket.send(Message::Text(e.data.to_string().into())).await.is_ok(),
                        "operator:typing" => {
                            let m = json!({"type": "typing", "typing": e.data["typing"]});
                            socket.send(Message::Text(m.to_string().into())).await.is_ok()
                        }
                        "assistant:delta" => {
                            let m = json!({"type": "assistant.delta",
                                           "streamId": e.data["streamId"],
                                           "text": e.data["text"]});
                            socket.send(Message::Text(m.to_string().into())).await.is_ok()
                        }
                        _ => true,
                    };
                    if !ok {
                        break;
                    }
                }
                // Missed events: the page catches up over HTTP (messages list, heartbeats).
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
                    let reply = match v["type"].as_str() {
                        Some("ping") => Some(json!({"type": "pong"})),
                        Some("typing") => {
                            if typing.take() {
                                let typing = v["typing"].as_bool().unwrap_or(true);
                                let data = json!({"widgetId": widget, "visitorId": visitor,
                                                  "typing": typing});
                                st.bus.publish(&tenant, || {
                                    Event::new(
                                        "visitor:typing",
                                        Audience::Tenant("messages:read"),
                                        Some(&widget),
                                        Some(&visitor),
                                        data,
                                        ringside_storage::now_ms(),
                                    )
                                });
                            }
                            None
                        }
                        Some(kind) if kind.starts_with("call.") => {
                            let peer = CallPeer::Visitor {
                                tenant: &tenant,
                                widget: &widget,
                                visitor: &visitor,
                            };
                            call_message(&st, peer, &mut call, kind, &v).await
                        }
                        _ => None,
                    };
                    if let Some(r) = reply {
                        if socket.send(Message::Text(r.to_string().into())).await.is_err() {
                            break;
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
        }
    }
    tracing::debug!(widget, visitor, "widget socket: closed");
    // The page went away: so does its call.
    if let Some(c) = call {
        c.control.hangup();
    }
}

/// Gives the visitor's channel number back when its socket ends.
struct ChannelGuard<'a>(&'a crate::channels::Channels, &'a str, &'a str);

impl Drop for ChannelGuard<'_> {
    fn drop(&mut self) {
        self.0.close(self.1, self.2);
    }
}

/// The next signal of the socket's call (pending while it has none).
pub(crate) async fn next_call_signal(
    call: &mut Option<crate::browser_calls::BrowserCallHandle>,
) -> Option<crate::browser_calls::CallSignal> {
    match call.as_mut() {
        Some(c) => c.signals.recv().await,
        None => std::future::pending().await,
    }
}

/// The page's message for the call's signal `sig` (`None`: the call's task is gone); the
/// call is forgotten once it ended.
pub(crate) fn call_signal_frame(
    call: &mut Option<crate::browser_calls::BrowserCallHandle>,
    sig: Option<crate::browser_calls::CallSignal>,
) -> String {
    use crate::browser_calls::CallSignal;
    let m = match sig {
        Some(CallSignal::Started(id)) => json!({"type": "call.started", "callId": id}),
        Some(CallSignal::Ringing) => json!({"type": "call.ringing"}),
        Some(CallSignal::Answered) => json!({"type": "call.answered"}),
        Some(CallSignal::Unavailable) => json!({"type": "call.unavailable"}),
        Some(CallSignal::Ended(reason)) => json!({"type": "call.ended", "reason": reason}),
        None => json!({"type": "call.ended", "reason": "failed"}),
    };
    if m["type"] == "call.ended" {
        *call = None;
    }
    m.to_string()
}

fn call_error(code: &str, message: &str) -> Value {
    json!({"type": "call.error", "error": {"code": code, "message": message}})
}

/// Largest SDP offer accepted.
const MAX_OFFER: usize = 32 * 1024;

/// Who sends `call.*` messages: a visitor's page or a console operator.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CallPeer<'a> {
    Visitor {
        tenant: &'a str,
        widget: &'a str,
        visitor: &'a str,
    },
    Operator {
        tenant: &'a str,
        user: &'a str,
    },
}

/// A `call.*` message from a page; returns the reply, if any.
pub(crate) async fn call_message(
    st: &LiveState,
    peer: CallPeer<'_>,
    call: &mut Option<crate::browser_calls::BrowserCallHandle>,
    kind: &str,
    v: &Value,
) -> Option<Value> {
    use crate::browser_calls::{BrowserCallError, BrowserCallRequest};
    let (tenant, widget, visitor) = match peer {
        CallPeer::Visitor {
            tenant,
            widget,
            visitor,
        } => (tenant, widget, visitor),
        CallPeer::Operator { tenant, user } => (tenant, "", user),
    };
    let operator = matches!(peer, CallPeer::Operator { .. });
    if operator && matches!(kind, "call.start" | "call.decline") {
        return Some(call_error("unknown_message", "not a console message"));
    }
    match kind {
        "call.start" => {
            if call.is_some() {
                return Some(call_error(
                    "call_in_progress",
                    "this page already has a call",
                ));
            }
            let Some(calls) = st.calls.as_ref() else {
                return Some(call_error("calls_unavailable", "calls are not available"));
            };
            let offer = match v["sdp"].as_str() {
                Some(s) if !s.is_empty() && s.len() <= MAX_OFFER => s.to_owned(),
                _ => {
                    return Some(call_error(
                        "invalid_offer",
                        "sdp: an SDP offer of at most 32 KiB is required",
                    ))
                }
            };
            let name: String = v["name"]
                .as_str()
                .unwrap_or_default()
                .chars()
                .take(60)
                .collect();
            let req = BrowserCallRequest {
                tenant_id: tenant.to_owned(),
                widget_id: widget.to_owned(),
                visitor_id: visitor.to_owned(),
                caller_name: name,
                offer,
            };
            match calls.start(req).await {
                Ok(h) => {
                    let answer = json!({"type": "call.answer", "sdp": h.answer});
                    *call = Some(h);
                    Some(answer)
                }
                Err(BrowserCallError::BadOffer(m)) => Some(call_error("invalid_offer", &m)),
                Err(BrowserCallError::Unavailable) => {
                    Some(call_error("calls_unavailable", "calls are not available"))
                }
            }
        }
        "call.candidate" => {
            if let (Some(c), Some(cand)) = (call.as_ref(), v["candidate"].as_str()) {
                if !cand.is_empty() && cand.len() <= 1024 {
                    let mid = v["sdpMid"].as_str().map(str::to_owned);
                    let mline = v["sdpMLineIndex"]
                        .as_u64()
                        .and_then(|n| u16::try_from(n).ok());
                    c.control.candidate(cand.to_owned(), mid, mline);
                }
            }
            None
        }
        "call.hangup" => {
            if let Some(c) = call.as_ref() {
                c.control.hangup();
            }
            None
        }
        "call.hold" | "call.resume" => {
            if let Some(c) = call.as_ref() {
                c.control.hold(kind == "call.hold");
            }
            None
        }
        "call.accept" | "call.decline" => {
            let Some(calls) = st.calls.as_ref() else {
                return Some(call_error("calls_unavailable", "calls are not available"));
            };
            let Some(call_id) = v["callId"]
                .as_str()
                .filter(|c| !c.is_empty() && c.len() <= 128)
            else {
                return Some(call_error("invalid_call", "callId is required"));
            };
            let req = BrowserCallRequest {
                tenant_id: tenant.to_owned(),
                widget_id: widget.to_owned(),
                visitor_id: visitor.to_owned(),
                caller_name: String::new(),
                offer: v["sdp"].as_str().unwrap_or_default().to_owned(),
            };
            if kind == "call.decline" {
                calls.decline(req, call_id.to_owned());
                return None;
            }
            if call.is_some() {
                return Some(call_error(
                    "call_in_progress",
                    "this page already has a call",
                ));
            }
            if req.offer.is_empty() || req.offer.len() > MAX_OFFER {
                return Some(call_error(
                    "invalid_offer",
                    "sdp: an SDP offer of at most 32 KiB is required",
                ));
            }
            let started = if operator {
                calls.console_accept(req, call_id.to_owned()).await
            } else {
                calls.accept(req, call_id.to_owned()).await
            };
            match started {
                Ok(h) => {
                    let answer = json!({"type": "call.answer", "sdp": h.answer});
                    *call = Some(h);
                    Some(answer)
                }
                Err(BrowserCallError::BadOffer(m)) => Some(call_error("invalid_offer", &m)),
                Err(BrowserCallError::Unavailable) => {
                    Some(call_error("call_gone", "that call is no longer ringing"))
                }
            }
        }
        _ => Some(call_error("unknown_message", "unknown call message type")),
    }
}
