//! Evidence as a signed-in person sees it: citations with what each discloses to them, and
//! `GET /portal/evidence/{sha256}`, a document served when a citation's level admits the reader
//! (the admin API's own check, `may_read`).

use axum::extract::State;
use axum::response::Response;
use maud::{Markup, html};
use portcullis_core::evidence::{Viewer, is_sha256_hex};
use portcullis_core::{Disclosure, Evidence};

use crate::app::{ApiPath, AppState};
use crate::error::ApiError;
use crate::routes::admin::evidence::{fetch, may_read, sandboxed};
use crate::routes::portal::PortalError;
use crate::routes::portal::auth::Signed;
use crate::routes::register::view::badge;

/// Citations as `viewer` sees them: every citation is listed (what was relied on is public), the
/// document linked only when its level admits the viewer.
pub fn evidence_list(evidence: &[Evidence], viewer: Viewer) -> Markup {
    html! {
        @if evidence.is_empty() {
            p.muted { "No evidence cited." }
        } @else {
            ul.evidence {
                @for item in evidence {
                    li {
                        strong { (item.description) }
                        " " (badge(&format!("disclosure-{}", item.disclosure.name()), item.disclosure.name()))
                        @if let Some(sha256) = &item.sha256 { br; span.hash { "sha256 " code { (sha256) } } }
                        br;
                        @if item.disclosure.visible_to(viewer) {
                            @if let Some(sha256) = &item.sha256 {
                                a href={ "/portal/evidence/" (sha256) } { "Read the document" }
                            }
                        } @else {
                            span.withheld {
                                @match &item.disclosure {
                                    Disclosure::Withheld { reason } => { "Withheld: " (reason) }
                                    _ => { "Not disclosed to you: for the authorities only." }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /portal/evidence/{sha256}`.
pub async fn get(
    State(app): State<AppState>,
    signed: Signed,
    path: Result<ApiPath<String>, ApiError>,
) -> Result<Response, PortalError> {
    let ApiPath(sha256) = path?;
    if !is_sha256_hex(&sha256) {
        return Err(
            ApiError::bad_request(format!("`{sha256}` is not a sha256 digest (64 lowercase hex digits)")).into()
        );
    }
    // Not found either way: a reader the level does not admit learns nothing about the document.
    let hidden =
        || ApiError::NotFound { message: format!("no evidence `{sha256}` disclosed to you"), code: "not_found" };
    if !may_read(signed.snapshot.state(), &signed.actor, &sha256) {
        return Err(hidden().into());
    }
    let document = fetch(&app, &sha256).await?.ok_or_else(hidden)?;
    Ok(sandboxed(document, "private, no-store"))
}
