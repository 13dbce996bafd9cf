//! The transparency log, checked from outside: fetch the checkpoint and tiles over HTTP and
//! verify them with the verifier an outsider would use; receipts; an in-process witness
//! cosigns; a tampered database refuses to start.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use portcullis_translog::cosignature::CosignatureSigner;
use portcullis_translog::tile::{BundleId, tiles_for_size};
use portcullis_translog::verify::{TrustPolicy, fetch_entry, verify_checkpoint, verify_receipt_text, verify_tiles};
use portcullis_translog::witness::{
    AddCheckpointRequest, CONFLICT_CONTENT_TYPE, Witness, WitnessError, format_conflict_body,
    format_cosignature_response,
};
use portcullis_translog::{NoteSigner, NoteVerifier};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{TestApp, spawn_app_with};

const ORIGIN: &str = "test.portcullis.localhost/log";

/// Waits (bounded) until the served checkpoint covers every event so far.
async fn wait_for_checkpoint(app: &TestApp) -> String {
    let (_, ready) = app.admin(Method::GET, "/readyz", "", None).await;
    let wanted = ready["snapshot_seq"].as_u64().unwrap();
    for _ in 0..500 {
        let (_, ready) = app.admin(Method::GET, "/readyz", "", None).await;
        if ready["log_checkpoint_size"].as_u64().unwrap() >= wanted {
            let note = app.client.get(app.url("/log/checkpoint")).send().await.unwrap();
            assert_eq!(note.headers()[header::CACHE_CONTROL], "no-store");
            return note.text().await.unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no checkpoint covered event {wanted}");
}

async fn fetch_tiles(app: &TestApp, size: u64) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut tiles = std::collections::BTreeMap::new();
    for tile in tiles_for_size(size) {
        let mut paths = vec![tile.path()];
        if tile.level() == 0 {
            paths.push(BundleId::new(tile.index(), tile.width()).unwrap().path());
        }
        for path in paths {
            let response = app.client.get(app.url(&format!("/log/{path}"))).send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
            tiles.insert(path, response.bytes().await.unwrap().to_vec());
        }
    }
    tiles
}

#[tokio::test]
async fn the_log_verifies_from_outside() {
    let app = spawn_app_with(|s| s.transparency.checkpoint_interval_ms = 20).await;
    app.seed_story().await;
    let (_, info) = app.admin(Method::GET, "/admin/v1/log", "", None).await;
    let verifier = NoteVerifier::parse(info["verifier_key"].as_str().unwrap()).unwrap();
    let note = wait_for_checkpoint(&app).await;
    let checkpoint = verify_checkpoint(&TrustPolicy::new(verifier.clone()).unwrap(), &note).unwrap().checkpoint;
    let tiles = fetch_tiles(&app, checkpoint.size()).await;
    verify_tiles(&checkpoint, &tiles).unwrap();

    // Every entry is the public form of its event: versioned, and free of secrets.
    let mut kinds = Vec::new();
    for leaf in 0..checkpoint.size() {
        let entry = fetch_entry(&checkpoint, leaf, &tiles).unwrap();
        let text = String::from_utf8(entry).unwrap();
        assert!(!text.contains("pcl_") && !text.contains("pct_") && !text.contains("key_hash"), "{text}");
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["v"], 1);
        assert_eq!(value["seq"], leaf + 1);
        kinds.push(value["event"]["type"].as_str().unwrap().to_owned());
    }
    for kind in
        ["customer_created", "key_issued", "stage_changed", "criteria_published", "grant_issued", "directive_issued"]
    {
        assert!(kinds.iter().any(|k| k == kind), "{kind} not logged");
    }

    // The directive's receipt, as a customer would check it.
    let (_, directive) = app.admin(Method::GET, "/admin/v1/directives/EC-1", "", None).await;
    let seq = directive["log_index"].as_u64().unwrap() + 1;
    let (_, event) = app.admin(Method::GET, &format!("/admin/v1/events/{seq}"), "", None).await;
    let entry = event["entry"].as_str().unwrap().to_owned();
    let receipt =
        app.client.get(app.url(&format!("/admin/v1/events/{seq}/receipt"))).send().await.unwrap().text().await.unwrap();
    assert!(receipt.starts_with("c2sp.org/tlog-proof@v1"), "{receipt}");
    verify_receipt_text(&TrustPolicy::new(verifier.clone()).unwrap(), &receipt, entry.as_bytes()).unwrap();
    assert!(verify_receipt_text(&TrustPolicy::new(verifier).unwrap(), &receipt, b"{\"forged\":true}").is_err());

    // Nothing beyond the checkpoint, and clear 404s for nonsense.
    let beyond = app.client.get(app.url("/log/tile/0/999")).send().await.unwrap();
    assert_eq!(beyond.status(), 404);
    let nonsense = app.client.get(app.url("/log/tile/banana")).send().await.unwrap();
    assert_eq!(nonsense.status(), 404);
    let (status, body) = app.admin(Method::GET, "/admin/v1/events/100000/receipt", "", None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_yet_in_checkpoint")));
}

/// A witness, in process, speaking C2SP tlog-witness over HTTP.
async fn start_witness(log: NoteVerifier) -> (String, NoteVerifier) {
    let signer = CosignatureSigner::from_seed("witness.test.localhost", &[5; 32]).unwrap();
    let mut witness = Witness::new(signer);
    witness.add_log(ORIGIN, vec![log]);
    let verifier = witness.verifier();
    let state = Arc::new(Mutex::new(witness));
    let router = Router::new()
        .route(
            "/add-checkpoint",
            post(|State(witness): State<Arc<Mutex<Witness>>>, body: String| async move {
                let request = match AddCheckpointRequest::parse(&body) {
                    Ok(request) => request,
                    Err(err) => return (StatusCode::BAD_REQUEST, err.to_string()).into_response(),
                };
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
                match witness.lock().unwrap().handle_add_checkpoint(&request, now) {
                    Ok(cosignature) => format_cosignature_response(&[cosignature]).into_response(),
                    Err(WitnessError::SizeConflict { latest_size, .. }) => (
                        StatusCode::CONFLICT,
                        [(header::CONTENT_TYPE, CONFLICT_CONTENT_TYPE)],
                        format_conflict_body(latest_size),
                    )
                        .into_response(),
                    Err(err) => (StatusCode::from_u16(err.http_status()).unwrap(), err.to_string()).into_response(),
                }
            }),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, verifier)
}

#[tokio::test]
async fn a_witness_cosigns_every_checkpoint_across_restarts() {
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("log-key");
    let signer = NoteSigner::from_seed(ORIGIN, &[8; 32]).unwrap();
    std::fs::write(&key_file, signer.to_private_key_string()).unwrap();
    let (witness_url, witness_key) = start_witness(signer.verifier()).await;
    let mut app = spawn_app_with(|s| {
        s.transparency.checkpoint_interval_ms = 20;
        s.transparency.origin = Some(ORIGIN.to_owned());
        s.transparency.signing_key_file = Some(key_file.clone());
        s.transparency.witnesses = vec![portcullis_gateway::config::WitnessSettings {
            url: witness_url.clone(),
            verifier_key: witness_key.to_vkey_string(),
        }];
    })
    .await;
    let policy = TrustPolicy::new(signer.verifier()).unwrap().with_witnesses(vec![witness_key.clone()], 1).unwrap();
    app.seed_story().await;
    let cosigned = wait_for_cosigned(&app, &policy).await;
    // After a restart the gateway no longer remembers what the witness saw; the witness's 409
    // tells it, and it proves consistency from there.
    app.restart().await;
    app.provider_post("/admin/v1/customers", json!({ "id": "late", "name": "Late" })).await;
    let later = wait_for_cosigned(&app, &policy).await;
    assert!(later > cosigned);
}

/// Waits (bounded) for a checkpoint covering every event and carrying the witness's cosignature.
async fn wait_for_cosigned(app: &TestApp, policy: &TrustPolicy) -> u64 {
    let (_, ready) = app.admin(Method::GET, "/readyz", "", None).await;
    let wanted = ready["snapshot_seq"].as_u64().unwrap();
    for _ in 0..500 {
        let note = app.client.get(app.url("/log/checkpoint")).send().await.unwrap().text().await.unwrap();
        if let Ok(verified) = verify_checkpoint(policy, &note)
            && verified.checkpoint.size() >= wanted
        {
            assert_eq!(verified.cosignatures.len(), 1);
            return verified.checkpoint.size();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no cosigned checkpoint covered event {wanted}");
}

#[tokio::test]
async fn a_tampered_database_refuses_to_start() {
    let mut app = spawn_app_with(|s| s.transparency.checkpoint_interval_ms = 20).await;
    app.seed_story().await;
    wait_for_checkpoint(&app).await;
    app.stop().await;
    // Quietly widen a directive's scope in the stored record.
    app.execute_sql(
        "UPDATE events SET record = replace(record, 'US nationals only', 'everyone') WHERE kind = 'directive_issued'",
    );
    let settings = app.settings().clone();
    let err = portcullis_gateway::Application::build(settings).await.err().unwrap();
    let message = format!("{err:#}");
    assert!(message.contains("refusing to start"), "{message}");
    assert!(message.contains("the transparency log was tampered with"), "{message}");
}
