//! What a directive would cut, asked before it is issued.
//!
//! Given a snapshot, a candidate directive (its scope and compiled `forbid` policies), the
//! recent requests as compact counts per customer × model × end-user class × attestation status,
//! and `now`, [`impact`] says how many customers and grants the directive would affect and how
//! many of the recent requests it would have denied. Nothing is issued, stored or read besides
//! the arguments (STYLE.md 2).
//!
//! The numbers are marginal: a request or a customer counts only when the gate would admit it
//! now (stage, grant, criteria and the directives already in force, exactly as [`decide`] says)
//! and the candidate would cut it. A directive that repeats one in force therefore cuts nothing.
//!
//! A customer is affected on a model when the candidate cuts it for a request without an
//! attestation, or for one of the end-user contexts its recent requests to that model carried.
//! So a directive that cuts unattested traffic affects every customer that can use the model,
//! with or without recent requests, which is what it would do on its first day.
//!
//! Cost: one pass over the customers (each a handful of map and memo lookups per in-scope model,
//! through [`decide`]) and one Cedar evaluation per distinct (model, customer attribute class,
//! end-user context), cached here; a policy that names a specific customer is evaluated per
//! customer, as on the request path.

use std::collections::HashMap;
use std::sync::Arc;

use crate::decision::{Decision, decide};
use crate::event::DirectiveScope;
use crate::ids::{CustomerId, ModelName, Timestamp};
use crate::policy::{CompiledPolicies, EndUserContext};
use crate::snapshot::Snapshot;
use crate::state::{Customer, Model};

/// The `customer_idx` of requests counted without their customer (a counter table that was
/// full); they are seen but cannot be evaluated.
pub const UNATTRIBUTED: u32 = u32::MAX;

/// At most this many affected customer ids are listed as examples (the smallest ids, so the
/// answer is deterministic).
pub const MAX_EXAMPLES: usize = 10;

/// A directive that has not been issued: what it would apply to and what it forbids.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    /// The models it would apply to.
    pub scope: &'a DirectiveScope,
    /// Its compiled `forbid` policies.
    pub policies: &'a CompiledPolicies,
}

/// How many recent requests one customer sent to one model in one end-user context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecentRequests {
    /// The customer's `customer_idx`, or [`UNATTRIBUTED`].
    pub customer_idx: u32,
    /// The model's `model_idx`.
    pub model_idx: u32,
    /// The end-user context the requests carried. With a `valid` attestation but no
    /// `end_user_json` (an attribute set the class table had no room for) it cannot be evaluated.
    pub end_user: EndUserContext,
    /// How many.
    pub requests: u64,
}

/// What a candidate directive would cut.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Impact {
    /// Customers cut on at least one in-scope model.
    pub customers_affected: u64,
    /// Active grants of affected customers to the models they are cut on.
    pub grants_affected: u64,
    /// Recent requests to in-scope models, allowed or not.
    pub requests_seen: u64,
    /// Of those, the ones the gate would admit now and the candidate would cut.
    pub requests_would_deny: u64,
    /// Of those seen, the ones that could not be evaluated (no customer or no end-user
    /// attributes recorded); they are in neither count above.
    pub requests_not_evaluated: u64,
    /// The same, per in-scope model, by model name.
    pub by_model: Vec<ModelImpact>,
    /// Up to [`MAX_EXAMPLES`] affected customers, smallest ids first.
    pub examples: Vec<CustomerId>,
}

/// What a candidate directive would cut on one model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelImpact {
    /// The model.
    pub model: ModelName,
    /// Customers cut on this model.
    pub customers_affected: u64,
    /// Their active grants to this model.
    pub grants_affected: u64,
    /// Recent requests to this model.
    pub requests_seen: u64,
    /// Of those, the ones the candidate would cut.
    pub requests_would_deny: u64,
    /// Of those, the ones that could not be evaluated.
    pub requests_not_evaluated: u64,
}

/// Computes what `candidate` would cut at `now`, given the recent requests.
pub fn impact(snapshot: &Snapshot, candidate: &Candidate<'_>, recent: &[RecentRequests], now: Timestamp) -> Impact {
    let state = snapshot.state();
    let models: Vec<&Arc<Model>> = state.models().filter(|m| in_scope(candidate.scope, &m.name)).collect();
    let mut by_model: Vec<ModelImpact> = models
        .iter()
        .map(|m| ModelImpact {
            model: m.name.clone(),
            customers_affected: 0,
            grants_affected: 0,
            requests_seen: 0,
            requests_would_deny: 0,
            requests_not_evaluated: 0,
        })
        .collect();
    let position: HashMap<u32, usize> = models.iter().enumerate().map(|(i, m)| (m.model_idx, i)).collect();

    // Recent requests to in-scope models, by customer; the rest are only counted as seen.
    let mut by_customer: HashMap<u32, Vec<(usize, &RecentRequests)>> = HashMap::new();
    for entry in recent {
        let Some(&i) = position.get(&entry.model_idx) else { continue };
        let Some(row) = by_model.get_mut(i) else { continue };
        row.requests_seen += entry.requests;
        let evaluable = entry.customer_idx != UNATTRIBUTED
            && (entry.end_user.attestation != "valid" || entry.end_user.end_user_json.is_some());
        if evaluable {
            by_customer.entry(entry.customer_idx).or_default().push((i, entry));
        } else {
            row.requests_not_evaluated += entry.requests;
        }
    }

    let mut cuts = CutCache { snapshot, policies: candidate.policies, outcomes: HashMap::new() };
    let unattested = crate::attestation::problem_context(crate::attestation::AttestationProblem::Missing);
    let mut out = Impact::default();
    for customer in state.customers() {
        let entries = by_customer.remove(&customer.customer_idx).unwrap_or_default();
        let mut affected = false;
        for (i, model) in models.iter().enumerate() {
            let Some(row) = by_model.get_mut(i) else { continue };
            let mut cut_here = cuts.admitted_and_cut(customer, model, &unattested, now);
            for (_, entry) in entries.iter().filter(|(at, _)| *at == i) {
                if cuts.admitted_and_cut(customer, model, &entry.end_user, now) {
                    row.requests_would_deny += entry.requests;
                    cut_here = true;
                }
            }
            if !cut_here {
                continue;
            }
            affected = true;
            row.customers_affected += 1;
            if let Some(grant) = customer.grants.get(&model.name)
                && grant.revoked_at.is_none_or(|at| at > now)
                && grant.expires_at.is_none_or(|at| at > now)
            {
                row.grants_affected += 1;
            }
        }
        if affected {
            out.customers_affected += 1;
            keep_smallest(&mut out.examples, &customer.id);
        }
    }
    // Requests of customers the state does not know (it never forgets one, so this is defensive).
    for (i, entry) in by_customer.into_values().flatten() {
        if let Some(row) = by_model.get_mut(i) {
            row.requests_not_evaluated += entry.requests;
        }
    }
    for row in &by_model {
        out.grants_affected += row.grants_affected;
        out.requests_seen += row.requests_seen;
        out.requests_would_deny += row.requests_would_deny;
        out.requests_not_evaluated += row.requests_not_evaluated;
    }
    out.by_model = by_model;
    out
}

/// Whether a scope includes a model (the same rule as `Directive::applies_to`).
fn in_scope(scope: &DirectiveScope, model: &ModelName) -> bool {
    match scope {
        DirectiveScope::AllModels => true,
        DirectiveScope::Models { models } => models.contains(model),
    }
}

/// The candidate's outcomes, cached per (model, customer attribute class, end-user context)
/// when no policy names a specific entity: the same condition as the request path's memo
/// (INVARIANT `memo-key` in `snapshot.rs`).
struct CutCache<'a> {
    snapshot: &'a Snapshot,
    policies: &'a CompiledPolicies,
    outcomes: HashMap<(u32, u32, &'static str, u32), bool>,
}

impl CutCache<'_> {
    /// Whether the gate would admit the request now and the candidate would cut it.
    fn admitted_and_cut(
        &mut self,
        customer: &Customer,
        model: &Model,
        end_user: &EndUserContext,
        now: Timestamp,
    ) -> bool {
        if !matches!(decide(self.snapshot, customer, model, end_user, now), Decision::Allow(_)) {
            return false;
        }
        let (snapshot, policies) = (self.snapshot, self.policies);
        let compute = || {
            let evaluation = policies.evaluate(
                snapshot.state().schema(),
                customer.id.as_str(),
                snapshot.state().customer_attributes(customer),
                model.name.as_str(),
                end_user,
            );
            // As on the request path: a clause that errors cuts (fail closed).
            !evaluation.matched.is_empty() || !evaluation.errors.is_empty()
        };
        if policies.mentions_entity_literal() || end_user.end_user_class == u32::MAX {
            return compute();
        }
        let key = (model.model_idx, customer.class_id, end_user.attestation, end_user.end_user_class);
        *self.outcomes.entry(key).or_insert_with(compute)
    }
}

/// Keeps the `MAX_EXAMPLES` smallest ids, sorted.
fn keep_smallest(examples: &mut Vec<CustomerId>, id: &CustomerId) {
    let at = examples.partition_point(|e| e.as_str() < id.as_str());
    if at < MAX_EXAMPLES {
        examples.insert(at, id.clone());
        examples.truncate(MAX_EXAMPLES);
    }
}
