//! Appeals: `POST /portal/appeals` files one (`FileAppeal`, as `POST /admin/v1/appeals`);
//! `GET /portal/appeals/{appeal}` shows one of the customer's appeals and its decision.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use portcullis_core::appeal::{Appeal, AppealSubject};
use portcullis_core::evidence::Viewer;
use portcullis_core::{AppealId, ApplicationId, Command, DirectiveId, ModelName};

use crate::app::{ApiPath, AppState};
use crate::error::ApiError;
use crate::routes::admin::{new_id, parse_choice, parse_id};
use crate::routes::portal::auth::{Posted, Signed};
use crate::routes::portal::customer::evidence::evidence_list;
use crate::routes::portal::customer::home::Done;
use crate::routes::portal::view::{PortalPage, csrf, done_message, form_error, page, page_with_status, textarea};
use crate::routes::portal::{PortalError, see_other, submit};
use crate::routes::register::view::{badge, prose, segment, time};

#[derive(Clone, Copy)]
enum Kind {
    ApplicationDenial,
    GrantRevocation,
    Directive,
}

/// `POST /portal/appeals`: fields `kind` (`application_denial`, `grant_revocation`,
/// `directive`), `subject` (the application id, model name or directive id) and `grounds`.
pub async fn post(State(app): State<AppState>, posted: Posted) -> Result<Response, PortalError> {
    let Posted { signed, fields } = posted;
    let customer = signed.customer()?.clone();
    let (kind, subject, grounds) =
        (fields.text("kind").to_owned(), fields.text("subject").to_owned(), fields.text("grounds").to_owned());
    let result = async {
        let chosen = parse_choice(
            "kind",
            &kind,
            &[
                ("application_denial", Kind::ApplicationDenial),
                ("grant_revocation", Kind::GrantRevocation),
                ("directive", Kind::Directive),
            ],
        )?;
        let subject = match chosen {
            Kind::ApplicationDenial => {
                AppealSubject::ApplicationDenial { application: parse_id("subject", ApplicationId::parse, &subject)? }
            }
            Kind::GrantRevocation => {
                AppealSubject::GrantRevocation { model: parse_id("subject", ModelName::parse, &subject)? }
            }
            Kind::Directive => {
                AppealSubject::Directive { directive: parse_id("subject", DirectiveId::parse, &subject)? }
            }
        };
        let appeal = parse_id("id", AppealId::parse, &new_id("apl_"))?;
        let command = Command::FileAppeal { appeal: appeal.clone(), customer, subject, grounds: grounds.clone() };
        submit(&app, &signed.actor, command).await?;
        Ok::<_, ApiError>(appeal)
    }
    .await;
    match result {
        Ok(appeal) => Ok(see_other(&format!("/portal/appeals/{}?done=appealed", segment(appeal.as_str())))),
        Err(err) => {
            let content = html! {
                h1 { "Appeal not filed" }
                (form_error(Some(&err.to_string())))
                (form(&signed, &kind, &subject, &grounds))
            };
            Ok(page_with_status(&signed, err.status(), "Appeal", content).into_response())
        }
    }
}

/// The appeal form, for a subject named by kind and id.
pub fn form(signed: &Signed, kind: &str, subject: &str, grounds: &str) -> Markup {
    html! {
        form.panel method="post" action="/portal/appeals" {
            h2 { "Appeal" }
            (csrf(signed))
            input type="hidden" name="kind" value=(kind);
            input type="hidden" name="subject" value=(subject);
            p { "Against: " code { (kind) } " " code { (subject) } }
            (textarea("grounds", "Grounds", grounds, 5, Some("Why the action should be reversed or modified.")))
            button type="submit" { "File the appeal" }
        }
    }
}

/// `GET /portal/appeals/{appeal}`.
pub async fn get(
    signed: Signed,
    path: Result<ApiPath<String>, ApiError>,
    query: Result<Query<Done>, axum::extract::rejection::QueryRejection>,
) -> Result<PortalPage, PortalError> {
    let customer = signed.customer()?.clone();
    let ApiPath(id) = path?;
    let appeal = signed
        .snapshot
        .state()
        .appeal(&id)
        .filter(|a| a.customer == customer)
        .ok_or_else(|| ApiError::NotFound { message: format!("no appeal `{id}`"), code: "not_found" })?;
    let done = query.ok().and_then(|Query(q)| q.done);
    let content = html! {
        p.crumbs { a href="/portal" { "Overview" } " › appeal" }
        h1 { "Appeal " code { (appeal.id) } }
        (done_message(done.as_deref()))
        (record(appeal, signed.now, Viewer::Subject))
    };
    Ok(page(&signed, "Appeal", content))
}

/// An appeal's record, with its decision's evidence as `viewer` sees it.
pub fn record(appeal: &Appeal, now: portcullis_core::Timestamp, viewer: Viewer) -> Markup {
    html! {
        dl.facts {
            dt { "Against" } dd { (appeal.subject.describe()) }
            dt { "Status" } dd {
                (badge(if appeal.decision.is_some() { "cleared" } else { "stage-review" }, appeal.status.name()))
                @if appeal.overdue(now) { " " (badge("overdue", "overdue")) }
            }
            dt { "Appellant" } dd { code { (appeal.customer) } }
            dt { "Filed" } dd { (time(appeal.filed_at)) }
            dt { "Decision due" } dd { (time(appeal.due_at)) }
            dt { "Decided by" } dd { "an official of " code { (appeal.authority) } " other than "
                (appeal.original_deciders.iter().map(|d| format!("{}/{}", d.authority, d.official)).collect::<Vec<_>>().join(", ")) }
            dt { "While pending" } dd { @if appeal.original_in_force { "the original action stays in force" } @else { "the original action is suspended" } }
        }
        h2 { "Grounds" }
        (prose(&appeal.grounds))
        @if let Some(decision) = &appeal.decision {
            section.card #decision {
                h2 { "Decision: " (appeal.status.name()) }
                p { (time(decision.at)) " by " (decision.by.authority) " (" (decision.by.official) ")"
                    @if let Some(until) = decision.relief_until { " · relief until " (time(until)) } }
                h3 { "Reasons" }
                (prose(&decision.reasons))
                h3 { "Evidence" }
                (evidence_list(&decision.evidence, viewer))
            }
        }
    }
}
