//! Cedar policies: the schema, criteria (permit) and directives (forbid).
//!
//! Policy text is compiled once, when it is published, into a [`CompiledPolicies`] that keeps the
//! parsed Cedar policy set, its content hash and its clause ids. Evaluation builds the smallest
//! Cedar input that a decision needs (one customer, one model, the end-user context), so its cost
//! does not depend on how many customers exist (see `cedar-measured.md`: one `Entities` for all
//! customers would take minutes to build at ten million).

use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{
    Authorizer, Context, Effect, Entities, EntityUid, PolicySet, Request, Schema, ValidationMode, Validator,
};
use miette::Diagnostic;
use sha2::Digest;

use crate::error::{PolicyDiagnostic, PolicyError, SourceLocation};

/// The schema every deployment starts with; `serve` can replace it with its own file.
///
/// Every attribute is optional, so strict validation makes policy authors guard each access with
/// `has`; an unguarded access is rejected when the policy is published, not discovered when a
/// request arrives.
pub const DEFAULT_SCHEMA: &str = r#"// Portcullis default schema: what criteria and directives can talk about.
// Customer attributes are set by the provider; end-user attributes come from a signed attestation.
entity Customer = {
  "country"?: String,
  "kyc"?: String,
  "sector"?: String,
  "tier"?: String,
  "us_person"?: Bool,
  "sanctions_screened"?: Bool,
};
entity Model;
type EndUser = {
  "nationalities"?: Set<String>,
  "residency"?: String,
  "us_person"?: Bool,
  "identity_verified"?: Bool,
  "age_over_18"?: Bool,
};
action invoke appliesTo {
  principal: [Customer],
  resource: [Model],
  context: {
    // `valid`, `missing`, `malformed`, `expired`, `untrusted` or `wrong_audience`.
    "attestation": String,
    // Present only when the attestation is valid.
    "end_user"?: EndUser,
  }
};
"#;

/// A parsed Cedar schema and the action every request uses.
#[derive(Clone, Debug)]
pub struct CedarSchema {
    schema: Schema,
    action: EntityUid,
    text: Arc<str>,
}

impl CedarSchema {
    /// Parses a schema in Cedar's human-readable schema syntax.
    ///
    /// # Errors
    ///
    /// Returns a [`PolicyError`] with line and column when the text does not parse, or when it
    /// lacks the `Customer` and `Model` entity types or the `invoke` action.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let (schema, _warnings) = Schema::from_cedarschema_str(text)
            .map_err(|err| PolicyError { diagnostics: diagnostics_of(&err, text) })?;
        let action = EntityUid::from_str(r#"Action::"invoke""#).map_err(|err| PolicyError {
            diagnostics: vec![PolicyDiagnostic { location: None, message: err.to_string() }],
        })?;
        let this = Self { schema, action, text: Arc::from(text) };
        // Probe the schema with an empty customer so a schema without the types we need fails
        // here, at start, rather than on the first request.
        this.entities("probe", &serde_json::Map::new(), "probe").map_err(|message| PolicyError {
            diagnostics: vec![PolicyDiagnostic {
                location: None,
                message: format!(
                    "schema must declare `entity Customer`, `entity Model` and `action invoke`: {message}"
                ),
            }],
        })?;
        Ok(this)
    }

    /// The built-in [`DEFAULT_SCHEMA`].
    ///
    /// # Errors
    ///
    /// Never in practice; the default schema is covered by a test.
    pub fn default_schema() -> Result<Self, PolicyError> {
        Self::parse(DEFAULT_SCHEMA)
    }

    /// The schema's source text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Checks customer attributes against the schema's `Customer` type.
    ///
    /// # Errors
    ///
    /// Returns a one-line message naming the attribute that does not fit.
    pub fn check_customer_attributes(
        &self,
        attributes: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), String> {
        // The check entity's own name is noise in the message; the attribute is what matters.
        self.entities("check", attributes, "check")
            .map(|_| ())
            .map_err(|message| message.replace(" on `Customer::\"check\"`", ""))
    }

    /// Checks an end-user record against the schema's `EndUser` context type.
    ///
    /// # Errors
    ///
    /// Returns a one-line message naming what does not fit.
    pub fn check_end_user(&self, end_user: &serde_json::Map<String, serde_json::Value>) -> Result<(), String> {
        let context = serde_json::json!({ "attestation": "valid", "end_user": end_user });
        let context = Context::from_json_value(context, Some((&self.schema, &self.action)))
            .map_err(|err| one_line(&err.to_string()))?;
        // Parsing alone does not type-check every attribute; building a request against the
        // schema does.
        let principal = entity_uid("Customer", "check")?;
        let resource = entity_uid("Model", "check")?;
        Request::new(principal, self.action.clone(), resource, context, Some(&self.schema))
            .map(|_| ())
            .map_err(|err| one_line(&err.to_string()))
    }

    fn entities(
        &self,
        customer_id: &str,
        attributes: &serde_json::Map<String, serde_json::Value>,
        model: &str,
    ) -> Result<Entities, String> {
        let json = serde_json::json!([
            { "uid": { "type": "Customer", "id": customer_id }, "attrs": attributes, "parents": [] },
            { "uid": { "type": "Model", "id": model }, "attrs": {}, "parents": [] },
        ]);
        Entities::from_json_value(json, Some(&self.schema)).map_err(|err| innermost(&err))
    }
}

/// Which kind of policy text is being compiled; each kind allows one effect only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyKind {
    /// A model's published criteria: `permit` policies only.
    Criteria,
    /// A directive: `forbid` policies only.
    Directive,
}

/// One policy of a set, with the stable id that decisions cite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clause {
    /// The `@id("…")` annotation, or Cedar's positional id (`policy0`, …) when absent.
    pub clause_id: String,
    /// The `@description("…")` annotation, if any.
    pub description: Option<String>,
}

/// Policy text compiled and validated against the schema.
#[derive(Clone, Debug)]
pub struct CompiledPolicies {
    policy_set: PolicySet,
    text: Arc<str>,
    content_hash: String,
    clauses: Vec<(cedar_policy::PolicyId, Clause)>,
    mentions_entity_literal: bool,
}

/// What Cedar said about one policy set for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation {
    /// The clauses whose conditions held (for criteria: the permits that admitted the request;
    /// for a directive: the forbids that cut it).
    pub matched: Vec<String>,
    /// Clauses that failed to evaluate, with Cedar's message. The caller must fail closed.
    pub errors: Vec<String>,
    /// The ids of the clauses that failed to evaluate.
    pub errored: Vec<String>,
}

/// The per-request facts that Cedar sees besides the customer and the model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EndUserContext {
    /// The attestation status: `valid`, `missing`, `malformed`, `expired`, `untrusted`, `wrong_audience`.
    pub attestation: &'static str,
    /// The attested attributes, canonical JSON (sorted keys); `None` unless the attestation is valid.
    pub end_user_json: Option<Arc<str>>,
    /// A small number standing for `end_user_json` (0 when there are no attributes, `u32::MAX`
    /// when not interned), so memo keys and request counters need not hash the JSON; stable
    /// across snapshots (INVARIANT `end-user-class` in `snapshot.rs`).
    pub end_user_class: u32,
}

impl CompiledPolicies {
    /// Parses and validates policy text of the given kind.
    ///
    /// # Errors
    ///
    /// Returns a [`PolicyError`] listing each problem with its line and column: a parse error,
    /// a schema validation error (including an attribute read without a `has` guard), an empty
    /// set, or a policy with the wrong effect for its kind.
    pub fn compile(schema: &CedarSchema, kind: PolicyKind, text: &str) -> Result<Self, PolicyError> {
        let policy_set =
            PolicySet::from_str(text).map_err(|err| PolicyError { diagnostics: diagnostics_of(&err, text) })?;
        let mut diagnostics = Vec::new();
        let mut clauses = Vec::new();
        let mut mentions_entity_literal = false;
        let starts = policy_starts(text);
        let mut policies: Vec<&cedar_policy::Policy> = policy_set.policies().collect();
        // Cedar names policies `policy0`, `policy1`, … in source order; sort by that number so
        // clauses are reported in the order they were written.
        policies
            .sort_by_key(|p| p.id().to_string().trim_start_matches("policy").parse::<usize>().unwrap_or(usize::MAX));
        for (position, policy) in policies.into_iter().enumerate() {
            let location = starts.get(position).map(|offset| SourceLocation::of_offset(text, *offset));
            let (wanted, word) = match kind {
                PolicyKind::Criteria => (Effect::Permit, "criteria may only contain `permit` policies"),
                PolicyKind::Directive => (Effect::Forbid, "a directive may only contain `forbid` policies"),
            };
            if policy.effect() != wanted {
                diagnostics.push(PolicyDiagnostic { location, message: word.to_owned() });
            }
            if !policy.is_static() {
                diagnostics.push(PolicyDiagnostic { location, message: "templates are not supported here".to_owned() });
            }
            if kind == PolicyKind::Directive && policy.to_json().is_ok_and(|json| is_blanket(&json)) {
                diagnostics.push(PolicyDiagnostic {
                    location,
                    message: "a directive must narrow access: add a `when` or `unless` condition on attributes or \
                              name the customers; to stop a model for everyone, suspend it instead"
                        .to_owned(),
                });
            }
            mentions_entity_literal |= policy
                .to_json()
                .map(|json| mentions_non_action_entity(&json))
                // If the policy cannot be rendered, assume the worst: no memoisation.
                .unwrap_or(true);
            let clause_id = policy.annotation("id").map_or_else(|| policy.id().to_string(), str::to_owned);
            if let Some((_, dup)) = clauses.iter().find(|(_, c): &&(_, Clause)| c.clause_id == clause_id) {
                diagnostics.push(PolicyDiagnostic {
                    location,
                    message: format!("clause id `{}` is used twice", dup.clause_id),
                });
            }
            clauses.push((
                policy.id().clone(),
                Clause { clause_id, description: policy.annotation("description").map(str::to_owned) },
            ));
        }
        if clauses.is_empty() {
            diagnostics.push(PolicyDiagnostic { location: None, message: "no policies found".to_owned() });
        }
        let validation = Validator::new(schema.schema.clone()).validate(&policy_set, ValidationMode::Strict);
        for err in validation.validation_errors() {
            let location = first_offset(err).map(|offset| SourceLocation::of_offset(text, offset));
            diagnostics.push(PolicyDiagnostic { location, message: diagnostic_message(err) });
        }
        if !diagnostics.is_empty() {
            diagnostics.sort_by_key(|d| d.location.map(|l| (l.line, l.column)));
            return Err(PolicyError { diagnostics });
        }
        let content_hash = crate::ids::hex(&sha2::Sha256::digest(text.as_bytes()));
        Ok(Self { policy_set, text: Arc::from(text), content_hash, clauses, mentions_entity_literal })
    }

    /// The policy text as published.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// SHA-256 of the text, lowercase hex: the content address of this version.
    pub fn content_hash(&self) -> &str {
        &self.content_hash
    }

    /// The clauses, in source order.
    pub fn clauses(&self) -> impl Iterator<Item = &Clause> {
        self.clauses.iter().map(|(_, clause)| clause)
    }

    /// Whether a policy names a specific entity other than an action or a model (e.g.
    /// `principal == Customer::"acme"`).
    ///
    /// When it does not, the outcome depends only on the customer's attributes, the model and the
    /// end-user context, so it can be memoised per (model, attribute class, end-user class). A
    /// model literal (`resource == Model::"frontier"`) is fine: memo slots are per model.
    pub fn mentions_entity_literal(&self) -> bool {
        self.mentions_entity_literal
    }

    /// Evaluates the set for one customer, one model and the end-user context.
    ///
    /// Deny is a value: the result lists matched clauses and errors, and the caller decides
    /// (criteria admit when some clause matched; a directive cuts when some clause matched *or*
    /// any clause errored).
    pub fn evaluate(
        &self,
        schema: &CedarSchema,
        customer_id: &str,
        customer_attributes: &serde_json::Map<String, serde_json::Value>,
        model: &str,
        end_user: &EndUserContext,
    ) -> Evaluation {
        match self.try_evaluate(schema, customer_id, customer_attributes, model, end_user) {
            Ok(evaluation) => evaluation,
            Err(message) => Evaluation { matched: Vec::new(), errors: vec![message], errored: Vec::new() },
        }
    }

    fn try_evaluate(
        &self,
        schema: &CedarSchema,
        customer_id: &str,
        customer_attributes: &serde_json::Map<String, serde_json::Value>,
        model: &str,
        end_user: &EndUserContext,
    ) -> Result<Evaluation, String> {
        let entities = schema.entities(customer_id, customer_attributes, model)?;
        let mut context = serde_json::Map::new();
        context.insert("attestation".to_owned(), end_user.attestation.into());
        if let Some(json) = &end_user.end_user_json {
            let value: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
            context.insert("end_user".to_owned(), value);
        }
        let context =
            Context::from_json_value(serde_json::Value::Object(context), Some((&schema.schema, &schema.action)))
                .map_err(|err| one_line(&err.to_string()))?;
        let principal = entity_uid("Customer", customer_id)?;
        let resource = entity_uid("Model", model)?;
        let request = Request::new(principal, schema.action.clone(), resource, context, Some(&schema.schema))
            .map_err(|err| one_line(&err.to_string()))?;
        let response = Authorizer::new().is_authorized(&request, &self.policy_set, &entities);
        let matched = response.diagnostics().reason().map(|id| self.clause_id(id)).collect();
        let mut errors = Vec::new();
        let mut errored = Vec::new();
        for err in response.diagnostics().errors() {
            let cedar_policy::AuthorizationError::PolicyEvaluationError(e) = err;
            let clause_id = self.clause_id(e.policy_id());
            errors.push(format!("clause `{clause_id}`: {}", one_line(&e.to_string())));
            errored.push(clause_id);
        }
        Ok(Evaluation { matched, errors, errored })
    }

    fn clause_id(&self, policy_id: &cedar_policy::PolicyId) -> String {
        self.clauses
            .iter()
            .find(|(id, _)| id == policy_id)
            .map_or_else(|| policy_id.to_string(), |(_, clause)| clause.clause_id.clone())
    }
}

/// Byte offsets where each policy's effect keyword (`permit` or `forbid`) starts, skipping
/// comments and string literals. Cedar's public API does not expose a policy's source span.
fn policy_starts(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut starts = Vec::new();
    let mut i = 0;
    let mut depth = 0_usize;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while bytes.get(i).is_some_and(|c| *c != b'\n') {
                    i += 1;
                }
            }
            b'"' => {
                i += 1;
                while let Some(&c) = bytes.get(i) {
                    if c == b'\\' {
                        i += 1;
                    } else if c == b'"' {
                        break;
                    }
                    i += 1;
                }
            }
            b'(' | b'{' | b'[' => depth += 1,
            b')' | b'}' | b']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => {
                let rest = text.get(i..).unwrap_or("");
                let boundary = i == 0 || bytes.get(i - 1).is_some_and(|c| !(c.is_ascii_alphanumeric() || *c == b'_'));
                if boundary && (rest.starts_with("permit") || rest.starts_with("forbid")) {
                    starts.push(i);
                    i += 6;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    starts
}

fn entity_uid(type_name: &str, id: &str) -> Result<EntityUid, String> {
    let type_name = cedar_policy::EntityTypeName::from_str(type_name).map_err(|e| one_line(&e.to_string()))?;
    Ok(EntityUid::from_type_name_and_id(type_name, cedar_policy::EntityId::new(id)))
}

/// Walks a policy's JSON form looking for an entity literal whose outcome could differ between
/// customers of one attribute class: any entity type but actions and models.
fn mentions_non_action_entity(json: &serde_json::Value) -> bool {
    match json {
        serde_json::Value::Object(map) => {
            let is_literal = |v: &serde_json::Value| {
                v.get("type")
                    .and_then(serde_json::Value::as_str)
                    .is_some_and(|t| !matches!(t.rsplit("::").next(), Some("Action" | "Model")))
                    && v.get("id").is_some()
            };
            if map.get("entity").is_some_and(is_literal) || map.get("__entity").is_some_and(is_literal) {
                return true;
            }
            if map.get("entities").and_then(serde_json::Value::as_array).is_some_and(|a| a.iter().any(is_literal)) {
                return true;
            }
            map.values().any(mentions_non_action_entity)
        }
        serde_json::Value::Array(items) => items.iter().any(mentions_non_action_entity),
        _ => false,
    }
}

fn first_offset(diagnostic: &dyn Diagnostic) -> Option<usize> {
    diagnostic.labels().and_then(|mut labels| labels.next()).map(|label| label.offset())
}

fn diagnostic_message(diagnostic: &dyn Diagnostic) -> String {
    let mut message = one_line(&diagnostic.to_string());
    if let Some(help) = diagnostic.help() {
        message.push_str(" (");
        message.push_str(&one_line(&help.to_string()));
        message.push(')');
    }
    message
}

/// Turns a Cedar error (a single diagnostic, or a collection of them) into located diagnostics.
fn diagnostics_of(err: &dyn Diagnostic, text: &str) -> Vec<PolicyDiagnostic> {
    let related: Vec<&dyn Diagnostic> = err.related().map(Iterator::collect).unwrap_or_default();
    let mut out = Vec::new();
    let mut push = |d: &dyn Diagnostic| {
        out.push(PolicyDiagnostic {
            location: first_offset(d).map(|offset| SourceLocation::of_offset(text, offset)),
            message: diagnostic_message(d),
        });
    };
    push(err);
    for d in related {
        push(d);
    }
    out.dedup();
    out
}

/// The innermost cause of an error, on one line: Cedar's top-level messages are generic ("entity
/// does not conform to the schema") and the useful part is in the source.
fn innermost(err: &dyn std::error::Error) -> String {
    let mut current = err;
    while let Some(inner) = current.source() {
        current = inner;
    }
    one_line(&current.to_string())
}

fn one_line(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    joined.trim_end_matches('.').to_owned()
}

/// Whether a directive's clause (Cedar's JSON form) would cut every customer's requests: its
/// scope names no customer and no condition reads the customer (`principal`) or the request
/// (`context`). So `when { true }`, `unless { false }` or a condition on the model alone
/// (`resource`) are blanket, like no condition at all. The check is syntactic: a condition that
/// reads an attribute and is always true anyway (`principal has kyc || true`) passes; the impact
/// preview shows what such a directive would cut before it is issued.
fn is_blanket(json: &serde_json::Value) -> bool {
    let any_principal = json.pointer("/principal/op").and_then(serde_json::Value::as_str) == Some("All");
    let narrowed = json
        .get("conditions")
        .and_then(serde_json::Value::as_array)
        .is_some_and(|conditions| conditions.iter().any(reads_customer_or_request));
    any_principal && !narrowed
}

/// Whether an expression of Cedar's JSON form reads the `principal` or `context` variable
/// anywhere within it.
fn reads_customer_or_request(expression: &serde_json::Value) -> bool {
    match expression {
        serde_json::Value::Object(map) => map.iter().any(|(key, value)| {
            (key == "Var" && matches!(value.as_str(), Some("principal" | "context")))
                || reads_customer_or_request(value)
        }),
        serde_json::Value::Array(items) => items.iter().any(reads_customer_or_request),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> CedarSchema {
        CedarSchema::default_schema().unwrap()
    }

    #[track_caller]
    fn check_rejected(kind: PolicyKind, text: &str, expect: &str) {
        let err = CompiledPolicies::compile(&schema(), kind, text).unwrap_err();
        let rendered = err.to_string();
        assert!(rendered.contains(expect), "expected `{expect}` in `{rendered}`");
    }

    #[test]
    fn default_schema_parses() {
        let schema = schema();
        assert!(schema.check_customer_attributes(&serde_json::Map::new()).is_ok());
    }

    #[test]
    fn rejections_name_line_and_column() {
        check_rejected(
            PolicyKind::Criteria,
            "permit(principal, action, resource)\nwhen { principal.kyc == };",
            "line 2",
        );
        check_rejected(
            PolicyKind::Criteria,
            "forbid(principal, action, resource);",
            "criteria may only contain `permit` policies",
        );
        check_rejected(
            PolicyKind::Directive,
            "permit(principal, action, resource);",
            "a directive may only contain `forbid` policies",
        );
        // Unguarded optional attribute: strict validation refuses it at publication time.
        check_rejected(
            PolicyKind::Directive,
            "forbid(principal, action, resource)\nunless { context.end_user.us_person };",
            "line 2",
        );
        check_rejected(PolicyKind::Criteria, "", "no policies found");
        check_rejected(
            PolicyKind::Criteria,
            "@id(\"a\") permit(principal, action, resource);\n@id(\"a\") permit(principal, action, resource);",
            "clause id `a` is used twice",
        );
    }

    #[test]
    fn entity_literals_are_detected() {
        let s = schema();
        let generic = CompiledPolicies::compile(&s, PolicyKind::Criteria, "permit(principal, action == Action::\"invoke\", resource) when { principal has kyc && principal.kyc == \"verified\" };").unwrap();
        assert!(!generic.mentions_entity_literal());
        let specific = CompiledPolicies::compile(
            &s,
            PolicyKind::Criteria,
            "permit(principal == Customer::\"acme\", action, resource);",
        )
        .unwrap();
        assert!(specific.mentions_entity_literal());
        let in_condition = CompiledPolicies::compile(
            &s,
            PolicyKind::Directive,
            "forbid(principal, action, resource) when { principal == Customer::\"acme\" };",
        )
        .unwrap();
        assert!(in_condition.mentions_entity_literal());
        // Memo slots are per model, so a model literal does not prevent memoisation.
        let model_literal = CompiledPolicies::compile(
            &s,
            PolicyKind::Directive,
            "forbid(principal, action, resource == Model::\"frontier\") unless { context has end_user };",
        )
        .unwrap();
        assert!(!model_literal.mentions_entity_literal());
    }
}
