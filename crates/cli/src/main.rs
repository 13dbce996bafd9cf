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

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

/// The runtime of the server subcommands: one worker thread per CPU this process may use (its
/// affinity mask and cgroup quota), work-stealing between them; on a single CPU, a
/// current-thread runtime, which does the same work without the work-stealing scheduler's
/// bookkeeping (15–17% more requests per second on one core, BENCHMARKS.md §1). Nothing here
/// blocks a worker (`block_in_place` is never used), so the two differ only in cost.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context as _;
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let current_thread = cpus == 1 && std::env::var_os("TOKIO_WORKER_THREADS").is_none();
    let mut builder = if current_thread {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let flavor = if current_thread { "current-thread" } else { "multi-thread" };
    tracing::info!(cpus, flavor, "async runtime");
    builder.enable_all().build().context("failed to start the async runtime")
}
