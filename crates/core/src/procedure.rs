//! A model's procedure: which authorities must sign off on its access requests, and the
//! periods that make the process predictable (review clock, decision and appeal deadlines,
//! notice before a revocation takes effect).

use serde::{Deserialize, Serialize};

use crate::ids::{AuthorityId, OfficialName, Timestamp};

/// One day in milliseconds.
pub const DAY_MILLIS: i64 = 86_400_000;

/// Who must sign off: `required` of the listed authorities (all of them when equal to the count).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quorum {
    /// The authorities whose officials sign off.
    pub authorities: Vec<AuthorityId>,
    /// How many distinct authorities must approve.
    pub required: u32,
}

impl Quorum {
    /// Whether `authority` is one of the sign-off authorities.
    pub fn includes(&self, authority: &AuthorityId) -> bool {
        self.authorities.contains(authority)
    }

    /// Whether `approvals` approvals reach the quorum.
    pub fn reached(&self, approvals: usize) -> bool {
        self.required > 0 && approvals >= self.required as usize
    }

    /// Whether `denials` denials make the quorum unreachable: fewer than `required` authorities
    /// are left who could approve.
    pub fn unreachable(&self, denials: usize) -> bool {
        self.authorities.len().saturating_sub(denials) < self.required as usize
    }
}

/// A model's procedure. Every period is in whole days.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Procedure {
    /// Who signs off on access requests (applications).
    pub signoff: Quorum,
    /// Length of the pre-release review clock.
    pub review_days: u32,
    /// An application's decision is due this long after submission (paused while information is requested).
    pub decision_days: u32,
    /// A customer may appeal an adverse action this long after it.
    pub appeal_window_days: u32,
    /// An appeal's decision is due this long after filing.
    pub appeal_decision_days: u32,
    /// A revocation takes effect no earlier than this long after it is made, unless a directive
    /// requires immediate effect.
    pub revocation_notice_days: u32,
}

impl Default for Procedure {
    /// No sign-off authorities (so no application can be decided until some are named), a
    /// 30-day review clock, 30 days to decide, 30 days to appeal, 30 days to decide an appeal,
    /// and 14 days' notice of a revocation.
    fn default() -> Self {
        Self {
            signoff: Quorum { authorities: Vec::new(), required: 0 },
            review_days: 30,
            decision_days: 30,
            appeal_window_days: 30,
            appeal_decision_days: 30,
            revocation_notice_days: 14,
        }
    }
}

/// `days` after `at`.
pub fn after_days(at: Timestamp, days: u32) -> Timestamp {
    at.plus_millis(i64::from(days) * DAY_MILLIS)
}

/// An authority's position on a model in review.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewVerdict {
    /// No objection: the model may proceed as far as this authority is concerned.
    Clear,
    /// An objection: the model may not leave review while it stands.
    Object,
}

/// One authority's recorded position.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReviewPosition {
    /// The authority.
    pub authority: AuthorityId,
    /// The official who recorded it.
    pub official: OfficialName,
    /// Clear or object.
    pub verdict: ReviewVerdict,
    /// Why.
    pub reasons: String,
    /// When.
    pub at: Timestamp,
    /// The sequence number of the event that recorded it.
    pub seq: u64,
}

/// The pre-release review clock of a model in `review`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReviewClock {
    /// When the model entered review.
    pub started_at: Timestamp,
    /// When the clock runs out.
    pub ends_at: Timestamp,
    /// Every position recorded, oldest first; an authority's latest one counts.
    pub positions: Vec<ReviewPosition>,
}

/// How a model was let out of review, recorded on the stage change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Clearance {
    /// The sign-off quorum cleared it before the clock ran out.
    Cleared {
        /// The authorities whose clearance counted.
        authorities: Vec<AuthorityId>,
    },
    /// The clock ran out with no objection standing.
    DeemedCleared {
        /// When the clock ran out.
        clock_ended_at: Timestamp,
    },
}

impl ReviewClock {
    /// Each authority's latest position, in the order the authorities first spoke.
    pub fn current_positions(&self) -> Vec<&ReviewPosition> {
        let mut latest: Vec<&ReviewPosition> = Vec::new();
        for position in &self.positions {
            match latest.iter_mut().find(|p| p.authority == position.authority) {
                Some(slot) => *slot = position,
                None => latest.push(position),
            }
        }
        latest
    }

    /// The objections standing now.
    pub fn objections(&self) -> Vec<&ReviewPosition> {
        self.current_positions().into_iter().filter(|p| p.verdict == ReviewVerdict::Object).collect()
    }

    /// Whether the model may leave review at `now`, and how; otherwise why not.
    ///
    /// # Errors
    ///
    /// Returns a message naming the standing objections, or the clock's end and how many of the
    /// required authorities have cleared.
    pub fn clearance(&self, quorum: &Quorum, now: Timestamp) -> Result<Clearance, String> {
        let objections = self.objections();
        if !objections.is_empty() {
            let named: Vec<String> = objections.iter().map(|p| format!("`{}` ({})", p.authority, p.reasons)).collect();
            return Err(format!("the model cannot leave review while objections stand: {}", named.join("; ")));
        }
        let cleared: Vec<AuthorityId> = self
            .current_positions()
            .into_iter()
            .filter(|p| p.verdict == ReviewVerdict::Clear && quorum.includes(&p.authority))
            .map(|p| p.authority.clone())
            .collect();
        if quorum.reached(cleared.len()) {
            return Ok(Clearance::Cleared { authorities: cleared });
        }
        if now >= self.ends_at {
            return Ok(Clearance::DeemedCleared { clock_ended_at: self.ends_at });
        }
        if quorum.authorities.is_empty() {
            return Err(format!(
                "the review clock runs until {}; no sign-off authorities are named to clear the model sooner",
                self.ends_at
            ));
        }
        Err(format!(
            "the review clock runs until {}; {} of the {} required authorities have cleared the model",
            self.ends_at,
            cleared.len(),
            quorum.required
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authority(name: &str) -> AuthorityId {
        AuthorityId::parse(name).unwrap()
    }

    fn position(name: &str, verdict: ReviewVerdict) -> ReviewPosition {
        ReviewPosition {
            authority: authority(name),
            official: OfficialName::parse("o").unwrap(),
            verdict,
            reasons: format!("{name} says so"),
            at: Timestamp::from_millis(1),
            seq: 1,
        }
    }

    #[track_caller]
    fn check(positions: &[(&str, ReviewVerdict)], now_days: i64, expected: Result<&str, &str>) {
        let clock = ReviewClock {
            started_at: Timestamp::from_millis(0),
            ends_at: Timestamp::from_millis(30 * DAY_MILLIS),
            positions: positions.iter().map(|(a, v)| position(a, *v)).collect(),
        };
        let quorum = Quorum { authorities: vec![authority("bis"), authority("aisi"), authority("ncsc")], required: 2 };
        let got = clock.clearance(&quorum, Timestamp::from_millis(now_days * DAY_MILLIS)).map(|c| match c {
            Clearance::Cleared { authorities } => {
                format!("cleared by {}", authorities.iter().map(AuthorityId::as_str).collect::<Vec<_>>().join(","))
            }
            Clearance::DeemedCleared { .. } => "deemed cleared".to_owned(),
        });
        match expected {
            Ok(text) => assert_eq!(got, Ok(text.to_owned())),
            Err(fragment) => assert!(got.as_ref().is_err_and(|m| m.contains(fragment)), "{got:?}"),
        }
    }

    #[test]
    fn review_clock_table() {
        use ReviewVerdict::{Clear, Object};
        check(&[], 1, Err("0 of the 2 required authorities have cleared"));
        check(&[("bis", Clear)], 1, Err("1 of the 2 required"));
        check(&[("bis", Clear), ("aisi", Clear)], 1, Ok("cleared by bis,aisi"));
        // An authority outside the sign-off set does not count toward the quorum...
        check(&[("bis", Clear), ("fcc", Clear)], 1, Err("1 of the 2 required"));
        // ...but its objection stands like anyone's.
        check(&[("bis", Clear), ("aisi", Clear), ("fcc", Object)], 40, Err("objections stand: `fcc` (fcc says so)"));
        check(&[], 30, Ok("deemed cleared"));
        check(&[("bis", Object)], 31, Err("objections stand"));
        // The latest position counts: an objection withdrawn by a clearance no longer stands.
        check(&[("bis", Object), ("bis", Clear)], 31, Ok("deemed cleared"));
        check(&[("bis", Clear), ("bis", Object)], 31, Err("objections stand"));
    }

    #[test]
    fn quorum_rules() {
        let quorum = Quorum { authorities: vec![authority("a"), authority("b"), authority("c")], required: 2 };
        assert!(!quorum.reached(1));
        assert!(quorum.reached(2));
        assert!(!quorum.unreachable(1));
        assert!(quorum.unreachable(2));
        let all = Quorum { authorities: vec![authority("a"), authority("b")], required: 2 };
        assert!(all.unreachable(1));
        let none = Quorum { authorities: Vec::new(), required: 0 };
        assert!(!none.reached(5), "a quorum of nobody approves nothing");
    }
}
