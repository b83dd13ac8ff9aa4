//! Live events for agents: three resources that change as visitors arrive, chats move and
//! calls ring, and the two ways a client hears that one changed.
//!
//! - `ringside://visitors/live`: the live visitors of every widget the caller sees; updated
//!   when a visitor arrives (`visitor:connected`, `analytics:read`).
//! - `ringside://conversations`: the inbox; a new message updates its sub-resource
//!   `ringside://conversations/{widgetId}/{visitorId}` (that chat's messages; `messages:read`).
//! - `ringside://calls/waiting`: calls waiting to be answered; updated when a call is asked
//!   for, starts ringing, is answered, missed or ends (`calls:read`).
//!
//! A client hears of a change as `notifications/resources/updated` with the URI (and, in
//! `_meta` under `io.ringside/event`, what happened: the event type, widget and visitor), then
//! reads the resource. Revision 2026-07-28: `subscriptions/listen` names the URIs and the
//! answer is an event stream (acknowledgement first, with the URIs honoured). Earlier
//! revisions: `resources/subscribe` within the `initialize` session, and the notifications come
//! on the session's `GET /mcp` stream. Events are the dashboard's own (the tenant's bus), with
//! the same visibility rules: the token's scope, and an agent given some widgets hears only
//! theirs. A stream rechecks its token every [`KEEPALIVE`] and ends when it is revoked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringside_domain::bus::{Audience, Event};
use ringside_storage::AuthContext;
use serde_json::{json, Value};

use super::rpc::{self, code};
use super::tools::{rest, segment, unsegment};
use super::Ctx;

/// Live visitors.
pub(super) const VISITORS: &str = "ringside://visitors/live";
/// The inbox; `{CONVERSATIONS}/{widgetId}/{visitorId}` is one chat.
pub(super) const CONVERSATIONS: &str = "ringside://conversations";
/// Waiting calls.
pub(super) const WAITING_CALLS: &str = "ringside://calls/waiting";
/// The resources one can subscribe to (and their sub-resources).
pub(super) const ROOTS: &[&str] = &[VISITORS, CONVERSATIONS, WAITING_CALLS];
/// A stream says something (a comment, or an event) at least this often, and rechecks its
/// token as often.
pub(super) const KEEPALIVE: Duration = Duration::from_secs(15);
/// Most event streams open at once, and per credential.
const MAX_STREAMS: usize = 1000;
const MAX_STREAMS_PER_CREDENTIAL: usize = 8;
/// Most sessions with subscriptions remembered, URIs per session, and how long a session's
/// subscriptions are kept without use.
const MAX_SESSIONS: usize = 10_000;
const MAX_URIS: usize = 16;
const SESSION_IDLE: Duration = Duration::from_secs(3600);
/// The `_meta` key naming the listen request a frame belongs to.
pub(super) const META_SUBSCRIPTION: &str = "io.modelcontextprotocol/subscriptionId";

/// The resource an event updates, if any.
pub(super) fn updated_uri(e: &Event) -> Option<String> {
    match e.kind {
        "visitor:connected" => Some(VISITORS.to_owned()),
        "message:new" => Some(format!(
            "{CONVERSATIONS}/{}/{}",
            segment(e.widget_id.as_deref()?),
            segment(e.visitor_id.as_deref()?)
        )),
        "call:requested"
        | "call:delivery_started"
        | "call:delivery_failed"
        | "call:answered"
        | "call:unavailable"
        | "call:missed"
        | "call:ended" => Some(WAITING_CALLS.to_owned()),
        _ => None,
    }
}

/// Whether `who` may hear of `e`: the scope it is for, and the widgets `who` sees (an agent
/// given some widgets hears none that spans every widget), as on the dashboard's socket.
pub(super) fn visible(who: &AuthContext, e: &Event) -> bool {
    let Audience::Tenant(scope) = e.audience else {
        return false;
    };
    if !who.scopes.iter().any(|s| s == scope) {
        return false;
    }
    match &who.widgets {
        None => true,
        Some(mine) => e.widget_id.as_ref().is_some_and(|w| mine.contains(w)),
    }
}

/// Whether a subscription to `sub` covers an update of `uri` (the same, or below it).
pub(super) fn covers(sub: &str, uri: &str) -> bool {
    uri == sub
        || uri
            .strip_prefix(sub)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Whether `uri` can be subscribed to: a root, or one chat.
pub(super) fn subscribable(uri: &str) -> bool {
    if ROOTS.contains(&uri) {
        return true;
    }
    let Some(rest) = uri
        .strip_prefix(CONVERSATIONS)
        .and_then(|r| r.strip_prefix('/'))
    else {
        return false;
    };
    let mut parts = rest.split('/');
    matches!((parts.next(), parts.next(), parts.next()), (Some(w), Some(v), None) if !w.is_empty() && !v.is_empty())
}

/// The subset of `requested` honoured (subscribable, deduplicated, at most [`MAX_URIS`]).
pub(super) fn honor(requested: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for u in requested {
        if subscribable(u) && !out.contains(u) && out.len() < MAX_URIS {
            out.push(u.clone());
        }
    }
    out
}

/// `notifications/resources/updated` of `uri` for `e`, in the listen stream `sub_id` if any.
pub(super) fn notification(uri: &str, e: Option<&Event>, sub_id: Option<&Value>) -> Value {
    let mut meta = json!({});
    if let Some(id) = sub_id {
        meta[META_SUBSCRIPTION] = id.clone();
    }
    if let Some(e) = e {
        meta["io.ringside/event"] = json!({
            "type": e.kind,
            "widgetId": e.widget_id,
            "visitorId": e.visitor_id,
            "callId": e.data.get("callId"),
        });
    }
    json!({"jsonrpc": "2.0", "method": "notifications/resources/updated",
           "params": {"uri": uri, "_meta": meta}})
}

/// One frame of an event stream.
pub(super) fn frame(v: &Value) -> String {
    format!("event: message\ndata: {v}\n\n")
}

/// The live resources, as `resources/list` shows them.
pub(super) fn listed() -> Vec<Value> {
    vec![
        json!({"uri": VISITORS, "name": "live-visitors", "title": "Live visitors",
               "description": "Visitors on your sites now, per widget; updated when one arrives \
                               (subscribe to hear of it).",
               "mimeType": "application/json"}),
        json!({"uri": CONVERSATIONS, "name": "conversations", "title": "Conversations",
               "description": "The inbox, newest first; a new message updates \
                               ringside://conversations/{widgetId}/{visitorId}.",
               "mimeType": "application/json"}),
        json!({"uri": WAITING_CALLS, "name": "waiting-calls", "title": "Waiting calls",
               "description": "Calls waiting to be answered on every widget you answer; updated \
                               when a call rings, is answered or ends.",
               "mimeType": "application/json"}),
    ]
}

/// The template of one chat.
pub(super) fn template() -> Value {
    json!({
        "uriTemplate": format!("{CONVERSATIONS}/{{widgetId}}/{{visitorId}}"),
        "name": "conversation",
        "title": "One chat",
        "description": "A visitor's chat messages on a widget; updated on each new message.",
        "mimeType": "application/json",
    })
}

fn refusal(id: &Value, status: axum::http::StatusCode, body: &Value, scope: &str) -> Value {
    let msg = body["error"]["message"].as_str().unwrap_or("refused");
    let (c, text) = match status.as_u16() {
        403 => (
            code::INVALID_REQUEST,
            format!("{msg}: reading this resource needs the {scope} scope (and mcp:read)"),
        ),
        404 => (
            -32002,
            format!("{msg}: no such chat for this account; read {CONVERSATIONS} for the chats"),
        ),
        _ => (code::INTERNAL, format!("Ringside failed: {msg}; try again")),
    };
    rpc::error(Some(id), c, &text, None)
}

fn contents(uri: &str, v: &Value) -> Value {
    json!({"contents": [{"uri": uri, "mimeType": "application/json", "text": v.to_string()}]})
}

/// `resources/read` of a live resource: `None` when `uri` is not one.
pub(super) async fn read(ctx: &Ctx<'_>, id: &Value, uri: &str) -> Option<Result<Value, Value>> {
    let api = &ctx.mcp.api;
    let who = ctx.who;
    let get = |path: String| async move { rest(api, who, "GET", &path, None).await };
    Some(match uri {
        VISITORS => {
            let (status, widgets) = get("/api/v1/widgets".into()).await;
            if !status.is_success() {
                return Some(Err(refusal(id, status, &widgets, "widgets:read")));
            }
            let mut out = Vec::new();
            for w in widgets.as_array().into_iter().flatten() {
                let Some(wid) = w["id"].as_str() else {
                    continue;
                };
                let path = format!("/api/v1/widgets/{}/live-visitors?limit=200", segment(wid));
                let (status, live) = get(path).await;
                if !status.is_success() {
                    return Some(Err(refusal(id, status, &live, "analytics:read")));
                }
                out.push(
                    json!({"widgetId": wid, "name": w["name"], "total": live["total"],
                                "visitors": live["visitors"]}),
                );
            }
            Ok(contents(uri, &json!({ "widgets": out })))
        }
        CONVERSATIONS => {
            let (status, v) = get("/api/v1/conversations?limit=50".into()).await;
            if !status.is_success() {
                return Some(Err(refusal(id, status, &v, "messages:read")));
            }
            Ok(contents(uri, &v))
        }
        WAITING_CALLS => {
            let tool = super::catalog::all()
                .iter()
                .find(|t| t.name == "ringside_get_waiting_calls")?;
            match super::tools::call(api, who, tool, serde_json::Map::new()).await {
                Ok(v) => Ok(contents(uri, &v)),
                Err(text) => Err(rpc::error(Some(id), code::INVALID_REQUEST, &text, None)),
            }
        }
        _ => {
            let rest_of = uri.strip_prefix(CONVERSATIONS)?.strip_prefix('/')?;
            let (w, v) = rest_of.split_once('/')?;
            if !subscribable(uri) {
                return None;
            }
            let path = format!(
                "/api/v1/widgets/{}/messages?visitorId={}",
                segment(&unsegment(w)),
                segment(&unsegment(v))
            );
            let (status, body) = get(path).await;
            if !status.is_success() {
                return Some(Err(refusal(id, status, &body, "messages:read")));
            }
            Ok(contents(uri, &body))
        }
    })
}

/// Event streams open now: at most [`MAX_STREAMS`], and [`MAX_STREAMS_PER_CREDENTIAL`] per
/// token; a [`StreamPermit`] gives its place back when the stream ends.
#[derive(Debug, Default)]
pub(crate) struct Hub {
    streams: Mutex<HashMap<String, usize>>,
    sessions: Mutex<HashMap<String, (Vec<String>, Instant)>>,
}

/// One open stream's place.
#[derive(Debug)]
pub(super) struct StreamPermit {
    hub: Arc<Hub>,
    cred: String,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut m = self.hub.streams.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.cred) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.cred);
            }
        }
    }
}

impl Hub {
    /// A place for a stream of credential `cred`, unless too many are open.
    pub(super) fn open(self: &Arc<Self>, cred: &str) -> Option<StreamPermit> {
        let mut m = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        let total: usize = m.values().sum();
        let mine = m.get(cred).copied().unwrap_or(0);
        if total >= MAX_STREAMS || mine >= MAX_STREAMS_PER_CREDENTIAL {
            return None;
        }
        *m.entry(cred.to_owned()).or_default() += 1;
        Some(StreamPermit {
            hub: self.clone(),
            cred: cred.to_owned(),
        })
    }

    /// Adds (or, `on` false, removes) a session's subscription. `false` when the session
    /// holds [`MAX_URIS`] already.
    pub(super) fn subscribe(&self, session: &str, uri: &str, on: bool, now: Instant) -> bool {
        let mut m = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= MAX_SESSIONS && !m.contains_key(session) {
            m.retain(|_, (_, t)| now.saturating_duration_since(*t) < SESSION_IDLE);
            if m.len() >= MAX_SESSIONS {
                return false;
            }
        }
        let (uris, touched) = m
            .entry(session.to_owned())
            .or_insert_with(|| (Vec::new(), now));
        *touched = now;
        if on {
            if !uris.iter().any(|u| u == uri) {
                if uris.len() >= MAX_URIS {
                    return false;
                }
                uris.push(uri.to_owned());
            }
        } else {
            uris.retain(|u| u != uri);
        }
        true
    }

    /// The URIs a session subscribed to (and keeps it fresh).
    pub(super) fn of_session(&self, session: &str, now: Instant) -> Vec<String> {
        let mut m = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        match m.get_mut(session) {
            Some((uris, t)) => {
                *t = now;
                uris.clone()
            }
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringside_storage::{Credential, Role};

    fn ev(kind: &'static str, scope: &'static str, widget: Option<&str>) -> Event {
        Event::new(
            kind,
            Audience::Tenant(scope),
            widget,
            Some("v 1"),
            json!({"callId": "c1"}),
            0,
        )
    }

    fn who(scopes: &[&str], widgets: Option<Vec<String>>) -> AuthContext {
        AuthContext {
            tenant_id: "t".into(),
            user_id: "u".into(),
            role: Role::Agent,
            credential: Credential::Token("k".into()),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            widgets,
        }
    }

    #[test]
    fn events_map_to_resources() {
        let m = ev("message:new", "messages:read", Some("w1"));
        assert_eq!(
            updated_uri(&m).as_deref(),
            Some("ringside://conversations/w1/v%201")
        );
        assert_eq!(
            updated_uri(&ev("visitor:connected", "analytics:read", Some("w1"))).as_deref(),
            Some(VISITORS)
        );
        assert_eq!(
            updated_uri(&ev("call:requested", "calls:read", None)).as_deref(),
            Some(WAITING_CALLS)
        );
        assert_eq!(
            updated_uri(&ev("visitor:page", "analytics:read", None)),
            None
        );
        let n = notification(WAITING_CALLS, Some(&m), Some(&json!("listen-1")));
        assert_eq!(n["params"]["_meta"][META_SUBSCRIPTION], "listen-1");
        assert_eq!(
            n["params"]["_meta"]["io.ringside/event"]["type"],
            "message:new"
        );
    }

    #[test]
    fn chat_uris_round_trip() {
        for id in ["v 1", "a+b", "x/y", "é%", "plain"] {
            assert_eq!(unsegment(&segment(id)), id);
        }
        assert_eq!(unsegment("v%201%zz%4"), "v 1%zz%4");
    }

    #[test]
    fn subscriptions_cover_sub_resources_only() {
        assert!(covers(CONVERSATIONS, "ringside://conversations/w/v"));
        assert!(covers(VISITORS, VISITORS));
        assert!(!covers(CONVERSATIONS, "ringside://conversationsX/w/v"));
        assert!(!covers("ringside://conversations/w/v", CONVERSATIONS));
        assert_eq!(
            honor(&[
                VISITORS.into(),
                VISITORS.into(),
                "ringside://recordings/r1".into(),
                "ringside://conversations/w/v".into(),
                "ringside://conversations/w".into(),
                "ringside://conversations/w/v/x".into(),
            ]),
            vec![
                VISITORS.to_owned(),
                "ringside://conversations/w/v".to_owned()
            ]
        );
    }

    #[test]
    fn events_are_seen_as_on_the_dashboard() {
        let m = ev("message:new", "messages:read", Some("w1"));
        assert!(visible(&who(&["messages:read"], None), &m));
        assert!(!visible(&who(&["calls:read"], None), &m));
        assert!(visible(
            &who(&["messages:read"], Some(vec!["w1".into()])),
            &m
        ));
        assert!(!visible(
            &who(&["messages:read"], Some(vec!["w2".into()])),
            &m
        ));
        // A call event spans the tenant: not for an agent given some widgets.
        let c = ev("call:requested", "calls:read", None);
        assert!(!visible(&who(&["calls:read"], Some(vec!["w1".into()])), &c));
        let console = Event::new(
            "console:call",
            Audience::Console,
            Some("w1"),
            None,
            json!({}),
            0,
        );
        assert!(!visible(&who(&["calls:read"], None), &console));
    }

    #[test]
    fn streams_and_sessions_are_bounded() {
        let hub = Arc::new(Hub::default());
        let permits: Vec<_> = (0..MAX_STREAMS_PER_CREDENTIAL)
            .map(|_| hub.open("a").unwrap())
            .collect();
        assert!(hub.open("a").is_none());
        assert!(hub.open("b").is_some());
        drop(permits);
        assert!(hub.open("a").is_some());
        let now = Instant::now();
        for i in 0..MAX_URIS {
            assert!(hub.subscribe("s", &format!("{CONVERSATIONS}/w/{i}"), true, now));
        }
        assert!(!hub.subscribe("s", VISITORS, true, now));
        assert!(hub.subscribe("s", &format!("{CONVERSATIONS}/w/0"), false, now));
        assert!(hub.subscribe("s", VISITORS, true, now));
        assert_eq!(hub.of_session("s", now).len(), MAX_URIS);
        assert!(hub.of_session("other", now).is_empty());
    }
}
