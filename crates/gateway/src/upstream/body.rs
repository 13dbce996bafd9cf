//! An upstream answer's body, which drives its own connection while it is read.
//!
//! The connection has no task of its own (`client.rs` says why): whoever reads the body (the
//! client's connection, through the relay) polls it, and the bytes the driver reads from the
//! upstream's socket are handed to the body in the same poll. Read to its end, the body puts the
//! connection back in the pool when it is dropped; dropped before its end (the client went away,
//! or failover dropped a failed answer), it closes the connection, as HTTP/1.1 has no other way
//! to abandon an answer.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use super::client::{Conn, Pool, PoolKey};

/// The body of an upstream's answer.
pub struct UpstreamBody {
    incoming: Incoming,
    /// The connection the answer comes on; `None` once it ended.
    conn: Option<Conn>,
    /// Where the connection goes back to, and under which upstream.
    home: Arc<Pool>,
    key: Option<PoolKey>,
    /// The body was read to its end.
    done: bool,
}

impl UpstreamBody {
    pub(super) fn new(incoming: Incoming, conn: Option<Conn>, home: Arc<Pool>, key: PoolKey) -> Self {
        Self { incoming, conn, home, key: Some(key), done: false }
    }

    /// Polls the connection's driver; forgets the connection once it ended.
    fn drive(&mut self, cx: &mut Context<'_>) {
        if let Some(conn) = self.conn.as_mut()
            && conn.driver.as_mut().poll(cx).is_ready()
        {
            self.conn = None;
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        // The body first, so the driver knows it is wanted; then the driver, which reads what
        // the body waits for and hands it over; then the body again, to take it in this poll
        // rather than on the wake-up the hand-over schedules.
        let mut polled = Pin::new(&mut this.incoming).poll_frame(cx);
        if polled.is_pending() && this.conn.is_some() {
            this.drive(cx);
            polled = Pin::new(&mut this.incoming).poll_frame(cx);
        }
        match &polled {
            Poll::Ready(None) => this.done = true,
            // A broken answer leaves the connection in an unknown state.
            Poll::Ready(Some(Err(_))) => this.conn = None,
            Poll::Ready(Some(Ok(_))) | Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        if (self.done || self.incoming.is_end_stream())
            && let (Some(conn), Some(key)) = (self.conn.take(), self.key.take())
        {
            self.home.put(key, conn);
        }
    }
}
