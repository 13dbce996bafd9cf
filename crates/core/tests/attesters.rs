//! Trusted attesters managed through commands: who may change them, what is refused and why, and
//! what a revoked or expired key does to a token on the request path (issue #4).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::type_complexity,
    reason = "test code: a panic is a test failure with a message"
)]

use std::sync::Arc;

use base64::Engine as _;
use ed25519_dalek::SigningKey;
use portcullis_core::attestation::{AttestationClaims, TrustedAttester, sign};
use portcullis_core::attester::{AttesterPublicKey, AttesterSource, NewAttesterKey};
use portcullis_core::policy::CedarSchema;
use portcullis_core::*;

const T0: Timestamp = Timestamp::from_millis(1_795_800_000_000);
const HOUR: i64 = 3_600_000;

/// The seed of the configured attester `idv`'s key.
const CONFIG_SEED: u8 = 7;

fn provider() -> Actor {
    Actor::Provider { name: "ops".to_owned() }
}

fn official() -> Actor {
    Actor::Authority { authority: AuthorityId::parse("bis").unwrap(), official: OfficialName::parse("j.doe").unwrap() }
}

fn customer() -> Actor {
    Actor::Customer { customer: CustomerId::parse("acme").unwrap() }
}

fn signing_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn public_key(seed: u8) -> AttesterPublicKey {
    let bytes = signing_key(seed).verifying_key().to_bytes();
    AttesterPublicKey::parse(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)).unwrap()
}

fn new_key(key_id: &str, seed: u8, not_after: Option<Timestamp>) -> NewAttesterKey {
    NewAttesterKey { key_id: AttesterKeyId::parse(key_id).unwrap(), public_key: public_key(seed), not_after }
}

fn attester(id: &str) -> AttesterId {
    AttesterId::parse(id).unwrap()
}

fn register(id: &str, name: &str, key: Option<NewAttesterKey>) -> Command {
    Command::RegisterAttester { attester: attester(id), name: name.to_owned(), key }
}

fn add_key(id: &str, key: NewAttesterKey) -> Command {
    Command::AddAttesterKey { attester: attester(id), key }
}

fn revoke_key(id: &str, key_id: &str, reason: &str) -> Command {
    Command::RevokeAttesterKey {
        attester: attester(id),
        key_id: AttesterKeyId::parse(key_id).unwrap(),
        reason: reason.to_owned(),
    }
}

struct World {
    state: State,
    events: Vec<EventRecord>,
}

impl World {
    /// A state whose settings file trusts `idv` (one key).
    fn new() -> Self {
        Self::with_config(&["idv"])
    }

    fn with_config(configured: &[&str]) -> Self {
        let schema = Arc::new(CedarSchema::default_schema().unwrap());
        let attesters = configured
            .iter()
            .map(|id| TrustedAttester {
                id: attester(id),
                key: signing_key(CONFIG_SEED).verifying_key(),
                not_after: None,
                revoked: false,
            })
            .collect();
        Self { state: State::new(schema, attesters), events: Vec::new() }
    }

    /// Runs a command; on success applies its events and returns their kinds, on refusal returns
    /// the error's kind and message (and the state is untouched).
    fn run(&mut self, actor: &Actor, command: Command, now: Timestamp) -> String {
        let events = match handle(&self.state, actor, command, now) {
            Ok(events) => events,
            Err(err) => return format!("{}: {err}", error_kind(&err)),
        };
        let kinds: Vec<&str> = events.iter().map(Event::kind).collect();
        for event in events {
            let record = EventRecord { seq: self.state.last_seq + 1, at: now, actor: actor.clone(), event };
            self.state.apply(&record).unwrap();
            self.events.push(record);
        }
        format!("ok: {}", kinds.join(", "))
    }
}

fn error_kind(err: &CommandError) -> &'static str {
    match err {
        CommandError::Forbidden { .. } => "forbidden",
        CommandError::NotFound { .. } => "not_found",
        CommandError::AlreadyExists { .. } => "already_exists",
        CommandError::Invalid(_) => "invalid",
        _ => "other",
    }
}

#[test]
fn commands_table() {
    let mut w = World::new();
    let past = T0.plus_millis(-HOUR);
    let rows: Vec<(Actor, Command, &str)> = vec![
        // Provider only: whom to trust for facts about end users is the operator's call.
        (customer(), register("idv-api", "ID", None), "forbidden: customer acme may not register attesters"),
        (official(), register("idv-api", "ID", None), "forbidden: authority bis (j.doe) may not register attesters"),
        // The settings file wins an id clash.
        (provider(), register("idv", "ID", None), "already_exists: attester `idv` already exists"),
        (provider(), register("idv-api", " ", None), "invalid: name is required"),
        (
            provider(),
            register("idv-api", "ID", Some(new_key("k1", 9, Some(past)))),
            "invalid: not_after `2026-11-27T16:20:00Z` is in the past",
        ),
        (
            provider(),
            register("idv-api", "ID", Some(new_key("config-1", 9, None))),
            "invalid: attester key id `config-1` is reserved: ids starting with `config-` name keys from the settings file",
        ),
        (
            provider(),
            register("idv-api", "ID", Some(new_key("k1", 9, None))),
            "ok: attester_registered, attester_key_added",
        ),
        (provider(), register("idv-api", "ID", None), "already_exists: attester `idv-api` already exists"),
        // Adding keys.
        (
            official(),
            add_key("idv-api", new_key("k2", 10, None)),
            "forbidden: authority bis (j.doe) may not add attester keys",
        ),
        (customer(), add_key("idv-api", new_key("k2", 10, None)), "forbidden: customer acme may not add attester keys"),
        (provider(), add_key("nope", new_key("k2", 10, None)), "not_found: no attester `nope`"),
        (
            provider(),
            add_key("idv", new_key("k2", 10, None)),
            "invalid: attester `idv` comes from the settings file; its keys are changed there, not through the API",
        ),
        (
            provider(),
            add_key("idv-api", new_key("k1", 10, None)),
            "already_exists: attester key `idv-api/k1` already exists",
        ),
        // The same public key under a second id: named by the id it already has.
        (
            provider(),
            add_key("idv-api", new_key("k2", 9, None)),
            "already_exists: attester key `idv-api/k1` already exists",
        ),
        (
            provider(),
            add_key("idv-api", new_key("k2", 10, Some(T0))),
            "invalid: not_after `2026-11-27T17:20:00Z` is in the past",
        ),
        (provider(), add_key("idv-api", new_key("k2", 10, Some(T0.plus_millis(HOUR)))), "ok: attester_key_added"),
        // Revoking keys.
        (
            official(),
            revoke_key("idv-api", "k1", "leaked"),
            "forbidden: authority bis (j.doe) may not revoke attester keys",
        ),
        (customer(), revoke_key("idv-api", "k1", "leaked"), "forbidden: customer acme may not revoke attester keys"),
        (provider(), revoke_key("nope", "k1", "leaked"), "not_found: no attester `nope`"),
        (provider(), revoke_key("idv-api", "k9", "leaked"), "not_found: no attester key `idv-api/k9`"),
        (
            provider(),
            revoke_key("idv", "config-1", "leaked"),
            "invalid: attester `idv` comes from the settings file; its keys are changed there, not through the API",
        ),
        (provider(), revoke_key("idv-api", "k1", ""), "invalid: reason is required"),
        (provider(), revoke_key("idv-api", "k1", "leaked"), "ok: attester_key_revoked"),
        (provider(), revoke_key("idv-api", "k1", "again"), "invalid: attester key `idv-api/k1` is already revoked"),
        // A revoked key stays on record: it cannot come back under another id.
        (
            provider(),
            add_key("idv-api", new_key("k3", 9, None)),
            "already_exists: attester key `idv-api/k1` already exists",
        ),
    ];
    for (actor, command, expect) in rows {
        let before = w.state.last_seq;
        let got = w.run(&actor, command, T0);
        assert_eq!(got, expect);
        if !expect.starts_with("ok") {
            assert_eq!(w.state.last_seq, before, "a refusal changed the state: {expect}");
        }
    }

    // The registry as the list route shows it.
    let registry = w.state.attester_registry();
    let listed: Vec<String> = registry
        .attesters()
        .flat_map(|a| {
            a.keys.iter().map(move |k| {
                format!(
                    "{} {} {} not_after={:?} revoked={:?}",
                    a.source.as_str(),
                    a.id,
                    k.key_id,
                    k.not_after.map(Timestamp::to_rfc3339),
                    k.revoked.as_ref().map(|r| r.reason.as_str())
                )
            })
        })
        .collect();
    assert_eq!(
        listed,
        [
            "config idv config-1 not_after=None revoked=None",
            "api idv-api k1 not_after=None revoked=Some(\"leaked\")",
            "api idv-api k2 not_after=Some(\"2026-11-27T18:20:00Z\") revoked=None",
        ]
    );
    assert_eq!(registry.registered("idv-api").unwrap().name.as_deref(), Some("ID"));
    assert_eq!(registry.configured("idv").unwrap().source, AttesterSource::Config);
    // One entry per key for the request path, revoked ones included (they make a token untrusted).
    let trusted: Vec<(String, bool)> =
        w.state.attesters().iter().map(|a| (a.id.to_string(), a.usable_at(T0))).collect();
    assert_eq!(trusted, [("idv".to_owned(), true), ("idv-api".to_owned(), false), ("idv-api".to_owned(), true)]);
}

#[track_caller]
fn check_key(text: &str, expect: Result<&str, &str>) {
    let got = AttesterPublicKey::parse(text).map(|key| key.to_base64url()).map_err(|err| err.to_string());
    assert_eq!(got, expect.map(str::to_owned).map_err(str::to_owned));
}

#[test]
fn public_keys() {
    let bytes = signing_key(9).verifying_key().to_bytes();
    let canonical = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    // The settings file's forms (standard, padded) and the canonical one all parse.
    check_key(&base64::engine::general_purpose::STANDARD.encode(bytes), Ok(&canonical));
    check_key(&format!(" {canonical}\n"), Ok(&canonical));
    check_key("", Err("public key is empty"));
    check_key("not base64!", Err("public key `not base64!` is not base64 (standard or URL-safe)"));
    check_key(
        &base64::engine::general_purpose::STANDARD.encode([1_u8; 31]),
        Err("public key is 31 bytes; an Ed25519 public key is 32 bytes"),
    );
    // The identity point: every signature of the all-zero scalar would verify under it.
    let mut identity = [0_u8; 32];
    identity[0] = 1;
    check_key(
        &base64::engine::general_purpose::STANDARD.encode(identity),
        Err("public key is a small-order Ed25519 point, which no real key is"),
    );
    // Not every 32 bytes encode a point on the curve; the first such pattern must be refused.
    let off_curve = (0_u8..=255)
        .map(|b| [b; 32])
        .find(|candidate| ed25519_dalek::VerifyingKey::from_bytes(candidate).is_err())
        .unwrap();
    check_key(
        &base64::engine::general_purpose::STANDARD.encode(off_curve),
        Err("public key is not a valid Ed25519 point"),
    );
}

fn token(issuer: &str, seed: u8) -> String {
    sign(
        &AttestationClaims {
            issuer: attester(issuer),
            subject: "u".to_owned(),
            audience: None,
            issued_at: T0,
            expires_at: T0.plus_millis(24 * HOUR),
            end_user: serde_json::json!({ "nationalities": ["US"] }).as_object().unwrap().clone(),
        },
        &signing_key(seed),
    )
}

/// `context.attestation` for a token in a snapshot at `now`.
fn status(snapshot: &Snapshot, token: &str, now: Timestamp) -> &'static str {
    snapshot.end_user_context(Some(token), "acme", now).attestation
}

#[test]
fn a_token_cached_as_valid_is_untrusted_after_its_key_is_revoked() {
    let mut w = World::new();
    assert_eq!(
        w.run(&provider(), register("idv-api", "ID", Some(new_key("k1", 9, None))), T0),
        "ok: attester_registered, attester_key_added"
    );
    let token = token("idv-api", 9);
    let before = Snapshot::new(w.state.clone());
    assert_eq!(status(&before, &token, T0), "valid");
    // The second request is answered from the snapshot's cache.
    assert_eq!(status(&before, &token, T0.plus_millis(1)), "valid");

    assert_eq!(
        w.run(&provider(), revoke_key("idv-api", "k1", "leaked"), T0.plus_millis(2)),
        "ok: attester_key_revoked"
    );
    // The gateway replaces the snapshot after every event, and a new snapshot's caches start
    // empty: the very next request with the same token is refused.
    let after = Snapshot::new(w.state.clone());
    assert_eq!(status(&after, &token, T0.plus_millis(3)), "untrusted");
    // Another attester's key is not affected.
    assert_eq!(status(&after, &crate::token("idv", CONFIG_SEED), T0.plus_millis(3)), "valid");
}

#[test]
fn the_attestation_cache_outlives_unrelated_events_but_not_a_change_of_attesters() {
    let mut w = World::new();
    w.run(&provider(), register("idv-api", "ID", Some(new_key("k1", 9, None))), T0);
    let token = token("idv-api", 9);
    let first = Snapshot::new(w.state.clone());
    assert_eq!(status(&first, &token, T0), "valid");
    assert_eq!(first.cached_attestations(), 1);

    // A customer is created: nothing a verification depends on changed, the cache carries over.
    let created = w.run(
        &provider(),
        Command::CreateCustomer {
            customer: portcullis_core::CustomerId::parse("initech").unwrap(),
            name: "Initech".to_owned(),
            attributes: serde_json::Map::new(),
        },
        T0.plus_millis(1),
    );
    assert!(created.starts_with("ok"), "{created}");
    let second = first.next(w.state.clone());
    assert_eq!(second.cached_attestations(), 1);
    assert_eq!(status(&second, &token, T0.plus_millis(2)), "valid");

    // The key that signed it is revoked: the next snapshot starts with an empty cache, and the
    // very next request with the same token is refused.
    w.run(&provider(), revoke_key("idv-api", "k1", "leaked"), T0.plus_millis(3));
    let third = second.next(w.state.clone());
    assert_eq!(third.cached_attestations(), 0);
    assert_eq!(status(&third, &token, T0.plus_millis(4)), "untrusted");
    // The older snapshot, still read by requests in flight, keeps its own answer.
    assert_eq!(status(&second, &token, T0.plus_millis(4)), "valid");
}

#[test]
fn a_token_cached_as_valid_is_untrusted_once_its_key_expires() {
    let mut w = World::new();
    let not_after = T0.plus_millis(HOUR);
    w.run(&provider(), register("idv-api", "ID", Some(new_key("k1", 9, Some(not_after)))), T0);
    let token = token("idv-api", 9);
    let snapshot = Snapshot::new(w.state.clone());
    assert_eq!(status(&snapshot, &token, T0), "valid");
    // No event happens in between: the cached verification itself must notice.
    assert_eq!(status(&snapshot, &token, not_after.plus_millis(-1)), "valid");
    assert_eq!(status(&snapshot, &token, not_after), "untrusted");
    // A snapshot that never cached it agrees.
    assert_eq!(status(&Snapshot::new(w.state.clone()), &token, not_after), "untrusted");
}

#[test]
fn rotation_accepts_every_usable_key_and_names_the_rest() {
    let mut w = World::new();
    w.run(&provider(), register("idv-api", "ID", Some(new_key("old", 9, None))), T0);
    w.run(&provider(), add_key("idv-api", new_key("new", 10, None)), T0);
    let snapshot = Snapshot::new(w.state.clone());
    assert_eq!(status(&snapshot, &token("idv-api", 9), T0), "valid");
    assert_eq!(status(&snapshot, &token("idv-api", 10), T0), "valid");
    // Signed by a key the attester never had: a bad signature, not a revoked key.
    assert_eq!(status(&snapshot, &token("idv-api", 11), T0), "malformed");
    // An issuer nobody registered.
    assert_eq!(status(&snapshot, &token("someone", 9), T0), "untrusted");

    w.run(&provider(), revoke_key("idv-api", "old", "rotated"), T0);
    let snapshot = Snapshot::new(w.state.clone());
    assert_eq!(status(&snapshot, &token("idv-api", 9), T0), "untrusted");
    assert_eq!(status(&snapshot, &token("idv-api", 10), T0), "valid");
}

/// An id registered through the API and later added to the settings file: the events still
/// replay (the gateway starts), and both keys are trusted, each managed where it came from.
#[test]
fn a_configured_id_clashing_with_a_registered_one_still_replays() {
    let mut w = World::new();
    w.run(&provider(), register("idv-api", "ID", Some(new_key("k1", 9, None))), T0);
    let mut restarted = World::with_config(&["idv", "idv-api"]);
    for record in &w.events {
        restarted.state.apply(record).unwrap();
    }
    let snapshot = Snapshot::new(restarted.state.clone());
    assert_eq!(status(&snapshot, &token("idv-api", 9), T0), "valid");
    assert_eq!(status(&snapshot, &token("idv-api", CONFIG_SEED), T0), "valid");
    let sources: Vec<(&str, AttesterSource)> =
        restarted.state.attester_registry().attesters().map(|a| (a.id.as_str(), a.source)).collect();
    assert_eq!(
        sources,
        [("idv", AttesterSource::Config), ("idv-api", AttesterSource::Config), ("idv-api", AttesterSource::Api)]
    );
    // The API still manages the key it added.
    assert_eq!(restarted.run(&provider(), revoke_key("idv-api", "k1", "leaked"), T0), "ok: attester_key_revoked");
    assert_eq!(
        restarted.run(&provider(), revoke_key("idv-api", "config-1", "leaked"), T0),
        "invalid: attester `idv-api` comes from the settings file; its keys are changed there, not through the API"
    );
}

/// Public keys are public: the events are logged whole, and survive the stored encoding.
#[test]
fn attester_events_are_published_whole() {
    let mut w = World::new();
    w.run(&provider(), register("idv-api", "ID", Some(new_key("k1", 9, Some(T0.plus_millis(HOUR))))), T0);
    w.run(&provider(), revoke_key("idv-api", "k1", "leaked"), T0);
    let public: Vec<String> = w.events.iter().map(EventRecord::public_json).collect();
    let key = public_key(9).to_base64url();
    assert_eq!(
        public[1],
        format!(
            r#"{{"actor":{{"name":"ops","role":"provider"}},"at":{at},"event":{{"attester":"idv-api","key_id":"k1","not_after":{not_after},"public_key":"{key}","type":"attester_key_added"}},"seq":2,"v":1}}"#,
            at = T0.as_millis(),
            not_after = T0.plus_millis(HOUR).as_millis(),
        )
    );
    assert!(public[2].contains(r#""reason":"leaked","type":"attester_key_revoked""#), "{}", public[2]);
    for record in &w.events {
        let stored = record.to_stored_json().unwrap();
        assert_eq!(&EventRecord::from_stored_json(&stored).unwrap(), record);
    }
    // A stored key that does not parse is refused when read, not trusted.
    let bad = w.events[1].to_stored_json().unwrap().replace(&key, "AAAA");
    assert!(EventRecord::from_stored_json(&bad).unwrap_err().to_string().contains("public key is 3 bytes"));
}
