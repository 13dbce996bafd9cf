//! Notices: every adverse action records whom it notified and when.
//!
//! A notice is an event of its own, written in the same transaction as the action it announces,
//! so there is never an adverse action without its notice. Customers read the notices addressed
//! to them (and public ones) through the API.

use serde::{Deserialize, Serialize};

use crate::ids::{AppealId, ApplicationId, CustomerId, DirectiveId, ModelName, Timestamp};

/// What a notice is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NoticeRegarding {
    /// An application's decision.
    Application {
        /// The application.
        application: ApplicationId,
    },
    /// A grant's revocation.
    GrantRevocation {
        /// The customer.
        customer: CustomerId,
        /// The model.
        model: ModelName,
    },
    /// A directive.
    Directive {
        /// The directive.
        directive: DirectiveId,
    },
    /// A model's stage (suspension, withdrawal).
    Stage {
        /// The model.
        model: ModelName,
    },
    /// An appeal's decision.
    Appeal {
        /// The appeal.
        appeal: AppealId,
    },
}

/// A notice as kept in the state.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Notice {
    /// Its number, 1 for the first notice ever sent.
    pub number: u64,
    /// When it was sent.
    pub sent_at: Timestamp,
    /// The customers it was addressed to.
    pub recipients: Vec<CustomerId>,
    /// Whether it is also published to everyone (directives, stage changes).
    pub public: bool,
    /// What it is about.
    pub regarding: NoticeRegarding,
    /// What it says.
    pub text: String,
    /// When the action takes effect.
    pub effective_at: Timestamp,
    /// The last moment to appeal, when the action can be appealed.
    pub appeal_by: Option<Timestamp>,
    /// The sequence number of the event that carried it.
    pub seq: u64,
}

impl Notice {
    /// Whether `customer` may read it.
    pub fn addressed_to(&self, customer: &CustomerId) -> bool {
        self.public || self.recipients.contains(customer)
    }
}
