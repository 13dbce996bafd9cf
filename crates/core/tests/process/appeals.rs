//! Appeals: the filing window, who may decide, and the relief each outcome gives.

use portcullis_core::appeal::{AppealOutcome, AppealStatus, AppealSubject, OfficialRef};
use portcullis_core::application::ApplicationStatus;
use portcullis_core::*;

use crate::world::*;

// ---------------------------------------------------------------------------------------------
// Appeals: the window, who decides, and the relief.
// ---------------------------------------------------------------------------------------------

/// acme's `app-1` denied on day 3 by bis (j.doe) and aisi (a.smith): appeal by day 33, decided by
/// bis; globex's `app-2` approved.
fn denied_world() -> World {
    let mut w = story();
    deny(&mut w, "app-1", "acme", NOW);
    approve(&mut w, "app-2", "globex", NOW);
    w
}

#[test]
fn appeal_filing_table() {
    let base = denied_world();
    let mut pending = base.clone();
    pending.run("acme", file("ap-0", "acme", denial("app-1")), at(4));
    let mut upheld = pending.clone();
    upheld.run("bis/r.roe", decide_appeal("ap-0", AppealOutcome::Upheld, None), at(5));
    let rows: Vec<(&World, &str, Command, Timestamp, &str)> = vec![
        (
            &base,
            "acme",
            file("ap-1", "acme", denial("app-1")),
            at(10),
            "appeal_filed authority=bis deciders=bis/j.doe,aisi/a.smith due=d40 in_force=true",
        ),
        // The window closes at the `appeal_by` of the decision, inclusive.
        (
            &base,
            "acme",
            file("ap-1", "acme", denial("app-1")),
            at(33),
            "appeal_filed authority=bis deciders=bis/j.doe,aisi/a.smith due=d63 in_force=true",
        ),
        (
            &base,
            "acme",
            file("ap-1", "acme", denial("app-1")),
            at(33).plus_millis(1),
            "deadline_passed: the deadline to appeal the denial of application `app-1` passed at 2026-12-30T17:20:00Z",
        ),
        (
            &pending,
            "acme",
            file("ap-1", "acme", denial("app-1")),
            at(10),
            "invalid: appeal `ap-0` against the denial of application `app-1` is already pending",
        ),
        (
            &pending,
            "acme",
            file("ap-0", "acme", denial("app-1")),
            at(10),
            "already_exists: appeal `ap-0` already exists",
        ),
        (
            &base,
            "globex",
            file("ap-1", "globex", denial("app-1")),
            at(10),
            "invalid: application `app-1` is not `globex`'s",
        ),
        (
            &base,
            "globex",
            file("ap-1", "acme", denial("app-1")),
            at(10),
            "forbidden: customer globex may not appeal on behalf of this customer",
        ),
        (
            &base,
            "bis/r.roe",
            file("ap-1", "acme", denial("app-1")),
            at(10),
            "forbidden: authority bis (r.roe) may not appeal on behalf of this customer",
        ),
        (
            &base,
            "globex",
            file("ap-1", "globex", denial("app-2")),
            at(10),
            "invalid: application `app-2` is `approved`; only a denial can be appealed",
        ),
        (&base, "acme", file("ap-1", "acme", denial("app-9")), at(10), "not_found: no application `app-9`"),
        (
            &base,
            "acme",
            file("ap-1", "acme", AppealSubject::GrantRevocation { model: model("frontier") }),
            at(10),
            "invalid: customer `acme` has no revoked grant for `frontier`",
        ),
        // FIXME: once an appeal is decided, the same subject can be appealed again (only a
        // *pending* one is refused), and the official who decided the first appeal (bis/r.roe) is
        // not among those barred from deciding the second. Refusing every decided subject would be
        // wrong for grant revocations (a later grant can be revoked again under the same subject),
        // so this needs a design decision, not a one-line fix.
        (
            &upheld,
            "acme",
            file("ap-1", "acme", denial("app-1")),
            at(10),
            "appeal_filed authority=bis deciders=bis/j.doe,aisi/a.smith due=d40 in_force=true",
        ),
    ];
    for (world, who, command, now, expect) in rows {
        let mut w = world.clone();
        let got = w.try_run(who, command, now).map_or_else(|err| error(&err), |events| summary(&events));
        assert_eq!(got, expect, "{who} at {}", day(now));
    }
}

#[test]
fn appeal_decision_table() {
    use AppealOutcome::{Modified, Reversed, Upheld};
    let mut base = denied_world();
    base.run("acme", file("ap-1", "acme", denial("app-1")), at(10));
    let appeal = base.state.appeal("ap-1").unwrap().clone();
    assert!(appeal.original_in_force, "filing does not suspend the denial");
    assert_eq!((appeal.status, appeal.filed_at), (AppealStatus::Pending, at(10)));
    assert_eq!(base.access("acme", at(10)), "deny grant_required", "the denial stands while the appeal is pending");
    let rows: &[(Timestamp, bool)] = &[(at(40), false), (at(40).plus_millis(1), true)];
    for (now, overdue) in rows {
        assert_eq!(appeal.overdue(*now), *overdue, "decision due 30 days after filing; at {}", day(*now));
    }
    let decided_at = at(11);
    let restored = "decided approve on_appeal clauses=us-entity";
    // (who, outcome, relief_until, events or refusal, access checks after)
    let rows: &[(&str, AppealOutcome, Option<Timestamp>, String, &[(Timestamp, &str)])] = &[
        // Neither the officials who denied it nor another authority decide it.
        (
            "bis/j.doe",
            Reversed,
            None,
            "forbidden: authority bis (j.doe) may not decide appeal `ap-1`: they took the action appealed against"
                .to_owned(),
            &[],
        ),
        (
            "aisi/a.smith",
            Reversed,
            None,
            "forbidden: authority aisi (a.smith) may not decide appeal `ap-1` (it is for authority `bis`)".to_owned(),
            &[],
        ),
        (
            "aisi/b.jones",
            Reversed,
            None,
            "forbidden: authority aisi (b.jones) may not decide appeal `ap-1` (it is for authority `bis`)".to_owned(),
            &[],
        ),
        (
            "ncsc/c.lee",
            Reversed,
            None,
            "forbidden: authority ncsc (c.lee) may not decide appeal `ap-1` (it is for authority `bis`)".to_owned(),
            &[],
        ),
        ("provider", Reversed, None, "forbidden: provider (ops) may not decide appeals".to_owned(), &[]),
        ("acme", Reversed, None, "forbidden: customer acme may not decide appeals".to_owned(), &[]),
        // Another official of the deciding authority: reversed restores access for good.
        (
            "bis/r.roe",
            Reversed,
            None,
            format!(
                "appeal_decided reversed; {restored} expires=never; grant_issued acme expires=never; notice to acme effective=d11"
            ),
            &[(at(11), "allow"), (at(400), "allow")],
        ),
        // Modified restores it until `relief_until`.
        (
            "bis/r.roe",
            Modified,
            Some(at(20)),
            format!(
                "appeal_decided modified until=d20; {restored} expires=d20; grant_issued acme expires=d20; notice to acme effective=d11"
            ),
            &[(at(20).plus_millis(-1), "allow"), (at(20), "deny grant_expired")],
        ),
        (
            "bis/r.roe",
            Modified,
            None,
            "invalid: a modified outcome restores access for a limited time and needs relief_until".to_owned(),
            &[],
        ),
        ("bis/r.roe", Modified, Some(at(11)), "invalid: relief_until is in the past".to_owned(), &[]),
        ("bis/r.roe", Upheld, Some(at(20)), "invalid: relief_until only goes with a modified outcome".to_owned(), &[]),
        (
            "bis/r.roe",
            Reversed,
            Some(at(20)),
            "invalid: relief_until only goes with a modified outcome".to_owned(),
            &[],
        ),
        // Upheld changes nothing but the record and a notice.
        (
            "bis/r.roe",
            Upheld,
            None,
            "appeal_decided upheld; notice to acme effective=d11".to_owned(),
            &[(at(11), "deny grant_required")],
        ),
    ];
    for (who, outcome, relief_until, expect, access) in rows {
        let mut w = base.clone();
        let n_notices = w.state.notices().count();
        let got = match w.try_run(who, decide_appeal("ap-1", *outcome, *relief_until), decided_at) {
            Err(err) => {
                assert_eq!(w.state.appeal("ap-1").unwrap().status, AppealStatus::Pending);
                error(&err)
            }
            Ok(events) => {
                let appeal = w.state.appeal("ap-1").unwrap().clone();
                let decision = appeal.decision.clone().unwrap();
                assert_eq!(appeal.status, AppealStatus::Decided(*outcome));
                assert_eq!(
                    decision.by,
                    OfficialRef {
                        authority: AuthorityId::parse("bis").unwrap(),
                        official: OfficialName::parse("r.roe").unwrap()
                    }
                );
                assert_eq!(w.state.notices().count(), n_notices + 1, "every decision notifies the appellant");
                let app = w.application("app-1");
                let want = if *outcome == Upheld { ApplicationStatus::Denied } else { ApplicationStatus::Approved };
                assert_eq!(app.status, want);
                // Decided once: a second decision is refused, naming the outcome.
                let again = w.refuse("bis/r.roe", decide_appeal("ap-1", Upheld, None), at(12));
                assert_eq!(again, format!("invalid: appeal `ap-1` is already {}", appeal.status.name()));
                summary(&events)
            }
        };
        assert_eq!(got, *expect, "{who} {outcome:?}");
        for (now, decision) in *access {
            assert_eq!(w.access("acme", *now), *decision, "{who} {outcome:?}, at {}", day(*now));
        }
    }
}

/// The memo shares Cedar outcomes between customers of one attribute class; an exemption won on
/// appeal is per customer, so it must not leak to the rest of the class.
#[test]
fn directive_appeal_exempts_one_customer_not_its_class() {
    let mut w = story();
    approve(&mut w, "app-acme", "acme", T1);
    approve(&mut w, "app-globex", "globex", T1);
    // A direct grant may not bypass the 2-of-3 quorum.
    let direct = Command::Grant {
        customer: CustomerId::parse("acme").unwrap(),
        model: model("frontier"),
        expires_at: None,
        reason: "out of band".to_owned(),
    };
    let refused = w.refuse("bis/j.doe", direct, T1);
    assert!(refused.contains("goes through an application signed off by 2 of bis, aisi, ncsc"), "{refused}");
    let (acme, globex) = (w.state.customer("acme").unwrap(), w.state.customer("globex").unwrap());
    assert_eq!(acme.class_id, globex.class_id, "acme and globex share an attribute class");
    let defense = r#"@id("no-defense")
forbid(principal, action, resource) when { principal has sector && principal.sector == "defense" };"#;
    let events = w.run("ncsc/c.lee", directive("EC-DEF", &["frontier"], defense, None), NOW);
    assert_eq!(summary(&events), "directive_issued; public notice to acme,globex effective=d3 appeal_by=d33");
    for customer in ["acme", "globex"] {
        assert_eq!(w.access(customer, NOW), "deny directive EC-DEF");
    }
    let subject = || AppealSubject::Directive { directive: DirectiveId::parse("EC-DEF").unwrap() };
    assert_eq!(
        summary(&w.run("acme", file("ap-1", "acme", subject()), at(4))),
        "appeal_filed authority=ncsc deciders=ncsc/c.lee due=d34 in_force=true"
    );
    assert_eq!(
        w.refuse("ncsc/c.lee", decide_appeal("ap-1", AppealOutcome::Reversed, None), at(5)),
        "forbidden: authority ncsc (c.lee) may not decide appeal `ap-1`: they took the action appealed against"
    );
    assert_eq!(
        summary(&w.run("ncsc/d.kim", decide_appeal("ap-1", AppealOutcome::Reversed, None), at(5))),
        "appeal_decided reversed; exemption acme until=never; notice to acme effective=d5"
    );
    // One snapshot, both orders, repeated: the memoised outcome is shared, the exemption is not.
    let snapshot = Snapshot::new(w.state.clone());
    for _ in 0..2 {
        assert_eq!(access(&snapshot, "globex", at(5)), "deny directive EC-DEF");
        assert_eq!(access(&snapshot, "acme", at(5)), "allow");
        assert_eq!(access(&snapshot, "globex", at(5)), "deny directive EC-DEF");
    }
    // globex wins a limited exemption: it ends at `relief_until`.
    w.run("globex", file("ap-2", "globex", subject()), at(6));
    assert_eq!(
        summary(&w.run("ncsc/d.kim", decide_appeal("ap-2", AppealOutcome::Modified, Some(at(10))), at(7))),
        "appeal_decided modified until=d10; exemption globex until=d10; notice to globex effective=d7"
    );
    let rows: &[(&str, Timestamp, &str)] = &[
        ("globex", at(10).plus_millis(-1), "allow"),
        ("globex", at(10), "deny directive EC-DEF"),
        ("acme", at(10), "allow"),
    ];
    for (customer, now, expect) in rows {
        assert_eq!(w.access(customer, *now), *expect, "{customer} at {}", day(*now));
    }
    // The window for appealing a directive is 30 days from its issue.
    // Standing: a customer the directive cannot reach (no grant for a model in its scope) may not appeal it.
    assert_eq!(
        w.refuse("initech", file("ap-3", "initech", subject()), at(33)),
        "invalid: directive `EC-DEF` does not reach customer `initech` (no grant for a model in its scope)"
    );
    w.run("globex", file("ap-3", "globex", subject()), at(33));
    assert_eq!(
        w.refuse("acme", file("ap-4", "acme", subject()), at(33).plus_millis(1)),
        "deadline_passed: the deadline to appeal directive `EC-DEF` passed at 2026-12-30T17:20:00Z"
    );
}

#[test]
fn revocation_appeal_restores_the_grant() {
    let mut w = story();
    approve(&mut w, "app-1", "acme", T1);
    w.run(
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
    let subject = AppealSubject::GrantRevocation { model: model("frontier") };
    assert_eq!(
        summary(&w.run("acme", file("ap-1", "acme", subject.clone()), at(4))),
        "appeal_filed authority=bis deciders=bis/j.doe due=d34 in_force=true"
    );
    assert_eq!(w.access("acme", at(17)), "deny grant_revoked");
    assert_eq!(
        summary(&w.run("bis/r.roe", decide_appeal("ap-1", AppealOutcome::Reversed, None), at(20))),
        "appeal_decided reversed; grant_issued acme expires=never; notice to acme effective=d20"
    );
    assert_eq!(w.access("acme", at(20)), "allow");
    assert_eq!(
        w.refuse("acme", file("ap-2", "acme", subject), at(21)),
        "invalid: customer `acme` has no revoked grant for `frontier`"
    );
}
