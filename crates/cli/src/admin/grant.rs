//! `portcullis admin grant …`: grants of preview models to customers.

use serde_json::{Value, json};

use crate::admin::client::Client;

/// Grants: a customer's access to a model in `preview` (authority only).
#[derive(clap::Subcommand)]
pub enum GrantCommand {
    /// Grant a customer access to a model (authority); granting again replaces the grant.
    Issue {
        /// The customer id.
        #[arg(long)]
        customer: String,
        /// The model name.
        #[arg(long)]
        model: String,
        /// Why (recorded in the event and shown on the customer).
        #[arg(long)]
        reason: String,
        /// When the grant lapses, RFC 3339 (e.g. `2027-03-31T00:00:00Z`); default never.
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// Revoke a customer's grant of a model (authority); the customer is sent a notice it may
    /// appeal.
    Revoke {
        /// The customer id.
        #[arg(long)]
        customer: String,
        /// The model name.
        #[arg(long)]
        model: String,
        /// Why (recorded in the event).
        #[arg(long)]
        reason: String,
        /// From when the revocation applies, RFC 3339. Default: the end of the model's notice
        /// period (its procedure's `revocation_notice_days`), or now with `--directive`; earlier
        /// than the notice period only with `--directive`.
        #[arg(long)]
        effective_at: Option<String>,
        /// A directive in force for the model that requires earlier effect than the notice
        /// period.
        #[arg(long, value_name = "ID")]
        directive: Option<String>,
    },
}

/// Runs a grant subcommand and returns the gateway's answer.
///
/// # Errors
///
/// Fails when the gateway cannot be reached or answers with an error.
pub async fn run(client: &Client, command: GrantCommand) -> anyhow::Result<Value> {
    match command {
        GrantCommand::Issue { customer, model, reason, expires_at } => {
            let body = json!({ "customer": customer, "model": model, "reason": reason, "expires_at": expires_at });
            client.post(&["grants"], &body).await
        }
        GrantCommand::Revoke { customer, model, reason, effective_at, directive } => {
            let body = json!({
                "customer": customer,
                "model": model,
                "reason": reason,
                "effective_at": effective_at,
                "directive": directive,
            });
            client.post(&["grants", "revoke"], &body).await
        }
    }
}
