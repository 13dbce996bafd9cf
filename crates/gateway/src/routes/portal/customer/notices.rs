//! `GET /portal/notices`: the notices addressed to the customer and public ones, newest first,
//! each with an appeal form while its appeal window is open.

use maud::html;
use portcullis_core::notice::NoticeRegarding;

use crate::routes::portal::PortalError;
use crate::routes::portal::auth::Signed;
use crate::routes::portal::customer::appeal;
use crate::routes::portal::view::{PortalPage, page};
use crate::routes::register::view::{entry_link, segment, time};

/// `GET /portal/notices`.
pub async fn get(signed: Signed) -> Result<PortalPage, PortalError> {
    let customer = signed.customer()?.clone();
    let state = signed.snapshot.state();
    let notices: Vec<_> = state.notices().rev().filter(|n| n.addressed_to(&customer)).collect();
    let content = html! {
        h1 { "Notices" }
        p.lede { "Every adverse action comes with a notice: to you, or published to everyone. Newest first." }
        @if notices.is_empty() { p.muted { "No notices." } }
        @for n in &notices {
            section.card.notice id={ "notice-" (n.number) } {
                h2 { "Notice " (n.number) @if n.public { " (public)" } }
                p { (n.text) }
                dl.facts {
                    dt { "Sent" } dd { (time(n.sent_at)) }
                    dt { "Takes effect" } dd { (time(n.effective_at)) }
                    dt { "Regarding" } dd {
                        @match &n.regarding {
                            NoticeRegarding::Application { application } => {
                                "application " a href={ "/portal/applications/" (segment(application.as_str())) } { (application) }
                            }
                            NoticeRegarding::GrantRevocation { model, .. } => { "your grant for " code { (model) } }
                            NoticeRegarding::Directive { directive } => {
                                "directive " a href={ "/register/directives/" (segment(directive.as_str())) } { (directive) }
                            }
                            NoticeRegarding::Stage { model } => { "the stage of " code { (model) } }
                            NoticeRegarding::Appeal { appeal } => {
                                "appeal " a href={ "/portal/appeals/" (segment(appeal.as_str())) } { (appeal) }
                            }
                        }
                    }
                    @if let Some(by) = n.appeal_by { dt { "Appeal by" } dd { (time(by)) } }
                    dt { "Log" } dd { (entry_link(n.seq)) }
                }
                @if let Some(by) = n.appeal_by.filter(|by| signed.now <= *by) {
                    @let subject = match &n.regarding {
                        NoticeRegarding::Application { application } => Some(("application_denial", application.to_string())),
                        NoticeRegarding::GrantRevocation { model, .. } => Some(("grant_revocation", model.to_string())),
                        NoticeRegarding::Directive { directive } => Some(("directive", directive.to_string())),
                        NoticeRegarding::Stage { .. } | NoticeRegarding::Appeal { .. } => None,
                    };
                    @if let Some((kind, id)) = subject {
                        details {
                            summary { "Appeal (until " (time(by)) ")" }
                            (appeal::form(&signed, kind, &id, ""))
                        }
                    }
                }
            }
        }
    };
    Ok(page(&signed, "Notices", content))
}
