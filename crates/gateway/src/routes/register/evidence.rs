//! `GET /register/evidence/{sha256}`: an evidence document, for anyone, when some citation
//! discloses it as `public`; anything else is a 404 that does not say whether the document
//! exists.

use axum::extract::State;
use axum::response::Response;
use portcullis_core::evidence::{Viewer, is_sha256_hex};

use crate::app::{ApiPath, AppState};
use crate::error::ApiError;
use crate::routes::admin::evidence::{citations, fetch, sandboxed};
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
    let document = fetch(&app, &sha256).await?.ok_or_else(not_public)?;
    // Content-addressed: the bytes for a digest never change.
    Ok(sandboxed(document, "public, max-age=31536000, immutable"))
}
