//! Data-driven tests of the governance process (issue #4 "Proven"): the review clock, the
//! application machine driven through commands, the sign-off quorum (no self-approval), the
//! revocation notice period, appeals and their relief, blanket directives, and replay.
//!
//! Every clock is driven by the `now` each command is handled at: nothing sleeps, nothing reads
//! the wall clock. Tables render outcomes as short strings (`day` offsets from `T0`, event
//! summaries, `kind: message` errors) so each row reads as one line of the process.
//!
//! # Layout
//!
//! - `process/world.rs`: the `World` (handle, apply, log), renderers, command builders, the story.
//! - `process/stages.rs`: the review clock and clearance, review positions, stage notices, procedures.
//! - `process/applications.rs`: the happy path, submissions, amendments, every transition.
//! - `process/quorum.rs`: the sign-off quorum and the no-self-approval rules.
//! - `process/revocations.rs`: the revocation notice period and directives that shorten it.
//! - `process/appeals.rs`: filing, deciding, and the relief of each outcome.
//! - here: blanket directives, and replay of the whole story.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::type_complexity,
    reason = "test code: a panic is a test failure with a message"
)]

// The root of a test crate resolves `mod x;` beside itself, where Cargo would build `x.rs` as a
// test of its own; the tables live in `process/` instead, one file per area.
#[path = "process/appeals.rs"]
mod appeals;
#[path = "process/applications.rs"]
mod applications;
#[path = "process/checkpoint.rs"]
mod checkpoint;
#[path = "process/quorum.rs"]
mod quorum;
#[path = "process/revocations.rs"]
mod revocations;
#[path = "process/stages.rs"]
mod stages;
#[path = "process/world.rs"]
mod world;

use portcullis_core::application::Verdict;
use portcullis_core::*;

use crate::world::*;

// ---------------------------------------------------------------------------------------------
// A directive must narrow access.
// ---------------------------------------------------------------------------------------------

#[test]
fn blanket_directives_are_refused() {
    let base = story();
    let blanket = "a directive must narrow access: add a `when` or `unless` condition on attributes or name the \
                   customers; to stop a model for everyone, suspend it instead";
    let rows: &[(&str, String)] = &[
        ("forbid(principal, action, resource);", format!("policy: invalid policy: line 1, column 1: {blanket}")),
        (
            "@id(\"all\")\nforbid(principal, action, resource);",
            format!("policy: invalid policy: line 2, column 1: {blanket}"),
        ),
        (
            "forbid(principal, action, resource)\nwhen { principal has sector && principal.sector == \"defense\" };\n\
             forbid(principal, action == Action::\"invoke\", resource == Model::\"frontier\");",
            format!("policy: invalid policy: line 3, column 1: {blanket}"),
        ),
        // A condition that reads neither the customer nor the request narrows nothing.
        (
            "forbid(principal, action, resource) when { true };",
            format!("policy: invalid policy: line 1, column 1: {blanket}"),
        ),
        (
            "forbid(principal, action, resource) unless { false };",
            format!("policy: invalid policy: line 1, column 1: {blanket}"),
        ),
        (
            "forbid(principal, action, resource) when { resource == Model::\"frontier\" && 1 < 2 };",
            format!("policy: invalid policy: line 1, column 1: {blanket}"),
        ),
        (
            "forbid(principal, action, resource) when { context has end_user && context.end_user has residency && context.end_user.residency == \"KP\" };",
            "directive_issued; public notice effective=d3 appeal_by=d33".to_owned(),
        ),
        (
            "forbid(principal == Customer::\"acme\", action, resource);",
            "directive_issued; public notice effective=d3 appeal_by=d33".to_owned(),
        ),
        (
            "forbid(principal, action, resource) when { principal has sector && principal.sector == \"defense\" };",
            "directive_issued; public notice effective=d3 appeal_by=d33".to_owned(),
        ),
        (
            "forbid(principal, action, resource) unless { context has end_user };",
            "directive_issued; public notice effective=d3 appeal_by=d33".to_owned(),
        ),
    ];
    for (policies, expect) in rows {
        let mut w = base.clone();
        let got = w
            .try_run("ncsc/c.lee", directive("EC-X", &["frontier"], policies, None), NOW)
            .map_or_else(|err| error(&err), |events| summary(&events));
        assert_eq!(got, *expect, "{policies}");
    }
}

// ---------------------------------------------------------------------------------------------
// Replay: the stored events rebuild the same process state.
// ---------------------------------------------------------------------------------------------

#[test]
fn replay_rebuilds_the_process() {
    let w = full_story();

    // Through the stored encoding, into a fresh state.
    let mut replayed = World::new().state;
    for record in &w.log {
        let stored = EventRecord::from_stored_json(&record.to_stored_json().unwrap()).unwrap();
        assert_eq!(stored, *record);
        replayed.apply(&stored).unwrap();
    }
    assert_eq!(replayed.last_seq, w.state.last_seq);
    let applications = |s: &State| s.applications().map(|a| (**a).clone()).collect::<Vec<_>>();
    let appeals = |s: &State| s.appeals().map(|a| (**a).clone()).collect::<Vec<_>>();
    let notices = |s: &State| s.notices().map(|n| (**n).clone()).collect::<Vec<_>>();
    assert_eq!(applications(&replayed), applications(&w.state));
    assert_eq!(appeals(&replayed), appeals(&w.state));
    assert_eq!(notices(&replayed), notices(&w.state));
    let statuses: Vec<&str> = w.state.applications().map(|a| a.status.name()).collect();
    assert_eq!(statuses, ["approved", "approved", "withdrawn"]);
    let frontier = |s: &State| {
        let m = s.model("frontier").unwrap().clone();
        (m.procedure.clone(), m.review.clone(), m.stage)
    };
    assert_eq!(frontier(&replayed), frontier(&w.state));
    for customer in ["acme", "globex", "initech"] {
        assert_eq!(replayed.customer(customer).unwrap().grants, w.state.customer(customer).unwrap().grants);
        let exemptions = |s: &State| s.directive("EC-DEF").unwrap().exemptions.clone();
        assert_eq!(exemptions(&replayed), exemptions(&w.state));
        for now in [at(10), at(23), at(30)] {
            assert_eq!(
                access(&Snapshot::new(replayed.clone()), customer, now),
                w.access(customer, now),
                "{customer} at {}",
                day(now)
            );
        }
    }
    // A stored event the application machine does not allow is refused on replay, naming why.
    let record = EventRecord {
        seq: replayed.last_seq + 1,
        at: at(11),
        actor: actor("bis/j.doe"),
        event: Event::ApplicationSignedOff {
            application: application("app-3"),
            verdict: Verdict::Approve,
            reasons: "late".to_owned(),
            clauses: vec!["kyc-verified".to_owned()],
            evidence: Vec::new(),
            grant_expires_at: None,
        },
    };
    assert_eq!(
        replayed.apply(&record).unwrap_err().to_string(),
        format!(
            "event {} (`application_signed_off`) does not apply to the state: \
             an application that is `withdrawn` cannot be signed off",
            record.seq
        )
    );
}

#[test]
fn a_directive_notice_names_the_first_thousand_grant_holders_by_id_and_counts_the_rest() {
    let mut w = draft_world(None);
    let apply = |w: &mut World, who: &str, event: Event| {
        let record = EventRecord { seq: w.state.last_seq + 1, at: T0, actor: actor(who), event };
        w.state.apply(&record).unwrap();
    };
    // 1,005 holders of a live grant on `frontier`, created in an order unlike their ids; one
    // more whose grant was revoked, and one with a grant on another model only.
    for i in (0..1007).rev() {
        let customer = CustomerId::parse(&format!("c-{i:04}")).unwrap();
        apply(
            &mut w,
            "provider",
            Event::CustomerCreated { customer: customer.clone(), name: "c".to_owned(), attributes: Default::default() },
        );
        let on = if i == 1006 { "workhorse" } else { "frontier" };
        let grant = Event::GrantIssued {
            customer: customer.clone(),
            model: model(on),
            expires_at: None,
            reason: "approved".to_owned(),
            application: None,
            appeal: None,
        };
        apply(&mut w, "bis/j.doe", grant);
        if i == 1005 {
            let revoked = Event::GrantRevoked {
                customer,
                model: model("frontier"),
                reason: "ended".to_owned(),
                effective_at: T0,
                directive: None,
            };
            apply(&mut w, "bis/j.doe", revoked);
        }
    }
    let policies =
        r#"forbid(principal, action, resource) when { principal has country && principal.country == "RU" };"#;
    let events = w.run("bis/j.doe", directive("EC-N", &["frontier"], policies, Some(at(10))), T1);
    let Some(Event::NoticeSent { recipients, text, .. }) =
        events.iter().find(|e| matches!(e, Event::NoticeSent { .. }))
    else {
        panic!("no notice: {}", summary(&events));
    };
    let expected: Vec<String> = (0..1000).map(|i| format!("c-{i:04}")).collect();
    assert_eq!(recipients.iter().map(|c| c.as_str().to_owned()).collect::<Vec<_>>(), expected);
    assert!(text.ends_with("(also concerns 5 more grant holders not listed here)"), "{text}");
}
