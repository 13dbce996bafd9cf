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

/// The authenticated caller of an OpenAI-compatible route, resolved against one snapshot.
pub(crate) struct Caller {
    /// The snapshot every check of this request reads.
    pub snapshot: std::sync::Arc<portcullis_core::Snapshot>,
    /// The customer owning the key.
    pub customer: std::sync::Arc<portcullis_core::state::Customer>,
    /// The key's position in the snapshot's key table ([`Caller::key`]).
    pub key_idx: u32,
    /// The end-user context from the attestation header.
    pub end_user: portcullis_core::policy::EndUserContext,
    /// The time of the decision.
    pub now: portcullis_core::Timestamp,
}

impl Caller {
    /// The key's record (its own rate limits), read from the snapshot that authenticated it.
    ///
    /// # Errors
    ///
    /// 401 if the snapshot has no key at that position, which `caller` rules out.
    pub(crate) fn key(&self) -> Result<&portcullis_core::state::ApiKey, crate::error::ApiError> {
        self.snapshot
            .state()
            .key_at(self.key_idx)
            .ok_or_else(|| crate::error::ApiError::Unauthenticated("invalid or revoked API key".to_owned()))
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
        Ok(portcullis_core::decide(&self.snapshot, &self.customer, model, &self.end_user, self.now))
    }
}

/// A key already authenticated against a snapshot (before the request body was read).
pub(crate) struct Authenticated {
    /// The snapshot it was found in.
    pub snapshot: std::sync::Arc<portcullis_core::Snapshot>,
    /// The key's position in that snapshot's key table.
    pub key_idx: u32,
    /// Its customer in that snapshot.
    pub customer: std::sync::Arc<portcullis_core::state::Customer>,
}

/// Authenticates the API key and reads the attestation header.
pub(crate) fn caller(
    app: &AppState,
    headers: &axum::http::HeaderMap,
    key_hash: &portcullis_core::SecretHash,
) -> Result<Caller, crate::error::ApiError> {
    caller_after(app, headers, key_hash, None)
}

/// [`caller`], reusing `earlier` when the snapshot has not changed since it was made: the usual
/// case, as snapshots change with governance events, not with requests. The key and customer
/// are then the ones the current snapshot would give, without looking them up a second time.
pub(crate) fn caller_after(
    app: &AppState,
    headers: &axum::http::HeaderMap,
    key_hash: &portcullis_core::SecretHash,
    earlier: Option<Authenticated>,
) -> Result<Caller, crate::error::ApiError> {
    let snapshot = app.engine.snapshot();
    let (key_idx, customer) = match earlier {
        Some(earlier) if std::sync::Arc::ptr_eq(&earlier.snapshot, &snapshot) => (earlier.key_idx, earlier.customer),
        _ => {
            let (key, customer) = crate::auth::api_key(&snapshot, key_hash)?;
            (key.key_idx, customer.clone())
        }
    };
    let now = app.engine.now();
    let attestation = headers.get(portcullis_core::attestation::ATTESTATION_HEADER).and_then(|v| v.to_str().ok());
    let end_user = snapshot.end_user_context(attestation, customer.id.as_str(), now);
    Ok(Caller { snapshot, customer, key_idx, end_user, now })
}
