//! Stages: the review clock and clearance, review positions, public notices, procedures.

use portcullis_core::procedure::{Clearance, Procedure, ReviewVerdict};
use portcullis_core::*;

use crate::world::*;

// ---------------------------------------------------------------------------------------------
// Stages: the review clock, clearance, notices, procedures.
// ---------------------------------------------------------------------------------------------

/// Enters review at T0 with `review_days` (default 30 when `None`), records `positions` at their
/// offsets (ms after T0), then tries to leave for `target` at `leave_at` (ms after T0).
#[track_caller]
fn check_review(
    review_days: Option<u32>,
    positions: &[(&str, ReviewVerdict, i64)],
    leave_at: i64,
    target: StageTarget,
    expect: &str,
) {
    let mut procedure = quorum(2);
    if let Some(days) = review_days {
        procedure.review_days = days;
    }
    let mut w = draft_world(Some(procedure));
    let events = w.run("provider", change_stage(StageTarget::Review), T0);
    let ends_at = at(i64::from(review_days.unwrap_or(30)));
    let Some(Event::StageChanged { review_ends_at, .. }) = events.first() else { panic!("{}", summary(&events)) };
    assert_eq!(*review_ends_at, Some(ends_at), "the clock is set on entering review");
    let clock = w.state.model("frontier").unwrap().review.clone().unwrap();
    assert_eq!((clock.started_at, clock.ends_at), (T0, ends_at));
    for (who, v, offset) in positions {
        let authority = who.split('/').next().unwrap();
        w.run(who, position(*v, &format!("{authority} assessment")), T0.plus_millis(*offset));
    }
    let got = match w.try_run("provider", change_stage(target), T0.plus_millis(leave_at)) {
        Err(err) => error(&err),
        Ok(events) => {
            let Some(Event::StageChanged { clearance, to, .. }) = events.first() else {
                panic!("{}", summary(&events))
            };
            assert_eq!(w.state.model("frontier").unwrap().stage, *to);
            match clearance {
                Some(Clearance::Cleared { authorities }) => {
                    let names: Vec<&str> = authorities.iter().map(AuthorityId::as_str).collect();
                    format!("{to}, cleared by {}", names.join(","))
                }
                Some(Clearance::DeemedCleared { clock_ended_at }) => {
                    format!("{to}, deemed cleared at {}", day(*clock_ended_at))
                }
                None => panic!("leaving review records no clearance"),
            }
        }
    };
    assert_eq!(got, expect);
}

#[test]
fn review_clock_table() {
    use ReviewVerdict::{Clear, Object};
    use StageTarget::{General, Preview};
    let early = "invalid: the review clock runs until 2026-12-27T17:20:00Z";
    let rows: &[(Option<u32>, &[(&str, ReviewVerdict, i64)], i64, StageTarget, String)] = &[
        // The default clock is 30 days; before it ends, only a quorum of clearances lets it out.
        (None, &[], 29 * DAY, Preview, format!("{early}; 0 of the 2 required authorities have cleared the model")),
        (None, &[], 30 * DAY - 1, Preview, format!("{early}; 0 of the 2 required authorities have cleared the model")),
        (None, &[], 30 * DAY, Preview, "preview, deemed cleared at d30".to_owned()),
        (None, &[], 45 * DAY, General, "general, deemed cleared at d30".to_owned()),
        // The procedure's clock, including none at all.
        (
            Some(10),
            &[],
            9 * DAY,
            Preview,
            "invalid: the review clock runs until 2026-12-07T17:20:00Z; 0 of the 2 required authorities have cleared the model"
                .to_owned(),
        ),
        (Some(10), &[], 10 * DAY, Preview, "preview, deemed cleared at d10".to_owned()),
        (Some(0), &[], 0, Preview, "preview, deemed cleared at d0".to_owned()),
        // Clearance by the quorum, before the clock ends.
        (
            None,
            &[("bis/j.doe", Clear, DAY)],
            2 * DAY,
            Preview,
            format!("{early}; 1 of the 2 required authorities have cleared the model"),
        ),
        (None, &[("bis/j.doe", Clear, DAY), ("aisi/a.smith", Clear, DAY)], 2 * DAY, Preview, "preview, cleared by bis,aisi".to_owned()),
        (None, &[("ncsc/c.lee", Clear, DAY), ("bis/r.roe", Clear, DAY)], 2 * DAY, General, "general, cleared by ncsc,bis".to_owned()),
        // Two officials of one authority are one clearance: the latest position counts.
        (
            None,
            &[("bis/j.doe", Clear, DAY), ("bis/r.roe", Clear, DAY)],
            2 * DAY,
            Preview,
            format!("{early}; 1 of the 2 required authorities have cleared the model"),
        ),
        // An authority outside the sign-off set does not count toward the quorum...
        (
            None,
            &[("bis/j.doe", Clear, DAY), ("fcc/k.west", Clear, DAY)],
            2 * DAY,
            Preview,
            format!("{early}; 1 of the 2 required authorities have cleared the model"),
        ),
        // ...but its objection stands like anyone's, even after the clock and a quorum.
        (
            None,
            &[("bis/j.doe", Clear, DAY), ("aisi/a.smith", Clear, DAY), ("fcc/k.west", Object, DAY)],
            2 * DAY,
            Preview,
            "invalid: the model cannot leave review while objections stand: `fcc` (fcc assessment)".to_owned(),
        ),
        (
            None,
            &[("ncsc/c.lee", Object, DAY)],
            40 * DAY,
            General,
            "invalid: the model cannot leave review while objections stand: `ncsc` (ncsc assessment)".to_owned(),
        ),
        // An objection withdrawn (a later clearance by the same authority) no longer blocks.
        (None, &[("ncsc/c.lee", Object, DAY), ("ncsc/d.kim", Clear, 3 * DAY)], 31 * DAY, Preview, "preview, deemed cleared at d30".to_owned()),
        (
            None,
            &[("ncsc/c.lee", Clear, DAY), ("ncsc/c.lee", Object, 3 * DAY)],
            31 * DAY,
            Preview,
            "invalid: the model cannot leave review while objections stand: `ncsc` (ncsc assessment)".to_owned(),
        ),
    ];
    for (review_days, positions, leave_at, target, expect) in rows {
        check_review(*review_days, positions, *leave_at, *target, expect);
    }
}

#[test]
fn review_positions_and_stage_notices() {
    let mut w = draft_world(Some(quorum(2)));
    // Positions are taken only in review, and only by authorities.
    let rows: &[(&str, &str)] = &[
        ("bis/j.doe", "invalid: model `frontier` is `draft`; only a model in `review` can be cleared or objected to"),
        ("provider", "forbidden: provider (ops) may not clear or object to models in review"),
        ("acme", "forbidden: customer acme may not clear or object to models in review"),
    ];
    for (who, expect) in rows {
        assert_eq!(w.refuse(who, position(ReviewVerdict::Clear, "fine"), T0), *expect);
    }
    assert_eq!(
        w.refuse("bis/j.doe", change_stage(StageTarget::Review), T0),
        "forbidden: authority bis (j.doe) may not make this stage change"
    );
    w.run("provider", change_stage(StageTarget::Review), T0);
    assert_eq!(w.refuse("bis/j.doe", position(ReviewVerdict::Object, " "), T0), "invalid: reasons is required");
    // Taking a model away from everyone is announced publicly; resuming is not an adverse action.
    let rows: &[(&str, StageTarget, &str)] = &[
        ("ncsc/c.lee", StageTarget::Suspended, "stage_changed review->suspended; public notice effective=d1"),
        ("bis/j.doe", StageTarget::Resume, "stage_changed suspended->review"),
        ("provider", StageTarget::Withdrawn, "stage_changed review->withdrawn; public notice effective=d1"),
    ];
    for (who, target, expect) in rows {
        assert_eq!(summary(&w.run(who, change_stage(*target), at(1))), *expect);
    }
    let texts: Vec<&str> = w.state.notices().map(|n| n.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "model `frontier` is suspended by authority ncsc (c.lee): release plan",
            "model `frontier` is withdrawn by provider (ops): release plan",
        ]
    );
}

#[test]
fn procedure_validation_table() {
    let w = draft_world(None);
    let with = |mut procedure: Procedure, change: fn(&mut Procedure)| {
        change(&mut procedure);
        procedure
    };
    let rows: Vec<(&str, Procedure, &str)> = vec![
        ("provider", quorum(2), "procedure_set"),
        ("provider", signoff(&[], 0), "procedure_set"),
        ("provider", with(quorum(3), |p| p.revocation_notice_days = 0), "procedure_set"),
        ("provider", with(quorum(1), |p| p.review_days = 3650), "procedure_set"),
        ("provider", signoff(&["bis", "nope"], 1), "not_found: no authority `nope`"),
        ("provider", signoff(&["bis", "aisi", "bis"], 1), "invalid: authority `bis` is listed twice"),
        ("provider", signoff(&[], 1), "invalid: required must be 0 when no sign-off authorities are named"),
        ("provider", signoff(&["bis"], 0), "invalid: required must be between 1 and 1 (the number of authorities)"),
        ("provider", quorum(4), "invalid: required must be between 1 and 3 (the number of authorities)"),
        ("provider", with(quorum(2), |p| p.review_days = 3651), "invalid: review_days must be between 0 and 3650"),
        ("provider", with(quorum(2), |p| p.decision_days = 0), "invalid: decision_days must be between 1 and 3650"),
        (
            "provider",
            with(quorum(2), |p| p.appeal_window_days = 0),
            "invalid: appeal_window_days must be between 1 and 3650",
        ),
        (
            "provider",
            with(quorum(2), |p| p.appeal_decision_days = 0),
            "invalid: appeal_decision_days must be between 1 and 3650",
        ),
        ("bis/j.doe", quorum(2), "forbidden: authority bis (j.doe) may not set procedures"),
        ("acme", quorum(2), "forbidden: customer acme may not set procedures"),
    ];
    for (who, procedure, expect) in rows {
        let mut w = w.clone();
        let command = Command::SetProcedure { model: model("frontier"), procedure: procedure.clone() };
        let got = match w.try_run(who, command, T0) {
            Ok(events) => {
                assert_eq!(w.state.model("frontier").unwrap().procedure, procedure);
                summary(&events)
            }
            Err(err) => error(&err),
        };
        assert_eq!(got, expect, "{procedure:?}");
    }
}
