//! `portcullis verify`: check Portcullis's transparency log the way an outsider would, with
//! nothing but the log's verifier key: the signed checkpoint, every tile and entry bundle, one
//! entry's inclusion, consistency with a checkpoint saved earlier, and offline receipts.
//!
//! Each check that passes prints one `ok   <what>` line on stdout; the first that fails ends
//! the run with an error naming what failed (`main` prints it and exits 1). The last line,
//! `verified: origin …, size …, root …`, is printed only when everything passed.
//!
//! All the cryptography is `portcullis-translog`'s; this module only reads files and URLs and
//! words the outcome.
//!
//! # Layout
//!
//! - `source`: where the log is read from: a URL prefix (optionally mirrored) or a directory.
//! - `tiles`: every tile and entry bundle of a tree, checked in chunks.
//! - `receipt`: offline receipts and the entry files they vouch for.

mod receipt;
mod source;
mod tiles;

use std::fmt::Display;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use portcullis_translog::verify::{
    TrustPolicy, VerifiedCheckpoint, VerifyError, fetch_entry, verify_checkpoint, verify_consistency, verify_inclusion,
};
use portcullis_translog::{Checkpoint, NoteVerifier};

use crate::verify::receipt::{EntryForm, verify_receipt_files};
use crate::verify::source::{DirSource, HttpSource, LogSource};
use crate::verify::tiles::{tile_error, verify_tree};

/// Arguments of `verify`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("log").args(["url", "dir"]).multiple(false)))]
pub struct VerifyArgs {
    /// The log's verifier key, `<origin>+<hex key id>+<base64 key>`, as published by
    /// `GET /admin/v1/log` (`verifier_key`).
    #[arg(long, value_name = "VKEY")]
    key: String,
    /// The log's URL prefix, e.g. `http://127.0.0.1:8080/log`: `<URL>/checkpoint` and
    /// `<URL>/tile/…` are fetched.
    #[arg(long, value_name = "URL", required_unless_present_any = ["dir", "receipt"])]
    url: Option<String>,
    /// A directory laid out like the log's URL space (`DIR/checkpoint`, `DIR/tile/…`), such as
    /// one written by `--mirror`: verify offline.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// A witness's cosignature key, `<name>+<hex key id>+<base64 key>`; repeat for several.
    #[arg(long, value_name = "VKEY")]
    witness: Vec<String>,
    /// How many of the `--witness` keys must have cosigned the checkpoint [default: all of them].
    #[arg(long, value_name = "K", requires = "witness")]
    quorum: Option<usize>,
    /// Also fetch event SEQ's entry from its bundle, print it and check that it is in the tree.
    #[arg(long, value_name = "SEQ", requires = "log", value_parser = clap::value_parser!(u64).range(1..))]
    entry: Option<u64>,
    /// A receipt (`c2sp.org/tlog-proof@v1`, from `GET /admin/v1/events/{seq}/receipt`) to
    /// verify offline; with `--url` or `--dir`, its checkpoint must also be consistent with the
    /// log's.
    #[arg(long, value_name = "FILE", requires = "entry_file")]
    receipt: Option<PathBuf>,
    /// The entry the receipt vouches for: its exact text, or the JSON answer of
    /// `GET /admin/v1/events/{seq}`.
    #[arg(long, value_name = "FILE", requires = "receipt")]
    entry_file: Option<PathBuf>,
    /// A checkpoint saved by an earlier run (`--save-checkpoint`): the log must only have grown
    /// since, without rewriting anything.
    #[arg(long, value_name = "FILE", requires = "log")]
    old_checkpoint: Option<PathBuf>,
    /// Once everything verified, write the checkpoint to FILE, for `--old-checkpoint` next time.
    #[arg(long, value_name = "FILE", requires = "log")]
    save_checkpoint: Option<PathBuf>,
    /// With `--url`, also write every file fetched into DIR in the URL layout, so that
    /// `--dir DIR` can verify the same checkpoint offline later.
    #[arg(long, value_name = "DIR", requires = "url")]
    mirror: Option<PathBuf>,
}

/// Runs the checks the arguments ask for, printing one line per check that passed.
///
/// # Errors
///
/// The first check that failed, naming what failed.
pub fn run(args: VerifyArgs) -> anyhow::Result<()> {
    let policies = Policies::from_args(&args)?;
    let mut report = Report { out: std::io::stdout().lock() };
    let source = match (&args.url, &args.dir) {
        (Some(url), _) => Some(LogSource::Http(HttpSource::new(url, args.mirror.clone())?)),
        (None, Some(dir)) => Some(LogSource::Dir(DirSource::new(dir.clone())?)),
        (None, None) => None,
    };
    let log = match &source {
        Some(source) => Some(verify_log(&mut report, &policies, source, &args)?),
        None => None,
    };
    let receipt_checkpoint = match (&args.receipt, &args.entry_file) {
        (Some(receipt_file), Some(entry_file)) => {
            let log = log.as_ref().zip(source.as_ref());
            Some(check_receipt(&mut report, &policies.full, receipt_file, entry_file, log)?)
        }
        _ => None,
    };
    if let (Some(file), Some(log)) = (&args.save_checkpoint, &log) {
        source::save_file(file, &log.note).with_context(|| format!("save checkpoint `{}`", file.display()))?;
        report.ok(format_args!("saved the checkpoint to `{}`", file.display()))?;
    }
    let Some(checkpoint) = log.map(|log| log.verified.checkpoint).or(receipt_checkpoint) else {
        anyhow::bail!("nothing to verify: pass --url, --dir or --receipt");
    };
    report.line(format_args!(
        "verified: origin {}, size {}, root {}",
        checkpoint.origin(),
        checkpoint.size(),
        checkpoint.root().to_base64()
    ))
}

/// Words a checkpoint verification failure: a signature problem says "checkpoint signature",
/// a missing quorum says "witness cosignatures", anything else "checkpoint".
pub fn checkpoint_error(error: VerifyError) -> anyhow::Error {
    match error {
        // The library's own wording ("checkpoint signature check failed") would repeat ours.
        VerifyError::Signature(note_error) => anyhow::Error::new(note_error).context("checkpoint signature"),
        VerifyError::MissingLogSignature(_) => anyhow::Error::new(error).context("checkpoint signature"),
        VerifyError::QuorumNotMet { .. } => anyhow::Error::new(error).context("checkpoint witness cosignatures"),
        other => anyhow::Error::new(other).context("checkpoint"),
    }
}

/// The trust policies the arguments describe.
struct Policies {
    /// The log key plus the witnesses and quorum: for the checkpoints being verified now.
    full: TrustPolicy,
    /// The log key alone: for a saved checkpoint, whose cosignatures were checked when it was
    /// saved and whose witnesses may since have changed.
    log_only: TrustPolicy,
}

impl Policies {
    fn from_args(args: &VerifyArgs) -> anyhow::Result<Self> {
        let log_key = NoteVerifier::parse(&args.key).with_context(|| format!("--key `{}`", args.key))?;
        let log_only = TrustPolicy::new(log_key).with_context(|| format!("--key `{}`", args.key))?;
        let witnesses = args
            .witness
            .iter()
            .map(|vkey| NoteVerifier::parse(vkey).with_context(|| format!("--witness `{vkey}`")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let quorum = args.quorum.unwrap_or(witnesses.len());
        let full = log_only.clone().with_witnesses(witnesses, quorum).context("--witness and --quorum")?;
        Ok(Self { full, log_only })
    }
}

/// A log checkpoint that verified, with its signed note text as read.
struct VerifiedLog {
    /// The signed note, verbatim (what `--save-checkpoint` writes).
    note: String,
    /// The checkpoint and its cosignatures.
    verified: VerifiedCheckpoint,
}

/// The checks on the log itself: checkpoint, tiles, bundles, and those asked for.
fn verify_log(
    report: &mut Report<impl Write>,
    policies: &Policies,
    source: &LogSource,
    args: &VerifyArgs,
) -> anyhow::Result<VerifiedLog> {
    let note = source.checkpoint().context("checkpoint")?;
    let verified = verify_checkpoint(&policies.full, &note).map_err(checkpoint_error)?;
    let checkpoint = &verified.checkpoint;
    report.ok(format_args!(
        "checkpoint signature: `{}` (key id {:08x}) signed size {}",
        checkpoint.origin(),
        policies.full.log().key_id(),
        checkpoint.size()
    ))?;
    if !args.witness.is_empty() {
        let cosigners: Vec<String> = verified
            .cosignatures
            .iter()
            .map(|signature| match signature.timestamp {
                Some(timestamp) => format!("`{}` at {timestamp}", signature.name),
                None => format!("`{}`", signature.name),
            })
            .collect();
        report.ok(format_args!(
            "witness cosignatures: {} of {} required ({})",
            cosigners.len(),
            args.quorum.unwrap_or(args.witness.len()),
            cosigners.join(", ")
        ))?;
    }

    let counts = verify_tree(checkpoint, source)?;
    report.ok(format_args!(
        "tiles: {} verified against the root at size {}",
        plural(counts.tiles, "tile", "tiles"),
        checkpoint.size()
    ))?;
    report.ok(format_args!(
        "entries: {} in {} match their leaf hashes",
        plural(counts.entries, "entry", "entries"),
        plural(counts.bundles, "bundle", "bundles")
    ))?;

    if let Some(seq) = args.entry {
        let leaf_idx = seq.saturating_sub(1);
        let entry = fetch_entry(checkpoint, leaf_idx, source).map_err(|error| entry_error(error, seq, checkpoint))?;
        verify_inclusion(checkpoint, leaf_idx, &entry, source).map_err(|error| entry_error(error, seq, checkpoint))?;
        report.ok(format_args!("entry {seq} (leaf index {leaf_idx}) is in its bundle and in the tree:"))?;
        report.line(format_args!("     {}", printable(&entry)))?;
    }

    if let Some(file) = &args.old_checkpoint {
        let old_note = std::fs::read_to_string(file)
            .with_context(|| format!("failed to read the saved checkpoint `{}`", file.display()))?;
        let old = verify_checkpoint(&policies.log_only, &old_note)
            .map_err(checkpoint_error)
            .with_context(|| format!("saved checkpoint `{}`", file.display()))?
            .checkpoint;
        verify_consistency(&old, checkpoint, source)
            .map_err(|error| consistency_error(error, checkpoint.size()))
            .with_context(|| format!("consistency with the saved checkpoint at size {}", old.size()))?;
        report.ok(format_args!("consistent with the saved checkpoint at size {}", old.size()))?;
    }
    Ok(VerifiedLog { note, verified })
}

/// Verifies a receipt and, when the log was verified too, that the receipt's checkpoint is an
/// earlier (or the same) state of that log.
fn check_receipt(
    report: &mut Report<impl Write>,
    policy: &TrustPolicy,
    receipt_file: &Path,
    entry_file: &Path,
    log: Option<(&VerifiedLog, &LogSource)>,
) -> anyhow::Result<Checkpoint> {
    let receipt = verify_receipt_files(policy, receipt_file, entry_file)?;
    let checkpoint = receipt.checkpoint;
    let how = match receipt.entry_form {
        EntryForm::Exact => "",
        EntryForm::WithoutFinalNewline => " (without its final newline)",
        EntryForm::EventAnswer => " (its `entry` field)",
    };
    report.ok(format_args!(
        "receipt `{}`: `{}`{how} is entry {} (leaf index {}) of the signed tree at size {}",
        receipt_file.display(),
        entry_file.display(),
        receipt.leaf_idx.saturating_add(1),
        receipt.leaf_idx,
        checkpoint.size()
    ))?;
    if let Some((log, source)) = log {
        let current = &log.verified.checkpoint;
        if checkpoint.size() > current.size() {
            // The log's tiles for the receipt's bigger tree may not be available (an older
            // mirror), so this is reported rather than failed.
            report.line(format_args!(
                "note receipt checkpoint at size {} is newer than the log's at size {}: consistency not checked",
                checkpoint.size(),
                current.size()
            ))?;
        } else {
            verify_consistency(&checkpoint, current, source)
                .map_err(|error| consistency_error(error, current.size()))
                .with_context(|| {
                    format!(
                        "receipt `{}`: its checkpoint at size {} is not consistent with the log at size {}",
                        receipt_file.display(),
                        checkpoint.size(),
                        current.size()
                    )
                })?;
            report.ok(format_args!(
                "receipt checkpoint at size {} is consistent with the log at size {}",
                checkpoint.size(),
                current.size()
            ))?;
        }
    }
    Ok(checkpoint)
}

/// Words a failure of `--entry SEQ`: tile problems name the tile, the rest name the entry.
fn entry_error(error: VerifyError, seq: u64, checkpoint: &Checkpoint) -> anyhow::Error {
    let context = format!("entry {seq}");
    match error {
        VerifyError::LeafOutOfRange { .. } => {
            anyhow::anyhow!("entry {seq}: not in the log at its checkpoint size {}", checkpoint.size())
        }
        tile @ (VerifyError::TilesRootMismatch(_) | VerifyError::TileMismatch(_)) => {
            tile_error(tile, checkpoint.size()).context(context)
        }
        other => anyhow::Error::new(other).context(context),
    }
}

/// Words a consistency failure, naming the tile when a tile is at fault.
fn consistency_error(error: VerifyError, size: u64) -> anyhow::Error {
    match error {
        tile @ (VerifyError::TilesRootMismatch(_) | VerifyError::TileMismatch(_)) => tile_error(tile, size),
        other => anyhow::Error::new(other),
    }
}

/// The entry as one printable line: it comes from the log, so control characters (a terminal
/// escape, a newline) are shown escaped rather than sent to the terminal.
fn printable(entry: &[u8]) -> String {
    String::from_utf8_lossy(entry)
        .chars()
        .map(
            |character| {
                if character.is_control() { character.escape_default().to_string() } else { character.to_string() }
            },
        )
        .collect()
}

/// `1 tile`, `3 tiles`.
fn plural(count: impl Into<u64>, one: &str, many: &str) -> String {
    let count = count.into();
    format!("{count} {}", if count == 1 { one } else { many })
}

/// Where the `ok` lines go.
struct Report<W: Write> {
    /// Standard output, in practice.
    out: W,
}

impl<W: Write> Report<W> {
    /// `ok   <what>`.
    fn ok(&mut self, what: impl Display) -> anyhow::Result<()> {
        self.line(format_args!("ok   {what}"))
    }

    /// One line as is.
    fn line(&mut self, line: impl Display) -> anyhow::Result<()> {
        writeln!(self.out, "{line}").context("failed to write to stdout")
    }
}
