//! Error types of the core.

use std::fmt;

/// A value given to the core was not valid; the message names the problem.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidValueError {
    message: String,
}

impl InvalidValueError {
    pub(crate) fn new(message: String) -> Self {
        Self { message }
    }
}

/// A location in policy text, 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceLocation {
    /// Line number, starting at 1.
    pub line: usize,
    /// Column number in characters, starting at 1.
    pub column: usize,
}

impl SourceLocation {
    /// The line and column of a byte offset in `source`.
    pub fn of_offset(source: &str, offset: usize) -> Self {
        let before = source.get(..offset.min(source.len())).unwrap_or(source);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
        Self { line, column }
    }
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One problem found in policy text.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PolicyDiagnostic {
    /// Where the problem is, when Cedar reports a location.
    pub location: Option<SourceLocation>,
    /// What is wrong, lowercase, one line.
    pub message: String,
}

impl fmt::Display for PolicyDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some(location) => write!(f, "line {}, column {}: {}", location.line, location.column, self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Policy text was rejected: it does not parse, does not validate against the schema, or breaks
/// a rule of its kind (criteria may only `permit`, directives may only `forbid`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("{}", render(.diagnostics))]
pub struct PolicyError {
    /// Every problem found, in source order.
    pub diagnostics: Vec<PolicyDiagnostic>,
}

fn render(diagnostics: &[PolicyDiagnostic]) -> String {
    diagnostics.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_to_line_and_column() {
        let text = "ab\ncdé\nf";
        assert_eq!(SourceLocation::of_offset(text, 0), SourceLocation { line: 1, column: 1 });
        assert_eq!(SourceLocation::of_offset(text, 4), SourceLocation { line: 2, column: 2 });
        assert_eq!(SourceLocation::of_offset(text, 8), SourceLocation { line: 3, column: 1 });
    }
}
