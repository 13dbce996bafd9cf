//! c2sp.org/tlog-witness: the `add-checkpoint` request body, the response bodies, and a pure
//! in-memory witness state machine for in-process tests and simulations.
//!
//! The state machine keeps the latest cosigned tree head per origin and applies the spec's
//! checks in the spec's order; each rejection is a [`WitnessError`] whose
//! [`WitnessError::http_status`] is the status the HTTP protocol prescribes. Time is an
//! argument, and persistence is the caller's: a real witness stores the new state atomically
//! with the compare against `old` before it answers.

use std::collections::BTreeMap;

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::cosignature::CosignatureSigner;
use crate::encoding;
use crate::hash::Hash;
use crate::note::{KeyType, Note, NoteError, NoteSignature, NoteVerifier};
use crate::tree::{ProofError, TreeHead, check_consistency};

/// Most consistency proof lines a request may carry.
pub const MAX_PROOF_LINES: usize = 63;

/// Content type of a 409 response body.
pub const CONFLICT_CONTENT_TYPE: &str = "text/x.tlog.size";

/// Errors of the witness formats and state machine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessError {
    /// The request body is malformed (400).
    #[error("malformed add-checkpoint request: {0}")]
    MalformedRequest(String),
    /// The submitted note is not a well-formed checkpoint (400).
    #[error("submitted checkpoint is malformed")]
    MalformedCheckpoint(#[source] CheckpointError),
    /// The submitted note is not a well-formed signed note (400).
    #[error("submitted note is malformed")]
    MalformedNote(#[source] NoteError),
    /// The witness does not know the checkpoint's origin (404).
    #[error("unknown log origin `{0}`")]
    UnknownOrigin(String),
    /// No trusted log signature verifies, or a trusted one fails (403).
    #[error("checkpoint is not signed by the log")]
    Unauthenticated(#[source] NoteError),
    /// The old size is above the checkpoint size (400).
    #[error("old size {old_size} is larger than checkpoint size {size}")]
    OldSizeTooLarge {
        /// The request's old size.
        old_size: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// The old size is not the size the witness last cosigned (409, body = latest size).
    #[error("old size {old_size} does not match the latest cosigned size {latest_size}")]
    SizeConflict {
        /// The request's old size.
        old_size: u64,
        /// The witness's latest cosigned size.
        latest_size: u64,
    },
    /// Same size as the latest cosigned checkpoint but a different root (409).
    #[error("checkpoint of size {0} has a different root than the one cosigned")]
    RootConflict(u64),
    /// The consistency proof does not verify (422).
    #[error("consistency proof does not verify")]
    InvalidProof(#[source] ProofError),
    /// A 409 response body that is not a size line.
    #[error("conflict body `{0}` is not a size line")]
    MalformedConflictBody(String),
    /// The witness failed to cosign (500).
    #[error("failed to cosign")]
    Cosign(#[source] NoteError),
}

impl WitnessError {
    /// The HTTP status the tlog-witness protocol prescribes for this rejection.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::MalformedRequest(_)
            | Self::MalformedCheckpoint(_)
            | Self::MalformedNote(_)
            | Self::OldSizeTooLarge { .. }
            | Self::MalformedConflictBody(_) => 400,
            Self::Unauthenticated(_) => 403,
            Self::UnknownOrigin(_) => 404,
            Self::SizeConflict { .. } | Self::RootConflict(_) => 409,
            Self::InvalidProof(_) => 422,
            Self::Cosign(_) => 500,
        }
    }
}

/// The body of `POST <prefix>/add-checkpoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpointRequest {
    old_size: u64,
    consistency_proof: Vec<Hash>,
    checkpoint: String,
}

impl AddCheckpointRequest {
    /// A request proving `checkpoint` (a signed-note message) consistent with `old_size`.
    ///
    /// # Errors
    /// [`WitnessError::MalformedRequest`] for more than 63 proof hashes.
    pub fn new(old_size: u64, consistency_proof: Vec<Hash>, checkpoint: &str) -> Result<Self, WitnessError> {
        if consistency_proof.len() > MAX_PROOF_LINES {
            return Err(WitnessError::MalformedRequest(format!(
                "{} proof lines, at most 63 allowed",
                consistency_proof.len()
            )));
        }
        Ok(Self { old_size, consistency_proof, checkpoint: checkpoint.to_owned() })
    }

    /// The old size.
    pub fn old_size(&self) -> u64 {
        self.old_size
    }

    /// The consistency proof from the old size to the checkpoint size.
    pub fn consistency_proof(&self) -> &[Hash] {
        &self.consistency_proof
    }

    /// The signed checkpoint message.
    pub fn checkpoint(&self) -> &str {
        &self.checkpoint
    }

    /// The request body: `old <N>`, proof lines, a blank line, the checkpoint.
    pub fn to_body(&self) -> String {
        let mut body = format!("old {}\n", self.old_size);
        for hash in &self.consistency_proof {
            body.push_str(&hash.to_base64());
            body.push('\n');
        }
        body.push('\n');
        body.push_str(&self.checkpoint);
        body
    }

    /// Parses a request body strictly.
    ///
    /// # Errors
    /// [`WitnessError::MalformedRequest`].
    pub fn parse(body: &str) -> Result<Self, WitnessError> {
        let malformed = |reason: &str| WitnessError::MalformedRequest(reason.to_owned());
        let (old_line, mut rest) = body.split_once('\n').ok_or_else(|| malformed("missing old size line"))?;
        let old_size = old_line
            .strip_prefix("old ")
            .and_then(encoding::parse_decimal)
            .ok_or_else(|| malformed("first line is not `old <size>`"))?;
        let mut consistency_proof = Vec::new();
        loop {
            let (line, tail) =
                rest.split_once('\n').ok_or_else(|| malformed("missing blank line before the checkpoint"))?;
            rest = tail;
            if line.is_empty() {
                break;
            }
            if consistency_proof.len() == MAX_PROOF_LINES {
                return Err(malformed("more than 63 proof lines"));
            }
            let hash = Hash::from_base64(line).map_err(|_| malformed("bad proof line"))?;
            consistency_proof.push(hash);
        }
        if rest.is_empty() {
            return Err(malformed("missing checkpoint"));
        }
        Ok(Self { old_size, consistency_proof, checkpoint: rest.to_owned() })
    }
}

/// A 200 response body: the cosignature lines.
pub fn format_cosignature_response(cosignatures: &[NoteSignature]) -> String {
    cosignatures.iter().map(NoteSignature::to_line).collect()
}

/// Parses a 200 response body into signature lines.
///
/// # Errors
/// [`WitnessError::MalformedNote`] for a line that is not a signature line.
pub fn parse_cosignature_response(body: &str) -> Result<Vec<NoteSignature>, WitnessError> {
    let Some(body) = body.strip_suffix('\n') else {
        return Err(WitnessError::MalformedNote(NoteError::MalformedSignatureLine(body.to_owned())));
    };
    body.split('\n').map(|line| NoteSignature::parse_line(line).map_err(WitnessError::MalformedNote)).collect()
}

/// A 409 response body: the witness's latest size and a newline.
pub fn format_conflict_body(latest_size: u64) -> String {
    format!("{latest_size}\n")
}

/// Parses a 409 response body.
///
/// # Errors
/// [`WitnessError::MalformedConflictBody`].
pub fn parse_conflict_body(body: &str) -> Result<u64, WitnessError> {
    body.strip_suffix('\n')
        .and_then(encoding::parse_decimal)
        .ok_or_else(|| WitnessError::MalformedConflictBody(body.to_owned()))
}

#[derive(Debug, Clone)]
struct LogRecord {
    verifiers: Vec<NoteVerifier>,
    latest: TreeHead,
}

/// A pure, in-memory tlog witness.
#[derive(Debug, Clone)]
pub struct Witness {
    signer: CosignatureSigner,
    logs: BTreeMap<String, LogRecord>,
}

impl Witness {
    /// A witness cosigning with `signer` and knowing no logs yet.
    pub fn new(signer: CosignatureSigner) -> Self {
        Self { signer, logs: BTreeMap::new() }
    }

    /// The witness's cosignature verifier (type `0x04`).
    pub fn verifier(&self) -> NoteVerifier {
        self.signer.verifier()
    }

    /// Trusts `verifiers` (Ed25519 log keys) for `origin`. Re-adding a log replaces its keys
    /// and keeps its state; a new log starts at size 0.
    pub fn add_log(&mut self, origin: &str, verifiers: Vec<NoteVerifier>) {
        let verifiers: Vec<NoteVerifier> =
            verifiers.into_iter().filter(|verifier| verifier.key_type() == KeyType::Ed25519).collect();
        self.logs
            .entry(origin.to_owned())
            .and_modify(|record| record.verifiers.clone_from(&verifiers))
            .or_insert_with(|| LogRecord { verifiers, latest: TreeHead { size: 0, root: Hash::empty_tree() } });
    }

    /// The latest cosigned tree head for `origin` (size 0 if never cosigned), if known.
    pub fn latest(&self, origin: &str) -> Option<TreeHead> {
        self.logs.get(origin).map(|record| record.latest)
    }

    /// Handles an `add-checkpoint` request at `now` (POSIX seconds): checks it, records the new
    /// tree head and returns the cosignature.
    ///
    /// # Errors
    /// [`WitnessError`]; see [`WitnessError::http_status`] for the response status. The state
    /// is unchanged on error.
    pub fn handle_add_checkpoint(
        &mut self,
        request: &AddCheckpointRequest,
        now: u64,
    ) -> Result<NoteSignature, WitnessError> {
        let note = Note::parse(&request.checkpoint).map_err(WitnessError::MalformedNote)?;
        let checkpoint = Checkpoint::parse(note.text()).map_err(WitnessError::MalformedCheckpoint)?;
        let record = self
            .logs
            .get_mut(checkpoint.origin())
            .ok_or_else(|| WitnessError::UnknownOrigin(checkpoint.origin().to_owned()))?;
        note.verify(&record.verifiers).map_err(WitnessError::Unauthenticated)?;
        let new = checkpoint.tree_head();
        if request.old_size > new.size {
            return Err(WitnessError::OldSizeTooLarge { old_size: request.old_size, size: new.size });
        }
        if request.old_size != record.latest.size {
            return Err(WitnessError::SizeConflict { old_size: request.old_size, latest_size: record.latest.size });
        }
        if new.size == record.latest.size && new.root != record.latest.root {
            return Err(WitnessError::RootConflict(new.size));
        }
        if new.size == 0 && new.root != Hash::empty_tree() {
            return Err(WitnessError::InvalidProof(ProofError::BadEmptyRoot));
        }
        check_consistency(&request.consistency_proof, &record.latest, &new).map_err(WitnessError::InvalidProof)?;
        let cosignature = self.signer.cosign(note.text(), now).map_err(WitnessError::Cosign)?;
        record.latest = new;
        Ok(cosignature)
    }
}
