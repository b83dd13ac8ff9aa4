//! The browser console for operators: `/console` (a minimal page) and its socket
//! `GET /api/ws/console`.
//!
//! The first message must be `{"type": "auth", "token": "<personal access token>"}` with scope
//! `calls:write` (else the socket closes with 4001/4003), optionally with `"widgetIds": [...]`
//! (default: all the tenant's widgets). From then on the operator is *available*: visitors'
//! calls of those widgets, and PBX calls waiting in their queues (`visitorId` empty), are
//! offered to it (`{"type": "call.offered", "callId", "widgetId", "visitorId", "from"}`, and `{"type": "call.offer.stopped", "callId", "reason"}` when taken
//! or gone), in parallel with the widget's SIP extensions and PSTN numbers; calls already
//! waiting when the console joins are offered right after `auth:ok`. The operator
//! answers with `{"type": "call.accept", "callId", "sdp": "<offer>"}` (then `call.answer`,
//! `call.answered`, `call.ended` as on the widget socket), `call.candidate`, `call.hold` /
//! `call.resume` and `call.hangup`.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::LiveState;
use crate::realtime::{call_message, call_signal_frame, next_call_signal, Audience, CallPeer};

const CONSOLE_HTML: &str = include_str!("../../assets/console.html");

pub use ringside_domain::console::ConsoleOperators;

/// `GET /console`: the operator console page.
pub(crate) async fn console_page() -> Response {
    let mut r = CONSOLE_HTML.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

/// Tells the tenant's dashboards a team member's presence (`agent:presence` with `userId` and
/// `status`: online, away, offline) when it is not `before` any more.
pub(crate) fn announce_presence(
    st: &LiveState,
    tenant_id: &str,
    user_id: &str,
    before: ringside_domain::console::AgentStatus,
) {
    let now = st.console.status(tenant_id, user_id);
    if now == before {
        return;
    }
    let status = now.as_str();
    st.bus.publish(tenant_id, || {
        ringside_domain::bus::Event::new(
            "agent:presence",
            Audience::Tenant("messages:read"),
            None,
            None,
            json!({"userId": user_id, "status": status}),
            ringside_storage::now_ms(),
        )
    });
}

/// A socket's seat in the team's presence: taken when made (and announced), given back and
/// announced when the socket's task ends, however it ends.
pub(crate) struct PresenceGuard {
    st: LiveState,
    tenant: String,
    user: String,
    seat: u64,
}

impl PresenceGuard {
    /// Keeps `seat` (already joined or watching) of `user`, whose presence was `before` it,
    /// until dropped.
    pub(crate) fn new(
        st: &LiveState,
        tenant: &str,
        user: &str,
        seat: u64,
        before: ringside_domain::console::AgentStatus,
    ) -> PresenceGuard {
        announce_presence(st, tenant, user, before);
        PresenceGuard {
            st: st.clone(),
            tenant: tenant.to_owned(),
            user: user.to_owned(),
            seat,
        }
    }
}

impl Drop for PresenceGuard {
    fn drop(&mut self) {
        let before = self.st.console.status(&self.tenant, &self.user);
        self.st.console.leave(&self.tenant, self.seat);
        announce_presence(&self.st, &self.tenant, &self.user, before);
    }
}

/// `GET /api/ws/console`.
pub(crate) async fn console_ws(
    State(st): State<LiveState>,
    headers: axum::http::HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let cookie = crate::realtime::session_cookie(&st, &headers);
    // Small reads, as on the other sockets: tungstenite zero-fills its whole read buffer (128
    // KiB by default) each time the socket is polled, and this task wakes for every ring.
    ws.read_buffer_size(4096)
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| console_session(st, socket, cookie))
}

/// `call.offered` frames of the calls waiting for an answer on `widgets` (all the tenant's
/// when empty), oldest first.
async fn waiting_offers(st: &LiveState, tenant_id: &str, widgets: &[String]) -> Vec<Value> {
    let ids: Vec<String> = if widgets.is_empty() {
        match st.store.list_widgets(tenant_id).await {
            Ok(all) => all.into_iter().map(|w| w.id).collect(),
            Err(_) => return Vec::new(),
        }
    } else {
        widgets.to_vec()
    };
    let filter = ringside_storage::WidgetCallFilter {
        waiting: true,
        since_ms: st.presence.now_ms() - crate::admin::calls::WAITING_MAX_MS,
        ..Default::default()
    };
    let mut calls = Vec::new();
    for w in &ids {
        if let Ok(found) = st.store.list_widget_calls(tenant_id, w, filter, 100).await {
            calls.extend(found);
        }
    }
    calls.sort_by_key(|c| c.started_at);
    calls
        .into_iter()
        .map(|c| {
            json!({
                "type": "call.offered",
                "callId": c.id,
                "widgetId": c.widget_id,
                "visitorId": c.visitor_id.unwrap_or_default(),
                "from": c.from_uri,
            })
        })
        .collect()
}

async fn console_session(st: LiveState, mut socket: WebSocket, cookie: Option<String>) {
    let first = tokio::time::timeout(st.bus.auth_timeout(), socket.recv()).await;
    let v: Value = match first {
        Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str(t.as_str()).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    let Some((ctx, cred)) = crate::realtime::first_auth(&st, &v, cookie.as_deref()).await else {
        return crate::realtime::close(socket, 4001, "unauthorized").await;
    };
    if !ctx.scopes.iter().any(|s| s == "calls:write") {
        return crate::realtime::close(socket, 4003, "forbidden").await;
    }
    let mut widgets: Vec<String> = v["widgetIds"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|w| w.as_str().map(str::to_owned))
                .take(100)
                .collect()
        })
        .unwrap_or_default();
    // Given some widgets: rung only for those (asking for none means all of them; having none
    // means no console).
    if let Some(mine) = &ctx.widgets {
        widgets = if widgets.is_empty() {
            mine.clone()
        } else {
            widgets.into_iter().filter(|w| mine.contains(w)).collect()
        };
        if widgets.is_empty() {
            return crate::realtime::close(socket, 4003, "forbidden").await;
        }
    }
    let mut rx = st.bus.subscribe(&ctx.tenant_id);
    let before = st.console.status(&ctx.tenant_id, &ctx.user_id);
    let me = st
        .console
        .join(&ctx.tenant_id, &ctx.user_id, widgets.clone());
    let _presence = PresenceGuard::new(&st, &ctx.tenant_id, &ctx.user_id, me, before);
    let ice = st.calls.as_ref().map_or(json!([]), |c| c.ice_servers());
    let ok = json!({"type": "auth:ok", "userId": ctx.user_id, "iceServers": ice});
    let mut call: Option<crate::browser_calls::BrowserCallHandle> = None;
    let mut open = socket
        .send(Message::Text(ok.to_string().into()))
        .await
        .is_ok();
    // Calls already ringing when this console joined (a page opened, or reloaded, while a
    // visitor waits): offered now as they were to the consoles that were there.
    for offer in waiting_offers(&st, &ctx.tenant_id, &widgets).await {
        if open {
            open = socket
                .send(Message::Text(offer.to_string().into()))
                .await
                .is_ok();
        }
    }
    if open {
        let mut recheck = crate::realtime::recheck_timer();
        loop {
            tokio::select! {
                _ = recheck.tick() => {
                    if crate::realtime::revoked(&st, &cred).await {
                        // Hang up a call in progress and leave, as on close.
                        let _ = socket
                            .send(Message::Close(Some(axum::extract::ws::CloseFrame {
                                code: 4001,
                                reason: "token revoked".into(),
                            })))
                            .await;
                        break;
                    }
                }
                sig = next_call_signal(&mut call) => {
                    let m = call_signal_frame(&mut call, sig);
                    if socket.send(Message::Text(m.into())).await.is_err() {
                        break;
                    }
                }
                ev = rx.recv() => match ev {
                    Ok(e) => {
                        if !matches!(e.audience, Audience::Console) {
                            continue;
                        }
                        let w = e.widget_id.as_deref().unwrap_or_default();
                        if !widgets.is_empty() && !widgets.iter().any(|x| x == w) {
                            continue;
                        }
                        if socket.send(Message::Text(e.data.to_string().into())).await.is_err() {
                            break;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                msg = socket.recv() => match msg {
                    Some(Ok(Message::Text(t))) => {
                        let v: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
                        let reply = match v["type"].as_str() {
                            Some("ping") => Some(json!({"type": "pong"})),
                            Some(kind @ ("call.accept" | "call.candidate" | "call.hangup"
                                | "call.hold" | "call.resume")) => {
                                let peer = CallPeer::Operator {
                                    tenant: &ctx.tenant_id,
                                    user: &ctx.user_id,
                                };
                                call_message(&st, peer, &mut call, kind, &v).await
                            }
                            Some(_) => Some(json!({"type": "call.error",
                                "error": {"code": "unknown_message", "message": "unknown message type"}})),
                            None => None,
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
            }
        }
    }
    // The seat leaves with `_presence`.
    if let Some(c) = call {
        c.control.hangup();
    }
}
