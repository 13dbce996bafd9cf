//! `GET /register/directives`: every directive, in force and scheduled first, then the past ones
//! (lifted or expired).

use std::sync::Arc;

use axum::extract::State;
use maud::{Markup, html};
use portcullis_core::state::{Directive, DirectiveStatus};
use portcullis_core::{DirectiveScope, Timestamp};

use crate::app::AppState;
use crate::routes::register::View;
use crate::routes::register::view::{Page, badge, duration, emergency_flag, entry_link, segment, time};

/// `GET /register/directives`.
pub async fn get(State(app): State<AppState>) -> Page {
    let view = View::of(&app);
    let state = view.snapshot.state();
    let (current, past): (Vec<&Arc<Directive>>, Vec<&Arc<Directive>>) = state
        .directives()
        .partition(|d| matches!(d.status(view.now), DirectiveStatus::InForce | DirectiveStatus::Scheduled));
    let content = html! {
        h1 { "Directives" }
        p.lede {
            "Orders of authorities that restrict access to models, enforced on every request against verified "
            "attributes of the customer and the end user. A directive names its issuer and legal basis, gives "
            "notice before it takes effect (none only in an emergency, which must be justified), and states its "
            "evidence or why it is withheld."
        }
        section aria-labelledby="current" {
            h2 #current { "In force and scheduled" }
            @if current.is_empty() {
                p.muted { "No directive is in force or scheduled." }
            } @else {
                (directive_rows("Directives in force or scheduled to take effect", &current, view.now))
            }
        }
        section aria-labelledby="past" {
            h2 #past { "Past" }
            @if past.is_empty() {
                p.muted { "No directive has been lifted or has expired." }
            } @else {
                (directive_rows("Directives lifted or expired", &past, view.now))
            }
        }
    };
    view.page("Directives", content)
}

/// A table of directives: id, issuer, legal basis, scope, status, notice, effective, expiry and
/// the log entry that issued each.
pub fn directive_rows(caption: &str, directives: &[&Arc<Directive>], now: Timestamp) -> Markup {
    html! {
        div.table-scroll {
            table.data {
                caption { (caption) }
                thead {
                    tr {
                        th scope="col" { "Directive" }
                        th scope="col" { "Issuer" }
                        th scope="col" { "Legal basis" }
                        th scope="col" { "Scope" }
                        th scope="col" { "Status" }
                        th scope="col" { "Notice" }
                        th scope="col" { "Effective" }
                        th scope="col" { "Expires" }
                        th scope="col" { "Log" }
                    }
                }
                tbody {
                    @for d in directives {
                        tr {
                            th scope="row" { a href={ "/register/directives/" (segment(d.id.as_str())) } { (d.id) } }
                            td { (d.issuer) }
                            td { (d.legal_basis) }
                            td { (scope(&d.scope)) }
                            td { (status_badge(d.status(now))) }
                            td { (notice(d)) }
                            td { (time(d.effective_at)) }
                            td { @match d.expires_at { Some(at) => (time(at)), None => span.muted { "no expiry" } } }
                            td { (entry_link(d.issued_seq)) }
                        }
                    }
                }
            }
        }
    }
}

/// A directive's status as a badge.
pub fn status_badge(status: DirectiveStatus) -> Markup {
    let text = match status {
        DirectiveStatus::Scheduled => "scheduled",
        DirectiveStatus::InForce => "in force",
        DirectiveStatus::Expired => "expired",
        DirectiveStatus::Lifted => "lifted",
    };
    badge(&format!("status-{}", status.name()), text)
}

/// The notice period, or the emergency flag.
pub fn notice(d: &Directive) -> Markup {
    if d.is_emergency() {
        emergency_flag()
    } else {
        html! { (duration(d.notice_millis())) }
    }
}

/// The models a directive covers, linked.
pub fn scope(scope: &DirectiveScope) -> Markup {
    match scope {
        DirectiveScope::AllModels => html! { "every model" },
        DirectiveScope::Models { models } => html! {
            @for (i, model) in models.iter().enumerate() {
                @if i > 0 { ", " }
                a href={ "/register/models/" (segment(model.as_str())) } { (model) }
            }
        },
    }
}
