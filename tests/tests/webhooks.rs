//! Webhooks end to end: events queued in a running `ringside serve` whose receiver is failing
//! stay in the outbox when the server is killed (SIGKILL), and the restarted server delivers
//! every one of them, signed, with its original delivery id. Also a SIP call's lifecycle to a
//! webhook, and its ringing to a user's ntfy alert rule.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use futures_util::{SinkExt, StreamExt};
use ringside_api::webhook_dispatch::verify_signature;
use ringside_e2e::{eventually, Server};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// What the receiver saw: per delivery id, the statuses it answered.
#[derive(Default)]
struct Seen {
    answers: BTreeMap<String, Vec<u16>>,
    bad_signatures: usize,
}

#[tokio::test]
async fn killed_server_delivers_pending_webhooks_after_restart() {
    run(&[]).await;
    let Some(schema) = ringside_e2e::postgres_schema().await else {
        return;
    };
    run(&[("RINGSIDE_DATABASE_URL", schema.url.as_str())]).await;
    schema.drop_schema().await.unwrap();
}

/// The scenario, with `env` for the server (e.g. its database URL).
async fn run(env: &[(&str, &str)]) {
    // The receiver listens on loopback: lab mode of the outbound-fetch policy.
    let env = &[env, &[("RINGSIDE_ALLOW_PRIVATE_FETCH", "true")][..]].concat();
    // The receiver: 503 while `up` is false, 200 after; checks every signature.
    let secret: Arc<Mutex<String>> = Arc::default();
    let up = Arc::new(AtomicBool::new(false));
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let app = {
        let (secret, up, seen) = (secret.clone(), up.clone(), seen.clone());
        axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (secret, up, seen) = (secret.clone(), up.clone(), seen.clone());
                async move {
                    let h = |n: &str| header(&headers, n);
                    let ok_sig = signed(&secret.lock().unwrap(), &headers, &body);
                    let parsed: serde_json::Value =
                        serde_json::from_slice(&body).unwrap_or_default();
                    let id = h("x-ringside-delivery");
                    let good = ok_sig
                        && parsed["id"] == id.as_str()
                        && h("x-ringside-event") == "webhook.test"
                        && parsed["type"] == "webhook.test"
                        && h("content-type") == "application/json";
                    let status = if up.load(Ordering::SeqCst) { 200 } else { 503 };
                    let mut s = seen.lock().unwrap();
                    if !good {
                        s.bad_signatures += 1;
                    }
                    s.answers.entry(id).or_default().push(status);
                    StatusCode::from_u16(status).unwrap()
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut srv = Server::start_with(env).await;
    let token = srv.token("hooks@example.com", "webhooks:read,webhooks:write");
    let (st, hook) = srv
        .api(
            "POST",
            "/api/v1/webhooks",
            &token,
            Some(json!({"name": "e2e", "url": url, "events": ["call.missed"]})),
        )
        .await;
    assert_eq!(st, 201, "{hook}");
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    *secret.lock().unwrap() = hook["secret"].as_str().unwrap().to_owned();

    let mut ids = Vec::new();
    for _ in 0..3 {
        let (st, t) = srv
            .api(
                "POST",
                &format!("/api/v1/webhooks/{hook_id}/test"),
                &token,
                None,
            )
            .await;
        assert_eq!(st, 202, "{t}");
        ids.push(t["deliveryId"].as_str().unwrap().to_owned());
    }
    ids.sort();

    // Every event is attempted once and refused, then the server dies without warning.
    eventually("each delivery attempted once", || {
        let n = seen.lock().unwrap().answers.len();
        async move { n == 3 }
    })
    .await;
    // Wait until the server has recorded the refusals (else a claim's lease would delay the
    // redelivery past this test's patience).
    let path = format!("/api/v1/webhooks/{hook_id}/deliveries");
    eventually("each refusal recorded", || {
        let (srv, path, token) = (&srv, &path, &token);
        async move {
            let (_, log) = srv.api("GET", path, token, None).await;
            log.as_array().is_some_and(|l| {
                l.len() == 3
                    && l.iter()
                        .all(|e| e["status"] == "pending" && e["attempts"] == 1)
            })
        }
    })
    .await;
    srv.kill();
    let dir = srv.data_dir.clone();
    drop(srv);

    up.store(true, Ordering::SeqCst);
    let srv = Server::start_in(dir, env).await;
    eventually("every pending delivery sent after the restart", || {
        let done = seen
            .lock()
            .unwrap()
            .answers
            .values()
            .filter(|a| a.last() == Some(&200))
            .count();
        async move { done == 3 }
    })
    .await;
    {
        let s = seen.lock().unwrap();
        assert_eq!(s.bad_signatures, 0);
        let got: Vec<String> = s.answers.keys().cloned().collect();
        assert_eq!(got, ids, "the original delivery ids, and no others");
        for a in s.answers.values() {
            assert_eq!(a.first(), Some(&503));
            assert_eq!(a.last(), Some(&200));
        }
    }
    let (st, log) = srv
        .api(
            "GET",
            &format!("/api/v1/webhooks/{hook_id}/deliveries"),
            &token,
            None,
        )
        .await;
    assert_eq!(st, 200, "{log}");
    let entries = log.as_array().unwrap();
    assert_eq!(entries.len(), 3);
    for e in entries {
        assert!(ids.contains(&e["id"].as_str().unwrap().to_owned()));
        assert_eq!(e["status"], "delivered", "{e}");
        assert!(e["attempts"].as_i64().unwrap() >= 2, "{e}");
        assert_eq!(e["lastStatusCode"], 200);
    }
}

/// A SIP call between two extensions (sipp on both ends) sends its lifecycle to a webhook,
/// signed: call.requested, call.delivery_started, call.answered, call.ended, in that order.
#[tokio::test]
async fn sip_call_lifecycle_reaches_a_webhook() {
    use ringside_e2e::{UacFlow, UasFlow};
    type Got = Arc<Mutex<Vec<(String, serde_json::Value, bool)>>>;
    let secret: Arc<Mutex<String>> = Arc::default();
    let got: Got = Arc::default();
    let app = {
        let (secret, got) = (secret.clone(), got.clone());
        axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (secret, got) = (secret.clone(), got.clone());
                async move {
                    let h = |n: &str| header(&headers, n);
                    let ok = signed(&secret.lock().unwrap(), &headers, &body);
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    got.lock()
                        .unwrap()
                        .push((h("x-ringside-event"), v["data"].clone(), ok));
                    StatusCode::OK
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let srv = Server::start_with(&[("RINGSIDE_ALLOW_PRIVATE_FETCH", "true")]).await;
    let calls_token = srv.with_phones().await;
    // The same tenant (owner@example.com) subscribes to every call event.
    let token = srv.token("owner@example.com", "webhooks:write");
    let (st, hook) = srv
        .api(
            "POST",
            "/api/v1/webhooks",
            &token,
            Some(json!({"name": "calls", "url": url, "events": [
                "call.requested", "call.delivery_started", "call.delivery_failed",
                "call.answered", "call.ended", "call.missed"]})),
        )
        .await;
    assert_eq!(st, 201, "{hook}");
    *secret.lock().unwrap() = hook["secret"].as_str().unwrap().to_owned();
    // A dashboard socket of the tenant with calls:read sees the same lifecycle live.
    let dash_token = srv.token("owner@example.com", "calls:read");
    let ws_url = format!("{}/api/ws/tenant", srv.http.replacen("http", "ws", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url.as_str())
        .await
        .expect("dashboard socket");
    ws.send(Message::Text(
        json!({"type": "auth", "token": dash_token})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    assert_eq!(next_text(&mut ws).await["type"], "auth:ok");

    let (uas, mut uas_child) = srv.callee(UasFlow::Answer, &[]).await;
    let (ok, log) = srv.caller(UacFlow::AnswerAndHangUp, &[]).run().await;
    assert!(ok, "caller: {log}\nserver: {}", srv.log_text());
    assert!(
        uas_child.wait().await.unwrap().success(),
        "callee: {}",
        uas.messages()
    );
    let call = srv.ended_call(&calls_token).await;
    eventually("four call events delivered", || {
        let n = got.lock().unwrap().len();
        async move { n >= 4 }
    })
    .await;
    let got = got.lock().unwrap().clone();
    // Deliveries are concurrent and at least once: compare as a set.
    let mut kinds: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "call.answered",
            "call.delivery_started",
            "call.ended",
            "call.requested"
        ],
        "{got:?}"
    );
    let ended = got.iter().find(|g| g.0 == "call.ended").unwrap();
    assert!(got.iter().all(|g| g.2), "every delivery signed");
    assert!(got.iter().all(|g| g.1["callId"] == call["id"]));
    // Each links the call's page of the dashboard, which an owner can open.
    let page = format!("{}/calls/{}", srv.http, call["id"].as_str().unwrap());
    assert!(
        got.iter().all(|g| g.1["dashboardUrl"] == page.as_str()),
        "{got:?}"
    );
    assert_eq!(ended.1["hangupSide"], "caller");
    assert!(ended.1["durationMs"].is_i64());
    let started = got.iter().find(|g| g.0 == "call.delivery_started").unwrap();
    assert_eq!(started.1["targets"].as_array().unwrap().len(), 1);
    // Live, in order.
    let mut live = Vec::new();
    for _ in 0..4 {
        let e = next_text(&mut ws).await;
        assert_eq!(e["data"]["callId"], call["id"], "{e}");
        live.push(e["type"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        live,
        [
            "call:requested",
            "call:delivery_started",
            "call:answered",
            "call:ended"
        ]
    );
}

type Dashboard =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The socket's next text frame as JSON (pings skipped).
async fn next_text(ws: &mut Dashboard) -> serde_json::Value {
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(20), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(t.as_str()).unwrap(),
            Ok(Some(Ok(Message::Ping(_)))) => continue,
            other => panic!("dashboard socket: {other:?}"),
        }
    }
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// Whether the delivery carries a valid `X-Ringside-Signature` for `secret`, now.
fn signed(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    verify_signature(
        secret,
        &header(headers, "x-ringside-signature"),
        body,
        now,
        300,
    )
}

/// A user's alert rules, with no webhook on the account, get a real SIP call from the running
/// server's alert sender: its ringing on an ntfy topic (urgent, the call's page, the Answer
/// action) and, by email through a real SMTP server (aiosmtpd), with the headers a mail needs
/// and a link to the call's page that the server answers.
#[tokio::test]
async fn sip_call_alerts_ntfy_and_email_without_any_webhook() {
    use ringside_e2e::{UacFlow, UasFlow};
    let got: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let app = {
        let got = got.clone();
        axum::Router::new().route(
            "/",
            axum::routing::post(move |body: axum::body::Bytes| {
                let got = got.clone();
                async move {
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    got.lock().unwrap().push(v);
                    StatusCode::OK
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mail = ringside_e2e::SmtpSink::start().await;
    let smtp = format!("smtp+plain://127.0.0.1:{}", mail.port);
    let srv = Server::start_with(&[
        ("RINGSIDE_ALLOW_PRIVATE_FETCH", "true"),
        ("RINGSIDE_SMTP_URL", &smtp),
        ("RINGSIDE_SMTP_FROM", "Ringside <alerts@ringside.test>"),
    ])
    .await;
    let calls_token = srv.with_phones().await;
    let token = srv.token("owner@example.com", "webhooks:write");
    let (st, rule) = srv
        .api(
            "POST",
            "/api/v1/alert-rules",
            &token,
            Some(
                json!({"name": "Calls by mail", "events": ["call.requested"],
                        "channel": {"type": "email", "address": "desk@example.com"}}),
            ),
        )
        .await;
    assert_eq!(st, 201, "{rule}");
    let (st, rule) = srv
        .api(
            "POST",
            "/api/v1/alert-rules",
            &token,
            Some(json!({"name": "Ringing", "events": ["call.requested"],
                        "channel": {"type": "ntfy", "url": url, "topic": "front-desk"}})),
        )
        .await;
    assert_eq!(st, 201, "{rule}");
    // (The call writer reads who wants a tenant's call events at its first call event.)
    let (uas, mut uas_child) = srv.callee(UasFlow::Answer, &[]).await;
    let (ok, log) = srv.caller(UacFlow::AnswerAndHangUp, &[]).run().await;
    assert!(ok, "caller: {log}\nserver: {}", srv.log_text());
    assert!(
        uas_child.wait().await.unwrap().success(),
        "callee: {}",
        uas.messages()
    );
    let call = srv.ended_call(&calls_token).await;
    eventually("the ringing alert", || {
        let n = got.lock().unwrap().len();
        async move { n >= 1 }
    })
    .await;
    let m = got.lock().unwrap()[0].clone();
    let page = format!("{}/calls/{}", srv.http, call["id"].as_str().unwrap());
    assert_eq!(m["topic"], "front-desk");
    assert_eq!(m["title"], "Incoming call", "{m}");
    assert_eq!(m["priority"], 5);
    assert_eq!(m["click"], page.as_str());
    assert_eq!(m["actions"][0]["label"], "Answer");
    assert_eq!(m["actions"][0]["url"], page.as_str());

    let got = mail.nth("desk@example.com", "Incoming call", 1).await;
    assert_eq!(
        got.header("Subject").as_deref(),
        Some("Ringside: Incoming call")
    );
    assert!(got
        .header("From")
        .is_some_and(|f| f.contains("alerts@ringside.test")));
    assert!(got.header("Date").is_some() && got.header("Message-ID").is_some());
    assert!(
        got.body.contains(&format!("Open in Ringside: {page}")),
        "{}",
        got.body
    );
    assert!(got.body.contains(&format!("{}/settings/alerts", srv.http)));
    // The link leads to the server's call page (the sign-in page for a browser without a
    // session: not a 404).
    let link = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&page)
        .send()
        .await
        .unwrap();
    assert!(
        link.status().is_success() || link.status().is_redirection(),
        "{}",
        link.status()
    );
}
