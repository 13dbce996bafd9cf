//! The sign-off quorum: k of n distinct authorities, one official counts once, only the
//! model's sign-off authorities count, denial as soon as the quorum is out of reach.

use portcullis_core::application::{ApplicationStatus, Verdict};
use portcullis_core::procedure::Procedure;
use portcullis_core::*;

use crate::world::*;

// ---------------------------------------------------------------------------------------------
// The quorum: k of n distinct authorities, one official counts once, no outsiders.
// ---------------------------------------------------------------------------------------------

/// `app-1` by acme under review with a quorum of `required` of (bis, aisi, ncsc); `prior`
/// sign-offs at T1+1h (approvals cite `kyc-verified`, denials `us-entity`); then `who` tries
/// `command` at T1+2h.
#[track_caller]
fn check_signoff(base: &World, required: u32, prior: &[(&str, Verdict)], who: &str, command: Command, expect: &str) {
    let mut w = base.clone();
    if required != 2 {
        w.run("provider", Command::SetProcedure { model: model("frontier"), procedure: quorum(required) }, T1);
    }
    w.run("acme", submit("app-1", "acme"), T1);
    w.run("bis/j.doe", start("app-1"), T1);
    for (signer, v) in prior {
        let clause = if *v == Verdict::Approve { "kyc-verified" } else { "us-entity" };
        w.run(signer, sign("app-1", *v, &[clause]), T1.plus_millis(HOUR));
    }
    let before = w.application("app-1");
    let got = match w.try_run(who, command, T1.plus_millis(2 * HOUR)) {
        Ok(events) => summary(&events),
        Err(err) => {
            assert_eq!(w.application("app-1"), before, "a refused sign-off changed the application");
            error(&err)
        }
    };
    assert_eq!(got, expect, "{required} of 3, after {prior:?}, {who}");
}

#[test]
fn quorum_table() {
    use Verdict::{Approve, Deny};
    let base = story();
    let approve = || sign("app-1", Approve, &["kyc-verified"]);
    let deny = || sign("app-1", Deny, &["us-entity"]);
    let with = |change: fn(&mut Command)| {
        let mut command = approve();
        change(&mut command);
        command
    };
    let approved = "decided approve clauses=kyc-verified expires=never; grant_issued acme expires=never";
    let denied = "notice to acme effective=d2+2h appeal_by=d32+2h";
    let rows: Vec<(u32, &[(&str, Verdict)], &str, Command, String)> = vec![
        (2, &[], "bis/j.doe", approve(), "signed_off approve kyc-verified".to_owned()),
        // One sign-off per authority per round, whichever official signs.
        (
            2,
            &[("bis/j.doe", Approve)],
            "bis/r.roe",
            approve(),
            "invalid: authority `bis` has already signed off on application `app-1` (approved by j.doe); \
             an amendment starts a new round"
                .to_owned(),
        ),
        (
            2,
            &[("bis/j.doe", Deny)],
            "bis/j.doe",
            approve(),
            "invalid: authority `bis` has already signed off on application `app-1` (denied by j.doe); \
             an amendment starts a new round"
                .to_owned(),
        ),
        // No self-approval by wearing two hats: one official counts once.
        (
            2,
            &[("bis/j.doe", Approve)],
            "aisi/j.doe",
            approve(),
            "invalid: official `j.doe` has already signed off on application `app-1` for another authority; \
             one official counts once"
                .to_owned(),
        ),
        // Only the model's sign-off authorities, and only authorities.
        (
            2,
            &[("bis/j.doe", Approve)],
            "fcc/k.west",
            approve(),
            "forbidden: authority fcc (k.west) may not review application `app-1` for `frontier` \
             (not one of its sign-off authorities)"
                .to_owned(),
        ),
        (2, &[], "provider", approve(), "forbidden: provider (ops) may not sign off on applications".to_owned()),
        (2, &[], "acme", approve(), "forbidden: customer acme may not sign off on applications".to_owned()),
        // A sign-off cites the criteria it applies.
        (
            2,
            &[],
            "bis/j.doe",
            sign("app-1", Approve, &["kyc-verified", "nope"]),
            "invalid: clause `nope` is not in criteria version 1 of `frontier`".to_owned(),
        ),
        (
            2,
            &[],
            "bis/j.doe",
            sign("app-1", Approve, &[]),
            "invalid: a sign-off must cite at least one criteria clause".to_owned(),
        ),
        (
            2,
            &[],
            "bis/j.doe",
            with(|c| {
                if let Command::SignOffApplication { reasons, .. } = c {
                    *reasons = " ".to_owned();
                }
            }),
            "invalid: reasons is required".to_owned(),
        ),
        (
            2,
            &[],
            "bis/j.doe",
            with(|c| {
                if let Command::SignOffApplication { evidence, .. } = c {
                    evidence[0].sha256 = Some("ABC".to_owned());
                }
            }),
            "invalid: evidence sha256 `ABC` must be 64 lowercase hex digits".to_owned(),
        ),
        (
            2,
            &[],
            "bis/j.doe",
            with(|c| {
                if let Command::SignOffApplication { verdict, grant_expires_at, .. } = c {
                    *verdict = Deny;
                    *grant_expires_at = Some(T1.plus_millis(30 * DAY));
                }
            }),
            "invalid: grant_expires_at only goes with an approval".to_owned(),
        ),
        (
            2,
            &[],
            "bis/j.doe",
            with(|c| {
                if let Command::SignOffApplication { grant_expires_at, .. } = c {
                    *grant_expires_at = Some(T1);
                }
            }),
            "invalid: grant_expires_at is in the past".to_owned(),
        ),
        // Approval at exactly k distinct approvals.
        (
            2,
            &[("bis/j.doe", Approve)],
            "aisi/a.smith",
            approve(),
            format!("signed_off approve kyc-verified; {approved}"),
        ),
        (2, &[("bis/j.doe", Deny)], "aisi/a.smith", approve(), "signed_off approve kyc-verified".to_owned()),
        // The decision cites the clauses of the sign-offs that carried it, not the dissent's.
        (
            2,
            &[("bis/j.doe", Deny), ("aisi/a.smith", Approve)],
            "ncsc/c.lee",
            approve(),
            format!("signed_off approve kyc-verified; {approved}"),
        ),
        // Denial as soon as n - denials < k.
        (
            2,
            &[("bis/j.doe", Deny)],
            "aisi/a.smith",
            deny(),
            format!("signed_off deny us-entity; decided deny clauses=us-entity appeal_by=d32+2h; {denied}"),
        ),
        (
            2,
            &[("bis/j.doe", Approve), ("aisi/a.smith", Deny)],
            "ncsc/c.lee",
            deny(),
            format!("signed_off deny us-entity; decided deny clauses=us-entity appeal_by=d32+2h; {denied}"),
        ),
        (
            3,
            &[],
            "bis/j.doe",
            deny(),
            format!("signed_off deny us-entity; decided deny clauses=us-entity appeal_by=d32+2h; {denied}"),
        ),
        (3, &[("bis/j.doe", Approve)], "aisi/a.smith", approve(), "signed_off approve kyc-verified".to_owned()),
        (
            3,
            &[("bis/j.doe", Approve), ("aisi/a.smith", Approve)],
            "ncsc/c.lee",
            approve(),
            format!("signed_off approve kyc-verified; {approved}"),
        ),
        (1, &[], "ncsc/c.lee", approve(), format!("signed_off approve kyc-verified; {approved}")),
        (1, &[("bis/j.doe", Deny)], "aisi/a.smith", deny(), "signed_off deny us-entity".to_owned()),
        (
            1,
            &[("bis/j.doe", Deny), ("aisi/a.smith", Deny)],
            "ncsc/c.lee",
            deny(),
            format!("signed_off deny us-entity; decided deny clauses=us-entity appeal_by=d32+2h; {denied}"),
        ),
    ];
    for (required, prior, who, command, expect) in rows {
        check_signoff(&base, required, prior, who, command, &expect);
    }
}

/// The procedure can change while an application is open; a sign-off by an authority that is no
/// longer in the sign-off set must not count toward approval or denial.
/// The quorum is fixed when an application is filed: a procedure changed while it is open (say,
/// a lower quorum) applies to later applications only.
#[test]
fn a_procedure_change_does_not_move_open_applications() {
    use Verdict::{Approve, Deny};
    let base = story();
    let rows: &[(Verdict, Procedure, &str, Verdict, &str)] = &[
        // bis approved; the set changes without bis; aisi's approval is the second of the
        // filed 2-of-(bis, aisi, ncsc) quorum.
        (
            Approve,
            signoff(&["aisi", "ncsc", "fcc"], 1),
            "aisi/a.smith",
            Approve,
            "signed_off approve kyc-verified; decided approve clauses=kyc-verified expires=never; \
             grant_issued acme expires=never",
        ),
        // bis denied; a lower quorum for later applications does not let aisi approve this one alone.
        (Deny, signoff(&["aisi"], 1), "aisi/a.smith", Approve, "signed_off approve kyc-verified"),
        // An authority added to the set later does not sign off on applications filed before.
        (Approve, signoff(&["bis", "aisi", "fcc"], 2), "fcc/f.ox", Approve, "forbidden"),
    ];
    for (earlier, procedure, who, v, expect) in rows {
        let mut w = base.clone();
        w.run("acme", submit("app-1", "acme"), T1);
        w.run("bis/j.doe", start("app-1"), T1);
        let clause = if *earlier == Approve { "kyc-verified" } else { "us-entity" };
        w.run("bis/j.doe", sign("app-1", *earlier, &[clause]), T1);
        w.run("provider", Command::SetProcedure { model: model("frontier"), procedure: procedure.clone() }, T1);
        let clause = if *v == Approve { "kyc-verified" } else { "us-entity" };
        let got = match w.try_run(who, sign("app-1", *v, &[clause]), T1.plus_millis(2 * HOUR)) {
            Ok(events) => summary(&events),
            Err(CommandError::Forbidden { .. }) => "forbidden".to_owned(),
            Err(other) => format!("{other}"),
        };
        assert_eq!(got, *expect, "bis {earlier:?}, then {procedure:?}");
    }
    // An application filed after the change follows the new procedure.
    let mut w = base.clone();
    w.run("provider", Command::SetProcedure { model: model("frontier"), procedure: signoff(&["aisi"], 1) }, T1);
    w.run("acme", submit("app-2", "acme"), T1);
    w.run("aisi/a.smith", start("app-2"), T1);
    let got = summary(&w.run("aisi/a.smith", sign("app-2", Approve, &["kyc-verified"]), T1));
    assert!(got.contains("decided approve"), "{got}");
}

#[test]
fn denial_notifies_the_applicant() {
    let mut w = story();
    deny(&mut w, "app-1", "acme", at(3));
    let app = w.application("app-1");
    assert_eq!(app.status, ApplicationStatus::Denied);
    assert_eq!(app.decision.as_ref().and_then(|d| d.appeal_by), Some(at(33)));
    let notice = w.state.notices().last().unwrap().clone();
    assert_eq!(
        (notice.recipients.clone(), notice.public, notice.appeal_by, notice.text.as_str()),
        (
            vec![CustomerId::parse("acme").unwrap()],
            false,
            Some(at(33)),
            "your application `app-1` for `frontier` is denied"
        )
    );
    assert!(notice.addressed_to(&CustomerId::parse("acme").unwrap()));
    assert!(!notice.addressed_to(&CustomerId::parse("globex").unwrap()));
    assert_eq!(w.access("acme", at(3)), "deny grant_required");
}
