//! Web Push alerts end to end (issue 19): a running `ringside serve` sends a rule's alert to a
//! loopback push service (`tests/push_service.py`), which checks the VAPID JWT with the key
//! Ringside names, decrypts the message with `http_ece` (an independent RFC 8291
//! implementation) and hands back what a browser would get; an expired subscription (410) ends
//! the alert failed. In headless Chromium, the dashboard's alerts page registers the service
//! worker at the root and subscribes with the server's VAPID key (accepted by the browser: a
//! subscription, or a push-service failure, never a key refusal), and the service worker,
//! given the decrypted message as a push, shows its notification.

use std::process::Stdio;
use std::time::Duration;

use ringside_e2e::{sign_in_by_form, Server, SmtpSink};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The loopback push service: its subscription, and its output lines.
struct PushService {
    child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    sub: Value,
}

impl PushService {
    async fn start() -> PushService {
        let mut child = tokio::process::Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/push_service.py"))
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 tests/push_service.py (http_ece installed by tests/run.sh)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the push service starts")
            .unwrap()
            .expect("its subscription");
        PushService {
            child,
            lines,
            sub: serde_json::from_str(&first).unwrap(),
        }
    }

    /// The next push it took (decrypted), or what it found wrong.
    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(30), self.lines.next_line())
            .await
            .expect("a push arrives")
            .unwrap()
            .expect("a line");
        serde_json::from_str(&line).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_push_alerts_reach_a_browser() {
    let mut push = PushService::start().await;
    let mail = SmtpSink::start().await;
    let smtp = format!("smtp+plain://127.0.0.1:{}", mail.port);
    let srv = Server::start_with(&[
        ("RINGSIDE_ALLOW_PRIVATE_FETCH", "true"),
        ("RINGSIDE_SMTP_URL", &smtp),
        ("RINGSIDE_SMTP_FROM", "Ringside <alerts@ringside.test>"),
    ])
    .await;
    let token = srv.token("owner@push.test", "webhooks:read,webhooks:write");
    let sub = json!({"endpoint": push.sub["endpoint"], "keys": push.sub["keys"]});
    let (st, rule) = srv
        .api(
            "POST",
            "/api/v1/alert-rules",
            &token,
            Some(json!({"name": "This laptop", "events": ["call.requested"],
                        "channel": {"type": "webpush", "subscription": sub}})),
        )
        .await;
    assert_eq!(st, 201, "{rule}");
    assert_eq!(
        rule["channel"]["pushService"],
        srv_origin(&push.sub["endpoint"])
    );
    let id = rule["id"].as_str().unwrap().to_owned();
    let (st, _) = srv
        .api(
            "POST",
            &format!("/api/v1/alert-rules/{id}/test"),
            &token,
            None,
        )
        .await;
    assert_eq!(st, 202);
    let got = push.next().await;
    assert!(
        got.get("error").is_none(),
        "the push service refused: {got}"
    );
    assert_eq!(got["path"], "/push/sub-1");
    assert_eq!(got["urgency"], "normal");
    assert_eq!(got["ttl"], 3600);
    assert_eq!(got["aud"], srv_origin(&push.sub["endpoint"]));
    assert!(got["sub"].as_str().unwrap().starts_with("mailto:"));
    let payload = got["payload"].clone();
    assert_eq!(payload["title"], "Ringside test alert", "{payload}");
    assert_eq!(
        payload["body"],
        "Alerts of the rule “This laptop” reach you here."
    );
    assert_eq!(payload["url"], format!("{}/", srv.http));
    let mut delivered = false;
    for _ in 0..100 {
        let (_, log) = srv
            .api(
                "GET",
                &format!("/api/v1/alert-rules/{id}/deliveries"),
                &token,
                None,
            )
            .await;
        if log["data"][0]["status"] == "delivered" {
            assert_eq!(log["data"][0]["lastStatusCode"], 201);
            delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(delivered, "the test alert is logged delivered");

    // An expired subscription: 410, failed at once (no retries), the rule failing.
    let gone = json!({"endpoint": push.sub["gone"], "keys": push.sub["keys"]});
    let (st, rule) = srv
        .api(
            "POST",
            "/api/v1/alert-rules",
            &token,
            Some(json!({"name": "Old phone", "events": ["call.requested"],
                        "channel": {"type": "webpush", "subscription": gone}})),
        )
        .await;
    assert_eq!(st, 201, "{rule}");
    let gone_id = rule["id"].as_str().unwrap().to_owned();
    srv.api(
        "POST",
        &format!("/api/v1/alert-rules/{gone_id}/test"),
        &token,
        None,
    )
    .await;
    let mut entry = Value::Null;
    for _ in 0..100 {
        let (_, log) = srv
            .api(
                "GET",
                &format!("/api/v1/alert-rules/{gone_id}/deliveries"),
                &token,
                None,
            )
            .await;
        entry = log["data"][0].clone();
        if entry["status"] != "pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(entry["status"], "failed", "{entry}");
    assert_eq!(entry["attempts"], 1);
    assert_eq!(entry["lastStatusCode"], 410);
    let (_, r) = srv
        .api(
            "GET",
            &format!("/api/v1/alert-rules/{gone_id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(r["failing"], true);

    // The browser: the alerts page, its service worker and the server's key.
    let browser = ringside_e2e::browser::Browser::launch(&[]).await;
    let mut p = browser.open(&format!("{}/login", srv.http)).await;
    p.viewport(1280, 900, false).await;
    sign_in_by_form(&mut p, "push", &mail, "owner@push.test", 1, "00-sign-in").await;
    p.goto(&format!("{}/settings/alerts", srv.http), "/settings/alerts")
        .await;
    let key = p
        .eval("document.querySelector('form[data-kind=push]').getAttribute('data-key')")
        .await;
    assert_eq!(key.as_str().map(str::len), Some(87), "a 65-byte key: {key}");
    p.look("push", "01-alerts-page").await;
    p.call("ServiceWorker.enable", json!({})).await;
    // Notifications allowed, as the person would when the browser asks.
    p.call(
        "Browser.grantPermissions",
        json!({"origin": srv.http, "permissions": ["notifications"]}),
    )
    .await;
    // The browser checks the key: a malformed one is refused as such...
    let bad = p
        .eval(
            "RingsideAccount.subscribePush('AAAA').then(() => 'subscribed', e => e.name + ': ' + e.message)",
        )
        .await;
    assert!(
        bad.as_str()
            .is_some_and(|e| e.starts_with("InvalidAccessError")),
        "{bad}"
    );
    // ...and the server's is not: the browser goes on to its push service (which headless
    // Chromium cannot reach here: the subscription waits, or fails, or succeeds where one is
    // reachable).
    let tried = p
        .eval(&format!(
            "Promise.race([RingsideAccount.subscribePush({key}).then(s => ({{ok: true, endpoint: s.endpoint}}), \
             e => ({{ok: false, name: e.name, message: e.message}})), \
             new Promise(r => setTimeout(() => r({{ok: false, name: 'Pending', \
             message: 'still waiting for the push service after 5 s'}}), 5000))])"
        ))
        .await;
    eprintln!("subscribe in headless Chromium: {tried}");
    assert!(
        tried["ok"] == true || tried["name"] != "InvalidAccessError",
        "the browser refused the VAPID key: {tried}"
    );
    let scope = p
        .eval("navigator.serviceWorker.getRegistration().then(r => r && r.scope)")
        .await;
    assert_eq!(scope, json!(format!("{}/", srv.http)));
    // The decrypted message, pushed to the service worker as the push service would.
    let mut registration = None;
    for _ in 0..50 {
        p.eval("1").await;
        registration = p.take_events().iter().find_map(|e| {
            e["params"]["registrations"]
                .as_array()?
                .iter()
                .find(|r| r["scopeURL"] == format!("{}/", srv.http))
                .and_then(|r| r["registrationId"].as_str().map(str::to_owned))
        });
        if registration.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let registration = registration.expect("the service worker's registration");
    // Delivered once the worker is active (a push to a worker still installing is dropped,
    // so it is delivered again until a notification shows).
    p.wait_true(
        "navigator.serviceWorker.ready.then(r => !!r.active && r.active.state === 'activated')",
        "the service worker active",
    )
    .await;
    let mut shown = json!([]);
    for _ in 0..5 {
        p.call(
            "ServiceWorker.deliverPushMessage",
            json!({"origin": srv.http, "registrationId": registration,
                   "data": payload.to_string()}),
        )
        .await;
        for _ in 0..30 {
            shown = p
                .eval(
                    "navigator.serviceWorker.ready.then(r => r.getNotifications()).then(n => \
                     n.map(x => ({title: x.title, body: x.body, url: x.data && x.data.url})))",
                )
                .await;
            if shown.as_array().is_some_and(|a| !a.is_empty()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if shown.as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
    }
    assert_eq!(shown[0]["title"], "Ringside test alert", "{shown}");
    assert_eq!(shown[0]["url"], format!("{}/", srv.http));
    let _ = push.child.start_kill();
}

/// The origin of an endpoint URL.
fn srv_origin(endpoint: &Value) -> String {
    let u = reqwest::Url::parse(endpoint.as_str().unwrap()).unwrap();
    u.origin().ascii_serialization()
}
