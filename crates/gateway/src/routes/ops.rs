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

/// Readiness: the snapshot is loaded (the server only listens after replay, so this is true
/// once it answers) and reports which event sequence it serves.
async fn readyz(State(app): State<AppState>) -> impl IntoResponse {
    let snapshot = app.engine.snapshot();
    let state = snapshot.state();
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({
            "status": "ready",
            "snapshot_seq": state.last_seq,
            "models": state.models().count(),
            "customers": state.n_customers(),
            "log_checkpoint_size": app.transparency.served_size(),
        })),
    )
}

/// Prometheus text format.
async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    let seq = app.engine.snapshot().state().last_seq;
    app.metrics.snapshot_seq.set(i64::try_from(seq).unwrap_or(i64::MAX));
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], app.metrics.render())
}
