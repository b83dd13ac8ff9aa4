//! Alerts sent (issue 19), on SQLite and PostgreSQL, to a loopback server implementing ntfy's
//! JSON publish API (`POST /` with `{"topic", "title", "message", "priority", "tags",
//! "click", "actions"}`, checked as ntfy checks it, with an access token or user/password):
//! a ringing call arrives urgent with its click URL and Answer / Open chat actions; a burst of
//! ten visitors is one alert at once and one grouped alert of nine; failures are retried then
//! the rule is `failing` until an alert gets through; quiet hours, a widget the user does not
//! see, operators' own chat messages and visitors outside the rule's filter send nothing; the
//! test endpoint; a server on the machine's own network refused under the default policy.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use common::{backends, uniq, Harness};
use ringside_api::alert_dispatch::{AlertConfig, AlertDispatcher};
use ringside_api::outbound::FetchPolicy;
use ringside_storage::{NewInvite, Role, Store};
use serde_json::{json, Value};

type Ctx = common::StateApp;

const RW: &[&str] = &["webhooks:read", "webhooks:write", "widgets:write"];

/// One message the ntfy server took.
#[derive(Debug, Clone)]
struct Published {
    auth: Option<String>,
    content_type: Option<String>,
    body: Value,
}

/// A loopback ntfy server: `POST /` with a JSON message, validated as ntfy validates it
/// (topic `[-_A-Za-z0-9]{1,64}`, priority 1-5, tags strings, at most 3 actions of a known
/// type with a label, `view` ones with an http(s) URL, an http(s) click URL); protected
/// topics need the right `Authorization`. Answers with the message envelope ntfy returns, or
/// with the scripted statuses first.
#[derive(Clone, Default)]
struct Ntfy {
    got: Arc<Mutex<Vec<Published>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    /// Topic → the `Authorization` it needs.
    protected: Arc<Mutex<Vec<(String, String)>>>,
}

fn http_url(v: &Value) -> bool {
    v.as_str()
        .and_then(|u| reqwest::Url::parse(u).ok())
        .is_some_and(|u| matches!(u.scheme(), "http" | "https"))
}

/// What ntfy would refuse in a JSON publish body.
fn invalid(m: &Value) -> Option<&'static str> {
    let topic = m["topic"].as_str().unwrap_or("");
    if topic.is_empty()
        || topic.len() > 64
        || !topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Some("topic");
    }
    if !m["priority"].is_null() && !m["priority"].as_u64().is_some_and(|p| (1..=5).contains(&p)) {
        return Some("priority");
    }
    if !m["tags"].is_null()
        && !m["tags"]
            .as_array()
            .is_some_and(|t| t.iter().all(Value::is_string))
    {
        return Some("tags");
    }
    if !m["click"].is_null() && !http_url(&m["click"]) {
        return Some("click");
    }
    if let Some(actions) = m.get("actions").filter(|a| !a.is_null()) {
        let Some(list) = actions.as_array() else {
            return Some("actions");
        };
        if list.len() > 3 {
            return Some("actions: at most 3");
        }
        for a in list {
            let kind = a["action"].as_str().unwrap_or("");
            if !["view", "http", "broadcast", "copy"].contains(&kind)
                || a["label"].as_str().is_none_or(str::is_empty)
                || (kind == "view" && !http_url(&a["url"]))
            {
                return Some("action");
            }
        }
    }
    if m["message"].as_str().is_some_and(|s| s.len() > 4096) {
        return Some("message too long");
    }
    None
}

impl Ntfy {
    async fn start() -> (Ntfy, String) {
        let me = Ntfy::default();
        let state = me.clone();
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let me = state.clone();
                async move {
                    let h = |n: &str| {
                        headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    };
                    let Ok(m) = serde_json::from_slice::<Value>(&body) else {
                        return (StatusCode::BAD_REQUEST, "not JSON".to_owned());
                    };
                    if let Some(why) = invalid(&m) {
                        return (StatusCode::BAD_REQUEST, why.to_owned());
                    }
                    let topic = m["topic"].as_str().unwrap_or("").to_owned();
                    let needs = me
                        .protected
                        .lock()
                        .unwrap()
                        .iter()
                        .find(|(t, _)| *t == topic)
                        .map(|(_, a)| a.clone());
                    if needs.is_some() && needs != h("authorization") {
                        return (StatusCode::FORBIDDEN, "forbidden".to_owned());
                    }
                    me.got.lock().unwrap().push(Published {
                        auth: h("authorization"),
                        content_type: h("content-type"),
                        body: m.clone(),
                    });
                    if let Some(s) = me.script.lock().unwrap().pop_front() {
                        return (StatusCode::from_u16(s).unwrap(), "scripted".to_owned());
                    }
                    let envelope = json!({"id": uniq("m"), "time": 0, "event": "message",
                                          "topic": topic, "message": m["message"]});
                    (StatusCode::OK, envelope.to_string())
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (me, format!("http://{addr}"))
    }

    fn on(&self, topic: &str) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.body["topic"] == topic)
            .map(|p| p.body.clone())
            .collect()
    }
}

/// Waits (polling) until `f` holds; panics with `what` if it never does.
async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..1500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never happened: {what}");
}

fn lab() -> FetchPolicy {
    FetchPolicy {
        allow_private: true,
    }
}

/// A sender polling fast, retrying at once, giving up after 3 attempts.
fn sender(store: &Store, policy: FetchPolicy) -> tokio::task::JoinHandle<()> {
    let mut config = AlertConfig::new(common::PUBLIC_URL, [7; 32], policy);
    config.dispatch.poll_interval = Duration::from_millis(20);
    config.dispatch.base_backoff = Duration::from_millis(10);
    config.dispatch.max_attempts = 3;
    AlertDispatcher::new(store.clone(), config).unwrap().spawn()
}

/// Aborts the sender when the test ends (or fails).
struct Running(tokio::task::JoinHandle<()>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn rule(c: &Ctx, token: &str, body: Value) -> String {
    let (st, r) = c.json("POST", "/api/v1/alert-rules", token, body).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    r["id"].as_str().unwrap().to_owned()
}

async fn log(c: &Ctx, token: &str, rule: &str) -> Vec<Value> {
    let (st, l) = c
        .call(
            "GET",
            &format!("/api/v1/alert-rules/{rule}/deliveries"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{l}");
    l["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn alerts_reach_an_ntfy_server() {
    for b in backends("ringside-alert-send").await {
        let n = b.name;
        let store = b.store.clone();
        let c = Ctx::new(ringside_api::AppState {
            fetch_policy: lab(),
            link_secret: [7; 32].into(),
            ..common::state(&store)
        });
        let (ntfy, url) = Ntfy::start().await;
        ntfy.protected
            .lock()
            .unwrap()
            .push(("desk".into(), "Bearer tk_desk_secret".into()));
        let _sender = Running(sender(&store, lab()));
        let email = format!("{}@alerts.example", uniq("al"));
        let token = c.token(&email, RW).await;
        let owner = store.ensure_user(&email).await.unwrap();
        let tenant = owner.tenant_id.clone();
        let (_, w) = c
            .json("POST", "/api/v1/widgets", &token, json!({"name": "Shop"}))
            .await;
        let shop = w["id"].as_str().unwrap().to_owned();
        let (_, w) = c
            .json("POST", "/api/v1/widgets", &token, json!({"name": "Blog"}))
            .await;
        let blog = w["id"].as_str().unwrap().to_owned();

        // A ringing call: urgent, the call's page, Answer and Open chat.
        let calls = rule(
            &c,
            &token,
            json!({"name": "Calls", "events": ["call.requested", "call.missed"],
                   "channel": {"type": "ntfy", "url": url, "topic": "desk", "token": "tk_desk_secret"}}),
        )
        .await;
        let call_page = format!("{}/calls/call-77", common::PUBLIC_URL);
        store
            .enqueue_webhook_event(
                &tenant,
                "call.requested",
                None,
                &json!({"callId": "call-77", "widgetId": shop, "visitorId": "vis-1",
                        "from": "sip:visitor@ringside", "dashboardUrl": call_page}),
            )
            .await
            .unwrap();
        eventually("the call's alert", || ntfy.on("desk").len() == 1).await;
        let got = ntfy.got.lock().unwrap()[0].clone();
        assert_eq!(got.auth.as_deref(), Some("Bearer tk_desk_secret"));
        assert_eq!(got.content_type.as_deref(), Some("application/json"));
        let m = got.body;
        assert_eq!(m["priority"], 5, "[{n}] a ringing call is urgent: {m}");
        assert_eq!(m["title"], "Incoming call · Shop");
        assert_eq!(m["message"], "A visitor on your site");
        assert_eq!(m["click"], call_page);
        assert_eq!(m["tags"], json!(["telephone_receiver"]));
        assert_eq!(
            m["actions"],
            json!([
                {"action": "view", "label": "Answer", "url": call_page, "clear": true},
                {"action": "view", "label": "Open chat", "clear": true,
                 "url": format!("{}/inbox/{shop}/vis-1", common::PUBLIC_URL)}
            ])
        );
        let mut entries = Vec::new();
        for _ in 0..200 {
            entries = log(&c, &token, &calls).await;
            if entries.first().is_some_and(|e| e["status"] == "delivered") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(entries[0]["status"], "delivered", "[{n}] {entries:?}");
        assert_eq!(entries[0]["lastStatusCode"], 200);
        assert_eq!(entries[0]["attempts"], 1);

        // Ten visitors in a burst: the first at once, the other nine as one when the window
        // closes.
        let visitors = rule(
            &c,
            &token,
            json!({"name": "Visitors", "events": ["visitor.connected"], "widgetIds": [shop],
                   "groupSecs": 2,
                   "channel": {"type": "ntfy", "url": url, "topic": "visitors"}}),
        )
        .await;
        for i in 0..10 {
            store
                .enqueue_webhook_event(
                    &tenant,
                    "visitor.connected",
                    Some(&shop),
                    &json!({"widgetId": shop, "visitorId": format!("v{i}"),
                            "pageTitle": format!("Page {i}"), "currentUrl": "https://shop.example/p"}),
                )
                .await
                .unwrap();
        }
        eventually("the first visitor's alert", || {
            !ntfy.on("visitors").is_empty()
        })
        .await;
        let first = ntfy.on("visitors")[0].clone();
        assert_eq!(first["title"], "Visitor on your site · Shop", "{first}");
        assert_eq!(first["message"], "On Page 0");
        assert_eq!(first["priority"], 3);
        assert_eq!(
            first["click"],
            format!("{}/inbox/{shop}/v0", common::PUBLIC_URL)
        );
        eventually("the grouped alert", || ntfy.on("visitors").len() == 2).await;
        let grouped = ntfy.on("visitors")[1].clone();
        assert_eq!(
            grouped["title"], "9 visitors on your site",
            "[{n}] {grouped}"
        );
        let lines: Vec<&str> = grouped["message"].as_str().unwrap().lines().collect();
        assert_eq!(lines.len(), 9, "{grouped}");
        assert_eq!(lines[0], "• On Page 1 · Shop");
        assert_eq!(grouped["click"], format!("{}/", common::PUBLIC_URL));
        let entries = log(&c, &token, &visitors).await;
        assert_eq!(entries.len(), 2, "{entries:?}");
        assert_eq!(entries[0]["eventCount"], 9);
        assert_eq!(entries[1]["eventCount"], 1);
        // Another widget's visitor is not this rule's.
        store
            .enqueue_webhook_event(
                &tenant,
                "visitor.connected",
                Some(&blog),
                &json!({"widgetId": blog, "visitorId": "vb"}),
            )
            .await
            .unwrap();
        assert_eq!(log(&c, &token, &visitors).await.len(), 2);

        // Chat: visitors' messages alert, the team's own answers do not.
        let chat = rule(
            &c,
            &token,
            json!({"name": "Chat", "events": ["chat.message.created"], "groupSecs": 0,
                   "channel": {"type": "ntfy", "url": url, "topic": "chat",
                               "username": "ana", "password": "pa:ss"}}),
        )
        .await;
        for (sender, body) in [
            ("operator", "Hello, how can I help?"),
            ("visitor", "Do you ship to Porto?"),
        ] {
            store
                .enqueue_webhook_event(
                    &tenant,
                    "chat.message.created",
                    Some(&shop),
                    &json!({"widgetId": shop, "visitorId": "v3", "sender": sender, "body": body}),
                )
                .await
                .unwrap();
        }
        eventually("the chat alert", || ntfy.on("chat").len() == 1).await;
        let m = ntfy.on("chat")[0].clone();
        assert_eq!(m["message"], "“Do you ship to Porto?”");
        assert_eq!(m["priority"], 4);
        let auth = ntfy
            .got
            .lock()
            .unwrap()
            .iter()
            .find(|p| p.body["topic"] == "chat")
            .and_then(|p| p.auth.clone());
        assert_eq!(
            auth.as_deref(),
            Some("Basic YW5hOnBhOnNz"),
            "user ana, password pa:ss"
        );
        assert_eq!(log(&c, &token, &chat).await.len(), 1);

        // A visitor filter: only visitors on the pricing page, or from a campaign.
        let pricing = rule(
            &c,
            &token,
            json!({"name": "Pricing", "events": ["visitor.connected"], "groupSecs": 0,
                   "visitorFilter": {"pageContains": "/PRICING"},
                   "channel": {"type": "ntfy", "url": url, "topic": "pricing"}}),
        )
        .await;
        for page in [
            "https://shop.example/about",
            "https://shop.example/pricing?x=1",
        ] {
            store
                .enqueue_webhook_event(
                    &tenant,
                    "visitor.connected",
                    Some(&shop),
                    &json!({"widgetId": shop, "visitorId": "vf", "currentUrl": page}),
                )
                .await
                .unwrap();
        }
        eventually("the pricing visitor", || ntfy.on("pricing").len() == 1).await;
        assert_eq!(log(&c, &token, &pricing).await.len(), 1);

        // The test endpoint, whatever the rule's events.
        let (st, t) = c
            .call(
                "POST",
                &format!("/api/v1/alert-rules/{pricing}/test"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::ACCEPTED, "{t}");
        assert_eq!(t["eventType"], "alert.test");
        eventually("the test alert", || ntfy.on("pricing").len() == 2).await;
        let m = ntfy.on("pricing")[1].clone();
        assert_eq!(m["title"], "Ringside test alert");
        assert_eq!(m["message"], "Alerts of the rule “Pricing” reach you here.");

        // Failures: retried, then failed and the rule failing; a later success clears it.
        ntfy.script.lock().unwrap().extend([500, 503, 502]);
        store
            .enqueue_webhook_event(
                &tenant,
                "call.missed",
                None,
                &json!({"callId": "call-78", "widgetId": shop, "from": "+351210000000"}),
            )
            .await
            .unwrap();
        let mut entries = Vec::new();
        for _ in 0..500 {
            entries = log(&c, &token, &calls).await;
            if entries[0]["status"] == "failed" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(entries[0]["status"], "failed", "[{n}] {entries:?}");
        assert_eq!(entries[0]["attempts"], 3);
        assert_eq!(entries[0]["lastStatusCode"], 502);
        assert_eq!(entries[0]["lastError"], "the ntfy server answered HTTP 502");
        let (_, r) = c
            .call(
                "GET",
                &format!("/api/v1/alert-rules/{calls}"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(r["failing"], true, "{r}");
        let (st, _) = c
            .call(
                "POST",
                &format!("/api/v1/alert-rules/{calls}/test"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::ACCEPTED);
        let mut failing = true;
        for _ in 0..500 {
            let (_, r) = c
                .call(
                    "GET",
                    &format!("/api/v1/alert-rules/{calls}"),
                    Some(&token),
                    None,
                )
                .await;
            failing = r["failing"] == true;
            if !failing {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!failing, "[{n}] a delivered alert clears failing");
        // A wrong token: ntfy's 403, retried, then failed.
        let (st, _) = c
            .json(
                "PATCH",
                &format!("/api/v1/alert-rules/{calls}"),
                &token,
                json!({"channel": {"type": "ntfy", "url": url, "topic": "desk", "token": "tk_wrong"}}),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        c.call(
            "POST",
            &format!("/api/v1/alert-rules/{calls}/test"),
            Some(&token),
            None,
        )
        .await;
        for _ in 0..500 {
            entries = log(&c, &token, &calls).await;
            if entries[0]["status"] == "failed" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(entries[0]["lastStatusCode"], 403, "{entries:?}");

        // Quiet hours now: suppressed, nothing sent.
        let hour = (ringside_storage::now_ms() / 3_600_000) % 24;
        let quiet = rule(
            &c,
            &token,
            json!({"name": "Quiet", "events": ["callback.submitted"],
                   "quietHours": {"from": format!("{hour:02}:00"), "to": format!("{:02}:00", (hour + 1) % 24),
                                  "timeZone": "UTC"},
                   "channel": {"type": "ntfy", "url": url, "topic": "quiet"}}),
        )
        .await;
        store
            .enqueue_webhook_event(
                &tenant,
                "callback.submitted",
                Some(&shop),
                &json!({"widgetId": shop, "kind": "callback", "name": "Rui"}),
            )
            .await
            .unwrap();
        let mut entries = Vec::new();
        for _ in 0..500 {
            entries = log(&c, &token, &quiet).await;
            if entries.first().is_some_and(|e| e["status"] != "pending") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(entries[0]["status"], "suppressed", "[{n}] {entries:?}");
        assert_eq!(entries[0]["lastError"], "quiet hours");
        assert!(ntfy.on("quiet").is_empty());

        // An agent given only the blog: a rule covering "every widget I see" never tells of
        // the shop (queued by the rule, suppressed when sent), even if made before the change.
        let (invite, secret) = store
            .create_invite(NewInvite {
                tenant_id: &tenant,
                invited_by: &owner.id,
                email: &format!("{}@alerts.example", uniq("agent")),
                role: Role::Agent,
                now: ringside_storage::now_ms(),
                ttl_ms: 86_400_000,
            })
            .await
            .unwrap();
        let agent = store
            .accept_invite(&secret, &invite.email, ringside_storage::now_ms())
            .await
            .unwrap();
        store
            .set_user_widgets(&tenant, &agent.id, Some(std::slice::from_ref(&blog)))
            .await
            .unwrap();
        let agent_rule = store
            .create_alert_rule(&ringside_storage::AlertRule {
                id: String::new(),
                tenant_id: tenant.clone(),
                user_id: agent.id.clone(),
                name: "Mine".into(),
                events: vec!["callback.submitted".into(), "usage.updated".into()],
                widget_ids: None,
                channel_type: "ntfy".into(),
                channel: json!({"url": url, "topic": "agent"}),
                secret_sealed: None,
                quiet: None,
                visitor_filter: None,
                group_secs: 0,
                enabled: true,
                failing: false,
                created_at: 0,
                updated_at: 0,
            })
            .await
            .unwrap();
        for (w, who) in [(&shop, "Shop visitor"), (&blog, "Blog visitor")] {
            store
                .enqueue_webhook_event(
                    &tenant,
                    "callback.submitted",
                    Some(w),
                    &json!({"widgetId": w, "kind": "callback", "name": who}),
                )
                .await
                .unwrap();
        }
        store
            .enqueue_webhook_event(&tenant, "usage.updated", None, &json!({"metric": "calls"}))
            .await
            .unwrap();
        eventually("the blog's callback", || ntfy.on("agent").len() == 1).await;
        let mut ended = Vec::new();
        for _ in 0..500 {
            ended = store
                .list_alert_deliveries(&tenant, &agent.id, &agent_rule.id, 10)
                .await
                .unwrap();
            if ended.iter().all(|d| d.status != "pending") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut states: Vec<(String, Option<String>)> = ended
            .iter()
            .map(|d| (d.status.clone(), d.widget_id.clone()))
            .collect();
        states.sort();
        assert_eq!(
            states,
            [
                ("delivered".to_owned(), Some(blog.clone())),
                ("suppressed".to_owned(), None),
                ("suppressed".to_owned(), Some(shop.clone())),
            ],
            "[{n}]"
        );
        let agent_got = ntfy.on("agent");
        assert_eq!(agent_got.len(), 1);
        assert!(agent_got[0]["message"]
            .as_str()
            .unwrap()
            .contains("Blog visitor"));
        assert!(
            !ntfy
                .got
                .lock()
                .unwrap()
                .iter()
                .any(|p| p.body["topic"] == "agent" && p.body.to_string().contains("Shop")),
            "nothing of a widget the agent does not see"
        );
        b.finish().await;
    }
}

/// Under the default policy a rule whose server is on the machine's own network (made while
/// it was allowed) is refused when sent, and the server never contacted.
#[tokio::test]
async fn servers_on_the_own_network_are_refused_by_default() {
    let b = backends("ringside-alert-strict").await.remove(0);
    let store = b.store.clone();
    let lab_ctx = Ctx::new(ringside_api::AppState {
        fetch_policy: lab(),
        ..common::state(&store)
    });
    let strict = Ctx::new(common::state(&store));
    let (ntfy, url) = Ntfy::start().await;
    let email = format!("{}@alerts.example", uniq("st"));
    let token = lab_ctx.token(&email, RW).await;
    let tenant = store.ensure_user(&email).await.unwrap().tenant_id;
    let body = json!({"name": "Local", "events": ["usage.updated"],
                      "channel": {"type": "ntfy", "url": url, "topic": "local"}});
    let (st, r) = strict
        .json("POST", "/api/v1/alert-rules", &token, body.clone())
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
    let id = rule(&lab_ctx, &token, body).await;
    let _sender = Running(sender(&store, FetchPolicy::STRICT));
    store
        .enqueue_webhook_event(&tenant, "usage.updated", None, &json!({}))
        .await
        .unwrap();
    let mut entries = Vec::new();
    for _ in 0..500 {
        entries = log(&lab_ctx, &token, &id).await;
        if entries.first().is_some_and(|e| e["status"] != "pending") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(entries[0]["status"], "failed", "{entries:?}");
    assert!(
        entries[0]["lastError"]
            .as_str()
            .unwrap()
            .starts_with("refused:"),
        "{entries:?}"
    );
    assert!(ntfy.got.lock().unwrap().is_empty(), "never contacted");
    // An email rule with no SMTP server configured: its test alert fails saying so.
    let (st, m) = lab_ctx
        .json(
            "POST",
            "/api/v1/alert-rules",
            &token,
            json!({"name": "Mail", "events": ["call.missed"], "channel": {"type": "email", "address": "ana@example.com"}}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let mail_rule = m["id"].as_str().unwrap().to_owned();
    let (st, e) = lab_ctx
        .call(
            "POST",
            &format!("/api/v1/alert-rules/{mail_rule}/test"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{e}");
    let mut entries = Vec::new();
    for _ in 0..500 {
        entries = log(&lab_ctx, &token, &mail_rule).await;
        if entries.first().is_some_and(|e| e["status"] != "pending") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(entries[0]["status"], "failed", "{entries:?}");
    assert_eq!(
        entries[0]["lastError"],
        "no SMTP server is configured (RINGSIDE_SMTP_URL)"
    );
    b.finish().await;
}

#[path = "alert_delivery/email.rs"]
mod email;
