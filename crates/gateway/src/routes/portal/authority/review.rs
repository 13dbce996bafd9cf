//! `POST /console/authority/models/{model}/review`: the authority's position on a model in
//! pre-release review (`RecordReviewPosition`, as `POST /admin/v1/models/{model}/review`).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;
use portcullis_core::procedure::ReviewVerdict;
use portcullis_core::{Command, ModelName};

use crate::app::{ApiPath, AppState};
use crate::error::ApiError;
use crate::routes::admin::{parse_choice, parse_id};
use crate::routes::portal::auth::Posted;
use crate::routes::portal::view::{form_error, page_with_status};
use crate::routes::portal::{PortalError, see_other, submit};

/// `POST /console/authority/models/{model}/review`.
pub async fn post(
    State(app): State<AppState>,
    path: Result<ApiPath<String>, ApiError>,
    posted: Posted,
) -> Result<Response, PortalError> {
    let ApiPath(name) = path?;
    let Posted { signed, fields } = posted;
    signed.official()?;
    let result = async {
        let model = parse_id("model", ModelName::parse, &name)?;
        let verdict = parse_choice(
            "verdict",
            fields.text("verdict"),
            &[("clear", ReviewVerdict::Clear), ("object", ReviewVerdict::Object)],
        )?;
        let reasons = fields.text("reasons").to_owned();
        submit(&app, &signed.actor, Command::RecordReviewPosition { model, verdict, reasons }).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other("/console/authority?done=position#reviews")),
        Err(err) => {
            let content = html! {
                h1 { "Position not recorded" }
                (form_error(Some(&err.to_string())))
                p { a href="/console/authority#reviews" { "Back to the queue" } }
            };
            Ok(page_with_status(&signed, err.status(), "Review position", content).into_response())
        }
    }
}
