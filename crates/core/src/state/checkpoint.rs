//! The state as a checkpoint: what a gateway writes now and then so that its next start reads
//! the state instead of replaying every event (61 s of `apply` alone at ten million customers,
//! BENCHMARKS.md §2).
//!
//! Only the state's own content is here; where it is stored, and whether a checkpoint fits the
//! log it claims to have come from, is the caller's (the gateway's `checkpoint.rs`). A checkpoint
//! is only read under the schema and configured attesters it was written under: they are
//! arguments of [`State::new`], not events, and replaying under others could build another state
//! (an attribute the schema no longer declares, an attester id now configured).
//!
//! Layout, integers little-endian:
//!
//! - `FORMAT` (u32), then the setup's SHA-256 (the schema's text and the configured attesters),
//!   then the sequence number of the last event applied (u64);
//! - one JSON document (u64 length, then the bytes) with everything that does not grow with the
//!   number of customers: models, directives, applications, appeals, notices, accounts,
//!   authorities, role tokens, attesters registered through the API, attribute classes (in id
//!   order, interned again when read), and the values that records share (grant origins, key
//!   labels), written once each;
//! - the number of customers and of keys (u64 each), the keys' length in bytes (u64), the keys,
//!   then the customers, in a compact binary form read without a parser: at ten million
//!   customers these are nearly all of it. The keys come whole and first so that a second thread
//!   decodes them (and builds their two indexes) while the first decodes the customers.
//!
//! What is derived is not written but rebuilt as it is read: the three hash indexes (built at
//! once, sorted, not one insert at a time), the compiled Cedar policies (compiled again from
//! their text; a version that did not compile keeps its errors), the classes' attribute maps
//! and the records' positions.
//! Values shared between records when the state was written (a grant's origin, a key's label, a
//! grant's model name) are shared again when read, so a state read back takes the memory the
//! written one did.
//!
//! Conversions destructure each record whole, so a field added to a record and not to this file
//! is a compile error, not a field silently lost across a restart.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::index::{HashIndex, text_hash};
use super::table::Table;
use super::{
    ApiKey, Authority, Criteria, CriteriaVersion, Customer, Directive, Exemption, Grant, GrantOrigin, GrantRevocation,
    Grants, KeyPositions, Lifted, Model, OfficialToken, StageChange, State,
};
use crate::account::{Account, Accounts};
use crate::appeal::Appeal;
use crate::application::Application;
use crate::attestation::TrustedAttester;
use crate::attester::Attester;
use crate::error::PolicyError;
use crate::event::{Actor, Deployment, DirectiveScope, Upstream};
use crate::evidence::Evidence;
use crate::ids::{AuthorityId, CustomerId, DirectiveId, KeyId, ModelName, SecretHash, Timestamp, TokenId};
use crate::limits::Limits;
use crate::notice::Notice;
use crate::policy::{CedarSchema, CompiledPolicies, PolicyKind};

use crate::procedure::{Procedure, ReviewClock};
use crate::stage::Stage;

/// The layout's version. A checkpoint of another version is not read (the caller replays the
/// log instead), so a change to the layout or to what a record holds bumps it.
pub const FORMAT: u32 = 4;

/// Longest string a record may hold in a checkpoint; anything longer means the bytes are not a
/// checkpoint (ids are at most 128 bytes), and reading stops before allocating for it.
const MAX_RECORD_STRING: u32 = 1 << 20;

/// A checkpoint could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The writer or reader failed.
    #[error("state checkpoint I/O failed: {0}")]
    Io(#[from] io::Error),
    /// The bytes are not a checkpoint this version can read.
    #[error("the state checkpoint is not readable: {0}")]
    Invalid(String),
    /// It was written under another schema or other configured attesters.
    #[error("the state checkpoint was written under another schema or other configured attesters")]
    Setup,
}

fn invalid(problem: impl Into<String>) -> CheckpointError {
    CheckpointError::Invalid(problem.into())
}

impl State {
    /// Writes the state as a checkpoint (see the module's documentation for the layout).
    ///
    /// # Errors
    ///
    /// When `out` fails.
    pub fn write_checkpoint(&self, out: &mut impl Write) -> Result<(), CheckpointError> {
        let mut origins = Interner::default();
        for customer in self.customers.iter() {
            for (_, grant) in customer.grants.iter() {
                origins.intern(&grant.origin);
            }
        }
        let last_grant_origin = self.last_grant_origin.as_ref().map(|origin| origins.intern(origin));
        let mut labels = Interner::default();
        for key in self.keys.iter() {
            labels.intern(&key.label);
        }
        // Hash maps are written sorted, so one state always gives the same bytes. Classes in id
        // order: read back, interning them in that order gives each its id again.
        let mut official_tokens: Vec<(SecretHash, OfficialToken)> =
            self.official_tokens.iter().map(|(hash, token)| (*hash, (**token).clone())).collect();
        official_tokens.sort_unstable_by_key(|(hash, _)| *hash);
        let mut token_ids: Vec<(TokenId, SecretHash)> =
            self.token_ids.iter().map(|(id, hash)| (id.clone(), *hash)).collect();
        token_ids.sort_unstable();
        let shared = SharedOut {
            classes: self.class_attributes.iter().map(|attributes| &**attributes).collect(),
            origins: origins.values.iter().map(|origin| (**origin).clone()).collect(),
            labels: labels.values.iter().map(|label| label.to_string()).collect(),
            last_grant_origin,
            official_tokens,
            token_ids,
            authorities: self.authorities.values().map(|authority| (**authority).clone()).collect(),
            models: self.models.values().map(|model| ModelImage::of(model)).collect(),
            directives: self.directives.values().map(|directive| DirectiveImage::of(directive)).collect(),
            applications: self.applications.values().map(|application| (**application).clone()).collect(),
            appeals: self.appeals.values().map(|appeal| (**appeal).clone()).collect(),
            notices: self.notices.iter().map(|notice| (**notice).clone()).collect(),
            accounts: self.accounts.iter().map(|account| (**account).clone()).collect(),
            attesters: self.attester_registry.registered_attesters().cloned().collect(),
        };
        let json = serde_json::to_vec(&shared).map_err(|err| invalid(format!("writing its JSON part: {err}")))?;
        let mut w = Encoder(out);
        w.u32(FORMAT)?;
        w.0.write_all(&self.setup_digest())?;
        w.u64(self.last_seq)?;
        w.u64(json.len() as u64)?;
        w.0.write_all(&json)?;
        w.u64(self.customers.len() as u64)?;
        w.u64(self.keys.len() as u64)?;
        // The keys' length in bytes first, so a reader can hand them to a second thread whole.
        let mut counter = Counter(0);
        let mut counted = Encoder(&mut counter);
        for key in self.keys.iter() {
            counted.key(key, &labels)?;
        }
        w.u64(counter.0)?;
        for key in self.keys.iter() {
            w.key(key, &labels)?;
        }
        for customer in self.customers.iter() {
            w.customer(customer, &origins)?;
        }
        Ok(())
    }

    /// Reads a checkpoint written by [`State::write_checkpoint`] into `empty`, a state fresh from
    /// [`State::new`] with the schema and configured attesters the checkpoint was written under.
    ///
    /// # Errors
    ///
    /// When `input` fails or does not hold a checkpoint this version wrote for this setup:
    /// another format, another schema or other configured attesters ([`CheckpointError::Setup`]),
    /// a truncated or altered one, or policies that no longer compile.
    pub fn read_checkpoint(input: &mut impl Read, empty: State) -> Result<State, CheckpointError> {
        if empty.last_seq != 0 {
            return Err(invalid("it can only be read into an empty state"));
        }
        let mut r = Decoder { input, text: Vec::new() };
        let format = r.u32()?;
        if format != FORMAT {
            return Err(invalid(format!("format {format}, this version reads format {FORMAT}")));
        }
        if r.array::<32>()? != empty.setup_digest() {
            return Err(CheckpointError::Setup);
        }
        let last_seq = r.u64()?;
        let json_len = r.u64()?;
        let mut json = Vec::new();
        (&mut *r.input).take(json_len).read_to_end(&mut json)?;
        if json.len() as u64 != json_len {
            return Err(invalid("it ends inside its JSON part"));
        }
        let shared: Shared<super::Attributes> =
            serde_json::from_slice(&json).map_err(|err| invalid(format!("its JSON part: {err}")))?;
        drop(json);
        let mut state = empty;
        state.last_seq = last_seq;
        state.attester_registry = std::mem::take(&mut state.attester_registry).with_registered(shared.attesters);

        // Attribute classes, interned as replay interns them: INVARIANT (class-interning) gave
        // them ids 0, 1, … in the order written, so each must get its position back.
        for (position, attributes) in shared.classes.iter().enumerate() {
            let id = state.intern_class(attributes);
            if usize::try_from(id).ok() != Some(position) {
                return Err(invalid(format!("attribute class {position} is out of order")));
            }
        }
        let origins: Vec<Arc<GrantOrigin>> = shared.origins.into_iter().map(Arc::new).collect();
        state.last_grant_origin = match shared.last_grant_origin {
            Some(at) => Some(origins.get(at as usize).cloned().ok_or_else(|| invalid("no such grant origin"))?),
            None => None,
        };
        let labels: Vec<Arc<String>> = shared.labels.into_iter().map(Arc::new).collect();
        state.official_tokens =
            shared.official_tokens.into_iter().map(|(hash, token)| (hash, Arc::new(token))).collect();
        state.token_ids = shared.token_ids.into_iter().collect();
        state.authorities =
            shared.authorities.into_iter().map(|authority| (authority.id.clone(), Arc::new(authority))).collect();
        for image in shared.directives {
            let directive = image.into_directive(&state.schema)?;
            state.directives.insert(directive.id.clone(), Arc::new(directive));
        }
        for image in shared.models {
            let model = image.into_model(&state.schema, &state.directives)?;
            state.models.insert(model.name.clone(), Arc::new(model));
        }
        state.applications = shared
            .applications
            .into_iter()
            .map(|application| (application.id.clone(), Arc::new(application)))
            .collect();
        state.appeals = shared.appeals.into_iter().map(|appeal| (appeal.id.clone(), Arc::new(appeal))).collect();
        state.notices = shared.notices.into_iter().map(Arc::new).collect();
        state.accounts = Accounts::from_records(shared.accounts);

        let n_customers = r.count("customers")?;
        let n_keys = r.count("keys")?;
        let keys_len = r.u64()?;
        // Two threads: the keys (records and two indexes) are decoded on a second one, from the
        // bytes this one hands it, while this one decodes the customers (records and one index).
        let (customers, keys) = std::thread::scope(|scope| {
            // Unbounded: this thread must get past the keys to reach the customers, so it hands
            // them all over at once (a few hundred MB at ten million keys, freed as the other
            // thread goes) rather than wait for each chunk to be decoded.
            let (chunks, received) = std::sync::mpsc::channel::<Vec<u8>>();
            let labels = &labels;
            let keys = scope.spawn(move || {
                let mut input = ChunkReader { chunks: received, chunk: io::Cursor::default() };
                let mut r = Decoder { input: &mut input, text: Vec::new() };
                let read = read_keys(&mut r, n_keys, n_customers, labels);
                // All of the keys' bytes, and no more.
                match (read, r.input.read(&mut [0_u8; 1])) {
                    (Ok(keys), Ok(0)) => Ok(keys),
                    (Ok(_), Ok(_)) => Err(invalid("bytes follow its last key")),
                    (Err(err), _) => Err(err),
                    (Ok(_), Err(err)) => Err(CheckpointError::Io(err)),
                }
            });
            let mut left = keys_len;
            let handed = loop {
                if left == 0 {
                    break Ok(());
                }
                let mut chunk = Vec::new();
                if let Err(err) = (&mut *r.input).take(left.min(1 << 20)).read_to_end(&mut chunk) {
                    break Err(CheckpointError::Io(err));
                }
                if chunk.is_empty() {
                    break Err(invalid("it ends inside its keys"));
                }
                left -= chunk.len() as u64;
                // The key thread stopped on an error: its error is the one that explains.
                if chunks.send(chunk).is_err() {
                    break Ok(());
                }
            };
            drop(chunks);
            let customers = handed.and_then(|()| read_customers(&mut r, n_customers, &origins, &mut state));
            let keys = keys.join().unwrap_or_else(|_| Err(invalid("the key reader panicked")));
            (customers, keys)
        });
        // The keys' error first: a key reader that stopped also cuts the customers short.
        let (key_table, key_ids, key_hashes) = keys?;
        let (customer_table, customer_ids) = customers?;
        state.customers = customer_table;
        state.customer_ids = customer_ids;
        state.keys = key_table;
        state.key_ids = key_ids;
        state.key_hashes = key_hashes;
        let mut trailing = [0_u8; 1];
        if r.input.read(&mut trailing)? != 0 {
            return Err(invalid("bytes follow its last customer"));
        }
        Ok(state)
    }
}

impl State {
    /// SHA-256 of what [`State::new`] was given: the schema's text and the configured attesters
    /// (their keys as the settings file gave them, before any event).
    fn setup_digest(&self) -> [u8; 32] {
        use sha2::Digest as _;
        let mut hasher = sha2::Sha256::new();
        let schema = self.schema.text();
        hasher.update((schema.len() as u64).to_le_bytes());
        hasher.update(schema.as_bytes());
        for attester in self.attester_registry.configured_keys() {
            let TrustedAttester { id, key, not_after, revoked } = attester;
            hasher.update((id.as_str().len() as u64).to_le_bytes());
            hasher.update(id.as_str().as_bytes());
            hasher.update(key.as_bytes());
            hasher.update(not_after.map_or(i64::MIN, Timestamp::as_millis).to_le_bytes());
            hasher.update([u8::from(revoked)]);
        }
        hasher.finalize().into()
    }
}

/// The customers, with their index.
fn read_customers<R: Read>(
    r: &mut Decoder<'_, R>,
    n_customers: usize,
    origins: &[Arc<GrantOrigin>],
    state: &mut State,
) -> Result<(Table<Customer>, HashIndex), CheckpointError> {
    let mut customers = Table::default();
    let mut ids = Vec::with_capacity(n_customers.min(1 << 24));
    for position in 0..n_customers {
        let customer_idx = u32::try_from(position).map_err(|_| invalid("too many customers"))?;
        let customer = r.customer(customer_idx, origins, state)?;
        ids.push((text_hash(customer.id.as_str()), customer_idx, 0));
        customers.push(customer);
    }
    Ok((customers, HashIndex::from_entries(ids)))
}

/// The keys, with their two indexes.
fn read_keys<R: Read>(
    r: &mut Decoder<'_, R>,
    n_keys: usize,
    n_customers: usize,
    labels: &[Arc<String>],
) -> Result<(Table<ApiKey>, HashIndex, HashIndex), CheckpointError> {
    let mut keys = Table::default();
    let mut ids = Vec::with_capacity(n_keys.min(1 << 24));
    let mut hashes = Vec::with_capacity(n_keys.min(1 << 24));
    for position in 0..n_keys {
        let key_idx = u32::try_from(position).map_err(|_| invalid("too many keys"))?;
        let key = r.key(key_idx, n_customers, labels)?;
        ids.push((text_hash(key.key_id.as_str()), key_idx, 0));
        // INVARIANT (key-owner): filed with its customer.
        hashes.push((key.key_hash.index_hash(), key_idx, key.customer_idx));
        keys.push(key);
    }
    Ok((keys, HashIndex::from_entries(ids), HashIndex::from_entries(hashes)))
}

/// The bytes another thread hands over in chunks, as a reader (it ends when the sender is gone).
struct ChunkReader {
    chunks: std::sync::mpsc::Receiver<Vec<u8>>,
    chunk: io::Cursor<Vec<u8>>,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.chunk.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            match self.chunks.recv() {
                Ok(chunk) => self.chunk = io::Cursor::new(chunk),
                Err(_) => return Ok(0),
            }
        }
    }
}

/// A writer that only counts (the keys' length, written before them).
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Values shared between records by pointer, numbered in the order first met.
struct Interner<T: ?Sized> {
    values: Vec<Arc<T>>,
    numbers: HashMap<*const (), u32>,
}

impl<T: ?Sized> Default for Interner<T> {
    fn default() -> Self {
        Self { values: Vec::new(), numbers: HashMap::new() }
    }
}

impl<T: ?Sized> Interner<T> {
    /// The value's number: two records that shared it share the number.
    fn intern(&mut self, value: &Arc<T>) -> u32 {
        let next = u32::try_from(self.values.len()).unwrap_or(u32::MAX);
        *self.numbers.entry(Arc::as_ptr(value).cast::<()>()).or_insert_with(|| {
            self.values.push(value.clone());
            next
        })
    }

    fn number(&self, value: &Arc<T>) -> u32 {
        // Every value was interned before the records are written.
        self.numbers.get(&Arc::as_ptr(value).cast::<()>()).copied().unwrap_or(u32::MAX)
    }
}

/// Everything but the customers and keys; `C` is an attribute class (borrowed when written).
#[derive(Serialize, Deserialize)]
struct Shared<C> {
    /// Attribute classes, in id order.
    classes: Vec<C>,
    origins: Vec<GrantOrigin>,
    labels: Vec<String>,
    last_grant_origin: Option<u32>,
    official_tokens: Vec<(SecretHash, OfficialToken)>,
    token_ids: Vec<(TokenId, SecretHash)>,
    authorities: Vec<Authority>,
    models: Vec<ModelImage>,
    directives: Vec<DirectiveImage>,
    applications: Vec<Application>,
    appeals: Vec<Appeal>,
    notices: Vec<Notice>,
    accounts: Vec<Account>,
    /// Registered through the API; the configured ones come from the settings file.
    attesters: Vec<Attester>,
}

/// [`Shared`] as written, borrowing the classes' attribute maps.
type SharedOut<'s> = Shared<&'s super::Attributes>;

/// Compiled policies as written: their text, compiled again when read, or the errors that kept
/// them from compiling (they deny every request in scope, so they are kept as they were).
#[derive(Serialize, Deserialize)]
enum CompiledImage {
    Policies(String),
    Errors(PolicyError),
}

impl CompiledImage {
    fn of(compiled: &Result<Arc<CompiledPolicies>, PolicyError>) -> Self {
        match compiled {
            Ok(policies) => Self::Policies(policies.text().to_owned()),
            Err(errors) => Self::Errors(errors.clone()),
        }
    }

    fn compile(
        self,
        schema: &CedarSchema,
        kind: PolicyKind,
    ) -> Result<Result<Arc<CompiledPolicies>, PolicyError>, CheckpointError> {
        match self {
            Self::Policies(text) => CompiledPolicies::compile(schema, kind, &text)
                .map(|policies| Ok(Arc::new(policies)))
                .map_err(|errors| invalid(format!("policies that compiled no longer do: {errors}"))),
            Self::Errors(errors) => Ok(Err(errors)),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct CriteriaImage {
    version: u32,
    content_hash: String,
    text: String,
    published_at: Timestamp,
    published_seq: u64,
    compiled: CompiledImage,
}

#[derive(Serialize, Deserialize)]
struct ModelImage {
    name: ModelName,
    model_idx: u32,
    description: String,
    registered_at: Timestamp,
    upstream: Upstream,
    deployments: Vec<Deployment>,
    fallbacks: Vec<ModelName>,
    stage: Stage,
    stage_history: Vec<StageChange>,
    criteria: Option<CriteriaImage>,
    criteria_history: Vec<CriteriaVersion>,
    /// By id: the directives themselves are the state's, shared.
    directives: Vec<DirectiveId>,
    procedure: Procedure,
    review: Option<ReviewClock>,
}

impl ModelImage {
    fn of(model: &Model) -> Self {
        let Model {
            name,
            model_idx,
            description,
            registered_at,
            upstream,
            deployments,
            fallbacks,
            stage,
            stage_history,
            criteria,
            criteria_history,
            directives,
            procedure,
            review,
        } = model;
        Self {
            name: name.clone(),
            model_idx: *model_idx,
            description: description.clone(),
            registered_at: *registered_at,
            upstream: upstream.clone(),
            deployments: deployments.to_vec(),
            fallbacks: fallbacks.to_vec(),
            stage: *stage,
            stage_history: stage_history.clone(),
            criteria: criteria.as_deref().map(|criteria| {
                let Criteria { version, content_hash, text, published_at, published_seq, compiled } = criteria;
                CriteriaImage {
                    version: *version,
                    content_hash: content_hash.clone(),
                    text: text.clone(),
                    published_at: *published_at,
                    published_seq: *published_seq,
                    compiled: CompiledImage::of(compiled),
                }
            }),
            criteria_history: criteria_history.clone(),
            directives: directives.iter().map(|directive| directive.id.clone()).collect(),
            procedure: procedure.clone(),
            review: review.clone(),
        }
    }

    fn into_model(
        self,
        schema: &CedarSchema,
        all: &imbl::OrdMap<DirectiveId, Arc<Directive>>,
    ) -> Result<Model, CheckpointError> {
        let Self {
            name,
            model_idx,
            description,
            registered_at,
            upstream,
            deployments,
            fallbacks,
            stage,
            stage_history,
            criteria,
            criteria_history,
            directives,
            procedure,
            review,
        } = self;
        let criteria = match criteria {
            Some(CriteriaImage { version, content_hash, text, published_at, published_seq, compiled }) => {
                Some(Arc::new(Criteria {
                    version,
                    content_hash,
                    text,
                    published_at,
                    published_seq,
                    compiled: compiled.compile(schema, PolicyKind::Criteria)?,
                }))
            }
            None => None,
        };
        let directives = directives
            .iter()
            .map(|id| all.get(id).cloned().ok_or_else(|| invalid(format!("model `{name}` names no directive `{id}`"))))
            .collect::<Result<_, _>>()?;
        if deployments.is_empty() {
            return Err(invalid(format!("model `{name}` has no deployments")));
        }
        Ok(Model {
            name,
            model_idx,
            description,
            registered_at,
            upstream,
            deployments: Arc::from(deployments),
            fallbacks: Arc::from(fallbacks),
            stage,
            stage_history,
            criteria,
            criteria_history,
            directives,
            procedure,
            review,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct DirectiveImage {
    id: DirectiveId,
    directive_idx: u32,
    issuer: AuthorityId,
    issued_by: Actor,
    legal_basis: String,
    description: String,
    scope: DirectiveScope,
    policies: String,
    content_hash: String,
    compiled: CompiledImage,
    issued_at: Timestamp,
    effective_at: Timestamp,
    expires_at: Option<Timestamp>,
    emergency_justification: Option<String>,
    evidence: Vec<Evidence>,
    lifted: Option<Lifted>,
    issued_seq: u64,
    exemptions: Vec<Exemption>,
}

impl DirectiveImage {
    fn of(directive: &Directive) -> Self {
        let Directive {
            id,
            directive_idx,
            issuer,
            issued_by,
            legal_basis,
            description,
            scope,
            policies,
            content_hash,
            compiled,
            issued_at,
            effective_at,
            expires_at,
            emergency_justification,
            evidence,
            lifted,
            issued_seq,
            exemptions,
        } = directive;
        Self {
            id: id.clone(),
            directive_idx: *directive_idx,
            issuer: issuer.clone(),
            issued_by: issued_by.clone(),
            legal_basis: legal_basis.clone(),
            description: description.clone(),
            scope: scope.clone(),
            policies: policies.clone(),
            content_hash: content_hash.clone(),
            compiled: CompiledImage::of(compiled),
            issued_at: *issued_at,
            effective_at: *effective_at,
            expires_at: *expires_at,
            emergency_justification: emergency_justification.clone(),
            evidence: evidence.clone(),
            lifted: lifted.clone(),
            issued_seq: *issued_seq,
            exemptions: exemptions.clone(),
        }
    }

    fn into_directive(self, schema: &CedarSchema) -> Result<Directive, CheckpointError> {
        let Self {
            id,
            directive_idx,
            issuer,
            issued_by,
            legal_basis,
            description,
            scope,
            policies,
            content_hash,
            compiled,
            issued_at,
            effective_at,
            expires_at,
            emergency_justification,
            evidence,
            lifted,
            issued_seq,
            exemptions,
        } = self;
        Ok(Directive {
            id,
            directive_idx,
            issuer,
            issued_by,
            legal_basis,
            description,
            scope,
            policies,
            content_hash,
            compiled: compiled.compile(schema, PolicyKind::Directive)?,
            issued_at,
            effective_at,
            expires_at,
            emergency_justification,
            evidence,
            lifted,
            issued_seq,
            exemptions,
        })
    }
}

/// Writes the binary part.
struct Encoder<'w, W: Write>(&'w mut W);

impl<W: Write> Encoder<'_, W> {
    fn u8(&mut self, value: u8) -> io::Result<()> {
        self.0.write_all(&[value])
    }

    fn u32(&mut self, value: u32) -> io::Result<()> {
        self.0.write_all(&value.to_le_bytes())
    }

    fn u64(&mut self, value: u64) -> io::Result<()> {
        self.0.write_all(&value.to_le_bytes())
    }

    fn time(&mut self, value: Timestamp) -> io::Result<()> {
        self.0.write_all(&value.as_millis().to_le_bytes())
    }

    fn optional_time(&mut self, value: Option<Timestamp>) -> io::Result<()> {
        match value {
            Some(at) => {
                self.u8(1)?;
                self.time(at)
            }
            None => self.u8(0),
        }
    }

    fn text(&mut self, value: &str) -> io::Result<()> {
        let len = u32::try_from(value.len()).map_err(|_| io::Error::other("a string of 4 GiB or more"))?;
        self.u32(len)?;
        self.0.write_all(value.as_bytes())
    }

    /// A rare, irregular value (limits, who revoked a grant) as JSON text.
    fn json(&mut self, value: &impl Serialize) -> io::Result<()> {
        let text = serde_json::to_string(value).map_err(io::Error::other)?;
        self.text(&text)
    }

    fn limits(&mut self, limits: Option<&Limits>) -> io::Result<()> {
        match limits {
            Some(limits) => {
                self.u8(1)?;
                self.json(limits)
            }
            None => self.u8(0),
        }
    }

    fn customer(&mut self, customer: &Customer, origins: &Interner<GrantOrigin>) -> io::Result<()> {
        // Position, attribute map: rebuilt from the record's place and class.
        let Customer { id, customer_idx: _, name, class_id, grants, key_idxs, created_at, limits } = customer;
        self.text(id.as_str())?;
        self.text(name)?;
        self.u32(*class_id)?;
        self.time(*created_at)?;
        self.limits(limits.as_deref())?;
        self.u32(u32::try_from(grants.len()).unwrap_or(u32::MAX))?;
        for (model, grant) in grants.iter() {
            let Grant { granted_at, expires_at, revoked_at, origin, granted_seq, revocation } = grant;
            self.text(model.as_str())?;
            self.time(*granted_at)?;
            self.optional_time(*expires_at)?;
            self.optional_time(*revoked_at)?;
            self.u32(origins.number(origin))?;
            self.u64(*granted_seq)?;
            match revocation.as_deref() {
                Some(GrantRevocation { seq, by, made_at }) => {
                    self.u8(1)?;
                    self.u64(*seq)?;
                    self.json(by)?;
                    self.time(*made_at)?;
                }
                None => self.u8(0)?,
            }
        }
        self.u32(u32::try_from(key_idxs.len()).unwrap_or(u32::MAX))?;
        for key_idx in key_idxs.iter() {
            self.u32(key_idx)?;
        }
        Ok(())
    }

    fn key(&mut self, key: &ApiKey, labels: &Interner<String>) -> io::Result<()> {
        // Position: rebuilt from the record's place. The owner is its position only, so the keys
        // can be read while the customers are.
        let ApiKey { key_id, key_idx: _, customer_idx, label, key_hash, revoked, limits } = key;
        self.text(key_id.as_str())?;
        self.u32(*customer_idx)?;
        self.u32(labels.number(label))?;
        self.0.write_all(key_hash.as_bytes())?;
        self.u8(u8::from(*revoked))?;
        self.limits(limits.as_deref())
    }
}

/// Fills `buf` from `input`; the input ending first is the checkpoint's fault, named by `inside`.
fn fill(input: &mut impl Read, buf: &mut [u8], inside: &str) -> Result<(), CheckpointError> {
    input.read_exact(buf).map_err(|err| match err.kind() {
        io::ErrorKind::UnexpectedEof => invalid(format!("it ends inside {inside}")),
        _ => CheckpointError::Io(err),
    })
}

/// Reads the binary part. `text` is a buffer reused for every string, so an id short enough to
/// sit inline in its record costs no allocation on the way.
struct Decoder<'r, R: Read> {
    input: &'r mut R,
    text: Vec<u8>,
}

impl<R: Read> Decoder<'_, R> {
    fn array<const N: usize>(&mut self) -> Result<[u8; N], CheckpointError> {
        let mut bytes = [0_u8; N];
        fill(self.input, &mut bytes, "a record")?;
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8, CheckpointError> {
        let [byte] = self.array::<1>()?;
        Ok(byte)
    }

    fn flag(&mut self) -> Result<bool, CheckpointError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(invalid(format!("{other} where a flag belongs"))),
        }
    }

    fn u32(&mut self) -> Result<u32, CheckpointError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, CheckpointError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn count(&mut self, what: &str) -> Result<usize, CheckpointError> {
        let count = self.u64()?;
        usize::try_from(count)
            .ok()
            .filter(|n| *n <= u32::MAX as usize)
            .ok_or_else(|| invalid(format!("{count} {what}")))
    }

    fn time(&mut self) -> Result<Timestamp, CheckpointError> {
        Ok(Timestamp::from_millis(i64::from_le_bytes(self.array()?)))
    }

    fn optional_time(&mut self) -> Result<Option<Timestamp>, CheckpointError> {
        Ok(if self.flag()? { Some(self.time()?) } else { None })
    }

    /// The next string, in the reused buffer.
    fn text(&mut self) -> Result<&str, CheckpointError> {
        let len = self.u32()?;
        if len > MAX_RECORD_STRING {
            return Err(invalid(format!("a string of {len} bytes")));
        }
        self.text.resize(len as usize, 0);
        fill(self.input, &mut self.text, "a string")?;
        std::str::from_utf8(&self.text).map_err(|_| invalid("a string that is not UTF-8"))
    }

    fn json<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, CheckpointError> {
        serde_json::from_str(self.text()?).map_err(|err| invalid(format!("a record's JSON: {err}")))
    }

    fn limits(&mut self) -> Result<Option<Box<Limits>>, CheckpointError> {
        Ok(if self.flag()? { Some(Box::new(self.json()?)) } else { None })
    }

    fn customer(
        &mut self,
        customer_idx: u32,
        origins: &[Arc<GrantOrigin>],
        state: &mut State,
    ) -> Result<Customer, CheckpointError> {
        let id = CustomerId::parse(self.text()?).map_err(|err| invalid(err.to_string()))?;
        let name = smol_str::SmolStr::new(self.text()?);
        let class_id = self.u32()?;
        if class_id as usize >= state.class_attributes.len() {
            return Err(invalid(format!("customer `{id}` is of no known attribute class")));
        }
        let created_at = self.time()?;
        let limits = self.limits()?;
        let mut grants = Grants::default();
        for _ in 0..self.u32()? {
            // The name its grants share, through the interner replay uses (`State::grant_model`);
            // looked up by the text first, so a model seen before costs no parse.
            let model = match state.grant_models.get(self.text()?) {
                Some(shared) => shared.clone(),
                None => {
                    state.grant_model(&ModelName::parse(self.text_again()?).map_err(|err| invalid(err.to_string()))?)
                }
            };
            let granted_at = self.time()?;
            let expires_at = self.optional_time()?;
            let revoked_at = self.optional_time()?;
            let origin = self.u32()?;
            let origin = origins.get(origin as usize).cloned().ok_or_else(|| invalid("no such grant origin"))?;
            let granted_seq = self.u64()?;
            let revocation = if self.flag()? {
                let seq = self.u64()?;
                let by = self.json()?;
                let made_at = self.time()?;
                Some(Box::new(GrantRevocation { seq, by, made_at }))
            } else {
                None
            };
            grants.insert(model, Grant { granted_at, expires_at, revoked_at, origin, granted_seq, revocation });
        }
        let n_keys = self.u32()?;
        let key_idxs = (0..n_keys).map(|_| self.u32()).collect::<Result<KeyPositions, _>>()?;
        Ok(Customer { id, customer_idx, name, class_id, grants, key_idxs, created_at, limits })
    }

    /// The string just read, again (after a lookup by it found nothing).
    fn text_again(&self) -> Result<&str, CheckpointError> {
        std::str::from_utf8(&self.text).map_err(|_| invalid("a string that is not UTF-8"))
    }

    fn key(&mut self, key_idx: u32, n_customers: usize, labels: &[Arc<String>]) -> Result<ApiKey, CheckpointError> {
        let key_id = KeyId::parse(self.text()?).map_err(|err| invalid(err.to_string()))?;
        let customer_idx = self.u32()?;
        if customer_idx as usize >= n_customers {
            return Err(invalid(format!("key `{key_id}` belongs to no customer")));
        }
        let label = labels.get(self.u32()? as usize).cloned().ok_or_else(|| invalid("no such key label"))?;
        let key_hash = SecretHash::from_bytes(self.array()?);
        let revoked = self.flag()?;
        let limits = self.limits()?;
        Ok(ApiKey { key_id, key_idx, customer_idx, label, key_hash, revoked, limits })
    }
}
