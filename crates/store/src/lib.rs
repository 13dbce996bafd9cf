//! Durable event storage for Portcullis.
//!
//! Events are the source of truth: the store appends them in sequence and hands them back in
//! order on start, and the gateway rebuilds its state by replaying them. An append returns only
//! after the transaction is on disk (SQLite WAL with `synchronous = FULL`, or a PostgreSQL
//! commit with `synchronous_commit` on), which is what lets the API acknowledge a change.
//!
//! # Layout
//!
//! - [`EventStore`]: the interface the gateway's writer uses.
//! - [`sqlite`]: the embedded default, one file, one process.
//! - [`postgres`]: a database shared by several replicas; writes are serialised by a lock in the
//!   database, and a [`ChangeFeed`] tells each replica when another one wrote.
//! - [`log`]: the transparency log's stored hashes, checkpoints, and its read side, written once
//!   over [`log::LogSource`] for both backends.
#![deny(missing_docs)]

pub mod evidence;
pub mod log;
pub mod postgres;
pub mod sessions;
pub mod sqlite;

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Duration;

use portcullis_core::{EventRecord, Timestamp};
use portcullis_translog::{Hash, NoteSigner, NoteVerifier};

pub use evidence::{EvidenceDocument, EvidenceStore};
pub use log::{LogReader, StoredCheckpoint};
pub use postgres::{PgLocation, PgStore};
pub use sessions::{LockoutPolicy, SessionRecord, SessionStore};
pub use sqlite::SqliteStore;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database reported an error.
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// PostgreSQL reported an error, or could not be reached.
    #[error("PostgreSQL error: {}", with_causes(.0))]
    Postgres(#[from] ::postgres::Error),
    /// The store's location is not usable (a malformed URL, a bad schema name).
    #[error("{0}")]
    Config(String),
    /// A stored event could not be decoded.
    #[error("stored event {seq} is unreadable: {problem}")]
    Corrupt {
        /// Its sequence number.
        seq: i64,
        /// What is wrong.
        problem: String,
    },
    /// An append did not continue the sequence (another writer, or a bug).
    #[error("event {got} does not follow the stored sequence, which ends at {last}")]
    OutOfSequence {
        /// The last stored sequence number.
        last: u64,
        /// The sequence number offered.
        got: u64,
    },
    /// The log does not match the stored events or its signed checkpoint: something was altered.
    #[error("the transparency log was tampered with: {0}")]
    LogTampered(String),
    /// A log operation failed.
    #[error("transparency log error: {0}")]
    Log(String),
    /// The database was written by a newer version of Portcullis.
    #[error("database schema version {found} is newer than this program supports ({supported})")]
    TooNew {
        /// Version found.
        found: i64,
        /// Newest supported.
        supported: i64,
    },
}

/// A size of the log's tree and its root: where a state checkpoint says its state stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeHead {
    /// Leaves, which is the sequence number of the last event the state applied.
    pub size: u64,
    /// The tree's root at that size.
    pub root: Hash,
}

/// Where events are kept.
pub trait EventStore: Send {
    /// Appends events atomically and durably: when this returns `Ok`, all of them are on disk;
    /// when it returns `Err`, none of them are.
    ///
    /// # Errors
    ///
    /// Fails on a database error or when the events do not continue the stored sequence.
    fn append(&mut self, records: &[EventRecord]) -> Result<(), StoreError>;

    /// One write under the store's write lock, the way the gateway's writer makes every change.
    ///
    /// Takes the lock (held until commit, so writers on several replicas take turns), reads the
    /// events stored after `known` (written by other replicas since this one last looked), hands
    /// them to `batch`, and appends the events `batch` returns, which must continue the sequence
    /// after those, and hands them back once stored (moved, not copied). When this returns
    /// `Err`, nothing `batch` returned is stored, but the events it was handed are: they were
    /// committed by another writer.
    ///
    /// # Errors
    ///
    /// Fails on a database error or when the returned events do not continue the sequence.
    fn write(
        &mut self,
        known: u64,
        batch: &mut dyn FnMut(Vec<EventRecord>) -> Vec<EventRecord>,
    ) -> Result<Vec<EventRecord>, StoreError>;

    /// The sequence number of the last stored event (0 when there is none).
    ///
    /// # Errors
    ///
    /// On a database error.
    fn last_seq(&mut self) -> Result<u64, StoreError>;

    /// Whether this process signs the log's checkpoints: always for a store of its own; for a
    /// shared one, whether it held the sequencer's lock at its last attempt.
    fn is_sequencer(&self) -> bool;

    /// A feed that wakes when another process stores events, for a store shared by several
    /// replicas; `None` for a store only this process writes.
    ///
    /// # Errors
    ///
    /// When the feed's connection cannot be made.
    fn change_feed(&self) -> Result<Option<Box<dyn ChangeFeed>>, StoreError>;

    /// Stored events with a sequence number above `after`, in order, at most `limit`.
    ///
    /// # Errors
    ///
    /// Fails on a database error or an unreadable event.
    fn events_after(&mut self, after: u64, limit: usize) -> Result<Vec<EventRecord>, StoreError>;

    /// Every stored event, in sequence order, handed to `each` a chunk at a time: the transparency
    /// log is recomputed from the events and each chunk is handed over once it matches the
    /// stored hashes; the latest checkpoint (verified with `verifier`) is checked after the last
    /// chunk. Only one chunk is held at a time, so memory does not grow with the log, and the
    /// caller can replay one chunk (on another thread) while the next is read and checked.
    ///
    /// When `each` answers `Break`, reading stops and this returns `Ok` without checking the
    /// checkpoint. Whatever the caller built from the chunks is trustworthy only once this
    /// returns `Ok` after the last one.
    ///
    /// # Errors
    ///
    /// [`StoreError::LogTampered`] naming what does not match, a database error, or an
    /// unreadable event.
    fn load_verified_each(
        &mut self,
        verifier: &NoteVerifier,
        each: &mut dyn FnMut(Vec<EventRecord>) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.load_verified_each_from(verifier, None, each)
    }

    /// [`EventStore::load_verified_each`] for the events after `from`, a tree head whose state
    /// the caller already holds (a state checkpoint): the stored hashes must reproduce its root,
    /// which vouches for the stored hashes the later ones are computed from, and every event
    /// after it is checked as a full load checks it. The events up to it are not read: that is
    /// what makes a start from a checkpoint fast, and why the checkpoint's own tree head must be
    /// one the caller verified when it wrote it.
    ///
    /// # Errors
    ///
    /// As [`EventStore::load_verified_each`]; [`StoreError::LogTampered`] when the stored hashes
    /// do not reproduce `from`'s root or fewer events are stored.
    fn load_verified_each_from(
        &mut self,
        verifier: &NoteVerifier,
        from: Option<TreeHead>,
        each: &mut dyn FnMut(Vec<EventRecord>) -> ControlFlow<()>,
    ) -> Result<(), StoreError>;

    /// The root of the stored tree at `size` leaves, from the stored hashes (a few reads, not
    /// the whole log); `None` when fewer events are stored.
    ///
    /// # Errors
    ///
    /// On a database error or missing stored hashes.
    fn stored_root(&mut self, size: u64) -> Result<Option<Hash>, StoreError>;

    /// Every stored event in one vector, checked as [`EventStore::load_verified_each`] checks
    /// them (for tests and small stores: the whole log is in memory at once).
    ///
    /// # Errors
    ///
    /// As [`EventStore::load_verified_each`].
    fn load_verified(&mut self, verifier: &NoteVerifier) -> Result<Vec<EventRecord>, StoreError> {
        let mut all = Vec::new();
        self.load_verified_each(verifier, &mut |chunk| {
            all.extend(chunk);
            ControlFlow::Continue(())
        })?;
        Ok(all)
    }

    /// Signs and stores a checkpoint if the log grew since the last one.
    ///
    /// # Errors
    ///
    /// On a database or signing error.
    fn sign_checkpoint(&mut self, signer: &NoteSigner, now: Timestamp) -> Result<Option<StoredCheckpoint>, StoreError>;

    /// Replaces a stored checkpoint's note with a cosigned one (same checkpoint, more signatures).
    ///
    /// # Errors
    ///
    /// On a database error.
    fn store_cosigned(&mut self, checkpoint: &StoredCheckpoint) -> Result<(), StoreError>;
}

/// One row of the `events` table, as both backends store it.
pub(crate) struct EventRow {
    pub(crate) seq: i64,
    pub(crate) at: i64,
    /// A copy of the event's kind, for operators querying by hand.
    pub(crate) kind: &'static str,
    /// The canonical stored JSON of the whole record.
    pub(crate) record: String,
}

/// The rows of `records`, checked to continue a log of `tree_size` events (INVARIANT
/// log-size: one leaf per event, so the tree size is the last sequence number).
pub(crate) fn event_rows(tree_size: u64, records: &[EventRecord]) -> Result<Vec<EventRow>, StoreError> {
    (tree_size + 1..)
        .zip(records)
        .map(|(expected, record)| {
            let out_of_sequence = || StoreError::OutOfSequence { last: expected - 1, got: record.seq };
            if record.seq != expected {
                return Err(out_of_sequence());
            }
            let seq = i64::try_from(record.seq).map_err(|_| out_of_sequence())?;
            let text = record.to_stored_json().map_err(|err| StoreError::Corrupt { seq, problem: err.to_string() })?;
            Ok(EventRow { seq, at: record.at.as_millis(), kind: record.event.kind(), record: text })
        })
        .collect()
}

/// The event a stored row holds, checked to be the one its sequence number says.
pub(crate) fn event_of_row(seq: i64, text: &str) -> Result<EventRecord, StoreError> {
    let record =
        EventRecord::from_stored_json(text).map_err(|err| StoreError::Corrupt { seq, problem: err.to_string() })?;
    if i64::try_from(record.seq).ok() != Some(seq) {
        return Err(StoreError::Corrupt { seq, problem: format!("row holds event {}", record.seq) });
    }
    Ok(record)
}

/// An error and its causes, `: `-separated (the client's top-level message alone, e.g. "error
/// performing TLS handshake", does not say what to fix).
fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        let next = inner.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = inner.source();
    }
    text
}

/// Wakes a replica when another one has stored events.
pub trait ChangeFeed: Send {
    /// Waits at most `timeout` for a notice of new events. `Ok(true)`: events were stored;
    /// `Ok(false)`: nothing arrived in time. Reconnects by itself after an error is returned;
    /// a caller should read the events it may have missed then.
    ///
    /// # Errors
    ///
    /// When the feed's connection is lost or cannot be made.
    fn wait(&mut self, timeout: Duration) -> Result<bool, StoreError>;
}

/// Where the database is: the embedded default, or PostgreSQL shared by replicas.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant, reason = "read once at start-up: its size does not matter")]
pub enum Location {
    /// One SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database (and schema).
    Postgres(PgLocation),
}

/// A store opened for the gateway: its writer's store, the log's read side and evidence.
pub struct Opened {
    /// For the single writer.
    pub events: Box<dyn EventStore>,
    /// The transparency log's read side.
    pub log: LogReader,
    /// Evidence documents.
    pub evidence: EvidenceStore,
    /// Portal sign-in sessions.
    pub sessions: SessionStore,
}

impl Location {
    /// Opens the store (running pending migrations) and its readers.
    ///
    /// # Errors
    ///
    /// When the database cannot be opened or reached, is not a Portcullis database, or was
    /// written by a newer version.
    pub fn open(&self) -> Result<Opened, StoreError> {
        match self {
            Location::Sqlite(path) => {
                let events = SqliteStore::open(path)?;
                Ok(Opened {
                    events: Box::new(events),
                    log: LogReader::open(path)?,
                    evidence: EvidenceStore::open(path)?,
                    sessions: SessionStore::open(path)?,
                })
            }
            Location::Postgres(location) => {
                let events = PgStore::open(location)?;
                Ok(Opened {
                    events: Box::new(events),
                    log: LogReader::open_postgres(location),
                    evidence: EvidenceStore::open_postgres(location),
                    sessions: SessionStore::open_postgres(location),
                })
            }
        }
    }
}

impl std::fmt::Display for Location {
    /// For messages: the file, or the server and database without credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(location) => write!(f, "{location}"),
        }
    }
}

/// One connection of either backend, for the small tables read and written outside the
/// writer (evidence, sessions). A std mutex: calls are short, blocking, and made from
/// `spawn_blocking`.
#[allow(clippy::large_enum_variant, reason = "one per table per process, long-lived: its size does not matter")]
pub(crate) enum Db {
    Sqlite(std::sync::Mutex<rusqlite::Connection>),
    Postgres(std::sync::Mutex<postgres::PgConn>),
}

impl Db {
    /// A read-write connection to a SQLite file whose migrations have run: `synchronous = FULL`,
    /// so an acknowledged write survives a crash.
    pub(crate) fn sqlite(path: &std::path::Path) -> Result<Self, StoreError> {
        let connection = rusqlite::Connection::open(path)?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.busy_timeout(Duration::from_secs(5))?;
        Ok(Db::Sqlite(std::sync::Mutex::new(connection)))
    }

    pub(crate) fn postgres(location: &PgLocation) -> Self {
        Db::Postgres(std::sync::Mutex::new(postgres::PgConn::new(location.clone())))
    }

    /// Runs the SQLite or the PostgreSQL version of a statement.
    pub(crate) fn with<T>(
        &self,
        sqlite: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError>,
        postgres: impl FnOnce(&mut ::postgres::Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let poisoned = || StoreError::Log("a store connection's lock is poisoned".to_owned());
        match self {
            Db::Sqlite(connection) => sqlite(&*connection.lock().map_err(|_| poisoned())?),
            Db::Postgres(connection) => postgres(connection.lock().map_err(|_| poisoned())?.client()?),
        }
    }
}
