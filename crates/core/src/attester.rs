//! Trusted attesters: the identity verifiers whose end-user attestations the gate accepts, their
//! Ed25519 keys, and the commands that manage them through the API.
//!
//! Two sources feed the [`AttesterRegistry`]:
//!
//! - The settings file (`[[attesters]]`) is a bootstrap. Its entries are given to
//!   [`crate::State::new`]; an id listed several times has several keys, named `config-1`,
//!   `config-2`, … in the order they appear. They change only when the file does.
//! - The admin API, as events ([`Event::AttesterRegistered`], [`Event::AttesterKeyAdded`],
//!   [`Event::AttesterKeyRevoked`]). Only the provider may change them: whom to trust for facts
//!   about end users is the operator's call, not an authority's or a customer's.
//!
//! On an id clash the settings file wins: registering an id that is configured is refused, and
//! the API cannot add or revoke keys of a configured attester. If an id registered through the
//! API is added to the settings file later, the gateway still starts (a refusal would make the
//! event log unreadable) and trusts both sets of keys, each managed where it came from.
//!
//! [`AttesterRegistry::trusted`] flattens both sources into one [`TrustedAttester`] per key,
//! revoked and expired keys included, which is what [`crate::attestation::verify`] reads: the
//! request path needs nothing new. A revocation takes effect on the next request because each
//! event produces a new snapshot whose caches start empty; a key's `not_after` is checked again on
//! every request, so a cached verification does not outlive its key.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::attestation::TrustedAttester;
use crate::command::{CommandError, check_text};
use crate::error::InvalidValueError;
use crate::event::{Event, EventRecord};
use crate::ids::{AttesterId, AttesterKeyId, Timestamp};

/// The most keys one attester may have, revoked and expired ones included.
///
/// On a cache miss a token is checked against each key of its issuer in turn (no `kid` is
/// required), so this bounds the work an unverifiable token costs; keys are rotated rarely, so
/// the bound is far above what an attester needs.
pub const MAX_KEYS_PER_ATTESTER: usize = 32;

/// Key ids starting with this name keys from the settings file; the API refuses them.
pub const CONFIG_KEY_PREFIX: &str = "config-";

/// An attester's Ed25519 public key, parsed once.
///
/// Accepted as 32 bytes in base64, standard or URL-safe, padded or not (the settings file's
/// form); written as unpadded base64url.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AttesterPublicKey(VerifyingKey);

impl AttesterPublicKey {
    /// Parses a public key.
    ///
    /// # Errors
    ///
    /// Returns an error naming the problem: not base64, not 32 bytes, not a point of the curve,
    /// or a small-order point (which would verify signatures nobody made).
    pub fn parse(text: &str) -> Result<Self, InvalidValueError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(InvalidValueError::new("public key is empty".to_owned()));
        }
        let bytes = [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .ok_or_else(|| {
                InvalidValueError::new(format!(
                    "public key `{}` is not base64 (standard or URL-safe)",
                    text.chars().take(64).collect::<String>()
                ))
            })?;
        let array: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            InvalidValueError::new(format!("public key is {} bytes; an Ed25519 public key is 32 bytes", bytes.len()))
        })?;
        let key = VerifyingKey::from_bytes(&array)
            .map_err(|_| InvalidValueError::new("public key is not a valid Ed25519 point".to_owned()))?;
        if key.is_weak() {
            return Err(InvalidValueError::new(
                "public key is a small-order Ed25519 point, which no real key is".to_owned(),
            ));
        }
        Ok(Self(key))
    }

    /// The key, for verifying signatures.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.0
    }

    /// Unpadded base64url of the 32 bytes.
    pub fn to_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.as_bytes())
    }
}

impl TryFrom<String> for AttesterPublicKey {
    type Error = InvalidValueError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<AttesterPublicKey> for String {
    fn from(key: AttesterPublicKey) -> String {
        key.to_base64url()
    }
}

impl fmt::Display for AttesterPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64url())
    }
}

impl fmt::Debug for AttesterPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AttesterPublicKey({})", self.to_base64url())
    }
}

/// A key to add to an attester.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAttesterKey {
    /// Its id, unique within the attester; must not start with [`CONFIG_KEY_PREFIX`].
    pub key_id: AttesterKeyId,
    /// The public key.
    pub public_key: AttesterPublicKey,
    /// Tokens are refused from this time on, if set; must be in the future.
    pub not_after: Option<Timestamp>,
}

/// Where an attester comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum AttesterSource {
    /// The settings file; changed by editing it.
    Config,
    /// The admin API; changed by events.
    Api,
}

impl AttesterSource {
    /// `config` or `api`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Api => "api",
        }
    }
}

/// An attester as the state knows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Attester {
    /// Its id, the `iss` of its tokens.
    pub id: AttesterId,
    /// Its display name (`None` for attesters from the settings file, which have none).
    pub name: Option<String>,
    /// Where it comes from.
    pub source: AttesterSource,
    /// When it was registered (`None` for the settings file).
    pub registered_at: Option<Timestamp>,
    /// Its keys, in the order they were added, revoked ones included.
    pub keys: Vec<AttesterKey>,
}

/// One key of an attester.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AttesterKey {
    /// Its id, unique within the attester.
    pub key_id: AttesterKeyId,
    /// The public key.
    pub public_key: AttesterPublicKey,
    /// Tokens are refused from this time on, if set.
    pub not_after: Option<Timestamp>,
    /// When it was added (`None` for the settings file).
    pub added_at: Option<Timestamp>,
    /// Its revocation, if revoked.
    pub revoked: Option<KeyRevocation>,
}

/// When and why a key was revoked.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyRevocation {
    /// When.
    pub at: Timestamp,
    /// Why.
    pub reason: String,
}

impl AttesterKey {
    /// Whether tokens signed with this key are accepted at `now`.
    pub fn usable_at(&self, now: Timestamp) -> bool {
        self.revoked.is_none() && self.not_after.is_none_or(|not_after| now < not_after)
    }
}

/// Every attester, from the settings file and from events, with the flattened key list the
/// request path reads.
#[derive(Clone, Debug, Default)]
pub struct AttesterRegistry {
    configured: imbl::OrdMap<AttesterId, Arc<Attester>>,
    registered: imbl::OrdMap<AttesterId, Arc<Attester>>,
    /// INVARIANT (trusted-union): one entry per key of `configured` and `registered`, revoked and
    /// expired keys included; rebuilt whenever either changes.
    trusted: Arc<[TrustedAttester]>,
}

impl AttesterRegistry {
    /// The registry for the attesters of the settings file, before any event.
    pub fn from_config(attesters: Vec<TrustedAttester>) -> Self {
        let mut configured: imbl::OrdMap<AttesterId, Arc<Attester>> = imbl::OrdMap::new();
        for entry in attesters {
            let attester = configured.entry(entry.id.clone()).or_insert_with(|| {
                Arc::new(Attester {
                    id: entry.id.clone(),
                    name: None,
                    source: AttesterSource::Config,
                    registered_at: None,
                    keys: Vec::new(),
                })
            });
            let attester = Arc::make_mut(attester);
            let key_id = AttesterKeyId::parse(&format!("{CONFIG_KEY_PREFIX}{}", attester.keys.len() + 1));
            // A number appended to a fixed prefix is always a valid id; skipping the impossible
            // failure keeps this infallible.
            if let Ok(key_id) = key_id {
                attester.keys.push(AttesterKey {
                    key_id,
                    public_key: AttesterPublicKey(entry.key),
                    not_after: entry.not_after,
                    added_at: None,
                    revoked: entry.revoked.then(|| KeyRevocation {
                        at: Timestamp::from_millis(0),
                        reason: "revoked before start-up".to_owned(),
                    }),
                });
            }
        }
        let mut registry = Self { configured, registered: imbl::OrdMap::new(), trusted: Arc::from([]) };
        registry.rebuild_trusted();
        registry
    }

    /// The attesters registered through the API, by id (what a state checkpoint keeps: the
    /// configured ones come from the settings file).
    pub(crate) fn registered_attesters(&self) -> impl Iterator<Item = &Attester> {
        self.registered.values().map(|attester| &**attester)
    }

    /// This registry with `attesters` registered through the API (read from a state checkpoint).
    pub(crate) fn with_registered(mut self, attesters: impl IntoIterator<Item = Attester>) -> Self {
        self.registered = attesters.into_iter().map(|attester| (attester.id.clone(), Arc::new(attester))).collect();
        self.rebuild_trusted();
        self
    }

    /// One entry per key, revoked and expired ones included, for [`crate::attestation::verify`].
    pub fn trusted(&self) -> &[TrustedAttester] {
        &self.trusted
    }

    /// An attester from the settings file.
    pub fn configured(&self, id: &str) -> Option<&Arc<Attester>> {
        self.configured.get(id)
    }

    /// An attester registered through the API.
    pub fn registered(&self, id: &str) -> Option<&Arc<Attester>> {
        self.registered.get(id)
    }

    /// Every attester: those of the settings file by id, then those registered through the API by
    /// id. An id in both (the file was edited after the registration) appears twice.
    pub fn attesters(&self) -> impl Iterator<Item = &Arc<Attester>> {
        self.configured.values().chain(self.registered.values())
    }

    /// Applies one of the attester events; other events are ignored.
    ///
    /// # Errors
    ///
    /// Returns the problem when the event does not fit the registry (the store holds something
    /// this version did not write).
    pub(crate) fn apply(&mut self, record: &EventRecord) -> Result<(), String> {
        match &record.event {
            Event::AttesterRegistered { attester, name } => {
                if self.registered.contains_key(attester) {
                    return Err(format!("attester `{attester}` already exists"));
                }
                self.registered.insert(
                    attester.clone(),
                    Arc::new(Attester {
                        id: attester.clone(),
                        name: Some(name.clone()),
                        source: AttesterSource::Api,
                        registered_at: Some(record.at),
                        keys: Vec::new(),
                    }),
                );
            }
            Event::AttesterKeyAdded { attester, key_id, public_key, not_after } => {
                let entry = self.registered.get_mut(attester).ok_or_else(|| format!("no attester `{attester}`"))?;
                if entry.keys.iter().any(|key| key.key_id == *key_id) {
                    return Err(format!("attester key `{attester}/{key_id}` already exists"));
                }
                Arc::make_mut(entry).keys.push(AttesterKey {
                    key_id: key_id.clone(),
                    public_key: *public_key,
                    not_after: *not_after,
                    added_at: Some(record.at),
                    revoked: None,
                });
            }
            Event::AttesterKeyRevoked { attester, key_id, reason } => {
                let entry = self.registered.get_mut(attester).ok_or_else(|| format!("no attester `{attester}`"))?;
                let key = Arc::make_mut(entry)
                    .keys
                    .iter_mut()
                    .find(|key| key.key_id == *key_id)
                    .ok_or_else(|| format!("no attester key `{attester}/{key_id}`"))?;
                key.revoked = Some(KeyRevocation { at: record.at, reason: reason.clone() });
            }
            _ => return Ok(()),
        }
        // INVARIANT (trusted-union): maintained here, after every change.
        self.rebuild_trusted();
        Ok(())
    }

    // INVARIANT (trusted-union): the one place that builds the list. It is rebuilt whole because
    // attester events are rare and the list is short; the request path only ever reads it.
    fn rebuild_trusted(&mut self) {
        self.trusted = self.attesters().flat_map(|attester| keys_of(attester)).collect();
    }

    /// The keys of the settings file, as it gave them (events never change them).
    pub(crate) fn configured_keys(&self) -> impl Iterator<Item = TrustedAttester> + '_ {
        self.configured.values().flat_map(|attester| keys_of(attester))
    }
}

/// One entry per key of `attester`.
fn keys_of(attester: &Attester) -> impl Iterator<Item = TrustedAttester> + '_ {
    attester.keys.iter().map(|key| TrustedAttester {
        id: attester.id.clone(),
        key: key.public_key.0,
        not_after: key.not_after,
        revoked: key.revoked.is_some(),
    })
}

/// `RegisterAttester`: the attester, and its first key if one is given.
pub(crate) fn handle_register(
    registry: &AttesterRegistry,
    attester: AttesterId,
    name: String,
    key: Option<NewAttesterKey>,
    now: Timestamp,
) -> Result<Vec<Event>, CommandError> {
    if registry.configured(attester.as_str()).is_some() || registry.registered(attester.as_str()).is_some() {
        return Err(CommandError::AlreadyExists { what: "attester", id: attester.to_string() });
    }
    check_text("name", &name)?;
    let mut events = vec![Event::AttesterRegistered { attester: attester.clone(), name }];
    if let Some(key) = key {
        check_new_key(None, &attester, &key, now)?;
        events.push(key_added(attester, key));
    }
    Ok(events)
}

/// `AddAttesterKey`.
pub(crate) fn handle_add_key(
    registry: &AttesterRegistry,
    attester: AttesterId,
    key: NewAttesterKey,
    now: Timestamp,
) -> Result<Event, CommandError> {
    let existing = need_registered(registry, &attester)?;
    check_new_key(Some(existing), &attester, &key, now)?;
    Ok(key_added(attester, key))
}

/// `RevokeAttesterKey`.
pub(crate) fn handle_revoke_key(
    registry: &AttesterRegistry,
    attester: AttesterId,
    key_id: AttesterKeyId,
    reason: String,
) -> Result<Event, CommandError> {
    let existing = need_registered(registry, &attester)?;
    let Some(key) = existing.keys.iter().find(|key| key.key_id == key_id) else {
        if registry.configured(attester.as_str()).is_some_and(|c| c.keys.iter().any(|key| key.key_id == key_id)) {
            return Err(configured_error(&attester));
        }
        return Err(CommandError::NotFound { what: "attester key", id: format!("{attester}/{key_id}") });
    };
    if key.revoked.is_some() {
        return Err(CommandError::Invalid(format!("attester key `{attester}/{key_id}` is already revoked")));
    }
    check_text("reason", &reason)?;
    Ok(Event::AttesterKeyRevoked { attester, key_id, reason })
}

fn key_added(attester: AttesterId, key: NewAttesterKey) -> Event {
    Event::AttesterKeyAdded { attester, key_id: key.key_id, public_key: key.public_key, not_after: key.not_after }
}

fn need_registered<'a>(registry: &'a AttesterRegistry, attester: &AttesterId) -> Result<&'a Attester, CommandError> {
    if let Some(existing) = registry.registered(attester.as_str()) {
        return Ok(existing);
    }
    if registry.configured(attester.as_str()).is_some() {
        return Err(configured_error(attester));
    }
    Err(CommandError::NotFound { what: "attester", id: attester.to_string() })
}

fn configured_error(attester: &AttesterId) -> CommandError {
    CommandError::Invalid(format!(
        "attester `{attester}` comes from the settings file; its keys are changed there, not through the API"
    ))
}

fn check_new_key(
    existing: Option<&Attester>,
    attester: &AttesterId,
    key: &NewAttesterKey,
    now: Timestamp,
) -> Result<(), CommandError> {
    if key.key_id.as_str().starts_with(CONFIG_KEY_PREFIX) {
        return Err(CommandError::Invalid(format!(
            "attester key id `{}` is reserved: ids starting with `{CONFIG_KEY_PREFIX}` name keys from the settings file",
            key.key_id
        )));
    }
    if let Some(not_after) = key.not_after
        && not_after <= now
    {
        return Err(CommandError::Invalid(format!("not_after `{not_after}` is in the past")));
    }
    let Some(existing) = existing else { return Ok(()) };
    if existing.keys.iter().any(|other| other.key_id == key.key_id) {
        return Err(CommandError::AlreadyExists { what: "attester key", id: format!("{attester}/{}", key.key_id) });
    }
    // The same key under a second id would make revoking one of them meaningless.
    if let Some(same) = existing.keys.iter().find(|other| other.public_key == key.public_key) {
        return Err(CommandError::AlreadyExists { what: "attester key", id: format!("{attester}/{}", same.key_id) });
    }
    if existing.keys.len() >= MAX_KEYS_PER_ATTESTER {
        return Err(CommandError::Invalid(format!(
            "attester `{attester}` has {MAX_KEYS_PER_ATTESTER} keys, the most allowed (revoked ones count)"
        )));
    }
    Ok(())
}
