//! `GET /register/evidence/{sha256}`: an evidence document, for anyone, when some citation
//! discloses it as `public`; anything else is a 404 that does not say whether the document
//! exists.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use portcullis_core::evidence::{Viewer, is_sha256_hex};

use crate::app::{ApiPath, AppState};
use crate::error::ApiError;
use crate::routes::admin::evidence::citations;
use crate::routes::register::PageError;

/// `GET /register/evidence/{sha256}`.
pub async fn get(State(app): State<AppState>, path: Result<ApiPath<String>, ApiError>) -> Result<Response, PageError> {
    let ApiPath(sha256) = path?;
    if !is_sha256_hex(&sha256) {
        return Err(ApiError::BadRequest {
            message: format!("`{sha256}` is not a sha256 digest (64 lowercase hex digits)"),
            param: Some("sha256"),
            code: "invalid_value",
        }
        .into());
    }
    let not_public = || ApiError::NotFound { message: format!("no public evidence `{sha256}`"), code: "not_found" };
    let snapshot = app.engine.snapshot();
    // The same citation scan as the admin API's reader check, as the public viewer.
    let public = citations(snapshot.state())
        .any(|(item, _)| item.sha256.as_deref() == Some(sha256.as_str()) && item.disclosure.visible_to(Viewer::Public));
    if !public {
        return Err(not_public().into());
    }
    let store = app.evidence.clone();
    let lookup = sha256.clone();
    let document = tokio::task::spawn_blocking(move || store.get(&lookup))
        .await
        .map_err(|err| ApiError::Internal(err.into()))?
        .map_err(|err| ApiError::Internal(anyhow::anyhow!("evidence store: {err}")))?
        .ok_or_else(not_public)?;
    Ok((
        [
            (header::CONTENT_TYPE, document.media_type),
            // Uploaded by an authority, served from the register's origin: whatever it is (an
            // HTML page, an SVG), it runs no script here and is not sniffed into something else.
            (header::CONTENT_SECURITY_POLICY, "sandbox".to_owned()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            // Content-addressed: the bytes for a digest never change.
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable".to_owned()),
        ],
        document.bytes,
    )
        .into_response())
}
