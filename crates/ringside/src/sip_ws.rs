//! SIP over WebSocket (RFC 7118) on the HTTP listener: the upgrade (the `sip` subprotocol
//! required, a browser page's Origin checked), then one task per connection pumping WebSocket
//! messages between the socket and the SIP transport ([`SipWebSockets`]).
//!
//! A browser page may only open the SIP WebSocket from Ringside's own origin (the host it was
//! asked on, or the public URL's) or one listed in `RINGSIDE_SIP_WS_ORIGINS`: a foreign page
//! is refused before the upgrade (403), so a visitor's browser cannot be used to register
//! against or place calls through a tenant's extension from another site. Clients that are
//! not browsers send no Origin and are let through; they authenticate with digest like any
//! SIP phone.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tracing::debug;

use ringside_api::conn_limits::OverTls;
use ringside_calls::driver::websocket::SipWebSockets;
use ringside_calls::metrics::SipMetrics;

/// A WebSocket ping this often keeps the connection (and NAT bindings on the way) alive and
/// inside the HTTP listener's idle timeout; softphones re-register far less often.
const PING_EVERY: Duration = Duration::from_secs(30);

/// The largest SIP message taken over WebSocket (as on TCP).
const MAX_MESSAGE: usize = 65_536;

/// What the SIP WebSocket handler needs.
#[derive(Clone)]
pub struct SipWs {
    /// The SIP transport's way in.
    pub sockets: SipWebSockets,
    /// Origins allowed besides Ringside's own (lowercase, no trailing slash).
    pub origins: Arc<Vec<String>>,
    /// The public URL's origin.
    pub public_origin: String,
    /// Refusals are counted here.
    pub metrics: Arc<SipMetrics>,
}

/// The route serving SIP over WebSocket at `path`.
pub fn router(path: &str, state: SipWs) -> Router {
    Router::new().route(path, get(upgrade)).with_state(state)
}

/// The origin (`scheme://host[:port]`, lowercase) of a URL.
pub fn origin_of(url: &str) -> String {
    let lower = url.trim().to_ascii_lowercase();
    let (scheme, rest) = lower.split_once("://").unwrap_or(("http", &lower));
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    format!("{scheme}://{host}")
}

impl SipWs {
    /// Whether a request with these headers may open the SIP WebSocket.
    fn origin_allowed(&self, headers: &HeaderMap, secure: bool) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        let own = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|h| {
                let scheme = if secure { "https" } else { "http" };
                format!("{scheme}://{}", h.to_ascii_lowercase())
            });
        own.as_deref() == Some(origin.as_str())
            || origin == self.public_origin
            || self.origins.contains(&origin)
    }
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

async fn upgrade(
    State(s): State<SipWs>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    tls: Option<Extension<OverTls>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let secure = tls.is_some();
    if !s.origin_allowed(&headers, secure) {
        s.metrics.ws_refused.fetch_add(1, Ordering::Relaxed);
        debug!(%addr, origin = ?headers.get(header::ORIGIN), "SIP WebSocket refused: foreign origin");
        return refuse(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "this origin may not open the SIP WebSocket (RINGSIDE_SIP_WS_ORIGINS lists the allowed ones)",
        );
    }
    let offers_sip = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("sip"));
    if !offers_sip {
        s.metrics.ws_refused.fetch_add(1, Ordering::Relaxed);
        return refuse(
            StatusCode::BAD_REQUEST,
            "sip_subprotocol_required",
            "a SIP WebSocket must ask for the subprotocol \"sip\" (RFC 7118)",
        );
    }
    ws.protocols(["sip"])
        .max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| run(socket, s.sockets, addr, secure))
}

/// Pump one connection until either side ends it.
async fn run(socket: WebSocket, sockets: SipWebSockets, addr: SocketAddr, secure: bool) {
    let (mut link, mut out) = sockets.open(addr, secure);
    let (mut tx, mut rx) = socket.split();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            m = rx.next() => {
                let data = match m {
                    Some(Ok(Message::Text(t))) => bytes::Bytes::from(t),
                    Some(Ok(Message::Binary(b))) => b,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                };
                if !link.receive(&data).await {
                    break;
                }
            }
            b = out.recv() => {
                let Some(b) = b else { break };
                let data = link.outgoing(b);
                // RFC 7118 §5.2: text frames for UTF-8 messages, binary for the others.
                let msg = match String::from_utf8(data.to_vec()) {
                    Ok(text) => Message::Text(text.into()),
                    Err(e) => Message::Binary(e.into_bytes().into()),
                };
                if tx.send(msg).await.is_err() {
                    break;
                }
            }
            _ = ping.tick() => {
                if tx.send(Message::Ping(bytes::Bytes::new())).await.is_err() {
                    break;
                }
            }
        }
    }
    debug!(peer = %link.peer().addr, "SIP WebSocket closed");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_and_host() {
        assert_eq!(
            origin_of("https://Ringside.example.com/"),
            "https://ringside.example.com"
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080/x?y"),
            "http://127.0.0.1:8080"
        );
    }
}
