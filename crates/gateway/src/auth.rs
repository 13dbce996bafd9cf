//! Who is calling: API keys (customers) and role tokens (provider, authority officials).
//!
//! Every credential is a bearer token compared by its SHA-256 ([`SecretHash`]); the plain value
//! exists only in the caller's hands and, for provider tokens, in the config.

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use portcullis_core::state::{ApiKey, Customer};
use portcullis_core::{Actor, SecretHash, Snapshot};
use secrecy::ExposeSecret;

use crate::config::ProviderToken;
use crate::error::ApiError;

/// Provider credentials from the config, kept only as hashes.
#[derive(Clone, Debug, Default)]
pub struct ProviderCredentials {
    hashes: Arc<[(SecretHash, String)]>,
}

impl ProviderCredentials {
    /// Hashes the configured tokens.
    pub fn from_config(tokens: &[ProviderToken]) -> Self {
        let hashes: Vec<(SecretHash, String)> =
            tokens.iter().map(|t| (SecretHash::of_secret(t.token.expose_secret()), t.name.clone())).collect();
        Self { hashes: hashes.into() }
    }

    fn find(&self, hash: &SecretHash) -> Option<&str> {
        self.hashes.iter().find(|(h, _)| h == hash).map(|(_, name)| name.as_str())
    }
}

/// The bearer token of a request, if any.
///
/// # Errors
///
/// 401 when the header is missing or not `Bearer <token>`.
pub fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthenticated("missing `Authorization: Bearer <key>` header".to_owned()))?;
    let text = value
        .to_str()
        .map_err(|_| ApiError::Unauthenticated("the `Authorization` header is not valid text".to_owned()))?;
    let token = text
        .strip_prefix("Bearer ")
        .or_else(|| text.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::Unauthenticated("the `Authorization` header must be `Bearer <key>`".to_owned()))?;
    Ok(token)
}

/// The hash of the bearer key presented with a request (hashed once per request: it is looked
/// up before and after the body is read).
///
/// # Errors
///
/// 401 when the header is missing or malformed.
pub fn presented_key(headers: &HeaderMap) -> Result<SecretHash, ApiError> {
    // Anthropic's clients send the key as `x-api-key`; OpenAI's as a bearer token.
    if headers.get(AUTHORIZATION).is_none()
        && let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim)
        && !key.is_empty()
    {
        return Ok(SecretHash::of_secret(key));
    }
    bearer(headers).map(SecretHash::of_secret)
}

/// Resolves an API key (by its hash) to its record and its customer, read side by side
/// (`State::key_and_customer_by_hash`).
///
/// # Errors
///
/// 401 for an unknown or revoked key (the message does not say which: no key oracle).
pub fn api_key<'a>(snapshot: &'a Snapshot, key_hash: &SecretHash) -> Result<(&'a ApiKey, &'a Customer), ApiError> {
    match snapshot.state().key_and_customer_by_hash(key_hash) {
        Some((key, customer)) if !key.revoked => Ok((key, customer)),
        _ => Err(ApiError::Unauthenticated("invalid or revoked API key".to_owned())),
    }
}

/// Resolves any credential to an actor for the admin API: a provider token, an official's
/// token, or a customer's API key.
///
/// # Errors
///
/// 401 when the credential is missing or unknown.
pub fn actor(snapshot: &Snapshot, providers: &ProviderCredentials, headers: &HeaderMap) -> Result<Actor, ApiError> {
    let token = bearer(headers)?;
    let hash = SecretHash::of_secret(token);
    if let Some(name) = providers.find(&hash) {
        return Ok(Actor::Provider { name: name.to_owned() });
    }
    let state = snapshot.state();
    if let Some(official) = state.official_token_by_hash(&hash) {
        return Ok(Actor::Authority { authority: official.authority.clone(), official: official.official.clone() });
    }
    match state.key_and_customer_by_hash(&hash) {
        Some((key, customer)) if !key.revoked => Ok(Actor::Customer { customer: customer.id.clone() }),
        _ => Err(ApiError::Unauthenticated("invalid or revoked credential".to_owned())),
    }
}
