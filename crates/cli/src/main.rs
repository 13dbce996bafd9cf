//! `portcullis`: serve the gateway, run the demo, administer a running gateway.
//!
//! `main` only parses arguments, sets up logging and dispatches; each subcommand lives in its
//! own module.

mod admin;
mod criteria;
mod demo;
mod serve;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Portcullis: an OpenAI-compatible gateway that decides, on every call, whether this customer
/// and this end user may use this model now.
#[derive(Parser)]
#[command(name = "portcullis", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway from a config file.
    Serve(serve::ServeArgs),
    /// Run the gateway with a seeded demo world (SQLite, built-in demo upstream).
    Demo(demo::DemoArgs),
    /// Administer a running gateway through its admin API.
    Admin(admin::AdminArgs),
    /// Verify the transparency log with only its key: checkpoint, tiles, entries, receipts.
    Verify(verify::VerifyArgs),
    /// Check a model's published criteria against your own attributes, before applying.
    #[command(subcommand)]
    Criteria(criteria::CriteriaCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args).map(|()| ExitCode::SUCCESS),
        Command::Demo(args) => demo::run(args).map(|()| ExitCode::SUCCESS),
        Command::Admin(args) => admin::run(args).map(|()| ExitCode::SUCCESS),
        Command::Verify(args) => verify::run(args).map(|()| ExitCode::SUCCESS),
        Command::Criteria(command) => criteria::run(command),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // One readable line: the context chain, outermost first.
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logging to stderr: human-readable by default, JSON lines with `json`; `RUST_LOG` filters.
fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// A multi-threaded runtime for the server subcommands.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context as _;
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("failed to start the async runtime")
}
