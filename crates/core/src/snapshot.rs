//! The immutable snapshot the request path reads, with its memo caches.
//!
//! A snapshot is a [`State`] frozen at one event sequence number plus two caches that only ever
//! hold pure functions of that state: Cedar outcomes per (policy, customer attribute class,
//! end-user context), and verified attestations per token. A new snapshot starts with an empty
//! decision memo, so the memo can never serve an outcome computed from older state; the
//! attestation cache is handed on only while the two things a verification depends on, the
//! trusted attesters and the schema, are the very same objects (INVARIANT (attestation-cache)
//! on [`Snapshot::next`]).
//!
//! The table of end-user attribute classes is handed on too: it maps canonical end-user JSON to
//! a small number, which depends on no state, so [`Snapshot::next`] hands it on. Class ids are
//! then stable for the life of the process, which lets request counters keyed by them outlive
//! any one snapshot.

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

/// INVARIANT (memo-key): `end_user_class` stands for one end-user attribute set (interned in
/// `end_user_classes`, whose ids are never reused), so together with the attestation status it
/// determines the Cedar context exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct MemoKey {
    slot: MemoSlot,
    class_id: u32,
    attestation: &'static str,
    end_user_class: u32,
}

/// Upper bound on distinct end-user attribute sets interned, for the life of the process (the
/// table is handed from snapshot to snapshot); past it, new sets get no class: their outcomes are
/// computed but not memoised, and request counters cannot tell them apart.
///
/// Attested attribute sets are few in practice (a handful of schema fields), and only a trusted
/// attester can mint new ones; the bound keeps one that mints many from growing memory.
pub const MAX_END_USER_CLASSES: usize = 65_536;

/// Canonical end-user JSON to class id and back.
///
/// INVARIANT (end-user-class): id `n` (1, 2, …) stands for `by_id[n - 1]` and nothing else; ids
/// are never reused, so a memo key or a counter keyed by an id means the same attributes for as
/// long as the table lives.
#[derive(Debug, Default)]
struct EndUserClasses {
    by_json: HashMap<Arc<str>, u32>,
    by_id: Vec<Arc<str>>,
}

type AttestationResult = Result<Arc<VerifiedAttestation>, AttestationProblem>;

/// A policy set's outcome for one request, with what the decision branches on held beside it.
///
/// Cloning it is one reference count; [`Outcome::matched_any`] and [`Outcome::errored_any`] read
/// no further than the value itself, so a memo hit that only needs them (a directive that does
/// not cut) costs no reference count and no read of the evaluation behind it.
#[derive(Clone, Debug)]
pub struct Outcome {
    matched_any: bool,
    errored_any: bool,
    evaluation: Arc<Evaluation>,
}

impl Outcome {
    /// Wraps an evaluation.
    pub fn of(evaluation: Arc<Evaluation>) -> Self {
        Self { matched_any: !evaluation.matched.is_empty(), errored_any: !evaluation.errors.is_empty(), evaluation }
    }

    /// Whether any clause matched.
    pub fn matched_any(&self) -> bool {
        self.matched_any
    }

    /// Whether any clause failed to evaluate.
    pub fn errored_any(&self) -> bool {
        self.errored_any
    }

    /// The evaluation: which clauses matched, which failed and why.
    pub fn evaluation(&self) -> &Arc<Evaluation> {
        &self.evaluation
    }
}

/// The request path's view of the governance state.
#[derive(Debug)]
pub struct Snapshot {
    state: State,
    // std `RwLock` rather than a sharded or lock-free map: reads dominate, entries are tiny, and
    // a poisoned lock degrades to uncached evaluation instead of failing a request.
    // foldhash rather than SipHash: the keys are small numbers the gate assigns, not text a
    // client chose, and a request makes four lookups (criteria, three directives in the bench).
    memo: RwLock<HashMap<MemoKey, Outcome, foldhash::fast::RandomState>>,
    /// Shared with the snapshots that follow while INVARIANT (attestation-cache) allows.
    attestations: Arc<RwLock<HashMap<Box<str>, AttestationResult>>>,
    // Shared with the snapshots before and after this one (see `next`).
    end_user_classes: Arc<RwLock<EndUserClasses>>,
}

impl Snapshot {
    /// Freezes a state, with a fresh table of end-user classes.
    pub fn new(state: State) -> Self {
        Self { state, memo: RwLock::default(), attestations: Arc::default(), end_user_classes: Arc::default() }
    }

    /// Freezes the state that follows this snapshot's: an empty decision memo, the same table of
    /// end-user classes (it depends on no state), so class ids stay stable across snapshots, and
    /// the same attestation cache unless the attesters or the schema changed.
    ///
    /// INVARIANT (attestation-cache): a cached verification depends only on the trusted
    /// attesters and the schema (times are checked when it is used, in `context_for`). Both are
    /// replaced as whole objects when they change, so while they are the same objects the cache
    /// carries over: an event that touches neither (a grant, a key, a directive) does not send
    /// every end user back through an Ed25519 verification (~55 µs each).
    pub fn next(&self, state: State) -> Self {
        let same_trust = std::ptr::eq(self.state.attesters(), state.attesters())
            && std::ptr::eq(self.state.schema(), state.schema());
        Self {
            memo: RwLock::default(),
            attestations: if same_trust { self.attestations.clone() } else { Arc::default() },
            end_user_classes: self.end_user_classes.clone(),
            state,
        }
    }

    /// How many tokens the attestation cache holds (for tests and metrics).
    pub fn cached_attestations(&self) -> usize {
        self.attestations.read().map_or(0, |cache| cache.len())
    }

    /// The canonical end-user JSON a class id stands for, if it was interned.
    pub fn end_user_json(&self, end_user_class: u32) -> Option<Arc<str>> {
        let position = usize::try_from(end_user_class.checked_sub(1)?).ok()?;
        self.end_user_classes.read().ok()?.by_id.get(position).cloned()
    }

    /// The state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Evaluates a policy set for a customer, using the memo when the outcome depends only on
    /// the customer's attribute class and the end-user context.
    ///
    /// The outcome is handed to `read`, which takes what the caller keeps: what the decision
    /// branches on (did a clause match, did one fail) is answered from the memo's own table,
    /// without following the outcome's pointer, and the outcome itself is shared (a reference
    /// count) only when the decision keeps it: an admitting criteria evaluation, a directive
    /// that cuts.
    pub fn evaluate<R>(
        &self,
        slot: MemoSlot,
        policies: &CompiledPolicies,
        customer: &Customer,
        model: &Model,
        end_user: &EndUserContext,
        read: impl FnOnce(&Outcome) -> R,
    ) -> R {
        let compute = || {
            Outcome::of(Arc::new(policies.evaluate(
                self.state.schema(),
                customer.id.as_str(),
                self.state.customer_attributes(customer),
                model.name.as_str(),
                end_user,
            )))
        };
        // INVARIANT (memo-key): an outcome is shared between customers only when no policy of the
        // set names a specific entity, so it depends on nothing but the attribute class and the
        // end-user context.
        if policies.mentions_entity_literal() || end_user.end_user_class == u32::MAX {
            return read(&compute());
        }
        let key = MemoKey {
            slot,
            class_id: customer.class_id,
            attestation: end_user.attestation,
            end_user_class: end_user.end_user_class,
        };
        if let Ok(memo) = self.memo.read()
            && let Some(hit) = memo.get(&key)
        {
            return read(hit);
        }
        let outcome = compute();
        if let Ok(mut memo) = self.memo.write()
            && memo.len() < MAX_MEMO_ENTRIES
        {
            memo.insert(key, outcome.clone());
        }
        read(&outcome)
    }

    /// The class of an end-user attribute set (1, 2, …), or `u32::MAX` when the table is full.
    fn intern_end_user(&self, json: &Arc<str>) -> u32 {
        if let Some(id) = self.end_user_classes.read().ok().and_then(|classes| classes.by_json.get(json).copied()) {
            return id;
        }
        let Ok(mut classes) = self.end_user_classes.write() else { return u32::MAX };
        // Another thread may have interned it between the two locks.
        if let Some(id) = classes.by_json.get(json).copied() {
            return id;
        }
        if classes.by_id.len() >= MAX_END_USER_CLASSES {
            return u32::MAX;
        }
        // INVARIANT (end-user-class): maintained here, the only place that adds to the table.
        let id = u32::try_from(classes.by_id.len() + 1).unwrap_or(u32::MAX);
        classes.by_id.push(json.clone());
        classes.by_json.insert(json.clone(), id);
        id
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
