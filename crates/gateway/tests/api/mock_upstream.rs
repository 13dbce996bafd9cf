//! A stand-in for the model upstream, speaking the real OpenAI wire format (JSON and SSE) on a
//! real socket. It records what it received and can hold a stream open until the test says go.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use tokio::sync::Semaphore;

/// What the upstream saw.
#[derive(Clone, Debug)]
pub struct Received {
    pub authorization: Option<String>,
    /// Anthropic's key and version headers, when sent.
    pub x_api_key: Option<String>,
    pub anthropic_version: Option<String>,
    pub body: serde_json::Value,
}

/// How the mock answers every chat completion, whatever the prompt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// As the prompt steers it.
    Normal = 0,
    /// 403 "access revoked", as a hosted provider cutting this gateway off.
    Revoked = 1,
    /// 500.
    Failing = 2,
    /// As `Normal`, but every answer says `Connection: close` and the connection then closes,
    /// as an upstream (or a proxy before it) that does not keep connections alive.
    Closing = 3,
}

#[derive(Clone)]
struct MockState {
    received: Arc<Mutex<Vec<Received>>>,
    /// Each permit lets one held-back stream chunk go.
    gate: Arc<Semaphore>,
    mode: Arc<AtomicU8>,
}

pub struct MockUpstream {
    pub base_url: String,
    received: Arc<Mutex<Vec<Received>>>,
    gate: Arc<Semaphore>,
    mode: Arc<AtomicU8>,
    /// The accept loop and every connection of a killable mock.
    tasks: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    /// Connections a killable mock accepted.
    connections: Arc<AtomicUsize>,
}

impl MockUpstream {
    pub async fn start() -> Self {
        let (mock, listener, router) = Self::build().await;
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        mock
    }

    /// A mock that [`MockUpstream::kill`] can stop the hard way: it serves through a TCP front
    /// whose accept loop and connections are all aborted at once (in-flight requests included),
    /// as a crashed process would.
    pub async fn start_killable() -> Self {
        let (mut mock, inner, router) = Self::build().await;
        let inner_address = inner.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(inner, router).await.unwrap() });
        let front = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        mock.base_url = format!("http://{}/v1", front.local_addr().unwrap());
        let tasks = mock.tasks.clone();
        let connections = mock.connections.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = front.accept().await else { return };
                connections.fetch_add(1, Ordering::SeqCst);
                let connection = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(inner_address).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().unwrap().push(connection.abort_handle());
            }
        });
        mock.tasks.lock().unwrap().push(accept.abort_handle());
        mock
    }

    /// Stops a killable mock: the port closes and every open connection drops.
    pub fn kill(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Switches how every chat completion is answered from now on.
    pub fn set_mode(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// How many connections a killable mock has accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// How many requests reached the mock.
    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    async fn build() -> (Self, tokio::net::TcpListener, Router) {
        let state = MockState {
            received: Arc::default(),
            gate: Arc::new(Semaphore::new(0)),
            mode: Arc::new(AtomicU8::new(Mode::Normal as u8)),
        };
        let router = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/completions", post(echo))
            .route("/v1/embeddings", post(echo))
            .route("/v1/responses", post(echo))
            .route("/v1/messages", post(messages))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        let mock = Self {
            base_url,
            received: state.received,
            gate: state.gate,
            mode: state.mode,
            tasks: Arc::default(),
            connections: Arc::default(),
        };
        (mock, listener, router)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The gate of held streams, to release chunks from elsewhere.
    pub fn gate(&self) -> Arc<Semaphore> {
        self.gate.clone()
    }

    /// Lets the next held-back chunk of a `"held"` stream go.
    pub fn release_chunk(&self) {
        self.gate.add_permits(1);
    }
}

fn record(state: &MockState, headers: &HeaderMap, body: &Bytes) -> serde_json::Value {
    let body: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    state.received.lock().unwrap().push(Received {
        authorization: headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap().to_owned()),
        x_api_key: headers.get("x-api-key").map(|v| v.to_str().unwrap().to_owned()),
        anthropic_version: headers.get("anthropic-version").map(|v| v.to_str().unwrap().to_owned()),
        body: body.clone(),
    });
    body
}

async fn echo(State(state): State<MockState>, headers: HeaderMap, body: Bytes) -> Response {
    let body = record(&state, &headers, &body);
    axum::Json(serde_json::json!({ "object": "echo", "model": body["model"] })).into_response()
}

/// Chat completions. The user message steers the mock:
/// - `"fail"`: 500 with an OpenAI error body;
/// - `"slow"`: answers after 3 s;
/// - `"held"` with `stream: true`: sends the first chunk, then one more chunk per `release_chunk`;
/// - `"break"` with `stream: true`: sends one chunk, then on `release_chunk` fails mid-stream.
async fn chat(State(state): State<MockState>, headers: HeaderMap, body: Bytes) -> Response {
    let closing = state.mode.load(Ordering::SeqCst) == Mode::Closing as u8;
    let mut response = chat_answer(state, headers, body).await;
    if closing {
        response.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
    }
    response
}

async fn chat_answer(state: MockState, headers: HeaderMap, body: Bytes) -> Response {
    let body = record(&state, &headers, &body);
    let model = body["model"].as_str().unwrap_or("").to_owned();
    let prompt = body["messages"][0]["content"].as_str().unwrap_or("").to_owned();
    let stream = body["stream"].as_bool().unwrap_or(false);
    match state.mode.load(Ordering::SeqCst) {
        1 => {
            return (
                StatusCode::FORBIDDEN,
                axum::Json(serde_json::json!({ "error": { "message": "access revoked", "type": "permission_error", "code": "access_revoked", "param": null } })),
            )
                .into_response();
        }
        2 => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(serde_json::json!({ "error": { "message": "mock failure", "type": "server_error", "code": null, "param": null } })),
            )
                .into_response();
        }
        _ => {}
    }
    match prompt.as_str() {
        "fail" => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(serde_json::json!({ "error": { "message": "mock failure", "type": "server_error", "code": null, "param": null } })),
            )
                .into_response();
        }
        "slow" => tokio::time::sleep(Duration::from_secs(3)).await,
        _ => {}
    }
    if !stream {
        return axum::Json(serde_json::json!({
            "id": "chatcmpl-mock", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": format!("mock reply to {prompt}") }, "finish_reason": "stop" }],
            "usage": { "prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4 },
        }))
        .into_response();
    }
    let chunk = |text: &str| {
        let json = serde_json::json!({
            "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1, "model": model,
            "choices": [{ "index": 0, "delta": { "content": text }, "finish_reason": null }],
        });
        Bytes::from(format!("data: {json}\n\n"))
    };
    let gate = state.gate.clone();
    let mut chunks = vec![chunk("one "), chunk("two "), chunk("three")];
    // As OpenAI does with `stream_options.include_usage`: a last chunk with no choices and the usage.
    if body["stream_options"]["include_usage"].as_bool() == Some(true) {
        let usage = serde_json::json!({
            "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [],
            "usage": { "prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5 },
        });
        chunks.push(Bytes::from(format!("data: {usage}\n\n")));
    }
    chunks.push(Bytes::from_static(b"data: [DONE]\n\n"));
    let held = prompt == "held";
    let broken = prompt == "break";
    let stream = futures_util::stream::unfold((chunks.into_iter(), 0_usize), move |(mut chunks, sent)| {
        let gate = gate.clone();
        async move {
            if broken && sent == 1 {
                // Wait for the test, so the first chunk has certainly reached the client.
                gate.acquire().await.unwrap().forget();
                return Some((Err(std::io::Error::other("mock upstream dropped the stream")), (chunks, sent + 1)));
            }
            if broken && sent > 1 {
                return None;
            }
            let next = chunks.next()?;
            if held && sent > 0 {
                gate.acquire().await.unwrap().forget();
            }
            Some((Ok::<Bytes, std::io::Error>(next), (chunks, sent + 1)))
        }
    });
    ([(header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(stream)).into_response()
}

/// Anthropic's Messages API, answered by the gateway's own demo responder (which speaks it).
async fn messages(State(state): State<MockState>, headers: HeaderMap, body: Bytes) -> Response {
    let body = record(&state, &headers, &body);
    let model = body["model"].as_str().unwrap_or("").to_owned();
    portcullis_gateway::demo_upstream::messages_answer(&model, body["stream"].as_bool().unwrap_or(false))
}
