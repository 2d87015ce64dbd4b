//! The single writer of a connection.
//!
//! Senders queue [`OutFrame`]s on one of two channels: the *urgent* one (unary requests and
//! responses, control frames, stream opens and window grants) and the *data* one (stream
//! messages, chunked). The writer takes every ready urgent frame and at most
//! [`DATA_BUDGET`] bytes of stream data per batch, encodes them back to back and issues one
//! write: under load, dozens of frames share a syscall (the largest single throughput lever,
//! see BENCHMARKS.md), and a bulk stream puts at most one chunk of its queue ahead of a small
//! call (the kernel's socket buffers come on top; ARCHITECTURE.md has the figures).

use crate::engine::frame_queue;
use crate::observe::{WriteBatch, WriterWatch};
use bytes::BytesMut;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use crate::deadline;
use crate::engine::OutFrame;
use crate::engine::signal::{Role, Signal};

/// A batch stops growing at this many bytes, so one write never holds up the next too long.
const MAX_BATCH_BYTES: usize = 256 * 1024;
/// Stream data taken per batch: one chunk's worth (`stream::MAX_CHUNK`).
pub(crate) const DATA_BUDGET: usize = 64 * 1024;
/// A write buffer no larger than this is kept when the queue drains. Releasing smaller ones
/// too cost ~3% of throughput under load (a 38 KiB buffer re-allocated every batch).
const KEEP_IDLE: usize = 64 * 1024;

/// Urgent-queue slots kept when it drains (a slot is `size_of::<OutFrame>()`, ~265 B): the
/// same 64 KiB bound as the write buffers.
const KEEP_IDLE_FRAMES: usize = KEEP_IDLE / std::mem::size_of::<OutFrame>();
/// Data-queue slots kept when it drains: stream data comes in large chunks and batches, so a
/// re-grown queue costs little, and a connection that once streamed keeps at most 1 KiB.
const KEEP_IDLE_DATA_FRAMES: usize = 4;

/// The two queues a writer serves.
pub(crate) struct Queues {
    pub urgent: frame_queue::Receiver,
    pub data: frame_queue::Receiver,
}

/// Write frames until every sender is gone, or `close` fires (then write what is already
/// queued, flush and shut the stream down: an orderly close loses nothing accepted for
/// sending), or the connection is declared dead (stop at once). A write error declares it
/// dead; so does the end of an orderly close, which stops the connection's other tasks.
///
/// Order: urgent frames taken in a batch are written before its data frames. A stream's
/// STREAM_OPEN (urgent) is queued before its first STREAM_DATA, so it is always in the same
/// batch or an earlier one, and written first.
///
/// Memory: a write buffer grown past 64 KiB is released whenever the queues are drained, so
/// a connection keeps at most that much between bursts; the next batch reserves the previous
/// batch's size in one step.
///
/// Time: a close gives the queued frames [`CLOSE_FLUSH`] to reach the kernel (a peer that
/// stops reading cannot hold the task longer); frames queued after the close began are
/// written too, if they arrive before the queues are found empty.
pub(crate) async fn write_loop<W: AsyncWrite + Unpin>(
    mut io: W,
    mut queues: Queues,
    dead: Arc<Signal>,
    close: Arc<Signal>,
    watch: Option<WriterWatch>,
) {
    let mut buf = BytesMut::new();
    let mut data_buf = BytesMut::new();
    let mut last_batch = 0usize;
    let (mut urgent_open, mut data_open) = (true, true);
    let died = dead.fired(Role::Writer);
    let closing = close.fired(Role::Writer);
    tokio::pin!(died, closing);
    // Set once the close began: the time by which the last bytes must be out.
    let mut close_by: Option<Instant> = None;
    while urgent_open || data_open {
        let first = if close_by.is_some() {
            match take_queued(&mut queues) {
                Some(first) => first,
                None => break,
            }
        } else {
            tokio::select! {
                biased;
                _ = &mut died => return,
                _ = &mut closing => {
                    close_by = Some(Instant::now() + CLOSE_FLUSH);
                    continue;
                }
                first = queues.urgent.recv(), if urgent_open => match first {
                    Some(first) => (first, false),
                    None => { urgent_open = false; continue }
                },
                first = queues.data.recv(), if data_open => match first {
                    Some(first) => (first, true),
                    None => { data_open = false; continue }
                },
            }
        };
        buf.reserve(last_batch);
        let now = Instant::now();
        match first {
            (out, false) => encode(out, now, &mut buf),
            (out, true) => encode(out, now, &mut data_buf),
        }
        let mut frames = 1;
        frames += drain(&mut queues.urgent, now, &mut buf, MAX_BATCH_BYTES);
        frames += drain(&mut queues.data, now, &mut data_buf, DATA_BUDGET);
        // Urgent frames queued while the data was taken still go first.
        frames += drain(&mut queues.urgent, now, &mut buf, MAX_BATCH_BYTES);
        if let Some(watch) = &watch {
            let batch = WriteBatch {
                frames,
                bytes: buf.len() + data_buf.len(),
                still_queued: queues.urgent.len() + queues.data.len(),
            };
            watch.observer.write_batch(watch.side, &watch.peer, &batch);
        }
        let written = {
            let write = write_both(&mut io, &buf, &data_buf);
            tokio::pin!(write);
            tokio::select! {
                biased;
                _ = &mut died => return,
                r = &mut write => r,
                // A close that begins during a long write (a slow reader) bounds it.
                _ = &mut closing, if close_by.is_none() => {
                    let by = Instant::now() + CLOSE_FLUSH;
                    close_by = Some(by);
                    match tokio::time::timeout_at(by, &mut write).await {
                        Ok(r) => r,
                        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
                    }
                }
            }
        };
        if let Err(e) = written {
            tracing::debug!(error = %e, "write failed; closing connection");
            dead.fire();
            return;
        }
        last_batch = buf.len();
        let idle = queues.urgent.is_empty() && queues.data.is_empty();
        if idle {
            // A burst's slots go back; the few that steady traffic uses stay, so a call
            // allocates nothing here (an idle connection's are released at a heartbeat tick).
            queues.urgent.shrink_if_empty(KEEP_IDLE_FRAMES);
            queues.data.shrink_if_empty(KEEP_IDLE_DATA_FRAMES);
        }
        for b in [&mut buf, &mut data_buf] {
            if idle && b.capacity() > KEEP_IDLE {
                // Drained after a burst: give the big buffer back rather than keep it for an
                // idle connection. Small buffers stay, so light traffic allocates nothing.
                *b = BytesMut::new();
            } else {
                b.clear();
            }
        }
    }
    let by = close_by.unwrap_or_else(|| Instant::now() + CLOSE_FLUSH);
    let _ = tokio::time::timeout_at(by, async {
        let _ = io.flush().await;
        let _ = io.shutdown().await;
    })
    .await;
    if close_by.is_some() {
        dead.fire();
    }
}

/// How long an orderly close may take to write what was queued before it.
pub(crate) const CLOSE_FLUSH: Duration = Duration::from_secs(5);

/// The next queued frame, urgent first, without waiting; `None` when both queues are empty.
fn take_queued(queues: &mut Queues) -> Option<(OutFrame, bool)> {
    if let Ok(out) = queues.urgent.try_recv() {
        return Some((out, false));
    }
    queues.data.try_recv().ok().map(|out| (out, true))
}

/// Take ready frames off `rx` while `buf` is under `budget` bytes.
/// Encode queued frames into `buf` until it holds `budget` bytes or the queue is empty; how
/// many were taken.
fn drain(rx: &mut frame_queue::Receiver, now: Instant, buf: &mut BytesMut, budget: usize) -> usize {
    let mut taken = 0;
    while buf.len() < budget {
        match rx.try_recv() {
            Ok(out) => encode(out, now, buf),
            Err(_) => break,
        }
        taken += 1;
    }
    taken
}

/// Write `first` then `then`, in one vectored write when both hold bytes (one syscall for a
/// batch of urgent frames and stream data, where two `write_all`s took two).
async fn write_both<W: AsyncWrite + Unpin>(
    io: &mut W,
    mut first: &[u8],
    mut then: &[u8],
) -> std::io::Result<()> {
    while !first.is_empty() || !then.is_empty() {
        let n = if first.is_empty() {
            io.write(then).await?
        } else if then.is_empty() {
            io.write(first).await?
        } else {
            let parts = [std::io::IoSlice::new(first), std::io::IoSlice::new(then)];
            io.write_vectored(&parts).await?
        };
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        let from_first = n.min(first.len());
        first = &first[from_first..];
        then = &then[n - from_first..];
    }
    // A no-op for sockets; transports that buffer (TLS records, WebSocket messages, QUIC
    // and UDP frame routing) send the batch now rather than at the next write.
    io.flush().await
}

fn encode(out: OutFrame, now: Instant, buf: &mut BytesMut) {
    if let Some(encoded) = out.as_encoded() {
        buf.extend_from_slice(encoded);
        return;
    }
    let mut frame = out.frame;
    if let Some(d) = out.deadline {
        frame.head.deadline_micros = Some(deadline::micros_until(d, now));
    }
    // Senders validate frames before queueing them; this is a last line of defence.
    if let Err(e) = frame.encode(buf) {
        tracing::error!(error = %e, kind = ?frame.header.kind, "dropping unencodable frame");
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::write_both;

    /// Takes at most `step` bytes per write, vectored or not.
    struct Trickle {
        out: Vec<u8>,
        step: usize,
        vectored: bool,
    }

    impl tokio::io::AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            let n = buf.len().min(self.step);
            self.out.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[std::io::IoSlice<'_>],
        ) -> Poll<std::io::Result<usize>> {
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.step - n);
                self.out.extend_from_slice(&b[..take]);
                n += take;
            }
            Poll::Ready(Ok(n))
        }

        fn is_write_vectored(&self) -> bool {
            self.vectored
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn both_buffers_arrive_whole_and_in_order_across_partial_writes() {
        for vectored in [true, false] {
            for step in [1, 3, 7, 100] {
                let mut io = Trickle {
                    out: Vec::new(),
                    step,
                    vectored,
                };
                write_both(&mut io, b"urgent-", b"then data").await.unwrap();
                assert_eq!(
                    io.out, b"urgent-then data",
                    "step {step}, vectored {vectored}"
                );
            }
        }
    }
}
