//! Recent request counts, for a directive's impact: compact, in memory, per replica.
//!
//! Every decided request on the request path is counted under one small key: customer × model ×
//! end-user attribute class × attestation status, all small integers assigned by the core
//! (`customer_idx`, `model_idx`, the end-user class, which is stable across snapshots). No raw
//! request, prompt, key or end-user identifier is kept: only how many requests each such class
//! made in each of the last [`SLOTS`] slots of the window (an hour each by default).
//!
//! Counts live in memory only: a restarted replica starts empty, and each replica counts its own
//! traffic (the impact answer says which span it covers).
//!
//! Cost on the request path: one uncontended lock of one of [`SHARDS`] shards, one lookup by a
//! 128-bit key with a multiplicative hash, one increment; nothing is allocated unless the key is
//! new. Once per slot per shard, the first request of the new slot drops the keys that fell out
//! of the window.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

use portcullis_core::impact::{RecentRequests, UNATTRIBUTED};
use portcullis_core::policy::EndUserContext;
use portcullis_core::{Snapshot, Timestamp};

use crate::config::UsageSettings;

/// The window is kept as this many slots; a key's counts are one `u32` per slot.
///
/// 24 makes hourly slots for the default day, so the reported window is accurate to an hour,
/// for about 130 bytes per key. Two generations of half a window (the alternative) would halve
/// the memory but leave the covered span anywhere between half and the whole window.
pub const SLOTS: usize = 24;

/// Independent locks, so concurrent requests of different customers rarely wait on each other.
/// A std `Mutex` rather than a lock-free map: the critical section is a few nanoseconds and
/// never awaits.
pub const SHARDS: usize = 16;

/// The attestation statuses the core reports, in code order; a status is stored as its index.
const STATUSES: [&str; 6] = ["valid", "missing", "malformed", "expired", "untrusted", "wrong_audience"];

/// The recent-request counters of one replica.
pub struct Usage {
    slot_millis: i64,
    max_keys_per_shard: usize,
    started_at: Timestamp,
    shards: Box<[Mutex<Shard>]>,
}

#[derive(Default)]
struct Shard {
    /// The latest slot this shard has seen; when it moves on, stale keys are dropped.
    current_slot: i64,
    tallies: HashMap<u128, Tally, BuildHasherDefault<KeyHasher>>,
}

/// One key's counts: `counts[slot % SLOTS]` for the slots `last_slot - SLOTS + 1 ..= last_slot`.
struct Tally {
    last_slot: i64,
    counts: [u32; SLOTS],
}

/// What the counters cover, besides the counts.
#[derive(Clone, Copy, Debug)]
pub struct Coverage {
    /// The nominal window, in seconds.
    pub window_secs: u64,
    /// The earliest time a counted request may come from: the start of the oldest slot, or the
    /// replica's start if later.
    pub since: Timestamp,
}

impl Usage {
    /// Empty counters, starting at `now`.
    pub fn new(settings: &UsageSettings, now: Timestamp) -> Self {
        let window_millis = i64::try_from(settings.window_secs.max(SLOTS as u64)).unwrap_or(i64::MAX / 2) * 1000;
        Self {
            slot_millis: (window_millis / SLOTS as i64).max(1),
            max_keys_per_shard: settings.max_keys.div_ceil(SHARDS).max(1),
            started_at: now,
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }

    /// Counts one decided request.
    pub fn record(&self, customer_idx: u32, model_idx: u32, end_user: &EndUserContext, now: Timestamp) {
        let slot = now.as_millis().div_euclid(self.slot_millis);
        let status = status_code(end_user.attestation);
        let key = pack(customer_idx, model_idx, end_user.end_user_class, status);
        let Some(shard) = self.shards.get(customer_idx as usize % SHARDS) else { return };
        // A poisoned shard stops counting; it never fails a request.
        let Ok(mut shard) = shard.lock() else { return };
        if slot > shard.current_slot {
            shard.current_slot = slot;
            shard.tallies.retain(|_, tally| tally.last_slot > slot - SLOTS as i64);
        }
        if let Some(tally) = shard.tallies.get_mut(&key) {
            tally.add(slot);
            return;
        }
        // A full shard still counts the request, without its customer: the impact answer
        // reports those as not evaluated. Such keys are bounded by models × classes × statuses.
        let key = if shard.tallies.len() >= self.max_keys_per_shard {
            pack(UNATTRIBUTED, model_idx, end_user.end_user_class, status)
        } else {
            key
        };
        shard.tallies.entry(key).or_insert(Tally { last_slot: slot, counts: [0; SLOTS] }).add(slot);
    }

    /// The counts within the window at `now`, with the end-user attributes each class stands for
    /// (from `snapshot`), and what span they cover.
    pub fn recent(&self, snapshot: &Snapshot, now: Timestamp) -> (Vec<RecentRequests>, Coverage) {
        let slot = now.as_millis().div_euclid(self.slot_millis);
        let oldest = slot - SLOTS as i64 + 1;
        let mut out = Vec::new();
        for shard in &self.shards {
            // The shard's requests wait while it is read: at the default bound some sixteen
            // thousand keys, well under a millisecond, and only when someone asks for an impact.
            let Ok(shard) = shard.lock() else { continue };
            for (key, tally) in &shard.tallies {
                let requests = tally.sum_since(oldest);
                if requests == 0 {
                    continue;
                }
                let (customer_idx, model_idx, end_user_class, status) = unpack(*key);
                let attestation = STATUSES.get(usize::from(status)).copied().unwrap_or("malformed");
                let end_user_json = if attestation == "valid" { snapshot.end_user_json(end_user_class) } else { None };
                out.push(RecentRequests {
                    customer_idx,
                    model_idx,
                    end_user: EndUserContext { attestation, end_user_json, end_user_class },
                    requests,
                });
            }
        }
        let since = Timestamp::from_millis((oldest * self.slot_millis).max(self.started_at.as_millis()));
        let window_secs = u64::try_from(self.slot_millis * SLOTS as i64 / 1000).unwrap_or(0);
        (out, Coverage { window_secs, since })
    }
}

impl Tally {
    fn add(&mut self, slot: i64) {
        if slot > self.last_slot {
            // Zero the slots skipped since the last request: they now stand for newer hours.
            let skipped = (slot - self.last_slot).min(SLOTS as i64);
            for back in 0..skipped {
                if let Some(count) = self.counts.get_mut(index(slot - back)) {
                    *count = 0;
                }
            }
            self.last_slot = slot;
        }
        // A request stamped a little earlier (clocks read on other threads) counts in the latest
        // slot rather than rewriting older ones.
        if let Some(count) = self.counts.get_mut(index(self.last_slot)) {
            *count = count.saturating_add(1);
        }
    }

    fn sum_since(&self, oldest: i64) -> u64 {
        (0..SLOTS as i64)
            .map(|back| self.last_slot - back)
            .filter(|slot| *slot >= oldest)
            .filter_map(|slot| self.counts.get(index(slot)))
            .map(|count| u64::from(*count))
            .sum()
    }
}

fn index(slot: i64) -> usize {
    usize::try_from(slot.rem_euclid(SLOTS as i64)).unwrap_or(0)
}

fn status_code(status: &str) -> u8 {
    match status {
        "valid" => 0,
        "missing" => 1,
        "malformed" => 2,
        "expired" => 3,
        "untrusted" => 4,
        "wrong_audience" => 5,
        _ => 2,
    }
}

fn pack(customer_idx: u32, model_idx: u32, end_user_class: u32, status: u8) -> u128 {
    (u128::from(customer_idx) << 96)
        | (u128::from(model_idx) << 64)
        | (u128::from(end_user_class) << 32)
        | u128::from(status)
}

fn unpack(key: u128) -> (u32, u32, u32, u8) {
    // Truncation is the point: each field was packed from a value of that width.
    ((key >> 96) as u32, (key >> 64) as u32, (key >> 32) as u32, key as u8)
}

/// A multiplicative hash for our own packed integers. SipHash (std's default) resists keys chosen
/// to collide, but these keys are small integers the gateway assigns, and hashing 16 bytes with
/// it would be most of the counter's cost.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u128(&mut self, n: u128) {
        let folded = (n as u64) ^ ((n >> 64) as u64).rotate_left(29);
        let mixed = folded.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = mixed ^ (mixed >> 32);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;
    const T0: Timestamp = Timestamp::from_millis(1_795_800_000_000 - 1_795_800_000_000 % HOUR);

    fn usage(max_keys: usize) -> Usage {
        Usage::new(&UsageSettings { window_secs: 86_400, max_keys }, T0)
    }

    fn missing() -> EndUserContext {
        EndUserContext { attestation: "missing", end_user_json: None, end_user_class: 0 }
    }

    fn empty_snapshot() -> Snapshot {
        let schema = portcullis_core::policy::CedarSchema::default_schema().unwrap();
        Snapshot::new(portcullis_core::State::new(std::sync::Arc::new(schema), Vec::new()))
    }

    fn counts(usage: &Usage, now: Timestamp) -> Vec<(u32, u32, &'static str, u64)> {
        let mut rows: Vec<_> = usage
            .recent(&empty_snapshot(), now)
            .0
            .into_iter()
            .map(|r| (r.customer_idx, r.model_idx, r.end_user.attestation, r.requests))
            .collect();
        rows.sort();
        rows
    }

    #[test]
    fn counts_roll_out_of_the_window_hour_by_hour() {
        let usage = usage(1000);
        usage.record(1, 0, &missing(), T0);
        usage.record(1, 0, &missing(), T0.plus_millis(HOUR / 2));
        usage.record(1, 0, &missing(), T0.plus_millis(5 * HOUR));
        usage.record(2, 0, &missing(), T0.plus_millis(5 * HOUR));
        assert_eq!(counts(&usage, T0.plus_millis(5 * HOUR)), [(1, 0, "missing", 3), (2, 0, "missing", 1)]);
        // 24 slots: the first hour is still in at 23 h, out at 24 h.
        assert_eq!(counts(&usage, T0.plus_millis(23 * HOUR)), [(1, 0, "missing", 3), (2, 0, "missing", 1)]);
        assert_eq!(counts(&usage, T0.plus_millis(24 * HOUR)), [(1, 0, "missing", 1), (2, 0, "missing", 1)]);
        assert_eq!(counts(&usage, T0.plus_millis(29 * HOUR)), []);
        // A request a day later reuses the slots: nothing from the first day survives in them.
        usage.record(1, 0, &missing(), T0.plus_millis(24 * HOUR + 1));
        assert_eq!(counts(&usage, T0.plus_millis(24 * HOUR + 1)), [(1, 0, "missing", 2), (2, 0, "missing", 1)]);
        let (_, coverage) = usage.recent(&empty_snapshot(), T0.plus_millis(30 * HOUR));
        assert_eq!(coverage.window_secs, 86_400);
        assert_eq!(coverage.since, T0.plus_millis(7 * HOUR));
    }

    #[test]
    fn a_full_table_counts_without_the_customer() {
        // One key per shard: customers 0 and 16 share shard 0.
        let usage = usage(SHARDS);
        usage.record(0, 3, &missing(), T0);
        usage.record(16, 3, &missing(), T0);
        usage.record(16, 3, &missing(), T0);
        usage.record(0, 3, &missing(), T0);
        assert_eq!(counts(&usage, T0), [(0, 3, "missing", 2), (UNATTRIBUTED, 3, "missing", 2)]);
        // Keys that fell out of the window are dropped when the slot moves on, making room.
        usage.record(16, 3, &missing(), T0.plus_millis(25 * HOUR));
        assert_eq!(counts(&usage, T0.plus_millis(25 * HOUR)), [(16, 3, "missing", 1)]);
    }

    #[test]
    fn keys_round_trip() {
        for (c, m, e, s) in [(0, 0, 0, 0), (u32::MAX, 7, u32::MAX, 5), (123_456, 65_000, 42, 1)] {
            assert_eq!(unpack(pack(c, m, e, s)), (c, m, e, s));
        }
        for status in STATUSES {
            assert_eq!(STATUSES.get(usize::from(status_code(status))), Some(&status));
        }
    }
}
