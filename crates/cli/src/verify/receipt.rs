//! `--receipt FILE --entry-file FILE`: an offline receipt (c2sp.org/tlog-proof@v1, from
//! `GET /admin/v1/events/{seq}/receipt`) and the entry it vouches for.
//!
//! The entry file is the entry's exact text, or the JSON answer of `GET /admin/v1/events/{seq}`
//! (whose `entry` field is that text), so that `curl … > entry.json` works as is. The two are
//! told apart by shape: a logged event has `v`, `seq`, `at`, `actor` and `event` fields, never
//! a string `entry` beside a numeric `log_index`.

use std::path::Path;

use anyhow::Context as _;
use portcullis_translog::Checkpoint;
use portcullis_translog::proof::TlogProof;
use portcullis_translog::verify::{TrustPolicy, VerifyError, verify_receipt};

use crate::verify::checkpoint_error;

/// A receipt that verified.
pub struct VerifiedReceipt {
    /// The receipt's checkpoint, signed by the log (and cosigned as the policy asks).
    pub checkpoint: Checkpoint,
    /// The entry's leaf index.
    pub leaf_idx: u64,
    /// How the entry file was read.
    pub entry_form: EntryForm,
}

/// How the entry file was turned into the entry's bytes.
pub enum EntryForm {
    /// The file's bytes, as they are.
    Exact,
    /// The file's bytes without their final newline (as `jq -r` or an editor leaves them).
    WithoutFinalNewline,
    /// The `entry` field of a `GET /admin/v1/events/{seq}` answer.
    EventAnswer,
}

/// Verifies the receipt in `receipt_file` for the entry in `entry_file` against `policy`.
///
/// # Errors
///
/// Names the receipt file and what failed: reading, the format, the checkpoint signature or
/// the inclusion proof.
pub fn verify_receipt_files(
    policy: &TrustPolicy,
    receipt_file: &Path,
    entry_file: &Path,
) -> anyhow::Result<VerifiedReceipt> {
    let receipt_name = receipt_file.display();
    let entry_name = entry_file.display();
    let text =
        std::fs::read_to_string(receipt_file).with_context(|| format!("failed to read receipt `{receipt_name}`"))?;
    let bytes = std::fs::read(entry_file).with_context(|| format!("failed to read entry file `{entry_name}`"))?;
    let receipt = TlogProof::parse(&text).with_context(|| format!("receipt `{receipt_name}` is malformed"))?;
    let leaf_idx = receipt.leaf_idx();
    let (entry, mut entry_form) = match event_answer(&bytes) {
        Some((log_index, entry)) => {
            if log_index != leaf_idx {
                anyhow::bail!(
                    "receipt `{receipt_name}`: it is for leaf index {leaf_idx}, but entry file `{entry_name}` is event {}'s",
                    log_index.saturating_add(1)
                );
            }
            (entry.into_bytes(), EntryForm::EventAnswer)
        }
        None => (bytes, EntryForm::Exact),
    };
    let mut result = verify_receipt(policy, &receipt, &entry);
    if let (Err(VerifyError::Inclusion(_)), EntryForm::Exact, Some(trimmed)) =
        (&result, &entry_form, entry.strip_suffix(b"\n"))
    {
        result = verify_receipt(policy, &receipt, trimmed);
        entry_form = EntryForm::WithoutFinalNewline;
    }
    let verified = result.map_err(|error| match error {
        VerifyError::Inclusion(source) => anyhow::Error::new(source).context(format!(
            "receipt `{receipt_name}`: entry file `{entry_name}` is not leaf index {leaf_idx} of the receipt's tree"
        )),
        other => checkpoint_error(other).context(format!("receipt `{receipt_name}`")),
    })?;
    Ok(VerifiedReceipt { checkpoint: verified.checkpoint, leaf_idx, entry_form })
}

/// The log index and entry text of a `GET /admin/v1/events/{seq}` answer, if `bytes` is one.
fn event_answer(bytes: &[u8]) -> Option<(u64, String)> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let log_index = value.get("log_index")?.as_u64()?;
    let entry = value.get("entry")?.as_str()?;
    Some((log_index, entry.to_owned()))
}
