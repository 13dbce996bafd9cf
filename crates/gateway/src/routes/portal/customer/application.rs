//! `GET /portal/applications/{application}`: one of the customer's applications, with its
//! decision, the reasons and clauses of each sign-off, the evidence disclosed to the customer,
//! its history, and the appeal form while the window is open.

use axum::extract::Query;
use maud::{Markup, html};
use portcullis_core::application::{Application, Verdict};
use portcullis_core::evidence::Viewer;

use crate::app::ApiPath;
use crate::error::ApiError;
use crate::routes::portal::PortalError;
use crate::routes::portal::auth::Signed;
use crate::routes::portal::customer::application_status;
use crate::routes::portal::customer::evidence::evidence_list;
use crate::routes::portal::customer::home::Done;
use crate::routes::portal::view::{PortalPage, csrf, done_message, page, textarea};
use crate::routes::register::view::{prose, time};

/// `GET /portal/applications/{application}`.
pub async fn get(
    signed: Signed,
    path: Result<ApiPath<String>, ApiError>,
    query: Result<Query<Done>, axum::extract::rejection::QueryRejection>,
) -> Result<PortalPage, PortalError> {
    let customer = signed.customer()?.clone();
    let ApiPath(id) = path?;
    let not_found = || ApiError::NotFound { message: format!("no application `{id}`"), code: "not_found" };
    let state = signed.snapshot.state();
    // Another customer's application is "not found": not even its existence is disclosed.
    let application = state.application(&id).filter(|a| a.customer == customer).ok_or_else(not_found)?;
    let done = query.ok().and_then(|Query(q)| q.done);
    let appeal_by = application.decision.as_ref().filter(|d| d.outcome == Verdict::Deny).and_then(|d| d.appeal_by);
    let content = html! {
        p.crumbs { a href="/portal" { "Overview" } " › application" }
        h1 { "Application " code { (application.id) } " for " (application.model) }
        (done_message(done.as_deref()))
        (record(application, signed.now, Viewer::Subject))
        @if let Some(appeal_by) = appeal_by {
            @if signed.now <= appeal_by {
                form.panel method="post" action="/portal/appeals" {
                    h2 { "Appeal this denial" }
                    p { "You may appeal until " (time(appeal_by)) ". An official of the authority that decided, who took no part in the decision, decides the appeal." }
                    (csrf(&signed))
                    input type="hidden" name="kind" value="application_denial";
                    input type="hidden" name="subject" value=(application.id);
                    (textarea("grounds", "Grounds", "", 5, Some("Why the decision should be reversed; cite the criteria and the evidence.")))
                    button type="submit" { "File the appeal" }
                }
            } @else {
                p.muted { "The appeal window closed at " (time(appeal_by)) "." }
            }
        }
    };
    Ok(page(&signed, "Application", content))
}

/// An application's record: facts, decision, sign-offs with evidence as `viewer` sees it, history.
pub fn record(application: &Application, now: portcullis_core::Timestamp, viewer: Viewer) -> Markup {
    let (approvals, denials) = application.tally();
    html! {
        dl.facts {
            dt { "Status" } dd { (application_status(application, now)) }
            dt { "Applicant" } dd { code { (application.customer) } }
            dt { "Submitted" } dd { (time(application.submitted_at)) }
            dt { "Decision due" } dd { (time(application.due_at)) }
            dt { "Sign-off quorum" } dd {
                (application.quorum.required) " of " (application.quorum.authorities.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", "))
                " (this round: " (approvals) " approved, " (denials) " denied; round " (application.round) ")"
            }
            dt { "Criteria version at submission" } dd { (application.criteria_version_at_submission.map_or_else(|| "none".to_owned(), |v| v.to_string())) }
        }
        h2 { "Purpose" }
        (prose(&application.purpose))
        @if let Some(decision) = &application.decision {
            section.card #decision {
                h2 { "Decision: " (if decision.outcome == Verdict::Approve { "approved" } else { "denied" }) @if decision.on_appeal { " (on appeal)" } }
                dl.facts {
                    dt { "Decided" } dd { (time(decision.at)) }
                    dt { "Criteria applied" } dd { "version " (decision.criteria_version) ", hash " code.hash { (decision.criteria_hash) } }
                    dt { "Clauses cited" } dd { @for c in &decision.clauses { code { (c) } " " } }
                    @if let Some(at) = decision.grant_expires_at { dt { "Grant expires" } dd { (time(at)) } }
                    @if let Some(at) = decision.appeal_by { dt { "Appeal by" } dd { (time(at)) } }
                }
            }
        }
        h2 { "Sign-offs (this round)" }
        @if application.signoffs.is_empty() {
            p.muted { "None yet." }
        }
        @for s in &application.signoffs {
            section.card.signoff {
                h3 { (s.authority) " (" (s.official) "): " (if s.verdict == Verdict::Approve { "approve" } else { "deny" }) }
                p { (time(s.at)) @if let Some(at) = s.grant_expires_at { " · grant until " (time(at)) } }
                h4 { "Reasons" }
                (prose(&s.reasons))
                p { "Clauses relied on: " @for c in &s.clauses { code { (c) } " " } }
                h4 { "Evidence" }
                (evidence_list(&s.evidence, viewer))
            }
        }
        h2 { "History" }
        ol.history {
            @for step in &application.history {
                li { (time(step.at)) " · " (step.what) " · " (step.by) @if let Some(note) = &step.note { ": " (note) } }
            }
        }
    }
}
