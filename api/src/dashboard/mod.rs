//! The operators' dashboard, rendered by the server (no front-end build): home, inbox,
//! calls (answered in the browser), widgets; the account pages ([`crate::accounts::pages`])
//! share its layout.
//!
//! Pages read what they show straight from storage and the live presence, for the signed-in
//! user's tenant and the widgets they were given. What they change goes through the documented
//! `/api/v1` endpoints from `/assets/account.js` (forms and buttons marked with `data-*`) with
//! the session cookie and the page's CSRF token. `/assets/dashboard.js` keeps the page live
//! over the realtime socket (regions marked `data-live` are re-read from the server when their
//! events arrive) and makes the browser a phone: it goes available on the console socket,
//! rings (sound, and a notification when allowed) when a call is offered, and answers with
//! audio or video, hold and hang up.

use axum::response::{IntoResponse, Redirect, Response};

use crate::openapi::{Auth, DocRouter, Spec};

pub(crate) mod alerts;
pub(crate) mod analytics;
pub(crate) mod calls;
pub(crate) mod contacts;
pub(crate) mod home;
pub(crate) mod inbox;
pub(crate) mod knowledge;
pub(crate) mod page;
pub(crate) mod settings;
pub(crate) mod widgets;

const JS: &str = include_str!("../../assets/dashboard.js");

pub(crate) fn routes() -> DocRouter {
    const T: &str = "Pages";
    let page = |summary| {
        Spec::new(T, Auth::Public, summary)
            .content("text/html")
            .ok(200, "The page")
            .also(&[(303, "Signed out: to /login")])
    };
    DocRouter::new("")
        .get(
            "/",
            home::home,
            page("Home: the dashboard, or the sign-in page"),
        )
        .get(
            "/inbox",
            inbox::inbox,
            page("The inbox: visitor chats by state"),
        )
        .get(
            "/inbox/{widget_id}/{visitor_id}",
            inbox::conversation,
            page("A visitor's chat, their live page and history"),
        )
        .get(
            "/calls",
            calls::calls,
            page("Calls waiting and call history"),
        )
        .get(
            "/calls/{id}",
            calls::call,
            page("A call: legs, quality, recordings; answer while it waits"),
        )
        .get(
            "/console/calls/{id}",
            console_call,
            Spec::new(
                T,
                Auth::Public,
                "A waiting call's dashboard link: to /calls/{id}",
            )
            .content("")
            .ok(303, "To /calls/{id}"),
        )
        .get(
            "/contacts",
            contacts::contacts,
            page("Contacts: search and add"),
        )
        .get(
            "/contacts/{id}",
            contacts::contact,
            page("A contact: details, sessions, timeline, merge"),
        )
        .get(
            "/analytics",
            analytics::analytics,
            page("Visits over time, campaigns, referrers and pages of a widget"),
        )
        .get("/settings", settings::index, page("Settings"))
        .get(
            "/settings/canned",
            settings::canned,
            page("Canned replies: saved answers for chats"),
        )
        .get("/widgets", widgets::widgets, page("Widgets"))
        .get(
            "/widgets/{id}",
            widgets::widget,
            page("A widget: appearance, domains, install snippet, call settings, prompts"),
        )
        .get(
            "/widgets/{id}/knowledge",
            knowledge::knowledge,
            page("A widget's knowledge sources, a question to try, its company profile and assistant"),
        )
        .get(
            "/widgets/{id}/knowledge/{source_id}",
            knowledge::source,
            page("A knowledge source and the pages of its last crawl"),
        )
        .get(
            "/settings/assistant",
            knowledge::settings,
            page("The AI provider and the order and ticket integrations"),
        )
        .get(
            "/settings/alerts",
            alerts::alerts,
            page("Your alerts (ntfy) with their latest outcomes, and a form for a new one"),
        )
        .get(
            "/settings/webhooks",
            settings::webhooks,
            page("Webhooks: create, test, rotate secrets"),
        )
        .get(
            "/settings/webhooks/{id}",
            settings::webhook,
            page("A webhook and its delivery log"),
        )
        .get(
            "/settings/sip",
            settings::sip,
            page("SIP phones and trunks"),
        )
        .get(
            "/assets/dashboard.js",
            script,
            Spec::new(T, Auth::Public, "The dashboard's script").content("text/javascript"),
        )
        .get(
            "/sw.js",
            service_worker,
            Spec::new(
                T,
                Auth::Public,
                "The dashboard's service worker: Web Push alerts shown with the dashboard closed",
            )
            .content("text/javascript"),
        )
}

/// The service worker lives at the root so its scope is the whole dashboard.
const SW: &str = include_str!("../../assets/sw.js");

async fn service_worker() -> Response {
    page::asset(SW, "text/javascript; charset=utf-8")
}

async fn script() -> Response {
    page::asset(JS, "text/javascript; charset=utf-8")
}

/// `GET /console/calls/{id}`: the link `calls-waiting` hands out opens the call's page.
async fn console_call(axum::extract::Path(id): axum::extract::Path<String>) -> Response {
    let safe: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(64)
        .collect();
    Redirect::to(&format!("/calls/{safe}")).into_response()
}
