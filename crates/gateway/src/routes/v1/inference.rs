//! `POST /v1/chat/completions`, `/v1/completions`, `/v1/embeddings`, `/v1/responses`: the request
//! path. Authenticate, decide from the current snapshot, forward to the model's upstream, and
//! stream the answer back chunk by chunk.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use portcullis_core::{Decision, decide};

use crate::app::AppState;
use crate::auth;
use crate::error::ApiError;
use crate::metrics::RequestLabels;
use crate::routes::v1::caller;
use crate::routes::v1::denial::denied;

/// `POST /v1/chat/completions`.
pub async fn chat_completions(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    gate_and_forward(app, "/chat/completions", headers, body).await
}

/// `POST /v1/completions`.
pub async fn completions(State(app): State<AppState>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    gate_and_forward(app, "/completions", headers, body).await
}

/// `POST /v1/embeddings`.
pub async fn embeddings(State(app): State<AppState>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    gate_and_forward(app, "/embeddings", headers, body).await
}

/// `POST /v1/responses`.
pub async fn responses(State(app): State<AppState>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    gate_and_forward(app, "/responses", headers, body).await
}

/// The only fields the gate reads from a request body; everything else passes through untouched.
#[derive(serde::Deserialize)]
struct RequestHead {
    model: String,
}

async fn gate_and_forward(
    app: AppState,
    path: &'static str,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // Check the key before reading the body, so an anonymous client cannot make us buffer it;
    // the decision itself uses the snapshot current *after* the body arrived.
    let key_hash = auth::presented_key(&headers)?;
    auth::api_key(&app.engine.snapshot(), &key_hash)?;
    let bytes = read_body(body, &headers, app.limits.max_body_bytes).await?;
    let head: RequestHead = serde_json::from_slice(&bytes).map_err(|err| ApiError::BadRequest {
        message: format!("invalid JSON body: {err}"),
        param: None,
        code: "invalid_json",
    })?;

    let started = Instant::now();
    let c = caller(&app, &headers, &key_hash)?;
    let (snapshot, customer) = (&c.snapshot, &c.customer);
    let model = snapshot.state().model(&head.model).ok_or_else(|| ApiError::NotFound {
        message: format!("the model `{}` does not exist", head.model),
        code: "model_not_found",
    })?;
    let decision = decide(snapshot, customer, model, &c.end_user, c.now);
    app.metrics.decision_seconds.observe(started.elapsed().as_secs_f64());
    // Counted whatever the outcome: impact asks which of these the gate would admit today.
    app.usage.record(customer.customer_idx, model.model_idx, &c.end_user, c.now);
    let allowed = match decision {
        Decision::Allow(allowed) => allowed,
        Decision::Deny(denial) => {
            app.metrics
                .requests
                .get_or_create(&RequestLabels { model: model.name.to_string(), outcome: denial.code().to_owned() })
                .inc();
            tracing::info!(customer = %customer.id, model = %model.name, reason = denial.code(), "request denied");
            return Err(denied(&app.public_base_url, customer, model, &denial));
        }
    };
    let key = snapshot.state().key_by_hash(&key_hash).cloned();
    let applied = match &key {
        Some(key) => Some(app.rate_limits.admit(customer, key, c.now)?),
        None => None,
    };
    let model_metrics = app.metrics.for_model(model.name.as_str());
    model_metrics.allowed.inc();

    let upstream = &model.upstream;
    let url = app.upstream_urls.get(&upstream.base_url, path)?;
    let body = match &upstream.upstream_model {
        Some(name) if *name != head.model => rewrite_model(&bytes, name)?,
        _ => bytes,
    };
    // Waiting for a slot counts against the upstream timeout: a saturated upstream answers 503
    // rather than queueing callers without bound.
    let upstream_timeout = Duration::from_secs(app.limits.upstream_timeout_secs);
    let permit = match tokio::time::timeout(upstream_timeout, app.upstream_slots.clone().acquire_owned()).await {
        Ok(Ok(permit)) => permit,
        Ok(Err(_)) => return Err(ApiError::Unavailable("the gateway is shutting down".to_owned())),
        Err(_) => {
            return Err(ApiError::Unavailable(format!(
                "all {} upstream slots stayed busy for {} seconds; retry later",
                app.limits.max_upstream_concurrency, app.limits.upstream_timeout_secs
            )));
        }
    };
    let mut request = app.http.post(url).header(header::CONTENT_TYPE, "application/json").body(body);
    if let Some(accept) = headers.get(header::ACCEPT) {
        request = request.header(header::ACCEPT, accept);
    }
    if let Some(variable) = &upstream.api_key_env {
        let key = std::env::var(variable).map_err(|_| {
            ApiError::UpstreamUnreachable(format!(
                "the upstream of model `{}` needs an API key in the environment variable `{variable}`, which is not set on the gateway",
                model.name
            ))
        })?;
        request = request.bearer_auth(key);
    }
    let upstream_started = Instant::now();
    let sent = tokio::time::timeout(upstream_timeout, request.send()).await;
    let response = match sent {
        Ok(Ok(response)) => response,
        Ok(Err(err)) => {
            model_metrics.upstream_errors.inc();
            // `without_url`: an upstream URL may carry credentials in its user-info part.
            let err = err.without_url();
            tracing::warn!(model = %model.name, error = %err, "upstream request failed");
            return Err(if err.is_timeout() {
                ApiError::UpstreamTimeout(format!("the upstream of model `{}` did not answer in time", model.name))
            } else {
                ApiError::UpstreamUnreachable(format!("the upstream of model `{}` could not be reached", model.name))
            });
        }
        Err(_) => {
            model_metrics.upstream_errors.inc();
            return Err(ApiError::UpstreamTimeout(format!(
                "the upstream of model `{}` did not answer within {} seconds",
                model.name, app.limits.upstream_timeout_secs
            )));
        }
    };
    model_metrics.upstream_seconds.observe(upstream_started.elapsed().as_secs_f64());

    let status = response.status();
    let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
    let is_event_stream =
        content_type.as_ref().and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/event-stream"));
    let model_name = model.name.to_string();
    // The permit travels with the body, so the slot is held until the last chunk is sent.
    let mut failed = false;
    // Only when a token budget applies is the answer read for its `usage`.
    let mut tap = applied.filter(|a| a.counts_tokens() && status.is_success()).map(|applied| {
        crate::limits::UsageTap::new(app.rate_limits.clone(), applied, app.engine.clock(), is_event_stream)
    });
    let stream = response.bytes_stream().map(move |chunk| {
        let _slot = &permit;
        if let (Some(tap), Ok(bytes)) = (tap.as_mut(), &chunk) {
            tap.observe(bytes);
        }
        chunk
    });
    let stream = stream.scan((), move |(), chunk| {
        if failed {
            return std::future::ready(None);
        }
        let item = match chunk {
            Ok(bytes) => Ok(bytes),
            Err(err) if is_event_stream => {
                // Once bytes have reached the client the status cannot change; end the stream
                // with an SSE error event the client can see, instead of a silent cut.
                failed = true;
                tracing::warn!(model = %model_name, error = %err.without_url(), "upstream stream broke");
                Ok(sse_error(&model_name))
            }
            Err(err) => Err(err),
        };
        std::future::ready(Some(item))
    });
    let mut builder = Response::builder().status(status.as_u16());
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    if is_event_stream {
        builder = builder
            .header(header::CACHE_CONTROL, "no-cache")
            .header("x-accel-buffering", HeaderValue::from_static("no"));
    }
    builder
        .header("x-portcullis-model", model.name.as_str())
        .header("x-portcullis-criteria-version", allowed.criteria_version())
        .body(Body::from_stream(stream))
        .map_err(|err| ApiError::Internal(err.into()))
}

/// Reads the body, refusing more than `limit` bytes with a 413 before or while reading.
async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Bytes, ApiError> {
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::TooLarge { limit });
    }
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            Err(ApiError::TooLarge { limit })
        }
        Err(err) => Err(ApiError::bad_request(format!("could not read the request body: {err}"))),
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

fn sse_error(model: &str) -> Bytes {
    let event = serde_json::json!({
        "error": {
            "message": format!("the upstream of model `{model}` broke off the stream"),
            "type": "upstream_error",
            "code": "upstream_stream_interrupted",
            "param": null,
        }
    });
    Bytes::from(format!("data: {event}\n\n"))
}
