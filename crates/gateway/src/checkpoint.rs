//! The state checkpoint file: the governance state as of a tree head of the log, written now and
//! then by the writer and read at start-up, so that a start replays only the events after it
//! instead of every event (BENCHMARKS.md §2: two minutes at ten million customers).
//!
//! The file is this process's own cache of what the log says, never a source of truth: when it is
//! missing, unreadable, of another release or another setup, or does not match the stored log,
//! the start replays the whole log as before and says why in one warning. Matching the log means
//! the stored hashes reproduce the tree root the file was written at; that vouches for the stored
//! hashes the rest of the log is checked against (`EventStore::load_verified_each_from`).
//!
//! Layout: `MAGIC`, the release that wrote it (u32 length, text), the tree head (u64 size, 32-byte
//! root), the state ([`State::write_checkpoint`]), then the SHA-256 of everything before it, so a
//! file cut short or altered on disk is refused rather than half read. Written to a temporary file
//! beside it, synced, then renamed over it: a crash mid-write leaves the old one whole. Readable
//! by its owner only: it holds key hashes and password hashes, as the database does.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use portcullis_core::State;
use portcullis_store::{EventStore, TreeHead};
use portcullis_translog::Hash;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use sha2::{Digest, Sha256};

/// The file's first bytes.
const MAGIC: &[u8] = b"portcullis state checkpoint\n";

/// The release that reads and writes checkpoints: a checkpoint from another release is not read
/// (one full replay after an upgrade, then a new checkpoint), since a release may apply events
/// differently.
const RELEASE: &str = env!("CARGO_PKG_VERSION");

/// Read and write buffers: the file is read and written front to back, mostly in small records.
const BUFFER: usize = 1 << 20;

/// What `/metrics` says of checkpoints (shared handles: the engine sets them, the registry reads).
#[derive(Clone, Debug, Default)]
pub struct CheckpointMetrics {
    /// Events replayed by this process's start: every stored event without a checkpoint.
    pub start_replayed_events: Gauge,
    /// The sequence number of the newest checkpoint written or read (0 for none).
    pub sequence: Gauge,
    /// Checkpoints that could not be written.
    pub write_failures: Counter,
}

/// Where the checkpoint is kept, and how often it is written.
#[derive(Clone, Debug)]
pub struct CheckpointFile {
    path: PathBuf,
    every_events: u64,
}

/// A checkpoint that was read: its state, and the tree head it stands at.
pub struct Loaded {
    /// The state as of the head.
    pub state: State,
    /// The head.
    pub head: TreeHead,
}

impl CheckpointFile {
    /// A checkpoint at `path`, written again once `every_events` events were applied after the
    /// last one (at least 1).
    pub fn new(path: PathBuf, every_events: u64) -> Self {
        Self { path, every_events: every_events.max(1) }
    }

    /// Whether a state at `last_seq` is due a new checkpoint, the last being at `written`.
    pub fn due(&self, last_seq: u64, written: u64) -> bool {
        last_seq >= written.saturating_add(self.every_events)
    }

    /// The checkpoint, if there is one that `store`'s log reproduces, read into `empty` (a state
    /// fresh from [`State::new`] with this start's schema and configured attesters). Anything
    /// else is `None`, with the reason logged: the caller replays the whole log.
    pub fn load(&self, empty: &State, store: &mut dyn EventStore) -> Option<Loaded> {
        let started = Instant::now();
        match self.try_load(empty, store) {
            Ok(Some(loaded)) => {
                tracing::info!(
                    path = %self.path.display(),
                    events = loaded.head.size,
                    customers = loaded.state.n_customers(),
                    seconds = started.elapsed().as_secs_f64(),
                    "state read from its checkpoint; replaying only the events after it"
                );
                Some(loaded)
            }
            Ok(None) => {
                tracing::info!(path = %self.path.display(), "no state checkpoint yet; replaying the whole log");
                None
            }
            Err(problem) => {
                tracing::warn!(path = %self.path.display(), %problem, "state checkpoint not used; replaying the whole log");
                None
            }
        }
    }

    fn try_load(&self, empty: &State, store: &mut dyn EventStore) -> Result<Option<Loaded>, String> {
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(format!("cannot open it: {err}")),
        };
        let len = file.metadata().map_err(|err| format!("cannot read its size: {err}"))?.len();
        let content_len = len.checked_sub(32).ok_or("it is too short to be a state checkpoint")?;
        // Hashed below the buffer, so the digest sees large reads, not every small field; and
        // only the content, not the digest that follows it.
        let mut input = BufReader::with_capacity(BUFFER, Hashing::new((&mut file).take(content_len)));
        let cut_short = |err: std::io::Error| format!("cannot read its header: {err}");
        let mut magic = [0_u8; MAGIC.len()];
        input.read_exact(&mut magic).map_err(cut_short)?;
        if magic != MAGIC {
            return Err("it is not a state checkpoint".to_owned());
        }
        let release_len = u32::from_le_bytes(read_array(&mut input).map_err(cut_short)?);
        if release_len > 64 {
            return Err("it is not a state checkpoint".to_owned());
        }
        let mut release = vec![0_u8; release_len as usize];
        input.read_exact(&mut release).map_err(cut_short)?;
        if release != RELEASE.as_bytes() {
            return Err(format!("it was written by release {}, this is {RELEASE}", String::from_utf8_lossy(&release)));
        }
        let size = u64::from_le_bytes(read_array(&mut input).map_err(cut_short)?);
        let root = Hash::from_bytes(read_array(&mut input).map_err(cut_short)?);
        let head = TreeHead { size, root };
        match store.stored_root(size) {
            Ok(Some(stored)) if stored == root => {}
            Ok(Some(_)) => return Err(format!("the stored log's tree at size {size} has another root")),
            Ok(None) => return Err(format!("it is at event {size}, past the stored log's end")),
            Err(err) => return Err(format!("cannot read the stored log's tree at size {size}: {err}")),
        }
        let state = State::read_checkpoint(&mut input, empty.clone()).map_err(|err| err.to_string())?;
        let computed = input.into_inner().finish();
        let stored: [u8; 32] = read_array(&mut file).map_err(|_| "it is cut short".to_owned())?;
        if computed != stored {
            return Err("its digest does not match its content (altered or damaged on disk)".to_owned());
        }
        if state.last_seq != size {
            return Err(format!("its state is at event {}, its tree head at {size}", state.last_seq));
        }
        Ok(Some(Loaded { state, head }))
    }

    /// Writes `state`, which stands at `head`, replacing any checkpoint there is once it is whole
    /// and on disk.
    ///
    /// # Errors
    ///
    /// When the file cannot be written, synced or renamed; the old checkpoint is then untouched.
    pub fn write(&self, state: &State, head: TreeHead) -> anyhow::Result<()> {
        use anyhow::Context as _;
        let started = Instant::now();
        let temporary = self.path.with_extension("tmp");
        let file = create_private(&temporary).with_context(|| format!("failed to create `{}`", temporary.display()))?;
        let result = (|| -> anyhow::Result<()> {
            // Hashed below the buffer, as it is read.
            let mut out = BufWriter::with_capacity(BUFFER, Hashing::new(file));
            out.write_all(MAGIC)?;
            out.write_all(&u32::try_from(RELEASE.len())?.to_le_bytes())?;
            out.write_all(RELEASE.as_bytes())?;
            out.write_all(&head.size.to_le_bytes())?;
            out.write_all(head.root.as_bytes())?;
            state.write_checkpoint(&mut out)?;
            let mut hashed = out.into_inner().map_err(|err| err.into_error())?;
            let digest = hashed.finish();
            let mut file = hashed.inner;
            file.write_all(&digest)?;
            file.sync_all()?;
            Ok(())
        })();
        if let Err(err) = result {
            let _ = std::fs::remove_file(&temporary);
            return Err(err.context(format!("failed to write `{}`", temporary.display())));
        }
        std::fs::rename(&temporary, &self.path)
            .with_context(|| format!("failed to rename `{}` to `{}`", temporary.display(), self.path.display()))?;
        // The rename is durable once the directory is synced.
        if let Some(directory) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            File::open(directory)
                .and_then(|d| d.sync_all())
                .with_context(|| format!("failed to sync the directory `{}`", directory.display()))?;
        }
        let bytes = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        tracing::info!(
            path = %self.path.display(),
            events = head.size,
            customers = state.n_customers(),
            bytes,
            seconds = started.elapsed().as_secs_f64(),
            "state checkpoint written"
        );
        Ok(())
    }
}

fn read_array<const N: usize>(input: &mut impl Read) -> std::io::Result<[u8; N]> {
    let mut bytes = [0_u8; N];
    input.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// A new file readable and writable by its owner only.
fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

/// A reader or writer that hashes every byte that goes through it.
struct Hashing<T> {
    inner: T,
    hasher: Sha256,
}

impl<T> Hashing<T> {
    fn new(inner: T) -> Self {
        Self { inner, hasher: Sha256::new() }
    }

    /// The digest of the bytes so far (the hasher starts over).
    fn finish(&mut self) -> [u8; 32] {
        std::mem::take(&mut self.hasher).finalize().into()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
