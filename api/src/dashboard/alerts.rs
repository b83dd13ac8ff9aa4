//! `/settings/alerts`: the signed-in user's own alert rules (every role: agents answer the
//! calls), each with its channel, events, widgets, state (on, off, failing) and buttons to
//! send a test, turn it off or on and delete it; their latest alerts with what became of each
//! (delivered, pending, failed with the server's answer, suppressed and why); and a form for a
//! new ntfy alert (server, topic, access token, priority, events, widgets the user sees,
//! grouping window, quiet hours in a time zone, a page or campaign filter for visitors).
//!
//! Everything goes through `/api/v1/alert-rules` (`/assets/account.js`, `data-kind="alert"`
//! builds the nested JSON). Reads are bounded: at most 50 rules, the latest
//! [`ALERTS_SHOWN`] alerts of each, of which the newest [`ALERTS_SHOWN`] are listed.

use axum::extract::State;
use axum::response::Response;
use ringside_storage::{AlertDelivery, AlertRule, Widget};

use super::home::my_widgets;
use super::page::{table, when, Viewer};
use crate::extract::html_escape as esc;
use crate::{ApiError, AppState};

/// The navigation entry (and address) of the page.
const NAV: &str = "/settings/alerts";
/// Alerts listed.
const ALERTS_SHOWN: i64 = 30;

/// The events offered, in the words of the people who get them.
const EVENTS: &[(&str, &str)] = &[
    ("call.requested", "A call rings"),
    ("call.missed", "A call is missed"),
    ("call.unavailable", "A call comes while no one is available"),
    ("chat.message.created", "A visitor writes in the chat"),
    ("visitor.connected", "A visitor arrives"),
    (
        "callback.submitted",
        "A callback request, lead or voice note",
    ),
    ("conversation.assigned", "A conversation is assigned"),
    ("usage.updated", "Usage passes a limit's threshold"),
];

fn event_label(e: &str) -> String {
    EVENTS
        .iter()
        .find(|(k, _)| *k == e)
        .map_or_else(|| format!("<code>{}</code>", esc(e)), |(_, l)| esc(l))
}

fn widgets_cell(r: &AlertRule, widgets: &[Widget]) -> String {
    match &r.widget_ids {
        None => "Every widget you see".into(),
        Some(ids) => ids
            .iter()
            .map(|id| {
                widgets.iter().find(|w| &w.id == id).map_or_else(
                    || "<span class=\"hint\">a widget you no longer see</span>".into(),
                    |w| esc(&w.name),
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn channel_cell(r: &AlertRule) -> String {
    let s = |k: &str| r.channel.get(k).and_then(|v| v.as_str()).unwrap_or("");
    match r.channel_type.as_str() {
        "ntfy" => format!(
            "ntfy topic <code>{}</code><br>on {}{}",
            esc(s("topic")),
            esc(s("url")),
            if r.secret_sealed.is_some() {
                " <span class=\"hint\">(with access token)</span>"
            } else {
                ""
            }
        ),
        "email" if r.channel["digest"].as_bool() == Some(true) => format!(
            "Email to {}<br><span class=\"hint\">a daily summary at {} ({})</span>",
            esc(s("address")),
            esc(s("digestAt")),
            esc(s("timeZone"))
        ),
        "email" => format!("Email to {}", esc(s("address"))),
        "webpush" => format!(
            "Browser notifications<br><span class=\"hint\">through {}</span>",
            esc(&reqwest::Url::parse(s("endpoint"))
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default())
        ),
        other => esc(other),
    }
}

fn state_cell(r: &AlertRule) -> String {
    let mut out = if r.enabled {
        "<span class=\"badge on\">on</span>".to_owned()
    } else {
        "<span class=\"badge off\">off</span>".to_owned()
    };
    if r.failing {
        out.push_str(
            " <span class=\"badge off\">failing</span> <span class=\"hint\">the last alert could not be delivered</span>",
        );
    }
    if let Some(q) = &r.quiet {
        out.push_str(&format!(
            "<br><span class=\"hint\">quiet {}–{} ({})</span>",
            esc(&q.from),
            esc(&q.to),
            esc(&q.time_zone)
        ));
    }
    out
}

fn delivery_state(d: &AlertDelivery) -> String {
    let badge = match d.status.as_str() {
        "delivered" => "<span class=\"badge on\">delivered</span>",
        "failed" => "<span class=\"badge off\">failed</span>",
        "suppressed" => "<span class=\"badge\">suppressed</span>",
        _ => "<span class=\"badge\">pending</span>",
    };
    let detail = match (&d.last_error, d.last_status_code) {
        (Some(e), _) => format!(" <span class=\"hint\">{}</span>", esc(e)),
        (None, Some(c)) => format!(" <span class=\"hint\">HTTP {c}</span>"),
        (None, None) => String::new(),
    };
    format!("{badge}{detail}")
}

fn rule_actions(r: &AlertRule) -> String {
    let id = esc(&r.id);
    let name = esc(&r.name);
    let (toggle, body) = if r.enabled {
        ("Turn off", "{&quot;enabled&quot;:false}")
    } else {
        ("Turn on", "{&quot;enabled&quot;:true}")
    };
    let test = if ringside_storage::QUEUED_ALERT_CHANNELS.contains(&r.channel_type.as_str()) {
        format!(
            "<button type=\"button\" class=\"secondary\" data-method=\"POST\" \
             data-url=\"/api/v1/alert-rules/{id}/test\" data-then=\"{NAV}\" \
             aria-label=\"Send test alert of {name}\">Send test</button>"
        )
    } else {
        String::new()
    };
    format!(
        "<div class=\"actions\">{test}\
         <button type=\"button\" class=\"secondary\" data-method=\"PATCH\" data-url=\"/api/v1/alert-rules/{id}\" \
         data-body=\"{body}\" data-then=\"{NAV}\" aria-label=\"{toggle} {name}\">{toggle}</button>\
         <button type=\"button\" class=\"danger\" data-method=\"DELETE\" data-url=\"/api/v1/alert-rules/{id}\" \
         data-then=\"{NAV}\" data-confirm=\"Delete the alert {name}? Its log goes with it.\" \
         aria-label=\"Delete {name}\">Delete</button></div>"
    )
}

/// One checkbox per event (the calls and chats ticked).
fn event_boxes() -> String {
    EVENTS
        .iter()
        .map(|(e, l)| {
            format!(
                "<label><input type=\"checkbox\" name=\"events\" value=\"{e}\"{}> {l}</label>",
                if matches!(*e, "call.requested" | "chat.message.created") {
                    " checked"
                } else {
                    ""
                }
            )
        })
        .collect()
}

/// The form that turns on alerts in this browser (Web Push with the server's key).
fn push_form(key: &str) -> String {
    format!(
        "<section class=\"card\" aria-labelledby=\"push-h\"><h2 id=\"push-h\">Alerts in this browser</h2>\
         <p class=\"hint\">Notifications on this computer or phone, even with the dashboard closed. \
         The browser asks you to allow them.</p>\
         <form data-url=\"/api/v1/alert-rules\" data-kind=\"push\" data-key=\"{key}\" data-then=\"{NAV}\">\
         <label for=\"pu-name\">Name</label>\
         <input id=\"pu-name\" name=\"name\" type=\"text\" maxlength=\"120\" required value=\"This browser\">\
         <fieldset><legend>Tell me when</legend>{events}</fieldset>\
         <div class=\"actions\"><button type=\"submit\">Allow alerts in this browser</button></div></form></section>",
        key = esc(key),
        events = event_boxes()
    )
}

/// The form of a new email alert (each alert, or one summary a day).
fn email_form(address: &str) -> String {
    format!(
        "<section class=\"card\" aria-labelledby=\"mail-h\"><h2 id=\"mail-h\">New alert by email</h2>\
         <form data-url=\"/api/v1/alert-rules\" data-kind=\"email-alert\" data-then=\"{NAV}\">\
         <label for=\"em-name\">Name</label>\
         <input id=\"em-name\" name=\"name\" type=\"text\" maxlength=\"120\" required value=\"My email\">\
         <label for=\"em-address\">Email address</label>\
         <input id=\"em-address\" name=\"address\" type=\"email\" maxlength=\"254\" required value=\"{address}\">\
         <fieldset><legend>Tell me when</legend>{events}</fieldset>\
         <fieldset><legend>How often</legend>\
         <label><input type=\"radio\" name=\"often\" value=\"each\" checked> A mail for each alert</label>\
         <label><input type=\"radio\" name=\"often\" value=\"digest\"> One summary a day</label>\
         <label for=\"em-at\">Summary at</label><input id=\"em-at\" name=\"digestAt\" type=\"time\" value=\"08:00\">\
         <label for=\"em-tz\">Time zone</label>\
         <input id=\"em-tz\" name=\"timeZone\" type=\"text\" maxlength=\"64\" data-local-tz placeholder=\"Europe/Lisbon\"></fieldset>\
         <div class=\"actions\"><button type=\"submit\">Create email alert</button></div></form></section>",
        address = esc(address),
        events = event_boxes()
    )
}

/// The form of a new ntfy alert.
fn new_form(widgets: &[Widget]) -> String {
    let events = event_boxes();
    let widget_part = if widgets.len() > 1 {
        let boxes: String = widgets
            .iter()
            .map(|w| {
                format!(
                    "<label><input type=\"checkbox\" name=\"widgetIds\" value=\"{}\"> {}</label>",
                    esc(&w.id),
                    esc(&w.name)
                )
            })
            .collect();
        format!(
            "<fieldset><legend>Widgets</legend>\
             <label><input type=\"radio\" name=\"scope\" value=\"all\" checked> Every widget I see (now and later)</label>\
             <label><input type=\"radio\" name=\"scope\" value=\"some\"> Only these:</label>{boxes}</fieldset>"
        )
    } else {
        "<input type=\"hidden\" name=\"scope\" value=\"all\">".to_owned()
    };
    format!(
        "<section class=\"card\" aria-labelledby=\"new-h\"><h2 id=\"new-h\">New alert on your phone (ntfy)</h2>\
         <p class=\"hint\">Install the ntfy app (Android, iOS) or open ntfy in a browser, subscribe to a topic \
         only you know, and name it here. A self-hosted ntfy server works too.</p>\
         <form data-url=\"/api/v1/alert-rules\" data-kind=\"alert\" data-then=\"{NAV}\">\
         <label for=\"al-name\">Name</label>\
         <input id=\"al-name\" name=\"name\" type=\"text\" maxlength=\"120\" required value=\"My phone\">\
         <fieldset><legend>Tell me when</legend>{events}</fieldset>{widget_part}\
         <label for=\"al-url\">ntfy server</label>\
         <input id=\"al-url\" name=\"url\" type=\"url\" maxlength=\"2048\" required value=\"https://ntfy.sh\">\
         <label for=\"al-topic\">Topic</label>\
         <input id=\"al-topic\" name=\"topic\" type=\"text\" maxlength=\"64\" required pattern=\"[A-Za-z0-9_\\-]{{1,64}}\" \
         title=\"1-64 letters, digits, _ or -\" placeholder=\"e.g. acme-desk-7f3k\">\
         <label for=\"al-token\">Access token <span class=\"hint\">(optional, for a protected topic)</span></label>\
         <input id=\"al-token\" name=\"token\" type=\"password\" maxlength=\"200\" autocomplete=\"off\" placeholder=\"tk_...\">\
         <label for=\"al-priority\">Priority</label>\
         <select id=\"al-priority\" name=\"priority\"><option value=\"\" selected>By event (a ringing call is urgent)</option>\
         <option value=\"5\">5: urgent</option><option value=\"4\">4: high</option><option value=\"3\">3: default</option>\
         <option value=\"2\">2: low</option><option value=\"1\">1: min</option></select>\
         <label for=\"al-group\">Group alerts of one kind within (seconds)</label>\
         <input id=\"al-group\" name=\"groupSecs\" type=\"number\" min=\"0\" max=\"3600\" value=\"60\">\
         <p class=\"hint\">The first alert of a burst leaves at once; the ones after it within this time come as one.</p>\
         <fieldset><legend>Quiet hours <span class=\"hint\">(optional)</span></legend>\
         <label for=\"al-from\">From</label><input id=\"al-from\" name=\"quietFrom\" type=\"time\">\
         <label for=\"al-to\">To</label><input id=\"al-to\" name=\"quietTo\" type=\"time\">\
         <label for=\"al-tz\">Time zone</label>\
         <input id=\"al-tz\" name=\"timeZone\" type=\"text\" maxlength=\"64\" data-local-tz placeholder=\"Europe/Lisbon\"></fieldset>\
         <fieldset><legend>Only visitors <span class=\"hint\">(for “A visitor arrives”; optional)</span></legend>\
         <label for=\"al-page\">on a page whose address contains</label>\
         <input id=\"al-page\" name=\"pageContains\" type=\"text\" maxlength=\"200\" placeholder=\"/pricing\">\
         <label for=\"al-campaign\">from the campaign (utm_campaign)</label>\
         <input id=\"al-campaign\" name=\"campaign\" type=\"text\" maxlength=\"200\" placeholder=\"spring-sale\"></fieldset>\
         <div class=\"actions\"><button type=\"submit\">Create alert</button></div></form></section>"
    )
}

/// `GET /settings/alerts`.
pub(crate) async fn alerts(State(st): State<AppState>, v: Viewer) -> Result<Response, ApiError> {
    let (tenant, user) = (&v.auth.tenant_id, &v.auth.user_id);
    let rules = st.store.list_alert_rules(tenant, user).await?;
    let widgets = my_widgets(&st, &v).await?;
    let rows: Vec<Vec<String>> = rules
        .iter()
        .map(|r| {
            vec![
                esc(&r.name),
                // One element per cell: a phone's stacked table lays a cell's children side
                // by side.
                format!(
                    "<span>{}</span>",
                    r.events
                        .iter()
                        .map(|e| event_label(e))
                        .collect::<Vec<_>>()
                        .join("<br>")
                ),
                format!("<span>{}</span>", widgets_cell(r, &widgets)),
                format!("<span>{}</span>", channel_cell(r)),
                format!("<span>{}</span>", state_cell(r)),
                rule_actions(r),
            ]
        })
        .collect();
    let list = table(
        "Your alerts",
        &["Alert", "When", "Widgets", "Where", "State", "Actions"],
        &rows,
        "No alert yet: create one below.",
    );
    let mut recent: Vec<(String, AlertDelivery)> = Vec::new();
    for r in &rules {
        for d in st
            .store
            .list_alert_deliveries(tenant, user, &r.id, ALERTS_SHOWN)
            .await?
        {
            recent.push((r.name.clone(), d));
        }
    }
    recent.sort_by(|a, b| (b.1.created_at, &b.1.id).cmp(&(a.1.created_at, &a.1.id)));
    recent.truncate(ALERTS_SHOWN as usize);
    let log_rows: Vec<Vec<String>> = recent
        .iter()
        .map(|(name, d)| {
            vec![
                when(d.created_at),
                esc(name),
                if d.event_type == ringside_storage::TEST_ALERT {
                    "Test".to_owned()
                } else {
                    event_label(&d.event_type)
                },
                d.event_count.to_string(),
                format!("<span>{}</span>", delivery_state(d)),
                d.attempts.to_string(),
            ]
        })
        .collect();
    let log = table(
        "Latest alerts",
        &["Queued", "Alert", "Event", "Events", "Outcome", "Attempts"],
        &log_rows,
        "No alert sent yet.",
    );
    let main = format!(
        "<p>Alerts tell you of calls, chats and visitors wherever you are, from your own rules: \
         they are yours alone, and never tell of a widget you do not see. A server that fails \
         is retried for about a minute, then the alert is marked failed and the rule \
         <em>failing</em> until an alert gets through.</p>{list}{log}{push}{form}{mail}",
        push = push_form(&st.vapid.public_b64()),
        form = new_form(&widgets),
        mail = email_form(&v.user.email)
    );
    Ok(v.page("Alerts", NAV, &main))
}
