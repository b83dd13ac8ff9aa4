//! Cross-node event delivery (issue 20): two `ringside serve` nodes sharing PostgreSQL and
//! NATS; a visitor chats through node b; dashboards on node b (same node) and node a (the
//! other) receive each `message:new`. Prints the delay from the chat request to the frame on
//! each dashboard, and what crossing nodes adds (the difference, message by message), p50
//! and p99 in milliseconds.
//!
//! Needs `RINGSIDE_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`) and
//! NATS on 127.0.0.1:4222; the binary is `target/debug/ringside` or `RINGSIDE_BIN`.
//!
//!     cargo build --release -p ringside
//!     RINGSIDE_BIN=target/release/ringside RINGSIDE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!       cargo bench -p ringside-benches --bench cluster_events
//!
//! The last line is `cluster_event_added_p50_ms: N`.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use ringside_e2e::Server;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const ORIGIN: &str = "https://example.com";

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn dashboard(srv: &Server, token: &str) -> Ws {
    let req = format!("{}/api/ws/tenant", srv.http.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    let mut ws = tokio_tungstenite::connect_async(req).await.unwrap().0;
    let auth = serde_json::json!({"type": "auth", "token": token}).to_string();
    ws.send(Message::Text(auth.into())).await.unwrap();
    wait_for(&mut ws, |v| v["type"] == "auth:ok").await;
    ws
}

/// Reads frames until one matches; panics after 20 s.
async fn wait_for(ws: &mut Ws, want: impl Fn(&serde_json::Value) -> bool) -> Instant {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let m = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("frame");
        if let Message::Text(t) = m {
            let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
            if want(&v) {
                return Instant::now();
            }
        }
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("CLUSTER_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let Some(schema) = ringside_e2e::postgres_schema().await else {
        eprintln!("cluster_events: set RINGSIDE_TEST_POSTGRES_URL");
        return;
    };
    let db = ("RINGSIDE_DATABASE_URL", schema.url.as_str());
    let nats = ("RINGSIDE_NATS_URL", "nats://127.0.0.1:4222");
    let quiet = ("RINGSIDE_LOG", "warn");
    let unlimited = ("RINGSIDE_RATE_LIMIT_CHAT_PER_IP_RATE", "0");
    let a =
        Server::start_with(&[db, nats, quiet, unlimited, ("RINGSIDE_NODE_ID", "bench-a")]).await;
    let b =
        Server::start_with(&[db, nats, quiet, unlimited, ("RINGSIDE_NODE_ID", "bench-b")]).await;
    let token = a.token(
        "bench@example.com",
        "messages:read,messages:write,widgets:write",
    );
    let (_, w) = a
        .api(
            "POST",
            "/api/v1/widgets",
            &token,
            Some(serde_json::json!({"name": "Bench", "allowedDomains": ["example.com"]})),
        )
        .await;
    let (widget, key) = (w["id"].as_str().unwrap(), w["publicKey"].as_str().unwrap());
    // Each dashboard is read all the time, the arrival of each message stamped as it comes.
    let arrivals = |mut ws: Ws| {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
        tokio::spawn(async move {
            while let Some(Ok(m)) = ws.next().await {
                let at = Instant::now();
                if let Message::Text(t) = m {
                    let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap_or_default();
                    if v["type"] == "message:new" {
                        let body = v["data"]["body"].as_str().unwrap_or_default().to_owned();
                        if tx.send((body, at)).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        rx
    };
    let mut remote = arrivals(dashboard(&a, &token).await);
    let mut local = arrivals(dashboard(&b, &token).await);
    async fn arrival(
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<(String, Instant)>,
        body: &str,
    ) -> Instant {
        loop {
            let (b, at) = tokio::time::timeout(Duration::from_secs(20), rx.recv())
                .await
                .expect("the message in time")
                .expect("the dashboard open");
            if b == body {
                return at;
            }
        }
    }
    let http = ringside_e2e::http_client();
    let chat = format!("{}/api/widgets/{widget}/chat?key={key}", b.http);
    let (mut local_ms, mut remote_ms, mut added_ms) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n + 20 {
        let body = format!("bench message {i}");
        let sent = Instant::now();
        let r = http
            .post(&chat)
            .header("origin", ORIGIN)
            .json(&serde_json::json!({"sessionId": format!("visitor-bench-{}", i % 10), "message": body}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        let at_local = arrival(&mut local, &body).await;
        let at_remote = arrival(&mut remote, &body).await;
        // The first messages warm up connections and statement caches.
        if i >= 20 {
            let ms = |t: Instant| t.duration_since(sent).as_secs_f64() * 1000.0;
            local_ms.push(ms(at_local));
            remote_ms.push(ms(at_remote));
            added_ms.push(ms(at_remote) - ms(at_local));
        }
    }
    let crossed = a.metric("ringside_cluster_events_received_total", "").await;
    println!("messages: {n} (events received by node a over NATS: {crossed})");
    for (name, v) in [("same node", &mut local_ms), ("other node", &mut remote_ms)] {
        println!(
            "{name}: chat request to dashboard frame p50 {:.2} ms, p99 {:.2} ms",
            pct(v, 0.5),
            pct(v, 0.99)
        );
    }
    let (p50, p99) = (pct(&mut added_ms, 0.5), pct(&mut added_ms, 0.99));
    println!("added by crossing nodes: p50 {p50:.2} ms, p99 {p99:.2} ms");
    drop((a, b));
    schema.drop_schema().await.unwrap();
    println!("cluster_event_added_p50_ms: {p50:.2}");
}
