//! The request path's upstream client: hyper's pooled HTTP/1.1 client, called directly.
//!
//! reqwest (still used off the request path, for witnesses and probes) is built on the same
//! client but, per request, formatted the URL into a `Uri` and parsed it back (IDNA included) and
//! ran its redirect layer even with redirects off: about a tenth of the gateway's CPU at
//! saturation (BENCHMARKS.md §1). Here a request is built from a `Uri` parsed once per base URL
//! (`urls.rs`) and a body that is the client's bytes (a reference count, no copy).
//!
//! Connections are kept alive per host and reused (`pool_idle_timeout`), with `TCP_NODELAY` so a
//! request head and body are not held back by Nagle's algorithm; `https://` upstreams get rustls
//! with Mozilla's roots (ring, as everywhere else in the workspace).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// A request to an upstream: the client's body, as received or with its model rewritten.
pub type UpstreamRequest = axum::http::Request<Full<Bytes>>;

/// An upstream's answer, its body not yet read.
pub type UpstreamResponse = axum::http::Response<Incoming>;

/// The pooled upstream client; cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct UpstreamClient {
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// The client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The extra CA file holds something that is not a usable certificate.
    #[error("upstream_ca_file `{path}`: {problem}")]
    CaFile {
        /// The file.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// rustls refused its own defaults (it does not; typed rather than unwrapped).
    #[error("TLS set-up failed: {0}")]
    Tls(#[from] rustls::Error),
}

/// Why a request got no answer. Its text never names the URL: an upstream URL may carry
/// credentials.
#[derive(Debug)]
pub struct SendError {
    /// The connection attempt timed out.
    pub timed_out: bool,
    /// What failed, cause by cause (e.g. `client error (Connect): tcp connect error: Connection
    /// refused`).
    pub message: String,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl UpstreamClient {
    /// A client that gives up connecting after `connect_timeout`, closes connections idle for
    /// `idle_timeout`, and trusts Mozilla's roots plus the certificates of `extra_ca` (the path
    /// and contents of a PEM file), if given.
    ///
    /// # Errors
    ///
    /// When `extra_ca` holds no certificate or a bad one.
    pub fn new(
        connect_timeout: Duration,
        idle_timeout: Duration,
        extra_ca: Option<(&std::path::Path, &[u8])>,
    ) -> Result<Self, ClientError> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject as _;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some((path, pem)) = extra_ca {
            let bad = |problem: String| ClientError::CaFile { path: path.display().to_string(), problem };
            let mut added = 0;
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|err| bad(format!("not PEM: {err}")))?;
                roots.add(cert).map_err(|err| bad(format!("a bad certificate: {err}")))?;
                added += 1;
            }
            if added == 0 {
                return Err(bad("no certificate in it".to_owned()));
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        // The TLS layer above takes `https://`; this one must not refuse it.
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(idle_timeout)
            .pool_timer(TokioTimer::new())
            .build(https);
        Ok(Self { inner })
    }

    /// Sends `request` on a pooled connection (or a new one) and waits for the response head.
    ///
    /// # Errors
    ///
    /// When no connection could be made or the upstream closed it before answering.
    pub async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, SendError> {
        self.inner.request(request).await.map_err(|err| {
            let mut message = err.to_string();
            let mut timed_out = false;
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                timed_out |=
                    cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut);
                message.push_str(": ");
                message.push_str(&cause.to_string());
                source = cause.source();
            }
            SendError { timed_out, message }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::UpstreamClient;

    #[test]
    fn a_ca_file_without_a_certificate_is_refused_by_name() {
        let second = Duration::from_secs(1);
        for (pem, problem) in [
            (&b"not a certificate"[..], "no certificate in it"),
            (&b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"[..], "a bad certificate"),
        ] {
            let Err(err) = UpstreamClient::new(second, second, Some((Path::new("/etc/ca.pem"), pem))) else {
                panic!("accepted {pem:?}");
            };
            let message = err.to_string();
            assert!(message.starts_with("upstream_ca_file `/etc/ca.pem`: "), "{message}");
            assert!(message.contains(problem), "{message}");
        }
        assert!(UpstreamClient::new(second, second, None).is_ok());
    }
}
