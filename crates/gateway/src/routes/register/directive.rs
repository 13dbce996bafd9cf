//! `GET /register/directives/{id}`: one directive in full: issuer, legal basis, scope, notice
//! (emergencies flagged with their justification), the Cedar policy, evidence, effective and
//! expiry times, lifting, exemptions and appeal outcomes.

use axum::extract::State;
use maud::html;
use portcullis_core::statistics::directive_appeal_statistics;

use crate::app::{ApiPath, AppState};
use crate::error::ApiError;
use crate::routes::register::directives::{notice, scope, status_badge};
use crate::routes::register::model::appeal_table;
use crate::routes::register::view::{Page, actor, code_block, emergency_flag, entry_link, evidence_list, prose, time};
use crate::routes::register::{PageError, View};

/// `GET /register/directives/{id}`.
pub async fn get(State(app): State<AppState>, path: Result<ApiPath<String>, ApiError>) -> Result<Page, PageError> {
    let ApiPath(id) = path?;
    let view = View::of(&app);
    let state = view.snapshot.state();
    let d = state
        .directive(&id)
        .ok_or_else(|| ApiError::NotFound { message: format!("no directive `{id}`"), code: "not_found" })?;
    let appeals = directive_appeal_statistics(state, &d.id, view.now);
    let content = html! {
        p.crumbs { a href="/register/directives" { "Directives" } " / " (d.id) }
        h1 { "Directive " (d.id) " " (status_badge(d.status(view.now))) }
        (prose(&d.description))
        @if d.is_emergency() {
            div.callout.emergency role="note" {
                p { (emergency_flag()) }
                p {
                    "This directive took effect the moment it was issued, without a notice period. "
                    "The issuing authority's justification:"
                }
                blockquote { (d.emergency_justification.as_deref().unwrap_or("none recorded")) }
            }
        }
        section aria-labelledby="facts" {
            h2 #facts { "Facts" }
            dl.facts {
                dt { "Issuer" } dd { (d.issuer) }
                dt { "Issued by" } dd { (actor(&d.issued_by)) }
                dt { "Legal basis" } dd { (d.legal_basis) }
                dt { "Scope" } dd { (scope(&d.scope)) }
                dt { "Issued" } dd { (time(d.issued_at)) " · " (entry_link(d.issued_seq)) }
                dt { "Effective" } dd { (time(d.effective_at)) }
                dt { "Notice period" } dd { (notice(d)) }
                dt { "Expires" } dd { @match d.expires_at { Some(at) => (time(at)), None => "no expiry" } }
                @if let Some(lifted) = &d.lifted {
                    dt { "Lifted" } dd { (time(lifted.at)) " · " (entry_link(lifted.seq)) br; (lifted.reason) }
                }
                dt { "Exemptions on appeal" } dd { (d.exemptions.len()) }
            }
        }
        section aria-labelledby="condition" {
            h2 #condition { "Condition" }
            p {
                "What the directive forbids, as the Cedar policy the gate evaluates on every request in scope. "
                "Content hash (SHA-256): " code.hash { (d.content_hash) }
            }
            (code_block("The directive's Cedar policy", &d.policies))
        }
        section aria-labelledby="evidence" {
            h2 #evidence { "Evidence" }
            p {
                "What the directive relies on. A citation is always published with its digest, so what is produced "
                "later can be checked against it; the document itself only when it is public."
            }
            (evidence_list(&d.evidence))
        }
        section aria-labelledby="appeals" {
            h2 #appeals { "Appeals" }
            p {
                "Customers it reaches may appeal; an official who did not issue it decides. Counts only: who "
                "appealed is not published."
            }
            (appeal_table("Appeals against this directive, by outcome", &appeals))
        }
    };
    Ok(view.page(&format!("Directive {}", d.id), content))
}
