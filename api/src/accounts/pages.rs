//! The account pages, rendered by the server: `/login` and `/signup` (one flow: email, then
//! the mailed code), and settings: `/settings/tokens`,
//! `/settings/sessions`, `/settings/team`, `/settings/usage`, `/settings/apps`.
//!
//! Pages read what they show straight from storage; what they change goes through the
//! documented `/api/v1` endpoints from `/assets/account.js` with the session cookie and the
//! page's CSRF token (in a `<meta>` tag). The Content-Security-Policy allows this server's
//! own scripts and styles only, and no framing. Signed-out visitors of a settings page are
//! sent to `/login`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use ringside_storage::{now_ms, Role, User, AGENT_SCOPES};

use super::session::csrf_token;
use crate::dashboard::page::{asset, html, layout, signed_in, table, to_login, when};
use crate::extract::html_escape as esc;
use crate::openapi::{Auth, DocRouter, Spec};
use crate::{ApiError, AppState};

const JS: &str = include_str!("../../assets/account.js");
const CSS: &str = include_str!("../../assets/account.css");

/// Scopes of a read-only token (the product's default read scopes).
const READ_ONLY: &[&str] = &[
    "widgets:read",
    "analytics:read",
    "messages:read",
    "calls:read",
    "mcp:read",
    "webhooks:read",
];
/// Scopes of an automation token: the read scopes and the automation write scopes.
const AUTOMATION: &[&str] = &[
    "widgets:read",
    "analytics:read",
    "messages:read",
    "calls:read",
    "mcp:read",
    "webhooks:read",
    "widgets:write",
    "messages:write",
    "webhooks:write",
];

pub(crate) fn routes() -> DocRouter {
    const T: &str = "Pages";
    let page = |summary| {
        Spec::new(T, Auth::Public, summary)
            .content("text/html")
            .ok(200, "The page")
            .also(&[(
                303,
                "Signed out: to /login (the sign-in pages, signed in: to /)",
            )])
    };
    DocRouter::new("")
        .get("/login", login, page("Sign in with an emailed code"))
        .get("/signup", signup, page("Sign up with an emailed code"))
        .get("/settings/tokens", tokens_page, page("API tokens"))
        .get(
            "/settings/sessions",
            sessions_page,
            page("Signed-in sessions"),
        )
        .get(
            "/settings/team",
            team_page,
            page("Users, roles and invitations"),
        )
        .get("/settings/usage", usage_page, page("Usage against limits"))
        .get(
            "/settings/apps",
            apps_page,
            page("Connected apps (AI assistants connected by OAuth)"),
        )
        .get(
            "/assets/account.js",
            script,
            Spec::new(T, Auth::Public, "The account pages' script").content("text/javascript"),
        )
        .get(
            "/assets/account.css",
            style,
            Spec::new(T, Auth::Public, "The account pages' styles").content("text/css"),
        )
}

async fn script() -> Response {
    asset(JS, "text/javascript; charset=utf-8")
}

async fn style() -> Response {
    asset(CSS, "text/css; charset=utf-8")
}

async fn login(
    State(st): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    sign_page(&st, &headers, &uri, "Sign in").await
}

async fn signup(
    State(st): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    sign_page(&st, &headers, &uri, "Sign up").await
}

async fn sign_page(
    st: &AppState,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
    title: &str,
) -> Result<Response, ApiError> {
    // Already signed in: straight to the dashboard (an invitation link still shows the form,
    // so another person on this browser can accept it).
    let invited = uri.query().is_some_and(|q| q.contains("invite="));
    if !invited && signed_in(st, headers).await?.is_some() {
        let next = uri
            .query()
            .and_then(next_path)
            .unwrap_or_else(|| "/".into());
        return Ok(Redirect::to(&next).into_response());
    }
    let other = if title == "Sign in" {
        "New here? <a href=\"/signup\">Sign up</a> the same way: we mail you a code, no password."
    } else {
        "Have an account? <a href=\"/login\">Sign in</a>."
    };
    let main = format!(
        "<p id=\"invite-note\" class=\"alert ok\" hidden></p>\
         <form id=\"email-form\" class=\"card\" novalidate>\
         <label for=\"email\">Email address</label>\
         <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"email\" required>\
         <p class=\"hint\">We mail you a 6-digit code. No password.</p>\
         <div class=\"actions\"><button type=\"submit\">Email me a code</button></div></form>\
         <form id=\"code-form\" class=\"card\" hidden>\
         <label for=\"code\">Code sent to <span id=\"code-email\"></span></label>\
         <input id=\"code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" \
         pattern=\"[0-9]{{6}}\" maxlength=\"6\" required>\
         <div class=\"actions\"><button type=\"submit\">{title}</button></div></form>\
         <p>{other}</p>"
    );
    Ok(html(StatusCode::OK, layout(title, None, true, "", &main)))
}

/// The page to go to after signing in: `next` in the query when it is a path on this server
/// (`/inbox/...`), never another site (`//evil.test`, `/\\evil.test`, `https://...`).
pub(crate) fn next_path(query: &str) -> Option<String> {
    let next = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "next")?
        .1
        .into_owned();
    let safe = next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= 2048
        && !next.chars().any(|c| c.is_control() || c == '\\');
    safe.then_some(next)
}

fn scope_list(scopes: &[&str]) -> String {
    scopes.join(" ")
}

/// "Chrome on Linux" for a User-Agent.
fn browser_label(ua: Option<&str>) -> String {
    let Some(ua) = ua.filter(|u| !u.trim().is_empty()) else {
        return "Unknown browser".into();
    };
    let info = crate::user_agent::parse_user_agent(ua);
    match (info.browser, info.os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(o)) => format!("A browser on {o}"),
        (None, None) => "Unknown browser".into(),
    }
}

async fn tokens_page(State(st): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let Some((auth, user)) = signed_in(&st, &headers).await? else {
        return Ok(to_login());
    };
    let all = matches!(auth.role, Role::Owner | Role::Admin);
    let tokens = st.store.list_tokens(&auth.tenant_id).await?;
    let emails: std::collections::HashMap<String, String> = st
        .store
        .list_users(&auth.tenant_id)
        .await?
        .into_iter()
        .map(|u| (u.id, u.email))
        .collect();
    let keep = |set: &[&'static str]| -> Vec<&'static str> {
        set.iter()
            .copied()
            .filter(|s| auth.role.allows(s))
            .collect()
    };
    let (read_only, automation) = (keep(READ_ONLY), keep(AUTOMATION));
    let mut boxes = String::new();
    for s in keep(crate::auth::SCOPES) {
        boxes.push_str(&format!(
            "<label><input type=\"checkbox\" name=\"scopes\" value=\"{s}\"> {s}</label>"
        ));
    }
    let mut rows = Vec::new();
    for t in tokens.iter().filter(|t| all || t.user_id == auth.user_id) {
        let state = match t.revoked_at {
            Some(at) => format!("<span class=\"badge off\">revoked</span> {}", when(at)),
            None => "<span class=\"badge on\">active</span>".into(),
        };
        let action = if t.revoked_at.is_none() {
            format!(
                "<button type=\"button\" class=\"danger\" data-method=\"DELETE\" data-url=\"/api/v1/tokens/{id}\" \
                 data-confirm=\"Revoke the token {name}? Anything using it stops working at once.\" \
                 aria-label=\"Revoke token {name}\">Revoke</button>",
                id = esc(&t.id),
                name = esc(&t.name)
            )
        } else {
            String::new()
        };
        rows.push(vec![
            esc(&t.name),
            esc(emails
                .get(&t.user_id)
                .map(String::as_str)
                .unwrap_or("removed user")),
            format!("<code>{}</code>", esc(&t.scopes.join(" "))),
            when(t.created_at),
            t.last_used_at.map(when).unwrap_or_else(|| "never".into()),
            state,
            action,
        ]);
    }
    let list = table(
        if all {
            "Every token of your account"
        } else {
            "Your tokens"
        },
        &[
            "Name",
            "Created by",
            "Scopes",
            "Created",
            "Last used",
            "Status",
            "Actions",
        ],
        &rows,
        "No token yet.",
    );
    let main = format!(
        "<section class=\"card\" aria-labelledby=\"new-h\"><h2 id=\"new-h\">New token</h2>\
         <form data-url=\"/api/v1/tokens\" data-kind=\"token\" data-read-only=\"{ro}\" data-automation=\"{au}\">\
         <label for=\"token-name\">Name</label>\
         <input id=\"token-name\" name=\"name\" type=\"text\" maxlength=\"100\" required \
         placeholder=\"e.g. Weekly report\">\
         <fieldset><legend>Access</legend>\
         <label><input type=\"radio\" name=\"preset\" value=\"read-only\" checked> Read-only (reporting)</label>\
         <label><input type=\"radio\" name=\"preset\" value=\"automation\"> Automation ({automation_does})</label>\
         <label><input type=\"radio\" name=\"preset\" value=\"custom\"> Choose scopes</label></fieldset>\
         <fieldset id=\"custom-scopes\" hidden><legend>Scopes</legend>{boxes}</fieldset>\
         <p class=\"hint\">A token can do at most what you can do{agent}.</p>\
         <div class=\"actions\"><button type=\"submit\">Create token</button></div></form>\
         <div id=\"new-token\" hidden><p><strong>Your new token</strong> (shown once; store it now):</p>\
         <p id=\"new-token-value\" class=\"secret\" tabindex=\"-1\"></p>\
         <p><a href=\"/settings/tokens\">Done: show it in the list</a></p></div></section>\
         <h2>Tokens</h2>{list}",
        ro = scope_list(&read_only),
        au = scope_list(&automation),
        automation_does = if auth.role == Role::Agent {
            "may send messages"
        } else {
            "may send messages, change widgets and webhooks"
        },
        agent = if auth.role == Role::Agent {
            format!(" (as an agent: {})", AGENT_SCOPES.join(", "))
        } else {
            String::new()
        },
    );
    let csrf = csrf_token(&st.link_secret, &auth.session_id);
    Ok(html(
        StatusCode::OK,
        layout(
            "API tokens",
            Some((&auth, &user, "/settings/tokens")),
            false,
            &csrf,
            &main,
        ),
    ))
}

async fn apps_page(State(st): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let Some((auth, user)) = signed_in(&st, &headers).await? else {
        return Ok(to_login());
    };
    let all = matches!(auth.role, Role::Owner | Role::Admin);
    let who = (!all).then_some(auth.user_id.as_str());
    let grants = st.store.list_oauth_grants(&auth.tenant_id, who).await?;
    let emails: std::collections::HashMap<String, String> = st
        .store
        .list_users(&auth.tenant_id)
        .await?
        .into_iter()
        .map(|u| (u.id, u.email))
        .collect();
    let rows: Vec<Vec<String>> = grants
        .iter()
        .map(|g| {
            vec![
                esc(&g.client_name),
                esc(emails.get(&g.user_id).map(String::as_str).unwrap_or("removed user")),
                format!("<code>{}</code>", esc(&g.scopes.join(" "))),
                when(g.created_at),
                g.last_used_at.map(when).unwrap_or_else(|| "never".into()),
                format!(
                    "<button type=\"button\" class=\"danger\" data-method=\"DELETE\" \
                     data-url=\"/api/v1/oauth/grants/{id}\" data-confirm=\"Disconnect {name}? \
                     It loses access at once.\" aria-label=\"Disconnect {name}\">Disconnect</button>",
                    id = esc(&g.id),
                    name = esc(&g.client_name)
                ),
            ]
        })
        .collect();
    let list = table(
        if all {
            "Apps connected to your account"
        } else {
            "Apps you connected"
        },
        &[
            "App",
            "Connected by",
            "Scopes",
            "Connected",
            "Last used",
            "Actions",
        ],
        &rows,
        "No app connected yet.",
    );
    let main = format!(
        "<p>AI assistants (a Claude connector, an IDE's MCP client) connect to \
         <code>{}/mcp</code> by signing you in here and asking for your consent. \
         They can use Ringside's tools with the access you allowed, until you disconnect them.</p>{list}",
        esc(crate::oauth::issuer(&st))
    );
    let csrf = csrf_token(&st.link_secret, &auth.session_id);
    Ok(html(
        StatusCode::OK,
        layout(
            "Connected apps",
            Some((&auth, &user, "/settings/apps")),
            false,
            &csrf,
            &main,
        ),
    ))
}

async fn sessions_page(
    State(st): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some((auth, user)) = signed_in(&st, &headers).await? else {
        return Ok(to_login());
    };
    let sessions = st.store.list_sessions(&auth.user_id, now_ms()).await?;
    let mut rows = Vec::new();
    for s in &sessions {
        let current = s.id == auth.session_id;
        let action = format!(
            "<button type=\"button\" class=\"secondary\" data-method=\"DELETE\" \
             data-url=\"/api/v1/auth/sessions/{}\"{} aria-label=\"Sign out the session signed in {}\">Sign out</button>",
            esc(&s.id),
            if current { " data-then=\"/login\"" } else { "" },
            when(s.created_at)
        );
        rows.push(vec![
            format!(
                "<span title=\"{}\">{}</span>{}",
                esc(s.user_agent.as_deref().unwrap_or("")),
                esc(&browser_label(s.user_agent.as_deref())),
                if current {
                    " <span class=\"badge on\">this browser</span>"
                } else {
                    ""
                }
            ),
            esc(s.ip.as_deref().unwrap_or("")),
            when(s.created_at),
            when(s.last_seen_at),
            action,
        ]);
    }
    let main = format!(
        "<p>Where you are signed in. Sessions end after {} days, or {} days unused.</p>{}\
         <div class=\"actions\"><button type=\"button\" class=\"danger\" data-method=\"DELETE\" \
         data-url=\"/api/v1/auth/sessions\" data-then=\"/login\" \
         data-confirm=\"Sign out everywhere, this browser included?\">Sign out everywhere</button></div>",
        st.accounts.config.session_lifetime.as_secs() / 86_400,
        st.accounts.config.session_idle.as_secs() / 86_400,
        table(
            "",
            &["Browser", "Address", "Signed in", "Last seen", "Actions"],
            &rows,
            "No session.",
        ),
    );
    let csrf = csrf_token(&st.link_secret, &auth.session_id);
    Ok(html(
        StatusCode::OK,
        layout(
            "Sessions",
            Some((&auth, &user, "/settings/sessions")),
            false,
            &csrf,
            &main,
        ),
    ))
}

async fn team_page(State(st): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let Some((auth, user)) = signed_in(&st, &headers).await? else {
        return Ok(to_login());
    };
    let owner = auth.role.manages_users();
    let users = st.store.list_users(&auth.tenant_id).await?;
    let owners = users.iter().filter(|u| u.role == Role::Owner).count();
    let all_widgets = st.store.list_widgets(&auth.tenant_id).await?;
    let mut rows = Vec::new();
    for u in &users {
        // The last owner can be neither demoted nor removed: no control offers it.
        let fixed = u.role == Role::Owner && owners == 1;
        let role = if owner && !fixed {
            let mut opts = String::new();
            for r in [Role::Owner, Role::Admin, Role::Agent] {
                opts.push_str(&format!(
                    "<option value=\"{0}\"{1}>{0}</option>",
                    r.as_str(),
                    if r == u.role { " selected" } else { "" }
                ));
            }
            format!(
                "<select aria-label=\"Role of {email}\" data-url=\"/api/v1/users/{id}\">{opts}</select>",
                id = esc(&u.id),
                email = esc(&u.email)
            )
        } else {
            u.role.as_str().to_owned()
        };
        let remove = if owner && !fixed {
            format!(
                "<button type=\"button\" class=\"danger\" data-method=\"DELETE\" data-url=\"/api/v1/users/{id}\" \
                 data-confirm=\"Remove {email}? Their sessions and tokens end at once.\" \
                 aria-label=\"Remove {email}\">Remove</button>",
                id = esc(&u.id),
                email = esc(&u.email)
            )
        } else {
            String::new()
        };
        let given = st.store.user_widgets(&u.id).await?;
        let widgets = widgets_cell(owner, u, given.as_deref(), &all_widgets);
        rows.push(vec![
            format!(
                "{}{}",
                esc(&u.email),
                if u.id == auth.user_id {
                    " <span class=\"badge\">you</span>"
                } else {
                    ""
                }
            ),
            // Only the badge is live: the rest of the row may hold a form being filled in.
            format!(
                "<span id=\"presence-{}\" data-live=\"agent:presence\">{}</span>",
                esc(&u.id),
                presence_badge(st.console.status(&auth.tenant_id, &u.id))
            ),
            role,
            widgets,
            when(u.created_at),
            remove,
        ]);
    }
    let mut main = format!(
        "<p>Owners manage users; admins manage everything else; agents answer chats and calls. \
         <strong>Online</strong>: taking calls in a dashboard; <strong>away</strong>: a dashboard \
         is open, calls are not offered; <strong>offline</strong>: none open.</p>\
         {}",
        table(
            "",
            &["User", "Status", "Role", "Widgets", "Since", "Actions"],
            &rows,
            "No user."
        )
    );
    if owner {
        let invites = st.store.list_invites(&auth.tenant_id, now_ms()).await?;
        let pending: Vec<Vec<String>> = invites
            .iter()
            .map(|i| {
                vec![
                    esc(&i.email),
                    i.role.as_str().to_owned(),
                    when(i.expires_at),
                    format!(
                        "<button type=\"button\" class=\"secondary\" data-method=\"DELETE\" \
                         data-url=\"/api/v1/invites/{id}\" aria-label=\"Withdraw the invitation of {email}\">Withdraw</button>",
                        email = esc(&i.email),
                        id = esc(&i.id),
                    ),
                ]
            })
            .collect();
        main.push_str(&format!(
            "<section class=\"card\" aria-labelledby=\"inv-h\"><h2 id=\"inv-h\">Invite someone</h2>\
             <form data-url=\"/api/v1/invites\">\
             <label for=\"invite-email\">Email address</label>\
             <input id=\"invite-email\" name=\"email\" type=\"email\" required>\
             <label for=\"invite-role\">Role</label>\
             <select id=\"invite-role\" name=\"role\"><option value=\"agent\" selected>agent</option>\
             <option value=\"admin\">admin</option><option value=\"owner\">owner</option></select>\
             <p class=\"hint\">They get a one-time link by mail, good for {} days.</p>\
             <div class=\"actions\"><button type=\"submit\">Send invitation</button></div></form></section>\
             <h2>Pending invitations</h2>{}",
            st.accounts.config.invite_ttl.as_secs() / 86_400,
            table(
                "",
                &["Email", "Role", "Link expires", "Actions"],
                &pending,
                "None pending.",
            )
        ));
    }
    let csrf = csrf_token(&st.link_secret, &auth.session_id);
    Ok(html(
        StatusCode::OK,
        layout(
            "Team",
            Some((&auth, &user, "/settings/team")),
            false,
            &csrf,
            &main,
        ),
    ))
}

/// A team member's presence as a badge.
pub(crate) fn presence_badge(s: ringside_domain::console::AgentStatus) -> String {
    use ringside_domain::console::AgentStatus;
    let class = match s {
        AgentStatus::Online => "badge on",
        AgentStatus::Away => "badge",
        AgentStatus::Offline => "badge off",
    };
    format!("<span class=\"{class}\">{}</span>", s.as_str())
}

/// What widgets a user sees, and for owners a form to change an agent's.
fn widgets_cell(
    owner: bool,
    u: &User,
    given: Option<&[String]>,
    all: &[ringside_storage::Widget],
) -> String {
    if u.role != Role::Agent {
        return "all".into();
    }
    let names: Vec<String> = match given {
        None => vec!["all".into()],
        Some([]) => vec!["none".into()],
        Some(ids) => all
            .iter()
            .filter(|w| ids.contains(&w.id))
            .map(|w| esc(&w.name))
            .collect(),
    };
    let shown = names.join(", ");
    if !owner {
        return shown;
    }
    let mut boxes = String::new();
    for w in all {
        let on = given.is_some_and(|ids| ids.contains(&w.id));
        boxes.push_str(&format!(
            "<label><input type=\"checkbox\" name=\"widgetIds\" value=\"{}\"{}> {}</label>",
            esc(&w.id),
            if on { " checked" } else { "" },
            esc(&w.name)
        ));
    }
    format!(
        "{shown} <details><summary>Change<span class=\"visually-hidden\"> the widgets of {email}</span></summary>\
         <form data-url=\"/api/v1/users/{id}/widgets\" data-method=\"PUT\" data-kind=\"widgets\">\
         <fieldset><legend>Widgets {email} sees</legend>\
         <label><input type=\"radio\" name=\"scope\" value=\"all\"{all_on}> All widgets</label>\
         <label><input type=\"radio\" name=\"scope\" value=\"some\"{some_on}> Only these:</label>{boxes}</fieldset>\
         <button type=\"submit\" class=\"secondary\">Save</button></form></details>",
        id = esc(&u.id),
        email = esc(&u.email),
        all_on = if given.is_none() { " checked" } else { "" },
        some_on = if given.is_some() { " checked" } else { "" },
    )
}

async fn usage_page(State(st): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let Some((auth, user)) = signed_in(&st, &headers).await? else {
        return Ok(to_login());
    };
    let gate: crate::usage::UsageGate = axum::extract::FromRef::from_ref(&st);
    let report = serde_json::to_value(crate::usage::usage_report(&gate, &auth.tenant_id).await?)
        .unwrap_or_default();
    let mut rows = Vec::new();
    if let Some(usage) = report["usage"].as_object() {
        for (metric, used) in usage {
            let (limit, left) = match report["limits"][metric].as_i64() {
                Some(l) => (
                    l.to_string(),
                    report["remaining"][metric]
                        .as_i64()
                        .unwrap_or(0)
                        .to_string(),
                ),
                None => ("unlimited".to_owned(), "—".to_owned()),
            };
            rows.push(vec![esc(metric), used.to_string(), limit, left]);
        }
    }
    let start = report["period"]["start"].as_i64().unwrap_or(0);
    let end = report["period"]["end"].as_i64().unwrap_or(0);
    let main = format!(
        "<p>This month: {} to {}.</p>{}",
        when(start),
        when(end),
        table(
            "",
            &["What", "Used", "Limit", "Left"],
            &rows,
            "Nothing counted yet."
        )
    );
    let csrf = csrf_token(&st.link_secret, &auth.session_id);
    Ok(html(
        StatusCode::OK,
        layout(
            "Usage",
            Some((&auth, &user, "/settings/usage")),
            false,
            &csrf,
            &main,
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_browsers_for_people() {
        assert_eq!(when(1_796_190_897_000), "02 Dec 2026, 05:54 UTC");
        assert_eq!(
            browser_label(Some(
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/131.0.0.0 Safari/537.36"
            )),
            "Chrome on Linux"
        );
        assert_eq!(browser_label(None), "Unknown browser");
        let t = table(
            "",
            &["A", "B"],
            &[vec!["1".into(), "<b>2</b>".into()]],
            "none",
        );
        assert!(t.contains("<td data-label=\"B\"><b>2</b></td>"), "{t}");
        assert!(table("", &["A"], &[], "no <row>").contains("no &lt;row&gt;"));
    }

    #[test]
    fn sign_in_goes_back_only_to_a_page_of_this_server() {
        let next = |q: &str| next_path(q);
        assert_eq!(
            next("next=%2Fconsole%2Fconversation%3Fwidget%3Dw%26sig%3Dx").as_deref(),
            Some("/console/conversation?widget=w&sig=x")
        );
        assert_eq!(next("invite=x&next=/inbox").as_deref(), Some("/inbox"));
        for refused in [
            "",
            "next=",
            "next=https%3A%2F%2Fevil.test%2F",
            "next=%2F%2Fevil.test",
            "next=%2F%5Cevil.test",
            "next=inbox",
            "next=%2Fa%0Ab",
        ] {
            assert_eq!(next(refused), None, "{refused}");
        }
    }
}
