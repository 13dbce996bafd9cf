//! `/console/authority/appeals/{appeal}`: an appeal as an official sees it, and the decision
//! form (`DecideAppeal`, as `POST /admin/v1/appeals/{appeal}/decision`). The core refuses an
//! official who took part in the original action; the page says who did.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use portcullis_core::appeal::AppealOutcome;
use portcullis_core::evidence::Viewer;
use portcullis_core::{AppealId, Command};

use crate::app::{ApiPath, AppState};
use crate::error::ApiError;
use crate::routes::admin::{parse_choice, parse_id, parse_time};
use crate::routes::portal::auth::{Fields, Posted, Signed};
use crate::routes::portal::authority::{evidence_fields, evidence_from};
use crate::routes::portal::customer::appeal::record;
use crate::routes::portal::customer::home::Done;
use crate::routes::portal::view::{PortalPage, csrf, done_message, form_error, page_with_status, text_input, textarea};
use crate::routes::portal::{PortalError, see_other, submit};
use crate::routes::register::view::segment;

/// `GET /console/authority/appeals/{appeal}`.
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

/// `POST /console/authority/appeals/{appeal}`: decides it.
pub async fn post(
    State(app): State<AppState>,
    path: Result<ApiPath<String>, ApiError>,
    posted: Posted,
) -> Result<Response, PortalError> {
    let ApiPath(id) = path?;
    let Posted { signed, fields } = posted;
    signed.official()?;
    let result = async {
        let appeal = parse_id("appeal", AppealId::parse, &id)?;
        let outcome = parse_choice(
            "outcome",
            fields.text("outcome"),
            &[
                ("upheld", AppealOutcome::Upheld),
                ("reversed", AppealOutcome::Reversed),
                ("modified", AppealOutcome::Modified),
            ],
        )?;
        let relief_until = parse_time("relief_until", fields.optional("relief_until"))?;
        let evidence = evidence_from(&app, &signed, &fields).await?;
        let reasons = fields.text("reasons").to_owned();
        submit(&app, &signed.actor, Command::DecideAppeal { appeal, outcome, reasons, evidence, relief_until }).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(&format!("/console/authority/appeals/{}?done=decided", segment(&id)))),
        Err(err) => {
            let signed = Signed { snapshot: app.engine.snapshot(), ..signed };
            Ok(render(&signed, err.status(), &id, Some(&err.to_string()), Some(&fields), None)?.into_response())
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
    let appeal = signed
        .snapshot
        .state()
        .appeal(id)
        .ok_or_else(|| ApiError::NotFound { message: format!("no appeal `{id}`"), code: "not_found" })?;
    let value = |name: &str| fields.map_or("", |f| f.text(name)).to_owned();
    let content = html! {
        p.crumbs { a href="/console/authority" { "Queue" } " › appeal" }
        h1 { "Appeal " code { (appeal.id) } }
        (done_message(done))
        (form_error(error))
        (record(appeal, signed.now, Viewer::Authority))
        @if appeal.decision.is_none() {
            form.panel #decide method="post" action={ "/console/authority/appeals/" (segment(id)) } {
                h2 { "Decide the appeal" }
                (csrf(signed))
                fieldset {
                    legend { "Outcome" }
                    label { input type="radio" name="outcome" value="upheld" checked[value("outcome") == "upheld"] required; " upheld: the action stands" }
                    label { input type="radio" name="outcome" value="reversed" checked[value("outcome") == "reversed"]; " reversed" }
                    label { input type="radio" name="outcome" value="modified" checked[value("outcome") == "modified"]; " modified (relief until a date)" }
                }
                (textarea("reasons", "Reasons", &value("reasons"), 4, None))
                (text_input("relief_until", "Relief until (modified only)", &value("relief_until"), Some("RFC 3339, e.g. 2027-01-31T00:00:00Z.")))
                (evidence_fields(fields))
                button type="submit" { "Record the decision" }
            }
        }
    };
    Ok(page_with_status(signed, status, "Appeal", content))
}
