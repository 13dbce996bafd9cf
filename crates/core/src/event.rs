//! Events: every change to the governance state, the source of truth.
//!
//! State is derived by replaying events in sequence ([`crate::State::apply`]). The JSON encoding
//! here (internally tagged by `type`, fields in declaration order) is the canonical stored form;
//! [`EventRecord::public_json`] is the form that may be published, with secrets' hashes removed.

use serde::{Deserialize, Serialize};

use crate::account::{LoginName, PasswordHash};
use crate::appeal::{AppealOutcome, AppealSubject, OfficialRef};
use crate::application::Verdict;
use crate::attester::AttesterPublicKey;
use crate::evidence::Evidence;
use crate::ids::{
    AppealId, ApplicationId, AttesterId, AttesterKeyId, AuthorityId, CustomerId, DirectiveId, KeyId, ModelName,
    OfficialName, SecretHash, Timestamp, TokenId,
};
use crate::notice::NoticeRegarding;
use crate::procedure::{Clearance, Procedure, ReviewVerdict};
use crate::stage::Stage;

/// Who performed an action, as recorded in the event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Actor {
    /// The provider (the lab) operating the gateway.
    Provider {
        /// A label for the operator credential used.
        name: String,
    },
    /// A named official of an authority.
    Authority {
        /// The authority.
        authority: AuthorityId,
        /// The official.
        official: OfficialName,
    },
    /// A customer acting on its own account.
    Customer {
        /// The customer.
        customer: CustomerId,
    },
}

impl Actor {
    /// A short description for messages, e.g. `authority bis (j.doe)`.
    pub fn describe(&self) -> String {
        match self {
            Actor::Provider { name } => format!("provider ({name})"),
            Actor::Authority { authority, official } => format!("authority {authority} ({official})"),
            Actor::Customer { customer } => format!("customer {customer}"),
        }
    }
}

/// Where a model's traffic goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upstream {
    /// Base URL of an OpenAI-compatible API, up to and including `/v1`, e.g. `http://127.0.0.1:8000/v1`.
    pub base_url: String,
    /// The model name to send upstream; defaults to the public model name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_model: Option<String>,
    /// Name of the environment variable holding the upstream API key (the key itself is never stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
}

/// One deployment of a model: an OpenAI-compatible upstream serving it. A model's deployments
/// are tried in order; the gateway skips one that is ejected or cut off (runtime health, kept
/// per replica and never in events).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// A name unique within the model, e.g. `hosted` or `self-hosted-a`; it names the deployment
    /// in response headers, metrics and the operator's health view.
    pub name: String,
    /// Where the traffic goes.
    #[serde(flatten)]
    pub upstream: Upstream,
}

impl Deployment {
    /// The name a model's single upstream gets as a deployment (`RegisterModel`, `SetUpstream`).
    pub const DEFAULT_NAME: &'static str = "default";
}

/// The models a directive applies to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DirectiveScope {
    /// Every model, present and future.
    AllModels,
    /// The listed models.
    Models {
        /// The models.
        models: Vec<ModelName>,
    },
}

/// A governance change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A customer was registered.
    CustomerCreated {
        /// Its id.
        customer: CustomerId,
        /// Its display name.
        name: String,
        /// Its attributes (criteria and directives read them).
        attributes: serde_json::Map<String, serde_json::Value>,
    },
    /// A customer's attributes were replaced.
    CustomerAttributesSet {
        /// The customer.
        customer: CustomerId,
        /// The new attributes.
        attributes: serde_json::Map<String, serde_json::Value>,
    },
    /// An API key was issued to a customer.
    KeyIssued {
        /// The key's public id.
        key_id: KeyId,
        /// The owner.
        customer: CustomerId,
        /// A label chosen by the issuer.
        label: String,
        /// SHA-256 of the key; never published.
        key_hash: SecretHash,
    },
    /// An API key was revoked.
    KeyRevoked {
        /// The key's public id.
        key_id: KeyId,
        /// Why.
        reason: String,
    },
    /// An authority was registered.
    AuthorityRegistered {
        /// Its id.
        authority: AuthorityId,
        /// Its name.
        name: String,
    },
    /// An official of an authority received a role token.
    OfficialTokenIssued {
        /// The token's public id.
        token_id: TokenId,
        /// The authority.
        authority: AuthorityId,
        /// The official.
        official: OfficialName,
        /// SHA-256 of the token; never published.
        token_hash: SecretHash,
    },
    /// A model was registered (in `draft`).
    ModelRegistered {
        /// Its public name.
        model: ModelName,
        /// A description.
        description: String,
        /// Where its traffic goes.
        upstream: Upstream,
    },
    /// A model's upstream was replaced.
    UpstreamSet {
        /// The model.
        model: ModelName,
        /// The new upstream.
        upstream: Upstream,
    },
    /// A model moved between stages.
    StageChanged {
        /// The model.
        model: ModelName,
        /// The stage it left.
        from: Stage,
        /// The stage it entered.
        to: Stage,
        /// Why.
        reason: String,
        /// When entering `review`: when the review clock runs out.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        review_ends_at: Option<Timestamp>,
        /// When leaving `review` for `preview` or `general`: how it was cleared.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clearance: Option<Clearance>,
    },
    /// A criteria version was published for a model.
    CriteriaPublished {
        /// The model.
        model: ModelName,
        /// Version number, 1 for the first.
        version: u32,
        /// SHA-256 of `policies`, lowercase hex.
        content_hash: String,
        /// Human-readable text of the criteria.
        text: String,
        /// The Cedar policies.
        policies: String,
    },
    /// A customer was granted access to a model.
    GrantIssued {
        /// The customer.
        customer: CustomerId,
        /// The model.
        model: ModelName,
        /// When the grant lapses, if time-bound.
        expires_at: Option<Timestamp>,
        /// Why.
        reason: String,
        /// The application whose approval issued it, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        application: Option<ApplicationId>,
        /// The appeal whose decision restored it, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        appeal: Option<AppealId>,
    },
    /// A customer's grant was revoked.
    GrantRevoked {
        /// The customer.
        customer: CustomerId,
        /// The model.
        model: ModelName,
        /// From when the revocation applies (after the notice period).
        effective_at: Timestamp,
        /// Why.
        reason: String,
        /// The directive that required a shorter notice than the model's procedure gives.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        directive: Option<DirectiveId>,
    },
    /// An authority issued a directive.
    DirectiveIssued {
        /// Its id.
        directive: DirectiveId,
        /// The issuing authority.
        issuer: AuthorityId,
        /// The legal basis cited.
        legal_basis: String,
        /// What it orders, in words.
        description: String,
        /// The models it applies to.
        scope: DirectiveScope,
        /// The Cedar `forbid` policies.
        policies: String,
        /// SHA-256 of `policies`, lowercase hex.
        content_hash: String,
        /// When it was issued.
        issued_at: Timestamp,
        /// When it takes effect; `effective_at - issued_at` is the notice period.
        effective_at: Timestamp,
        /// When it lapses, if it does.
        expires_at: Option<Timestamp>,
        /// Required when the notice period is zero.
        emergency_justification: Option<String>,
        /// Its evidence.
        evidence: Vec<Evidence>,
    },
    /// A directive was lifted.
    DirectiveLifted {
        /// The directive.
        directive: DirectiveId,
        /// Why.
        reason: String,
    },
    /// A model's procedure (sign-off quorum and periods) was set.
    ProcedureSet {
        /// The model.
        model: ModelName,
        /// The procedure.
        procedure: Procedure,
    },
    /// An authority cleared a model in review, or objected to it.
    ReviewPositionRecorded {
        /// The model.
        model: ModelName,
        /// Clear or object.
        verdict: ReviewVerdict,
        /// Why.
        reasons: String,
    },
    /// A customer applied for access to a model.
    ApplicationSubmitted {
        /// The application.
        application: ApplicationId,
        /// The applicant.
        customer: CustomerId,
        /// The model.
        model: ModelName,
        /// The stated purpose.
        purpose: String,
        /// The criteria version published at the time, if any.
        criteria_version: Option<u32>,
        /// When the decision is due.
        due_at: Timestamp,
    },
    /// An authority took an application up for review.
    ApplicationReviewStarted {
        /// The application.
        application: ApplicationId,
    },
    /// An authority asked the applicant for more information (the decision clock pauses).
    ApplicationInfoRequested {
        /// The application.
        application: ApplicationId,
        /// What is asked.
        question: String,
    },
    /// The applicant changed its application; sign-offs start again.
    ApplicationAmended {
        /// The application.
        application: ApplicationId,
        /// The new purpose (with any answer to a request for information).
        purpose: String,
        /// When the decision is now due.
        due_at: Timestamp,
    },
    /// An official signed off on an application for its authority.
    ApplicationSignedOff {
        /// The application.
        application: ApplicationId,
        /// Approve or deny.
        verdict: Verdict,
        /// Why.
        reasons: String,
        /// Criteria clauses relied on.
        clauses: Vec<String>,
        /// Evidence cited.
        evidence: Vec<Evidence>,
        /// For an approval: the latest the grant should last, if time-bound.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        grant_expires_at: Option<Timestamp>,
    },
    /// An application was decided (the quorum approved, or can no longer approve).
    ApplicationDecided {
        /// The application.
        application: ApplicationId,
        /// Approved or denied.
        outcome: Verdict,
        /// The criteria version relied on.
        criteria_version: u32,
        /// Its content hash.
        criteria_hash: String,
        /// Clauses cited by the sign-offs.
        clauses: Vec<String>,
        /// For an approval: when the grant lapses.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        grant_expires_at: Option<Timestamp>,
        /// For a denial: the last moment to appeal.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        appeal_by: Option<Timestamp>,
        /// Whether decided on appeal.
        #[serde(default)]
        on_appeal: bool,
    },
    /// The applicant withdrew its application.
    ApplicationWithdrawn {
        /// The application.
        application: ApplicationId,
        /// Why.
        reason: String,
    },
    /// A notice of an action was sent.
    NoticeSent {
        /// The customers notified.
        recipients: Vec<CustomerId>,
        /// Whether it is also published to everyone.
        public: bool,
        /// What it is about.
        regarding: NoticeRegarding,
        /// What it says.
        text: String,
        /// When the action takes effect.
        effective_at: Timestamp,
        /// The last moment to appeal, if the action can be appealed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        appeal_by: Option<Timestamp>,
    },
    /// A customer appealed an adverse action.
    AppealFiled {
        /// The appeal.
        appeal: AppealId,
        /// The appellant.
        customer: CustomerId,
        /// What is appealed.
        subject: AppealSubject,
        /// The authority that decides it.
        authority: AuthorityId,
        /// Who took the original action (they may not decide the appeal).
        original_deciders: Vec<OfficialRef>,
        /// The grounds.
        grounds: String,
        /// When the decision is due.
        due_at: Timestamp,
        /// Whether the original action stays in force while the appeal is pending.
        original_in_force: bool,
    },
    /// An appeal was decided.
    AppealDecided {
        /// The appeal.
        appeal: AppealId,
        /// Upheld, reversed or modified.
        outcome: AppealOutcome,
        /// Why.
        reasons: String,
        /// Evidence cited.
        evidence: Vec<Evidence>,
        /// For `modified`: until when access is restored.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        relief_until: Option<Timestamp>,
    },
    /// A customer was exempted from a directive (an appeal against it was allowed).
    DirectiveExemptionGranted {
        /// The directive.
        directive: DirectiveId,
        /// The customer.
        customer: CustomerId,
        /// Until when, if limited.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<Timestamp>,
        /// The appeal that allowed it.
        appeal: AppealId,
    },
    /// The provider registered an attester of end-user attributes.
    AttesterRegistered {
        /// Its id, the `iss` of its tokens.
        attester: AttesterId,
        /// Its display name.
        name: String,
    },
    /// A key was added to an attester; tokens it signs are trusted until `not_after`.
    AttesterKeyAdded {
        /// The attester.
        attester: AttesterId,
        /// The key's id, unique within the attester.
        key_id: AttesterKeyId,
        /// The Ed25519 public key (public by nature, so it is logged).
        public_key: AttesterPublicKey,
        /// Tokens are refused from this time on, if set.
        not_after: Option<Timestamp>,
    },
    /// An attester's key was revoked; tokens it signed are `untrusted` from then on.
    AttesterKeyRevoked {
        /// The attester.
        attester: AttesterId,
        /// The key.
        key_id: AttesterKeyId,
        /// Why.
        reason: String,
    },
    /// A customer's (or one of its keys') rate limits and token budget were set.
    LimitsSet {
        /// The customer.
        customer: CustomerId,
        /// The key, when the limits are the key's own.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_id: Option<KeyId>,
        /// The limits.
        limits: crate::limits::Limits,
    },
    /// A model's deployments were replaced (tried in order; the first is the primary).
    DeploymentsSet {
        /// The model.
        model: ModelName,
        /// At least one deployment, names unique.
        deployments: Vec<Deployment>,
    },
    /// A model's fallback chain was replaced: the models tried, in order, when none of its own
    /// deployments can serve a request (each decided for the caller like a direct request).
    FallbacksSet {
        /// The model.
        model: ModelName,
        /// The fallback models, possibly none.
        fallbacks: Vec<ModelName>,
    },
    /// A login account was created for an actor (the web portals' password credential).
    AccountCreated {
        /// The login name.
        login: LoginName,
        /// Who signs in through it.
        holder: Actor,
        /// The password's argon2id hash (PHC string); never published.
        password_hash: PasswordHash,
    },
    /// An account was disabled: it can no longer sign in, and its sessions end.
    AccountDisabled {
        /// The login name.
        login: LoginName,
        /// Why.
        reason: String,
    },
    /// An account's password was replaced (by its holder, or by the provider).
    AccountPasswordChanged {
        /// The login name.
        login: LoginName,
        /// The new password's argon2id hash (PHC string); never published.
        password_hash: PasswordHash,
    },
}

impl Event {
    /// The event's type name, e.g. `directive_issued`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::CustomerCreated { .. } => "customer_created",
            Event::CustomerAttributesSet { .. } => "customer_attributes_set",
            Event::KeyIssued { .. } => "key_issued",
            Event::KeyRevoked { .. } => "key_revoked",
            Event::AuthorityRegistered { .. } => "authority_registered",
            Event::OfficialTokenIssued { .. } => "official_token_issued",
            Event::ModelRegistered { .. } => "model_registered",
            Event::UpstreamSet { .. } => "upstream_set",
            Event::StageChanged { .. } => "stage_changed",
            Event::CriteriaPublished { .. } => "criteria_published",
            Event::GrantIssued { .. } => "grant_issued",
            Event::GrantRevoked { .. } => "grant_revoked",
            Event::DirectiveIssued { .. } => "directive_issued",
            Event::DirectiveLifted { .. } => "directive_lifted",
            Event::ProcedureSet { .. } => "procedure_set",
            Event::ReviewPositionRecorded { .. } => "review_position_recorded",
            Event::ApplicationSubmitted { .. } => "application_submitted",
            Event::ApplicationReviewStarted { .. } => "application_review_started",
            Event::ApplicationInfoRequested { .. } => "application_info_requested",
            Event::ApplicationAmended { .. } => "application_amended",
            Event::ApplicationSignedOff { .. } => "application_signed_off",
            Event::ApplicationDecided { .. } => "application_decided",
            Event::ApplicationWithdrawn { .. } => "application_withdrawn",
            Event::NoticeSent { .. } => "notice_sent",
            Event::AppealFiled { .. } => "appeal_filed",
            Event::AppealDecided { .. } => "appeal_decided",
            Event::DirectiveExemptionGranted { .. } => "directive_exemption_granted",
            Event::AttesterRegistered { .. } => "attester_registered",
            Event::AttesterKeyAdded { .. } => "attester_key_added",
            Event::AttesterKeyRevoked { .. } => "attester_key_revoked",
            Event::LimitsSet { .. } => "limits_set",
            Event::DeploymentsSet { .. } => "deployments_set",
            Event::FallbacksSet { .. } => "fallbacks_set",
            Event::AccountCreated { .. } => "account_created",
            Event::AccountDisabled { .. } => "account_disabled",
            Event::AccountPasswordChanged { .. } => "account_password_changed",
        }
    }
}

/// An event with its place in the sequence, its time and its actor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Position in the event sequence, starting at 1, without gaps.
    pub seq: u64,
    /// When it was accepted.
    pub at: Timestamp,
    /// Who caused it.
    pub actor: Actor,
    /// What changed.
    pub event: Event,
}

/// Version of the canonical encoding; bump when a field changes meaning.
pub const ENCODING_VERSION: u32 = 1;

/// The largest log entry: a C2SP entry bundle frames entries with a 16-bit length.
pub const MAX_ENTRY_BYTES: usize = 65_535;

/// Strings longer than this are replaced by their digest when an entry would not fit.
const DIGEST_STRINGS_OVER: usize = 512;

impl EventRecord {
    /// The stored encoding (everything, including secret hashes).
    ///
    /// # Errors
    ///
    /// Only if JSON serialisation fails, which plain data does not.
    pub fn to_stored_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    /// Parses the stored encoding.
    ///
    /// # Errors
    ///
    /// Returns the JSON error when the text is not a stored event.
    pub fn from_stored_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The publishable form and the transparency-log entry: canonical JSON (keys sorted, no
    /// whitespace) of `{"v":1, "seq", "at", "actor", "event"}`, with key, token and password hashes removed
    /// so nothing derived from a secret leaves the operator's store.
    ///
    /// An entry must fit a C2SP entry bundle ([`MAX_ENTRY_BYTES`]). When it would not (long
    /// policy text), every string field of the event longer than 512 bytes is replaced by
    /// `{"sha256": "<hex of the UTF-8 text>", "bytes": <length>}`; the full text stays available
    /// from the admin API and anyone can check it against the digest.
    pub fn public_json(&self) -> String {
        let mut event = serde_json::to_value(&self.event).unwrap_or(serde_json::Value::Null);
        if let Some(map) = event.as_object_mut() {
            map.remove("key_hash");
            map.remove("token_hash");
            map.remove("password_hash");
        }
        let render = |event: &serde_json::Value| {
            canonical_json(&serde_json::json!({
                "v": ENCODING_VERSION,
                "seq": self.seq,
                "at": self.at,
                "actor": self.actor,
                "event": event,
            }))
        };
        let text = render(&event);
        if text.len() <= MAX_ENTRY_BYTES {
            return text;
        }
        if let Some(map) = event.as_object_mut() {
            for value in map.values_mut() {
                if let serde_json::Value::String(long) = value
                    && long.len() > DIGEST_STRINGS_OVER
                {
                    use sha2::Digest;
                    let digest = crate::ids::hex(&sha2::Sha256::digest(long.as_bytes()));
                    *value = serde_json::json!({ "sha256": digest, "bytes": long.len() });
                }
            }
        }
        render(&event)
    }
}

/// Serialises JSON with object keys sorted at every level and no insignificant whitespace, so
/// equal values always produce equal bytes (and equal hashes).
pub fn canonical_json(value: &serde_json::Value) -> String {
    // Cannot fail: a `Value`'s keys are strings and its numbers finite.
    serde_json::to_string(&Sorted(value)).unwrap_or_default()
}

/// A JSON value that serialises with its object keys sorted, through serde_json's own writer:
/// no string is built per key or scalar (start-up computes this for every stored event).
struct Sorted<'a>(&'a serde_json::Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap as _, SerializeSeq as _};
        match self.0 {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<(&String, &serde_json::Value)> = map.iter().collect();
                // Keys of one object are distinct, so an unstable sort gives the one order.
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                let mut out = serializer.serialize_map(Some(entries.len()))?;
                for (key, item) in entries {
                    out.serialize_entry(key, &Sorted(item))?;
                }
                out.end()
            }
            serde_json::Value::Array(items) => {
                let mut out = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    out.serialize_element(&Sorted(item))?;
                }
                out.end()
            }
            scalar => scalar.serialize(serializer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The canonical bytes are what the log hashes: a change here forks every verifier's view.
    /// Keys sorted at every level (by UTF-8 bytes), arrays kept in order, no whitespace, strings
    /// escaped as serde_json escapes them, non-ASCII kept as is.
    #[test]
    fn canonical_json_sorts_keys_at_every_level_and_keeps_bytes_stable() {
        let value = serde_json::json!({
            "zeta": [3, {"b": true, "a": null}, "x"],
            "alpha": {"é": "ü", "Z": -0.5, "a\"q": "line\nbreak\u{1}tab\t"},
            "": 18_446_744_073_709_551_615_u64,
            "mid": {"nested": {"z": 1e100, "y": -7}},
        });
        assert_eq!(
            canonical_json(&value),
            r#"{"":18446744073709551615,"alpha":{"Z":-0.5,"a\"q":"line\nbreak\u0001tab\t","é":"ü"},"mid":{"nested":{"y":-7,"z":1e+100}},"zeta":[3,{"a":null,"b":true},"x"]}"#
        );
    }

    #[test]
    fn long_policies_are_digested_to_fit_an_entry() {
        let policies = format!("// {}\nforbid (principal, action, resource);", "x".repeat(70_000));
        let record = EventRecord {
            seq: 1,
            at: Timestamp::from_millis(0),
            actor: Actor::Provider { name: "ops".to_owned() },
            event: Event::CriteriaPublished {
                model: ModelName::parse("m").unwrap(),
                version: 1,
                content_hash: "h".to_owned(),
                text: "short".to_owned(),
                policies: policies.clone(),
            },
        };
        let entry = record.public_json();
        assert!(entry.len() <= MAX_ENTRY_BYTES);
        assert!(entry.contains(r#""text":"short""#));
        use sha2::Digest;
        let digest = crate::ids::hex(&sha2::Sha256::digest(policies.as_bytes()));
        assert!(
            entry.contains(&format!(r#""policies":{{"bytes":{},"sha256":"{digest}"}}"#, policies.len())),
            "{entry}"
        );
    }

    #[test]
    fn public_form_drops_secret_hashes() {
        let record = EventRecord {
            seq: 7,
            at: Timestamp::from_millis(1000),
            actor: Actor::Provider { name: "ops".to_owned() },
            event: Event::KeyIssued {
                key_id: KeyId::parse("key_1").unwrap(),
                customer: CustomerId::parse("acme").unwrap(),
                label: "ci".to_owned(),
                key_hash: SecretHash::of_secret("pk_secret"),
            },
        };
        let stored = record.to_stored_json().unwrap();
        assert!(stored.contains("key_hash"));
        assert_eq!(EventRecord::from_stored_json(&stored).unwrap(), record);
        let public = record.public_json();
        assert_eq!(
            public,
            r#"{"actor":{"name":"ops","role":"provider"},"at":1000,"event":{"customer":"acme","key_id":"key_1","label":"ci","type":"key_issued"},"seq":7,"v":1}"#
        );
    }
}
