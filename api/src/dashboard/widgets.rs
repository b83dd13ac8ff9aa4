//! `/widgets`: the tenant's widgets and a form to create one; `/widgets/{id}`: the install
//! snippet with a copy button, appearance and allowed domains, call settings, and the
//! widget's prompts (play, upload, back to the default). Users who may not change widgets
//! (agents) see them read-only; the API refuses their changes all the same.

use axum::extract::{Path, State};
use axum::response::Response;
use ringside_domain::prompts::PromptKind;
use ringside_storage::StorageError;

use super::home::my_widgets;
use super::page::{not_found, table, when, Viewer};
use crate::extract::html_escape as esc;
use crate::{ApiError, AppState};

pub(crate) async fn widgets(State(st): State<AppState>, v: Viewer) -> Result<Response, ApiError> {
    let list = my_widgets(&st, &v).await?;
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|w| {
            vec![
                format!("<a href=\"/widgets/{}\">{}</a>", esc(&w.id), esc(&w.name)),
                esc(&w.allowed_domains.join(", ")),
                when(w.created_at),
            ]
        })
        .collect();
    let mut main = table(
        "",
        &["Widget", "Allowed domains", "Created"],
        &rows,
        "No widget yet.",
    );
    if v.auth.role.allows("widgets:write") {
        main.push_str(
            "<section class=\"card\" aria-labelledby=\"new-h\"><h2 id=\"new-h\">New widget</h2>\
             <form data-url=\"/api/v1/widgets\" data-kind=\"new-widget\">\
             <label for=\"w-name\">Name</label>\
             <input id=\"w-name\" name=\"name\" type=\"text\" maxlength=\"120\" required placeholder=\"e.g. Main site\">\
             <label for=\"w-domains\">Sites it may run on (one per line)</label>\
             <textarea id=\"w-domains\" name=\"allowedDomains\" rows=\"3\" data-list \
             placeholder=\"example.com&#10;*.example.com\"></textarea>\
             <p class=\"hint\">Host names, <code>*.example.com</code> for subdomains, <code>host:port</code> for a port.</p>\
             <div class=\"actions\"><button type=\"submit\">Create widget</button></div></form></section>",
        );
    }
    Ok(v.page("Widgets", "/widgets", &main))
}

pub(crate) async fn widget(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !v.sees_widget(&id) || !crate::conversations::plain_id(&id) {
        return Ok(not_found(&v, "No such widget."));
    }
    let w = match st.store.get_widget(&v.auth.tenant_id, &id).await {
        Ok(w) => w,
        Err(StorageError::NotFound) => return Ok(not_found(&v, "No such widget.")),
        Err(e) => return Err(e.into()),
    };
    let cs = st.store.get_call_settings(&v.auth.tenant_id, &w.id).await?;
    let hours = st
        .store
        .get_business_hours(&v.auth.tenant_id, &w.id)
        .await?;
    let avail =
        crate::availability::now_for(&st.store, &st.console, &w, ringside_storage::now_ms()).await;
    let can = v.auth.role.allows("widgets:write");
    let off = if can { "" } else { " disabled" };
    let script_url = format!("{}/widget.js", st.public_url.trim_end_matches('/'));
    let snippet = format!(
        "<script src=\"{}\" data-widget-id=\"{}\" data-widget-key=\"{}\" async></script>",
        esc(&script_url),
        esc(&w.id),
        esc(&w.public_key)
    );
    let base = format!("/api/v1/widgets/{}", esc(&w.id));
    let text = |id: &str, name: &str, label: &str, value: &str, max: usize| {
        format!(
            "<label for=\"{id}\">{label}</label><input id=\"{id}\" name=\"{name}\" type=\"text\" \
             maxlength=\"{max}\" value=\"{}\"{off}>",
            esc(value)
        )
    };
    let pos = |p: &str| {
        format!(
            "<option value=\"{p}\"{}>{}</option>",
            if w.position == p { " selected" } else { "" },
            p.replace('-', " ")
        )
    };
    let appearance = format!(
        "<form data-url=\"{base}\" data-method=\"PATCH\" data-then=\"stay\" data-null-empty=\"avatarUrl logoUrl\">\
         {}<label for=\"w-domains\">Sites it may run on (one per line)</label>\
         <textarea id=\"w-domains\" name=\"allowedDomains\" rows=\"3\" data-list{off}>{}</textarea>\
         {}{}{}{}\
         <label for=\"w-color\">Colour</label><input id=\"w-color\" name=\"primaryColor\" type=\"color\" value=\"{}\"{off}>\
         <label for=\"w-pos\">Position</label><select id=\"w-pos\" name=\"position\" class=\"short\"{off}>{}{}</select>\
         {}{}\
         {}</form>",
        text("w-name", "name", "Name", &w.name, 120),
        esc(&w.allowed_domains.join("\n")),
        text("w-greeting", "greeting", "Greeting", &w.greeting, 500),
        text("w-agent", "agentName", "Agent name", &w.agent_name, 100),
        text("w-title", "agentTitle", "Agent title", &w.agent_title, 100),
        text(
            "w-placeholder",
            "inputPlaceholder",
            "Message box placeholder",
            &w.input_placeholder,
            200
        ),
        esc(&w.primary_color),
        pos("bottom-right"),
        pos("bottom-left"),
        text(
            "w-avatar",
            "avatarUrl",
            "Avatar image URL (https)",
            w.avatar_url.as_deref().unwrap_or(""),
            2048
        ),
        text(
            "w-logo",
            "logoUrl",
            "Logo image URL (https)",
            w.logo_url.as_deref().unwrap_or(""),
            2048
        ),
        if can {
            "<div class=\"actions\"><button type=\"submit\">Save appearance</button></div>"
        } else {
            "<p class=\"hint\">Owners and admins change widgets.</p>"
        },
    );
    let check = |name: &str, label: &str, on: bool| {
        format!(
            "<label class=\"check\"><input type=\"checkbox\" name=\"{name}\" data-bool{}{off}> {label}</label>",
            if on { " checked" } else { "" }
        )
    };
    let calls = format!(
        "<form data-url=\"{base}/call-settings\" data-method=\"PUT\" data-then=\"stay\" data-null-empty=\"queueNumber pstnTrunkId\">\
         <label for=\"cs-timeout\">Ring for (seconds)</label>\
         <input id=\"cs-timeout\" name=\"ringTimeoutSecs\" type=\"number\" min=\"5\" max=\"300\" value=\"{}\" class=\"short\"{off}>\
         {}{}{}\
         <label for=\"cs-pstn\">Also ring these numbers (E.164, one per line)</label>\
         <textarea id=\"cs-pstn\" name=\"pstnNumbers\" rows=\"2\" data-list{off}>{}</textarea>\
         <input type=\"hidden\" name=\"pstnTrunkId\" value=\"{}\">\
         <label for=\"cs-queue\">Queue number trusted PBX calls dial</label>\
         <input id=\"cs-queue\" name=\"queueNumber\" type=\"text\" inputmode=\"numeric\" maxlength=\"15\" value=\"{}\" class=\"short\"{off}>\
         {}</form>",
        cs.ring_timeout_secs,
        check("record", "Record answered calls", cs.record),
        check(
            "ringExtensions",
            "Ring the SIP phones of this widget",
            cs.ring_extensions
        ),
        check("video", "Visitors may call with video", cs.video),
        esc(&cs.pstn_numbers.join("\n")),
        esc(cs.pstn_trunk_id.as_deref().unwrap_or("")),
        esc(cs.queue_number.as_deref().unwrap_or("")),
        if can {
            "<div class=\"actions\"><button type=\"submit\">Save call settings</button></div>"
        } else {
            ""
        },
    );
    // Business hours: a row per weekday (open or not, from, to).
    let mut days = String::new();
    for (i, d) in ringside_storage::DAYS.iter().enumerate() {
        let label = [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
        ][i];
        let iv = hours.intervals.iter().find(|x| x.day == *d);
        let (on, open, close) = match iv {
            Some(x) => (true, x.open.as_str(), x.close.as_str()),
            None => (false, "09:00", "17:00"),
        };
        days.push_str(&format!(
            "<div class=\"day\" data-day=\"{d}\"><label class=\"check\"><input type=\"checkbox\" data-open{}{off}> {label}</label>\
             <label for=\"h-{d}-o\" class=\"visually-hidden\">{label} from</label>\
             <input id=\"h-{d}-o\" type=\"time\" value=\"{open}\" data-from{off}>\
             <span aria-hidden=\"true\">–</span>\
             <label for=\"h-{d}-c\" class=\"visually-hidden\">{label} until</label>\
             <input id=\"h-{d}-c\" type=\"time\" value=\"{close}\" data-to{off}></div>",
            if on { " checked" } else { "" },
        ));
    }
    let now_line = match (avail.online, avail.reason, avail.back_at) {
        (true, _, _) => "Available now: visitors can chat and call.".to_owned(),
        (false, Some("outside_hours"), Some(t)) => format!(
            "Closed now: visitors get the offline form; back {}.",
            when(t)
        ),
        (false, Some("outside_hours"), None) => "Closed now: visitors get the offline form.".into(),
        _ => "Nobody is available now (no operator in the dashboard, no SIP phone registered): \
              visitors get the offline form."
            .into(),
    };
    let hours_form = format!(
        "<p class=\"hint\">{now_line}</p>\
         <form data-url=\"{base}/hours\" data-method=\"PUT\" data-kind=\"hours\" data-then=\"stay\">\
         <label class=\"check\"><input type=\"checkbox\" name=\"enabled\" data-bool{}{off}> Use business hours (outside them the widget shows the offline form)</label>\
         <label for=\"h-tz\">Time zone</label>\
         <input id=\"h-tz\" name=\"timeZone\" type=\"text\" maxlength=\"64\" value=\"{}\" placeholder=\"Europe/Lisbon\" class=\"short\"{off}>\
         <fieldset><legend>Open on</legend>{days}</fieldset>{}</form>",
        if hours.enabled { " checked" } else { "" },
        esc(if hours.time_zone.is_empty() { "UTC" } else { &hours.time_zone }),
        if can {
            "<div class=\"actions\"><button type=\"submit\">Save hours</button></div>"
        } else {
            ""
        },
    );
    let kb = st
        .store
        .list_knowledge_sources(&v.auth.tenant_id, &w.id)
        .await?;
    let kb_line = if kb.is_empty() {
        "The assistant has nothing to answer from yet: add your pages, documents and answers."
            .to_owned()
    } else {
        format!(
            "The assistant answers from {} sources ({} passages).",
            kb.len(),
            kb.iter().map(|s| s.passages).sum::<i64>()
        )
    };
    let mut prompts = String::new();
    for k in PromptKind::ALL {
        let label = match k {
            PromptKind::HoldMusic => "Hold music",
            PromptKind::Unavailable => "Nobody available",
            PromptKind::AcceptPrompt => "Accept prompt (forwarded calls)",
            PromptKind::Ringtone => "Ringtone the visitor hears",
        };
        let kind = k.as_str();
        prompts.push_str(&format!(
            "<li><p><strong>{label}</strong></p>\
             <audio controls preload=\"none\" src=\"{base}/prompts/{kind}/audio\" aria-label=\"Play: {label}\"></audio>{}</li>",
            if can {
                format!(
                    "<form data-url=\"{base}/prompts/{kind}\" data-method=\"PUT\" data-kind=\"upload\" class=\"inline\">\
                     <label for=\"up-{kind}\">Replace with a WAV file</label>\
                     <input id=\"up-{kind}\" name=\"file\" type=\"file\" accept=\"audio/wav,.wav\" required>\
                     <button type=\"submit\" class=\"secondary\">Upload</button>\
                     <button type=\"button\" class=\"secondary\" data-method=\"DELETE\" data-url=\"{base}/prompts/{kind}\" \
                     data-confirm=\"Go back to the default {label}?\">Use the default</button></form>"
                )
            } else {
                String::new()
            }
        ));
    }
    let main = format!(
        "<p class=\"hint\"><a href=\"/widgets\">Widgets</a> › {name}</p>\
         <section class=\"card\" aria-labelledby=\"i-h\"><h2 id=\"i-h\">Install</h2>\
         <p>Paste this before <code>&lt;/body&gt;</code> on every page of your site:</p>\
         <pre class=\"snippet\"><code id=\"snippet\">{snippet_e}</code></pre>\
         <div class=\"actions\"><button type=\"button\" class=\"secondary\" data-copy=\"#snippet\">Copy snippet</button></div></section>\
         <section class=\"card\" aria-labelledby=\"k-h\"><h2 id=\"k-h\">Knowledge and assistant</h2>\
         <p>{kb_line} <a href=\"/widgets/{id}/knowledge\">Sources, company profile and assistant</a></p></section>\
         <section class=\"card\" aria-labelledby=\"a-h\"><h2 id=\"a-h\">Appearance and sites</h2>{appearance}</section>\
         <section class=\"card\" aria-labelledby=\"c-h\"><h2 id=\"c-h\">Calls</h2>{calls}</section>\
         <section class=\"card\" aria-labelledby=\"h-h\"><h2 id=\"h-h\">Business hours</h2>{hours_form}</section>\
         <section class=\"card\" aria-labelledby=\"p-h\"><h2 id=\"p-h\">Prompts and music</h2><ul class=\"prompts\">{prompts}</ul></section>",
        name = esc(&w.name),
        id = esc(&w.id),
        snippet_e = esc(&snippet),
    );
    Ok(v.page(&w.name, "/widgets", &main))
}
