//! `/console/authority/applications/{application}`: an application as an official sees it
//! (every piece of evidence), and the forms to take it up, ask for information and sign off,
//! each submitting the command the admin API submits.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use portcullis_core::application::Verdict;
use portcullis_core::evidence::Viewer;
use portcullis_core::{ApplicationId, Command};

use crate::app::{ApiPath, AppState};
use crate::error::ApiError;
use crate::routes::admin::{parse_choice, parse_id, parse_time};
use crate::routes::portal::auth::{Fields, Posted, Signed};
use crate::routes::portal::authority::{evidence_fields, evidence_from};
use crate::routes::portal::customer::application::record;
use crate::routes::portal::customer::home::Done;
use crate::routes::portal::view::{PortalPage, csrf, done_message, form_error, page_with_status, text_input, textarea};
use crate::routes::portal::{PortalError, see_other, submit};
use crate::routes::register::view::segment;

/// `GET /console/authority/applications/{application}`.
pub async fn get(
    signed: Signed,
    path: Result<ApiPath<String>, ApiError>,
    query: Result<Query<Done>, axum::extract::rejection::QueryRejection>,
) -> Result<PortalPage, PortalError> {
    signed.official()?;
    let ApiPath(id) = path?;
    let done = query.ok().and_then(|Query(q)| q.done);
    render(&signed, StatusCode::OK, &id, None, None, done.as_deref())
}

/// `POST …/review`: `StartApplicationReview`.
pub async fn take_up(
    State(app): State<AppState>,
    path: Result<ApiPath<String>, ApiError>,
    posted: Posted,
) -> Result<Response, PortalError> {
    let ApiPath(id) = path?;
    let Posted { signed, fields } = posted;
    signed.official()?;
    let result = async {
        let application = parse_id("application", ApplicationId::parse, &id)?;
        submit(&app, &signed.actor, Command::StartApplicationReview { application }).await
    }
    .await;
    finish(&app, signed, &fields, &id, "taken-up", result)
}

/// `POST …/info-request`: `RequestApplicationInfo`.
pub async fn ask(
    State(app): State<AppState>,
    path: Result<ApiPath<String>, ApiError>,
    posted: Posted,
) -> Result<Response, PortalError> {
    let ApiPath(id) = path?;
    let Posted { signed, fields } = posted;
    signed.official()?;
    let result = async {
        let application = parse_id("application", ApplicationId::parse, &id)?;
        let question = fields.text("question").to_owned();
        submit(&app, &signed.actor, Command::RequestApplicationInfo { application, question }).await
    }
    .await;
    finish(&app, signed, &fields, &id, "info-requested", result)
}

/// `POST …/signoff`: `SignOffApplication`, with the clauses ticked and the evidence given.
pub async fn sign_off(
    State(app): State<AppState>,
    path: Result<ApiPath<String>, ApiError>,
    posted: Posted,
) -> Result<Response, PortalError> {
    let ApiPath(id) = path?;
    let Posted { signed, fields } = posted;
    signed.official()?;
    let result = async {
        let application = parse_id("application", ApplicationId::parse, &id)?;
        let verdict =
            parse_choice("verdict", fields.text("verdict"), &[("approve", Verdict::Approve), ("deny", Verdict::Deny)])?;
        let grant_expires_at = parse_time("grant_expires_at", fields.optional("grant_expires_at"))?;
        let evidence = evidence_from(&app, &signed, &fields).await?;
        let command = Command::SignOffApplication {
            application,
            verdict,
            reasons: fields.text("reasons").to_owned(),
            clauses: fields.all("clauses").into_iter().map(str::to_owned).collect(),
            evidence,
            grant_expires_at,
        };
        submit(&app, &signed.actor, command).await
    }
    .await;
    finish(&app, signed, &fields, &id, "signed-off", result)
}

/// After a form: back to the page with `done`, or the page again with the core's message and
/// the fields as posted.
fn finish(
    app: &AppState,
    signed: Signed,
    fields: &Fields,
    id: &str,
    done: &str,
    result: Result<Vec<portcullis_core::EventRecord>, ApiError>,
) -> Result<Response, PortalError> {
    match result {
        Ok(_) => Ok(see_other(&format!("/console/authority/applications/{}?done={done}", segment(id)))),
        Err(err) => {
            let signed = Signed { snapshot: app.engine.snapshot(), ..signed };
            Ok(render(&signed, err.status(), id, Some(&err.to_string()), Some(fields), None)?.into_response())
        }
    }
}

fn render(
    signed: &Signed,
    status: StatusCode,
    id: &str,
    error: Option<&str>,
    fields: Option<&Fields>,
    done: Option<&str>,
) -> Result<PortalPage, PortalError> {
    let state = signed.snapshot.state();
    let application = state
        .application(id)
        .ok_or_else(|| ApiError::NotFound { message: format!("no application `{id}`"), code: "not_found" })?;
    let clauses: Vec<String> = state
        .model(application.model.as_str())
        .and_then(|m| m.criteria.as_ref())
        .and_then(|c| c.compiled.as_ref().ok())
        .map(|compiled| compiled.clauses().map(|c| c.clause_id.clone()).collect())
        .unwrap_or_default();
    let ticked = fields.map(|f| f.all("clauses")).unwrap_or_default();
    let value = |name: &str| fields.map_or("", |f| f.text(name)).to_owned();
    let base = format!("/console/authority/applications/{}", segment(id));
    let content = html! {
        p.crumbs { a href="/console/authority" { "Queue" } " › application" }
        h1 { "Application " code { (application.id) } " for " (application.model) }
        (done_message(done))
        (form_error(error))
        (record(application, signed.now, Viewer::Authority))
        @if application.status.is_open() {
            h2 #act { "Act on it" }
            div.actions {
                form.inline method="post" action={ (base) "/review" } {
                    (csrf(signed))
                    button.secondary type="submit" { "Take it up for review" }
                }
            }
            form.panel method="post" action={ (base) "/info-request" } {
                h3 { "Ask the applicant for information" }
                (csrf(signed))
                (textarea("question", "Question", &value("question"), 3, Some("Pauses the decision clock until the applicant amends the application.")))
                button.secondary type="submit" { "Ask" }
            }
            form.panel #signoff method="post" action={ (base) "/signoff" } {
                h3 { "Sign off for your authority" }
                (csrf(signed))
                fieldset {
                    legend { "Verdict" }
                    label { input type="radio" name="verdict" value="approve" checked[value("verdict") == "approve"] required; " approve" }
                    label { input type="radio" name="verdict" value="deny" checked[value("verdict") == "deny"]; " deny" }
                }
                (textarea("reasons", "Reasons", &value("reasons"), 4, Some("Stated in the decision the customer reads.")))
                fieldset {
                    legend { "Criteria clauses relied on (at least one)" }
                    @if clauses.is_empty() { p.muted { "The model's criteria have no clauses to cite." } }
                    @for clause in &clauses {
                        label { input type="checkbox" name="clauses" value=(clause) checked[ticked.contains(&clause.as_str())]; " " code { (clause) } }
                    }
                }
                (text_input("grant_expires_at", "Grant until (approval only, optional)", &value("grant_expires_at"), Some("RFC 3339, e.g. 2027-06-30T00:00:00Z; the grant lasts no longer than the most cautious approver proposes.")))
                (evidence_fields(fields))
                button type="submit" { "Record sign-off" }
            }
        }
    };
    Ok(page_with_status(signed, status, "Application", content))
}
