//! The single writer: applies commands to the governance state, stores the events, publishes
//! the next snapshot.
//!
//! One OS thread owns the store and the authoritative [`State`]. Commands arrive on a channel;
//! the writer takes every command waiting (up to [`MAX_BATCH`]), checks each against the state as
//! updated by the ones before it, stores all resulting events in one transaction (one fsync for
//! the batch: group commit), and only then swaps in the new snapshot and answers the callers.
//! So an acknowledged change is on disk, and visible to the very next request.
//!
//! A dedicated thread rather than `spawn_blocking` per write: the state must be owned by exactly
//! one place to keep sequence numbers gap-free, and SQLite wants one writer anyway.
//!
//! With a store shared by several replicas (PostgreSQL), each replica has such a writer. A write
//! takes the store's write lock, first applies the events other replicas stored since this one
//! last looked, then decides its commands against that: one sequence across all replicas. A
//! second thread waits on the store's [`ChangeFeed`] and, on a notice or every heartbeat, asks the
//! writer to catch up; each successful read confirms the replica current ([`Freshness`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use portcullis_core::{Actor, Command, CommandError, EventRecord, Snapshot, State, Timestamp};
use portcullis_store::{ChangeFeed, EventStore, StoredCheckpoint, TreeHead};
use portcullis_translog::NoteSigner;
use tokio::sync::{mpsc, oneshot};

use crate::checkpoint::{CheckpointFile, CheckpointMetrics, Loaded};
use crate::replica::Freshness;

/// Most commands committed in one transaction.
pub const MAX_BATCH: usize = 512;

/// Commands waiting for the writer before callers are made to wait for a slot.
const QUEUE_DEPTH: usize = 4096;

/// Events read per catch-up query (a replica far behind reads in several).
const CATCH_UP_CHUNK: usize = 4096;

/// How a replica keeps up with a shared store.
#[derive(Clone, Copy, Debug)]
pub struct Replication {
    /// Read the store at least this often, notice or not: it confirms the replica is current.
    pub heartbeat: Duration,
    /// Past this without a confirmed read, gated models are refused (see `replica.rs`).
    pub staleness_bound: Duration,
}

/// A source of the current time; the core never reads a clock itself.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp::from_millis(millis)
    }
}

/// Why a submitted command did not take effect.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The core refused it (role, validation, state).
    #[error(transparent)]
    Command(#[from] CommandError),
    /// Storing failed; nothing was applied.
    #[error("the event store failed: {0}")]
    Store(String),
    /// The writer has stopped (shutdown).
    #[error("the governance writer has stopped")]
    Stopped,
}

enum Job {
    Write(Box<WriteJob>),
    /// Reads go through the writer too: it owns the store connection, and reading there keeps
    /// a read from seeing a half-committed batch.
    Read {
        after: u64,
        limit: usize,
        reply: oneshot::Sender<Result<Vec<EventRecord>, EngineError>>,
    },
    /// Sign a checkpoint if the log grew. Through the writer: exactly one sequencer.
    Checkpoint {
        reply: oneshot::Sender<Result<Option<StoredCheckpoint>, EngineError>>,
    },
    /// Store a cosigned note for an existing checkpoint.
    Cosigned {
        checkpoint: StoredCheckpoint,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
    /// Read and apply what other replicas stored (shared stores only).
    CatchUp,
}

struct WriteJob {
    actor: Actor,
    command: Command,
    reply: oneshot::Sender<Result<Vec<EventRecord>, EngineError>>,
}

/// Handle to the writer and the current snapshot; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    snapshot: Arc<ArcSwap<Snapshot>>,
    jobs: mpsc::Sender<Job>,
    clock: Arc<dyn Clock>,
    freshness: Arc<Freshness>,
    checkpoint_metrics: CheckpointMetrics,
}

impl Engine {
    /// Checks the transparency log against the stored events, replays them into `initial` (or,
    /// from a state checkpoint the log reproduces, only the events after it), and starts the
    /// writer thread, which writes a new checkpoint every so many events.
    ///
    /// # Errors
    ///
    /// Fails when the log was tampered with, the store cannot be read or an event does not apply.
    pub fn start(
        mut store: Box<dyn EventStore>,
        initial: State,
        clock: Arc<dyn Clock>,
        signer: Arc<NoteSigner>,
        replication: Replication,
        checkpoint: Option<CheckpointFile>,
    ) -> anyhow::Result<Self> {
        let started = Instant::now();
        let (from_state, from) = match checkpoint.as_ref().and_then(|file| file.load(&initial, store.as_mut())) {
            Some(Loaded { state, head }) => (state, Some(head)),
            None => (initial, None),
        };
        let from_seq = from.map_or(0, |head| head.size);
        let state = rebuild(store.as_mut(), from_state, &signer.verifier(), from)?;
        let checkpoint_metrics = CheckpointMetrics::default();
        checkpoint_metrics.start_replayed_events.set(i64::try_from(state.last_seq - from_seq).unwrap_or(i64::MAX));
        checkpoint_metrics.sequence.set(i64::try_from(from_seq).unwrap_or(i64::MAX));
        tracing::info!(
            events = state.last_seq,
            replayed = state.last_seq - from_seq,
            customers = state.n_customers(),
            seconds = started.elapsed().as_secs_f64(),
            "state rebuilt from stored events"
        );
        let feed = store.change_feed()?;
        let freshness = Arc::new(match feed {
            Some(_) => Freshness::shared(replication.staleness_bound),
            None => Freshness::local(),
        });
        freshness.confirm(started);
        let snapshot = Arc::new(ArcSwap::from_pointee(Snapshot::new(state.clone())));
        let (jobs, receiver) = mpsc::channel(QUEUE_DEPTH);
        let catch_up_queued = Arc::new(AtomicBool::new(false));
        let writer = Writer {
            snapshot: snapshot.clone(),
            clock: clock.clone(),
            signer,
            freshness: freshness.clone(),
            catch_up_queued: catch_up_queued.clone(),
        };
        let checkpoints = Checkpoints {
            file: checkpoint.map(Arc::new),
            written: from_seq,
            busy: Arc::new(AtomicBool::new(false)),
            metrics: checkpoint_metrics.clone(),
        };
        std::thread::Builder::new()
            .name("portcullis-writer".to_owned())
            .spawn(move || writer.run(store, state, receiver, checkpoints))?;
        if let Some(feed) = feed {
            // Weak: the feed must not keep the writer alive once every handle is gone.
            let jobs = jobs.downgrade();
            std::thread::Builder::new()
                .name("portcullis-feed".to_owned())
                .spawn(move || follow(feed, &jobs, &catch_up_queued, replication.heartbeat))?;
        }
        Ok(Self { snapshot, jobs, clock, freshness, checkpoint_metrics })
    }

    /// What `/metrics` says of the state checkpoint.
    pub fn checkpoint_metrics(&self) -> &CheckpointMetrics {
        &self.checkpoint_metrics
    }

    /// How current this replica is known to be.
    pub fn freshness(&self) -> &Arc<Freshness> {
        &self.freshness
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Now, from the engine's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The engine's clock, for work that outlives a handler (e.g. counting a streamed answer).
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// Submits a command and waits until its events are stored and visible.
    ///
    /// # Errors
    ///
    /// Returns the core's refusal, a store failure, or [`EngineError::Stopped`].
    pub async fn submit(&self, actor: Actor, command: Command) -> Result<Vec<EventRecord>, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job::Write(Box::new(WriteJob { actor, command, reply })))
            .await
            .map_err(|_| EngineError::Stopped)?;
        answer.await.map_err(|_| EngineError::Stopped)?
    }

    /// Signs and stores a checkpoint if the log grew since the last one.
    ///
    /// # Errors
    ///
    /// A store failure, or [`EngineError::Stopped`].
    pub async fn sign_checkpoint(&self) -> Result<Option<StoredCheckpoint>, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Job::Checkpoint { reply }).await.map_err(|_| EngineError::Stopped)?;
        answer.await.map_err(|_| EngineError::Stopped)?
    }

    /// Stores a cosigned note for a stored checkpoint.
    ///
    /// # Errors
    ///
    /// A store failure, or [`EngineError::Stopped`].
    pub async fn store_cosigned(&self, checkpoint: StoredCheckpoint) -> Result<(), EngineError> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Job::Cosigned { checkpoint, reply }).await.map_err(|_| EngineError::Stopped)?;
        answer.await.map_err(|_| EngineError::Stopped)?
    }

    /// Stored events after a sequence number, at most `limit`.
    ///
    /// # Errors
    ///
    /// A store failure, or [`EngineError::Stopped`].
    pub async fn events_after(&self, after: u64, limit: usize) -> Result<Vec<EventRecord>, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Job::Read { after, limit, reply }).await.map_err(|_| EngineError::Stopped)?;
        answer.await.map_err(|_| EngineError::Stopped)?
    }
}

/// Chunks read and checked ahead of the one being applied. Two keep both threads busy; more
/// would only hold more events in memory.
const LOAD_AHEAD: usize = 2;

/// Replays every stored event into `initial`, checking the log as it goes. Two threads share the
/// work: this one applies each chunk while a scoped one reads, parses and hashes the next
/// (`EventStore::load_verified_each`), so start-up takes about as long as the slower of the two
/// rather than their sum, and holds a few chunks in memory rather than the whole log.
///
/// From a state checkpoint's tree head (`from`, whose state `initial` is), only the events after
/// it are read, checked and applied.
///
/// The state is returned only once the whole log checked out, checkpoint included.
fn rebuild(
    store: &mut dyn EventStore,
    initial: State,
    verifier: &portcullis_translog::NoteVerifier,
    from: Option<TreeHead>,
) -> anyhow::Result<State> {
    let mut state = initial;
    let (chunks, received) = std::sync::mpsc::sync_channel::<Vec<EventRecord>>(LOAD_AHEAD);
    let (loaded, applied) = std::thread::scope(|scope| {
        let reader = std::thread::Builder::new().name("portcullis-load".to_owned()).spawn_scoped(scope, move || {
            store.load_verified_each_from(verifier, from, &mut |chunk| match chunks.send(chunk) {
                Ok(()) => std::ops::ControlFlow::Continue(()),
                // The applying side stopped on an event it cannot apply: stop reading.
                Err(_) => std::ops::ControlFlow::Break(()),
            })
        });
        // Consumes the receiver, so an error drops it and the reader stops at its next chunk.
        let applied =
            received.into_iter().try_for_each(|chunk| chunk.iter().try_for_each(|record| state.apply(record)));
        let loaded = match reader {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|_| Err(portcullis_store::StoreError::Log("the log reader panicked".to_owned()))),
            Err(err) => Err(portcullis_store::StoreError::Log(format!("failed to start the log reader: {err}"))),
        };
        (loaded, applied)
    });
    // An unappliable event explains a stopped reader; otherwise the reader's verdict comes first.
    applied?;
    loaded?;
    Ok(state)
}

/// Waits on the change feed and asks the writer to catch up on every notice and every heartbeat
/// (a heartbeat read is what confirms the replica current when nothing changes). Stops when the
/// writer does.
fn follow(mut feed: Box<dyn ChangeFeed>, jobs: &mpsc::WeakSender<Job>, queued: &AtomicBool, heartbeat: Duration) {
    let mut failing = false;
    loop {
        match feed.wait(heartbeat) {
            Ok(_) => failing = false,
            Err(err) => {
                if !failing {
                    tracing::warn!(error = %err, "lost the change feed; reconnecting (reads continue every heartbeat)");
                }
                failing = true;
                // Do not spin on a database that refuses connections.
                std::thread::sleep(heartbeat);
            }
        }
        let Some(jobs) = jobs.upgrade() else {
            break;
        };
        // One catch-up waiting is enough: it reads everything there is.
        if !queued.swap(true, Ordering::AcqRel) {
            match jobs.try_send(Job::CatchUp) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => queued.store(false, Ordering::Release),
                Err(mpsc::error::TrySendError::Closed(_)) => break,
            }
        }
    }
}

/// What the writer thread owns besides the store and the state.
struct Writer {
    snapshot: Arc<ArcSwap<Snapshot>>,
    clock: Arc<dyn Clock>,
    signer: Arc<NoteSigner>,
    freshness: Arc<Freshness>,
    catch_up_queued: Arc<AtomicBool>,
}

/// When the writer writes the state checkpoint: every so many events, on a thread of its own (a
/// clone of the state is one reference count; writing ten million customers takes seconds).
struct Checkpoints {
    file: Option<Arc<CheckpointFile>>,
    /// The sequence number of the last checkpoint written or read.
    written: u64,
    /// A checkpoint is being written: the next waits for it rather than run alongside.
    busy: Arc<AtomicBool>,
    metrics: CheckpointMetrics,
}

impl Checkpoints {
    /// Starts writing a checkpoint of `state` if one is due and none is being written.
    fn maybe_write(&mut self, store: &mut dyn EventStore, state: &State) {
        let Some(file) = &self.file else { return };
        if !file.due(state.last_seq, self.written) || self.busy.load(Ordering::Acquire) {
            return;
        }
        // Not retried before another `every_events` events, even if this one fails: a store that
        // is down must not make every job try again (and log again).
        self.written = state.last_seq;
        // The tree head the checkpoint stands at, from the hashes stored with its events.
        let root = match store.stored_root(state.last_seq) {
            Ok(Some(root)) => root,
            Ok(None) => return,
            Err(err) => {
                self.metrics.write_failures.inc();
                tracing::warn!(error = %err, "cannot read the log's tree head; no state checkpoint this time");
                return;
            }
        };
        self.busy.store(true, Ordering::Release);
        let (file, busy, state, metrics) = (file.clone(), self.busy.clone(), state.clone(), self.metrics.clone());
        let head = TreeHead { size: state.last_seq, root };
        let spawned = std::thread::Builder::new().name("portcullis-checkpoint".to_owned()).spawn(move || {
            match file.write(&state, head) {
                Ok(()) => {
                    metrics.sequence.set(i64::try_from(head.size).unwrap_or(i64::MAX));
                }
                Err(err) => {
                    metrics.write_failures.inc();
                    tracing::warn!(error = %format!("{err:#}"), "failed to write the state checkpoint");
                }
            }
            busy.store(false, Ordering::Release);
        });
        if let Err(err) = spawned {
            tracing::warn!(error = %err, "failed to start writing the state checkpoint");
            self.busy.store(false, Ordering::Release);
        }
    }
}

impl Writer {
    fn run(
        self,
        mut store: Box<dyn EventStore>,
        mut state: State,
        mut receiver: mpsc::Receiver<Job>,
        mut checkpoints: Checkpoints,
    ) {
        let mut pending: Option<Job> = None;
        let mut read_failing = false;
        loop {
            checkpoints.maybe_write(store.as_mut(), &state);
            let Some(first) = pending.take().or_else(|| receiver.blocking_recv()) else {
                break;
            };
            let first = match first {
                Job::Read { after, limit, reply } => {
                    let _ =
                        reply.send(store.events_after(after, limit).map_err(|err| EngineError::Store(err.to_string())));
                    continue;
                }
                Job::Checkpoint { reply } => {
                    let signed = store.sign_checkpoint(&self.signer, self.clock.now());
                    self.freshness.set_sequencer(store.is_sequencer());
                    let _ = reply.send(signed.map_err(|err| EngineError::Store(err.to_string())));
                    continue;
                }
                Job::Cosigned { checkpoint, reply } => {
                    let _ = reply
                        .send(store.store_cosigned(&checkpoint).map_err(|err| EngineError::Store(err.to_string())));
                    continue;
                }
                Job::CatchUp => {
                    self.catch_up_queued.store(false, Ordering::Release);
                    match self.catch_up(store.as_mut(), &mut state) {
                        Ok(()) => read_failing = false,
                        Err(err) => {
                            self.freshness.read_failures.inc();
                            if !read_failing {
                                tracing::warn!(error = %err, "cannot read the shared store; this replica's snapshot may be stale");
                            }
                            read_failing = true;
                        }
                    }
                    continue;
                }
                Job::Write(job) => *job,
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(Job::Write(job)) => batch.push(*job),
                    Ok(other) => {
                        // Handle it after this batch commits, in arrival order.
                        pending = Some(other);
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.write(store.as_mut(), &mut state, batch);
        }
        tracing::info!("governance writer stopped");
    }

    /// Decides a batch of commands against the latest state and stores their events in one
    /// transaction (one fsync for the batch: group commit), then answers each caller.
    fn write(&self, store: &mut dyn EventStore, state: &mut State, batch: Vec<WriteJob>) {
        let now = self.clock.now();
        let started = Instant::now();
        let mut outcomes: Vec<Result<std::ops::Range<usize>, EngineError>> = Vec::with_capacity(batch.len());
        let mut working: Option<State> = None;
        let mut caught_up = 0_usize;
        let mut produced = 0_usize;
        let mut diverged: Option<String> = None;
        let stored = store.write(state.last_seq, &mut |newer| {
            // What other replicas stored first: this batch is decided on the latest state.
            caught_up = newer.len();
            if let Err(err) = self.apply_newer(state, &newer, now) {
                diverged = Some(err);
                return Vec::new();
            }
            let mut scratch = state.clone();
            let mut records = Vec::new();
            for job in &batch {
                outcomes.push(apply_command(&mut scratch, job, now, &mut records));
            }
            produced = records.len();
            working = Some(scratch);
            records
        });
        let failure = match (stored, diverged) {
            (Ok(records), None) => Ok(records),
            (Err(err), _) => Err(err.to_string()),
            (Ok(_), Some(problem)) => Err(problem),
        };
        let records = match failure {
            Ok(records) => records,
            Err(problem) => {
                if caught_up > 0 {
                    self.publish(state);
                }
                // Nothing of this batch was stored: fail every command that produced events, and
                // keep serving the state as of the last stored event.
                tracing::error!(error = %problem, events = produced, "failed to store events");
                let mut outcomes = outcomes.into_iter();
                for job in batch {
                    let answer = match outcomes.next() {
                        Some(Err(refusal)) => Err(refusal),
                        _ => Err(EngineError::Store(problem.clone())),
                    };
                    let _ = job.reply.send(answer);
                }
                return;
            }
        };
        self.freshness.confirm(started);
        match working.filter(|_| !records.is_empty()) {
            Some(working) => {
                *state = working;
                self.publish(state);
                tracing::debug!(events = records.len(), last_seq = state.last_seq, "events committed");
            }
            None if caught_up > 0 => self.publish(state),
            None => {}
        }
        for (job, outcome) in batch.into_iter().zip(outcomes) {
            let answer = outcome.map(|range| records.get(range).map(<[EventRecord]>::to_vec).unwrap_or_default());
            let _ = job.reply.send(answer);
        }
    }

    /// Reads and applies everything other replicas stored since this one last looked.
    fn catch_up(&self, store: &mut dyn EventStore, state: &mut State) -> Result<(), String> {
        let started = Instant::now();
        let mut applied = 0_usize;
        loop {
            let newer = store.events_after(state.last_seq, CATCH_UP_CHUNK).map_err(|err| err.to_string())?;
            let n = newer.len();
            self.apply_newer(state, &newer, self.clock.now())?;
            applied += n;
            if n < CATCH_UP_CHUNK {
                break;
            }
        }
        self.freshness.behind.set(i64::try_from(applied).unwrap_or(i64::MAX));
        if applied > 0 {
            self.publish(state);
            tracing::debug!(events = applied, last_seq = state.last_seq, "applied events from other replicas");
        }
        self.freshness.confirm(started);
        Ok(())
    }

    /// Applies events another replica stored. One that does not apply means this replica's
    /// rules differ from the writer's (a version mismatch): it stops taking events, so its
    /// freshness runs out and gated models fail closed, rather than serve a state no one wrote.
    fn apply_newer(&self, state: &mut State, newer: &[EventRecord], now: Timestamp) -> Result<(), String> {
        for record in newer {
            let mut next = state.clone();
            next.apply(record).map_err(|err| {
                format!(
                    "event {} from another replica does not apply here ({err}); is every replica the same version?",
                    record.seq
                )
            })?;
            *state = next;
            let delay_ms = now.as_millis().saturating_sub(record.at.as_millis()).max(0);
            #[allow(clippy::cast_precision_loss, reason = "milliseconds of delay fit an f64 exactly")]
            self.freshness.propagation.observe(delay_ms as f64 / 1000.0);
        }
        Ok(())
    }

    fn publish(&self, state: &State) {
        // `next`: end-user class ids stay stable, so request counters keyed by them too.
        self.snapshot.store(Arc::new(self.snapshot.load().next(state.clone())));
    }
}

fn apply_command(
    working: &mut State,
    job: &WriteJob,
    now: Timestamp,
    records: &mut Vec<EventRecord>,
) -> Result<std::ops::Range<usize>, EngineError> {
    let events = portcullis_core::handle(working, &job.actor, job.command.clone(), now)?;
    let start = records.len();
    // Apply to a scratch copy first so a command whose second event fails leaves no trace.
    let mut scratch = working.clone();
    let mut produced = Vec::with_capacity(events.len());
    for event in events {
        let record = EventRecord { seq: scratch.last_seq + 1, at: now, actor: job.actor.clone(), event };
        scratch
            .apply(&record)
            .map_err(|err| EngineError::Store(format!("internal: a validated event did not apply: {err}")))?;
        produced.push(record);
    }
    *working = scratch;
    records.extend(produced);
    Ok(start..records.len())
}
