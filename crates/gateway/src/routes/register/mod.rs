//! The public register under `/register`: server-rendered HTML pages for the public and
//! watchdogs, with no login, no cookies and no JavaScript.
//!
//! Pages render from the immutable snapshot (`app.engine.snapshot()`), like the JSON API's
//! public reads, and decide nothing: statuses, emergencies, statistics and what evidence is
//! public come from the core as values (`Directive::status`, `Directive::is_emergency`,
//! `statistics`, `Disclosure::visible_to`); the templates only lay them out. The only reads
//! outside the snapshot are an old criteria version's text and a log entry, each one indexed row
//! read through the log's own read-only connection, off the async workers.
//!
//! # Layout
//!
//! - `index.rs`: `/register`, every model and the latest signed checkpoint.
//! - `model.rs`: `/register/models/{model}`, stage history, criteria and their diffs, directives,
//!   statistics; `criteria.rs` reads old versions and diffs them.
//! - `directives.rs`: `/register/directives`; `directive.rs`: `/register/directives/{id}`.
//! - `entry.rs`: `/register/entries/{index}`, one log entry as logged.
//! - `evidence.rs`: `/register/evidence/{sha256}`, documents cited as public.
//! - `view.rs`: the layout and shared pieces; `style.css`: the one stylesheet.

mod criteria;
mod directive;
mod directives;
mod entry;
mod evidence;
mod index;
mod model;
pub(crate) mod view;

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::html;
use portcullis_core::Snapshot;

use crate::app::AppState;
use crate::error::ApiError;
use crate::routes::register::view::{Footer, Page, layout};

/// The stylesheet, served at `/register/style.css`.
const STYLE_CSS: &str = include_str!("style.css");

/// `/register/...` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/register", get(index::get))
        .route("/register/style.css", get(style))
        .route("/register/models/{model}", get(model::get))
        .route("/register/directives", get(directives::get))
        .route("/register/directives/{directive}", get(directive::get))
        .route("/register/entries/{index}", get(entry::get))
        .route("/register/evidence/{sha256}", get(evidence::get))
        // An unknown register address gets an HTML page, not the API's JSON 404.
        .route("/register/{*rest}", get(not_found))
}

/// An error on a register page: the API's error, rendered as HTML with the same status and
/// message, so what is an error (and which) is still decided in one place ([`ApiError`]).
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(err: ApiError) -> Self {
        Self(err)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        self.0.log_internal();
        let status = self.0.status();
        let message = self.0.to_string();
        let title = match status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::BAD_REQUEST => "Bad request",
            _ => "Something went wrong",
        };
        let content = html! {
            h1 { (title) }
            p { (message) }
            p { a href="/register" { "Back to the register" } }
        };
        Page { status, markup: layout(title, None, content) }.into_response()
    }
}

/// What a page renders from: one snapshot and one `now`, read once per request.
pub(crate) struct View {
    /// The governance state.
    pub snapshot: Arc<Snapshot>,
    /// The gateway's clock at the start of the request.
    pub now: portcullis_core::Timestamp,
}

impl View {
    pub(crate) fn of(app: &AppState) -> Self {
        Self { snapshot: app.engine.snapshot(), now: app.engine.now() }
    }

    pub(crate) fn footer(&self) -> Footer {
        Footer { last_seq: self.snapshot.state().last_seq, now: self.now }
    }

    pub(crate) fn page(&self, title: &str, content: maud::Markup) -> Page {
        Page { status: StatusCode::OK, markup: layout(title, Some(&self.footer()), content) }
    }
}

/// `GET /register/style.css`.
async fn style() -> Response {
    // Cached for an hour rather than for good: the file has no version in its name.
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], STYLE_CSS)
        .into_response()
}

async fn not_found(uri: Uri) -> PageError {
    PageError(ApiError::NotFound {
        message: format!("the register has no page at `{}`", uri.path()),
        code: "unknown_route",
    })
}
