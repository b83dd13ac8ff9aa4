//! `/`: what needs attention now — live visitors, waiting calls, open conversations — and
//! today's calls and chats, with the visitors on the site and the latest chats.

use axum::extract::State;
use axum::response::Response;
use ringside_storage::{now_ms, ConversationFilter, Widget};

use super::page::{table, when, Viewer};
use crate::extract::html_escape as esc;
use crate::{ApiError, AppState};

/// A visitor's display name in lists: the contact's name or email, else a short id.
pub(crate) fn visitor_label(
    contact: Option<&ringside_storage::ConversationContact>,
    visitor: &str,
) -> String {
    contact
        .and_then(|c| c.name.clone().or_else(|| c.email.clone()))
        .unwrap_or_else(|| format!("Visitor {}", visitor.chars().take(8).collect::<String>()))
}

/// The viewer's widgets (all of the tenant's, or those they were given).
pub(crate) async fn my_widgets(st: &AppState, v: &Viewer) -> Result<Vec<Widget>, ApiError> {
    let mut widgets = st.store.list_widgets(&v.auth.tenant_id).await?;
    widgets.retain(|w| v.sees_widget(&w.id));
    Ok(widgets)
}

/// Live visitors shown per widget on the home page (the most recently seen).
const LIVE_SHOWN: usize = 50;

/// How long after its start a call still counts as waiting (stale rows after a crash).
pub(crate) const WAITING_MAX_MS: i64 = 10 * 60 * 1000;

pub(crate) async fn home(State(st): State<AppState>, v: Viewer) -> Result<Response, ApiError> {
    let now = now_ms();
    let day_start = now - now.rem_euclid(86_400_000);
    let widgets = my_widgets(&st, &v).await?;
    let mut live = Vec::new();
    let mut waiting = Vec::new();
    for w in &widgets {
        let (now_live, _) = st
            .presence
            .live_visitors(&v.auth.tenant_id, &w.id, LIVE_SHOWN)
            .await?;
        for vis in now_live {
            live.push((w.name.clone(), vis));
        }
        let filter = ringside_storage::WidgetCallFilter {
            waiting: true,
            since_ms: now - WAITING_MAX_MS,
            ..Default::default()
        };
        for c in st
            .store
            .list_widget_calls(&v.auth.tenant_id, &w.id, filter, 50)
            .await?
        {
            waiting.push((w.name.clone(), c));
        }
    }
    let calls_today = st
        .store
        .count_calls_since(&v.auth.tenant_id, v.auth.widgets.as_deref(), day_start)
        .await?;
    let counts = st
        .store
        .conversation_counts(
            &v.auth.tenant_id,
            &v.auth.user_id,
            v.auth.widgets.as_deref(),
            now,
        )
        .await?;
    let recent = st
        .store
        .list_conversations(
            &v.auth.tenant_id,
            &ConversationFilter {
                state: Some("open".into()),
                widgets: v.auth.widgets.clone(),
                limit: 8,
                ..ConversationFilter::default()
            },
            now,
        )
        .await?;

    let stat = |id: &str, label: &str, n: String, href: &str| {
        format!(
            "<section class=\"card\" aria-labelledby=\"{id}\"><h2 id=\"{id}\">{label}</h2>\
             <p class=\"stat\">{n}</p><p><a href=\"{href}\">{}</a></p></section>",
            match href {
                "/calls" => "Calls",
                "/inbox" => "Inbox",
                _ => "Details",
            }
        )
    };
    let mut main = format!(
        "<div id=\"home-stats\" data-live=\"visitor:connected visitor:page message:new conversation:new \
         conversation:state call:requested call:answered call:ended call:missed\">\
         <div class=\"grid\">{}{}{}{}</div>",
        stat("s-live", "Visitors on your sites now", live.len().to_string(), "#live-h"),
        stat("s-wait", "Calls waiting", waiting.len().to_string(), "/calls"),
        stat("s-open", "Open conversations", counts.open.to_string(), "/inbox"),
        stat(
            "s-today",
            "Today",
            format!(
                "{calls_today} call{} · {} chat{}",
                if calls_today == 1 { "" } else { "s" },
                counts.today,
                if counts.today == 1 { "" } else { "s" }
            ),
            "/calls",
        ),
    );
    if widgets.is_empty() {
        main.push_str(
            "<section class=\"card\"><h2>Get started</h2><p>Create a widget, paste its snippet \
             into your site, and visitors can chat and call you from their browser.</p>\
             <p><a class=\"button\" href=\"/widgets\">Create a widget</a></p></section>",
        );
    }
    if !widgets.is_empty() {
        let mut list = String::new();
        for w in &widgets {
            list.push_str(&format!(
                "<li><a href=\"/widgets/{}\">{}</a></li>",
                esc(&w.id),
                esc(&w.name)
            ));
        }
        main.push_str(&format!(
            "<section class=\"card\" aria-labelledby=\"yw-h\"><h2 id=\"yw-h\">Your widgets</h2><ul>{list}</ul></section>"
        ));
    }
    let rows: Vec<Vec<String>> = waiting
        .iter()
        .map(|(wname, c)| {
            vec![
                esc(c.visitor_id.as_deref().unwrap_or(&c.from_uri)),
                esc(wname),
                when(c.started_at),
                format!(
                    "<a href=\"/calls/{}\">Open<span class=\"visually-hidden\"> the call</span></a>",
                    esc(&c.id)
                ),
            ]
        })
        .collect();
    main.push_str(&format!(
        "<h2>Calls waiting</h2>{}",
        table(
            "",
            &["Caller", "Widget", "Since", "Actions"],
            &rows,
            "No call is waiting."
        )
    ));
    let rows: Vec<Vec<String>> = recent
        .iter()
        .map(|c| {
            vec![
                format!(
                    "<a href=\"/inbox/{}/{}\">{}</a>{}",
                    esc(&c.widget_id),
                    esc(&c.visitor_id),
                    esc(&visitor_label(c.contact.as_ref(), &c.visitor_id)),
                    if c.unread > 0 {
                        format!(" <span class=\"badge on\">{} new</span>", c.unread)
                    } else {
                        String::new()
                    }
                ),
                esc(&c.preview),
                when(c.last_message_at),
            ]
        })
        .collect();
    main.push_str(&format!(
        "<h2>Open conversations</h2>{}",
        table(
            "",
            &["Visitor", "Last message", "When"],
            &rows,
            "No open conversation."
        )
    ));
    let rows: Vec<Vec<String>> = live
        .iter()
        .take(50)
        .map(|(wname, vis)| {
            vec![
                esc(&visitor_label(None, &vis.visitor_id)),
                esc(wname),
                format!(
                    "{}<br><span class=\"hint\">{}</span>",
                    esc(vis.page_title.as_deref().unwrap_or("")),
                    esc(vis.current_url.as_deref().unwrap_or(""))
                ),
                vis.visit_count.to_string(),
                esc(&[vis.browser.as_deref(), vis.os.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" on ")),
            ]
        })
        .collect();
    main.push_str(&format!(
        "<h2 id=\"live-h\">Visitors on your sites now</h2>{}</div>",
        table(
            "",
            &["Visitor", "Widget", "Page", "Visits", "Browser"],
            &rows,
            "Nobody is on your sites right now."
        )
    ));
    Ok(v.page("Home", "/", &main))
}
