//! `portcullis admin directive …`: directives of authorities.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::admin::client::Client;
use crate::admin::read_policies;

/// Directives: an authority's Cedar `forbid` policies over models, with a legal basis, evidence
/// and a notice period.
#[derive(clap::Subcommand)]
pub enum DirectiveCommand {
    /// Issue a directive of the token's authority (authority).
    ///
    /// Without `--effective-at` (or with a time not in the future) it takes effect now, which is
    /// an emergency and needs `--emergency-justification`. Evidence is either withheld with a
    /// reason, or disclosed by digest and description.
    // Boxed: the issue arguments dwarf the other variants.
    Issue(Box<IssueArgs>),
    /// Lift a directive now (an official of the issuing authority).
    Lift {
        /// The directive id.
        id: String,
        /// Why (recorded in the event and on the directive).
        #[arg(long)]
        reason: String,
    },
    /// Show a directive (public).
    Show {
        /// The directive id.
        id: String,
    },
    /// List every directive: in force, scheduled, lifted and expired (public).
    List,
    /// Ask what a directive would cut before issuing it (provider, authority); nothing is stored.
    ///
    /// Prints the customers and active grants it would affect, and how many of this gateway's
    /// recent requests (in-memory counts, the last day by default) it would have denied, beyond
    /// what is refused already.
    Impact {
        /// A file of Cedar `forbid` policies; `-` reads stdin.
        #[arg(long)]
        policies_file: PathBuf,
        /// The models it would apply to, comma-separated or repeated; default every model.
        #[arg(long = "models", alias = "model", value_name = "MODEL", value_delimiter = ',')]
        models: Vec<String>,
    },
}

/// Arguments of `directive issue`.
#[derive(clap::Args)]
pub struct IssueArgs {
    /// The directive id, e.g. `EC-2026-001`.
    #[arg(long)]
    id: String,
    /// A file of Cedar `forbid` policies; `-` reads stdin.
    #[arg(long)]
    policies_file: PathBuf,
    /// A model it applies to, repeatable; `'*'` (quoted) means every model, present and future.
    #[arg(long = "model", value_name = "MODEL", required = true)]
    models: Vec<String>,
    /// The legal basis cited.
    #[arg(long)]
    legal_basis: String,
    /// What it orders, in words.
    #[arg(long)]
    description: String,
    /// When it takes effect, RFC 3339 (e.g. `2026-12-01T00:00:00Z`); default now (an emergency).
    #[arg(long)]
    effective_at: Option<String>,
    /// When it lapses, RFC 3339; default never.
    #[arg(long)]
    expires_at: Option<String>,
    /// Why there is no notice period; required when it takes effect now.
    #[arg(long)]
    emergency_justification: Option<String>,
    /// Withhold the evidence, giving the reason (e.g. `classified assessment`).
    #[arg(
        long,
        value_name = "REASON",
        conflicts_with = "evidence_sha256",
        required_unless_present = "evidence_sha256"
    )]
    evidence_withheld: Option<String>,
    /// Disclose the evidence by the SHA-256 of the document (64 lowercase hex digits).
    #[arg(long, value_name = "HEX", requires = "evidence_description")]
    evidence_sha256: Option<String>,
    /// What the evidence is (withheld or disclosed).
    #[arg(long, value_name = "DESCRIPTION")]
    evidence_description: Option<String>,
}

/// Runs a directive subcommand and returns the gateway's answer.
///
/// # Errors
///
/// Fails when the policies file cannot be read, or the gateway cannot be reached or answers
/// with an error.
pub async fn run(client: &Client, command: DirectiveCommand) -> anyhow::Result<Value> {
    match command {
        DirectiveCommand::Issue(args) => {
            let policies = read_policies(&args.policies_file)?;
            let evidence = match (args.evidence_withheld, args.evidence_sha256, args.evidence_description) {
                (Some(reason), _, description) => json!({
                    "description": description.unwrap_or_else(|| "evidence relied on".to_owned()),
                    "disclosure": "withheld",
                    "reason": reason,
                }),
                (None, Some(sha256), Some(description)) => {
                    json!({ "disclosure": "public", "sha256": sha256, "description": description })
                }
                // clap's `required_unless_present` and `requires` rule this out; say so plainly
                // rather than send a body the gateway would refuse anyway.
                _ => anyhow::bail!("give --evidence-withheld, or --evidence-sha256 with --evidence-description"),
            };
            let body = json!({
                "id": args.id,
                "legal_basis": args.legal_basis,
                "description": args.description,
                "models": args.models,
                "policies": policies,
                "effective_at": args.effective_at,
                "expires_at": args.expires_at,
                "emergency_justification": args.emergency_justification,
                "evidence": evidence,
            });
            client.post(&["directives"], &body).await
        }
        DirectiveCommand::Lift { id, reason } => {
            client.post(&["directives", &id, "lift"], &json!({ "reason": reason })).await
        }
        DirectiveCommand::Show { id } => client.get(&["directives", &id]).await,
        DirectiveCommand::List => client.get(&["directives"]).await,
        DirectiveCommand::Impact { policies_file, models } => {
            let policies = read_policies(&policies_file)?;
            // No `models` means every model, as the API reads it.
            let body = if models.is_empty() {
                json!({ "policies": policies })
            } else {
                json!({ "models": models, "policies": policies })
            };
            client.post(&["directives", "impact"], &body).await
        }
    }
}
