//! The event streams of `/mcp` (see [`super::live`] for what they carry): the answer to a
//! `subscriptions/listen` (2026-07-28), a session's `GET /mcp` stream, and the session
//! subscriptions (`resources/subscribe`, `resources/unsubscribe`) earlier revisions use.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ringside_storage::AuthContext;
use serde_json::{json, Map, Value};

use super::rpc::{self, code, Revision};
use super::{
    bearer, caller, credential_id, forbidden_origin, json_response, live, lookup, not_allowed,
    origin_ok, session_version, Ctx, Mcp, MCP_SCOPE,
};
use crate::AppState;

/// Which URIs a stream delivers updates of.
enum Subs {
    /// Those a `subscriptions/listen` named (honoured).
    Fixed(Vec<String>),
    /// Those a session subscribed to, read at each event.
    Session(Arc<live::Hub>, String),
}

impl Subs {
    fn current(&self) -> Vec<String> {
        match self {
            Subs::Fixed(v) => v.clone(),
            Subs::Session(hub, s) => hub.of_session(s, std::time::Instant::now()),
        }
    }
}

/// An event stream (`text/event-stream`) of resource updates for the caller of `token`:
/// `first` (the acknowledgement) first, then `notifications/resources/updated` of the covered
/// resources as the tenant's events come, a comment every [`live::KEEPALIVE`] (when the token
/// is checked again: revoked or expired, the stream ends, after `last` when there is one).
fn event_stream(
    st: AppState,
    token: String,
    who: AuthContext,
    subs: Subs,
    first: Option<Value>,
    sub_id: Option<Value>,
    permit: live::StreamPermit,
) -> Response {
    use tokio::sync::broadcast::error::RecvError;
    struct S {
        st: AppState,
        token: String,
        who: AuthContext,
        subs: Subs,
        rx: tokio::sync::broadcast::Receiver<Arc<ringside_domain::bus::Event>>,
        first: Option<String>,
        sub_id: Option<Value>,
        tick: tokio::time::Interval,
        done: bool,
        _permit: live::StreamPermit,
    }
    let rx = st.bus.subscribe(&who.tenant_id);
    let start = tokio::time::Instant::now() + live::KEEPALIVE;
    let state = S {
        st,
        token,
        who,
        subs,
        rx,
        first: first.map(|f| live::frame(&f)),
        sub_id,
        tick: tokio::time::interval_at(start, live::KEEPALIVE),
        done: false,
        _permit: permit,
    };
    let body = futures_util::stream::unfold(state, |mut s| async move {
        let out =
            |text: String, s: S| Some((Ok::<_, std::convert::Infallible>(Bytes::from(text)), s));
        if s.done {
            return None;
        }
        if let Some(f) = s.first.take() {
            return out(f, s);
        }
        loop {
            tokio::select! {
                r = s.rx.recv() => match r {
                    Ok(e) => {
                        let Some(uri) = live::updated_uri(&e) else { continue };
                        if !live::visible(&s.who, &e)
                            || !s.subs.current().iter().any(|sub| live::covers(sub, &uri))
                        {
                            continue;
                        }
                        let f = live::frame(&live::notification(&uri, Some(&e), s.sub_id.as_ref()));
                        return out(f, s);
                    }
                    Err(RecvError::Lagged(_)) => {
                        // Events were missed: each subscribed resource may have changed.
                        let f: String = s
                            .subs
                            .current()
                            .iter()
                            .map(|u| live::frame(&live::notification(u, None, s.sub_id.as_ref())))
                            .collect();
                        if !f.is_empty() {
                            return out(f, s);
                        }
                    }
                    Err(RecvError::Closed) => return None,
                },
                _ = s.tick.tick() => {
                    match lookup(&s.st, &s.token).await {
                        Ok(Some(who)) if who.scopes.iter().any(|x| x == MCP_SCOPE) => {
                            s.who = who;
                            return out(": keepalive\n\n".into(), s);
                        }
                        Ok(_) => {
                            s.done = true;
                            let id = s.sub_id.clone()?;
                            let end = rpc::error(
                                Some(&id),
                                code::INVALID_REQUEST,
                                "The token was revoked or has expired: authenticate again and listen again",
                                None,
                            );
                            return out(live::frame(&end), s);
                        }
                        Err(_) => return out(": keepalive\n\n".into(), s),
                    }
                }
            }
        }
    });
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response()
}

fn accepts_sse(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("text/event-stream"))
}

fn too_many_streams(id: Option<&Value>) -> Response {
    json_response(
        StatusCode::TOO_MANY_REQUESTS,
        &rpc::error(
            id,
            code::INVALID_REQUEST,
            "Too many event streams are open for this token: close one first",
            None,
        ),
    )
}

/// `GET /mcp`: a session's event stream (revisions before 2026-07-28).
pub(super) async fn session_stream(
    st: AppState,
    hub: Arc<live::Hub>,
    headers: &HeaderMap,
) -> Response {
    if !origin_ok(&st, headers) {
        return forbidden_origin();
    }
    let who = match caller(&st, headers).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let Some(raw) = headers.get("mcp-session-id").and_then(|v| v.to_str().ok()) else {
        return not_allowed(State(st), headers.clone()).await;
    };
    if session_version(&st.link_secret, raw, credential_id(&who)).is_none() {
        return json_response(
            StatusCode::NOT_FOUND,
            &rpc::error(
                None,
                code::INVALID_REQUEST,
                "Session not found: initialize again",
                None,
            ),
        );
    }
    if !accepts_sse(headers) {
        return json_response(
            StatusCode::NOT_ACCEPTABLE,
            &rpc::error(
                None,
                code::INVALID_REQUEST,
                "Not Acceptable: the session's stream is text/event-stream",
                None,
            ),
        );
    }
    let Some(permit) = hub.open(credential_id(&who)) else {
        return too_many_streams(None);
    };
    let token = bearer(headers).unwrap_or_default().to_owned();
    let subs = Subs::Session(hub, raw.to_owned());
    event_stream(st, token, who, subs, None, None, permit)
}

impl Mcp {
    /// `subscriptions/listen` (2026-07-28): an event stream, acknowledged first.
    pub(super) fn listen(
        &self,
        headers: &HeaderMap,
        who: AuthContext,
        id: &Value,
        params: &Map<String, Value>,
        rev: Result<Revision, rpc::Refusal>,
    ) -> Response {
        match rev {
            Err(r) => {
                return json_response(
                    StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST),
                    &r.body,
                )
            }
            Ok(Revision::Stateless) => {}
            Ok(_) => {
                return json_response(
                    StatusCode::OK,
                    &rpc::error(
                        Some(id),
                        code::METHOD_NOT_FOUND,
                        "subscriptions/listen is of protocol 2026-07-28; in this revision use \
                         resources/subscribe within the initialize session and GET /mcp",
                        None,
                    ),
                )
            }
        }
        if !accepts_sse(headers) {
            return json_response(
                StatusCode::BAD_REQUEST,
                &rpc::error(
                    Some(id),
                    code::INVALID_REQUEST,
                    "subscriptions/listen answers with an event stream: send Accept: text/event-stream",
                    None,
                ),
            );
        }
        let requested: Vec<String> = params
            .get("notifications")
            .and_then(|n| n.get("resourceSubscriptions"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|u| u.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let honored = live::honor(&requested);
        let Some(permit) = self.hub.open(credential_id(&who)) else {
            return too_many_streams(Some(id));
        };
        let mut filter = json!({});
        if !honored.is_empty() {
            filter["resourceSubscriptions"] = json!(honored);
        }
        let ack = json!({"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
            "params": {"notifications": filter, "_meta": {live::META_SUBSCRIPTION: id}}});
        let token = bearer(headers).unwrap_or_default().to_owned();
        event_stream(
            self.st.clone(),
            token,
            who,
            Subs::Fixed(honored),
            Some(ack),
            Some(id.clone()),
            permit,
        )
    }
}

impl Ctx<'_> {
    /// `resources/subscribe` and `resources/unsubscribe` (revisions with sessions).
    pub(super) fn subscribe(
        &self,
        id: &Value,
        method: &str,
        params: &Map<String, Value>,
    ) -> Result<Value, Value> {
        let Some(uri) = params.get("uri").and_then(Value::as_str) else {
            return Err(rpc::error(
                Some(id),
                code::INVALID_PARAMS,
                "Invalid params: uri is required",
                None,
            ));
        };
        let Some(session) = self.session_id else {
            return Err(rpc::error(
                Some(id),
                code::INVALID_REQUEST,
                "resources/subscribe needs the session initialize hands out (Mcp-Session-Id); \
                 in 2026-07-28 use subscriptions/listen",
                None,
            ));
        };
        if !live::subscribable(uri) {
            return Err(rpc::error(
                Some(id),
                code::INVALID_PARAMS,
                "Invalid params: the resources that change are ringside://visitors/live, \
                 ringside://conversations (and ringside://conversations/{widgetId}/{visitorId}) \
                 and ringside://calls/waiting; recordings do not change",
                Some(json!({"uri": uri})),
            ));
        }
        let on = method == "resources/subscribe";
        if !self
            .mcp
            .hub
            .subscribe(session, uri, on, std::time::Instant::now())
        {
            return Err(rpc::error(
                Some(id),
                code::INVALID_REQUEST,
                "Too many subscriptions in this session: unsubscribe from one first",
                None,
            ));
        }
        Ok(json!({}))
    }
}
