//! Rate limits and token budgets, per customer and per API key.
//!
//! The limits are governance state (set by the provider, logged, replayed); the counting is the
//! gateway's, per replica, in memory. A limit change applies from the next request.

use serde::{Deserialize, Serialize};

/// Largest limit accepted: above it a value is a typo, not a policy.
pub const MAX_REQUESTS_PER_MINUTE: u32 = 10_000_000;

/// Limits on one customer or one key; `None` means unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Requests per minute (a token bucket of this size, refilled evenly over the minute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u32>,
    /// Tokens per UTC day, counted from the upstream's reported `usage.total_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_day: Option<u64>,
}

impl Limits {
    /// Whether no limit is set.
    pub fn is_unlimited(&self) -> bool {
        self.requests_per_minute.is_none() && self.tokens_per_day.is_none()
    }

    /// Checks the values, naming the first problem.
    ///
    /// # Errors
    ///
    /// Returns the message when a limit is zero (use a suspension or a revocation to stop all
    /// traffic) or absurdly large.
    pub fn check(&self) -> Result<(), String> {
        match self.requests_per_minute {
            Some(0) => {
                return Err("requests_per_minute must be at least 1; revoke access to stop all traffic".to_owned());
            }
            Some(n) if n > MAX_REQUESTS_PER_MINUTE => {
                return Err(format!("requests_per_minute must be at most {MAX_REQUESTS_PER_MINUTE}"));
            }
            _ => {}
        }
        if self.tokens_per_day == Some(0) {
            return Err("tokens_per_day must be at least 1; revoke access to stop all traffic".to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_name_the_problem() {
        let cases = [
            (Limits { requests_per_minute: Some(60), tokens_per_day: Some(1) }, None),
            (Limits::default(), None),
            (
                Limits { requests_per_minute: Some(0), tokens_per_day: None },
                Some("requests_per_minute must be at least 1"),
            ),
            (Limits { requests_per_minute: None, tokens_per_day: Some(0) }, Some("tokens_per_day must be at least 1")),
            (Limits { requests_per_minute: Some(u32::MAX), tokens_per_day: None }, Some("at most 10000000")),
        ];
        for (limits, problem) in cases {
            match (limits.check(), problem) {
                (Ok(()), None) => {}
                (Err(message), Some(fragment)) => assert!(message.contains(fragment), "{message}"),
                (got, want) => panic!("{limits:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}
