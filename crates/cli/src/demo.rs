//! `portcullis demo`: the gateway on SQLite with the brief's story seeded, a built-in demo
//! upstream, and everything needed to try it printed and written to `<data-dir>/demo.json`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use portcullis_core::attestation::{ATTESTATION_HEADER, AttestationClaims, sign};
use portcullis_core::{AttesterId, Timestamp};
use portcullis_gateway::Application;
use portcullis_gateway::config::{AttesterSettings, ProviderToken, Settings, TransparencySettings};
use portcullis_gateway::demo::{self, DemoCustomer};
use rand::RngCore;

/// The demo attester's id.
const ATTESTER: &str = "idv-demo";

/// How long the printed sample attestations stay valid.
const SAMPLE_VALIDITY_MILLIS: i64 = 30 * 24 * 3_600_000;

/// Arguments of `demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Directory for the demo database and `demo.json`; reused across runs.
    #[arg(long, default_value = "portcullis-demo")]
    data_dir: PathBuf,
}

/// Secrets the demo keeps between runs (in `demo.json`: this is a demo).
struct DemoSecrets {
    provider_token: String,
    attester_seed: [u8; 32],
    authority_token: Option<String>,
    customers: Vec<DemoCustomer>,
}

/// Runs the demo until Ctrl-C.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    crate::init_tracing(false);
    let demo_json = args.data_dir.join("demo.json");
    let mut secrets = load_secrets(&demo_json)?;
    if secrets.is_none() && args.data_dir.join("portcullis.db").exists() {
        anyhow::bail!(
            "`{}` holds a database but no demo.json; pass an empty --data-dir for the demo",
            args.data_dir.display()
        );
    }
    let fresh = secrets.is_none();
    let secrets = secrets.get_or_insert_with(|| {
        let mut attester_seed = [0_u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut attester_seed);
        DemoSecrets {
            provider_token: portcullis_gateway::routes::admin::new_secret("pcp_"),
            attester_seed,
            authority_token: None,
            customers: Vec::new(),
        }
    });
    let attester_key = SigningKey::from_bytes(&secrets.attester_seed);
    let settings = Settings {
        listen: args.listen.clone(),
        data_dir: args.data_dir.clone(),
        provider_tokens: vec![ProviderToken {
            name: "demo-operator".to_owned(),
            token: secrets.provider_token.clone().into(),
        }],
        attesters: vec![AttesterSettings {
            id: ATTESTER.to_owned(),
            public_key: base64::engine::general_purpose::STANDARD.encode(attester_key.verifying_key().to_bytes()),
            not_after: None,
        }],
        demo_upstream: true,
        transparency: TransparencySettings {
            // Stable across runs (the key name is the origin), whatever port the demo uses.
            origin: Some("portcullis-demo.localhost/log".to_owned()),
            ..TransparencySettings::default()
        },
        ..Settings::default()
    };
    crate::runtime()?.block_on(async move {
        let app = Application::build(settings).await?;
        let gateway_url = format!("http://{}", app.address());
        let upstream = format!("{gateway_url}/demo-upstream/v1");
        if fresh || app.engine().snapshot().state().last_seq == 0 {
            let world = demo::seed(app.engine(), &upstream).await?;
            secrets.customers = world.customers;
            secrets.authority_token = Some(world.authority_token);
        } else {
            demo::repoint_upstreams(app.engine(), &upstream).await?;
        }
        let now = app.engine().now();
        let mut json = demo_json_value(secrets, &attester_key, &gateway_url, now);
        if let Some(map) = json.as_object_mut() {
            let log = app.transparency();
            map.insert(
                "transparency_log".to_owned(),
                serde_json::json!({
                    "origin": log.origin(),
                    "verifier_key": log.verifier_key(),
                    "checkpoint_url": format!("{gateway_url}/log/checkpoint"),
                    "verify": format!("portcullis verify --url {gateway_url}/log --key '{}'", log.verifier_key()),
                }),
            );
        }
        let text = serde_json::to_string_pretty(&json).context("failed to render demo.json")?;
        std::fs::write(&demo_json, text + "\n")
            .with_context(|| format!("failed to write `{}`", demo_json.display()))?;
        print_summary(&json, &demo_json);
        app.run_until_stopped().await
    })
}

fn sample(attester_key: &SigningKey, nationalities: &[&str], now: Timestamp) -> anyhow::Result<String> {
    let end_user = serde_json::json!({ "nationalities": nationalities, "identity_verified": true });
    Ok(sign(
        &AttestationClaims {
            issuer: AttesterId::parse(ATTESTER)?,
            subject: format!("demo-user-{}", nationalities.join("-").to_lowercase()),
            audience: None,
            issued_at: now,
            expires_at: now.plus_millis(SAMPLE_VALIDITY_MILLIS),
            end_user: end_user.as_object().cloned().unwrap_or_default(),
        },
        attester_key,
    ))
}

fn demo_json_value(
    secrets: &DemoSecrets,
    attester_key: &SigningKey,
    gateway_url: &str,
    now: Timestamp,
) -> serde_json::Value {
    let us = sample(attester_key, &["US"], now).unwrap_or_default();
    let non_us = sample(attester_key, &["FR"], now).unwrap_or_default();
    let customers: Vec<serde_json::Value> = secrets
        .customers
        .iter()
        .map(|c| serde_json::json!({ "id": c.id, "name": c.name, "api_key": c.api_key, "story": c.story }))
        .collect();
    serde_json::json!({
        "notice": "Portcullis demo credentials: for trying the demo only",
        "base_url": format!("{gateway_url}/v1"),
        "gateway_url": gateway_url,
        "admin_openapi": format!("{gateway_url}/admin/v1/openapi.json"),
        "models": { "frontier": "preview; acme holds a grant; directive EC-2026-001 applies", "workhorse": "general" },
        "directive": demo::DIRECTIVE,
        "customers": customers,
        "attestation": {
            "header": header_name(),
            "attester": ATTESTER,
            "attester_public_key": base64::engine::general_purpose::STANDARD.encode(attester_key.verifying_key().to_bytes()),
            "us_national": us,
            "non_us_national": non_us,
            "valid_until": now.plus_millis(SAMPLE_VALIDITY_MILLIS).to_rfc3339(),
        },
        "role_tokens": {
            "provider": secrets.provider_token,
            "authority": { "authority": demo::AUTHORITY, "official": demo::OFFICIAL, "token": secrets.authority_token },
        },
        "demo_attester_seed_hex": portcullis_core::ids::hex(&secrets.attester_seed),
    })
}

/// The header name as clients usually spell it.
fn header_name() -> String {
    ATTESTATION_HEADER
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn load_secrets(path: &Path) -> anyhow::Result<Option<DemoSecrets>> {
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("failed to read `{}`", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("`{}` is not JSON", path.display()))?;
    let field = |pointer: &str| json.pointer(pointer).and_then(serde_json::Value::as_str).map(str::to_owned);
    let provider_token =
        field("/role_tokens/provider").with_context(|| format!("`{}` lacks the provider token", path.display()))?;
    let seed_hex =
        field("/demo_attester_seed_hex").with_context(|| format!("`{}` lacks the attester seed", path.display()))?;
    let attester_seed =
        decode_seed(&seed_hex).with_context(|| format!("`{}` has a malformed attester seed", path.display()))?;
    let customers = json
        .get("customers")
        .and_then(serde_json::Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|c| {
                    Some(DemoCustomer {
                        id: c.get("id")?.as_str()?.to_owned(),
                        name: c.get("name")?.as_str()?.to_owned(),
                        api_key: c.get("api_key")?.as_str()?.to_owned(),
                        story: c.get("story")?.as_str()?.to_owned(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(DemoSecrets {
        provider_token,
        attester_seed,
        authority_token: field("/role_tokens/authority/token"),
        customers,
    }))
}

fn decode_seed(hex: &str) -> Option<[u8; 32]> {
    let mut seed = [0_u8; 32];
    if hex.len() != 64 {
        return None;
    }
    for (i, byte) in seed.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(seed)
}

fn print_summary(json: &serde_json::Value, demo_json: &Path) {
    let get = |pointer: &str| json.pointer(pointer).and_then(serde_json::Value::as_str).unwrap_or("");
    println!();
    println!("Portcullis demo is running at {}", get("/gateway_url"));
    println!("OpenAI base URL: {}", get("/base_url"));
    println!();
    if let Some(customers) = json.get("customers").and_then(serde_json::Value::as_array) {
        for c in customers {
            let field = |name: &str| c.get(name).and_then(serde_json::Value::as_str).unwrap_or("");
            println!("  customer {:<8} key {}  ({})", field("id"), field("api_key"), field("story"));
        }
    }
    println!();
    println!("Directive {} cuts `frontier` for end users not attested as US nationals.", get("/directive"));
    println!("Send an attestation in the `{}` header:", get("/attestation/header"));
    println!("  US national:     {}", get("/attestation/us_national"));
    println!("  non-US national: {}", get("/attestation/non_us_national"));
    println!();
    println!("Try:");
    println!(
        "  curl -s {}/chat/completions -H 'Authorization: Bearer {}' -H '{}: {}' -H 'Content-Type: application/json' -d '{{\"model\":\"frontier\",\"messages\":[{{\"role\":\"user\",\"content\":\"hi\"}}]}}'",
        get("/base_url"),
        json.pointer("/customers/0/api_key").and_then(serde_json::Value::as_str).unwrap_or(""),
        get("/attestation/header"),
        get("/attestation/us_national"),
    );
    println!();
    println!("Everything above (and the role tokens) is in {}", demo_json.display());
    println!("Press Ctrl-C to stop.");
}
