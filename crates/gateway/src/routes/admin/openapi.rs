//! `GET /admin/v1/openapi.json`: the admin API's OpenAPI 3.1 document.
//!
//! Written by hand and kept beside the code (`crates/gateway/openapi.json`); a test checks that
//! every route the router serves is in it and that nothing in it is missing from the router.

use axum::http::header;
use axum::response::IntoResponse;

/// The document.
pub const OPENAPI_JSON: &str = include_str!("../../../openapi.json");

/// `GET /admin/v1/openapi.json`.
pub async fn get() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON)
}
