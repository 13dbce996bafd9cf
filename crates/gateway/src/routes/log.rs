//! The transparency log over HTTP at the C2SP paths: `/log/checkpoint` (never cached) and
//! `/log/tile/...` (hash tiles and entry bundles; full tiles immutable).
//!
//! Only what the served checkpoint covers is served, so every tile a client fetches can be
//! checked against a signed root.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use portcullis_translog::tile::TilePath;

use crate::app::AppState;
use crate::error::ApiError;

/// `/log/...` routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/log/checkpoint", get(checkpoint)).route("/log/tile/{*path}", get(tile))
}

/// `GET /log/checkpoint`: the latest signed checkpoint, with witness cosignatures.
async fn checkpoint(State(app): State<AppState>) -> Result<Response, ApiError> {
    let served = app.transparency.served.load_full().ok_or_else(|| ApiError::NotFound {
        message: "no checkpoint has been signed yet".to_owned(),
        code: "no_checkpoint",
    })?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-store")],
        served.note.clone(),
    )
        .into_response())
}

/// `GET /log/tile/<L>/<N>[.p/<W>]` and `GET /log/tile/entries/<N>[.p/<W>]`.
async fn tile(State(app): State<AppState>, Path(path): Path<String>) -> Result<Response, ApiError> {
    let full_path = format!("tile/{path}");
    let parsed = TilePath::parse(&full_path).map_err(|err| ApiError::NotFound {
        message: format!("`{full_path}` is not a tile path: {err}"),
        code: "not_found",
    })?;
    let size = app.transparency.served_size();
    let transparency = app.transparency.clone();
    let (bytes, full) = tokio::task::spawn_blocking(move || match parsed {
        TilePath::Hashes(tile) => transparency.reader.tile(&tile, size).map(|b| (b, tile.is_full())),
        TilePath::Entries(bundle) => transparency.reader.bundle(&bundle, size).map(|b| (b, bundle.is_full())),
    })
    .await
    .map_err(|err| ApiError::Internal(err.into()))?
    .map_err(|err| ApiError::Internal(err.into()))?;
    let bytes = bytes.ok_or_else(|| ApiError::NotFound {
        message: format!("`{full_path}` is not in the log at its latest checkpoint (size {size})"),
        code: "not_found",
    })?;
    // A full tile never changes; a partial one is superseded as the log grows, but its bytes
    // for a given width never change either, so both may be cached, the full one for good.
    let cache = if full { "public, max-age=31536000, immutable" } else { "public, max-age=3600" };
    Ok(([(header::CONTENT_TYPE, "application/octet-stream"), (header::CACHE_CONTROL, cache)], bytes).into_response())
}
