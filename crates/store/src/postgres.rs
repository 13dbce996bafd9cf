//! PostgreSQL, shared by several gateway replicas.
//!
//! The tables are SQLite's, in a schema of their own (`public` unless configured). What sharing
//! adds:
//!
//! - **One writer at a time.** Every write takes a transaction-scoped advisory lock before it
//!   reads the events other replicas stored and appends its own, so sequence numbers and the
//!   log's stored hashes are computed by exactly one writer at a time. A replica killed mid-write
//!   holds nothing: its transaction rolls back and the lock goes with its connection.
//! - **One checkpoint signer at a time.** A session-scoped advisory lock names the replica that
//!   signs checkpoints; when it dies, its connection closes, the lock is released, and the next
//!   replica to try takes over.
//! - **Change notices.** A write notifies a channel (`NOTIFY`, delivered on commit); every replica
//!   listens through a [`ChangeFeed`] and reads what it missed by sequence number, so a dropped
//!   notice or connection loses nothing.
//!
//! The lock keys and the channel are derived from the schema, so several deployments (or tests)
//! can share one database without touching each other.

use std::cell::RefCell;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use portcullis_core::{EventRecord, Timestamp};
use portcullis_translog::tree::BoxError;
use portcullis_translog::{Hash, NoteSigner, NoteVerifier};
use postgres::fallible_iterator::FallibleIterator as _;
use postgres::{Client, GenericClient, IsolationLevel, NoTls};
use rustls::ClientConfig;

use crate::log::{
    LogSource, StoredCheckpoint, hashes_in_range, in_order, load_checked, log_error, new_hashes, next_checkpoint,
};
use crate::{ChangeFeed, EventStore, StoreError};

/// Migrations, applied in order; `portcullis_schema.version` records how many ran. The same
/// tables as SQLite's (see `sqlite.rs` for what each holds).
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE events (
        seq    BIGINT PRIMARY KEY,
        at     BIGINT NOT NULL,
        kind   TEXT   NOT NULL,
        record TEXT   NOT NULL
    );",
    "CREATE TABLE log_hashes (
        idx  BIGINT PRIMARY KEY,
        hash BYTEA  NOT NULL
    );
    CREATE TABLE checkpoints (
        size      BIGINT PRIMARY KEY,
        note      TEXT   NOT NULL,
        signed_at BIGINT NOT NULL
    );",
    "CREATE TABLE evidence (
        sha256      TEXT   PRIMARY KEY,
        media_type  TEXT   NOT NULL,
        bytes       BYTEA  NOT NULL,
        uploaded_at BIGINT NOT NULL,
        uploaded_by TEXT   NOT NULL
    );",
    "CREATE TABLE sessions (
        token_hash TEXT   PRIMARY KEY,
        login      TEXT   NOT NULL,
        csrf       TEXT   NOT NULL,
        expires_at BIGINT NOT NULL
    );
    CREATE INDEX sessions_expiry ON sessions (expires_at);",
    "CREATE TABLE sign_in_failures (
        login        TEXT   PRIMARY KEY,
        failures     BIGINT NOT NULL,
        last_at      BIGINT NOT NULL,
        locked_until BIGINT
    );",
    "ALTER TABLE sessions ADD COLUMN password_stamp TEXT NOT NULL DEFAULT '';",
];

/// Longest schema name accepted (the notify channel, `portcullis_<schema>`, must fit
/// PostgreSQL's 63-byte identifiers).
const MAX_SCHEMA_LEN: usize = 40;

/// A PostgreSQL database and the schema Portcullis keeps its tables in.
#[derive(Clone)]
pub struct PgLocation {
    config: postgres::Config,
    schema: String,
    /// TLS, when the URL says `sslmode=require`; the server's certificate is always verified.
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for PgLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        write!(f, "PgLocation({self})")
    }
}

impl std::fmt::Display for PgLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = match self.config.get_hosts().first() {
            Some(postgres::config::Host::Tcp(name)) => name.clone(),
            #[cfg(unix)]
            Some(postgres::config::Host::Unix(path)) => path.display().to_string(),
            None => "localhost".to_owned(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        let database = self.config.get_dbname().unwrap_or("(default database)");
        let tls = if self.tls.is_some() { ", TLS" } else { "" };
        write!(f, "postgres://{host}:{port}/{database} (schema {}{tls})", self.schema)
    }
}

impl PgLocation {
    /// Parses a `postgres://` URL (or `key=value` connection string) and a schema name (default
    /// `public`).
    ///
    /// # Errors
    ///
    /// [`StoreError::Config`] naming what is wrong.
    pub fn parse(url: &str, schema: Option<&str>) -> Result<Self, StoreError> {
        let mut config: postgres::Config =
            url.parse().map_err(|err| StoreError::Config(format!("invalid database_url: {err}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(3));
        }
        // A dead peer (a cut network, a stopped server) must turn into an error, not a write
        // that hangs while the replica believes itself connected.
        config.keepalives(true).keepalives_idle(Duration::from_secs(10));
        #[cfg(target_os = "linux")]
        config.tcp_user_timeout(Duration::from_secs(5));
        if config.get_application_name().is_none() {
            config.application_name("portcullis");
        }
        let schema = schema.unwrap_or("public").to_owned();
        let valid = !schema.is_empty()
            && schema.len() <= MAX_SCHEMA_LEN
            && schema.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && schema.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(StoreError::Config(format!(
                "invalid database_schema `{schema}`: use at most {MAX_SCHEMA_LEN} lowercase letters, digits and \
                 underscores, starting with a letter or underscore"
            )));
        }
        // `require` (as managed services ask) means TLS with a verified certificate, against
        // Mozilla's roots unless `with_ca_file` names the CA; otherwise plain TCP, as before.
        let tls = matches!(config.get_ssl_mode(), postgres::config::SslMode::Require)
            .then(|| tls_config(None))
            .transpose()?
            .map(Arc::new);
        Ok(Self { config, schema, tls })
    }

    /// Verifies the server's certificate against the CA certificates in a PEM file (a managed
    /// service's CA bundle) instead of Mozilla's roots. Needs `sslmode=require` in the URL.
    ///
    /// # Errors
    ///
    /// [`StoreError::Config`] when TLS is not asked for, or the file is unreadable or holds no
    /// certificate.
    pub fn with_ca_file(mut self, path: &std::path::Path) -> Result<Self, StoreError> {
        if self.tls.is_none() {
            return Err(StoreError::Config(format!(
                "database_ca_file `{}` is set but database_url does not ask for TLS: add `sslmode=require`",
                path.display()
            )));
        }
        let pem = std::fs::read(path)
            .map_err(|err| StoreError::Config(format!("cannot read database_ca_file `{}`: {err}", path.display())))?;
        self.tls = Some(Arc::new(tls_config(Some((path, &pem)))?));
        Ok(self)
    }

    /// The schema.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// A new connection with the schema on its search path.
    ///
    /// # Errors
    ///
    /// When the server cannot be reached or refuses the connection.
    pub fn connect(&self) -> Result<Client, StoreError> {
        let mut client = match &self.tls {
            Some(tls) => {
                self.config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(ClientConfig::clone(tls)))?
            }
            None => self.config.connect(NoTls)?,
        };
        client.batch_execute(&format!("SET search_path TO \"{}\"", self.schema))?;
        Ok(client)
    }

    /// The key of an advisory lock, unique to this schema.
    fn lock_name(&self, purpose: &str) -> String {
        format!("portcullis:{}:{purpose}", self.schema)
    }

    /// The channel writes notify.
    fn channel(&self) -> String {
        format!("portcullis_{}", self.schema)
    }
}

/// A TLS client configuration trusting the certificates of a PEM file, or Mozilla's roots.
fn tls_config(ca: Option<(&std::path::Path, &[u8])>) -> Result<rustls::ClientConfig, StoreError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some((path, pem)) => {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|err| {
                    StoreError::Config(format!("database_ca_file `{}` is not PEM: {err}", path.display()))
                })?;
                roots.add(cert).map_err(|err| {
                    StoreError::Config(format!("database_ca_file `{}` holds a bad certificate: {err}", path.display()))
                })?;
            }
            if roots.is_empty() {
                return Err(StoreError::Config(format!("database_ca_file `{}` holds no certificate", path.display())));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| StoreError::Config(format!("TLS set-up failed: {err}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A connection that reconnects on the next use after it was lost.
pub(crate) struct PgConn {
    location: PgLocation,
    client: Option<Client>,
    /// Counts connections made, so session state (the sequencer lock) is known to be lost.
    generation: u64,
}

impl PgConn {
    pub(crate) fn new(location: PgLocation) -> Self {
        Self { location, client: None, generation: 0 }
    }

    /// The live client, connecting first if there is none or it was closed.
    pub(crate) fn client(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            if let Some(old) = self.client.take() {
                discard(old);
            }
            self.client = Some(self.location.connect()?);
            self.generation += 1;
        }
        self.client.as_mut().ok_or_else(|| StoreError::Config("no PostgreSQL connection".to_owned()))
    }
}

impl Drop for PgConn {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            discard(client);
        }
    }
}

/// Drops a client on a thread of its own: closing runs the client's private runtime, which
/// must not happen on an async runtime's thread (readers live in the gateway's shared state,
/// dropped on one).
fn discard(client: Client) {
    let _ = std::thread::Builder::new().name("portcullis-pg-close".to_owned()).spawn(move || drop(client));
}

/// A client, transaction or read-only view as a [`LogSource`].
pub(crate) struct PgSource<'c, C: GenericClient>(RefCell<&'c mut C>);

impl<'c, C: GenericClient> PgSource<'c, C> {
    pub(crate) fn new(client: &'c mut C) -> Self {
        Self(RefCell::new(client))
    }

    fn client(&self) -> Result<std::cell::RefMut<'_, &'c mut C>, StoreError> {
        self.0.try_borrow_mut().map_err(|_| log_error("a PostgreSQL connection was used re-entrantly"))
    }
}

impl<C: GenericClient> LogSource for PgSource<'_, C> {
    fn events(&self, after: u64, limit: usize) -> Result<Vec<EventRecord>, StoreError> {
        read_events(*self.client()?, after, limit)
    }

    fn tree_size(&self) -> Result<u64, StoreError> {
        tree_size(*self.client()?)
    }

    fn hash_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self.client()?.query_one("SELECT COUNT(*) FROM log_hashes", &[])?.try_get(0)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        let row = self.client()?.query_opt("SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1", &[])?;
        row.map(|row| {
            let size: i64 = row.try_get(0)?;
            Ok(StoredCheckpoint { size: u64::try_from(size).unwrap_or(0), note: row.try_get(1)? })
        })
        .transpose()
    }

    fn hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, BoxError> {
        let wanted: Vec<i64> = indexes.iter().map(|i| i64::try_from(*i)).collect::<Result<_, _>>()?;
        let rows = self
            .client()
            .map_err(|err| err.to_string())?
            .query("SELECT idx, hash FROM log_hashes WHERE idx = ANY($1)", &[&wanted])?;
        let mut found = std::collections::HashMap::with_capacity(rows.len());
        for row in rows {
            let idx: i64 = row.try_get(0)?;
            let bytes: &[u8] = row.try_get(1)?;
            let hash = Hash::from_slice(bytes).map_err(|_| format!("stored hash {idx} is not 32 bytes"))?;
            found.insert(u64::try_from(idx)?, hash);
        }
        in_order(indexes, &found)
    }

    fn hash_range(&self, start: u64, count: u64) -> Result<Vec<Hash>, BoxError> {
        let (from, to) = (i64::try_from(start)?, i64::try_from(start + count)?);
        let rows = self
            .client()
            .map_err(|err| err.to_string())?
            .query("SELECT idx, hash FROM log_hashes WHERE idx >= $1 AND idx < $2 ORDER BY idx", &[&from, &to])?;
        hashes_in_range(
            start,
            count,
            rows.iter().map(|row| Ok((row.try_get::<_, i64>(0)?, row.try_get::<_, &[u8]>(1)?))),
        )
    }
}

fn tree_size(client: &mut impl GenericClient) -> Result<u64, StoreError> {
    let last: Option<i64> = client.query_one("SELECT MAX(seq) FROM events", &[])?.try_get(0)?;
    Ok(last.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
}

fn read_events(client: &mut impl GenericClient, after: u64, limit: usize) -> Result<Vec<EventRecord>, StoreError> {
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows =
        client.query("SELECT seq, record FROM events WHERE seq > $1 ORDER BY seq LIMIT $2", &[&after, &limit])?;
    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        let seq: i64 = row.try_get(0)?;
        let text: &str = row.try_get(1)?;
        let record =
            EventRecord::from_stored_json(text).map_err(|err| StoreError::Corrupt { seq, problem: err.to_string() })?;
        if i64::try_from(record.seq).ok() != Some(seq) {
            return Err(StoreError::Corrupt { seq, problem: format!("row holds event {}", record.seq) });
        }
        records.push(record);
    }
    Ok(records)
}

/// Stores events and their log hashes inside the caller's transaction, checking that they
/// continue the stored sequence (INVARIANT log-size, as in SQLite).
fn insert_events(client: &mut impl GenericClient, records: &[EventRecord]) -> Result<(), StoreError> {
    let tree_size = tree_size(client)?;
    let (mut seqs, mut ats, mut kinds, mut texts) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for row in crate::event_rows(tree_size, records)? {
        seqs.push(row.seq);
        ats.push(row.at);
        kinds.push(row.kind);
        texts.push(row.record);
    }
    // One statement per table for the whole batch: a round trip per row would dominate.
    client.execute(
        "INSERT INTO events (seq, at, kind, record)
         SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[])",
        &[&seqs, &ats, &kinds, &texts],
    )?;
    let appended = new_hashes(&PgSource::new(client), tree_size, records)?;
    let first = i64::try_from(appended.first_stored_index).map_err(|_| log_error("stored hash index overflow"))?;
    let indexes: Vec<i64> = (first..).take(appended.stored_hashes.len()).collect();
    let hashes: Vec<&[u8]> = appended.stored_hashes.iter().map(|hash| hash.as_bytes().as_slice()).collect();
    client.execute(
        "INSERT INTO log_hashes (idx, hash) SELECT * FROM UNNEST($1::BIGINT[], $2::BYTEA[])",
        &[&indexes, &hashes],
    )?;
    Ok(())
}

/// The event store on PostgreSQL.
pub struct PgStore {
    location: PgLocation,
    connection: PgConn,
    /// The connection generation holding the sequencer lock, if this replica holds it.
    sequencer_of: Option<u64>,
}

impl PgStore {
    /// Connects, creates the schema if needed and runs pending migrations (under a lock, so
    /// replicas starting together do not race).
    ///
    /// # Errors
    ///
    /// When the server cannot be reached, or the schema was written by a newer version.
    pub fn open(location: &PgLocation) -> Result<Self, StoreError> {
        let mut connection = PgConn::new(location.clone());
        migrate(connection.client()?, location)?;
        Ok(Self { location: location.clone(), connection, sequencer_of: None })
    }

    /// Takes the write lock and runs `f` inside the transaction that holds it.
    fn locked<T>(
        &mut self,
        f: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let lock = self.location.lock_name("write");
        let client = self.connection.client()?;
        let mut transaction = client.transaction()?;
        transaction.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&lock])?;
        let out = f(&mut transaction)?;
        transaction.commit()?;
        Ok(out)
    }
}

fn migrate(client: &mut Client, location: &PgLocation) -> Result<(), StoreError> {
    let mut transaction = client.transaction()?;
    transaction.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&location.lock_name("migrate")])?;
    transaction.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS \"{}\";
         CREATE TABLE IF NOT EXISTS portcullis_schema (version INTEGER NOT NULL);",
        location.schema
    ))?;
    let version: Option<i32> = transaction.query_one("SELECT MAX(version) FROM portcullis_schema", &[])?.try_get(0)?;
    let version = i64::from(version.unwrap_or(0));
    let supported = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if version > supported {
        return Err(StoreError::TooNew { found: version, supported });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(version).unwrap_or(0)) {
        transaction.batch_execute(sql)?;
        let applied = i32::try_from(index + 1).unwrap_or(i32::MAX);
        transaction.execute("INSERT INTO portcullis_schema (version) VALUES ($1)", &[&applied])?;
    }
    transaction.commit()?;
    Ok(())
}

impl EventStore for PgStore {
    fn append(&mut self, records: &[EventRecord]) -> Result<(), StoreError> {
        let channel = self.location.channel();
        self.locked(|transaction| {
            insert_events(transaction, records)?;
            notify(transaction, &channel, records)
        })
    }

    fn write(
        &mut self,
        known: u64,
        batch: &mut dyn FnMut(Vec<EventRecord>) -> Vec<EventRecord>,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let channel = self.location.channel();
        self.locked(|transaction| {
            let newer = read_events(transaction, known, usize::MAX)?;
            let records = batch(newer);
            if !records.is_empty() {
                insert_events(transaction, &records)?;
                notify(transaction, &channel, &records)?;
            }
            Ok(records)
        })
    }

    fn events_after(&mut self, after: u64, limit: usize) -> Result<Vec<EventRecord>, StoreError> {
        read_events(self.connection.client()?, after, limit)
    }

    fn last_seq(&mut self) -> Result<u64, StoreError> {
        tree_size(self.connection.client()?)
    }

    fn load_verified_each_from(
        &mut self,
        verifier: &NoteVerifier,
        from: Option<crate::TreeHead>,
        each: &mut dyn FnMut(Vec<EventRecord>) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        // One consistent view: other replicas keep appending while this one checks.
        let client = self.connection.client()?;
        let mut view =
            client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start()?;
        load_checked(&PgSource::new(&mut view), verifier, from, each)?;
        view.commit()?;
        Ok(())
    }

    fn stored_root(&mut self, size: u64) -> Result<Option<portcullis_translog::Hash>, StoreError> {
        let client = self.connection.client()?;
        crate::log::stored_root(&PgSource::new(client), size)
    }

    fn sign_checkpoint(&mut self, signer: &NoteSigner, now: Timestamp) -> Result<Option<StoredCheckpoint>, StoreError> {
        let lock = self.location.lock_name("sequencer");
        // Connected first, so the generation is the connection's that takes the lock.
        self.connection.client()?;
        let generation = self.connection.generation;
        if self.sequencer_of != Some(generation) {
            // Session-scoped: held while this connection lives, released when the replica dies.
            let client = self.connection.client()?;
            let taken: bool = client.query_one("SELECT pg_try_advisory_lock(hashtext($1))", &[&lock])?.try_get(0)?;
            if !taken {
                self.sequencer_of = None;
                return Ok(None);
            }
            self.sequencer_of = Some(generation);
        }
        let client = self.connection.client()?;
        let mut transaction = client.transaction()?;
        let Some(signed) = next_checkpoint(&PgSource::new(&mut transaction), signer)? else {
            return Ok(None);
        };
        let size = i64::try_from(signed.size).unwrap_or(i64::MAX);
        transaction.execute(
            "INSERT INTO checkpoints (size, note, signed_at) VALUES ($1, $2, $3) ON CONFLICT (size) DO NOTHING",
            &[&size, &signed.note, &now.as_millis()],
        )?;
        transaction.commit()?;
        Ok(Some(signed))
    }

    fn store_cosigned(&mut self, checkpoint: &StoredCheckpoint) -> Result<(), StoreError> {
        let size = i64::try_from(checkpoint.size).unwrap_or(i64::MAX);
        self.connection
            .client()?
            .execute("UPDATE checkpoints SET note = $2 WHERE size = $1", &[&size, &checkpoint.note])?;
        Ok(())
    }

    fn is_sequencer(&self) -> bool {
        self.sequencer_of.is_some_and(|generation| generation == self.connection.generation)
    }

    fn change_feed(&self) -> Result<Option<Box<dyn ChangeFeed>>, StoreError> {
        Ok(Some(Box::new(PgFeed { location: self.location.clone(), client: None })))
    }
}

/// Tells listening replicas that events up to the last of `records` exist (sent on commit).
fn notify(client: &mut impl GenericClient, channel: &str, records: &[EventRecord]) -> Result<(), StoreError> {
    let last = records.last().map_or(0, |record| record.seq).to_string();
    client.execute("SELECT pg_notify($1, $2)", &[&channel, &last])?;
    Ok(())
}

/// `LISTEN` on the schema's channel, on a connection of its own.
struct PgFeed {
    location: PgLocation,
    client: Option<Client>,
}

impl ChangeFeed for PgFeed {
    fn wait(&mut self, timeout: Duration) -> Result<bool, StoreError> {
        let client = match &mut self.client {
            Some(client) if !client.is_closed() => client,
            _ => {
                self.client = None;
                let mut client = self.location.connect()?;
                client.batch_execute(&format!("LISTEN \"{}\"", self.location.channel()))?;
                self.client = Some(client);
                // (Re)connected: whatever was notified while there was no listener is unknown.
                return Ok(true);
            }
        };
        let first = client.notifications().timeout_iter(timeout).next();
        match first {
            Ok(Some(_)) => {
                // Several commits may have notified: one read catches up with all of them.
                let mut notifications = client.notifications();
                while let Ok(Some(_)) = notifications.iter().next() {}
                Ok(true)
            }
            Err(err) => {
                self.client = None;
                Err(err.into())
            }
            Ok(None) if client.is_closed() => {
                self.client = None;
                Err(StoreError::Config("the PostgreSQL notification connection closed".to_owned()))
            }
            Ok(None) => Ok(false),
        }
    }
}
