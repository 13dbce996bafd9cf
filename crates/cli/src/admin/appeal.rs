//! `portcullis admin appeal …`: appeals against adverse actions.

use serde_json::{Value, json};

use crate::admin::client::Client;
use crate::admin::evidence::citations;

/// Appeals: the affected customer appeals a denial, a revocation or a directive within the
/// window its notice gives; an official of the deciding authority who took no part decides.
#[derive(clap::Subcommand)]
pub enum AppealCommand {
    /// Appeal an adverse action (the customer it concerns); give exactly one of `--application`,
    /// `--revoked-model` and `--directive`.
    #[command(group(clap::ArgGroup::new("subject").required(true).args(["application", "revoked_model", "directive"])))]
    File {
        /// A denied application of yours.
        #[arg(long, value_name = "ID")]
        application: Option<String>,
        /// A model whose grant to you was revoked.
        #[arg(long, value_name = "MODEL")]
        revoked_model: Option<String>,
        /// A directive, as it applies to you.
        #[arg(long, value_name = "ID")]
        directive: Option<String>,
        /// Why the action should be undone.
        #[arg(long)]
        grounds: String,
    },
    /// List appeals, overdue first (a customer sees its own; authorities and the provider see
    /// all).
    List,
    /// Show an appeal and its decision.
    Show {
        /// The appeal id (`apl_…`).
        id: String,
    },
    /// Decide an appeal (an official of the deciding authority who took no part in the action).
    ///
    /// `reversed` undoes the action for the appellant; `modified` undoes it until
    /// `--relief-until`.
    Decide {
        /// The appeal id.
        id: String,
        /// The outcome.
        #[arg(long, value_parser = ["upheld", "reversed", "modified"])]
        outcome: String,
        /// Why (recorded in the event and sent to the appellant).
        #[arg(long)]
        reasons: String,
        /// For `modified`: until when access is restored, RFC 3339.
        #[arg(long)]
        relief_until: Option<String>,
        /// Evidence relied on, repeatable: `public:SHA256:DESCRIPTION`,
        /// `subject:SHA256:DESCRIPTION` or `authorities:SHA256:DESCRIPTION` for an uploaded
        /// document (see `evidence upload`), or `withheld:REASON:DESCRIPTION`.
        #[arg(long = "evidence", value_name = "SPEC")]
        evidence: Vec<String>,
    },
}

/// Runs an appeal subcommand and returns the gateway's answer.
///
/// # Errors
///
/// Fails when an `--evidence` value is malformed, or the gateway cannot be reached or answers
/// with an error.
pub async fn run(client: &Client, command: AppealCommand) -> anyhow::Result<Value> {
    match command {
        AppealCommand::File { application, revoked_model, directive, grounds } => {
            let subject = match (application, revoked_model, directive) {
                (Some(application), None, None) => json!({ "kind": "application_denial", "application": application }),
                (None, Some(model), None) => json!({ "kind": "grant_revocation", "model": model }),
                (None, None, Some(directive)) => json!({ "kind": "directive", "directive": directive }),
                // clap's `subject` group rules this out; say so plainly rather than send a body the
                // gateway would refuse anyway.
                _ => anyhow::bail!("give exactly one of --application, --revoked-model and --directive"),
            };
            client.post(&["appeals"], &json!({ "subject": subject, "grounds": grounds })).await
        }
        AppealCommand::List => client.get(&["appeals"]).await,
        AppealCommand::Show { id } => client.get(&["appeals", &id]).await,
        AppealCommand::Decide { id, outcome, reasons, relief_until, evidence } => {
            let body = json!({
                "outcome": outcome,
                "reasons": reasons,
                "evidence": citations(&evidence)?,
                "relief_until": relief_until,
            });
            client.post(&["appeals", &id, "decision"], &body).await
        }
    }
}
