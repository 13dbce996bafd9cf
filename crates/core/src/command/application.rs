//! Application commands: submit, take up, request information, amend, sign off, withdraw.
//!
//! Sign-offs are where the quorum rules live: one sign-off per authority per round, one official
//! counts once, only the model's sign-off authorities count, and the sign-off that settles the
//! outcome also writes the decision, the grant (on approval) and the notice (on denial).

use std::sync::Arc;

use crate::application::{Application, ApplicationAction, ApplicationStatus, Verdict};
use crate::command::{Command, CommandError, check_text, forbidden, need_customer, need_model, not_found};
use crate::event::{Actor, Event};
use crate::ids::{ApplicationId, Timestamp};
use crate::notice::NoticeRegarding;
use crate::procedure::after_days;
use crate::stage::Stage;
use crate::state::State;

pub(super) fn handle(
    state: &State,
    actor: &Actor,
    command: Command,
    now: Timestamp,
) -> Result<Vec<Event>, CommandError> {
    match command {
        Command::SubmitApplication { application, customer, model, purpose } => {
            if state.application(application.as_str()).is_some() {
                return Err(CommandError::AlreadyExists { what: "application", id: application.to_string() });
            }
            let applicant = need_customer(state, &customer)?;
            let target = need_model(state, &model)?;
            if !matches!(target.stage, Stage::Review | Stage::Preview) {
                return Err(CommandError::Invalid(format!(
                    "model `{model}` is `{}`; applications are taken for models in `review` or `preview`",
                    target.stage
                )));
            }
            if target.procedure.signoff.authorities.is_empty() {
                return Err(CommandError::Invalid(format!(
                    "model `{model}` names no sign-off authorities yet; the provider must set its procedure first"
                )));
            }
            if let Some(open) =
                state.applications().find(|a| a.customer == customer && a.model == model && a.status.is_open())
            {
                return Err(CommandError::Invalid(format!(
                    "customer `{customer}` already has an open application `{}` for `{model}`",
                    open.id
                )));
            }
            if applicant
                .grants
                .get(&model)
                .is_some_and(|g| g.revoked_at.is_none_or(|at| at > now) && g.expires_at.is_none_or(|at| at > now))
            {
                return Err(CommandError::Invalid(format!(
                    "customer `{customer}` already holds a grant for `{model}`"
                )));
            }
            check_text("purpose", &purpose)?;
            let due_at = after_days(now, target.procedure.decision_days);
            let criteria_version = target.criteria.as_ref().map(|c| c.version);
            Ok(vec![Event::ApplicationSubmitted { application, customer, model, purpose, criteria_version, due_at }])
        }
        Command::StartApplicationReview { application } => {
            let existing = reviewable(state, actor, &application, ApplicationAction::StartReview)?;
            Ok(vec![Event::ApplicationReviewStarted { application: existing.id.clone() }])
        }
        Command::RequestApplicationInfo { application, question } => {
            let existing = reviewable(state, actor, &application, ApplicationAction::RequestInfo)?;
            check_text("question", &question)?;
            Ok(vec![Event::ApplicationInfoRequested { application: existing.id.clone(), question }])
        }
        Command::AmendApplication { application, purpose } => {
            let existing = need_application(state, &application)?;
            existing.status.next(ApplicationAction::Amend)?;
            check_text("purpose", &purpose)?;
            // Time spent waiting for the applicant does not count against the authorities.
            let due_at = match existing.paused_at {
                Some(paused_at) => existing.due_at.plus_millis(now.as_millis() - paused_at.as_millis()),
                None => existing.due_at,
            };
            Ok(vec![Event::ApplicationAmended { application, purpose, due_at }])
        }
        Command::WithdrawApplication { application, reason } => {
            let existing = need_application(state, &application)?;
            existing.status.next(ApplicationAction::Withdraw)?;
            check_text("reason", &reason)?;
            Ok(vec![Event::ApplicationWithdrawn { application, reason }])
        }
        Command::SignOffApplication { application, verdict, reasons, clauses, evidence, grant_expires_at } => {
            let existing = reviewable(state, actor, &application, ApplicationAction::SignOff)?;
            let Actor::Authority { authority, official } = actor else {
                return Err(forbidden(actor, "sign off on applications"));
            };
            if let Some(earlier) = existing.signoffs.iter().find(|s| s.authority == *authority) {
                return Err(CommandError::Invalid(format!(
                    "authority `{authority}` has already signed off on application `{application}` ({} by {}); \
                     an amendment starts a new round",
                    verdict_name(earlier.verdict),
                    earlier.official
                )));
            }
            if existing.signoffs.iter().any(|s| s.official == *official) {
                return Err(CommandError::Invalid(format!(
                    "official `{official}` has already signed off on application `{application}` for another authority; \
                     one official counts once"
                )));
            }
            check_text("reasons", &reasons)?;
            let model = need_model(state, &existing.model)?;
            let criteria = model.criteria.as_ref().ok_or_else(|| {
                CommandError::Invalid(format!(
                    "model `{}` has no published criteria; a decision must cite the criteria it applies",
                    existing.model
                ))
            })?;
            if clauses.is_empty() {
                return Err(CommandError::Invalid("a sign-off must cite at least one criteria clause".to_owned()));
            }
            if let Ok(compiled) = &criteria.compiled {
                for clause in &clauses {
                    if !compiled.clauses().any(|c| c.clause_id == *clause) {
                        return Err(CommandError::Invalid(format!(
                            "clause `{clause}` is not in criteria version {} of `{}`",
                            criteria.version, existing.model
                        )));
                    }
                }
            }
            for item in &evidence {
                item.check().map_err(CommandError::Invalid)?;
            }
            match (verdict, grant_expires_at) {
                (Verdict::Deny, Some(_)) => {
                    return Err(CommandError::Invalid("grant_expires_at only goes with an approval".to_owned()));
                }
                (Verdict::Approve, Some(at)) if at <= now => {
                    return Err(CommandError::Invalid("grant_expires_at is in the past".to_owned()));
                }
                _ => {}
            }
            let mut events = vec![Event::ApplicationSignedOff {
                application: application.clone(),
                verdict,
                reasons,
                clauses,
                evidence,
                grant_expires_at,
            }];
            // The quorum fixed when the application was filed (a procedure changed since applies
            // to later applications only).
            let quorum = &existing.quorum;
            let counted: Vec<&crate::application::SignOff> =
                existing.signoffs.iter().filter(|s| quorum.includes(&s.authority)).collect();
            let mut approvals = counted.iter().filter(|s| s.verdict == Verdict::Approve).count();
            let mut denials = counted.len() - approvals;
            match verdict {
                Verdict::Approve => approvals += 1,
                Verdict::Deny => denials += 1,
            }
            let outcome = if quorum.reached(approvals) {
                Some(Verdict::Approve)
            } else if quorum.unreachable(denials) {
                Some(Verdict::Deny)
            } else {
                None
            };
            let Some(outcome) = outcome else { return Ok(events) };
            // The decision cites every clause the round's sign-offs cited, in order.
            let mut cited: Vec<String> = Vec::new();
            let round = counted.iter().map(|s| (&s.clauses, s.grant_expires_at, s.verdict));
            let this = events.iter().filter_map(|e| match e {
                Event::ApplicationSignedOff { clauses, grant_expires_at, verdict, .. } => {
                    Some((clauses, *grant_expires_at, *verdict))
                }
                _ => None,
            });
            let mut expires: Option<Timestamp> = None;
            for (clauses, proposed, verdict) in round.chain(this) {
                if verdict != outcome {
                    continue;
                }
                for clause in clauses {
                    if !cited.contains(clause) {
                        cited.push(clause.clone());
                    }
                }
                // The grant lasts no longer than the most cautious approver proposed.
                if let Some(at) = proposed {
                    expires = Some(expires.map_or(at, |e| e.min(at)));
                }
            }
            let appeal_by = (outcome == Verdict::Deny).then(|| after_days(now, model.procedure.appeal_window_days));
            events.push(Event::ApplicationDecided {
                application: application.clone(),
                outcome,
                criteria_version: criteria.version,
                criteria_hash: criteria.content_hash.clone(),
                clauses: cited,
                grant_expires_at: expires,
                appeal_by,
                on_appeal: false,
            });
            match outcome {
                Verdict::Approve => events.push(Event::GrantIssued {
                    customer: existing.customer.clone(),
                    model: existing.model.clone(),
                    expires_at: expires,
                    reason: format!("application `{application}` approved"),
                    application: Some(application),
                    appeal: None,
                }),
                Verdict::Deny => events.push(Event::NoticeSent {
                    recipients: vec![existing.customer.clone()],
                    public: false,
                    regarding: NoticeRegarding::Application { application: application.clone() },
                    text: format!("your application `{application}` for `{}` is denied", existing.model),
                    effective_at: now,
                    appeal_by,
                }),
            }
            Ok(events)
        }
        other => Err(CommandError::Invalid(format!("not an application command: {other:?}"))),
    }
}

fn need_application<'a>(state: &'a State, id: &ApplicationId) -> Result<&'a Arc<Application>, CommandError> {
    state.application(id.as_str()).ok_or_else(|| not_found("application", id))
}

/// The application, if the actor is an official of one of its model's sign-off authorities and
/// the application's status allows `action`.
fn reviewable<'a>(
    state: &'a State,
    actor: &Actor,
    id: &ApplicationId,
    action: ApplicationAction,
) -> Result<&'a Arc<Application>, CommandError> {
    let existing = need_application(state, id)?;
    let model = need_model(state, &existing.model)?;
    let Actor::Authority { authority, .. } = actor else {
        return Err(forbidden(actor, "review applications"));
    };
    if !existing.quorum.includes(authority) {
        return Err(CommandError::Forbidden {
            actor: actor.describe(),
            action: format!(
                "review application `{}` for `{}` (not one of its sign-off authorities)",
                existing.id, model.name
            ),
        });
    }
    existing.status.next(action)?;
    if existing.status == ApplicationStatus::InfoRequested && action == ApplicationAction::SignOff {
        return Err(CommandError::Invalid("the application is waiting for information from the applicant".to_owned()));
    }
    Ok(existing)
}

fn verdict_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Approve => "approved",
        Verdict::Deny => "denied",
    }
}
