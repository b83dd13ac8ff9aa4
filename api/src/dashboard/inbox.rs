//! `/inbox`: visitor chats by view (open, mine, unassigned, pending, snoozed, resolved), and
//! `/inbox/{widget}/{visitor}`: one chat with reply, internal notes, state, assignment,
//! beside the visitor's live page, history, contact, callbacks, direct-navigate and the
//! handoff link.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use ringside_storage::{now_ms, ConversationFilter, Role, StorageError};

use super::home::{my_widgets, visitor_label};
use super::page::{not_found, table, when, Viewer};
use crate::extract::html_escape as esc;
use crate::{ApiError, AppState};

/// Chats per page of a view.
const PAGE: i64 = 100;

/// The inbox views: query value, label.
const VIEWS: &[(&str, &str)] = &[
    ("open", "Open"),
    ("mine", "Mine"),
    ("unassigned", "Unassigned"),
    ("pending", "Pending"),
    ("snoozed", "Snoozed"),
    ("resolved", "Resolved"),
];

/// Events that change what a chat's page shows (its own "read" is not one of them).
const CONV_EVENTS: &str =
    "message:new conversation:updated conversation:state conversation:assigned";

/// Events that change what the inbox shows.
const INBOX_EVENTS: &str = "message:new conversation:new conversation:updated conversation:state \
                            conversation:read conversation:assigned";

pub(crate) async fn inbox(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let view = q
        .get("view")
        .map(String::as_str)
        .filter(|x| VIEWS.iter().any(|(k, _)| k == x))
        .unwrap_or("open");
    let widgets = my_widgets(&st, &v).await?;
    let widget = q
        .get("widget")
        .filter(|w| widgets.iter().any(|x| &x.id == *w))
        .cloned();
    let now = now_ms();
    let mut f = ConversationFilter {
        widgets: v.auth.widgets.clone(),
        widget_id: widget.clone(),
        limit: PAGE,
        after: q
            .get("after")
            .and_then(|c| crate::conversations::parse_cursor(c)),
        ..ConversationFilter::default()
    };
    match view {
        "mine" => f.assignee = Some(v.auth.user_id.clone()),
        "unassigned" => f.unassigned = true,
        _ => {}
    }
    // Mine and unassigned: what still needs the team (open or pending), as their counts.
    match view {
        "mine" | "unassigned" => f.active = true,
        other => f.state = Some(other.to_owned()),
    }
    let list = st
        .store
        .list_conversations(&v.auth.tenant_id, &f, now)
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
    let mut tabs = String::from("<nav aria-label=\"Inbox views\" class=\"tabs\"><ul>");
    for (key, label) in VIEWS {
        let n = match *key {
            "open" => counts.open,
            "mine" => counts.mine,
            "unassigned" => counts.unassigned,
            "pending" => counts.pending,
            "snoozed" => counts.snoozed,
            _ => counts.resolved,
        };
        let cur = if *key == view {
            " aria-current=\"page\""
        } else {
            ""
        };
        let w = widget
            .as_deref()
            .map(|w| format!("&amp;widget={}", esc(w)))
            .unwrap_or_default();
        tabs.push_str(&format!(
            "<li><a href=\"/inbox?view={key}{w}\"{cur}>{label} <span class=\"badge\">{n}</span></a></li>"
        ));
    }
    tabs.push_str("</ul></nav>");
    let mut opts = String::from("<option value=\"\">All widgets</option>");
    for w in &widgets {
        opts.push_str(&format!(
            "<option value=\"{}\"{}>{}</option>",
            esc(&w.id),
            if widget.as_deref() == Some(w.id.as_str()) {
                " selected"
            } else {
                ""
            },
            esc(&w.name)
        ));
    }
    let pick = format!(
        "<form method=\"get\" action=\"/inbox\" class=\"inline\"><input type=\"hidden\" name=\"view\" value=\"{view}\">\
         <label for=\"widget-pick\">Widget</label><select id=\"widget-pick\" name=\"widget\" data-submit>{opts}</select>\
         <button type=\"submit\" class=\"secondary\">Show</button></form>"
    );
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|c| {
            vec![
                format!(
                    "<a href=\"/inbox/{}/{}\">{}</a>{}",
                    esc(&c.widget_id),
                    esc(&c.visitor_id),
                    esc(&visitor_label(c.contact.as_ref(), &c.visitor_id)),
                    if c.unread > 0 {
                        format!(" <span class=\"badge on\">{} unread</span>", c.unread)
                    } else {
                        String::new()
                    }
                ),
                format!(
                    "{}{}",
                    if c.last_sender == "visitor" {
                        ""
                    } else {
                        "<span class=\"hint\">You: </span>"
                    },
                    esc(&c.preview)
                ),
                esc(&c.widget_name),
                c.assignee
                    .as_ref()
                    .map(|a| esc(&a.email))
                    .unwrap_or_else(|| "—".into()),
                when(c.last_message_at),
            ]
        })
        .collect();
    let w = widget
        .as_deref()
        .map(|w| format!("&amp;widget={}", esc(w)))
        .unwrap_or_default();
    // Paging: the next page starts after this one's last chat; the first page is live.
    let older = match list.last() {
        Some(c) if list.len() >= PAGE as usize => format!(
            "<p><a href=\"/inbox?view={view}{w}&amp;after={}\">Older conversations</a></p>",
            esc(&crate::conversations::cursor(c))
        ),
        _ => String::new(),
    };
    let (live, newest) = if f.after.is_some() {
        (
            String::new(),
            format!("<p><a href=\"/inbox?view={view}{w}\">Newest conversations</a></p>"),
        )
    } else {
        (format!(" data-live=\"{INBOX_EVENTS}\""), String::new())
    };
    let main = format!(
        "{pick}<div id=\"inbox-list\"{live}>{tabs}{newest}{}{older}</div>",
        table(
            "",
            &["Visitor", "Last message", "Widget", "Assigned to", "When"],
            &rows,
            "No conversation here.",
        )
    );
    Ok(v.page("Inbox", "/inbox", &main))
}

pub(crate) async fn conversation(
    State(st): State<AppState>,
    v: Viewer,
    Path((widget_id, visitor_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let tenant = v.auth.tenant_id.clone();
    if !v.sees_widget(&widget_id)
        || !crate::conversations::plain_id(&widget_id)
        || !crate::widget_runtime::valid_client_id(&visitor_id)
    {
        return Ok(not_found(&v, "No such conversation."));
    }
    let w = match st.store.get_widget(&tenant, &widget_id).await {
        Ok(w) => w,
        Err(StorageError::NotFound) => return Ok(not_found(&v, "No such conversation.")),
        Err(e) => return Err(e.into()),
    };
    let now = now_ms();
    let conv = match st
        .store
        .get_conversation(&tenant, &w.id, &visitor_id, now)
        .await
    {
        Ok(c) => Some(c),
        Err(StorageError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    let visitor = match st.presence.visitor(&tenant, &w.id, &visitor_id).await {
        Ok(x) => Some(x),
        Err(ApiError::NotFound) => None,
        Err(e) => return Err(e),
    };
    if conv.is_none() && visitor.is_none() {
        return Ok(not_found(&v, "No such conversation."));
    }
    let messages = st
        .store
        .list_messages(&tenant, &w.id, Some(&visitor_id), 200)
        .await?;
    let notes = st
        .store
        .list_notes(&tenant, &w.id, &visitor_id, &v.auth.user_id)
        .await?;
    let callbacks = st
        .store
        .list_callbacks(&tenant, &w.id, Some(&visitor_id), 20)
        .await?;
    let activity = st
        .presence
        .activity(&tenant, &w.id, &visitor_id, 20)
        .await?;
    let files: std::collections::HashMap<String, ringside_storage::Attachment> = st
        .store
        .list_attachments(&tenant, &w.id, &visitor_id)
        .await?
        .into_iter()
        .filter_map(|a| a.message_id.clone().map(|m| (m, a)))
        .collect();
    let users = st.store.list_users(&tenant).await?;
    let canned = st.store.list_canned_replies(&tenant).await?;
    let mut canned_opts = String::from("<option value=\"\">Insert a saved reply…</option>");
    for c in &canned {
        canned_opts.push_str(&format!(
            "<option value=\"{}\" data-shortcut=\"{}\">/{} — {}</option>",
            esc(&c.body),
            esc(&c.shortcut),
            esc(&c.shortcut),
            esc(&c.body.chars().take(60).collect::<String>())
        ));
    }
    let base = format!(
        "/api/v1/widgets/{}/visitors/{}",
        esc(&w.id),
        esc(&visitor_id)
    );
    let name = visitor_label(conv.as_ref().and_then(|c| c.contact.as_ref()), &visitor_id);
    let state = conv.as_ref().map(|c| c.state.as_str()).unwrap_or("open");

    // The chat.
    let mut chat = String::from("<ol class=\"chat\" aria-label=\"Messages\">");
    for m in &messages {
        let who = match m.sender.as_str() {
            "visitor" => esc(&name),
            "operator" => m
                .author_user_id
                .as_ref()
                .and_then(|id| users.iter().find(|u| &u.id == id))
                .map(|u| esc(&u.email))
                .unwrap_or_else(|| "Operator".into()),
            "assistant" => "Assistant".into(),
            _ => "Automation".into(),
        };
        let file = files
            .get(&m.id)
            .map(|a| {
                format!(
                    "<p><a href=\"/api/v1/widgets/{}/attachments/{}\" download>Download {}</a></p>",
                    esc(&w.id),
                    esc(&a.id),
                    esc(&a.file_name)
                )
            })
            .unwrap_or_default();
        chat.push_str(&format!(
            "<li class=\"msg {cls}\"><span class=\"meta\">{who} · {t}</span><p>{body}</p>{file}</li>",
            cls = if m.sender == "visitor" { "them" } else { "us" },
            t = when(m.created_at),
            body = esc(&m.body).replace('\n', "<br>"),
        ));
    }
    if messages.is_empty() {
        chat.push_str("<li class=\"hint\">No message yet.</li>");
    }
    chat.push_str("</ol>");

    let mut note_list = String::new();
    for n in &notes {
        note_list.push_str(&format!(
            "<li><span class=\"meta\">{} · {}{}</span><p>{}</p></li>",
            esc(n.author_email.as_deref().unwrap_or("removed user")),
            when(n.created_at),
            if n.visibility == "private" {
                " · <span class=\"badge\">private</span>"
            } else {
                ""
            },
            esc(&n.body).replace('\n', "<br>")
        ));
    }
    if note_list.is_empty() {
        note_list.push_str("<li class=\"hint\">No note yet.</li>");
    }

    // State and assignment.
    let state_buttons: String = [
        ("open", "Reopen"),
        ("pending", "Mark pending"),
        ("resolved", "Resolve"),
    ]
    .iter()
    .filter(|(s, _)| *s != state)
    .map(|(s, label)| {
        format!(
            "<button type=\"button\" class=\"secondary\" data-method=\"PATCH\" data-url=\"{base}/conversation\" \
             data-body='{{\"state\":\"{s}\"}}'>{label}</button>"
        )
    })
    .collect();
    let assignee = conv.as_ref().and_then(|c| c.assignee.as_ref());
    let mut assign_opts = format!(
        "<option value=\"\"{}>Nobody</option>",
        if assignee.is_none() { " selected" } else { "" }
    );
    for u in &users {
        // Agents may only take a chat for themselves (the API refuses the rest).
        if v.auth.role == Role::Agent && u.id != v.auth.user_id {
            if assignee.is_some_and(|a| a.user_id == u.id) {
                assign_opts.push_str(&format!(
                    "<option value=\"{}\" selected disabled>{}</option>",
                    esc(&u.id),
                    esc(&u.email)
                ));
            }
            continue;
        }
        assign_opts.push_str(&format!(
            "<option value=\"{}\"{}>{}{}</option>",
            esc(&u.id),
            if assignee.is_some_and(|a| a.user_id == u.id) {
                " selected"
            } else {
                ""
            },
            esc(&u.email),
            if u.id == v.auth.user_id {
                " (me)".to_owned()
            } else {
                format!(
                    " ({})",
                    st.console.status(&v.auth.tenant_id, &u.id).as_str()
                )
            }
        ));
    }
    let controls = if conv.is_some() {
        format!(
            "<div class=\"actions\" id=\"conv-state\">State: <span class=\"badge\">{state}</span>{state_buttons}\
             <form class=\"inline\" data-url=\"{base}/conversation\" data-method=\"PATCH\" data-kind=\"snooze\">\
             <label for=\"snooze-for\" class=\"visually-hidden\">Snooze for</label>\
             <select id=\"snooze-for\" name=\"for\"><option value=\"3600\">1 hour</option>\
             <option value=\"14400\">4 hours</option><option value=\"86400\">1 day</option>\
             <option value=\"604800\">1 week</option></select>\
             <button type=\"submit\" class=\"secondary\">Snooze</button></form></div>\
             <div class=\"actions\"><label for=\"assignee\">Assigned to</label>\
             <select id=\"assignee\" class=\"short\" data-url=\"{base}/assignee\" data-method=\"PUT\" data-field=\"userId\">{assign_opts}</select></div>"
        )
    } else {
        String::new()
    };

    // The visitor.
    let visitor_card = match &visitor {
        Some(x) => {
            let live = x.last_seen_at >= now - st.presence.config().live_timeout_ms;
            format!(
                "<p>{}</p><dl class=\"facts\">\
                 <dt>Page</dt><dd>{}</dd><dt>Visits</dt><dd>{}</dd><dt>Browser</dt><dd>{}</dd>\
                 <dt>Came from</dt><dd>{}</dd><dt>First seen</dt><dd>{}</dd></dl>",
                if live {
                    "<span class=\"badge on\">On the site now</span>".to_owned()
                } else {
                    format!("Last seen {}", when(x.last_seen_at))
                },
                match x.current_url.as_deref() {
                    Some(u) if u.starts_with("http://") || u.starts_with("https://") => format!(
                        "<a href=\"{}\" rel=\"noreferrer noopener\" target=\"_blank\">{}</a>",
                        esc(u),
                        esc(x.page_title.as_deref().unwrap_or(u))
                    ),
                    Some(u) => esc(u),
                    None => "—".into(),
                },
                x.visit_count,
                esc(
                    &[x.browser.as_deref(), x.os.as_deref(), x.device.as_deref()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" · ")
                ),
                esc(x.referrer.as_deref().unwrap_or("direct")),
                when(x.first_seen_at),
            )
        }
        None => "<p class=\"hint\">Not seen on the site.</p>".into(),
    };
    let mut history = String::new();
    for e in &activity {
        history.push_str(&format!(
            "<li><span class=\"meta\">{}</span> {} {}</li>",
            when(e.at),
            esc(&e.kind.replace('_', " ")),
            esc(e.url.as_deref().unwrap_or(""))
        ));
    }
    if history.is_empty() {
        history.push_str("<li class=\"hint\">No page view yet.</li>");
    }
    let contact = match conv.as_ref().and_then(|c| c.contact.as_ref()) {
        Some(k) => format!(
            "<p><strong>{}</strong><br>{}</p>\
             <p><a href=\"/contacts/{}\">Edit, see the timeline or merge</a></p>",
            esc(k.name.as_deref().unwrap_or("No name")),
            esc(k.email.as_deref().unwrap_or("")),
            esc(&k.id),
        ),
        None => {
            "<p class=\"hint\">Not linked to a contact yet (a lead or callback form links it).</p>"
                .into()
        }
    };
    let mut cbs = String::new();
    for c in &callbacks {
        cbs.push_str(&format!(
            "<li><span class=\"meta\">{} · {}</span><p>{} {} {}<br>{}</p>{}</li>",
            esc(&c.kind),
            when(c.created_at),
            esc(c.name.as_deref().unwrap_or("")),
            esc(c.email.as_deref().unwrap_or("")),
            esc(c.phone.as_deref().unwrap_or("")),
            esc(c.message.as_deref().unwrap_or("")),
            if c.voice_note.is_some() {
                format!(
                    "<audio controls preload=\"none\" src=\"/api/v1/widgets/{}/callbacks/{}/voice-note\" \
                     aria-label=\"Voice note\"></audio>",
                    esc(&w.id),
                    esc(&c.id)
                )
            } else {
                String::new()
            }
        ));
    }

    let main = format!(
        "<p class=\"hint\"><a href=\"/inbox\">Inbox</a> › {wname}</p>\
         <div class=\"split\" data-read-url=\"{read}\">\
         <section class=\"card chat-card\" aria-labelledby=\"chat-h\"><h2 id=\"chat-h\">Chat</h2>\
         <div id=\"conv-live\" data-live=\"{CONV_EVENTS}\" data-live-visitor=\"{vid}\">{controls}{chat}</div>\
         <p id=\"typing\" class=\"hint\" aria-live=\"polite\"></p>\
         <form data-url=\"/api/v1/widgets/{wid}/messages\" data-then=\"#conv-live\" data-kind=\"reply\" data-typing=\"{wid} {vid}\">\
         <input type=\"hidden\" name=\"visitorId\" value=\"{vid}\">\
         <label for=\"reply\">Reply to {name_e}</label>\
         <textarea id=\"reply\" name=\"body\" rows=\"3\" maxlength=\"4000\" required></textarea>\
         <div class=\"actions\"><button type=\"submit\">Send</button>\
         <label for=\"canned\" class=\"visually-hidden\">Saved replies</label>\
         <select id=\"canned\" class=\"short\" data-insert=\"reply\">{canned_opts}</select>\
         <span class=\"hint\">Enter sends; Shift+Enter for a new line; /shortcut then Tab puts a saved reply.</span></div></form>\
         <form data-url=\"{base}/attachments\" data-kind=\"attach\" data-then=\"#conv-live\" class=\"inline\">\
         <label for=\"attach\">Send a file</label>\
         <input id=\"attach\" name=\"file\" type=\"file\" required \
         accept=\".png,.jpg,.jpeg,.gif,.webp,.pdf,.txt,.csv,.docx,.xlsx,.odt,.ods\">\
         <button type=\"submit\" class=\"secondary\">Send file</button>\
         <span class=\"hint\">Images, PDF, text, office documents; up to 10 MB.</span></form>\
         <h3>Internal notes</h3><ol class=\"notes\" id=\"notes\">{note_list}</ol>\
         <form data-url=\"{base}/notes\" data-then=\"#notes\">\
         <label for=\"note\">Add a note (the visitor never sees it)</label>\
         <textarea id=\"note\" name=\"body\" rows=\"2\" maxlength=\"4000\" required></textarea>\
         <label for=\"note-vis\">Visible to</label><select id=\"note-vis\" name=\"visibility\" class=\"short\">\
         <option value=\"team\">the team</option><option value=\"private\">only me</option></select>\
         <div class=\"actions\"><button type=\"submit\" class=\"secondary\">Add note</button></div></form></section>\
         <aside class=\"side\">\
         <section class=\"card\" aria-labelledby=\"v-h\"><h2 id=\"v-h\">Visitor</h2>\
         <div id=\"visitor-card\" data-live=\"visitor:page visitor:connected\" data-live-visitor=\"{vid}\">{visitor_card}</div>\
         <form data-url=\"{base}/direct-navigate\" data-kind=\"navigate\">\
         <label for=\"nav-url\">Send the visitor to a page</label>\
         <input id=\"nav-url\" name=\"url\" type=\"text\" required placeholder=\"/pricing\">\
         <div class=\"actions\"><button type=\"submit\" class=\"secondary\">Send to page</button></div></form>\
         <form data-url=\"{base}/conversation-link\" data-kind=\"link\">\
         <div class=\"actions\"><button type=\"submit\" class=\"secondary\">Make a handoff link</button></div>\
         <p class=\"hint\">A link valid 24 hours that opens this chat without signing in.</p>\
         <output id=\"link-out\" class=\"secret\" hidden></output></form></section>\
         <section class=\"card\" aria-labelledby=\"k-h\"><h2 id=\"k-h\">Contact</h2>{contact}</section>\
         <section class=\"card\" aria-labelledby=\"h-h\"><h2 id=\"h-h\">Pages seen</h2><ol class=\"history\">{history}</ol></section>\
         {cb_section}</aside></div>",
        wname = esc(&w.name),
        read = if conv.is_some() {
            format!("{base}/conversation/read")
        } else {
            String::new()
        },
        wid = esc(&w.id),
        vid = esc(&visitor_id),
        name_e = esc(&name),
        cb_section = if cbs.is_empty() {
            String::new()
        } else {
            format!(
                "<section class=\"card\" aria-labelledby=\"cb-h\"><h2 id=\"cb-h\">Callbacks and leads</h2><ol class=\"notes\">{cbs}</ol></section>"
            )
        },
    );
    Ok(v.page(&name, "/inbox", &main))
}
