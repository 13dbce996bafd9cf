//! The embedded SQLite store.

use std::ops::ControlFlow;
use std::path::Path;

use portcullis_core::{EventRecord, Timestamp};
use portcullis_translog::{NoteSigner, NoteVerifier};
use rusqlite::{Connection, params};

use crate::log::StoredCheckpoint;
use crate::{EventStore, StoreError};

/// Migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    // 1: the event sequence. `record` is the canonical stored JSON of the whole `EventRecord`;
    // `at` and `kind` are copies for operators querying the file by hand.
    "CREATE TABLE events (
        seq    INTEGER PRIMARY KEY,
        at     INTEGER NOT NULL,
        kind   TEXT    NOT NULL,
        record TEXT    NOT NULL
    ) STRICT;",
    // 2: the transparency log. `log_hashes` holds the Merkle tree's stored hashes (Go tlog's
    // stored-hash indexing), written in the same transaction as the events; `checkpoints`
    // holds every signed checkpoint, stored before it is served.
    "CREATE TABLE log_hashes (
        idx  INTEGER PRIMARY KEY,
        hash BLOB    NOT NULL
    ) STRICT;
    CREATE TABLE checkpoints (
        size      INTEGER PRIMARY KEY,
        note      TEXT    NOT NULL,
        signed_at INTEGER NOT NULL
    ) STRICT;",
    // 3: evidence documents, content-addressed. Events cite a document by its digest; the
    // document itself is never in the log (its disclosure level decides who may read it).
    "CREATE TABLE evidence (
        sha256      TEXT    PRIMARY KEY,
        media_type  TEXT    NOT NULL,
        bytes       BLOB    NOT NULL,
        uploaded_at INTEGER NOT NULL,
        uploaded_by TEXT    NOT NULL
    ) STRICT;",
    // 4: portal sign-in sessions, by the SHA-256 of their cookie token (never the token).
    // Shared by replicas with the rest of the store; expired rows are pruned on sign-in.
    "CREATE TABLE sessions (
        token_hash TEXT    PRIMARY KEY,
        login      TEXT    NOT NULL,
        csrf       TEXT    NOT NULL,
        expires_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX sessions_expiry ON sessions (expires_at);",
    // 5: failed sign-ins in a row per login name (known or not), shared by replicas so a lockout
    // holds behind a load balancer. Rows neither locked nor failed within the lockout period are
    // pruned on the next failure.
    "CREATE TABLE sign_in_failures (
        login        TEXT    PRIMARY KEY,
        failures     INTEGER NOT NULL,
        last_at      INTEGER NOT NULL,
        locked_until INTEGER
    ) STRICT;",
    // 6: what a session knows of its account's password at sign-in (a digest of its hash), so a
    // password change ends every session started before it; older sessions have none and end.
    "ALTER TABLE sessions ADD COLUMN password_stamp TEXT NOT NULL DEFAULT '';",
];

/// Events in one SQLite file.
pub struct SqliteStore {
    connection: Connection,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and runs pending migrations.
    ///
    /// # Errors
    ///
    /// Fails when the file cannot be opened, is not a Portcullis database, or was written by a
    /// newer version.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let connection = Connection::open(path)?;
        // WAL lets readers proceed during a write; `synchronous = FULL` fsyncs the WAL on every
        // commit, so an acknowledged event survives power loss, not only a process crash.
        // `NORMAL` would be faster but can lose the last commits on power failure.
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        // Room for every statement this module prepares, including the hash-read ones.
        connection.set_prepared_statement_cache_capacity(64);
        let mut store = Self { connection };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let version: i64 = self.connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
        let supported = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
        if version > supported {
            return Err(StoreError::TooNew { found: version, supported });
        }
        let transaction = self.connection.transaction()?;
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(version).unwrap_or(0)) {
            transaction.execute_batch(sql)?;
            transaction.pragma_update(None, "user_version", i64::try_from(index + 1).unwrap_or(i64::MAX))?;
        }
        transaction.commit()?;
        Ok(())
    }
}

/// Stores events and their log hashes inside the caller's transaction, checking that they
/// continue the stored sequence.
fn insert_events(transaction: &Connection, records: &[EventRecord]) -> Result<(), StoreError> {
    // INVARIANT (log-size): the log has exactly one leaf per stored event, so the tree
    // size is the last sequence number.
    let tree_size = crate::log::tree_size(transaction)?;
    {
        let mut insert =
            transaction.prepare_cached("INSERT INTO events (seq, at, kind, record) VALUES (?1, ?2, ?3, ?4)")?;
        for row in crate::event_rows(tree_size, records)? {
            insert.execute(params![row.seq, row.at, row.kind, row.record])?;
        }
    }
    // INVARIANT (log-size): maintained here, in the events' own transaction.
    crate::log::append_hashes(transaction, tree_size, records)
}

/// Events with a sequence number above `after`, in order, at most `limit`.
pub(crate) fn read_events(connection: &Connection, after: u64, limit: usize) -> Result<Vec<EventRecord>, StoreError> {
    let mut statement =
        connection.prepare_cached("SELECT seq, record FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows =
        statement.query_map(params![after, limit], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?)))?;
    let mut records = Vec::new();
    for row in rows {
        let (seq, text) = row?;
        records.push(crate::event_of_row(seq, &text)?);
    }
    Ok(records)
}

impl EventStore for SqliteStore {
    fn events_after(&mut self, after: u64, limit: usize) -> Result<Vec<EventRecord>, StoreError> {
        read_events(&self.connection, after, limit)
    }

    fn append(&mut self, records: &[EventRecord]) -> Result<(), StoreError> {
        let transaction = self.connection.transaction()?;
        insert_events(&transaction, records)?;
        transaction.commit()?;
        Ok(())
    }

    fn write(
        &mut self,
        known: u64,
        batch: &mut dyn FnMut(Vec<EventRecord>) -> Vec<EventRecord>,
    ) -> Result<Vec<EventRecord>, StoreError> {
        // IMMEDIATE takes the write lock now, not at the first insert: what `batch` decides
        // from is still the latest when its events are stored.
        let transaction = self.connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Empty unless another process wrote to this file (not a supported set-up, but safe).
        let newer = read_events(&transaction, known, usize::MAX)?;
        let records = batch(newer);
        if records.is_empty() {
            return Ok(records);
        }
        insert_events(&transaction, &records)?;
        transaction.commit()?;
        Ok(records)
    }

    fn last_seq(&mut self) -> Result<u64, StoreError> {
        crate::log::tree_size(&self.connection)
    }

    fn change_feed(&self) -> Result<Option<Box<dyn crate::ChangeFeed>>, StoreError> {
        Ok(None)
    }

    fn is_sequencer(&self) -> bool {
        true
    }

    fn load_verified_each_from(
        &mut self,
        verifier: &NoteVerifier,
        from: Option<crate::TreeHead>,
        each: &mut dyn FnMut(Vec<EventRecord>) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        crate::log::load_checked(&crate::log::SqlHashes(&self.connection), verifier, from, each)
    }

    fn stored_root(&mut self, size: u64) -> Result<Option<portcullis_translog::Hash>, StoreError> {
        crate::log::stored_root(&crate::log::SqlHashes(&self.connection), size)
    }

    fn sign_checkpoint(&mut self, signer: &NoteSigner, now: Timestamp) -> Result<Option<StoredCheckpoint>, StoreError> {
        crate::log::sign_checkpoint(&mut self.connection, signer, now)
    }

    fn store_cosigned(&mut self, checkpoint: &StoredCheckpoint) -> Result<(), StoreError> {
        crate::log::store_cosigned(&self.connection, checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use portcullis_core::{Actor, AuthorityId, Event, Timestamp};

    use super::*;

    fn record(seq: u64) -> EventRecord {
        EventRecord {
            seq,
            at: Timestamp::from_millis(1000 + i64::try_from(seq).unwrap()),
            actor: Actor::Provider { name: "ops".to_owned() },
            event: Event::AuthorityRegistered {
                authority: AuthorityId::parse(&format!("a{seq}")).unwrap(),
                name: "A".to_owned(),
            },
        }
    }

    #[test]
    fn appends_survive_reopen_and_gaps_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        {
            let mut store = SqliteStore::open(&path).unwrap();
            store.append(&[record(1), record(2)]).unwrap();
            let err = store.append(&[record(3), record(5)]).unwrap_err();
            assert_eq!(err.to_string(), "event 5 does not follow the stored sequence, which ends at 3");
        }
        let mut store = SqliteStore::open(&path).unwrap();
        // The failed batch left nothing behind: all or nothing.
        assert_eq!(store.events_after(0, usize::MAX).unwrap(), vec![record(1), record(2)]);
        store.append(&[record(3)]).unwrap();
        assert_eq!(store.events_after(0, usize::MAX).unwrap().len(), 3);
    }

    #[test]
    fn corrupt_rows_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let mut store = SqliteStore::open(&path).unwrap();
        store.append(&[record(1)]).unwrap();
        store.connection.execute("UPDATE events SET record = '{' WHERE seq = 1", []).unwrap();
        let err = store.events_after(0, usize::MAX).unwrap_err();
        assert!(err.to_string().starts_with("stored event 1 is unreadable"), "{err}");
    }

    #[test]
    fn newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        drop(SqliteStore::open(&path).unwrap());
        Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
        let err = SqliteStore::open(&path).err().unwrap();
        assert_eq!(
            err.to_string(),
            format!("database schema version 99 is newer than this program supports ({})", MIGRATIONS.len())
        );
    }
}
