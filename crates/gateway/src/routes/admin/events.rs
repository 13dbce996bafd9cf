//! `GET /admin/v1/events`: the event sequence in its publishable form (no secret hashes).
//!
//! The snapshot keeps derived state, not events, so this reads the store through the engine.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use portcullis_core::Actor;
use serde::Deserialize;

use crate::app::AppState;
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
    Query(query): Query<EventsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let actor = actor(&app, &headers)?;
    if matches!(actor, Actor::Customer { .. }) {
        return Err(ApiError::Forbidden(format!("{} may not read the event feed", actor.describe())));
    }
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let records = app.engine.events_after(query.after, limit).await?;
    let events: Vec<serde_json::Value> = records
        .iter()
        .filter_map(|r| serde_json::from_str(&r.public_json()).ok())
        .collect();
    Ok(Json(serde_json::json!({ "events": events })))
}
