//! Health, readiness and metrics.

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = spawn_app().await;
    let story = app.seed_story().await;
    let health: serde_json::Value = app.client.get(app.url("/healthz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
    let ready: serde_json::Value = app.client.get(app.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["models"], 2);
    assert!(ready["snapshot_seq"].as_u64().unwrap() > 10);

    assert_eq!(app.chat(&story.acme_key, "workhorse", None, "hi").await.0, 200);
    assert_eq!(app.chat(&story.globex_key, "frontier", None, "hi").await.0, 403);
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"portcullis_gate_requests_total{model="workhorse",outcome="allowed"} 1"#), "{metrics}");
    assert!(
        metrics.contains(r#"portcullis_gate_requests_total{model="frontier",outcome="grant_required"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("portcullis_decision_seconds_count 2"), "{metrics}");
    assert!(metrics.contains(r#"portcullis_upstream_seconds_count{model="workhorse"} 1"#), "{metrics}");
    // No secret ever appears in metrics.
    assert!(!metrics.contains(&story.acme_key));
}

/// Writes `request` on a new connection and reads until the server closes it.
async fn raw_exchange(address: &str, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    socket.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// The accept loop (`serve.rs`) is HTTP/1.1 only: a malformed head is answered 400 and ends that
/// connection alone, an HTTP/2 preface gets no HTTP/2, and a kept-alive connection serves one
/// request after another.
#[tokio::test]
async fn the_http_layer_refuses_bad_heads_and_keeps_connections_alive() {
    let app = spawn_app().await;
    let address = app.address.trim_start_matches("http://").to_owned();

    let answer = raw_exchange(&address, b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nBad Header\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

    let answer = raw_exchange(&address, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
    assert!(!answer.contains(" 200 "), "an HTTP/2 preface was served: {answer}");

    // Two requests on one connection, the second asking to close it.
    let answer = raw_exchange(
        &address,
        b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\nGET /readyz HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(answer.matches("HTTP/1.1 200 OK").count(), 2, "{answer}");
    assert!(answer.contains(r#"{"status":"ok"}"#) && answer.contains(r#""status":"ready""#), "{answer}");

    // The bad connections cost the server nothing.
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

/// `[limits] header_read_timeout_secs`: a client that trickles its head, or keeps a connection
/// idle after its answer, has the connection closed (a hang guard of 20 s bounds the test; the
/// limit is 1 s).
#[tokio::test]
async fn slow_heads_and_idle_connections_are_closed() {
    let app = crate::helpers::spawn_app_with(|settings| settings.limits.header_read_timeout_secs = 1).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let guard = std::time::Duration::from_secs(20);

    let half = tokio::time::timeout(guard, raw_exchange(&address, b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n"))
        .await
        .expect("a half-sent head held its connection open");
    // hyper closes it without an answer (or, in some versions, with a 408).
    assert!(half.is_empty() || half.starts_with("HTTP/1.1 408"), "{half}");

    // A whole request on a kept-alive connection is answered; then the idle connection closes.
    let idle = tokio::time::timeout(guard, raw_exchange(&address, b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n"))
        .await
        .expect("an idle kept-alive connection stayed open");
    assert!(idle.starts_with("HTTP/1.1 200 OK"), "{idle}");
    assert!(idle.ends_with(r#"{"status":"ok"}"#), "something followed the answer: {idle}");
}
