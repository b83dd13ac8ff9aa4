//! Web Push alerts end to end (issue 19): a running `ringside serve` sends a rule's alert to a
//! loopback push service (`tests/push_service.py`), which checks the VAPID JWT with the key
//! Ringside names, decrypts the message with `http_ece` (an independent RFC 8291
//! implementation) and hands back what a browser would get; an expired subscription (410) ends
//! the alert failed. In headless Chromium, the dashboard's alerts page ("Allow alerts in this
//! browser") registers the service worker at the root and subscribes with the server's VAPID
//! key: the browser registers with its push service (loopback stand-ins for Chromium's GCM
//! check-in and registration, [`Gcm`]) naming that key, gets its subscription (endpoint and
//! its own P-256 and auth keys), and the page saves it as the user's rule. The service
//! worker, given the decrypted message as a push, shows its notification.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
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

/// Loopback stand-ins for the push service registration of Chromium (GCM): the check-in that
/// gives the browser its device id and secret (an `AndroidCheckinResponse`: `stats_ok`,
/// `android_id`, `security_token`), and the registration that gives a Web Push subscription
/// its token (`token=...`), recording what the browser asked for (its `sender` is the
/// application server's VAPID key). Chromium is pointed at them with `--gcm-checkin-url` and
/// `--gcm-registration-url`; deliveries would need its MCS connection, refused here.
struct Gcm {
    url: String,
    registrations: Arc<Mutex<Vec<HashMap<String, String>>>>,
}

impl Gcm {
    async fn start() -> Gcm {
        let registrations: Arc<Mutex<Vec<HashMap<String, String>>>> = Arc::default();
        let seen = registrations.clone();
        let app = axum::Router::new()
            .route(
                "/checkin",
                axum::routing::post(|| async {
                    // stats_ok (1: true), android_id (7: fixed64), security_token (8: fixed64).
                    let mut body = vec![0x08, 0x01, 0x39];
                    body.extend_from_slice(&0x1122_3344_5566_7788u64.to_le_bytes());
                    body.push(0x41);
                    body.extend_from_slice(&0x0102_0304_0506_0708u64.to_le_bytes());
                    ([("content-type", "application/x-protobuf")], body)
                }),
            )
            .route(
                "/register",
                axum::routing::post(move |form: String| {
                    let seen = seen.clone();
                    async move {
                        let fields: HashMap<String, String> =
                            reqwest::Url::parse(&format!("http://form/?{form}"))
                                .map(|u| u.query_pairs().into_owned().collect())
                                .unwrap_or_default();
                        let mut all = seen.lock().unwrap();
                        all.push(fields);
                        format!("token=ringside-test-token-{}", all.len())
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Gcm { url, registrations }
    }

    /// Chromium's switches for these stand-ins (its MCS connection refused: nothing needs it).
    fn flags(&self) -> Vec<String> {
        vec![
            format!("--gcm-checkin-url={}/checkin", self.url),
            format!("--gcm-registration-url={}/register", self.url),
            "--gcm-mcs-endpoint=https://127.0.0.1:1".into(),
        ]
    }

    /// The Web Push registration the browser made (not the account mapper's).
    fn web_push(&self) -> Option<HashMap<String, String>> {
        self.registrations
            .lock()
            .unwrap()
            .iter()
            .find(|r| r.get("X-subtype").is_some_and(|s| s.starts_with("wp:")))
            .cloned()
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
    let gcm = Gcm::start().await;
    let flags = gcm.flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let browser = ringside_e2e::browser::Browser::launch(&flags).await;
    let mut p = browser.open(&format!("{}/login", srv.http)).await;
    p.viewport(1280, 900, false).await;
    sign_in_by_form(&mut p, "push", &mail, "owner@push.test", 1, "00-sign-in").await;
    p.goto(&format!("{}/settings/alerts", srv.http), "/settings/alerts")
        .await;
    let key = p
        .eval("document.querySelector('form[data-kind=push]').getAttribute('data-key')")
        .await;
    let key = key.as_str().expect("the page's key").to_owned();
    assert_eq!(key.len(), 87, "a 65-byte key: {key}");
    p.look("push", "01-alerts-page").await;
    p.call("ServiceWorker.enable", json!({})).await;
    // Notifications allowed, as the person would when the browser asks.
    p.call(
        "Browser.grantPermissions",
        json!({"origin": srv.http, "permissions": ["notifications"]}),
    )
    .await;
    // The browser checks the key: a malformed one is refused as such.
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
    // "Allow alerts in this browser": the browser registers with its push service for the
    // server's key, and the page saves the subscription as this user's rule.
    let rules_before = srv.api("GET", "/api/v1/alert-rules", &token, None).await.1["data"]
        .as_array()
        .map_or(0, Vec::len);
    p.eval(
        "document.querySelector('form[data-kind=push] input[name=events][value=\"call.requested\"]').checked = true; true",
    )
    .await;
    p.click("form[data-kind=push] button[type=submit]").await;
    let subscription = p
        .eval_until(
            "navigator.serviceWorker.getRegistration().then(r => r ? r.pushManager.getSubscription() : null)\
             .then(s => s && s.toJSON())",
            |v| v.is_object(),
        )
        .await;
    assert!(subscription.is_object(), "the browser subscribed");
    let endpoint = subscription["endpoint"].as_str().unwrap().to_owned();
    let registered = gcm.web_push().expect("the browser registered for Web Push");
    assert_eq!(
        registered.get("sender"),
        Some(&key),
        "the browser gave its push service the server's VAPID key: {registered:?}"
    );
    assert_eq!(
        registered
            .get("X-subtype")
            .map(|s| s.starts_with(&format!("wp:{}/", srv.http))),
        Some(true),
        "{registered:?}"
    );
    assert!(
        endpoint
            .rsplit('/')
            .next()
            .is_some_and(|t| t.starts_with("ringside-test-token-")),
        "the subscription's endpoint carries the push service's token: {endpoint}"
    );
    let (p256dh, auth) = (
        subscription["keys"]["p256dh"].as_str().unwrap().to_owned(),
        subscription["keys"]["auth"].as_str().unwrap().to_owned(),
    );
    assert_eq!((p256dh.len(), auth.len()), (87, 22), "{subscription}");
    // Saved as the user's rule: the browser's endpoint and keys.
    let mut saved = None;
    for _ in 0..100 {
        let (_, list) = srv.api("GET", "/api/v1/alert-rules", &token, None).await;
        let rules = list["data"].as_array().cloned().unwrap_or_default();
        if rules.len() > rules_before {
            saved = rules
                .into_iter()
                .find(|r| r["channel"]["pushService"] == srv_origin(&json!(endpoint)));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let saved = saved.expect("the page saved the browser's subscription as a rule");
    assert!(
        saved["events"]
            .as_array()
            .is_some_and(|e| e.contains(&json!("call.requested"))),
        "{saved}"
    );
    let store = ringside_storage::Store::connect(&format!(
        "sqlite://{}/ringside.db",
        srv.data_dir.display()
    ))
    .await
    .unwrap();
    let owner = store.ensure_user("owner@push.test").await.unwrap();
    let stored = store
        .get_alert_rule(&owner.tenant_id, &owner.id, saved["id"].as_str().unwrap())
        .await;
    store.close().await;
    let stored = stored.expect("the rule in the database");
    assert_eq!(stored.channel["endpoint"], endpoint.as_str());
    assert_eq!(stored.channel["p256dh"], p256dh.as_str());
    assert_eq!(stored.channel["auth"], auth.as_str());
    p.look("push", "02-alerts-allowed").await;
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
