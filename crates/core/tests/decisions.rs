//! Data-driven decision tests: a small world built through commands, then a table of requests
//! and the decision each must get, including every fail-closed case.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::type_complexity,
    reason = "test code: a panic is a test failure with a message"
)]

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use portcullis_core::attestation::{AttestationClaims, TrustedAttester, sign};
use portcullis_core::policy::CedarSchema;
use portcullis_core::procedure::{Procedure, Quorum};
use portcullis_core::*;

const T0: Timestamp = Timestamp::from_millis(1_795_800_000_000);
const HOUR: i64 = 3_600_000;

fn provider() -> Actor {
    Actor::Provider { name: "ops".to_owned() }
}

fn official() -> Actor {
    Actor::Authority { authority: AuthorityId::parse("bis").unwrap(), official: OfficialName::parse("j.doe").unwrap() }
}

fn attester_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

struct World {
    state: State,
    seq: u64,
}

impl World {
    fn new() -> Self {
        let schema = Arc::new(CedarSchema::default_schema().unwrap());
        let attesters = vec![TrustedAttester {
            id: AttesterId::parse("idv").unwrap(),
            key: attester_key().verifying_key(),
            not_after: None,
            revoked: false,
        }];
        Self { state: State::new(schema, attesters), seq: 0 }
    }

    #[track_caller]
    fn run(&mut self, actor: &Actor, command: Command, now: Timestamp) {
        let events = handle(&self.state, actor, command, now).unwrap();
        for event in events {
            self.seq += 1;
            self.state.apply(&EventRecord { seq: self.seq, at: now, actor: actor.clone(), event }).unwrap();
        }
    }
}

fn attrs(json: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    json.as_object().unwrap().clone()
}

fn upstream() -> Upstream {
    Upstream { base_url: "http://127.0.0.1:9/v1".to_owned(), upstream_model: None, api_key_env: None }
}

/// The story world: `frontier` in preview (acme granted), `workhorse` general, criteria requiring
/// KYC, and an export-control directive on `frontier` for end users not attested as US nationals.
fn story() -> World {
    let mut w = World::new();
    let p = provider();
    w.run(
        &p,
        Command::RegisterAuthority { authority: AuthorityId::parse("bis").unwrap(), name: "Bureau".to_owned() },
        T0,
    );
    for (id, kyc) in [("acme", "verified"), ("globex", "verified"), ("shady", "pending"), ("acme2", "verified")] {
        w.run(
            &p,
            Command::CreateCustomer {
                customer: CustomerId::parse(id).unwrap(),
                name: id.to_owned(),
                attributes: attrs(serde_json::json!({"country": "US", "kyc": kyc})),
            },
            T0,
        );
    }
    let criteria = r#"@id("kyc-verified")
permit(principal, action == Action::"invoke", resource)
when { principal has kyc && principal.kyc == "verified" };"#;
    for (model, stages) in
        [("frontier", &["review", "preview"][..]), ("workhorse", &["review", "general"][..]), ("lab-draft", &[][..])]
    {
        let name = ModelName::parse(model).unwrap();
        w.run(
            &p,
            Command::RegisterModel { model: name.clone(), description: model.to_owned(), upstream: upstream() },
            T0,
        );
        // A review clock of zero days: these tables are about decisions, not the review process.
        w.run(
            &p,
            Command::SetProcedure {
                model: name.clone(),
                procedure: Procedure {
                    signoff: Quorum { authorities: vec![AuthorityId::parse("bis").unwrap()], required: 1 },
                    review_days: 0,
                    revocation_notice_days: 0,
                    ..Procedure::default()
                },
            },
            T0,
        );
        w.run(
            &p,
            Command::PublishCriteria {
                model: name.clone(),
                text: "KYC verified".to_owned(),
                policies: criteria.to_owned(),
            },
            T0,
        );
        for stage in stages {
            w.run(
                &p,
                Command::ChangeStage {
                    model: name.clone(),
                    target: StageTarget::parse(stage).unwrap(),
                    reason: "release plan".to_owned(),
                },
                T0,
            );
        }
    }
    w.run(
        &official(),
        Command::Grant {
            customer: CustomerId::parse("acme").unwrap(),
            model: ModelName::parse("frontier").unwrap(),
            expires_at: Some(T0.plus_millis(48 * HOUR)),
            reason: "approved".to_owned(),
        },
        T0,
    );
    w.run(
        &official(),
        Command::IssueDirective {
            directive: DirectiveId::parse("EC-2026-001").unwrap(),
            legal_basis: "15 CFR 744".to_owned(),
            description: "no access for end users not attested as US nationals".to_owned(),
            scope: DirectiveScope::Models { models: vec![ModelName::parse("frontier").unwrap()] },
            policies: r#"@id("us-nationals-only")
forbid(principal, action, resource)
unless { context has end_user && context.end_user has nationalities && context.end_user.nationalities.contains("US") };"#
                .to_owned(),
            effective_at: Some(T0.plus_millis(HOUR)),
            expires_at: Some(T0.plus_millis(24 * HOUR)),
            emergency_justification: None,
            evidence: vec![Evidence::withheld("assessment", "classified".to_owned())],
        },
        T0,
    );
    w
}

fn token(nationalities: &[&str], audience: Option<&str>) -> String {
    sign(
        &AttestationClaims {
            issuer: AttesterId::parse("idv").unwrap(),
            subject: "u".to_owned(),
            audience: audience.map(str::to_owned),
            issued_at: T0,
            expires_at: T0.plus_millis(36 * HOUR),
            end_user: attrs(serde_json::json!({ "nationalities": nationalities })),
        },
        &attester_key(),
    )
}

#[track_caller]
fn check(snapshot: &Snapshot, customer: &str, model: &str, attestation: Option<&str>, now: Timestamp, expect: &str) {
    let state = snapshot.state();
    let customer = state.customer(customer).unwrap();
    let model = state.model(model).unwrap();
    let end_user = snapshot.end_user_context(attestation, customer.id.as_str(), now);
    let got = match decide(snapshot, customer, model, &end_user, now) {
        Decision::Allow(allowed) => format!("allow v{} {:?}", allowed.criteria_version(), allowed.clauses()),
        Decision::Deny(Denial::Directive { directive, clauses, errors, attestation }) => {
            format!("deny directive {} {clauses:?} errors={} attestation={attestation}", directive.id, errors.len())
        }
        Decision::Deny(Denial::Stage { stage }) => format!("deny stage {stage}"),
        Decision::Deny(denial) => format!("deny {}", denial.code()),
    };
    assert_eq!(got, expect);
}

#[test]
fn story_table() {
    let w = story();
    let s = Snapshot::new(w.state);
    let us = token(&["US"], Some("acme"));
    let dual = token(&["US", "FR"], None);
    let fr = token(&["FR"], Some("acme"));
    let later = T0.plus_millis(2 * HOUR);
    let rows: &[(&str, &str, Option<&str>, Timestamp, &str)] = &[
        // Before the directive takes effect, the grant is all that matters.
        ("acme", "frontier", None, T0, "allow v1 [\"kyc-verified\"]"),
        ("globex", "frontier", None, T0, "deny grant_required"),
        // After: US nationals pass, everyone else is cut, and unknown means cut.
        ("acme", "frontier", Some(&us), later, "allow v1 [\"kyc-verified\"]"),
        ("acme", "frontier", Some(&dual), later, "allow v1 [\"kyc-verified\"]"),
        (
            "acme",
            "frontier",
            Some(&fr),
            later,
            "deny directive EC-2026-001 [\"us-nationals-only\"] errors=0 attestation=valid",
        ),
        (
            "acme",
            "frontier",
            None,
            later,
            "deny directive EC-2026-001 [\"us-nationals-only\"] errors=0 attestation=missing",
        ),
        (
            "acme",
            "frontier",
            Some("garbage"),
            later,
            "deny directive EC-2026-001 [\"us-nationals-only\"] errors=0 attestation=malformed",
        ),
        // A token bound to acme is worthless to anyone else.
        ("acme2", "frontier", Some(&us), later, "deny grant_required"),
        // The directive names only frontier: workhorse is untouched, attested or not.
        ("acme", "workhorse", None, later, "allow v1 [\"kyc-verified\"]"),
        ("globex", "workhorse", Some(&fr), later, "allow v1 [\"kyc-verified\"]"),
        ("shady", "workhorse", None, later, "deny criteria_not_met"),
        ("acme", "lab-draft", None, later, "deny stage draft"),
        // The token expires at T0+36h; the grant at T0+48h; the directive at T0+24h.
        ("acme", "frontier", Some(&fr), T0.plus_millis(25 * HOUR), "allow v1 [\"kyc-verified\"]"),
        ("acme", "frontier", None, T0.plus_millis(49 * HOUR), "deny grant_expired"),
    ];
    for (customer, model, attestation, now, expect) in rows {
        check(&s, customer, model, *attestation, *now, expect);
    }
}

#[test]
fn wrong_audience_is_unknown_not_allowed() {
    let mut w = story();
    w.run(
        &official(),
        Command::Grant {
            customer: CustomerId::parse("acme2").unwrap(),
            model: ModelName::parse("frontier").unwrap(),
            expires_at: None,
            reason: "approved".to_owned(),
        },
        T0,
    );
    let s = Snapshot::new(w.state);
    let for_acme = token(&["US"], Some("acme"));
    check(
        &s,
        "acme2",
        "frontier",
        Some(&for_acme),
        T0.plus_millis(2 * HOUR),
        "deny directive EC-2026-001 [\"us-nationals-only\"] errors=0 attestation=wrong_audience",
    );
}

#[test]
fn lifting_and_revoking_and_suspending() {
    let mut w = story();
    let later = T0.plus_millis(2 * HOUR);
    w.run(
        &official(),
        Command::LiftDirective {
            directive: DirectiveId::parse("EC-2026-001").unwrap(),
            reason: "rescinded".to_owned(),
        },
        later,
    );
    check(&Snapshot::new(w.state.clone()), "acme", "frontier", None, later, "allow v1 [\"kyc-verified\"]");
    w.run(
        &official(),
        Command::RevokeGrant {
            customer: CustomerId::parse("acme").unwrap(),
            model: ModelName::parse("frontier").unwrap(),
            effective_at: Some(later.plus_millis(HOUR)),
            reason: "terms breached".to_owned(),
            directive: None,
        },
        later,
    );
    // Notice: still allowed until the revocation takes effect.
    check(&Snapshot::new(w.state.clone()), "acme", "frontier", None, later, "allow v1 [\"kyc-verified\"]");
    check(&Snapshot::new(w.state.clone()), "acme", "frontier", None, later.plus_millis(HOUR), "deny grant_revoked");
    w.run(
        &provider(),
        Command::ChangeStage {
            model: ModelName::parse("workhorse").unwrap(),
            target: StageTarget::Suspended,
            reason: "incident".to_owned(),
        },
        later,
    );
    check(&Snapshot::new(w.state.clone()), "acme", "workhorse", None, later, "deny stage suspended");
    w.run(
        &official(),
        Command::ChangeStage {
            model: ModelName::parse("workhorse").unwrap(),
            target: StageTarget::Resume,
            reason: "fixed".to_owned(),
        },
        later,
    );
    check(&Snapshot::new(w.state), "acme", "workhorse", None, later, "allow v1 [\"kyc-verified\"]");
}

/// A directive whose condition errors at evaluation time must cut, never let through.
#[test]
fn erroring_directive_fails_closed() {
    let mut w = story();
    // `us_person` is optional; guarded by `has` it validates, but a `.contains` on a Long set
    // would not. We instead name a specific customer and read a context attribute that only
    // exists when attested; strict validation accepts this guard-free read inside `when` because
    // `context has end_user` is checked first, so make the error happen at runtime via an
    // extension-free overflow: Long arithmetic overflow is an evaluation error.
    w.run(
        &official(),
        Command::IssueDirective {
            directive: DirectiveId::parse("EC-OVERFLOW").unwrap(),
            legal_basis: "test".to_owned(),
            description: "errors at runtime".to_owned(),
            scope: DirectiveScope::Models { models: vec![ModelName::parse("workhorse").unwrap()] },
            policies: "forbid(principal, action, resource) when { 9223372036854775807 + 1 > 0 && principal has sector && false };".to_owned(),
            effective_at: None,
            expires_at: None,
            emergency_justification: Some("test of fail-closed".to_owned()),
            evidence: vec![Evidence::withheld("assessment", "none".to_owned())],
        },
        T0,
    );
    check(
        &Snapshot::new(w.state),
        "acme",
        "workhorse",
        None,
        T0,
        "deny directive EC-OVERFLOW [] errors=1 attestation=missing",
    );
}

#[track_caller]
fn check_refused(w: &World, actor: &Actor, command: Command, expect: &str) {
    let err = handle(&w.state, actor, command, T0).unwrap_err();
    assert_eq!(err.to_string(), expect);
}

#[test]
fn refused_commands() {
    let w = story();
    let customer = Actor::Customer { customer: CustomerId::parse("acme").unwrap() };
    let directive = |effective_at, justification: Option<&str>| Command::IssueDirective {
        directive: DirectiveId::parse("EC-2").unwrap(),
        legal_basis: "x".to_owned(),
        description: "x".to_owned(),
        scope: DirectiveScope::AllModels,
        policies: "forbid(principal, action, resource);".to_owned(),
        effective_at,
        expires_at: None,
        emergency_justification: justification.map(str::to_owned),
        evidence: vec![Evidence::withheld("assessment", "x".to_owned())],
    };
    check_refused(&w, &provider(), directive(None, None), "provider (ops) may not issue directives");
    check_refused(&w, &customer, directive(None, None), "customer acme may not issue directives");
    check_refused(
        &w,
        &official(),
        directive(None, None),
        "a directive with no notice period is an emergency and needs an emergency_justification",
    );
    check_refused(
        &w,
        &official(),
        directive(Some(T0.plus_millis(-2 * HOUR)), None),
        "effective_at `2026-11-27T15:20:00Z` is in the past",
    );
    check_refused(
        &w,
        &provider(),
        Command::ChangeStage {
            model: ModelName::parse("lab-draft").unwrap(),
            target: StageTarget::General,
            reason: "go".to_owned(),
        },
        "a model in `draft` cannot move to `general`",
    );
    check_refused(
        &w,
        &official(),
        Command::ChangeStage {
            model: ModelName::parse("lab-draft").unwrap(),
            target: StageTarget::Review,
            reason: "go".to_owned(),
        },
        "authority bis (j.doe) may not make this stage change",
    );
    check_refused(
        &w,
        &provider(),
        Command::PublishCriteria {
            model: ModelName::parse("nope").unwrap(),
            text: "t".to_owned(),
            policies: "permit(principal, action, resource);".to_owned(),
        },
        "no model `nope`",
    );
    check_refused(
        &w,
        &provider(),
        Command::CreateCustomer {
            customer: CustomerId::parse("x").unwrap(),
            name: "x".to_owned(),
            attributes: attrs(serde_json::json!({"kyc": 3})),
        },
        "invalid attributes: in attribute `kyc`, type mismatch: value was expected to have type string, but it actually has type long: `3`",
    );
    let bad_policy = handle(
        &w.state,
        &provider(),
        Command::PublishCriteria {
            model: ModelName::parse("workhorse").unwrap(),
            text: "t".to_owned(),
            policies: "permit(principal, action, resource)\nwhen { principal.kyc == };".to_owned(),
        },
        T0,
    )
    .unwrap_err();
    assert!(bad_policy.to_string().starts_with("invalid policy: line 2, column "), "{bad_policy}");
}

/// Replaying the same events gives the same state (what a restart relies on).
#[test]
fn replay_is_deterministic() {
    let w = story();
    let n = w.state.last_seq;
    assert!(n > 10);
    let mut skipped = World::new();
    let record = EventRecord {
        seq: 2,
        at: T0,
        actor: provider(),
        event: Event::AuthorityRegistered { authority: AuthorityId::parse("x").unwrap(), name: "x".to_owned() },
    };
    let err = skipped.state.apply(&record).unwrap_err();
    assert_eq!(
        err.to_string(),
        "event 2 (`authority_registered`) does not apply to the state: expected sequence number 1"
    );
}

/// A directive scoped to every model that names one model in its condition: memoised outcomes
/// are per model, so it cuts that model only, and keeps doing so on repeated (memoised) calls.
#[test]
fn model_literals_are_memoised_per_model() {
    let mut w = story();
    w.run(
        &official(),
        Command::IssueDirective {
            directive: DirectiveId::parse("EC-MODEL").unwrap(),
            legal_basis: "test".to_owned(),
            description: "frontier only, by condition".to_owned(),
            scope: DirectiveScope::AllModels,
            policies: "forbid(principal, action, resource == Model::\"workhorse\") when { principal has country && principal.country == \"US\" };"
                .to_owned(),
            effective_at: None,
            expires_at: None,
            emergency_justification: Some("test".to_owned()),
            evidence: vec![Evidence::withheld("assessment", "none".to_owned())],
        },
        T0,
    );
    let s = Snapshot::new(w.state);
    for _ in 0..3 {
        check(&s, "acme", "frontier", None, T0, "allow v1 [\"kyc-verified\"]");
        check(&s, "acme", "workhorse", None, T0, "deny directive EC-MODEL [\"policy0\"] errors=0 attestation=missing");
        check(
            &s,
            "globex",
            "workhorse",
            None,
            T0,
            "deny directive EC-MODEL [\"policy0\"] errors=0 attestation=missing",
        );
    }
}
