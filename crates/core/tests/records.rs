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

#[test]
fn grants_attributes_and_key_positions_are_held_small_and_shared() {
    // The per-customer records are what ten million customers multiply: a field added to them
    // should be a decision (BENCHMARKS.md §2), not an accident. 64-bit targets.
    assert!(std::mem::size_of::<state::Customer>() <= 152, "{}", std::mem::size_of::<state::Customer>());
    assert!(std::mem::size_of::<state::ApiKey>() <= 88, "{}", std::mem::size_of::<state::ApiKey>());
    assert!(std::mem::size_of::<state::KeyPositions>() <= 16);

    let mut world = World::new();
    let grant = |world: &mut World, i: u64, model: &str, reason: &str| {
        let event = Event::GrantIssued {
            customer: customer_id(i),
            model: ModelName::parse(model).unwrap(),
            expires_at: None,
            reason: reason.to_owned(),
            application: None,
            appeal: None,
        };
        world.apply(event).unwrap();
    };
    for i in 0..3 {
        world.create(i);
    }
    // Customer 0: three keys (one inline, then a slice); 1: one; 2: none.
    for n in 0..3 {
        world.issue_key(0, n);
    }
    world.issue_key(1, 0);
    // Customer 0: grants on three models, the first one again (replaced in place); 1: one.
    for model in ["frontier", "workhorse", "tiny", "frontier"] {
        grant(&mut world, 0, model, model);
    }
    grant(&mut world, 1, "workhorse", "batch");
    let state = &world.state;

    let keys = |i: u64| state.keys_of(customer_id(i).as_str()).map(|k| k.key_id.to_string()).collect::<Vec<_>>();
    assert_eq!(keys(0), ["key_0_0", "key_0_1", "key_0_2"]);
    assert_eq!(keys(1), ["key_1_0"]);
    assert!(keys(2).is_empty());
    let positions = |i: u64| state.customer(customer_id(i).as_str()).unwrap().key_idxs.iter().collect::<Vec<_>>();
    assert_eq!(positions(0), [0, 1, 2]);
    assert_eq!(positions(1), [3]);
    assert_eq!(state.customer("c-2").unwrap().key_idxs.len(), 0);

    let c0 = state.customer("c-0").unwrap();
    let models: Vec<(&str, &str)> = c0.grants.iter().map(|(m, g)| (m.as_str(), g.origin.reason.as_str())).collect();
    assert_eq!(models, [("frontier", "frontier"), ("workhorse", "workhorse"), ("tiny", "tiny")]);
    assert_eq!(c0.grants.len(), 3);
    // The second `frontier` grant replaced the first (it came just before the `batch` one).
    assert_eq!(c0.grants.get("frontier").unwrap().granted_seq, state.last_seq - 1);
    assert!(c0.grants.get("unknown").is_none());
    assert!(state.customer("c-2").unwrap().grants.is_empty());
    // Both customers' `workhorse` grants point at one name.
    let name_of = |i: u64| -> *const ModelName {
        let customer = state.customer(customer_id(i).as_str()).unwrap();
        customer.grants.iter().find(|(m, _)| m.as_str() == "workhorse").unwrap().0
    };
    assert!(std::ptr::eq(name_of(0), name_of(1)));

    // Attributes are the class's: equal maps share one, a change moves the customer to another.
    let same = |a: u64, b: u64| {
        let (a, b) =
            (state.customer(customer_id(a).as_str()).unwrap(), state.customer(customer_id(b).as_str()).unwrap());
        std::ptr::eq(state.customer_attributes(a), state.customer_attributes(b))
    };
    assert!(same(0, 1));
    let mut attributes = serde_json::Map::new();
    attributes.insert("kyc".to_owned(), "verified".into());
    world.apply(Event::CustomerAttributesSet { customer: customer_id(2), attributes: attributes.clone() }).unwrap();
    let state = &world.state;
    let c2 = state.customer("c-2").unwrap();
    assert_eq!(*state.customer_attributes(c2), attributes);
    assert!(state.customer_attributes(state.customer("c-0").unwrap()).is_empty());
}
