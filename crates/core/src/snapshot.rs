//! The immutable snapshot the request path reads, with its memo caches.
//!
//! A snapshot is a [`State`] frozen at one event sequence number plus two caches that only ever
//! hold pure functions of that state: Cedar outcomes per (policy, customer attribute class,
//! end-user context), and verified attestations per token. A new snapshot starts with empty
//! caches, so a cache can never serve an outcome computed from older state.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::attestation::{self, AttestationProblem, VerifiedAttestation};
use crate::ids::Timestamp;
use crate::policy::{CompiledPolicies, EndUserContext, Evaluation};
use crate::state::{Customer, Model, State};

/// Upper bound on memoised Cedar outcomes per snapshot; past it, outcomes are computed but not kept.
///
/// The key space is attribute classes × end-user contexts × policies, which is small in practice;
/// the bound only stops an adversary who mints many distinct valid attestations from growing
/// memory without limit.
pub const MAX_MEMO_ENTRIES: usize = 65_536;

/// Upper bound on cached attestation verifications per snapshot; the cache is cleared when full.
pub const MAX_ATTESTATION_CACHE_ENTRIES: usize = 100_000;

/// Which policy set a memo entry belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemoSlot {
    /// A model's criteria version.
    Criteria {
        /// The model.
        model_idx: u32,
        /// The version.
        version: u32,
    },
    /// A directive, evaluated for one model.
    Directive {
        /// The directive.
        directive_idx: u32,
        /// The model.
        model_idx: u32,
    },
}

/// INVARIANT (memo-key): `end_user_class` stands for one end-user attribute set within this
/// snapshot (interned in `end_user_classes`), so together with the attestation status it
/// determines the Cedar context exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct MemoKey {
    slot: MemoSlot,
    class_id: u32,
    attestation: &'static str,
    end_user_class: u32,
}

/// Upper bound on distinct end-user attribute sets interned per snapshot.
pub const MAX_END_USER_CLASSES: usize = 65_536;

type AttestationResult = Result<Arc<VerifiedAttestation>, AttestationProblem>;

/// The request path's view of the governance state.
#[derive(Debug)]
pub struct Snapshot {
    state: State,
    // std `RwLock` rather than a sharded or lock-free map: reads dominate, entries are tiny, and
    // a poisoned lock degrades to uncached evaluation instead of failing a request.
    memo: RwLock<HashMap<MemoKey, Arc<Evaluation>>>,
    attestations: RwLock<HashMap<Box<str>, AttestationResult>>,
    end_user_classes: RwLock<HashMap<Arc<str>, u32>>,
}

impl Snapshot {
    /// Freezes a state.
    pub fn new(state: State) -> Self {
        Self { state, memo: RwLock::default(), attestations: RwLock::default(), end_user_classes: RwLock::default() }
    }

    /// The state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Evaluates a policy set for a customer, using the memo when the outcome depends only on
    /// the customer's attribute class and the end-user context.
    pub fn evaluate(
        &self,
        slot: MemoSlot,
        policies: &CompiledPolicies,
        customer: &Customer,
        model: &Model,
        end_user: &EndUserContext,
    ) -> Arc<Evaluation> {
        let compute = || {
            Arc::new(policies.evaluate(
                self.state.schema(),
                customer.id.as_str(),
                &customer.attributes,
                model.name.as_str(),
                end_user,
            ))
        };
        // INVARIANT (memo-key): an outcome is shared between customers only when no policy of the
        // set names a specific entity, so it depends on nothing but the attribute class and the
        // end-user context.
        if policies.mentions_entity_literal() || end_user.end_user_class == u32::MAX {
            return compute();
        }
        let key = MemoKey {
            slot,
            class_id: customer.class_id,
            attestation: end_user.attestation,
            end_user_class: end_user.end_user_class,
        };
        if let Some(hit) = self.memo.read().ok().and_then(|memo| memo.get(&key).cloned()) {
            return hit;
        }
        let outcome = compute();
        if let Ok(mut memo) = self.memo.write()
            && memo.len() < MAX_MEMO_ENTRIES
        {
            memo.insert(key, outcome.clone());
        }
        outcome
    }

    /// The class of an end-user attribute set (1, 2, …), or `u32::MAX` when the table is full.
    fn intern_end_user(&self, json: &Arc<str>) -> u32 {
        if let Some(id) = self.end_user_classes.read().ok().and_then(|classes| classes.get(json).copied()) {
            return id;
        }
        let Ok(mut classes) = self.end_user_classes.write() else { return u32::MAX };
        let next = u32::try_from(classes.len() + 1).unwrap_or(u32::MAX);
        if classes.len() >= MAX_END_USER_CLASSES {
            return classes.get(json).copied().unwrap_or(u32::MAX);
        }
        *classes.entry(json.clone()).or_insert(next)
    }

    /// The end-user context for a request: verifies the attestation token (cached per token) and
    /// applies the per-request checks (expiry, audience).
    pub fn end_user_context(&self, token: Option<&str>, customer_id: &str, now: Timestamp) -> EndUserContext {
        let Some(token) = token else {
            return attestation::problem_context(AttestationProblem::Missing);
        };
        let cached = self.attestations.read().ok().and_then(|cache| cache.get(token).cloned());
        let verified = match cached {
            Some(result) => result,
            None => {
                let result =
                    attestation::verify(token, self.state.attesters(), self.state.schema(), now).map(|mut verified| {
                        verified.end_user_class = self.intern_end_user(&verified.end_user_json);
                        Arc::new(verified)
                    });
                if let Ok(mut cache) = self.attestations.write() {
                    if cache.len() >= MAX_ATTESTATION_CACHE_ENTRIES {
                        cache.clear();
                    }
                    // Only well-formed tokens are worth caching; garbage is cheap to reject again
                    // and would let a client flush the cache.
                    if !matches!(result, Err(AttestationProblem::Malformed)) {
                        cache.insert(token.into(), result.clone());
                    }
                }
                result
            }
        };
        match verified {
            Ok(verified) => verified.context_for(customer_id, now),
            Err(problem) => attestation::problem_context(problem),
        }
    }
}
