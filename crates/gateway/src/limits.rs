//! Rate limits and token budgets on the request path.
//!
//! The limits themselves are governance state (`core::limits`, set by the provider and replayed
//! into every snapshot); the counting is here, in memory, per replica. Requests per minute are
//! a token bucket of that size refilled evenly over the minute; tokens per day count the
//! upstream's reported `usage.total_tokens` (from the JSON answer, or from the `usage` chunk of a
//! stream) per UTC day. A customer or key without limits costs one branch and no lock.
//!
//! A request that starts under its token budget may end over it: its tokens are known only
//! when the answer is complete. The next request is then refused until the day ends.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use portcullis_core::limits::Limits;
use portcullis_core::state::{ApiKey, Customer};
use portcullis_core::{SecretHash, Timestamp};

use crate::error::ApiError;

const SHARDS: usize = 16;
const DAY_MILLIS: i64 = 86_400_000;
const MINUTE_MILLIS: f64 = 60_000.0;
/// Most bytes of a non-streamed answer kept to read its `usage`; larger answers are not counted.
const MAX_TAPPED_BYTES: usize = 1 << 20;

/// What is limited: a customer as a whole, or one of its keys.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Subject {
    Customer(u32),
    Key(SecretHash),
}

#[derive(Debug)]
struct Counters {
    /// The bucket's size when last seen: a changed limit starts a full bucket of the new size.
    capacity: f64,
    /// Requests left in the bucket, at `refilled_at`.
    level: f64,
    refilled_at: i64,
    /// The UTC day `used` counts, as days since the epoch.
    day: i64,
    used: u64,
}

/// The counters of one replica.
pub struct RateLimits {
    shards: [Mutex<HashMap<Subject, Counters>>; SHARDS],
}

impl Default for RateLimits {
    fn default() -> Self {
        Self { shards: std::array::from_fn(|_| Mutex::default()) }
    }
}

/// The limits that apply to one request, resolved before it is forwarded.
#[derive(Clone, Copy, Debug)]
pub struct Applied {
    customer: Option<(u32, Limits)>,
    key: Option<(SecretHash, Limits)>,
}

impl Applied {
    /// Whether a token budget applies, so the answer's usage must be read.
    pub fn counts_tokens(&self) -> bool {
        self.customer.is_some_and(|(_, l)| l.tokens_per_day.is_some())
            || self.key.is_some_and(|(_, l)| l.tokens_per_day.is_some())
    }
}

impl RateLimits {
    fn shard(&self, subject: &Subject) -> &Mutex<HashMap<Subject, Counters>> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        subject.hash(&mut hasher);
        let index = usize::try_from(hasher.finish() % SHARDS as u64).unwrap_or(0);
        // `index < SHARDS` by construction; `get` avoids a panic path all the same.
        let [first, ..] = &self.shards;
        self.shards.get(index).unwrap_or(first)
    }

    /// Admits a request or answers 429 naming the limit and when to retry. Takes one request
    /// from each bucket that applies, or from none.
    ///
    /// # Errors
    ///
    /// [`ApiError::RateLimited`] when a budget is spent or a bucket is empty.
    pub fn admit(&self, customer: &Customer, key: &ApiKey, now: Timestamp) -> Result<Applied, ApiError> {
        let applied = Applied {
            customer: customer.limits.as_deref().map(|l| (customer.customer_idx, *l)),
            key: key.limits.as_deref().map(|limits| (key.key_hash, *limits)),
        };
        if applied.customer.is_none() && applied.key.is_none() {
            return Ok(applied);
        }
        let now = now.as_millis();
        // Named only when a request is refused: the admitted path allocates nothing.
        let who = |subject: &Subject| match subject {
            Subject::Customer(_) => format!("customer `{}`", customer.id),
            Subject::Key(_) => format!("key `{}`", key.key_id),
        };
        let subjects = [
            applied.customer.map(|(idx, l)| (Subject::Customer(idx), l)),
            applied.key.map(|(hash, l)| (Subject::Key(hash), l)),
        ];
        // Budgets first: they take nothing, so refusing on one leaves the buckets untouched.
        for (subject, limits) in subjects.iter().flatten() {
            if let Some(budget) = limits.tokens_per_day {
                let used = self.with(subject, now, limits, |c| c.used);
                if used >= budget {
                    let next_day = (now.div_euclid(DAY_MILLIS) + 1) * DAY_MILLIS;
                    return Err(ApiError::RateLimited {
                        message: format!(
                            "{} has used {used} of its {budget} tokens for today (UTC); the budget renews at midnight UTC",
                            who(subject)
                        ),
                        kind: "tokens",
                        retry_after_secs: seconds_until(now, next_day),
                    });
                }
            }
        }
        let mut taken: Vec<(&Subject, &Limits)> = Vec::new();
        for (subject, limits) in subjects.iter().flatten() {
            let Some(per_minute) = limits.requests_per_minute else { continue };
            let outcome = self.with(subject, now, limits, |c| {
                if c.level >= 1.0 {
                    c.level -= 1.0;
                    Ok(())
                } else {
                    let rate = f64::from(per_minute) / MINUTE_MILLIS;
                    Err(((1.0 - c.level) / rate).ceil())
                }
            });
            if let Err(wait_millis) = outcome {
                // Give back what this request took from the other bucket.
                for (earlier, earlier_limits) in taken {
                    self.with(earlier, now, earlier_limits, |c| c.level += 1.0);
                }
                return Err(ApiError::RateLimited {
                    message: format!("{} is limited to {per_minute} requests per minute", who(subject)),
                    kind: "requests",
                    retry_after_secs: (wait_millis / 1000.0).ceil().max(1.0) as u64,
                });
            }
            taken.push((subject, limits));
        }
        Ok(applied)
    }

    /// Adds an answer's tokens to the budgets that apply.
    pub fn add_tokens(&self, applied: &Applied, tokens: u64, now: Timestamp) {
        let now = now.as_millis();
        let subjects = [
            applied.customer.map(|(idx, l)| (Subject::Customer(idx), l)),
            applied.key.map(|(hash, l)| (Subject::Key(hash), l)),
        ];
        for (subject, limits) in subjects.iter().flatten() {
            if limits.tokens_per_day.is_some() {
                self.with(subject, now, limits, |c| c.used = c.used.saturating_add(tokens));
            }
        }
    }

    /// Runs `f` on a subject's counters, refilled and rolled over to `now` first.
    fn with<T>(&self, subject: &Subject, now: i64, limits: &Limits, f: impl FnOnce(&mut Counters) -> T) -> T {
        let capacity = limits.requests_per_minute.map_or(0.0, f64::from);
        let day = now.div_euclid(DAY_MILLIS);
        let mut shard = match self.shard(subject).lock() {
            Ok(shard) => shard,
            // A poisoned shard only means a panic elsewhere mid-update; the counts are still usable.
            Err(poisoned) => poisoned.into_inner(),
        };
        let counters =
            shard.entry(*subject).or_insert(Counters { capacity, level: capacity, refilled_at: now, day, used: 0 });
        if counters.capacity != capacity {
            counters.capacity = capacity;
            counters.level = capacity;
        }
        let elapsed = (now - counters.refilled_at).max(0) as f64;
        counters.level = (counters.level + elapsed * capacity / MINUTE_MILLIS).min(capacity);
        counters.refilled_at = now;
        if counters.day != day {
            counters.day = day;
            counters.used = 0;
        }
        f(counters)
    }
}

fn seconds_until(now: i64, then: i64) -> u64 {
    u64::try_from((then - now + 999) / 1000).unwrap_or(1).max(1)
}

/// Reads `usage.total_tokens` from an answer as it streams past, and adds it to the budgets when
/// the answer ends (when this is dropped with the response body).
pub struct UsageTap {
    limits: Arc<RateLimits>,
    applied: Applied,
    clock: Arc<dyn crate::engine::Clock>,
    event_stream: bool,
    /// Non-streamed: the answer so far. Streamed: the current unfinished line.
    buffer: Vec<u8>,
    usage: Usage,
}

/// Token counts seen so far: OpenAI reports `total_tokens`; Anthropic reports `input_tokens` (in
/// `message_start`) and a running `output_tokens` (in `message_delta`), so the largest of each counts.
#[derive(Clone, Copy, Debug, Default)]
struct Usage {
    total: Option<u64>,
    input: u64,
    output: u64,
}

impl Usage {
    fn read(&mut self, json: &[u8]) {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(json.trim_ascii()) else { return };
        let Some(usage) = value.get("usage").or_else(|| value.pointer("/message/usage")) else { return };
        let field = |name: &str| usage.get(name).and_then(serde_json::Value::as_u64);
        if let Some(total) = field("total_tokens") {
            self.total = Some(total);
        }
        self.input = self.input.max(field("input_tokens").unwrap_or(0));
        self.output = self.output.max(field("output_tokens").unwrap_or(0));
    }

    fn tokens(&self) -> Option<u64> {
        self.total.or_else(|| (self.input + self.output > 0).then_some(self.input + self.output))
    }
}

impl UsageTap {
    /// A tap for one answer.
    pub fn new(
        limits: Arc<RateLimits>,
        applied: Applied,
        clock: Arc<dyn crate::engine::Clock>,
        event_stream: bool,
    ) -> Self {
        Self { limits, applied, clock, event_stream, buffer: Vec::new(), usage: Usage::default() }
    }

    /// Observes one chunk of the answer.
    pub fn observe(&mut self, chunk: &Bytes) {
        if !self.event_stream {
            if self.buffer.len() + chunk.len() <= MAX_TAPPED_BYTES {
                self.buffer.extend_from_slice(chunk);
            }
            return;
        }
        for byte in chunk.iter() {
            if *byte == b'\n' {
                let line = std::mem::take(&mut self.buffer);
                self.read_event_line(&line);
            } else if self.buffer.len() < MAX_TAPPED_BYTES {
                self.buffer.push(*byte);
            }
        }
    }

    fn read_event_line(&mut self, line: &[u8]) {
        let Some(data) = line.strip_prefix(b"data:") else { return };
        // Only the chunk that carries usage is parsed; the others are skipped by a byte search.
        if !data.windows(7).any(|w| w == b"\"usage\"") {
            return;
        }
        self.usage.read(data);
    }
}

impl Drop for UsageTap {
    fn drop(&mut self) {
        if !self.event_stream {
            let answer = std::mem::take(&mut self.buffer);
            self.usage.read(&answer);
        }
        if let Some(tokens) = self.usage.tokens() {
            self.limits.add_tokens(&self.applied, tokens, self.clock.now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(limits: Option<Limits>) -> Customer {
        Customer {
            id: portcullis_core::CustomerId::parse("acme").unwrap(),
            name: "Acme".into(),
            class_id: 0,
            customer_idx: 7,
            grants: Default::default(),
            key_idxs: Default::default(),
            created_at: Timestamp::from_millis(0),
            limits: limits.map(Box::new),
        }
    }

    fn key(limits: Limits) -> ApiKey {
        ApiKey {
            key_id: portcullis_core::KeyId::parse("key_1").unwrap(),
            key_idx: 3,
            customer_idx: 7,
            label: Arc::new("t".to_owned()),
            key_hash: SecretHash::of_secret("k"),
            revoked: false,
            limits: (!limits.is_unlimited()).then(|| Box::new(limits)),
        }
    }

    #[track_caller]
    fn outcome(result: Result<Applied, ApiError>) -> String {
        match result {
            Ok(_) => "ok".to_owned(),
            Err(ApiError::RateLimited { kind, retry_after_secs, .. }) => format!("429 {kind} retry={retry_after_secs}"),
            Err(other) => format!("{other}"),
        }
    }

    #[test]
    fn a_bucket_of_the_minute_refills_evenly() {
        let limits = RateLimits::default();
        let c = customer(Some(Limits { requests_per_minute: Some(2), tokens_per_day: None }));
        let k = key(Limits::default());
        let at = |ms| Timestamp::from_millis(ms);
        let got: Vec<String> = [0, 0, 0, 29_000, 30_000, 30_000, 90_000, 90_000, 90_000]
            .into_iter()
            .map(|ms| outcome(limits.admit(&c, &k, at(ms))))
            .collect();
        assert_eq!(
            got,
            [
                "ok",
                "ok",
                "429 requests retry=30",
                "429 requests retry=1",
                "ok",
                "429 requests retry=30",
                "ok",
                "ok",
                "429 requests retry=30"
            ]
        );
    }

    #[test]
    fn a_key_limit_and_its_customer_limit_both_apply_and_refusal_takes_nothing() {
        let limits = RateLimits::default();
        let c = customer(Some(Limits { requests_per_minute: Some(3), tokens_per_day: None }));
        let k = key(Limits { requests_per_minute: Some(1), tokens_per_day: None });
        let open = key(Limits::default());
        let now = Timestamp::from_millis(0);
        assert_eq!(outcome(limits.admit(&c, &k, now)), "ok");
        // The key's bucket is empty; the customer's token is given back.
        assert_eq!(outcome(limits.admit(&c, &k, now)), "429 requests retry=60");
        assert_eq!(outcome(limits.admit(&c, &open, now)), "ok");
        assert_eq!(outcome(limits.admit(&c, &open, now)), "ok");
        assert_eq!(outcome(limits.admit(&c, &open, now)), "429 requests retry=20");
    }

    #[test]
    fn a_token_budget_counts_reported_usage_per_utc_day() {
        let limits = Arc::new(RateLimits::default());
        let c = customer(Some(Limits { requests_per_minute: None, tokens_per_day: Some(10) }));
        let k = key(Limits::default());
        let day = 86_400_000;
        let noon = Timestamp::from_millis(20_000 * day + day / 2);
        let applied = limits.admit(&c, &k, noon).unwrap();
        assert!(applied.counts_tokens());
        limits.add_tokens(&applied, 6, noon);
        assert_eq!(outcome(limits.admit(&c, &k, noon)), "ok");
        limits.add_tokens(&applied, 6, noon);
        assert_eq!(outcome(limits.admit(&c, &k, noon)), format!("429 tokens retry={}", day / 2 / 1000));
        assert_eq!(outcome(limits.admit(&c, &k, Timestamp::from_millis(20_001 * day))), "ok");
    }

    #[test]
    fn usage_is_read_from_answers_and_streams() {
        struct Fixed;
        impl crate::engine::Clock for Fixed {
            fn now(&self) -> Timestamp {
                Timestamp::from_millis(0)
            }
        }
        let limits = Arc::new(RateLimits::default());
        let c = customer(Some(Limits { requests_per_minute: None, tokens_per_day: Some(1_000) }));
        let k = key(Limits::default());
        let applied = limits.admit(&c, &k, Timestamp::from_millis(0)).unwrap();
        let used = |limits: &RateLimits| limits.with(&Subject::Customer(7), 0, &Limits::default(), |c| c.used);
        {
            let mut tap = UsageTap::new(limits.clone(), applied, Arc::new(Fixed), false);
            tap.observe(&Bytes::from_static(br#"{"id":"x","usage":{"prompt_"#));
            tap.observe(&Bytes::from_static(br#"tokens":1,"total_tokens":4}}"#));
        }
        assert_eq!(used(&limits), 4);
        {
            let mut tap = UsageTap::new(limits.clone(), applied, Arc::new(Fixed), true);
            tap.observe(&Bytes::from_static(b"data: {\"choices\":[]}\n\ndata: {\"choices\":[],\"usa"));
            tap.observe(&Bytes::from_static(b"ge\":{\"total_tokens\":11}}\n\ndata: [DONE]\n\n"));
        }
        assert_eq!(used(&limits), 15);
        {
            // Anthropic's stream: input tokens at the start, a running output count in deltas.
            let mut tap = UsageTap::new(limits.clone(), applied, Arc::new(Fixed), true);
            tap.observe(&Bytes::from_static(
                b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":7,\"output_tokens\":1}}}\n\n",
            ));
            tap.observe(&Bytes::from_static(
                b"event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":5}}\n\n",
            ));
        }
        assert_eq!(used(&limits), 27);
    }
}
