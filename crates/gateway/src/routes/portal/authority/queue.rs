//! `GET /console/authority`: the official's queue, as `GET /admin/v1/queue` lists it (the same
//! function): open applications and pending appeals with their deadlines, overdue first; models
//! in review with their clocks and a form to record a position; the authority's directives.

use axum::extract::Query;
use maud::html;
use portcullis_core::procedure::{Clearance, ReviewVerdict};

use crate::routes::admin::notices::{Queue, queue_of};
use crate::routes::portal::PortalError;
use crate::routes::portal::auth::Signed;
use crate::routes::portal::customer::application_status;
use crate::routes::portal::customer::home::Done;
use crate::routes::portal::view::{PortalPage, csrf, done_message, page, textarea};
use crate::routes::register::view::{badge, duration, emergency_flag, segment, time};

/// `GET /console/authority`.
pub async fn get(
    signed: Signed,
    query: Result<Query<Done>, axum::extract::rejection::QueryRejection>,
) -> Result<PortalPage, PortalError> {
    let (authority, official) = signed.official()?;
    let state = signed.snapshot.state();
    let now = signed.now;
    let Queue { applications, appeals, reviews } = queue_of(state, authority, now);
    let directives: Vec<_> = state.directives().filter(|d| d.issuer == *authority).collect();
    let done = query.ok().and_then(|Query(q)| q.done);
    let content = html! {
        h1 { "Queue of " (authority) }
        (done_message(done.as_deref()))
        p.lede { "Official " code { (official) } ". Open applications your authority signs off on and appeals it decides, overdue first, then by deadline." }
        h2 #applications { "Applications (" (applications.len()) ")" }
        @if applications.is_empty() { p.muted { "No open applications." } } @else {
            div.table-scroll { table {
                caption { "Open applications, overdue first" }
                thead { tr { th scope="col" { "Application" } th scope="col" { "Customer" } th scope="col" { "Model" } th scope="col" { "Status" } th scope="col" { "Decision due" } } }
                tbody {
                    @for a in &applications {
                        tr {
                            th scope="row" { a href={ "/console/authority/applications/" (segment(a.id.as_str())) } { (a.id) } }
                            td { code { (a.customer) } }
                            td { (a.model) }
                            td { (application_status(a, now)) }
                            td { (time(a.due_at)) }
                        }
                    }
                }
            } }
        }
        h2 #appeals { "Appeals (" (appeals.len()) ")" }
        @if appeals.is_empty() { p.muted { "No pending appeals." } } @else {
            div.table-scroll { table {
                caption { "Pending appeals your authority decides, overdue first" }
                thead { tr { th scope="col" { "Appeal" } th scope="col" { "Customer" } th scope="col" { "Against" } th scope="col" { "Decision due" } } }
                tbody {
                    @for a in &appeals {
                        tr {
                            th scope="row" { a href={ "/console/authority/appeals/" (segment(a.id.as_str())) } { (a.id) } }
                            td { code { (a.customer) } }
                            td { (a.subject.describe()) }
                            td { (time(a.due_at)) @if a.overdue(now) { " " (badge("overdue", "overdue")) } }
                        }
                    }
                }
            } }
        }
        h2 #reviews { "Models in review (" (reviews.len()) ")" }
        @if reviews.is_empty() { p.muted { "No model is in pre-release review." } }
        @for model in &reviews {
            @if let Some(clock) = &model.review {
                section.card.review {
                    h3 { (model.name) }
                    dl.facts {
                        dt { "Clock" } dd { "started " (time(clock.started_at)) ", ends " (time(clock.ends_at))
                            @if now < clock.ends_at { " (" (duration(clock.ends_at.as_millis() - now.as_millis())) " left)" } @else { " (ran out)" } }
                        dt { "Positions" } dd {
                            @for p in clock.current_positions() {
                                (p.authority) " (" (p.official) "): "
                                @match p.verdict { ReviewVerdict::Clear => (badge("cleared", "clear")), ReviewVerdict::Object => (badge("objection", "object")) }
                                " " (p.reasons) br;
                            }
                        }
                        dt { "May proceed now" } dd {
                            @match clock.clearance(&model.procedure.signoff, now) {
                                Ok(Clearance::Cleared { .. }) => (badge("cleared", "yes: cleared")),
                                Ok(Clearance::DeemedCleared { .. }) => (badge("deemed-cleared", "yes: deemed cleared")),
                                Err(why) => { (badge("stage-review", "not yet")) " " (why) },
                            }
                        }
                    }
                    form.panel method="post" action={ "/console/authority/models/" (segment(model.name.as_str())) "/review" } {
                        (csrf(&signed))
                        fieldset {
                            legend { "Your authority's position on " (model.name) }
                            label { input type="radio" name="verdict" value="clear" required; " clear" }
                            label { input type="radio" name="verdict" value="object"; " object" }
                        }
                        (textarea("reasons", "Reasons", "", 3, None))
                        button type="submit" { "Record position" }
                    }
                }
            }
        }
        h2 #directives { "Directives of " (authority) }
        p { a.button href="/console/authority/directives/new" { "Issue a directive" } }
        @if directives.is_empty() { p.muted { "None issued." } } @else {
            ul {
                @for d in &directives {
                    li {
                        a href={ "/register/directives/" (segment(d.id.as_str())) } { (d.id) } " · " (d.status(now).name())
                        @if d.is_emergency() { " " (emergency_flag()) }
                        " · " (d.description)
                    }
                }
            }
        }
    };
    Ok(page(&signed, "Queue", content))
}
