//! Startup as an object: build binds the listener (port 0 allowed) and replays the events;
//! `run_until_stopped` serves until SIGTERM or Ctrl-C, then drains in-flight requests.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use portcullis_core::attestation::TrustedAttester;
use portcullis_core::attester::AttesterPublicKey;
use portcullis_core::policy::CedarSchema;
use portcullis_core::{AttesterId, State, Timestamp};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::app::AppState;
use crate::auth::ProviderCredentials;
use crate::config::{AttesterSettings, Settings};
use crate::engine::{Clock, Engine, Replication, SystemClock};
use crate::metrics::Metrics;
use crate::transparency::{Transparency, load_or_create_signer, witness_clients};
use crate::upstream::health::Health;
use crate::usage::Usage;

/// How long an idle upstream connection stays in the pool.
const UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// A built, not yet running, gateway.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    address: SocketAddr,
    engine: Engine,
    transparency: Arc<Transparency>,
    shutdown_grace: Duration,
    /// `[limits] header_read_timeout_secs`; `None` when 0.
    header_read_timeout: Option<Duration>,
    /// The active probe's state and interval, when `[failover] probe_interval_secs` is set.
    probe: Option<(AppState, Duration)>,
}

impl Application {
    /// Opens the store, replays the events, binds the listener.
    ///
    /// # Errors
    ///
    /// Fails with a message naming what could not be done (data directory, schema, attester
    /// key, database, address).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// [`Application::build`] with a chosen clock.
    ///
    /// # Errors
    ///
    /// As [`Application::build`].
    pub async fn build_with_clock(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("failed to create the data directory `{}`", settings.data_dir.display()))?;
        let schema = match &settings.schema_path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("failed to read the schema file `{}`", path.display()))?;
                CedarSchema::parse(&text).with_context(|| format!("invalid schema in `{}`", path.display()))?
            }
            None => CedarSchema::default_schema().context("the built-in schema does not parse")?,
        };
        let attesters = settings.attesters.iter().map(parse_attester).collect::<anyhow::Result<Vec<_>>>()?;
        let origin = log_origin(&settings);
        let key_file =
            settings.transparency.signing_key_file.clone().unwrap_or_else(|| settings.data_dir.join("log-signing-key"));
        let signer = Arc::new(load_or_create_signer(&key_file, &origin)?);
        let database = settings.database().context("invalid database settings")?;
        let replication = Replication {
            heartbeat: Duration::from_millis(settings.replication.heartbeat_ms.max(10)),
            staleness_bound: Duration::from_millis(settings.replication.staleness_bound_ms),
        };
        let initial = State::new(Arc::new(schema), attesters);
        let state_checkpoint = settings.state_checkpoint();
        let engine_signer = signer.clone();
        // Off the async runtime: the stores block (and PostgreSQL's client runs its own runtime).
        let (engine, reader, served, evidence, sessions) = tokio::task::spawn_blocking(move || {
            let opened = database.open().with_context(|| format!("failed to open the database `{database}`"))?;
            let engine = Engine::start(opened.events, initial, clock, engine_signer, replication, state_checkpoint)
                .with_context(|| format!("refusing to start on `{database}`"))?;
            let served = opened.log.latest_checkpoint().context("failed to read the latest checkpoint")?;
            anyhow::Ok((engine, opened.log, served, Arc::new(opened.evidence), opened.sessions))
        })
        .await
        .context("the start-up task failed")??;

        let listener = TcpListener::bind(&settings.listen)
            .await
            .with_context(|| format!("failed to listen on `{}`", settings.listen))?;
        let address = listener.local_addr().context("failed to read the bound address")?;
        let public_base_url = settings
            .public_base_url
            .clone()
            .unwrap_or_else(|| format!("http://{address}"))
            .trim_end_matches('/')
            .to_owned();

        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(settings.limits.upstream_connect_timeout_secs))
            .pool_idle_timeout(UPSTREAM_IDLE_TIMEOUT)
            .tcp_nodelay(true)
            // A model's upstream is configured, not discovered: never follow a redirect to
            // somewhere else (and skip the redirect layer's cost on every request).
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("failed to build the upstream HTTP client")?;
        let upstream_ca = match &settings.upstream_ca_file {
            Some(path) => Some((
                path.as_path(),
                std::fs::read(path).with_context(|| format!("failed to read upstream_ca_file `{}`", path.display()))?,
            )),
            None => None,
        };
        let upstream = crate::upstream::UpstreamClient::new(
            Duration::from_secs(settings.limits.upstream_connect_timeout_secs),
            UPSTREAM_IDLE_TIMEOUT,
            upstream_ca.as_ref().map(|(path, pem)| (*path, pem.as_slice())),
        )
        .context("failed to build the upstream HTTP client")?;
        let transparency = Arc::new(Transparency {
            signer,
            reader,
            served: arc_swap::ArcSwapOption::from(served.map(Arc::new)),
            witnesses: witness_clients(
                &settings.transparency.witnesses,
                &http,
                settings.transparency.witness_timeout_ms,
            )?,
            checkpoint_interval_ms: settings.transparency.checkpoint_interval_ms,
        });
        let metrics = Metrics::new(engine.freshness(), engine.checkpoint_metrics());
        let health = Arc::new(Health::new(
            &settings.failover,
            settings.limits.upstream_timeout_secs,
            metrics.cut_off_deployments.clone(),
            metrics.ejected_deployments.clone(),
        ));
        let state = AppState::new(crate::app::App {
            engine: engine.clone(),
            providers: ProviderCredentials::from_config(&settings.provider_tokens),
            upstream,
            http,
            upstream_slots: Arc::new(Semaphore::new(settings.limits.max_upstream_concurrency)),
            metrics,
            limits: settings.limits.clone(),
            public_base_url: Arc::from(public_base_url),
            transparency: transparency.clone(),
            upstream_urls: Arc::default(),
            evidence,
            rate_limits: Arc::default(),
            usage: Arc::new(Usage::new(&settings.usage, engine.now())),
            health,
            sessions: Arc::new(crate::routes::portal::session::Sessions::new(sessions)),
        });
        let probe_interval = Duration::from_secs(settings.failover.probe_interval_secs);
        let probe = (!probe_interval.is_zero()).then(|| state.clone());
        let mut router = crate::routes::router(state);
        if settings.demo_upstream {
            router = router.merge(crate::demo_upstream::router());
        }
        // No blanket request timeout layer: it would cut long streams, and would answer with an
        // empty body. The upstream timeout (time to response headers) bounds the gated routes,
        // with an OpenAI-style 504; admin routes are bounded by the writer.
        Ok(Self {
            listener,
            router,
            address,
            engine,
            transparency,
            shutdown_grace: Duration::from_secs(settings.limits.shutdown_grace_secs),
            header_read_timeout: Some(Duration::from_secs(settings.limits.header_read_timeout_secs))
                .filter(|timeout| !timeout.is_zero()),
            probe: probe.map(|state| (state, probe_interval)),
        })
    }

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The engine (for seeding the demo and for tests).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The transparency log (its verifier key is published in `demo.json` and the register).
    pub fn transparency(&self) -> &Arc<Transparency> {
        &self.transparency
    }

    /// Serves until SIGTERM or Ctrl-C.
    ///
    /// # Errors
    ///
    /// As [`Application::run_until`].
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `signal` completes, then stops accepting, lets in-flight requests finish
    /// (for at most the configured grace period) and returns.
    ///
    /// # Errors
    ///
    /// None so far: a failed accept is retried and a connection's errors end that connection
    /// only. The `Result` leaves room for a server that can fail as a whole.
    pub async fn run_until(self, signal: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let mut grace_rx = stop_rx.clone();
        let sequencer = tokio::spawn(crate::transparency::run_sequencer(
            self.engine.clone(),
            self.transparency.clone(),
            stop_rx.clone(),
        ));
        if let Some((state, interval)) = self.probe {
            tokio::spawn(crate::upstream::probe::run(state, interval, stop_rx.clone()));
        }
        let server = crate::serve::serve(self.listener, self.router, self.header_read_timeout, async move {
            let _ = stop_rx.wait_for(|stopped| *stopped).await;
        });
        tokio::spawn(async move {
            signal.await;
            tracing::info!("shutdown requested: finishing in-flight requests");
            let _ = stop_tx.send(true);
        });
        let grace = self.shutdown_grace;
        tokio::select! {
            () = server => {}
            () = async move {
                let _ = grace_rx.wait_for(|stopped| *stopped).await;
                tokio::time::sleep(grace).await;
            } => tracing::warn!(grace_secs = grace.as_secs(), "in-flight requests still running after the grace period; stopping"),
        }
        let _ = sequencer.await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The configured origin, or one derived from the public base URL.
fn log_origin(settings: &Settings) -> String {
    if let Some(origin) = &settings.transparency.origin {
        return origin.clone();
    }
    settings
        .public_base_url
        .as_deref()
        .map(|url| url.split_once("://").map_or(url, |(_, rest)| rest).trim_end_matches('/'))
        .filter(|host| !host.is_empty())
        .map_or_else(|| "localhost/portcullis".to_owned(), |host| format!("{host}/log"))
}

fn parse_attester(settings: &AttesterSettings) -> anyhow::Result<TrustedAttester> {
    let id = AttesterId::parse(&settings.id).with_context(|| format!("invalid attester id `{}`", settings.id))?;
    let public_key = AttesterPublicKey::parse(&settings.public_key)
        .with_context(|| format!("invalid public key of attester `{id}`"))?;
    let not_after = settings
        .not_after
        .as_deref()
        .map(Timestamp::parse_rfc3339)
        .transpose()
        .with_context(|| format!("invalid not_after of attester `{id}`"))?;
    Ok(TrustedAttester { id, key: *public_key.verifying_key(), not_after, revoked: false })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
