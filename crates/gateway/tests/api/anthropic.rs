//! Anthropic's Messages API (`POST /v1/messages`) through the same gate, limits and upstream
//! path: the customer's key as `x-api-key`, the upstream's key sent as `x-api-key` (never a
//! bearer token), `anthropic-version` passed through, and errors in Anthropic's shape.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, attestation, spawn_app};

async fn messages(
    app: &TestApp,
    key: Option<&str>,
    extra: &[(&str, &str)],
    body: Value,
) -> (u16, Option<String>, String) {
    let mut request = app.client.post(app.url("/v1/messages")).header("anthropic-version", "2023-06-01").json(&body);
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    (status, retry_after, response.text().await.unwrap())
}

fn hello(model: &str, stream: bool) -> Value {
    json!({ "model": model, "max_tokens": 64, "stream": stream, "messages": [{ "role": "user", "content": "hi" }] })
}

#[tokio::test]
async fn messages_are_gated_forwarded_and_limited() {
    let app = spawn_app().await;
    let story = app.seed_story().await;
    // The upstream's key comes from an environment variable of the gateway (any set one will do).
    let (status, body) = app
        .admin(
            Method::PUT,
            "/admin/v1/models/workhorse/upstream",
            &app.provider_token,
            Some(json!({ "base_url": app.upstream.base_url, "api_key_env": "HOME" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let (status, _, text) = messages(&app, Some(&story.globex_key), &[], hello("workhorse", false)).await;
    assert_eq!(status, 200, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((answer["type"].as_str(), answer["role"].as_str()), (Some("message"), Some("assistant")));
    let received = app.upstream.received();
    let sent = received.last().unwrap();
    assert_eq!(sent.x_api_key.as_deref(), Some(std::env::var("HOME").unwrap().as_str()));
    assert_eq!(sent.authorization, None, "Anthropic upstreams get `x-api-key`, not a bearer token");
    assert_eq!(sent.anthropic_version.as_deref(), Some("2023-06-01"));

    let (status, _, text) = messages(&app, Some(&story.globex_key), &[], hello("workhorse", true)).await;
    assert_eq!(status, 200);
    assert!(
        text.contains("event: content_block_delta") && text.trim_end().ends_with(r#"data: {"type":"message_stop"}"#),
        "{text}"
    );

    // The gate decides as on the OpenAI routes; the refusal is in Anthropic's shape, with the details.
    let (status, _, text) = messages(&app, Some(&story.acme_key), &[], hello("frontier", false)).await;
    assert_eq!(status, 403, "{text}");
    let error: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((error["type"].as_str(), error["error"]["type"].as_str()), (Some("error"), Some("permission_error")));
    assert_eq!(error["error"]["portcullis"]["decided_by"]["directive_id"], "EC-1");
    let us = attestation(&["US"], None);
    let (status, _, _) =
        messages(&app, Some(&story.acme_key), &[("portcullis-attestation", us.as_str())], hello("frontier", false))
            .await;
    assert_eq!(status, 200);
    let (status, _, text) = messages(&app, None, &[], hello("workhorse", false)).await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&text).unwrap()["error"]["type"].as_str()),
        (401, Some("authentication_error"))
    );

    // Token budgets count Anthropic's usage (input + output tokens: 8 + 24 from the mock).
    let (status, body) = app
        .admin(
            Method::PUT,
            "/admin/v1/customers/globex/limits",
            &app.provider_token,
            Some(json!({ "tokens_per_day": 40 })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(messages(&app, Some(&story.globex_key), &[], hello("workhorse", false)).await.0, 200);
    assert_eq!(messages(&app, Some(&story.globex_key), &[], hello("workhorse", true)).await.0, 200, "32 of 40");
    let (status, retry_after, text) = messages(&app, Some(&story.globex_key), &[], hello("workhorse", false)).await;
    assert_eq!(status, 429, "{text}");
    assert!(retry_after.is_some());
    let error: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error["error"]["type"], "rate_limit_error");
    assert!(error["error"]["message"].as_str().unwrap().contains("has used 64 of its 40 tokens"), "{error}");
}
