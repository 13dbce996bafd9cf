//! The authority console under `/console/authority`: the queue (applications and appeals,
//! overdue first; models in review with their clocks), sign-offs, appeal decisions, directives
//! with their impact shown before they are issued, review positions.

pub mod appeal;
pub mod application;
pub mod directive;
pub mod queue;
pub mod review;

use maud::{Markup, html};
use portcullis_core::{Disclosure, Evidence};

use crate::app::AppState;
use crate::error::ApiError;
use crate::routes::admin::parse_choice;
use crate::routes::portal::auth::{Fields, Signed};
use crate::routes::portal::view::{select, text_input, textarea};

/// The evidence fieldset every decision form carries: one citation, with its document pasted as
/// text (uploaded as `text/plain` and cited by its SHA-256, like `POST /admin/v1/evidence`).
pub fn evidence_fields(fields: Option<&Fields>) -> Markup {
    let value = |name: &str| fields.map_or("", |f| f.text(name)).to_owned();
    html! {
        fieldset {
            legend { "Evidence (optional)" }
            (text_input("evidence_description", "What it is", &value("evidence_description"), Some("Leave empty to cite no evidence.")))
            (select("evidence_disclosure", "Disclosure", &[
                ("public", "public: anyone"),
                ("subject", "subject: the customer concerned and the authorities"),
                ("authorities", "authorities only"),
                ("withheld", "withheld (state why)"),
            ], fields.map_or("subject", |f| f.text("evidence_disclosure"))))
            (text_input("evidence_reason", "Why it is withheld", &value("evidence_reason"), Some("Only for withheld evidence.")))
            (textarea("evidence_document", "The document", &value("evidence_document"), 5, Some("Pasted as text; stored by its SHA-256, which the citation records. A withheld item may have none.")))
        }
    }
}

/// The citation of a decision form, the document uploaded first when one was pasted.
pub async fn evidence_from(app: &AppState, signed: &Signed, fields: &Fields) -> Result<Vec<Evidence>, ApiError> {
    let description = fields.text("evidence_description");
    if description.is_empty() {
        return Ok(Vec::new());
    }
    #[derive(Clone, Copy)]
    enum Level {
        Public,
        Subject,
        Authorities,
        Withheld,
    }
    let level = parse_choice(
        "evidence_disclosure",
        fields.text("evidence_disclosure"),
        &[
            ("public", Level::Public),
            ("subject", Level::Subject),
            ("authorities", Level::Authorities),
            ("withheld", Level::Withheld),
        ],
    )?;
    let reason = fields.optional("evidence_reason");
    let disclosure = match (level, reason) {
        (Level::Withheld, Some(reason)) => Disclosure::Withheld { reason: reason.to_owned() },
        (Level::Withheld, None) => return Err(ApiError::bad_request("withheld evidence needs a reason")),
        (_, Some(_)) => return Err(ApiError::bad_request("a reason only goes with withheld evidence")),
        (Level::Public, None) => Disclosure::Public,
        (Level::Subject, None) => Disclosure::Subject,
        (Level::Authorities, None) => Disclosure::Authorities,
    };
    let document = fields.get("evidence_document").unwrap_or_default();
    let sha256 = if document.trim().is_empty() {
        None
    } else {
        let store = app.evidence.clone();
        let bytes = document.as_bytes().to_vec();
        let (now, by) = (signed.now, signed.actor.describe());
        let (sha256, _) = tokio::task::spawn_blocking(move || store.put("text/plain; charset=utf-8", &bytes, now, &by))
            .await
            .map_err(|err| ApiError::Internal(err.into()))?
            .map_err(|err| ApiError::Internal(anyhow::anyhow!("evidence store: {err}")))?;
        Some(sha256)
    };
    Ok(vec![Evidence { description: description.to_owned(), sha256, disclosure }])
}
