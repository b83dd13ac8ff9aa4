//! The integration settings pages: `/settings/webhooks` (the tenant's signed webhooks, a form
//! to create one, and per webhook a test event, a new signing secret and delete),
//! `/settings/webhooks/{id}` (one webhook's settings, a form to change them, and its latest
//! deliveries with their retry state), and `/settings/sip` (SIP extensions, the accounts desk
//! phones register as, with their live registrations; SIP trunks to carriers and PBXs; a form
//! to create each and buttons to delete them).
//!
//! Owners and admins manage these; agents see a page saying so and nothing else (the API
//! refuses them all the same). Secrets are never read back: a webhook's signing secret is
//! shown once, from the answer of create or rotate-secret (`/assets/account.js`, forms with
//! `data-kind="secret"` and a `data-show` region), and SIP passwords are only ever written.
//!
//! Every query is bounded: webhooks, extensions, trunks and widgets are few per tenant (webhooks
//! are counted against the plan's limit), the delivery log reads its latest
//! [`DELIVERIES_SHOWN`] rows, and registrations are looked up (one indexed query each) for the
//! first [`REGISTRATION_LOOKUPS`] extensions only.

use axum::extract::{Path, State};
use axum::response::Response;
use ringside_storage::{
    now_ms, Binding, DeliveryStatus, Extension, StorageError, Trunk, Webhook, WebhookDelivery,
    Widget, WEBHOOK_EVENTS,
};

use super::page::{not_found, table, when, Viewer};
use crate::extract::html_escape as esc;
use crate::{ApiError, AppState};

/// The navigation entry of the webhook pages.
const WEBHOOKS_NAV: &str = "/settings/webhooks";

/// The navigation entry of the SIP page.
const SIP_NAV: &str = "/settings/sip";

/// The title of the SIP page.
const SIP_TITLE: &str = "SIP phones and trunks";

/// Deliveries a webhook's page lists, newest first.
const DELIVERIES_SHOWN: i64 = 50;

/// Extensions whose live registrations the SIP page looks up; later ones say where to look.
const REGISTRATION_LOOKUPS: usize = 50;

// ---------------------------------------------------------------- webhooks

/// `GET /settings/webhooks`: the tenant's webhooks with their actions, and a form to create
/// one whose signing secret is shown once.
pub(crate) async fn webhooks(State(st): State<AppState>, v: Viewer) -> Result<Response, ApiError> {
    if !v.auth.role.allows("webhooks:write") {
        return Ok(managers_only(&v, "Webhooks", WEBHOOKS_NAV, "webhooks"));
    }
    let hooks = st.store.list_webhooks(&v.auth.tenant_id).await?;
    let widgets = st.store.list_widgets(&v.auth.tenant_id).await?;
    let rows: Vec<Vec<String>> = hooks
        .iter()
        .enumerate()
        .map(|(n, w)| {
            let id = esc(&w.id);
            let name = esc(&w.name);
            vec![
                format!("<a href=\"/settings/webhooks/{id}\">{name}</a>"),
                format!("<code>{}</code>", esc(&w.url)),
                events_cell(&w.events),
                widget_names(&w.widget_ids, &widgets, "All widgets"),
                webhook_state(w),
                when(w.created_at),
                format!(
                    "<div class=\"actions\">\
                     <button type=\"button\" class=\"secondary\" data-method=\"POST\" \
                     data-url=\"/api/v1/webhooks/{id}/test\" data-then=\"/settings/webhooks/{id}\" \
                     aria-label=\"Send a test event to {name}\">Send test</button>\
                     <button type=\"button\" class=\"danger\" data-method=\"DELETE\" \
                     data-url=\"/api/v1/webhooks/{id}\" \
                     data-confirm=\"Delete the webhook {name}? Its delivery log goes with it.\" \
                     aria-label=\"Delete the webhook {name}\">Delete</button></div>{}",
                    rotate_form(w, &format!("rot-{n}"))
                ),
            ]
        })
        .collect();
    let list = table(
        "",
        &[
            "Webhook", "Receiver", "Events", "Widgets", "Status", "Created", "Actions",
        ],
        &rows,
        "No webhook yet.",
    );
    let main = format!(
        "<p>Ringside posts the events you choose to your receiver as JSON, signed with the \
         webhook's secret (header <code>X-Ringside-Signature</code>, HMAC-SHA256). Failed \
         deliveries are retried; each webhook's page shows its delivery log.</p>{list}\
         <section class=\"card\" aria-labelledby=\"new-h\"><h2 id=\"new-h\">New webhook</h2>\
         <form data-url=\"/api/v1/webhooks\" data-kind=\"secret\" data-show=\"#new-secret\">\
         <label for=\"wh-name\">Name</label>\
         <input id=\"wh-name\" name=\"name\" type=\"text\" maxlength=\"120\" required placeholder=\"e.g. CRM sync\">\
         <label for=\"wh-url\">Receiver URL (https)</label>\
         <input id=\"wh-url\" name=\"url\" type=\"url\" maxlength=\"2048\" required pattern=\"https://.+\" \
         title=\"An address starting with https://\" placeholder=\"https://example.com/hooks/ringside\">\
         <fieldset><legend>Events</legend>{events}</fieldset>{widgets}\
         <div class=\"actions\"><button type=\"submit\">Create webhook</button></div></form>\
         <div id=\"new-secret\" hidden><p><strong>The new webhook's signing secret</strong> \
         (shown once; store it now):</p><p class=\"secret\" tabindex=\"-1\"></p>\
         <p><a href=\"/settings/webhooks\">Done: show it in the list</a></p></div></section>",
        events = event_boxes(&[]),
        widgets = widget_filter(&widgets, &[]),
    );
    Ok(v.page("Webhooks", WEBHOOKS_NAV, &main))
}

/// `GET /settings/webhooks/{id}`: one webhook's settings with a form to change them, its
/// actions, and its latest deliveries (event, status, attempts, next attempt, last answer).
pub(crate) async fn webhook(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !v.auth.role.allows("webhooks:write") {
        return Ok(managers_only(&v, "Webhooks", WEBHOOKS_NAV, "webhooks"));
    }
    if !crate::conversations::plain_id(&id) {
        return Ok(not_found(&v, "No such webhook."));
    }
    let w = match st.store.get_webhook(&v.auth.tenant_id, &id).await {
        Ok(w) => w,
        Err(StorageError::NotFound) => return Ok(not_found(&v, "No such webhook.")),
        Err(e) => return Err(e.into()),
    };
    let widgets = st.store.list_widgets(&v.auth.tenant_id).await?;
    let deliveries = st
        .store
        .list_webhook_deliveries(&v.auth.tenant_id, &w.id, DELIVERIES_SHOWN)
        .await?;
    let hid = esc(&w.id);
    let name = esc(&w.name);
    let facts = format!(
        "<dl class=\"facts\"><dt>Receiver</dt><dd><code>{}</code></dd>\
         <dt>Events</dt><dd>{}</dd><dt>Widgets</dt><dd>{}</dd><dt>Status</dt><dd>{}</dd>\
         <dt>Created</dt><dd>{}</dd><dt>Changed</dt><dd>{}</dd></dl>",
        esc(&w.url),
        events_cell(&w.events),
        widget_names(&w.widget_ids, &widgets, "All widgets"),
        webhook_state(&w),
        when(w.created_at),
        when(w.updated_at),
    );
    // Turning on and off are buttons, not a box of the form below: saving the form must not
    // overwrite why the server turned a webhook off (its receiver answered 410 Gone, say).
    let toggle = if w.enabled {
        format!(
            "<button type=\"button\" class=\"secondary\" data-method=\"PATCH\" \
             data-url=\"/api/v1/webhooks/{hid}\" data-body=\"{}\" \
             data-confirm=\"Turn off {name}? No delivery is made until it is on again.\">Turn off</button>",
            esc("{\"enabled\":false}")
        )
    } else {
        format!(
            "<button type=\"button\" data-method=\"PATCH\" data-url=\"/api/v1/webhooks/{hid}\" \
             data-body=\"{}\">Turn on</button>",
            esc("{\"enabled\":true}")
        )
    };
    let actions = format!(
        "<div class=\"actions\">\
         <button type=\"button\" class=\"secondary\" data-method=\"POST\" \
         data-url=\"/api/v1/webhooks/{hid}/test\">Send a test event</button>{toggle}\
         <button type=\"button\" class=\"danger\" data-method=\"DELETE\" data-url=\"/api/v1/webhooks/{hid}\" \
         data-then=\"/settings/webhooks\" \
         data-confirm=\"Delete the webhook {name}? Its delivery log goes with it.\">Delete</button></div>{}{}",
        rotate_form(&w, "rot-one"),
        if w.enabled {
            ""
        } else {
            "<p class=\"hint\">While it is off, deliveries (tests included) wait; they go out \
             when it is on again.</p>"
        },
    );
    let edit = format!(
        "<form data-url=\"/api/v1/webhooks/{hid}\" data-method=\"PATCH\">\
         <label for=\"e-name\">Name</label>\
         <input id=\"e-name\" name=\"name\" type=\"text\" maxlength=\"120\" required value=\"{name}\">\
         <label for=\"e-url\">Receiver URL</label>\
         <input id=\"e-url\" name=\"url\" type=\"url\" maxlength=\"2048\" required value=\"{}\">\
         <fieldset><legend>Events</legend>{}</fieldset>{}\
         <div class=\"actions\"><button type=\"submit\">Save changes</button></div></form>",
        esc(&w.url),
        event_boxes(&w.events),
        widget_filter(&widgets, &w.widget_ids),
    );
    let rows: Vec<Vec<String>> = deliveries
        .iter()
        .map(|d| {
            vec![
                format!("<code>{}</code>", esc(&d.event_type)),
                when(d.created_at),
                delivery_state(d),
                d.attempts.to_string(),
                if d.status == DeliveryStatus::Pending {
                    when(d.next_attempt_at)
                } else {
                    "—".into()
                },
                last_answer(d),
            ]
        })
        .collect();
    let log = table(
        &format!("The latest {DELIVERIES_SHOWN} deliveries, newest first"),
        &[
            "Event",
            "Created",
            "Status",
            "Attempts",
            "Next attempt",
            "Last answer",
        ],
        &rows,
        "No delivery yet: send a test event.",
    );
    let main = format!(
        "<p class=\"hint\"><a href=\"/settings/webhooks\">Webhooks</a> › {name}</p>\
         <section class=\"card\" aria-labelledby=\"s-h\"><h2 id=\"s-h\">Settings</h2>{facts}{actions}</section>\
         <section class=\"card\" aria-labelledby=\"e-h\"><h2 id=\"e-h\">Change</h2>{edit}</section>\
         <h2>Deliveries</h2>{log}"
    );
    Ok(v.page(&w.name, WEBHOOKS_NAV, &main))
}

/// A webhook's rotate-secret control: a disclosure (the old secret stops working at once, so
/// it takes a second click) with the form, and the region `region` (an element id) where
/// `/assets/account.js` shows the new secret once.
fn rotate_form(w: &Webhook, region: &str) -> String {
    format!(
        "<details><summary>New secret<span class=\"visually-hidden\"> for {name}</span></summary>\
         <form data-url=\"/api/v1/webhooks/{id}/rotate-secret\" data-kind=\"secret\" data-show=\"#{region}\">\
         <p class=\"hint\">The current secret stops working at once: update your receiver right after.</p>\
         <button type=\"submit\" class=\"secondary\">Make a new secret</button></form>\
         <div id=\"{region}\" hidden><p><strong>New signing secret</strong> (shown once; store it now):</p>\
         <p class=\"secret\" tabindex=\"-1\"></p></div></details>",
        id = esc(&w.id),
        name = esc(&w.name),
    )
}

/// The events a webhook subscribes to, or "All events".
fn events_cell(events: &[String]) -> String {
    if WEBHOOK_EVENTS.iter().all(|e| events.iter().any(|x| x == e)) {
        return "All events".into();
    }
    events
        .iter()
        .map(|e| format!("<code>{}</code>", esc(e)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One checkbox per event type (`events`, a JSON list), those in `checked` ticked.
fn event_boxes(checked: &[String]) -> String {
    WEBHOOK_EVENTS
        .iter()
        .map(|e| {
            format!(
                "<label><input type=\"checkbox\" name=\"events\" value=\"{e}\"{}> <code>{e}</code></label>",
                if checked.iter().any(|c| c == e) {
                    " checked"
                } else {
                    ""
                }
            )
        })
        .collect()
}

/// The widget filter of a webhook form (`widgetIds`, a JSON list; none ticked: every widget),
/// or nothing when the tenant has no widget (the field is then left out).
fn widget_filter(widgets: &[Widget], checked: &[String]) -> String {
    if widgets.is_empty() {
        return String::new();
    }
    format!(
        "<fieldset><legend>Only for these widgets</legend>{}\
         <p class=\"hint\">None ticked: events of every widget. Events of no widget (such as \
         <code>usage.updated</code>) always go.</p></fieldset>",
        widget_boxes(widgets, checked)
    )
}

/// Whether a webhook delivers, and why not when it does not.
fn webhook_state(w: &Webhook) -> String {
    if w.enabled {
        "<span class=\"badge on\">on</span>".into()
    } else {
        format!(
            "<span class=\"badge off\">off</span>{}",
            w.disabled_reason
                .as_deref()
                .map(|r| format!(" <span class=\"hint\">{}</span>", esc(r)))
                .unwrap_or_default()
        )
    }
}

/// A delivery's state: delivered (when), pending, failed or abandoned.
fn delivery_state(d: &WebhookDelivery) -> String {
    match d.status {
        DeliveryStatus::Delivered => format!(
            "<span class=\"badge on\">delivered</span>{}",
            d.delivered_at
                .map(|t| format!(" <span class=\"hint\">{}</span>", when(t)))
                .unwrap_or_default()
        ),
        DeliveryStatus::Pending => "<span class=\"badge\">pending</span>".into(),
        DeliveryStatus::Failed => "<span class=\"badge off\">failed</span>".into(),
        DeliveryStatus::Abandoned => "<span class=\"badge off\">abandoned</span>".into(),
    }
}

/// What the receiver last answered: the HTTP status and/or the error of the last attempt.
fn last_answer(d: &WebhookDelivery) -> String {
    let code = d.last_status_code.map(|c| format!("HTTP {c}"));
    let error = d
        .last_error
        .as_deref()
        .filter(|e| !e.is_empty())
        .map(|e| format!("<span class=\"hint\">{}</span>", esc(e)));
    match (code, error) {
        (Some(c), Some(e)) => format!("{c}<br>{e}"),
        (Some(c), None) => c,
        (None, Some(e)) => e,
        (None, None) => "—".into(),
    }
}

// ---------------------------------------------------------------- SIP

/// `GET /settings/sip`: SIP extensions (with their registered phones) and trunks, each with
/// a form to create one; passwords are never shown.
pub(crate) async fn sip(State(st): State<AppState>, v: Viewer) -> Result<Response, ApiError> {
    if !v.auth.role.allows("sip:write") {
        return Ok(managers_only(
            &v,
            SIP_TITLE,
            SIP_NAV,
            "SIP phones and trunks",
        ));
    }
    let tenant = &v.auth.tenant_id;
    let widgets = st.store.list_widgets(tenant).await?;
    let extensions = st.store.list_extensions(tenant).await?;
    let trunks = st.store.list_trunks(tenant).await?;
    let now = now_ms();
    let mut ext_rows = Vec::with_capacity(extensions.len());
    for (n, e) in extensions.iter().enumerate() {
        let phones = if n < REGISTRATION_LOOKUPS {
            registrations(&st.store.extension_bindings(&e.id, now).await?)
        } else {
            "<span class=\"hint\">not looked up here: see <code>GET /api/v1/sip/extensions</code></span>"
                .into()
        };
        ext_rows.push(vec![
            format!("<code>{}</code>", esc(&e.username)),
            if e.display_name.is_empty() {
                "—".into()
            } else {
                esc(&e.display_name)
            },
            widget_names(&e.widget_ids, &widgets, "No widget"),
            phones,
            when(e.created_at),
            extension_actions(e, n, &widgets),
        ]);
    }
    let ext_list = table(
        "",
        &[
            "Username",
            "Display name",
            "Rings for",
            "Registered phones",
            "Created",
            "Actions",
        ],
        &ext_rows,
        "No extension yet.",
    );
    let trunk_rows: Vec<Vec<String>> = trunks
        .iter()
        .map(|t| {
            let name = esc(&t.name);
            vec![
                format!(
                    "{name}<br><span class=\"hint\">id <code>{}</code></span>",
                    esc(&t.id)
                ),
                trunk_inbound(t),
                trunk_outbound(t),
                t.allowed_destinations
                    .as_deref()
                    .filter(|p| !p.trim().is_empty())
                    .map(|p| format!("<code>{}</code>", esc(p)))
                    .unwrap_or_else(|| "<span class=\"hint\">nothing</span>".into()),
                when(t.created_at),
                format!(
                    "<button type=\"button\" class=\"danger\" data-method=\"DELETE\" \
                     data-url=\"/api/v1/sip/trunks/{}\" \
                     data-confirm=\"Delete the trunk {name}? Calls through it stop at once.\" \
                     aria-label=\"Delete the trunk {name}\">Delete</button>",
                    esc(&t.id)
                ),
            ]
        })
        .collect();
    let trunk_list = table(
        "",
        &[
            "Trunk", "Inbound", "Outbound", "May dial", "Created", "Actions",
        ],
        &trunk_rows,
        "No trunk yet.",
    );
    let ext_widgets = if widgets.is_empty() {
        "<p class=\"hint\">No widget yet: <a href=\"/widgets\">create one</a>, then choose which \
         widgets ring this phone.</p>"
            .to_owned()
    } else {
        format!(
            "<fieldset><legend>Rings for these widgets</legend>{}</fieldset>",
            widget_boxes(&widgets, &[])
        )
    };
    let main = format!(
        "<h2>Extensions</h2>\
         <p>Desk and softphones register with an extension's username and password \
         (realm <code>{realm}</code>); they ring for the widgets you choose when the widget's \
         call settings ring SIP phones.</p>{ext_list}\
         <section class=\"card\" aria-labelledby=\"x-h\"><h2 id=\"x-h\">New extension</h2>\
         <form data-url=\"/api/v1/sip/extensions\" data-null-empty=\"displayName\">\
         <label for=\"x-user\">Username</label>\
         <input id=\"x-user\" name=\"username\" type=\"text\" maxlength=\"32\" required \
         pattern=\"[A-Za-z0-9._+\\-]+\" autocomplete=\"off\" spellcheck=\"false\" placeholder=\"e.g. desk-101\">\
         <p class=\"hint\">1-32 letters, digits and <code>. _ - +</code>; unique on this server.</p>\
         <label for=\"x-pass\">Password</label>\
         <input id=\"x-pass\" name=\"password\" type=\"password\" minlength=\"8\" maxlength=\"128\" required \
         autocomplete=\"new-password\">\
         <p class=\"hint\">8-128 characters. It is never shown again.</p>\
         <label for=\"x-name\">Display name (optional)</label>\
         <input id=\"x-name\" name=\"displayName\" type=\"text\" maxlength=\"64\">\
         {ext_widgets}\
         <div class=\"actions\"><button type=\"submit\">Create extension</button></div></form></section>\
         <h2>Trunks</h2>\
         <p>A trunk connects a carrier or a PBX: calls from its trusted networks or its digest \
         login come in, and calls to the numbers it may dial go out to its host.</p>{trunk_list}\
         <section class=\"card\" aria-labelledby=\"t-h\"><h2 id=\"t-h\">New trunk</h2>\
         <form data-url=\"/api/v1/sip/trunks\" data-null-empty>\
         <label for=\"t-name\">Name</label>\
         <input id=\"t-name\" name=\"name\" type=\"text\" maxlength=\"64\" required placeholder=\"e.g. Office PBX\">\
         <h3>Inbound</h3>\
         <label for=\"t-cidrs\">Trusted source networks (one per line, optional)</label>\
         <textarea id=\"t-cidrs\" name=\"inboundCidrs\" rows=\"2\" data-list \
         placeholder=\"203.0.113.10&#10;198.51.100.0/24\"></textarea>\
         <p class=\"hint\">Addresses or networks no wider than /16 (IPv6: /48). Calls from them \
         are trusted without a password.</p>\
         <label for=\"t-iuser\">Digest username (optional)</label>\
         <input id=\"t-iuser\" name=\"inboundUsername\" type=\"text\" maxlength=\"32\" \
         pattern=\"[A-Za-z0-9._+\\-]+\" autocomplete=\"off\" spellcheck=\"false\">\
         <label for=\"t-ipass\">Digest password (with the username)</label>\
         <input id=\"t-ipass\" name=\"inboundPassword\" type=\"password\" minlength=\"8\" maxlength=\"128\" \
         autocomplete=\"new-password\">\
         <h3>Outbound</h3>\
         <label for=\"t-host\">Host calls go to (optional)</label>\
         <input id=\"t-host\" name=\"outboundHost\" type=\"text\" maxlength=\"253\" spellcheck=\"false\" \
         placeholder=\"sip.carrier.example\">\
         <label for=\"t-port\">Port</label>\
         <input id=\"t-port\" name=\"outboundPort\" type=\"number\" min=\"1\" max=\"65535\" placeholder=\"5060\" class=\"short\">\
         <label for=\"t-transport\">Transport</label>\
         <select id=\"t-transport\" name=\"outboundTransport\" class=\"short\">\
         <option value=\"\">udp (default)</option><option value=\"tcp\">tcp</option></select>\
         <label for=\"t-ouser\">Username at the host (optional)</label>\
         <input id=\"t-ouser\" name=\"outboundUsername\" type=\"text\" maxlength=\"255\" autocomplete=\"off\" spellcheck=\"false\">\
         <label for=\"t-opass\">Password at the host</label>\
         <input id=\"t-opass\" name=\"outboundPassword\" type=\"password\" maxlength=\"255\" autocomplete=\"new-password\">\
         <label for=\"t-dest\">Numbers it may dial (comma-separated patterns)</label>\
         <input id=\"t-dest\" name=\"allowedDestinations\" type=\"text\" maxlength=\"4096\" spellcheck=\"false\" \
         placeholder=\"+1NXXNXXXXXX, +4420*\">\
         <p class=\"hint\">Digits with a leading <code>+</code>; <code>X</code> is any digit, \
         <code>N</code> 2-9, a trailing <code>*</code> any further digits. Empty: it dials nothing.</p>\
         <div class=\"actions\"><button type=\"submit\">Create trunk</button></div></form></section>",
        realm = esc(&st.sip_realm),
    );
    Ok(v.page(SIP_TITLE, SIP_NAV, &main))
}

/// An extension's actions: a disclosure with the form to change its password, display name
/// and widgets (an empty password keeps the current one), and delete.
fn extension_actions(e: &Extension, n: usize, widgets: &[Widget]) -> String {
    let id = esc(&e.id);
    let user = esc(&e.username);
    let boxes = if widgets.is_empty() {
        String::new()
    } else {
        format!(
            "<fieldset><legend>Rings for these widgets</legend>{}</fieldset>",
            widget_boxes(widgets, &e.widget_ids)
        )
    };
    format!(
        "<details><summary>Change<span class=\"visually-hidden\"> the extension {user}</span></summary>\
         <form data-url=\"/api/v1/sip/extensions/{id}\" data-method=\"PATCH\" data-null-empty=\"password\">\
         <label for=\"xn-{n}\">Display name</label>\
         <input id=\"xn-{n}\" name=\"displayName\" type=\"text\" maxlength=\"64\" value=\"{}\">\
         <label for=\"xp-{n}\">New password (empty: keep it)</label>\
         <input id=\"xp-{n}\" name=\"password\" type=\"password\" minlength=\"8\" maxlength=\"128\" \
         autocomplete=\"new-password\">{boxes}\
         <button type=\"submit\" class=\"secondary\">Save</button></form></details>\
         <div class=\"actions\"><button type=\"button\" class=\"danger\" data-method=\"DELETE\" \
         data-url=\"/api/v1/sip/extensions/{id}\" \
         data-confirm=\"Delete the extension {user}? Its phones are signed out at once.\" \
         aria-label=\"Delete the extension {user}\">Delete</button></div>",
        esc(&e.display_name),
    )
}

/// An extension's registered phones (contact, transport, source, User-Agent, until when), or
/// "not registered".
fn registrations(bindings: &[Binding]) -> String {
    if bindings.is_empty() {
        return "<span class=\"badge off\">not registered</span>".into();
    }
    bindings
        .iter()
        .map(|b| {
            format!(
                "<code>{}</code><br><span class=\"hint\">{} from {}{} · until {}</span>",
                esc(&b.contact_uri),
                esc(&b.transport),
                esc(&b.source_addr),
                b.user_agent
                    .as_deref()
                    .filter(|u| !u.is_empty())
                    .map(|u| format!(" · {}", esc(u)))
                    .unwrap_or_default(),
                when(b.expires_at),
            )
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

/// Who a trunk lets call in: its trusted networks and its digest login (never the password).
fn trunk_inbound(t: &Trunk) -> String {
    let mut parts = Vec::new();
    if !t.inbound_cidrs.is_empty() {
        parts.push(format!(
            "trusts {}",
            t.inbound_cidrs
                .iter()
                .map(|c| format!("<code>{}</code>", esc(c)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(u) = t.inbound_username.as_deref() {
        parts.push(format!("login <code>{}</code>", esc(u)));
    }
    if parts.is_empty() {
        "<span class=\"hint\">no inbound calls</span>".into()
    } else {
        parts.join("<br>")
    }
}

/// Where a trunk sends calls (host, port, transport, with the defaults the SIP side uses) and
/// whether it logs in there (never the password).
fn trunk_outbound(t: &Trunk) -> String {
    let Some(host) = t.outbound_host.as_deref() else {
        return "<span class=\"hint\">no outbound calls</span>".into();
    };
    let mut s = format!(
        "<code>{}:{}</code> {}",
        esc(host),
        t.outbound_port.unwrap_or(5060),
        esc(t.outbound_transport.as_deref().unwrap_or("udp")),
    );
    if let Some(u) = t.outbound_username.as_deref() {
        s.push_str(&format!(
            "<br><span class=\"hint\">as <code>{}</code>{}</span>",
            esc(u),
            if t.outbound_password.is_some() {
                ", password set"
            } else {
                ""
            }
        ));
    }
    s
}

// ---------------------------------------------------------------- shared

/// The page an agent gets instead of the settings of `what`: who manages them, and no form.
fn managers_only(v: &Viewer, title: &str, active: &str, what: &'static str) -> Response {
    v.page(
        title,
        active,
        &format!(
            "<section class=\"card\"><p>Owners and admins manage {what}.</p>\
             <p class=\"hint\">Ask one of them (see <a href=\"/settings/team\">Team</a>) if \
             something here needs to change.</p></section>"
        ),
    )
}

/// The names of the widgets `ids` (one no longer there: "a removed widget"), or `none` when
/// the list is empty.
fn widget_names(ids: &[String], widgets: &[Widget], none: &str) -> String {
    if ids.is_empty() {
        return esc(none);
    }
    ids.iter()
        .map(|id| {
            widgets
                .iter()
                .find(|w| &w.id == id)
                .map(|w| esc(&w.name))
                .unwrap_or_else(|| "<span class=\"hint\">a removed widget</span>".into())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One checkbox per widget (`widgetIds`, a JSON list), those in `checked` ticked.
fn widget_boxes(widgets: &[Widget], checked: &[String]) -> String {
    widgets
        .iter()
        .map(|w| {
            format!(
                "<label><input type=\"checkbox\" name=\"widgetIds\" value=\"{}\"{}> {}</label>",
                esc(&w.id),
                if checked.contains(&w.id) {
                    " checked"
                } else {
                    ""
                },
                esc(&w.name)
            )
        })
        .collect()
}

/// `GET /settings`: the settings pages, each with what it is for.
pub(crate) async fn index(v: Viewer) -> Result<Response, ApiError> {
    let mut list = String::new();
    for (href, label, what) in super::page::SETTINGS {
        list.push_str(&format!(
            "<li><a href=\"{href}\">{label}</a><p class=\"hint\">{what}</p></li>"
        ));
    }
    Ok(v.page(
        "Settings",
        "/settings",
        &format!("<section class=\"card\"><ul class=\"settings\">{list}</ul></section>"),
    ))
}

/// `GET /settings/canned`: the team's canned replies, a form to add one, delete buttons.
pub(crate) async fn canned(State(st): State<AppState>, v: Viewer) -> Result<Response, ApiError> {
    let can = v.auth.role.allows("messages:write");
    let list = st.store.list_canned_replies(&v.auth.tenant_id).await?;
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|c| {
            vec![
                format!("<code>/{}</code>", esc(&c.shortcut)),
                esc(&c.body).replace('\n', "<br>"),
                // An agent deletes only their own (as the API allows).
                if can
                    && (v.auth.role != ringside_storage::Role::Agent
                        || c.created_by.as_deref() == Some(v.auth.user_id.as_str()))
                {
                    format!(
                        "<button type=\"button\" class=\"danger\" data-method=\"DELETE\" \
                         data-url=\"/api/v1/canned-replies/{}\" data-confirm=\"Delete /{}?\" \
                         aria-label=\"Delete /{}\">Delete</button>",
                        esc(&c.id),
                        esc(&c.shortcut),
                        esc(&c.shortcut)
                    )
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    let mut main = format!(
        "<p>Saved answers: pick one under a chat's reply box, or type its shortcut (<code>/hours</code>) \
         and press Tab.</p>{}",
        table("", &["Shortcut", "Reply", "Actions"], &rows, "No canned reply yet.")
    );
    if can {
        main.push_str(
            "<section class=\"card\" aria-labelledby=\"cn-h\"><h2 id=\"cn-h\">New canned reply</h2>\
             <form data-url=\"/api/v1/canned-replies\">\
             <label for=\"cn-short\">Shortcut</label>\
             <input id=\"cn-short\" name=\"shortcut\" type=\"text\" maxlength=\"33\" required placeholder=\"hours\" class=\"short\">\
             <label for=\"cn-body\">Reply</label>\
             <textarea id=\"cn-body\" name=\"body\" rows=\"3\" maxlength=\"4000\" required></textarea>\
             <div class=\"actions\"><button type=\"submit\">Save</button></div></form></section>",
        );
    }
    Ok(v.page("Canned replies", "/settings/canned", &main))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_escape_and_summarise() {
        assert_eq!(events_cell(&[]), "");
        let all: Vec<String> = WEBHOOK_EVENTS.iter().map(|e| (*e).to_owned()).collect();
        assert_eq!(events_cell(&all), "All events");
        assert_eq!(
            events_cell(&["call.missed".into()]),
            "<code>call.missed</code>"
        );
        assert!(event_boxes(&["call.missed".into()]).contains("value=\"call.missed\" checked"));
        assert_eq!(
            widget_names(&[], &[], "All <widgets>"),
            "All &lt;widgets&gt;"
        );
        assert!(widget_names(&["gone".into()], &[], "x").contains("a removed widget"));
        assert_eq!(
            registrations(&[]),
            "<span class=\"badge off\">not registered</span>"
        );
    }
}
