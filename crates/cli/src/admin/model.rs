//! `portcullis admin model …`: models, their upstreams and release stages.

use serde_json::{Map, Value, json};

use crate::admin::client::Client;

/// The stage targets the gateway accepts; `resume` returns a suspended model to where it was.
const STAGE_TARGETS: [&str; 6] = ["review", "preview", "general", "suspended", "resume", "withdrawn"];

/// Models: registration, upstream, release stage (`draft → review → preview → general`, plus
/// `suspended` and `withdrawn`).
#[derive(clap::Subcommand)]
pub enum ModelCommand {
    /// Register a model in `draft` (provider).
    Register {
        /// The public model name clients send, e.g. `frontier`.
        #[arg(long)]
        name: String,
        /// Base URL of the OpenAI-compatible upstream, up to and including `/v1`.
        #[arg(long)]
        base_url: String,
        /// The model name to send upstream, if it differs from the public name.
        #[arg(long)]
        upstream_model: Option<String>,
        /// The gateway's environment variable holding the upstream API key (never the key).
        #[arg(long)]
        api_key_env: Option<String>,
        /// A description.
        #[arg(long)]
        description: Option<String>,
    },
    /// List every model (public).
    List,
    /// Show a model: stage, stage history, criteria version, directives (public).
    Show {
        /// The model name.
        name: String,
    },
    /// Move a model to another stage (provider; an authority may suspend and resume).
    Stage {
        /// The model name.
        name: String,
        /// The target stage.
        #[arg(long, value_parser = STAGE_TARGETS)]
        to: String,
        /// Why (recorded in the event and the model's stage history).
        #[arg(long)]
        reason: String,
    },
    /// Replace a model's upstream (provider).
    Upstream {
        /// The model name.
        name: String,
        /// Base URL of the OpenAI-compatible upstream, up to and including `/v1`.
        #[arg(long)]
        base_url: String,
        /// The model name to send upstream, if it differs from the public name.
        #[arg(long)]
        upstream_model: Option<String>,
        /// The gateway's environment variable holding the upstream API key (never the key).
        #[arg(long)]
        api_key_env: Option<String>,
    },
}

/// Runs a model subcommand and returns the gateway's answer.
///
/// # Errors
///
/// Fails when the gateway cannot be reached or answers with an error.
pub async fn run(client: &Client, command: ModelCommand) -> anyhow::Result<Value> {
    match command {
        ModelCommand::Register { name, base_url, upstream_model, api_key_env, description } => {
            let mut body = json!({ "name": name, "upstream": upstream(base_url, upstream_model, api_key_env) });
            if let (Some(description), Some(map)) = (description, body.as_object_mut()) {
                map.insert("description".to_owned(), description.into());
            }
            client.post(&["models"], &body).await
        }
        ModelCommand::List => client.get(&["models"]).await,
        ModelCommand::Show { name } => client.get(&["models", &name]).await,
        ModelCommand::Stage { name, to, reason } => {
            client.post(&["models", &name, "stage"], &json!({ "to": to, "reason": reason })).await
        }
        ModelCommand::Upstream { name, base_url, upstream_model, api_key_env } => {
            client.put(&["models", &name, "upstream"], &upstream(base_url, upstream_model, api_key_env)).await
        }
    }
}

/// The upstream object, leaving out the optional fields not given.
fn upstream(base_url: String, upstream_model: Option<String>, api_key_env: Option<String>) -> Value {
    let mut map = Map::new();
    map.insert("base_url".to_owned(), base_url.into());
    if let Some(upstream_model) = upstream_model {
        map.insert("upstream_model".to_owned(), upstream_model.into());
    }
    if let Some(api_key_env) = api_key_env {
        map.insert("api_key_env".to_owned(), api_key_env.into());
    }
    Value::Object(map)
}
