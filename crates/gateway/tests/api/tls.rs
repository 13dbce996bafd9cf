//! HTTPS upstreams: the request path's client speaks TLS and verifies the upstream's certificate
//! against Mozilla's roots plus `upstream_ca_file`. The upstream here is a TLS server with the
//! machine's self-signed `localhost` certificate (Debian's `ssl-cert` snakeoil pair, the one the
//! PostgreSQL TLS test uses), trusted only when it is the configured CA file.

use std::sync::Arc;

use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const CERT: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
const KEY: &str = "/etc/ssl/private/ssl-cert-snakeoil.key";

/// A one-answer-per-connection HTTPS upstream on a free port: every request gets the same chat
/// completion. Returns the port.
async fn tls_upstream() -> u16 {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(CERT)
        .unwrap_or_else(|err| panic!("this test needs {CERT} (Debian: ssl-cert): {err}"))
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(KEY)
        .unwrap_or_else(|err| panic!("this test needs to read {KEY} (root, or group ssl-cert): {err}"));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that does not trust the certificate ends the handshake: nothing to do.
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut request = Vec::new();
                let mut buffer = [0_u8; 4096];
                let body_start = loop {
                    let n = tls.read(&mut buffer).await.unwrap();
                    assert!(n > 0, "the client closed before its request head");
                    request.extend_from_slice(&buffer[..n]);
                    if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        break at + 4;
                    }
                };
                let head = String::from_utf8_lossy(&request[..body_start]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                while request.len() < body_start + length {
                    let n = tls.read(&mut buffer).await.unwrap();
                    assert!(n > 0, "the client closed before its request body");
                    request.extend_from_slice(&buffer[..n]);
                }
                let body = json!({
                    "id": "chatcmpl-tls", "object": "chat.completion", "created": 0, "model": "workhorse",
                    "choices": [{ "index": 0, "message": { "role": "assistant", "content": "over TLS" }, "finish_reason": "stop" }],
                })
                .to_string();
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                tls.write_all(answer.as_bytes()).await.unwrap();
                tls.shutdown().await.unwrap();
            });
        }
    });
    port
}

async fn point_workhorse_at(app: &TestApp, base_url: &str) {
    let (status, body) = app
        .admin(
            reqwest::Method::PUT,
            "/admin/v1/models/workhorse/upstream",
            &app.provider_token,
            Some(json!({ "base_url": base_url })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn an_https_upstream_is_served_when_its_ca_is_trusted_and_refused_when_not() {
    let port = tls_upstream().await;
    let base_url = format!("https://localhost:{port}/v1");

    let trusting = spawn_app_with(|settings| settings.upstream_ca_file = Some(CERT.into())).await;
    let story = trusting.seed_story().await;
    point_workhorse_at(&trusting, &base_url).await;
    let (status, body) = trusting.chat(&story.acme_key, "workhorse", None, "hi").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], "chatcmpl-tls", "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "over TLS");

    // Without the CA file the self-signed certificate is not trusted: no answer, a 502.
    let default = spawn_app().await;
    let story = default.seed_story().await;
    point_workhorse_at(&default, &base_url).await;
    let (status, body) = default.chat(&story.acme_key, "workhorse", None, "hi").await;
    assert_eq!(status, 502, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("could not be reached"), "{body}");
}
