//! Checking published criteria against a customer's own attributes, before applying.
//!
//! The same compilation and evaluation as the gate's, clause by clause, so a customer sees which
//! clauses its attributes satisfy and which they do not (`portcullis criteria check`).

use std::sync::Arc;

use crate::error::PolicyError;
use crate::event::canonical_json;
use crate::policy::{CedarSchema, CompiledPolicies, EndUserContext, PolicyKind};

/// What one clause says about the attributes given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClauseOutcome {
    /// The clause's conditions hold: it would admit.
    Holds,
    /// They do not.
    DoesNotHold,
    /// It could not be evaluated (it admits nobody); the message says why.
    Error(String),
}

/// One clause's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClauseCheck {
    /// The clause id (`@id`).
    pub clause_id: String,
    /// Its `@description`, if any.
    pub description: Option<String>,
    /// The outcome.
    pub outcome: ClauseOutcome,
}

/// The result of checking criteria.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CriteriaCheck {
    /// Whether the criteria admit (some clause holds). Grants, stages and directives are
    /// separate checks the gate makes too.
    pub admitted: bool,
    /// SHA-256 of the policy text checked.
    pub content_hash: String,
    /// Every clause, in source order.
    pub clauses: Vec<ClauseCheck>,
}

/// Input of [`check_criteria`].
#[derive(Clone, Debug)]
pub struct CriteriaCheckInput<'a> {
    /// The Cedar `permit` policies of the criteria.
    pub policies: &'a str,
    /// The customer's id (matters only for clauses that name customers).
    pub customer_id: &'a str,
    /// The customer's attributes.
    pub attributes: &'a serde_json::Map<String, serde_json::Value>,
    /// The model.
    pub model: &'a str,
    /// End-user attributes, as an attestation would carry them; `None` for none.
    pub end_user: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

/// Evaluates criteria clause by clause.
///
/// # Errors
///
/// A [`PolicyError`] when the policies do not compile, or when the attributes or end-user
/// record do not fit the schema (reported without a location).
pub fn check_criteria(schema: &CedarSchema, input: &CriteriaCheckInput<'_>) -> Result<CriteriaCheck, PolicyError> {
    let compiled = CompiledPolicies::compile(schema, PolicyKind::Criteria, input.policies)?;
    let unlocated =
        |message: String| PolicyError { diagnostics: vec![crate::error::PolicyDiagnostic { location: None, message }] };
    schema.check_customer_attributes(input.attributes).map_err(|m| unlocated(format!("customer attributes: {m}")))?;
    let end_user = match input.end_user {
        Some(record) => {
            schema.check_end_user(record).map_err(|m| unlocated(format!("end-user attributes: {m}")))?;
            let json = canonical_json(&serde_json::Value::Object(record.clone()));
            EndUserContext { attestation: "valid", end_user_json: Some(Arc::from(json)), end_user_class: u32::MAX }
        }
        None => EndUserContext { attestation: "missing", end_user_json: None, end_user_class: 0 },
    };
    let evaluation = compiled.evaluate(schema, input.customer_id, input.attributes, input.model, &end_user);
    let clauses: Vec<ClauseCheck> = compiled
        .clauses()
        .map(|clause| {
            let outcome = if evaluation.matched.contains(&clause.clause_id) {
                ClauseOutcome::Holds
            } else if let Some(message) = evaluation
                .errored
                .iter()
                .zip(&evaluation.errors)
                .find(|(id, _)| **id == clause.clause_id)
                .map(|(_, message)| message.clone())
            {
                ClauseOutcome::Error(message)
            } else {
                ClauseOutcome::DoesNotHold
            };
            ClauseCheck { clause_id: clause.clause_id.clone(), description: clause.description.clone(), outcome }
        })
        .collect();
    Ok(CriteriaCheck {
        admitted: clauses.iter().any(|c| c.outcome == ClauseOutcome::Holds),
        content_hash: compiled.content_hash().to_owned(),
        clauses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CRITERIA: &str = r#"@id("kyc-verified")
@description("KYC done")
permit (principal, action, resource) when { principal has kyc && principal.kyc == "verified" };
@id("us-sector-research")
permit (principal, action, resource) when { principal has country && principal.country == "US" && principal has sector && principal.sector == "research" };
@id("overflow")
permit (principal, action, resource) when { 9223372036854775807 + 1 > 0 };"#;

    #[track_caller]
    fn check(attributes: serde_json::Value, expect: &[(&str, &str)], admitted: bool) {
        let schema = CedarSchema::default_schema().unwrap();
        let attributes = attributes.as_object().unwrap().clone();
        let input = CriteriaCheckInput {
            policies: CRITERIA,
            customer_id: "me",
            attributes: &attributes,
            model: "m",
            end_user: None,
        };
        let result = check_criteria(&schema, &input).unwrap();
        let got: Vec<(String, String)> = result
            .clauses
            .iter()
            .map(|c| {
                let outcome = match &c.outcome {
                    ClauseOutcome::Holds => "holds",
                    ClauseOutcome::DoesNotHold => "does not hold",
                    ClauseOutcome::Error(_) => "error",
                };
                (c.clause_id.clone(), outcome.to_owned())
            })
            .collect();
        let expect: Vec<(String, String)> = expect.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect();
        assert_eq!(got, expect);
        assert_eq!(result.admitted, admitted);
    }

    #[test]
    fn clause_by_clause() {
        check(
            serde_json::json!({"kyc": "verified"}),
            &[("kyc-verified", "holds"), ("us-sector-research", "does not hold"), ("overflow", "error")],
            true,
        );
        check(
            serde_json::json!({"kyc": "pending", "country": "US", "sector": "research"}),
            &[("kyc-verified", "does not hold"), ("us-sector-research", "holds"), ("overflow", "error")],
            true,
        );
        check(
            serde_json::json!({"kyc": "pending"}),
            &[("kyc-verified", "does not hold"), ("us-sector-research", "does not hold"), ("overflow", "error")],
            false,
        );
    }

    #[test]
    fn attributes_off_schema_are_named() {
        let schema = CedarSchema::default_schema().unwrap();
        let attributes = serde_json::json!({"kyc": 1});
        let input = CriteriaCheckInput {
            policies: CRITERIA,
            customer_id: "me",
            attributes: attributes.as_object().unwrap(),
            model: "m",
            end_user: None,
        };
        let err = check_criteria(&schema, &input).unwrap_err().to_string();
        assert!(err.starts_with("customer attributes: in attribute `kyc`"), "{err}");
    }
}
