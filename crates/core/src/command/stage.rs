//! Stage changes (with the review clock and public notice of suspensions), procedures, and
//! authorities' review positions.

use crate::command::{CommandError, check_text, need_model};
use crate::event::{Actor, Event};
use crate::ids::{ModelName, Timestamp};
use crate::notice::NoticeRegarding;
use crate::procedure::{Procedure, ReviewVerdict, after_days};
use crate::stage::{Stage, StageTarget};
use crate::state::State;

/// Longest period a procedure may set, in days (ten years): longer is a typo, not a policy.
const MAX_PERIOD_DAYS: u32 = 3650;

pub(super) fn change_stage(
    state: &State,
    actor: &Actor,
    model: &ModelName,
    target: StageTarget,
    reason: String,
    now: Timestamp,
) -> Result<Vec<Event>, CommandError> {
    let existing = need_model(state, model)?;
    let from = existing.stage;
    check_text("reason", &reason)?;
    let to = from.transition(target)?;
    let review_ends_at =
        (from == Stage::Draft && to == Stage::Review).then(|| after_days(now, existing.procedure.review_days));
    let clearance = match (from, to) {
        (Stage::Review, Stage::Preview | Stage::General) => {
            let clock = existing.review.as_ref().ok_or_else(|| {
                CommandError::Invalid(format!("model `{model}` has no review clock; it never entered review"))
            })?;
            Some(clock.clearance(&existing.procedure.signoff, now).map_err(CommandError::Invalid)?)
        }
        _ => None,
    };
    let mut events =
        vec![Event::StageChanged { model: model.clone(), from, to, reason: reason.clone(), review_ends_at, clearance }];
    // Taking a model away from everyone is an adverse action: it is announced publicly.
    if matches!(to, Stage::Suspended { .. } | Stage::Withdrawn) {
        events.push(Event::NoticeSent {
            recipients: Vec::new(),
            public: true,
            regarding: NoticeRegarding::Stage { model: model.clone() },
            text: format!("model `{model}` is {} by {}: {reason}", to.name(), actor.describe()),
            effective_at: now,
            appeal_by: None,
        });
    }
    Ok(events)
}

pub(super) fn set_procedure(state: &State, model: ModelName, procedure: Procedure) -> Result<Event, CommandError> {
    need_model(state, &model)?;
    let quorum = &procedure.signoff;
    for (i, authority) in quorum.authorities.iter().enumerate() {
        if state.authority(authority.as_str()).is_none() {
            return Err(CommandError::NotFound { what: "authority", id: authority.to_string() });
        }
        if quorum.authorities.iter().take(i).any(|a| a == authority) {
            return Err(CommandError::Invalid(format!("authority `{authority}` is listed twice")));
        }
    }
    let n = quorum.authorities.len();
    if n == 0 && quorum.required != 0 {
        return Err(CommandError::Invalid("required must be 0 when no sign-off authorities are named".to_owned()));
    }
    if n > 0 && (quorum.required == 0 || quorum.required as usize > n) {
        return Err(CommandError::Invalid(format!("required must be between 1 and {n} (the number of authorities)")));
    }
    let periods = [
        ("review_days", procedure.review_days, 0),
        ("decision_days", procedure.decision_days, 1),
        ("appeal_window_days", procedure.appeal_window_days, 1),
        ("appeal_decision_days", procedure.appeal_decision_days, 1),
        ("revocation_notice_days", procedure.revocation_notice_days, 0),
    ];
    for (field, days, min) in periods {
        if days < min || days > MAX_PERIOD_DAYS {
            return Err(CommandError::Invalid(format!("{field} must be between {min} and {MAX_PERIOD_DAYS}")));
        }
    }
    Ok(Event::ProcedureSet { model, procedure })
}

pub(super) fn record_review_position(
    state: &State,
    model: ModelName,
    verdict: ReviewVerdict,
    reasons: String,
) -> Result<Event, CommandError> {
    let existing = need_model(state, &model)?;
    if existing.stage != Stage::Review {
        return Err(CommandError::Invalid(format!(
            "model `{model}` is `{}`; only a model in `review` can be cleared or objected to",
            existing.stage
        )));
    }
    check_text("reasons", &reasons)?;
    Ok(Event::ReviewPositionRecorded { model, verdict, reasons })
}
