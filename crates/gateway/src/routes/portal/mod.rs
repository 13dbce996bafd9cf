//! The portals: sign-in, the customer portal (`/portal`), the authority console
//! (`/console/authority`) and the provider console (`/console/provider`); server-rendered HTML
//! like the register, no JavaScript.
//!
//! Pages decide nothing. Every form submits the same core [`portcullis_core::Command`] the JSON
//! API submits, through `app.engine.submit(actor, command)`, so the role check and every rule
//! are the core's; every page reads the same snapshot and the same core functions as the API
//! (`check_criteria`, `impact`, `Disclosure::visible_to`, the queue's order). A refused command
//! shows the form again with the core's message beside it.
//!
//! # Layout
//!
//! - `session.rs`: sessions and sign-in failures (in memory, per replica), cookies.
//! - `password.rs`: the password rule, argon2id hashing and verification.
//! - `auth.rs`: the [`auth::Signed`] and [`auth::Posted`] extractors (session, origin, CSRF).
//! - `login.rs`: `/login`, `/logout`.
//! - `customer/`: applications with the criteria check, decisions, notices, appeals, API keys.
//! - `authority/`: the queue, sign-offs, appeal decisions, directives with their impact, review
//!   positions.
//! - `provider/`: models, deployments, stages and transitions.
//! - `view.rs`: the layout and form pieces; `style.css`: what the register's stylesheet lacks.
//!
//! What each page shows and the security design: `docs/portal.md`.

mod account;
mod auth;
mod authority;
mod customer;
mod login;
pub mod password;
mod provider;
pub mod session;
mod view;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::html;
use portcullis_core::{Actor, Command, EventRecord};

use crate::app::AppState;
use crate::error::ApiError;
use crate::routes::portal::view::{PortalPage, layout};

/// Largest form post: a pasted evidence document or a directive's policy text.
pub const MAX_FORM_BYTES: usize = 1024 * 1024;

/// The portals' additions to the register's stylesheet, served at `/portal/style.css`.
const STYLE_CSS: &str = include_str!("style.css");

/// The portals' routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login::get).post(login::post))
        .route("/logout", post(login::logout))
        .route("/account/password", get(account::get).post(account::post))
        .route("/portal/style.css", get(style))
        .route("/portal", get(customer::home::get))
        .route("/portal/apply", get(customer::apply::get).post(customer::apply::post))
        .route("/portal/applications/{application}", get(customer::application::get))
        .route("/portal/appeals", post(customer::appeal::post))
        .route("/portal/appeals/{appeal}", get(customer::appeal::get))
        .route("/portal/notices", get(customer::notices::get))
        .route("/portal/keys", get(customer::keys::get).post(customer::keys::post))
        .route("/portal/keys/{key_id}/revoke", post(customer::keys::revoke))
        .route("/portal/evidence/{sha256}", get(customer::evidence::get))
        .route("/console/authority", get(authority::queue::get))
        .route("/console/authority/applications/{application}", get(authority::application::get))
        .route("/console/authority/applications/{application}/review", post(authority::application::take_up))
        .route("/console/authority/applications/{application}/info-request", post(authority::application::ask))
        .route("/console/authority/applications/{application}/signoff", post(authority::application::sign_off))
        .route("/console/authority/appeals/{appeal}", get(authority::appeal::get).post(authority::appeal::post))
        .route("/console/authority/directives/new", get(authority::directive::get).post(authority::directive::post))
        .route("/console/authority/models/{model}/review", post(authority::review::post))
        .route("/console/provider", get(provider::models::list))
        .route("/console/provider/models/{model}", get(provider::models::get))
        .route("/console/provider/models/{model}/stage", post(provider::models::change_stage))
        .route("/portal/{*rest}", get(not_found))
        .route("/console/{*rest}", get(not_found))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
}

/// Why a portal request ends without its page.
pub enum PortalError {
    /// Not signed in (or the session ended): to the sign-in page, then back to `next`.
    SignIn {
        /// The page asked for.
        next: Option<String>,
    },
    /// A form post failed the origin or CSRF check.
    Csrf,
    /// The API's error, as an HTML page with its status and message.
    Page(ApiError),
}

impl From<ApiError> for PortalError {
    fn from(err: ApiError) -> Self {
        Self::Page(err)
    }
}

impl IntoResponse for PortalError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            Self::SignIn { next } => {
                let location = match next {
                    Some(next) => format!("/login?next={}", encode_query(&next)),
                    None => "/login".to_owned(),
                };
                return see_other(&location);
            }
            Self::Csrf => (
                StatusCode::FORBIDDEN,
                "Form refused",
                "this form did not come from this site, or its page is out of date (signed out since); go back, \
                 reload the page and try again"
                    .to_owned(),
            ),
            Self::Page(err) => {
                err.log_internal();
                let status = err.status();
                let title = match status {
                    StatusCode::NOT_FOUND => "Not found",
                    StatusCode::FORBIDDEN => "Not allowed",
                    StatusCode::BAD_REQUEST => "Bad request",
                    _ => "Something went wrong",
                };
                (status, title, err.to_string())
            }
        };
        let content = html! {
            h1 { (title) }
            p.form-error role="alert" { (message) }
            p { a href="/login" { "Sign in" } " · " a href="/register" { "Public register" } }
        };
        PortalPage { status, markup: layout(title, None, content) }.into_response()
    }
}

/// A 303 to `location` (after a form post, or to the sign-in page).
pub fn see_other(location: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, location.to_owned())]).into_response()
}

/// Percent-encodes text for a query value.
pub fn encode_query(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Submits a command as the signed-in actor, waits until it is durable, and logs it like the
/// admin API does.
pub(crate) async fn submit(app: &AppState, actor: &Actor, command: Command) -> Result<Vec<EventRecord>, ApiError> {
    let records = app.engine.submit(actor.clone(), command).await?;
    for record in &records {
        tracing::info!(seq = record.seq, kind = record.event.kind(), actor = %actor.describe(), via = "portal", "governance event");
    }
    Ok(records)
}

/// `GET /portal/style.css`.
async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], STYLE_CSS)
        .into_response()
}

async fn not_found(uri: Uri) -> PortalError {
    PortalError::Page(ApiError::NotFound { message: format!("no page at `{}`", uri.path()), code: "unknown_route" })
}
