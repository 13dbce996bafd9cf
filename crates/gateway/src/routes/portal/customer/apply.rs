//! `/portal/apply`: the published criteria of a model checked against the customer's own
//! attributes, clause by clause (the same check as `portcullis criteria check`, with the gate's
//! own compilation and evaluation), shown before the application is submitted.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use portcullis_core::check::{ClauseOutcome, CriteriaCheckInput, check_criteria};
use portcullis_core::{ApplicationId, Command, ModelName};
use serde::Deserialize;

use crate::app::AppState;
use crate::error::ApiError;
use crate::routes::admin::{new_id, parse_id};
use crate::routes::portal::auth::{Posted, Signed};
use crate::routes::portal::view::{csrf, form_error, page, page_with_status, textarea};
use crate::routes::portal::{PortalError, see_other, submit};
use crate::routes::register::view::{code_block, prose, segment, stage_badge};

/// Query of `GET /portal/apply`.
#[derive(Deserialize, Default)]
pub struct ApplyQuery {
    #[serde(default)]
    model: Option<String>,
}

/// `GET /portal/apply[?model=…]`.
pub async fn get(
    signed: Signed,
    query: Result<Query<ApplyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PortalError> {
    signed.customer()?;
    let model = query.ok().and_then(|Query(q)| q.model);
    Ok(render(&signed, StatusCode::OK, model.as_deref(), "", None).into_response())
}

/// `POST /portal/apply`: submits `SubmitApplication`.
pub async fn post(State(app): State<AppState>, posted: Posted) -> Result<Response, PortalError> {
    let Posted { signed, fields } = posted;
    let customer = signed.customer()?.clone();
    let model_text = fields.text("model").to_owned();
    let purpose = fields.text("purpose").to_owned();
    let result = async {
        let model = parse_id("model", ModelName::parse, &model_text)?;
        let application = parse_id("id", ApplicationId::parse, &new_id("app_"))?;
        let command =
            Command::SubmitApplication { application: application.clone(), customer, model, purpose: purpose.clone() };
        submit(&app, &signed.actor, command).await?;
        Ok::<_, ApiError>(application)
    }
    .await;
    match result {
        Ok(application) => {
            Ok(see_other(&format!("/portal/applications/{}?done=applied", segment(application.as_str()))))
        }
        Err(err) => {
            Ok(render(&signed, err.status(), Some(&model_text), &purpose, Some(&err.to_string())).into_response())
        }
    }
}

fn render(
    signed: &Signed,
    status: StatusCode,
    model: Option<&str>,
    purpose: &str,
    error: Option<&str>,
) -> crate::routes::portal::view::PortalPage {
    let state = signed.snapshot.state();
    let content = html! {
        h1 { "Apply for access to a model" }
        p.lede {
            "Pick a model to see its published criteria checked against your own attributes, clause by clause, "
            "before you apply. The check is the gate's own evaluation; the decision is the authorities'."
        }
        (form_error(error))
        div.table-scroll { table {
            caption { "Models" }
            thead { tr { th scope="col" { "Model" } th scope="col" { "Stage" } th scope="col" { "Signed off by" } th scope="col" { "Criteria" } } }
            tbody {
                @for m in state.models() {
                    tr {
                        th scope="row" { a href={ "/portal/apply?model=" (segment(m.name.as_str())) } { (m.name) } }
                        td { (stage_badge(m.stage)) }
                        td {
                            @if m.procedure.signoff.authorities.is_empty() { span.muted { "nobody: takes no applications" } }
                            @else { (m.procedure.signoff.required) " of " (m.procedure.signoff.authorities.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")) }
                        }
                        td { @if let Some(c) = &m.criteria { "version " (c.version) } @else { span.muted { "none published" } } }
                    }
                }
            }
        } }
        @if let Some(name) = model {
            (model_section(signed, name, purpose))
        }
    };
    if status == StatusCode::OK {
        page(signed, "Apply", content)
    } else {
        page_with_status(signed, status, "Apply", content)
    }
}

fn model_section(signed: &Signed, name: &str, purpose: &str) -> Markup {
    let state = signed.snapshot.state();
    let Some(model) = state.model(name) else {
        return html! { p.form-error role="alert" { "No model `" (name) "`." } };
    };
    let customer = signed.customer().ok().and_then(|c| state.customer(c.as_str()));
    let check = match (&model.criteria, customer) {
        (Some(criteria), Some(customer)) => criteria.compiled.as_ref().ok().map(|compiled| {
            check_criteria(
                state.schema(),
                &CriteriaCheckInput {
                    policies: compiled.text(),
                    customer_id: customer.id.as_str(),
                    attributes: state.customer_attributes(customer),
                    model: model.name.as_str(),
                    end_user: None,
                },
            )
        }),
        _ => None,
    };
    html! {
        h2 #criteria { (model.name) ": criteria check" }
        @match &model.criteria {
            None => p.muted { "No criteria are published for this model yet, so nobody is admitted." },
            Some(criteria) => {
                p { "Criteria version " (criteria.version) ", content hash " code.hash { (criteria.content_hash) } }
                (prose(&criteria.text))
                @match &check {
                    Some(Ok(result)) => {
                        @if result.admitted {
                            p.check-holds role="status" { "✔ Your attributes meet these criteria (at least one clause holds)." }
                        } @else {
                            p.check-fails role="status" { "✘ Your attributes do not meet these criteria: no clause holds." }
                        }
                        div.table-scroll { table #check {
                            caption { "Each clause against your attributes" }
                            thead { tr { th scope="col" { "Clause" } th scope="col" { "Says" } th scope="col" { "Your attributes" } } }
                            tbody {
                                @for clause in &result.clauses {
                                    tr {
                                        th scope="row" { code { (clause.clause_id) } }
                                        td { (clause.description.as_deref().unwrap_or("")) }
                                        td {
                                            @match &clause.outcome {
                                                ClauseOutcome::Holds => span.check-holds { "holds" },
                                                ClauseOutcome::DoesNotHold => span.check-fails { "does not hold" },
                                                ClauseOutcome::Error(message) => span.check-fails { "error: " (message) },
                                            }
                                        }
                                    }
                                }
                            }
                        } }
                    }
                    Some(Err(err)) => p.form-error { "The criteria could not be checked: " (err) },
                    None => p.muted { "The criteria cannot be evaluated." },
                }
                details { summary { "The Cedar source the gate enforces" }
                    @if let Ok(compiled) = &criteria.compiled { (code_block("Criteria policies", compiled.text())) }
                }
            }
        }
        form.panel method="post" action="/portal/apply" {
            h3 { "Apply for " (model.name) }
            (csrf(signed))
            input type="hidden" name="model" value=(model.name);
            (textarea("purpose", "Purpose", purpose, 4, Some("What you will use the model for; the authorities read this.")))
            button type="submit" { "Submit application" }
        }
    }
}
