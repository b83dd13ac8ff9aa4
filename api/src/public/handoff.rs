//! Operator handoff: pushing a live visitor to another page, and signed conversation links.
//!
//! - `POST /api/v1/widgets/{id}/visitors/{visitorId}/direct-navigate` (messages:write) with
//!   `{"url", "title"}`: the URL must be a path on the site (`/pricing`) or an absolute
//!   http(s) URL on one of the widget's allowed domains, so a token cannot send visitors to
//!   another site. The command is queued in the [`crate::Presence`] and handed to the page
//!   with the answer to its next tracking call (heartbeats); it expires after
//!   [`COMMAND_TTL_MS`].
//! - `POST /api/v1/widgets/{id}/visitors/{visitorId}/conversation-link` (messages:read):
//!   a link valid 24 hours (or `expiresInSeconds`, 60-86400) that opens the operator view of
//!   that visitor without a token: `GET /console/conversation?...` (HTML, or JSON with
//!   `Accept: application/json`), and replying through `POST /console/conversation/messages`.
//!   A signed-in member of the widget's team who opens the link is taken to the dashboard's
//!   chat page (`/inbox/{widget}/{visitor}`) instead.
//!   The link is `widget, visitor, expiry` signed with HMAC-SHA256 under the server's link
//!   secret (kept in the data directory); a changed parameter or a past expiry is refused
//!   (403 `link_invalid`, 410 `link_expired`).

use std::collections::HashMap;

use axum::extract::{FromRef, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use hmac::{Hmac, Mac};
use ringside_storage::{new_id, NewMessage, Widget};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;

use crate::auth::{MessagesRead, MessagesWrite, Scoped};
use crate::extract::{html_escape, ApiJson};
use crate::openapi::{Auth, Body, DocRouter, Spec};
use crate::presence::VisitorCommand;
use crate::widget_runtime::PageOrigin;
use crate::{ApiError, AppState};

/// What direct-navigate and the signed conversation links use of the application state.
#[derive(Clone)]
pub struct HandoffState {
    store: ringside_storage::Store,
    bus: std::sync::Arc<crate::realtime::Bus>,
    presence: std::sync::Arc<crate::Presence>,
    public_url: String,
    link_secret: crate::http::sealed::LinkSecret,
}

impl axum::extract::FromRef<AppState> for HandoffState {
    fn from_ref(st: &AppState) -> Self {
        HandoffState {
            store: st.store.clone(),
            bus: st.bus.clone(),
            presence: st.presence.clone(),
            public_url: st.public_url.clone(),
            link_secret: st.link_secret,
        }
    }
}

/// How long a direct-navigate command waits for the page.
pub const COMMAND_TTL_MS: i64 = 5 * 60 * 1000;
/// Default and longest validity of a conversation link, seconds.
pub const LINK_TTL_SECS: i64 = 24 * 3600;
/// Shortest validity that may be asked for.
const LINK_MIN_SECS: i64 = 60;

type HmacSha256 = Hmac<Sha256>;

/// The `/api/v1` routes.
pub(crate) fn routes() -> DocRouter {
    const T: &str = "Visitors";
    DocRouter::new("/api/v1")
        .post(
            "/widgets/{id}/visitors/{visitor_id}/direct-navigate",
            direct_navigate,
            Spec::new(
                T,
                Auth::Scope("messages:write"),
                "Send a live visitor to a page of the site",
            )
            .body(Body::Json(
                "url (a path or a URL on an allowed domain), title?",
            ))
            .takes::<NavigateBody>()
            .ok(202, "Queued for the visitor's page")
            .returns::<Navigation>(),
        )
        .post(
            "/widgets/{id}/visitors/{visitor_id}/conversation-link",
            conversation_link,
            Spec::new(
                T,
                Auth::Scope("messages:read"),
                "A signed link (24 h) to the operator view of the visitor",
            )
            .body(Body::Json(
                "expiresInSeconds? (60-86400); the body may be empty",
            ))
            .takes::<LinkBody>()
            .ok(201, "The link and its expiry")
            .returns::<ConversationLink>(),
        )
}

/// The public routes the links open (authorised by the signature).
pub(crate) fn public_routes() -> DocRouter {
    const T: &str = "Console";
    DocRouter::new("")
        .get(
            "/console/conversation",
            console_view,
            Spec::new(T, Auth::SignedLink, "The operator view a conversation link opens (HTML; JSON with Accept: application/json)")
                .query(&[("widget", "Widget id"), ("visitor", "Visitor id"), ("exp", "Expiry, unix seconds"), ("reply", "1: the link may answer, 0: view only"), ("sig", "Signature")])
                .content("text/html"),
        )
        .post(
            "/console/conversation/messages",
            console_reply,
            Spec::new(T, Auth::SignedLink, "Reply to the visitor through a conversation link")
                .query(&[("widget", "Widget id"), ("visitor", "Visitor id"), ("exp", "Expiry, unix seconds"), ("reply", "1: the link may answer, 0: view only"), ("sig", "Signature")])
                .body(Body::Json("body"))
                .takes::<ReplyBody>()
                .ok(201, "The message")
                .returns::<LinkReply>(),
        )
}

fn bad(field: &'static str, reason: &'static str) -> ApiError {
    ApiError::InvalidField { field, reason }
}

/// A navigation target the widget may be sent to: a site path, or an http(s) URL on one of
/// its allowed domains. Returns it trimmed.
pub(crate) fn navigate_target(allowed_domains: &[String], url: &str) -> Result<String, ApiError> {
    let u = url.trim();
    if u.is_empty() || u.len() > 2048 || u.chars().any(|c| c.is_control() || c == ' ') {
        return Err(bad("url", "a path or an http(s) URL without spaces"));
    }
    if u.starts_with('/') {
        // `//host/...` is protocol-relative: another site.
        if u.starts_with("//") || u.starts_with("/\\") {
            return Err(bad("url", "must stay on the widget's site"));
        }
        return Ok(u.to_owned());
    }
    let lower = u.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return Err(bad("url", "a path or an http(s) URL"));
    }
    match PageOrigin::from_domain(u) {
        Some(o) if o.allowed_by(allowed_domains) => Ok(u.to_owned()),
        _ => Err(bad("url", "must be on one of the widget's allowed domains")),
    }
}

/// Where to send a live visitor.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NavigateBody {
    /// A path on the site, or an http(s) URL on one of the widget's allowed domains.
    #[schemars(length(min = 1, max = 2048), example = &"/pricing")]
    url: String,
    /// A title the widget may show.
    #[serde(default)]
    #[schemars(length(max = 200), example = &"Our plans")]
    title: Option<String>,
}

/// A queued direct-navigate command.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Navigation {
    /// The command the visitor's page gets.
    pub command: VisitorCommand,
    /// The widget.
    pub widget_id: String,
    /// The visitor.
    pub visitor_id: String,
    /// Whether the visitor was seen within the live timeout (a page not open takes the
    /// command if it comes back before the command expires).
    pub visitor_live: bool,
    /// How it reaches the page.
    #[schemars(extend("enum" = ["widget_socket_or_next_tracking_call"]))]
    pub delivery: &'static str,
}

/// A signed conversation link.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationLink {
    /// The link: the operator view of the visitor, no token needed.
    #[schemars(extend("format" = "uri"))]
    pub url: String,
    /// The widget.
    pub widget_id: String,
    /// The visitor.
    pub visitor_id: String,
    /// When the link stops working, Unix ms.
    pub expires_at: i64,
    /// Whether its holder may answer the visitor (a link made with messages:write).
    pub can_reply: bool,
}

/// A callback request or lead, as a conversation link shows it.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkCallback {
    /// Its id.
    pub id: String,
    /// `callback` or `lead`.
    pub kind: String,
    /// The name left.
    pub name: Option<String>,
    /// The email left.
    pub email: Option<String>,
    /// The phone number left.
    pub phone: Option<String>,
    /// The message left.
    pub message: Option<String>,
    /// Unix ms.
    pub created_at: i64,
}

/// The operator view a conversation link opens, as JSON.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationView {
    /// The widget.
    pub widget_id: String,
    /// Its name.
    pub widget_name: String,
    /// The visitor.
    pub visitor: crate::visitors::LiveVisitorView,
    /// Whether the visitor is on the site now.
    pub live: bool,
    /// Whether the link may answer.
    pub can_reply: bool,
    /// The chat, oldest first (at most 200).
    pub messages: Vec<crate::messages::MessageView>,
    /// Callback requests and leads (at most 50).
    pub callbacks: Vec<LinkCallback>,
}

/// A reply sent through a conversation link.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkReply {
    /// The message id.
    pub id: String,
    /// The text.
    pub body: String,
    /// Unix ms.
    pub created_at: i64,
}

async fn direct_navigate(
    State(st): State<HandoffState>,
    Scoped(auth, _): Scoped<MessagesWrite>,
    Path((id, visitor_id)): Path<(String, String)>,
    ApiJson(b): ApiJson<NavigateBody>,
) -> Result<(StatusCode, Json<Navigation>), ApiError> {
    let w = st.store.get_widget(&auth.tenant_id, &id).await?;
    let v = st
        .presence
        .visitor(&auth.tenant_id, &w.id, &visitor_id)
        .await?;
    let url = navigate_target(&w.allowed_domains, &b.url)?;
    let title = match b.title.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(t) if t.chars().count() <= 200 && !t.chars().any(char::is_control) => {
            Some(t.to_owned())
        }
        Some(_) => return Err(bad("title", "at most 200 characters")),
    };
    let now = st.presence.now_ms();
    let cmd = VisitorCommand {
        id: new_id(),
        kind: "navigate".into(),
        url,
        title,
        created_at: now,
        expires_at: now + COMMAND_TTL_MS,
    };
    // Queued where the visitor's page is held: here, or on the node that last saw them.
    let queued = crate::live::commands::deliver(
        (&st.store, &st.bus, &st.presence),
        &w.tenant_id,
        &w.id,
        &v.visitor_id,
        cmd.clone(),
    )
    .await?;
    if !queued {
        return Err(ApiError::TooManyRequests {
            retry_after_secs: 60,
        });
    }
    let live = v.last_seen_at >= now - st.presence.config().live_timeout_ms;
    Ok((
        StatusCode::ACCEPTED,
        Json(Navigation {
            command: cmd,
            widget_id: w.id,
            visitor_id: v.visitor_id,
            visitor_live: live,
            delivery: "widget_socket_or_next_tracking_call",
        }),
    ))
}

/// The signature of a conversation link; `reply`: whether it lets its holder answer the
/// visitor (only a caller who may send messages makes such a link).
pub(crate) fn link_signature(
    secret: &[u8],
    widget: &str,
    visitor: &str,
    exp: i64,
    reply: bool,
) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(
        format!(
            "ringside-conversation-link\n{widget}\n{visitor}\n{exp}\n{}",
            u8::from(reply)
        )
        .as_bytes(),
    );
    hex::encode(mac.finalize().into_bytes())
}

/// How long a conversation link works (the body may be left out).
#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinkBody {
    /// Seconds, 60-86400 (default 86400).
    #[serde(default)]
    #[schemars(range(min = 60, max = 86400), example = 3600)]
    expires_in_seconds: Option<i64>,
}

async fn conversation_link(
    State(st): State<HandoffState>,
    Scoped(auth, _): Scoped<MessagesRead>,
    Path((id, visitor_id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<ConversationLink>), ApiError> {
    // The body is optional: none, `{}` or `{"expiresInSeconds": n}`.
    let b: LinkBody = if body.iter().all(u8::is_ascii_whitespace) {
        LinkBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::InvalidBody(e.to_string()))?
    };
    let ttl = b.expires_in_seconds.unwrap_or(LINK_TTL_SECS);
    if !(LINK_MIN_SECS..=LINK_TTL_SECS).contains(&ttl) {
        return Err(bad("expiresInSeconds", "must be 60-86400"));
    }
    let w = st.store.get_widget(&auth.tenant_id, &id).await?;
    let v = st
        .presence
        .visitor(&auth.tenant_id, &w.id, &visitor_id)
        .await?;
    let exp = st.presence.now_ms() / 1000 + ttl;
    // A token that may not send messages makes a link that only shows the conversation.
    let reply = auth.scopes.iter().any(|s| s == "messages:write");
    let sig = link_signature(&*st.link_secret, &w.id, &v.visitor_id, exp, reply);
    let url = format!(
        "{}/console/conversation?widget={}&visitor={}&exp={exp}&reply={}&sig={sig}",
        st.public_url.trim_end_matches('/'),
        w.id,
        v.visitor_id,
        u8::from(reply)
    );
    Ok((
        StatusCode::CREATED,
        Json(ConversationLink {
            url,
            widget_id: w.id,
            visitor_id: v.visitor_id,
            expires_at: exp * 1000,
            can_reply: reply,
        }),
    ))
}

/// Why a link does not open.
fn link_error(status: StatusCode, code: &'static str, msg: &'static str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": msg}})),
    )
        .into_response()
}

/// Checks a link's parameters; the widget it names, and whether it lets its holder reply.
async fn verify_link(
    st: &HandoffState,
    q: &HashMap<String, String>,
) -> Result<(Widget, bool), Response> {
    let (Some(widget), Some(visitor), Some(exp), Some(reply), Some(sig)) = (
        q.get("widget"),
        q.get("visitor"),
        q.get("exp"),
        q.get("reply").and_then(|r| match r.as_str() {
            "0" => Some(false),
            "1" => Some(true),
            _ => None,
        }),
        q.get("sig"),
    ) else {
        return Err(link_error(
            StatusCode::FORBIDDEN,
            "link_invalid",
            "this link is incomplete",
        ));
    };
    let exp_n: i64 = exp.parse().unwrap_or(i64::MIN);
    let ok = exp_n != i64::MIN
        && st.link_secret.keys().any(|k| {
            let want = link_signature(k, widget, visitor, exp_n, reply);
            sig.len() == want.len()
                && sig
                    .bytes()
                    .zip(want.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        });
    if !ok {
        return Err(link_error(
            StatusCode::FORBIDDEN,
            "link_invalid",
            "this link is not valid",
        ));
    }
    if exp_n * 1000 <= st.presence.now_ms() {
        return Err(link_error(
            StatusCode::GONE,
            "link_expired",
            "this link has expired; ask for a new one",
        ));
    }
    match st.store.find_widget(widget).await {
        Ok(w) => Ok((w, reply)),
        Err(_) => Err(link_error(
            StatusCode::NOT_FOUND,
            "not_found",
            "the widget no longer exists",
        )),
    }
}

async fn console_view(
    State(app): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let st = HandoffState::from_ref(&app);
    let (w, can_reply) = match verify_link(&st, &q).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let visitor_id = q.get("visitor").cloned().unwrap_or_default();
    // A signed-in member of the widget's team who may see it gets the dashboard's chat page.
    let wants_html = !headers
        .get(header::ACCEPT)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    if wants_html {
        if let Ok(Some((auth, _))) = crate::dashboard::page::signed_in(&app, &headers).await {
            let sees = auth
                .widgets
                .as_ref()
                .is_none_or(|mine| mine.iter().any(|x| x == &w.id));
            if auth.tenant_id == w.tenant_id && sees {
                return axum::response::Redirect::to(&format!(
                    "/inbox/{}/{}",
                    w.id,
                    url::form_urlencoded::byte_serialize(visitor_id.as_bytes()).collect::<String>()
                ))
                .into_response();
            }
        }
    }
    let data = async {
        let v = st
            .presence
            .visitor(&w.tenant_id, &w.id, &visitor_id)
            .await?;
        let messages = st
            .store
            .list_messages(&w.tenant_id, &w.id, Some(&visitor_id), 200)
            .await?;
        let callbacks = st
            .store
            .list_callbacks(&w.tenant_id, &w.id, Some(&visitor_id), 50)
            .await?;
        Ok::<_, ApiError>((v, messages, callbacks))
    }
    .await;
    let (v, messages, callbacks) = match data {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let live = v.last_seen_at >= st.presence.now_ms() - st.presence.config().live_timeout_ms;
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    let mut resp = if wants_json {
        Json(ConversationView {
            widget_id: w.id.clone(),
            widget_name: w.name.clone(),
            visitor: crate::visitors::LiveVisitorView::from(v.clone()),
            live,
            can_reply,
            messages: messages.iter().map(Into::into).collect(),
            callbacks: callbacks
                .iter()
                .map(|c| LinkCallback {
                    id: c.id.clone(),
                    kind: c.kind.clone(),
                    name: c.name.clone(),
                    email: c.email.clone(),
                    phone: c.phone.clone(),
                    message: c.message.clone(),
                    created_at: c.created_at,
                })
                .collect(),
        })
        .into_response()
    } else {
        Html(link_page(
            &w.name, &v, live, can_reply, &messages, &callbacks, &uri,
        ))
        .into_response()
    };
    let h = resp.headers_mut();
    // The link is a credential: never cached, never leaked through Referer.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    resp
}

/// The link's page as a person sees it, in the dashboard's styles: the visitor, the chat, a
/// reply box when the link may reply, the visitor's callback requests, and signing in for
/// voice and video (which comes back to this link, then the dashboard's page of the visitor).
fn link_page(
    widget: &str,
    v: &ringside_storage::Visitor,
    live: bool,
    can_reply: bool,
    messages: &[ringside_storage::Message],
    callbacks: &[ringside_storage::Callback],
    uri: &axum::http::Uri,
) -> String {
    let e = html_escape;
    let mut html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{name} · Ringside</title><link rel=\"icon\" href=\"data:,\">\
         <link rel=\"stylesheet\" href=\"/assets/account.css\"></head><body>\
         <main id=\"main\" class=\"narrow\"><h1>{name}</h1>\
         <section class=\"card\" aria-labelledby=\"visitor-h\"><h2 id=\"visitor-h\">Visitor</h2>\
         <dl class=\"facts\"><dt>Visitor</dt><dd><code>{id}</code> <span class=\"badge {state}\">{live}</span></dd>\
         <dt>Page</dt><dd><a href=\"{url}\" rel=\"noreferrer\">{title}</a></dd>\
         <dt>Visits</dt><dd>{visits}</dd><dt>Browser</dt><dd>{browser} {os}</dd></dl></section>\
         <section class=\"card\" aria-labelledby=\"chat-h\"><h2 id=\"chat-h\">Conversation</h2>\
         <ol id=\"messages\" class=\"chat\" aria-label=\"Messages\">",
        name = e(widget),
        id = e(&v.visitor_id),
        state = if live { "on" } else { "off" },
        live = if live { "live now" } else { "not on the site" },
        url = e(v.current_url.as_deref().unwrap_or("")),
        title = e(v.page_title.as_deref().or(v.current_url.as_deref()).unwrap_or("-")),
        visits = v.visit_count,
        browser = e(v.browser.as_deref().unwrap_or("")),
        os = e(v.os.as_deref().unwrap_or("")),
    );
    for m in messages {
        let side = if m.sender == "visitor" { "them" } else { "us" };
        html.push_str(&format!(
            "<li class=\"msg {side}\"><span class=\"meta\">{}</span><p>{}</p></li>",
            e(&m.sender),
            e(&m.body)
        ));
    }
    html.push_str("</ol>");
    if messages.is_empty() {
        html.push_str("<p class=\"hint\">No messages in this conversation yet.</p>");
    }
    if can_reply {
        html.push_str(
            "<form id=\"reply\" class=\"inline\"><label for=\"reply-body\">Reply</label> \
             <input id=\"reply-body\" name=\"body\" type=\"text\" required maxlength=\"4000\"> \
             <button>Send</button></form>",
        );
    } else {
        html.push_str(
            "<p class=\"hint\">This link shows the conversation only: answering needs a link \
             made by someone who may send messages.</p>",
        );
    }
    html.push_str("</section>");
    if !callbacks.is_empty() {
        html.push_str(
            "<section class=\"card\" aria-labelledby=\"cb-h\"><h2 id=\"cb-h\">Callback \
             requests and messages</h2><ul class=\"plain\">",
        );
        for c in callbacks {
            html.push_str(&format!(
                "<li><span class=\"meta\">{}</span> {} {} {}<br>{}</li>",
                e(&c.kind),
                e(c.name.as_deref().unwrap_or("")),
                e(c.email.as_deref().unwrap_or("")),
                e(c.phone.as_deref().unwrap_or("")),
                e(c.message.as_deref().unwrap_or("")),
            ));
        }
        html.push_str("</ul></section>");
    }
    let back = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/console/conversation");
    html.push_str(&format!(
        "<p><a id=\"sign-in\" href=\"/login?next={}\">Sign in to Ringside</a> to answer this \
         visitor's calls with voice or video.</p></main>",
        url::form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
    ));
    if can_reply {
        html.push_str(
            "<script>document.getElementById('reply').onsubmit=async e=>{e.preventDefault();\
             const b=e.target.body.value;const r=await fetch('/console/conversation/messages'+location.search,\
             {method:'POST',headers:{'content-type':'application/json'},body:JSON.stringify({body:b})});\
             if(r.ok)location.reload();else alert((await r.json()).error.message)};</script>",
        );
    }
    html.push_str("</body></html>");
    html
}

/// A reply to the visitor.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    /// The text, 1-4000 characters.
    #[schemars(length(min = 1, max = 4000), example = &"Hi, I'm Ana from sales. How can I help?")]
    body: String,
}

async fn console_reply(
    State(st): State<HandoffState>,
    State(chat): State<crate::messages::MessagesState>,
    Query(q): Query<HashMap<String, String>>,
    ApiJson(b): ApiJson<ReplyBody>,
) -> Response {
    let w = match verify_link(&st, &q).await {
        Ok((w, true)) => w,
        Ok((_, false)) => {
            return link_error(
                StatusCode::FORBIDDEN,
                "link_read_only",
                "this link shows the conversation only; answering needs a link made with messages:write",
            )
        }
        Err(r) => return r,
    };
    let visitor_id = q.get("visitor").cloned().unwrap_or_default();
    let res = async {
        if b.body.trim().is_empty() || b.body.chars().count() > ringside_storage::MAX_MESSAGE_CHARS
        {
            return Err(bad("body", "1-4000 characters"));
        }
        st.presence
            .visitor(&w.tenant_id, &w.id, &visitor_id)
            .await?;
        crate::messages::store_message(
            &chat,
            &w,
            NewMessage {
                visitor_id: visitor_id.clone(),
                conversation_id: String::new(),
                sender: "operator".into(),
                author_user_id: None,
                body: b.body.clone(),
            },
        )
        .await
    }
    .await;
    match res {
        Ok(m) => (
            StatusCode::CREATED,
            Json(LinkReply {
                id: m.id,
                body: m.body,
                created_at: m.created_at,
            }),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn navigation_stays_on_the_site() {
        let w: Vec<String> = vec!["example.com".into(), "*.example.org".into()];
        for ok in [
            "/pricing",
            "/a/b?x=1#top",
            "https://example.com/pricing",
            "http://example.com/",
            "https://shop.example.org/cart",
        ] {
            assert!(navigate_target(&w, ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "//evil.example/x",
            "/\\evil.example",
            "https://evil.example/",
            "https://example.com.evil.example/",
            "javascript:alert(1)",
            "data:text/html,hi",
            "pricing",
            "/has space",
            "https://example.org/apex-not-allowed",
        ] {
            assert!(navigate_target(&w, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn signatures_bind_every_parameter() {
        let s = link_signature(b"k", "w", "v", 100, true);
        assert_ne!(
            s,
            link_signature(b"k", "w", "v", 100, false),
            "the reply bit is signed"
        );
        assert_eq!(s.len(), 64);
        assert_ne!(s, link_signature(b"k", "w", "v", 101, true));
        assert_ne!(s, link_signature(b"k", "w2", "v", 100, true));
        assert_ne!(s, link_signature(b"k", "w", "v2", 100, true));
        assert_ne!(s, link_signature(b"k2", "w", "v", 100, true));
        assert_eq!(
            html_escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
