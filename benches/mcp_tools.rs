//! `/mcp` under load, through the whole router in one process: `tools/call` of
//! `ringside_get_live_visitors` on a widget with 10,000 live visitors (tracked through the
//! presence, flushed to one SQLite file), 20 warm-ups then 200 timed calls, p50 and p95; then
//! the process's resident memory before and after 10,000 stateless `tools/list` requests (no
//! session is kept, so it should not grow with the count).
//!
//!     cargo bench -p ringside-benches --bench mcp_tools
//!
//! `RINGSIDE_BENCH_VISITORS` changes the count. Last line: `mcp_live_visitors_p50_ms: X`.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use ringside_benches::rss_kb;
use ringside_storage::{NewWidget, Store};
use serde_json::json;
use tower::ServiceExt;

fn main() {
    let visitors: usize = std::env::var("RINGSIDE_BENCH_VISITORS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let path = std::env::temp_dir().join(format!("ringside-mcp-bench-{}.db", std::process::id()));
    let store = rt
        .block_on(Store::connect(&format!(
            "sqlite://{}?mode=rwc",
            path.display()
        )))
        .unwrap();
    let user = rt.block_on(store.ensure_user("owner@mcp.example")).unwrap();
    let widget = rt
        .block_on(store.create_widget(
            &user.tenant_id,
            NewWidget {
                name: "Shop".into(),
                allowed_domains: vec!["shop.example".into()],
                ..NewWidget::default()
            },
        ))
        .unwrap()
        .id;
    let (_, token) = rt
        .block_on(store.create_token(
            &user.id,
            "bench",
            &["mcp:read".to_owned(), "analytics:read".to_owned()],
        ))
        .unwrap();
    let state = ringside_api::testing::state(&store, "http://calls.example.net");
    let presence = state.presence.clone();
    let seeded = Instant::now();
    rt.block_on(async {
        for i in 0..visitors {
            let ev = ringside_api::presence::TrackEvent {
                visitor_id: format!("visitor-{i:06}"),
                kind: "page_view".into(),
                url: Some(format!("https://shop.example/p/{}?utm_source=news", i % 50)),
                title: Some("Product".into()),
                ..Default::default()
            };
            presence.track(&user.tenant_id, &widget, ev).await.unwrap();
        }
        presence.flush().await.unwrap();
    });
    println!(
        "seeded {visitors} live visitors in {:.1} s",
        seeded.elapsed().as_secs_f64()
    );
    let app = ringside_api::router(state);
    let auth = format!("Bearer {token}");
    let post = |body: &serde_json::Value| {
        Request::post("/mcp")
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "ringside_get_live_visitors", "arguments": {"widgetId": widget},
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                  "io.modelcontextprotocol/clientCapabilities": {}}}});
    let mut times = Vec::new();
    let mut live = 0;
    for i in 0..220 {
        let req = post(&call);
        let start = Instant::now();
        let body = rt.block_on(async {
            let r = app.clone().oneshot(req).await.unwrap();
            assert!(r.status().is_success());
            axum::body::to_bytes(r.into_body(), 64 << 20).await.unwrap()
        });
        let took = start.elapsed();
        if i == 0 {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            live = v["result"]["structuredContent"]["visitors"]
                .as_array()
                .map_or(0, Vec::len);
            println!("answer: {} visitors, {} KB", live, body.len() / 1024);
        }
        if i >= 20 {
            times.push(took);
        }
    }
    assert!(live > 0, "the tool saw the live visitors");
    times.sort();
    let p50: Duration = times[times.len() / 2];
    let p95: Duration = times[times.len() * 95 / 100];
    println!(
        "tools/call ringside_get_live_visitors: p50 {:.3} ms, p95 {:.3} ms",
        p50.as_secs_f64() * 1000.0,
        p95.as_secs_f64() * 1000.0
    );
    // Memory across stateless requests.
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                  "io.modelcontextprotocol/clientCapabilities": {}}}});
    let run = |n: usize| {
        rt.block_on(async {
            for _ in 0..n {
                let r = app.clone().oneshot(post(&list)).await.unwrap();
                assert!(r.status().is_success());
                let _ = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
            }
        })
    };
    run(1_000);
    let before = rss_kb();
    let started = Instant::now();
    run(10_000);
    let per = started.elapsed() / 10_000;
    let after = rss_kb();
    println!(
        "10,000 stateless tools/list: RSS {before} KB -> {after} KB ({:+} KB), {:.3} ms each",
        i64::try_from(after).unwrap_or(0) - i64::try_from(before).unwrap_or(0),
        per.as_secs_f64() * 1000.0
    );
    rt.block_on(store.close());
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(path.with_extension("db-wal"));
    let _ = std::fs::remove_file(path.with_extension("db-shm"));
    println!(
        "mcp_live_visitors_p50_ms: {:.3}",
        p50.as_secs_f64() * 1000.0
    );
}
