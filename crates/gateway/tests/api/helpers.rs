//! Starts the real gateway on port 0 with a fresh database and a mock upstream.
//!
//! The database is a fresh SQLite file, or, when `PORTCULLIS_TEST_DATABASE_URL` is set (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`), a fresh schema of that PostgreSQL database,
//! dropped when the test ends: the same suite runs against both backends.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Once};

use base64::Engine as _;
use ed25519_dalek::SigningKey;
use portcullis_core::attestation::{AttestationClaims, sign};
use portcullis_core::{AttesterId, Timestamp};
use portcullis_gateway::Application;
use portcullis_gateway::config::{AttesterSettings, ProviderToken, Settings};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::mock_upstream::MockUpstream;

static TRACING: Once = Once::new();

/// The system clock plus an offset the test moves forward: deadlines and review clocks are
/// tested by advancing time, never by sleeping.
#[derive(Default)]
pub struct TestClock {
    offset_millis: AtomicI64,
}

impl TestClock {
    /// Moves the gateway's clock forward.
    pub fn advance_days(&self, days: i64) {
        self.offset_millis.fetch_add(days * 86_400_000, Ordering::SeqCst);
    }

    /// Moves the gateway's clock forward by seconds.
    pub fn advance_secs(&self, secs: i64) {
        self.offset_millis.fetch_add(secs * 1000, Ordering::SeqCst);
    }
}

impl portcullis_gateway::engine::Clock for TestClock {
    fn now(&self) -> Timestamp {
        portcullis_gateway::engine::SystemClock.now().plus_millis(self.offset_millis.load(Ordering::SeqCst))
    }
}

/// The attester the test gateway trusts.
pub const ATTESTER: &str = "idv-test";

pub fn attester_key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    pub provider_token: String,
    pub client: reqwest::Client,
    pub upstream: MockUpstream,
    /// Removed when the test ends.
    _data_dir: tempfile::TempDir,
    /// The gateway's clock.
    pub clock: Arc<TestClock>,
    settings: Settings,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts an app after letting the test adjust the settings.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    TRACING.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            tracing_subscriber::fmt().with_env_filter("info").init();
        }
    });
    let data_dir = tempfile::tempdir().unwrap();
    let provider_token = format!("pcp_test_{}", std::process::id());
    let mut settings = Settings {
        listen: "127.0.0.1:0".to_owned(),
        data_dir: data_dir.path().to_owned(),
        provider_tokens: vec![ProviderToken { name: "ops".to_owned(), token: provider_token.clone().into() }],
        attesters: vec![AttesterSettings {
            id: ATTESTER.to_owned(),
            public_key: base64::engine::general_purpose::STANDARD.encode(attester_key().verifying_key().to_bytes()),
            not_after: None,
        }],
        ..Settings::default()
    };
    if let Some(url) = postgres_url() {
        settings.database_url = Some(url.into());
        settings.database_schema = Some(fresh_schema());
    }
    adjust(&mut settings);
    let upstream = MockUpstream::start().await;
    let mut app = TestApp {
        address: String::new(),
        provider_token,
        client: reqwest::Client::new(),
        upstream,
        _data_dir: data_dir,
        clock: Arc::default(),
        settings,
        stop: None,
        server: None,
    };
    app.start().await;
    app
}

impl TestApp {
    async fn start(&mut self) {
        let application = Application::build_with_clock(self.settings.clone(), self.clock.clone()).await.unwrap();
        self.address = format!("http://{}", application.address());
        let (stop, stopped) = oneshot::channel::<()>();
        self.stop = Some(stop);
        self.server = Some(tokio::spawn(application.run_until(async move {
            let _ = stopped.await;
        })));
    }

    /// Stops the server (graceful shutdown) and waits until it has stopped.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }

    /// Stops the server and starts a new one on the same data directory (a new port).
    pub async fn restart(&mut self) {
        self.stop().await;
        self.start().await;
    }

    /// The settings the app runs with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The settings the next [`TestApp::restart`] runs with.
    pub fn settings_mut(&mut self) -> &mut Settings {
        &mut self.settings
    }

    /// A metric's value from `/metrics` (an unlabelled gauge or counter), 0 when absent.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self.client.get(self.url("/metrics")).send().await.unwrap().text().await.unwrap();
        text.lines()
            .filter_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .find_map(|value| value.trim().parse().ok())
            .unwrap_or(0.0)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// An admin call; returns status and JSON body.
    pub async fn admin(&self, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.client.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let json = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, json)
    }

    /// A provider POST that must succeed.
    pub async fn provider_post(&self, path: &str, body: Value) -> Value {
        let (status, json) = self.admin(reqwest::Method::POST, path, &self.provider_token, Some(body)).await;
        assert!((200..300).contains(&status), "POST {path}: {status} {json}");
        json
    }

    /// A chat completion as a customer; returns status and JSON body.
    pub async fn chat(&self, key: &str, model: &str, attestation: Option<&str>, prompt: &str) -> (u16, Value) {
        let mut request = self
            .client
            .post(self.url("/v1/chat/completions"))
            .bearer_auth(key)
            .json(&json!({ "model": model, "messages": [{ "role": "user", "content": prompt }] }));
        if let Some(token) = attestation {
            request = request.header("Portcullis-Attestation", token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.unwrap_or(Value::Null))
    }

    /// Model ids `GET /v1/models` lists for a key.
    pub async fn listed_models(&self, key: &str, attestation: Option<&str>) -> Vec<String> {
        let mut request = self.client.get(self.url("/v1/models")).bearer_auth(key);
        if let Some(token) = attestation {
            request = request.header("Portcullis-Attestation", token);
        }
        let json: Value = request.send().await.unwrap().json().await.unwrap();
        json["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(schema) = self.settings.database_schema.clone() {
            let _ = self.on_postgres(move |client| {
                client.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            });
        }
    }
}

/// The PostgreSQL server to test against, if any.
pub fn postgres_url() -> Option<String> {
    std::env::var("PORTCULLIS_TEST_DATABASE_URL").ok().filter(|url| !url.is_empty())
}

/// A schema name no other test (or run) uses.
fn fresh_schema() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("t_{}_{n}_{nanos}", std::process::id())
}

impl TestApp {
    /// Runs a statement on the app's database behind its back (tamper tests), whichever the
    /// backend.
    pub fn execute_sql(&self, sql: &str) {
        let statement = sql.to_owned();
        match self.on_postgres(move |client| client.batch_execute(&statement)) {
            Some(done) => done.unwrap(),
            None => rusqlite::Connection::open(self.settings.database_path()).unwrap().execute_batch(sql).unwrap(),
        }
    }

    /// Everything the database holds as bytes (to check that no secret is stored in clear).
    pub fn stored_bytes(&self) -> Vec<u8> {
        let records = self.on_postgres(|client| {
            let rows = client.query("SELECT record FROM events ORDER BY seq", &[])?;
            Ok(rows.iter().flat_map(|row| row.get::<_, &str>(0).as_bytes().to_vec()).collect::<Vec<u8>>())
        });
        match records {
            Some(records) => records.unwrap(),
            None => {
                let path = self.settings.database_path();
                let mut out = std::fs::read(&path).unwrap();
                out.extend(std::fs::read(path.with_extension("db-wal")).unwrap_or_default());
                out
            }
        }
    }

    /// Runs `f` on a connection to the app's PostgreSQL schema (on its search path), or
    /// returns `None` when the app runs on SQLite. On a thread of its own: the sync client runs
    /// its own runtime, which must not start on the test's.
    fn on_postgres<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error> + Send + 'static,
    ) -> Option<Result<T, postgres::Error>> {
        let (url, schema) = (postgres_url()?, self.settings.database_schema.clone()?);
        let run = move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
            client.batch_execute(&format!("SET search_path TO \"{schema}\""))?;
            f(&mut client)
        };
        Some(std::thread::spawn(run).join().unwrap())
    }
}

/// An attestation for an end user with these nationalities, valid for a day.
pub fn attestation(nationalities: &[&str], audience: Option<&str>) -> String {
    let now = Timestamp::from_millis(
        i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap(),
    );
    attestation_at(nationalities, audience, now)
}

/// An attestation issued at `now` (the gateway's clock, when a test moves it), valid for a day.
pub fn attestation_at(nationalities: &[&str], audience: Option<&str>, now: Timestamp) -> String {
    let end_user = json!({ "nationalities": nationalities });
    sign(
        &AttestationClaims {
            issuer: AttesterId::parse(ATTESTER).unwrap(),
            subject: "end-user-1".to_owned(),
            audience: audience.map(str::to_owned),
            issued_at: now,
            expires_at: now.plus_millis(86_400_000),
            end_user: end_user.as_object().unwrap().clone(),
        },
        &attester_key(),
    )
}

/// The story world, built through the admin API.
pub struct Story {
    pub acme_key: String,
    pub globex_key: String,
    pub official_token: String,
}

pub const CRITERIA: &str = r#"@id("kyc-verified")
permit (principal, action == Action::"invoke", resource)
when { principal has kyc && principal.kyc == "verified" };"#;

pub const DIRECTIVE: &str = r#"@id("us-nationals-only")
forbid (principal, action, resource)
unless { context has end_user && context.end_user has nationalities && context.end_user.nationalities.contains("US") };"#;

impl TestApp {
    /// `frontier` (preview, acme granted) and `workhorse` (general), both on the mock upstream,
    /// KYC criteria, and directive `EC-1` cutting non-US end users on `frontier`.
    pub async fn seed_story(&self) -> Story {
        self.provider_post("/admin/v1/authorities", json!({ "id": "bis", "name": "Bureau" })).await;
        let official = self.provider_post("/admin/v1/authorities/bis/officials", json!({ "official": "j.doe" })).await;
        let official_token = official["token"].as_str().unwrap().to_owned();
        let mut keys = Vec::new();
        for id in ["acme", "globex"] {
            self.provider_post(
                "/admin/v1/customers",
                json!({ "id": id, "name": id, "attributes": { "country": "US", "kyc": "verified" } }),
            )
            .await;
            let key = self.provider_post(&format!("/admin/v1/customers/{id}/keys"), json!({ "label": "test" })).await;
            keys.push(key["key"].as_str().unwrap().to_owned());
        }
        for (model, stages) in [("frontier", ["review", "preview"]), ("workhorse", ["review", "general"])] {
            self.provider_post(
                "/admin/v1/models",
                json!({ "name": model, "upstream": { "base_url": self.upstream.base_url } }),
            )
            .await;
            self.provider_post(
                &format!("/admin/v1/models/{model}/criteria"),
                json!({ "text": "KYC verified", "policies": CRITERIA }),
            )
            .await;
            let (status, body) = self
                .admin(
                    reqwest::Method::PUT,
                    &format!("/admin/v1/models/{model}/procedure"),
                    &self.provider_token,
                    Some(json!({ "signoff_authorities": ["bis"] })),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            for stage in stages {
                self.provider_post(
                    &format!("/admin/v1/models/{model}/stage"),
                    json!({ "to": stage, "reason": "plan" }),
                )
                .await;
                if stage == "review" {
                    let (status, body) = self
                        .admin(
                            reqwest::Method::POST,
                            &format!("/admin/v1/models/{model}/review"),
                            &official_token,
                            Some(json!({ "verdict": "clear", "reasons": "evaluation reviewed" })),
                        )
                        .await;
                    assert_eq!(status, 200, "{body}");
                }
            }
        }
        let (status, body) = self
            .admin(
                reqwest::Method::POST,
                "/admin/v1/grants",
                &official_token,
                Some(json!({ "customer": "acme", "model": "frontier", "reason": "approved" })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = self
            .admin(
                reqwest::Method::POST,
                "/admin/v1/directives",
                &official_token,
                Some(json!({
                    "id": "EC-1",
                    "legal_basis": "15 CFR 744",
                    "description": "US nationals only",
                    "models": ["frontier"],
                    "policies": DIRECTIVE,
                    "emergency_justification": "same-day order",
                    "evidence": { "description": "assessment", "disclosure": "withheld", "reason": "classified" },
                })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let mut keys = keys.into_iter();
        Story { acme_key: keys.next().unwrap(), globex_key: keys.next().unwrap(), official_token }
    }
}
