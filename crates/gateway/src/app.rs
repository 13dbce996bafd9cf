//! Shared application state and the JSON extractor used by every route.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use tokio::sync::Semaphore;

use crate::auth::ProviderCredentials;
use crate::config::Limits;
use crate::engine::Engine;
use crate::error::ApiError;
use crate::metrics::Metrics;

/// What every handler can reach. Cloned for every request (axum's `State`), so it is one
/// reference count: cloning the fields themselves was ~1% of the CPU at saturation.
#[derive(Clone)]
pub struct AppState(Arc<App>);

impl AppState {
    /// Shares `app` with every handler.
    pub fn new(app: App) -> Self {
        Self(Arc::new(app))
    }
}

impl std::ops::Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}

/// The gateway's parts, behind [`AppState`].
pub struct App {
    /// The governance writer and current snapshot.
    pub engine: Engine,
    /// Provider credentials (hashed).
    pub providers: ProviderCredentials,
    /// The request path's pooled upstream client.
    pub upstream: crate::upstream::UpstreamClient,
    /// The client for everything else that calls out (the active probe; witnesses have theirs).
    pub http: reqwest::Client,
    /// Upstream concurrency bound ([`Limits::max_upstream_concurrency`]).
    pub upstream_slots: Arc<Semaphore>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Limits.
    pub limits: Limits,
    /// The base URL used in links.
    pub public_base_url: Arc<str>,
    /// The transparency log.
    pub transparency: Arc<crate::transparency::Transparency>,
    /// Parsed upstream URLs.
    pub upstream_urls: Arc<crate::upstream::UpstreamUrls>,
    /// Rate limit and token budget counters of this replica.
    pub rate_limits: Arc<crate::limits::RateLimits>,
    /// Evidence documents, by digest.
    pub evidence: Arc<portcullis_store::EvidenceStore>,
    /// Recent-request counters, for a directive's impact.
    pub usage: Arc<crate::usage::Usage>,
    /// Passive health of deployments (failover).
    pub health: Arc<crate::upstream::health::Health>,
    /// The portals' sessions (in the store, shared by replicas) and sign-in failures (per
    /// replica).
    pub sessions: Arc<crate::routes::portal::session::Sessions>,
}

/// A JSON request body, whatever the `Content-Type` (clients such as `curl -d` send
/// `application/x-www-form-urlencoded`); a body that is not the expected JSON is an OpenAI-style
/// 400 naming the problem, and one over the limit a 413.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = bytes::Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge { limit: crate::routes::admin::MAX_ADMIN_BODY_BYTES }
            } else {
                ApiError::bad_request(format!("could not read the request body: {}", rejection.body_text()))
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|err| ApiError::bad_request(format!("invalid JSON body: {err}")))
    }
}

/// `axum::extract::Path`, but a malformed segment is an OpenAI-style 400 naming it.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Self(value))
            .map_err(|rejection| ApiError::bad_request(format!("invalid path: {}", rejection.body_text())))
    }
}

/// `axum::extract::Query`, but a malformed query is an OpenAI-style 400 naming it.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Self(value))
            .map_err(|rejection| ApiError::bad_request(format!("invalid query: {}", rejection.body_text())))
    }
}
