//! Applying the process events: procedures, review positions, applications, notices, appeals.

use std::sync::Arc;

use crate::appeal::{Appeal, AppealDecision, AppealStatus, OfficialRef};
use crate::application::{
    Application, ApplicationAction, ApplicationDecision, ApplicationStatus, ApplicationStep, SignOff, Verdict,
};
use crate::event::{Actor, Event, EventRecord};
use crate::ids::{ApplicationId, Timestamp};
use crate::notice::Notice;
use crate::procedure::ReviewPosition;
use crate::state::State;

impl State {
    /// Applies an event of the governance process. Errors name the inconsistency.
    pub(super) fn apply_process(&mut self, record: &EventRecord, event: &Event) -> Result<(), String> {
        let at = record.at;
        let by = record.actor.describe();
        match event {
            Event::ProcedureSet { model, procedure } => {
                let entry = self.models.get_mut(model).ok_or_else(|| format!("no model `{model}`"))?;
                Arc::make_mut(entry).procedure = procedure.clone();
            }
            Event::ReviewPositionRecorded { model, verdict, reasons } => {
                let Actor::Authority { authority, official } = &record.actor else {
                    return Err("a review position must come from an authority".to_owned());
                };
                let entry = self.models.get_mut(model).ok_or_else(|| format!("no model `{model}`"))?;
                let clock = Arc::make_mut(entry)
                    .review
                    .as_mut()
                    .ok_or_else(|| format!("model `{model}` has no review clock"))?;
                clock.positions.push(ReviewPosition {
                    authority: authority.clone(),
                    official: official.clone(),
                    verdict: *verdict,
                    reasons: reasons.clone(),
                    at,
                    seq: record.seq,
                });
            }
            Event::ApplicationSubmitted { application, customer, model, purpose, criteria_version, due_at } => {
                let quorum = self
                    .models
                    .get(model)
                    .map(|m| m.procedure.signoff.clone())
                    .ok_or_else(|| format!("no model `{model}`"))?;
                self.applications.insert(
                    application.clone(),
                    Arc::new(Application {
                        id: application.clone(),
                        customer: customer.clone(),
                        model: model.clone(),
                        purpose: purpose.clone(),
                        criteria_version_at_submission: *criteria_version,
                        quorum,
                        status: ApplicationStatus::Submitted,
                        submitted_at: at,
                        due_at: *due_at,
                        paused_at: None,
                        round: 1,
                        signoffs: Vec::new(),
                        decision: None,
                        history: vec![step(at, "submitted", by, None)],
                    }),
                );
            }
            Event::ApplicationReviewStarted { application } => {
                let updated = self.application_mut(application, ApplicationAction::StartReview)?;
                updated.history.push(step(at, "review_started", by, None));
            }
            Event::ApplicationInfoRequested { application, question } => {
                let updated = self.application_mut(application, ApplicationAction::RequestInfo)?;
                updated.paused_at = Some(at);
                updated.history.push(step(at, "info_requested", by, Some(question.clone())));
            }
            Event::ApplicationAmended { application, purpose, due_at } => {
                let updated = self.application_mut(application, ApplicationAction::Amend)?;
                updated.purpose = purpose.clone();
                updated.due_at = *due_at;
                updated.paused_at = None;
                updated.round += 1;
                updated.signoffs.clear();
                updated.history.push(step(at, "amended", by, Some(purpose.clone())));
            }
            Event::ApplicationSignedOff { application, verdict, reasons, clauses, evidence, grant_expires_at } => {
                let Actor::Authority { authority, official } = &record.actor else {
                    return Err("a sign-off must come from an authority".to_owned());
                };
                let updated = self.application_mut(application, ApplicationAction::SignOff)?;
                updated.signoffs.push(SignOff {
                    authority: authority.clone(),
                    official: official.clone(),
                    verdict: *verdict,
                    reasons: reasons.clone(),
                    clauses: clauses.clone(),
                    evidence: evidence.clone(),
                    grant_expires_at: *grant_expires_at,
                    at,
                });
                let what = match verdict {
                    Verdict::Approve => "approved_by_authority",
                    Verdict::Deny => "denied_by_authority",
                };
                updated.history.push(step(at, what, by, Some(reasons.clone())));
            }
            Event::ApplicationDecided {
                application,
                outcome,
                criteria_version,
                criteria_hash,
                clauses,
                grant_expires_at,
                appeal_by,
                on_appeal,
            } => {
                let action = match (outcome, on_appeal) {
                    (Verdict::Approve, false) => ApplicationAction::Approve,
                    (Verdict::Approve, true) => ApplicationAction::AppealAllowed,
                    (Verdict::Deny, _) => ApplicationAction::Deny,
                };
                let updated = self.application_mut(application, action)?;
                updated.decision = Some(ApplicationDecision {
                    outcome: *outcome,
                    at,
                    criteria_version: *criteria_version,
                    criteria_hash: criteria_hash.clone(),
                    clauses: clauses.clone(),
                    grant_expires_at: *grant_expires_at,
                    appeal_by: *appeal_by,
                    on_appeal: *on_appeal,
                });
                let what = if *on_appeal { "approved_on_appeal" } else { updated.status.name() };
                updated.history.push(step(at, what, by, None));
            }
            Event::ApplicationWithdrawn { application, reason } => {
                let updated = self.application_mut(application, ApplicationAction::Withdraw)?;
                updated.history.push(step(at, "withdrawn", by, Some(reason.clone())));
            }
            Event::NoticeSent { recipients, public, regarding, text, effective_at, appeal_by } => {
                let number = self.notices.len() as u64 + 1;
                self.notices.push_back(Arc::new(Notice {
                    number,
                    sent_at: at,
                    recipients: recipients.clone(),
                    public: *public,
                    regarding: regarding.clone(),
                    text: text.clone(),
                    effective_at: *effective_at,
                    appeal_by: *appeal_by,
                    seq: record.seq,
                }));
            }
            Event::AppealFiled {
                appeal,
                customer,
                subject,
                authority,
                original_deciders,
                grounds,
                due_at,
                original_in_force,
            } => {
                self.appeals.insert(
                    appeal.clone(),
                    Arc::new(Appeal {
                        id: appeal.clone(),
                        customer: customer.clone(),
                        subject: subject.clone(),
                        authority: authority.clone(),
                        original_deciders: original_deciders.clone(),
                        grounds: grounds.clone(),
                        filed_at: at,
                        due_at: *due_at,
                        original_in_force: *original_in_force,
                        status: AppealStatus::Pending,
                        decision: None,
                    }),
                );
            }
            Event::AppealDecided { appeal, outcome, reasons, evidence, relief_until } => {
                let Actor::Authority { authority, official } = &record.actor else {
                    return Err("an appeal must be decided by an authority".to_owned());
                };
                let entry = self.appeals.get_mut(appeal).ok_or_else(|| format!("no appeal `{appeal}`"))?;
                let updated = Arc::make_mut(entry);
                updated.status = AppealStatus::Decided(*outcome);
                updated.decision = Some(AppealDecision {
                    by: OfficialRef { authority: authority.clone(), official: official.clone() },
                    outcome: *outcome,
                    reasons: reasons.clone(),
                    evidence: evidence.clone(),
                    relief_until: *relief_until,
                    at,
                });
            }
            other => return Err(format!("`{}` is not a process event", other.kind())),
        }
        Ok(())
    }

    fn application_mut(
        &mut self,
        application: &ApplicationId,
        action: ApplicationAction,
    ) -> Result<&mut Application, String> {
        let entry = self.applications.get_mut(application).ok_or_else(|| format!("no application `{application}`"))?;
        let updated = Arc::make_mut(entry);
        updated.status = updated.status.next(action).map_err(|err| err.to_string())?;
        Ok(updated)
    }
}

fn step(at: Timestamp, what: &'static str, by: String, note: Option<String>) -> ApplicationStep {
    // A state checkpoint reads a step back only by one of these names.
    debug_assert!(crate::application::STEP_NAMES.contains(&what), "unlisted application step `{what}`");
    ApplicationStep { at, what, by, note }
}
