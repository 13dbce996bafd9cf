//! The governance state, derived from events.
//!
//! `State` is a value built from persistent structures: cloning it is O(1) and an update copies
//! only the nodes on its path, so the writer can apply an event to a copy and publish the copy as
//! the next immutable snapshot while requests keep reading the previous one. The records that
//! number in millions, customers and API keys, are in `table::Table`s found through
//! `index::HashIndex`es (dense, built for ten million entries); the rest, counted in hundreds,
//! is in `imbl` maps.

use std::sync::Arc;

use crate::appeal::Appeal;
use crate::application::Application;
use crate::attestation::TrustedAttester;
use crate::attester::AttesterRegistry;
use crate::error::PolicyError;
use crate::event::{Actor, Deployment, DirectiveScope, Event, EventRecord, Upstream};
use crate::evidence::Evidence;
use crate::ids::{
    AppealId, ApplicationId, AuthorityId, CustomerId, DirectiveId, KeyId, ModelName, OfficialName, SecretHash,
    Timestamp, TokenId,
};
use crate::notice::Notice;
use crate::policy::{CedarSchema, CompiledPolicies, PolicyKind};
use crate::procedure::{Procedure, ReviewClock};
use crate::stage::Stage;

pub mod checkpoint;
mod index;
mod process;
mod table;

use index::{HashIndex, text_hash};
use table::Table;

/// Customer attributes, as set by the provider.
pub type Attributes = serde_json::Map<String, serde_json::Value>;

/// A customer and what the request path needs to know about it.
#[derive(Clone, Debug)]
pub struct Customer {
    /// Its id.
    pub id: CustomerId,
    /// A small number, unique per customer and assigned at creation, so that per-customer
    /// counters (the gateway's recent-request counts) can be keyed without the id string.
    pub customer_idx: u32,
    /// Display name: inline when short (most are), so copying a customer allocates nothing for it.
    pub name: smol_str::SmolStr,
    /// The attribute class: customers with equal attributes share it, and share memoised
    /// policy outcomes. The attributes themselves are the class's
    /// ([`State::customer_attributes`]), not a pointer in each of millions of records.
    pub class_id: u32,
    /// Grants held, by model.
    pub grants: Grants,
    /// Where its API keys (revoked ones included) are in the state's key table, so listing them
    /// scans nothing; positions rather than ids, as four bytes each.
    pub key_idxs: KeyPositions,
    /// When it was created.
    pub created_at: Timestamp,
    /// Its rate limits and token budget; boxed, as most customers have none and there may be
    /// ten million customers.
    pub limits: Option<Box<crate::limits::Limits>>,
}

/// A grant with the shared name of its model.
type ModelGrant = (Arc<ModelName>, Grant);

/// A customer's grants, by model.
///
/// The first grant is held inline and any others in a short vector, rather than in a persistent
/// map: a customer holds grants for a handful of models at most, usually one, while an `imbl` map
/// allocates a whole node even for one entry (about 5 KiB with a `Grant` inline), which at ten
/// million customers was most of the snapshot's memory. Inline, the request path reads the grant
/// from the customer's own record, without another cache miss. A change copies this along with
/// its `Customer`, which is copied on write anyway.
///
/// A grant names its model through an `Arc` every grant of that model shares (8 bytes, where the
/// name inline took 24), and the further grants are behind one thin pointer (8 bytes, where a
/// boxed slice took 16): at ten million customers each byte here is ten megabytes.
///
/// INVARIANT (grant-order): `first` is the grant first issued, `rest` the others in the order
/// they were first issued; `rest` is `None` while `first` is `None`, and never an empty vector.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    first: Option<ModelGrant>,
    #[expect(clippy::box_collection, reason = "a thin pointer: 8 bytes in the record, where a Vec takes 24")]
    rest: Option<Box<Vec<ModelGrant>>>,
}

impl Grants {
    /// The grant for a model, if any.
    pub fn get(&self, model: &(impl std::borrow::Borrow<str> + ?Sized)) -> Option<&Grant> {
        let model = model.borrow();
        self.entries().find(|(name, _)| name.as_str() == model).map(|(_, grant)| grant)
    }

    /// The grant for a model, for changing it.
    pub fn get_mut(&mut self, model: &(impl std::borrow::Borrow<str> + ?Sized)) -> Option<&mut Grant> {
        let model = model.borrow();
        self.first
            .iter_mut()
            .chain(self.rest.iter_mut().flat_map(|rest| rest.iter_mut()))
            .find(|(name, _)| name.as_str() == model)
            .map(|(_, grant)| grant)
    }

    /// Sets the grant for a model, returning the one it replaces. `model` is the name the
    /// state shares between all grants of that model.
    pub fn insert(&mut self, model: Arc<ModelName>, grant: Grant) -> Option<Grant> {
        if let Some(existing) = self.get_mut(model.as_str()) {
            return Some(std::mem::replace(existing, grant));
        }
        if self.first.is_none() {
            self.first = Some((model, grant));
            return None;
        }
        self.rest.get_or_insert_default().push((model, grant));
        None
    }

    /// Grants with their models, in the order they were first issued.
    pub fn iter(&self) -> impl Iterator<Item = (&ModelName, &Grant)> {
        self.entries().map(|(model, grant)| (&**model, grant))
    }

    /// Number of models with a grant (revoked or lapsed ones included).
    pub fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.as_ref().map_or(0, |rest| rest.len())
    }

    /// Whether no grant was ever issued.
    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    fn entries(&self) -> impl Iterator<Item = &ModelGrant> {
        self.first.iter().chain(self.rest.iter().flat_map(|rest| rest.iter()))
    }
}

/// Where a customer's keys are in the state's key table, in the order they were issued.
///
/// Most customers hold one key: it is held inline, so their record points at no allocation of
/// its own; more are a boxed slice at its exact length (keys are issued rarely). 16 bytes
/// either way, the size of the boxed slice alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPositions(Positions);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Positions {
    One(u32),
    /// Never one position (that is `One`); empty for no key.
    Many(Box<[u32]>),
}

impl Default for KeyPositions {
    fn default() -> Self {
        Self(Positions::Many(Box::default()))
    }
}

impl KeyPositions {
    /// The positions, in the order the keys were issued.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        let (one, many): (Option<u32>, &[u32]) = match &self.0 {
            Positions::One(position) => (Some(*position), &[]),
            Positions::Many(positions) => (None, positions),
        };
        one.into_iter().chain(many.iter().copied())
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        match &self.0 {
            Positions::One(_) => 1,
            Positions::Many(positions) => positions.len(),
        }
    }

    /// Whether the customer holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds the position of a key just issued.
    pub fn push(&mut self, position: u32) {
        *self = self.iter().chain([position]).collect();
    }
}

impl FromIterator<u32> for KeyPositions {
    fn from_iter<I: IntoIterator<Item = u32>>(positions: I) -> Self {
        let positions: Box<[u32]> = positions.into_iter().collect();
        match *positions {
            [one] => Self(Positions::One(one)),
            _ => Self(Positions::Many(positions)),
        }
    }
}

/// The latest record filed under `hash` in `index` that `matches` (the full id or key hash: the
/// index holds 64-bit hashes only), with its position in `table`.
fn find_latest<'a, T: Clone>(
    index: &HashIndex,
    table: &'a Table<T>,
    hash: u64,
    matches: impl Fn(&T) -> bool,
) -> Option<(usize, &'a T)> {
    index.get(hash).rev().find_map(|position| {
        let position = usize::try_from(position).ok()?;
        table.get(position).filter(|record| matches(record)).map(|record| (position, record))
    })
}

/// A customer's grant for one model.
///
/// Kept small, as there may be one per customer for ten million customers: what the request path
/// reads is inline, who granted it and why is shared with the grant before it when they are the
/// same (a batch approval), and the revocation's details are boxed, as most grants have none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// When it was granted.
    pub granted_at: Timestamp,
    /// When it lapses, if time-bound.
    pub expires_at: Option<Timestamp>,
    /// When a revocation takes effect, if revoked.
    pub revoked_at: Option<Timestamp>,
    /// Who granted it, and why.
    pub origin: Arc<GrantOrigin>,
    /// The sequence number of the event that granted it.
    pub granted_seq: u64,
    /// The revocation, if any (it takes effect at `revoked_at`).
    pub revocation: Option<Box<GrantRevocation>>,
}

/// Who made a grant, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GrantOrigin {
    /// Who granted it.
    pub granted_by: Actor,
    /// Why it was granted.
    pub reason: String,
}

/// Who revoked a grant, and when.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GrantRevocation {
    /// The sequence number of the event that revoked it.
    pub seq: u64,
    /// Who revoked it.
    pub by: Actor,
    /// When the revocation was made (it takes effect at the grant's `revoked_at`).
    pub made_at: Timestamp,
}

/// An API key's record (the key itself is never kept).
///
/// Held inline in the state's key table, not behind an `Arc`: the request path reaches it from
/// the hash index with one cache miss fewer, and holds its position rather than the record.
#[derive(Clone, Debug)]
pub struct ApiKey {
    /// Public id.
    pub key_id: KeyId,
    /// Its position in the state's key table ([`State::key_at`]).
    pub key_idx: u32,
    /// The owner's `customer_idx`: the request path goes from key to customer without looking
    /// up an id, and the owner's id is read from there ([`State::key_owner`]) rather than
    /// copied into each of millions of keys (24 bytes each).
    pub customer_idx: u32,
    /// Label; shared with the key issued before it when they are the same (keys issued in a
    /// batch are usually labelled alike).
    /// A thin pointer (8 bytes where an `Arc<str>` takes 16): labels are read only when keys are
    /// listed.
    pub label: Arc<String>,
    /// Hash of the key.
    pub key_hash: SecretHash,
    /// Whether revoked.
    pub revoked: bool,
    /// The key's own limits, besides its customer's; boxed, as most keys have none.
    pub limits: Option<Box<crate::limits::Limits>>,
}

/// An official's role token record.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct OfficialToken {
    /// Public id.
    pub token_id: TokenId,
    /// The authority.
    pub authority: AuthorityId,
    /// The official.
    pub official: OfficialName,
}

/// An authority.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Authority {
    /// Its id.
    pub id: AuthorityId,
    /// Its name.
    pub name: String,
}

/// One published criteria version.
#[derive(Clone, Debug)]
pub struct Criteria {
    /// Version number.
    pub version: u32,
    /// SHA-256 of the policies.
    pub content_hash: String,
    /// Human-readable text.
    pub text: String,
    /// When published.
    pub published_at: Timestamp,
    /// The sequence number of the event that published it (its log entry is `seq - 1`).
    pub published_seq: u64,
    /// The compiled policies, or why they cannot be evaluated under the current schema (which
    /// denies every request: fail closed).
    pub compiled: Result<Arc<CompiledPolicies>, PolicyError>,
}

/// A stage change, kept for the model's history.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StageChange {
    /// When.
    pub at: Timestamp,
    /// From.
    pub from: Stage,
    /// To.
    pub to: Stage,
    /// Why.
    pub reason: String,
    /// Who.
    pub actor: Actor,
    /// How the model was cleared, when it left review.
    pub clearance: Option<crate::procedure::Clearance>,
    /// The sequence number of the event (its log entry is `seq - 1`).
    pub seq: u64,
}

/// One published criteria version as the model's history keeps it: the hash and where it is in
/// the log, not the text (the register reads an old version's text from its event).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CriteriaVersion {
    /// Version number.
    pub version: u32,
    /// SHA-256 of the policies.
    pub content_hash: String,
    /// When published.
    pub published_at: Timestamp,
    /// The sequence number of the event that published it (its log entry is `seq - 1`).
    pub published_seq: u64,
}

/// A model.
#[derive(Clone, Debug)]
pub struct Model {
    /// Public name.
    pub name: ModelName,
    /// A small number, unique per model, used in memo keys.
    pub model_idx: u32,
    /// Description.
    pub description: String,
    /// When it was registered.
    pub registered_at: Timestamp,
    /// Upstream: the first deployment's, kept for readers that know one upstream.
    pub upstream: Upstream,
    /// Deployments, tried in order; never empty. A model registered with one upstream (or
    /// given one by `upstream_set`) has it as its only deployment, named `default`.
    ///
    /// INVARIANT (first-deployment): `deployments[0].upstream == upstream`.
    pub deployments: Arc<[Deployment]>,
    /// Models to try, in order, when none of this model's deployments can serve a request.
    pub fallbacks: Arc<[ModelName]>,
    /// Current stage.
    pub stage: Stage,
    /// Stage history, oldest first.
    pub stage_history: Vec<StageChange>,
    /// The current criteria, if any were published.
    pub criteria: Option<Arc<Criteria>>,
    /// Every published version, oldest first.
    pub criteria_history: Vec<CriteriaVersion>,
    /// Directives whose scope names this model (or all models), including future and lifted
    /// ones; in-force checks happen per request against `now`.
    ///
    /// INVARIANT (directive-index): rebuilt whenever a directive is issued, lifted or changed or
    /// a model registered, so the request path never scans unrelated directives.
    pub directives: Vec<Arc<Directive>>,
    /// Who signs off on access requests, and the periods.
    pub procedure: Procedure,
    /// The pre-release review clock, once the model has entered review.
    pub review: Option<ReviewClock>,
}

/// A directive.
#[derive(Clone, Debug)]
pub struct Directive {
    /// Its id.
    pub id: DirectiveId,
    /// A small number, unique per directive, used in memo keys.
    pub directive_idx: u32,
    /// Issuer.
    pub issuer: AuthorityId,
    /// Issuing official.
    pub issued_by: Actor,
    /// Legal basis.
    pub legal_basis: String,
    /// What it orders, in words.
    pub description: String,
    /// Scope.
    pub scope: DirectiveScope,
    /// Policy text.
    pub policies: String,
    /// SHA-256 of the policy text.
    pub content_hash: String,
    /// Compiled policies; an error denies every request in scope (fail closed).
    pub compiled: Result<Arc<CompiledPolicies>, PolicyError>,
    /// When issued.
    pub issued_at: Timestamp,
    /// When effective.
    pub effective_at: Timestamp,
    /// When it lapses.
    pub expires_at: Option<Timestamp>,
    /// Emergency justification (zero notice).
    pub emergency_justification: Option<String>,
    /// Evidence.
    pub evidence: Vec<Evidence>,
    /// When lifted, and why.
    pub lifted: Option<Lifted>,
    /// The sequence number of the event that issued it (its log entry is `seq - 1`).
    pub issued_seq: u64,
    /// Customers exempted on appeal.
    pub exemptions: Vec<Exemption>,
}

/// The lifting of a directive.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Lifted {
    /// When.
    pub at: Timestamp,
    /// Why.
    pub reason: String,
    /// The sequence number of the event that lifted it.
    pub seq: u64,
}

/// Where a directive stands at a point in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirectiveStatus {
    /// Issued, not yet effective (its notice period is running).
    Scheduled,
    /// Effective and neither expired nor lifted.
    InForce,
    /// Past its expiry.
    Expired,
    /// Lifted by its issuer.
    Lifted,
}

impl DirectiveStatus {
    /// The status's name as clients see it: `scheduled`, `in_force`, `expired`, `lifted`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::InForce => "in_force",
            Self::Expired => "expired",
            Self::Lifted => "lifted",
        }
    }
}

/// A customer's exemption from a directive, allowed on appeal.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Exemption {
    /// The customer.
    pub customer: CustomerId,
    /// Until when, if limited.
    pub until: Option<Timestamp>,
    /// The appeal that allowed it.
    pub appeal: AppealId,
}

impl Directive {
    /// Whether it is in force at `now`.
    pub fn in_force(&self, now: Timestamp) -> bool {
        self.lifted.is_none() && self.effective_at <= now && self.expires_at.is_none_or(|end| now < end)
    }

    /// Where it stands at `now`; [`DirectiveStatus::InForce`] exactly when [`Directive::in_force`].
    pub fn status(&self, now: Timestamp) -> DirectiveStatus {
        if self.lifted.is_some() {
            DirectiveStatus::Lifted
        } else if self.expires_at.is_some_and(|end| end <= now) {
            DirectiveStatus::Expired
        } else if self.effective_at > now {
            DirectiveStatus::Scheduled
        } else {
            DirectiveStatus::InForce
        }
    }

    /// Whether it was issued without notice (an emergency, which carries a justification).
    pub fn is_emergency(&self) -> bool {
        self.notice_millis() <= 0
    }

    /// Whether its scope includes `model`.
    pub fn applies_to(&self, model: &ModelName) -> bool {
        match &self.scope {
            DirectiveScope::AllModels => true,
            DirectiveScope::Models { models } => models.contains(model),
        }
    }

    /// The notice period in milliseconds.
    pub fn notice_millis(&self) -> i64 {
        self.effective_at.as_millis() - self.issued_at.as_millis()
    }

    /// Whether `customer` is exempt from it at `now` (an appeal was allowed).
    pub fn exempts(&self, customer: &CustomerId, now: Timestamp) -> bool {
        self.exemptions.iter().any(|e| e.customer == *customer && e.until.is_none_or(|end| now < end))
    }
}

/// The whole governance state at one point of the event sequence.
#[derive(Clone, Debug)]
pub struct State {
    /// Sequence number of the last applied event (0 for none).
    pub last_seq: u64,
    schema: Arc<CedarSchema>,
    attester_registry: AttesterRegistry,
    /// INVARIANT (customer-position): `customers[i].customer_idx == i`; customers are never
    /// removed, so a position, once given, holds the same customer for good.
    /// Records inline, as keys are: the request path reads a customer where its table leaf holds
    /// it, one cache miss fewer than behind an `Arc` (at ten million customers the decision bench
    /// went from 2.00 to 1.74 µs, 1.57 to 1.06 µs at a million). The price is on writes: a change
    /// to a leaf a snapshot shares copies its 256 records, which is why a customer's clone
    /// allocates at most once (its key positions; ids and name are inline).
    customers: Table<Customer>,
    /// Positions in `customers`, by [`text_hash`] of the id.
    customer_ids: HashIndex,
    /// INVARIANT (key-position): `keys[i].key_idx == i`; keys are revoked, never removed.
    /// Records inline rather than behind an `Arc`: a change copies a shared leaf's 256 records
    /// (a reference count or two each), and a lookup saves a cache miss.
    keys: Table<ApiKey>,
    /// Positions in `keys`, by [`SecretHash::index_hash`], each filed with its key's customer
    /// position. INVARIANT (key-owner): the owner filed with a key's position is that key's
    /// `customer_idx` (a key never changes customer).
    key_hashes: HashIndex,
    /// Positions in `keys`, by [`text_hash`] of the public id.
    key_ids: HashIndex,
    official_tokens: imbl::HashMap<SecretHash, Arc<OfficialToken>>,
    token_ids: imbl::HashMap<TokenId, SecretHash>,
    authorities: imbl::OrdMap<AuthorityId, Arc<Authority>>,
    /// INVARIANT (class-interning): equal attribute maps (by canonical JSON) get the same class id,
    /// and a class id is never reused for other attributes; class ids are `0..` in the order
    /// the classes first appeared, and `class_attributes` holds each class's map at its id.
    classes: imbl::HashMap<Arc<str>, u32>,
    class_attributes: imbl::Vector<Arc<Attributes>>,
    models: imbl::OrdMap<ModelName, Arc<Model>>,
    directives: imbl::OrdMap<DirectiveId, Arc<Directive>>,
    applications: imbl::OrdMap<ApplicationId, Arc<Application>>,
    appeals: imbl::OrdMap<AppealId, Arc<Appeal>>,
    notices: imbl::Vector<Arc<Notice>>,
    accounts: crate::account::Accounts,
    /// The last grant's origin, handed to the next grant when the actor and reason are the same,
    /// so a batch of approvals keeps one copy of them.
    last_grant_origin: Option<Arc<GrantOrigin>>,
    /// The name every grant of a model points at (derived: rebuilt when a checkpoint is read).
    grant_models: imbl::OrdMap<ModelName, Arc<ModelName>>,
}

/// A stored event could not be applied: the store holds something this version cannot read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("event {seq} (`{kind}`) does not apply to the state: {problem}")]
pub struct ReplayError {
    /// The event's sequence number.
    pub seq: u64,
    /// The event's type.
    pub kind: &'static str,
    /// What is wrong.
    pub problem: String,
}

impl State {
    /// An empty state with a schema and the trusted attesters.
    pub fn new(schema: Arc<CedarSchema>, attesters: Vec<TrustedAttester>) -> Self {
        Self {
            last_seq: 0,
            schema,
            attester_registry: AttesterRegistry::from_config(attesters),
            customers: Table::default(),
            customer_ids: HashIndex::default(),
            keys: Table::default(),
            key_hashes: HashIndex::default(),
            key_ids: HashIndex::default(),
            official_tokens: imbl::HashMap::new(),
            token_ids: imbl::HashMap::new(),
            authorities: imbl::OrdMap::new(),
            classes: imbl::HashMap::new(),
            class_attributes: imbl::Vector::new(),
            models: imbl::OrdMap::new(),
            directives: imbl::OrdMap::new(),
            applications: imbl::OrdMap::new(),
            appeals: imbl::OrdMap::new(),
            notices: imbl::Vector::new(),
            accounts: crate::account::Accounts::default(),
            last_grant_origin: None,
            grant_models: imbl::OrdMap::new(),
        }
    }

    /// The Cedar schema.
    pub fn schema(&self) -> &CedarSchema {
        &self.schema
    }

    /// The trusted attesters, one entry per key, from the settings file and from events
    /// (revoked and expired keys included: they make a token `untrusted`).
    pub fn attesters(&self) -> &[TrustedAttester] {
        self.attester_registry.trusted()
    }

    /// The attesters with their keys and where they come from.
    pub fn attester_registry(&self) -> &AttesterRegistry {
        &self.attester_registry
    }

    /// A customer by id.
    pub fn customer(&self, id: &str) -> Option<&Customer> {
        self.customer_position(id).and_then(|position| self.customers.get(position))
    }

    /// A customer's attributes: its class's (INVARIANT class-interning: every customer's class is
    /// in the state, so the empty map is never the answer for a customer of this state).
    pub fn customer_attributes(&self, customer: &Customer) -> &Attributes {
        static NONE: std::sync::LazyLock<Attributes> = std::sync::LazyLock::new(Attributes::new);
        self.class_attributes.get(customer.class_id as usize).map_or(&*NONE, |attributes| &**attributes)
    }

    /// A customer by its `customer_idx` (what a key record points at).
    pub fn customer_at(&self, customer_idx: u32) -> Option<&Customer> {
        self.customers.get(usize::try_from(customer_idx).ok()?)
    }

    /// Number of customers.
    pub fn n_customers(&self) -> usize {
        self.customers.len()
    }

    /// Customers, in the order they were created.
    pub fn customers(&self) -> impl Iterator<Item = &Customer> {
        self.customers.iter()
    }

    /// The key record for a presented key's hash.
    pub fn key_by_hash(&self, hash: &SecretHash) -> Option<&ApiKey> {
        // The latest key filed under the hash, as a replaced map entry would have been.
        find_latest(&self.key_hashes, &self.keys, hash.index_hash(), |key| key.key_hash == *hash).map(|(_, key)| key)
    }

    /// The key record with that hash and its customer: the request path's lookup. Both records'
    /// positions come from the index entry, so the two table reads are independent and their
    /// cache misses overlap, where reading the key to find its customer would put one after the
    /// other.
    pub fn key_and_customer_by_hash(&self, hash: &SecretHash) -> Option<(&ApiKey, &Customer)> {
        self.key_hashes.get_with_owners(hash.index_hash()).rev().find_map(|(position, owner)| {
            let key = self.keys.get(usize::try_from(position).ok()?);
            let customer = self.customers.get(usize::try_from(owner).ok()?);
            let (key, customer) = (key?, customer?);
            // INVARIANT (key-owner) makes the second test true; checked all the same, as it is
            // one comparison and a mistake here would hand out another customer's grants.
            (key.key_hash == *hash && key.customer_idx == customer.customer_idx).then_some((key, customer))
        })
    }

    /// The key record by public id.
    pub fn key_by_id(&self, key_id: &str) -> Option<&ApiKey> {
        self.key_position(key_id).and_then(|position| self.keys.get(position))
    }

    /// The key record by its `key_idx`.
    pub fn key_at(&self, key_idx: u32) -> Option<&ApiKey> {
        self.keys.get(usize::try_from(key_idx).ok()?)
    }

    /// The id of the customer a key was issued to.
    pub fn key_owner(&self, key: &ApiKey) -> Option<&CustomerId> {
        self.customer_at(key.customer_idx).map(|customer| &customer.id)
    }

    /// Keys of one customer.
    pub fn keys_of<'a>(&'a self, customer: &'a str) -> impl Iterator<Item = &'a ApiKey> + 'a {
        self.customer(customer)
            .into_iter()
            .flat_map(|c| c.key_idxs.iter())
            .filter_map(|position| self.keys.get(usize::try_from(position).ok()?))
    }

    /// Where a customer is in `customers` (ids are unique: `CustomerCreated` refuses a taken one).
    fn customer_position(&self, id: &str) -> Option<usize> {
        find_latest(&self.customer_ids, &self.customers, text_hash(id), |customer| customer.id.as_str() == id)
            .map(|(position, _)| position)
    }

    /// A customer by id, for changing it (copied on write if a snapshot shares it).
    fn customer_mut(&mut self, id: &str) -> Option<&mut Customer> {
        let position = self.customer_position(id)?;
        self.customers.get_mut(position)
    }

    /// Where a key is in `keys`: the latest key with this public id, as a replaced map entry
    /// would have been.
    fn key_position(&self, key_id: &str) -> Option<usize> {
        find_latest(&self.key_ids, &self.keys, text_hash(key_id), |key| key.key_id.as_str() == key_id)
            .map(|(position, _)| position)
    }

    /// The official token record for a presented token's hash.
    pub fn official_token_by_hash(&self, hash: &SecretHash) -> Option<&Arc<OfficialToken>> {
        self.official_tokens.get(hash)
    }

    /// Whether a token id is taken.
    pub fn has_token_id(&self, token_id: &str) -> bool {
        self.token_ids.contains_key(token_id)
    }

    /// An authority by id.
    pub fn authority(&self, id: &str) -> Option<&Arc<Authority>> {
        self.authorities.get(id)
    }

    /// Authorities, by id.
    pub fn authorities(&self) -> impl Iterator<Item = &Arc<Authority>> {
        self.authorities.values()
    }

    /// A model by name.
    pub fn model(&self, name: &str) -> Option<&Arc<Model>> {
        self.models.get(name)
    }

    /// Models, by name.
    pub fn models(&self) -> impl Iterator<Item = &Arc<Model>> {
        self.models.values()
    }

    /// A directive by id.
    pub fn directive(&self, id: &str) -> Option<&Arc<Directive>> {
        self.directives.get(id)
    }

    /// Directives, by id.
    pub fn directives(&self) -> impl Iterator<Item = &Arc<Directive>> {
        self.directives.values()
    }

    /// An application by id.
    pub fn application(&self, id: &str) -> Option<&Arc<Application>> {
        self.applications.get(id)
    }

    /// Applications, by id.
    pub fn applications(&self) -> impl Iterator<Item = &Arc<Application>> {
        self.applications.values()
    }

    /// An appeal by id.
    pub fn appeal(&self, id: &str) -> Option<&Arc<Appeal>> {
        self.appeals.get(id)
    }

    /// Appeals, by id.
    pub fn appeals(&self) -> impl Iterator<Item = &Arc<Appeal>> {
        self.appeals.values()
    }

    /// Notices, oldest first.
    pub fn notices(&self) -> impl DoubleEndedIterator<Item = &Arc<Notice>> {
        self.notices.iter()
    }

    /// The portals' login accounts.
    pub fn accounts(&self) -> &crate::account::Accounts {
        &self.accounts
    }

    /// Applies a stored event. Events were validated when they were accepted, so this only fails
    /// when the store holds something inconsistent (e.g. a gap in the sequence).
    ///
    /// # Errors
    ///
    /// Returns a [`ReplayError`] naming the event and the problem.
    pub fn apply(&mut self, record: &EventRecord) -> Result<(), ReplayError> {
        let fail = |problem: String| ReplayError { seq: record.seq, kind: record.event.kind(), problem };
        if record.seq != self.last_seq + 1 {
            return Err(fail(format!("expected sequence number {}", self.last_seq + 1)));
        }
        match &record.event {
            Event::CustomerCreated { customer, name, attributes } => {
                if self.customer_position(customer.as_str()).is_some() {
                    return Err(fail(format!("customer `{customer}` already exists")));
                }
                let class_id = self.intern_class(attributes);
                // INVARIANT (customer-position): customers are never removed, so the count is
                // the next position.
                let customer_idx =
                    u32::try_from(self.customers.len()).map_err(|_| fail("too many customers".to_owned()))?;
                self.customer_ids.insert(text_hash(customer.as_str()), customer_idx);
                self.customers.push(Customer {
                    id: customer.clone(),
                    customer_idx,
                    name: name.as_str().into(),
                    class_id,
                    grants: Grants::default(),
                    key_idxs: KeyPositions::default(),
                    created_at: record.at,
                    limits: None,
                });
            }
            Event::CustomerAttributesSet { customer, attributes } => {
                let class_id = self.intern_class(attributes);
                let entry =
                    self.customer_mut(customer.as_str()).ok_or_else(|| fail(format!("no customer `{customer}`")))?;
                entry.class_id = class_id;
            }
            Event::KeyIssued { key_id, customer, label, key_hash } => {
                // INVARIANT (key-position): keys are never removed, so the count is the next position.
                let key_idx = u32::try_from(self.keys.len()).map_err(|_| fail("too many keys".to_owned()))?;
                let owner =
                    self.customer_mut(customer.as_str()).ok_or_else(|| fail(format!("no customer `{customer}`")))?;
                owner.key_idxs.push(key_idx);
                let customer_idx = owner.customer_idx;
                self.key_ids.insert(text_hash(key_id.as_str()), key_idx);
                // INVARIANT (key-owner): filed with the customer it was issued to, for good.
                self.key_hashes.insert_with_owner(key_hash.index_hash(), key_idx, customer_idx);
                let label = match self.keys.len().checked_sub(1).and_then(|last| self.keys.get(last)) {
                    Some(last) if *last.label == **label => last.label.clone(),
                    _ => Arc::new(label.clone()),
                };
                self.keys.push(ApiKey {
                    key_id: key_id.clone(),
                    key_idx,
                    customer_idx,
                    label,
                    key_hash: *key_hash,
                    revoked: false,
                    limits: None,
                });
            }
            Event::KeyRevoked { key_id, .. } => {
                let position = self.key_position(key_id.as_str()).ok_or_else(|| fail(format!("no key `{key_id}`")))?;
                if let Some(key) = self.keys.get_mut(position) {
                    key.revoked = true;
                }
            }
            Event::AuthorityRegistered { authority, name } => {
                self.authorities
                    .insert(authority.clone(), Arc::new(Authority { id: authority.clone(), name: name.clone() }));
            }
            Event::OfficialTokenIssued { token_id, authority, official, token_hash } => {
                self.token_ids.insert(token_id.clone(), *token_hash);
                self.official_tokens.insert(
                    *token_hash,
                    Arc::new(OfficialToken {
                        token_id: token_id.clone(),
                        authority: authority.clone(),
                        official: official.clone(),
                    }),
                );
            }
            Event::ModelRegistered { model, description, upstream } => {
                let model_idx = u32::try_from(self.models.len()).unwrap_or(u32::MAX);
                let directives = self.directives.values().filter(|d| d.applies_to(model)).cloned().collect();
                self.models.insert(
                    model.clone(),
                    Arc::new(Model {
                        name: model.clone(),
                        model_idx,
                        description: description.clone(),
                        registered_at: record.at,
                        upstream: upstream.clone(),
                        deployments: single_deployment(upstream),
                        fallbacks: Arc::from([]),
                        stage: Stage::Draft,
                        stage_history: Vec::new(),
                        criteria: None,
                        criteria_history: Vec::new(),
                        directives,
                        procedure: Procedure::default(),
                        review: None,
                    }),
                );
            }
            Event::UpstreamSet { model, upstream } => {
                let entry = self.models.get_mut(model).ok_or_else(|| fail(format!("no model `{model}`")))?;
                let updated = Arc::make_mut(entry);
                // INVARIANT (first-deployment): one upstream replaces every deployment.
                updated.upstream = upstream.clone();
                updated.deployments = single_deployment(upstream);
            }
            Event::StageChanged { model, from, to, reason, review_ends_at, clearance } => {
                let entry = self.models.get_mut(model).ok_or_else(|| fail(format!("no model `{model}`")))?;
                let updated = Arc::make_mut(entry);
                if let Some(ends_at) = review_ends_at {
                    updated.review =
                        Some(ReviewClock { started_at: record.at, ends_at: *ends_at, positions: Vec::new() });
                }
                updated.stage = *to;
                updated.stage_history.push(StageChange {
                    at: record.at,
                    from: *from,
                    to: *to,
                    reason: reason.clone(),
                    actor: record.actor.clone(),
                    clearance: clearance.clone(),
                    seq: record.seq,
                });
            }
            Event::CriteriaPublished { model, version, content_hash, text, policies } => {
                let compiled = CompiledPolicies::compile(&self.schema, PolicyKind::Criteria, policies).map(Arc::new);
                let entry = self.models.get_mut(model).ok_or_else(|| fail(format!("no model `{model}`")))?;
                let updated = Arc::make_mut(entry);
                updated.criteria_history.push(CriteriaVersion {
                    version: *version,
                    content_hash: content_hash.clone(),
                    published_at: record.at,
                    published_seq: record.seq,
                });
                updated.criteria = Some(Arc::new(Criteria {
                    version: *version,
                    content_hash: content_hash.clone(),
                    text: text.clone(),
                    published_at: record.at,
                    published_seq: record.seq,
                    compiled,
                }));
            }
            Event::GrantIssued { customer, model, expires_at, reason, .. } => {
                let model = self.grant_model(model);
                let origin = match &self.last_grant_origin {
                    Some(last) if last.granted_by == record.actor && last.reason == *reason => last.clone(),
                    _ => Arc::new(GrantOrigin { granted_by: record.actor.clone(), reason: reason.clone() }),
                };
                self.last_grant_origin = Some(origin.clone());
                let entry =
                    self.customer_mut(customer.as_str()).ok_or_else(|| fail(format!("no customer `{customer}`")))?;
                entry.grants.insert(
                    model,
                    Grant {
                        granted_at: record.at,
                        expires_at: *expires_at,
                        revoked_at: None,
                        origin,
                        granted_seq: record.seq,
                        revocation: None,
                    },
                );
            }
            Event::GrantRevoked { customer, model, effective_at, .. } => {
                let entry =
                    self.customer_mut(customer.as_str()).ok_or_else(|| fail(format!("no customer `{customer}`")))?;
                let grant = entry
                    .grants
                    .get_mut(model)
                    .ok_or_else(|| fail(format!("customer `{customer}` holds no grant for `{model}`")))?;
                grant.revoked_at = Some(*effective_at);
                grant.revocation =
                    Some(Box::new(GrantRevocation { seq: record.seq, by: record.actor.clone(), made_at: record.at }));
            }
            Event::DirectiveIssued {
                directive,
                issuer,
                legal_basis,
                description,
                scope,
                policies,
                content_hash,
                issued_at,
                effective_at,
                expires_at,
                emergency_justification,
                evidence,
            } => {
                let compiled = CompiledPolicies::compile(&self.schema, PolicyKind::Directive, policies).map(Arc::new);
                let directive_idx = u32::try_from(self.directives.len()).unwrap_or(u32::MAX);
                self.directives.insert(
                    directive.clone(),
                    Arc::new(Directive {
                        id: directive.clone(),
                        directive_idx,
                        issuer: issuer.clone(),
                        issued_by: record.actor.clone(),
                        legal_basis: legal_basis.clone(),
                        description: description.clone(),
                        scope: scope.clone(),
                        policies: policies.clone(),
                        content_hash: content_hash.clone(),
                        compiled,
                        issued_at: *issued_at,
                        effective_at: *effective_at,
                        expires_at: *expires_at,
                        emergency_justification: emergency_justification.clone(),
                        evidence: evidence.clone(),
                        lifted: None,
                        issued_seq: record.seq,
                        exemptions: Vec::new(),
                    }),
                );
                self.reindex_directives();
            }
            Event::DirectiveLifted { directive, reason } => {
                let entry =
                    self.directives.get_mut(directive).ok_or_else(|| fail(format!("no directive `{directive}`")))?;
                Arc::make_mut(entry).lifted = Some(Lifted { at: record.at, reason: reason.clone(), seq: record.seq });
                self.reindex_directives();
            }
            Event::DirectiveExemptionGranted { directive, customer, until, appeal } => {
                let entry =
                    self.directives.get_mut(directive).ok_or_else(|| fail(format!("no directive `{directive}`")))?;
                Arc::make_mut(entry).exemptions.push(Exemption {
                    customer: customer.clone(),
                    until: *until,
                    appeal: appeal.clone(),
                });
                self.reindex_directives();
            }
            Event::LimitsSet { customer, key_id: None, limits } => {
                let entry =
                    self.customer_mut(customer.as_str()).ok_or_else(|| fail(format!("no customer `{customer}`")))?;
                entry.limits = (!limits.is_unlimited()).then(|| Box::new(*limits));
            }
            Event::LimitsSet { key_id: Some(key_id), limits, .. } => {
                let position = self.key_position(key_id.as_str()).ok_or_else(|| fail(format!("no key `{key_id}`")))?;
                if let Some(key) = self.keys.get_mut(position) {
                    key.limits = (!limits.is_unlimited()).then(|| Box::new(*limits));
                }
            }
            Event::AttesterRegistered { .. } | Event::AttesterKeyAdded { .. } | Event::AttesterKeyRevoked { .. } => {
                self.attester_registry.apply(record).map_err(fail)?;
            }
            Event::DeploymentsSet { model, deployments } => {
                let entry = self.models.get_mut(model).ok_or_else(|| fail(format!("no model `{model}`")))?;
                let first = deployments.first().ok_or_else(|| fail(format!("no deployments for `{model}`")))?;
                let updated = Arc::make_mut(entry);
                // INVARIANT (first-deployment): the upstream follows the first deployment.
                updated.upstream = first.upstream.clone();
                updated.deployments = Arc::from(deployments.as_slice());
            }
            Event::FallbacksSet { model, fallbacks } => {
                let entry = self.models.get_mut(model).ok_or_else(|| fail(format!("no model `{model}`")))?;
                Arc::make_mut(entry).fallbacks = Arc::from(fallbacks.as_slice());
            }
            Event::AccountCreated { login, holder, password_hash } => {
                self.accounts.apply_created(login, holder, password_hash, record.at, &record.actor).map_err(fail)?;
            }
            Event::AccountDisabled { login, reason } => {
                self.accounts.apply_disabled(login, reason, record.at).map_err(fail)?;
            }
            Event::AccountPasswordChanged { login, password_hash } => {
                self.accounts.apply_password_changed(login, password_hash).map_err(fail)?;
            }
            other => self.apply_process(record, other).map_err(fail)?,
        }
        self.last_seq = record.seq;
        Ok(())
    }

    // INVARIANT (directive-index): maintained here.
    fn reindex_directives(&mut self) {
        let names: Vec<ModelName> = self.models.keys().cloned().collect();
        for name in names {
            let directives: Vec<Arc<Directive>> =
                self.directives.values().filter(|d| d.lifted.is_none() && d.applies_to(&name)).cloned().collect();
            if let Some(model) = self.models.get_mut(&name) {
                Arc::make_mut(model).directives = directives;
            }
        }
    }

    // INVARIANT (class-interning): maintained here.
    /// The name grants of `model` share, made on the first grant of it.
    fn grant_model(&mut self, model: &ModelName) -> Arc<ModelName> {
        if let Some(shared) = self.grant_models.get(model) {
            return shared.clone();
        }
        // The model's own name, so a long one's text is shared with the model's record too.
        let name = self.models.get(model).map_or_else(|| model.clone(), |known| known.name.clone());
        let shared = Arc::new(name);
        self.grant_models.insert(model.clone(), shared.clone());
        shared
    }

    fn intern_class(&mut self, attributes: &Attributes) -> u32 {
        let canonical: Arc<str> =
            Arc::from(crate::event::canonical_json(&serde_json::Value::Object(attributes.clone())));
        // Customers of one class share one attribute map: at ten million customers and a few
        // hundred classes, per-customer copies would dominate the snapshot's memory.
        if let Some(class_id) = self.classes.get(&canonical) {
            return *class_id;
        }
        let class_id = u32::try_from(self.class_attributes.len()).unwrap_or(u32::MAX);
        self.classes.insert(canonical, class_id);
        self.class_attributes.push_back(Arc::new(attributes.clone()));
        class_id
    }
}

/// A single upstream as a model's only deployment.
fn single_deployment(upstream: &Upstream) -> Arc<[Deployment]> {
    Arc::from([Deployment { name: Deployment::DEFAULT_NAME.to_owned(), upstream: upstream.clone() }])
}
