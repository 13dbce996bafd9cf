//! A model's procedure (provider) and its pre-release review (authorities clear or object).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use portcullis_core::procedure::{Procedure, Quorum, ReviewClock, ReviewVerdict};
use portcullis_core::state::Model;
use portcullis_core::{AuthorityId, Command, ModelName, Timestamp};
use serde::Deserialize;

use crate::app::{ApiJson, AppState};
use crate::error::ApiError;
use crate::routes::admin::{last_seq, parse_choice, parse_id, submit};

/// Body of `PUT /admin/v1/models/{model}/procedure`; omitted periods keep their defaults.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcedureBody {
    /// Authority ids whose officials sign off on applications.
    signoff_authorities: Vec<String>,
    /// How many of them must approve; defaults to all.
    #[serde(default)]
    required: Option<u32>,
    #[serde(default)]
    review_days: Option<u32>,
    #[serde(default)]
    decision_days: Option<u32>,
    #[serde(default)]
    appeal_window_days: Option<u32>,
    #[serde(default)]
    appeal_decision_days: Option<u32>,
    #[serde(default)]
    revocation_notice_days: Option<u32>,
}

/// `PUT /admin/v1/models/{model}/procedure` (provider).
pub async fn set_procedure(
    State(app): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ProcedureBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let model = parse_id("model", ModelName::parse, &name)?;
    let authorities = body
        .signoff_authorities
        .iter()
        .map(|a| parse_id("signoff_authorities", AuthorityId::parse, a))
        .collect::<Result<Vec<_>, _>>()?;
    let defaults = Procedure::default();
    let required = body.required.unwrap_or(u32::try_from(authorities.len()).unwrap_or(u32::MAX));
    let procedure = Procedure {
        signoff: Quorum { authorities, required },
        review_days: body.review_days.unwrap_or(defaults.review_days),
        decision_days: body.decision_days.unwrap_or(defaults.decision_days),
        appeal_window_days: body.appeal_window_days.unwrap_or(defaults.appeal_window_days),
        appeal_decision_days: body.appeal_decision_days.unwrap_or(defaults.appeal_decision_days),
        revocation_notice_days: body.revocation_notice_days.unwrap_or(defaults.revocation_notice_days),
    };
    let records = submit(&app, &headers, Command::SetProcedure { model: model.clone(), procedure }).await?;
    let snapshot = app.engine.snapshot();
    let json = snapshot.state().model(model.as_str()).map(|m| procedure_json(&m.procedure));
    Ok(Json(serde_json::json!({ "model": model.as_str(), "procedure": json, "event_seq": last_seq(&records) })))
}

/// Body of `POST /admin/v1/models/{model}/review`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PositionBody {
    /// `clear` or `object`.
    verdict: String,
    reasons: String,
}

/// `POST /admin/v1/models/{model}/review` (authority): clear the model, or object to it.
pub async fn record_position(
    State(app): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PositionBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let model = parse_id("model", ModelName::parse, &name)?;
    let verdict =
        parse_choice("verdict", &body.verdict, &[("clear", ReviewVerdict::Clear), ("object", ReviewVerdict::Object)])?;
    let command = Command::RecordReviewPosition { model: model.clone(), verdict, reasons: body.reasons };
    let records = submit(&app, &headers, command).await?;
    let snapshot = app.engine.snapshot();
    let now = app.engine.now();
    let review =
        snapshot.state().model(model.as_str()).and_then(|m| m.review.as_ref().map(|clock| review_json(m, clock, now)));
    Ok(Json(serde_json::json!({ "model": model.as_str(), "review": review, "event_seq": last_seq(&records) })))
}

/// The JSON form of a procedure.
pub fn procedure_json(p: &Procedure) -> serde_json::Value {
    serde_json::json!({
        "signoff_authorities": p.signoff.authorities.iter().map(AuthorityId::as_str).collect::<Vec<_>>(),
        "required": p.signoff.required,
        "review_days": p.review_days,
        "decision_days": p.decision_days,
        "appeal_window_days": p.appeal_window_days,
        "appeal_decision_days": p.appeal_decision_days,
        "revocation_notice_days": p.revocation_notice_days,
    })
}

/// The JSON form of a model's review clock, with whether and how it may leave review now.
pub fn review_json(model: &Model, clock: &ReviewClock, now: Timestamp) -> serde_json::Value {
    let positions: Vec<serde_json::Value> = clock
        .positions
        .iter()
        .map(|p| {
            serde_json::json!({
                "authority": p.authority.as_str(),
                "official": p.official.as_str(),
                "verdict": match p.verdict { ReviewVerdict::Clear => "clear", ReviewVerdict::Object => "object" },
                "reasons": p.reasons,
                "at": p.at.to_rfc3339(),
            })
        })
        .collect();
    let may_proceed = match clock.clearance(&model.procedure.signoff, now) {
        Ok(portcullis_core::procedure::Clearance::Cleared { .. }) => serde_json::json!({ "now": "cleared" }),
        Ok(portcullis_core::procedure::Clearance::DeemedCleared { .. }) => {
            serde_json::json!({ "now": "deemed_cleared" })
        }
        Err(why) => serde_json::json!({ "now": "not_yet", "why": why }),
    };
    serde_json::json!({
        "model": model.name.as_str(),
        "started_at": clock.started_at.to_rfc3339(),
        "ends_at": clock.ends_at.to_rfc3339(),
        "clock_running": now < clock.ends_at,
        "positions": positions,
        "may_proceed": may_proceed,
    })
}
