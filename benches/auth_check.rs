//! What authenticating a request costs: a dashboard session cookie (the session cache, and
//! the database when the cache has not seen it) against a bearer token (a database lookup
//! each time), and whole `GET /api/v1/widgets` requests through the router with either, in
//! one run on one SQLite file.
//!
//!     cargo bench -p ringside-benches --bench auth_check

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use criterion::{criterion_group, criterion_main, Criterion};
use ringside_api::accounts::Accounts;
use ringside_api::AppState;
use ringside_storage::{now_ms, NewSession, Store};
use tower::ServiceExt;

fn auth(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let path = std::env::temp_dir().join(format!("ringside-auth-bench-{}.db", std::process::id()));
    let store = rt
        .block_on(Store::connect(&format!(
            "sqlite://{}?mode=rwc",
            path.display()
        )))
        .unwrap();
    let user = rt
        .block_on(store.ensure_user("bench@auth.example"))
        .unwrap();
    let (_, token) = rt
        .block_on(store.create_token(&user.id, "bench", &["widgets:read".into()]))
        .unwrap();
    let (_, secret) = rt
        .block_on(store.create_session(NewSession {
            user_id: &user.id,
            now: now_ms(),
            lifetime_ms: 86_400_000,
            user_agent: None,
            ip: None,
        }))
        .unwrap();
    let accounts = Arc::new(Accounts::default());
    let app = ringside_api::router(AppState {
        accounts: accounts.clone(),
        ..ringside_api::testing::state(&store, "https://calls.example.net")
    });
    let cookie = format!("ringside_session={secret}");
    let bearer = format!("Bearer {token}");

    let mut g = c.benchmark_group("auth_check");
    g.bench_function("session_cached", |b| {
        b.iter(|| {
            rt.block_on(accounts.session(&store, &secret))
                .unwrap()
                .unwrap()
        })
    });
    g.bench_function("session_database", |b| {
        b.iter(|| {
            rt.block_on(store.authenticate_session(&secret, now_ms(), 86_400_000))
                .unwrap()
                .unwrap()
        })
    });
    g.bench_function("token_database", |b| {
        b.iter(|| {
            rt.block_on(store.authenticate_token(&token))
                .unwrap()
                .unwrap()
        })
    });
    for (name, header, value) in [
        ("request_cookie", "cookie", cookie.as_str()),
        ("request_bearer", "authorization", bearer.as_str()),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let req = Request::get("/api/v1/widgets")
                    .header(header, value)
                    .body(Body::empty())
                    .unwrap();
                let resp = rt.block_on(app.clone().oneshot(req)).unwrap();
                assert!(resp.status().is_success());
                resp
            })
        });
    }
    g.finish();
    rt.block_on(store.close());
    let _ = std::fs::remove_file(&path);
}

criterion_group!(benches, auth);
criterion_main!(benches);
