//! Aggregate decision statistics per model, for the public register: how many applications were
//! approved, denied, are pending or overdue, how long decisions take, and how appeals ended.
//!
//! Only counts and durations leave this module, never who applied or appealed: an applicant's
//! identity is the customer's business, while how the process performs is the public's.
//!
//! The statistics are computed from the state on demand, one pass over applications and appeals,
//! rather than kept as counters in the state: the register is read far less often than the state
//! changes, and a pass over in-memory maps costs milliseconds even at a hundred thousand
//! applications, while counters would have to be kept right by every process event.

use std::collections::BTreeMap;

use crate::appeal::{Appeal, AppealOutcome, AppealStatus, AppealSubject};
use crate::application::{Application, ApplicationStatus};
use crate::ids::{DirectiveId, ModelName, Timestamp};
use crate::state::State;

/// Applications for one model, by where they stand.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplicationStatistics {
    /// Approved (a grant was issued), including on appeal.
    pub approved: usize,
    /// Of the approved, those approved only on appeal.
    pub approved_on_appeal: usize,
    /// Denied, and not reversed on appeal.
    pub denied: usize,
    /// Waiting for a decision (submitted, under review, or waiting for information).
    pub pending: usize,
    /// Of the pending, those past their due date with the clock running.
    pub overdue: usize,
    /// Withdrawn by the applicant.
    pub withdrawn: usize,
    /// The median time from submission to the first decision (approval or denial, before any
    /// appeal), in milliseconds; `None` when nothing was decided yet.
    pub median_decision_millis: Option<i64>,
}

/// Appeals, by where they stand.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppealStatistics {
    /// Waiting for a decision.
    pub pending: usize,
    /// Of the pending, those past their due date.
    pub overdue: usize,
    /// Decided: the action stands.
    pub upheld: usize,
    /// Decided: the action is undone for the appellant.
    pub reversed: usize,
    /// Decided: undone for a limited time.
    pub modified: usize,
    /// Withdrawn by the appellant.
    pub withdrawn: usize,
}

impl AppealStatistics {
    /// Every appeal counted.
    pub fn total(&self) -> usize {
        self.pending + self.upheld + self.reversed + self.modified + self.withdrawn
    }
}

/// The statistics of one model.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelStatistics {
    /// Its applications.
    pub applications: ApplicationStatistics,
    /// Appeals that concern it: against denials of its applications, revocations of its grants,
    /// and directives whose scope includes it.
    pub appeals: AppealStatistics,
}

/// The statistics of every model, in one pass over applications and appeals.
pub fn statistics_by_model(state: &State, now: Timestamp) -> BTreeMap<ModelName, ModelStatistics> {
    let mut applications: BTreeMap<&ModelName, Vec<&Application>> = BTreeMap::new();
    for application in state.applications() {
        applications.entry(&application.model).or_default().push(application);
    }
    let mut appeals: BTreeMap<&ModelName, Vec<&Appeal>> = BTreeMap::new();
    for appeal in state.appeals() {
        for model in state.models().map(|m| &m.name).filter(|model| concerns(state, appeal, model)) {
            appeals.entry(model).or_default().push(appeal);
        }
    }
    state
        .models()
        .map(|model| {
            let of_model = applications.get(&model.name).map(Vec::as_slice).unwrap_or_default();
            let appeals_of_model = appeals.get(&model.name).map(Vec::as_slice).unwrap_or_default();
            let statistics = ModelStatistics {
                applications: application_statistics(of_model.iter().copied(), now),
                appeals: appeal_statistics(appeals_of_model.iter().copied(), now),
            };
            (model.name.clone(), statistics)
        })
        .collect()
}

/// The statistics of one model (zero counts for a model nobody applied for).
pub fn model_statistics(state: &State, model: &ModelName, now: Timestamp) -> ModelStatistics {
    ModelStatistics {
        applications: application_statistics(state.applications().filter(|a| a.model == *model).map(|a| &**a), now),
        appeals: appeal_statistics(state.appeals().filter(|a| concerns(state, a, model)).map(|a| &**a), now),
    }
}

/// How appeals against a directive ended.
pub fn directive_appeal_statistics(state: &State, directive: &DirectiveId, now: Timestamp) -> AppealStatistics {
    appeal_statistics(
        state
            .appeals()
            .filter(|a| matches!(&a.subject, AppealSubject::Directive { directive: d } if d == directive))
            .map(|a| &**a),
        now,
    )
}

/// Counts applications by status and takes the median time to the first decision.
pub fn application_statistics<'a>(
    applications: impl Iterator<Item = &'a Application>,
    now: Timestamp,
) -> ApplicationStatistics {
    let mut statistics = ApplicationStatistics::default();
    let mut decision_millis = Vec::new();
    for application in applications {
        match application.status {
            ApplicationStatus::Approved => {
                statistics.approved += 1;
                if application.decision.as_ref().is_some_and(|d| d.on_appeal) {
                    statistics.approved_on_appeal += 1;
                }
            }
            ApplicationStatus::Denied => statistics.denied += 1,
            ApplicationStatus::Withdrawn => statistics.withdrawn += 1,
            ApplicationStatus::Submitted | ApplicationStatus::UnderReview | ApplicationStatus::InfoRequested => {
                statistics.pending += 1;
                if application.overdue(now) {
                    statistics.overdue += 1;
                }
            }
        }
        if let Some(decided_at) = first_decision_at(application) {
            decision_millis.push(decided_at.as_millis() - application.submitted_at.as_millis());
        }
    }
    statistics.median_decision_millis = median(&mut decision_millis);
    statistics
}

/// Counts appeals by status.
pub fn appeal_statistics<'a>(appeals: impl Iterator<Item = &'a Appeal>, now: Timestamp) -> AppealStatistics {
    let mut statistics = AppealStatistics::default();
    for appeal in appeals {
        match appeal.status {
            AppealStatus::Pending => {
                statistics.pending += 1;
                if appeal.overdue(now) {
                    statistics.overdue += 1;
                }
            }
            AppealStatus::Decided(AppealOutcome::Upheld) => statistics.upheld += 1,
            AppealStatus::Decided(AppealOutcome::Reversed) => statistics.reversed += 1,
            AppealStatus::Decided(AppealOutcome::Modified) => statistics.modified += 1,
            AppealStatus::Withdrawn => statistics.withdrawn += 1,
        }
    }
    statistics
}

/// Whether an appeal concerns a model.
fn concerns(state: &State, appeal: &Appeal, model: &ModelName) -> bool {
    match &appeal.subject {
        AppealSubject::ApplicationDenial { application } => {
            state.application(application.as_str()).is_some_and(|a| a.model == *model)
        }
        AppealSubject::GrantRevocation { model: revoked } => revoked == model,
        AppealSubject::Directive { directive } => {
            state.directive(directive.as_str()).is_some_and(|d| d.applies_to(model))
        }
    }
}

/// When the application was first approved or denied. The history step the decision writes is
/// named after the status it reached (`approved`, `denied`); a later approval on appeal is
/// `approved_on_appeal` and does not count, so an appeal does not lengthen the time to decision.
fn first_decision_at(application: &Application) -> Option<Timestamp> {
    let decided = [ApplicationStatus::Approved.name(), ApplicationStatus::Denied.name()];
    application.history.iter().find(|step| decided.contains(&step.what)).map(|step| step.at)
}

/// The median, rounding down between the two middle values of an even count.
fn median(values: &mut [i64]) -> Option<i64> {
    values.sort_unstable();
    let middle = values.len() / 2;
    let high = *values.get(middle)?;
    if values.len() % 2 == 1 {
        return Some(high);
    }
    let low = *values.get(middle.checked_sub(1)?)?;
    Some(low + (high - low) / 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::application::{ApplicationDecision, ApplicationStep, Verdict};
    use crate::ids::{ApplicationId, CustomerId};

    const DAY: i64 = 86_400_000;

    /// An application submitted at day 0: `(status, first decision day, decided on appeal, due day)`.
    fn application(status: ApplicationStatus, decided_day: Option<i64>, on_appeal: bool, due_day: i64) -> Application {
        let mut history =
            vec![ApplicationStep { at: Timestamp::from_millis(0), what: "submitted", by: String::new(), note: None }];
        if let Some(day) = decided_day {
            let what = if on_appeal { "denied" } else { status.name() };
            history.push(ApplicationStep {
                at: Timestamp::from_millis(day * DAY),
                what,
                by: String::new(),
                note: None,
            });
        }
        if on_appeal {
            history.push(ApplicationStep {
                at: Timestamp::from_millis(99 * DAY),
                what: "approved_on_appeal",
                by: String::new(),
                note: None,
            });
        }
        Application {
            id: ApplicationId::parse("app_1").unwrap(),
            customer: CustomerId::parse("acme").unwrap(),
            model: ModelName::parse("frontier").unwrap(),
            purpose: String::new(),
            criteria_version_at_submission: Some(1),
            quorum: crate::procedure::Quorum { authorities: Vec::new(), required: 0 },
            status,
            submitted_at: Timestamp::from_millis(0),
            due_at: Timestamp::from_millis(due_day * DAY),
            paused_at: None,
            round: 1,
            signoffs: Vec::new(),
            decision: decided_day.map(|day| ApplicationDecision {
                outcome: if status == ApplicationStatus::Denied { Verdict::Deny } else { Verdict::Approve },
                at: Timestamp::from_millis(if on_appeal { 99 * DAY } else { day * DAY }),
                criteria_version: 1,
                criteria_hash: String::new(),
                clauses: Vec::new(),
                grant_expires_at: None,
                appeal_by: None,
                on_appeal,
            }),
            history,
        }
    }

    #[track_caller]
    fn check(applications: &[Application], now_day: i64, expected: ApplicationStatistics) {
        let got = application_statistics(applications.iter(), Timestamp::from_millis(now_day * DAY));
        assert_eq!(got, expected);
    }

    #[test]
    fn applications_are_counted_and_the_median_is_taken_over_first_decisions() {
        use ApplicationStatus as S;
        check(&[], 0, ApplicationStatistics::default());
        check(
            &[
                application(S::Approved, Some(2), false, 30),
                application(S::Denied, Some(10), false, 30),
                // Denied at day 4, approved on appeal at day 99: counts as approved, decided in 4 days.
                application(S::Approved, Some(4), true, 30),
                application(S::UnderReview, None, false, 30),
                application(S::Submitted, None, false, 5),
                application(S::Withdrawn, None, false, 30),
            ],
            10,
            ApplicationStatistics {
                approved: 2,
                approved_on_appeal: 1,
                denied: 1,
                pending: 2,
                overdue: 1,
                withdrawn: 1,
                median_decision_millis: Some(4 * DAY),
            },
        );
        // An even count takes the midpoint of the two middle values.
        check(
            &[application(S::Approved, Some(2), false, 30), application(S::Denied, Some(5), false, 30)],
            10,
            ApplicationStatistics {
                approved: 1,
                denied: 1,
                median_decision_millis: Some(3 * DAY + DAY / 2),
                ..Default::default()
            },
        );
    }

    #[test]
    fn median_of_tables() {
        let cases: &[(&[i64], Option<i64>)] =
            &[(&[], None), (&[7], Some(7)), (&[9, 1], Some(5)), (&[3, 1, 2], Some(2)), (&[1, 2, 3, 10], Some(2))];
        for (values, expected) in cases {
            assert_eq!(median(&mut values.to_vec()), *expected, "{values:?}");
        }
    }
}
