//! `portcullis admin key …`: customer API keys.

use serde_json::{Value, json};

use crate::admin::announce_secret;
use crate::admin::client::Client;

/// Customer API keys (`pcl_…`). A key is shown once, when issued; only its hash is kept.
#[derive(clap::Subcommand)]
pub enum KeyCommand {
    /// Issue an API key to a customer (provider, or the customer itself); prints the key once.
    Issue {
        /// The customer id.
        #[arg(long)]
        customer: String,
        /// A label for the key, e.g. `ci`.
        #[arg(long)]
        label: Option<String>,
    },
    /// Revoke an API key by its public id (provider, or the owning customer).
    Revoke {
        /// The key's public id (`key_…`), not the key itself.
        key_id: String,
        /// Why it is revoked (recorded in the event).
        #[arg(long)]
        reason: String,
    },
    /// List a customer's keys: ids, labels, revoked or not (provider, authority, the customer).
    List {
        /// The customer id.
        #[arg(long)]
        customer: String,
    },
}

/// Runs a key subcommand and returns the gateway's answer.
///
/// # Errors
///
/// Fails when the gateway cannot be reached or answers with an error.
pub async fn run(client: &Client, command: KeyCommand) -> anyhow::Result<Value> {
    match command {
        KeyCommand::Issue { customer, label } => {
            let body = match label {
                Some(label) => json!({ "label": label }),
                None => json!({}),
            };
            let answer = client.post(&["customers", &customer, "keys"], &body).await?;
            announce_secret(&format!("API key for customer `{customer}`"), &answer, "key");
            Ok(answer)
        }
        KeyCommand::Revoke { key_id, reason } => {
            client.post(&["keys", &key_id, "revoke"], &json!({ "reason": reason })).await
        }
        KeyCommand::List { customer } => client.get(&["customers", &customer, "keys"]).await,
    }
}
