//! `/contacts`: the tenant's contacts (leads), newest change first, searched by name,
//! company, email or phone, with a form to add one; `/contacts/{id}`: one contact's identity
//! (edit it, set its status), its visitor sessions, the unified timeline of everything stored
//! about it (sessions attached, visits, pages seen, messages, notes, callbacks and leads,
//! merges), newest first, and a form to merge a duplicate into it.
//!
//! Contacts span every widget: users given only some widgets get a page saying so (the API
//! refuses them too). Reads stay bounded: the list is one `LIMIT`ed query; a contact's page
//! reads its stored activity (each kind capped by storage), the team's users and widgets (for
//! names) and the live presence of its newest sessions only. The timeline is the contacts
//! API's own ([`crate::admin::contacts`]), so the page and `GET /api/v1/contacts/{id}` agree.

use std::collections::HashMap;

use axum::extract::{FromRef, Path, Query, State};
use axum::response::Response;
use ringside_storage::{Contact, StorageError, CONTACT_STATUSES, MAX_LIST_CONTACTS};
use serde_json::Value;

use super::home::visitor_label;
use super::page::{not_found, table, when, Viewer};
use crate::admin::contacts::{timeline, ContactsState};
use crate::extract::html_escape as esc;
use crate::{ApiError, AppState};

/// Contacts the list shows at first, and how many more each "Show more" adds.
const PAGE: u32 = 50;
/// Longest search text, in characters (as the API's `?q=`).
const MAX_QUERY_CHARS: usize = 200;
/// Longest contact id the page looks up (ids are uuids).
const MAX_ID_CHARS: usize = 64;
/// Sessions whose visitor record and page activity the timeline reads from the presence
/// (the most recently attached).
const LIVE_SESSIONS: usize = 10;
/// Page activity events read per session.
const SESSION_EVENTS: u32 = 20;
/// Timeline entries shown.
const TIMELINE_SHOWN: usize = 100;
/// Sessions listed.
const SESSIONS_SHOWN: usize = 50;

/// A contact's name for people: first and last name, else email, else phone.
fn display_name(c: &Contact) -> String {
    match (c.first_name.as_deref(), c.last_name.as_deref()) {
        (Some(f), Some(l)) => format!("{f} {l}"),
        (Some(n), None) | (None, Some(n)) => n.to_owned(),
        (None, None) => c
            .email
            .clone()
            .or_else(|| c.phone.clone())
            .unwrap_or_else(|| "No name".to_owned()),
    }
}

/// A contact's status as a badge: won customers green, dropped contacts red.
fn status_badge(status: &str) -> String {
    let class = match status {
        "qualified" | "customer" => "badge on",
        "disqualified" | "archived" => "badge off",
        _ => "badge",
    };
    format!("<span class=\"{class}\">{}</span>", esc(status))
}

/// The page users given only some widgets get: contacts span every widget.
fn every_widget_needed(v: &Viewer) -> Response {
    v.page(
        "Contacts",
        "/contacts",
        "<section class=\"card\" aria-labelledby=\"need-h\"><h2 id=\"need-h\">Contacts need every widget</h2>\
         <p>Contacts gather a person's chats, calls and visits from all of your team's widgets. \
         You were given only some widgets, so contacts are not available to you (the API refuses \
         them too).</p>\
         <p>Ask an owner of your team to give you every widget. Your chats are in the \
         <a href=\"/inbox\">Inbox</a>.</p></section>",
    )
}

/// `GET /contacts?q=&limit=`: the search form, the contacts (most recently changed first) and,
/// for users who may change messages, the form to add one.
pub(crate) async fn contacts(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    if v.auth.widgets.is_some() {
        return Ok(every_widget_needed(&v));
    }
    let query: String = q
        .get("q")
        .map(|s| s.trim().chars().take(MAX_QUERY_CHARS).collect())
        .unwrap_or_default();
    let max = MAX_LIST_CONTACTS as u32;
    let shown = q
        .get("limit")
        .and_then(|l| l.parse::<u32>().ok())
        .unwrap_or(PAGE)
        .clamp(1, max);
    // One more than shown says whether there are more (storage caps a list at its maximum).
    let mut list = st
        .store
        .list_contacts(
            &v.auth.tenant_id,
            Some(query.as_str()),
            i64::from(shown) + 1,
        )
        .await?;
    let more = list.len() > shown as usize;
    list.truncate(shown as usize);
    let at_cap = shown == max && list.len() == shown as usize;

    let search = format!(
        "<form method=\"get\" action=\"/contacts\" class=\"inline\" role=\"search\">\
         <label for=\"contact-q\">Search contacts</label>\
         <input id=\"contact-q\" name=\"q\" type=\"text\" maxlength=\"{MAX_QUERY_CHARS}\" value=\"{}\" \
         placeholder=\"Name, company, email or phone\" enterkeyhint=\"search\" autocomplete=\"off\">\
         <button type=\"submit\" class=\"secondary\">Search</button>{}</form>",
        esc(&query),
        if query.is_empty() {
            ""
        } else {
            "<a href=\"/contacts\">Show all</a>"
        },
    );
    let n = list.len();
    let summary = if query.is_empty() {
        "<p class=\"hint\">Most recently changed first.</p>".to_owned()
    } else {
        let plus = more || at_cap;
        format!(
            "<p class=\"hint\" role=\"status\">{n}{} {} “{}”.</p>",
            if plus { "+" } else { "" },
            if n == 1 && !plus {
                "contact matches"
            } else {
                "contacts match"
            },
            esc(&query)
        )
    };
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|c| {
            vec![
                format!(
                    "<a href=\"/contacts/{}\">{}</a>",
                    esc(&c.id),
                    esc(&display_name(c))
                ),
                esc(c.email.as_deref().unwrap_or("—")),
                esc(c.phone.as_deref().unwrap_or("—")),
                esc(c.company_name.as_deref().unwrap_or("—")),
                status_badge(&c.status),
                when(c.updated_at),
            ]
        })
        .collect();
    let mut main = format!(
        "{search}{summary}{}",
        table(
            "",
            &["Name", "Email", "Phone", "Company", "Status", "Updated"],
            &rows,
            if query.is_empty() {
                "No contact yet: lead and callback forms add them, or add one below."
            } else {
                "No contact matches."
            },
        )
    );
    if more {
        main.push_str(&format!(
            "<form method=\"get\" action=\"/contacts\" class=\"inline\">\
             <input type=\"hidden\" name=\"q\" value=\"{}\">\
             <input type=\"hidden\" name=\"limit\" value=\"{}\">\
             <button type=\"submit\" class=\"secondary\">Show more contacts</button></form>",
            esc(&query),
            (shown + PAGE).min(max)
        ));
    } else if at_cap {
        main.push_str(&format!(
            "<p class=\"hint\">Showing the first {max} contacts: search to find the others.</p>"
        ));
    }
    if v.auth.role.allows("messages:write") {
        main.push_str(
            "<section class=\"card\" aria-labelledby=\"new-h\"><h2 id=\"new-h\">New contact</h2>\
             <form data-url=\"/api/v1/contacts\" data-kind=\"new-contact\" data-null-empty>\
             <label for=\"n-first\">First name</label>\
             <input id=\"n-first\" name=\"firstName\" type=\"text\" maxlength=\"100\" autocomplete=\"off\">\
             <label for=\"n-last\">Last name</label>\
             <input id=\"n-last\" name=\"lastName\" type=\"text\" maxlength=\"100\" autocomplete=\"off\">\
             <label for=\"n-email\">Email</label>\
             <input id=\"n-email\" name=\"email\" type=\"email\" maxlength=\"320\" autocomplete=\"off\">\
             <label for=\"n-phone\">Phone</label>\
             <input id=\"n-phone\" name=\"phone\" type=\"text\" inputmode=\"tel\" maxlength=\"64\" autocomplete=\"off\">\
             <label for=\"n-company\">Company</label>\
             <input id=\"n-company\" name=\"companyName\" type=\"text\" maxlength=\"200\" autocomplete=\"off\">\
             <p class=\"hint\">A name, email or phone is needed.</p>\
             <div class=\"actions\"><button type=\"submit\">Add contact</button></div></form></section>",
        );
    }
    Ok(v.page("Contacts", "/contacts", &main))
}

/// The contact's identity as a list of facts.
fn facts(c: &Contact) -> String {
    let or_dash = |s: Option<&str>| esc(s.unwrap_or("—"));
    format!(
        "<dl class=\"facts\"><dt>Status</dt><dd>{}</dd><dt>Email</dt><dd>{}</dd>\
         <dt>Phone</dt><dd>{}</dd><dt>Company</dt><dd>{}</dd>{}{}\
         <dt>Added</dt><dd>{}</dd><dt>Changed</dt><dd>{}</dd>\
         <dt>Contact id</dt><dd><code id=\"contact-id\">{}</code></dd></dl>",
        status_badge(&c.status),
        match c.email.as_deref() {
            Some(e) => format!("<a href=\"mailto:{0}\">{0}</a>", esc(e)),
            None => "—".to_owned(),
        },
        or_dash(c.phone.as_deref()),
        or_dash(c.company_name.as_deref()),
        if c.other_emails.is_empty() {
            String::new()
        } else {
            format!(
                "<dt>Other emails</dt><dd>{}</dd>",
                esc(&c.other_emails.join(", "))
            )
        },
        if c.other_phones.is_empty() {
            String::new()
        } else {
            format!(
                "<dt>Other phones</dt><dd>{}</dd>",
                esc(&c.other_phones.join(", "))
            )
        },
        when(c.created_at),
        when(c.updated_at),
        esc(&c.id),
    )
}

/// `GET /contacts/{id}`: the contact's identity with its edit form, its sessions, its
/// timeline and the merge form; 404 for an unknown id or another tenant's contact.
pub(crate) async fn contact(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let dup = q.get("dup").cloned();
    if v.auth.widgets.is_some() {
        return Ok(every_widget_needed(&v));
    }
    if id.is_empty() || id.chars().count() > MAX_ID_CHARS || !crate::conversations::plain_id(&id) {
        return Ok(not_found(&v, "No such contact."));
    }
    let tenant = v.auth.tenant_id.clone();
    let c = match st.store.get_contact(&tenant, &id).await {
        Ok(c) => c,
        Err(StorageError::NotFound) => return Ok(not_found(&v, "No such contact.")),
        Err(e) => return Err(e.into()),
    };
    let name = display_name(&c);
    let crumbs = format!(
        "<p class=\"hint\"><a href=\"/contacts\">Contacts</a> › {}</p>",
        esc(&name)
    );

    // A merged contact keeps its row but nothing else: point to the one that holds it now.
    if let Some(target) = &c.merged_into {
        let main = format!(
            "{crumbs}<section class=\"card\" aria-labelledby=\"merged-h\"><h2 id=\"merged-h\">Merged</h2>\
             <p>This contact was merged into <a href=\"/contacts/{}\">another contact</a>, which now \
             holds its sessions, messages, notes and callbacks. This is how it was.</p>{}</section>",
            esc(target),
            facts(&c)
        );
        return Ok(v.page(&name, "/contacts", &main));
    }

    let act = st
        .store
        .contact_activity(&tenant, &c.id, &v.auth.user_id)
        .await?;
    let sessions = act.sessions.clone();
    // Visitor records and page activity from the presence (fresher than storage), for the
    // most recently attached sessions only.
    let mut visitors = Vec::new();
    let mut events = Vec::new();
    for s in sessions.iter().rev().take(LIVE_SESSIONS) {
        match st
            .presence
            .visitor(&tenant, &s.widget_id, &s.visitor_id)
            .await
        {
            Ok(x) => visitors.push(x),
            Err(ApiError::NotFound) => {}
            Err(e) => return Err(e),
        }
        events.extend(
            st.presence
                .activity(&tenant, &s.widget_id, &s.visitor_id, SESSION_EVENTS)
                .await?,
        );
    }
    let widgets: HashMap<String, String> = st
        .store
        .list_widgets(&tenant)
        .await?
        .into_iter()
        .map(|w| (w.id, w.name))
        .collect();
    let emails: HashMap<String, String> = st
        .store
        .list_users(&tenant)
        .await?
        .into_iter()
        .map(|u| (u.id, u.email))
        .collect();
    let (entries, total) = timeline(
        &ContactsState::from_ref(&st),
        act,
        &visitors,
        &events,
        TIMELINE_SHOWN,
    );
    let names = Names {
        widgets: &widgets,
        emails: &emails,
    };

    // Identity and its edit form.
    let can = v.auth.role.allows("messages:write");
    let off = if can { "" } else { " disabled" };
    let base = format!("/api/v1/contacts/{}", esc(&c.id));
    let field = |fid: &str, fname: &str, label: &str, ty: &str, value: Option<&str>, max: usize| {
        format!(
            "<label for=\"{fid}\">{label}</label><input id=\"{fid}\" name=\"{fname}\" type=\"{ty}\" \
             maxlength=\"{max}\" value=\"{}\" autocomplete=\"off\"{off}>",
            esc(value.unwrap_or(""))
        )
    };
    let mut status_opts = String::new();
    for s in CONTACT_STATUSES {
        status_opts.push_str(&format!(
            "<option value=\"{s}\"{}>{s}</option>",
            if c.status == *s { " selected" } else { "" }
        ));
    }
    let edit = format!(
        "<form data-url=\"{base}\" data-method=\"PATCH\" data-then=\"stay\" \
         data-null-empty=\"firstName lastName email phone companyName\">\
         {}{}{}{}{}\
         <label for=\"c-status\">Status</label>\
         <select id=\"c-status\" name=\"status\" class=\"short\"{off}>{status_opts}</select>\
         <label for=\"c-other-emails\">Other emails (one per line)</label>\
         <textarea id=\"c-other-emails\" name=\"otherEmails\" rows=\"2\" data-list{off}>{}</textarea>\
         {}</form>",
        field("c-first", "firstName", "First name", "text", c.first_name.as_deref(), 100),
        field("c-last", "lastName", "Last name", "text", c.last_name.as_deref(), 100),
        field("c-email", "email", "Email", "email", c.email.as_deref(), 320),
        field("c-phone", "phone", "Phone", "text", c.phone.as_deref(), 64),
        field(
            "c-company",
            "companyName",
            "Company",
            "text",
            c.company_name.as_deref(),
            200
        ),
        esc(&c.other_emails.join("\n")),
        if can {
            "<p class=\"hint\">An emptied field is cleared.</p>\
             <div class=\"actions\"><button type=\"submit\">Save contact</button></div>"
        } else {
            "<p class=\"hint\">Your role may not change contacts.</p>"
        },
    );
    let merge = if can {
        merge_form(&st, &v, &c, dup.as_deref()).await?
    } else {
        String::new()
    };

    // Sessions, most recently attached first.
    let rows: Vec<Vec<String>> = sessions
        .iter()
        .rev()
        .take(SESSIONS_SHOWN)
        .map(|s| {
            let seen = visitors
                .iter()
                .find(|x| x.widget_id == s.widget_id && x.visitor_id == s.visitor_id)
                .map(|x| when(x.last_seen_at))
                .unwrap_or_else(|| "—".to_owned());
            vec![
                format!(
                    "<a href=\"/inbox/{}/{}\">{}</a>",
                    esc(&s.widget_id),
                    esc(&s.visitor_id),
                    esc(&visitor_label(None, &s.visitor_id))
                ),
                esc(names.widget(&s.widget_id)),
                when(s.attached_at),
                esc(&s.source),
                seen,
            ]
        })
        .collect();
    let mut sessions_html = table(
        "",
        &["Visitor", "Widget", "Attached", "How", "Last seen"],
        &rows,
        "No visitor session yet: a lead or callback form, or the API, attaches one.",
    );
    if sessions.len() > SESSIONS_SHOWN {
        sessions_html.push_str(&format!(
            "<p class=\"hint\">The {SESSIONS_SHOWN} most recently attached of {} sessions.</p>",
            sessions.len()
        ));
    }

    // The timeline, newest first.
    let mut items = String::new();
    for e in &entries {
        items.push_str(&entry(e, &names));
    }
    if items.is_empty() {
        items.push_str("<li class=\"hint\">Nothing yet.</li>");
    }
    let mut notes_on_timeline = String::new();
    if total > entries.len() {
        notes_on_timeline.push_str(&format!(
            "<p class=\"hint\">The newest {} of {total} entries.</p>",
            entries.len()
        ));
    }
    if sessions.len() > LIVE_SESSIONS {
        notes_on_timeline.push_str(&format!(
            "<p class=\"hint\">Visits and pages seen are those of the {LIVE_SESSIONS} most recently \
             attached sessions.</p>"
        ));
    }

    let main = format!(
        "{crumbs}<div class=\"split\">\
         <div>\
         <section class=\"card\" aria-labelledby=\"s-h\"><h2 id=\"s-h\">Visitor sessions</h2>{sessions_html}</section>\
         <section class=\"card\" aria-labelledby=\"t-h\"><h2 id=\"t-h\">Timeline</h2>{notes_on_timeline}\
         <ol class=\"history\" aria-label=\"Timeline, newest first\">{items}</ol></section>\
         </div>\
         <aside class=\"side\">\
         <section class=\"card\" aria-labelledby=\"k-h\"><h2 id=\"k-h\">Contact</h2>{}\
         <div class=\"actions\"><button type=\"button\" class=\"secondary\" data-copy=\"#contact-id\">Copy id</button></div>\
         </section>\
         <section class=\"card\" aria-labelledby=\"e-h\"><h2 id=\"e-h\">Edit</h2>{edit}</section>\
         {merge}</aside></div>",
        facts(&c),
    );
    Ok(v.page(&name, "/contacts", &main))
}

/// Names for ids on the timeline: widgets and the team's users.
struct Names<'a> {
    widgets: &'a HashMap<String, String>,
    emails: &'a HashMap<String, String>,
}

impl Names<'_> {
    /// A widget's name (a removed widget: its id).
    fn widget<'b>(&'b self, id: &'b str) -> &'b str {
        self.widgets.get(id).map(String::as_str).unwrap_or(id)
    }

    /// A user's email, if they are still on the team.
    fn user(&self, id: Option<&str>) -> Option<&str> {
        id.and_then(|id| self.emails.get(id)).map(String::as_str)
    }
}

/// A string field of a timeline entry ("" when absent or null).
fn text<'a>(e: &'a Value, key: &str) -> &'a str {
    e.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A non-empty string field of a timeline entry.
fn opt<'a>(e: &'a Value, key: &str) -> Option<&'a str> {
    e.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Text as HTML with its line breaks kept.
fn lines(s: &str) -> String {
    esc(s).replace('\n', "<br>")
}

/// A page address: a link when it is http(s), else plain text.
fn page_link(url: &str, title: Option<&str>) -> String {
    let label = esc(title.unwrap_or(url));
    if url.starts_with("http://") || url.starts_with("https://") {
        format!(
            "<a href=\"{}\" rel=\"noreferrer noopener\" target=\"_blank\">{label}</a>",
            esc(url)
        )
    } else {
        label
    }
}

/// Duplicates offered at most, per search.
const DUP_CANDIDATES: i64 = 10;

/// The merge card of contact `c`: a search for the duplicate (`dup`, by name, email or
/// phone, as the contacts list searches), then the matches to pick from, with the reason.
async fn merge_form(
    st: &AppState,
    v: &Viewer,
    c: &Contact,
    dup: Option<&str>,
) -> Result<String, ApiError> {
    let dup = dup.map(str::trim).filter(|d| !d.is_empty());
    let base = format!("/api/v1/contacts/{}", esc(&c.id));
    let search = format!(
        "<form method=\"get\" action=\"/contacts/{id}\" role=\"search\" aria-label=\"Find the duplicate\">\
         <label for=\"dup-q\">Find the duplicate by name, email or phone</label>\
         <input id=\"dup-q\" name=\"dup\" type=\"search\" maxlength=\"200\" required value=\"{q}\">\
         <div class=\"actions\"><button type=\"submit\" class=\"secondary\">Search</button></div></form>",
        id = esc(&c.id),
        q = esc(dup.unwrap_or_default()),
    );
    let picked = match dup {
        None => String::new(),
        Some(q) => {
            let found: Vec<Contact> = st
                .store
                .list_contacts(&v.auth.tenant_id, Some(q), DUP_CANDIDATES + 1)
                .await?
                .into_iter()
                .filter(|x| x.id != c.id)
                .take(usize::try_from(DUP_CANDIDATES).unwrap_or(10))
                .collect();
            if found.is_empty() {
                "<p class=\"hint\" role=\"status\">No other contact matches.</p>".to_owned()
            } else {
                let mut opts = String::new();
                for (i, x) in found.iter().enumerate() {
                    let detail = [x.email.as_deref(), x.phone.as_deref()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(", ");
                    opts.push_str(&format!(
                        "<li><input type=\"radio\" id=\"dup-{i}\" name=\"sourceContactId\" value=\"{}\" required>\
                         <label for=\"dup-{i}\">{}{}</label> <a href=\"/contacts/{}\">open</a></li>",
                        esc(&x.id),
                        esc(&display_name(x)),
                        if detail.is_empty() {
                            String::new()
                        } else {
                            format!(" <span class=\"hint\">{}</span>", esc(&detail))
                        },
                        esc(&x.id),
                    ));
                }
                format!(
                    "<form data-url=\"{base}/merge\" data-kind=\"merge\">\
                     <fieldset><legend>Which contact is the duplicate?</legend><ul class=\"plain\">{opts}</ul></fieldset>\
                     <label for=\"merge-why\">Why they are the same person</label>\
                     <input id=\"merge-why\" name=\"reason\" type=\"text\" maxlength=\"{}\" required \
                     autocomplete=\"off\" placeholder=\"e.g. same person, work email\">\
                     <div class=\"actions\"><button type=\"submit\" class=\"secondary\">Merge into this contact</button></div>\
                     </form>",
                    ringside_storage::MAX_MERGE_REASON_CHARS
                )
            }
        }
    };
    Ok(format!(
        "<section class=\"card\" aria-labelledby=\"merge-h\"><h2 id=\"merge-h\">Merge a duplicate</h2>\
         {search}{picked}\
         <p class=\"hint\">The duplicate's sessions, with their messages, notes and callbacks, move to \
         this contact and its email and phone are kept here; nothing is deleted.</p></section>"
    ))
}

/// The name in a contact snapshot (a merge's source as it was).
fn snapshot_name(s: &Value) -> String {
    match (opt(s, "firstName"), opt(s, "lastName")) {
        (Some(f), Some(l)) => format!("{f} {l}"),
        (Some(n), None) | (None, Some(n)) => n.to_owned(),
        (None, None) => opt(s, "email")
            .or_else(|| opt(s, "phone"))
            .unwrap_or("a contact")
            .to_owned(),
    }
}

/// One timeline entry (as `GET /api/v1/contacts/{id}` gives it) as a list item: when and
/// what on the first line, the details under it.
fn entry(e: &Value, names: &Names<'_>) -> String {
    let at = e.get("at").and_then(Value::as_i64).unwrap_or(0);
    let widget = names.widget(text(e, "widgetId"));
    let visitor = || {
        format!(
            "<a href=\"/inbox/{}/{}\">{}</a>",
            esc(text(e, "widgetId")),
            esc(text(e, "visitorId")),
            esc(&visitor_label(None, text(e, "visitorId")))
        )
    };
    let (what, body) = match text(e, "type") {
        "session.attached" => (
            "Session attached".to_owned(),
            format!(
                "{} on {} (by {})",
                visitor(),
                esc(widget),
                esc(text(e, "source"))
            ),
        ),
        "visit" => {
            let count = e.get("visitCount").and_then(Value::as_i64).unwrap_or(1);
            let mut parts = vec![format!(
                "{} on {}: {count} visit{}, last seen {}",
                visitor(),
                esc(widget),
                if count == 1 { "" } else { "s" },
                when(e.get("lastSeenAt").and_then(Value::as_i64).unwrap_or(at))
            )];
            parts.push(format!(
                "Came from {}",
                esc(opt(e, "referrer").unwrap_or("direct"))
            ));
            let campaign: Vec<&str> = ["utmSource", "utmMedium", "utmCampaign"]
                .iter()
                .filter_map(|k| opt(e, k))
                .collect();
            if !campaign.is_empty() {
                parts.push(format!("Campaign {}", esc(&campaign.join(" / "))));
            }
            let device: Vec<&str> = ["browser", "os", "device"]
                .iter()
                .filter_map(|k| opt(e, k))
                .collect();
            if !device.is_empty() {
                parts.push(esc(&device.join(" · ")));
            }
            ("First visit".to_owned(), parts.join("<br>"))
        }
        "activity" => {
            let title = e
                .get("data")
                .and_then(|d| d.get("title"))
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty());
            let kind = text(e, "event").replace('_', " ");
            (
                if kind.is_empty() {
                    "Activity".to_owned()
                } else {
                    kind
                },
                opt(e, "url")
                    .map(|u| page_link(u, title))
                    .unwrap_or_default(),
            )
        }
        "message" => {
            let who = match text(e, "sender") {
                "visitor" => "the visitor".to_owned(),
                "operator" => names
                    .user(opt(e, "authorUserId"))
                    .unwrap_or("an operator")
                    .to_owned(),
                "assistant" => "the assistant".to_owned(),
                _ => "automation".to_owned(),
            };
            (format!("Message from {who}"), lines(text(e, "body")))
        }
        "note" => (
            format!(
                "Note by {}{}",
                names
                    .user(opt(e, "authorUserId"))
                    .unwrap_or("a removed user"),
                if text(e, "visibility") == "private" {
                    " (private)"
                } else {
                    ""
                }
            ),
            lines(text(e, "body")),
        ),
        kind @ ("callback" | "lead") => {
            let who: Vec<&str> = ["name", "email", "phone"]
                .iter()
                .filter_map(|k| opt(e, k))
                .collect();
            let mut body = esc(&who.join(" · "));
            if let Some(m) = opt(e, "message") {
                body.push_str(&format!("<br>{}", lines(m)));
            }
            if e.get("voiceNote").is_some_and(|n| !n.is_null()) {
                body.push_str(&format!(
                    "<br><audio controls preload=\"none\" \
                     src=\"/api/v1/widgets/{}/callbacks/{}/voice-note\" aria-label=\"Voice note\"></audio>",
                    esc(text(e, "widgetId")),
                    esc(text(e, "id"))
                ));
            }
            (
                format!(
                    "{} on {}",
                    if kind == "lead" {
                        "Lead"
                    } else {
                        "Callback request"
                    },
                    widget
                ),
                body,
            )
        }
        "merge" => {
            let by = names
                .user(opt(e, "mergedByUserId"))
                .map(|m| format!(" · by {}", esc(m)))
                .unwrap_or_default();
            let moved = e.get("sessionsMoved").and_then(Value::as_i64).unwrap_or(0);
            (
                "Merged in".to_owned(),
                format!(
                    "<a href=\"/contacts/{}\">{}</a>: {}<br>{moved} session{} moved{by}",
                    esc(text(e, "sourceContactId")),
                    esc(&snapshot_name(e.get("source").unwrap_or(&Value::Null))),
                    esc(text(e, "reason")),
                    if moved == 1 { "" } else { "s" },
                ),
            )
        }
        other => (other.replace(['.', '_'], " "), String::new()),
    };
    format!(
        "<li><span class=\"meta\">{} · {}</span>{}</li>",
        when(at),
        esc(&what),
        if body.is_empty() {
            String::new()
        } else {
            format!("<p>{body}</p>")
        }
    )
}
