//! `portcullis admin evidence …`: evidence documents, and the `--evidence` citations of the
//! sign-off and appeal commands.

use std::path::PathBuf;

use anyhow::Context as _;
use portcullis_core::evidence::is_sha256_hex;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::admin::client::Client;

/// Evidence documents, stored by SHA-256 and cited by decisions with a disclosure level.
#[derive(clap::Subcommand)]
pub enum EvidenceCommand {
    /// Upload a document as evidence (authority); prints its SHA-256, to cite with `--evidence`.
    ///
    /// Uploading a document already stored changes nothing. Until a decision cites it, only
    /// authorities may read it.
    Upload {
        /// The document.
        file: PathBuf,
        /// Its media type, e.g. `application/pdf`; kept and served back with it.
        #[arg(long, default_value = "application/octet-stream")]
        media_type: String,
    },
    /// Download a document, if a citation of it admits you (authorities read every document).
    ///
    /// The bytes are checked against the digest before anything is written.
    Get {
        /// The document's SHA-256 (64 lowercase hex digits).
        sha256: String,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Runs an evidence subcommand and returns the gateway's answer (for `get`, what was written).
///
/// # Errors
///
/// Fails when a file cannot be read or written, the gateway cannot be reached or answers with an
/// error, or the document served does not match its digest.
pub async fn run(client: &Client, command: EvidenceCommand) -> anyhow::Result<Value> {
    match command {
        EvidenceCommand::Upload { file, media_type } => {
            let bytes = std::fs::read(&file)
                .with_context(|| format!("failed to read the evidence file `{}`", file.display()))?;
            client.post_bytes(&["evidence"], bytes, &media_type).await
        }
        EvidenceCommand::Get { sha256, out } => {
            if !is_sha256_hex(&sha256) {
                anyhow::bail!("`{sha256}` is not a sha256 digest (64 lowercase hex digits)");
            }
            let (bytes, media_type) = client.get_bytes(&["evidence", &sha256]).await?;
            // The digest is the citation's promise: a document that does not match it is not the
            // evidence relied on, so it is not written at all.
            let served = portcullis_core::ids::hex(&sha2::Sha256::digest(&bytes));
            if served != sha256 {
                anyhow::bail!(
                    "the gateway served a document whose sha256 is `{served}`, not `{sha256}`; nothing was written"
                );
            }
            std::fs::write(&out, &bytes).with_context(|| format!("failed to write `{}`", out.display()))?;
            Ok(
                json!({ "sha256": sha256, "bytes": bytes.len(), "media_type": media_type, "out": out.display().to_string() }),
            )
        }
    }
}

/// The citations of `--evidence` values, in order.
///
/// # Errors
///
/// One line naming the first value that is not an evidence spec.
pub fn citations(specs: &[String]) -> anyhow::Result<Vec<Value>> {
    specs.iter().map(|spec| citation(spec).map_err(|why| anyhow::anyhow!("--evidence `{spec}`: {why}"))).collect()
}

/// One citation: `LEVEL:SHA256:DESCRIPTION` or `withheld:REASON:DESCRIPTION`. The description
/// comes last so it may hold colons.
fn citation(spec: &str) -> Result<Value, String> {
    let mut parts = spec.splitn(3, ':');
    let (Some(level), Some(middle), Some(description)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("use LEVEL:SHA256:DESCRIPTION or withheld:REASON:DESCRIPTION".to_owned());
    };
    if description.trim().is_empty() {
        return Err("the description is empty".to_owned());
    }
    match level {
        "withheld" if middle.trim().is_empty() => Err("withheld evidence needs a reason".to_owned()),
        "withheld" => Ok(json!({ "description": description, "disclosure": "withheld", "reason": middle })),
        "public" | "subject" | "authorities" if !is_sha256_hex(middle) => {
            Err(format!("`{middle}` is not a sha256 digest (64 lowercase hex digits)"))
        }
        "public" | "subject" | "authorities" => {
            Ok(json!({ "description": description, "sha256": middle, "disclosure": level }))
        }
        other => Err(format!("unknown disclosure `{other}`; use public, subject, authorities or withheld")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(spec: &str, expect: Result<Value, &str>) {
        let got = citations(&[spec.to_owned()]).map_err(|err| err.to_string());
        assert_eq!(got, expect.map(|value| vec![value]).map_err(str::to_owned));
    }

    #[test]
    fn evidence_specs() {
        let digest = "ab".repeat(32);
        check(
            &format!("subject:{digest}:KYC file: 2026 review"),
            Ok(json!({ "description": "KYC file: 2026 review", "sha256": digest, "disclosure": "subject" })),
        );
        check(
            "withheld:classified:intelligence assessment",
            Ok(json!({ "description": "intelligence assessment", "disclosure": "withheld", "reason": "classified" })),
        );
        check(
            "public:abc",
            Err("--evidence `public:abc`: use LEVEL:SHA256:DESCRIPTION or withheld:REASON:DESCRIPTION"),
        );
        check(
            "public:ABC:report",
            Err("--evidence `public:ABC:report`: `ABC` is not a sha256 digest (64 lowercase hex digits)"),
        );
        check("withheld::report", Err("--evidence `withheld::report`: withheld evidence needs a reason"));
        check(
            &format!("authorities:{digest}: "),
            Err(&format!("--evidence `authorities:{digest}: `: the description is empty")),
        );
        check(
            "secret:x:report",
            Err(
                "--evidence `secret:x:report`: unknown disclosure `secret`; use public, subject, authorities or withheld",
            ),
        );
    }
}
