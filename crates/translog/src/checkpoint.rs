//! c2sp.org/tlog-checkpoint: the note text that commits to a tree head.
//!
//! ```text
//! <origin>
//! <decimal tree size, no leading zeros>
//! <base64 root hash>
//! [extension lines]
//! ```

use std::fmt;

use crate::encoding;
use crate::hash::Hash;
use crate::tree::TreeHead;

/// A parsed, well-formed checkpoint body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
    extensions: Vec<String>,
}

/// Why a text is not a well-formed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The text does not end in a newline.
    #[error("checkpoint does not end with a newline")]
    MissingFinalNewline,
    /// Fewer than three lines.
    #[error("checkpoint has {0} lines, at least 3 are required")]
    TooFewLines(usize),
    /// A blank line (1-based line number).
    #[error("checkpoint line {0} is empty")]
    EmptyLine(usize),
    /// A control character.
    #[error("checkpoint contains a control character")]
    ControlCharacter,
    /// The size line is not a canonical decimal.
    #[error("checkpoint size `{0}` is not a decimal without leading zeros")]
    InvalidSize(String),
    /// The root line is not base64 of 32 bytes.
    #[error("checkpoint root `{0}` is not a base64 sha-256 hash")]
    InvalidRoot(String),
    /// An origin or extension line with a newline inside.
    #[error("checkpoint line `{0}` contains a newline")]
    EmbeddedNewline(String),
}

fn check_line(line: &str, line_no: usize) -> Result<(), CheckpointError> {
    if line.is_empty() {
        return Err(CheckpointError::EmptyLine(line_no));
    }
    if line.contains('\n') {
        return Err(CheckpointError::EmbeddedNewline(line.to_owned()));
    }
    if encoding::has_forbidden_control(line) {
        return Err(CheckpointError::ControlCharacter);
    }
    Ok(())
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    ///
    /// # Errors
    /// [`CheckpointError`] when the origin is empty or contains a newline or control character.
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self, CheckpointError> {
        check_line(origin, 1)?;
        Ok(Self { origin: origin.to_owned(), size, root, extensions: Vec::new() })
    }

    /// Adds extension lines (opaque, non-empty; their use is not recommended by the spec).
    ///
    /// # Errors
    /// [`CheckpointError`] when a line is empty or contains a newline or control character.
    pub fn with_extensions(mut self, extensions: Vec<String>) -> Result<Self, CheckpointError> {
        for (position, line) in extensions.iter().enumerate() {
            check_line(line, position + 4)?;
        }
        self.extensions = extensions;
        Ok(self)
    }

    /// The origin line: the log's identity.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// Size and root together.
    pub fn tree_head(&self) -> TreeHead {
        TreeHead { size: self.size, root: self.root }
    }

    /// Extension lines, without their newlines.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The note text: every line newline-terminated.
    pub fn to_text(&self) -> String {
        let mut text = format!("{}\n{}\n{}\n", self.origin, self.size, self.root.to_base64());
        for line in &self.extensions {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Parses a checkpoint note text strictly.
    ///
    /// # Errors
    /// [`CheckpointError`] naming the first problem.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let body = text.strip_suffix('\n').ok_or(CheckpointError::MissingFinalNewline)?;
        let lines: Vec<&str> = body.split('\n').collect();
        for (position, line) in lines.iter().enumerate() {
            check_line(line, position + 1)?;
        }
        let [origin, size, root, extensions @ ..] = lines.as_slice() else {
            return Err(CheckpointError::TooFewLines(lines.len()));
        };
        let size = encoding::parse_decimal(size).ok_or_else(|| CheckpointError::InvalidSize((*size).to_owned()))?;
        let root = Hash::from_base64(root).map_err(|_| CheckpointError::InvalidRoot((*root).to_owned()))?;
        Ok(Self {
            origin: (*origin).to_owned(),
            size,
            root,
            extensions: extensions.iter().map(|line| (*line).to_owned()).collect(),
        })
    }
}

impl fmt::Display for Checkpoint {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.to_text())
    }
}
