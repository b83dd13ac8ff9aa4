//! `/healthz` and `/metrics`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;

use crate::openapi::{Auth, DocRouter, Spec};
use crate::AppState;

/// What `/healthz` and `/metrics` use of the application state.
#[derive(Clone)]
pub struct HealthState {
    store: ringside_storage::Store,
    metrics: Vec<std::sync::Arc<dyn crate::MetricsSource>>,
    accounts: std::sync::Arc<crate::accounts::Accounts>,
}

impl axum::extract::FromRef<AppState> for HealthState {
    fn from_ref(st: &AppState) -> Self {
        HealthState {
            store: st.store.clone(),
            metrics: st.metrics.clone(),
            accounts: st.accounts.clone(),
        }
    }
}

pub(crate) fn routes() -> DocRouter {
    const T: &str = "Operations";
    DocRouter::new("")
        .get(
            "/healthz",
            healthz,
            Spec::new(T, Auth::Public, "Liveness and database check")
                .returns::<Health>()
                .also(&[(503, "The database is unreachable")]),
        )
        .get(
            "/metrics",
            metrics,
            Spec::new(T, Auth::Public, "Prometheus metrics").content("text/plain"),
        )
}

/// `GET /healthz`.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Health {
    /// `ok`, or `storage_unavailable` (with 503).
    #[schemars(extend("enum" = ["ok", "storage_unavailable"]))]
    pub status: &'static str,
    /// The node that answered (`RINGSIDE_NODE_ID`), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

async fn healthz(State(st): State<HealthState>) -> impl IntoResponse {
    let node = st.store.node_id().map(str::to_owned);
    match st.store.ping().await {
        Ok(()) => (StatusCode::OK, axum::Json(Health { status: "ok", node })),
        Err(e) => {
            tracing::warn!(error = %e, "health check: storage unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(Health {
                    status: "storage_unavailable",
                    node,
                }),
            )
        }
    }
}

async fn metrics(State(st): State<HealthState>) -> impl IntoResponse {
    let mut out = String::with_capacity(4096);
    for m in &st.metrics {
        m.render(&mut out);
    }
    st.accounts.render_metrics(&mut out);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}
