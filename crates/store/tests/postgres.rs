//! The PostgreSQL store against the server this machine runs (`PORTCULLIS_TEST_DATABASE_URL`,
//! default `postgres://postgres@127.0.0.1:5432/test`), each test in a fresh schema: the log it
//! writes verifies like SQLite's, tampering is detected, writers on several connections take
//! turns without a gap or a repeat, exactly one store signs checkpoints, and the change feed
//! wakes a follower.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a panic is a test failure with a message"
)]

use std::time::Duration;

use portcullis_core::{EventRecord, Timestamp};
use portcullis_store::{EventStore, Location, PgLocation, PgStore, StoreError, TreeHead};
use portcullis_translog::tile::tiles_for_size;
use portcullis_translog::verify::{TrustPolicy, verify_checkpoint, verify_tiles};

mod common;

use common::{fill, record, signer};

fn url() -> String {
    std::env::var("PORTCULLIS_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A fresh schema, dropped at the end.
struct Schema(PgLocation);

impl Schema {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        Self(PgLocation::parse(&url(), Some(&format!("store_{name}_{}_{nanos}", std::process::id()))).unwrap())
    }

    fn sql(&self, sql: &str) {
        self.0.connect().unwrap().batch_execute(sql).unwrap();
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut client) = self.0.connect() {
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.0.schema()));
        }
    }
}

fn store_with(schema: &Schema, n: u64) -> PgStore {
    let mut store = PgStore::open(&schema.0).unwrap();
    fill(&mut store, n);
    store
}

#[test]
fn the_log_verifies_and_survives_reopening() {
    let schema = Schema::new("log");
    let mut store = store_with(&schema, 700);
    let signed = store.sign_checkpoint(&signer(), Timestamp::from_millis(5)).unwrap().unwrap();
    assert_eq!(signed.size, 700);
    assert!(store.sign_checkpoint(&signer(), Timestamp::from_millis(6)).unwrap().is_none());
    let opened = Location::Postgres(schema.0.clone()).open().unwrap();
    let checkpoint =
        verify_checkpoint(&TrustPolicy::new(signer().verifier()).unwrap(), &signed.note).unwrap().checkpoint;
    let mut tiles = std::collections::BTreeMap::new();
    for tile in tiles_for_size(700) {
        tiles.insert(tile.path(), opened.log.tile(&tile, 700).unwrap().unwrap());
        if tile.level() == 0 {
            let bundle = portcullis_translog::tile::BundleId::new(tile.index(), tile.width()).unwrap();
            tiles.insert(bundle.path(), opened.log.bundle(&bundle, 700).unwrap().unwrap());
        }
    }
    verify_tiles(&checkpoint, &tiles).unwrap();
    assert_eq!(opened.log.latest_checkpoint().unwrap().unwrap(), signed);
    assert_eq!(opened.log.record(42).unwrap().unwrap(), record(42));
    // Reopening (migrations already run) finds everything, checked.
    let mut again = PgStore::open(&schema.0).unwrap();
    assert_eq!(again.load_verified(&signer().verifier()).unwrap().len(), 700);
    // From a state checkpoint's tree head: only what follows it, once its root is reproduced.
    let root = again.stored_root(300).unwrap().unwrap();
    let mut after = Vec::new();
    again
        .load_verified_each_from(&signer().verifier(), Some(TreeHead { size: 300, root }), &mut |chunk| {
            after.extend(chunk.iter().map(|r| r.seq));
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(after, (301..=700).collect::<Vec<_>>());
    assert_eq!(again.stored_root(701).unwrap(), None);
    let wrong = TreeHead { size: 299, root };
    assert!(
        again
            .load_verified_each_from(&signer().verifier(), Some(wrong), &mut |_| std::ops::ControlFlow::Continue(()))
            .unwrap_err()
            .to_string()
            .contains("does not reproduce the state checkpoint's tree at size 299")
    );
    assert_eq!(again.last_seq().unwrap(), 700);
    // Gaps are refused, and the failed batch leaves nothing behind.
    let err = again.append(&[record(701), record(703)]).unwrap_err();
    assert!(matches!(err, StoreError::OutOfSequence { last: 701, got: 703 }), "{err}");
    assert_eq!(again.last_seq().unwrap(), 700);
    // Evidence, idempotent.
    let (digest, new) = opened.evidence.put("text/plain", b"hello", Timestamp::from_millis(1), "bis/j.doe").unwrap();
    assert!(new);
    assert!(!opened.evidence.put("text/plain", b"hello", Timestamp::from_millis(2), "x").unwrap().1);
    assert_eq!(opened.evidence.get(&digest).unwrap().unwrap().bytes, b"hello");
    assert!(opened.evidence.contains(&digest).unwrap());
    // Sessions: one replica's sign-in is valid on another; a sign-out ends it for both.
    let now = Timestamp::from_millis(1_000);
    let session = portcullis_store::SessionRecord {
        login: "acme-ops".to_owned(),
        csrf: "c".to_owned(),
        expires_at: now.plus_millis(60_000),
        password_stamp: "s1".to_owned(),
    };
    opened.sessions.insert("h1", &session, now).unwrap();
    let other = portcullis_store::SessionStore::open_postgres(&schema.0);
    assert_eq!(other.get("h1", now).unwrap(), Some(session.clone()));
    // A password change seen by one replica re-stamps the session for both.
    other.restamp("h1", "s2").unwrap();
    let restamped = portcullis_store::SessionRecord { password_stamp: "s2".to_owned(), ..session.clone() };
    assert_eq!(opened.sessions.get("h1", now).unwrap(), Some(restamped));
    assert_eq!(other.get("h1", session.expires_at).unwrap(), None);
    other.remove("h1").unwrap();
    assert_eq!(opened.sessions.get("h1", now).unwrap(), None);
}

#[test]
fn sign_in_failures_add_up_across_replicas() {
    let schema = Schema::new("lockout");
    let _migrated = PgStore::open(&schema.0).unwrap();
    let a = portcullis_store::SessionStore::open_postgres(&schema.0);
    let b = portcullis_store::SessionStore::open_postgres(&schema.0);
    common::check_shared_lockout(&a, &b);
}

#[test]
fn tampering_is_detected() {
    for (sql, expect) in [
        (
            "UPDATE events SET record = replace(record, '\"name\":\"A\"', '\"name\":\"B\"') WHERE seq = 77",
            "does not match the stored events",
        ),
        (
            "UPDATE log_hashes SET hash = decode(repeat('00', 32), 'hex') WHERE idx = 10",
            "does not match the stored events",
        ),
        ("DELETE FROM events WHERE seq = 150", "is stored where event 150 belongs"),
        ("UPDATE checkpoints SET note = replace(note, '300', '299')", "the latest checkpoint does not verify"),
    ] {
        let schema = Schema::new("tamper");
        let mut store = store_with(&schema, 300);
        store.sign_checkpoint(&signer(), Timestamp::from_millis(5)).unwrap().unwrap();
        drop(store);
        schema.sql(&format!("SET search_path TO \"{}\"; {sql}", schema.0.schema()));
        let err = PgStore::open(&schema.0).unwrap().load_verified(&signer().verifier()).unwrap_err().to_string();
        assert!(err.contains(expect), "`{expect}` not in `{err}` after `{sql}`");
    }
}

/// Four stores, as four replicas' writers would, each appending through `write` from what it
/// last knew: every batch first sees what the others stored, and the sequence has no gap and
/// no repeat.
#[test]
fn writers_on_several_connections_take_turns() {
    let schema = Schema::new("writers");
    drop(PgStore::open(&schema.0).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|writer| {
            let location = schema.0.clone();
            std::thread::spawn(move || {
                let mut store = PgStore::open(&location).unwrap();
                let mut known = 0_u64;
                let mut mine = Vec::new();
                for _ in 0..25 {
                    store
                        .write(known, &mut |newer| {
                            // What the others stored, in order, right after what this one knew.
                            for (offset, record) in (1_u64..).zip(&newer) {
                                assert_eq!(record.seq, known + offset);
                            }
                            known += newer.len() as u64;
                            let batch: Vec<EventRecord> = (known + 1..=known + 3).map(record).collect();
                            batch
                        })
                        .unwrap();
                    known += 3;
                    mine.push(known);
                }
                (writer, mine)
            })
        })
        .collect();
    let mut ends: Vec<u64> = threads.into_iter().flat_map(|t| t.join().unwrap().1).collect();
    ends.sort_unstable();
    ends.dedup();
    assert_eq!(ends.len(), 100, "two writers ended a batch at the same sequence number");
    let mut store = PgStore::open(&schema.0).unwrap();
    let all = store.load_verified(&signer().verifier()).unwrap();
    assert_eq!(all.len(), 300);
    assert!(all.iter().zip(1_u64..).all(|(r, seq)| r.seq == seq));
}

#[test]
fn exactly_one_store_signs_checkpoints_until_it_goes() {
    let schema = Schema::new("sequencer");
    let mut first = store_with(&schema, 10);
    let mut second = PgStore::open(&schema.0).unwrap();
    assert!(first.sign_checkpoint(&signer(), Timestamp::from_millis(1)).unwrap().is_some());
    assert!(first.is_sequencer());
    second.append(&[record(11)]).unwrap();
    // The second may not sign while the first holds the lock, even though the log grew.
    assert!(second.sign_checkpoint(&signer(), Timestamp::from_millis(2)).unwrap().is_none());
    assert!(!second.is_sequencer());
    // The first goes away (its connection closes): the second takes over.
    drop(first);
    let mut taken = None;
    for _ in 0..100 {
        taken = second.sign_checkpoint(&signer(), Timestamp::from_millis(3)).unwrap();
        if taken.is_some() {
            break;
        }
        // The old connection's close is asynchronous.
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(taken.unwrap().size, 11);
    assert!(second.is_sequencer());
}

#[test]
fn the_change_feed_wakes_on_another_stores_commit() {
    let schema = Schema::new("feed");
    let mut writer = PgStore::open(&schema.0).unwrap();
    let mut feed = writer.change_feed().unwrap().unwrap();
    // The first wait connects and reports that anything may have been missed.
    assert!(feed.wait(Duration::from_millis(10)).unwrap());
    writer.append(&[record(1)]).unwrap();
    let mut woke = false;
    for _ in 0..100 {
        if feed.wait(Duration::from_millis(100)).unwrap() {
            woke = true;
            break;
        }
    }
    assert!(woke, "no notice arrived");
    assert_eq!(writer.events_after(0, 10).unwrap(), vec![record(1)]);
}

#[test]
fn bad_locations_are_named() {
    let err = PgLocation::parse("postgres://x@127.0.0.1/test", Some("Bad-Name")).unwrap_err().to_string();
    assert!(err.contains("invalid database_schema `Bad-Name`"), "{err}");
    let err = PgLocation::parse("nonsense://", None).unwrap_err().to_string();
    assert!(err.contains("invalid database_url"), "{err}");
    // The password never shows.
    let location = PgLocation::parse("postgres://u:sekrit@127.0.0.1:5432/test", None).unwrap();
    assert!(!format!("{location} {location:?}").contains("sekrit"));
    // An unreachable server is an error, not a hang or a panic.
    let err = PgStore::open(&PgLocation::parse("postgres://postgres@127.0.0.1:1/test", None).unwrap()).err().unwrap();
    assert!(err.to_string().starts_with("PostgreSQL error"), "{err}");
}

/// TLS with the server's certificate verified, against the machine's PostgreSQL, which Debian
/// configures with `ssl = on` and a self-signed `localhost` certificate.
#[test]
fn tls_connections_verify_the_server() {
    let ca = std::path::Path::new("/etc/ssl/certs/ssl-cert-snakeoil.pem");
    let plain = PgLocation::parse(&url(), None).unwrap();
    let ssl_on: String = plain.connect().unwrap().query_one("SHOW ssl", &[]).unwrap().get(0);
    if ssl_on != "on" || !ca.exists() {
        eprintln!("skipped: this PostgreSQL has no TLS set up (ssl = {ssl_on}, {} missing)", ca.display());
        return;
    }
    let tls_url = "postgres://postgres@localhost:5432/test?sslmode=require";
    let schema = format!("store_tls_{}", std::process::id());
    // Mozilla's roots do not include a self-signed certificate: refused, saying why.
    let err = PgLocation::parse(tls_url, Some(&schema)).unwrap().connect().err().unwrap().to_string();
    assert!(err.contains("certificate"), "{err}");
    // With the server's CA: connected, encrypted, and the store works.
    let location = PgLocation::parse(tls_url, Some(&schema)).unwrap().with_ca_file(ca).unwrap();
    assert!(location.to_string().ends_with("TLS)"), "{location}");
    let mut store = PgStore::open(&location).unwrap();
    store.append(&[record(1)]).unwrap();
    let mut client = location.connect().unwrap();
    let encrypted: bool =
        client.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).unwrap().get(0);
    assert!(encrypted);
    let _ = client.batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"));
    // A CA file without TLS asked for, or that is not PEM, is named.
    let err = plain.clone().with_ca_file(ca).err().unwrap().to_string();
    assert!(err.contains("add `sslmode=require`"), "{err}");
    let not_pem = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(not_pem.path(), "hello").unwrap();
    let err = PgLocation::parse(tls_url, None).unwrap().with_ca_file(not_pem.path()).err().unwrap().to_string();
    assert!(err.contains("holds no certificate"), "{err}");
}
