//! The model release stage machine.
//!
//! `draft → review → preview → general`, plus `suspended` (reachable from any live stage, returns
//! to the stage it left) and `withdrawn` (final). Only the transitions in [`Stage::transition`]
//! exist; everything else is an error naming the two stages.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A stage in which customers can use a model (subject to grants, criteria and directives).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiveStage {
    /// Pre-release review by authorities; no customer traffic.
    Review,
    /// Only customers holding a grant.
    Preview,
    /// Every customer the criteria admit.
    General,
}

/// A model's release stage.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "stage")]
pub enum Stage {
    /// Registered, not yet submitted for review.
    Draft,
    /// Under pre-release review.
    Review,
    /// Preview: grant holders only.
    Preview,
    /// Generally available.
    General,
    /// Suspended for everyone; resuming returns to `resume_to`.
    Suspended {
        /// The stage the model left and returns to.
        resume_to: LiveStage,
    },
    /// Withdrawn for good.
    Withdrawn,
}

/// Where a transition goes; `Resume` returns a suspended model to the stage it left.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum StageTarget {
    /// To `review`.
    Review,
    /// To `preview`.
    Preview,
    /// To `general`.
    General,
    /// To `suspended`.
    Suspended,
    /// Back from `suspended` to the stage it left.
    Resume,
    /// To `withdrawn`.
    Withdrawn,
}

/// A transition that the stage machine does not have.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a model in `{from}` cannot move to `{to}`")]
pub struct IllegalTransitionError {
    /// The current stage.
    pub from: Stage,
    /// The requested target.
    pub to: StageTarget,
}

impl Stage {
    /// The stage reached from `self` by `target`.
    ///
    /// # Errors
    ///
    /// Returns [`IllegalTransitionError`] when the machine has no such edge.
    pub fn transition(self, target: StageTarget) -> Result<Stage, IllegalTransitionError> {
        use StageTarget as T;
        let next = match (self, target) {
            (Stage::Draft, T::Review) => Some(Stage::Review),
            (Stage::Review, T::Preview) => Some(Stage::Preview),
            (Stage::Review | Stage::Preview, T::General) => Some(Stage::General),
            (Stage::Review, T::Suspended) => Some(Stage::Suspended { resume_to: LiveStage::Review }),
            (Stage::Preview, T::Suspended) => Some(Stage::Suspended { resume_to: LiveStage::Preview }),
            (Stage::General, T::Suspended) => Some(Stage::Suspended { resume_to: LiveStage::General }),
            (Stage::Suspended { resume_to }, T::Resume) => Some(match resume_to {
                LiveStage::Review => Stage::Review,
                LiveStage::Preview => Stage::Preview,
                LiveStage::General => Stage::General,
            }),
            (Stage::Withdrawn, _) => None,
            (_, T::Withdrawn) => Some(Stage::Withdrawn),
            _ => None,
        };
        next.ok_or(IllegalTransitionError { from: self, to: target })
    }

    /// The stage's name as clients see it: `draft`, `review`, `preview`, `general`, `suspended`, `withdrawn`.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Draft => "draft",
            Stage::Review => "review",
            Stage::Preview => "preview",
            Stage::General => "general",
            Stage::Suspended { .. } => "suspended",
            Stage::Withdrawn => "withdrawn",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl StageTarget {
    /// Parses a target name as used by the API and CLI.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "review" => Self::Review,
            "preview" => Self::Preview,
            "general" => Self::General,
            "suspended" => Self::Suspended,
            "resume" => Self::Resume,
            "withdrawn" => Self::Withdrawn,
            _ => return None,
        })
    }

    /// The target's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Review => "review",
            Self::Preview => "preview",
            Self::General => "general",
            Self::Suspended => "suspended",
            Self::Resume => "resume",
            Self::Withdrawn => "withdrawn",
        }
    }
}

impl fmt::Display for StageTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_STAGES: [Stage; 8] = [
        Stage::Draft,
        Stage::Review,
        Stage::Preview,
        Stage::General,
        Stage::Suspended { resume_to: LiveStage::Review },
        Stage::Suspended { resume_to: LiveStage::Preview },
        Stage::Suspended { resume_to: LiveStage::General },
        Stage::Withdrawn,
    ];
    const ALL_TARGETS: [StageTarget; 6] = [
        StageTarget::Review,
        StageTarget::Preview,
        StageTarget::General,
        StageTarget::Suspended,
        StageTarget::Resume,
        StageTarget::Withdrawn,
    ];

    /// Every (stage, target) pair: the table below is the whole machine; anything not listed
    /// must be rejected.
    #[test]
    fn every_transition() {
        let legal: &[(Stage, StageTarget, Stage)] = &[
            (Stage::Draft, StageTarget::Review, Stage::Review),
            (Stage::Draft, StageTarget::Withdrawn, Stage::Withdrawn),
            (Stage::Review, StageTarget::Preview, Stage::Preview),
            (Stage::Review, StageTarget::General, Stage::General),
            (Stage::Review, StageTarget::Suspended, Stage::Suspended { resume_to: LiveStage::Review }),
            (Stage::Review, StageTarget::Withdrawn, Stage::Withdrawn),
            (Stage::Preview, StageTarget::General, Stage::General),
            (Stage::Preview, StageTarget::Suspended, Stage::Suspended { resume_to: LiveStage::Preview }),
            (Stage::Preview, StageTarget::Withdrawn, Stage::Withdrawn),
            (Stage::General, StageTarget::Suspended, Stage::Suspended { resume_to: LiveStage::General }),
            (Stage::General, StageTarget::Withdrawn, Stage::Withdrawn),
            (Stage::Suspended { resume_to: LiveStage::Review }, StageTarget::Resume, Stage::Review),
            (Stage::Suspended { resume_to: LiveStage::Preview }, StageTarget::Resume, Stage::Preview),
            (Stage::Suspended { resume_to: LiveStage::General }, StageTarget::Resume, Stage::General),
            (Stage::Suspended { resume_to: LiveStage::Review }, StageTarget::Withdrawn, Stage::Withdrawn),
            (Stage::Suspended { resume_to: LiveStage::Preview }, StageTarget::Withdrawn, Stage::Withdrawn),
            (Stage::Suspended { resume_to: LiveStage::General }, StageTarget::Withdrawn, Stage::Withdrawn),
        ];
        for from in ALL_STAGES {
            for to in ALL_TARGETS {
                let expect = legal.iter().find(|(f, t, _)| *f == from && *t == to).map(|(_, _, n)| *n);
                let got = from.transition(to);
                match expect {
                    Some(next) => assert_eq!(got, Ok(next), "{from:?} -> {to:?}"),
                    None => assert_eq!(
                        got,
                        Err(IllegalTransitionError { from, to }),
                        "{from:?} -> {to:?} should be illegal"
                    ),
                }
            }
        }
    }

    #[test]
    fn error_names_both_stages() {
        let err = Stage::Withdrawn.transition(StageTarget::Resume).unwrap_err();
        assert_eq!(err.to_string(), "a model in `withdrawn` cannot move to `resume`");
    }
}
