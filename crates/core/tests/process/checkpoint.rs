//! State checkpoints: a state written and read back answers as the state replay builds, keeps
//! applying events as it does, and a checkpoint that is cut short, altered or of another format
//! is refused with a reason, never half read.

use std::sync::Arc;

use base64::Engine as _;
use portcullis_core::account::{LoginName, PasswordHash};
use portcullis_core::attester::{AttesterPublicKey, NewAttesterKey};
use portcullis_core::limits::Limits;
use portcullis_core::state::checkpoint::{CheckpointError, FORMAT};
use portcullis_core::*;

use crate::world::*;

const PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";

fn attester_key(key_id: &str, seed: u8) -> NewAttesterKey {
    let public = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]).verifying_key().to_bytes();
    NewAttesterKey {
        key_id: AttesterKeyId::parse(key_id).unwrap(),
        public_key: AttesterPublicKey::parse(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(public)).unwrap(),
        not_after: None,
    }
}

fn key(customer: &str, key_id: &str, label: &str) -> Command {
    Command::IssueKey {
        customer: CustomerId::parse(customer).unwrap(),
        key_id: KeyId::parse(key_id).unwrap(),
        label: label.to_owned(),
        key_hash: SecretHash::of_secret(&format!("secret-{key_id}")),
    }
}

/// The whole process story, then the records it does not touch: keys (two labelled alike, one
/// revoked, one with limits), a customer's limits and new attributes, a role token, an attester
/// registered through the API with a key added and one revoked, accounts (one disabled), a grant
/// to a second model, a lifted directive.
fn rich_world() -> World {
    let mut w = full_story();
    let provider = "provider";
    w.run(provider, key("acme", "key-a1", "batch"), at(10));
    w.run(provider, key("globex", "key-g1", "batch"), at(10));
    w.run(provider, key("acme", "key-a2", "ci"), at(10));
    w.run(
        provider,
        Command::RevokeKey { key_id: KeyId::parse("key-a1").unwrap(), reason: "leaked".to_owned() },
        at(10),
    );
    let limits = Limits { requests_per_minute: Some(60), tokens_per_day: None };
    w.run(provider, Command::SetLimits { customer: CustomerId::parse("acme").unwrap(), key_id: None, limits }, at(10));
    let limits = Limits { requests_per_minute: None, tokens_per_day: Some(1_000_000) };
    w.run(
        provider,
        Command::SetLimits {
            customer: CustomerId::parse("acme").unwrap(),
            key_id: Some(KeyId::parse("key-a2").unwrap()),
            limits,
        },
        at(10),
    );
    let attributes = serde_json::json!({"country": "GB", "kyc": "pending", "sector": "finance"});
    w.run(
        provider,
        Command::SetCustomerAttributes {
            customer: CustomerId::parse("initech").unwrap(),
            attributes: attributes.as_object().unwrap().clone(),
        },
        at(10),
    );
    w.run(
        provider,
        Command::IssueOfficialToken {
            token_id: TokenId::parse("tok-1").unwrap(),
            authority: AuthorityId::parse("bis").unwrap(),
            official: OfficialName::parse("j.doe").unwrap(),
            token_hash: SecretHash::of_secret("official-secret"),
        },
        at(10),
    );
    w.run(
        provider,
        Command::RegisterAttester {
            attester: AttesterId::parse("idv").unwrap(),
            name: "ID verifier".to_owned(),
            key: Some(attester_key("k1", 1)),
        },
        at(10),
    );
    w.run(
        provider,
        Command::AddAttesterKey { attester: AttesterId::parse("idv").unwrap(), key: attester_key("k2", 2) },
        at(10),
    );
    w.run(
        provider,
        Command::RevokeAttesterKey {
            attester: AttesterId::parse("idv").unwrap(),
            key_id: AttesterKeyId::parse("k1").unwrap(),
            reason: "rotated".to_owned(),
        },
        at(10),
    );
    for login in ["ops", "auditor"] {
        w.run(
            provider,
            Command::CreateAccount {
                login: LoginName::parse(login).unwrap(),
                holder: actor("provider"),
                password_hash: PasswordHash::parse(PHC).unwrap(),
            },
            at(10),
        );
    }
    w.run(
        provider,
        Command::DisableAccount { login: LoginName::parse("auditor").unwrap(), reason: "left".to_owned() },
        at(10),
    );
    w.run(
        "bis/j.doe",
        Command::Grant {
            customer: CustomerId::parse("initech").unwrap(),
            model: model("workhorse"),
            expires_at: Some(at(40)),
            reason: "pilot".to_owned(),
        },
        at(10),
    );
    let embargo = r#"forbid(principal, action, resource) when { principal has country && principal.country == "GB" };"#;
    w.run("ncsc/c.lee", directive("EC-GB", &["frontier"], embargo, None), at(11));
    w.run(
        "ncsc/c.lee",
        Command::LiftDirective { directive: DirectiveId::parse("EC-GB").unwrap(), reason: "withdrawn".to_owned() },
        at(12),
    );
    w
}

fn write(state: &State) -> Vec<u8> {
    let mut bytes = Vec::new();
    state.write_checkpoint(&mut bytes).unwrap();
    bytes
}

fn read(bytes: &[u8]) -> Result<State, CheckpointError> {
    State::read_checkpoint(&mut &*bytes, World::new().state)
}

/// What the gateway and the admin API read of a state, rendered for comparison.
fn answers(state: &State) -> Vec<String> {
    let mut out = vec![format!("last_seq {}", state.last_seq)];
    for customer in state.customers() {
        let found = state.customer(customer.id.as_str()).map(|c| c.customer_idx);
        out.push(format!(
            "customer {} at {} found at {found:?}: {} {:?} class {} created {:?} limits {:?} grants {:?} keys {:?}",
            customer.id,
            customer.customer_idx,
            customer.name,
            state.customer_attributes(customer),
            customer.class_id,
            customer.created_at,
            customer.limits,
            customer.grants,
            state.keys_of(customer.id.as_str()).map(|k| k.key_id.to_string()).collect::<Vec<_>>(),
        ));
    }
    for key_id in ["key-a1", "key-a2", "key-g1"] {
        let key = state.key_by_id(key_id).unwrap();
        let by_hash = state.key_and_customer_by_hash(&SecretHash::of_secret(&format!("secret-{key_id}")));
        out.push(format!(
            "key {key_id} at {} of {:?} ({}) label {} revoked {} limits {:?}; by hash: {:?}",
            key.key_idx,
            state.key_owner(key),
            key.customer_idx,
            key.label,
            key.revoked,
            key.limits,
            by_hash.map(|(k, c)| (k.key_id.to_string(), c.id.to_string())),
        ));
    }
    out.push(format!("token {:?}", state.official_token_by_hash(&SecretHash::of_secret("official-secret"))));
    out.push(format!("token id known {}", state.has_token_id("tok-1")));
    out.push(format!("authorities {:?}", state.authorities().collect::<Vec<_>>()));
    for model in state.models() {
        out.push(format!(
            "model {} #{} stage {:?} history {:?} procedure {:?} review {:?} deployments {:?} fallbacks {:?} \
             criteria {:?} directives {:?}",
            model.name,
            model.model_idx,
            model.stage,
            model.stage_history,
            model.procedure,
            model.review,
            model.deployments,
            model.fallbacks,
            model.criteria.as_ref().map(|c| (c.version, &c.content_hash, &c.text, c.published_seq, c.compiled.is_ok())),
            model.directives.iter().map(|d| d.id.to_string()).collect::<Vec<_>>(),
        ));
    }
    for directive in state.directives() {
        out.push(format!(
            "directive {} #{} lifted {:?} exemptions {:?} compiled {} scope {:?}",
            directive.id,
            directive.directive_idx,
            directive.lifted,
            directive.exemptions,
            directive.compiled.is_ok(),
            directive.scope
        ));
    }
    out.push(format!("applications {:?}", state.applications().collect::<Vec<_>>()));
    out.push(format!("appeals {:?}", state.appeals().collect::<Vec<_>>()));
    out.push(format!("notices {:?}", state.notices().collect::<Vec<_>>()));
    out.push(format!("accounts {:?}", state.accounts().iter().collect::<Vec<_>>()));
    out.push(format!("attesters {:?}", state.attester_registry().attesters().collect::<Vec<_>>()));
    out.push(format!("trusted keys {}", state.attesters().len()));
    out
}

#[test]
fn a_state_read_back_answers_as_the_replayed_one() {
    let w = rich_world();
    let bytes = write(&w.state);
    let read_back = read(&bytes).unwrap();
    assert_eq!(answers(&read_back), answers(&w.state));
    // Nothing written is lost or altered on the way: the state read back writes the same bytes.
    assert!(write(&read_back) == bytes, "the state read back writes other bytes");
    // Decisions, through the compiled criteria and directives.
    for customer in ["acme", "globex", "initech"] {
        for now in [at(10), at(11), at(23), at(30), at(45)] {
            assert_eq!(
                access(&Snapshot::new(read_back.clone()), customer, now),
                w.access(customer, now),
                "{customer} at {}",
                day(now)
            );
        }
    }
}

#[test]
fn a_state_read_back_goes_on_as_the_replayed_one() {
    let replayed = rich_world();
    let mut resumed = World { state: read(&write(&replayed.state)).unwrap(), log: Vec::new() };
    let mut replayed = replayed;
    // The same commands on both: a new customer of an existing class, keys labelled as the last
    // one, a grant with the same origin as the last, a directive, a revocation.
    for w in [&mut replayed, &mut resumed] {
        let attributes = serde_json::json!({"country": "US", "kyc": "verified", "sector": "defense"});
        w.run(
            "provider",
            Command::CreateCustomer {
                customer: CustomerId::parse("hooli").unwrap(),
                name: "Hooli".to_owned(),
                attributes: attributes.as_object().unwrap().clone(),
            },
            at(13),
        );
        w.run("provider", key("hooli", "key-h1", "ci"), at(13));
        w.run(
            "bis/j.doe",
            Command::Grant {
                customer: CustomerId::parse("hooli").unwrap(),
                model: model("workhorse"),
                expires_at: Some(at(40)),
                reason: "pilot".to_owned(),
            },
            at(13),
        );
        w.run(
            "bis/j.doe",
            Command::RevokeGrant {
                customer: CustomerId::parse("initech").unwrap(),
                model: model("workhorse"),
                effective_at: None,
                reason: "pilot over".to_owned(),
                directive: None,
            },
            at(14),
        );
        let embargo =
            r#"forbid(principal, action, resource) when { principal has sector && principal.sector == "finance" };"#;
        w.run("ncsc/c.lee", directive("EC-FIN", &["frontier", "workhorse"], embargo, None), at(14));
    }
    assert_eq!(answers(&resumed.state), answers(&replayed.state));
    assert!(write(&resumed.state) == write(&replayed.state), "the two states write other bytes");
    // Shared values stay shared: the new grant's origin and the new key's label are the ones
    // written before (replay hands them on when they are the same).
    let origin = |s: &State, c: &str| s.customer(c).unwrap().grants.get("workhorse").unwrap().origin.clone();
    assert!(Arc::ptr_eq(&origin(&resumed.state, "hooli"), &origin(&resumed.state, "initech")));
    let label = |s: &State, k: &str| s.key_by_id(k).unwrap().label.clone();
    assert!(Arc::ptr_eq(&label(&resumed.state, "key-h1"), &label(&resumed.state, "key-a2")));
    // And a grant read back names its model through the name the new grant of it shares.
    let model = |s: &State, c: &str| -> *const ModelName {
        s.customer(c).unwrap().grants.iter().find(|(m, _)| m.as_str() == "workhorse").unwrap().0
    };
    assert!(std::ptr::eq(model(&resumed.state, "hooli"), model(&resumed.state, "initech")));
}

#[test]
fn a_checkpoint_cut_short_or_altered_is_refused_with_a_reason() {
    let bytes = write(&rich_world().state);
    // Cut anywhere: refused, never a panic or a state.
    for len in (0..bytes.len()).step_by(7).chain([bytes.len() - 1]) {
        let err = read(&bytes[..len]).map(|_| ()).unwrap_err().to_string();
        assert!(err.starts_with("the state checkpoint is not readable: "), "cut at {len}: {err}");
    }
    // Another format.
    let mut other = bytes.clone();
    other[..4].copy_from_slice(&(FORMAT + 1).to_le_bytes());
    assert_eq!(
        read(&other).map(|_| ()).unwrap_err().to_string(),
        format!("the state checkpoint is not readable: format {}, this version reads format {FORMAT}", FORMAT + 1)
    );
    // Something after the last key.
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        read(&longer).map(|_| ()).unwrap_err().to_string(),
        "the state checkpoint is not readable: bytes follow its last customer"
    );
    // Every byte of the binary part flipped in turn: refused or read, never a panic (the file's
    // own digest, the gateway's, is what catches an alteration that still reads).
    let json_len = u64::from_le_bytes(bytes[44..52].try_into().unwrap()) as usize;
    for at in 52 + json_len..bytes.len() {
        let mut altered = bytes.clone();
        altered[at] ^= 0xFF;
        let _ = read(&altered);
    }
}

#[test]
fn a_checkpoint_is_read_only_under_the_setup_it_was_written_under() {
    let w = rich_world();
    let bytes = write(&w.state);
    let setup = "the state checkpoint was written under another schema or other configured attesters";
    // Another schema (one more attribute) or another configured attester: refused.
    let schema = portcullis_core::policy::DEFAULT_SCHEMA
        .replace("entity Customer = {", "entity Customer = {\n  \"region\"?: String,");
    assert_ne!(schema, portcullis_core::policy::DEFAULT_SCHEMA, "the schema edit took");
    let other_schema = State::new(Arc::new(portcullis_core::policy::CedarSchema::parse(&schema).unwrap()), Vec::new());
    assert_eq!(State::read_checkpoint(&mut &*bytes, other_schema).map(|_| ()).unwrap_err().to_string(), setup);
    let configured = portcullis_core::attestation::TrustedAttester {
        id: AttesterId::parse("kyc-co").unwrap(),
        key: ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key(),
        not_after: None,
        revoked: false,
    };
    let default_schema = || Arc::new(portcullis_core::policy::CedarSchema::default_schema().unwrap());
    let other_attesters = State::new(default_schema(), vec![configured.clone()]);
    assert_eq!(State::read_checkpoint(&mut &*bytes, other_attesters).map(|_| ()).unwrap_err().to_string(), setup);
    // Under the setup it was written under, with that attester configured, it reads.
    let mut with_attester = World { state: State::new(default_schema(), vec![configured.clone()]), log: Vec::new() };
    for record in &w.log {
        with_attester.state.apply(record).unwrap();
    }
    let bytes = write(&with_attester.state);
    let read_back = State::read_checkpoint(&mut &*bytes, State::new(default_schema(), vec![configured])).unwrap();
    assert_eq!(answers(&read_back), answers(&with_attester.state));
    // Only into an empty state.
    assert_eq!(
        State::read_checkpoint(&mut &*bytes, w.state.clone()).map(|_| ()).unwrap_err().to_string(),
        "the state checkpoint is not readable: it can only be read into an empty state"
    );
}
