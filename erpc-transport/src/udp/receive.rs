//! The server's receiving of datagrams, with a wait after each failure.
//!
//! A failed receive is usually passing (an ICMP error for an earlier send surfaces here on
//! some systems; the kernel short of buffers), but one that keeps failing must not turn the
//! receive loop into a spin at 100% CPU: after a failure the next receive waits
//! [`FIRST_WAIT`], doubling up to [`MAX_WAIT`], and the next datagram resets the wait.

use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::ReadBuf;
use tokio::net::UdpSocket;

/// The wait after the first of a run of failed receives.
pub(crate) const FIRST_WAIT: Duration = Duration::from_millis(1);
/// The longest wait: datagrams meanwhile wait in the socket's buffer (or are lost, which
/// the protocol tolerates), so it is kept short.
pub(crate) const MAX_WAIT: Duration = Duration::from_millis(100);

/// Something datagrams arrive on (a [`UdpSocket`]; a failing one in tests).
pub(crate) trait RecvFrom {
    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<SocketAddr>>;
}

impl RecvFrom for UdpSocket {
    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<SocketAddr>> {
        UdpSocket::poll_recv_from(self, cx, buf)
    }
}

/// Receives datagrams into one buffer, backing off after failures.
pub(crate) struct Receiver {
    buf: Vec<u8>,
    wait: Duration,
}

impl Receiver {
    /// A receiver of datagrams up to `max` bytes.
    pub(crate) fn new(max: usize) -> Receiver {
        Receiver {
            buf: vec![0u8; max],
            wait: FIRST_WAIT,
        }
    }

    /// The next datagram and its sender. Failures are logged and waited out; cancel-safe
    /// (a cancelled wait is not counted as done, the next call waits the same again).
    pub(crate) async fn next(&mut self, socket: &impl RecvFrom) -> (&[u8], SocketAddr) {
        loop {
            let received = std::future::poll_fn(|cx| {
                let mut buf = ReadBuf::new(&mut self.buf);
                socket
                    .poll_recv_from(cx, &mut buf)
                    .map_ok(|from| (buf.filled().len(), from))
            })
            .await;
            match received {
                Ok((n, from)) => {
                    self.wait = FIRST_WAIT;
                    return (&self.buf[..n], from);
                }
                Err(e) => {
                    tracing::debug!(error = %e, wait = ?self.wait, "udp receive error");
                    tokio::time::sleep(self.wait).await;
                    self.wait = (self.wait * 2).min(MAX_WAIT);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A socket whose every receive fails at once, counting them. Every other poll yields
    /// first, as tokio's cooperative budget makes a real socket do, so that a receive
    /// retried without a wait spins without starving the timer that ends the test.
    #[derive(Default)]
    struct Failing(AtomicU32);

    impl RecvFrom for Failing {
        fn poll_recv_from(
            &self,
            cx: &mut Context<'_>,
            _: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<SocketAddr>> {
            if self.0.fetch_add(1, Ordering::Relaxed) % 2 == 0 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Poll::Ready(Err(io::Error::other("no buffer space available")))
        }
    }

    /// Retried at once, a failing receive ran millions of times a second; backing off, a
    /// second of failures is at most a dozen receives (1, 2, 4 … 64, then 100 ms apart).
    #[tokio::test]
    async fn a_failing_receive_is_retried_with_backoff_not_in_a_spin() {
        let socket = Failing::default();
        let mut receiver = Receiver::new(64);
        let spin = tokio::time::timeout(Duration::from_secs(1), receiver.next(&socket)).await;
        assert!(spin.is_err(), "a failing socket gave a datagram");
        let tries = socket.0.load(Ordering::Relaxed) / 2;
        assert!((5..=20).contains(&tries), "{tries} receives in a second");
    }

    #[tokio::test]
    async fn a_datagram_resets_the_wait() {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut receiver = Receiver::new(64);
        receiver.wait = MAX_WAIT;
        sender
            .send_to(b"hi", socket.local_addr().unwrap())
            .await
            .unwrap();
        let (datagram, from) = receiver.next(&socket).await;
        assert_eq!((datagram, from), (&b"hi"[..], sender.local_addr().unwrap()));
        assert_eq!(receiver.wait, FIRST_WAIT);
    }
}
