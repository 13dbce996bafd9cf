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

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use portcullis_core::{Actor, Command, CommandError, EventRecord, Snapshot, State, Timestamp};
use portcullis_store::{EventStore, StoredCheckpoint};
use portcullis_translog::NoteSigner;
use tokio::sync::{mpsc, oneshot};

/// Most commands committed in one transaction.
pub const MAX_BATCH: usize = 512;

/// Commands waiting for the writer before callers are made to wait for a slot.
const QUEUE_DEPTH: usize = 4096;

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
}

impl Engine {
    /// Checks the transparency log against the stored events, replays them into `initial`, and
    /// starts the writer thread.
    ///
    /// # Errors
    ///
    /// Fails when the log was tampered with, the store cannot be read or an event does not apply.
    pub fn start(
        mut store: Box<dyn EventStore>,
        initial: State,
        clock: Arc<dyn Clock>,
        signer: Arc<NoteSigner>,
    ) -> anyhow::Result<Self> {
        let mut state = initial;
        let records = store.load_verified(&signer.verifier())?;
        for record in &records {
            state.apply(record)?;
        }
        tracing::info!(events = records.len(), customers = state.n_customers(), "state rebuilt from stored events");
        let snapshot = Arc::new(ArcSwap::from_pointee(Snapshot::new(state.clone())));
        let (jobs, receiver) = mpsc::channel(QUEUE_DEPTH);
        let writer_snapshot = snapshot.clone();
        let writer_clock = clock.clone();
        std::thread::Builder::new()
            .name("portcullis-writer".to_owned())
            .spawn(move || writer_loop(store, state, receiver, writer_snapshot, writer_clock, &signer))?;
        Ok(Self { snapshot, jobs, clock })
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

fn writer_loop(
    mut store: Box<dyn EventStore>,
    mut state: State,
    mut receiver: mpsc::Receiver<Job>,
    snapshot: Arc<ArcSwap<Snapshot>>,
    clock: Arc<dyn Clock>,
    signer: &NoteSigner,
) {
    let mut pending: Option<Job> = None;
    loop {
        let Some(first) = pending.take().or_else(|| receiver.blocking_recv()) else {
            break;
        };
        let first = match first {
            Job::Read { after, limit, reply } => {
                let _ = reply.send(store.events_after(after, limit).map_err(|err| EngineError::Store(err.to_string())));
                continue;
            }
            Job::Checkpoint { reply } => {
                let _ = reply.send(
                    store.sign_checkpoint(signer, clock.now()).map_err(|err| EngineError::Store(err.to_string())),
                );
                continue;
            }
            Job::Cosigned { checkpoint, reply } => {
                let _ =
                    reply.send(store.store_cosigned(&checkpoint).map_err(|err| EngineError::Store(err.to_string())));
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
        let now = clock.now();
        let mut working = state.clone();
        let mut records: Vec<EventRecord> = Vec::new();
        let mut outcomes: Vec<(WriteJob, Result<std::ops::Range<usize>, EngineError>)> =
            Vec::with_capacity(batch.len());
        for job in batch {
            let outcome = apply_command(&mut working, &job, now, &mut records);
            outcomes.push((job, outcome));
        }
        if !records.is_empty() {
            if let Err(err) = store.append(&records) {
                // Nothing was stored: drop the working state, fail every command in the batch
                // that produced events, and keep serving the old snapshot.
                tracing::error!(error = %err, events = records.len(), "failed to store events");
                for (job, outcome) in outcomes {
                    let answer = match outcome {
                        Ok(_) => Err(EngineError::Store(err.to_string())),
                        Err(refusal) => Err(refusal),
                    };
                    let _ = job.reply.send(answer);
                }
                continue;
            }
            state = working;
            // `next`: end-user class ids stay stable, so request counters keyed by them too.
            snapshot.store(Arc::new(snapshot.load().next(state.clone())));
            tracing::debug!(events = records.len(), last_seq = state.last_seq, "events committed");
        }
        for (job, outcome) in outcomes {
            let answer = outcome.map(|range| records.get(range).map(<[EventRecord]>::to_vec).unwrap_or_default());
            let _ = job.reply.send(answer);
        }
    }
    tracing::info!("governance writer stopped");
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
