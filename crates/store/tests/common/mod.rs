//! What the store's test files share: a signer, events, a store filled in uneven batches.

#![allow(clippy::unwrap_used, reason = "test code: a panic is a test failure with a message")]

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
