//! The transparency log's storage: stored hashes beside the events, signed checkpoints, and a
//! read side for tiles, entry bundles and proofs.
//!
//! Leaf `i` of the log is the public entry of event `i + 1` ([`EventRecord::public_json`]); the
//! tree is a pure function of the committed events, and its stored hashes are written in the
//! same transaction as the events they cover.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Mutex;

use portcullis_core::{EventRecord, Timestamp};
use portcullis_translog::tile::{BundleId, TileId, encode_bundle, read_tile, tile_in_tree};
use portcullis_translog::tree::{
    BoxError, append_entries, prove_consistency, prove_inclusion, stored_hash_count, tree_hash,
};
use portcullis_translog::{Checkpoint, Hash, HashReader, NoteSigner, NoteVerifier};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::StoreError;

/// A signed checkpoint as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Tree size.
    pub size: u64,
    /// The signed note (checkpoint text, blank line, signature lines).
    pub note: String,
}

/// What the log's logic reads, written once for both backends: a connection, a transaction,
/// or a consistent read-only view of the database.
pub(crate) trait LogSource {
    /// Stored events with a sequence number above `after`, in order, at most `limit`.
    fn events(&self, after: u64, limit: usize) -> Result<Vec<EventRecord>, StoreError>;
    /// The number of leaves: the last stored sequence number (INVARIANT log-size).
    fn tree_size(&self) -> Result<u64, StoreError>;
    /// How many stored hashes there are.
    fn hash_count(&self) -> Result<u64, StoreError>;
    /// The newest stored checkpoint.
    fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError>;
    /// Stored hashes by index, in the order asked.
    fn hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, BoxError>;
    /// The stored hashes `start .. start + count`, in order: one range scan of the primary key,
    /// where a list of indexes would look each one up (start-up reads every stored hash).
    fn hash_range(&self, start: u64, count: u64) -> Result<Vec<Hash>, BoxError>;
}

/// Collects the rows of a range read of stored hashes (`idx`, `hash`, ordered by `idx`),
/// naming the first index missing from `start .. start + count`.
pub(crate) fn hashes_in_range<B: AsRef<[u8]>>(
    start: u64,
    count: u64,
    rows: impl Iterator<Item = Result<(i64, B), BoxError>>,
) -> Result<Vec<Hash>, BoxError> {
    let mut out = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    for row in rows {
        let (idx, bytes) = row?;
        let expected = start + out.len() as u64;
        if u64::try_from(idx).ok() != Some(expected) {
            return Err(format!("stored hash {expected} is missing").into());
        }
        out.push(Hash::from_slice(bytes.as_ref()).map_err(|_| format!("stored hash {idx} is not 32 bytes"))?);
    }
    if (out.len() as u64) < count {
        return Err(format!("stored hash {} is missing", start + out.len() as u64).into());
    }
    Ok(out)
}

/// A [`LogSource`] seen as the translog's [`HashReader`].
pub(crate) struct Hashes<'s, S: ?Sized>(pub(crate) &'s S);

impl<S: LogSource + ?Sized> HashReader for Hashes<'_, S> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, BoxError> {
        self.0.hashes(indexes)
    }
}

/// Orders hashes found by index as asked, naming the first missing one.
pub(crate) fn in_order(indexes: &[u64], found: &std::collections::HashMap<u64, Hash>) -> Result<Vec<Hash>, BoxError> {
    indexes
        .iter()
        .map(|index| found.get(index).copied().ok_or_else(|| format!("stored hash {index} is missing").into()))
        .collect()
}

/// A SQLite connection (or transaction) as a [`LogSource`].
pub(crate) struct SqlHashes<'c>(pub(crate) &'c Connection);

impl LogSource for SqlHashes<'_> {
    fn events(&self, after: u64, limit: usize) -> Result<Vec<EventRecord>, StoreError> {
        crate::sqlite::read_events(self.0, after, limit)
    }

    fn tree_size(&self) -> Result<u64, StoreError> {
        tree_size(self.0)
    }

    fn hash_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self.0.query_row("SELECT COUNT(*) FROM log_hashes", [], |row| row.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        latest_checkpoint(self.0)
    }

    fn hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, BoxError> {
        // One statement for the whole set (a proof at ten million entries reads ~50 hashes):
        // per-row statements cost more in SQLite's call overhead than in the lookups.
        let mut found: std::collections::HashMap<u64, Hash> = std::collections::HashMap::with_capacity(indexes.len());
        for chunk in indexes.chunks(MAX_SQL_PARAMS) {
            // Pad to a power of two (repeating an index) so at most nine distinct statements
            // exist, and they all stay in the prepared-statement cache.
            let width = chunk.len().next_power_of_two();
            let placeholders = vec!["?"; width].join(",");
            let mut statement =
                self.0.prepare_cached(&format!("SELECT idx, hash FROM log_hashes WHERE idx IN ({placeholders})"))?;
            let mut params: Vec<i64> = chunk.iter().map(|i| i64::try_from(*i)).collect::<Result<_, _>>()?;
            let last = params.last().copied().unwrap_or(0);
            params.resize(width, last);
            let mut rows = statement.query(rusqlite::params_from_iter(params))?;
            while let Some(row) = rows.next()? {
                let idx: i64 = row.get(0)?;
                let blob: Vec<u8> = row.get(1)?;
                let hash = Hash::from_slice(&blob).map_err(|_| format!("stored hash {idx} is not 32 bytes"))?;
                found.insert(u64::try_from(idx)?, hash);
            }
        }
        in_order(indexes, &found)
    }

    fn hash_range(&self, start: u64, count: u64) -> Result<Vec<Hash>, BoxError> {
        let mut statement =
            self.0.prepare_cached("SELECT idx, hash FROM log_hashes WHERE idx >= ?1 AND idx < ?2 ORDER BY idx")?;
        let rows = statement.query_map(params![i64::try_from(start)?, i64::try_from(start + count)?], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
        })?;
        hashes_in_range(start, count, rows.map(|row| row.map_err(BoxError::from)))
    }
}

/// Bound on `?` parameters per statement (SQLite's default limit is 32,766; statements are
/// cached per distinct length, so keep the set of lengths small too).
const MAX_SQL_PARAMS: usize = 256;

/// Appends the log entries of `records` to the tree of `tree_size` leaves, inside the caller's
/// transaction.
pub(crate) fn append_hashes(
    connection: &Connection,
    tree_size: u64,
    records: &[EventRecord],
) -> Result<(), StoreError> {
    let appended = new_hashes(&SqlHashes(connection), tree_size, records)?;
    let mut insert = connection.prepare_cached("INSERT INTO log_hashes (idx, hash) VALUES (?1, ?2)")?;
    for (offset, hash) in (0_u64..).zip(&appended.stored_hashes) {
        let idx =
            i64::try_from(appended.first_stored_index + offset).map_err(|_| log_error("stored hash index overflow"))?;
        insert.execute(params![idx, hash.as_bytes().as_slice()])?;
    }
    Ok(())
}

/// The stored hashes that appending the log entries of `records` to a tree of `tree_size`
/// leaves adds (the caller stores them in the events' own transaction).
pub(crate) fn new_hashes(
    source: &dyn LogSource,
    tree_size: u64,
    records: &[EventRecord],
) -> Result<portcullis_translog::tree::Appended, StoreError> {
    let entries: Vec<String> = records.iter().map(EventRecord::public_json).collect();
    append_entries(tree_size, &entries, &Hashes(source)).map_err(log_error)
}

/// The checkpoint to sign for the current tree, if it grew since the last one.
pub(crate) fn next_checkpoint(
    source: &dyn LogSource,
    signer: &NoteSigner,
) -> Result<Option<StoredCheckpoint>, StoreError> {
    let size = source.tree_size()?;
    let latest = source.latest_checkpoint()?;
    if size == 0 || latest.as_ref().is_some_and(|c| c.size >= size) {
        return Ok(None);
    }
    let root = tree_hash(size, &Hashes(source)).map_err(log_error)?;
    let checkpoint = Checkpoint::new(signer.name(), size, root).map_err(log_error)?;
    let note = signer.sign_note(&checkpoint.to_text()).map_err(log_error)?;
    Ok(Some(StoredCheckpoint { size, note }))
}

/// Signs a checkpoint for the current tree if it grew since the last one, and stores it before
/// returning it: a checkpoint is never served before it is durable.
pub(crate) fn sign_checkpoint(
    connection: &mut Connection,
    signer: &NoteSigner,
    now: Timestamp,
) -> Result<Option<StoredCheckpoint>, StoreError> {
    let transaction = connection.transaction()?;
    let Some(signed) = next_checkpoint(&SqlHashes(&transaction), signer)? else {
        return Ok(None);
    };
    transaction.execute(
        "INSERT INTO checkpoints (size, note, signed_at) VALUES (?1, ?2, ?3)",
        params![i64::try_from(signed.size).unwrap_or(i64::MAX), signed.note, now.as_millis()],
    )?;
    transaction.commit()?;
    Ok(Some(signed))
}

/// Replaces the note of a stored checkpoint with one carrying more (cosignature) lines.
pub(crate) fn store_cosigned(connection: &Connection, checkpoint: &StoredCheckpoint) -> Result<(), StoreError> {
    connection.execute(
        "UPDATE checkpoints SET note = ?2 WHERE size = ?1",
        params![i64::try_from(checkpoint.size).unwrap_or(i64::MAX), checkpoint.note],
    )?;
    Ok(())
}

pub(crate) fn tree_size(connection: &Connection) -> Result<u64, StoreError> {
    let last: Option<i64> = connection.query_row("SELECT MAX(seq) FROM events", [], |row| row.get(0))?;
    Ok(last.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
}

pub(crate) fn latest_checkpoint(connection: &Connection) -> Result<Option<StoredCheckpoint>, StoreError> {
    let row: Option<(i64, String)> = connection
        .query_row("SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    Ok(row.map(|(size, note)| StoredCheckpoint { size: u64::try_from(size).unwrap_or(0), note }))
}

/// Reads every stored event, recomputing the log from them and checking it against the stored
/// hashes and the latest signed checkpoint. Anything altered, removed or reordered is reported.
///
/// Hands the events to `each` in order, a chunk at a time and each chunk only once its hashes
/// matched, so start-up reads and parses them once, not once to check and again to replay, and
/// holds a few chunks at a time, not the whole log. When `each` breaks, reading stops and the
/// checkpoint is not checked (the caller is giving up on the start). The checkpoint is checked
/// last: a caller must not serve what it built from the chunks before this returns `Ok`.
///
/// Two threads share the work: this one reads and parses the events (the source is one
/// connection) and checks their hashes, while a scoped one writes each chunk's public entries,
/// the canonical JSON the leaves are hashed from, which is the dearest step (BENCHMARKS.md §2).
///
/// From a tree head (`from`, a state checkpoint's), only the events after it are read: the stored
/// hashes must first reproduce its root, which vouches for the stored hashes the later ones are
/// computed from.
pub(crate) fn load_checked(
    source: &dyn LogSource,
    verifier: &NoteVerifier,
    from: Option<crate::TreeHead>,
    each: &mut dyn FnMut(Vec<EventRecord>) -> ControlFlow<()>,
) -> Result<(), StoreError> {
    let size = source.tree_size()?;
    let start = match from {
        Some(head) => {
            if stored_root(source, head.size)? != Some(head.root) {
                return Err(StoreError::LogTampered(format!(
                    "the stored log does not reproduce the state checkpoint's tree at size {}",
                    head.size
                )));
            }
            head.size
        }
        None => 0,
    };
    let finished = std::thread::scope(|scope| {
        let (to_render, rendering) = std::sync::mpsc::sync_channel::<Vec<EventRecord>>(1);
        let (rendered, from_render) = std::sync::mpsc::sync_channel::<Rendered>(1);
        std::thread::Builder::new()
            .name("portcullis-log-json".to_owned())
            .spawn_scoped(scope, move || {
                for records in rendering {
                    let entries = records.iter().map(EventRecord::public_json).collect();
                    // The checking side gave up: stop.
                    if rendered.send((records, entries)).is_err() {
                        break;
                    }
                }
            })
            .map_err(|err| StoreError::Log(format!("failed to start the log's JSON thread: {err}")))?;
        // Returning drops both channel ends this side holds, which ends the thread.
        check_chunks(source, start, size, &to_render, &from_render, each)
    })?;
    if finished.is_break() {
        return Ok(());
    }
    let n_hashes = source.hash_count()?;
    if n_hashes != stored_hash_count(size) {
        return Err(StoreError::LogTampered(format!(
            "{n_hashes} stored hashes for {size} events, expected {}",
            stored_hash_count(size)
        )));
    }
    if let Some(latest) = source.latest_checkpoint()? {
        let verified = portcullis_translog::verify::verify_checkpoint(
            &portcullis_translog::verify::TrustPolicy::new(verifier.clone()).map_err(log_error)?,
            &latest.note,
        )
        .map_err(|err| StoreError::LogTampered(format!("the latest checkpoint does not verify: {err}")))?;
        let checkpoint = verified.checkpoint;
        if checkpoint.size() != latest.size || checkpoint.size() > size {
            return Err(StoreError::LogTampered(format!(
                "the latest checkpoint covers {} entries but only {size} events are stored",
                checkpoint.size()
            )));
        }
        let root = tree_hash(checkpoint.size(), &Hashes(source)).map_err(log_error)?;
        if root != checkpoint.root() {
            return Err(StoreError::LogTampered(format!(
                "the stored events do not reproduce the root of the signed checkpoint at size {}",
                checkpoint.size()
            )));
        }
    }
    Ok(())
}

/// The root of the stored tree at `size` leaves, from the stored hashes; `None` when fewer events
/// are stored.
pub(crate) fn stored_root(source: &dyn LogSource, size: u64) -> Result<Option<Hash>, StoreError> {
    if size > source.tree_size()? {
        return Ok(None);
    }
    tree_hash(size, &Hashes(source)).map(Some).map_err(|err| StoreError::LogTampered(err.to_string()))
}

/// A chunk of events with their public entries.
type Rendered = (Vec<EventRecord>, Vec<String>);

/// The checking side of [`load_checked`]: reads chunk after chunk from event `start + 1`, each
/// one ahead of the chunk whose entries it waits for, checks each chunk's hashes and hands it
/// over. Breaks when `each` does.
fn check_chunks(
    source: &dyn LogSource,
    start: u64,
    size: u64,
    to_render: &std::sync::mpsc::SyncSender<Vec<EventRecord>>,
    from_render: &std::sync::mpsc::Receiver<Rendered>,
    each: &mut dyn FnMut(Vec<EventRecord>) -> ControlFlow<()>,
) -> Result<ControlFlow<()>, StoreError> {
    /// Events per chunk: bounds memory whatever the log's size.
    const CHUNK: usize = 4096;
    let stopped = || StoreError::Log("the log's JSON thread stopped".to_owned());
    // Events read so far (and sent to be rendered).
    let mut read = start;
    let mut read_ahead = || -> Result<(), StoreError> {
        if read >= size {
            return Ok(());
        }
        let records = source.events(read, CHUNK)?;
        if records.is_empty() {
            return Err(StoreError::LogTampered(format!("events after {read} are missing")));
        }
        for (offset, record) in (1_u64..).zip(&records) {
            if record.seq != read + offset {
                return Err(StoreError::LogTampered(format!(
                    "event {} is stored where event {} belongs",
                    record.seq,
                    read + offset
                )));
            }
        }
        read += records.len() as u64;
        to_render.send(records).map_err(|_| stopped())
    };
    read_ahead()?;
    let mut done = start;
    while done < size {
        read_ahead()?;
        let (records, entries) = from_render.recv().map_err(|_| stopped())?;
        // Earlier hashes were already checked, so reading them from the store is safe.
        let appended = append_entries(done, &entries, &Hashes(source)).map_err(log_error)?;
        let stored = source
            .hash_range(appended.first_stored_index, appended.stored_hashes.len() as u64)
            .map_err(|err| StoreError::LogTampered(err.to_string()))?;
        if let Some((position, _)) = stored.iter().zip(&appended.stored_hashes).enumerate().find(|(_, (a, b))| a != b) {
            return Err(StoreError::LogTampered(format!(
                "stored hash {} does not match the stored events (an event or a hash was altered)",
                appended.first_stored_index + position as u64
            )));
        }
        done = appended.new_size;
        if each(records).is_break() {
            return Ok(ControlFlow::Break(()));
        }
    }
    Ok(ControlFlow::Continue(()))
}

pub(crate) fn log_error(err: impl std::fmt::Display) -> StoreError {
    StoreError::Log(err.to_string())
}

/// The read side of the log: its own connection, so serving tiles never waits for the writer
/// (SQLite WAL lets readers proceed during a write; PostgreSQL readers never wait for writers).
pub struct LogReader {
    db: crate::Db,
}

impl LogReader {
    /// Opens a read-only connection to an existing database.
    ///
    /// # Errors
    ///
    /// Fails when the file cannot be opened.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let connection =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        // Room for every statement this module prepares, including the hash-read ones.
        connection.set_prepared_statement_cache_capacity(64);
        Ok(Self { db: crate::Db::Sqlite(Mutex::new(connection)) })
    }

    /// A reader of a PostgreSQL store; it connects on first use and again after a lost
    /// connection.
    pub fn open_postgres(location: &crate::postgres::PgLocation) -> Self {
        Self { db: crate::Db::postgres(location) }
    }

    fn with<T>(&self, f: impl Fn(&dyn LogSource) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.db.with(|connection| f(&SqlHashes(connection)), |client| f(&crate::postgres::PgSource::new(client)))
    }

    /// The latest signed checkpoint.
    ///
    /// # Errors
    ///
    /// On a database error.
    pub fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        self.with(|source| source.latest_checkpoint())
    }

    /// The bytes of a hash tile, if it lies within a tree of `tree_size` leaves (a partial tile
    /// may be narrower than the tree's current edge: its hashes never change).
    ///
    /// # Errors
    ///
    /// On a database error.
    pub fn tile(&self, tile: &TileId, tree_size: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(available) = tile_in_tree(tile.level(), tile.index(), tree_size) else {
            return Ok(None);
        };
        if tile.width() > available.width() {
            return Ok(None);
        }
        self.with(|source| read_tile(tile, &Hashes(source)).map(Some).map_err(log_error))
    }

    /// The bytes of an entry bundle, if it lies within a tree of `tree_size` leaves.
    ///
    /// # Errors
    ///
    /// On a database error.
    pub fn bundle(&self, bundle: &BundleId, tree_size: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(available) = tile_in_tree(0, bundle.index(), tree_size) else {
            return Ok(None);
        };
        if bundle.width() > available.width() {
            return Ok(None);
        }
        self.with(|source| {
            let records = source.events(bundle.first_leaf(), usize::from(bundle.width()))?;
            if records.len() != usize::from(bundle.width()) {
                return Err(log_error("an entry bundle's events are missing"));
            }
            let entries: Vec<String> = records.iter().map(EventRecord::public_json).collect();
            encode_bundle(&entries).map(Some).map_err(log_error)
        })
    }

    /// The public entry of event `seq` (leaf `seq - 1`).
    ///
    /// # Errors
    ///
    /// On a database error.
    pub fn entry(&self, seq: u64) -> Result<Option<String>, StoreError> {
        Ok(self.record(seq)?.map(|r| r.public_json()))
    }

    /// Event `seq` as stored, in full: its public entry replaces long strings by their digest
    /// when it would not fit an entry bundle, and the register shows an old criteria version's
    /// whole text. The stored form includes secret hashes, so a caller publishes only fields it
    /// knows are public.
    ///
    /// # Errors
    ///
    /// On a database error.
    pub fn record(&self, seq: u64) -> Result<Option<EventRecord>, StoreError> {
        self.with(|source| Ok(source.events(seq.saturating_sub(1), 1)?.into_iter().find(|r| r.seq == seq)))
    }

    /// The inclusion proof of leaf `leaf_idx` in the tree of `tree_size` leaves.
    ///
    /// # Errors
    ///
    /// On a database error or an out-of-range leaf.
    pub fn inclusion_proof(&self, leaf_idx: u64, tree_size: u64) -> Result<Vec<Hash>, StoreError> {
        self.with(|source| prove_inclusion(tree_size, leaf_idx, &Hashes(source)).map_err(log_error))
    }

    /// The consistency proof from `old_size` to `new_size`.
    ///
    /// # Errors
    ///
    /// On a database error or sizes out of order.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, StoreError> {
        self.with(|source| prove_consistency(new_size, old_size, &Hashes(source)).map_err(log_error))
    }
}
