//! Alert latency under load (issue 19): from an event queued to its ntfy request arriving at a
//! loopback ntfy server, with 1,000 alerts queued at once.
//!
//! Two shapes, each on a fresh SQLite file (and on PostgreSQL when
//! `RINGSIDE_BENCH_POSTGRES_URL` is set):
//! - fan-out: one event covered by 1,000 rules (20 users × 50 rules), so one transaction
//!   queues 1,000 alerts;
//! - burst: 1,000 events queued back to back by 8 writers, each covered by one of 1,000
//!   rules.
//!
//! Then, for reference, the floor under the fan-out: the same 1,000 requests from a bare HTTP
//! client to the same server (`alert_http_floor_*`).
//!
//! The sender is the production one ([`AlertDispatcher`] with [`AlertConfig::new`]'s
//! defaults, the lab fetch policy for loopback). The server records when each topic's request
//! arrives; latency is that minus the instant the event was handed to the store.
//!
//! `cargo bench -p ringside-benches --bench alert_load` prints p50/p99 per shape; the last
//! line is the headline (the worst p99).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringside_api::alert_dispatch::{AlertConfig, AlertDispatcher};
use ringside_storage::{AlertRule, NewInvite, Role, Store};
use serde_json::json;

const RULES: usize = 1000;
const PER_USER: usize = 50;

type Arrivals = Arc<Mutex<Vec<(String, Instant)>>>;

async fn ntfy() -> (Arrivals, String) {
    let got: Arrivals = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |body: axum::body::Bytes| {
            let g = g.clone();
            async move {
                let at = Instant::now();
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let topic = v["topic"].as_str().unwrap_or("").to_owned();
                g.lock().unwrap().push((topic, at));
                "{}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (got, format!("http://{addr}"))
}

/// A tenant with 20 users of 50 rules each, rule `i` publishing to topic `r{i}`, covering
/// `events(i)`. Returns the tenant.
async fn setup(store: &Store, url: &str, events: impl Fn(usize) -> String) -> String {
    let owner = store
        .ensure_user(&format!("owner-{}@bench.example", rand_id()))
        .await
        .unwrap();
    let mut users = vec![owner.id.clone()];
    while users.len() < RULES / PER_USER {
        let now = ringside_storage::now_ms();
        let (invite, secret) = store
            .create_invite(NewInvite {
                tenant_id: &owner.tenant_id,
                invited_by: &owner.id,
                email: &format!("u{}-{}@bench.example", users.len(), rand_id()),
                role: Role::Admin,
                now,
                ttl_ms: 3_600_000,
            })
            .await
            .unwrap();
        let u = store
            .accept_invite(&secret, &invite.email, now)
            .await
            .unwrap();
        users.push(u.id);
    }
    for i in 0..RULES {
        store
            .create_alert_rule(&AlertRule {
                id: String::new(),
                tenant_id: owner.tenant_id.clone(),
                user_id: users[i / PER_USER].clone(),
                name: format!("rule {i}"),
                events: vec![events(i)],
                widget_ids: None,
                channel_type: "ntfy".into(),
                channel: json!({"url": url, "topic": format!("r{i}")}),
                secret_sealed: None,
                quiet: None,
                visitor_filter: None,
                // The default window: each rule's first alert leaves at once.
                group_secs: 60,
                enabled: true,
                failing: false,
                created_at: 0,
                updated_at: 0,
            })
            .await
            .unwrap();
    }
    owner.tenant_id
}

fn rand_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(ringside_storage::now_ms() as u64);
    h.finish()
}

fn sender(store: &Store) -> tokio::task::JoinHandle<()> {
    let config = AlertConfig::new(
        "https://calls.example",
        [1; 32],
        ringside_api::outbound::FetchPolicy {
            allow_private: true,
        },
    );
    AlertDispatcher::new(store.clone(), config).unwrap().spawn()
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn wait_all(got: &Arrivals) {
    let start = Instant::now();
    while got.lock().unwrap().len() < RULES {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "only {} of {RULES} alerts arrived",
            got.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until the sender has recorded every alert sent so far as delivered (so that stopping
/// it does not cut a write short).
async fn settled(store: &Store, total: i64) {
    use sqlx::Row;
    for _ in 0..2400 {
        let n: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM alert_deliveries WHERE status = 'delivered'")
                .fetch_one(store.pool())
                .await
                .unwrap()
                .get("n");
        if n >= total {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("alerts never all recorded as delivered");
}

/// Each arrival's latency from `t0`, in ms.
fn since(got: &Arrivals, t0: Instant) -> Vec<f64> {
    got.lock()
        .unwrap()
        .iter()
        .map(|(_, at)| at.duration_since(t0).as_secs_f64() * 1000.0)
        .collect()
}

/// (p50, p99, max) in ms.
fn report(name: &str, lat: &mut [f64]) -> f64 {
    lat.sort_by(f64::total_cmp);
    let (p50, p99, max) = (pct(lat, 0.5), pct(lat, 0.99), lat[lat.len() - 1]);
    // Where the time goes: the first request out, and the spread after it.
    println!(
        "# alert_{name}: first {:.1} ms, p10 {:.1}, p25 {:.1}, p75 {:.1}",
        lat[0],
        pct(lat, 0.1),
        pct(lat, 0.25),
        pct(lat, 0.75)
    );
    println!("alert_{name}_p50_ms: {p50:.1}");
    println!("alert_{name}_p99_ms: {p99:.1}");
    println!("alert_{name}_max_ms: {max:.1}");
    p99
}

async fn fan_out(store: &Store) -> f64 {
    let (got, url) = ntfy().await;
    let tenant = setup(store, &url, |_| "call.requested".into()).await;
    let task = sender(store);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t0 = Instant::now();
    store
        .enqueue_webhook_event(&tenant, "call.requested", None, &json!({"callId": "c1"}))
        .await
        .unwrap();
    let queued = t0.elapsed();
    wait_all(&got).await;
    settled(store, RULES as i64).await;
    task.abort();
    println!(
        "alert_fanout_queue_ms: {:.1}",
        queued.as_secs_f64() * 1000.0
    );
    let mut lat = since(&got, t0);
    report("fanout", &mut lat)
}

/// The floor under the fan-out: the same 1,000 ntfy requests (the same JSON shape, 128 in
/// flight like the sender) fired at once by a bare HTTP client of the same library, with no
/// database, claims or checks; latency from the moment they are started to their arrival.
async fn http_floor() {
    let (got, url) = ntfy().await;
    let client = reqwest::Client::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(128));
    let t0 = Instant::now();
    for i in 0..RULES {
        let body = json!({"topic": format!("r{i}"), "title": "Call waiting", "message": "A visitor is calling", "priority": 5, "tags": ["telephone_receiver"], "click": "https://calls.example/console"}).to_string();
        let (client, url, permit) = (
            client.clone(),
            url.clone(),
            slots.clone().acquire_owned().await.unwrap(),
        );
        tokio::spawn(async move {
            let _ = client.post(&url).body(body).send().await;
            drop(permit);
        });
    }
    wait_all(&got).await;
    let mut lat = since(&got, t0);
    report("http_floor", &mut lat);
}

async fn burst(store: &Store) -> f64 {
    let (got, url) = ntfy().await;
    // Each event is covered by one rule: rule i covers widget i only.
    let tenant = setup(store, &url, |_| "visitor.connected".into()).await;
    let rules: Vec<AlertRule> = {
        let mut all = Vec::new();
        for u in store.list_users(&tenant).await.unwrap() {
            all.extend(store.list_alert_rules(&tenant, &u.id).await.unwrap());
        }
        all
    };
    let mut widgets = Vec::with_capacity(rules.len());
    for (i, r) in rules.iter().enumerate() {
        let w = store
            .create_widget(
                &tenant,
                ringside_storage::NewWidget {
                    name: format!("w{i}"),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let mut r = r.clone();
        r.widget_ids = Some(vec![w.id.clone()]);
        store.update_alert_rule(&r).await.unwrap();
        widgets.push((w.id, r.channel["topic"].as_str().unwrap().to_owned()));
    }
    let task = sender(store);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let widgets = Arc::new(widgets);
    let mut writers = Vec::new();
    for k in 0..8 {
        let (store, tenant, widgets, sent) =
            (store.clone(), tenant.clone(), widgets.clone(), sent.clone());
        writers.push(tokio::spawn(async move {
            for (w, topic) in widgets.iter().skip(k).step_by(8) {
                let at = Instant::now();
                store
                    .enqueue_webhook_event(
                        &tenant,
                        "visitor.connected",
                        Some(w),
                        &json!({"widgetId": w, "visitorId": "v"}),
                    )
                    .await
                    .unwrap();
                sent.lock().unwrap().push((topic.clone(), at));
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    wait_all(&got).await;
    settled(store, 2 * RULES as i64).await;
    task.abort();
    let sent: std::collections::HashMap<String, Instant> =
        sent.lock().unwrap().iter().cloned().collect();
    let mut lat: Vec<f64> = got
        .lock()
        .unwrap()
        .iter()
        .map(|(topic, at)| at.duration_since(sent[topic]).as_secs_f64() * 1000.0)
        .collect();
    report("burst", &mut lat)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut urls = vec![format!(
            "sqlite://{}?mode=rwc",
            std::env::temp_dir()
                .join(format!("ringside-alert-load-{}.db", rand_id()))
                .display()
        )];
        if let Ok(pg) = std::env::var("RINGSIDE_BENCH_POSTGRES_URL") {
            urls.push(pg);
        }
        let mut worst: f64 = 0.0;
        for url in urls {
            let backend = if url.starts_with("sqlite") {
                "sqlite"
            } else {
                "postgres"
            };
            println!("# {backend}");
            let store = Store::connect(&url).await.unwrap();
            worst = worst.max(fan_out(&store).await);
            worst = worst.max(burst(&store).await);
        }
        // Last of the shapes, so the headline stays the last line.
        http_floor().await;
        println!("alert_p99_ms: {worst:.1}");
    });
}
