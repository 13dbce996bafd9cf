//! Applications: a customer asks for access to a model; the model's sign-off authorities decide.
//!
//! `submitted → under_review → approved | denied`, with `info_requested` (which pauses the
//! decision clock) and `withdrawn`. Only the edges in [`ApplicationStatus::next`] exist. Approval
//! needs the model's quorum of distinct authorities; denial happens as soon as the quorum can no
//! longer be reached. Amending the application starts a new round: earlier sign-offs no longer
//! count.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::evidence::Evidence;
use crate::ids::{ApplicationId, AuthorityId, CustomerId, ModelName, OfficialName, Timestamp};

/// Where an application stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationStatus {
    /// Filed, not yet taken up.
    Submitted,
    /// An authority has taken it up; sign-offs are being collected.
    UnderReview,
    /// An authority asked the customer for more information; the decision clock is paused.
    InfoRequested,
    /// Approved; a grant was issued.
    Approved,
    /// Denied; the customer may appeal.
    Denied,
    /// Withdrawn by the customer.
    Withdrawn,
}

/// What happens to an application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplicationAction {
    /// An authority takes it up.
    StartReview,
    /// An authority asks for more information.
    RequestInfo,
    /// The customer changes its application (or answers a request for information).
    Amend,
    /// An authority signs off without reaching a decision.
    SignOff,
    /// The quorum approved.
    Approve,
    /// The quorum can no longer be reached.
    Deny,
    /// The customer withdraws.
    Withdraw,
    /// An appeal against the denial was allowed.
    AppealAllowed,
}

/// An action the application's current status does not allow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("an application that is `{from}` cannot be {action}")]
pub struct IllegalApplicationTransitionError {
    /// The current status.
    pub from: ApplicationStatus,
    /// The attempted action, in words.
    pub action: &'static str,
}

impl ApplicationStatus {
    /// The status after `action`.
    ///
    /// # Errors
    ///
    /// Returns [`IllegalApplicationTransitionError`] when the machine has no such edge.
    pub fn next(self, action: ApplicationAction) -> Result<Self, IllegalApplicationTransitionError> {
        use ApplicationAction as A;
        use ApplicationStatus as S;
        let next = match (self, action) {
            (S::Submitted, A::StartReview) => S::UnderReview,
            (S::Submitted, A::Amend) => S::Submitted,
            (S::UnderReview | S::InfoRequested, A::Amend) => S::UnderReview,
            (S::UnderReview, A::RequestInfo) => S::InfoRequested,
            (S::UnderReview, A::SignOff) => S::UnderReview,
            (S::UnderReview, A::Approve) | (S::Denied, A::AppealAllowed) => S::Approved,
            (S::UnderReview, A::Deny) => S::Denied,
            (S::Submitted | S::UnderReview | S::InfoRequested, A::Withdraw) => S::Withdrawn,
            _ => return Err(IllegalApplicationTransitionError { from: self, action: action.words() }),
        };
        Ok(next)
    }

    /// The status's name as clients see it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::UnderReview => "under_review",
            Self::InfoRequested => "info_requested",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Withdrawn => "withdrawn",
        }
    }

    /// Whether a decision is still to come.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Submitted | Self::UnderReview | Self::InfoRequested)
    }
}

impl ApplicationAction {
    fn words(self) -> &'static str {
        match self {
            Self::StartReview => "taken up for review",
            Self::RequestInfo => "asked for more information",
            Self::Amend => "amended",
            Self::SignOff => "signed off",
            Self::Approve => "approved",
            Self::Deny => "denied",
            Self::Withdraw => "withdrawn",
            Self::AppealAllowed => "approved on appeal",
        }
    }
}

impl fmt::Display for ApplicationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An authority's verdict on an application.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Approve.
    Approve,
    /// Deny.
    Deny,
}

/// One official's sign-off for one authority.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SignOff {
    /// The authority.
    pub authority: AuthorityId,
    /// The official.
    pub official: OfficialName,
    /// Approve or deny.
    pub verdict: Verdict,
    /// Why.
    pub reasons: String,
    /// The criteria clauses relied on.
    pub clauses: Vec<String>,
    /// Evidence cited.
    pub evidence: Vec<Evidence>,
    /// For an approval: the latest the grant should last, if time-bound.
    pub grant_expires_at: Option<Timestamp>,
    /// When.
    pub at: Timestamp,
}

/// The decision on an application.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApplicationDecision {
    /// Approved or denied.
    pub outcome: Verdict,
    /// When.
    pub at: Timestamp,
    /// The criteria version relied on.
    pub criteria_version: u32,
    /// Its content hash.
    pub criteria_hash: String,
    /// The clauses the sign-offs cited, deduplicated, in order of first citation.
    pub clauses: Vec<String>,
    /// For an approval: when the grant lapses, if time-bound.
    pub grant_expires_at: Option<Timestamp>,
    /// For a denial: the last moment an appeal may be filed.
    pub appeal_by: Option<Timestamp>,
    /// Whether this decision was reached on appeal.
    pub on_appeal: bool,
}

/// Every name an [`ApplicationStep`] can have: the state's own steps and the statuses a decision
/// leads to. A step read back from a state checkpoint must be one of these (its name is
/// `'static`, shared by every application).
pub const STEP_NAMES: &[&str] = &[
    "submitted",
    "review_started",
    "info_requested",
    "amended",
    "approved_by_authority",
    "denied_by_authority",
    "approved_on_appeal",
    "under_review",
    "approved",
    "denied",
    "withdrawn",
];

/// An application step's name. An alias, not `&'static str` written out: serde would take that
/// for text borrowed from the input, which a state checkpoint's reader cannot lend for `'static`.
pub type StepName = &'static str;

fn step_name<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<&'static str, D::Error> {
    let name = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
    STEP_NAMES
        .iter()
        .find(|known| **known == name)
        .copied()
        .ok_or_else(|| serde::de::Error::custom(format!("unknown application step `{name}`")))
}

/// One step of an application's history.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApplicationStep {
    /// When.
    pub at: Timestamp,
    /// What happened: one of [`STEP_NAMES`].
    #[serde(deserialize_with = "step_name")]
    pub what: StepName,
    /// Who, described.
    pub by: String,
    /// Free text (the question asked, the reason given), if any.
    pub note: Option<String>,
}

/// An application.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Application {
    /// Its id.
    pub id: ApplicationId,
    /// The applicant.
    pub customer: CustomerId,
    /// The model applied for.
    pub model: ModelName,
    /// The stated purpose (current version).
    pub purpose: String,
    /// The criteria version published when the application was filed, if any.
    pub criteria_version_at_submission: Option<u32>,
    /// Who signs off, fixed when the application was filed: a procedure changed while it is
    /// open applies to later applications only.
    pub quorum: crate::procedure::Quorum,
    /// Status.
    pub status: ApplicationStatus,
    /// When filed.
    pub submitted_at: Timestamp,
    /// When the decision is due (moved forward by the time spent waiting for information).
    pub due_at: Timestamp,
    /// When the clock was paused, while information is requested.
    pub paused_at: Option<Timestamp>,
    /// Sign-off round: 1 at submission, one more at each amendment.
    pub round: u32,
    /// Sign-offs of the current round.
    pub signoffs: Vec<SignOff>,
    /// The decision, once made.
    pub decision: Option<ApplicationDecision>,
    /// History, oldest first.
    pub history: Vec<ApplicationStep>,
}

impl Application {
    /// Whether the decision is overdue at `now` (a paused clock is never overdue).
    pub fn overdue(&self, now: Timestamp) -> bool {
        matches!(self.status, ApplicationStatus::Submitted | ApplicationStatus::UnderReview) && now > self.due_at
    }

    /// Approvals and denials of the current round.
    pub fn tally(&self) -> (usize, usize) {
        let approvals = self.signoffs.iter().filter(|s| s.verdict == Verdict::Approve).count();
        (approvals, self.signoffs.len() - approvals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ApplicationAction as A;
    use ApplicationStatus as S;

    /// Every (status, action) pair: the edges that exist, and an error naming both for the rest.
    #[test]
    fn every_transition() {
        let legal = [
            (S::Submitted, A::StartReview, S::UnderReview),
            (S::Submitted, A::Amend, S::Submitted),
            (S::Submitted, A::Withdraw, S::Withdrawn),
            (S::UnderReview, A::Amend, S::UnderReview),
            (S::UnderReview, A::RequestInfo, S::InfoRequested),
            (S::UnderReview, A::SignOff, S::UnderReview),
            (S::UnderReview, A::Approve, S::Approved),
            (S::UnderReview, A::Deny, S::Denied),
            (S::UnderReview, A::Withdraw, S::Withdrawn),
            (S::InfoRequested, A::Amend, S::UnderReview),
            (S::InfoRequested, A::Withdraw, S::Withdrawn),
            (S::Denied, A::AppealAllowed, S::Approved),
        ];
        let statuses = [S::Submitted, S::UnderReview, S::InfoRequested, S::Approved, S::Denied, S::Withdrawn];
        let actions =
            [A::StartReview, A::RequestInfo, A::Amend, A::SignOff, A::Approve, A::Deny, A::Withdraw, A::AppealAllowed];
        let mut n_legal = 0;
        for from in statuses {
            for action in actions {
                let expected = legal.iter().find(|(f, a, _)| *f == from && *a == action).map(|(_, _, to)| *to);
                match (from.next(action), expected) {
                    (Ok(to), Some(want)) => {
                        assert_eq!(to, want, "{from} {action:?}");
                        n_legal += 1;
                    }
                    (Err(err), None) => {
                        assert_eq!(err.from, from);
                        assert!(err.to_string().starts_with(&format!("an application that is `{from}` cannot be")));
                    }
                    (got, want) => panic!("{from} {action:?}: got {got:?}, want {want:?}"),
                }
            }
        }
        assert_eq!(n_legal, legal.len());
    }
}
