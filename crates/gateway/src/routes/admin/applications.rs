//! Applications: customers apply for a model; its sign-off authorities review and decide.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use portcullis_core::application::{Application, Verdict};
use portcullis_core::{Actor, ApplicationId, Command, CustomerId, ModelName, Timestamp};
use serde::Deserialize;

use crate::app::{ApiJson, ApiQuery, AppState};
use crate::error::ApiError;
use crate::routes::admin::evidence::{EvidenceList, cited, evidence_json};
use crate::routes::admin::{
    actor, last_seq, may_read_record_of, new_id, parse_choice, parse_id, parse_time, submit, with_event_seq,
};

/// Body of `POST /admin/v1/applications`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitBody {
    model: String,
    purpose: String,
    /// Defaults to the calling customer.
    #[serde(default)]
    customer: Option<String>,
}

/// `POST /admin/v1/applications` (customer).
pub async fn submit_application(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SubmitBody>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let caller = actor(&app, &headers)?;
    let customer = match (&body.customer, &caller) {
        (Some(id), _) => parse_id("customer", CustomerId::parse, id)?,
        (None, Actor::Customer { customer }) => customer.clone(),
        (None, _) => {
            return Err(ApiError::Forbidden(format!("{} may not apply for access", caller.describe())));
        }
    };
    let application = parse_id("id", ApplicationId::parse, &new_id("app_"))?;
    let command = Command::SubmitApplication {
        application: application.clone(),
        customer,
        model: parse_id("model", ModelName::parse, &body.model)?,
        purpose: body.purpose,
    };
    let records = submit(&app, &headers, command).await?;
    Ok((StatusCode::CREATED, Json(answer(&app, &application, &caller, last_seq(&records))?)))
}

/// Query of `GET /admin/v1/applications`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this status.
    #[serde(default)]
    status: Option<String>,
    /// Only this model.
    #[serde(default)]
    model: Option<String>,
    /// Only overdue ones.
    #[serde(default)]
    overdue: Option<bool>,
}

/// `GET /admin/v1/applications`: a customer sees its own; authorities and the provider see all.
/// Overdue first, then by due date.
pub async fn list(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let caller = actor(&app, &headers)?;
    let snapshot = app.engine.snapshot();
    let now = app.engine.now();
    let mut selected: Vec<&Application> = snapshot
        .state()
        .applications()
        .map(AsRef::as_ref)
        .filter(|a| visible(&caller, a))
        .filter(|a| query.status.as_deref().is_none_or(|s| a.status.name() == s))
        .filter(|a| query.model.as_deref().is_none_or(|m| a.model.as_str() == m))
        .filter(|a| query.overdue.is_none_or(|wanted| a.overdue(now) == wanted))
        .collect();
    selected.sort_by_key(|a| (!a.overdue(now), !a.status.is_open(), a.due_at));
    let applications: Vec<serde_json::Value> = selected.into_iter().map(|a| application_json(a, now)).collect();
    Ok(Json(serde_json::json!({ "applications": applications })))
}

/// `GET /admin/v1/applications/{application}`.
pub async fn get_one(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let caller = actor(&app, &headers)?;
    let application = parse_id("application", ApplicationId::parse, &id)?;
    answer(&app, &application, &caller, 0).map(Json)
}

/// `POST /admin/v1/applications/{application}/review` (official of a sign-off authority).
pub async fn start_review(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let application = parse_id("application", ApplicationId::parse, &id)?;
    run(&app, &headers, &application, Command::StartApplicationReview { application: application.clone() }).await
}

/// Body of `POST /admin/v1/applications/{application}/info-request`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfoRequestBody {
    question: String,
}

/// `POST /admin/v1/applications/{application}/info-request` (official): pauses the clock.
pub async fn request_info(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<InfoRequestBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let application = parse_id("application", ApplicationId::parse, &id)?;
    let command = Command::RequestApplicationInfo { application: application.clone(), question: body.question };
    run(&app, &headers, &application, command).await
}

/// Body of `POST /admin/v1/applications/{application}/amend`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmendBody {
    purpose: String,
}

/// `POST /admin/v1/applications/{application}/amend` (applicant): resets sign-offs.
pub async fn amend(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AmendBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let application = parse_id("application", ApplicationId::parse, &id)?;
    let command = Command::AmendApplication { application: application.clone(), purpose: body.purpose };
    run(&app, &headers, &application, command).await
}

/// Body of `POST /admin/v1/applications/{application}/withdraw`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawBody {
    reason: String,
}

/// `POST /admin/v1/applications/{application}/withdraw` (applicant).
pub async fn withdraw(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<WithdrawBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let application = parse_id("application", ApplicationId::parse, &id)?;
    let command = Command::WithdrawApplication { application: application.clone(), reason: body.reason };
    run(&app, &headers, &application, command).await
}

/// Body of `POST /admin/v1/applications/{application}/signoffs`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignOffBody {
    /// `approve` or `deny`.
    verdict: String,
    reasons: String,
    /// Criteria clause ids relied on.
    clauses: Vec<String>,
    #[serde(default)]
    evidence: Option<EvidenceList>,
    /// RFC 3339; for an approval, the latest the grant should last.
    #[serde(default)]
    grant_expires_at: Option<String>,
}

/// `POST /admin/v1/applications/{application}/signoffs` (official of a sign-off authority).
pub async fn sign_off(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SignOffBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let application = parse_id("application", ApplicationId::parse, &id)?;
    let verdict = parse_choice("verdict", &body.verdict, &[("approve", Verdict::Approve), ("deny", Verdict::Deny)])?;
    let evidence = cited(&app, body.evidence).await?;
    let command = Command::SignOffApplication {
        application: application.clone(),
        verdict,
        reasons: body.reasons,
        clauses: body.clauses,
        evidence,
        grant_expires_at: parse_time("grant_expires_at", body.grant_expires_at.as_deref())?,
    };
    run(&app, &headers, &application, command).await
}

async fn run(
    app: &AppState,
    headers: &HeaderMap,
    application: &ApplicationId,
    command: Command,
) -> Result<Json<serde_json::Value>, ApiError> {
    let records = submit(app, headers, command).await?;
    let caller = actor(app, headers)?;
    answer(app, application, &caller, last_seq(&records)).map(Json)
}

fn visible(caller: &Actor, application: &Application) -> bool {
    may_read_record_of(caller, &application.customer)
}

fn answer(app: &AppState, id: &ApplicationId, caller: &Actor, event_seq: u64) -> Result<serde_json::Value, ApiError> {
    let snapshot = app.engine.snapshot();
    let not_found = || ApiError::NotFound { message: format!("no application `{id}`"), code: "not_found" };
    let application = snapshot.state().application(id.as_str()).ok_or_else(not_found)?;
    // A customer learns nothing about other customers' applications, not even that they exist.
    if !visible(caller, application) {
        return Err(not_found());
    }
    Ok(with_event_seq(application_json(application, app.engine.now()), event_seq))
}

/// The JSON form of an application.
pub fn application_json(a: &Application, now: Timestamp) -> serde_json::Value {
    let signoffs: Vec<serde_json::Value> = a
        .signoffs
        .iter()
        .map(|s| {
            serde_json::json!({
                "authority": s.authority.as_str(),
                "official": s.official.as_str(),
                "verdict": verdict_name(s.verdict),
                "reasons": s.reasons,
                "clauses": s.clauses,
                "evidence": s.evidence.iter().map(evidence_json).collect::<Vec<_>>(),
                "grant_expires_at": s.grant_expires_at.map(Timestamp::to_rfc3339),
                "at": s.at.to_rfc3339(),
            })
        })
        .collect();
    let decision = a.decision.as_ref().map(|d| {
        serde_json::json!({
            "outcome": verdict_name(d.outcome),
            "at": d.at.to_rfc3339(),
            "criteria_version": d.criteria_version,
            "criteria_hash": d.criteria_hash,
            "clauses": d.clauses,
            "grant_expires_at": d.grant_expires_at.map(Timestamp::to_rfc3339),
            "appeal_by": d.appeal_by.map(Timestamp::to_rfc3339),
            "on_appeal": d.on_appeal,
        })
    });
    let history: Vec<serde_json::Value> = a
        .history
        .iter()
        .map(|h| serde_json::json!({ "at": h.at.to_rfc3339(), "what": h.what, "by": h.by, "note": h.note }))
        .collect();
    serde_json::json!({
        "id": a.id.as_str(),
        "customer": a.customer.as_str(),
        "model": a.model.as_str(),
        "purpose": a.purpose,
        "status": a.status.name(),
        "submitted_at": a.submitted_at.to_rfc3339(),
        "due_at": a.due_at.to_rfc3339(),
        "overdue": a.overdue(now),
        "clock_paused": a.paused_at.is_some(),
        "round": a.round,
        "quorum": {
            "authorities": a.quorum.authorities.iter().map(|x| x.as_str()).collect::<Vec<_>>(),
            "required": a.quorum.required,
        },
        "criteria_version_at_submission": a.criteria_version_at_submission,
        "signoffs": signoffs,
        "decision": decision,
        "history": history,
    })
}

fn verdict_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Approve => "approve",
        Verdict::Deny => "deny",
    }
}
