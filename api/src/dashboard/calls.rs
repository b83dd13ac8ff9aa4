//! `/calls`: the calls waiting now (answered in this browser through the console socket:
//! audio or video, hold, hang up) and the call history; `/calls/{id}`: one call with its legs,
//! their measured quality, and its recordings played from the ranged download.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::response::Response;
use ringside_storage::{now_ms, CallRecord, StorageError};

use super::home::{my_widgets, WAITING_MAX_MS};
use super::page::{not_found, table, when, Viewer};
use crate::extract::html_escape as esc;
use crate::{ApiError, AppState};

const CALL_EVENTS: &str = "call:requested call:delivery_started call:delivery_failed \
                           call:unavailable call:answered call:ended call:missed call:assigned";

fn duration(ms: i64) -> String {
    let s = ms / 1000;
    format!("{}:{:02}", s / 60, s % 60)
}

fn caller(c: &CallRecord) -> String {
    match &c.visitor_id {
        Some(v) => format!("Visitor {}", v.chars().take(8).collect::<String>()),
        None => c.from_uri.clone(),
    }
}

/// Buttons that answer a waiting call in this browser (the console script runs them).
fn answer_buttons(id: &str) -> String {
    format!(
        "<span class=\"actions\"><button type=\"button\" data-answer=\"{id}\">Answer</button>\
         <button type=\"button\" class=\"secondary\" data-answer=\"{id}\" data-video>Answer with video</button></span>",
        id = esc(id)
    )
}

/// The calls the viewer may see, newest first: the tenant's, or their widgets'.
async fn visible_calls(st: &AppState, v: &Viewer, limit: u32) -> Result<Vec<CallRecord>, ApiError> {
    if v.auth.widgets.is_none() {
        return Ok(st.store.list_calls(&v.auth.tenant_id, limit).await?);
    }
    let mut all = Vec::new();
    for w in my_widgets(st, v).await? {
        all.extend(
            st.store
                .list_widget_calls(&v.auth.tenant_id, &w.id, Default::default(), limit)
                .await?,
        );
    }
    all.sort_by_key(|c| std::cmp::Reverse(c.started_at));
    all.truncate(limit as usize);
    Ok(all)
}

/// Who answered, for people: a console operator's email, else the target as stored
/// (`extension:1002`, a number).
fn answered_label(by: Option<&str>, emails: &HashMap<String, String>) -> String {
    match by {
        None => "—".into(),
        Some(b) => match b.strip_prefix("console:").and_then(|u| emails.get(u)) {
            Some(email) => format!("{email} (browser)"),
            None => b.to_owned(),
        },
    }
}

/// The tenant's users' emails by id.
async fn emails(st: &AppState, v: &Viewer) -> Result<HashMap<String, String>, ApiError> {
    Ok(st
        .store
        .list_users(&v.auth.tenant_id)
        .await?
        .into_iter()
        .map(|u| (u.id, u.email))
        .collect())
}

pub(crate) async fn calls(State(st): State<AppState>, v: Viewer) -> Result<Response, ApiError> {
    let now = now_ms();
    let widgets = my_widgets(&st, &v).await?;
    let mut waiting = Vec::new();
    for w in &widgets {
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
    let names: HashMap<&str, &str> = widgets
        .iter()
        .map(|w| (w.id.as_str(), w.name.as_str()))
        .collect();
    let rows: Vec<Vec<String>> = waiting
        .iter()
        .map(|(wname, c)| {
            vec![
                format!("<a href=\"/calls/{}\">{}</a>", esc(&c.id), esc(&caller(c))),
                esc(wname),
                when(c.started_at),
                answer_buttons(&c.id),
            ]
        })
        .collect();
    let waiting_table = table(
        "",
        &["Caller", "Widget", "Since", "Actions"],
        &rows,
        "No call is waiting.",
    );
    let history = visible_calls(&st, &v, 100).await?;
    let users = emails(&st, &v).await?;
    let rows: Vec<Vec<String>> = history
        .iter()
        .map(|c| {
            vec![
                format!("<a href=\"/calls/{}\">{}</a>", esc(&c.id), esc(&caller(c))),
                c.widget_id
                    .as_deref()
                    .and_then(|w| names.get(w))
                    .map(|n| esc(n))
                    .unwrap_or_else(|| "—".into()),
                when(c.started_at),
                format!("<span class=\"badge\">{}</span>", c.status.as_str()),
                match (c.answered_at, c.ended_at) {
                    (Some(a), Some(e)) if e >= a => duration(e - a),
                    _ => "—".into(),
                },
                esc(&answered_label(c.answered_by.as_deref(), &users)),
            ]
        })
        .collect();
    let main = format!(
        "<section class=\"card\" aria-labelledby=\"w-h\"><h2 id=\"w-h\">Waiting now</h2>\
         <p class=\"hint\">While you are available, calls ring in this browser on any dashboard page. \
         Answering asks for your microphone (and camera, with video).</p>\
         <div id=\"calls-waiting\" data-live=\"{CALL_EVENTS}\">{waiting_table}</div></section>\
         <h2>History</h2><div id=\"call-history\" data-live=\"call:answered call:ended call:missed\">{}</div>",
        table(
            "The latest 100 calls",
            &["Caller", "Widget", "Started", "Status", "Talk time", "Answered by"],
            &rows,
            "No call yet.",
        )
    );
    Ok(v.page("Calls", "/calls", &main))
}

pub(crate) async fn call(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !crate::conversations::plain_id(&id) {
        return Ok(not_found(&v, "No such call."));
    }
    let c = match st.store.get_call(&v.auth.tenant_id, &id).await {
        Ok(c) => c,
        Err(StorageError::NotFound) => return Ok(not_found(&v, "No such call.")),
        Err(e) => return Err(e.into()),
    };
    // A user given some widgets sees those widgets' calls only.
    if v.auth.widgets.is_some() && !c.widget_id.as_deref().is_some_and(|w| v.sees_widget(w)) {
        return Ok(not_found(&v, "No such call."));
    }
    let recordings = st
        .store
        .list_call_recordings(&v.auth.tenant_id, &c.id)
        .await?;
    let assignee = st
        .store
        .call_assignees(&v.auth.tenant_id, std::slice::from_ref(&c.id))
        .await?
        .remove(&c.id);
    let widget_name = match &c.widget_id {
        Some(w) => st
            .store
            .get_widget(&v.auth.tenant_id, w)
            .await
            .map(|w| w.name)
            .unwrap_or_default(),
        None => String::new(),
    };
    let waiting = !c.status.is_final() && c.answered_at.is_none();
    let mut facts = format!(
        "<dl class=\"facts\"><dt>Status</dt><dd><span class=\"badge\">{}</span>{}</dd>\
         <dt>From</dt><dd>{}</dd><dt>To</dt><dd>{}</dd><dt>Widget</dt><dd>{}</dd>\
         <dt>Started</dt><dd>{}</dd>",
        c.status.as_str(),
        c.end_reason
            .map(|r| format!(" ({})", r.as_str().replace('_', " ")))
            .unwrap_or_default(),
        esc(&c.from_uri),
        esc(&c.to_uri),
        esc(if widget_name.is_empty() {
            "—"
        } else {
            &widget_name
        }),
        when(c.started_at),
    );
    if let Some(a) = c.answered_at {
        let by = answered_label(c.answered_by.as_deref(), &emails(&st, &v).await?);
        facts.push_str(&format!(
            "<dt>Answered</dt><dd>{} by {}</dd>",
            when(a),
            esc(&by)
        ));
    }
    if let (Some(a), Some(e)) = (c.answered_at, c.ended_at) {
        facts.push_str(&format!("<dt>Talk time</dt><dd>{}</dd>", duration(e - a)));
    }
    if let Some(a) = &assignee {
        facts.push_str(&format!("<dt>Assigned to</dt><dd>{}</dd>", esc(&a.email)));
    }
    if let (Some(w), Some(vis)) = (&c.widget_id, &c.visitor_id) {
        facts.push_str(&format!(
            "<dt>Visitor</dt><dd><a href=\"/inbox/{}/{}\">Chat and pages seen</a></dd>",
            esc(w),
            esc(vis)
        ));
    }
    facts.push_str("</dl>");
    let legs: Vec<Vec<String>> = c
        .legs
        .iter()
        .map(|l| {
            let q = l.quality.as_ref();
            vec![
                l.role.as_str().to_owned(),
                esc(&l.peer),
                l.answered_at.map(when).unwrap_or_else(|| "—".into()),
                l.final_status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "—".into()),
                q.map(|q| {
                    let expected = q.rx_packets + q.rx_lost.max(0);
                    let loss = if expected > 0 {
                        q.rx_lost.max(0) as f64 * 100.0 / expected as f64
                    } else {
                        0.0
                    };
                    format!(
                        "{} received, {:.2}% lost, jitter {:.1} ms{}",
                        q.rx_packets,
                        loss,
                        q.jitter_us as f64 / 1000.0,
                        q.rtt_us
                            .map(|r| format!(", round trip {:.1} ms", r as f64 / 1000.0))
                            .unwrap_or_default()
                    )
                })
                .unwrap_or_else(|| "not measured".into()),
            ]
        })
        .collect();
    let mut recs = String::new();
    for r in &recordings {
        recs.push_str(&format!(
            "<li><p>{} · {} · {} kB</p><audio controls preload=\"metadata\" \
             src=\"/api/v1/recordings/{id}/download\" aria-label=\"Recording of {}\"></audio>\
             <p><a href=\"/api/v1/recordings/{id}/download\" download>Download</a></p></li>",
            when(r.started_at),
            duration(r.duration_ms),
            r.bytes / 1000,
            when(r.started_at),
            id = esc(&r.id),
        ));
    }
    let main = format!(
        "<p class=\"hint\"><a href=\"/calls\">Calls</a> › {caller}</p>\
         <div id=\"call-live\" data-live=\"{CALL_EVENTS}\">\
         {answer}<section class=\"card\" aria-labelledby=\"f-h\"><h2 id=\"f-h\">The call</h2>{facts}</section>\
         <h2>Legs</h2>{legs}</div>\
         <section class=\"card\" aria-labelledby=\"r-h\"><h2 id=\"r-h\">Recordings</h2>{recs}</section>",
        caller = esc(&caller(&c)),
        answer = if waiting {
            format!(
                "<section class=\"card ringing-card\" aria-labelledby=\"a-h\"><h2 id=\"a-h\">Waiting for an answer</h2>{}</section>",
                answer_buttons(&c.id)
            )
        } else {
            String::new()
        },
        legs = table(
            "",
            &["Role", "Peer", "Answered", "Final status", "Quality measured"],
            &legs,
            "No leg.",
        ),
        recs = if recs.is_empty() {
            "<p class=\"hint\">No recording (turn recording on in the widget's call settings).</p>".into()
        } else {
            format!("<ol class=\"recordings\">{recs}</ol>")
        },
    );
    Ok(v.page(&format!("Call from {}", caller(&c)), "/calls", &main))
}
