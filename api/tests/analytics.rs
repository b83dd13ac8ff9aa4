//! Router tests for visitor analytics, the campaign report, campaign aliases and the site
//! directory ([`ringside_api::analytics`]), fed through the real tracking endpoint; refusals
//! (401, 403, cross-tenant 404, 400/422 with nothing changed) — on SQLite, and on PostgreSQL
//! when `RINGSIDE_TEST_POSTGRES_URL` is set.

mod common;

use axum::http::StatusCode;
use common::{assert_error, uniq, Harness};
use serde_json::{json, Value};

const ORIGIN: (&str, &str) = ("origin", "https://example.com");
const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                      (KHTML, like Gecko) Chrome/124.0 Safari/537.36";
const SAFARI_IOS: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) \
                          AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
const SCOPES: &[&str] = &[
    "analytics:read",
    "widgets:write",
    "widgets:read",
    "messages:write",
];

/// The test context: the router and its store.
type Ctx = common::App;

struct Tenant {
    token: String,
    widget: String,
    key: String,
}

impl Ctx {
    async fn tenant(&self, prefix: &str) -> Tenant {
        let token = self
            .token(&format!("{}@an.example", uniq(prefix)), SCOPES)
            .await;
        let (st, w) = self
            .json(
                "POST",
                "/api/v1/widgets",
                &token,
                json!({"name": "Site", "allowedDomains": ["example.com"]}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{w}");
        Tenant {
            token,
            widget: w["id"].as_str().unwrap().into(),
            key: w["publicKey"].as_str().unwrap().into(),
        }
    }

    async fn track(&self, t: &Tenant, ua: &str, body: Value) {
        let auth = format!("Bearer {}", t.key);
        let r = self
            .send(
                "POST",
                &format!("/api/widgets/{}/track", t.widget),
                &[ORIGIN, ("authorization", &auth), ("user-agent", ua)],
                Some(&body.to_string()),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }

    async fn get(&self, t: &Tenant, path: &str) -> Value {
        let (st, b) = self.call("GET", path, Some(&t.token), None).await;
        assert_eq!(st, StatusCode::OK, "{path}: {b}");
        b
    }
}

#[tokio::test]
async fn analytics_report_and_aliases() {
    for backend in common::backends("ringside-analytics").await {
        let name = backend.name;
        let c = Ctx::on(&backend.store);
        let t = c.tenant("an").await;
        let paid = "https://example.com/pricing?utm_source=google&utm_medium=cpc\
                    &utm_campaign=spring-demo&gclid=G-1";
        c.track(
            &t,
            CHROME,
            json!({"visitorId": "visitor-paid-1", "event": "page_view", "url": paid,
                   "title": "Pricing", "referrer": "https://www.google.com/"}),
        )
        .await;
        c.track(
            &t,
            CHROME,
            json!({"visitorId": "visitor-paid-1", "event": "page_change",
                   "url": "https://example.com/contact", "title": "Contact us"}),
        )
        .await;
        c.track(
            &t,
            SAFARI_IOS,
            json!({"visitorId": "visitor-social", "event": "page_view",
                   "url": "https://example.com/pricing?utm_source=facebook&utm_campaign=spring-demo&fbclid=F-1",
                   "title": "Pricing", "referrer": "https://m.facebook.com/"}),
        )
        .await;
        c.track(
            &t,
            GOOGLEBOT,
            json!({"visitorId": "visitor-crawler", "event": "page_view",
                   "url": "https://example.com/", "title": "Home"}),
        )
        .await;
        // The paid visitor chats and leaves a callback.
        let r = c
            .send(
                "POST",
                &format!("/api/widgets/{}/chat?key={}", t.widget, t.key),
                &[ORIGIN],
                Some(
                    &json!({"sessionId": "visitor-paid-1", "visitorId": "visitor-paid-1", "message": "Pricing for 10 seats?"})
                        .to_string(),
                ),
            )
            .await;
        assert!(r.status.is_success(), "[{name}] chat: {}", r.body);
        let r = c
            .send(
                "POST",
                &format!("/api/widgets/{}/callbacks?key={}", t.widget, t.key),
                &[ORIGIN],
                Some(&json!({"visitorId": "visitor-paid-1", "phone": "+1 555 0100"}).to_string()),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "[{name}] {}", r.body);

        let a = c
            .get(
                &t,
                &format!("/api/v1/widgets/{}/analytics?limit=120", t.widget),
            )
            .await;
        assert_eq!(a["totals"]["visitors"], 3, "[{name}] {a}");
        assert_eq!(a["totals"]["liveNow"], 3);
        assert_eq!(a["totals"]["paidClicks"], 2);
        assert_eq!(a["totals"]["botLikeSessions"], 1);
        assert_eq!(a["paidClicks"]["gclid"], 1);
        assert_eq!(a["paidClicks"]["fbclid"], 1);
        assert_eq!(a["utm"]["campaign"][0]["value"], "spring-demo");
        assert_eq!(a["utm"]["campaign"][0]["visitors"], 2);
        let refs: Vec<&str> = a["referrers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["value"].as_str().unwrap())
            .collect();
        assert!(
            refs.contains(&"www.google.com") && refs.contains(&"m.facebook.com"),
            "{refs:?}"
        );
        assert!(refs.contains(&"(direct)"));
        assert_eq!(a["botLikeSessions"][0]["visitorId"], "visitor-crawler");
        assert_eq!(a["botLikeSessions"][0]["reasons"][0], "bot_user_agent");
        let devices: Vec<&str> = a["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["value"].as_str().unwrap())
            .collect();
        assert!(devices.contains(&"mobile"), "{devices:?}");
        assert_eq!(a["limit"], 120);
        // limit=1: only the most recently seen visitor.
        let one = c
            .get(
                &t,
                &format!("/api/v1/widgets/{}/analytics?limit=1", t.widget),
            )
            .await;
        assert_eq!(one["totals"]["visitors"], 1);

        // Aliases: set, read back, shown in the report; null removes.
        let aliases = format!("/api/v1/widgets/{}/campaign-aliases", t.widget);
        let (st, al) = c
            .json(
                "PATCH",
                &aliases,
                &t.token,
                json!({"aliases": [
                    {"tagKey": "utm_campaign", "tagValue": "spring-demo", "alias": "Spring demo ads"},
                    {"tagKey": "referrer", "tagValue": "m.facebook.com", "alias": "Facebook mobile"}]}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "[{name}] {al}");
        assert_eq!(al["aliases"].as_array().unwrap().len(), 2);
        assert_eq!(c.get(&t, &aliases).await["aliases"], al["aliases"]);
        let rep = c
            .get(&t, &format!("/api/v1/widgets/{}/campaign-report", t.widget))
            .await;
        let rows = rep["campaigns"].as_array().unwrap();
        let spring = rows
            .iter()
            .find(|r| r["tagKey"] == "utm_campaign" && r["tagValue"] == "spring-demo")
            .unwrap();
        assert_eq!(spring["alias"], "Spring demo ads");
        assert_eq!(spring["visitors"], 2);
        assert_eq!(spring["chattedVisitors"], 1, "[{name}] {spring}");
        assert_eq!(spring["leadVisitors"], 1);
        assert_eq!(spring["leadRate"], 0.5);
        let gclid = rows
            .iter()
            .find(|r| r["tagKey"] == "paid_click" && r["tagValue"] == "gclid")
            .unwrap();
        assert_eq!(gclid["leadVisitors"], 1);
        let (st, al) = c
            .json(
                "PATCH",
                &aliases,
                &t.token,
                json!({"aliases": [{"tagKey": "referrer", "tagValue": "m.facebook.com", "alias": null}]}),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(al["aliases"].as_array().unwrap().len(), 1);

        // Site directory: pages seen, without query strings, most viewed first.
        let dir = c
            .get(&t, &format!("/api/v1/widgets/{}/site-directory", t.widget))
            .await;
        let pages = dir["pages"].as_array().unwrap();
        assert_eq!(pages[0]["path"], "/pricing", "[{name}] {dir}");
        assert_eq!(pages[0]["views"], 2);
        assert_eq!(pages[0]["title"], "Pricing");
        let paths: Vec<&str> = pages.iter().map(|p| p["path"].as_str().unwrap()).collect();
        assert!(
            paths.contains(&"/contact") && paths.contains(&"/"),
            "{paths:?}"
        );
        backend.finish().await;
    }
}

#[tokio::test]
async fn analytics_refusals() {
    for backend in common::backends("ringside-analytics-refusals").await {
        let name = backend.name;
        let c = Ctx::on(&backend.store);
        let t = c.tenant("ar").await;
        let other = c.tenant("ao").await;
        let read_only = c
            .token(&format!("{}@an.example", uniq("ro")), &["analytics:read"])
            .await;
        let none = c
            .token(&format!("{}@an.example", uniq("no")), &["messages:read"])
            .await;
        let w = &t.widget;
        let aliases = format!("/api/v1/widgets/{w}/campaign-aliases");
        let body = json!({"aliases": [{"tagKey": "utm_source", "tagValue": "x", "alias": "X"}]})
            .to_string();
        let reads = [
            format!("/api/v1/widgets/{w}/analytics"),
            format!("/api/v1/widgets/{w}/campaign-report"),
            aliases.clone(),
            format!("/api/v1/widgets/{w}/site-directory"),
        ];
        for p in &reads {
            let (st, e) = c.call("GET", p, None, None).await;
            assert_eq!(st, StatusCode::UNAUTHORIZED, "[{name}] {p}");
            assert_error(&e, "unauthorized");
            let (st, e) = c.call("GET", p, Some(&none), None).await;
            assert_eq!(st, StatusCode::FORBIDDEN, "[{name}] {p}");
            assert_error(&e, "forbidden");
            let (st, e) = c.call("GET", p, Some(&other.token), None).await;
            assert_eq!(st, StatusCode::NOT_FOUND, "[{name}] {p}");
            assert_error(&e, "not_found");
        }
        let (st, _) = c.call("PATCH", &aliases, None, Some(&body)).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        let (st, _) = c
            .call("PATCH", &aliases, Some(&read_only), Some(&body))
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        let (st, _) = c
            .call("PATCH", &aliases, Some(&other.token), Some(&body))
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        // Bad limits and bodies; nothing is written by a batch with one bad entry.
        for q in ["?limit=0", "?limit=5001", "?limit=abc"] {
            let (st, e) = c
                .call(
                    "GET",
                    &format!("/api/v1/widgets/{w}/analytics{q}"),
                    Some(&t.token),
                    None,
                )
                .await;
            assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{q}");
            assert_error(&e, "invalid_field");
        }
        for (body, status, code) in [
            ("{", StatusCode::BAD_REQUEST, "invalid_body"),
            (r#"{"aliases":{}}"#, StatusCode::BAD_REQUEST, "invalid_body"),
            (
                r#"{"aliases":[{"tagKey":"utm_source","tagValue":"a","alias":"A","x":1}]}"#,
                StatusCode::BAD_REQUEST,
                "invalid_body",
            ),
            (
                r#"{"aliases":[{"tagKey":"utm_source","tagValue":"a","alias":"A"},
                               {"tagKey":"color","tagValue":"b","alias":"B"}]}"#,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
            ),
            (
                r#"{"aliases":[{"tagKey":"utm_source","tagValue":"  ","alias":"A"}]}"#,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
            ),
        ] {
            let (st, e) = c.call("PATCH", &aliases, Some(&t.token), Some(body)).await;
            assert_eq!(st, status, "[{name}] {body}: {e}");
            assert_error(&e, code);
        }
        assert_eq!(
            c.get(&t, &aliases).await["aliases"],
            json!([]),
            "[{name}] nothing stored"
        );
        backend.finish().await;
    }
}
