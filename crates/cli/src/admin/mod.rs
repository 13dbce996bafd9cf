//! `portcullis admin …`: a thin client of a running gateway's admin API (`/admin/v1`).
//!
//! Each subcommand sends one request through [`client::Client`] and prints the answer's JSON,
//! pretty-printed, on stdout, so the output can be piped to `jq`. An error is returned to `main`,
//! which prints it as one line on stderr; its message is the API's `error.message`. The gateway
//! decides everything (roles, validation); the CLI checks only what it needs to build a request.
//!
//! # Layout
//!
//! - `client`: the HTTP side: URLs, the bearer token, timeouts, error bodies to messages.
//! - One module per resource, each with a `clap` subcommand enum and a `run` function:
//!   `customer`, `key`, `authority`, `account`, `model` (with procedure and review), `criteria`,
//!   `application`, `appeal`, `notice` (with the queue), `evidence`, `grant`, `directive`,
//!   `events`, `attester`.

mod account;
mod appeal;
mod application;
mod attester;
mod authority;
mod client;
mod criteria;
mod customer;
mod directive;
mod events;
mod evidence;
mod grant;
mod key;
mod model;
mod notice;

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde_json::Value;

use crate::admin::client::{ApiCallError, Client};

/// Where `portcullis serve` and `portcullis demo` listen unless told otherwise.
const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// The help section of the options every admin subcommand takes, kept apart from its own.
const GLOBAL_HEADING: &str = "Gateway options";

/// Arguments of `admin`.
#[derive(clap::Args)]
pub struct AdminArgs {
    /// Base URL of the gateway.
    #[arg(long, env = "PORTCULLIS_URL", default_value = DEFAULT_URL, global = true, help_heading = GLOBAL_HEADING)]
    url: String,
    /// Bearer token: a provider token, an official's role token (`pct_…`) or a customer API key
    /// (`pcl_…`). Prefer the environment variable: arguments are visible to other local users.
    #[arg(long, env = "PORTCULLIS_TOKEN", hide_env_values = true, global = true, help_heading = GLOBAL_HEADING)]
    token: Option<String>,
    /// How to report errors: `human` prints one line on stderr; `json` also prints the error
    /// body (the gateway's, when it sent one) on stdout.
    #[arg(long, value_enum, default_value_t = ErrFmt::Human, global = true, help_heading = GLOBAL_HEADING)]
    err_fmt: ErrFmt,
    /// What to do. Boxed, so `AdminArgs` stays small beside the other top-level commands.
    #[command(subcommand)]
    command: Box<AdminCommand>,
}

/// How errors are reported.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ErrFmt {
    /// One line on stderr.
    Human,
    /// One line on stderr, and the error as JSON on stdout.
    Json,
}

/// The admin subcommands, one per resource.
#[derive(clap::Subcommand)]
enum AdminCommand {
    /// Customers: register, show, list, replace attributes.
    #[command(subcommand)]
    Customer(customer::CustomerCommand),
    /// Customer API keys: issue, revoke, list.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Authorities and their officials' role tokens.
    #[command(subcommand)]
    Authority(authority::AuthorityCommand),
    /// Login accounts for the web portals: create, list, change a password, disable.
    #[command(subcommand)]
    Account(account::AccountCommand),
    /// Models: register, list, show, change stage, replace upstream, set procedure, clear or
    /// object in review.
    #[command(subcommand)]
    Model(model::ModelCommand),
    /// A model's access criteria: publish a version, show the current one.
    #[command(subcommand)]
    Criteria(criteria::CriteriaCommand),
    /// Applications for access: submit, amend, withdraw (customer); take up, request
    /// information, sign off (authority); list, show.
    #[command(subcommand)]
    Application(application::ApplicationCommand),
    /// Appeals against denials, revocations and directives: file (customer), decide
    /// (authority), list, show.
    #[command(subcommand)]
    Appeal(appeal::AppealCommand),
    /// Notices of adverse actions sent to customers.
    #[command(subcommand)]
    Notice(notice::NoticeCommand),
    /// Show your authority's work queue: open applications, pending appeals, models in review
    /// (authority).
    Queue,
    /// Evidence documents: upload (authority), download (as their disclosure level admits).
    #[command(subcommand)]
    Evidence(evidence::EvidenceCommand),
    /// Grants of preview models to customers: issue, revoke (authority).
    #[command(subcommand)]
    Grant(grant::GrantCommand),
    /// Directives of authorities: issue, lift, show, list, and their impact before issuing.
    #[command(subcommand)]
    Directive(directive::DirectiveCommand),
    /// Read the governance event feed (provider, authority).
    Events(events::EventsArgs),
    /// Show one event's transparency-log entry, exactly as logged (public).
    Event {
        /// The event's sequence number (its log index plus one).
        seq: u64,
    },
    /// Show the transparency log's origin, verifier key, size and witnesses (public).
    Log,
    /// Show which role the token resolves to.
    Whoami,
    /// Trusted attesters of end-user attributes and their keys: list, register, add and revoke
    /// keys (provider).
    #[command(subcommand)]
    Attester(attester::AttesterCommand),
}

/// Runs an admin subcommand.
///
/// # Errors
///
/// Fails when the gateway cannot be reached, answers with an error (the message is the API's),
/// or when a local file cannot be read.
pub fn run(args: AdminArgs) -> anyhow::Result<()> {
    let err_fmt = args.err_fmt;
    let result = execute(args);
    if let Err(err) = &result
        && err_fmt == ErrFmt::Json
    {
        // Best effort: the one-line message on stderr still reports the error if stdout is gone.
        let _ = write_stdout(&error_json(err));
    }
    result
}

fn execute(args: AdminArgs) -> anyhow::Result<()> {
    // An empty `PORTCULLIS_TOKEN=` means no token, not an empty bearer token.
    let token = args.token.filter(|token| !token.is_empty());
    let client = Client::new(&args.url, token)?;
    // A current-thread runtime: a subcommand sends its requests one after another, so a worker
    // pool would only cost start-up time.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    let answer = runtime.block_on(dispatch(&client, *args.command))?;
    write_stdout(&answer)
}

async fn dispatch(client: &Client, command: AdminCommand) -> anyhow::Result<Value> {
    match command {
        AdminCommand::Customer(command) => customer::run(client, command).await,
        AdminCommand::Key(command) => key::run(client, command).await,
        AdminCommand::Authority(command) => authority::run(client, command).await,
        AdminCommand::Account(command) => account::run(client, command).await,
        AdminCommand::Model(command) => model::run(client, command).await,
        AdminCommand::Criteria(command) => criteria::run(client, command).await,
        AdminCommand::Application(command) => application::run(client, command).await,
        AdminCommand::Appeal(command) => appeal::run(client, command).await,
        AdminCommand::Notice(command) => notice::run(client, command).await,
        AdminCommand::Queue => notice::queue(client).await,
        AdminCommand::Evidence(command) => evidence::run(client, command).await,
        AdminCommand::Grant(command) => grant::run(client, command).await,
        AdminCommand::Directive(command) => directive::run(client, command).await,
        AdminCommand::Events(args) => events::run(client, args).await,
        AdminCommand::Event { seq } => client.get(&["events", &seq.to_string()]).await,
        AdminCommand::Log => client.get(&["log"]).await,
        AdminCommand::Whoami => client.get(&["whoami"]).await,
        AdminCommand::Attester(command) => attester::run(client, command).await,
    }
}

/// Reads a policy file as text; `-` reads stdin.
///
/// # Errors
///
/// One line naming the file when it cannot be read.
fn read_policies(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        return std::io::read_to_string(std::io::stdin()).context("failed to read the policies from stdin");
    }
    std::fs::read_to_string(path).with_context(|| format!("failed to read the policies file `{}`", path.display()))
}

/// Prints a value as pretty JSON on stdout. A closed pipe (`| head`) is not an error.
fn write_stdout(value: &Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).context("failed to format the answer")?;
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}") {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(err).context("failed to write to stdout"),
        _ => Ok(()),
    }
}

/// The error as JSON: the gateway's error body when there is one, else the same shape with the
/// CLI's message.
fn error_json(err: &anyhow::Error) -> Value {
    if let Some(body) = err.downcast_ref::<ApiCallError>().and_then(ApiCallError::body) {
        return body.clone();
    }
    serde_json::json!({
        "error": { "message": format!("{err:#}"), "type": "cli_error", "code": null, "param": null }
    })
}

/// Shows a secret the gateway returns once (an API key, a role token) on stderr, apart from the
/// JSON, so it catches the eye in a terminal while stdout stays machine-readable.
fn announce_secret(what: &str, answer: &Value, field: &str) {
    if let Some(secret) = answer.get(field).and_then(Value::as_str) {
        eprintln!();
        eprintln!("{what} (shown once; only its hash is kept, store it now):");
        eprintln!();
        eprintln!("    {secret}");
        eprintln!();
    }
}
