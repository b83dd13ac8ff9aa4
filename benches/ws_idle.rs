//! Idle realtime sockets: opens N dashboard WebSockets (`/api/ws/tenant`) to a running
//! `ringside serve`, authenticates each, holds them open and reads the server's RSS before
//! and after (`/proc/PID/status`), for `benches/ws_idle.sh`.
//!
//! `ws_idle --url ws://127.0.0.1:PORT/api/ws/tenant --token TOKEN --pid PID --conns 10000
//!  [--hold 10] [--parallel 200]`
//!
//! Prints `RESULT conns=N open=N rss_before_kb=.. rss_after_kb=.. kb_per_conn=..`; after the
//! hold every socket gets a ping text and must answer pong (still open and served).

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

fn rss_kb(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let get = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let url = get("--url").expect("--url ws://host:port/api/ws/tenant");
    let token = get("--token").expect("--token");
    let pid = get("--pid").expect("--pid of ringside serve");
    let conns: usize = get("--conns").map_or(10_000, |v| v.parse().expect("--conns N"));
    let hold: u64 = get("--hold").map_or(10, |v| v.parse().expect("--hold S"));
    let parallel: usize = get("--parallel").map_or(200, |v| v.parse().expect("--parallel N"));

    let before = rss_kb(&pid);
    let t0 = Instant::now();
    let auth = format!(r#"{{"type":"auth","token":"{token}"}}"#);
    let mut sockets = Vec::with_capacity(conns);
    let mut failed = 0usize;
    let mut pending = futures_util::stream::iter((0..conns).map(|_| {
        let (url, auth) = (url.clone(), auth.clone());
        async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await.ok()?;
            ws.send(Message::Text(auth.into())).await.ok()?;
            loop {
                match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
                    Ok(Some(Ok(Message::Text(t)))) if t.as_str().contains("auth:ok") => {
                        return Some(ws)
                    }
                    Ok(Some(Ok(Message::Text(_)))) | Ok(Some(Ok(Message::Ping(_)))) => continue,
                    _ => return None,
                }
            }
        }
    }))
    .buffer_unordered(parallel);
    while let Some(r) = pending.next().await {
        match r {
            Some(ws) => sockets.push(ws),
            None => failed += 1,
        }
    }
    let opened = t0.elapsed();
    eprintln!(
        "opened {} sockets ({failed} failed) in {:.1} s; holding {hold} s",
        sockets.len(),
        opened.as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(hold)).await;
    let after = rss_kb(&pid);
    // Every socket is still served: ping -> pong.
    let mut alive = 0usize;
    for ws in sockets.iter_mut() {
        if ws
            .send(Message::Text(r#"{"type":"ping"}"#.into()))
            .await
            .is_err()
        {
            continue;
        }
    }
    for ws in sockets.iter_mut() {
        while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
            if let Message::Text(t) = m {
                if t.as_str().contains("pong") {
                    alive += 1;
                    break;
                }
            }
        }
    }
    let n = sockets.len().max(1);
    println!(
        "RESULT conns={conns} open={} alive={alive} failed={failed} rss_before_kb={before} \
         rss_after_kb={after} kb_per_conn={:.2} open_secs={:.1}",
        sockets.len(),
        after.saturating_sub(before) as f64 / n as f64,
        opened.as_secs_f64()
    );
}
