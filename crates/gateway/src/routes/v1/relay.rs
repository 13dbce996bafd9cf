//! The body of an answer on its way from the upstream to the client: each frame passed on as it
//! arrives, with what must travel with it (the upstream slot, the token tap) and the one thing
//! it may add (an SSE error event when the upstream breaks off a stream).
//!
//! A hand-written `http_body::Body` rather than a stream of chunks, so the upstream's
//! `Content-Length` reaches the client: hyper then frames the answer by length instead of
//! chunked encoding, and the client knows the size of a non-streamed answer up front.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::sync::OwnedSemaphorePermit;

use crate::limits::UsageTap;
use crate::upstream::failover::Protocol;

/// An upstream answer relayed to the client.
pub struct Relay {
    inner: Incoming,
    /// Held until the body is dropped: the upstream slot stays taken while the answer flows.
    _permit: OwnedSemaphorePermit,
    /// Reads `usage` for token budgets, when one applies.
    tap: Option<UsageTap>,
    /// The answer is an event stream: a break becomes an SSE error event, and its size is
    /// never announced (that event would not fit in it).
    event_stream: Option<(Protocol, String)>,
    /// The stream broke and its error event was sent: nothing more.
    ended: bool,
}

impl Relay {
    /// Relays `inner`. `event_stream`: the protocol and served model's name, for an answer of
    /// type `text/event-stream`.
    pub fn new(
        inner: Incoming,
        permit: OwnedSemaphorePermit,
        tap: Option<UsageTap>,
        event_stream: Option<(Protocol, String)>,
    ) -> Self {
        Self { inner, _permit: permit, tap, event_stream, ended: false }
    }
}

impl Body for Relay {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let this = &mut *self;
        match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => {
                if let (Some(tap), Some(data)) = (this.tap.as_mut(), frame.data_ref()) {
                    tap.observe(data);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(err)) => match &this.event_stream {
                // Once bytes have reached the client the status cannot change; end the stream
                // with an SSE error event the client can see, instead of a silent cut.
                Some((protocol, model)) => {
                    tracing::warn!(model = %model, error = %err, "upstream stream broke");
                    this.ended = true;
                    Poll::Ready(Some(Ok(Frame::data(sse_error(*protocol, model)))))
                }
                None => Poll::Ready(Some(Err(err))),
            },
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        if self.event_stream.is_some() { SizeHint::default() } else { self.inner.size_hint() }
    }
}

/// The SSE event that ends a stream the upstream broke off, in the protocol's error shape.
fn sse_error(protocol: Protocol, model: &str) -> Bytes {
    if protocol == Protocol::Anthropic {
        return crate::routes::v1::anthropic::sse_error(model);
    }
    let event = serde_json::json!({
        "error": {
            "message": format!("the upstream of model `{model}` broke off the stream"),
            "type": "upstream_error",
            "code": "upstream_stream_interrupted",
            "param": null,
        }
    });
    Bytes::from(format!("data: {event}\n\n"))
}
