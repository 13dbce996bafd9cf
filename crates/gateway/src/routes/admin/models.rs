//! Models: registration, upstreams, stages, published criteria, decision statistics. Reads are
//! public.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use portcullis_core::procedure::Clearance;
use portcullis_core::state::Model;
use portcullis_core::statistics::{ModelStatistics, model_statistics, statistics_by_model};
use portcullis_core::{Command, ModelName, StageTarget, Timestamp, Upstream};
use serde::Deserialize;

use crate::app::{ApiJson, AppState};
use crate::error::ApiError;
use crate::routes::admin::{last_seq, parse_id, submit};

/// Upstream as sent by clients.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamBody {
    base_url: String,
    #[serde(default)]
    upstream_model: Option<String>,
    #[serde(default)]
    api_key_env: Option<String>,
}

impl UpstreamBody {
    /// From its fields (a deployment carries them beside its name).
    pub fn new(base_url: String, upstream_model: Option<String>, api_key_env: Option<String>) -> Self {
        Self { base_url, upstream_model, api_key_env }
    }
}

impl From<UpstreamBody> for Upstream {
    fn from(body: UpstreamBody) -> Self {
        Upstream { base_url: body.base_url, upstream_model: body.upstream_model, api_key_env: body.api_key_env }
    }
}

/// Body of `POST /admin/v1/models`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterModel {
    name: String,
    #[serde(default)]
    description: String,
    upstream: UpstreamBody,
}

/// `POST /admin/v1/models` (provider): registers a model in `draft`.
pub async fn register(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RegisterModel>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let model = parse_id("name", ModelName::parse, &body.name)?;
    submit(
        &app,
        &headers,
        Command::RegisterModel { model: model.clone(), description: body.description, upstream: body.upstream.into() },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(model_by_name(&app, model.as_str())?)))
}

/// `GET /admin/v1/models` (public).
pub async fn list(State(app): State<AppState>) -> Json<serde_json::Value> {
    let snapshot = app.engine.snapshot();
    let now = app.engine.now();
    let statistics = statistics_by_model(snapshot.state(), now);
    let models: Vec<serde_json::Value> = snapshot
        .state()
        .models()
        .map(|m| model_json(m, &statistics.get(&m.name).cloned().unwrap_or_default(), now))
        .collect();
    Json(serde_json::json!({ "models": models }))
}

/// `GET /admin/v1/models/{model}` (public): stage, history, criteria version, directives.
pub async fn get_one(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    model_by_name(&app, &name).map(Json)
}

/// `PUT /admin/v1/models/{model}/upstream` (provider).
pub async fn set_upstream(
    State(app): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<UpstreamBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let model = parse_id("model", ModelName::parse, &name)?;
    let records = submit(&app, &headers, Command::SetUpstream { model, upstream: body.into() }).await?;
    Ok(Json(serde_json::json!({ "event_seq": last_seq(&records) })))
}

/// Body of `POST /admin/v1/models/{model}/stage`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeStage {
    to: String,
    reason: String,
}

/// `POST /admin/v1/models/{model}/stage` (provider; an authority may suspend and resume).
pub async fn change_stage(
    State(app): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ChangeStage>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let model = parse_id("model", ModelName::parse, &name)?;
    let target = StageTarget::parse(&body.to).ok_or_else(|| ApiError::BadRequest {
        message: format!(
            "`{}` is not a stage target; use review, preview, general, suspended, resume or withdrawn",
            body.to
        ),
        param: Some("to"),
        code: "invalid_value",
    })?;
    submit(&app, &headers, Command::ChangeStage { model, target, reason: body.reason }).await?;
    model_by_name(&app, &name).map(Json)
}

/// Body of `POST /admin/v1/models/{model}/criteria`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishCriteria {
    /// Human-readable text.
    text: String,
    /// Cedar `permit` policies.
    policies: String,
}

/// `POST /admin/v1/models/{model}/criteria` (provider or authority): invalid Cedar is a 400
/// with line and column for each problem.
pub async fn publish_criteria(
    State(app): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PublishCriteria>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let model = parse_id("model", ModelName::parse, &name)?;
    submit(&app, &headers, Command::PublishCriteria { model, text: body.text, policies: body.policies }).await?;
    Ok((StatusCode::CREATED, Json(criteria_json(&app, &name)?)))
}

/// `GET /admin/v1/models/{model}/criteria` (public): the current version, its text, policies,
/// clauses and hash, and the hashes of every earlier version.
pub async fn get_criteria(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    criteria_json(&app, &name).map(Json)
}

fn criteria_json(app: &AppState, name: &str) -> Result<serde_json::Value, ApiError> {
    let snapshot = app.engine.snapshot();
    let model = snapshot.state().model(name).ok_or_else(|| no_model(name))?;
    let Some(criteria) = &model.criteria else {
        return Err(ApiError::NotFound {
            message: format!("no criteria published for model `{name}`"),
            code: "not_found",
        });
    };
    let (policies, clauses) = match &criteria.compiled {
        Ok(compiled) => (
            serde_json::Value::from(compiled.text()),
            compiled
                .clauses()
                .map(|c| serde_json::json!({ "id": c.clause_id, "description": c.description }))
                .collect::<Vec<_>>(),
        ),
        Err(err) => (serde_json::Value::Null, vec![serde_json::json!({ "error": err.to_string() })]),
    };
    let history: Vec<serde_json::Value> = model
        .criteria_history
        .iter()
        .map(|v| {
            serde_json::json!({
                "version": v.version,
                "content_hash": v.content_hash,
                "published_at": v.published_at.to_rfc3339(),
                "log_index": v.published_seq.saturating_sub(1),
            })
        })
        .collect();
    Ok(serde_json::json!({
        "model": model.name.as_str(),
        "version": criteria.version,
        "content_hash": criteria.content_hash,
        "published_at": criteria.published_at.to_rfc3339(),
        "log_index": criteria.published_seq.saturating_sub(1),
        "text": criteria.text,
        "policies": policies,
        "clauses": clauses,
        "schema": snapshot.state().schema().text(),
        "history": history,
    }))
}

fn model_by_name(app: &AppState, name: &str) -> Result<serde_json::Value, ApiError> {
    let snapshot = app.engine.snapshot();
    let model = snapshot.state().model(name).ok_or_else(|| no_model(name))?;
    let now = app.engine.now();
    Ok(model_json(model, &model_statistics(snapshot.state(), &model.name, now), now))
}

fn no_model(name: &str) -> ApiError {
    ApiError::NotFound { message: format!("no model `{name}`"), code: "model_not_found" }
}

/// A model's public record. The upstreams are left out (where traffic goes is the operator's
/// business, not the register's): deployments appear by name only, beside the fallback chain.
fn model_json(model: &Model, statistics: &ModelStatistics, now: Timestamp) -> serde_json::Value {
    let history: Vec<serde_json::Value> = model
        .stage_history
        .iter()
        .map(|c| {
            serde_json::json!({
                "at": c.at.to_rfc3339(),
                "from": c.from.name(),
                "to": c.to.name(),
                "reason": c.reason,
                "by": c.actor.describe(),
                "log_index": c.seq.saturating_sub(1),
                "clearance": c.clearance.as_ref().map(|cl| match cl {
                    Clearance::Cleared { authorities } => serde_json::json!({
                        "kind": "cleared",
                        "authorities": authorities.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
                    }),
                    Clearance::DeemedCleared { clock_ended_at } => serde_json::json!({
                        "kind": "deemed_cleared",
                        "clock_ended_at": clock_ended_at.to_rfc3339(),
                    }),
                }),
            })
        })
        .collect();
    let directives: Vec<serde_json::Value> = model
        .directives
        .iter()
        .map(|d| serde_json::json!({ "id": d.id.as_str(), "issuer": d.issuer.as_str(), "in_force": d.in_force(now) }))
        .collect();
    serde_json::json!({
        "name": model.name.as_str(),
        "description": model.description,
        "stage": model.stage.name(),
        "registered_at": model.registered_at.to_rfc3339(),
        "criteria": model.criteria.as_ref().map(|c| serde_json::json!({ "version": c.version, "content_hash": c.content_hash })),
        "stage_history": history,
        "directives": directives,
        "deployments": model.deployments.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
        "fallbacks": model.fallbacks.iter().map(ModelName::as_str).collect::<Vec<_>>(),
        "procedure": crate::routes::admin::review::procedure_json(&model.procedure),
        "review": model.review.as_ref().map(|clock| crate::routes::admin::review::review_json(model, clock, now)),
        "statistics": statistics_json(statistics),
    })
}

/// Aggregate statistics of decisions and appeals: counts and a duration, never who applied.
fn statistics_json(statistics: &ModelStatistics) -> serde_json::Value {
    let a = &statistics.applications;
    let p = &statistics.appeals;
    serde_json::json!({
        "applications": {
            "approved": a.approved,
            "approved_on_appeal": a.approved_on_appeal,
            "denied": a.denied,
            "pending": a.pending,
            "overdue": a.overdue,
            "withdrawn": a.withdrawn,
            "median_decision_seconds": a.median_decision_millis.map(|ms| ms / 1000),
        },
        "appeals": {
            "pending": p.pending,
            "overdue": p.overdue,
            "upheld": p.upheld,
            "reversed": p.reversed,
            "modified": p.modified,
            "withdrawn": p.withdrawn,
        },
    })
}
