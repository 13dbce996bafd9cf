//! `GET /admin/v1/events`: the event sequence in its publishable form (no secret hashes).
//!
//! The snapshot keeps derived state, not events, so this reads the store through the engine.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::Actor;
use portcullis_translog::proof::TlogProof;
use serde::Deserialize;

use crate::app::{ApiPath, ApiQuery, AppState};
use crate::error::ApiError;
use crate::routes::admin::actor;

/// Query of `GET /admin/v1/events`.
#[derive(Deserialize)]
pub struct EventsQuery {
    /// Only events after this sequence number.
    #[serde(default)]
    after: u64,
    /// At most this many (default 100, at most 1000).
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /admin/v1/events` (provider, authority).
pub async fn list(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let actor = actor(&app, &headers)?;
    if matches!(actor, Actor::Customer { .. }) {
        return Err(ApiError::Forbidden(format!("{} may not read the event feed", actor.describe())));
    }
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let records = app.engine.events_after(query.after, limit).await?;
    let events: Vec<serde_json::Value> =
        records.iter().filter_map(|r| serde_json::from_str(&r.public_json()).ok()).collect();
    Ok(Json(serde_json::json!({ "events": events })))
}

/// `GET /admin/v1/events/{seq}` (public): one event's log entry, exactly as logged.
pub async fn get_one(
    State(app): State<AppState>,
    ApiPath(seq): ApiPath<u64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let entry = entry(&app, seq).await?;
    let size = app.transparency.served_size();
    Ok(Json(serde_json::json!({
        "seq": seq,
        "log_index": seq.saturating_sub(1),
        "entry": entry,
        "in_checkpoint": seq <= size,
        "receipt_url": format!("{}/admin/v1/events/{seq}/receipt", app.public_base_url),
    })))
}

/// `GET /admin/v1/events/{seq}/receipt` (public): a C2SP tlog-proof for the event's entry
/// against the latest signed checkpoint.
pub async fn receipt(State(app): State<AppState>, ApiPath(seq): ApiPath<u64>) -> Result<Response, ApiError> {
    let served =
        app.transparency.served.load_full().filter(|c| c.size >= seq && seq > 0).ok_or_else(|| ApiError::NotFound {
            message: format!(
                "event {seq} is not covered by a signed checkpoint yet; checkpoints are signed every {} ms",
                app.transparency.checkpoint_interval_ms
            ),
            code: "not_yet_in_checkpoint",
        })?;
    let transparency = app.transparency.clone();
    let size = served.size;
    let proof = tokio::task::spawn_blocking(move || transparency.reader.inclusion_proof(seq - 1, size))
        .await
        .map_err(|err| ApiError::Internal(err.into()))?
        .map_err(|err| ApiError::Internal(err.into()))?;
    let receipt =
        TlogProof::new(seq - 1, proof, &served.note).map_err(|err| ApiError::Internal(anyhow::anyhow!(err)))?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], receipt.to_text()).into_response())
}

async fn entry(app: &AppState, seq: u64) -> Result<String, ApiError> {
    let transparency = app.transparency.clone();
    tokio::task::spawn_blocking(move || transparency.reader.entry(seq))
        .await
        .map_err(|err| ApiError::Internal(err.into()))?
        .map_err(|err| ApiError::Internal(err.into()))?
        .ok_or_else(|| ApiError::NotFound { message: format!("no event {seq}"), code: "not_found" })
}

/// `GET /admin/v1/log` (public): how to verify the log: origin, verifier key, size, witnesses.
pub async fn log_info(State(app): State<AppState>) -> Json<serde_json::Value> {
    let t = &app.transparency;
    let witnesses: Vec<serde_json::Value> = t
        .witnesses
        .iter()
        .map(|w| serde_json::json!({ "url": w.url(), "verifier_key": w.verifier().to_vkey_string() }))
        .collect();
    Json(serde_json::json!({
        "origin": t.origin(),
        "verifier_key": t.verifier_key(),
        "checkpoint_url": format!("{}/log/checkpoint", app.public_base_url),
        "tiles_url": format!("{}/log/", app.public_base_url),
        "size": t.served_size(),
        "witnesses": witnesses,
        "verify": t.verify_command(&app.public_base_url),
    }))
}
