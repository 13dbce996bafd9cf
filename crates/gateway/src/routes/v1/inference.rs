//! `POST /v1/chat/completions`, `/v1/completions`, `/v1/embeddings`, `/v1/responses`: the request
//! path. Authenticate, decide from the current snapshot, forward to the first of the model's
//! deployments (or fallbacks) that can serve, and stream the answer back chunk by chunk.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use http_body_util::BodyExt;
use portcullis_core::Decision;

use crate::app::AppState;
use crate::auth;
use crate::error::ApiError;
use crate::metrics::RequestLabels;
use crate::routes::v1::Caller;
use crate::routes::v1::denial::denied;
use crate::upstream::failover::Protocol;
use crate::upstream::failover::{self, ForwardRequest};

/// `POST /v1/chat/completions`.
pub async fn chat_completions(State(app): State<AppState>, request: Request) -> Result<Response, ApiError> {
    gate_and_forward(app, "/chat/completions", Protocol::OpenAi, request).await
}

/// `POST /v1/completions`.
pub async fn completions(State(app): State<AppState>, request: Request) -> Result<Response, ApiError> {
    gate_and_forward(app, "/completions", Protocol::OpenAi, request).await
}

/// `POST /v1/embeddings`.
pub async fn embeddings(State(app): State<AppState>, request: Request) -> Result<Response, ApiError> {
    gate_and_forward(app, "/embeddings", Protocol::OpenAi, request).await
}

/// `POST /v1/responses`.
pub async fn responses(State(app): State<AppState>, request: Request) -> Result<Response, ApiError> {
    gate_and_forward(app, "/responses", Protocol::OpenAi, request).await
}

/// The only fields the gate reads from a request body; everything else passes through untouched.
#[derive(serde::Deserialize)]
struct RequestHead {
    model: String,
}

/// `POST /v1/messages`: Anthropic's Messages API, through the same gate, limits and failover, to
/// Anthropic-compatible upstreams; errors in Anthropic's shape.
pub async fn messages(State(app): State<AppState>, request: Request) -> Response {
    match gate_and_forward(app, "/messages", Protocol::Anthropic, request).await {
        Ok(response) => response,
        Err(err) => crate::routes::v1::anthropic::error_response(err),
    }
}

/// The version of Anthropic's API sent upstream when the client names none.
const DEFAULT_ANTHROPIC_VERSION: &str = "2023-06-01";

// The whole request rather than axum's `HeaderMap` extractor, which clones the headers.
async fn gate_and_forward(
    app: AppState,
    path: &'static str,
    protocol: Protocol,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    // Check the key before reading the body, so an anonymous client cannot make us buffer it;
    // the decision itself uses the snapshot current *after* the body arrived (the same one,
    // and then the same key and customer, unless a governance event came in between).
    let key_hash = auth::presented_key(&headers)?;
    let first = app.engine.snapshot();
    let (key, customer) = auth::api_key(&first, &key_hash)?;
    let bytes = read_body(body, &headers, app.limits.max_body_bytes).await?;
    let head: RequestHead = serde_json::from_slice(&bytes).map_err(|err| ApiError::BadRequest {
        message: format!("invalid JSON body: {err}"),
        param: None,
        code: "invalid_json",
    })?;

    let started = Instant::now();
    // Snapshots change with governance events, not with requests: usually the one that found
    // the key is still current, and its key and customer are the ones a second lookup would find.
    let latest = app.engine.snapshot();
    let c = if Arc::ptr_eq(&first, &latest) {
        Caller::authenticated(&app, &first, key, customer, &headers)
    } else {
        Caller::new(&app, &latest, &headers, &key_hash)?
    };
    let (snapshot, customer) = (c.snapshot, c.customer);
    let model = snapshot.state().model(&head.model).ok_or_else(|| ApiError::NotFound {
        message: format!("the model `{}` does not exist", head.model),
        code: "model_not_found",
    })?;
    let decision = c.decide(&app, model)?;
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
    // The key was resolved with the caller; its limits and its customer's apply.
    let applied = app.rate_limits.admit(customer, c.key, c.now)?;
    let model_metrics = app.metrics.for_model(model.name.as_str());
    model_metrics.allowed.inc();

    // Deployments in order, then the fallback chain (each fallback decided like a direct
    // request); see `upstream/failover.rs`.
    let mut pass_headers: Vec<(&'static str, HeaderValue)> = Vec::new();
    if protocol == Protocol::Anthropic {
        let version = headers
            .get("anthropic-version")
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static(DEFAULT_ANTHROPIC_VERSION));
        pass_headers.push(("anthropic-version", version));
        if let Some(beta) = headers.get("anthropic-beta") {
            pass_headers.push(("anthropic-beta", beta.clone()));
        }
    }
    let forward = ForwardRequest {
        path,
        body: &bytes,
        requested: &head.model,
        accept: headers.get(header::ACCEPT),
        protocol,
        pass_headers: &pass_headers,
    };
    let failover::Served { response, model: served_model, deployment_idx, criteria_version, fallback_reason, permit } =
        failover::forward(&app, &c, model, allowed.criteria_version(), &forward).await?;

    let status = response.status();
    let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
    let is_event_stream =
        content_type.as_ref().and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/event-stream"));
    // Only when a token budget applies is the answer read for its `usage`.
    let tap = (applied.counts_tokens() && status.is_success())
        .then(|| crate::limits::UsageTap::new(app.rate_limits.clone(), applied, app.engine.clock(), is_event_stream));
    // The permit travels with the body, so the slot is held until the last chunk is sent.
    let event_stream = is_event_stream.then(|| (protocol, served_model.name.to_string()));
    let body = super::relay::Relay::new(response.into_body(), permit, tap, event_stream);
    let mut builder = Response::builder().status(status.as_u16());
    let deployment_name = failover::deployment_name(&served_model, deployment_idx);
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    if is_event_stream {
        builder = builder
            .header(header::CACHE_CONTROL, "no-cache")
            .header("x-accel-buffering", HeaderValue::from_static("no"));
    }
    builder = builder
        .header("x-portcullis-model", served_model.name.as_str())
        .header("x-portcullis-deployment", deployment_name)
        .header("x-portcullis-criteria-version", criteria_version);
    if let Some(reason) = fallback_reason {
        builder = builder
            .header("x-portcullis-fallback-reason", reason.code())
            .header("x-portcullis-requested-model", model.name.as_str());
    }
    builder.body(Body::new(body)).map_err(|err| ApiError::Internal(err.into()))
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
