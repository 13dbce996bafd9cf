//! The transparency log as stored: checkpoints, tiles and proofs verify with the independent
//! verifier in `portcullis-translog`, and every kind of tampering is detected on start.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a panic is a test failure with a message"
)]

use std::collections::BTreeMap;

use portcullis_core::{EventRecord, Timestamp};
use portcullis_store::{EventStore, LogReader, SqliteStore, TreeHead};
use portcullis_translog::tile::{TilePath, tiles_for_size};
use portcullis_translog::verify::{
    TrustPolicy, fetch_entry, verify_checkpoint, verify_consistency, verify_inclusion, verify_tiles,
};
use rusqlite::Connection;

mod common;

use common::{fill, record, signer};

/// A store with `n` events appended in batches of various sizes.
fn store_with(dir: &tempfile::TempDir, n: u64) -> SqliteStore {
    let mut store = SqliteStore::open(&dir.path().join("p.db")).unwrap();
    fill(&mut store, n);
    store
}

/// Every tile and bundle the reader serves for a checkpoint, by C2SP path.
fn served(reader: &LogReader, size: u64) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for tile in tiles_for_size(size) {
        out.insert(tile.path(), reader.tile(&tile, size).unwrap().unwrap());
        if tile.level() == 0 {
            let bundle = portcullis_translog::tile::BundleId::new(tile.index(), tile.width()).unwrap();
            out.insert(bundle.path(), reader.bundle(&bundle, size).unwrap().unwrap());
        }
    }
    out
}

#[test]
fn checkpoints_tiles_and_proofs_verify() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with(&dir, 300);
    assert!(store.sign_checkpoint(&signer(), Timestamp::from_millis(5)).unwrap().is_some());
    // Only when the tree grew.
    assert!(store.sign_checkpoint(&signer(), Timestamp::from_millis(6)).unwrap().is_none());
    let reader = LogReader::open(&dir.path().join("p.db")).unwrap();
    let old = reader.latest_checkpoint().unwrap().unwrap();
    assert_eq!(old.size, 300);

    let more: Vec<EventRecord> = (301..=700).map(record).collect();
    store.append(&more).unwrap();
    let new = store.sign_checkpoint(&signer(), Timestamp::from_millis(7)).unwrap().unwrap();
    assert_eq!(new.size, 700);

    let policy = TrustPolicy::new(signer().verifier()).unwrap();
    let old_checkpoint = verify_checkpoint(&policy, &old.note).unwrap().checkpoint;
    let new_checkpoint = verify_checkpoint(&policy, &new.note).unwrap().checkpoint;
    let tiles = served(&reader, 700);
    verify_tiles(&new_checkpoint, &tiles).unwrap();
    for seq in [1_u64, 256, 257, 300, 700] {
        let entry = reader.entry(seq).unwrap().unwrap();
        assert_eq!(fetch_entry(&new_checkpoint, seq - 1, &tiles).unwrap(), entry.as_bytes());
        verify_inclusion(&new_checkpoint, seq - 1, entry.as_bytes(), &tiles).unwrap();
        assert!(verify_inclusion(&new_checkpoint, seq - 1, b"forged", &tiles).is_err());
    }
    verify_consistency(&old_checkpoint, &new_checkpoint, &tiles).unwrap();
    // Proofs straight from the store agree with the ones computed from tiles.
    let proof = reader.inclusion_proof(41, 700).unwrap();
    portcullis_translog::tree::check_inclusion(
        &proof,
        700,
        &new_checkpoint.root(),
        41,
        &portcullis_translog::leaf_hash(reader.entry(42).unwrap().unwrap().as_bytes()),
    )
    .unwrap();
    // Tiles beyond the checkpointed tree are not served.
    let beyond = portcullis_translog::tile::TileId::new(0, 3, 256).unwrap();
    assert!(reader.tile(&beyond, 700).unwrap().is_none());
    let TilePath::Hashes(partial) = TilePath::parse("tile/0/002.p/188").unwrap() else { panic!() };
    assert!(reader.tile(&partial, 700).unwrap().is_some());
    let TilePath::Hashes(too_wide) = TilePath::parse("tile/0/002.p/189").unwrap() else { panic!() };
    assert!(reader.tile(&too_wide, 700).unwrap().is_none());

    // A clean log passes the start-up check.
    let events = store.load_verified(&signer().verifier()).unwrap();
    assert_eq!(events.len(), 700);
    assert_eq!(events.last().unwrap().seq, 700);
}

/// A store of `n` events with a signed checkpoint, then altered behind its back by `sql`.
fn tampered(dir: &tempfile::TempDir, n: u64, sql: &str) -> SqliteStore {
    let mut store = store_with(dir, n);
    store.sign_checkpoint(&signer(), Timestamp::from_millis(5)).unwrap().unwrap();
    drop(store);
    Connection::open(dir.path().join("p.db")).unwrap().execute_batch(sql).unwrap();
    SqliteStore::open(&dir.path().join("p.db")).unwrap()
}

#[track_caller]
fn check_tamper(sql: &str, expect: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = tampered(&dir, 600, sql);
    let err = store.load_verified(&signer().verifier()).unwrap_err().to_string();
    assert!(err.contains(expect), "`{expect}` not in `{err}`");
}

#[test]
fn tampering_is_detected() {
    // An altered event (its name changed).
    check_tamper(
        "UPDATE events SET record = replace(record, '\"name\":\"A\"', '\"name\":\"B\"') WHERE seq = 77",
        "does not match the stored events",
    );
    // An altered stored hash.
    check_tamper("UPDATE log_hashes SET hash = zeroblob(32) WHERE idx = 10", "does not match the stored events");
    // A removed event at the end: the checkpoint covers more than is stored.
    check_tamper("DELETE FROM events WHERE seq = 600", "stored hashes for 599 events");
    // A removed event in the middle.
    check_tamper("DELETE FROM events WHERE seq = 300", "is stored where event 300 belongs");
    // Two events swapped (records exchanged between rows).
    check_tamper(
        "UPDATE events SET record = CASE seq WHEN 5 THEN (SELECT record FROM events WHERE seq = 6) ELSE (SELECT record FROM events WHERE seq = 5) END WHERE seq IN (5, 6)",
        "unreadable",
    );
    // A forged checkpoint signature.
    check_tamper("UPDATE checkpoints SET note = replace(note, '600', '599')", "the latest checkpoint does not verify");
    // Extra hashes appended.
    check_tamper("INSERT INTO log_hashes (idx, hash) VALUES (999999, zeroblob(32))", "stored hashes for 600 events");
    // A stored hash removed from the middle, and the last one removed: the range read names it.
    check_tamper("DELETE FROM log_hashes WHERE idx = 10", "stored hash 10 is missing");
    let last = 2 * 600 - u64::from(600_u64.count_ones()) - 1;
    check_tamper(&format!("DELETE FROM log_hashes WHERE idx = {last}"), &format!("stored hash {last} is missing"));
}

/// Start-up reads the log a chunk at a time: every event once, in order, and a consumer that
/// stops is handed nothing more.
#[test]
fn the_log_is_handed_over_in_order_a_chunk_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with(&dir, 10_000);
    store.sign_checkpoint(&signer(), Timestamp::from_millis(5)).unwrap().unwrap();
    let mut chunks = Vec::new();
    store
        .load_verified_each(&signer().verifier(), &mut |chunk| {
            chunks.push(chunk.iter().map(|record| record.seq).collect::<Vec<_>>());
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    assert!(chunks.len() > 1, "one chunk for 10,000 events: memory would grow with the log");
    assert_eq!(chunks.concat(), (1..=10_000).collect::<Vec<u64>>());

    let mut handed = 0;
    store
        .load_verified_each(&signer().verifier(), &mut |_| {
            handed += 1;
            std::ops::ControlFlow::Break(())
        })
        .unwrap();
    assert_eq!(handed, 1);
}

/// Start-up reads a chunk ahead of the one whose hashes it checks: tampering in a later chunk is
/// still found, and nothing from that chunk or after it is handed over.
#[test]
fn tampering_in_a_later_chunk_stops_the_hand_over_before_it() {
    for (sql, expect) in [
        (
            "UPDATE events SET record = replace(record, '\"name\":\"A\"', '\"name\":\"B\"') WHERE seq = 9000",
            "does not match the stored events",
        ),
        ("DELETE FROM events WHERE seq = 9000", "is stored where event 9000 belongs"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut store = tampered(&dir, 10_000, sql);
        let mut handed = Vec::new();
        let err = store
            .load_verified_each(&signer().verifier(), &mut |chunk| {
                handed.extend(chunk.iter().map(|record| record.seq));
                std::ops::ControlFlow::Continue(())
            })
            .unwrap_err()
            .to_string();
        assert!(err.contains(expect), "`{expect}` not in `{err}`");
        assert!(!handed.is_empty(), "the chunks before the tampered one check out");
        assert_eq!(handed, (1..=handed.len() as u64).collect::<Vec<_>>(), "in order, from the first");
        assert!(handed.iter().all(|&seq| seq < 9000), "a chunk holding event 9000 was handed over");
    }
}

/// Start-up from a state checkpoint reads only the events after its tree head, once the stored
/// hashes reproduce that head's root, and checks them as a full load does.
#[test]
fn a_load_from_a_tree_head_reads_and_checks_only_what_follows_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with(&dir, 6_000);
    store.sign_checkpoint(&signer(), Timestamp::from_millis(5)).unwrap().unwrap();
    let from = |store: &mut SqliteStore, size: u64| -> Result<Vec<u64>, String> {
        let root = store.stored_root(size).unwrap().unwrap();
        let mut seqs = Vec::new();
        store
            .load_verified_each_from(&signer().verifier(), Some(TreeHead { size, root }), &mut |chunk| {
                seqs.extend(chunk.iter().map(|record| record.seq));
                std::ops::ControlFlow::Continue(())
            })
            .map(|()| seqs)
            .map_err(|err| err.to_string())
    };
    // Heads inside a tile, at a tile's edge, at the end, at the start.
    for size in [1_234, 4_096, 6_000, 0] {
        assert_eq!(from(&mut store, size).unwrap(), (size + 1..=6_000).collect::<Vec<_>>(), "from {size}");
    }
    // The root at a size is the one the full tree had there (a checkpoint's tree head).
    assert_eq!(store.stored_root(6_001).unwrap(), None);
    let head = TreeHead { size: 1_234, root: store.stored_root(1_235).unwrap().unwrap() };
    let err =
        store.load_verified_each_from(&signer().verifier(), Some(head), &mut |_| std::ops::ControlFlow::Continue(()));
    assert_eq!(
        err.unwrap_err().to_string(),
        "the transparency log was tampered with: the stored log does not reproduce the state checkpoint's tree at \
         size 1234"
    );
    let beyond = TreeHead { size: 7_000, root: head.root };
    assert!(
        store
            .load_verified_each_from(&signer().verifier(), Some(beyond), &mut |_| std::ops::ControlFlow::Continue(()))
            .unwrap_err()
            .to_string()
            .contains("does not reproduce the state checkpoint's tree at size 7000")
    );
    drop(store);
    // An event after the head altered: found. One before it: not read (the checkpoint's state
    // stands for it; a full load, or any verifier of the public log, still finds it).
    let tamper = |seq: u64| {
        format!("UPDATE events SET record = replace(record, '\"name\":\"A\"', '\"name\":\"B\"') WHERE seq = {seq}")
    };
    let dir = tempfile::tempdir().unwrap();
    let mut store = tampered(&dir, 6_000, &tamper(5_000));
    assert!(from(&mut store, 1_234).unwrap_err().contains("does not match the stored events"));
    let dir = tempfile::tempdir().unwrap();
    let mut store = tampered(&dir, 6_000, &tamper(1_000));
    assert_eq!(from(&mut store, 1_234).unwrap().len(), 6_000 - 1_234);
    assert!(store.load_verified(&signer().verifier()).unwrap_err().to_string().contains("does not match"));
}
