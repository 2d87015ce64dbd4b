//! The single writer of a connection.
//!
//! Every sender (callers, handlers, the reader answering pings) queues [`OutFrame`]s on one
//! channel. The writer takes *all* ready frames at once, encodes them back to back into one
//! reused buffer and issues one write: under load, hundreds of frames share a syscall, which
//! is the largest single throughput lever (see BENCHMARKS.md).

use bytes::BytesMut;
use std::sync::Arc;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::deadline;
use crate::engine::OutFrame;
use crate::engine::signal::{Role, Signal};

/// Frames taken off the queue per batch at most.
const BATCH_FRAMES: usize = 512;
/// A write buffer that grew past this (one huge body) is released rather than kept.
const KEEP_CAPACITY: usize = 1 << 20;

/// Write frames until every sender is gone (then flush and shut the stream down) or the
/// connection is declared dead. A write error declares it dead.
pub(crate) async fn write_loop<W: AsyncWrite + Unpin>(
    mut io: W,
    mut rx: mpsc::Receiver<OutFrame>,
    dead: Arc<Signal>,
) {
    let mut batch = Vec::with_capacity(BATCH_FRAMES);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let died = dead.fired(Role::Writer);
    tokio::pin!(died);
    loop {
        let n = tokio::select! {
            biased;
            _ = &mut died => return,
            n = rx.recv_many(&mut batch, BATCH_FRAMES) => n,
        };
        if n == 0 {
            break;
        }
        let now = Instant::now();
        for out in batch.drain(..) {
            let mut frame = out.frame;
            if let Some(d) = out.deadline {
                frame.head.deadline_micros = Some(deadline::micros_until(d, now));
            }
            // Senders validate frames before queueing them; this is a last line of defence.
            if let Err(e) = frame.encode(&mut buf) {
                tracing::error!(error = %e, kind = ?frame.header.kind, "dropping unencodable frame");
            }
        }
        let written = tokio::select! {
            biased;
            _ = &mut died => return,
            r = io.write_all(&buf) => r,
        };
        if let Err(e) = written {
            tracing::debug!(error = %e, "write failed; closing connection");
            dead.fire();
            return;
        }
        buf.clear();
        if buf.capacity() > KEEP_CAPACITY {
            buf = BytesMut::with_capacity(64 * 1024);
        }
    }
    let _ = io.flush().await;
    let _ = io.shutdown().await;
}
