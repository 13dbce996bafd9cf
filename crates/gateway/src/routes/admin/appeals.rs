//! Appeals: the affected customer files; an official of the deciding authority who took no part
//! in the original action decides.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use portcullis_core::appeal::{Appeal, AppealOutcome, AppealSubject};
use portcullis_core::{Actor, AppealId, ApplicationId, Command, DirectiveId, ModelName, Timestamp};
use serde::Deserialize;

use crate::app::{ApiJson, AppState};
use crate::error::ApiError;
use crate::routes::admin::evidence::{EvidenceList, cited, evidence_json};
use crate::routes::admin::{
    actor, last_seq, may_read_record_of, new_id, parse_choice, parse_id, parse_time, submit, with_event_seq,
};

/// What is appealed, as sent by clients.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "snake_case")]
pub enum SubjectBody {
    /// A denied application.
    ApplicationDenial {
        /// Its id.
        application: String,
    },
    /// The revocation of the caller's grant for a model.
    GrantRevocation {
        /// The model.
        model: String,
    },
    /// A directive as it applies to the caller.
    Directive {
        /// Its id.
        directive: String,
    },
}

/// Body of `POST /admin/v1/appeals`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileBody {
    subject: SubjectBody,
    grounds: String,
}

/// `POST /admin/v1/appeals` (the affected customer).
pub async fn file(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<FileBody>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let caller = actor(&app, &headers)?;
    let Actor::Customer { customer } = &caller else {
        return Err(ApiError::Forbidden(format!(
            "{} may not file appeals; the affected customer does",
            caller.describe()
        )));
    };
    let subject = match body.subject {
        SubjectBody::ApplicationDenial { application } => AppealSubject::ApplicationDenial {
            application: parse_id("subject.application", ApplicationId::parse, &application)?,
        },
        SubjectBody::GrantRevocation { model } => {
            AppealSubject::GrantRevocation { model: parse_id("subject.model", ModelName::parse, &model)? }
        }
        SubjectBody::Directive { directive } => {
            AppealSubject::Directive { directive: parse_id("subject.directive", DirectiveId::parse, &directive)? }
        }
    };
    let appeal = parse_id("id", AppealId::parse, &new_id("apl_"))?;
    let command =
        Command::FileAppeal { appeal: appeal.clone(), customer: customer.clone(), subject, grounds: body.grounds };
    let records = submit(&app, &headers, command).await?;
    Ok((StatusCode::CREATED, Json(answer(&app, &appeal, &caller, last_seq(&records))?)))
}

/// `GET /admin/v1/appeals`: a customer sees its own; authorities and the provider see all.
/// Overdue first, then pending by due date, then decided.
pub async fn list(State(app): State<AppState>, headers: HeaderMap) -> Result<Json<serde_json::Value>, ApiError> {
    let caller = actor(&app, &headers)?;
    let snapshot = app.engine.snapshot();
    let now = app.engine.now();
    let mut selected: Vec<&Appeal> =
        snapshot.state().appeals().map(AsRef::as_ref).filter(|a| visible(&caller, a)).collect();
    selected.sort_by_key(|a| (!a.overdue(now), a.decision.is_some(), a.due_at));
    let appeals: Vec<serde_json::Value> = selected.into_iter().map(|a| appeal_json(a, now)).collect();
    Ok(Json(serde_json::json!({ "appeals": appeals })))
}

/// `GET /admin/v1/appeals/{appeal}`.
pub async fn get_one(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let caller = actor(&app, &headers)?;
    let appeal = parse_id("appeal", AppealId::parse, &id)?;
    answer(&app, &appeal, &caller, 0).map(Json)
}

/// Body of `POST /admin/v1/appeals/{appeal}/decision`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecideBody {
    /// `upheld`, `reversed` or `modified`.
    outcome: String,
    reasons: String,
    #[serde(default)]
    evidence: Option<EvidenceList>,
    /// RFC 3339; for `modified`, until when access is restored.
    #[serde(default)]
    relief_until: Option<String>,
}

/// `POST /admin/v1/appeals/{appeal}/decision` (official of the deciding authority).
pub async fn decide(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<DecideBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let appeal = parse_id("appeal", AppealId::parse, &id)?;
    let outcome = parse_choice(
        "outcome",
        &body.outcome,
        &[
            ("upheld", AppealOutcome::Upheld),
            ("reversed", AppealOutcome::Reversed),
            ("modified", AppealOutcome::Modified),
        ],
    )?;
    let evidence = cited(&app, body.evidence).await?;
    let command = Command::DecideAppeal {
        appeal: appeal.clone(),
        outcome,
        reasons: body.reasons,
        evidence,
        relief_until: parse_time("relief_until", body.relief_until.as_deref())?,
    };
    let records = submit(&app, &headers, command).await?;
    let caller = actor(&app, &headers)?;
    answer(&app, &appeal, &caller, last_seq(&records)).map(Json)
}

fn visible(caller: &Actor, appeal: &Appeal) -> bool {
    may_read_record_of(caller, &appeal.customer)
}

fn answer(app: &AppState, id: &AppealId, caller: &Actor, event_seq: u64) -> Result<serde_json::Value, ApiError> {
    let snapshot = app.engine.snapshot();
    let not_found = || ApiError::NotFound { message: format!("no appeal `{id}`"), code: "not_found" };
    let appeal = snapshot.state().appeal(id.as_str()).ok_or_else(not_found)?;
    if !visible(caller, appeal) {
        return Err(not_found());
    }
    Ok(with_event_seq(appeal_json(appeal, app.engine.now()), event_seq))
}

/// The JSON form of an appeal.
pub fn appeal_json(a: &Appeal, now: Timestamp) -> serde_json::Value {
    let subject = match &a.subject {
        AppealSubject::ApplicationDenial { application } => {
            serde_json::json!({ "kind": "application_denial", "application": application.as_str() })
        }
        AppealSubject::GrantRevocation { model } => {
            serde_json::json!({ "kind": "grant_revocation", "model": model.as_str() })
        }
        AppealSubject::Directive { directive } => {
            serde_json::json!({ "kind": "directive", "directive": directive.as_str() })
        }
    };
    let decision = a.decision.as_ref().map(|d| {
        serde_json::json!({
            "outcome": a.status.name(),
            "authority": d.by.authority.as_str(),
            "official": d.by.official.as_str(),
            "reasons": d.reasons,
            "evidence": d.evidence.iter().map(evidence_json).collect::<Vec<_>>(),
            "relief_until": d.relief_until.map(Timestamp::to_rfc3339),
            "at": d.at.to_rfc3339(),
        })
    });
    serde_json::json!({
        "id": a.id.as_str(),
        "customer": a.customer.as_str(),
        "subject": subject,
        "subject_text": a.subject.describe(),
        "authority": a.authority.as_str(),
        "original_deciders": a
            .original_deciders
            .iter()
            .map(|d| format!("{}/{}", d.authority, d.official))
            .collect::<Vec<_>>(),
        "grounds": a.grounds,
        "filed_at": a.filed_at.to_rfc3339(),
        "due_at": a.due_at.to_rfc3339(),
        "overdue": a.overdue(now),
        "original_in_force": a.original_in_force,
        "status": a.status.name(),
        "decision": decision,
    })
}
