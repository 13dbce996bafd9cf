//! Nothing acknowledged is lost: the real binary is killed with SIGKILL while writes are in
//! flight, restarted on the same database, and every write it had acknowledged is still there.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a panic is a test failure with a message"
)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

mod common;

use common::free_port;

const TOKEN: &str = "pcp_crash_test_token";

fn start(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    for _ in 0..500 {
        if client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the server did not become ready");
}

#[tokio::test]
async fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("portcullis.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\n[[provider_tokens]]\nname = \"ops\"\ntoken = \"{TOKEN}\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut server = start(&config);
    wait_ready(&client, &base).await;

    // Many writers at once; kill the server once some have been acknowledged and the rest are
    // still in flight.
    let acks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut writers = Vec::new();
    for i in 0..400 {
        let client = client.clone();
        let base = base.clone();
        let acks = acks.clone();
        writers.push(tokio::spawn(async move {
            let response = client
                .post(format!("{base}/admin/v1/customers"))
                .bearer_auth(TOKEN)
                .json(&serde_json::json!({ "id": format!("c{i}"), "name": "n" }))
                .send()
                .await;
            let acknowledged = matches!(response, Ok(r) if r.status().as_u16() == 201);
            if acknowledged {
                acks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            acknowledged.then_some(i)
        }));
    }
    while acks.load(std::sync::atomic::Ordering::SeqCst) < 50 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    server.kill().unwrap();
    let mut acknowledged = Vec::new();
    for writer in writers {
        if let Some(i) = writer.await.unwrap() {
            acknowledged.push(format!("c{i}"));
        }
    }
    server.wait().unwrap();
    assert!(!acknowledged.is_empty(), "some writes should have been acknowledged before the kill");
    eprintln!("acknowledged {} of 400 writes before SIGKILL", acknowledged.len());

    let mut server = start(&config);
    wait_ready(&client, &base).await;
    let listed: serde_json::Value =
        client.get(format!("{base}/admin/v1/customers")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    let present: Vec<&str> =
        listed["customers"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    for id in &acknowledged {
        assert!(present.contains(&id.as_str()), "acknowledged customer `{id}` was lost");
    }
    server.kill().unwrap();
    server.wait().unwrap();
}
