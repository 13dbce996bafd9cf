//! Appeal commands: a customer files within the window; an official of the deciding authority
//! who took no part in the original action decides, and a reversal restores access.

use crate::appeal::{AppealOutcome, AppealStatus, AppealSubject, OfficialRef};
use crate::application::{ApplicationStatus, Verdict};
use crate::command::directive::DIRECTIVE_APPEAL_WINDOW_DAYS;
use crate::command::{Command, CommandError, check_text, forbidden, need_customer, need_model, not_found};
use crate::event::{Actor, Event};
use crate::ids::{AuthorityId, CustomerId, Timestamp};
use crate::notice::NoticeRegarding;
use crate::procedure::after_days;
use crate::state::State;

/// An appeal against a directive is decided within this many days.
const DIRECTIVE_APPEAL_DECISION_DAYS: u32 = 30;

pub(super) fn handle(
    state: &State,
    actor: &Actor,
    command: Command,
    now: Timestamp,
) -> Result<Vec<Event>, CommandError> {
    match command {
        Command::FileAppeal { appeal, customer, subject, grounds } => {
            if state.appeal(appeal.as_str()).is_some() {
                return Err(CommandError::AlreadyExists { what: "appeal", id: appeal.to_string() });
            }
            need_customer(state, &customer)?;
            check_text("grounds", &grounds)?;
            if let Some(open) = state
                .appeals()
                .find(|a| a.customer == customer && a.subject == subject && a.status == AppealStatus::Pending)
            {
                return Err(CommandError::Invalid(format!(
                    "appeal `{}` against {} is already pending",
                    open.id,
                    subject.describe()
                )));
            }
            let target = appeal_target(state, &customer, &subject)?;
            if now > target.appeal_by {
                return Err(CommandError::DeadlinePassed(format!(
                    "the deadline to appeal {} passed at {}",
                    subject.describe(),
                    target.appeal_by
                )));
            }
            Ok(vec![Event::AppealFiled {
                appeal,
                customer,
                subject,
                authority: target.authority,
                original_deciders: target.deciders,
                grounds,
                due_at: after_days(now, target.decision_days),
                // Filing does not suspend the action: access is restored only by a decision.
                original_in_force: true,
            }])
        }
        Command::DecideAppeal { appeal, outcome, reasons, evidence, relief_until } => {
            let existing = state.appeal(appeal.as_str()).ok_or_else(|| not_found("appeal", &appeal))?;
            let Actor::Authority { authority, official } = actor else {
                return Err(forbidden(actor, "decide appeals"));
            };
            if *authority != existing.authority {
                return Err(CommandError::Forbidden {
                    actor: actor.describe(),
                    action: format!("decide appeal `{appeal}` (it is for authority `{}`)", existing.authority),
                });
            }
            let me = OfficialRef { authority: authority.clone(), official: official.clone() };
            if existing.original_deciders.contains(&me) {
                return Err(CommandError::Forbidden {
                    actor: actor.describe(),
                    action: format!("decide appeal `{appeal}`: they took the action appealed against"),
                });
            }
            if existing.status != AppealStatus::Pending {
                return Err(CommandError::Invalid(format!("appeal `{appeal}` is already {}", existing.status.name())));
            }
            check_text("reasons", &reasons)?;
            for item in &evidence {
                item.check().map_err(CommandError::Invalid)?;
            }
            match (outcome, relief_until) {
                (AppealOutcome::Modified, None) => {
                    return Err(CommandError::Invalid(
                        "a modified outcome restores access for a limited time and needs relief_until".to_owned(),
                    ));
                }
                (AppealOutcome::Modified, Some(at)) if at <= now => {
                    return Err(CommandError::Invalid("relief_until is in the past".to_owned()));
                }
                (AppealOutcome::Upheld | AppealOutcome::Reversed, Some(_)) => {
                    return Err(CommandError::Invalid("relief_until only goes with a modified outcome".to_owned()));
                }
                _ => {}
            }
            let mut events = vec![Event::AppealDecided {
                appeal: appeal.clone(),
                outcome,
                reasons: reasons.clone(),
                evidence,
                relief_until,
            }];
            if outcome != AppealOutcome::Upheld {
                events.extend(relief(state, &existing.customer, &existing.subject, &appeal, relief_until)?);
            }
            let what = match outcome {
                AppealOutcome::Upheld => "upheld: the action stands",
                AppealOutcome::Reversed => "reversed: access is restored",
                AppealOutcome::Modified => "modified: access is restored for a limited time",
            };
            events.push(Event::NoticeSent {
                recipients: vec![existing.customer.clone()],
                public: false,
                regarding: NoticeRegarding::Appeal { appeal: appeal.clone() },
                text: format!("your appeal `{appeal}` against {} is {what}: {reasons}", existing.subject.describe()),
                effective_at: now,
                appeal_by: None,
            });
            Ok(events)
        }
        other => Err(CommandError::Invalid(format!("not an appeal command: {other:?}"))),
    }
}

/// Who decides an appeal, who may not, and by when it must be filed.
struct AppealTarget {
    authority: AuthorityId,
    deciders: Vec<OfficialRef>,
    appeal_by: Timestamp,
    decision_days: u32,
}

fn appeal_target(state: &State, customer: &CustomerId, subject: &AppealSubject) -> Result<AppealTarget, CommandError> {
    match subject {
        AppealSubject::ApplicationDenial { application } => {
            let denied =
                state.application(application.as_str()).ok_or_else(|| not_found("application", application))?;
            if denied.customer != *customer {
                return Err(CommandError::Invalid(format!("application `{application}` is not `{customer}`'s")));
            }
            let decision = denied.decision.as_ref().filter(|_| denied.status == ApplicationStatus::Denied);
            let Some(decision) = decision else {
                return Err(CommandError::Invalid(format!(
                    "application `{application}` is `{}`; only a denial can be appealed",
                    denied.status
                )));
            };
            let deciders: Vec<OfficialRef> = denied
                .signoffs
                .iter()
                .filter(|s| s.verdict == Verdict::Deny)
                .map(|s| OfficialRef { authority: s.authority.clone(), official: s.official.clone() })
                .collect();
            let authority = deciders
                .first()
                .map(|d| d.authority.clone())
                .ok_or_else(|| CommandError::Invalid(format!("application `{application}` has no denying sign-off")))?;
            let procedure = &need_model(state, &denied.model)?.procedure;
            Ok(AppealTarget {
                authority,
                deciders,
                appeal_by: decision.appeal_by.unwrap_or(after_days(decision.at, procedure.appeal_window_days)),
                decision_days: procedure.appeal_decision_days,
            })
        }
        AppealSubject::GrantRevocation { model } => {
            let holder = need_customer(state, customer)?;
            let grant = holder.grants.get(model).filter(|g| g.revoked_at.is_some()).ok_or_else(|| {
                CommandError::Invalid(format!("customer `{customer}` has no revoked grant for `{model}`"))
            })?;
            let Some((Actor::Authority { authority, official }, revoked_on)) =
                grant.revocation.as_deref().map(|revocation| (&revocation.by, revocation.made_at))
            else {
                return Err(CommandError::Invalid(format!("the revocation of `{model}` was not made by an authority")));
            };
            let procedure = &need_model(state, model)?.procedure;
            Ok(AppealTarget {
                authority: authority.clone(),
                deciders: vec![OfficialRef { authority: authority.clone(), official: official.clone() }],
                appeal_by: after_days(revoked_on, procedure.appeal_window_days),
                decision_days: procedure.appeal_decision_days,
            })
        }
        AppealSubject::Directive { directive } => {
            let issued = state.directive(directive.as_str()).ok_or_else(|| not_found("directive", directive))?;
            if issued.lifted.is_some() {
                return Err(CommandError::Invalid(format!(
                    "directive `{directive}` is lifted; there is nothing to appeal"
                )));
            }
            // Standing: only a customer the directive can reach may appeal it (one holding a grant
            // for a model in its scope, or any customer when a model in scope is generally available).
            let holder = need_customer(state, customer)?;
            let concerned = state.models().any(|m| {
                issued.applies_to(&m.name)
                    && (m.stage == crate::stage::Stage::General || holder.grants.get(&m.name).is_some())
            });
            if !concerned {
                return Err(CommandError::Invalid(format!(
                    "directive `{directive}` does not reach customer `{customer}` (no grant for a model in its scope)"
                )));
            }
            let Actor::Authority { authority, official } = &issued.issued_by else {
                return Err(CommandError::Invalid(format!("directive `{directive}` has no issuing official")));
            };
            Ok(AppealTarget {
                authority: authority.clone(),
                deciders: vec![OfficialRef { authority: authority.clone(), official: official.clone() }],
                appeal_by: after_days(issued.issued_at, DIRECTIVE_APPEAL_WINDOW_DAYS),
                decision_days: DIRECTIVE_APPEAL_DECISION_DAYS,
            })
        }
    }
}

/// The events that restore the appellant's access (for good, or until `until`).
fn relief(
    state: &State,
    customer: &CustomerId,
    subject: &AppealSubject,
    appeal: &crate::ids::AppealId,
    until: Option<Timestamp>,
) -> Result<Vec<Event>, CommandError> {
    Ok(match subject {
        AppealSubject::ApplicationDenial { application } => {
            let denied =
                state.application(application.as_str()).ok_or_else(|| not_found("application", application))?;
            let model = need_model(state, &denied.model)?;
            let (version, hash) =
                model.criteria.as_ref().map_or((0, String::new()), |c| (c.version, c.content_hash.clone()));
            vec![
                Event::ApplicationDecided {
                    application: application.clone(),
                    outcome: Verdict::Approve,
                    criteria_version: version,
                    criteria_hash: hash,
                    clauses: denied.decision.as_ref().map(|d| d.clauses.clone()).unwrap_or_default(),
                    grant_expires_at: until,
                    appeal_by: None,
                    on_appeal: true,
                },
                Event::GrantIssued {
                    customer: customer.clone(),
                    model: denied.model.clone(),
                    expires_at: until,
                    reason: format!("appeal `{appeal}` against the denial of application `{application}` allowed"),
                    application: Some(application.clone()),
                    appeal: Some(appeal.clone()),
                },
            ]
        }
        AppealSubject::GrantRevocation { model } => {
            let previous = need_customer(state, customer)?.grants.get(model).and_then(|g| g.expires_at);
            vec![Event::GrantIssued {
                customer: customer.clone(),
                model: model.clone(),
                expires_at: match (until, previous) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                },
                reason: format!("appeal `{appeal}` against the revocation allowed"),
                application: None,
                appeal: Some(appeal.clone()),
            }]
        }
        AppealSubject::Directive { directive } => vec![Event::DirectiveExemptionGranted {
            directive: directive.clone(),
            customer: customer.clone(),
            until,
            appeal: appeal.clone(),
        }],
    })
}
