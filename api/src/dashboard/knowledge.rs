//! The assistant's pages. `/widgets/{id}/knowledge`: a widget's knowledge sources with their
//! status and passage counts (re-read every few seconds while a crawl is under way), forms to
//! add a page or a whole site by its sitemap, a text, a question and its answer, or a document
//! (Markdown, HTML, plain text, PDF), refresh and delete buttons, a question to try (answered
//! by the page itself, `?q=`, as the assistant would answer without a model, with the passages
//! it read), the company profile, and the widget's assistant (name, tone, what it may use,
//! which sources and integrations, when it hands over). `/widgets/{id}/knowledge/{sourceId}`:
//! one source and the pages its last crawl met. `/settings/assistant`: the account's AI
//! provider (its key write-only), a test button, this month's model answers by outcome, and
//! the order and ticket integrations.
//!
//! Pages read straight from storage and the index; changes go through the documented
//! `/api/v1` endpoints (`/assets/account.js`). Users who may not change widgets see the
//! sources and settings without the forms; the API refuses them all the same.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use ringside_storage::{Integration, KnowledgeSource, StorageError, Widget};
use serde::Deserialize;

use super::page::{not_found, table, when, Viewer};
use crate::extract::html_escape as esc;
use crate::knowledge::profile_of;
use crate::{ApiError, AppState};

/// The navigation entry of the assistant settings page.
const SETTINGS_NAV: &str = "/settings/assistant";

/// Passages the question box shows.
const PASSAGES_SHOWN: usize = 5;

/// The widget a knowledge page is about, when the viewer may see it.
async fn widget_of(st: &AppState, v: &Viewer, id: &str) -> Result<Option<Widget>, ApiError> {
    if !v.sees_widget(id) || !crate::conversations::plain_id(id) {
        return Ok(None);
    }
    match st.store.get_widget(&v.auth.tenant_id, id).await {
        Ok(w) => Ok(Some(w)),
        Err(StorageError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// [`KnowledgeSource::label`] as HTML, with a crawled source's address under its title.
fn source_name(s: &KnowledgeSource) -> String {
    let title = esc(&s.label());
    match (s.kind.as_str(), s.url.as_deref()) {
        ("url" | "sitemap", Some(u)) if s.title.as_deref().is_some_and(|t| !t.is_empty()) => {
            format!(
                "<div>{title}<br><span class=\"hint\">{}</span></div>",
                esc(u)
            )
        }
        _ => title,
    }
}

fn kind_label(kind: &str) -> &'static str {
    match kind {
        "url" => "Page",
        "sitemap" => "Site (sitemap)",
        "qa" => "Question and answer",
        "file" => "Document",
        _ => "Text",
    }
}

/// A source's status as a badge, with its reason when it failed.
fn status_cell(s: &KnowledgeSource) -> String {
    let class = match s.status.as_str() {
        "ready" => " on",
        "failed" => " off",
        _ => "",
    };
    let label = match s.status.as_str() {
        "pending" => "waiting to be fetched",
        "indexing" => "fetching",
        other => other,
    };
    let mut cell = format!("<div><span class=\"badge{class}\">{}</span>", esc(label));
    if let Some(r) = s.reason.as_deref().filter(|r| !r.is_empty()) {
        cell.push_str(&format!("<br><span class=\"hint\">{}</span>", esc(r)));
    }
    cell.push_str("</div>");
    cell
}

/// `1 source`, `3 sources`.
fn counted(n: i64, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

fn crawled(kind: &str) -> bool {
    kind == "url" || kind == "sitemap"
}

/// The sources table (`id="kb-sources"`), re-read every few seconds while one is pending.
fn sources_region(w: &Widget, sources: &[KnowledgeSource], can: bool) -> String {
    let base = format!("/api/v1/widgets/{}/knowledge/sources", esc(&w.id));
    let rows: Vec<Vec<String>> = sources
        .iter()
        .map(|s| {
            let id = esc(&s.id);
            let name = source_name(s);
            let plain_name = esc(&s.label());
            let mut actions = String::new();
            if crawled(&s.kind) {
                actions.push_str(&format!(
                    "<a href=\"/widgets/{}/knowledge/{id}\" aria-label=\"Pages of {plain_name}\">Pages</a> ",
                    esc(&w.id)
                ));
            }
            if can {
                if crawled(&s.kind) {
                    actions.push_str(&format!(
                        "<button type=\"button\" class=\"secondary\" data-method=\"POST\" \
                         data-url=\"{base}/{id}/refresh\" data-then=\"#kb-sources\" \
                         aria-label=\"Refresh {plain_name}\">Refresh</button> "
                    ));
                }
                actions.push_str(&format!(
                    "<button type=\"button\" class=\"danger\" data-method=\"DELETE\" \
                     data-url=\"{base}/{id}\" data-then=\"#kb-sources\" \
                     data-confirm=\"Delete this source? The assistant stops answering from it at once.\" \
                     aria-label=\"Delete {plain_name}\">Delete</button>"
                ));
            }
            vec![
                name,
                kind_label(&s.kind).to_owned(),
                status_cell(s),
                s.passages.to_string(),
                when(s.updated_at),
                format!("<div class=\"actions\">{actions}</div>"),
            ]
        })
        .collect();
    let busy = sources
        .iter()
        .any(|s| s.status == "pending" || s.status == "indexing");
    let passages: i64 = sources.iter().map(|s| s.passages).sum();
    format!(
        "<div id=\"kb-sources\"{}><p class=\"hint\">{}, {}.</p>{}</div>",
        if busy { " data-poll" } else { "" },
        counted(sources.len() as i64, "source"),
        counted(passages, "passage"),
        table(
            "",
            &["Source", "Type", "Status", "Passages", "Updated", "Actions"],
            &rows,
            "No source yet: add the pages, documents and answers the assistant should know.",
        )
    )
}

/// The forms that add sources.
fn add_forms(w: &Widget) -> String {
    let base = format!("/api/v1/widgets/{}/knowledge/sources", esc(&w.id));
    let domains = if w.allowed_domains.is_empty() {
        "Add the site to the widget's allowed sites first: pages are fetched from those only."
            .to_owned()
    } else {
        format!(
            "Pages are fetched from the widget's sites only ({}), honouring robots.txt.",
            esc(&w.allowed_domains.join(", "))
        )
    };
    format!(
        "<section class=\"card\" aria-labelledby=\"kb-add-h\"><h2 id=\"kb-add-h\">Add a source</h2>\
         <h3>A page, or a whole site</h3><p class=\"hint\">{domains}</p>\
         <form data-url=\"{base}\" data-method=\"POST\" data-then=\"#kb-sources\">\
         <label for=\"kb-url\">Address (https)</label>\
         <input id=\"kb-url\" name=\"url\" type=\"url\" maxlength=\"2048\" required placeholder=\"https://example.com/shipping\">\
         <fieldset><legend>Fetch</legend>\
         <label class=\"check\"><input type=\"radio\" name=\"type\" value=\"url\" checked> this page</label>\
         <label class=\"check\"><input type=\"radio\" name=\"type\" value=\"sitemap\"> every page of its sitemap (the address of a sitemap.xml, or of the site)</label>\
         </fieldset>\
         <div class=\"actions\"><button type=\"submit\">Add</button></div></form>\
         <h3>A question and its answer</h3>\
         <form data-url=\"{base}\" data-method=\"POST\" data-then=\"#kb-sources\">\
         <input type=\"hidden\" name=\"type\" value=\"qa\">\
         <label for=\"kb-q\">Question</label>\
         <input id=\"kb-q\" name=\"question\" type=\"text\" maxlength=\"500\" required placeholder=\"Do you deliver on Saturdays?\">\
         <label for=\"kb-a\">Answer</label>\
         <textarea id=\"kb-a\" name=\"answer\" rows=\"3\" maxlength=\"4000\" required></textarea>\
         <div class=\"actions\"><button type=\"submit\">Add</button></div></form>\
         <h3>A text</h3>\
         <form data-url=\"{base}\" data-method=\"POST\" data-then=\"#kb-sources\">\
         <input type=\"hidden\" name=\"type\" value=\"text\">\
         <label for=\"kb-title\">Title</label>\
         <input id=\"kb-title\" name=\"title\" type=\"text\" maxlength=\"200\" required placeholder=\"Shipping\">\
         <label for=\"kb-text\">Text</label>\
         <textarea id=\"kb-text\" name=\"text\" rows=\"5\" maxlength=\"200000\" required></textarea>\
         <div class=\"actions\"><button type=\"submit\">Add</button></div></form>\
         <h3>A document</h3>\
         <form data-url=\"{base}\" data-kind=\"attach\" data-then=\"#kb-sources\">\
         <label for=\"kb-file\">Markdown, HTML, plain text or PDF, up to 10 MB</label>\
         <input id=\"kb-file\" name=\"file\" type=\"file\" required \
         accept=\".md,.markdown,.html,.htm,.txt,.pdf,text/markdown,text/html,text/plain,application/pdf\">\
         <label for=\"kb-file-title\">Title (optional)</label>\
         <input id=\"kb-file-title\" name=\"title\" type=\"text\" maxlength=\"200\">\
         <div class=\"actions\"><button type=\"submit\">Upload</button></div></form></section>"
    )
}

/// The "try a question" box and, for `q`, the answer the knowledge base gives.
async fn try_region(st: &AppState, v: &Viewer, w: &Widget, q: &str) -> Result<String, ApiError> {
    let mut out = format!(
        "<section class=\"card\" aria-labelledby=\"kb-try-h\"><h2 id=\"kb-try-h\">Try a question</h2>\
         <p class=\"hint\">What a visitor would get from the knowledge base alone (with an AI \
         provider, the model writes the answer from the same passages).</p>\
         <form method=\"get\" action=\"/widgets/{id}/knowledge#kb-try-h\" class=\"inline\">\
         <label for=\"kb-try\">Question</label>\
         <input id=\"kb-try\" name=\"q\" type=\"search\" maxlength=\"500\" value=\"{q_e}\" required>\
         <button type=\"submit\" class=\"secondary\">Ask</button></form>",
        id = esc(&w.id),
        q_e = esc(q),
    );
    let q = q.trim();
    if !q.is_empty() {
        st.knowledge.take_search(&v.auth.tenant_id)?;
        let answer = st.knowledge.answer(&w.tenant_id, &w.id, None, q).await?;
        let hits = st
            .knowledge
            .search(&w.tenant_id, &w.id, None, q, PASSAGES_SHOWN)
            .await?;
        out.push_str("<div id=\"kb-answer\" role=\"status\">");
        match answer {
            Some(a) => {
                out.push_str(&format!(
                    "<h3>Answer</h3><p class=\"answer\">{}</p>",
                    esc(&a.text)
                ));
                let mut list = String::new();
                for s in &a.sources {
                    let title = match &s.url {
                        Some(u) => format!("<a href=\"{}\">{}</a>", esc(u), esc(&s.title)),
                        None => esc(&s.title),
                    };
                    list.push_str(&format!(
                        "<li>{title}<p class=\"hint\">{}</p></li>",
                        esc(&s.snippet)
                    ));
                }
                out.push_str(&format!("<h3>Sources</h3><ul class=\"plain\">{list}</ul>"));
            }
            None => out.push_str(
                "<h3>Answer</h3><p class=\"answer\">Nothing relevant found: the assistant says \
                 it does not know and offers a person (or answers from the company profile).</p>",
            ),
        }
        if !hits.is_empty() {
            let rows: Vec<Vec<String>> = hits
                .iter()
                .map(|h| {
                    vec![
                        esc(&h.title),
                        esc(&ringside_knowledge::text::trim_to(&h.body, 240)),
                        format!("{:.2}", h.score),
                    ]
                })
                .collect();
            out.push_str(&format!(
                "<h3>Passages read</h3>{}",
                table("", &["Title", "Passage", "Score"], &rows, "")
            ));
        }
        out.push_str("</div>");
    }
    out.push_str("</section>");
    Ok(out)
}

/// The company profile form.
async fn profile_form(st: &AppState, w: &Widget, can: bool) -> Result<String, ApiError> {
    let p = profile_of(&st.store, &w.tenant_id, &w.id).await?;
    let off = if can { "" } else { " disabled" };
    let field = |id: &str, name: &str, label: &str, v: &Option<String>, ty: &str, hint: &str| {
        format!(
            "<label for=\"{id}\">{label}</label><input id=\"{id}\" name=\"{name}\" type=\"{ty}\" \
             maxlength=\"1000\" value=\"{}\" placeholder=\"{hint}\"{off}>",
            esc(v.as_deref().unwrap_or_default())
        )
    };
    Ok(format!(
        "<section class=\"card\" aria-labelledby=\"kb-prof-h\"><h2 id=\"kb-prof-h\">Company profile</h2>\
         <p class=\"hint\">Answers the common questions the sources do not: opening hours, how to \
         reach you, where you are, what you do.</p>\
         <form data-url=\"/api/v1/widgets/{id}/knowledge/profile\" data-method=\"PUT\" data-then=\"stay\" data-null-empty>\
         {}<label for=\"kb-p-desc\">What the business does</label>\
         <textarea id=\"kb-p-desc\" name=\"description\" rows=\"2\" maxlength=\"1000\"{off}>{}</textarea>\
         {}{}{}{}{}{}</form></section>",
        field("kb-p-name", "name", "Name", &p.name, "text", &esc(&w.name)),
        esc(p.description.as_deref().unwrap_or_default()),
        field("kb-p-hours", "hours", "Opening hours", &p.hours, "text", "Monday to Friday, 9:00-18:00"),
        field("kb-p-phone", "phone", "Phone", &p.phone, "text", "+351 21 000 0000"),
        field("kb-p-email", "email", "Email", &p.email, "email", "hello@example.com"),
        field("kb-p-address", "address", "Address", &p.address, "text", ""),
        field("kb-p-web", "website", "Website", &p.website, "url", "https://example.com"),
        if can {
            "<div class=\"actions\"><button type=\"submit\">Save profile</button></div>"
        } else {
            ""
        },
        id = esc(&w.id),
    ))
}

/// Checkboxes choosing some of `items` (id, label), or "all" (`chosen` is `None`).
fn choice(
    name: &str,
    legend: &str,
    all_label: &str,
    items: &[(String, String)],
    chosen: Option<&[String]>,
    off: &str,
) -> String {
    let mut boxes = String::new();
    for (id, label) in items {
        let on = chosen.is_some_and(|c| c.contains(id));
        boxes.push_str(&format!(
            "<label class=\"check\"><input type=\"checkbox\" name=\"{name}\" value=\"{}\"{}{off}> {}</label>",
            esc(id),
            if on { " checked" } else { "" },
            esc(label)
        ));
    }
    if items.is_empty() {
        boxes.push_str("<p class=\"hint\">None yet.</p>");
    }
    format!(
        "<fieldset data-choice=\"{name}\"><legend>{legend}</legend>\
         <label class=\"check\"><input type=\"radio\" name=\"{name}Scope\" value=\"all\"{}{off}> {all_label}</label>\
         <label class=\"check\"><input type=\"radio\" name=\"{name}Scope\" value=\"chosen\"{}{off}> only these:</label>\
         <div class=\"choices\">{boxes}</div></fieldset>",
        if chosen.is_none() { " checked" } else { "" },
        if chosen.is_some() { " checked" } else { "" },
    )
}

/// The widget's assistant form.
async fn assistant_form(
    st: &AppState,
    v: &Viewer,
    w: &Widget,
    sources: &[KnowledgeSource],
    integrations: &[Integration],
    can: bool,
) -> Result<String, ApiError> {
    let a = st.store.get_assistant(&w.tenant_id, &w.id).await?;
    let off = if can { "" } else { " disabled" };
    let d = ringside_storage::Handover::default();
    let handover = a.as_ref().map_or(d, |a| a.handover);
    let check = |name: &str, label: &str, on: bool| {
        format!(
            "<label class=\"check\"><input type=\"checkbox\" name=\"{name}\" data-bool{}{off}> {label}</label>",
            if on { " checked" } else { "" }
        )
    };
    // The widget's own sources, then those of the tenant's other widgets the viewer sees
    // (chosen, they share that knowledge with this widget).
    let mut source_items: Vec<(String, String)> =
        sources.iter().map(|s| (s.id.clone(), s.label())).collect();
    let others: Vec<_> = st
        .store
        .list_knowledge_source_refs(&w.tenant_id)
        .await?
        .into_iter()
        .filter(|r| r.widget_id != w.id && v.sees_widget(&r.widget_id))
        .collect();
    if !others.is_empty() {
        let names: std::collections::HashMap<String, String> = st
            .store
            .list_widgets(&w.tenant_id)
            .await?
            .into_iter()
            .map(|x| (x.id, x.name))
            .collect();
        source_items.extend(others.into_iter().map(|r| {
            let from = names
                .get(&r.widget_id)
                .map_or("another widget", String::as_str);
            (r.id, format!("{} (from {from})", r.label))
        }));
    }
    let integration_items: Vec<(String, String)> = integrations
        .iter()
        .map(|i| (i.id.clone(), format!("{} ({})", i.name, i.kind)))
        .collect();
    let state = match &a {
        None => "No assistant is set: the widget answers with the defaults (every source, every \
                 integration, hand over on request and when nothing answers)."
            .to_owned(),
        Some(a) if !a.enabled => format!(
            "{} is switched off: the team answers chats alone.",
            esc(&a.name)
        ),
        Some(a) => format!(
            "{} answers visitors (assistant id <code>{}</code>).",
            esc(&a.name),
            esc(&a.id)
        ),
    };
    Ok(format!(
        "<section class=\"card\" aria-labelledby=\"kb-as-h\"><h2 id=\"kb-as-h\">Assistant</h2>\
         <p class=\"hint\">{state}</p>\
         <form data-url=\"/api/v1/widgets/{id}/assistant\" data-method=\"PUT\" data-kind=\"assistant\" data-then=\"\">\
         <label for=\"as-name\">Name</label>\
         <input id=\"as-name\" name=\"name\" type=\"text\" maxlength=\"60\" required value=\"{name}\" placeholder=\"Ana\"{off}>\
         <label for=\"as-tone\">Tone of voice (for answers a model writes)</label>\
         <input id=\"as-tone\" name=\"tone\" type=\"text\" maxlength=\"200\" value=\"{tone}\" placeholder=\"warm and brief\"{off}>\
         {enabled}{model}{lookups}\
         <fieldset><legend>Hand the chat to the team</legend>{on_request}{low}{hours}</fieldset>\
         {src}{int}\
         {submit}</form></section>",
        id = esc(&w.id),
        name = esc(a.as_ref().map_or("", |a| a.name.as_str())),
        tone = esc(a.as_ref().and_then(|a| a.tone.as_deref()).unwrap_or_default()),
        enabled = check("enabled", "Answers visitors", a.as_ref().is_none_or(|a| a.enabled)),
        model = check(
            "useModel",
            "May use the account's AI provider",
            a.as_ref().is_none_or(|a| a.use_model)
        ),
        lookups = check(
            "useLookups",
            "May look up orders and tickets",
            a.as_ref().is_none_or(|a| a.use_lookups)
        ),
        on_request = check("onRequest", "when the visitor asks for a person", handover.on_request),
        low = check("lowConfidence", "when nothing answers the question", handover.low_confidence),
        hours = check(
            "duringHoursOnly",
            "only while someone can take the chat",
            handover.during_hours_only
        ),
        src = choice(
            "sourceIds",
            "Answers from",
            "every source of this widget, including ones added later",
            &source_items,
            a.as_ref().and_then(|a| a.source_ids.as_deref()),
            off
        ),
        int = choice(
            "integrationIds",
            "Looks up with",
            "every integration of the account",
            &integration_items,
            a.as_ref().and_then(|a| a.integration_ids.as_deref()),
            off
        ),
        submit = if can {
            let mut b = String::from(
                "<div class=\"actions\"><button type=\"submit\">Save assistant</button>",
            );
            if a.is_some() {
                b.push_str(&format!(
                    "<button type=\"button\" class=\"secondary\" data-method=\"DELETE\" \
                     data-url=\"/api/v1/widgets/{}/assistant\" \
                     data-confirm=\"Remove the assistant? The widget answers with the defaults.\">Back to the defaults</button>",
                    esc(&w.id)
                ));
            }
            b.push_str("</div>");
            b
        } else {
            "<p class=\"hint\">Owners and admins change the assistant.</p>".to_owned()
        },
    ))
}

#[derive(Debug, Deserialize)]
pub(crate) struct TryQuery {
    #[serde(default)]
    q: Option<String>,
}

/// `GET /widgets/{id}/knowledge`: the widget's knowledge and assistant.
pub(crate) async fn knowledge(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Query(tq): Query<TryQuery>,
) -> Result<Response, ApiError> {
    let Some(w) = widget_of(&st, &v, &id).await? else {
        return Ok(not_found(&v, "No such widget."));
    };
    let can = v.auth.role.allows("widgets:write");
    let sources = st
        .store
        .list_knowledge_sources(&v.auth.tenant_id, &w.id)
        .await?;
    let integrations = st.store.list_integrations(&v.auth.tenant_id).await?;
    let q: String = tq.q.unwrap_or_default().chars().take(500).collect();
    let provider = st.store.get_ai_provider(&v.auth.tenant_id).await?;
    let model_line = match provider {
        Some(p) if p.enabled => format!(
            "Answers are written by <strong>{}</strong> from these sources, citing them \
             (<a href=\"{SETTINGS_NAV}\">AI provider</a>).",
            esc(&p.model)
        ),
        _ => format!(
            "Answers are the best sentences of these sources, with links to them. \
             <a href=\"{SETTINGS_NAV}\">Set an AI provider</a> for answers a model writes."
        ),
    };
    let main = format!(
        "<p class=\"hint\"><a href=\"/widgets\">Widgets</a> › <a href=\"/widgets/{id}\">{name}</a> › Knowledge</p>\
         <p>{model_line}</p>\
         <section class=\"card\" aria-labelledby=\"kb-src-h\"><h2 id=\"kb-src-h\">Sources</h2>{table}</section>\
         {add}{try_box}{profile}{assistant}",
        id = esc(&w.id),
        name = esc(&w.name),
        table = sources_region(&w, &sources, can),
        add = if can { add_forms(&w) } else { String::new() },
        try_box = try_region(&st, &v, &w, &q).await?,
        profile = profile_form(&st, &w, can).await?,
        assistant = assistant_form(&st, &v, &w, &sources, &integrations, can).await?,
    );
    Ok(v.page(&format!("{} · Knowledge", w.name), "/widgets", &main))
}

/// `GET /widgets/{id}/knowledge/{source_id}`: one source and the pages of its last crawl.
pub(crate) async fn source(
    State(st): State<AppState>,
    v: Viewer,
    Path((id, source_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let Some(w) = widget_of(&st, &v, &id).await? else {
        return Ok(not_found(&v, "No such widget."));
    };
    let s = match st
        .store
        .get_knowledge_source(&v.auth.tenant_id, &w.id, &source_id)
        .await
    {
        Ok(s) => s,
        Err(StorageError::NotFound) => return Ok(not_found(&v, "No such source.")),
        Err(e) => return Err(e.into()),
    };
    let pages = st.store.list_knowledge_pages(&s.id).await?;
    let rows: Vec<Vec<String>> = pages
        .iter()
        .map(|p| {
            let class = match p.status.as_str() {
                "indexed" | "unchanged" => " on",
                _ => " off",
            };
            vec![
                format!(
                    "<div>{}<br><span class=\"hint\">{}</span></div>",
                    esc(p.title.as_deref().unwrap_or("(no title)")),
                    esc(&p.url)
                ),
                format!(
                    "<div><span class=\"badge{class}\">{}</span>{}</div>",
                    esc(&p.status),
                    p.reason
                        .as_deref()
                        .map(|r| format!("<br><span class=\"hint\">{}</span>", esc(r)))
                        .unwrap_or_default()
                ),
                format!("{:.1} KB", p.bytes as f64 / 1024.0),
                when(p.fetched_at),
            ]
        })
        .collect();
    let main = format!(
        "<p class=\"hint\"><a href=\"/widgets\">Widgets</a> › <a href=\"/widgets/{id}\">{name}</a> › \
         <a href=\"/widgets/{id}/knowledge\">Knowledge</a> › Source</p>\
         <section class=\"card\"><dl class=\"facts\"><dt>Address</dt><dd>{url}</dd>\
         <dt>Type</dt><dd>{kind}</dd><dt>Status</dt><dd>{status}</dd>\
         <dt>Passages</dt><dd>{passages}</dd><dt>Pages</dt><dd>{n_pages}</dd>\
         <dt>Updated</dt><dd>{updated}</dd></dl></section>\
         <section class=\"card\" aria-labelledby=\"pg-h\"><h2 id=\"pg-h\">Pages of the last crawl</h2>{table}</section>",
        id = esc(&w.id),
        name = esc(&w.name),
        url = esc(s.url.as_deref().unwrap_or_default()),
        kind = kind_label(&s.kind),
        status = status_cell(&s),
        passages = s.passages,
        n_pages = s.pages,
        updated = when(s.updated_at),
        table = table(
            "",
            &["Page", "Status", "Size", "Fetched"],
            &rows,
            "Not fetched yet.",
        ),
    );
    Ok(v.page(&s.label(), "/widgets", &main))
}

/// `GET /settings/assistant`: the AI provider and the integrations.
pub(crate) async fn settings(State(st): State<AppState>, v: Viewer) -> Result<Response, ApiError> {
    let can = v.auth.role.allows("widgets:write");
    let off = if can { "" } else { " disabled" };
    let p = st.store.get_ai_provider(&v.auth.tenant_id).await?;
    let val = |f: &dyn Fn(&ringside_storage::AiProvider) -> String| {
        esc(&p.as_ref().map(f).unwrap_or_default())
    };
    let kind_opt = |k: &str, label: &str| {
        let on = p.as_ref().map_or(k == "openai", |p| p.kind == k);
        format!(
            "<option value=\"{k}\"{}>{label}</option>",
            if on { " selected" } else { "" }
        )
    };
    let outcomes = st
        .store
        .ai_outcomes_since(
            &v.auth.tenant_id,
            crate::usage::month_bounds(ringside_storage::now_ms()).0,
        )
        .await?;
    let outcome_line = if outcomes.is_empty() {
        "No model answer this month.".to_owned()
    } else {
        let parts: Vec<String> = outcomes
            .iter()
            .map(|(o, n)| {
                let what = match o.as_str() {
                    "ok" => "answered",
                    "failed" => "failed (the knowledge base answered)",
                    "timeout" => "timed out (the knowledge base answered)",
                    other => other,
                };
                format!("{n} {}", esc(what))
            })
            .collect();
        format!("This month: {}.", parts.join(", "))
    };
    let state = match &p {
        None => "No provider: answers come from the knowledge base alone.".to_owned(),
        Some(p) if !p.enabled => {
            "The provider is switched off: answers come from the knowledge base alone.".to_owned()
        }
        Some(p) => format!(
            "Answers are written by {} ({}).{}",
            esc(&p.model),
            esc(&p.base_url),
            if p.api_key_sealed.is_some() {
                " An API key is stored."
            } else {
                " No API key is stored."
            }
        ),
    };
    let provider = format!(
        "<section class=\"card\" aria-labelledby=\"ai-h\"><h2 id=\"ai-h\">AI provider</h2>\
         <p class=\"hint\">{state} {outcome_line}</p>\
         <p class=\"hint\">Any OpenAI-compatible chat-completions server: OpenAI, Azure OpenAI, \
         Ollama, vLLM, llama.cpp. Pages and visitors' words reach it as quoted data, never as \
         instructions.</p>\
         <form data-url=\"/api/v1/account/ai-provider\" data-method=\"PUT\" data-then=\"\" data-null-empty=\"apiVersion\" data-kind=\"provider\">\
         <label for=\"ai-kind\">Kind</label><select id=\"ai-kind\" name=\"kind\" class=\"short\"{off}>{}{}</select>\
         <label for=\"ai-url\">Base URL</label>\
         <input id=\"ai-url\" name=\"baseUrl\" type=\"url\" maxlength=\"500\" required value=\"{}\" placeholder=\"https://api.openai.com/v1\"{off}>\
         <label for=\"ai-model\">Model (Azure: the deployment)</label>\
         <input id=\"ai-model\" name=\"model\" type=\"text\" maxlength=\"200\" required value=\"{}\" placeholder=\"gpt-4o-mini\"{off}>\
         <label for=\"ai-ver\">Azure api-version</label>\
         <input id=\"ai-ver\" name=\"apiVersion\" type=\"text\" maxlength=\"40\" value=\"{}\" class=\"short\"{off}>\
         <label for=\"ai-key\">API key{}</label>\
         <input id=\"ai-key\" name=\"apiKey\" type=\"password\" maxlength=\"1000\" autocomplete=\"off\"{off}>\
         <label for=\"ai-msgs\">Model answers a month (0: no limit of your own)</label>\
         <input id=\"ai-msgs\" name=\"monthlyMessages\" type=\"number\" min=\"0\" value=\"{}\" class=\"short\"{off}>\
         <label for=\"ai-tokens\">Tokens a month (0: no limit of your own)</label>\
         <input id=\"ai-tokens\" name=\"monthlyTokens\" type=\"number\" min=\"0\" value=\"{}\" class=\"short\"{off}>\
         <label for=\"ai-timeout\">Give up after (seconds; the knowledge base answers instead)</label>\
         <input id=\"ai-timeout\" name=\"timeoutSecs\" type=\"number\" min=\"1\" max=\"120\" value=\"{}\" class=\"short\"{off}>\
         <label class=\"check\"><input type=\"checkbox\" name=\"enabled\" data-bool{}{off}> Answers use it</label>\
         {}</form></section>",
        kind_opt("openai", "OpenAI-compatible"),
        kind_opt("azure", "Azure OpenAI"),
        val(&|p| p.base_url.clone()),
        val(&|p| p.model.clone()),
        val(&|p| p.api_version.clone().unwrap_or_default()),
        if p.as_ref().is_some_and(|p| p.api_key_sealed.is_some()) {
            " (stored; leave empty to keep it)"
        } else {
            ""
        },
        p.as_ref().map_or(0, |p| p.monthly_messages),
        p.as_ref().map_or(0, |p| p.monthly_tokens),
        p.as_ref().map_or(20, |p| p.timeout_secs),
        if p.as_ref().is_none_or(|p| p.enabled) {
            " checked"
        } else {
            ""
        },
        match (can, &p) {
            (false, _) => "<p class=\"hint\">Owners and admins change the provider.</p>".to_owned(),
            (true, None) => "<div class=\"actions\"><button type=\"submit\">Save provider</button></div>".to_owned(),
            (true, Some(_)) => "<div class=\"actions\"><button type=\"submit\">Save provider</button>\
                 <button type=\"button\" class=\"secondary\" data-method=\"POST\" data-url=\"/api/v1/account/ai-provider/test\" data-report=\"provider\">Test</button>\
                 <button type=\"button\" class=\"danger\" data-method=\"DELETE\" data-url=\"/api/v1/account/ai-provider\" \
                 data-confirm=\"Remove the AI provider and its key? Answers come from the knowledge base alone.\">Remove</button></div>".to_owned(),
        },
    );
    let integrations = st.store.list_integrations(&v.auth.tenant_id).await?;
    let rows: Vec<Vec<String>> = integrations
        .iter()
        .map(|i| {
            let id = esc(&i.id);
            let name = esc(&i.name);
            vec![
                name.clone(),
                if i.kind == "order" {
                    "Orders"
                } else {
                    "Tickets"
                }
                .to_owned(),
                format!(
                    "<div>{} <code>{}</code></div>",
                    esc(&i.method),
                    esc(&i.url_template)
                ),
                format!(
                    "<div><code>{}</code> and {}</div>",
                    esc(&i.reference_pattern),
                    esc(&i.verifier)
                ),
                if i.enabled {
                    "<span class=\"badge on\">on</span>".to_owned()
                } else {
                    "<span class=\"badge off\">off</span>".to_owned()
                },
                if can {
                    format!(
                        "<button type=\"button\" class=\"danger\" data-method=\"DELETE\" \
                         data-url=\"/api/v1/integrations/{id}\" \
                         data-confirm=\"Delete the integration {name}?\" \
                         aria-label=\"Delete the integration {name}\">Delete</button>"
                    )
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    let mut lookups = format!(
        "<section class=\"card\" aria-labelledby=\"int-h\"><h2 id=\"int-h\">Order and ticket lookups</h2>\
         <p class=\"hint\">The assistant calls one only when a visitor asks about their order or \
         ticket and has given its number and the email or postcode on it, in the same chat. \
         Only the fields you map are told; every lookup is logged on the conversation.</p>{}",
        table(
            "",
            &["Name", "Looks up", "Request", "Needs", "State", "Actions"],
            &rows,
            "No integration yet.",
        )
    );
    if can {
        lookups.push_str(
            "<h3>New integration</h3>\
             <form data-url=\"/api/v1/integrations\" data-method=\"POST\" data-kind=\"integration\" data-then=\"\" \
             data-null-empty=\"matchField authHeaderName authHeaderValue hmacSecret\">\
             <label for=\"in-kind\">Looks up</label><select id=\"in-kind\" name=\"kind\" class=\"short\">\
             <option value=\"order\">orders</option><option value=\"ticket\">tickets</option></select>\
             <label for=\"in-name\">Name</label>\
             <input id=\"in-name\" name=\"name\" type=\"text\" maxlength=\"80\" required placeholder=\"Shop orders\">\
             <label for=\"in-method\">Method</label><select id=\"in-method\" name=\"method\" class=\"short\">\
             <option>GET</option><option>POST</option></select>\
             <label for=\"in-url\">URL template, with {reference} and {email} or {postcode}</label>\
             <input id=\"in-url\" name=\"urlTemplate\" type=\"url\" maxlength=\"2048\" required \
             placeholder=\"https://shop.example/api/orders/{reference}?email={email}\">\
             <label for=\"in-pattern\">What a number looks like (regular expression)</label>\
             <input id=\"in-pattern\" name=\"referencePattern\" type=\"text\" maxlength=\"200\" required placeholder=\"ORD-\\d{4}-\\d{17}\">\
             <label for=\"in-verifier\">The visitor proves it is theirs with</label>\
             <select id=\"in-verifier\" name=\"verifier\" class=\"short\"><option value=\"email\">the email on it</option>\
             <option value=\"postcode\">the postcode on it</option></select>\
             <label for=\"in-match\">Field of the answer that must equal it (dotted path, optional)</label>\
             <input id=\"in-match\" name=\"matchField\" type=\"text\" maxlength=\"100\" placeholder=\"customer.email\">\
             <label for=\"in-map\">Fields told to the visitor: one per line, <code>path = Label</code></label>\
             <textarea id=\"in-map\" name=\"fieldMap\" rows=\"3\" required placeholder=\"status = Status&#10;delivery.eta = Expected delivery\"></textarea>\
             <label for=\"in-hname\">Auth header name (optional)</label>\
             <input id=\"in-hname\" name=\"authHeaderName\" type=\"text\" maxlength=\"100\" placeholder=\"X-Api-Key\">\
             <label for=\"in-hvalue\">Auth header value</label>\
             <input id=\"in-hvalue\" name=\"authHeaderValue\" type=\"password\" maxlength=\"1000\" autocomplete=\"off\">\
             <label for=\"in-hmac\">HMAC signing secret (optional)</label>\
             <input id=\"in-hmac\" name=\"hmacSecret\" type=\"password\" maxlength=\"1000\" autocomplete=\"off\">\
             <div class=\"actions\"><button type=\"submit\">Add integration</button></div></form>",
        );
    }
    lookups.push_str("</section>");
    let main = format!(
        "<p>The assistant answers visitors from each widget's knowledge base (see a widget's \
         <em>Knowledge</em> page). Here: the model that may write its answers, and the systems \
         it may look orders and tickets up in.</p>{provider}{lookups}"
    );
    Ok(v.page("Assistant", SETTINGS_NAV, &main))
}
