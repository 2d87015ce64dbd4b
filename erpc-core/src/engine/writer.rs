//! The single writer of a connection.
//!
//! Every sender (callers, handlers, the reader answering pings) queues [`OutFrame`]s on one
//! channel. The writer takes *all* ready frames at once, encodes them back to back into one
//! buffer and issues one write: under load, dozens of frames share a syscall, which is the
//! largest single throughput lever (see BENCHMARKS.md).

use bytes::BytesMut;
use std::sync::Arc;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::deadline;
use crate::engine::OutFrame;
use crate::engine::signal::{Role, Signal};

/// A batch stops growing at this many bytes, so one write never holds up the next too long.
const MAX_BATCH_BYTES: usize = 256 * 1024;
/// A write buffer no larger than this is kept when the queue drains. Releasing smaller ones
/// too cost ~3% of throughput under load (a 38 KiB buffer re-allocated every batch).
const KEEP_IDLE: usize = 64 * 1024;

/// Write frames until every sender is gone (then flush and shut the stream down) or the
/// connection is declared dead. A write error declares it dead.
///
/// Memory: a write buffer grown past 64 KiB is released whenever the queue is drained, so a
/// connection keeps at most that much between bursts; the next batch reserves the previous
/// batch's size in one step. No batch vector either (it held 512 frames, ~120 KiB, per
/// connection): frames are encoded as they are taken off the queue.
pub(crate) async fn write_loop<W: AsyncWrite + Unpin>(
    mut io: W,
    mut rx: mpsc::Receiver<OutFrame>,
    dead: Arc<Signal>,
) {
    let mut buf = BytesMut::new();
    let mut last_batch = 0usize;
    let died = dead.fired(Role::Writer);
    tokio::pin!(died);
    loop {
        let first = tokio::select! {
            biased;
            _ = &mut died => return,
            first = rx.recv() => first,
        };
        let Some(first) = first else { break };
        buf.reserve(last_batch);
        let now = Instant::now();
        encode(first, now, &mut buf);
        while buf.len() < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(out) => encode(out, now, &mut buf),
                Err(_) => break,
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
        last_batch = buf.len();
        if rx.is_empty() && buf.capacity() > KEEP_IDLE {
            // Drained after a burst: give the big buffer back rather than keep it for an idle
            // connection. Small buffers stay, so light traffic allocates nothing per batch.
            buf = BytesMut::new();
        } else {
            buf.clear();
        }
    }
    let _ = io.flush().await;
    let _ = io.shutdown().await;
}

fn encode(out: OutFrame, now: Instant, buf: &mut BytesMut) {
    let mut frame = out.frame;
    if let Some(d) = out.deadline {
        frame.head.deadline_micros = Some(deadline::micros_until(d, now));
    }
    // Senders validate frames before queueing them; this is a last line of defence.
    if let Err(e) = frame.encode(buf) {
        tracing::error!(error = %e, kind = ?frame.header.kind, "dropping unencodable frame");
    }
}
