//! Typed configuration: one TOML file, then `PORTCULLIS_…` environment variables.
//!
//! Nested keys use a double underscore in the environment: `PORTCULLIS_LIMITS__MAX_BODY_BYTES=1000`
//! overrides `[limits] max_body_bytes`. Secrets are [`SecretString`]s: never printed, never logged.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Everything `portcullis serve` needs.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on, e.g. `127.0.0.1:8080`; port 0 picks a free port.
    pub listen: String,
    /// Directory for the database and generated files; created if missing.
    pub data_dir: PathBuf,
    /// SQLite database file; defaults to `<data_dir>/portcullis.db`. Ignored when
    /// `database_url` is set.
    #[serde(default)]
    pub database_path: Option<PathBuf>,
    /// A PostgreSQL database shared by several replicas (`postgres://user:password@host/db`),
    /// instead of the SQLite file. A secret: it may hold a password.
    #[serde(default, serialize_with = "redact_option")]
    pub database_url: Option<SecretString>,
    /// The PostgreSQL schema to keep the tables in (created if missing); default `public`.
    #[serde(default)]
    pub database_schema: Option<String>,
    /// With `sslmode=require` in `database_url`: a PEM file of the CA certificates that sign the
    /// server's certificate (a managed service's bundle); default Mozilla's roots.
    #[serde(default)]
    pub database_ca_file: Option<PathBuf>,
    /// A PEM file of CA certificates trusted for `https://` upstreams besides Mozilla's roots:
    /// the private CA of a self-hosted deployment (an open-weight model behind internal TLS).
    #[serde(default)]
    pub upstream_ca_file: Option<PathBuf>,
    /// How replicas sharing a PostgreSQL database keep up with each other.
    #[serde(default)]
    pub replication: ReplicationSettings,
    /// The base URL clients reach this gateway at, used in links (appeal and record URLs);
    /// defaults to `http://<listen address>`.
    #[serde(default)]
    pub public_base_url: Option<String>,
    /// A Cedar schema file replacing the built-in one.
    #[serde(default)]
    pub schema_path: Option<PathBuf>,
    /// Limits on requests and upstream traffic.
    #[serde(default)]
    pub limits: Limits,
    /// Operator credentials for the provider role.
    #[serde(default)]
    pub provider_tokens: Vec<ProviderToken>,
    /// Attesters whose end-user attestations are trusted.
    #[serde(default)]
    pub attesters: Vec<AttesterSettings>,
    /// Log output.
    #[serde(default)]
    pub log: LogSettings,
    /// The transparency log: checkpoint origin, signing key, witnesses.
    #[serde(default)]
    pub transparency: TransparencySettings,
    /// Recent-request counters, for a directive's impact.
    #[serde(default)]
    pub usage: UsageSettings,
    /// Passive health of deployments and failover (`upstream/health.rs`).
    #[serde(default)]
    pub failover: FailoverSettings,
    /// The state checkpoint file, which makes a start read the state instead of replaying every
    /// event (`checkpoint.rs`).
    #[serde(default)]
    pub state_checkpoint: StateCheckpointSettings,
    /// Serve the built-in demo upstream under `/demo-upstream/v1` (a canned OpenAI-format
    /// responder for `portcullis demo`; not a model).
    #[serde(default)]
    pub demo_upstream: bool,
}

/// Limits, each a bound on resources a client can make the gateway spend.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body accepted, in bytes; larger gets 413.
    pub max_body_bytes: usize,
    /// How long a whole non-streaming request may take, in seconds, before the gateway answers 504.
    pub request_timeout_secs: u64,
    /// How long the upstream may take to send response headers, in seconds (504 after).
    pub upstream_timeout_secs: u64,
    /// How long to wait to connect to an upstream, in seconds (502 after).
    pub upstream_connect_timeout_secs: u64,
    /// Requests in flight to upstreams at once; further requests wait for a slot. Protects
    /// self-hosted model servers from a burst they cannot queue.
    pub max_upstream_concurrency: usize,
    /// How long shutdown waits for in-flight requests, in seconds.
    pub shutdown_grace_secs: u64,
    /// How long a client may take to send a request's head, in seconds, counted from when the
    /// connection opens or its previous answer ends; the connection is closed after it. Bounds
    /// what a client that trickles its headers (slowloris), or keeps a connection idle, holds.
    /// 0 turns it off.
    pub header_read_timeout_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 4 * 1024 * 1024,
            request_timeout_secs: 600,
            upstream_timeout_secs: 120,
            upstream_connect_timeout_secs: 5,
            max_upstream_concurrency: 1024,
            shutdown_grace_secs: 30,
            // nginx's keepalive_timeout, above AWS ALB's default idle timeout (60 s): a balancer
            // must never send on a connection the gateway is closing.
            header_read_timeout_secs: 75,
        }
    }
}

/// Recent-request counters (`usage.rs`): in memory only, per replica, compact counts per
/// customer × model × end-user attribute class × attestation status; no raw requests.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct UsageSettings {
    /// How far back "recent" reaches, in seconds; kept as 24 slots of a twenty-fourth each, so
    /// the counts cover the last 23 to 24 slots' worth. At least 24.
    pub window_secs: u64,
    /// At most this many counter keys (about 130 bytes each); past it, requests are still counted
    /// per model and end-user class but without their customer, and impact reports them as not
    /// evaluated.
    pub max_keys: usize,
}

impl Default for UsageSettings {
    fn default() -> Self {
        Self { window_secs: 86_400, max_keys: 262_144 }
    }
}

/// Deployment health and failover. Health is per replica and in memory: it changes too often to
/// be governance, and each replica sees its own connections fail.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailoverSettings {
    /// A deployment is ejected after this many consecutive failures (unreachable, timeout, 5xx).
    /// At least 1.
    pub eject_after_failures: u32,
    /// How long an ejected deployment is skipped, in seconds; then one request tries it again.
    pub cooldown_secs: u64,
    /// How long a deployment that answered 401, 403 or 451 (access revoked) is skipped, in
    /// seconds; then one request (or the active probe) tries it again.
    pub cut_off_secs: u64,
    /// How often to probe ejected and cut-off deployments whose period is over with
    /// `GET <base_url>/models`, in seconds; 0 turns the active probe off (the next request is
    /// then the probe).
    pub probe_interval_secs: u64,
}

impl Default for FailoverSettings {
    fn default() -> Self {
        Self { eject_after_failures: 3, cooldown_secs: 30, cut_off_secs: 300, probe_interval_secs: 0 }
    }
}

/// A provider (operator) credential.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderToken {
    /// A label recorded as the actor of events, e.g. `ops`.
    pub name: String,
    /// The bearer token.
    #[serde(serialize_with = "redact")]
    pub token: SecretString,
}

fn redact_option<S: serde::Serializer>(value: &Option<SecretString>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => serializer.serialize_some("[redacted]"),
        None => serializer.serialize_none(),
    }
}

fn redact<S: serde::Serializer>(_: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str("[redacted]")
}

/// A trusted attester's key, read at start-up: a bootstrap beside the attesters managed through
/// the admin API. Repeat an id to give it several keys (named `config-1`, `config-2`, …); an id
/// configured here cannot be registered or changed through the API.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AttesterSettings {
    /// Its id, matched against a token's `iss`.
    pub id: String,
    /// Its Ed25519 public key: 32 bytes, base64 (standard or URL-safe).
    pub public_key: String,
    /// Optional RFC 3339 time after which its tokens are refused.
    #[serde(default)]
    pub not_after: Option<String>,
}

/// The transparency log.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransparencySettings {
    /// The checkpoint origin line and signing key name, a schema-less URL such as
    /// `gateway.example.org/log`. Defaults to the host of `public_base_url` plus `/log`, or
    /// `localhost/portcullis` without one.
    pub origin: Option<String>,
    /// File holding the log's Ed25519 signing key (`PRIVATE+KEY+…`); created on first start.
    /// Defaults to `<data_dir>/log-signing-key`.
    pub signing_key_file: Option<PathBuf>,
    /// How often, at most, a checkpoint is signed (only when the log grew), in milliseconds.
    pub checkpoint_interval_ms: u64,
    /// Witnesses sent each new checkpoint (C2SP tlog-witness); their cosignatures are served.
    pub witnesses: Vec<WitnessSettings>,
    /// How long to wait for a witness, in milliseconds.
    pub witness_timeout_ms: u64,
}

impl Default for TransparencySettings {
    fn default() -> Self {
        Self {
            origin: None,
            signing_key_file: None,
            checkpoint_interval_ms: 2000,
            witnesses: Vec::new(),
            witness_timeout_ms: 5000,
        }
    }
}

/// A witness.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessSettings {
    /// Its URL prefix; `add-checkpoint` is appended.
    pub url: String,
    /// Its cosignature verifier key, `name+hex+base64`.
    pub verifier_key: String,
}

/// Replicas over a shared database (`replica.rs`, `engine.rs`). Ignored with SQLite.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicationSettings {
    /// Read the database at least this often, in milliseconds, even without a change notice:
    /// each read confirms the replica is current.
    pub heartbeat_ms: u64,
    /// Past this many milliseconds without a confirmed read, the replica refuses requests to
    /// models in review or preview and to models with directives in force (503), and says so
    /// in `/readyz`.
    pub staleness_bound_ms: u64,
}

impl Default for ReplicationSettings {
    fn default() -> Self {
        Self { heartbeat_ms: 250, staleness_bound_ms: 5_000 }
    }
}

/// The state checkpoint: a file this replica writes now and then, from which it starts by
/// replaying only the events after it. A cache of the log, never a source of truth: without it,
/// or when it does not match the log, the start replays the whole log.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateCheckpointSettings {
    /// Write and read it. Off, every start replays the whole log.
    pub enabled: bool,
    /// The file; defaults to `<data_dir>/state.checkpoint`. Each replica keeps its own.
    pub path: Option<PathBuf>,
    /// Written again once this many events were applied after the last one (and at start, when
    /// the start replayed that many): a start then replays at most about this many events.
    pub every_events: u64,
}

impl Default for StateCheckpointSettings {
    fn default() -> Self {
        // At most about 0.3 s of replay at start-up (3 µs an event, BENCHMARKS.md §2), and at ten
        // million customers one write (about 3 s on a background thread) per 100,000 events.
        Self { enabled: true, path: None, every_events: 100_000 }
    }
}

/// Log output settings.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// JSON lines instead of human-readable text.
    pub json: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            data_dir: PathBuf::from("portcullis-data"),
            database_path: None,
            database_url: None,
            database_schema: None,
            database_ca_file: None,
            upstream_ca_file: None,
            replication: ReplicationSettings::default(),
            public_base_url: None,
            schema_path: None,
            limits: Limits::default(),
            provider_tokens: Vec::new(),
            attesters: Vec::new(),
            log: LogSettings::default(),
            transparency: TransparencySettings::default(),
            usage: UsageSettings::default(),
            failover: FailoverSettings::default(),
            state_checkpoint: StateCheckpointSettings::default(),
            demo_upstream: false,
        }
    }
}

impl Settings {
    /// Loads defaults, then the TOML file (if given), then `PORTCULLIS_*` environment variables.
    ///
    /// # Errors
    ///
    /// Returns figment's error, which names the key and the source (file or variable) at fault.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(Box::new(figment::Error::from(format!("config file `{}` does not exist", file.display()))));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment.merge(Env::prefixed("PORTCULLIS_").split("__")).extract().map_err(Box::new)
    }

    /// The database file.
    pub fn database_path(&self) -> PathBuf {
        self.database_path.clone().unwrap_or_else(|| self.data_dir.join("portcullis.db"))
    }

    /// The state checkpoint file, unless turned off.
    pub fn state_checkpoint(&self) -> Option<crate::checkpoint::CheckpointFile> {
        let settings = &self.state_checkpoint;
        settings.enabled.then(|| {
            let path = settings.path.clone().unwrap_or_else(|| self.data_dir.join("state.checkpoint"));
            crate::checkpoint::CheckpointFile::new(path, settings.every_events)
        })
    }

    /// Where the events live: PostgreSQL when `database_url` is set, else the SQLite file.
    ///
    /// # Errors
    ///
    /// A malformed URL or schema name, named.
    pub fn database(&self) -> Result<portcullis_store::Location, portcullis_store::StoreError> {
        use secrecy::ExposeSecret as _;
        match &self.database_url {
            Some(url) => {
                let mut location =
                    portcullis_store::PgLocation::parse(url.expose_secret(), self.database_schema.as_deref())?;
                if let Some(ca) = &self.database_ca_file {
                    location = location.with_ca_file(ca)?;
                }
                Ok(portcullis_store::Location::Postgres(location))
            }
            None => Ok(portcullis_store::Location::Sqlite(self.database_path())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../portcullis.example.toml");
        let settings = Settings::load(Some(&path)).unwrap();
        assert_eq!(settings.listen, "127.0.0.1:8080");
        assert_eq!(settings.limits.max_body_bytes, 4_194_304);
        assert_eq!(settings.attesters.len(), 1);
        assert_eq!(settings.database_path(), PathBuf::from("portcullis-data/portcullis.db"));
        // The secret never shows in debug output.
        assert!(!format!("{settings:?}").contains("change-me"));
    }

    #[test]
    fn bad_configs_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:1\"\n[limits]\nmax_body_bytes = \"lots\"\n").unwrap();
        let err = Settings::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("max_body_bytes") || err.contains("lots"), "{err}");
        std::fs::write(&path, "listn = \"x\"\n").unwrap();
        let err = Settings::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("listn"), "{err}");
        let err = Settings::load(Some(&dir.path().join("missing.toml"))).unwrap_err().to_string();
        assert!(err.contains("does not exist"), "{err}");
    }
}
