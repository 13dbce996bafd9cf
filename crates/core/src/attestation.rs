//! End-user attestations: compact JWS tokens signed with Ed25519 (`alg: EdDSA`, RFC 8037).
//!
//! A trusted identity verifier (an *attester*) signs a statement about the person behind a
//! request; the client sends it in the `Portcullis-Attestation` header. The claims are:
//!
//! | claim | meaning |
//! | --- | --- |
//! | `iss` | the attester id; one of its keys must be trusted ([`crate::attester`]) |
//! | `sub` | a pseudonymous end-user id (never shown in logs) |
//! | `aud` | optional: the customer id the token is for; another customer cannot replay it |
//! | `iat`, `exp` | issued-at and expiry, seconds since the epoch |
//! | `end_user` | the attested attributes, which must fit the schema's `EndUser` type |
//!
//! Anything wrong makes the attributes *unknown*, never "allowed by default": the outcome carries
//! a status (`missing`, `malformed`, `expired`, `untrusted`, `wrong_audience`) that directives
//! see as `context.attestation`, and no `end_user` record.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::ids::{AttesterId, Timestamp};
use crate::policy::{CedarSchema, EndUserContext};

/// The HTTP header that carries an attestation.
pub const ATTESTATION_HEADER: &str = "portcullis-attestation";

/// The longest token accepted; longer ones are `malformed` without being parsed.
pub const MAX_TOKEN_LEN: usize = 4096;

/// Allowed clock skew for `iat` in the future, in seconds.
const IAT_SKEW_SECS: i64 = 300;

/// One Ed25519 public key of an attester the gate knows; an attester with several keys (during a
/// rotation, say) appears once per key.
///
/// Revoked and expired keys are kept in the list the request path reads: a token they signed is
/// then reported as `untrusted` rather than `malformed` (see [`crate::attester`]).
#[derive(Clone, Debug)]
pub struct TrustedAttester {
    /// The attester id (`iss`).
    pub id: AttesterId,
    /// Its public key.
    pub key: VerifyingKey,
    /// Tokens are not accepted from this key at or after this time, if set.
    pub not_after: Option<Timestamp>,
    /// Revoked: tokens are not accepted from this key at all.
    pub revoked: bool,
}

impl TrustedAttester {
    /// Whether tokens signed with this key are accepted at `now`.
    pub fn usable_at(&self, now: Timestamp) -> bool {
        !self.revoked && self.not_after.is_none_or(|not_after| now < not_after)
    }
}

/// Why an attestation did not yield attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttestationProblem {
    /// No header was sent.
    Missing,
    /// Not a well-formed EdDSA JWS, bad signature, or claims that do not fit the schema.
    Malformed,
    /// Past its `exp` (or issued in the future).
    Expired,
    /// Signed by an unknown, revoked or expired attester key.
    Untrusted,
    /// Issued for another customer (`aud`).
    WrongAudience,
}

impl AttestationProblem {
    /// The status string directives see as `context.attestation`.
    pub fn status(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Expired => "expired",
            Self::Untrusted => "untrusted",
            Self::WrongAudience => "wrong_audience",
        }
    }
}

/// A verified attestation, before the per-request checks (`exp`, `aud`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedAttestation {
    /// Who signed it.
    pub attester: AttesterId,
    /// Canonical JSON (sorted keys) of the attested attributes.
    pub end_user_json: Arc<str>,
    /// `aud`, if present.
    pub audience: Option<String>,
    /// `exp` as a timestamp.
    pub expires_at: Timestamp,
    /// `iat` as a timestamp.
    pub issued_at: Timestamp,
    /// The signing key's `not_after`: a cached verification is `untrusted` from then on, even if
    /// no event replaces the snapshot that cached it.
    pub key_not_after: Option<Timestamp>,
    /// The end-user attribute class assigned by the snapshot that cached this verification
    /// (`u32::MAX` until then: never memoised).
    pub end_user_class: u32,
}

impl VerifiedAttestation {
    /// The Cedar context for a request by `customer_id` at `now`: the attributes if the token is
    /// still valid and for this customer, otherwise the reason it is not.
    pub fn context_for(&self, customer_id: &str, now: Timestamp) -> EndUserContext {
        if self.key_not_after.is_some_and(|not_after| now >= not_after) {
            return problem_context(AttestationProblem::Untrusted);
        }
        if now >= self.expires_at || self.issued_at > now.plus_millis(IAT_SKEW_SECS * 1000) {
            return problem_context(AttestationProblem::Expired);
        }
        if self.audience.as_deref().is_some_and(|aud| aud != customer_id) {
            return problem_context(AttestationProblem::WrongAudience);
        }
        EndUserContext {
            attestation: "valid",
            end_user_json: Some(self.end_user_json.clone()),
            end_user_class: self.end_user_class,
        }
    }
}

/// The context Cedar sees when the attributes are unknown.
pub fn problem_context(problem: AttestationProblem) -> EndUserContext {
    EndUserContext { attestation: problem.status(), end_user_json: None, end_user_class: 0 }
}

/// Verifies a token's signature and shape. Time and audience are checked per request by
/// [`VerifiedAttestation::context_for`], so this result can be cached.
///
/// # Errors
///
/// Returns the [`AttestationProblem`] that makes the attributes unknown.
pub fn verify(
    token: &str,
    attesters: &[TrustedAttester],
    schema: &CedarSchema,
    now: Timestamp,
) -> Result<VerifiedAttestation, AttestationProblem> {
    use AttestationProblem::{Malformed, Untrusted};
    if token.len() > MAX_TOKEN_LEN {
        return Err(Malformed);
    }
    let mut parts = token.trim().split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Malformed);
    };
    let header: serde_json::Value = decode_json(header_b64)?;
    if header.get("alg").and_then(serde_json::Value::as_str) != Some("EdDSA") {
        return Err(Malformed);
    }
    let claims: serde_json::Value = decode_json(payload_b64)?;
    let issuer = claims.get("iss").and_then(serde_json::Value::as_str).ok_or(Malformed)?;
    if !attesters.iter().any(|a| a.id.as_str() == issuer) {
        return Err(Untrusted);
    }
    let signature_bytes = URL_SAFE_NO_PAD.decode(signature_b64).map_err(|_| Malformed)?;
    let signature = Signature::from_slice(&signature_bytes).map_err(|_| Malformed)?;
    let signing_input = token.trim().get(..header_b64.len() + 1 + payload_b64.len()).ok_or(Malformed)?;
    // The issuer's usable keys are tried first, so a token from a current key costs as few
    // signature checks as possible. Its revoked and expired keys are tried only after those fail,
    // so that a token they signed is reported as `untrusted` (what it is) rather than `malformed`.
    // Trying each key beats requiring a `kid` header: tokens in use today carry none, and the
    // number of keys per attester is bounded (`attester::MAX_KEYS_PER_ATTESTER`).
    let issuer_keys = || attesters.iter().filter(|a| a.id.as_str() == issuer);
    let signer = issuer_keys()
        .filter(|a| a.usable_at(now))
        .chain(issuer_keys().filter(|a| !a.usable_at(now)))
        // `verify_strict` rejects small-order keys and non-canonical signatures (no malleability).
        .find(|a| a.key.verify_strict(signing_input.as_bytes(), &signature).is_ok())
        .ok_or(Malformed)?;
    if !signer.usable_at(now) {
        return Err(Untrusted);
    }
    let seconds = |name: &str| claims.get(name).and_then(serde_json::Value::as_i64).ok_or(Malformed);
    let expires_at = Timestamp::from_millis(seconds("exp")?.saturating_mul(1000));
    let issued_at = Timestamp::from_millis(seconds("iat")?.saturating_mul(1000));
    let audience = match claims.get("aud") {
        None => None,
        Some(serde_json::Value::String(aud)) => Some(aud.clone()),
        Some(_) => return Err(Malformed),
    };
    let end_user = claims.get("end_user").and_then(serde_json::Value::as_object).ok_or(Malformed)?;
    schema.check_end_user(end_user).map_err(|_| Malformed)?;
    // Canonical form: sorted keys, so equal attribute sets share one memo entry.
    let end_user_json = crate::event::canonical_json(&serde_json::Value::Object(end_user.clone()));
    Ok(VerifiedAttestation {
        attester: signer.id.clone(),
        end_user_json: Arc::from(end_user_json),
        audience,
        expires_at,
        issued_at,
        key_not_after: signer.not_after,
        end_user_class: u32::MAX,
    })
}

fn decode_json(part: &str) -> Result<serde_json::Value, AttestationProblem> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| AttestationProblem::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| AttestationProblem::Malformed)
}

/// What an attester signs; used by the demo, the tests and anyone writing an attester.
#[derive(Clone, Debug)]
pub struct AttestationClaims {
    /// `iss`: the attester id.
    pub issuer: AttesterId,
    /// `sub`: the pseudonymous end-user id.
    pub subject: String,
    /// `aud`: the customer the token is for, if bound.
    pub audience: Option<String>,
    /// `iat`.
    pub issued_at: Timestamp,
    /// `exp`.
    pub expires_at: Timestamp,
    /// `end_user`: the attested attributes.
    pub end_user: serde_json::Map<String, serde_json::Value>,
}

/// Signs claims into a compact JWS token.
pub fn sign(claims: &AttestationClaims, key: &SigningKey) -> String {
    let header = serde_json::json!({ "alg": "EdDSA", "typ": "JWT", "kid": claims.issuer.as_str() });
    let mut payload = serde_json::json!({
        "iss": claims.issuer.as_str(),
        "sub": claims.subject,
        "iat": claims.issued_at.as_millis() / 1000,
        "exp": claims.expires_at.as_millis() / 1000,
        "end_user": claims.end_user,
    });
    if let (Some(aud), Some(map)) = (&claims.audience, payload.as_object_mut()) {
        map.insert("aud".to_owned(), aud.clone().into());
    }
    let signing_input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(payload.to_string()));
    let signature = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_millis(1_795_800_000_000);

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn claims(end_user: serde_json::Value) -> AttestationClaims {
        AttestationClaims {
            issuer: AttesterId::parse("idv").unwrap(),
            subject: "u1".to_owned(),
            audience: Some("acme".to_owned()),
            issued_at: NOW,
            expires_at: NOW.plus_millis(3_600_000),
            end_user: end_user.as_object().unwrap().clone(),
        }
    }

    fn trusted() -> Vec<TrustedAttester> {
        vec![TrustedAttester {
            id: AttesterId::parse("idv").unwrap(),
            key: key(1).verifying_key(),
            not_after: None,
            revoked: false,
        }]
    }

    #[track_caller]
    fn check(token: &str, customer: &str, now: Timestamp, expect: Result<&str, AttestationProblem>) {
        let schema = CedarSchema::default_schema().unwrap();
        let got = verify(token, &trusted(), &schema, now).map(|v| v.context_for(customer, now));
        let got = match got {
            Ok(ctx) if ctx.attestation == "valid" => Ok(ctx.end_user_json.unwrap().to_string()),
            Ok(ctx) => Err(ctx.attestation.to_owned()),
            Err(problem) => Err(problem.status().to_owned()),
        };
        let expect = expect.map(str::to_owned).map_err(|p| p.status().to_owned());
        assert_eq!(got, expect);
    }

    #[test]
    fn table() {
        use AttestationProblem::*;
        let good = sign(&claims(serde_json::json!({"us_person": true, "nationalities": ["US"]})), &key(1));
        check(&good, "acme", NOW, Ok(r#"{"nationalities":["US"],"us_person":true}"#));
        check(&good, "globex", NOW, Err(WrongAudience));
        check(&good, "acme", NOW.plus_millis(3_600_000), Err(Expired));
        let foreign_key = sign(&claims(serde_json::json!({"us_person": true})), &key(2));
        check(&foreign_key, "acme", NOW, Err(Malformed));
        let mut unknown_issuer = claims(serde_json::json!({"us_person": true}));
        unknown_issuer.issuer = AttesterId::parse("someone").unwrap();
        check(&sign(&unknown_issuer, &key(1)), "acme", NOW, Err(Untrusted));
        let off_schema = sign(&claims(serde_json::json!({"us_person": "yes"})), &key(1));
        check(&off_schema, "acme", NOW, Err(Malformed));
        check("not-a-token", "acme", NOW, Err(Malformed));
        check("a.b.c", "acme", NOW, Err(Malformed));
        check(&"x".repeat(MAX_TOKEN_LEN + 1), "acme", NOW, Err(Malformed));
        // A flipped payload byte breaks the signature.
        let mut tampered = good.clone().into_bytes();
        let mid = good.find('.').unwrap() + 3;
        tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
        check(&String::from_utf8(tampered).unwrap(), "acme", NOW, Err(Malformed));
    }
}
