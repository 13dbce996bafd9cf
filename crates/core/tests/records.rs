//! The state's customer and key records, past the sizes where their tables and indexes change
//! shape: every record is found by id, by key hash and by position, keeps its position, and a
//! state cloned before a change does not see it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a panic is a test failure with a message"
)]

use std::sync::Arc;

use portcullis_core::policy::CedarSchema;
use portcullis_core::*;

const T0: Timestamp = Timestamp::from_millis(1_795_800_000_000);
/// More than 256 × 256, so the position table grows a third level.
const CUSTOMERS: u64 = 66_000;

fn provider() -> Actor {
    Actor::Provider { name: "ops".to_owned() }
}

fn customer_id(i: u64) -> CustomerId {
    CustomerId::parse(&format!("c-{i}")).unwrap()
}

fn key_id(i: u64, n: u64) -> KeyId {
    KeyId::parse(&format!("key_{i}_{n}")).unwrap()
}

fn secret(i: u64, n: u64) -> String {
    format!("pcl_secret_{i}_{n}")
}

struct World {
    state: State,
}

impl World {
    fn new() -> Self {
        Self { state: State::new(Arc::new(CedarSchema::default_schema().unwrap()), Vec::new()) }
    }

    fn apply(&mut self, event: Event) -> Result<(), state::ReplayError> {
        let seq = self.state.last_seq + 1;
        self.state.apply(&EventRecord { seq, at: T0, actor: provider(), event })
    }

    fn create(&mut self, i: u64) {
        let event = Event::CustomerCreated {
            customer: customer_id(i),
            name: format!("Customer {i}"),
            attributes: serde_json::Map::new(),
        };
        self.apply(event).unwrap();
    }

    fn issue_key(&mut self, i: u64, n: u64) {
        let event = Event::KeyIssued {
            key_id: key_id(i, n),
            customer: customer_id(i),
            label: if n == 0 { "production".to_owned() } else { format!("label {n}") },
            key_hash: SecretHash::of_secret(&secret(i, n)),
        };
        self.apply(event).unwrap();
    }
}

#[test]
fn every_customer_and_key_is_found_by_id_by_hash_and_by_position() {
    let mut world = World::new();
    for i in 0..CUSTOMERS {
        world.create(i);
        world.issue_key(i, 0);
    }
    // Every hundredth customer has a second key, issued after everyone else's first.
    for i in (0..CUSTOMERS).step_by(100) {
        world.issue_key(i, 1);
    }
    let state = &world.state;
    assert_eq!(state.n_customers(), CUSTOMERS as usize);
    for i in 0..CUSTOMERS {
        let id = customer_id(i);
        let customer = state.customer(id.as_str()).unwrap_or_else(|| panic!("customer {id} not found"));
        assert_eq!((customer.id.as_str(), customer.customer_idx), (id.as_str(), i as u32));
        let key = state.key_by_hash(&SecretHash::of_secret(&secret(i, 0))).unwrap();
        assert_eq!(key.key_id, key_id(i, 0));
        assert_eq!(state.key_owner(key), Some(&id));
        assert!(std::ptr::eq(state.customer_at(key.customer_idx).unwrap(), customer));
        assert!(std::ptr::eq(state.key_by_id(key_id(i, 0).as_str()).unwrap(), key));
        assert!(std::ptr::eq(state.key_at(key.key_idx).unwrap(), key));
        // The request path's lookup finds the same two records, for a first key and for a
        // second one issued long after (its position far from its customer's).
        for n in if i % 100 == 0 { 0..2 } else { 0..1 } {
            let (key, owner) = state.key_and_customer_by_hash(&SecretHash::of_secret(&secret(i, n))).unwrap();
            assert_eq!(key.key_id, key_id(i, n));
            assert!(std::ptr::eq(owner, customer), "key {} found with customer {}", key.key_id, owner.id);
        }
        let keys: Vec<&str> = state.keys_of(id.as_str()).map(|k| k.key_id.as_str()).collect();
        let want: Vec<KeyId> = if i % 100 == 0 { vec![key_id(i, 0), key_id(i, 1)] } else { vec![key_id(i, 0)] };
        assert_eq!(keys, want.iter().map(KeyId::as_str).collect::<Vec<_>>());
    }
    // Creation order, and nothing that was not created.
    assert!(state.customers().map(|c| c.customer_idx).eq(0..CUSTOMERS as u32));
    assert!(state.customer("c-unknown").is_none());
    assert!(state.customer_at(CUSTOMERS as u32).is_none());
    assert!(state.key_by_id("key_unknown").is_none());
    assert!(state.key_by_hash(&SecretHash::of_secret("pcl_never_issued")).is_none());
    assert!(state.key_and_customer_by_hash(&SecretHash::of_secret("pcl_never_issued")).is_none());
}

#[test]
fn a_taken_customer_id_is_refused_and_changes_stay_out_of_earlier_clones() {
    let mut world = World::new();
    for i in 0..300 {
        world.create(i);
        world.issue_key(i, 0);
    }
    let error = world
        .apply(Event::CustomerCreated {
            customer: customer_id(7),
            name: "again".to_owned(),
            attributes: serde_json::Map::new(),
        })
        .unwrap_err();
    assert!(error.problem.contains("already exists"), "{error}");
    assert_eq!(world.state.n_customers(), 300);

    let before = world.state.clone();
    world.apply(Event::KeyRevoked { key_id: key_id(7, 0), reason: "leaked".to_owned() }).unwrap();
    world.create(300);
    let revoked = |state: &State| state.key_by_hash(&SecretHash::of_secret(&secret(7, 0))).unwrap().revoked;
    assert!(revoked(&world.state));
    assert!(!revoked(&before));
    assert!(world.state.customer("c-300").is_some());
    assert!(before.customer("c-300").is_none());
    assert_eq!(before.n_customers(), 300);
}
