//! Whether this replica's snapshot is known to be current, and what it refuses when it is not.
//!
//! With a store shared by several replicas, a directive accepted by one is enforced by the others
//! once their writers have read it (see `engine.rs`: a change notice, or a heartbeat read). A
//! replica that cannot confirm it has every event (the database is unreachable, its connection was
//! cut) must not keep admitting requests on an old snapshot where that could matter: past the
//! configured bound it refuses requests to models in `review` or `preview` and to models with a
//! directive in force, and recovers by itself once a read succeeds again. Models in general
//! availability without directives keep being served: an outage of the database should not take
//! down what no one has restricted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use portcullis_core::state::Model;
use portcullis_core::{Stage, Timestamp};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use crate::error::ApiError;

/// The replica's knowledge of how current it is; shared by the writer and the request path.
pub struct Freshness {
    origin: Instant,
    /// Milliseconds from `origin` to the start of the last read that found this replica current,
    /// plus one (0: never confirmed).
    confirmed: AtomicU64,
    /// `None`: the store is this process's own (SQLite) and the snapshot is current by
    /// construction.
    bound: Option<Duration>,
    /// Events another replica had stored that this one had not yet applied, at the last read.
    pub behind: Gauge,
    /// Time from an event's commit on another replica to its use here, seconds.
    pub propagation: Histogram,
    /// Reads of the shared store that failed.
    pub read_failures: Counter,
    /// Whether this replica signed (or may sign) the log's checkpoints at its last attempt.
    sequencer: std::sync::atomic::AtomicBool,
}

impl Freshness {
    /// For a store only this process writes: always current.
    pub fn local() -> Self {
        Self::new(None)
    }

    /// For a store shared with other replicas: current only as of the last successful read.
    pub fn shared(bound: Duration) -> Self {
        Self::new(Some(bound))
    }

    fn new(bound: Option<Duration>) -> Self {
        Self {
            origin: Instant::now(),
            confirmed: AtomicU64::new(0),
            bound,
            behind: Gauge::default(),
            // 1 ms to ~16 s.
            propagation: Histogram::new(exponential_buckets(1e-3, 2.0, 15)),
            read_failures: Counter::default(),
            sequencer: std::sync::atomic::AtomicBool::new(bound.is_none()),
        }
    }

    /// Whether the store is shared with other replicas.
    pub fn is_shared(&self) -> bool {
        self.bound.is_some()
    }

    /// The staleness bound, when shared.
    pub fn bound(&self) -> Option<Duration> {
        self.bound
    }

    /// Records whether this replica holds the checkpoint signer's role.
    pub fn set_sequencer(&self, holds: bool) {
        self.sequencer.store(holds, Ordering::Relaxed);
    }

    /// Whether this replica signs the log's checkpoints.
    pub fn is_sequencer(&self) -> bool {
        self.sequencer.load(Ordering::Relaxed)
    }

    /// A read that began at `at` found every stored event.
    pub fn confirm(&self, at: Instant) {
        let millis = u64::try_from(at.saturating_duration_since(self.origin).as_millis()).unwrap_or(u64::MAX);
        self.confirmed.fetch_max(millis.saturating_add(1), Ordering::Release);
    }

    /// How long since this replica was last known to be current (`None` when it always is).
    pub fn age(&self) -> Option<Duration> {
        self.bound?;
        let confirmed = self.confirmed.load(Ordering::Acquire);
        let since_origin = self.origin.elapsed();
        Some(match confirmed {
            // Never confirmed: as old as the process (the start-up replay was a read, but the
            // writer confirms it at once; this only shows while the database is unreachable).
            0 => since_origin,
            n => since_origin.saturating_sub(Duration::from_millis(n - 1)),
        })
    }

    /// The age, when it is past the bound.
    pub fn stale(&self) -> Option<Duration> {
        let bound = self.bound?;
        self.age().filter(|age| *age > bound)
    }

    /// Refuses a request to `model` when this replica is stale and the model is gated: in
    /// `review` or `preview`, or with a directive in force. Costs one branch for a local store
    /// and, for a shared one, two loads and a clock read only for gated models.
    ///
    /// # Errors
    ///
    /// [`ApiError::StaleState`] naming the age and the bound.
    pub fn admit(&self, model: &Model, now: Timestamp) -> Result<(), ApiError> {
        let Some(bound) = self.bound else {
            return Ok(());
        };
        let gated = matches!(model.stage, Stage::Review | Stage::Preview)
            || model.directives.iter().any(|directive| directive.in_force(now));
        if !gated {
            return Ok(());
        }
        match self.stale() {
            Some(age) => Err(ApiError::StaleState { model: model.name.to_string(), age, bound }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    #[test]
    fn a_local_store_is_never_stale() {
        let freshness = Freshness::local();
        assert_eq!(freshness.age(), None);
        assert_eq!(freshness.stale(), None);
    }

    #[test]
    fn a_shared_store_is_stale_until_confirmed_and_past_the_bound_only() {
        let mut freshness = Freshness::shared(Duration::from_secs(1));
        freshness.origin = Instant::now().checked_sub(Duration::from_secs(5)).unwrap();
        // Never confirmed, for longer than the bound.
        assert!(freshness.stale().unwrap() >= Duration::from_secs(5));
        // Confirmed just now.
        freshness.confirm(freshness.origin + Duration::from_secs(5));
        assert!(freshness.stale().is_none());
        let generous = Freshness::shared(Duration::from_secs(3600));
        generous.confirm(Instant::now());
        assert!(generous.stale().is_none());
        assert!(generous.age().unwrap() < Duration::from_secs(3600));
    }

    #[test]
    fn confirmations_never_move_backwards() {
        let freshness = Freshness::shared(Duration::from_secs(3600));
        let later = Instant::now() + Duration::from_secs(10);
        freshness.confirm(later);
        freshness.confirm(Instant::now());
        // Confirmed "in the future": the age saturates at zero.
        assert_eq!(freshness.age().unwrap(), Duration::ZERO);
    }
}
