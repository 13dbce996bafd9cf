//! The demo upstream: a canned responder in the OpenAI wire format, so `portcullis demo` runs
//! without any model or API key. Every reply says plainly that it is not a model.
//!
//! Served under `/demo-upstream/v1` only when `demo_upstream = true`.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;

/// Delay between streamed chunks, so streaming is visible in a terminal.
const CHUNK_DELAY: Duration = Duration::from_millis(40);

/// The demo upstream's routes.
pub fn router() -> Router {
    Router::new()
        .route("/demo-upstream/v1/chat/completions", post(chat_completions))
        .route("/demo-upstream/v1/completions", post(completions))
        .route("/demo-upstream/v1/embeddings", post(embeddings))
        .route("/demo-upstream/v1/responses", post(responses))
        .route("/demo-upstream/v1/messages", post(messages))
}

fn reply_text(model: &str) -> String {
    format!(
        "[Portcullis demo upstream] This canned reply stands in for model `{model}`: the gate let your request through. No model ran."
    )
}

fn request_fields(body: &Bytes) -> (String, bool) {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let model = value.get("model").and_then(serde_json::Value::as_str).unwrap_or("unknown").to_owned();
    let stream = value.get("stream").and_then(serde_json::Value::as_bool).unwrap_or(false);
    (model, stream)
}

fn words(text: &str) -> Vec<String> {
    text.split_inclusive(' ').map(str::to_owned).collect()
}

fn sse(events: Vec<String>) -> Response {
    let stream = futures_util::stream::unfold(events.into_iter(), |mut events| async move {
        let event = events.next()?;
        tokio::time::sleep(CHUNK_DELAY).await;
        Some((Ok::<Bytes, Infallible>(Bytes::from(event)), events))
    });
    ([(header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(stream)).into_response()
}

fn usage() -> serde_json::Value {
    serde_json::json!({ "prompt_tokens": 8, "completion_tokens": 24, "total_tokens": 32 })
}

async fn chat_completions(body: Bytes) -> Response {
    let (model, stream) = request_fields(&body);
    let text = reply_text(&model);
    let id = "chatcmpl-demo";
    if !stream {
        return axum::Json(serde_json::json!({
            "id": id, "object": "chat.completion", "created": 0, "model": model,
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": "stop" }],
            "usage": usage(),
        }))
        .into_response();
    }
    let chunk = |delta: serde_json::Value, finish: Option<&str>| {
        let json = serde_json::json!({
            "id": id, "object": "chat.completion.chunk", "created": 0, "model": model,
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
        });
        format!("data: {json}\n\n")
    };
    let mut events = vec![chunk(serde_json::json!({ "role": "assistant", "content": "" }), None)];
    events.extend(words(&text).into_iter().map(|w| chunk(serde_json::json!({ "content": w }), None)));
    events.push(chunk(serde_json::json!({}), Some("stop")));
    events.push("data: [DONE]\n\n".to_owned());
    sse(events)
}

async fn completions(body: Bytes) -> Response {
    let (model, stream) = request_fields(&body);
    let text = reply_text(&model);
    if !stream {
        return axum::Json(serde_json::json!({
            "id": "cmpl-demo", "object": "text_completion", "created": 0, "model": model,
            "choices": [{ "index": 0, "text": text, "finish_reason": "stop", "logprobs": null }],
            "usage": usage(),
        }))
        .into_response();
    }
    let mut events: Vec<String> = words(&text)
        .into_iter()
        .map(|w| {
            let json = serde_json::json!({
                "id": "cmpl-demo", "object": "text_completion", "created": 0, "model": model,
                "choices": [{ "index": 0, "text": w, "finish_reason": null, "logprobs": null }],
            });
            format!("data: {json}\n\n")
        })
        .collect();
    events.push("data: [DONE]\n\n".to_owned());
    sse(events)
}

async fn embeddings(body: Bytes) -> Response {
    let (model, _) = request_fields(&body);
    axum::Json(serde_json::json!({
        "object": "list",
        "data": [{ "object": "embedding", "index": 0, "embedding": [0.0, 0.1, 0.2, 0.3] }],
        "model": model,
        "usage": { "prompt_tokens": 8, "total_tokens": 8 },
    }))
    .into_response()
}

async fn responses(body: Bytes) -> Response {
    let (model, stream) = request_fields(&body);
    let text = reply_text(&model);
    let response = |status: &str, output: serde_json::Value| {
        serde_json::json!({
            "id": "resp_demo", "object": "response", "created_at": 0, "status": status, "model": model,
            "output": output,
        })
    };
    let message = serde_json::json!([{
        "type": "message", "id": "msg_demo", "status": "completed", "role": "assistant",
        "content": [{ "type": "output_text", "text": text, "annotations": [] }],
    }]);
    if !stream {
        return axum::Json(response("completed", message)).into_response();
    }
    let event = |kind: &str, data: serde_json::Value| format!("event: {kind}\ndata: {data}\n\n");
    let mut events = vec![event(
        "response.created",
        serde_json::json!({ "type": "response.created", "response": response("in_progress", serde_json::json!([])) }),
    )];
    events.extend(words(&text).into_iter().map(|w| {
        event(
            "response.output_text.delta",
            serde_json::json!({ "type": "response.output_text.delta", "item_id": "msg_demo", "output_index": 0, "content_index": 0, "delta": w }),
        )
    }));
    events.push(event(
        "response.completed",
        serde_json::json!({ "type": "response.completed", "response": response("completed", message) }),
    ));
    sse(events)
}

/// Anthropic's Messages API (`POST /v1/messages`), JSON or SSE as the request asks.
async fn messages(body: Bytes) -> Response {
    let (model, stream) = request_fields(&body);
    messages_answer(&model, stream)
}

/// An Anthropic Messages answer for `model`: the JSON message, or its SSE event sequence
/// (`message_start`, one `content_block_delta` per word, `message_delta` with the usage,
/// `message_stop`).
pub fn messages_answer(model: &str, stream: bool) -> Response {
    let text = reply_text(model);
    let message = |content: serde_json::Value, stop: Option<&str>, output_tokens: u64| {
        serde_json::json!({
            "id": "msg_demo", "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": stop, "stop_sequence": null,
            "usage": { "input_tokens": 8, "output_tokens": output_tokens },
        })
    };
    if !stream {
        return axum::Json(message(serde_json::json!([{ "type": "text", "text": text }]), Some("end_turn"), 24))
            .into_response();
    }
    let event = |kind: &str, data: serde_json::Value| format!("event: {kind}\ndata: {data}\n\n");
    let mut events = vec![
        event(
            "message_start",
            serde_json::json!({ "type": "message_start", "message": message(serde_json::json!([]), None, 1) }),
        ),
        event(
            "content_block_start",
            serde_json::json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
        ),
    ];
    events.extend(words(&text).into_iter().map(|w| {
        event(
            "content_block_delta",
            serde_json::json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": w } }),
        )
    }));
    events.push(event("content_block_stop", serde_json::json!({ "type": "content_block_stop", "index": 0 })));
    events.push(event(
        "message_delta",
        serde_json::json!({
            "type": "message_delta", "delta": { "stop_reason": "end_turn", "stop_sequence": null },
            "usage": { "output_tokens": 24 },
        }),
    ));
    events.push(event("message_stop", serde_json::json!({ "type": "message_stop" })));
    sse(events)
}
