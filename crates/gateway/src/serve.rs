//! The accept loop: each connection served by hyper's HTTP/1.1 server directly.
//!
//! `axum::serve` hands every connection to hyper-util's protocol-detecting `auto` builder, which
//! first reads up to 24 bytes on its own to tell HTTP/2's preface from HTTP/1 (a second
//! `recvfrom` on every new connection before hyper reads the rest of the head) and then passes
//! every read through a rewind buffer, and it keeps a select loop per connection for shutdown.
//! The gateway is built without HTTP/2 and has no upgrades, so that work bought nothing; a new
//! connection here costs an `accept4`, one `setsockopt` (`TCP_NODELAY`) and hyper's own reads.
//!
//! Shutdown is graceful as before: once `stop` fires, the listener is dropped (new connections
//! are refused), idle keep-alive connections are closed, and in-flight requests run to their end
//! (the caller bounds how long it waits).

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

/// How long to pause accepting after an error that is not about one connection (e.g. too many
/// open files), so the loop does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `stop` completes, then waits for the open connections to
/// finish their in-flight requests. A connection that has not sent a whole request head within
/// `header_read_timeout` of opening or of its previous answer is closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_read_timeout: Option<Duration>,
    stop: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    // hyper's timer drives the head timeout (hyper panics on a timeout without one).
    http.timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
    let mut stop = std::pin::pin!(stop);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => break,
        };
        let tcp = match accepted {
            Ok((tcp, _peer)) => tcp,
            // The peer gave up between SYN and accept: nothing to serve, nothing wrong here.
            Err(err) if is_connection_error(&err) => continue,
            Err(err) => {
                tracing::error!(error = %err, "accepting a connection failed; pausing for a second");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        // Small SSE chunks must leave at once; Nagle would hold them back.
        let _ = tcp.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(tcp), service));
        tokio::spawn(async move {
            // A connection's errors (a reset, a malformed head: hyper has answered 400 where it
            // could) are the peer's business, not the server's.
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Errors that concern one connection only (as `axum::serve` and hyper's examples treat them).
fn is_connection_error(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(err.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}
