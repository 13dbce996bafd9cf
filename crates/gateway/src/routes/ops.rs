//! Operations: liveness, readiness, metrics.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::app::AppState;

/// `/healthz`, `/readyz`, `/metrics`.
pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(metrics))
}

/// Liveness: the process answers.
async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, axum::Json(serde_json::json!({ "status": "ok" })))
}

/// Readiness, for a load balancer: the snapshot is loaded (the server only listens after replay)
/// and, with a shared database, this replica is known to be current. A stale replica answers 503
/// (`"status": "stale"`) so the balancer sends traffic elsewhere; it still serves what it is
/// asked, refusing only gated models (see `replica.rs`).
async fn readyz(State(app): State<AppState>) -> impl IntoResponse {
    let snapshot = app.engine.snapshot();
    let state = snapshot.state();
    let freshness = app.engine.freshness();
    let stale = freshness.stale().is_some();
    let status = if stale { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    (
        status,
        axum::Json(serde_json::json!({
            "status": if stale { "stale" } else { "ready" },
            "snapshot_seq": state.last_seq,
            "models": state.models().count(),
            "customers": state.n_customers(),
            "log_checkpoint_size": app.transparency.served_size(),
            "store": if freshness.is_shared() { "shared" } else { "local" },
            "sequencer": freshness.is_sequencer(),
            "snapshot_age_ms": freshness.age().map(|age| u64::try_from(age.as_millis()).unwrap_or(u64::MAX)),
            "staleness_bound_ms": freshness.bound().map(|bound| u64::try_from(bound.as_millis()).unwrap_or(u64::MAX)),
        })),
    )
}

/// Prometheus text format.
async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    let seq = app.engine.snapshot().state().last_seq;
    app.metrics.snapshot_seq.set(i64::try_from(seq).unwrap_or(i64::MAX));
    let freshness = app.engine.freshness();
    app.metrics.snapshot_age_seconds.set(freshness.age().map_or(0.0, |age| age.as_secs_f64()));
    app.metrics.replica_stale.set(i64::from(freshness.stale().is_some()));
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], app.metrics.render())
}
