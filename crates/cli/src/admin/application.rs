//! `portcullis admin application …`: applications for access to a model, and their sign-offs.

use serde_json::{Value, json};

use crate::admin::client::Client;
use crate::admin::evidence::citations;

/// The statuses an application can have, for `list --status`.
const STATUSES: [&str; 6] = ["submitted", "under_review", "info_requested", "approved", "denied", "withdrawn"];

/// Applications: a customer applies for a model in `review` or `preview`; officials of the
/// model's sign-off authorities take it up and sign off until the quorum decides.
#[derive(clap::Subcommand)]
pub enum ApplicationCommand {
    /// Apply for access to a model (customer, for itself).
    Submit {
        /// The model name.
        #[arg(long)]
        model: String,
        /// What the model will be used for.
        #[arg(long)]
        purpose: String,
    },
    /// List applications, overdue first (a customer sees its own; authorities and the provider
    /// see all).
    List {
        /// Only applications with this status.
        #[arg(long, value_parser = STATUSES)]
        status: Option<String>,
        /// Only applications for this model.
        #[arg(long)]
        model: Option<String>,
        /// Only overdue applications.
        #[arg(long)]
        overdue: bool,
    },
    /// Show an application: status, due date, sign-offs, decision, history.
    Show {
        /// The application id (`app_…`).
        id: String,
    },
    /// Take a submitted application up for review (an official of a sign-off authority).
    Review {
        /// The application id.
        id: String,
    },
    /// Ask the applicant for more information; the decision clock pauses until it amends (an
    /// official of a sign-off authority).
    RequestInfo {
        /// The application id.
        id: String,
        /// What is asked.
        #[arg(long)]
        question: String,
    },
    /// Replace the purpose, answering any request for information; earlier sign-offs no longer
    /// count (the applicant).
    Amend {
        /// The application id.
        id: String,
        /// The new purpose.
        #[arg(long)]
        purpose: String,
    },
    /// Sign off on an application for your authority (an official of a sign-off authority).
    ///
    /// The sign-off that reaches the quorum approves the application and issues the grant; the
    /// one that makes the quorum unreachable denies it.
    SignOff(SignOffArgs),
    /// Withdraw an open application (the applicant).
    Withdraw {
        /// The application id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

/// Arguments of `application sign-off`.
#[derive(clap::Args)]
pub struct SignOffArgs {
    /// The application id.
    id: String,
    /// Approve or deny.
    #[arg(long, value_parser = ["approve", "deny"])]
    verdict: String,
    /// Why (recorded in the event and shown to the applicant).
    #[arg(long)]
    reasons: String,
    /// A clause of the model's current criteria relied on, repeatable.
    #[arg(long = "clause", value_name = "CLAUSE", required = true)]
    clauses: Vec<String>,
    /// Evidence relied on, repeatable: `public:SHA256:DESCRIPTION`, `subject:SHA256:DESCRIPTION`
    /// or `authorities:SHA256:DESCRIPTION` for an uploaded document (see `evidence upload`), or
    /// `withheld:REASON:DESCRIPTION`.
    #[arg(long = "evidence", value_name = "SPEC")]
    evidence: Vec<String>,
    /// For an approval: the latest the grant should last, RFC 3339 (e.g. `2027-06-01T00:00:00Z`).
    #[arg(long)]
    grant_expires_at: Option<String>,
}

/// Runs an application subcommand and returns the gateway's answer.
///
/// # Errors
///
/// Fails when an `--evidence` value is malformed, or the gateway cannot be reached or answers
/// with an error.
pub async fn run(client: &Client, command: ApplicationCommand) -> anyhow::Result<Value> {
    match command {
        ApplicationCommand::Submit { model, purpose } => {
            client.post(&["applications"], &json!({ "model": model, "purpose": purpose })).await
        }
        ApplicationCommand::List { status, model, overdue } => {
            let mut query = Vec::new();
            if let Some(status) = status {
                query.push(("status", status));
            }
            if let Some(model) = model {
                query.push(("model", model));
            }
            if overdue {
                query.push(("overdue", "true".to_owned()));
            }
            client.get_with_query(&["applications"], &query).await
        }
        ApplicationCommand::Show { id } => client.get(&["applications", &id]).await,
        ApplicationCommand::Review { id } => client.post_empty(&["applications", &id, "review"]).await,
        ApplicationCommand::RequestInfo { id, question } => {
            client.post(&["applications", &id, "info-request"], &json!({ "question": question })).await
        }
        ApplicationCommand::Amend { id, purpose } => {
            client.post(&["applications", &id, "amend"], &json!({ "purpose": purpose })).await
        }
        ApplicationCommand::SignOff(args) => {
            let body = json!({
                "verdict": args.verdict,
                "reasons": args.reasons,
                "clauses": args.clauses,
                "evidence": citations(&args.evidence)?,
                "grant_expires_at": args.grant_expires_at,
            });
            client.post(&["applications", &args.id, "signoffs"], &body).await
        }
        ApplicationCommand::Withdraw { id, reason } => {
            client.post(&["applications", &id, "withdraw"], &json!({ "reason": reason })).await
        }
    }
}
