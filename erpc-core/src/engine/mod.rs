//! The connection engine shared by client and server: one writer task per connection that
//! coalesces every ready frame into one write, and a read loop that decodes frames, answers
//! pings and watches liveness.

pub(crate) mod deadlines;
pub(crate) mod encode_arena;
pub(crate) mod foreign_peer;
pub(crate) mod frame_queue;
pub(crate) mod heartbeat;
pub(crate) mod reader;
pub(crate) mod signal;
pub(crate) mod stream;
pub(crate) mod task_guard;
pub(crate) mod writer;

use futures_util::future::BoxFuture;
use tokio::time::Instant;

use crate::protocol::Frame;

/// A frame on its way to the writer. The deadline is kept absolute until the moment of
/// writing, so the relative deadline on the wire is as fresh as it can be.
#[derive(Debug)]
pub(crate) struct OutFrame {
    pub frame: Frame,
    pub deadline: Option<Instant>,
}

impl OutFrame {
    /// A kind that never goes on the wire: the frame's body is whole frames, already encoded
    /// (a batch of small stream messages), which the writer copies as they are. A marker
    /// rather than a second variant keeps `OutFrame`, which every call moves, as small as it
    /// was.
    const ENCODED: crate::protocol::Kind = crate::protocol::Kind(0);

    /// Frames encoded back to back in `bytes`.
    pub fn encoded(bytes: bytes::Bytes) -> OutFrame {
        let mut frame = Frame::new(Self::ENCODED, 0);
        frame.body = bytes;
        frame.into()
    }

    /// The already-encoded frames this carries, if it is a batch.
    pub fn as_encoded(&self) -> Option<&bytes::Bytes> {
        (self.frame.header.kind == Self::ENCODED).then_some(&self.frame.body)
    }
}

impl From<Frame> for OutFrame {
    fn from(frame: Frame) -> Self {
        OutFrame {
            frame,
            deadline: None,
        }
    }
}

/// A connection's two writer queues (see `writer`), each holding up to `capacity` frames:
/// the urgent sender, the data sender and the writer's receiving ends.
pub(crate) fn channels(
    capacity: usize,
) -> (frame_queue::Sender, frame_queue::Sender, writer::Queues) {
    let (urgent_tx, urgent) = frame_queue::channel(capacity);
    let (data_tx, data) = frame_queue::channel(capacity);
    (urgent_tx, data_tx, writer::Queues { urgent, data })
}

/// Queue `out` for the writer. If the queue is full, return a future that waits for room:
/// boxed, so the waiting (rare) is not part of every caller's future. Synchronous callers spawn it ([`queue_or_spawn`]); tasks await it.
pub(crate) fn queue(tx: &frame_queue::Sender, out: OutFrame) -> Option<BoxFuture<'static, ()>> {
    match tx.try_send(out) {
        Err(frame_queue::TrySendError::Full(out)) => {
            let tx = tx.clone();
            Some(Box::pin(async move {
                let _ = tx.send(out).await;
            }))
        }
        // Sent, or the connection is closed (nobody left to tell).
        _ => None,
    }
}

/// [`queue`] from synchronous code (the read path): a full queue delays the frame, never
/// loses it and never blocks the reader.
pub(crate) fn queue_or_spawn(tx: &frame_queue::Sender, out: OutFrame) {
    if let Some(wait) = queue(tx, out) {
        tokio::spawn(wait);
    }
}

/// The refusal of a streaming call over a transport that cannot carry one (UDP), said the
/// same by client and server.
pub(crate) fn streaming_unsupported(scheme: &str) -> crate::status::Status {
    crate::status::Status::unimplemented(format!(
        "streaming calls need an ordered, reliable transport; {scheme} carries unary and oneway calls only (use tcp, tls, ws, quic or kcp)"
    ))
}

/// A frame to send without a header block: ping, pong, cancel, goaway, error.
pub(crate) fn control(kind: crate::protocol::Kind, request_id: u64) -> OutFrame {
    Frame::new(kind, request_id).into()
}
