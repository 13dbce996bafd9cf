//! `portcullis admin notice …` and `portcullis admin queue`: notices of adverse actions, and an
//! authority's work queue.

use serde_json::Value;

use crate::admin::client::Client;

/// Notices: every adverse action (a denial, a revocation, a directive, a suspension, an appeal's
/// decision) is announced to the customers it concerns, with its appeal deadline.
#[derive(clap::Subcommand)]
pub enum NoticeCommand {
    /// List notices, newest first (a customer sees those addressed to it and public ones;
    /// authorities and the provider see all).
    List,
}

/// Runs a notice subcommand and returns the gateway's answer.
///
/// # Errors
///
/// Fails when the gateway cannot be reached or answers with an error.
pub async fn run(client: &Client, command: NoticeCommand) -> anyhow::Result<Value> {
    match command {
        NoticeCommand::List => client.get(&["notices"]).await,
    }
}

/// The token's authority's work queue: open applications it signs off on, pending appeals it
/// decides, and models in review with their clocks.
///
/// # Errors
///
/// Fails when the gateway cannot be reached or answers with an error (a token that is not an
/// official's is refused).
pub async fn queue(client: &Client) -> anyhow::Result<Value> {
    client.get(&["queue"]).await
}
