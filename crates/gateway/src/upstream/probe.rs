//! The optional active probe: every `[failover] probe_interval_secs`, each ejected or cut-off
//! deployment whose period is over is asked `GET <base_url>/models` with its API key. An answer
//! that is not a failure brings it back before a client request has to be the trial; a refusal
//! keeps it cut off for another period.
//!
//! `/models` is probed rather than a completion: it costs the provider nothing, and a revoked
//! key is refused there as well.

use std::time::Duration;

use axum::http::header;
use tokio::sync::watch;

use crate::app::AppState;
use crate::upstream::health::FailureReason;

/// Runs until `stop` turns true.
pub async fn run(app: AppState, interval: Duration, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stopped = async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            _ = ticker.tick() => probe_due(&app).await,
            () = &mut stopped => return,
        }
    }
}

async fn probe_due(app: &AppState) {
    let snapshot = app.engine.snapshot();
    for (model_name, deployment_name) in app.health.due_for_probe(app.engine.now()) {
        let Some(model) = snapshot.state().model(&model_name) else { continue };
        let Some(deployment) = model.deployments.iter().find(|d| d.name == deployment_name) else { continue };
        let url = format!("{}/models", deployment.upstream.base_url.trim_end_matches('/'));
        let mut request = app.http.get(url).header(header::ACCEPT, "application/json");
        if let Some(variable) = &deployment.upstream.api_key_env
            && let Ok(key) = std::env::var(variable)
        {
            request = request.bearer_auth(key);
        }
        let timeout = Duration::from_secs(app.limits.upstream_timeout_secs);
        let outcome = match tokio::time::timeout(timeout, request.send()).await {
            Ok(Ok(response)) => match response.status().as_u16() {
                401 | 403 | 451 => Err((FailureReason::AccessRevoked, Some(response.status().as_u16()))),
                status @ 500..=599 => Err((FailureReason::Upstream5xx, Some(status))),
                _ => Ok(()),
            },
            Ok(Err(_)) => Err((FailureReason::Unreachable, None)),
            Err(_) => Err((FailureReason::Timeout, None)),
        };
        let now = app.engine.now();
        match outcome {
            Ok(()) => app.health.record_success(model.name.as_str(), deployment, now),
            Err((reason, status)) => app.health.record_failure(model.name.as_str(), deployment, reason, status, now),
        }
    }
}
