//! Directives: issued and lifted by authorities; public to read.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use portcullis_core::state::Directive;
use portcullis_core::{Command, DirectiveId, DirectiveScope, ModelName, Timestamp};
use serde::Deserialize;

use crate::app::{ApiJson, AppState};
use crate::error::ApiError;
use crate::routes::admin::evidence::{EvidenceList, check_uploaded, evidence_json};
use crate::routes::admin::{last_seq, parse_id, parse_time, submit};

/// Body of `POST /admin/v1/directives`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueDirective {
    id: String,
    legal_basis: String,
    description: String,
    /// Model names, or `["*"]` for every model.
    models: Vec<String>,
    /// Cedar `forbid` policies.
    policies: String,
    /// RFC 3339; absent means now (an emergency, which needs a justification).
    #[serde(default)]
    effective_at: Option<String>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    emergency_justification: Option<String>,
    /// One evidence citation or a list.
    evidence: EvidenceList,
}

/// `POST /admin/v1/directives` (authority).
pub async fn issue(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<IssueDirective>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let directive = parse_id("id", DirectiveId::parse, &body.id)?;
    let scope = if body.models.iter().any(|m| m == "*") {
        DirectiveScope::AllModels
    } else {
        let models =
            body.models.iter().map(|m| parse_id("models", ModelName::parse, m)).collect::<Result<Vec<_>, _>>()?;
        DirectiveScope::Models { models }
    };
    let evidence = body.evidence.into_evidence()?;
    check_uploaded(&app, &evidence).await?;
    let command = Command::IssueDirective {
        directive: directive.clone(),
        legal_basis: body.legal_basis,
        description: body.description,
        scope,
        policies: body.policies,
        effective_at: parse_time("effective_at", body.effective_at.as_deref())?,
        expires_at: parse_time("expires_at", body.expires_at.as_deref())?,
        emergency_justification: body.emergency_justification,
        evidence,
    };
    submit(&app, &headers, command).await?;
    Ok((StatusCode::CREATED, Json(directive_by_id(&app, directive.as_str())?)))
}

/// `GET /admin/v1/directives` (public): in force, scheduled, lifted and expired.
pub async fn list(State(app): State<AppState>) -> Json<serde_json::Value> {
    let snapshot = app.engine.snapshot();
    let now = app.engine.now();
    let directives: Vec<serde_json::Value> = snapshot.state().directives().map(|d| directive_json(d, now)).collect();
    Json(serde_json::json!({ "directives": directives }))
}

/// `GET /admin/v1/directives/{directive}` (public).
pub async fn get_one(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    directive_by_id(&app, &id).map(Json)
}

/// Body of `POST /admin/v1/directives/{directive}/lift`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiftDirective {
    reason: String,
}

/// `POST /admin/v1/directives/{directive}/lift` (the issuing authority).
pub async fn lift(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LiftDirective>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let directive = parse_id("directive", DirectiveId::parse, &id)?;
    let records = submit(&app, &headers, Command::LiftDirective { directive, reason: body.reason }).await?;
    let mut json = directive_by_id(&app, &id)?;
    if let Some(map) = json.as_object_mut() {
        map.insert("event_seq".to_owned(), last_seq(&records).into());
    }
    Ok(Json(json))
}

fn directive_by_id(app: &AppState, id: &str) -> Result<serde_json::Value, ApiError> {
    let snapshot = app.engine.snapshot();
    let directive = snapshot
        .state()
        .directive(id)
        .ok_or_else(|| ApiError::NotFound { message: format!("no directive `{id}`"), code: "not_found" })?;
    Ok(directive_json(directive, app.engine.now()))
}

fn directive_json(d: &Directive, now: Timestamp) -> serde_json::Value {
    let scope = match &d.scope {
        DirectiveScope::AllModels => serde_json::json!(["*"]),
        DirectiveScope::Models { models } => {
            serde_json::json!(models.iter().map(ModelName::as_str).collect::<Vec<_>>())
        }
    };
    let evidence: Vec<serde_json::Value> = d.evidence.iter().map(evidence_json).collect();
    let exemptions: Vec<serde_json::Value> = d
        .exemptions
        .iter()
        .map(|e| {
            serde_json::json!({
                "customer": e.customer.as_str(),
                "until": e.until.map(Timestamp::to_rfc3339),
                "appeal": e.appeal.as_str(),
            })
        })
        .collect();
    let notice_seconds = d.notice_millis() / 1000;
    serde_json::json!({
        "id": d.id.as_str(),
        "issuer": d.issuer.as_str(),
        "issued_by": d.issued_by.describe(),
        "legal_basis": d.legal_basis,
        "description": d.description,
        "models": scope,
        "policies": d.policies,
        "content_hash": d.content_hash,
        "issued_at": d.issued_at.to_rfc3339(),
        "effective_at": d.effective_at.to_rfc3339(),
        "expires_at": d.expires_at.map(Timestamp::to_rfc3339),
        "notice_seconds": notice_seconds,
        "emergency": d.is_emergency(),
        "emergency_justification": d.emergency_justification,
        "evidence": evidence,
        "exemptions": exemptions,
        "status": d.status(now).name(),
        "log_index": d.issued_seq.saturating_sub(1),
        "lifted": d.lifted.as_ref().map(|l| serde_json::json!({ "at": l.at.to_rfc3339(), "reason": l.reason })),
    })
}
