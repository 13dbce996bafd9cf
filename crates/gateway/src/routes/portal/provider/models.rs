//! `/console/provider` and `/console/provider/models/{model}`.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use portcullis_core::procedure::Clearance;
use portcullis_core::{Command, ModelName, StageTarget};

use crate::app::{ApiPath, AppState};
use crate::error::ApiError;
use crate::routes::admin::parse_id;
use crate::routes::portal::auth::{Fields, Posted, Signed};
use crate::routes::portal::customer::home::Done;
use crate::routes::portal::view::{PortalPage, csrf, done_message, form_error, page, page_with_status, textarea};
use crate::routes::portal::{PortalError, see_other, submit};
use crate::routes::register::view::{actor, badge, duration, entry_link, segment, stage_badge, time};

/// Every stage target, in the order the form offers them.
const TARGETS: [StageTarget; 6] = [
    StageTarget::Review,
    StageTarget::Preview,
    StageTarget::General,
    StageTarget::Suspended,
    StageTarget::Resume,
    StageTarget::Withdrawn,
];

/// `GET /console/provider`.
pub async fn list(signed: Signed) -> Result<PortalPage, PortalError> {
    signed.provider()?;
    let state = signed.snapshot.state();
    let content = html! {
        h1 { "Models" }
        p.lede { "Every model the gateway serves: stage, deployments, fallbacks, criteria and sign-off procedure." }
        div.table-scroll { table {
            caption { "Models, by name" }
            thead { tr {
                th scope="col" { "Model" } th scope="col" { "Stage" } th scope="col" { "Deployments" }
                th scope="col" { "Fallbacks" } th scope="col" { "Criteria" } th scope="col" { "Sign-off" }
            } }
            tbody {
                @for m in state.models() {
                    tr {
                        th scope="row" { a href={ "/console/provider/models/" (segment(m.name.as_str())) } { (m.name) } }
                        td { (stage_badge(m.stage)) }
                        td { @for d in m.deployments.iter() { code { (d.name) } " → " (d.upstream.base_url) br; } }
                        td { @if m.fallbacks.is_empty() { span.muted { "none" } } @else { (m.fallbacks.iter().map(ModelName::as_str).collect::<Vec<_>>().join(" → ")) } }
                        td { @if let Some(c) = &m.criteria { "version " (c.version) } @else { span.muted { "none" } } }
                        td {
                            @if m.procedure.signoff.authorities.is_empty() { span.muted { "none" } }
                            @else { (m.procedure.signoff.required) " of " (m.procedure.signoff.authorities.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")) }
                        }
                    }
                }
            }
        } }
        p.muted { "Register models, set deployments, fallbacks, criteria and procedures with " code { "portcullis admin model …" } " or the admin API." }
    };
    Ok(page(&signed, "Models", content))
}

/// `GET /console/provider/models/{model}`.
pub async fn get(
    signed: Signed,
    path: Result<ApiPath<String>, ApiError>,
    query: Result<Query<Done>, axum::extract::rejection::QueryRejection>,
) -> Result<PortalPage, PortalError> {
    signed.provider()?;
    let ApiPath(name) = path?;
    let done = query.ok().and_then(|Query(q)| q.done);
    render(&signed, StatusCode::OK, &name, None, None, done.as_deref())
}

/// `POST /console/provider/models/{model}/stage`.
pub async fn change_stage(
    State(app): State<AppState>,
    path: Result<ApiPath<String>, ApiError>,
    posted: Posted,
) -> Result<Response, PortalError> {
    let ApiPath(name) = path?;
    let Posted { signed, fields } = posted;
    signed.provider()?;
    let result = async {
        let model = parse_id("model", ModelName::parse, &name)?;
        let to = fields.text("to");
        let target = StageTarget::parse(to).ok_or_else(|| ApiError::BadRequest {
            message: format!(
                "`{to}` is not a stage target; use review, preview, general, suspended, resume or withdrawn"
            ),
            param: Some("to"),
            code: "invalid_value",
        })?;
        let reason = fields.text("reason").to_owned();
        submit(&app, &signed.actor, Command::ChangeStage { model, target, reason }).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(&format!("/console/provider/models/{}?done=stage", segment(&name)))),
        Err(err) => {
            let signed = Signed { snapshot: app.engine.snapshot(), ..signed };
            Ok(render(&signed, err.status(), &name, Some(&err.to_string()), Some(&fields), None)?.into_response())
        }
    }
}

fn render(
    signed: &Signed,
    status: StatusCode,
    name: &str,
    error: Option<&str>,
    fields: Option<&Fields>,
    done: Option<&str>,
) -> Result<PortalPage, PortalError> {
    let now = signed.now;
    let model = signed
        .snapshot
        .state()
        .model(name)
        .ok_or_else(|| ApiError::NotFound { message: format!("no model `{name}`"), code: "not_found" })?;
    // The stage machine's own table says which moves exist; the core checks the rest on submit.
    let targets: Vec<StageTarget> = TARGETS.into_iter().filter(|t| model.stage.transition(*t).is_ok()).collect();
    let content = html! {
        p.crumbs { a href="/console/provider" { "Models" } " › " (model.name) }
        h1 { (model.name) " " (stage_badge(model.stage)) }
        (done_message(done))
        (form_error(error))
        p { (model.description) }
        h2 { "Deployments" }
        div.table-scroll { table {
            caption { "Tried in order; the first is the primary" }
            thead { tr { th scope="col" { "Name" } th scope="col" { "Base URL" } th scope="col" { "Upstream model" } th scope="col" { "Key from" } } }
            tbody {
                @for d in model.deployments.iter() {
                    tr {
                        th scope="row" { code { (d.name) } }
                        td { code { (d.upstream.base_url) } }
                        td { (d.upstream.upstream_model.as_deref().unwrap_or(model.name.as_str())) }
                        td { @if let Some(var) = &d.upstream.api_key_env { "$" (var) } @else { span.muted { "no key" } } }
                    }
                }
            }
        } }
        @if let Some(clock) = &model.review {
            h2 { "Pre-release review" }
            dl.facts {
                dt { "Clock" } dd { "started " (time(clock.started_at)) ", ends " (time(clock.ends_at))
                    @if now < clock.ends_at { " (" (duration(clock.ends_at.as_millis() - now.as_millis())) " left)" } }
                dt { "May leave review now" } dd {
                    @match clock.clearance(&model.procedure.signoff, now) {
                        Ok(Clearance::Cleared { .. }) => (badge("cleared", "yes: cleared")),
                        Ok(Clearance::DeemedCleared { .. }) => (badge("deemed-cleared", "yes: deemed cleared")),
                        Err(why) => { (badge("stage-review", "not yet")) " " (why) },
                    }
                }
            }
        }
        h2 { "Stage history" }
        ol.history {
            @for change in &model.stage_history {
                li { (time(change.at)) " · " (change.from.name()) " → " (change.to.name()) " · " (actor(&change.actor)) ": " (change.reason) " · " (entry_link(change.seq)) }
            }
        }
        @if targets.is_empty() {
            p.muted { "The model is withdrawn: no further transitions." }
        } @else {
            form.panel #stage method="post" action={ "/console/provider/models/" (segment(model.name.as_str())) "/stage" } {
                h2 { "Change the stage" }
                (csrf(signed))
                fieldset {
                    legend { "Move to" }
                    @for t in &targets {
                        label { input type="radio" name="to" value=(t.name()) checked[fields.is_some_and(|f| f.text("to") == t.name())] required; " " (t.name()) }
                    }
                }
                (textarea("reason", "Reason", fields.map_or("", |f| f.text("reason")), 2, Some("Published with the change.")))
                button type="submit" { "Change stage" }
            }
        }
    };
    Ok(page_with_status(signed, status, &model.name.to_string(), content))
}
