//! Prometheus metrics.
//!
//! Label values are bounded: model names come from the governance state (not from requests, so
//! a client cannot mint new series with made-up model names) and reasons from a fixed list.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of request counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The model (a registered name, or `unknown`).
    pub model: String,
    /// `allowed`, or the denial code.
    pub outcome: String,
}

/// Labels of upstream histograms.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    /// The model.
    pub model: String,
}

/// All metrics of the gateway.
pub struct Metrics {
    registry: Registry,
    /// Gated requests by model and outcome.
    pub requests: Family<RequestLabels, Counter>,
    /// Time to decide, seconds.
    pub decision_seconds: Histogram,
    /// Time to upstream response headers, seconds.
    pub upstream_seconds: Family<ModelLabels, Histogram>,
    /// Upstream failures (unreachable, timeout) by model.
    pub upstream_errors: Family<ModelLabels, Counter>,
    /// Sequence number of the snapshot being served.
    pub snapshot_seq: Gauge,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("portcullis");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "gate_requests",
            "Gated API requests by model and outcome (allowed or denial code)",
            requests.clone(),
        );
        // 1 µs to ~1 s.
        let decision_seconds = Histogram::new(exponential_buckets(1e-6, 4.0, 10));
        registry.register(
            "decision_seconds",
            "Time to decide a request (key, stage, grant, criteria, directives)",
            decision_seconds.clone(),
        );
        let upstream_seconds = Family::<ModelLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(1e-4, 3.0, 14))
        });
        registry.register(
            "upstream_seconds",
            "Time until the upstream sent response headers",
            upstream_seconds.clone(),
        );
        let upstream_errors = Family::<ModelLabels, Counter>::default();
        registry.register(
            "upstream_errors",
            "Upstream requests that failed (unreachable or timed out)",
            upstream_errors.clone(),
        );
        let snapshot_seq = Gauge::default();
        registry.register(
            "snapshot_sequence",
            "Event sequence number of the governance snapshot in use",
            snapshot_seq.clone(),
        );
        Arc::new(Self { registry, requests, decision_seconds, upstream_seconds, upstream_errors, snapshot_seq })
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
