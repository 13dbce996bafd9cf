//! `portcullis serve --config FILE`.

use std::path::PathBuf;

use anyhow::Context as _;
use portcullis_gateway::Application;
use portcullis_gateway::config::Settings;

/// Arguments of `serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The TOML config file; `PORTCULLIS_*` environment variables override it.
    #[arg(long, short)]
    config: Option<PathBuf>,
}

/// Runs the gateway until SIGTERM or Ctrl-C.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let settings =
        Settings::load(args.config.as_deref()).map_err(|err| anyhow::anyhow!("invalid configuration: {err}"))?;
    crate::init_tracing(settings.log.json);
    crate::runtime()?
        .block_on(async {
            let app = Application::build(settings).await?;
            tracing::info!(address = %app.address(), "portcullis listening");
            app.run_until_stopped().await
        })
        .context("the gateway stopped with an error")
}
