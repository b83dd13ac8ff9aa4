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
use ringside_api::{
    AppState, MetricsSource, PromptInfo, PromptKind, PromptStore, PromptStoreError, SipDirectory,
};
use ringside_storage::{now_ms, Extension, NewSession, Store, Trunk};
use tower::ServiceExt;

struct NoDirectory;
impl SipDirectory for NoDirectory {
    fn extension_upserted(&self, _: &Extension) {}
    fn extension_removed(&self, _: &str) {}
    fn trunk_upserted(&self, _: &Trunk) {}
    fn trunk_removed(&self, _: &str) {}
}

struct NoPrompts;
impl PromptStore for NoPrompts {
    fn list(&self, _: &str) -> Result<Vec<PromptInfo>, PromptStoreError> {
        Ok(Vec::new())
    }
    fn set(&self, _: &str, _: PromptKind, _: &[u8]) -> Result<PromptInfo, PromptStoreError> {
        Err(PromptStoreError::Internal("unused".into()))
    }
    fn clear(&self, _: &str, _: PromptKind) -> Result<bool, PromptStoreError> {
        Ok(false)
    }
    fn audio(
        &self,
        _: &str,
        _: PromptKind,
    ) -> Result<std::borrow::Cow<'static, [u8]>, PromptStoreError> {
        Err(PromptStoreError::Internal("unused".into()))
    }
}

struct NoMetrics;
impl MetricsSource for NoMetrics {
    fn render(&self, _: &mut String) {}
}

fn state(store: &Store, accounts: Arc<Accounts>) -> AppState {
    AppState {
        store: store.clone(),
        directory: Arc::new(NoDirectory),
        metrics: vec![Arc::new(NoMetrics)],
        sip_realm: "ringside".into(),
        data_dir: std::env::temp_dir(),
        prompts: Arc::new(NoPrompts),
        widget_prompts: Arc::new(NoPrompts),
        fetch_policy: Default::default(),
        console: Default::default(),
        public_url: "https://calls.example.net".into(),
        rate_limits: Default::default(),
        link_secret: [7; 32],
        usage_limits: Default::default(),
        bus: Default::default(),
        widget_cache: Default::default(),
        calls: None,
        channels: Default::default(),
        presence: Arc::new(ringside_api::Presence::new(
            store.clone(),
            Default::default(),
        )),
        request_timeout: std::time::Duration::from_secs(60),
        accounts,
    }
}

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
    let app = ringside_api::router(state(&store, accounts.clone()));
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
