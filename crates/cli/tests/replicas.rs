//! Several `portcullis serve` processes over one PostgreSQL database (the server this machine
//! runs; `PORTCULLIS_TEST_DATABASE_URL` overrides where), each test in a fresh schema:
//!
//! - a directive posted to one replica is enforced by the others;
//! - killing the checkpoint sequencer mid-write loses nothing acknowledged, no event is sequenced
//!   twice, and another replica takes over signing;
//! - cutting a replica's connection to the database makes it fail closed for gated models once
//!   past its staleness bound, and it recovers (and catches up) by itself when the connection
//!   returns.
//!
//! Propagation is waited for with a generous deadline, never timed: the 500 ms figure is
//! measured by `bench/propagation.py`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a panic is a test failure with a message"
)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

mod common;

use common::free_port;

const TOKEN: &str = "pcp_replicas_test_token";
const PASSWORD: &str = "correct horse battery staple";
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// How long anything that should happen "soon" may take before the test fails (generous: CI
/// machines are slow; the figure that matters is measured by the benchmark).
const DEADLINE: Duration = Duration::from_secs(30);

const CRITERIA: &str = r#"@id("kyc-verified")
permit (principal, action == Action::"invoke", resource)
when { principal has kyc && principal.kyc == "verified" };"#;

const DIRECTIVE: &str = r#"@id("us-nationals-only")
forbid (principal, action, resource)
unless { context has end_user && context.end_user has nationalities && context.end_user.nationalities.contains("US") };"#;

fn database_url() -> String {
    std::env::var("PORTCULLIS_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| DEFAULT_URL.into())
}

/// One `portcullis serve` process.
struct Replica {
    child: Option<Child>,
    base: String,
    port: u16,
}

impl Replica {
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Replicas sharing a fresh schema, a log signing key and an operator token.
struct Cluster {
    dir: tempfile::TempDir,
    schema: String,
    client: reqwest::Client,
    replicas: Vec<Replica>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for replica in &mut self.replicas {
            replica.kill();
        }
        let (url, schema) = (database_url(), self.schema.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(mut client) = postgres::Client::connect(&url, postgres::NoTls) {
                let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"));
            }
        })
        .join();
    }
}

impl Cluster {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        Self {
            dir: tempfile::tempdir().unwrap(),
            schema: format!("replicas_{name}_{}_{nanos}", std::process::id()),
            client: reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap(),
            replicas: Vec::new(),
        }
    }

    /// Starts a replica on `database_url` (the shared server, or a proxy in front of it) and
    /// waits until it is ready. Returns its index.
    async fn start(&mut self, database_url: &str) -> usize {
        let index = self.replicas.len();
        let port = free_port();
        let config = self.write_config(index, port, database_url);
        let log = std::fs::File::create(self.dir.path().join(format!("r{index}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["serve", "--config"])
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let replica = Replica { child: Some(child), base: format!("http://127.0.0.1:{port}"), port };
        self.replicas.push(replica);
        self.wait_until(index, "ready", |status, _| status == 200).await;
        index
    }

    fn write_config(&self, index: usize, port: u16, database_url: &str) -> PathBuf {
        let path = self.dir.path().join(format!("r{index}.toml"));
        std::fs::write(
            &path,
            format!(
                r#"listen = "127.0.0.1:{port}"
data_dir = "{data}"
database_url = "{database_url}"
database_schema = "{schema}"
demo_upstream = true

[replication]
heartbeat_ms = 100
staleness_bound_ms = 1500

[transparency]
origin = "replicas.test/log"
signing_key_file = "{key}"
checkpoint_interval_ms = 100

[[provider_tokens]]
name = "ops"
token = "{TOKEN}"
"#,
                data = self.dir.path().join(format!("r{index}")).display(),
                schema = self.schema,
                key = self.dir.path().join("log-key").display(),
            ),
        )
        .unwrap();
        path
    }

    fn base(&self, index: usize) -> &str {
        &self.replicas[index].base
    }

    /// Polls `/readyz` of a replica until `done(status, body)`.
    async fn wait_until(&self, index: usize, what: &str, done: impl Fn(u16, &Value) -> bool) {
        let started = std::time::Instant::now();
        loop {
            if let Ok(response) = self.client.get(format!("{}/readyz", self.base(index))).send().await {
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                if done(status, &body) {
                    return;
                }
            }
            assert!(
                started.elapsed() < DEADLINE,
                "replica {index} was not {what} within {DEADLINE:?}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every replica's log output, for a failure message.
    fn logs(&self) -> String {
        (0..self.replicas.len())
            .map(|i| {
                let text = std::fs::read_to_string(self.dir.path().join(format!("r{i}.log"))).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect();
                format!("--- replica {i} ---\n{}", tail.join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    async fn admin(
        &self,
        index: usize,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base(index))).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, index: usize, path: &str, token: &str, body: Value) -> Value {
        let (status, answer) = self.admin(index, reqwest::Method::POST, path, token, Some(body)).await;
        assert!(status == 200 || status == 201, "POST {path} on replica {index}: {status} {answer}");
        answer
    }

    /// An authority with an official, customer `acme` (KYC verified) with a key, and a model in
    /// general availability whose upstream is replica `upstream`'s demo responder. Returns the
    /// official's token and acme's key.
    async fn seed(&self, on: usize, model: &str, upstream: usize, stages: &[&str]) -> (String, String) {
        self.post(on, "/admin/v1/authorities", TOKEN, json!({ "id": "bis", "name": "Bureau" })).await;
        let official =
            self.post(on, "/admin/v1/authorities/bis/officials", TOKEN, json!({ "official": "j.doe" })).await;
        let official = official["token"].as_str().unwrap().to_owned();
        self.post(
            on,
            "/admin/v1/customers",
            TOKEN,
            json!({ "id": "acme", "name": "Acme", "attributes": { "country": "US", "kyc": "verified" } }),
        )
        .await;
        let key = self.post(on, "/admin/v1/customers/acme/keys", TOKEN, json!({ "label": "t" })).await;
        let key = key["key"].as_str().unwrap().to_owned();
        self.add_model(on, model, upstream, &official, stages).await;
        (official, key)
    }

    async fn add_model(&self, on: usize, model: &str, upstream: usize, official: &str, stages: &[&str]) {
        let base_url = format!("http://127.0.0.1:{}/demo-upstream/v1", self.replicas[upstream].port);
        self.post(on, "/admin/v1/models", TOKEN, json!({ "name": model, "upstream": { "base_url": base_url } })).await;
        self.post(
            on,
            &format!("/admin/v1/models/{model}/criteria"),
            TOKEN,
            json!({ "text": "KYC", "policies": CRITERIA }),
        )
        .await;
        let (status, body) = self
            .admin(
                on,
                reqwest::Method::PUT,
                &format!("/admin/v1/models/{model}/procedure"),
                TOKEN,
                Some(json!({ "signoff_authorities": ["bis"] })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        for stage in stages {
            self.post(on, &format!("/admin/v1/models/{model}/stage"), TOKEN, json!({ "to": stage, "reason": "plan" }))
                .await;
            if *stage == "review" {
                self.post(
                    on,
                    &format!("/admin/v1/models/{model}/review"),
                    official,
                    json!({ "verdict": "clear", "reasons": "evaluation reviewed" }),
                )
                .await;
            }
        }
    }

    async fn issue_directive(&self, on: usize, official: &str, id: &str, model: &str) {
        self.post(
            on,
            "/admin/v1/directives",
            official,
            json!({
                "id": id,
                "legal_basis": "15 CFR 744",
                "description": "US nationals only",
                "models": [model],
                "policies": DIRECTIVE,
                "emergency_justification": "same-day order",
                "evidence": { "description": "assessment", "disclosure": "withheld", "reason": "classified" },
            }),
        )
        .await;
    }

    /// A chat completion on replica `index`: its status and body.
    async fn chat(&self, index: usize, key: &str, model: &str) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}/v1/chat/completions", self.base(index)))
            .bearer_auth(key)
            .json(&json!({ "model": model, "messages": [{ "role": "user", "content": "hi" }] }))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Sends the request until `done` holds for its answer.
    async fn chat_until(&self, index: usize, key: &str, model: &str, what: &str, done: impl Fn(u16, &Value) -> bool) {
        let started = std::time::Instant::now();
        loop {
            let (status, body) = self.chat(index, key, model).await;
            if done(status, &body) {
                return;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "replica {index}: `{model}` never {what}; last answer {status} {body}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A form's hidden CSRF token.
fn csrf_of(page: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let at = page.find(marker).unwrap_or_else(|| panic!("no csrf field: {page}")) + marker.len();
    page[at..at + page[at..].find('"').unwrap()].to_owned()
}

/// A `Set-Cookie` value's `name=value`.
fn set_cookie(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

impl Cluster {
    fn browser() -> reqwest::Client {
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
    }

    /// Signs in through replica `index`'s form; returns the session cookie (`name=value`).
    async fn sign_in(&self, index: usize, login: &str) -> String {
        let answer = self.try_sign_in(index, login, PASSWORD).await;
        assert_eq!(answer.status().as_u16(), 303, "sign-in refused");
        set_cookie(&answer, "portcullis_session")
    }

    /// Posts replica `index`'s sign-in form; the answer.
    async fn try_sign_in(&self, index: usize, login: &str, password: &str) -> reqwest::Response {
        let browser = Self::browser();
        let form = browser.get(format!("{}/login", self.base(index))).send().await.unwrap();
        let login_cookie = set_cookie(&form, "portcullis_login");
        let csrf = csrf_of(&form.text().await.unwrap());
        browser
            .post(format!("{}/login", self.base(index)))
            .header(reqwest::header::COOKIE, login_cookie)
            .header(reqwest::header::ORIGIN, self.base(index))
            .form(&[("csrf", csrf.as_str()), ("login", login), ("password", password)])
            .send()
            .await
            .unwrap()
    }

    /// `GET /portal` on replica `index` with a session cookie: status and body.
    async fn page(&self, index: usize, session: &str) -> (u16, String) {
        let answer = Self::browser()
            .get(format!("{}/portal", self.base(index)))
            .header(reqwest::header::COOKIE, session)
            .send()
            .await
            .unwrap();
        (answer.status().as_u16(), answer.text().await.unwrap())
    }

    /// Signs out through replica `index`, with the CSRF token of a page of the session.
    async fn sign_out(&self, index: usize, session: &str, page: &str) {
        let answer = Self::browser()
            .post(format!("{}/logout", self.base(index)))
            .header(reqwest::header::COOKIE, session)
            .header(reqwest::header::ORIGIN, self.base(index))
            .form(&[("csrf", csrf_of(page))])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 303, "sign-out refused");
    }
}

#[tokio::test]
async fn a_directive_posted_to_one_replica_is_enforced_by_every_replica() {
    let mut cluster = Cluster::new("directive");
    let url = database_url();
    // The first replica creates the shared log key; the others then read it.
    cluster.start(&url).await;
    cluster.start(&url).await;
    cluster.start(&url).await;
    let (official, key) = cluster.seed(0, "frontier", 0, &["review", "general"]).await;
    for replica in 0..3 {
        cluster.chat_until(replica, &key, "frontier", "was served", |status, _| status == 200).await;
    }
    let (_, ready) = cluster.admin(1, reqwest::Method::GET, "/readyz", TOKEN, None).await;
    assert_eq!(ready["store"], "shared", "{ready}");

    // Issued on replica 2; acme's requests carry no attestation, so they fall under it.
    cluster.issue_directive(2, &official, "EC-1", "frontier").await;
    for replica in 0..3 {
        cluster
            .chat_until(replica, &key, "frontier", "was refused by EC-1", |status, body| {
                status == 403 && body["error"]["code"] == "directive_in_force" && body.to_string().contains("EC-1")
            })
            .await;
    }
    // Lifted on replica 0: served again everywhere.
    cluster.post(0, "/admin/v1/directives/EC-1/lift", &official, json!({ "reason": "order withdrawn" })).await;
    for replica in 0..3 {
        cluster.chat_until(replica, &key, "frontier", "was served again", |status, _| status == 200).await;
    }

    // A person signed in on one replica is signed in on all, and signing out ends it everywhere.
    let (status, body) = cluster
        .admin(
            0,
            reqwest::Method::POST,
            "/admin/v1/accounts",
            TOKEN,
            Some(json!({ "login": "acme-ops", "password": PASSWORD, "holder": { "role": "customer", "customer": "acme" } })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let session = cluster.sign_in(1, "acme-ops").await;
    let (status, page) = cluster.page(2, &session).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("acme"), "{page}");
    cluster.sign_out(2, &session, &page).await;
    let (status, _) = cluster.page(1, &session).await;
    assert_eq!(status, 303, "the session outlived its sign-out on another replica");
    // Failed sign-ins add up across replicas: five wrong passwords spread over the three lock
    // the login on all of them, even for the right password.
    for replica in [0, 1, 2, 0] {
        assert_eq!(cluster.try_sign_in(replica, "acme-ops", "wrong password").await.status().as_u16(), 401);
    }
    assert_eq!(cluster.try_sign_in(1, "acme-ops", "wrong password").await.status().as_u16(), 429);
    for replica in 0..3 {
        let answer = cluster.try_sign_in(replica, "acme-ops", PASSWORD).await;
        assert_eq!(answer.status().as_u16(), 429, "replica {replica} let a locked login sign in");
    }

    // One log: every replica comes to serve the same checkpoint, covering every event.
    let (_, events) = cluster.admin(1, reqwest::Method::GET, "/admin/v1/events?limit=1000", TOKEN, None).await;
    let last = events["events"].as_array().unwrap().last().unwrap()["seq"].as_u64().unwrap();
    for replica in 0..3 {
        cluster.wait_until(replica, "serving the checkpoint", |_, body| body["log_checkpoint_size"] == last).await;
    }
}

#[tokio::test]
async fn killing_the_sequencer_mid_write_loses_nothing_and_another_takes_over() {
    let mut cluster = Cluster::new("sequencer");
    let url = database_url();
    for _ in 0..3 {
        cluster.start(&url).await;
    }
    cluster.post(0, "/admin/v1/authorities", TOKEN, json!({ "id": "bis", "name": "Bureau" })).await;
    // Whoever signs checkpoints says so.
    let mut sequencer = None;
    let started = std::time::Instant::now();
    while sequencer.is_none() {
        for replica in 0..3 {
            let (_, ready) = cluster.admin(replica, reqwest::Method::GET, "/readyz", TOKEN, None).await;
            if ready["sequencer"] == true {
                sequencer = Some(replica);
            }
        }
        assert!(started.elapsed() < DEADLINE, "no replica became the sequencer\n{}", cluster.logs());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sequencer = sequencer.unwrap();

    // Many writers at once on the sequencer; kill it once some are acknowledged and the rest
    // are in flight (some mid-transaction).
    let acks = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for i in 0..300 {
        let client = cluster.client.clone();
        let base = cluster.base(sequencer).to_owned();
        let acks = acks.clone();
        writers.push(tokio::spawn(async move {
            let response = client
                .post(format!("{base}/admin/v1/customers"))
                .bearer_auth(TOKEN)
                .json(&json!({ "id": format!("c{i}"), "name": "n" }))
                .send()
                .await;
            let acknowledged = matches!(response, Ok(r) if r.status().as_u16() == 201);
            if acknowledged {
                acks.fetch_add(1, Ordering::SeqCst);
            }
            acknowledged.then(|| format!("c{i}"))
        }));
    }
    while acks.load(Ordering::SeqCst) < 30 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    cluster.replicas[sequencer].kill();
    let mut acknowledged = Vec::new();
    for writer in writers {
        if let Some(id) = writer.await.unwrap() {
            acknowledged.push(id);
        }
    }
    eprintln!("acknowledged {} of 300 writes before SIGKILL", acknowledged.len());
    let survivor = (sequencer + 1) % 3;
    let other = (sequencer + 2) % 3;

    // Writes keep working on the survivors.
    cluster.post(survivor, "/admin/v1/customers", TOKEN, json!({ "id": "after", "name": "n" })).await;
    cluster
        .wait_until(other, "caught up", |_, body| {
            body["customers"].as_u64().is_some_and(|n| n > acknowledged.len() as u64)
        })
        .await;
    let (_, listed) = cluster.admin(other, reqwest::Method::GET, "/admin/v1/customers", TOKEN, None).await;
    let present: Vec<&str> =
        listed["customers"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    for id in &acknowledged {
        assert!(present.contains(&id.as_str()), "acknowledged customer `{id}` was lost");
    }

    // One sequence, no gaps, nothing twice.
    let (_, events) = cluster.admin(survivor, reqwest::Method::GET, "/admin/v1/events?limit=1000", TOKEN, None).await;
    let events = events["events"].as_array().unwrap();
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event["seq"].as_u64().unwrap(), i as u64 + 1, "the sequence has a gap or a repeat");
    }
    let created: Vec<&str> = events
        .iter()
        .filter(|e| e["event"]["kind"] == "customer_created")
        .map(|e| e["event"]["customer"].as_str().unwrap())
        .collect();
    let mut unique = created.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), created.len(), "a customer was created twice");
    let last = events.len() as u64;

    // Another replica takes over signing, and its checkpoint covers everything, verified by the
    // same verifier a watchdog runs.
    for replica in [survivor, other] {
        cluster
            .wait_until(replica, "serving a checkpoint of every event", |_, body| body["log_checkpoint_size"] == last)
            .await;
    }
    let (_, ready_a) = cluster.admin(survivor, reqwest::Method::GET, "/readyz", TOKEN, None).await;
    let (_, ready_b) = cluster.admin(other, reqwest::Method::GET, "/readyz", TOKEN, None).await;
    assert!(ready_a["sequencer"] == true || ready_b["sequencer"] == true, "{ready_a} {ready_b}");
    let (_, log) = cluster.admin(survivor, reqwest::Method::GET, "/admin/v1/log", TOKEN, None).await;
    let verifier_key = log["verifier_key"].as_str().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["verify", "--key", verifier_key, "--url", &format!("{}/log", cluster.base(other))])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "verify failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A TCP proxy in front of PostgreSQL that the test can cut (every connection closed, new ones
/// closed on arrival) and restore.
struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    generation: tokio::sync::watch::Sender<u64>,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let (generation, watch) = tokio::sync::watch::channel(0_u64);
        let accepting = cut.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { continue };
                if accepting.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let mut watch = watch.clone();
                // Only a cut after this connection was made ends it.
                watch.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = watch.changed() => {}
                    }
                });
            }
        });
        Self { port, cut, generation }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_replica_cut_off_from_the_database_fails_closed_for_gated_models_and_recovers() {
    let mut cluster = Cluster::new("cut");
    let url = database_url();
    let config: postgres::Config = url.parse().unwrap();
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let proxy = Proxy::start(format!("{host}:{port}")).await;
    let proxied = url.replacen(&format!(":{port}/"), &format!(":{}/", proxy.port), 1);
    assert_ne!(proxied, url, "the test database URL must name its port");

    cluster.start(&url).await;
    let cut = cluster.start(&proxied).await;
    // `frontier` in preview (granted to acme), `workhorse` generally available without
    // directives; both answered by the cut replica's own demo upstream.
    let (official, key) = cluster.seed(0, "frontier", cut, &["review", "preview"]).await;
    cluster
        .post(0, "/admin/v1/grants", &official, json!({ "customer": "acme", "model": "frontier", "reason": "ok" }))
        .await;
    cluster.add_model(0, "workhorse", cut, &official, &["review", "general"]).await;
    cluster.chat_until(cut, &key, "frontier", "was served", |status, _| status == 200).await;
    cluster.chat_until(cut, &key, "workhorse", "was served", |status, _| status == 200).await;

    proxy.cut();
    cluster.wait_until(cut, "stale", |status, body| status == 503 && body["status"] == "stale").await;
    // Gated: refused, saying why. Not gated: still served.
    let (status, body) = cluster.chat(cut, &key, "frontier").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "governance_state_stale", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("cannot confirm"), "{body}");
    let (status, body) = cluster.chat(cut, &key, "workhorse").await;
    assert_eq!(status, 200, "{body}");
    let metrics =
        cluster.client.get(format!("{}/metrics", cluster.base(cut))).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("portcullis_replica_stale 1"), "{metrics}");

    // Meanwhile another replica issues a directive on `workhorse`.
    cluster.issue_directive(0, &official, "EC-9", "workhorse").await;

    proxy.restore();
    cluster.wait_until(cut, "ready again", |status, body| status == 200 && body["status"] == "ready").await;
    // It caught up: the directive applies, and the preview model is served again.
    let (status, body) = cluster.chat(cut, &key, "workhorse").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "directive_in_force", "{body}");
    let (status, body) = cluster.chat(cut, &key, "frontier").await;
    assert_eq!(status, 200, "{body}");
}
