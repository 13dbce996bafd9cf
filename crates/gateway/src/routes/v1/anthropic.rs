//! Anthropic's wire shapes for `/v1/messages`: errors (`{"type":"error","error":{…}}`, with the
//! gate's details under `portcullis` as on the OpenAI routes) and the SSE `error` event that ends
//! a broken stream.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::error::ApiError;

/// An error as Anthropic's clients expect it; the status, `Retry-After` and the gate's details
/// are those of the OpenAI routes.
pub fn error_response(err: ApiError) -> Response {
    let (status, _, code) = err.parts();
    let kind = match status {
        StatusCode::BAD_REQUEST => "invalid_request_error",
        StatusCode::UNAUTHORIZED => "authentication_error",
        StatusCode::FORBIDDEN => "permission_error",
        StatusCode::NOT_FOUND => "not_found_error",
        StatusCode::PAYLOAD_TOO_LARGE => "request_too_large",
        StatusCode::TOO_MANY_REQUESTS => "rate_limit_error",
        StatusCode::SERVICE_UNAVAILABLE => "overloaded_error",
        _ => "api_error",
    };
    if let ApiError::Internal(cause) = &err {
        tracing::error!(error = format!("{cause:#}"), "internal error");
    }
    let mut error = serde_json::json!({ "type": kind, "message": err.to_string(), "code": code });
    if let (ApiError::Denied { details, .. }, Some(map)) = (&err, error.as_object_mut()) {
        map.insert("portcullis".to_owned(), (**details).clone());
    }
    let mut response = (status, Json(serde_json::json!({ "type": "error", "error": error }))).into_response();
    if let ApiError::RateLimited { retry_after_secs, .. } = &err {
        response.headers_mut().insert(header::RETRY_AFTER, (*retry_after_secs).into());
    }
    response
}

/// The event that ends a stream the upstream broke off.
pub fn sse_error(model: &str) -> Bytes {
    let event = serde_json::json!({
        "type": "error",
        "error": { "type": "api_error", "message": format!("the upstream of model `{model}` broke off the stream") },
    });
    Bytes::from(format!("event: error\ndata: {event}\n\n"))
}
