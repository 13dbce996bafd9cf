//! `portcullis admin criteria …`: a model's published access criteria.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::admin::client::Client;
use crate::admin::read_policies;

/// A model's access criteria: human-readable text plus Cedar `permit` policies, versioned.
#[derive(clap::Subcommand)]
pub enum CriteriaCommand {
    /// Publish the next criteria version of a model (provider, authority).
    ///
    /// Invalid policies are refused with the line and column of each problem.
    Publish {
        /// The model name.
        model: String,
        /// A file of Cedar `permit` policies; `-` reads stdin.
        #[arg(long)]
        policies_file: PathBuf,
        /// The criteria in words, for people.
        #[arg(long)]
        text: String,
    },
    /// Show a model's current criteria: text, policies, clauses, hash and history (public).
    Show {
        /// The model name.
        model: String,
    },
}

/// Runs a criteria subcommand and returns the gateway's answer.
///
/// # Errors
///
/// Fails when the policies file cannot be read, or the gateway cannot be reached or answers
/// with an error.
pub async fn run(client: &Client, command: CriteriaCommand) -> anyhow::Result<Value> {
    match command {
        CriteriaCommand::Publish { model, policies_file, text } => {
            let policies = read_policies(&policies_file)?;
            client.post(&["models", &model, "criteria"], &json!({ "text": text, "policies": policies })).await
        }
        CriteriaCommand::Show { model } => client.get(&["models", &model, "criteria"]).await,
    }
}
