//! A dead node's alerts taken over after their lease, and the secret root rotated without
//! losing what it sealed or signed.

use ringside_e2e::{eventually, free_port, ringside_bin, Server};

/// What an ntfy server got: (the `X-Ringside-Alert` id, `Authorization`, "held" or "200") of
/// each request, in order.
type NtfyLog = std::sync::Arc<std::sync::Mutex<Vec<(String, String, &'static str)>>>;

/// A local ntfy server (the JSON publish form). With `hold_first`, the first request of each
/// alert never gets an answer (its sender dies meanwhile); the others get 200.
async fn ntfy_server(hold_first: bool) -> (String, NtfyLog) {
    use axum::http::{HeaderMap, StatusCode};
    let seen = NtfyLog::default();
    let app = {
        let seen = seen.clone();
        axum::Router::new().route(
            "/",
            axum::routing::post(move |headers: HeaderMap| {
                let seen = seen.clone();
                async move {
                    let h = |n: &str| {
                        headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    let id = h("x-ringside-alert");
                    let held = {
                        let mut s = seen.lock().unwrap();
                        let held = hold_first && !s.iter().any(|(i, _, _)| *i == id);
                        s.push((id, h("authorization"), if held { "held" } else { "200" }));
                        held
                    };
                    if held {
                        tokio::time::sleep(std::time::Duration::from_secs(300)).await;
                    }
                    StatusCode::OK
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// An ntfy alert rule with an access token (sealed at rest) on `srv`; its id.
async fn ntfy_rule(srv: &Server, token: &str, url: &str, access: &str) -> String {
    let (st, rule) = srv
        .api(
            "POST",
            "/api/v1/alert-rules",
            token,
            Some(
                serde_json::json!({"name": "Front desk", "events": ["call.requested"],
                "channel": {"type": "ntfy", "url": url, "topic": "desk", "token": access}}),
            ),
        )
        .await;
    assert_eq!(st, 201, "{rule}");
    assert_eq!(rule["channel"]["hasSecret"], true, "{rule}");
    rule["id"].as_str().unwrap().to_owned()
}

/// A test alert through the rule; its id.
async fn test_alert(srv: &Server, token: &str, rule: &str) -> String {
    let (st, d) = srv
        .api(
            "POST",
            &format!("/api/v1/alert-rules/{rule}/test"),
            token,
            None,
        )
        .await;
    assert_eq!(st, 202, "{d}");
    d["id"].as_str().unwrap().to_owned()
}

/// A test alert through `rule`, once the ntfy server got it: its `Authorization`.
async fn sent(srv: &Server, token: &str, rule: &str, seen: &NtfyLog) -> String {
    let id = test_alert(srv, token, rule).await;
    eventually("the test alert", || {
        let got = seen.lock().unwrap().iter().any(|(i, _, _)| *i == id);
        async move { got }
    })
    .await;
    let s = seen.lock().unwrap();
    s.iter().find(|(i, _, _)| *i == id).unwrap().1.clone()
}

/// A node dies while sending alerts: once its claims lapse (`RINGSIDE_ALERT_LEASE_SECS`,
/// short here) another node sends each alert, once, with the channel's secret opened by the
/// cluster's shared root.
#[tokio::test]
async fn a_dead_nodes_alerts_are_taken_over() {
    let Some(schema) = ringside_e2e::postgres_schema().await else {
        return;
    };
    let (url, seen) = ntfy_server(true).await;
    let env = |node: &'static str| {
        vec![
            ("RINGSIDE_DATABASE_URL", schema.url.as_str()),
            ("RINGSIDE_NATS_URL", "nats://127.0.0.1:4222"),
            ("RINGSIDE_ALLOW_PRIVATE_FETCH", "true"),
            ("RINGSIDE_ALERT_LEASE_SECS", "15"),
            (
                "RINGSIDE_SECRET_KEY",
                "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e",
            ),
            ("RINGSIDE_NODE_ID", node),
        ]
    };
    let mut a = Server::start_with(&env("alerts-a")).await;
    let token = a.token("alerts@example.com", "webhooks:read,webhooks:write");
    let rule = ntfy_rule(&a, &token, &url, "tk_cluster").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(test_alert(&a, &token, &rule).await);
    }
    ids.sort();
    eventually("node a is sending every alert", || {
        let n = seen.lock().unwrap().len();
        async move { n == 3 }
    })
    .await;
    // Node b joins; node a dies mid-attempt (before its 10 s request timeout).
    let b = Server::start_with(&env("alerts-b")).await;
    a.kill();
    eventually("node b sends each alert once a's claims lapse", || {
        let n = seen.lock().unwrap().len();
        async move { n >= 6 }
    })
    .await;
    // Nothing more comes (each alert was taken over by one node, once).
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let s = seen.lock().unwrap().clone();
    assert_eq!(s.len(), 6, "{s:?}");
    for id in &ids {
        let tries: Vec<_> = s.iter().filter(|(i, _, _)| i == id).collect();
        assert_eq!(
            tries.iter().map(|t| t.2).collect::<Vec<_>>(),
            ["held", "200"],
            "{id}: attempted by a, sent once by b: {s:?}"
        );
        for t in tries {
            assert_eq!(t.1, "Bearer tk_cluster", "the secret opened on both nodes");
        }
    }
    let (st, log) = b
        .api(
            "GET",
            &format!("/api/v1/alert-rules/{rule}/deliveries"),
            &token,
            None,
        )
        .await;
    assert_eq!(st, 200, "{log}");
    let mut logged: Vec<_> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["status"], "delivered", "{d}");
            assert_eq!(d["lastStatusCode"], 200, "{d}");
            d["id"].as_str().unwrap().to_owned()
        })
        .collect();
    logged.sort();
    assert_eq!(logged, ids);
    drop((a, b));
    schema.drop_schema().await.unwrap();
}

/// The secret root rotated (`RINGSIDE_SECRET_KEY` the new one, `RINGSIDE_SECRET_KEY_PREVIOUS`
/// the old one): what the old one sealed still opens and what it signed is still accepted;
/// `ringside secret reseal` seals the stored secrets again, after which the old root can be
/// dropped, and a server given only the old root no longer opens them.
#[tokio::test]
async fn the_secret_root_rotates_without_losing_what_it_sealed() {
    const OLD: &str = "0101010101010101010101010101010101010101010101010101010101010101";
    const NEW: &str = "0202020202020202020202020202020202020202020202020202020202020202";
    let (url, seen) = ntfy_server(false).await;
    let private = ("RINGSIDE_ALLOW_PRIVATE_FETCH", "true");
    let mut srv = Server::start_with(&[private, ("RINGSIDE_SECRET_KEY", OLD)]).await;
    let dir = srv.data_dir.clone();
    let token = srv.token(
        "rotate@example.com",
        "webhooks:read,webhooks:write,mcp:read",
    );
    let rule = ntfy_rule(&srv, &token, &url, "tk_rotated").await;
    assert_eq!(sent(&srv, &token, &rule, &seen).await, "Bearer tk_rotated");
    // An MCP session id: signed with the root.
    let mcp = |srv: &Server, session: Option<String>| {
        let (http, token) = (srv.http.clone(), token.clone());
        async move {
            let mut req = ringside_e2e::http_client()
                .post(format!("{http}/mcp"))
                .bearer_auth(&token)
                .header("accept", "application/json, text/event-stream");
            let body = match &session {
                Some(s) => {
                    req = req.header("mcp-session-id", s);
                    serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "ping"})
                }
                None => serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                               "clientInfo": {"name": "t", "version": "1"}}}),
            };
            let r = req.json(&body).send().await.unwrap();
            let sid = r
                .headers()
                .get("mcp-session-id")
                .map(|v| v.to_str().unwrap().to_owned());
            (r.status().as_u16(), sid)
        }
    };
    let (st, session) = mcp(&srv, None).await;
    assert_eq!(st, 200);
    let session = session.expect("a session id");
    assert_eq!(mcp(&srv, Some(session.clone())).await.0, 200);

    // Rotating: the new root, the old one as the previous.
    srv.terminate();
    let rotating = [
        private,
        ("RINGSIDE_SECRET_KEY", NEW),
        ("RINGSIDE_SECRET_KEY_PREVIOUS", OLD),
    ];
    srv = Server::start_in(dir.clone(), &rotating).await;
    assert_eq!(
        sent(&srv, &token, &rule, &seen).await,
        "Bearer tk_rotated",
        "opened with the old root"
    );
    assert_eq!(
        mcp(&srv, Some(session.clone())).await.0,
        200,
        "signed by the old root: still accepted"
    );
    let reseal = |srv: &Server| {
        let out = srv.cli(&["secret", "reseal"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    // The channel's secret and the VAPID key.
    assert_eq!(
        reseal(&srv),
        serde_json::json!({"resealed": 2, "current": 0, "unsealable": 0, "changed": 0})
    );
    assert_eq!(
        reseal(&srv),
        serde_json::json!({"resealed": 0, "current": 2, "unsealable": 0, "changed": 0}),
        "again: nothing to do"
    );

    // The old root dropped: everything opens with the new one; the old signatures are void.
    srv.terminate();
    srv = Server::start_in(dir.clone(), &[private, ("RINGSIDE_SECRET_KEY", NEW)]).await;
    assert_eq!(
        sent(&srv, &token, &rule, &seen).await,
        "Bearer tk_rotated",
        "resealed"
    );
    assert_eq!(
        mcp(&srv, Some(session)).await.0,
        404,
        "the old root's session"
    );
    let out = srv.cli(&["secret", "reseal"]);
    assert!(!out.status.success(), "reseal without the previous root");
    assert!(String::from_utf8_lossy(&out.stderr).contains("RINGSIDE_SECRET_KEY_PREVIOUS"));
    srv.terminate();

    // A server given the old root alone cannot open what is sealed now: it says so at start.
    let out = std::process::Command::new(ringside_bin())
        .arg("serve")
        .env("RINGSIDE_DATA_DIR", &dir)
        .env("RINGSIDE_SECRET_KEY", OLD)
        .env("RINGSIDE_HTTP_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("RINGSIDE_SIP_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("RINGSIDE_WEBRTC_ADDR", format!("127.0.0.1:{}", free_port()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("RINGSIDE_SECRET_KEY_PREVIOUS"), "{err}");
}
