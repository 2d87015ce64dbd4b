//! The engine's byte stream over datagrams, shared by both ends: frames the engine writes
//! leave one per datagram; frames that arrive are read back to back.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;

use crate::frames::{FrameInfo, Splitter, UDP_MAX_FRAME};

/// Datagrams queued for the socket before writes wait.
const MAX_QUEUED: usize = 1024;

/// What differs between client and server.
pub(crate) trait End: Send + Unpin + 'static {
    /// The datagram that carries `frame` (with the end's prefix, and its bookkeeping).
    fn datagram(&mut self, info: FrameInfo, frame: Bytes) -> Bytes;
    /// Send one datagram.
    fn poll_send(&self, cx: &mut Context<'_>, datagram: &[u8]) -> Poll<io::Result<usize>>;
}

/// Frames arriving for the engine: a malformed datagram arrives as the error that ends the
/// connection.
pub(crate) type Arrivals = mpsc::Receiver<io::Result<Bytes>>;

/// A datagram link as a byte stream.
pub(crate) struct DatagramIo<E> {
    end: E,
    arrivals: Arrivals,
    reading: Bytes,
    splitter: Splitter,
    queue: VecDeque<Bytes>,
}

impl<E: End> DatagramIo<E> {
    pub(crate) fn new(end: E, arrivals: Arrivals) -> Self {
        DatagramIo {
            end,
            arrivals,
            reading: Bytes::new(),
            splitter: Splitter::default(),
            queue: VecDeque::new(),
        }
    }

    /// Send queued datagrams until the socket pushes back.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(datagram) = self.queue.front() {
            match ready!(self.end.poll_send(cx, datagram)) {
                Ok(_) => {}
                // Datagrams may be lost; a refused one (ICMP) is reported by the reader.
                Err(e) => tracing::debug!(error = %e, "datagram not sent"),
            }
            self.queue.pop_front();
        }
        Poll::Ready(Ok(()))
    }
}

impl<E: End> AsyncRead for DatagramIo<E> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        while self.reading.is_empty() {
            match ready!(self.arrivals.poll_recv(cx)) {
                Some(Ok(frame)) => self.reading = frame,
                Some(Err(e)) => return Poll::Ready(Err(e)),
                None => return Poll::Ready(Ok(())),
            }
        }
        crate::link::read_pending(&mut self.reading, buf);
        Poll::Ready(Ok(()))
    }
}

impl<E: End> AsyncWrite for DatagramIo<E> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.queue.len() >= MAX_QUEUED {
            ready!(this.poll_drain(cx))?;
        }
        this.splitter.push(buf);
        while let Some((info, frame)) = this.splitter.next_frame()? {
            if frame.len() > UDP_MAX_FRAME {
                // The engine checks sizes before framing; this is a last line of defence.
                tracing::error!(len = frame.len(), "frame too large for a datagram; dropped");
                continue;
            }
            let datagram = this.end.datagram(info, frame);
            this.queue.push_back(datagram);
        }
        let _ = this.poll_drain(cx)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_drain(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_drain(cx)
    }
}
