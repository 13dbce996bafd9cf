//! Client mistakes and upstream failures: a clear 4xx/5xx with an OpenAI-style body, never a 500.

use serde_json::json;

use crate::helpers::{attestation, spawn_app, spawn_app_with};

#[track_caller]
fn assert_error(status: u16, body: &serde_json::Value, expect_status: u16, expect_code: &str, expect_in_message: &str) {
    assert_eq!(status, expect_status, "{body}");
    assert_eq!(body["error"]["code"], expect_code, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(expect_in_message), "`{expect_in_message}` not in `{message}`");
    assert!(body["error"]["type"].is_string());
}

#[tokio::test]
async fn request_path_errors() {
    let app = spawn_app_with(|s| s.limits.max_body_bytes = 1024).await;
    let story = app.seed_story().await;
    let post = |key: Option<&str>, body: String| {
        let mut request = app.client.post(app.url("/v1/chat/completions")).body(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (s, b) = post(None, "{}".to_owned()).await;
    assert_error(s, &b, 401, "invalid_api_key", "missing `Authorization: Bearer <key>` header");
    let (s, b) = post(Some("pcl_nope"), "{}".to_owned()).await;
    assert_error(s, &b, 401, "invalid_api_key", "invalid or revoked API key");
    let (s, b) = post(Some(&story.acme_key), "{\"model\": ".to_owned()).await;
    assert_error(s, &b, 400, "invalid_json", "invalid JSON body: EOF while parsing");
    let (s, b) = post(Some(&story.acme_key), "{\"messages\": []}".to_owned()).await;
    assert_error(s, &b, 400, "invalid_json", "missing field `model`");
    let (s, b) = post(Some(&story.acme_key), "[1, 2]".to_owned()).await;
    assert_error(s, &b, 400, "invalid_json", "invalid JSON body");
    let (s, b) = post(Some(&story.acme_key), json!({ "model": "no-such-model" }).to_string()).await;
    assert_error(s, &b, 404, "model_not_found", "the model `no-such-model` does not exist");
    let big =
        json!({ "model": "workhorse", "messages": [{ "role": "user", "content": "x".repeat(2000) }] }).to_string();
    let (s, b) = post(Some(&story.acme_key), big).await;
    assert_error(s, &b, 413, "request_too_large", "larger than the limit of 1024 bytes");
    // An anonymous client gets 401 before its (oversized) body is read.
    let (s, b) = post(None, "x".repeat(5000)).await;
    assert_error(s, &b, 401, "invalid_api_key", "missing");
    // A model that exists but is still a draft.
    app.provider_post(
        "/admin/v1/models",
        json!({ "name": "secret-next", "upstream": { "base_url": app.upstream.base_url } }),
    )
    .await;
    let (s, b) = app.chat(&story.acme_key, "secret-next", None, "hi").await;
    assert_error(s, &b, 403, "model_not_available_in_stage", "`draft` stage");
    assert!(app.upstream.received().is_empty());
}

#[tokio::test]
async fn upstream_failures() {
    let app = spawn_app_with(|s| s.limits.upstream_timeout_secs = 1).await;
    let story = app.seed_story().await;
    let us = attestation(&["US"], None);
    // An upstream error passes through with its status and body.
    let (s, b) = app.chat(&story.acme_key, "workhorse", None, "fail").await;
    assert_eq!(s, 500);
    assert_eq!(b["error"]["message"], "mock failure");
    // Too slow: 504.
    let (s, b) = app.chat(&story.acme_key, "frontier", Some(&us), "slow").await;
    assert_error(s, &b, 504, "upstream_timeout", "did not answer within 1 seconds");
    // Down: 502. Point workhorse at a port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let (status, _) = app
        .admin(
            reqwest::Method::PUT,
            "/admin/v1/models/workhorse/upstream",
            &app.provider_token,
            Some(json!({ "base_url": dead })),
        )
        .await;
    assert_eq!(status, 200);
    let (s, b) = app.chat(&story.acme_key, "workhorse", None, "hi").await;
    assert_error(s, &b, 502, "upstream_unreachable", "the upstream of model `workhorse` could not be reached");
    // The upstream's key comes from the environment; missing, it is a clear 502, not a crash.
    let (status, _) = app
        .admin(
            reqwest::Method::PUT,
            "/admin/v1/models/workhorse/upstream",
            &app.provider_token,
            Some(json!({ "base_url": app.upstream.base_url, "api_key_env": "PORTCULLIS_TEST_UNSET_KEY_VAR" })),
        )
        .await;
    assert_eq!(status, 200);
    let (s, b) = app.chat(&story.acme_key, "workhorse", None, "hi").await;
    assert_error(s, &b, 502, "upstream_unreachable", "`PORTCULLIS_TEST_UNSET_KEY_VAR`");
}

/// The upstream's own API key is sent upstream, and `upstream_model` renames the model.
#[tokio::test]
async fn upstream_key_and_model_name() {
    // Setting a variable would need `unsafe` (forbidden workspace-wide); cargo runs tests with
    // `CARGO_PKG_NAME` set, so use that as the "upstream key".
    let expected_key = std::env::var("CARGO_PKG_NAME").expect("cargo sets CARGO_PKG_NAME for test runs");
    let app = spawn_app().await;
    let story = app.seed_story().await;
    let (status, _) = app
        .admin(
            reqwest::Method::PUT,
            "/admin/v1/models/workhorse/upstream",
            &app.provider_token,
            Some(json!({ "base_url": app.upstream.base_url, "upstream_model": "llama-3-70b", "api_key_env": "CARGO_PKG_NAME" })),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(app.chat(&story.acme_key, "workhorse", None, "hi").await.0, 200);
    let received = app.upstream.received();
    let last = received.last().unwrap();
    assert_eq!(last.authorization, Some(format!("Bearer {expected_key}")));
    assert_eq!(last.body["model"], "llama-3-70b");
    assert_eq!(last.body["messages"][0]["content"], "hi", "the rest of the body passes through");
}

/// The key is checked when the request head arrives and the decision is made on the state once
/// the body is in: a key revoked in between is refused, not served on the strength of the first
/// check.
#[tokio::test]
async fn a_key_revoked_while_its_body_is_on_the_way_is_refused() {
    let app = spawn_app().await;
    let story = app.seed_story().await;
    let (status, keys) =
        app.admin(reqwest::Method::GET, "/admin/v1/customers/acme/keys", &app.provider_token, None).await;
    assert_eq!(status, 200, "{keys}");
    let key_id = keys["keys"][0]["key_id"].as_str().unwrap().to_owned();

    let (chunks, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let body = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|chunk| (chunk, rx)) });
    let request = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&story.acme_key)
        .header("content-type", "application/json")
        .header("portcullis-attestation", attestation(&["US"], None))
        .body(reqwest::Body::wrap_stream(body))
        .send();
    let request = tokio::spawn(request);
    chunks.send(Ok(br#"{"model": "workhorse", "#.to_vec())).await.unwrap();
    // Time for the gateway to read the head and check the key (if it has not yet, the key is
    // refused at that first check instead: the answer is the same).
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (status, body) = app
        .admin(
            reqwest::Method::POST,
            &format!("/admin/v1/keys/{key_id}/revoke"),
            &app.provider_token,
            Some(json!({ "reason": "leaked" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    chunks.send(Ok(br#""messages": [{"role": "user", "content": "hi"}]}"#.to_vec())).await.unwrap();
    drop(chunks);
    let response = request.await.unwrap().unwrap();
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_error(status, &body, 401, "invalid_api_key", "invalid or revoked API key");
}
