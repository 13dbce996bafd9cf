//! `POST /admin/v1/directives/impact`: what a directive would cut, asked before issuing it.
//!
//! The candidate is compiled exactly as `POST /admin/v1/directives` would compile it, then
//! evaluated by the core (`portcullis_core::impact`) against the current snapshot and this
//! replica's recent-request counters (`usage.rs`). Nothing is stored: no event, no log entry.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use portcullis_core::impact::{Candidate, Impact, impact};
use portcullis_core::policy::{CompiledPolicies, PolicyKind};
use portcullis_core::{Actor, DirectiveScope, ModelName, Timestamp};
use serde::Deserialize;

use crate::app::{ApiJson, AppState};
use crate::error::ApiError;
use crate::routes::admin::{actor, directives, parse_id};
use crate::usage::Coverage;

/// Body of `POST /admin/v1/directives/impact`: the scope and policies of a directive to be.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImpactRequest {
    /// Model names, or `["*"]`; absent means every model.
    #[serde(default)]
    models: Option<Vec<String>>,
    /// Cedar `forbid` policies.
    policies: String,
}

/// `POST /admin/v1/directives/impact` (provider, authority).
pub async fn post(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ImpactRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let actor = actor(&app, &headers)?;
    // Customers may not probe who else would be cut; the answer names other customers.
    if let Actor::Customer { .. } = actor {
        return Err(ApiError::Forbidden(format!("{} may not ask for a directive's impact", actor.describe())));
    }
    let snapshot = app.engine.snapshot();
    let scope = match body.models {
        None => DirectiveScope::AllModels,
        Some(models) if models.iter().any(|m| m == "*") => DirectiveScope::AllModels,
        Some(models) if models.is_empty() => {
            return Err(ApiError::BadRequest {
                message: "scope names no models".to_owned(),
                param: Some("models"),
                code: "invalid_value",
            });
        }
        Some(models) => {
            let models =
                models.iter().map(|m| parse_id("models", ModelName::parse, m)).collect::<Result<Vec<_>, _>>()?;
            if let Some(unknown) = models.iter().find(|m| snapshot.state().model(m.as_str()).is_none()) {
                return Err(ApiError::NotFound { message: format!("no model `{unknown}`"), code: "not_found" });
            }
            DirectiveScope::Models { models }
        }
    };
    let now = app.engine.now();
    let (found, coverage) = compute(&app, snapshot, &scope, &body.policies, now).await?;
    Ok(Json(impact_json(&scope, &found, coverage, now)))
}

/// What a candidate directive would cut at `now`: compiled exactly as an issued one, evaluated by
/// the core against the snapshot and this replica's recent-request counters, off the async
/// workers (one pass over every customer). The admin route and the authority console share it.
pub(crate) async fn compute(
    app: &AppState,
    snapshot: std::sync::Arc<portcullis_core::Snapshot>,
    scope: &DirectiveScope,
    policies: &str,
    now: Timestamp,
) -> Result<(Impact, Coverage), ApiError> {
    let policies = CompiledPolicies::compile(snapshot.state().schema(), PolicyKind::Directive, policies)
        .map_err(ApiError::InvalidPolicy)?;
    let usage = app.usage.clone();
    let scope = scope.clone();
    tokio::task::spawn_blocking(move || {
        let (recent, coverage) = usage.recent(&snapshot, now);
        let found = impact(&snapshot, &Candidate { scope: &scope, policies: &policies }, &recent, now);
        (found, coverage)
    })
    .await
    .map_err(|err| ApiError::Internal(err.into()))
}

/// `GET /admin/v1/directives/impact` (public): the directive whose id is `impact`, which the
/// route above would otherwise hide from `GET /admin/v1/directives/{directive}`.
pub async fn get_directive_named_impact(state: State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    directives::get_one(state, Path("impact".to_owned())).await
}

fn impact_json(scope: &DirectiveScope, found: &Impact, coverage: Coverage, now: Timestamp) -> serde_json::Value {
    let models = match scope {
        DirectiveScope::AllModels => serde_json::json!(["*"]),
        DirectiveScope::Models { models } => {
            serde_json::json!(models.iter().map(ModelName::as_str).collect::<Vec<_>>())
        }
    };
    let by_model: Vec<serde_json::Value> = found
        .by_model
        .iter()
        .map(|m| {
            serde_json::json!({
                "model": m.model.as_str(),
                "customers_affected": m.customers_affected,
                "grants_affected": m.grants_affected,
                "requests": {
                    "seen": m.requests_seen,
                    "would_deny": m.requests_would_deny,
                    "not_evaluated": m.requests_not_evaluated,
                },
            })
        })
        .collect();
    serde_json::json!({
        "models": models,
        "evaluated_at": now.to_rfc3339(),
        "customers_affected": found.customers_affected,
        "grants_affected": found.grants_affected,
        "requests": {
            "window_seconds": coverage.window_secs,
            "since": coverage.since.to_rfc3339(),
            "seen": found.requests_seen,
            "would_deny": found.requests_would_deny,
            "not_evaluated": found.requests_not_evaluated,
        },
        "by_model": by_model,
        "examples": found.examples.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
    })
}
