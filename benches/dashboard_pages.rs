//! How fast the dashboard's pages render with a busy tenant: 10,000 contacts and 100,000 chat
//! messages (10,000 visitors writing 10 messages each, on two widgets, the contacts attached
//! to their visitors, every third chat assigned to the owner), and 10,000 answered browser
//! calls with two legs each (every third assigned too), on one SQLite file. Each page is requested through the whole router
//! with a signed-in session cookie (as a browser does), 200 times after 20 warm-ups, and its
//! p50 and p95 are printed; the last line is the slowest page's p50.
//!
//!     cargo bench -p ringside-benches --bench dashboard_pages
//!
//! `RINGSIDE_BENCH_CONTACTS`, `RINGSIDE_BENCH_MESSAGES` and `RINGSIDE_BENCH_CALLS` change
//! the sizes; `RINGSIDE_BENCH_KEEP_DB=<file>` keeps the seeded SQLite file and
//! `RINGSIDE_BENCH_ONLY=<path>` times one page alone.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use ringside_storage::{
    now_ms, AssignTo, CallLeg, CallRecord, ContactPatch, LegStats, NewMessage, NewSession,
    NewWidget, Store,
};
use tower::ServiceExt;

fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not used.
    let contacts = size("RINGSIDE_BENCH_CONTACTS", 10_000);
    let messages = size("RINGSIDE_BENCH_MESSAGES", 100_000);
    let calls = size("RINGSIDE_BENCH_CALLS", 10_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let path = std::env::temp_dir().join(format!("ringside-dash-bench-{}.db", std::process::id()));
    let store = rt
        .block_on(Store::connect(&format!(
            "sqlite://{}?mode=rwc",
            path.display()
        )))
        .unwrap();

    // The tenant.
    let seeded = Instant::now();
    let user = rt
        .block_on(store.ensure_user("owner@busy.example"))
        .unwrap();
    let t = user.tenant_id.clone();
    let widgets: Vec<String> = ["Shop", "Blog"]
        .iter()
        .map(|name| {
            rt.block_on(store.create_widget(
                &t,
                NewWidget {
                    name: (*name).into(),
                    allowed_domains: vec!["example.com".into()],
                    ..NewWidget::default()
                },
            ))
            .unwrap()
            .id
        })
        .collect();
    let visitors = contacts.max(1);
    let per_visitor = (messages / visitors).max(1);
    let mut first_contact = String::new();
    rt.block_on(async {
        for i in 0..visitors {
            let w = &widgets[i % widgets.len()];
            let visitor = format!("visitor-{i:06}");
            for k in 0..per_visitor {
                let sender = if k % 2 == 0 { "visitor" } else { "operator" };
                store
                    .add_message(
                        &t,
                        w,
                        NewMessage {
                            visitor_id: visitor.clone(),
                            conversation_id: String::new(),
                            sender: sender.into(),
                            author_user_id: (sender == "operator").then(|| user.id.clone()),
                            body: format!("Message {k} of visitor {i}: do you ship to Lisbon?"),
                        },
                    )
                    .await
                    .unwrap();
            }
            if i < contacts {
                let c = store
                    .create_contact(
                        &t,
                        ContactPatch {
                            first_name: Some(Some(format!("First{i}"))),
                            last_name: Some(Some(format!("Last{i}"))),
                            email: Some(Some(format!("person{i}@example.org"))),
                            ..ContactPatch::default()
                        },
                    )
                    .await
                    .unwrap();
                store
                    .attach_contact_session(&t, &c.id, w, &visitor, "bench")
                    .await
                    .unwrap();
                if first_contact.is_empty() {
                    first_contact = c.id;
                }
            }
            if i % 3 == 0 {
                let to = AssignTo {
                    user_id: Some(&user.id),
                    by: &user.id,
                    now: now_ms(),
                    expect: None,
                };
                store
                    .assign_conversation(&t, w, &visitor, to)
                    .await
                    .unwrap();
            }
        }
    });
    // The calls, a day's worth each few minutes apart, in batches as the call core writes.
    let mut last_call = String::new();
    rt.block_on(async {
        let start = now_ms() - i64::try_from(calls).unwrap() * 60_000;
        let mut batch = Vec::new();
        for i in 0..calls {
            let at = start + i64::try_from(i).unwrap() * 60_000;
            let id = format!("call_bench{i:06}");
            let visitor = format!("visitor-{:06}", i % visitors);
            let leg = |idx: i64, role: &str, peer: &str| CallLeg {
                id: format!("{id}-leg{idx}"),
                call_id: id.clone(),
                idx,
                role: role.parse().unwrap(),
                sip_call_id: format!("{id}-{idx}@bench"),
                local_tag: format!("t{idx}"),
                remote_tag: Some(format!("r{idx}")),
                peer: peer.into(),
                started_at: at,
                answered_at: Some(at + 4_000),
                ended_at: Some(at + 94_000),
                final_status: Some(200),
                quality: Some(LegStats {
                    rx_packets: 4_500,
                    rx_lost: 3,
                    jitter_us: 2_100,
                    rtt_us: Some(40_000),
                    tx_packets: 4_500,
                }),
            };
            batch.push(CallRecord {
                id: id.clone(),
                tenant_id: t.clone(),
                kind: "webrtc".parse().unwrap(),
                from_uri: format!("webrtc:{visitor}"),
                to_uri: format!("widget:{}", widgets[i % widgets.len()]),
                status: "answered".parse().unwrap(),
                started_at: at,
                answered_at: Some(at + 4_000),
                ended_at: Some(at + 94_000),
                end_reason: Some("hangup".parse().unwrap()),
                hangup_side: Some("caller".parse().unwrap()),
                widget_id: Some(widgets[i % widgets.len()].clone()),
                visitor_id: Some(visitor),
                answered_by: Some(user.id.clone()),
                node_id: None,
                legs: vec![
                    leg(0, "caller", "127.0.0.1:40000"),
                    leg(1, "callee", "browser"),
                ],
            });
            if batch.len() == 500 || i + 1 == calls {
                store.insert_calls_batch(&batch).await.unwrap();
                batch.clear();
            }
            last_call = id;
        }
        for i in (0..calls).step_by(3) {
            let to = AssignTo {
                user_id: Some(&user.id),
                by: &user.id,
                now: now_ms(),
                expect: None,
            };
            let id = format!("call_bench{i:06}");
            store.assign_call(&t, &id, to).await.unwrap();
        }
    });
    let (_, secret) = rt
        .block_on(store.create_session(NewSession {
            user_id: &user.id,
            now: now_ms(),
            lifetime_ms: 86_400_000,
            user_agent: None,
            ip: None,
        }))
        .unwrap();
    println!(
        "seeded {contacts} contacts, {} messages and {calls} calls in {:.1} s",
        visitors * per_visitor,
        seeded.elapsed().as_secs_f64()
    );

    // The storage reads behind the inbox, timed alone.
    {
        let time = |name: &str, f: &dyn Fn()| {
            let mut t: Vec<Duration> = (0..60)
                .map(|_| {
                    let s = Instant::now();
                    f();
                    s.elapsed()
                })
                .collect();
            t.sort();
            println!(
                "{name:<48} p50 {:>7.3} ms",
                t[t.len() / 2].as_secs_f64() * 1000.0
            );
        };
        let open = ringside_storage::ConversationFilter {
            state: Some("open".into()),
            limit: 100,
            ..Default::default()
        };
        time("storage: list_conversations(open)", &|| {
            rt.block_on(store.list_conversations(&t, &open, now_ms()))
                .unwrap();
        });
        time("storage: list_widgets", &|| {
            rt.block_on(store.list_widgets(&t)).unwrap();
        });
        time("storage: conversation_counts", &|| {
            rt.block_on(store.conversation_counts(&t, &user.id, None, now_ms()))
                .unwrap();
        });
    }

    let app = ringside_api::router(ringside_api::testing::state(
        &store,
        "http://calls.example.net",
    ));
    let cookie = format!("ringside_session={secret}");
    let w0 = &widgets[0];
    let pages = [
        "/".to_owned(),
        "/inbox".to_owned(),
        "/inbox?view=unassigned".to_owned(),
        "/inbox?view=mine".to_owned(),
        "/inbox?view=resolved".to_owned(),
        format!("/inbox/{w0}/visitor-000000"),
        "/calls".to_owned(),
        format!("/calls/{last_call}"),
        "/contacts".to_owned(),
        "/contacts?q=person4242".to_owned(),
        format!("/contacts/{first_contact}"),
        format!("/analytics?widget={w0}"),
        "/widgets".to_owned(),
        format!("/widgets/{w0}"),
        "/settings/webhooks".to_owned(),
    ];
    let mut worst = (String::new(), Duration::ZERO);
    // `RINGSIDE_BENCH_ONLY=<path>` times that page alone (for a profiler).
    let only = std::env::var("RINGSIDE_BENCH_ONLY").ok();
    let iters = size("RINGSIDE_BENCH_ITERS", 200);
    for p in pages
        .iter()
        .filter(|p| only.as_ref().is_none_or(|o| *p == o))
    {
        let mut times = Vec::with_capacity(iters);
        for i in 0..iters + 20 {
            let req = Request::get(p.as_str())
                .header("cookie", &cookie)
                .body(Body::empty())
                .unwrap();
            let start = Instant::now();
            let resp = rt.block_on(async {
                let r = app.clone().oneshot(req).await.unwrap();
                let status = r.status();
                let body = axum::body::to_bytes(r.into_body(), 8 << 20).await.unwrap();
                (status, body.len())
            });
            let took = start.elapsed();
            assert!(resp.0.is_success(), "{p}: {}", resp.0);
            if i >= 20 {
                times.push(took);
            }
        }
        times.sort();
        let p50 = times[times.len() / 2];
        let p95 = times[times.len() * 95 / 100];
        println!(
            "{p:<48} p50 {:>7.3} ms  p95 {:>7.3} ms",
            p50.as_secs_f64() * 1000.0,
            p95.as_secs_f64() * 1000.0
        );
        if p50 > worst.1 {
            worst = (p.clone(), p50);
        }
    }
    rt.block_on(store.close());
    // `RINGSIDE_BENCH_KEEP_DB=<file>` keeps the seeded database there (for EXPLAIN).
    if let Ok(keep) = std::env::var("RINGSIDE_BENCH_KEEP_DB") {
        let _ = std::fs::copy(&path, keep);
    }
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(path.with_extension("db-wal"));
    let _ = std::fs::remove_file(path.with_extension("db-shm"));
    println!("slowest page: {}", worst.0);
    println!(
        "dashboard_page_p50_slowest_ms: {:.3}",
        worst.1.as_secs_f64() * 1000.0
    );
}
