//! Transparency-log figures on this machine (see BENCHMARKS.md):
//!
//! 1. durable appends through `SqliteStore::append` (events + tree hashes, one transaction,
//!    `synchronous = FULL`, i.e. fsync per commit) at several batch sizes;
//! 2. inclusion and consistency proofs at 10 million entries, from memory and from SQLite;
//! 3. verifying a signed checkpoint and one receipt (inclusion proof) at 10 million entries.
//!
//! `cargo bench -p portcullis-store --bench log`. `LOG_BENCH_SIZE` overrides the 10 million.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, reason = "benchmark code")]

use std::time::{Duration, Instant};

use portcullis_core::{Actor, AuthorityId, Event, EventRecord, Timestamp};
use portcullis_store::{EventStore, LogReader, SqliteStore};
use portcullis_translog::proof::TlogProof;
use portcullis_translog::tree::{append_leaf_hashes, prove_consistency, prove_inclusion, tree_hash};
use portcullis_translog::verify::{TrustPolicy, verify_receipt_text};
use portcullis_translog::{Checkpoint, Hash, NoteSigner, leaf_hash};

fn record(seq: u64) -> EventRecord {
    EventRecord {
        seq,
        at: Timestamp::from_millis(1_795_800_000_000 + i64::try_from(seq).unwrap()),
        actor: Actor::Authority {
            authority: AuthorityId::parse("bis").unwrap(),
            official: portcullis_core::OfficialName::parse("j.doe").unwrap(),
        },
        event: Event::AuthorityRegistered {
            authority: AuthorityId::parse(&format!("authority-{seq}")).unwrap(),
            name: "A realistic name".to_owned(),
        },
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn durable_appends() {
    println!("## durable appends (SQLite, WAL, synchronous=FULL: one fsync per commit)");
    println!("| batch size | events | seconds | events/s |");
    println!("|---:|---:|---:|---:|");
    for (batch, total) in [(1_u64, 2_000_u64), (64, 40_000), (512, 200_000), (4096, 400_000)] {
        let dir = tempfile::tempdir_in(std::env::var_os("LOG_BENCH_DIR").unwrap_or_else(|| ".".into())).unwrap();
        let mut store = SqliteStore::open(&dir.path().join("bench.db")).unwrap();
        let started = Instant::now();
        let mut seq = 1;
        while seq <= total {
            let records: Vec<EventRecord> = (seq..seq + batch).map(record).collect();
            store.append(&records).unwrap();
            seq += batch;
        }
        let elapsed = started.elapsed();
        println!("| {batch} | {total} | {:.2} | {:.0} |", elapsed.as_secs_f64(), total as f64 / elapsed.as_secs_f64());
    }
}

fn proofs_and_verification(size: u64) {
    println!();
    println!("## proofs and verification at {size} entries");
    let started = Instant::now();
    let mut hashes: Vec<Hash> = Vec::new();
    let mut n = 0;
    while n < size {
        let chunk = (size - n).min(1 << 16);
        let leaves: Vec<Hash> = (n..n + chunk).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        let appended = append_leaf_hashes(n, &leaves, &hashes).unwrap();
        hashes.extend(appended.stored_hashes);
        n = appended.new_size;
    }
    println!("(built {} stored hashes in memory in {:.1} s)", hashes.len(), started.elapsed().as_secs_f64());
    let root = tree_hash(size, &hashes).unwrap();

    let runs = 2_000;
    let mut inclusion = Vec::new();
    let mut consistency = Vec::new();
    for i in 0..runs {
        let leaf = (i * 7_919_993) % size;
        let t = Instant::now();
        let proof = prove_inclusion(size, leaf, &hashes).unwrap();
        inclusion.push(t.elapsed());
        assert!(!proof.is_empty());
        let old = 1 + (i * 3_333_331) % (size - 1);
        let t = Instant::now();
        let proof = prove_consistency(size, old, &hashes).unwrap();
        consistency.push(t.elapsed());
        assert!(!proof.is_empty());
    }
    println!("| operation | median | max |");
    println!("|---|---:|---:|");
    let row = |name: &str, samples: Vec<Duration>| {
        let max = *samples.iter().max().unwrap();
        println!("| {name} | {:.1} µs | {:.1} µs |", median(samples).as_secs_f64() * 1e6, max.as_secs_f64() * 1e6);
    };
    row("inclusion proof (stored hashes in memory)", inclusion);
    row("consistency proof (stored hashes in memory)", consistency);

    // The same proofs from SQLite, as the gateway's read side serves them.
    let dir = tempfile::tempdir_in(std::env::var_os("LOG_BENCH_DIR").unwrap_or_else(|| ".".into())).unwrap();
    let path = dir.path().join("proofs.db");
    {
        // Build the tables directly (not through 10 million events): the proof path only reads
        // `log_hashes`.
        drop(SqliteStore::open(&path).unwrap());
        let mut connection = rusqlite::Connection::open(&path).unwrap();
        connection.pragma_update(None, "synchronous", "OFF").unwrap();
        let tx = connection.transaction().unwrap();
        {
            let mut insert = tx.prepare("INSERT INTO log_hashes (idx, hash) VALUES (?1, ?2)").unwrap();
            for (idx, hash) in hashes.iter().enumerate() {
                insert.execute(rusqlite::params![i64::try_from(idx).unwrap(), hash.as_bytes().as_slice()]).unwrap();
            }
        }
        tx.commit().unwrap();
    }
    let reader = LogReader::open(&path).unwrap();
    let mut inclusion = Vec::new();
    let mut consistency = Vec::new();
    for i in 0..runs {
        let leaf = (i * 7_919_993) % size;
        let t = Instant::now();
        let proof = reader.inclusion_proof(leaf, size).unwrap();
        inclusion.push(t.elapsed());
        assert_eq!(proof, prove_inclusion(size, leaf, &hashes).unwrap());
        let old = 1 + (i * 3_333_331) % (size - 1);
        let t = Instant::now();
        reader.consistency_proof(old, size).unwrap();
        consistency.push(t.elapsed());
    }
    row("inclusion proof (from SQLite)", inclusion);
    row("consistency proof (from SQLite)", consistency);

    // Verifying: the checkpoint's signature and one receipt's inclusion proof.
    let signer = NoteSigner::from_seed("bench.localhost/log", &[3; 32]).unwrap();
    let note = signer.sign_note(&Checkpoint::new(signer.name(), size, root).unwrap().to_text()).unwrap();
    let policy = TrustPolicy::new(signer.verifier()).unwrap();
    let leaf = size / 3;
    let entry = leaf.to_le_bytes();
    let receipt = TlogProof::new(leaf, prove_inclusion(size, leaf, &hashes).unwrap(), &note).unwrap().to_text();
    let mut verify = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        verify_receipt_text(&policy, &receipt, &entry).unwrap();
        verify.push(t.elapsed());
    }
    row("verify checkpoint signature + one inclusion proof (receipt)", verify);
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let size: u64 = std::env::var("LOG_BENCH_SIZE").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000_000);
    durable_appends();
    proofs_and_verification(size);
}
