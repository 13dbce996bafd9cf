//! Choosing the deployment that serves an allowed request: the requested model's deployments in
//! order, then each model of its fallback chain, skipping deployments that are ejected or cut
//! off, and moving on when a try fails before any byte was sent to the client.
//!
//! INVARIANT (no-widening): a fallback model is decided for the same customer and end user like
//! a direct request, and skipped when the gate refuses; a failover never widens anyone's access.
//!
//! The first choice's path stays as it was before failover existed: one health lookup, no clone
//! of the body (`Bytes` clones are reference counts), no decision beyond the caller's own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, header};
use bytes::Bytes;
use portcullis_core::state::Model;
use portcullis_core::{Decision, Deployment};
use tokio::sync::OwnedSemaphorePermit;

use crate::app::AppState;
use crate::error::ApiError;
use crate::metrics::FailoverLabels;
use crate::routes::v1::Caller;
use crate::routes::v1::denial::denied;
use crate::upstream::client::UpstreamResponse;
use crate::upstream::health::{Availability, FailureReason};

/// What the request path asks to forward.
pub struct ForwardRequest<'a> {
    /// The endpoint under the base URL, e.g. `/chat/completions`.
    pub path: &'static str,
    /// The client's body as received.
    pub body: &'a Bytes,
    /// The model the client asked for (the body's `model`).
    pub requested: &'a str,
    /// The client's `Accept` header.
    pub accept: Option<&'a HeaderValue>,
    /// The wire protocol: it decides how the upstream's key is sent.
    pub protocol: Protocol,
    /// Protocol headers passed through to the upstream (e.g. `anthropic-version`).
    pub pass_headers: &'a [(&'static str, HeaderValue)],
}

/// The API a request speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// OpenAI's: the upstream key as `Authorization: Bearer`.
    OpenAi,
    /// Anthropic's Messages API: the upstream key as `x-api-key`.
    Anthropic,
}

/// An upstream answer accepted for the client: from here on there is no switching.
pub struct Served {
    /// The upstream's response, body not yet read.
    pub response: UpstreamResponse,
    /// The model that served (the requested one, or a fallback).
    pub model: Arc<Model>,
    /// Index of the deployment that served in `model.deployments`.
    pub deployment_idx: usize,
    /// The criteria version of the decision that admitted the request to `model`.
    pub criteria_version: u32,
    /// Set when the first choice could not serve: why.
    pub fallback_reason: Option<FailureReason>,
    /// The upstream slot, held until the last chunk is sent.
    pub permit: OwnedSemaphorePermit,
}

/// The name of deployment `deployment_idx` of `model`.
pub fn deployment_name(model: &Model, deployment_idx: usize) -> &str {
    model.deployments.get(deployment_idx).map_or(Deployment::DEFAULT_NAME, |d| d.name.as_str())
}

/// Forwards an allowed request to the first deployment that can serve it.
///
/// # Errors
///
/// 502 or 504 naming the first failure when nothing could serve; the fallback's 403 denial
/// (naming the requested model's failure) when a fallback existed but the gate refused it; 503
/// when every upstream slot stayed busy.
pub(crate) async fn forward(
    app: &AppState,
    caller: &Caller<'_>,
    model: &Arc<Model>,
    criteria_version: u32,
    request: &ForwardRequest<'_>,
) -> Result<Served, ApiError> {
    let permit = acquire_slot(app).await?;
    let mut tries =
        Tries { first_failure: None, last_error: None, denied_fallback: None, skipped: Vec::new(), attempted: false };
    let n_fallbacks = model.fallbacks.len();
    if let Some(served) = try_model(app, model, criteria_version, request, n_fallbacks == 0, &mut tries).await {
        return Ok(tries.served(app, model, served, permit));
    }
    for (i, fallback_name) in model.fallbacks.iter().enumerate() {
        let Some(fallback) = caller.snapshot.state().model(fallback_name.as_str()) else { continue };
        // INVARIANT (no-widening): decided like a direct request by the same caller.
        let fallback_version = match caller.decide(app, fallback) {
            Ok(Decision::Allow(allowed)) => allowed.criteria_version(),
            Err(stale) => {
                // Stale and gated: as refused as a denial, for the same reason as a direct request.
                tracing::info!(model = %model.name, fallback = %fallback.name, "fallback refused: replica is stale");
                if tries.denied_fallback.is_none() {
                    tries.denied_fallback = Some(stale);
                }
                continue;
            }
            Ok(Decision::Deny(denial)) => {
                tracing::info!(
                    customer = %caller.customer.id,
                    model = %model.name,
                    fallback = %fallback.name,
                    reason = denial.code(),
                    "fallback refused by the gate"
                );
                if tries.denied_fallback.is_none() {
                    tries.denied_fallback = Some(denied(&app.public_base_url, caller.customer, fallback, &denial));
                }
                continue;
            }
        };
        let last = i + 1 == n_fallbacks;
        if let Some(served) = try_model(app, fallback, fallback_version, request, last, &mut tries).await {
            return Ok(tries.served(app, model, served, permit));
        }
    }
    // Every deployment was skipped for its health and none was tried: rather than refuse, try
    // them anyway in order; health only steers traffic when there is somewhere else to go.
    if !tries.attempted {
        let skipped = std::mem::take(&mut tries.skipped);
        let n_skipped = skipped.len();
        for (i, (candidate, deployment_idx, version)) in skipped.into_iter().enumerate() {
            let Some(deployment) = candidate.deployments.get(deployment_idx) else { continue };
            match attempt(app, &candidate, deployment, request, i + 1 == n_skipped).await {
                Ok(response) => {
                    app.health.record_success(candidate.name.as_str(), deployment, app.engine.now());
                    let served =
                        Attempted { response, model: candidate.clone(), deployment_idx, criteria_version: version };
                    return Ok(tries.served(app, model, served, permit));
                }
                Err(failure) => tries.failed(app, &candidate, deployment, failure),
            }
        }
    }
    Err(tries.into_error(model))
}

/// A successful try, before it is wrapped with the request's failover record.
struct Attempted {
    response: UpstreamResponse,
    model: Arc<Model>,
    deployment_idx: usize,
    criteria_version: u32,
}

/// What happened to the tries of one request.
struct Tries {
    /// The first choice that could not serve: (model, deployment, why).
    first_failure: Option<(Arc<Model>, usize, FailureReason)>,
    /// The error of the last failed try.
    last_error: Option<ApiError>,
    /// The first fallback the gate refused.
    denied_fallback: Option<ApiError>,
    /// Deployments skipped for their health (allocated only when one is).
    skipped: Vec<(Arc<Model>, usize, u32)>,
    /// Whether any deployment was tried.
    attempted: bool,
}

impl Tries {
    fn note_first(&mut self, model: &Arc<Model>, deployment_idx: usize, reason: FailureReason) {
        if self.first_failure.is_none() {
            self.first_failure = Some((model.clone(), deployment_idx, reason));
        }
    }

    fn failed(&mut self, app: &AppState, model: &Arc<Model>, deployment: &Deployment, failure: Failure) {
        let deployment_idx = model.deployments.iter().position(|d| d.name == deployment.name).unwrap_or(0);
        self.note_first(model, deployment_idx, failure.reason);
        if failure.reason != FailureReason::MissingKey {
            app.health.record_failure(
                model.name.as_str(),
                deployment,
                failure.reason,
                failure.status,
                app.engine.now(),
            );
        }
        if matches!(failure.reason, FailureReason::Unreachable | FailureReason::Timeout) {
            app.metrics.for_model(model.name.as_str()).upstream_errors.inc();
        }
        self.last_error = Some(failure.error);
    }

    fn served(self, app: &AppState, requested: &Model, attempted: Attempted, permit: OwnedSemaphorePermit) -> Served {
        // The first choice itself served (tried as a last resort after being skipped): no failover.
        let first_choice_served = self.first_failure.as_ref().is_some_and(|(from_model, from_idx, _)| {
            Arc::ptr_eq(from_model, &attempted.model) && *from_idx == attempted.deployment_idx
        });
        let first_failure = if first_choice_served { None } else { self.first_failure };
        let fallback_reason = first_failure.map(|(from_model, from_idx, reason)| {
            let from_deployment = from_model.deployments.get(from_idx).map_or("", |d| d.name.as_str());
            let to_deployment =
                attempted.model.deployments.get(attempted.deployment_idx).map_or("", |d| d.name.as_str());
            app.metrics
                .failovers
                .get_or_create(&FailoverLabels {
                    model: requested.name.to_string(),
                    from: format!("{}/{from_deployment}", from_model.name),
                    to: format!("{}/{to_deployment}", attempted.model.name),
                    reason: reason.code().to_owned(),
                })
                .inc();
            // Routine once a deployment is ejected or cut off (every request goes around it; that
            // change itself is logged at warn): an info line per request would cost more than the
            // failover.
            let routine = matches!(reason, FailureReason::Ejected | FailureReason::CutOff);
            if routine {
                tracing::debug!(model = %requested.name, reason = reason.code(), "failover around an unhealthy deployment");
            } else {
                tracing::info!(
                model = %requested.name,
                from = %format_args!("{}/{from_deployment}", from_model.name),
                to = %format_args!("{}/{to_deployment}", attempted.model.name),
                reason = reason.code(),
                "failover"
                );
            }
            reason
        });
        Served {
            response: attempted.response,
            model: attempted.model,
            deployment_idx: attempted.deployment_idx,
            criteria_version: attempted.criteria_version,
            fallback_reason,
            permit,
        }
    }

    fn into_error(self, requested: &Model) -> ApiError {
        let why = self.first_failure.as_ref().map_or("unavailable", |(_, _, reason)| reason.code());
        if let Some(ApiError::Denied { message, code, mut details }) = self.denied_fallback {
            if let Some(map) = details.as_object_mut() {
                map.insert(
                    "fallback_of".to_owned(),
                    serde_json::json!({ "model": requested.name.as_str(), "reason": why }),
                );
            }
            return ApiError::Denied {
                message: format!(
                    "model `{}` could not serve this request ({why}) and its fallback refused it: {message}",
                    requested.name
                ),
                code,
                details,
            };
        }
        self.last_error.unwrap_or_else(|| {
            ApiError::UpstreamUnreachable(format!(
                "no deployment of model `{}` could serve this request ({why})",
                requested.name
            ))
        })
    }
}

/// Tries `model`'s deployments in order. `last_model`: no model comes after this one, so its
/// last deployment's answer goes to the client whatever it is.
async fn try_model(
    app: &AppState,
    model: &Arc<Model>,
    criteria_version: u32,
    request: &ForwardRequest<'_>,
    last_model: bool,
    tries: &mut Tries,
) -> Option<Attempted> {
    let n_deployments = model.deployments.len();
    for (deployment_idx, deployment) in model.deployments.iter().enumerate() {
        let now = app.engine.now();
        if let Availability::Skip(reason) = app.health.check(model.name.as_str(), deployment, now) {
            tries.note_first(model, deployment_idx, reason);
            tries.skipped.push((model.clone(), deployment_idx, criteria_version));
            continue;
        }
        tries.attempted = true;
        let pass_through = last_model && deployment_idx + 1 == n_deployments;
        match attempt(app, model, deployment, request, pass_through).await {
            Ok(response) => {
                app.health.record_success(model.name.as_str(), deployment, app.engine.now());
                return Some(Attempted { response, model: model.clone(), deployment_idx, criteria_version });
            }
            Err(failure) => tries.failed(app, model, deployment, failure),
        }
    }
    None
}

/// Why one try failed, and the error the client gets if nothing else serves.
struct Failure {
    reason: FailureReason,
    status: Option<u16>,
    error: ApiError,
}

/// One try at one deployment. `pass_through`: a failing answer (5xx, 401, 403, 451) is still
/// the client's answer, since nothing comes after it; it is recorded for health all the same.
async fn attempt(
    app: &AppState,
    model: &Model,
    deployment: &Deployment,
    request: &ForwardRequest<'_>,
    pass_through: bool,
) -> Result<UpstreamResponse, Failure> {
    let upstream = &deployment.upstream;
    let unreachable =
        |reason, message: String| Failure { reason, status: None, error: ApiError::UpstreamUnreachable(message) };
    let target = app.upstream_urls.get(&upstream.base_url, request.path).map_err(|error| Failure {
        reason: FailureReason::Unreachable,
        status: None,
        error,
    })?;
    // The upstream knows the model by its deployment's name for it, or by the served model's
    // public name (which differs from the requested one after a fallback).
    let upstream_model = upstream.upstream_model.as_deref().unwrap_or(model.name.as_str());
    let body = if upstream_model == request.requested {
        request.body.clone()
    } else {
        rewrite_model(request.body, upstream_model).map_err(|error| Failure {
            reason: FailureReason::Unreachable,
            status: None,
            error,
        })?
    };
    let mut builder = axum::http::Request::post(target.uri).header(header::CONTENT_TYPE, "application/json");
    if let Some(accept) = request.accept {
        builder = builder.header(header::ACCEPT, accept);
    }
    for (name, value) in request.pass_headers {
        builder = builder.header(*name, value);
    }
    let credential = if let Some(variable) = &upstream.api_key_env {
        let Ok(key) = std::env::var(variable) else {
            return Err(unreachable(
                FailureReason::MissingKey,
                format!(
                    "the upstream of model `{}` needs an API key in the environment variable `{variable}`, which is not set on the gateway",
                    model.name
                ),
            ));
        };
        let (name, value) = match request.protocol {
            Protocol::OpenAi => (header::AUTHORIZATION, format!("Bearer {key}")),
            Protocol::Anthropic => (header::HeaderName::from_static("x-api-key"), key),
        };
        let Ok(mut value) = HeaderValue::try_from(value) else {
            return Err(unreachable(
                FailureReason::MissingKey,
                format!(
                    "the API key of model `{}` in the environment variable `{variable}` is not a valid header value",
                    model.name
                ),
            ));
        };
        value.set_sensitive(true);
        Some((name, value))
    } else {
        target.basic_auth.map(|value| (header::AUTHORIZATION, value))
    };
    if let Some((name, value)) = credential {
        builder = builder.header(name, value);
    }
    let upstream_request = builder.body(http_body_util::Full::new(body)).map_err(|err| Failure {
        reason: FailureReason::Unreachable,
        status: None,
        error: ApiError::Internal(err.into()),
    })?;
    let timeout = Duration::from_secs(app.limits.upstream_timeout_secs);
    let started = Instant::now();
    let response = match tokio::time::timeout(timeout, app.upstream.send(upstream_request)).await {
        Ok(Ok(response)) => response,
        Ok(Err(err)) => {
            tracing::warn!(model = %model.name, deployment = %deployment.name, error = %err, "upstream request failed");
            return Err(if err.timed_out {
                Failure {
                    reason: FailureReason::Timeout,
                    status: None,
                    error: ApiError::UpstreamTimeout(format!(
                        "the upstream of model `{}` did not answer in time",
                        model.name
                    )),
                }
            } else {
                unreachable(
                    FailureReason::Unreachable,
                    format!("the upstream of model `{}` could not be reached", model.name),
                )
            });
        }
        Err(_) => {
            tracing::warn!(model = %model.name, deployment = %deployment.name, "upstream timed out");
            return Err(Failure {
                reason: FailureReason::Timeout,
                status: None,
                error: ApiError::UpstreamTimeout(format!(
                    "the upstream of model `{}` did not answer within {} seconds",
                    model.name, app.limits.upstream_timeout_secs
                )),
            });
        }
    };
    app.metrics.for_model(model.name.as_str()).upstream_seconds.observe(started.elapsed().as_secs_f64());
    let status = response.status().as_u16();
    let reason = match status {
        401 | 403 | 451 => FailureReason::AccessRevoked,
        500..=599 => FailureReason::Upstream5xx,
        _ => return Ok(response),
    };
    tracing::warn!(model = %model.name, deployment = %deployment.name, status, reason = reason.code(), "upstream refused or failed");
    if pass_through {
        app.health.record_failure(model.name.as_str(), deployment, reason, Some(status), app.engine.now());
        return Ok(response);
    }
    Err(Failure {
        reason,
        status: Some(status),
        error: ApiError::UpstreamUnreachable(format!(
            "the upstream of model `{}` answered {status} ({})",
            model.name,
            reason.code()
        )),
    })
}

/// Waits for an upstream slot; the wait counts against the upstream timeout, so a saturated
/// gateway answers 503 rather than queueing callers without bound.
async fn acquire_slot(app: &AppState) -> Result<OwnedSemaphorePermit, ApiError> {
    // A free slot needs no timer: registering one per request cost more than the wait it bounds.
    if let Ok(permit) = app.upstream_slots.clone().try_acquire_owned() {
        return Ok(permit);
    }
    let timeout = Duration::from_secs(app.limits.upstream_timeout_secs);
    match tokio::time::timeout(timeout, app.upstream_slots.clone().acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        Ok(Err(_)) => Err(ApiError::Unavailable("the gateway is shutting down".to_owned())),
        Err(_) => Err(ApiError::Unavailable(format!(
            "all {} upstream slots stayed busy for {} seconds; retry later",
            app.limits.max_upstream_concurrency, app.limits.upstream_timeout_secs
        ))),
    }
}

/// Replaces the `model` field for an upstream that knows the model by another name.
fn rewrite_model(bytes: &[u8], upstream_model: &str) -> Result<Bytes, ApiError> {
    let mut value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|err| ApiError::bad_request(format!("invalid JSON body: {err}")))?;
    let object = value.as_object_mut().ok_or_else(|| ApiError::bad_request("the JSON body must be an object"))?;
    object.insert("model".to_owned(), upstream_model.into());
    serde_json::to_vec(&value).map(Bytes::from).map_err(|err| ApiError::Internal(err.into()))
}
