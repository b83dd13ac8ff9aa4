//! What every dashboard page shares: the HTML response with its strict Content-Security-
//! Policy, the signed-in user of a page request, the layout (skip link, top bar with the
//! navigation, the status line), tables that stack on a phone, dates for people, and static
//! assets.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use ringside_storage::{SessionAuth, User};

use crate::accounts::session::{cookie_secret, csrf_token};
use crate::extract::html_escape as esc;
use crate::{ApiError, AppState};

/// The signed-in user of a page, with the page's CSRF token.
pub(crate) struct Viewer {
    /// The session (tenant, role, widgets given).
    pub auth: SessionAuth,
    /// The user.
    pub user: User,
    /// The CSRF token the page's script sends with unsafe requests.
    pub csrf: String,
}

impl Viewer {
    /// The page's layout around `main`, with `active` marked in the navigation.
    pub(crate) fn page(&self, title: &str, active: &str, main: &str) -> Response {
        html(
            StatusCode::OK,
            layout(
                title,
                Some((&self.auth, &self.user, active)),
                false,
                &self.csrf,
                main,
            ),
        )
    }

    /// Whether the viewer may see widget `id` (users given some widgets see only those).
    pub(crate) fn sees_widget(&self, id: &str) -> bool {
        self.auth
            .widgets
            .as_ref()
            .is_none_or(|mine| mine.iter().any(|w| w == id))
    }
}

/// A page handler's viewer: signed out, the request is answered with the redirect to
/// `/login`.
impl axum::extract::FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        st: &AppState,
    ) -> Result<Self, Response> {
        match viewer(st, &parts.headers).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(to_login)) => Err(to_login),
            Err(e) => Err(e.into_response()),
        }
    }
}

/// The signed-in viewer of a page request, or the redirect to `/login`.
pub(crate) async fn viewer(
    st: &AppState,
    headers: &HeaderMap,
) -> Result<Result<Viewer, Response>, ApiError> {
    Ok(match signed_in(st, headers).await? {
        Some((auth, user)) => {
            let csrf = csrf_token(&st.link_secret, &auth.session_id);
            Ok(Viewer { auth, user, csrf })
        }
        None => Err(to_login()),
    })
}

pub(crate) fn asset(body: &'static str, ty: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ty));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

pub(crate) fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// The signed-in user of a page request, if any.
pub(crate) async fn signed_in(
    st: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(SessionAuth, User)>, ApiError> {
    let secure = crate::accounts::session::secure_cookies(&st.public_url);
    let Some(secret) = cookie_secret(headers, secure) else {
        return Ok(None);
    };
    let Some(auth) = st.accounts.session(&st.store, secret).await? else {
        return Ok(None);
    };
    let user = st.store.get_user(&auth.user_id).await?;
    Ok(Some((auth, user)))
}

pub(crate) fn to_login() -> Response {
    Redirect::to("/login").into_response()
}

/// A date for people: `04 Dec 2026, 21:40 UTC`.
pub(crate) fn when(ms: i64) -> String {
    let t =
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    // `Fri, 04 Dec 2026 21:40:00 GMT`
    let http = httpdate::fmt_http_date(t);
    let p: Vec<&str> = http.split(' ').collect();
    match p.as_slice() {
        [_, d, m, y, hms, _] => format!("{d} {m} {y}, {} UTC", hms.get(..5).unwrap_or(hms)),
        _ => http,
    }
}

/// The main navigation: (href, label). The settings pages are under `/settings`.
pub(crate) const NAV: &[(&str, &str)] = &[
    ("/", "Home"),
    ("/inbox", "Inbox"),
    ("/calls", "Calls"),
    ("/contacts", "Contacts"),
    ("/analytics", "Analytics"),
    ("/widgets", "Widgets"),
    ("/settings", "Settings"),
];

/// The settings pages: (href, label, what it is for).
pub(crate) const SETTINGS: &[(&str, &str, &str)] = &[
    (
        "/settings/team",
        "Team",
        "Users, roles, invitations, who sees which widget",
    ),
    (
        "/settings/canned",
        "Canned replies",
        "Saved answers the team puts in a chat reply",
    ),
    (
        "/settings/assistant",
        "Assistant",
        "The AI provider that writes answers, order and ticket lookups",
    ),
    (
        "/settings/alerts",
        "Alerts",
        "Your own alerts of calls, chats and visitors on your phone (ntfy), with quiet hours",
    ),
    (
        "/settings/webhooks",
        "Webhooks",
        "Signed events to your systems, with their delivery log",
    ),
    (
        "/settings/sip",
        "SIP phones and trunks",
        "Extensions your operators' phones register as, PBX and carrier trunks",
    ),
    (
        "/settings/tokens",
        "API tokens",
        "Personal access tokens for scripts and AI assistants",
    ),
    (
        "/settings/apps",
        "Connected apps",
        "AI assistants you connected to Ringside's MCP endpoint",
    ),
    ("/settings/sessions", "Sessions", "Where you are signed in"),
    (
        "/settings/usage",
        "Usage",
        "This month's usage against your limits",
    ),
];

/// The browser phone's parts, driven by `/assets/dashboard.js`: the ringing banner (with
/// answer buttons) and the call bar (hold, resume, hang up, the remote video).
const PHONE: &str = "<div id=\"ringing\" class=\"ringing\" role=\"alert\" hidden></div>\
     <div id=\"callbar\" class=\"callbar\" hidden><span id=\"call-state\" aria-live=\"polite\"></span>\
     <button type=\"button\" id=\"call-hold\" class=\"secondary\">Hold</button>\
     <button type=\"button\" id=\"call-resume\" class=\"secondary\" hidden>Resume</button>\
     <button type=\"button\" id=\"call-hangup\" class=\"danger\">Hang up</button>\
     <video id=\"remote\" autoplay playsinline muted hidden></video></div>\
     <p id=\"live-note\" class=\"visually-hidden\" aria-live=\"polite\"></p>";

/// The page around `main`: head, skip link, top bar with navigation when signed in.
pub(crate) fn layout(
    title: &str,
    who: Option<(&SessionAuth, &User, &str)>,
    narrow: bool,
    csrf: &str,
    main: &str,
) -> String {
    let signed_in = who.is_some();
    let top = match who {
        None => String::from(
            "<header class=\"top\"><div class=\"bar\"><a class=\"brand\" href=\"/\">Ringside</a></div></header>",
        ),
        Some((auth, user, active)) => {
            let link = |href: &str, label: &str| {
                let here = href == active || (href == "/settings" && active.starts_with("/settings"));
                let cur = if here { " aria-current=\"page\"" } else { "" };
                format!("<li><a href=\"{href}\"{cur}>{label}</a></li>")
            };
            let mut nav = String::new();
            for (href, label) in NAV {
                nav.push_str(&link(href, label));
            }
            format!(
                "<header class=\"top\"><div class=\"bar\"><a class=\"brand\" href=\"/\">Ringside</a>\
                 <nav aria-label=\"Main\"><ul>{nav}</ul></nav>\
                 <div class=\"who\"><label class=\"avail\"><input type=\"checkbox\" id=\"available\"> Available for calls</label>\
                 <span>{} <span class=\"badge\">{}</span></span>\
                 <button type=\"button\" data-method=\"DELETE\" data-url=\"/api/v1/auth/session\" data-then=\"/login\">Sign out</button></div>\
                 </div></header>",
                esc(&user.email),
                auth.role.as_str(),
            )
        }
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"csrf-token\" content=\"{csrf}\">\
         <title>{title} · Ringside</title><link rel=\"icon\" href=\"data:,\">\
         <link rel=\"stylesheet\" href=\"/assets/account.css\"></head>\
         <body><a class=\"skip\" href=\"#main\">Skip to content</a>{top}\
         <main id=\"main\"{narrow}><h1>{title}</h1>\
         <div id=\"status\" class=\"alert\" role=\"alert\" tabindex=\"-1\"></div>{main}</main>{phone}\
         <script src=\"/assets/account.js\" defer></script>{dash}</body></html>",
        title = esc(title),
        narrow = if narrow { " class=\"narrow\"" } else { "" },
        phone = if signed_in { PHONE } else { "" },
        dash = if signed_in {
            "<script src=\"/assets/dashboard.js\" defer></script>"
        } else {
            ""
        },
    )
}

/// A table of `rows` (cells as HTML) under `heads`; `empty` when there is no row. On a phone
/// each row stacks, every cell labelled with its column.
pub(crate) fn table(caption: &str, heads: &[&str], rows: &[Vec<String>], empty: &str) -> String {
    let mut t = String::from("<div class=\"table-wrap\"><table class=\"stack\">");
    if !caption.is_empty() {
        t.push_str(&format!(
            "<caption class=\"hint\">{}</caption>",
            esc(caption)
        ));
    }
    t.push_str("<thead><tr>");
    for h in heads {
        t.push_str(&format!("<th scope=\"col\">{h}</th>"));
    }
    t.push_str("</tr></thead><tbody>");
    for r in rows {
        t.push_str("<tr>");
        for (h, cell) in heads.iter().zip(r) {
            t.push_str(&format!("<td data-label=\"{h}\">{cell}</td>"));
        }
        t.push_str("</tr>");
    }
    if rows.is_empty() {
        t.push_str(&format!(
            "<tr><td colspan=\"{}\">{}</td></tr>",
            heads.len(),
            esc(empty)
        ));
    }
    t.push_str("</tbody></table></div>");
    t
}

/// A dashboard page saying `what` is not there (404), for the signed-in viewer.
pub(crate) fn not_found(v: &Viewer, what: &str) -> Response {
    html(
        StatusCode::NOT_FOUND,
        layout(
            "Not found",
            Some((&v.auth, &v.user, "")),
            false,
            &v.csrf,
            &format!(
                "<p>{}</p><p><a href=\"/\">Back to the dashboard</a></p>",
                esc(what)
            ),
        ),
    )
}
