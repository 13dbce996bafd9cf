//! The customer portal under `/portal`: its access now, applications (with the criteria checked
//! before applying), decisions with reasons and the evidence disclosed to it, grants, notices,
//! appeals, and its API keys.

pub mod appeal;
pub mod application;
pub mod apply;
pub mod evidence;
pub mod home;
pub mod keys;
pub mod notices;

use maud::{Markup, html};
use portcullis_core::Denial;
use portcullis_core::application::{Application, ApplicationStatus};

use crate::routes::register::view::badge;

/// An application's status as a badge, words and colour.
pub fn application_status(application: &Application, now: portcullis_core::Timestamp) -> Markup {
    let class = match application.status {
        ApplicationStatus::Approved => "cleared",
        ApplicationStatus::Denied => "objection",
        ApplicationStatus::Withdrawn => "status-lifted",
        _ => "stage-review",
    };
    html! {
        (badge(class, application.status.name()))
        @if application.overdue(now) { " " (badge("overdue", "overdue")) }
        @if application.paused_at.is_some() { " " (badge("stage-draft", "clock paused")) }
    }
}

/// A refusal of the gate in words (what the request path would answer now).
pub fn denial_words(denial: &Denial) -> String {
    match denial {
        Denial::Stage { stage } => format!("the model is in `{}`, which admits no customer traffic", stage.name()),
        Denial::NoGrant => "the model is in preview and you hold no grant: apply for access".to_owned(),
        Denial::GrantExpired { at } => format!("your grant lapsed at {at}"),
        Denial::GrantRevoked { at } => format!("your grant was revoked with effect from {at}"),
        Denial::NoCriteria => "no criteria are published for the model, so nobody is admitted".to_owned(),
        Denial::CriteriaNotMet { version, .. } => format!("criteria version {version} do not admit you"),
        Denial::CriteriaUnavailable { version, .. } => {
            format!("criteria version {version} cannot be evaluated, so nobody is admitted")
        }
        Denial::Directive { directive, .. } => {
            format!("directive `{}` of `{}` cuts your requests", directive.id, directive.issuer)
        }
    }
}
