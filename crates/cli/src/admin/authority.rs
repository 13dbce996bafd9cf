//! `portcullis admin authority …`: authorities and their officials' role tokens.

use serde_json::{Value, json};

use crate::admin::announce_secret;
use crate::admin::client::Client;

/// Authorities (agencies) and the role tokens (`pct_…`) of their named officials.
#[derive(clap::Subcommand)]
pub enum AuthorityCommand {
    /// Register an authority (provider).
    Create {
        /// The authority id, e.g. `bis`.
        #[arg(long)]
        id: String,
        /// Its name.
        #[arg(long)]
        name: String,
    },
    /// List every authority (public).
    List,
    /// Issue a role token to a named official of an authority (provider); prints it once.
    Official {
        /// The authority id.
        #[arg(long)]
        authority: String,
        /// The official's name, e.g. `a.reviewer`; recorded as the actor of their actions.
        #[arg(long)]
        official: String,
    },
}

/// Runs an authority subcommand and returns the gateway's answer.
///
/// # Errors
///
/// Fails when the gateway cannot be reached or answers with an error.
pub async fn run(client: &Client, command: AuthorityCommand) -> anyhow::Result<Value> {
    match command {
        AuthorityCommand::Create { id, name } => {
            client.post(&["authorities"], &json!({ "id": id, "name": name })).await
        }
        AuthorityCommand::List => client.get(&["authorities"]).await,
        AuthorityCommand::Official { authority, official } => {
            let answer =
                client.post(&["authorities", &authority, "officials"], &json!({ "official": official })).await?;
            announce_secret(&format!("role token for `{official}` of authority `{authority}`"), &answer, "token");
            Ok(answer)
        }
    }
}
