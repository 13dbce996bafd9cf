//! What the store's test files share: a signer, events, a store filled in uneven batches.

#![allow(clippy::unwrap_used, reason = "test code: a panic is a test failure with a message")]
#![allow(dead_code, reason = "each test file uses its own part of what is shared")]

use portcullis_core::{Actor, AuthorityId, Event, EventRecord, Timestamp};
use portcullis_store::EventStore;
use portcullis_translog::NoteSigner;

pub const ORIGIN: &str = "example.org/portcullis-test";

pub fn signer() -> NoteSigner {
    NoteSigner::from_seed(ORIGIN, &[9; 32]).unwrap()
}

pub fn record(seq: u64) -> EventRecord {
    EventRecord {
        seq,
        at: Timestamp::from_millis(1_000 + i64::try_from(seq).unwrap()),
        actor: Actor::Provider { name: "ops".to_owned() },
        event: Event::AuthorityRegistered {
            authority: AuthorityId::parse(&format!("a{seq}")).unwrap(),
            name: "A".to_owned(),
        },
    }
}

/// Appends events 1 to `n` in batches of various sizes.
pub fn fill(store: &mut dyn EventStore, n: u64) {
    let mut seq = 1;
    let mut batch = 1;
    while seq <= n {
        let end = (seq + batch).min(n + 1);
        store.append(&(seq..end).map(record).collect::<Vec<_>>()).unwrap();
        seq = end;
        batch = batch * 3 % 97 + 1;
    }
}

/// Failed sign-ins counted through `a` and `b` (two replicas' connections to one store) add up:
/// five in a row lock the login for both, whichever counted them; a lock that has run out
/// starts the count again; a success forgets the failures; other logins are not affected.
pub fn check_shared_lockout(a: &portcullis_store::SessionStore, b: &portcullis_store::SessionStore) {
    let policy = portcullis_store::LockoutPolicy { max_failures: 5, lock_millis: 60_000 };
    let t0 = Timestamp::from_millis(1_000_000);
    let at = |ms: i64| t0.plus_millis(ms);
    for (i, store) in [a, b, a, b].into_iter().enumerate() {
        let now = at(i64::try_from(i).unwrap());
        assert_eq!(store.record_failure("acme-ops", now, policy).unwrap(), None, "failure {}", i + 1);
        assert_eq!(a.locked_until("acme-ops", now).unwrap(), None);
    }
    // The fifth, on either replica, locks the login for both.
    let until = b.record_failure("acme-ops", at(10), policy).unwrap();
    assert_eq!(until, Some(at(10 + 60_000)));
    assert_eq!(a.locked_until("acme-ops", at(11)).unwrap(), until);
    assert_eq!(b.locked_until("acme-ops", at(11)).unwrap(), until);
    assert_eq!(a.locked_until("other", at(11)).unwrap(), None);
    // Once the lock has run out the count starts again: one failure does not lock.
    assert_eq!(a.locked_until("acme-ops", at(10 + 60_000)).unwrap(), None);
    assert_eq!(a.record_failure("acme-ops", at(70_000), policy).unwrap(), None);
    // A success forgets the failures: four more do not lock.
    b.clear_failures("acme-ops").unwrap();
    for i in 0..4 {
        assert_eq!(a.record_failure("acme-ops", at(70_001 + i), policy).unwrap(), None);
    }
    // Failures older than the lockout period are forgotten (and their rows pruned).
    assert_eq!(b.record_failure("acme-ops", at(70_004 + 60_000), policy).unwrap(), None);
}
