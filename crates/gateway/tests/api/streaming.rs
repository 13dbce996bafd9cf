//! Streaming passes through chunk by chunk, never buffered whole; a broken stream ends with an
//! SSE error event; shutdown lets an in-flight stream finish.

use futures_util::StreamExt;
use serde_json::json;

use crate::helpers::{attestation, spawn_app};

async fn open_stream(app: &crate::helpers::TestApp, key: &str, prompt: &str) -> reqwest::Response {
    let response = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(key)
        .header("Portcullis-Attestation", attestation(&["US"], None))
        .json(&json!({ "model": "frontier", "stream": true, "messages": [{ "role": "user", "content": prompt }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    response
}

/// Reads until the accumulated text contains `needle`.
async fn read_until(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    seen: &mut String,
    needle: &str,
) {
    while !seen.contains(needle) {
        let chunk = stream.next().await.expect("stream ended early").unwrap();
        seen.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[tokio::test]
async fn chunks_arrive_before_the_upstream_finishes() {
    let app = spawn_app().await;
    let story = app.seed_story().await;
    let response = open_stream(&app, &story.acme_key, "held").await;
    let mut stream = response.bytes_stream();
    let mut seen = String::new();
    // The mock has sent only its first chunk and holds the rest: if the gateway buffered the
    // response, this read would never complete.
    read_until(&mut stream, &mut seen, "one ").await;
    assert!(!seen.contains("two "));
    app.upstream.release_chunk();
    read_until(&mut stream, &mut seen, "two ").await;
    assert!(!seen.contains("three"));
    app.upstream.release_chunk();
    app.upstream.release_chunk();
    read_until(&mut stream, &mut seen, "[DONE]").await;
    assert!(stream.next().await.is_none());
}

#[tokio::test]
async fn a_whole_answer_keeps_its_length_and_a_stream_is_not_given_one() {
    let app = spawn_app().await;
    let story = app.seed_story().await;
    // A raw HTTP/1.1 exchange: the framing itself is what is checked, not a client's reading of it.
    let body = json!({ "model": "frontier", "messages": [{ "role": "user", "content": "hi" }] }).to_string();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {}\r\n\
         Portcullis-Attestation: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        story.acme_key,
        attestation(&["US"], None),
        body.len()
    );
    let mut socket = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://")).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut socket, head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut socket, &mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, answer) = raw.split_once("\r\n\r\n").unwrap();
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(!head.contains("transfer-encoding"), "a whole answer was sent chunked:\n{head}");
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .unwrap_or_else(|| panic!("no content-length:\n{head}"))
        .trim()
        .parse()
        .unwrap();
    assert_eq!(length, answer.len());
    assert!(answer.contains("chat.completion"), "{answer}");

    // A stream: no length announced, since a broken upstream would make the gateway add an event.
    let response = open_stream(&app, &story.acme_key, "whole").await;
    assert!(response.headers().get("content-length").is_none());
    let text = response.text().await.unwrap();
    assert!(text.contains("[DONE]"), "{text}");
}

#[tokio::test]
async fn a_broken_stream_ends_with_an_error_event() {
    let app = spawn_app().await;
    let story = app.seed_story().await;
    let mut stream = open_stream(&app, &story.acme_key, "break").await.bytes_stream();
    let mut body = String::new();
    read_until(&mut stream, &mut body, "one ").await;
    app.upstream.release_chunk();
    while let Some(chunk) = stream.next().await {
        body.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    let last = body.trim_end().rsplit("\n\n").next().unwrap();
    let event: serde_json::Value = serde_json::from_str(last.strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(event["error"]["code"], "upstream_stream_interrupted");
}

#[tokio::test]
async fn shutdown_finishes_in_flight_streams() {
    let mut app = spawn_app().await;
    let story = app.seed_story().await;
    let response = open_stream(&app, &story.acme_key, "held").await;
    let mut stream = response.bytes_stream();
    let mut seen = String::new();
    read_until(&mut stream, &mut seen, "one ").await;
    let gate = app.upstream.gate();
    let address = app.address.clone();
    let stopping = tokio::spawn(async move { app.stop().await });
    // New connections are refused once shutdown has begun…
    let mut refused = false;
    for _ in 0..500 {
        if reqwest::Client::new().get(format!("{address}/healthz")).send().await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(refused, "the listener should close on shutdown");
    // …but the stream in flight runs to its end, and only then does the server stop.
    assert!(!stopping.is_finished());
    gate.add_permits(3);
    read_until(&mut stream, &mut seen, "[DONE]").await;
    stopping.await.unwrap();
}

/// The upstream concurrency bound: while the only slot is held by a stream, the next request
/// waits at most the upstream timeout, then gets a clear 503.
#[tokio::test]
async fn a_full_upstream_pool_answers_503() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.limits.max_upstream_concurrency = 1;
        s.limits.upstream_timeout_secs = 1;
    })
    .await;
    let story = app.seed_story().await;
    let response = open_stream(&app, &story.acme_key, "held").await;
    let mut stream = response.bytes_stream();
    let mut seen = String::new();
    read_until(&mut stream, &mut seen, "one ").await;
    let (status, body) = app.chat(&story.acme_key, "workhorse", None, "hi").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    assert!(body["error"]["message"].as_str().unwrap().contains("upstream slots stayed busy"), "{body}");
    // Once the stream ends, the slot is free again.
    app.upstream.release_chunk();
    app.upstream.release_chunk();
    app.upstream.release_chunk();
    read_until(&mut stream, &mut seen, "[DONE]").await;
    while stream.next().await.is_some() {}
    // The server drops the finished body (and its slot) just after the client sees the end, so
    // allow it a moment: bounded, and the assertion is on the status, not on the time.
    let mut status = 0;
    for _ in 0..50 {
        status = app.chat(&story.acme_key, "workhorse", None, "hi").await.0;
        if status == 200 {
            break;
        }
    }
    assert_eq!(status, 200);
}
