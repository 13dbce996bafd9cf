//! Criteria versions for the register: the text and Cedar source of any published version, and a
//! line diff between two.
//!
//! The snapshot keeps only the current version's text and source; older versions are kept as
//! (version, hash, time, sequence number), and their texts are read from their
//! `criteria_published` event when a page asks for one. Keeping every old text in the state
//! would copy it into every snapshot that changes the model, for a page that is rarely read;
//! reading it costs one indexed row from the log's read-only connection, and only on the pages
//! that show an old version or a diff.

use std::time::Duration;

use portcullis_core::state::{CriteriaVersion, Model};
use portcullis_core::{Event, Timestamp};
use similar::{ChangeTag, TextDiff};

use crate::app::AppState;
use crate::error::ApiError;

/// How long a diff may take before it settles for a correct but longer (less minimal) answer:
/// criteria are short, but a provider may publish a megabyte of policy text, and a page request
/// must not spin on it.
const DIFF_TIMEOUT: Duration = Duration::from_millis(200);

/// Unchanged lines shown around each change.
const DIFF_CONTEXT_LINES: usize = 3;

/// One version's texts.
pub struct CriteriaTexts {
    /// Version number.
    pub version: u32,
    /// SHA-256 of the policies.
    pub content_hash: String,
    /// When published.
    pub published_at: Timestamp,
    /// The publishing event's sequence number.
    pub published_seq: u64,
    /// The human-readable text.
    pub text: String,
    /// The Cedar source.
    pub policies: String,
}

/// The texts of `version` of a model's criteria.
///
/// # Errors
///
/// 404 for a version that was never published; 500 when the store cannot produce it.
pub async fn texts(app: &AppState, model: &Model, version: u32) -> Result<CriteriaTexts, ApiError> {
    let entry = model.criteria_history.iter().find(|v| v.version == version).ok_or_else(|| ApiError::NotFound {
        message: format!("model `{}` has no criteria version {version}", model.name),
        code: "not_found",
    })?;
    if let Some(current) = model.criteria.as_ref().filter(|c| c.version == version)
        && let Ok(compiled) = &current.compiled
    {
        return Ok(with_texts(entry, current.text.clone(), compiled.text().to_owned()));
    }
    let reader = app.transparency.clone();
    let seq = entry.published_seq;
    let record = tokio::task::spawn_blocking(move || reader.reader.record(seq))
        .await
        .map_err(|err| ApiError::Internal(err.into()))?
        .map_err(|err| ApiError::Internal(err.into()))?;
    match record.map(|r| r.event) {
        Some(Event::CriteriaPublished { model: name, version: v, text, policies, .. })
            if name == model.name && v == version =>
        {
            Ok(with_texts(entry, text, policies))
        }
        _ => Err(ApiError::Internal(anyhow::anyhow!(
            "event {seq} is not the publication of version {version} of `{}`",
            model.name
        ))),
    }
}

fn with_texts(entry: &CriteriaVersion, text: String, policies: String) -> CriteriaTexts {
    CriteriaTexts {
        version: entry.version,
        content_hash: entry.content_hash.clone(),
        published_at: entry.published_at,
        published_seq: entry.published_seq,
        text,
        policies,
    }
}

/// How a line of a diff changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineChange {
    /// In both versions.
    Same,
    /// Only in the older version.
    Removed,
    /// Only in the newer version.
    Added,
}

/// One line of a diff, with its line numbers in the old and new text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffLine {
    /// How it changed.
    pub change: LineChange,
    /// Its number in the old text (1-based), if there.
    pub old_line: Option<usize>,
    /// Its number in the new text (1-based), if there.
    pub new_line: Option<usize>,
    /// The line, without its line break.
    pub text: String,
}

/// A line diff in hunks: each hunk is a run of changes with a few unchanged lines around it.
/// Equal texts give no hunks.
pub fn diff(old: &str, new: &str) -> Vec<Vec<DiffLine>> {
    // Lines without their endings, so a last line with and without a final newline compare equal.
    let old_lines: Vec<&str> = old.lines().collect();
    let new_lines: Vec<&str> = new.lines().collect();
    let diff = TextDiff::configure().timeout(DIFF_TIMEOUT).diff_slices(&old_lines, &new_lines);
    diff.grouped_ops(DIFF_CONTEXT_LINES)
        .iter()
        .map(|group| {
            group
                .iter()
                .flat_map(|op| diff.iter_changes(op))
                .map(|change| DiffLine {
                    change: match change.tag() {
                        ChangeTag::Equal => LineChange::Same,
                        ChangeTag::Delete => LineChange::Removed,
                        ChangeTag::Insert => LineChange::Added,
                    },
                    old_line: change.old_index().map(|i| i + 1),
                    new_line: change.new_index().map(|i| i + 1),
                    text: change.value().to_owned(),
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(hunks: &[Vec<DiffLine>]) -> String {
        hunks
            .iter()
            .map(|hunk| {
                hunk.iter()
                    .map(|l| {
                        let mark = match l.change {
                            LineChange::Same => ' ',
                            LineChange::Removed => '-',
                            LineChange::Added => '+',
                        };
                        format!("{mark}{:?}/{:?} {}", l.old_line, l.new_line, l.text)
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .collect::<Vec<_>>()
            .join("\n@@\n")
    }

    #[test]
    fn diffs_by_line_with_numbers_and_context() {
        assert_eq!(render(&diff("a\nb\n", "a\nb\n")), "");
        assert_eq!(render(&diff("a\nb", "a\nb\n")), "", "a final newline is not a change");
        assert_eq!(
            render(&diff("a\nb\nc\n", "a\nB\nc\nd\n")),
            " Some(1)/Some(1) a\n-Some(2)/None b\n+None/Some(2) B\n Some(3)/Some(3) c\n+None/Some(4) d"
        );
        // Changes far apart are separate hunks with three lines of context each.
        let old: String = (1..=20).map(|i| format!("{i}\n")).collect();
        let new: String = (1..=20)
            .map(|i| match i {
                2 => "two\n".to_owned(),
                19 => "nineteen\n".to_owned(),
                _ => format!("{i}\n"),
            })
            .collect();
        let hunks = diff(&old, &new);
        assert_eq!(hunks.len(), 2, "{}", render(&hunks));
    }
}
