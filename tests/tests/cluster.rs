//! Multi-node Ringside (issue 20): nodes sharing one PostgreSQL database, each known by its
//! node id — membership and heartbeats, the node on every call record, a node id refused
//! while another live process holds it, and a killed node seen dead and rejoining; and nodes
//! joined by NATS — a chat on one node on a dashboard of another, the reply back to the
//! visitor's page, live visitors listed on every node, and a command to a visitor's page
//! routed to the node holding it; and a dead node's webhook deliveries taken over.

use ringside_e2e::{eventually, free_port, ringside_bin, Server, UacFlow, UasFlow};

// Alerts taken over from a dead node, and the secret root rotated (a directory of its own: not
// a test target).
#[path = "cluster/alerts_and_secrets.rs"]
mod alerts_and_secrets;

/// `ringside nodes` against `srv`'s database: (id, alive, instance) of each node.
fn nodes(srv: &Server) -> Vec<(String, bool, String)> {
    let out = srv.cli(&["nodes"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["id"].as_str().unwrap().to_owned(),
                v["alive"].as_bool().unwrap(),
                v["instance"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn healthz(srv: &Server) -> serde_json::Value {
    ringside_e2e::http_client()
        .get(format!("{}/healthz", srv.http))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn nodes_on_one_database_know_each_other_and_name_their_calls() {
    let Some(schema) = ringside_e2e::postgres_schema().await else {
        return;
    };
    let db = ("RINGSIDE_DATABASE_URL", schema.url.as_str());
    let a = Server::start_with(&[db, ("RINGSIDE_NODE_ID", "node-a")]).await;
    let b_env = [db, ("RINGSIDE_NODE_ID", "node-b")];
    let mut b = Server::start_with(&b_env).await;
    assert_eq!(healthz(&a).await["node"], "node-a");
    assert_eq!(healthz(&b).await["node"], "node-b");
    // `ringside health` (a container's health check) asks the node's own listener.
    let out = a.cli(&["health"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\"node-a\""),
        "{out:?}"
    );
    let listed = nodes(&a);
    assert_eq!(
        listed
            .iter()
            .map(|(id, alive, _)| (id.as_str(), *alive))
            .collect::<Vec<_>>(),
        [("node-a", true), ("node-b", true)]
    );

    // A call through node b is node b's, as node a's API shows it (one database).
    let token = b.with_phones().await;
    let (uas, mut uas_child) = b.callee(UasFlow::Answer, &[]).await;
    let (ok, log) = b.caller(UacFlow::AnswerAndHangUp, &[]).run().await;
    assert!(ok, "caller: {log}\nserver: {}", b.log_text());
    assert!(
        uas_child.wait().await.unwrap().success(),
        "{}",
        uas.messages()
    );
    let call = a.ended_call(&token).await;
    assert_eq!(call["node"], "node-b", "{call}");
    assert_eq!(call["status"], "ended", "{call}");

    // A second live process under node b's id is refused, saying why; node b is untouched.
    let mut env = b_env.map(|(k, v)| (k.to_owned(), v.to_owned())).to_vec();
    let dir = std::env::temp_dir().join(format!("ringside-e2e-dup-{}", free_port()));
    for (k, v) in [
        ("RINGSIDE_DATA_DIR", dir.display().to_string()),
        ("RINGSIDE_HTTP_ADDR", format!("127.0.0.1:{}", free_port())),
        ("RINGSIDE_SIP_ADDR", format!("127.0.0.1:{}", free_port())),
        ("RINGSIDE_WEBRTC_ADDR", format!("127.0.0.1:{}", free_port())),
        ("RINGSIDE_RTP_PORTS", "39000-39099".to_owned()),
    ] {
        env.push((k.to_owned(), v));
    }
    let dup = tokio::task::spawn_blocking(move || {
        std::process::Command::new(ringside_bin())
            .arg("serve")
            .envs(env)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let err = String::from_utf8_lossy(&dup.stderr);
    assert!(!dup.status.success(), "{err}");
    assert!(err.contains("in use by a live node"), "{err}");
    assert_eq!(healthz(&b).await["node"], "node-b");

    // Node b killed: the others see it dead once its heartbeat lapses (5 s).
    let before = nodes(&a)[1].2.clone();
    b.kill();
    let out = b.cli(&["health"]);
    assert!(!out.status.success(), "a dead node is unhealthy: {out:?}");
    eventually("node b is seen dead", || async { !nodes(&a)[1].1 }).await;
    assert!(nodes(&a)[0].1, "node a lives on");
    assert_eq!(healthz(&a).await["status"], "ok");

    // It restarts under its id and rejoins as a new instance.
    let b = Server::start_with(&b_env).await;
    let after = nodes(&a);
    assert!(after[1].1, "{after:?}");
    assert_ne!(after[1].2, before, "a new instance");
    assert_eq!(healthz(&b).await["node"], "node-b");

    // A clean stop is seen at once.
    let mut b = b;
    assert!(b.terminate().success());
    assert!(!nodes(&a)[1].1);
    drop((a, b));
    schema.drop_schema().await.unwrap();
}

const ORIGIN: &str = "https://example.com";

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws(srv: &Server, path: &str) -> Ws {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("{}{path}", srv.http.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    req.headers_mut().insert("origin", ORIGIN.parse().unwrap());
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

/// The next text frame of `ws` whose type is `kind` (others are skipped), bounded.
async fn next_of(ws: &mut Ws, kind: &str) -> serde_json::Value {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let m = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} frame"))
            .expect("socket open")
            .expect("frame");
        if let Message::Text(t) = m {
            let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
            if v["type"] == kind {
                return v;
            }
        }
    }
}

/// Two nodes, `<prefix>-a` and `<prefix>-b`, on a fresh PostgreSQL schema and the local
/// NATS; `None` when PostgreSQL is not configured.
async fn two_nodes(prefix: &str) -> Option<(ringside_storage::testing::PgSchema, Server, Server)> {
    let schema = ringside_e2e::postgres_schema().await?;
    assert!(
        tokio::net::TcpStream::connect("127.0.0.1:4222")
            .await
            .is_ok(),
        "NATS must listen on 127.0.0.1:4222 (the test command starts it)"
    );
    let db = ("RINGSIDE_DATABASE_URL", schema.url.as_str());
    let nats = ("RINGSIDE_NATS_URL", "nats://127.0.0.1:4222");
    let (id_a, id_b) = (format!("{prefix}-a"), format!("{prefix}-b"));
    let a = Server::start_with(&[db, nats, ("RINGSIDE_NODE_ID", &id_a)]).await;
    let b = Server::start_with(&[db, nats, ("RINGSIDE_NODE_ID", &id_b)]).await;
    Some((schema, a, b))
}

#[tokio::test]
async fn a_chat_on_one_node_reaches_a_dashboard_on_another_and_the_reply_comes_back() {
    use futures_util::SinkExt;
    let Some((schema, a, b)) = two_nodes("bus").await else {
        return;
    };
    let token = a.token(
        "bus@example.com",
        "messages:read,messages:write,analytics:read,widgets:write",
    );
    let (st, w) = a
        .api(
            "POST",
            "/api/v1/widgets",
            &token,
            Some(serde_json::json!({"name": "Site", "allowedDomains": ["example.com"]})),
        )
        .await;
    assert_eq!(st, 201, "{w}");
    let (widget, key) = (w["id"].as_str().unwrap(), w["publicKey"].as_str().unwrap());

    // A dashboard on node a.
    let mut dash = ws(&a, "/api/ws/tenant").await;
    dash.send(tokio_tungstenite::tungstenite::Message::Text(
        serde_json::json!({"type": "auth", "token": token})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    next_of(&mut dash, "auth:ok").await;
    // The visitor's page socket on node b.
    let visitor = "visitor-cluster-1";
    let mut page = ws(
        &b,
        &format!("/api/widgets/{widget}/ws?key={key}&visitorId={visitor}"),
    )
    .await;
    next_of(&mut page, "ready").await;

    // The visitor writes through node b; node a's dashboard sees it.
    let http = ringside_e2e::http_client();
    let r = http
        .post(format!("{}/api/widgets/{widget}/chat?key={key}", b.http))
        .header("origin", ORIGIN)
        .json(&serde_json::json!({"sessionId": visitor, "message": "Hello from node b"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let m = next_of(&mut dash, "message:new").await;
    assert_eq!(m["data"]["body"], "Hello from node b", "{m}");
    assert_eq!(m["data"]["sender"], "visitor", "{m}");

    // The operator answers through node a; the visitor's page on node b gets it.
    let (st, body) = a
        .api(
            "POST",
            &format!("/api/v1/widgets/{widget}/messages"),
            &token,
            Some(serde_json::json!({"visitorId": visitor, "body": "Hi, node a here"})),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    let m = next_of(&mut page, "message").await;
    assert_eq!(m["data"]["body"], "Hi, node a here", "{m}");

    // The visitor's page reports to node b; node a lists them live (presence merged through
    // the shared database) and sends them somewhere: the command is routed to node b, which
    // holds their page, and their socket there gets it.
    let r = http
        .post(format!("{}/api/widgets/{widget}/track", b.http))
        .bearer_auth(key)
        .header("origin", ORIGIN)
        .json(
            &serde_json::json!({"visitorId": visitor, "event": "page_view",
                                   "url": "https://example.com/docs"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let live_path = format!("/api/v1/widgets/{widget}/live-visitors");
    eventually("node a lists node b's visitor live", || async {
        let (st, body) = a.api("GET", &live_path, &token, None).await;
        st == 200
            && body["visitors"].as_array().is_some_and(|v| {
                v.iter().any(|v| {
                    v["visitorId"] == visitor && v["currentUrl"] == "https://example.com/docs"
                })
            })
    })
    .await;
    let (st, body) = a
        .api(
            "POST",
            &format!("/api/v1/widgets/{widget}/visitors/{visitor}/direct-navigate"),
            &token,
            Some(serde_json::json!({"url": "https://example.com/pricing"})),
        )
        .await;
    assert_eq!(st, 202, "{body}");
    let m = next_of(&mut page, "navigate").await;
    assert_eq!(m["url"], "https://example.com/pricing", "{m}");
    assert_eq!(m["id"], body["command"]["id"], "{m}");

    // The nodes share their secrets: a conversation link signed by node a opens on node b.
    let (st, link) = a
        .api(
            "POST",
            &format!("/api/v1/widgets/{widget}/visitors/{visitor}/conversation-link"),
            &token,
            None,
        )
        .await;
    assert_eq!(st, 201, "{link}");
    let url = link["url"].as_str().unwrap().replacen(&a.http, &b.http, 1);
    assert!(url.starts_with(&b.http), "{url}");
    let r = http
        .get(&url)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let view: serde_json::Value = r.json().await.unwrap();
    assert!(
        view["messages"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["body"] == "Hi, node a here")),
        "{view}"
    );

    // Both nodes count what crossed.
    assert!(b.metric("ringside_cluster_events_sent_total", "").await >= 1.0);
    assert!(a.metric("ringside_cluster_events_received_total", "").await >= 1.0);
    assert_eq!(a.metric("ringside_cluster_nats_connected", "").await, 1.0);
    assert_eq!(
        a.metric("ringside_cluster_events_malformed_total", "")
            .await,
        0.0
    );
    drop((a, b));
    schema.drop_schema().await.unwrap();
}

#[tokio::test]
async fn a_phone_registered_through_one_node_is_called_through_another() {
    let Some((schema, a, b)) = two_nodes("sip").await else {
        return;
    };
    // Extensions made through node a's API reach node b's directory.
    let token = a.with_phones().await;
    eventually("node b's directory has both extensions", || async {
        b.metric("ringside_sip_extensions", "").await == 2.0
    })
    .await;
    // 1002 registers through node b; node a learns it.
    let (uas, mut uas_child) = b.callee(UasFlow::Answer, &[]).await;
    eventually("node a holds 1002's registration", || async {
        a.metric("ringside_sip_registrations", "").await == 1.0
    })
    .await;
    // 1001 calls through node a, which reaches the phone registered through node b.
    let (ok, log) = a.caller(UacFlow::AnswerAndHangUp, &[]).run().await;
    assert!(ok, "caller: {log}\nnode a: {}", a.log_text());
    assert!(
        uas_child.wait().await.unwrap().success(),
        "{}",
        uas.messages()
    );
    let call = b.ended_call(&token).await;
    assert_eq!(
        (call["node"].as_str(), call["status"].as_str()),
        (Some("sip-a"), Some("ended")),
        "{call}"
    );
    assert_eq!(call["answeredBy"], "extension:1002", "{call}");
    drop((a, b));
    schema.drop_schema().await.unwrap();
}

/// A node killed (SIGKILL) in the middle of webhook attempts: another node takes the
/// deliveries over once their claims lapse (30 s), and each is delivered once, with its
/// original id.
#[tokio::test]
async fn a_dead_nodes_webhook_deliveries_are_taken_over() {
    use axum::http::{HeaderMap, StatusCode};
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};
    let Some(schema) = ringside_e2e::postgres_schema().await else {
        return;
    };
    // The receiver: the first attempt of each delivery never gets an answer (the node
    // sending it dies meanwhile); later ones get 200.
    let seen: Arc<Mutex<BTreeMap<String, Vec<&'static str>>>> = Arc::default();
    let app = {
        let seen = seen.clone();
        axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap| {
                let seen = seen.clone();
                async move {
                    let id = headers
                        .get("x-ringside-delivery")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let first = {
                        let mut s = seen.lock().unwrap();
                        let e = s.entry(id.clone()).or_default();
                        e.push(if e.is_empty() { "held" } else { "200" });
                        e.len() == 1
                    };
                    if first {
                        tokio::time::sleep(std::time::Duration::from_secs(300)).await;
                    }
                    StatusCode::OK
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let db = ("RINGSIDE_DATABASE_URL", schema.url.as_str());
    let nats = ("RINGSIDE_NATS_URL", "nats://127.0.0.1:4222");
    let private = ("RINGSIDE_ALLOW_PRIVATE_FETCH", "true");
    // Node a alone first: it claims every delivery.
    let mut a = Server::start_with(&[db, nats, private, ("RINGSIDE_NODE_ID", "hooks-a")]).await;
    let token = a.token("hooks@example.com", "webhooks:read,webhooks:write");
    let (st, hook) = a
        .api(
            "POST",
            "/api/v1/webhooks",
            &token,
            Some(serde_json::json!({"name": "cluster", "url": url, "events": ["call.missed"]})),
        )
        .await;
    assert_eq!(st, 201, "{hook}");
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (st, t) = a
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
    eventually("node a is attempting every delivery", || {
        let n = seen.lock().unwrap().len();
        async move { n == 3 }
    })
    .await;

    // Node b joins; node a dies mid-attempt.
    let b = Server::start_with(&[db, nats, private, ("RINGSIDE_NODE_ID", "hooks-b")]).await;
    a.kill();
    // Node b delivers each once the dead node's claims lapse (30 s lease).
    let mut done = false;
    for _ in 0..90 {
        let s = seen.lock().unwrap().clone();
        if s.len() == 3 && s.values().all(|v| v.contains(&"200")) {
            done = true;
            break;
        }
        drop(s);
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    let s = seen.lock().unwrap().clone();
    assert!(done, "not taken over: {s:?}\nnode b: {}", b.log_text());
    assert_eq!(
        s.keys().cloned().collect::<Vec<_>>(),
        ids,
        "the original ids"
    );
    for (id, v) in &s {
        assert_eq!(
            v,
            &["held", "200"],
            "{id}: attempted by a, delivered once by b"
        );
    }
    let (st, log) = b
        .api(
            "GET",
            &format!("/api/v1/webhooks/{hook_id}/deliveries"),
            &token,
            None,
        )
        .await;
    assert_eq!(st, 200, "{log}");
    for e in log.as_array().unwrap() {
        assert_eq!(e["status"], "delivered", "{e}");
        // The attempt the dead node never finished has no outcome on record.
        assert_eq!(e["attempts"], 1, "{e}");
        assert_eq!(e["lastStatusCode"], 200, "{e}");
    }
    drop((a, b));
    schema.drop_schema().await.unwrap();
}

fn pairs<'a>(e: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    e.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Nodes sharing a files directory (`RINGSIDE_FILES_DIR`, a shared mount in production): a
/// call recorded by one node is listed and downloaded through another; hold music uploaded
/// (and removed) through one is played by the other.
#[tokio::test]
async fn a_recording_made_on_one_node_is_served_by_another() {
    use ringside_e2e::media::{download, recordings_of, wav_channels};
    let Some(schema) = ringside_e2e::postgres_schema().await else {
        return;
    };
    let files = std::env::temp_dir().join(format!("ringside-e2e-files-{}", free_port()));
    let files_s = files.display().to_string();
    let env = |id: &'static str| {
        [
            ("RINGSIDE_DATABASE_URL", schema.url.clone()),
            ("RINGSIDE_NATS_URL", "nats://127.0.0.1:4222".into()),
            ("RINGSIDE_NODE_ID", id.into()),
            ("RINGSIDE_FILES_DIR", files_s.clone()),
            ("RINGSIDE_RECORD_CALLS", "true".into()),
        ]
    };
    let (ea, eb) = (env("files-a"), env("files-b"));
    let a = Server::start_with(&pairs(&ea)).await;
    let b = Server::start_with(&pairs(&eb)).await;
    let token = a.with_phones().await;
    let (uas, mut uas_child) = a.callee(UasFlow::Answer, &[]).await;
    let (ok, log) = a.caller(UacFlow::AnswerAndHangUp, &[]).run().await;
    assert!(ok, "caller: {log}\nnode a: {}", a.log_text());
    assert!(
        uas_child.wait().await.unwrap().success(),
        "{}",
        uas.messages()
    );
    let call = b.ended_call(&token).await;
    assert_eq!(call["node"], "files-a", "{call}");
    let id = call["id"].as_str().unwrap();
    let mut list = serde_json::Value::Null;
    for _ in 0..100 {
        list = recordings_of(&b, &token, id).await;
        if list[0]["status"] == "complete" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(list[0]["status"], "complete", "{list}");
    // Node b serves node a's file from the shared directory.
    let wav = download(&b, &token, list[0]["downloadUrl"].as_str().unwrap()).await;
    let (rate, left, right) = wav_channels(&wav);
    assert_eq!(rate, 8000);
    assert!(
        left.len() > 8000 && left.len() == right.len(),
        "{}",
        left.len()
    );
    // It is in the shared directory, not in either node's data directory.
    assert!(files.join("recordings").is_dir());
    assert!(!a.data_dir.join("recordings").exists());

    // Hold music uploaded through node a is node b's too, at once; and so is its removal.
    let prompts = a.token("owner@example.com", "widgets:read,widgets:write");
    let wav_path = files.join("hold.wav");
    ringside_e2e::baresip::write_tone_wav(&wav_path, 600, 2);
    let wav = std::fs::read(&wav_path).unwrap();
    let http = ringside_e2e::http_client();
    let audio_at_b = || async {
        http.get(format!("{}/api/v1/media/prompts/holdMusic/audio", b.http))
            .bearer_auth(&prompts)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec()
    };
    // Node b has the default in memory first.
    let default = audio_at_b().await;
    assert_ne!(default, wav);
    let r = http
        .put(format!("{}/api/v1/media/prompts/holdMusic", a.http))
        .bearer_auth(&prompts)
        .header("content-type", "audio/wav")
        .body(wav.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    eventually(
        "node b plays the hold music uploaded through node a",
        || async { audio_at_b().await == wav },
    )
    .await;
    let r = http
        .delete(format!("{}/api/v1/media/prompts/holdMusic", a.http))
        .bearer_auth(&prompts)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    eventually("node b is back to the default", || async {
        audio_at_b().await == default
    })
    .await;
    drop((a, b));
    let _ = std::fs::remove_dir_all(&files);
    schema.drop_schema().await.unwrap();
}

/// A node that missed the broadcasts (its NATS unreachable) catches the directory and the
/// registrations up from the database, every `RINGSIDE_CLUSTER_RESYNC_SECS`.
#[tokio::test]
async fn a_node_that_missed_the_broadcasts_catches_up_from_the_database() {
    let Some(schema) = ringside_e2e::postgres_schema().await else {
        return;
    };
    let db = ("RINGSIDE_DATABASE_URL", schema.url.as_str());
    let a = Server::start_with(&[
        db,
        ("RINGSIDE_NATS_URL", "nats://127.0.0.1:4222"),
        ("RINGSIDE_NODE_ID", "resync-a"),
    ])
    .await;
    // Node b's NATS is nowhere: nothing node a broadcasts reaches it.
    let dead_nats = format!("nats://127.0.0.1:{}", free_port());
    let b = Server::start_with(&[
        db,
        ("RINGSIDE_NATS_URL", dead_nats.as_str()),
        ("RINGSIDE_NODE_ID", "resync-b"),
        ("RINGSIDE_CLUSTER_RESYNC_SECS", "1"),
    ])
    .await;
    let token = a.with_phones().await;
    eventually("node b reads both extensions back", || async {
        b.metric("ringside_sip_extensions", "").await == 2.0
    })
    .await;
    // 1002 registers through node a; node b reads the registration back and reaches it.
    let (uas, mut uas_child) = a.callee(UasFlow::Answer, &[]).await;
    eventually("node b reads 1002's registration back", || async {
        b.metric("ringside_sip_registrations", "").await == 1.0
    })
    .await;
    let (ok, log) = b.caller(UacFlow::AnswerAndHangUp, &[]).run().await;
    assert!(ok, "caller: {log}\nnode b: {}", b.log_text());
    assert!(
        uas_child.wait().await.unwrap().success(),
        "{}",
        uas.messages()
    );
    // An extension removed through node a is gone from node b too.
    let (st, list) = a.api("GET", "/api/v1/sip/extensions", &token, None).await;
    assert_eq!(st, 200, "{list}");
    let id = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["username"] == "1001")
        .and_then(|e| e["id"].as_str())
        .unwrap()
        .to_owned();
    let (st, body) = a
        .api(
            "DELETE",
            &format!("/api/v1/sip/extensions/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(st, 204, "{body}");
    eventually("node b forgets 1001", || async {
        b.metric("ringside_sip_extensions", "").await == 1.0
    })
    .await;
    drop((a, b));
    schema.drop_schema().await.unwrap();
}

/// Two clusters (two databases) on one NATS server, even with a node id in common: each
/// hears its own nodes alone.
#[tokio::test]
async fn two_clusters_on_one_nats_server_never_hear_each_other() {
    let (Some(one), Some(two)) = (
        ringside_e2e::postgres_schema().await,
        ringside_e2e::postgres_schema().await,
    ) else {
        return;
    };
    let nats = ("RINGSIDE_NATS_URL", "nats://127.0.0.1:4222");
    let a = Server::start_with(&[
        ("RINGSIDE_DATABASE_URL", one.url.as_str()),
        nats,
        ("RINGSIDE_NODE_ID", "iso-a"),
    ])
    .await;
    let b = Server::start_with(&[
        ("RINGSIDE_DATABASE_URL", one.url.as_str()),
        nats,
        ("RINGSIDE_NODE_ID", "iso-b"),
    ])
    .await;
    let x = Server::start_with(&[
        ("RINGSIDE_DATABASE_URL", two.url.as_str()),
        nats,
        ("RINGSIDE_NODE_ID", "iso-a"),
    ])
    .await;
    a.with_phones().await;
    let (_uas, _uas_child) = a.callee(UasFlow::Answer, &[]).await;
    eventually(
        "node b of the same cluster holds 1002's registration",
        || async { b.metric("ringside_sip_registrations", "").await == 1.0 },
    )
    .await;
    assert_eq!(x.metric("ringside_sip_registrations", "").await, 0.0);
    assert_eq!(x.metric("ringside_sip_extensions", "").await, 0.0);
    assert_eq!(
        x.metric("ringside_cluster_events_received_total", "").await,
        0.0,
        "the other cluster heard nothing"
    );
    drop((a, b, x));
    one.drop_schema().await.unwrap();
    two.drop_schema().await.unwrap();
}
