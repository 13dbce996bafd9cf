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
    /// Set the rate limits of a customer (`--customer`) or of one key (`--key-id`), replacing the
    /// previous ones; a limit left out is unlimited (provider). Applies from the next request.
    Limits {
        /// The customer whose keys all count against the limits.
        #[arg(long, conflicts_with = "key_id", required_unless_present = "key_id")]
        customer: Option<String>,
        /// One key, limited besides its customer.
        #[arg(long)]
        key_id: Option<String>,
        /// Requests per minute.
        #[arg(long)]
        requests_per_minute: Option<u32>,
        /// Tokens per UTC day, from the upstream's reported usage.
        #[arg(long)]
        tokens_per_day: Option<u64>,
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
        KeyCommand::Limits { customer, key_id, requests_per_minute, tokens_per_day } => {
            let body = json!({ "requests_per_minute": requests_per_minute, "tokens_per_day": tokens_per_day });
            match (customer, key_id) {
                (Some(customer), _) => client.put(&["customers", &customer, "limits"], &body).await,
                (None, Some(key_id)) => client.put(&["keys", &key_id, "limits"], &body).await,
                (None, None) => anyhow::bail!("give --customer or --key-id"),
            }
        }
    }
}
