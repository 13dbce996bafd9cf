//! Revocation: the notice period, shortened only by a directive in force for the model.

use portcullis_core::procedure::Procedure;
use portcullis_core::*;

use crate::world::*;

// ---------------------------------------------------------------------------------------------
// Revocation: the notice period, shortened only by a directive in force for the model.
// ---------------------------------------------------------------------------------------------

/// acme approved for `frontier` at T1; directives on `frontier` (in force, lifted, not yet in
/// force) and on `workhorse`, none of which cut acme.
fn revocation_world() -> World {
    let mut w = story();
    approve(&mut w, "app-1", "acme", T1);
    let russia = r#"forbid(principal, action, resource) when { principal has country && principal.country == "RU" };"#;
    w.run("ncsc/c.lee", directive("EC-1", &["frontier"], russia, None), T1);
    w.run("ncsc/c.lee", directive("EC-LIFTED", &["frontier"], russia, None), T1);
    w.run(
        "ncsc/c.lee",
        Command::LiftDirective { directive: DirectiveId::parse("EC-LIFTED").unwrap(), reason: "rescinded".to_owned() },
        T1,
    );
    w.run("ncsc/c.lee", directive("EC-FUTURE", &["frontier"], russia, Some(at(10))), T1);
    w.run("ncsc/c.lee", directive("EC-OTHER", &["workhorse"], russia, None), T1);
    w
}

#[track_caller]
fn check_revocation(
    base: &World,
    who: &str,
    customer: &str,
    notice_days: Option<u32>,
    effective_in: Option<i64>,
    directive: Option<&str>,
    expect: &str,
) {
    let mut w = base.clone();
    if let Some(days) = notice_days {
        let procedure = Procedure { revocation_notice_days: days, ..quorum(2) };
        w.run("provider", Command::SetProcedure { model: model("frontier"), procedure }, NOW);
    }
    let command = Command::RevokeGrant {
        customer: CustomerId::parse(customer).unwrap(),
        model: model("frontier"),
        effective_at: effective_in.map(|ms| NOW.plus_millis(ms)),
        reason: "terms breached".to_owned(),
        directive: directive.map(|id| DirectiveId::parse(id).unwrap()),
    };
    let got = match w.try_run(who, command, NOW) {
        Err(err) => error(&err),
        Ok(events) => {
            let Some(Event::GrantRevoked { effective_at, .. }) = events.first() else { panic!("{}", summary(&events)) };
            // Access continues through the notice period and stops when the revocation takes effect.
            if *effective_at > NOW {
                assert_eq!(w.access(customer, effective_at.plus_millis(-1)), "allow");
            }
            assert_eq!(w.access(customer, *effective_at), "deny grant_revoked");
            summary(&events)
        }
    };
    assert_eq!(got, expect);
}

#[test]
fn revocation_notice_table() {
    let base = revocation_world();
    let rows: &[(&str, &str, Option<u32>, Option<i64>, Option<&str>, &str)] = &[
        // Without a directive: the model's notice period (14 days by default), and never less.
        (
            "bis/j.doe",
            "acme",
            None,
            None,
            None,
            "grant_revoked acme effective=d17; notice to acme effective=d17 appeal_by=d33",
        ),
        (
            "bis/j.doe",
            "acme",
            Some(7),
            None,
            None,
            "grant_revoked acme effective=d10; notice to acme effective=d10 appeal_by=d33",
        ),
        (
            "bis/j.doe",
            "acme",
            Some(0),
            None,
            None,
            "grant_revoked acme effective=d3; notice to acme effective=d3 appeal_by=d33",
        ),
        (
            "bis/j.doe",
            "acme",
            None,
            Some(20 * DAY),
            None,
            "grant_revoked acme effective=d23; notice to acme effective=d23 appeal_by=d33",
        ),
        (
            "bis/j.doe",
            "acme",
            None,
            Some(14 * DAY - 1),
            None,
            "invalid: a revocation of `frontier` takes effect after its 14-day notice period, not before \
             2026-12-14T17:20:00Z; cite a directive that requires earlier effect",
        ),
        (
            "bis/j.doe",
            "acme",
            Some(7),
            Some(DAY),
            None,
            "invalid: a revocation of `frontier` takes effect after its 7-day notice period, not before \
             2026-12-07T17:20:00Z; cite a directive that requires earlier effect",
        ),
        (
            "bis/j.doe",
            "acme",
            None,
            Some(-2 * HOUR),
            None,
            "invalid: effective_at `2026-11-30T15:20:00Z` is in the past",
        ),
        // A directive in force for the model allows immediate (or any earlier) effect.
        (
            "bis/j.doe",
            "acme",
            None,
            None,
            Some("EC-1"),
            "grant_revoked acme effective=d3 directive=EC-1; notice to acme effective=d3 appeal_by=d33",
        ),
        (
            "bis/j.doe",
            "acme",
            None,
            Some(2 * HOUR),
            Some("EC-1"),
            "grant_revoked acme effective=d3+2h directive=EC-1; notice to acme effective=d3+2h appeal_by=d33",
        ),
        (
            "bis/j.doe",
            "acme",
            None,
            None,
            Some("EC-LIFTED"),
            "invalid: directive `EC-LIFTED` is not in force for `frontier` and cannot shorten the notice period",
        ),
        (
            "bis/j.doe",
            "acme",
            None,
            None,
            Some("EC-OTHER"),
            "invalid: directive `EC-OTHER` is not in force for `frontier` and cannot shorten the notice period",
        ),
        // Issued but not yet effective (day 10): it cannot justify cutting access on day 3.
        (
            "bis/j.doe",
            "acme",
            None,
            None,
            Some("EC-FUTURE"),
            "invalid: directive `EC-FUTURE` is not in force for `frontier` and cannot shorten the notice period",
        ),
        ("bis/j.doe", "acme", None, None, Some("EC-NOPE"), "not_found: no directive `EC-NOPE`"),
        // Who, and whose grant.
        ("provider", "acme", None, None, None, "forbidden: provider (ops) may not revoke grants"),
        ("acme", "acme", None, None, None, "forbidden: customer acme may not revoke grants"),
        ("bis/j.doe", "globex", None, None, None, "invalid: customer `globex` holds no grant for `frontier`"),
    ];
    for (who, customer, notice_days, effective_in, directive, expect) in rows {
        check_revocation(&base, who, customer, *notice_days, *effective_in, *directive, expect);
    }
    let mut w = base.clone();
    let revoke = || Command::RevokeGrant {
        customer: CustomerId::parse("acme").unwrap(),
        model: model("frontier"),
        effective_at: None,
        reason: "terms breached".to_owned(),
        directive: None,
    };
    w.run("bis/j.doe", revoke(), NOW);
    assert_eq!(w.refuse("bis/j.doe", revoke(), NOW), "invalid: the grant of `frontier` to `acme` is already revoked");
    let notice = w.state.notices().last().unwrap().clone();
    assert_eq!(notice.text, "your grant for `frontier` is revoked from 2026-12-14T17:20:00Z: terms breached");
}
