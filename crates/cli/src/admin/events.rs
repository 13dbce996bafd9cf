//! `portcullis admin events`: the governance event feed.

use serde_json::Value;

use crate::admin::client::Client;

/// Arguments of `events`.
#[derive(clap::Args)]
pub struct EventsArgs {
    /// Only events after this sequence number (page with the last `seq` seen).
    #[arg(long)]
    after: Option<u64>,
    /// At most this many events (the gateway's default is 100, its maximum 1000).
    #[arg(long)]
    limit: Option<u32>,
}

/// Reads the event feed and returns the gateway's answer.
///
/// # Errors
///
/// Fails when the gateway cannot be reached or answers with an error.
pub async fn run(client: &Client, args: EventsArgs) -> anyhow::Result<Value> {
    let mut query = Vec::new();
    if let Some(after) = args.after {
        query.push(("after", after.to_string()));
    }
    if let Some(limit) = args.limit {
        query.push(("limit", limit.to_string()));
    }
    client.get_with_query(&["events"], &query).await
}
