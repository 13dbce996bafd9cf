//! Deployments and fallback chains (builder mode, issue #8): set through governance events,
//! health read from this replica's memory.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use portcullis_core::{Actor, Command, Deployment, ModelName};
use serde::Deserialize;

use crate::app::{ApiJson, ApiPath, AppState};
use crate::error::ApiError;
use crate::routes::admin::models::UpstreamBody;
use crate::routes::admin::{actor, last_seq, parse_id, submit};
use crate::upstream::health::HealthState;

/// One deployment as sent by clients: a name and the upstream fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentBody {
    name: String,
    base_url: String,
    #[serde(default)]
    upstream_model: Option<String>,
    #[serde(default)]
    api_key_env: Option<String>,
}

/// Body of `PUT /admin/v1/models/{model}/deployments`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetDeployments {
    deployments: Vec<DeploymentBody>,
}

/// Body of `PUT /admin/v1/models/{model}/fallbacks`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetFallbacks {
    fallbacks: Vec<String>,
}

/// `PUT /admin/v1/models/{model}/deployments` (provider): replaces the model's deployments,
/// tried in order.
pub async fn set_deployments(
    State(app): State<AppState>,
    ApiPath(name): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SetDeployments>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let model = parse_id("model", ModelName::parse, &name)?;
    let deployments = body
        .deployments
        .into_iter()
        .map(|d| Deployment {
            name: d.name,
            upstream: UpstreamBody::new(d.base_url, d.upstream_model, d.api_key_env).into(),
        })
        .collect();
    let records = submit(&app, &headers, Command::SetDeployments { model, deployments }).await?;
    Ok(Json(serde_json::json!({ "event_seq": last_seq(&records) })))
}

/// `PUT /admin/v1/models/{model}/fallbacks` (provider): replaces the model's fallback chain.
pub async fn set_fallbacks(
    State(app): State<AppState>,
    ApiPath(name): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SetFallbacks>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let model = parse_id("model", ModelName::parse, &name)?;
    let fallbacks =
        body.fallbacks.iter().map(|f| parse_id("fallbacks", ModelName::parse, f)).collect::<Result<Vec<_>, _>>()?;
    let records = submit(&app, &headers, Command::SetFallbacks { model, fallbacks }).await?;
    Ok(Json(serde_json::json!({ "event_seq": last_seq(&records) })))
}

/// `GET /admin/v1/deployments` (provider or authority): every model's deployments, fallback
/// chain and this replica's view of each deployment's health.
pub async fn list(State(app): State<AppState>, headers: HeaderMap) -> Result<Json<serde_json::Value>, ApiError> {
    let caller = actor(&app, &headers)?;
    if matches!(caller, Actor::Customer { .. }) {
        return Err(ApiError::Forbidden(format!("{} may not see deployments", caller.describe())));
    }
    let snapshot = app.engine.snapshot();
    let now = app.engine.now();
    let models: Vec<serde_json::Value> = snapshot
        .state()
        .models()
        .map(|model| {
            let deployments: Vec<serde_json::Value> = model
                .deployments
                .iter()
                .map(|deployment| {
                    let view = app.health.view(model.name.as_str(), deployment);
                    let state = view.as_ref().map_or(HealthState::Healthy, |v| v.state);
                    serde_json::json!({
                        "name": deployment.name,
                        "base_url": deployment.upstream.base_url,
                        "upstream_model": deployment.upstream.upstream_model,
                        "api_key_env": deployment.upstream.api_key_env,
                        "state": state.name(),
                        "since": view.as_ref().map(|v| v.since.to_rfc3339()),
                        "until": view.as_ref().and_then(|v| v.until).filter(|until| *until > now).map(|t| t.to_rfc3339()),
                        "consecutive_failures": view.as_ref().map_or(0, |v| v.consecutive_failures),
                        "last_error": view.as_ref().and_then(|v| v.last_reason).map(|r| r.code()),
                        "last_status": view.as_ref().and_then(|v| v.last_status),
                        "failures": view.as_ref().map_or(0, |v| v.failures_total),
                        "cut_offs": view.as_ref().map_or(0, |v| v.cut_offs_total),
                        "ejections": view.as_ref().map_or(0, |v| v.ejections_total),
                    })
                })
                .collect();
            serde_json::json!({
                "model": model.name.as_str(),
                "deployments": deployments,
                "fallbacks": model.fallbacks.iter().map(ModelName::as_str).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "models": models })))
}
