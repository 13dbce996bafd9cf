//! c2sp.org/tlog-proof@v1: an offline-verifiable receipt for one entry (the index, its
//! inclusion proof and the signed, possibly cosigned, checkpoint).
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! [extra <base64>]
//! index <N>
//! <inclusion proof hashes, one base64 per line>
//!
//! <signed checkpoint, verbatim>
//! ```
//!
//! The format is an untagged C2SP draft; this follows the 2026-05 text.

use crate::encoding;
use crate::hash::Hash;

/// First line of every tlog-proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Most inclusion proof hashes accepted (a tree below `2^63` leaves needs at most 63).
pub const MAX_INCLUSION_PROOF_LEN: usize = 63;

/// Why a text is not a tlog-proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptError {
    /// The first line is not the header.
    #[error("first line is not `c2sp.org/tlog-proof@v1`")]
    MissingHeader,
    /// The `extra` line is not base64.
    #[error("extra data is not base64")]
    BadExtra,
    /// The `index` line is missing or not a canonical decimal.
    #[error("missing or malformed `index` line")]
    BadIndex,
    /// A proof line is not a base64 hash.
    #[error("inclusion proof line `{0}` is not a base64 sha-256 hash")]
    BadProofLine(String),
    /// More than 63 proof lines.
    #[error("inclusion proof has more than 63 hashes")]
    ProofTooLong,
    /// No blank line and checkpoint after the proof.
    #[error("missing blank line and checkpoint after the inclusion proof")]
    MissingCheckpoint,
}

/// A tlog-proof receipt. Nothing in it is trusted until verified (see
/// [`crate::verify::verify_receipt`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    extra: Option<Vec<u8>>,
    leaf_idx: u64,
    inclusion_proof: Vec<Hash>,
    checkpoint: String,
}

impl TlogProof {
    /// A receipt for entry `leaf_idx` with its inclusion proof and signed checkpoint message.
    ///
    /// # Errors
    /// [`ReceiptError::ProofTooLong`] or [`ReceiptError::MissingCheckpoint`] (empty
    /// checkpoint).
    pub fn new(leaf_idx: u64, inclusion_proof: Vec<Hash>, checkpoint: &str) -> Result<Self, ReceiptError> {
        if inclusion_proof.len() > MAX_INCLUSION_PROOF_LEN {
            return Err(ReceiptError::ProofTooLong);
        }
        if checkpoint.is_empty() {
            return Err(ReceiptError::MissingCheckpoint);
        }
        Ok(Self { extra: None, leaf_idx, inclusion_proof, checkpoint: checkpoint.to_owned() })
    }

    /// Attaches opaque, unauthenticated extra data.
    pub fn with_extra(mut self, extra: Vec<u8>) -> Self {
        self.extra = Some(extra);
        self
    }

    /// The unauthenticated extra data, if any.
    pub fn extra(&self) -> Option<&[u8]> {
        self.extra.as_deref()
    }

    /// Index of the entry.
    pub fn leaf_idx(&self) -> u64 {
        self.leaf_idx
    }

    /// The inclusion proof, leaf's sibling first.
    pub fn inclusion_proof(&self) -> &[Hash] {
        &self.inclusion_proof
    }

    /// The signed checkpoint message, verbatim.
    pub fn checkpoint(&self) -> &str {
        &self.checkpoint
    }

    /// The text form.
    pub fn to_text(&self) -> String {
        let mut text = format!("{TLOG_PROOF_HEADER}\n");
        if let Some(extra) = &self.extra {
            text.push_str(&format!("extra {}\n", encoding::base64_encode(extra)));
        }
        text.push_str(&format!("index {}\n", self.leaf_idx));
        for hash in &self.inclusion_proof {
            text.push_str(&hash.to_base64());
            text.push('\n');
        }
        text.push('\n');
        text.push_str(&self.checkpoint);
        text
    }

    /// Parses the text form strictly.
    ///
    /// # Errors
    /// [`ReceiptError`] naming the first problem.
    pub fn parse(text: &str) -> Result<Self, ReceiptError> {
        let mut rest = text
            .strip_prefix(TLOG_PROOF_HEADER)
            .and_then(|rest| rest.strip_prefix('\n'))
            .ok_or(ReceiptError::MissingHeader)?;
        let next_line = |rest: &mut &str| -> Option<String> {
            let (line, tail) = rest.split_once('\n')?;
            *rest = tail;
            Some(line.to_owned())
        };
        let mut line = next_line(&mut rest).ok_or(ReceiptError::BadIndex)?;
        let mut extra = None;
        if let Some(encoded) = line.strip_prefix("extra ") {
            extra = Some(encoding::base64_decode(encoded).ok_or(ReceiptError::BadExtra)?);
            line = next_line(&mut rest).ok_or(ReceiptError::BadIndex)?;
        }
        let leaf_idx = line.strip_prefix("index ").and_then(encoding::parse_decimal).ok_or(ReceiptError::BadIndex)?;
        let mut inclusion_proof = Vec::new();
        loop {
            let line = next_line(&mut rest).ok_or(ReceiptError::MissingCheckpoint)?;
            if line.is_empty() {
                break;
            }
            if inclusion_proof.len() == MAX_INCLUSION_PROOF_LEN {
                return Err(ReceiptError::ProofTooLong);
            }
            let hash = Hash::from_base64(&line).map_err(|_| ReceiptError::BadProofLine(line))?;
            inclusion_proof.push(hash);
        }
        if rest.is_empty() {
            return Err(ReceiptError::MissingCheckpoint);
        }
        Ok(Self { extra, leaf_idx, inclusion_proof, checkpoint: rest.to_owned() })
    }
}
