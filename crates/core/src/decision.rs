//! The access decision: may this customer, for this end user, use this model now?
//!
//! Deny is a value, not an error (STYLE.md 9). The order of checks is fixed: stage, grant,
//! criteria, directives; the first failing check is the reason given.

use std::sync::Arc;

use crate::ids::Timestamp;
use crate::policy::{EndUserContext, Evaluation};
use crate::snapshot::{MemoSlot, Snapshot};
use crate::stage::Stage;
use crate::state::{Criteria, Customer, Directive, Model};

/// The outcome of one decision.
#[derive(Clone, Debug)]
pub enum Decision {
    /// The request may go ahead.
    Allow(Allowed),
    /// The request is refused, with the reason.
    Deny(Denial),
}

/// Why a request was allowed: the criteria version and clauses that admitted it.
///
/// Shares the criteria and the (memoised) evaluation rather than copying strings: an allowed
/// request allocates nothing here.
#[derive(Clone, Debug)]
pub struct Allowed {
    /// The criteria version applied.
    pub criteria: Arc<Criteria>,
    /// The evaluation that admitted the request.
    pub evaluation: Arc<Evaluation>,
}

impl Allowed {
    /// The criteria version applied.
    pub fn criteria_version(&self) -> u32 {
        self.criteria.version
    }

    /// The `permit` clauses that matched.
    pub fn clauses(&self) -> &[String] {
        &self.evaluation.matched
    }
}

/// Why a request was refused.
///
/// Not `#[non_exhaustive]`: a new reason must break the build of every place that renders one.
#[derive(Clone, Debug)]
pub enum Denial {
    /// The model's stage admits no customer traffic (`draft`, `review`, `suspended`, `withdrawn`).
    Stage {
        /// The stage.
        stage: Stage,
    },
    /// The model is in `preview` and the customer holds no grant.
    NoGrant,
    /// The grant lapsed.
    GrantExpired {
        /// When.
        at: Timestamp,
    },
    /// The grant was revoked.
    GrantRevoked {
        /// From when.
        at: Timestamp,
    },
    /// No criteria were ever published for the model, so nobody is admitted.
    NoCriteria,
    /// The criteria do not admit this customer.
    CriteriaNotMet {
        /// Criteria version.
        version: u32,
        /// Its content hash.
        content_hash: String,
        /// Clauses that errored while evaluating (they admit nobody).
        errors: Vec<String>,
    },
    /// The criteria could not be compiled under the current schema (fail closed).
    CriteriaUnavailable {
        /// Criteria version.
        version: u32,
        /// Its content hash.
        content_hash: String,
    },
    /// A directive in force cuts this request.
    Directive {
        /// The directive.
        directive: Arc<Directive>,
        /// The `forbid` clauses that matched.
        clauses: Vec<String>,
        /// Clauses that errored (an error cuts, it never lets a request through).
        errors: Vec<String>,
        /// The attestation status the directive saw (`valid`, `missing`, …).
        attestation: &'static str,
    },
}

impl Denial {
    /// A stable machine-readable code, used as the OpenAI `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Denial::Stage { .. } => "model_not_available_in_stage",
            Denial::NoGrant => "grant_required",
            Denial::GrantExpired { .. } => "grant_expired",
            Denial::GrantRevoked { .. } => "grant_revoked",
            Denial::NoCriteria => "no_criteria_published",
            Denial::CriteriaNotMet { .. } => "criteria_not_met",
            Denial::CriteriaUnavailable { .. } => "criteria_unavailable",
            Denial::Directive { .. } => "directive_in_force",
        }
    }
}

/// Decides one request.
///
/// The cost is a handful of map lookups plus, per directive in force for this model, one memo
/// lookup; it does not depend on the number of customers, grants or directives scoped to other
/// models.
pub fn decide(
    snapshot: &Snapshot,
    customer: &Customer,
    model: &Model,
    end_user: &EndUserContext,
    now: Timestamp,
) -> Decision {
    match model.stage {
        Stage::Preview => {
            let Some(grant) = customer.grants.get(&model.name) else {
                return Decision::Deny(Denial::NoGrant);
            };
            if let Some(at) = grant.revoked_at.filter(|at| *at <= now) {
                return Decision::Deny(Denial::GrantRevoked { at });
            }
            if let Some(at) = grant.expires_at.filter(|at| *at <= now) {
                return Decision::Deny(Denial::GrantExpired { at });
            }
        }
        Stage::General => {}
        stage @ (Stage::Draft | Stage::Review | Stage::Suspended { .. } | Stage::Withdrawn) => {
            return Decision::Deny(Denial::Stage { stage });
        }
    }
    let Some(criteria) = &model.criteria else {
        return Decision::Deny(Denial::NoCriteria);
    };
    let Ok(compiled) = &criteria.compiled else {
        return Decision::Deny(Denial::CriteriaUnavailable {
            version: criteria.version,
            content_hash: criteria.content_hash.clone(),
        });
    };
    let slot = MemoSlot::Criteria { model_idx: model.model_idx, version: criteria.version };
    let evaluation =
        snapshot.evaluate(slot, compiled, customer, model, end_user, |outcome| outcome.evaluation().clone());
    if evaluation.matched.is_empty() {
        return Decision::Deny(Denial::CriteriaNotMet {
            version: criteria.version,
            content_hash: criteria.content_hash.clone(),
            errors: evaluation.errors.clone(),
        });
    }
    for directive in model.directives.iter().filter(|d| d.in_force(now)) {
        // Only an outcome that would cut is taken out of the memo (a reference count); one that
        // does not is read where the memo holds it, so an allowed request copies nothing here.
        let cutting: Option<Arc<Evaluation>> = match &directive.compiled {
            Ok(compiled) => {
                let slot = MemoSlot::Directive { directive_idx: directive.directive_idx, model_idx: model.model_idx };
                snapshot.evaluate(slot, compiled, customer, model, end_user, |outcome| {
                    (outcome.matched_any() || outcome.errored_any()).then(|| outcome.evaluation().clone())
                })
            }
            Err(err) => Some(Arc::new(Evaluation {
                matched: Vec::new(),
                errors: vec![format!("directive does not compile: {err}")],
                errored: Vec::new(),
            })),
        };
        // An exemption (allowed on appeal) is checked only when the directive would cut, so the
        // allowed path pays nothing for it.
        if let Some(outcome) = cutting
            && !directive.exempts(&customer.id, now)
        {
            return Decision::Deny(Denial::Directive {
                directive: directive.clone(),
                clauses: outcome.matched.clone(),
                errors: outcome.errors.clone(),
                attestation: end_user.attestation,
            });
        }
    }
    Decision::Allow(Allowed { criteria: criteria.clone(), evaluation })
}
