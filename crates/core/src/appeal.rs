//! Appeals: a customer contests an adverse action (a denied application, a revoked grant, a
//! directive's application to it); an official other than the original decision-maker decides.
//!
//! `pending → upheld | reversed | modified`, or `withdrawn` by the appellant. A reversal restores
//! access (a grant, or an exemption from the directive) from the next request; a modification
//! restores it for a limited time. The original action stays in force while the appeal is
//! pending, and the record says so.

use serde::{Deserialize, Serialize};

use crate::evidence::Evidence;
use crate::ids::{AppealId, ApplicationId, AuthorityId, CustomerId, DirectiveId, ModelName, OfficialName, Timestamp};

/// What is appealed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AppealSubject {
    /// A denied application.
    ApplicationDenial {
        /// The application.
        application: ApplicationId,
    },
    /// The revocation of the appellant's grant for a model.
    GrantRevocation {
        /// The model.
        model: ModelName,
    },
    /// A directive, as it applies to the appellant.
    Directive {
        /// The directive.
        directive: DirectiveId,
    },
}

impl AppealSubject {
    /// A short description, e.g. ``the denial of application `app_1` ``.
    pub fn describe(&self) -> String {
        match self {
            Self::ApplicationDenial { application } => format!("the denial of application `{application}`"),
            Self::GrantRevocation { model } => format!("the revocation of the grant for `{model}`"),
            Self::Directive { directive } => format!("directive `{directive}`"),
        }
    }
}

/// How an appeal ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppealOutcome {
    /// The original action stands.
    Upheld,
    /// The original action is undone for the appellant.
    Reversed,
    /// Undone for a limited time (`relief_until`).
    Modified,
}

/// Where an appeal stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppealStatus {
    /// Waiting for a decision.
    Pending,
    /// Decided.
    Decided(AppealOutcome),
    /// Withdrawn by the appellant.
    Withdrawn,
}

impl AppealStatus {
    /// The status's name as clients see it: `pending`, `upheld`, `reversed`, `modified`, `withdrawn`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Decided(AppealOutcome::Upheld) => "upheld",
            Self::Decided(AppealOutcome::Reversed) => "reversed",
            Self::Decided(AppealOutcome::Modified) => "modified",
            Self::Withdrawn => "withdrawn",
        }
    }
}

/// The official who took an action, as `(authority, official)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficialRef {
    /// The authority.
    pub authority: AuthorityId,
    /// The official.
    pub official: OfficialName,
}

/// An appeal's decision.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AppealDecision {
    /// Who decided.
    pub by: OfficialRef,
    /// The outcome.
    pub outcome: AppealOutcome,
    /// Why.
    pub reasons: String,
    /// Evidence cited.
    pub evidence: Vec<Evidence>,
    /// For `modified`: until when access is restored.
    pub relief_until: Option<Timestamp>,
    /// When.
    pub at: Timestamp,
}

/// An appeal.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Appeal {
    /// Its id.
    pub id: AppealId,
    /// The appellant.
    pub customer: CustomerId,
    /// What is appealed.
    pub subject: AppealSubject,
    /// The authority that decides it (the one that took the original action).
    pub authority: AuthorityId,
    /// Who took the original action; none of them may decide the appeal.
    pub original_deciders: Vec<OfficialRef>,
    /// The appellant's grounds.
    pub grounds: String,
    /// When filed.
    pub filed_at: Timestamp,
    /// When the decision is due.
    pub due_at: Timestamp,
    /// Whether the original action stays in force while the appeal is pending (always recorded).
    pub original_in_force: bool,
    /// Status.
    pub status: AppealStatus,
    /// The decision, once made.
    pub decision: Option<AppealDecision>,
}

impl Appeal {
    /// Whether the decision is overdue at `now`.
    pub fn overdue(&self, now: Timestamp) -> bool {
        self.status == AppealStatus::Pending && now > self.due_at
    }
}
