//! `portcullis admin attester …`: trusted attesters of end-user attributes and their keys.

use serde_json::{Value, json};

use crate::admin::client::Client;

/// Attesters whose signed end-user attestations the gate trusts, and their Ed25519 keys.
/// Attesters of the settings file are listed too, but are changed by editing it.
#[derive(clap::Subcommand)]
pub enum AttesterCommand {
    /// List attesters with their keys, revoked and expired ones included (any role).
    List,
    /// Register an attester (provider), optionally with its first key.
    Register {
        /// The attester id, matched against a token's `iss`.
        #[arg(long)]
        id: String,
        /// Its display name.
        #[arg(long)]
        name: String,
        /// The first key's id, unique within the attester (e.g. `2026-q1`).
        #[arg(long, requires = "public_key")]
        key_id: Option<String>,
        /// The first key: an Ed25519 public key, 32 bytes in base64 (standard or URL-safe).
        #[arg(long, requires = "key_id")]
        public_key: Option<String>,
        /// When the first key stops being accepted, RFC 3339; default never.
        #[arg(long, requires = "public_key")]
        not_after: Option<String>,
    },
    /// Add a key to an attester (provider); old and new keys are both accepted until one is
    /// revoked or expires.
    AddKey {
        /// The attester id.
        #[arg(long)]
        attester: String,
        /// The key's id, unique within the attester.
        #[arg(long)]
        key_id: String,
        /// An Ed25519 public key, 32 bytes in base64 (standard or URL-safe).
        #[arg(long)]
        public_key: String,
        /// When the key stops being accepted, RFC 3339; default never.
        #[arg(long)]
        not_after: Option<String>,
    },
    /// Revoke an attester's key for good (provider): its tokens are `untrusted` from the next
    /// request on.
    RevokeKey {
        /// The attester id.
        #[arg(long)]
        attester: String,
        /// The key's id.
        #[arg(long)]
        key_id: String,
        /// Why (recorded in the event).
        #[arg(long)]
        reason: String,
    },
}

/// Runs an attester subcommand and returns the gateway's answer.
///
/// # Errors
///
/// Fails when the gateway cannot be reached or answers with an error.
pub async fn run(client: &Client, command: AttesterCommand) -> anyhow::Result<Value> {
    match command {
        AttesterCommand::List => client.get(&["attesters"]).await,
        AttesterCommand::Register { id, name, key_id, public_key, not_after } => {
            let mut body = json!({ "id": id, "name": name });
            if let (Some(key_id), Some(public_key), Some(map)) = (key_id, public_key, body.as_object_mut()) {
                map.insert("key".to_owned(), key_body(key_id, public_key, not_after));
            }
            client.post(&["attesters"], &body).await
        }
        AttesterCommand::AddKey { attester, key_id, public_key, not_after } => {
            client.post(&["attesters", &attester, "keys"], &key_body(key_id, public_key, not_after)).await
        }
        AttesterCommand::RevokeKey { attester, key_id, reason } => {
            client.post(&["attesters", &attester, "keys", &key_id, "revoke"], &json!({ "reason": reason })).await
        }
    }
}

fn key_body(key_id: String, public_key: String, not_after: Option<String>) -> Value {
    json!({ "key_id": key_id, "public_key": public_key, "not_after": not_after })
}
