//! Renders a denial as the OpenAI-style 403 body: what decided, the criteria version, where to appeal.

use portcullis_core::state::{Customer, Model};
use portcullis_core::{Denial, Timestamp};

use crate::error::ApiError;

/// The 403 for a denial.
pub fn denied(base_url: &str, customer: &Customer, model: &Model, denial: &Denial) -> ApiError {
    // Every governance fact cited here is an event in the transparency log; `log_index` lets
    // the customer fetch a receipt for it (`/admin/v1/events/{log_index + 1}/receipt`).
    let criteria = model.criteria.as_ref().map(|c| {
        serde_json::json!({
            "version": c.version,
            "content_hash": c.content_hash,
            "url": format!("{base_url}/admin/v1/models/{}/criteria", model.name),
            "log_index": c.published_seq.saturating_sub(1),
        })
    });
    let model_url = format!("{base_url}/admin/v1/models/{}", model.name);
    // Where the customer acts on a denial: apply for a grant, or appeal the action that cut it.
    let apply = serde_json::json!({
        "to": "sign-off authorities",
        "url": model_url,
        "file_url": format!("{base_url}/admin/v1/applications"),
        "file_body": { "model": model.name.as_str(), "purpose": "…" },
    });
    let appeal_of = |to: &str, url: String, subject: serde_json::Value| {
        serde_json::json!({
            "to": to,
            "url": url,
            "file_url": format!("{base_url}/admin/v1/appeals"),
            "file_body": { "subject": subject, "grounds": "…" },
        })
    };
    let (message, decided_by, appeal) = match denial {
        Denial::Stage { stage } => (
            format!("model `{}` is in the `{stage}` stage and is not available to customers", model.name),
            serde_json::json!({ "kind": "stage", "stage": stage.name() }),
            serde_json::json!({ "to": "provider", "url": model_url }),
        ),
        Denial::NoGrant => (
            format!(
                "model `{}` is in preview and customer `{}` holds no grant for it; access is approved customer by customer",
                model.name, customer.id
            ),
            serde_json::json!({ "kind": "grant", "grant": null }),
            apply.clone(),
        ),
        Denial::GrantExpired { at } => (
            format!("the grant of model `{}` to customer `{}` expired at {at}", model.name, customer.id),
            serde_json::json!({ "kind": "grant", "expired_at": at.to_rfc3339() }),
            apply.clone(),
        ),
        Denial::GrantRevoked { at } => (
            format!(
                "the grant of model `{}` to customer `{}` was revoked with effect from {at}",
                model.name, customer.id
            ),
            serde_json::json!({ "kind": "grant", "revoked_at": at.to_rfc3339() }),
            appeal_of(
                "revoking authority",
                model_url.clone(),
                serde_json::json!({ "kind": "grant_revocation", "model": model.name.as_str() }),
            ),
        ),
        Denial::NoCriteria => (
            format!("no access criteria have been published for model `{}`", model.name),
            serde_json::json!({ "kind": "criteria", "criteria": null }),
            serde_json::json!({ "to": "provider", "url": model_url }),
        ),
        Denial::CriteriaNotMet { version, content_hash, errors } => (
            format!(
                "customer `{}` does not meet criteria version {version} (sha256 {}) of model `{}`",
                customer.id,
                short(content_hash),
                model.name
            ),
            serde_json::json!({ "kind": "criteria", "version": version, "content_hash": content_hash, "errors": errors }),
            serde_json::json!({ "to": "reviewing authority", "url": format!("{model_url}/criteria") }),
        ),
        Denial::CriteriaUnavailable { version, content_hash } => (
            format!(
                "criteria version {version} of model `{}` cannot be evaluated under the gateway's current schema, so access is closed",
                model.name
            ),
            serde_json::json!({ "kind": "criteria", "version": version, "content_hash": content_hash, "unavailable": true }),
            serde_json::json!({ "to": "provider", "url": model_url }),
        ),
        Denial::Directive { directive, clauses, errors, attestation } => {
            let why = match *attestation {
                "valid" => "the attested end user falls under it".to_owned(),
                "missing" => format!(
                    "no end-user attestation was sent (header `{}`)",
                    portcullis_core::attestation::ATTESTATION_HEADER
                ),
                other => format!("the end-user attestation is {other}, so the end user's attributes are unknown"),
            };
            let url = format!("{base_url}/admin/v1/directives/{}", directive.id);
            (
                format!(
                    "directive `{}` of authority `{}` ({}) forbids this request to model `{}`: {why}",
                    directive.id, directive.issuer, directive.legal_basis, model.name
                ),
                serde_json::json!({
                    "kind": "directive",
                    "directive_id": directive.id.as_str(),
                    "issuer": directive.issuer.as_str(),
                    "legal_basis": directive.legal_basis,
                    "clauses": clauses,
                    "errors": errors,
                    "effective_at": directive.effective_at.to_rfc3339(),
                    "expires_at": directive.expires_at.map(Timestamp::to_rfc3339),
                    "content_hash": directive.content_hash,
                    "url": url,
                    "log_index": directive.issued_seq.saturating_sub(1),
                    "receipt_url": format!("{base_url}/admin/v1/events/{}/receipt", directive.issued_seq),
                }),
                appeal_of(
                    directive.issuer.as_str(),
                    url.clone(),
                    serde_json::json!({ "kind": "directive", "directive": directive.id.as_str() }),
                ),
            )
        }
    };
    let details = serde_json::json!({
        "decision": "deny",
        "reason": denial.code(),
        "model": model.name.as_str(),
        "stage": model.stage.name(),
        "customer": customer.id.as_str(),
        "decided_by": decided_by,
        "criteria": criteria,
        "appeal": appeal,
    });
    ApiError::Denied { message, code: denial.code(), details: Box::new(details) }
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
