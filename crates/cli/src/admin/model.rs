//! `portcullis admin model …`: models, their upstreams (deployments and fallback chains),
//! release stages, procedures and pre-release review.

use serde_json::{Map, Value, json};

use crate::admin::client::Client;

/// The stage targets the gateway accepts; `resume` returns a suspended model to where it was.
const STAGE_TARGETS: [&str; 6] = ["review", "preview", "general", "suspended", "resume", "withdrawn"];

/// Models: registration, upstream, release stage (`draft → review → preview → general`, plus
/// `suspended` and `withdrawn`), procedure and pre-release review.
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
    /// Show a model: stage, stage history, criteria version, directives, procedure, review clock
    /// (public).
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
    /// Set a model's procedure: who signs off on its applications, and its periods (provider).
    ///
    /// A period left out takes the gateway's default (30 days; 14 for the revocation notice),
    /// not the model's current value.
    Procedure(ProcedureArgs),
    /// Clear a model in review, or object to it (authority); an objection keeps it in review
    /// while it stands.
    Review {
        /// The model name.
        name: String,
        /// Clear or object.
        #[arg(long, value_parser = ["clear", "object"])]
        verdict: String,
        /// Why (recorded in the event and on the model's review clock).
        #[arg(long)]
        reasons: String,
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
    /// Replace a model's deployments, tried in order (provider).
    ///
    /// Each `--deployment` is `NAME=BASE_URL`, optionally followed by `,model=UPSTREAM_MODEL`
    /// and `,key-env=VARIABLE`, e.g. `hosted=https://api.example.com/v1,key-env=FRONTIER_KEY`.
    Deployments {
        /// The model name.
        name: String,
        /// A deployment, repeatable; the first is the primary.
        #[arg(long = "deployment", value_name = "NAME=BASE_URL[,model=M][,key-env=VAR]", required = true)]
        deployments: Vec<String>,
    },
    /// Replace a model's fallback chain (provider); each fallback is decided for the caller like
    /// a direct request, so a failover never widens access. No `--fallback` removes the chain.
    Fallbacks {
        /// The model name.
        name: String,
        /// A fallback model, repeatable, in order.
        #[arg(long = "fallback", value_name = "MODEL")]
        fallbacks: Vec<String>,
    },
    /// Every model's deployments with this gateway's view of their health (provider, authority).
    Health,
}

/// Arguments of `model procedure`.
#[derive(clap::Args)]
pub struct ProcedureArgs {
    /// The model name.
    name: String,
    /// An authority whose officials sign off on applications, repeatable; none means the model
    /// takes no applications.
    #[arg(long = "signoff-authority", value_name = "AUTHORITY")]
    signoff_authorities: Vec<String>,
    /// How many of them must approve an application; default all of them.
    #[arg(long, value_name = "N")]
    required: Option<u32>,
    /// Length of the pre-release review clock, in days.
    #[arg(long, value_name = "N")]
    review_days: Option<u32>,
    /// An application's decision is due this many days after submission.
    #[arg(long, value_name = "N")]
    decision_days: Option<u32>,
    /// An adverse action may be appealed for this many days.
    #[arg(long, value_name = "N")]
    appeal_window_days: Option<u32>,
    /// An appeal's decision is due this many days after filing.
    #[arg(long, value_name = "N")]
    appeal_decision_days: Option<u32>,
    /// A revocation takes effect no earlier than this many days after it is made, unless a
    /// directive requires otherwise.
    #[arg(long, value_name = "N")]
    revocation_notice_days: Option<u32>,
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
        ModelCommand::Procedure(args) => {
            let body = json!({
                "signoff_authorities": args.signoff_authorities,
                "required": args.required,
                "review_days": args.review_days,
                "decision_days": args.decision_days,
                "appeal_window_days": args.appeal_window_days,
                "appeal_decision_days": args.appeal_decision_days,
                "revocation_notice_days": args.revocation_notice_days,
            });
            client.put(&["models", &args.name, "procedure"], &body).await
        }
        ModelCommand::Review { name, verdict, reasons } => {
            client.post(&["models", &name, "review"], &json!({ "verdict": verdict, "reasons": reasons })).await
        }
        ModelCommand::Upstream { name, base_url, upstream_model, api_key_env } => {
            client.put(&["models", &name, "upstream"], &upstream(base_url, upstream_model, api_key_env)).await
        }
        ModelCommand::Deployments { name, deployments } => {
            let deployments = deployments.iter().map(|d| deployment(d)).collect::<anyhow::Result<Vec<_>>>()?;
            client.put(&["models", &name, "deployments"], &json!({ "deployments": deployments })).await
        }
        ModelCommand::Fallbacks { name, fallbacks } => {
            client.put(&["models", &name, "fallbacks"], &json!({ "fallbacks": fallbacks })).await
        }
        ModelCommand::Health => client.get(&["deployments"]).await,
    }
}

/// Parses `NAME=BASE_URL[,model=M][,key-env=VAR]` into a deployment object.
fn deployment(text: &str) -> anyhow::Result<Value> {
    let mut parts = text.split(',');
    let first = parts.next().unwrap_or_default();
    let Some((name, base_url)) = first.split_once('=') else {
        anyhow::bail!("deployment `{text}` must start with NAME=BASE_URL");
    };
    let (mut upstream_model, mut api_key_env) = (None, None);
    for part in parts {
        match part.split_once('=') {
            Some(("model", value)) => upstream_model = Some(value.to_owned()),
            Some(("key-env", value)) => api_key_env = Some(value.to_owned()),
            _ => anyhow::bail!("`{part}` in deployment `{text}` is neither model=… nor key-env=…"),
        }
    }
    let mut object = upstream(base_url.to_owned(), upstream_model, api_key_env);
    if let Value::Object(map) = &mut object {
        map.insert("name".to_owned(), name.into());
    }
    Ok(object)
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
