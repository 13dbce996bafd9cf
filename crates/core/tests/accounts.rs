//! Login accounts: who may create and disable which account, what the events carry, and that
//! the password hash never reaches the publishable form.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a panic is a test failure with a message"
)]

use std::sync::Arc;

use portcullis_core::account::{LoginName, PasswordHash};
use portcullis_core::policy::CedarSchema;
use portcullis_core::*;

const NOW: Timestamp = Timestamp::from_millis(1_795_800_000_000);
const PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";

/// `provider`, `authority/official`, or a customer id.
fn actor(who: &str) -> Actor {
    if who == "provider" {
        return Actor::Provider { name: "ops".to_owned() };
    }
    match who.split_once('/') {
        Some((authority, official)) => Actor::Authority {
            authority: AuthorityId::parse(authority).unwrap(),
            official: OfficialName::parse(official).unwrap(),
        },
        None => Actor::Customer { customer: CustomerId::parse(who).unwrap() },
    }
}

fn run(state: &mut State, who: &str, command: Command) -> Result<Vec<EventRecord>, String> {
    let events = handle(state, &actor(who), command, NOW).map_err(|err| err.to_string())?;
    let mut records = Vec::new();
    for event in events {
        let record = EventRecord { seq: state.last_seq + 1, at: NOW, actor: actor(who), event };
        state.apply(&record).unwrap();
        records.push(record);
    }
    Ok(records)
}

/// Two customers, one authority.
fn world() -> State {
    let mut state = State::new(Arc::new(CedarSchema::default_schema().unwrap()), Vec::new());
    for id in ["acme", "globex"] {
        let command = Command::CreateCustomer {
            customer: CustomerId::parse(id).unwrap(),
            name: id.to_owned(),
            attributes: serde_json::Map::new(),
        };
        run(&mut state, "provider", command).unwrap();
    }
    let command =
        Command::RegisterAuthority { authority: AuthorityId::parse("bis").unwrap(), name: "Bureau".to_owned() };
    run(&mut state, "provider", command).unwrap();
    state
}

fn create(login: &str, holder: &str) -> Command {
    Command::CreateAccount {
        login: LoginName::parse(login).unwrap(),
        holder: actor(holder),
        password_hash: PasswordHash::parse(PHC).unwrap(),
    }
}

fn disable(login: &str) -> Command {
    Command::DisableAccount { login: LoginName::parse(login).unwrap(), reason: "left".to_owned() }
}

#[test]
fn who_may_create_which_account() {
    // (caller, login, holder, outcome)
    let rows = [
        ("provider", "acme-ops", "acme", "ok"),
        ("provider", "j.doe", "bis/j.doe", "ok"),
        ("provider", "ops-staff", "provider", "ok"),
        ("acme", "acme-self", "acme", "ok"),
        ("acme", "acme-globex", "globex", "customer acme may not create an account for someone else"),
        ("acme", "acme-official", "bis/j.doe", "customer acme may not create an account for someone else"),
        ("bis/j.doe", "jdoe-self", "bis/j.doe", "ok"),
        (
            "bis/j.doe",
            "jdoe-colleague",
            "bis/a.roe",
            "authority bis (j.doe) may not create an account for someone else",
        ),
        ("bis/j.doe", "jdoe-acme", "acme", "authority bis (j.doe) may not create an account for someone else"),
        ("provider", "ghost", "nobody", "no customer `nobody`"),
        ("provider", "ghost2", "nsa/x", "no authority `nsa`"),
    ];
    for (caller, login, holder, expected) in rows {
        let mut state = world();
        let got = match run(&mut state, caller, create(login, holder)) {
            Ok(records) => {
                let account = state.accounts().get(login).unwrap();
                assert_eq!(account.holder, actor(holder));
                assert_eq!(account.created_by, actor(caller));
                assert!(account.is_active());
                assert_eq!(records.len(), 1);
                "ok".to_owned()
            }
            Err(err) => err,
        };
        assert_eq!(got, expected, "{caller} creating {login} for {holder}");
    }
}

#[test]
fn logins_are_never_reused_and_disabling_is_for_good() {
    let mut state = world();
    run(&mut state, "provider", create("acme-ops", "acme")).unwrap();
    assert_eq!(run(&mut state, "acme", create("acme-ops", "acme")).unwrap_err(), "account `acme-ops` already exists");
    // Another customer may not disable it, and cannot tell it from an unknown login.
    assert_eq!(
        run(&mut state, "globex", disable("acme-ops")).unwrap_err(),
        "customer globex may not disable someone else's account"
    );
    assert_eq!(
        run(&mut state, "globex", disable("no-such")).unwrap_err(),
        "customer globex may not disable someone else's account"
    );
    assert_eq!(run(&mut state, "provider", disable("no-such")).unwrap_err(), "no account `no-such`");
    run(&mut state, "acme", disable("acme-ops")).unwrap();
    assert!(!state.accounts().get("acme-ops").unwrap().is_active());
    assert_eq!(run(&mut state, "provider", disable("acme-ops")).unwrap_err(), "account `acme-ops` is already disabled");
    assert_eq!(
        run(&mut state, "provider", create("acme-ops", "acme")).unwrap_err(),
        "account `acme-ops` already exists"
    );
    let empty_reason = Command::DisableAccount { login: LoginName::parse("acme-ops").unwrap(), reason: " ".to_owned() };
    assert!(run(&mut state, "provider", empty_reason).is_err());
}

#[test]
fn the_password_hash_is_stored_but_never_published() {
    let mut state = world();
    let records = run(&mut state, "provider", create("acme-ops", "acme")).unwrap();
    let record = &records[0];
    let stored = record.to_stored_json().unwrap();
    assert!(stored.contains(PHC), "{stored}");
    assert_eq!(EventRecord::from_stored_json(&stored).unwrap(), *record);
    let public = record.public_json();
    assert!(!public.contains("argon2"), "{public}");
    assert!(!public.contains("password_hash"), "{public}");
    assert!(public.contains(r#""type":"account_created""#), "{public}");
    assert!(public.contains(r#""holder":{"customer":"acme","role":"customer"}"#), "{public}");
    // Replay of the stored form rebuilds the same account.
    let mut replayed = world();
    replayed.apply(&EventRecord::from_stored_json(&stored).unwrap()).unwrap();
    let account = replayed.accounts().get("acme-ops").unwrap();
    assert_eq!(account.password_hash.as_str(), PHC);
    assert!(!format!("{account:?}").contains("argon2"));
}

#[test]
fn a_password_is_changed_by_its_holder_or_the_provider_and_never_published() {
    const NEW: &str = "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$3pD0xpwWKwKX6Vb1vJ0rhV8+JmX2m1hc";
    let change = |login: &str| Command::ChangePassword {
        login: LoginName::parse(login).unwrap(),
        password_hash: PasswordHash::parse(NEW).unwrap(),
    };
    let mut state = world();
    run(&mut state, "provider", create("acme-ops", "acme")).unwrap();
    // (caller, login, outcome): another customer cannot tell an account from an unknown login.
    let rows = [
        ("globex", "acme-ops", "customer globex may not change someone else's password"),
        ("globex", "no-such", "customer globex may not change someone else's password"),
        ("provider", "no-such", "no account `no-such`"),
        ("acme", "acme-ops", "ok"),
        ("provider", "acme-ops", "ok"),
    ];
    for (caller, login, expected) in rows {
        let got = match run(&mut state, caller, change(login)) {
            Ok(records) => {
                let public = records[0].public_json();
                assert!(public.contains(r#""type":"account_password_changed""#), "{public}");
                assert!(!public.contains("argon2") && !public.contains("password_hash"), "{public}");
                assert_eq!(state.accounts().get(login).unwrap().password_hash.as_str(), NEW);
                "ok".to_owned()
            }
            Err(err) => err,
        };
        assert_eq!(got, expected, "{caller} changing the password of {login}");
    }
    // A disabled account stays disabled: no new password for it.
    run(&mut state, "provider", disable("acme-ops")).unwrap();
    assert_eq!(run(&mut state, "acme", change("acme-ops")).unwrap_err(), "account `acme-ops` is disabled");
}
