//! `GET /portal`: the customer's overview.

use axum::extract::Query;
use maud::html;
use portcullis_core::{Decision, decide};
use serde::Deserialize;

use crate::error::ApiError;
use crate::routes::portal::PortalError;
use crate::routes::portal::auth::Signed;
use crate::routes::portal::customer::{application_status, denial_words};
use crate::routes::portal::view::{PortalPage, done_message, page};
use crate::routes::register::view::{badge, segment, stage_badge, time};

/// `?done=…` after a redirect.
#[derive(Deserialize, Default)]
pub struct Done {
    /// Which confirmation to show.
    #[serde(default)]
    pub done: Option<String>,
}

/// `GET /portal`.
pub async fn get(
    signed: Signed,
    query: Result<Query<Done>, axum::extract::rejection::QueryRejection>,
) -> Result<PortalPage, PortalError> {
    let customer_id = signed.customer()?;
    let state = signed.snapshot.state();
    let now = signed.now;
    let customer = state
        .customer(customer_id.as_str())
        .ok_or_else(|| ApiError::NotFound { message: format!("no customer `{customer_id}`"), code: "not_found" })?;
    // Access now, per model: the request path's own decision, for a request without an attestation.
    let end_user = signed.snapshot.end_user_context(None, customer_id.as_str(), now);
    let access: Vec<_> =
        state.models().map(|model| (model, decide(&signed.snapshot, customer, model, &end_user, now))).collect();
    let mut applications: Vec<_> = state.applications().filter(|a| a.customer == *customer_id).collect();
    applications.sort_by_key(|a| std::cmp::Reverse(a.submitted_at));
    let mut appeals: Vec<_> = state.appeals().filter(|a| a.customer == *customer_id).collect();
    appeals.sort_by_key(|a| std::cmp::Reverse(a.filed_at));
    let notices: Vec<_> = state.notices().rev().filter(|n| n.addressed_to(customer_id)).take(5).collect();
    let done = query.ok().and_then(|Query(q)| q.done);
    let content = html! {
        h1 { (&*customer.name) }
        (done_message(done.as_deref()))
        p.lede { "Customer " code { (customer_id) } ". What your API keys may use now, your applications, grants, notices and appeals." }
        h2 #access { "Access now" }
        div.table-scroll { table {
            caption { "What the gate answers your keys now, for a request without an end-user attestation" }
            thead { tr { th scope="col" { "Model" } th scope="col" { "Stage" } th scope="col" { "Your grant" } th scope="col" { "Access" } } }
            tbody {
                @for (model, decision) in &access {
                    tr {
                        th scope="row" { a href={ "/register/models/" (segment(model.name.as_str())) } { (model.name) } }
                        td { (stage_badge(model.stage)) }
                        td {
                            @match customer.grants.get(&model.name) {
                                None => span.muted { "none" },
                                Some(grant) => {
                                    "granted " (time(grant.granted_at))
                                    @if let Some(at) = grant.expires_at { br; "expires " (time(at)) }
                                    @if let Some(at) = grant.revoked_at { br; "revoked, effective " (time(at)) }
                                }
                            }
                        }
                        td {
                            @match decision {
                                Decision::Allow(_) => (badge("cleared", "allowed")),
                                Decision::Deny(denial) => { (badge("objection", "refused")) " " (denial_words(denial)) " (" code { (denial.code()) } ")" }
                            }
                        }
                    }
                }
            }
        } }
        p { a.button href="/portal/apply" { "Apply for a model" } }
        h2 #applications { "Your applications" }
        @if applications.is_empty() {
            p.muted { "No applications yet." }
        } @else {
            div.table-scroll { table {
                caption { "Newest first" }
                thead { tr { th scope="col" { "Application" } th scope="col" { "Model" } th scope="col" { "Status" } th scope="col" { "Submitted" } th scope="col" { "Decision due" } } }
                tbody {
                    @for a in &applications {
                        tr {
                            th scope="row" { a href={ "/portal/applications/" (segment(a.id.as_str())) } { (a.id) } }
                            td { (a.model) }
                            td { (application_status(a, now)) }
                            td { (time(a.submitted_at)) }
                            td { (time(a.due_at)) }
                        }
                    }
                }
            } }
        }
        h2 #appeals { "Your appeals" }
        @if appeals.is_empty() {
            p.muted { "No appeals." }
        } @else {
            div.table-scroll { table {
                caption { "Newest first" }
                thead { tr { th scope="col" { "Appeal" } th scope="col" { "Against" } th scope="col" { "Status" } th scope="col" { "Decision due" } } }
                tbody {
                    @for a in &appeals {
                        tr {
                            th scope="row" { a href={ "/portal/appeals/" (segment(a.id.as_str())) } { (a.id) } }
                            td { (a.subject.describe()) }
                            td { (badge(if a.decision.is_some() { "cleared" } else { "stage-review" }, a.status.name())) @if a.overdue(now) { " " (badge("overdue", "overdue")) } }
                            td { (time(a.due_at)) }
                        }
                    }
                }
            } }
        }
        h2 #notices { "Latest notices" }
        @if notices.is_empty() {
            p.muted { "No notices." }
        } @else {
            ul {
                @for n in &notices {
                    li { "Notice " (n.number) ", " (time(n.sent_at)) ": " (n.text) }
                }
            }
            p { a href="/portal/notices" { "All notices, and appeals against them" } }
        }
    };
    Ok(page(&signed, "Overview", content))
}
