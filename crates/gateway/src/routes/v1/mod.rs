//! The OpenAI-compatible API: every call is gated, then forwarded.

pub(crate) mod anthropic;
pub(crate) mod denial;
mod inference;
mod models;
mod relay;

use axum::Router;
use axum::routing::{get, post};

use crate::app::AppState;

/// `/v1/...` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(inference::chat_completions))
        .route("/v1/completions", post(inference::completions))
        .route("/v1/embeddings", post(inference::embeddings))
        .route("/v1/responses", post(inference::responses))
        .route("/v1/messages", post(inference::messages))
        .route("/v1/models", get(models::list))
        .route("/v1/models/{model}", get(models::get_one))
}

/// The authenticated caller of an OpenAI-compatible route, resolved against one snapshot, whose
/// records it borrows: the handler holds the snapshot for the whole request, so the caller needs
/// no reference count of its own and the customer is read where the snapshot keeps it.
pub(crate) struct Caller<'s> {
    /// The snapshot every check of this request reads.
    pub snapshot: &'s portcullis_core::Snapshot,
    /// The customer owning the key.
    pub customer: &'s portcullis_core::state::Customer,
    /// The key's record (its own rate limits).
    pub key: &'s portcullis_core::state::ApiKey,
    /// The end-user context from the attestation header.
    pub end_user: portcullis_core::policy::EndUserContext,
    /// The time of the decision.
    pub now: portcullis_core::Timestamp,
}

impl<'s> Caller<'s> {
    /// Authenticates the API key against `snapshot` and reads the attestation header.
    ///
    /// # Errors
    ///
    /// 401 for an unknown or revoked key.
    pub(crate) fn new(
        app: &AppState,
        snapshot: &'s portcullis_core::Snapshot,
        headers: &axum::http::HeaderMap,
        key_hash: &portcullis_core::SecretHash,
    ) -> Result<Self, crate::error::ApiError> {
        let (key, customer) = crate::auth::api_key(snapshot, key_hash)?;
        Ok(Self::authenticated(app, snapshot, key, customer, headers))
    }

    /// The caller for a key already found in `snapshot`, with the attestation header read.
    pub(crate) fn authenticated(
        app: &AppState,
        snapshot: &'s portcullis_core::Snapshot,
        key: &'s portcullis_core::state::ApiKey,
        customer: &'s portcullis_core::state::Customer,
        headers: &axum::http::HeaderMap,
    ) -> Self {
        let now = app.engine.now();
        let attestation = headers.get(portcullis_core::attestation::ATTESTATION_HEADER).and_then(|v| v.to_str().ok());
        let end_user = snapshot.end_user_context(attestation, customer.id.as_str(), now);
        Self { snapshot, customer, key, end_user, now }
    }

    /// The gate's decision for this caller on `model`, on this replica: refused first when the
    /// replica cannot confirm it is current and the model is gated (`replica.rs`), then decided
    /// by the core.
    ///
    /// # Errors
    ///
    /// [`crate::error::ApiError::StaleState`] from the replica's freshness.
    pub(crate) fn decide(
        &self,
        app: &AppState,
        model: &portcullis_core::state::Model,
    ) -> Result<portcullis_core::Decision, crate::error::ApiError> {
        app.engine.freshness().admit(model, self.now)?;
        Ok(portcullis_core::decide(self.snapshot, self.customer, model, &self.end_user, self.now))
    }
}
