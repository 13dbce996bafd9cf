//! Durable event storage for Portcullis.
//!
//! Events are the source of truth: the store appends them in sequence and hands them back in
//! order on start, and the gateway rebuilds its state by replaying them. An append returns only
//! after the transaction is on disk (SQLite WAL with `synchronous = FULL`, so each commit is
//! fsynced), which is what lets the API acknowledge a change.
//!
//! # Layout
//!
//! - [`EventStore`]: the interface the gateway's writer uses.
//! - [`sqlite`]: the embedded default, one file.
//! - [`log`]: the transparency log's stored hashes, checkpoints, and its read side.
#![deny(missing_docs)]

pub mod evidence;
pub mod log;
pub mod sqlite;

use portcullis_core::{EventRecord, Timestamp};
use portcullis_translog::{NoteSigner, NoteVerifier};

pub use evidence::{EvidenceDocument, EvidenceStore};
pub use log::{LogReader, StoredCheckpoint};
pub use sqlite::SqliteStore;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database reported an error.
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
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

/// Where events are kept.
pub trait EventStore: Send {
    /// Appends events atomically and durably: when this returns `Ok`, all of them are on disk;
    /// when it returns `Err`, none of them are.
    ///
    /// # Errors
    ///
    /// Fails on a database error or when the events do not continue the stored sequence.
    fn append(&mut self, records: &[EventRecord]) -> Result<(), StoreError>;

    /// Stored events with a sequence number above `after`, in order, at most `limit`.
    ///
    /// # Errors
    ///
    /// Fails on a database error or an unreadable event.
    fn events_after(&mut self, after: u64, limit: usize) -> Result<Vec<EventRecord>, StoreError>;

    /// Every stored event, in sequence order, after recomputing the transparency log from them
    /// and checking it against the stored hashes and the latest checkpoint (verified with
    /// `verifier`).
    ///
    /// # Errors
    ///
    /// [`StoreError::LogTampered`] naming what does not match, a database error, or an
    /// unreadable event.
    fn load_verified(&mut self, verifier: &NoteVerifier) -> Result<Vec<EventRecord>, StoreError>;

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
