//! Router tests for account usage and limits ([`ringside_api::usage`]) and the
//! `usage.updated` and `visitor.connected` webhook events — on SQLite, and on PostgreSQL
//! when `RINGSIDE_TEST_POSTGRES_URL` is set.

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::{assert_error, uniq, Harness};
use ringside_api::presence::ManualClock;
use ringside_api::usage::month_bounds;
use ringside_api::{router, AppState, Presence, UsageLimits};
use ringside_storage::{NewWebhook, Store};
use serde_json::{json, Value};

const ORIGIN: (&str, &str) = ("origin", "https://example.com");
const SCOPES: &[&str] = &[
    "analytics:read",
    "widgets:write",
    "webhooks:write",
    "messages:write",
    "messages:read",
];

struct Ctx {
    app: axum::Router,
    store: Store,
    clock: Arc<ManualClock>,
}

impl Harness for Ctx {
    fn app(&self) -> &axum::Router {
        &self.app
    }
    fn store(&self) -> &Store {
        &self.store
    }
}

/// The manual clock starts at the real time: storage stamps rows with the real clock, and
/// monthly counts must see them in the same month.
fn ctx(store: Store, limits: UsageLimits) -> Ctx {
    let clock = Arc::new(ManualClock::new(ringside_storage::now_ms()));
    let presence = Arc::new(Presence::with_clock(
        store.clone(),
        ringside_api::PresenceConfig {
            public_url: Some(format!("{}/", common::PUBLIC_URL)),
            ..Default::default()
        },
        clock.clone(),
    ));
    let app = router(AppState {
        presence,
        usage_limits: limits,
        ..common::state(&store)
    });
    Ctx { app, store, clock }
}

impl Ctx {
    fn clock_now(&self) -> i64 {
        use ringside_api::presence::Clock;
        self.clock.now_ms()
    }

    async fn events(&self, tenant: &str, hook: &str, kind: &str) -> Vec<Value> {
        self.store
            .list_webhook_deliveries(tenant, hook, 500)
            .await
            .unwrap()
            .into_iter()
            .filter(|d| d.event_type == kind)
            .map(|d| serde_json::from_str(&d.payload).unwrap())
            .collect()
    }
}

#[tokio::test]
async fn limits_are_reported_enforced_and_announced() {
    for backend in common::backends("ringside-usage").await {
        let name = backend.name;
        let limits = UsageLimits {
            widgets: 2,
            webhooks: 1,
            contacts: 1,
            monthly_messages: 5,
            monthly_callbacks: 1,
            ..UsageLimits::default()
        };
        let c = ctx(backend.store.clone(), limits);
        let email = format!("{}@u.example", uniq("use"));
        let token = c.token(&email, SCOPES).await;
        let tenant = c.store.ensure_user(&email).await.unwrap().tenant_id;
        // The webhook is made first, so every event below is queued for it.
        let hook = c
            .store
            .create_webhook(
                &tenant,
                NewWebhook {
                    name: "usage".into(),
                    url: "http://127.0.0.1:9/hook".into(),
                    events: vec!["usage.updated".into(), "visitor.connected".into()],
                    widget_ids: vec![],
                },
            )
            .await
            .unwrap()
            .id;
        let (st, w) = c
            .json(
                "POST",
                "/api/v1/widgets",
                &token,
                json!({"name": "Site", "allowedDomains": ["example.com"]}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{w}");
        let widget = w["id"].as_str().unwrap().to_owned();
        let key = w["publicKey"].as_str().unwrap().to_owned();

        let (st, u) = c
            .call("GET", "/api/v1/account/usage", Some(&token), None)
            .await;
        assert_eq!(st, StatusCode::OK, "[{name}] {u}");
        assert_eq!(u["usage"]["widgets"], 1);
        assert_eq!(u["usage"]["webhooks"], 1);
        assert_eq!(u["limits"]["widgets"], 2);
        assert_eq!(u["remaining"]["widgets"], 1);
        assert_eq!(u["limits"]["monthlyMessages"], 5);
        let t0 = c.clock_now();
        let (start, end) = month_bounds(t0);
        assert_eq!(u["period"]["start"], start);
        assert_eq!(u["period"]["end"], end);
        assert_eq!(u["atLimit"], json!(["webhooks"]));

        // Widgets: the second is allowed, the third refused (no Retry-After: not monthly).
        let body = json!({"name": "Two", "allowedDomains": ["example.com"]});
        let (st, _) = c
            .json("POST", "/api/v1/widgets", &token, body.clone())
            .await;
        assert_eq!(st, StatusCode::CREATED);
        let r = c
            .send(
                "POST",
                "/api/v1/widgets",
                &[("authorization", &format!("Bearer {token}"))],
                Some(&body.to_string()),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::TOO_MANY_REQUESTS,
            "[{name}] {}",
            r.body
        );
        assert_error(&r.body, "usage_limit_exceeded");
        assert_eq!(r.header("retry-after"), None);
        assert_eq!(c.store.list_widgets(&tenant).await.unwrap().len(), 2);
        // Webhooks are at their limit already.
        let (st, e) = c
            .json(
                "POST",
                "/api/v1/webhooks",
                &token,
                json!({"name": "h2", "url": "https://hooks.example.net/x", "events": ["call.missed"]}),
            )
            .await;
        assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "{e}");
        assert_error(&e, "usage_limit_exceeded");
        // Reaching 100 % of the widget limit queued usage.updated at 80 % and 100 %, once.
        let ev = c.events(&tenant, &hook, "usage.updated").await;
        let widget_alerts: Vec<&Value> = ev.iter().filter(|e| e["metric"] == "widgets").collect();
        assert_eq!(widget_alerts.len(), 2, "[{name}] {ev:?}");
        let mut thresholds: Vec<i64> = widget_alerts
            .iter()
            .map(|e| e["thresholdPercent"].as_i64().unwrap())
            .collect();
        thresholds.sort_unstable();
        assert_eq!(thresholds, [80, 100]);

        // Messages: five a month, then 429 with Retry-After until the month ends; the
        // visitor's chat gets it too, with CORS.
        for i in 0..5 {
            let (st, m) = c
                .json(
                    "POST",
                    &format!("/api/v1/widgets/{widget}/messages"),
                    &token,
                    json!({"visitorId": "visitor-u-1", "body": format!("m{i}")}),
                )
                .await;
            assert_eq!(st, StatusCode::CREATED, "[{name}] {m}");
        }
        let r = c
            .send(
                "POST",
                &format!("/api/widgets/{widget}/chat?key={key}"),
                &[ORIGIN],
                Some(&json!({"sessionId": "visitor-u-1", "message": "hello?"}).to_string()),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::TOO_MANY_REQUESTS,
            "[{name}] {}",
            r.body
        );
        assert_error(&r.body, "usage_limit_exceeded");
        let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert_eq!(retry as i64, (end - t0) / 1000 + 1);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://example.com")
        );
        assert_eq!(
            c.store
                .list_messages(&tenant, &widget, None, 100)
                .await
                .unwrap()
                .len(),
            5
        );
        let msg_alerts = c
            .events(&tenant, &hook, "usage.updated")
            .await
            .into_iter()
            .filter(|e| e["metric"] == "monthlyMessages")
            .count();
        assert_eq!(msg_alerts, 2);
        // Callbacks: one a month; the lead makes the one contact allowed.
        let cb = |body: Value| {
            let path = format!("/api/widgets/{widget}/callbacks?key={key}");
            let c = &c;
            async move {
                c.send("POST", &path, &[ORIGIN], Some(&body.to_string()))
                    .await
            }
        };
        let r = cb(json!({"phone": "+1 555 0100", "visitorId": "visitor-u-1"})).await;
        assert_eq!(r.status, StatusCode::CREATED, "[{name}] {}", r.body);
        let r = cb(json!({"phone": "+1 555 0101", "visitorId": "visitor-u-2"})).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert_error(&r.body, "usage_limit_exceeded");
        let (st, e) = c
            .json(
                "POST",
                "/api/v1/contacts",
                &token,
                json!({"email": "second@example.com"}),
            )
            .await;
        assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "[{name}] {e}");
        let (_, u) = c
            .call("GET", "/api/v1/account/usage", Some(&token), None)
            .await;
        assert_eq!(u["usage"]["contacts"], 1);
        assert_eq!(u["usage"]["monthlyCallbacks"], 1);
        assert_eq!(u["usage"]["monthlyMessages"], 5);
        assert_eq!(u["remaining"]["monthlyMessages"], 0);

        // Next month the count starts again.
        c.clock.advance(end - t0 + 1);
        let (st, _) = c
            .json(
                "POST",
                &format!("/api/v1/widgets/{widget}/messages"),
                &token,
                json!({"visitorId": "visitor-u-1", "body": "new month"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "[{name}]");

        // Refusals: no token, no scope.
        let (st, _) = c.call("GET", "/api/v1/account/usage", None, None).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        let other = c.token(&email, &["widgets:read"]).await;
        let (st, e) = c
            .call("GET", "/api/v1/account/usage", Some(&other), None)
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        assert_error(&e, "forbidden");
        backend.finish().await;
    }
}

#[tokio::test]
async fn visitor_connected_once_per_visit() {
    for backend in common::backends("ringside-usage-vc").await {
        let name = backend.name;
        let c = ctx(backend.store.clone(), UsageLimits::default());
        let email = format!("{}@u.example", uniq("vc"));
        let token = c.token(&email, SCOPES).await;
        let tenant = c.store.ensure_user(&email).await.unwrap().tenant_id;
        let (_, w) = c
            .json(
                "POST",
                "/api/v1/widgets",
                &token,
                json!({"name": "Site", "allowedDomains": ["example.com"]}),
            )
            .await;
        let widget = w["id"].as_str().unwrap().to_owned();
        let key = w["publicKey"].as_str().unwrap().to_owned();
        let hook = c
            .store
            .create_webhook(
                &tenant,
                NewWebhook {
                    name: "v".into(),
                    url: "http://127.0.0.1:9/hook".into(),
                    events: vec!["visitor.connected".into()],
                    widget_ids: vec![widget.clone()],
                },
            )
            .await
            .unwrap()
            .id;
        let track = |event: &'static str| {
            let (c, widget, key) = (&c, widget.clone(), key.clone());
            async move {
                let auth = format!("Bearer {key}");
                let body = json!({"visitorId": "visitor-vc-1", "event": event,
                                  "url": "https://example.com/?utm_source=news"});
                let r = c
                    .send(
                        "POST",
                        &format!("/api/widgets/{widget}/track"),
                        &[ORIGIN, ("authorization", &auth)],
                        Some(&body.to_string()),
                    )
                    .await;
                assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            }
        };
        track("page_view").await;
        track("heartbeat").await;
        track("click").await;
        let ev = c.events(&tenant, &hook, "visitor.connected").await;
        assert_eq!(ev.len(), 1, "[{name}] {ev:?}");
        assert_eq!(ev[0]["visitorId"], "visitor-vc-1");
        assert_eq!(ev[0]["visitCount"], 1);
        assert_eq!(ev[0]["utmSource"], "news");
        // The visitor's page of the dashboard.
        assert_eq!(
            ev[0]["dashboardUrl"],
            format!("{}/inbox/{widget}/visitor-vc-1", common::PUBLIC_URL),
            "[{name}]"
        );
        // Back after the 30-minute session timeout: a second visit, a second event.
        c.clock.advance(31 * 60 * 1000);
        track("heartbeat").await;
        let ev = c.events(&tenant, &hook, "visitor.connected").await;
        assert_eq!(ev.len(), 2, "[{name}]");
        assert_eq!(ev.iter().filter(|e| e["visitCount"] == 2).count(), 1);
        backend.finish().await;
    }
}
