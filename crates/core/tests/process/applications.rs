//! Applications: the happy path, submissions, amendments and the paused clock, and every
//! transition of the application machine driven through commands.

use portcullis_core::application::{ApplicationStatus, Verdict};
use portcullis_core::*;

use crate::world::*;

// ---------------------------------------------------------------------------------------------
// Applications: the happy path, submissions.
// ---------------------------------------------------------------------------------------------

#[test]
fn application_happy_path() {
    let mut w = story();
    assert_eq!(w.access("acme", T1), "deny grant_required");
    assert_eq!(summary(&w.run("acme", submit("app-1", "acme"), T1)), "application_submitted");
    assert_eq!(summary(&w.run("bis/j.doe", start("app-1"), T1)), "application_review_started");
    let signed = |reasons: &str, clauses: &[&str], expires_at: Timestamp| Command::SignOffApplication {
        application: application("app-1"),
        verdict: Verdict::Approve,
        reasons: reasons.to_owned(),
        clauses: clauses.iter().map(|c| (*c).to_owned()).collect(),
        evidence: vec![evidence()],
        grant_expires_at: Some(expires_at),
    };
    let first = w.run("bis/j.doe", signed("KYC file checked", &["kyc-verified"], at(92)), T1.plus_millis(HOUR));
    assert_eq!(summary(&first), "signed_off approve kyc-verified");
    let second = w.run("aisi/a.smith", signed("US entity", &["us-entity", "kyc-verified"], at(62)), at(3));
    assert_eq!(
        summary(&second),
        "signed_off approve us-entity,kyc-verified; \
         decided approve clauses=kyc-verified,us-entity expires=d62; \
         grant_issued acme expires=d62"
    );
    // The decision cites the criteria version it applied, by content hash.
    let app = w.application("app-1");
    let criteria = w.state.model("frontier").unwrap().criteria.clone().unwrap();
    let decision = app.decision.clone().unwrap();
    assert_eq!(
        (app.status, decision.criteria_version, decision.criteria_hash.as_str(), decision.at),
        (ApplicationStatus::Approved, 1, criteria.content_hash.as_str(), at(3))
    );
    assert_eq!(app.criteria_version_at_submission, Some(1));
    let signoffs: Vec<(String, &str, Vec<Evidence>)> = app
        .signoffs
        .iter()
        .map(|s| (format!("{}/{}", s.authority, s.official), s.reasons.as_str(), s.evidence.clone()))
        .collect();
    assert_eq!(
        signoffs,
        [
            ("bis/j.doe".to_owned(), "KYC file checked", vec![evidence()]),
            ("aisi/a.smith".to_owned(), "US entity", vec![evidence()]),
        ]
    );
    let history: Vec<(&str, &str)> = app.history.iter().map(|s| (s.what, s.by.as_str())).collect();
    assert_eq!(
        history,
        [
            ("submitted", "customer acme"),
            ("review_started", "authority bis (j.doe)"),
            ("approved_by_authority", "authority bis (j.doe)"),
            ("approved_by_authority", "authority aisi (a.smith)"),
            ("approved", "authority aisi (a.smith)"),
        ]
    );
    // The grant is the earliest proposed expiry, issued by the official whose sign-off settled it.
    let grant = w.state.customer("acme").unwrap().grants.get("frontier").unwrap().clone();
    assert_eq!((grant.expires_at, grant.origin.granted_by.clone()), (Some(at(62)), actor("aisi/a.smith")));
    let rows: &[(&str, Timestamp, &str)] = &[
        ("acme", at(3), "allow"),
        ("acme", at(62).plus_millis(-1), "allow"),
        ("acme", at(62), "deny grant_expired"),
        ("globex", at(3), "deny grant_required"),
    ];
    for (customer, now, expect) in rows {
        assert_eq!(w.access(customer, *now), *expect, "{customer} at {}", day(*now));
    }
    assert!(!app.overdue(at(100)), "a decided application is never overdue");
}

#[test]
fn submission_table() {
    let mut base = story();
    approve(&mut base, "app-1", "acme", T1);
    base.run("globex", submit("app-2", "globex"), T1);
    let draft = draft_world(Some(quorum(2)));
    let mut unset = draft_world(None);
    unset.run("provider", change_stage(StageTarget::Review), T0);
    // A grant under notice of revocation is still held; once the revocation takes effect, the
    // customer may apply again.
    let mut revoked = base.clone();
    revoked.run(
        "bis/j.doe",
        Command::RevokeGrant {
            customer: CustomerId::parse("acme").unwrap(),
            model: model("frontier"),
            effective_at: None,
            reason: "terms breached".to_owned(),
            directive: None,
        },
        NOW,
    );
    let rows: &[(&World, &str, &str, &str, Timestamp, &str)] = &[
        (&base, "initech", "app-3", "initech", T1, "application_submitted"),
        (&base, "initech", "app-1", "initech", T1, "already_exists: application `app-1` already exists"),
        (
            &base,
            "globex",
            "app-3",
            "globex",
            T1,
            "invalid: customer `globex` already has an open application `app-2` for `frontier`",
        ),
        (&base, "acme", "app-3", "acme", T1, "invalid: customer `acme` already holds a grant for `frontier`"),
        (
            &revoked,
            "acme",
            "app-3",
            "acme",
            at(17).plus_millis(-1),
            "invalid: customer `acme` already holds a grant for `frontier`",
        ),
        (&revoked, "acme", "app-3", "acme", at(17), "application_submitted"),
        (&base, "acme", "app-3", "initech", T1, "forbidden: customer acme may not apply on behalf of this customer"),
        (
            &base,
            "bis/j.doe",
            "app-3",
            "initech",
            T1,
            "forbidden: authority bis (j.doe) may not apply on behalf of this customer",
        ),
        (
            &base,
            "provider",
            "app-3",
            "initech",
            T1,
            "forbidden: provider (ops) may not apply on behalf of this customer",
        ),
        (
            &draft,
            "acme",
            "app-3",
            "acme",
            T1,
            "invalid: model `frontier` is `draft`; applications are taken for models in `review` or `preview`",
        ),
        (
            &unset,
            "acme",
            "app-3",
            "acme",
            T1,
            "invalid: model `frontier` names no sign-off authorities yet; the provider must set its procedure first",
        ),
    ];
    for (world, who, app, customer, now, expect) in rows {
        let mut w = (*world).clone();
        let got = w.try_run(who, submit(app, customer), *now).map_or_else(|err| error(&err), |events| summary(&events));
        assert_eq!(got, *expect, "{who} submits {app} for {customer} at {}", day(*now));
    }
}

// ---------------------------------------------------------------------------------------------
// Amendments start a new round; a request for information pauses the decision clock.
// ---------------------------------------------------------------------------------------------

#[test]
fn amendment_resets_signoffs_and_pauses_the_clock() {
    let mut w = story();
    w.run("acme", submit("app-1", "acme"), T1);
    let due = w.application("app-1").due_at;
    assert_eq!(day(due), "d32", "decision due 30 days after submission");
    w.run("bis/j.doe", start("app-1"), T1);
    w.run("bis/j.doe", sign("app-1", Verdict::Approve, &["kyc-verified"]), at(3));
    // Paused from day 5 to day 15, then from day 20 to day 23: due moves by exactly 10 + 3 days.
    w.run("aisi/a.smith", request_info("app-1"), at(5));
    let app = w.application("app-1");
    assert_eq!((app.status, app.paused_at), (ApplicationStatus::InfoRequested, Some(at(5))));
    assert!(!app.overdue(at(40)), "a paused clock is never overdue, even past the original due date");
    assert_eq!(
        w.refuse("ncsc/c.lee", sign("app-1", Verdict::Approve, &["kyc-verified"]), at(6)),
        "application_transition: an application that is `info_requested` cannot be signed off"
    );
    let events = w.run("acme", amend("app-1", "red-teaming; end users are our own staff"), at(15));
    let Some(Event::ApplicationAmended { due_at, .. }) = events.first() else { panic!("{}", summary(&events)) };
    assert_eq!(day(*due_at), "d42");
    let app = w.application("app-1");
    assert_eq!(
        (app.status, app.round, app.signoffs.len(), app.paused_at, app.purpose.as_str()),
        (ApplicationStatus::UnderReview, 2, 0, None, "red-teaming; end users are our own staff")
    );
    w.run("ncsc/c.lee", request_info("app-1"), at(20));
    w.run("acme", amend("app-1", "red-teaming; staff only, in the US"), at(23));
    let app = w.application("app-1");
    assert_eq!((day(app.due_at), app.round), ("d45".to_owned(), 3));
    let rows: &[(Timestamp, bool)] = &[(at(44), false), (at(45), false), (at(45).plus_millis(1), true)];
    for (now, overdue) in rows {
        assert_eq!(app.overdue(*now), *overdue, "at {}", day(*now));
    }
    // bis's approval of round 1 no longer counts: one approval now is not a quorum...
    assert_eq!(
        summary(&w.run("aisi/a.smith", sign("app-1", Verdict::Approve, &["kyc-verified"]), at(24))),
        "signed_off approve kyc-verified"
    );
    // ...and bis may sign again in the new round, which settles it.
    assert_eq!(
        summary(&w.run("bis/j.doe", sign("app-1", Verdict::Approve, &["kyc-verified"]), at(25))),
        "signed_off approve kyc-verified; decided approve clauses=kyc-verified expires=never; grant_issued acme expires=never"
    );
    let whats: Vec<&str> = w.application("app-1").history.iter().map(|s| s.what).collect();
    assert_eq!(
        whats,
        [
            "submitted",
            "review_started",
            "approved_by_authority",
            "info_requested",
            "amended",
            "info_requested",
            "amended",
            "approved_by_authority",
            "approved_by_authority",
            "approved",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Every application transition, through commands.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Step {
    Submit,
    Start,
    Info,
    Amend,
    Sign,
    Withdraw,
    ApproveBis,
    ApproveAisi,
    DenyBis,
    DenyAisi,
}

/// Who does a step, and the command. `Sign` is ncsc's, which signs in no setup path.
fn step(s: Step) -> (&'static str, Command) {
    match s {
        Step::Submit => ("acme", submit("app-1", "acme")),
        Step::Start => ("ncsc/c.lee", start("app-1")),
        Step::Info => ("ncsc/c.lee", request_info("app-1")),
        Step::Amend => ("acme", amend("app-1", "a clearer purpose")),
        Step::Sign => ("ncsc/c.lee", sign("app-1", Verdict::Approve, &["kyc-verified"])),
        Step::Withdraw => ("acme", withdraw("app-1")),
        Step::ApproveBis => ("bis/j.doe", sign("app-1", Verdict::Approve, &["kyc-verified"])),
        Step::ApproveAisi => ("aisi/a.smith", sign("app-1", Verdict::Approve, &["kyc-verified"])),
        Step::DenyBis => ("bis/j.doe", sign("app-1", Verdict::Deny, &["us-entity"])),
        Step::DenyAisi => ("aisi/a.smith", sign("app-1", Verdict::Deny, &["us-entity"])),
    }
}

#[test]
fn application_transitions_through_commands() {
    use Step::*;
    let base = story();
    let no = |status: &str, words: &str| {
        format!("application_transition: an application that is `{status}` cannot be {words}")
    };
    // Each reachable status, reached through commands, then each command a party can send.
    let paths: [(&str, &[Step]); 6] = [
        ("submitted", &[Submit]),
        ("under_review", &[Submit, Start]),
        ("info_requested", &[Submit, Start, Info]),
        ("approved", &[Submit, Start, ApproveBis, ApproveAisi]),
        ("denied", &[Submit, Start, DenyBis, DenyAisi]),
        ("withdrawn", &[Submit, Withdraw]),
    ];
    let actions = [Start, Info, Amend, Sign, Withdraw];
    let words = ["taken up for review", "asked for more information", "amended", "signed off", "withdrawn"];
    // One row per status; one column per action: the status it leads to, or the refusal.
    let table: [[String; 5]; 6] = [
        [
            "under_review".to_owned(),
            no("submitted", words[1]),
            "submitted".to_owned(),
            no("submitted", words[3]),
            "withdrawn".to_owned(),
        ],
        [
            no("under_review", words[0]),
            "info_requested".to_owned(),
            "under_review".to_owned(),
            "under_review".to_owned(),
            "withdrawn".to_owned(),
        ],
        [
            no("info_requested", words[0]),
            no("info_requested", words[1]),
            "under_review".to_owned(),
            no("info_requested", words[3]),
            "withdrawn".to_owned(),
        ],
        words.map(|w| no("approved", w)),
        words.map(|w| no("denied", w)),
        words.map(|w| no("withdrawn", w)),
    ];
    for ((status, path), row) in paths.iter().zip(&table) {
        let mut reached = base.clone();
        for s in *path {
            let (who, command) = step(*s);
            reached.run(who, command, T1);
        }
        assert_eq!(reached.application("app-1").status.name(), *status);
        for (action, expect) in actions.iter().zip(row) {
            let mut w = reached.clone();
            let before = w.application("app-1");
            let (who, command) = step(*action);
            let got = match w.try_run(who, command, T1.plus_millis(HOUR)) {
                Ok(_) => w.application("app-1").status.name().to_owned(),
                Err(err) => {
                    // Nothing changes on error.
                    assert_eq!((w.state.last_seq, w.application("app-1")), (reached.state.last_seq, before));
                    error(&err)
                }
            };
            assert_eq!(got, *expect, "{status} then {action:?}");
        }
    }
}

#[test]
fn application_parties() {
    let mut w = story();
    w.run("acme", submit("app-1", "acme"), T1);
    let rows: Vec<(&str, Command, &str)> = vec![
        ("globex", amend("app-1", "mine now"), "forbidden: customer globex may not amend this application"),
        ("globex", withdraw("app-1"), "forbidden: customer globex may not withdraw this application"),
        ("bis/j.doe", withdraw("app-1"), "forbidden: authority bis (j.doe) may not withdraw this application"),
        ("provider", start("app-1"), "forbidden: provider (ops) may not take up applications"),
        ("acme", start("app-1"), "forbidden: customer acme may not take up applications"),
        (
            "fcc/k.west",
            start("app-1"),
            "forbidden: authority fcc (k.west) may not review application `app-1` for `frontier` (not one of its sign-off authorities)",
        ),
        ("bis/j.doe", start("app-9"), "not_found: no application `app-9`"),
        ("acme", amend("app-1", ""), "invalid: purpose is required"),
    ];
    for (who, command, expect) in rows {
        assert_eq!(w.refuse(who, command, T1), expect, "{who}");
    }
}
