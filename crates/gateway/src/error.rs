//! The one HTTP error type; every error body on every route is produced here.
//!
//! Bodies follow the OpenAI error shape, `{"error": {"message", "type", "code", "param"}}`, so
//! OpenAI SDKs raise their usual exceptions (`AuthenticationError` for 401,
//! `PermissionDeniedError` for 403, …). Portcullis adds its own fields beside them (`portcullis`
//! on a denial, `diagnostics` on rejected policy text); SDKs ignore what they do not know.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_core::{CommandError, PolicyError};

use crate::engine::EngineError;

/// An error answered to a client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed; the message names the problem.
    #[error("{message}")]
    BadRequest {
        /// What is wrong.
        message: String,
        /// The offending parameter, if one.
        param: Option<&'static str>,
        /// A machine-readable code.
        code: &'static str,
    },
    /// 400: policy text was rejected; each diagnostic has a line and column.
    #[error("invalid policy: {0}")]
    InvalidPolicy(PolicyError),
    /// 401: missing or unknown credential.
    #[error("{0}")]
    Unauthenticated(String),
    /// 403: the gate refused the request; the body says what decided it.
    #[error("{message}")]
    Denied {
        /// Human-readable reason.
        message: String,
        /// Machine-readable reason code.
        code: &'static str,
        /// Details: what decided, criteria version, where to appeal.
        details: Box<serde_json::Value>,
    },
    /// 403: the caller's role may not perform this action.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such thing.
    #[error("{message}")]
    NotFound {
        /// What was not found.
        message: String,
        /// A machine-readable code.
        code: &'static str,
    },
    /// 409: conflicts with the current state (exists already, illegal transition).
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is over the configured limit.
    #[error("request body is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// 502: the upstream could not be reached or broke the connection.
    #[error("{0}")]
    UpstreamUnreachable(String),
    /// 504: the upstream did not answer in time.
    #[error("{0}")]
    UpstreamTimeout(String),
    /// 429: a rate limit or token budget is exhausted; `Retry-After` says when to come back.
    #[error("{message}")]
    RateLimited {
        /// What was exceeded, with the limit.
        message: String,
        /// `requests` or `tokens` (OpenAI's error types for the two limits).
        kind: &'static str,
        /// Seconds until a retry can succeed.
        retry_after_secs: u64,
    },
    /// 503: the gateway cannot serve this now (shutting down, not ready).
    #[error("{0}")]
    Unavailable(String),
    /// 503: this replica cannot confirm it has the latest governance state, and the model is
    /// gated (see `replica.rs`).
    #[error(
        "this gateway replica cannot confirm it has the latest governance state (last confirmed {:.1} s ago, bound {:.1} s); requests to `{model}`, which is in review, in preview or under a directive, are refused until it can; retry, or another replica",
        age.as_secs_f64(),
        bound.as_secs_f64()
    )]
    StaleState {
        /// The model asked for.
        model: String,
        /// Time since the replica was last known current.
        age: std::time::Duration,
        /// The configured bound.
        bound: std::time::Duration,
    },
    /// 500: a fault of ours; logged with its cause chain, answered with a generic message.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A 400 naming the problem.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest { message: message.into(), param: None, code: "invalid_request" }
    }

    /// The status code this error answers with, for renderers other than the JSON one (the
    /// register's HTML pages).
    pub fn status(&self) -> StatusCode {
        self.parts().0
    }

    pub(crate) fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, "invalid_request_error", code),
            Self::InvalidPolicy(_) => (StatusCode::BAD_REQUEST, "invalid_request_error", "invalid_policy"),
            Self::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "authentication_error", "invalid_api_key"),
            Self::Denied { code, .. } => (StatusCode::FORBIDDEN, "permission_error", code),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "permission_error", "role_not_permitted"),
            Self::NotFound { code, .. } => (StatusCode::NOT_FOUND, "invalid_request_error", code),
            Self::Conflict(_) => (StatusCode::CONFLICT, "invalid_request_error", "conflict"),
            Self::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "invalid_request_error", "request_too_large"),
            Self::UpstreamUnreachable(_) => (StatusCode::BAD_GATEWAY, "upstream_error", "upstream_unreachable"),
            Self::UpstreamTimeout(_) => (StatusCode::GATEWAY_TIMEOUT, "upstream_error", "upstream_timeout"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "api_error", "unavailable"),
            Self::StaleState { .. } => (StatusCode::SERVICE_UNAVAILABLE, "api_error", "governance_state_stale"),
            Self::RateLimited { kind, .. } => (StatusCode::TOO_MANY_REQUESTS, kind, "rate_limit_exceeded"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "api_error", "internal_error"),
        }
    }
}

impl ApiError {
    /// Logs an internal error with its cause chain (the answer says only "internal error").
    pub fn log_internal(&self) {
        if let Self::Internal(cause) = self {
            tracing::error!(error = format!("{cause:#}"), "internal error");
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error_type, code) = self.parts();
        self.log_internal();
        let mut error = serde_json::json!({
            "message": self.to_string(),
            "type": error_type,
            "code": code,
            "param": match &self { Self::BadRequest { param, .. } => *param, _ => None },
        });
        if let Some(map) = error.as_object_mut() {
            match &self {
                Self::Denied { details, .. } => {
                    map.insert("portcullis".to_owned(), (**details).clone());
                }
                Self::InvalidPolicy(policy_error) => {
                    let diagnostics = policy_error
                        .diagnostics
                        .iter()
                        .map(|d| {
                            serde_json::json!({
                                "line": d.location.map(|l| l.line),
                                "column": d.location.map(|l| l.column),
                                "message": d.message,
                            })
                        })
                        .collect::<Vec<_>>();
                    map.insert("diagnostics".to_owned(), diagnostics.into());
                }
                _ => {}
            }
        }
        let mut response = (status, Json(serde_json::json!({ "error": error }))).into_response();
        if let Self::RateLimited { retry_after_secs, .. } = &self {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, (*retry_after_secs).into());
        }
        if let Self::StaleState { .. } = &self {
            // A replica usually recovers within a heartbeat of the database returning.
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, 1_u64.into());
        }
        response
    }
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        match err {
            EngineError::Command(command) => command.into(),
            EngineError::Store(message) => Self::Internal(anyhow::anyhow!(message)),
            EngineError::Stopped => Self::Unavailable("the gateway is shutting down".to_owned()),
        }
    }
}

impl From<CommandError> for ApiError {
    fn from(err: CommandError) -> Self {
        match err {
            CommandError::Forbidden { .. } => Self::Forbidden(err.to_string()),
            CommandError::NotFound { .. } => Self::NotFound { message: err.to_string(), code: "not_found" },
            CommandError::AlreadyExists { .. }
            | CommandError::Transition(_)
            | CommandError::ApplicationTransition(_) => Self::Conflict(err.to_string()),
            CommandError::DeadlinePassed(message) => Self::BadRequest { message, param: None, code: "deadline_passed" },
            CommandError::Policy(policy) => Self::InvalidPolicy(policy),
            CommandError::Invalid(message) => Self::bad_request(message),
            other => Self::bad_request(other.to_string()),
        }
    }
}
