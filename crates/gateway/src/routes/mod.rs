//! HTTP routes, one module per resource.

pub mod admin;
pub mod log;
pub mod ops;
pub mod portal;
pub mod register;
pub mod v1;

use axum::Router;

use crate::app::AppState;

/// Every route of the gateway.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(v1::router())
        .merge(admin::router())
        .merge(ops::router())
        .merge(log::router())
        .merge(register::router())
        .merge(portal::router())
        .fallback(not_found)
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> crate::error::ApiError {
    crate::error::ApiError::NotFound { message: format!("no route for `{}`", uri.path()), code: "unknown_route" }
}
