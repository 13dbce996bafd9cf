//! Passive health of deployments: consecutive failures eject a deployment for a cool-down, and
//! an answer that access was revoked (401, 403, 451) cuts it off for longer.
//!
//! Health is per replica and in memory, not governance: it changes with every failed connection
//! and each replica sees its own. The table holds an entry only for a deployment that has failed
//! at least once since it was last healthy, so the request path of a healthy fleet takes one
//! uncontended read lock and one failed hash lookup per request, and allocates nothing.
//!
//! After its period a deployment is not declared healthy: the next request (or the active probe)
//! is a trial, and only an answer that is not a failure brings it back. While the trial runs the
//! period is extended by the trial window, so other requests keep skipping it, and a trial that
//! is abandoned (the client went away) does not leave it skipped for good.

use std::collections::HashMap;
use std::sync::RwLock;

use portcullis_core::{Deployment, Timestamp};
use prometheus_client::metrics::gauge::Gauge;

use crate::config::FailoverSettings;

/// Why a deployment could not serve a request: each is a reason to try the next one, and names
/// the reason in `x-portcullis-fallback-reason` and the failover counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureReason {
    /// Could not connect, or the connection broke before the response head.
    Unreachable,
    /// No response head within `limits.upstream_timeout_secs`.
    Timeout,
    /// A 5xx response.
    Upstream5xx,
    /// A 401, 403 or 451 response: the provider refuses this gateway (access revoked).
    AccessRevoked,
    /// The deployment's API key variable is not set on this gateway.
    MissingKey,
    /// Skipped: ejected after consecutive failures, cool-down not over.
    Ejected,
    /// Skipped: cut off after a revocation, period not over.
    CutOff,
}

impl FailureReason {
    /// The code used in headers, metrics and logs.
    pub fn code(self) -> &'static str {
        match self {
            FailureReason::Unreachable => "upstream_unreachable",
            FailureReason::Timeout => "timeout",
            FailureReason::Upstream5xx => "upstream_5xx",
            FailureReason::AccessRevoked => "access_revoked",
            FailureReason::MissingKey => "missing_api_key",
            FailureReason::Ejected => "ejected",
            FailureReason::CutOff => "cut_off",
        }
    }
}

/// A deployment's state as operators see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthState {
    /// Serving (possibly after a few failures, fewer than the ejection threshold).
    Healthy,
    /// Skipped until `until` after consecutive failures.
    Ejected,
    /// Skipped until `until` after the provider answered that access was revoked.
    CutOff,
}

impl HealthState {
    /// `healthy`, `ejected` or `cut_off`.
    pub fn name(self) -> &'static str {
        match self {
            HealthState::Healthy => "healthy",
            HealthState::Ejected => "ejected",
            HealthState::CutOff => "cut_off",
        }
    }
}

/// Whether a request may use a deployment now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Availability {
    /// Use it.
    Ready,
    /// Skip it, for this reason ([`FailureReason::Ejected`] or [`FailureReason::CutOff`]).
    Skip(FailureReason),
}

/// A deployment's health record, as the admin API shows it.
#[derive(Clone, Debug)]
pub struct HealthView {
    /// The state.
    pub state: HealthState,
    /// Since when.
    pub since: Timestamp,
    /// Until when it is skipped (ejected or cut off).
    pub until: Option<Timestamp>,
    /// Consecutive failures so far.
    pub consecutive_failures: u32,
    /// The last failure's reason.
    pub last_reason: Option<FailureReason>,
    /// The last failure's HTTP status, if it was an answer.
    pub last_status: Option<u16>,
    /// Failures since the gateway started.
    pub failures_total: u64,
    /// Times cut off since the gateway started.
    pub cut_offs_total: u64,
    /// Times ejected since the gateway started.
    pub ejections_total: u64,
    /// When it last recovered from being ejected or cut off.
    pub recovered_at: Option<Timestamp>,
}

/// The health of every deployment that has failed since it was last healthy.
pub struct Health {
    settings: FailoverSettings,
    /// How long a trial after a period holds off other requests, in milliseconds.
    trial_window_millis: i64,
    /// Model name → deployment name → record. A std `RwLock`: it is never held across an
    /// `.await`, critical sections are a few hash operations, and readers vastly outnumber
    /// writers (a write happens only on a failure or a recovery).
    entries: RwLock<HashMap<String, HashMap<String, Entry>>>,
    cut_off_gauge: Gauge,
    ejected_gauge: Gauge,
}

#[derive(Clone, Debug)]
struct Entry {
    /// The deployment's base URL when the record was made: a deployment re-pointed by a
    /// governance event starts healthy.
    base_url: String,
    view: HealthView,
}

impl Health {
    /// An empty table (everything healthy).
    pub fn new(
        settings: &FailoverSettings,
        trial_window_secs: u64,
        cut_off_gauge: Gauge,
        ejected_gauge: Gauge,
    ) -> Self {
        Self {
            settings: settings.clone(),
            trial_window_millis: secs_to_millis(trial_window_secs),
            entries: RwLock::default(),
            cut_off_gauge,
            ejected_gauge,
        }
    }

    /// Whether a request may use `deployment` of `model` at `now`; starts a trial when a period
    /// is over.
    pub fn check(&self, model: &str, deployment: &Deployment, now: Timestamp) -> Availability {
        let skip = match self.entries.read() {
            Ok(entries) => match entries.get(model).and_then(|m| m.get(&deployment.name)) {
                None => return Availability::Ready,
                Some(entry) if entry.base_url != deployment.upstream.base_url => return Availability::Ready,
                Some(entry) => match (entry.view.state, entry.view.until) {
                    (HealthState::Healthy, _) => return Availability::Ready,
                    (_, Some(until)) if now < until => return Availability::Skip(skip_reason(entry.view.state)),
                    _ => skip_reason(entry.view.state),
                },
            },
            // A poisoned lock means a panic elsewhere; health is advisory, so serve.
            Err(_) => return Availability::Ready,
        };
        // The period is over: this request is the trial, unless another one just took it.
        let Ok(mut entries) = self.entries.write() else { return Availability::Ready };
        let Some(entry) = entries.get_mut(model).and_then(|m| m.get_mut(&deployment.name)) else {
            return Availability::Ready;
        };
        if entry.view.until.is_some_and(|until| now < until) {
            return Availability::Skip(skip);
        }
        entry.view.until = Some(now.plus_millis(self.trial_window_millis));
        tracing::info!(model, deployment = %deployment.name, state = entry.view.state.name(), "trying a deployment again after its period");
        Availability::Ready
    }

    /// A request to `deployment` got an answer that is not a failure.
    pub fn record_success(&self, model: &str, deployment: &Deployment, now: Timestamp) {
        // Fast path: nothing recorded, nothing to reset.
        let recorded = match self.entries.read() {
            Ok(entries) => entries.get(model).is_some_and(|m| m.contains_key(&deployment.name)),
            Err(_) => false,
        };
        if !recorded {
            return;
        }
        let Ok(mut entries) = self.entries.write() else { return };
        let Some(per_model) = entries.get_mut(model) else { return };
        if let Some(entry) = per_model.remove(&deployment.name)
            && entry.view.state != HealthState::Healthy
        {
            tracing::warn!(
                model,
                deployment = %deployment.name,
                was = entry.view.state.name(),
                since = %entry.view.since,
                at = %now,
                "deployment recovered"
            );
        }
        if per_model.is_empty() {
            entries.remove(model);
        }
        self.update_gauges(&entries);
    }

    /// A request to `deployment` failed with `reason` (and `status`, when it was an answer).
    pub fn record_failure(
        &self,
        model: &str,
        deployment: &Deployment,
        reason: FailureReason,
        status: Option<u16>,
        now: Timestamp,
    ) {
        let Ok(mut entries) = self.entries.write() else { return };
        let per_model = entries.entry(model.to_owned()).or_default();
        let entry = per_model.entry(deployment.name.clone()).or_insert_with(|| Entry {
            base_url: deployment.upstream.base_url.clone(),
            view: HealthView {
                state: HealthState::Healthy,
                since: now,
                until: None,
                consecutive_failures: 0,
                last_reason: None,
                last_status: None,
                failures_total: 0,
                cut_offs_total: 0,
                ejections_total: 0,
                recovered_at: None,
            },
        });
        if entry.base_url != deployment.upstream.base_url {
            entry.base_url.clone_from(&deployment.upstream.base_url);
            entry.view.state = HealthState::Healthy;
            entry.view.consecutive_failures = 0;
            entry.view.until = None;
        }
        let view = &mut entry.view;
        view.consecutive_failures = view.consecutive_failures.saturating_add(1);
        view.failures_total = view.failures_total.saturating_add(1);
        view.last_reason = Some(reason);
        view.last_status = status;
        if reason == FailureReason::AccessRevoked {
            let newly = view.state != HealthState::CutOff;
            view.state = HealthState::CutOff;
            view.until = Some(now.plus_millis(secs_to_millis(self.settings.cut_off_secs)));
            if newly {
                view.since = now;
                view.cut_offs_total = view.cut_offs_total.saturating_add(1);
            }
            tracing::warn!(
                model,
                deployment = %deployment.name,
                status,
                until = %view.until.unwrap_or(now),
                "deployment cut off: the provider answered that access was revoked"
            );
        } else if view.state != HealthState::Healthy
            || view.consecutive_failures >= self.settings.eject_after_failures.max(1)
        {
            // A failed trial (from ejected or cut off) ejects it again at once.
            let newly = view.state == HealthState::Healthy;
            if view.state == HealthState::Healthy {
                view.state = HealthState::Ejected;
                view.since = now;
                view.ejections_total = view.ejections_total.saturating_add(1);
            }
            let period = if view.state == HealthState::CutOff {
                self.settings.cut_off_secs
            } else {
                self.settings.cooldown_secs
            };
            view.until = Some(now.plus_millis(secs_to_millis(period)));
            if newly {
                tracing::warn!(
                    model,
                    deployment = %deployment.name,
                    reason = reason.code(),
                    failures = view.consecutive_failures,
                    until = %view.until.unwrap_or(now),
                    "deployment ejected after consecutive failures"
                );
            }
        }
        self.update_gauges(&entries);
    }

    /// The record of `deployment` of `model`, if it has failed since it was last healthy.
    pub fn view(&self, model: &str, deployment: &Deployment) -> Option<HealthView> {
        let entries = self.entries.read().ok()?;
        let entry = entries.get(model)?.get(&deployment.name)?;
        (entry.base_url == deployment.upstream.base_url).then(|| entry.view.clone())
    }

    /// Deployments (model, deployment name) whose period is over, for the active probe.
    pub fn due_for_probe(&self, now: Timestamp) -> Vec<(String, String)> {
        let Ok(entries) = self.entries.read() else { return Vec::new() };
        entries
            .iter()
            .flat_map(|(model, per_model)| {
                per_model.iter().filter_map(move |(name, entry)| {
                    let due =
                        entry.view.state != HealthState::Healthy && entry.view.until.is_none_or(|until| until <= now);
                    due.then(|| (model.clone(), name.clone()))
                })
            })
            .collect()
    }

    fn update_gauges(&self, entries: &HashMap<String, HashMap<String, Entry>>) {
        let (mut cut_off, mut ejected) = (0_i64, 0_i64);
        for entry in entries.values().flat_map(HashMap::values) {
            match entry.view.state {
                HealthState::CutOff => cut_off += 1,
                HealthState::Ejected => ejected += 1,
                HealthState::Healthy => {}
            }
        }
        self.cut_off_gauge.set(cut_off);
        self.ejected_gauge.set(ejected);
    }
}

fn skip_reason(state: HealthState) -> FailureReason {
    match state {
        HealthState::CutOff => FailureReason::CutOff,
        HealthState::Ejected | HealthState::Healthy => FailureReason::Ejected,
    }
}

fn secs_to_millis(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}
