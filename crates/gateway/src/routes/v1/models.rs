//! `GET /v1/models` and `GET /v1/models/{model}`: only what this caller (this key, and this end
//! user if an attestation is sent) may use now, decided exactly as an inference call would be.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use portcullis_core::Decision;
use portcullis_core::state::Model;

use crate::app::AppState;
use crate::error::ApiError;
use crate::routes::v1::Caller;
use crate::routes::v1::denial::denied;

/// `GET /v1/models`.
pub async fn list(State(app): State<AppState>, headers: HeaderMap) -> Result<Json<serde_json::Value>, ApiError> {
    let snapshot = app.engine.snapshot();
    let c = Caller::new(&app, &snapshot, &headers, &crate::auth::presented_key(&headers)?)?;
    let data: Vec<serde_json::Value> = snapshot
        .state()
        .models()
        .filter(|model| matches!(c.decide(&app, model), Ok(Decision::Allow(_))))
        .map(|model| model_object(model))
        .collect();
    Ok(Json(serde_json::json!({ "object": "list", "data": data })))
}

/// `GET /v1/models/{model}`: 404 if it does not exist, 403 with the reason if not allowed.
pub async fn get_one(
    State(app): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let snapshot = app.engine.snapshot();
    let c = Caller::new(&app, &snapshot, &headers, &crate::auth::presented_key(&headers)?)?;
    let model = snapshot.state().model(&name).ok_or_else(|| ApiError::NotFound {
        message: format!("the model `{name}` does not exist"),
        code: "model_not_found",
    })?;
    match c.decide(&app, model)? {
        Decision::Allow(_) => Ok(Json(model_object(model))),
        Decision::Deny(denial) => Err(denied(&app.public_base_url, c.customer, model, &denial)),
    }
}

fn model_object(model: &Model) -> serde_json::Value {
    serde_json::json!({
        "id": model.name.as_str(),
        "object": "model",
        "created": model.registered_at.as_millis() / 1000,
        "owned_by": "portcullis",
    })
}
