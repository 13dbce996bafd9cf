//! `portcullis criteria check`: evaluate a model's published criteria against your own
//! attributes, clause by clause, before applying — online from a gateway's public record, or
//! offline from a policy file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use portcullis_core::check::{ClauseOutcome, CriteriaCheckInput, check_criteria};
use portcullis_core::policy::CedarSchema;

/// Exit code when the criteria do not admit the attributes (errors exit with 1).
const NOT_ADMITTED: u8 = 2;

/// Arguments of `criteria`.
#[derive(clap::Subcommand)]
pub enum CriteriaCommand {
    /// Check criteria against a customer's attributes; exits 0 when admitted, 2 when not.
    Check(CheckArgs),
}

/// Arguments of `criteria check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// A gateway to fetch the model's current published criteria (and schema) from.
    #[arg(long, requires = "model", conflicts_with = "policies_file")]
    url: Option<String>,
    /// The model whose criteria to check.
    #[arg(long)]
    model: Option<String>,
    /// Check a criteria file instead (offline).
    #[arg(long, required_unless_present = "url")]
    policies_file: Option<PathBuf>,
    /// The Cedar schema for an offline check (default: the built-in schema).
    #[arg(long, requires = "policies_file")]
    schema_file: Option<PathBuf>,
    /// The customer's attributes, JSON (`{"country":"US","kyc":"verified"}`) or `@file`.
    #[arg(long)]
    attributes: String,
    /// End-user attributes as an attestation would carry them, JSON or `@file`.
    #[arg(long)]
    end_user: Option<String>,
    /// The customer id (only matters for clauses that name a customer).
    #[arg(long, default_value = "self")]
    customer_id: String,
}

/// Runs a `criteria` subcommand.
///
/// # Errors
///
/// A file that cannot be read, a gateway that cannot be reached, or criteria or attributes that
/// do not fit the schema.
pub fn run(command: CriteriaCommand) -> anyhow::Result<ExitCode> {
    let CriteriaCommand::Check(args) = command;
    let (policies, schema_text, source) = match (&args.url, &args.policies_file) {
        (Some(url), _) => fetch(url, args.model.as_deref().unwrap_or_default())?,
        (None, Some(path)) => {
            let policies =
                std::fs::read_to_string(path).with_context(|| format!("failed to read `{}`", path.display()))?;
            let schema = match &args.schema_file {
                Some(schema) => {
                    std::fs::read_to_string(schema).with_context(|| format!("failed to read `{}`", schema.display()))?
                }
                None => portcullis_core::policy::DEFAULT_SCHEMA.to_owned(),
            };
            (policies, schema, format!("`{}`", path.display()))
        }
        (None, None) => anyhow::bail!("give --url and --model, or --policies-file"),
    };
    let schema = CedarSchema::parse(&schema_text).map_err(|err| anyhow::anyhow!("invalid schema: {err}"))?;
    let attributes = json_object("--attributes", &args.attributes)?;
    let end_user = args.end_user.as_deref().map(|text| json_object("--end-user", text)).transpose()?;
    let model = args.model.clone().unwrap_or_else(|| "model".to_owned());
    let input = CriteriaCheckInput {
        policies: &policies,
        customer_id: &args.customer_id,
        attributes: &attributes,
        model: &model,
        end_user: end_user.as_ref(),
    };
    let result = check_criteria(&schema, &input).map_err(|err| anyhow::anyhow!("{err}"))?;
    println!("criteria {source} (sha256 {})", result.content_hash);
    for clause in &result.clauses {
        let (word, detail) = match &clause.outcome {
            ClauseOutcome::Holds => ("holds", String::new()),
            ClauseOutcome::DoesNotHold => ("fails", String::new()),
            ClauseOutcome::Error(message) => ("error", format!(" ({message})")),
        };
        let description = clause.description.as_deref().map(|d| format!(": {d}")).unwrap_or_default();
        println!("{word:<6} {}{description}{detail}", clause.clause_id);
    }
    if result.admitted {
        println!("admitted: at least one clause holds (the gate also checks stage, grant and directives)");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("not admitted: no clause holds");
        Ok(ExitCode::from(NOT_ADMITTED))
    }
}

/// Fetches a model's published criteria: (policies, schema, description of the source).
fn fetch(url: &str, model: &str) -> anyhow::Result<(String, String, String)> {
    let endpoint = format!("{}/admin/v1/models/{model}/criteria", url.trim_end_matches('/'));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    let body: serde_json::Value = runtime.block_on(async {
        let response = reqwest::get(&endpoint).await.with_context(|| format!("GET `{endpoint}` failed"))?;
        let status = response.status();
        let body: serde_json::Value =
            response.json().await.with_context(|| format!("GET `{endpoint}` did not answer JSON"))?;
        if !status.is_success() {
            let message = body.pointer("/error/message").and_then(serde_json::Value::as_str).unwrap_or("");
            anyhow::bail!("GET `{endpoint}` answered {status}: {message}");
        }
        Ok(body)
    })?;
    let field = |name: &str| {
        body.get(name)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .with_context(|| format!("the answer of `{endpoint}` lacks `{name}`"))
    };
    let version = body.get("version").and_then(serde_json::Value::as_u64).unwrap_or(0);
    Ok((field("policies")?, field("schema")?, format!("version {version} of model `{model}`")))
}

fn json_object(flag: &str, text: &str) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let text = match text.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("{flag}: failed to read `{path}`"))?,
        None => text.to_owned(),
    };
    let value: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{flag} is not JSON"))?;
    value.as_object().cloned().with_context(|| format!("{flag} must be a JSON object"))
}
