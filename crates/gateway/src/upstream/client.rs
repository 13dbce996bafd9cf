//! The request path's upstream client: HTTP/1.1 connections kept alive per upstream, each driven
//! by the task of the request that uses it.
//!
//! reqwest (still used off the request path, for witnesses and probes) formatted the URL into a
//! `Uri` and parsed it back on every request and ran its redirect layer even with redirects off:
//! about a tenth of the gateway's CPU at saturation (BENCHMARKS.md §1). hyper-util's pooled
//! client, which replaced it, runs every connection as a task of its own: a request went to that
//! task through a channel and its answer came back through another, two task hand-offs per
//! request and one more per chunk of the body. Here a connection is hyper's bare HTTP/1.1
//! connection (`hyper::client::conn::http1`): the request's own task polls it while it waits for
//! the answer's head, and the answer's body ([`UpstreamBody`]) polls it while the body is read, so
//! the bytes go from the upstream's socket to the client's in one task. When the body has been
//! read to its end, the connection goes back to the pool for the next request to the same
//! upstream.
//!
//! Connections are made with `TCP_NODELAY` (a request head and body are not held back by Nagle's
//! algorithm); `https://` upstreams get rustls with Mozilla's roots (ring, as everywhere else in
//! the workspace).

use std::collections::HashMap;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use axum::http::header::HOST;
use axum::http::uri::{Authority, Scheme};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::{TrySendError, http1};
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::body::UpstreamBody;
use super::urls::Target;

/// A request to an upstream: the client's body, as received or with its model rewritten.
pub type UpstreamRequest = axum::http::Request<Full<Bytes>>;

/// An upstream's answer, its body not yet read.
pub type UpstreamResponse = axum::http::Response<UpstreamBody>;

/// The upstream connection's byte stream: TCP, or TLS over TCP.
type Io = MaybeHttpsStream<TokioIo<TcpStream>>;

/// The future that drives one HTTP/1.1 connection: it writes requests and reads answers, and
/// ends when the connection closes.
type Driver = http1::Connection<Io, Full<Bytes>>;

/// An open connection: the handle to send a request on it and what drives it.
pub(super) struct Conn {
    pub(super) sender: http1::SendRequest<Full<Bytes>>,
    /// Boxed once per connection, so that it can be moved between requests and the pool after
    /// being polled.
    pub(super) driver: Pin<Box<Driver>>,
}

/// Where a connection goes: an upstream's scheme and authority.
pub(super) type PoolKey = (Scheme, Authority);

/// The upstream client; cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct UpstreamClient {
    inner: Arc<Inner>,
}

struct Inner {
    connector: HttpsConnector<HttpConnector>,
    pool: Arc<Pool>,
}

/// Idle connections by upstream, oldest first. Nothing polls an idle connection: one the
/// upstream closed in the meantime is found out when it is taken (its driver ends at once) or
/// when it has been idle past the timeout (dropped, which closes its socket).
pub(super) struct Pool {
    idle: Mutex<HashMap<PoolKey, Vec<(Conn, Instant)>>>,
    idle_timeout: Duration,
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
    /// What failed, cause by cause (e.g. `connect: tcp connect error: Connection refused`).
    pub message: String,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl SendError {
    /// `what` failed because of `err`, with its causes.
    fn new(what: &str, err: &(dyn std::error::Error + 'static)) -> Self {
        let is_timeout = |cause: &(dyn std::error::Error + 'static)| {
            cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        };
        let mut message = format!("{what}: {err}");
        let mut timed_out = is_timeout(err);
        let mut source = err.source();
        while let Some(cause) = source {
            timed_out |= is_timeout(cause);
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Self { timed_out, message }
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
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let pool = Arc::new(Pool { idle: Mutex::new(HashMap::new()), idle_timeout });
        Ok(Self { inner: Arc::new(Inner { connector, pool }) })
    }

    /// Sends `request` to `target` on an idle connection to its upstream (or a new one) and
    /// waits for the answer's head. The request's URI and `Host` header are set from `target`.
    ///
    /// A request that an idle connection could not take (the upstream had closed it) goes on
    /// another; one that was sent is never sent again, since the upstream may have acted on it.
    ///
    /// # Errors
    ///
    /// When no connection could be made or the upstream closed it before answering.
    pub async fn send(&self, target: &Target, mut request: UpstreamRequest) -> Result<UpstreamResponse, SendError> {
        *request.uri_mut() = target.origin_form.clone();
        request.headers_mut().insert(HOST, target.host.clone());
        let key: PoolKey = (target.scheme.clone(), target.authority.clone());
        loop {
            let (conn, reused) = match self.inner.pool.take(&key).await {
                Some(conn) => (conn, true),
                None => (self.connect(target).await?, false),
            };
            match exchange(conn, request).await {
                Ok((response, conn)) => {
                    let (parts, body) = response.into_parts();
                    let body = UpstreamBody::new(body, conn, Arc::clone(&self.inner.pool), key);
                    return Ok(axum::http::Response::from_parts(parts, body));
                }
                Err(mut err) => match err.take_message() {
                    // Not sent: the pooled connection had closed. A new connection that cannot
                    // take a request is a failure, not a reason to loop.
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(SendError::new("upstream connection", err.error())),
                },
            }
        }
    }

    /// Opens a connection to `target`'s upstream (TCP, then TLS for `https://`).
    async fn connect(&self, target: &Target) -> Result<Conn, SendError> {
        use tower::Service as _;
        let mut connector = self.inner.connector.clone();
        let io = connector.call(target.uri.clone()).await.map_err(|err| SendError::new("connect", &*err))?;
        let (sender, driver) = http1::handshake(io).await.map_err(|err| SendError::new("handshake", &err))?;
        Ok(Conn { sender, driver: Box::pin(driver) })
    }
}

/// Sends `request` on `conn` and drives the connection until the answer's head arrives. The
/// connection comes back with the head unless it ended meanwhile.
async fn exchange(
    conn: Conn,
    request: UpstreamRequest,
) -> Result<(axum::http::Response<Incoming>, Option<Conn>), TrySendError<UpstreamRequest>> {
    let Conn { mut sender, driver } = conn;
    let mut answer = std::pin::pin!(sender.try_send_request(request));
    let mut driver = Some(driver);
    let head = std::future::poll_fn(|cx| {
        // The driver first: it writes the request and reads the head the answer waits for.
        if let Some(running) = driver.as_mut()
            && running.as_mut().poll(cx).is_ready()
        {
            // The connection ended (closed or failed); hyper fails the answer with why.
            driver = None;
        }
        answer.as_mut().poll(cx)
    })
    .await?;
    Ok((head, driver.map(|driver| Conn { sender, driver })))
}

impl Pool {
    /// An idle connection to `key`'s upstream that is still open, the most recently used first
    /// (its socket is the likeliest to be warm and open).
    async fn take(&self, key: &PoolKey) -> Option<Conn> {
        loop {
            let (mut conn, since) = self.idle.lock().ok()?.get_mut(key)?.pop()?;
            if since.elapsed() >= self.idle_timeout {
                continue;
            }
            // One poll lets the driver see a close (or anything else) the upstream sent while
            // the connection sat idle, and get ready for the next request.
            let open = std::future::poll_fn(|cx| {
                Poll::Ready(conn.driver.as_mut().poll(cx).is_pending() && !conn.sender.is_closed())
            })
            .await;
            if open {
                return Some(conn);
            }
        }
    }

    /// Keeps `conn` for the next request to `key`'s upstream, and drops this upstream's
    /// connections that have been idle too long.
    pub(super) fn put(&self, key: PoolKey, conn: Conn) {
        let Ok(mut idle) = self.idle.lock() else { return };
        let conns = idle.entry(key).or_default();
        let now = Instant::now();
        let expired = conns.iter().take_while(|(_, since)| now.duration_since(*since) >= self.idle_timeout).count();
        conns.drain(..expired);
        conns.push((conn, now));
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
