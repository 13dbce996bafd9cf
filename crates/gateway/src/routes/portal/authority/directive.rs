//! `/console/authority/directives/new`: a directive is drafted, its impact shown (the same
//! computation as `POST /admin/v1/directives/impact`), and only then issued (`IssueDirective`).
//!
//! The impact shown is bound to the scope and policies it was computed for: the form carries
//! their fingerprint, and issuing with a scope or condition changed since shows the impact of
//! the new one instead of issuing it. Nothing is stored until the directive is issued.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use portcullis_core::impact::Impact;
use portcullis_core::{Command, DirectiveId, DirectiveScope, ModelName};
use sha2::Digest;

use crate::app::AppState;
use crate::error::ApiError;
use crate::routes::admin::impact::compute;
use crate::routes::admin::{parse_id, parse_time};
use crate::routes::portal::auth::{Fields, Posted, Signed};
use crate::routes::portal::authority::{evidence_fields, evidence_from};
use crate::routes::portal::view::{PortalPage, csrf, form_error, page_with_status, text_input, textarea};
use crate::routes::portal::{PortalError, see_other, submit};
use crate::routes::register::view::time;
use crate::usage::Coverage;

/// `GET /console/authority/directives/new`.
pub async fn get(signed: Signed) -> Result<PortalPage, PortalError> {
    signed.official()?;
    Ok(render(&signed, StatusCode::OK, None, None, None))
}

/// `POST /console/authority/directives/new`: `action=impact` shows the impact; `action=issue`
/// issues the directive whose impact was shown.
pub async fn post(State(app): State<AppState>, posted: Posted) -> Result<Response, PortalError> {
    let Posted { signed, fields } = posted;
    signed.official()?;
    let scope = match scope_of(&signed, &fields) {
        Ok(scope) => scope,
        Err(err) => return Ok(refused(&signed, &fields, &err)),
    };
    let fingerprint = fingerprint(&scope, fields.get("policies").unwrap_or_default());
    let shown = fields.get("impact_of") == Some(fingerprint.as_str());
    if fields.text("action") != "issue" || !shown {
        let impact =
            compute(&app, signed.snapshot.clone(), &scope, fields.get("policies").unwrap_or_default(), signed.now)
                .await;
        let note = (fields.text("action") == "issue").then_some(
            "the scope or the condition changed since its impact was shown: review the impact below, then issue",
        );
        return Ok(match impact {
            Ok(found) => {
                let status = if note.is_some() { StatusCode::CONFLICT } else { StatusCode::OK };
                render(&signed, status, Some(&fields), note, Some((&found.0, found.1, &fingerprint))).into_response()
            }
            Err(err) => refused(&signed, &fields, &err),
        });
    }
    let result = async {
        let directive = parse_id("id", DirectiveId::parse, fields.text("id"))?;
        let evidence = evidence_from(&app, &signed, &fields).await?;
        let command = Command::IssueDirective {
            directive,
            legal_basis: fields.text("legal_basis").to_owned(),
            description: fields.text("description").to_owned(),
            scope,
            policies: fields.get("policies").unwrap_or_default().to_owned(),
            effective_at: parse_time("effective_at", fields.optional("effective_at"))?,
            expires_at: parse_time("expires_at", fields.optional("expires_at"))?,
            emergency_justification: fields.optional("emergency_justification").map(str::to_owned),
            evidence,
        };
        submit(&app, &signed.actor, command).await
    }
    .await;
    let Err(err) = result else { return Ok(see_other("/console/authority?done=issued#directives")) };
    // Refused: the form again with the core's message, and the impact it was about to issue with.
    let policies = fields.get("policies").unwrap_or_default();
    Ok(match compute(&app, signed.snapshot.clone(), &scope_again(&signed, &fields)?, policies, signed.now).await {
        Ok((found, coverage)) => {
            render(&signed, err.status(), Some(&fields), Some(&err.to_string()), Some((&found, coverage, &fingerprint)))
                .into_response()
        }
        Err(_) => refused(&signed, &fields, &err),
    })
}

fn scope_again(signed: &Signed, fields: &Fields) -> Result<DirectiveScope, PortalError> {
    scope_of(signed, fields).map_err(PortalError::Page)
}

fn refused(signed: &Signed, fields: &Fields, err: &ApiError) -> Response {
    render(signed, err.status(), Some(fields), Some(&err.to_string()), None).into_response()
}

/// The scope ticked: every model, or the models named.
fn scope_of(signed: &Signed, fields: &Fields) -> Result<DirectiveScope, ApiError> {
    let ticked = fields.all("models");
    if ticked.contains(&"*") {
        return Ok(DirectiveScope::AllModels);
    }
    if ticked.is_empty() {
        return Err(ApiError::BadRequest {
            message: "scope names no models: tick the models the directive applies to".to_owned(),
            param: Some("models"),
            code: "invalid_value",
        });
    }
    let models = ticked.iter().map(|m| parse_id("models", ModelName::parse, m)).collect::<Result<Vec<_>, _>>()?;
    if let Some(unknown) = models.iter().find(|m| signed.snapshot.state().model(m.as_str()).is_none()) {
        return Err(ApiError::NotFound { message: format!("no model `{unknown}`"), code: "not_found" });
    }
    Ok(DirectiveScope::Models { models })
}

/// What the impact was computed for: the scope and the policy text.
fn fingerprint(scope: &DirectiveScope, policies: &str) -> String {
    let mut hasher = sha2::Sha256::new();
    match scope {
        DirectiveScope::AllModels => hasher.update(b"*"),
        DirectiveScope::Models { models } => {
            let mut names: Vec<&str> = models.iter().map(ModelName::as_str).collect();
            names.sort_unstable();
            hasher.update(names.join("\n").as_bytes());
        }
    }
    hasher.update([0]);
    hasher.update(policies.as_bytes());
    portcullis_core::ids::hex(&hasher.finalize())
}

fn render(
    signed: &Signed,
    status: StatusCode,
    fields: Option<&Fields>,
    error: Option<&str>,
    impact: Option<(&Impact, Coverage, &str)>,
) -> PortalPage {
    let value = |name: &str| fields.map_or("", |f| f.text(name)).to_owned();
    let ticked = fields.map(|f| f.all("models")).unwrap_or_default();
    let policies = fields.and_then(|f| f.get("policies")).unwrap_or_default();
    let content = html! {
        p.crumbs { a href="/console/authority" { "Queue" } " › issue a directive" }
        h1 { "Issue a directive" }
        p.lede {
            "A directive is an order enforced on every request: a Cedar " code { "forbid" } " condition over customer "
            "and end-user attributes. See what it would cut before you issue it; nothing is stored until then."
        }
        (form_error(error))
        @if let Some((found, coverage, _)) = impact { (impact_section(found, coverage)) }
        form.panel #directive method="post" action="/console/authority/directives/new" {
            (csrf(signed))
            @if let Some((_, _, fingerprint)) = impact { input type="hidden" name="impact_of" value=(fingerprint); }
            (text_input("id", "Directive id", &value("id"), Some("e.g. EC-2026-014")))
            (text_input("legal_basis", "Legal basis", &value("legal_basis"), Some("e.g. 15 CFR 744.23")))
            (textarea("description", "What it orders, in words", &value("description"), 3, None))
            fieldset {
                legend { "Scope" }
                label { input type="checkbox" name="models" value="*" checked[ticked.contains(&"*")]; " every model" }
                @for model in signed.snapshot.state().models() {
                    label { input type="checkbox" name="models" value=(model.name) checked[ticked.contains(&model.name.as_str())]; " " (model.name) }
                }
            }
            (textarea("policies", "Condition (Cedar forbid policies)", policies, 6, Some("What is cut, e.g. forbid (principal, action, resource) unless { context has end_user && … };")))
            (text_input("effective_at", "Effective at", &value("effective_at"), Some("RFC 3339; empty means now, which is an emergency and needs a justification.")))
            (text_input("expires_at", "Expires at (optional)", &value("expires_at"), None))
            (textarea("emergency_justification", "Emergency justification (zero notice only)", &value("emergency_justification"), 2, None))
            (evidence_fields(fields))
            div.actions {
                button.secondary type="submit" name="action" value="impact" { "Show the impact" }
                @if impact.is_some() {
                    button type="submit" name="action" value="issue" { "Issue the directive" }
                } @else {
                    span.muted { "Issuing is offered once the impact has been shown." }
                }
            }
        }
    };
    page_with_status(signed, status, "Issue a directive", content)
}

fn impact_section(found: &Impact, coverage: Coverage) -> Markup {
    html! {
        section.card #impact aria-labelledby="impact-title" {
            h2 #impact-title { "Impact, if issued now" }
            p {
                strong #impact-customers { (found.customers_affected) } " customers and "
                strong #impact-grants { (found.grants_affected) } " active grants would be cut; of "
                strong { (found.requests_seen) } " recent requests (since " (time(coverage.since)) ", this replica), "
                strong #impact-requests { (found.requests_would_deny) } " would have been denied."
            }
            @if !found.by_model.is_empty() {
                div.table-scroll { table {
                    caption { "By model" }
                    thead { tr { th scope="col" { "Model" } th scope="col" { "Customers" } th scope="col" { "Grants" } th scope="col" { "Requests seen" } th scope="col" { "Would deny" } } }
                    tbody {
                        @for m in &found.by_model {
                            tr { th scope="row" { (m.model) } td.num { (m.customers_affected) } td.num { (m.grants_affected) } td.num { (m.requests_seen) } td.num { (m.requests_would_deny) } }
                        }
                    }
                } }
            }
            @if !found.examples.is_empty() {
                p { "For example: " @for c in &found.examples { code { (c) } " " } }
            }
        }
    }
}
