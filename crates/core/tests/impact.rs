//! Directive impact, as a table: a small world built through commands, recent request counts,
//! a candidate directive, and what it would cut.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a panic is a test failure with a message"
)]

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use portcullis_core::attestation::{AttestationClaims, TrustedAttester, sign};
use portcullis_core::impact::{Candidate, Impact, MAX_EXAMPLES, RecentRequests, UNATTRIBUTED, impact};
use portcullis_core::policy::{CedarSchema, CompiledPolicies, EndUserContext, PolicyKind};
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
    #[track_caller]
    fn run(&mut self, actor: &Actor, command: Command) {
        for event in handle(&self.state, actor, command, T0).unwrap() {
            self.seq += 1;
            self.state.apply(&EventRecord { seq: self.seq, at: T0, actor: actor.clone(), event }).unwrap();
        }
    }

    fn customer(&mut self, id: &str, kyc: &str) {
        let attributes = serde_json::json!({ "country": "US", "kyc": kyc }).as_object().unwrap().clone();
        self.run(
            &provider(),
            Command::CreateCustomer { customer: CustomerId::parse(id).unwrap(), name: id.to_owned(), attributes },
        );
    }
}

/// `frontier` in preview (acme granted until T0 + 48 h), `workhorse` general, `lab-draft` in
/// draft, all with KYC criteria; `shady` fails KYC. No directive is in force.
fn world(extra_customers: usize) -> World {
    let schema = Arc::new(CedarSchema::default_schema().unwrap());
    let attesters = vec![TrustedAttester {
        id: AttesterId::parse("idv").unwrap(),
        key: attester_key().verifying_key(),
        not_after: None,
        revoked: false,
    }];
    let mut w = World { state: State::new(schema, attesters), seq: 0 };
    w.run(
        &provider(),
        Command::RegisterAuthority { authority: AuthorityId::parse("bis").unwrap(), name: "Bureau".to_owned() },
    );
    for (id, kyc) in [("acme", "verified"), ("globex", "verified"), ("shady", "pending"), ("acme2", "verified")] {
        w.customer(id, kyc);
    }
    for i in 0..extra_customers {
        w.customer(&format!("c{i:02}"), "verified");
    }
    let criteria = r#"@id("kyc-verified")
permit(principal, action == Action::"invoke", resource)
when { principal has kyc && principal.kyc == "verified" };"#;
    for (model, stages) in
        [("frontier", &["review", "preview"][..]), ("workhorse", &["review", "general"][..]), ("lab-draft", &[][..])]
    {
        let name = ModelName::parse(model).unwrap();
        let upstream =
            Upstream { base_url: "http://127.0.0.1:9/v1".to_owned(), upstream_model: None, api_key_env: None };
        w.run(&provider(), Command::RegisterModel { model: name.clone(), description: model.to_owned(), upstream });
        w.run(
            &provider(),
            Command::PublishCriteria { model: name.clone(), text: "KYC".to_owned(), policies: criteria.to_owned() },
        );
        // Cleared at once: these tests are about impact, not the review clock.
        w.run(
            &provider(),
            Command::SetProcedure {
                model: name.clone(),
                procedure: portcullis_core::procedure::Procedure {
                    signoff: portcullis_core::procedure::Quorum {
                        authorities: vec![AuthorityId::parse("bis").unwrap()],
                        required: 1,
                    },
                    review_days: 0,
                    ..portcullis_core::procedure::Procedure::default()
                },
            },
        );
        for stage in stages {
            w.run(
                &provider(),
                Command::ChangeStage {
                    model: name.clone(),
                    target: StageTarget::parse(stage).unwrap(),
                    reason: "plan".to_owned(),
                },
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
    );
    w
}

/// An end-user context as the request path would see it: verified and interned by the snapshot.
fn end_user(snapshot: &Snapshot, nationalities: Option<&[&str]>, now: Timestamp) -> EndUserContext {
    let token = nationalities.map(|n| {
        sign(
            &AttestationClaims {
                issuer: AttesterId::parse("idv").unwrap(),
                subject: "u".to_owned(),
                audience: None,
                issued_at: T0,
                expires_at: T0.plus_millis(100 * HOUR),
                end_user: serde_json::json!({ "nationalities": n }).as_object().unwrap().clone(),
            },
            &attester_key(),
        )
    });
    snapshot.end_user_context(token.as_deref(), "any", now)
}

/// Recent requests: (customer, model, nationalities or `None` for no attestation, count).
fn recent(snapshot: &Snapshot, rows: &[(&str, &str, Option<&[&str]>, u64)], now: Timestamp) -> Vec<RecentRequests> {
    let state = snapshot.state();
    rows.iter()
        .map(|(customer, model, nationalities, requests)| RecentRequests {
            customer_idx: if *customer == "?" { UNATTRIBUTED } else { state.customer(customer).unwrap().customer_idx },
            model_idx: state.model(model).unwrap().model_idx,
            end_user: end_user(snapshot, *nationalities, now),
            requests: *requests,
        })
        .collect()
}

fn render(impact: &Impact) -> String {
    let mut out = format!(
        "customers={} grants={} seen={} deny={} not_evaluated={} examples={:?}",
        impact.customers_affected,
        impact.grants_affected,
        impact.requests_seen,
        impact.requests_would_deny,
        impact.requests_not_evaluated,
        impact.examples.iter().map(CustomerId::as_str).collect::<Vec<_>>(),
    );
    for m in &impact.by_model {
        out.push_str(&format!(
            "\n  {}: customers={} grants={} seen={} deny={} not_evaluated={}",
            m.model,
            m.customers_affected,
            m.grants_affected,
            m.requests_seen,
            m.requests_would_deny,
            m.requests_not_evaluated
        ));
    }
    out
}

#[track_caller]
fn check(models: &[&str], policies: &str, rows: &[(&str, &str, Option<&[&str]>, u64)], now: Timestamp, expect: &str) {
    let w = world(0);
    let snapshot = Snapshot::new(w.state);
    let scope = if models == ["*"] {
        DirectiveScope::AllModels
    } else {
        DirectiveScope::Models { models: models.iter().map(|m| ModelName::parse(m).unwrap()).collect() }
    };
    let policies = CompiledPolicies::compile(snapshot.state().schema(), PolicyKind::Directive, policies).unwrap();
    let recent = recent(&snapshot, rows, now);
    let got = impact(&snapshot, &Candidate { scope: &scope, policies: &policies }, &recent, now);
    assert_eq!(render(&got), expect.trim());
}

const NON_US: &str = r#"forbid (principal, action, resource)
unless { context has end_user && context.end_user has nationalities && context.end_user.nationalities.contains("US") };"#;

const FR_ONLY: &str = r#"forbid (principal, action, resource)
when { context has end_user && context.end_user has nationalities && context.end_user.nationalities.contains("FR") };"#;

const US: Option<&[&str]> = Some(&["US"]);
const FR: Option<&[&str]> = Some(&["FR"]);
const NONE: Option<&[&str]> = None;

/// The traffic most rows use: acme on frontier with US, FR and unattested end users; globex
/// (no grant) on frontier; globex and shady (fails KYC) on workhorse.
const TRAFFIC: &[(&str, &str, Option<&[&str]>, u64)] = &[
    ("acme", "frontier", US, 3),
    ("acme", "frontier", FR, 2),
    ("acme", "frontier", NONE, 1),
    ("globex", "frontier", US, 4),
    ("globex", "workhorse", FR, 5),
    ("shady", "workhorse", FR, 7),
];

#[test]
fn table() {
    // Non-US end users cut on frontier: only acme holds a grant; globex's requests were refused
    // anyway (no grant), so they are seen but not counted as cut.
    check(
        &["frontier"],
        NON_US,
        TRAFFIC,
        T0,
        r#"
customers=1 grants=1 seen=10 deny=3 not_evaluated=0 examples=["acme"]
  frontier: customers=1 grants=1 seen=10 deny=3 not_evaluated=0"#,
    );
    // Every model: unattested requests are cut, so every customer the criteria admit on the
    // general model is affected, with or without traffic; shady fails KYC and is not; the draft
    // model admits nobody.
    check(
        &["*"],
        NON_US,
        TRAFFIC,
        T0,
        r#"
customers=3 grants=1 seen=22 deny=8 not_evaluated=0 examples=["acme", "acme2", "globex"]
  frontier: customers=1 grants=1 seen=10 deny=3 not_evaluated=0
  lab-draft: customers=0 grants=0 seen=0 deny=0 not_evaluated=0
  workhorse: customers=3 grants=0 seen=12 deny=5 not_evaluated=0"#,
    );
    // French nationals only: unattested traffic passes, so only customers whose recent traffic
    // carried a French national are affected.
    check(
        &["frontier", "workhorse"],
        FR_ONLY,
        TRAFFIC,
        T0,
        r#"
customers=2 grants=1 seen=22 deny=7 not_evaluated=0 examples=["acme", "globex"]
  frontier: customers=1 grants=1 seen=10 deny=2 not_evaluated=0
  workhorse: customers=1 grants=0 seen=12 deny=5 not_evaluated=0"#,
    );
    // A policy naming one customer is evaluated per customer, not per attribute class.
    check(
        &["workhorse"],
        r#"forbid (principal == Customer::"globex", action, resource);"#,
        TRAFFIC,
        T0,
        r#"
customers=1 grants=0 seen=12 deny=5 not_evaluated=0 examples=["globex"]
  workhorse: customers=1 grants=0 seen=12 deny=5 not_evaluated=0"#,
    );
    // A customer attribute no customer has: nobody is cut.
    check(
        &["*"],
        r#"forbid (principal, action, resource) when { principal has sector && principal.sector == "defence" };"#,
        TRAFFIC,
        T0,
        r#"
customers=0 grants=0 seen=22 deny=0 not_evaluated=0 examples=[]
  frontier: customers=0 grants=0 seen=10 deny=0 not_evaluated=0
  lab-draft: customers=0 grants=0 seen=0 deny=0 not_evaluated=0
  workhorse: customers=0 grants=0 seen=12 deny=0 not_evaluated=0"#,
    );
    // After acme's grant lapsed it can no longer use frontier, so there is nothing to cut.
    check(
        &["frontier"],
        NON_US,
        &[("acme", "frontier", NONE, 6)],
        T0.plus_millis(49 * HOUR),
        r#"
customers=0 grants=0 seen=6 deny=0 not_evaluated=0 examples=[]
  frontier: customers=0 grants=0 seen=6 deny=0 not_evaluated=0"#,
    );
    // Requests counted without their customer are seen but not evaluated.
    check(
        &["workhorse"],
        FR_ONLY,
        &[("?", "workhorse", FR, 9), ("globex", "workhorse", US, 1)],
        T0,
        r#"
customers=0 grants=0 seen=10 deny=0 not_evaluated=9 examples=[]
  workhorse: customers=0 grants=0 seen=10 deny=0 not_evaluated=9"#,
    );
}

/// A valid attestation whose attributes were not recorded (the class table was full) cannot be
/// evaluated: it is reported, not guessed.
#[test]
fn unrecorded_end_user_attributes_are_not_evaluated() {
    let snapshot = Snapshot::new(world(0).state);
    let state = snapshot.state();
    let scope = DirectiveScope::AllModels;
    let policies = CompiledPolicies::compile(state.schema(), PolicyKind::Directive, FR_ONLY).unwrap();
    let recent = vec![RecentRequests {
        customer_idx: state.customer("globex").unwrap().customer_idx,
        model_idx: state.model("workhorse").unwrap().model_idx,
        end_user: EndUserContext { attestation: "valid", end_user_json: None, end_user_class: u32::MAX },
        requests: 4,
    }];
    let got = impact(&snapshot, &Candidate { scope: &scope, policies: &policies }, &recent, T0);
    assert_eq!((got.requests_seen, got.requests_would_deny, got.requests_not_evaluated), (4, 0, 4));
    assert_eq!(got.customers_affected, 0);
}

#[test]
fn examples_are_bounded_and_smallest_first() {
    let snapshot = Snapshot::new(world(12).state);
    let scope = DirectiveScope::Models { models: vec![ModelName::parse("workhorse").unwrap()] };
    let policies = CompiledPolicies::compile(snapshot.state().schema(), PolicyKind::Directive, NON_US).unwrap();
    let got = impact(&snapshot, &Candidate { scope: &scope, policies: &policies }, &[], T0);
    assert_eq!(got.customers_affected, 15);
    let examples: Vec<&str> = got.examples.iter().map(CustomerId::as_str).collect();
    assert_eq!(examples.len(), MAX_EXAMPLES);
    assert_eq!(examples, ["acme", "acme2", "c00", "c01", "c02", "c03", "c04", "c05", "c06", "c07"]);
}

/// End-user class ids survive a new snapshot, so counters keyed by them keep their meaning.
#[test]
fn end_user_classes_are_stable_across_snapshots() {
    let w = world(0);
    let first = Snapshot::new(w.state.clone());
    let us = end_user(&first, US, T0);
    let fr = end_user(&first, FR, T0);
    let second = first.next(w.state);
    assert_eq!(end_user(&second, FR, T0).end_user_class, fr.end_user_class);
    assert_eq!(end_user(&second, US, T0).end_user_class, us.end_user_class);
    assert_ne!(us.end_user_class, fr.end_user_class);
    assert_eq!(second.end_user_json(fr.end_user_class).as_deref(), Some(r#"{"nationalities":["FR"]}"#));
    assert_eq!(second.end_user_json(0), None);
    assert_eq!(second.end_user_json(u32::MAX), None);
}
