//! The state checkpoint: a restart reads it and replays only the events after it, answering as
//! the replayed state did; a checkpoint that does not fit this database, this setup or its own
//! digest is not used (the whole log is replayed), and never brings back another database's state.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// Waits until the gateway has written a checkpoint (it does so on a thread of its own).
async fn wait_for_a_checkpoint(app: &TestApp) -> f64 {
    for _ in 0..3_000 {
        let written = app.metric("portcullis_state_checkpoint_sequence").await;
        if written > 0.0 {
            return written;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no state checkpoint was written within a minute");
}

/// What a restart must not change: who may call what, and what the admin API lists.
async fn answers(app: &TestApp, story: &Story) -> Vec<Value> {
    let us = attestation(&["US"], None);
    let fr = attestation(&["FR"], None);
    let mut out = Vec::new();
    for key in [&story.acme_key, &story.globex_key] {
        for attestation in [Some(&us), Some(&fr), None] {
            for model in ["frontier", "workhorse"] {
                let (status, body) = app.chat(key, model, attestation.map(String::as_str), "hi").await;
                out.push(json!([status, body["error"]["code"]]));
            }
        }
    }
    for path in ["/admin/v1/customers", "/admin/v1/directives", "/admin/v1/models", "/admin/v1/customers/acme/keys"] {
        out.push(app.admin(Method::GET, path, &app.provider_token, None).await.1);
    }
    out
}

async fn sequence(app: &TestApp) -> f64 {
    app.metric("portcullis_snapshot_sequence").await
}

#[tokio::test]
async fn a_restart_reads_the_checkpoint_and_replays_only_what_follows_it() {
    let mut app = spawn_app_with(|s| s.state_checkpoint.every_events = 1).await;
    let story = app.seed_story().await;
    wait_for_a_checkpoint(&app).await;
    // Events after the checkpoint (or after the one being written while the app stops).
    app.provider_post(
        "/admin/v1/customers",
        json!({ "id": "initech", "name": "Initech", "attributes": { "country": "GB", "kyc": "verified" } }),
    )
    .await;
    let before = answers(&app, &story).await;
    let events = sequence(&app).await;
    assert_eq!(app.metric("portcullis_start_replayed_events").await, 0.0, "a fresh database has nothing to replay");

    // No further checkpoint while the restarted app runs: the figures below stay put.
    app.settings_mut().state_checkpoint.every_events = 1_000_000;
    app.restart().await;
    let read = app.metric("portcullis_state_checkpoint_sequence").await;
    let replayed = app.metric("portcullis_start_replayed_events").await;
    assert!(read > 0.0, "the restart did not read the checkpoint");
    assert_eq!(read + replayed, events, "the checkpoint's events and the replayed ones are the log");
    assert_eq!(sequence(&app).await, events);
    assert_eq!(answers(&app, &story).await, before);

    // And it goes on: a new customer's key works, a grant revoked takes effect.
    app.provider_post(
        "/admin/v1/customers",
        json!({ "id": "hooli", "name": "Hooli", "attributes": { "country": "US", "kyc": "verified" } }),
    )
    .await;
    let key = app.provider_post("/admin/v1/customers/hooli/keys", json!({ "label": "test" })).await;
    assert_eq!(app.chat(key["key"].as_str().unwrap(), "workhorse", None, "hi").await.0, 200);
    let (status, _) = app
        .admin(
            Method::POST,
            "/admin/v1/grants/revoke",
            &story.official_token,
            Some(json!({ "customer": "acme", "model": "frontier", "reason": "breach of terms", "directive": "EC-1" })),
        )
        .await;
    assert_eq!(status, 200);
    let us = attestation(&["US"], None);
    let (status, body) = app.chat(&story.acme_key, "frontier", Some(&us), "hi").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("grant_revoked")));
}

#[tokio::test]
async fn a_checkpoint_that_does_not_fit_is_not_used() {
    let mut app = spawn_app_with(|s| s.state_checkpoint.every_events = 1).await;
    let story = app.seed_story().await;
    wait_for_a_checkpoint(&app).await;
    let before = answers(&app, &story).await;
    let events = sequence(&app).await;
    app.settings_mut().state_checkpoint.every_events = 1_000_000;
    app.stop().await;
    let path = app.settings().data_dir.join("state.checkpoint");
    let good = std::fs::read(&path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "key and password hashes: readable by the owner only ({mode:o})");
    }

    // Damaged on disk (one byte of a customer record) or cut short: the whole log is replayed.
    let mut damaged = good.clone();
    let at = good.len() - 200;
    damaged[at] ^= 0x01;
    for bytes in [damaged, good[..good.len() - 1].to_vec(), b"not a checkpoint".to_vec()] {
        std::fs::write(&path, &bytes).unwrap();
        app.restart().await;
        assert_eq!(app.metric("portcullis_start_replayed_events").await, events);
        assert_eq!(app.metric("portcullis_state_checkpoint_sequence").await, 0.0);
        assert_eq!(answers(&app, &story).await, before);
        app.stop().await;
    }

    // Under another setup (one more trusted attester in the settings file): replayed.
    std::fs::write(&path, &good).unwrap();
    let mut attesters = app.settings().attesters.clone();
    let mut other = attesters[0].clone();
    other.id = "idv-other".to_owned();
    attesters.push(other);
    app.settings_mut().attesters = attesters;
    app.restart().await;
    assert_eq!(app.metric("portcullis_start_replayed_events").await, events);
    assert_eq!(answers(&app, &story).await, before);

    // Another database's checkpoint: never its state. A fresh gateway given this one's file
    // starts with its own (empty) log and knows no customer.
    let mut fresh = spawn_app_with(|s| s.state_checkpoint.every_events = 1_000_000).await;
    fresh.stop().await;
    std::fs::write(fresh.settings().data_dir.join("state.checkpoint"), &good).unwrap();
    fresh.restart().await;
    assert_eq!(fresh.metric("portcullis_state_checkpoint_sequence").await, 0.0);
    assert_eq!(fresh.metric("portcullis_start_replayed_events").await, sequence(&fresh).await);
    let (status, _) = fresh.admin(Method::GET, "/admin/v1/customers/acme", &fresh.provider_token, None).await;
    assert_eq!(status, 404);
    assert_eq!(fresh.chat(&story.acme_key, "workhorse", None, "hi").await.0, 401);
}
