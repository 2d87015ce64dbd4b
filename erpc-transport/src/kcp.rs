//! KCP (`kcp://host:port`): reliable, ordered delivery over UDP, with tokio_kcp.
//!
//! KCP trades bandwidth for latency (it retransmits early, without TCP's backoff), which
//! helps on lossy links. erpc runs over it exactly as over TCP: KCP is used in stream mode,
//! so it is a byte stream and carries every call kind, streams included (PROTOCOL.md
//! §12.6).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_kcp::{KcpConfig, KcpNoDelayConfig, KcpStream};

use crate::link::{Link, PeerAddr, StreamLink};

/// The KCP settings erpc uses: stream mode, KCP's "fastest" mode (no delay, 10 ms ticks,
/// fast resend, no congestion window), a 1,024-segment window, sessions that expire after
/// erpc's heartbeat would have declared them dead anyway.
fn config() -> KcpConfig {
    KcpConfig {
        nodelay: KcpNoDelayConfig::fastest(),
        wnd_size: (1024, 1024),
        session_expire: Duration::from_secs(90),
        flush_write: true,
        flush_acks_input: true,
        stream: true,
        ..KcpConfig::default()
    }
}

fn to_io(e: impl Into<io::Error>) -> io::Error {
    e.into()
}

/// The most bytes handed to KCP in one send: KCP refuses a send of 128 segments or more
/// ("user's send buffer is too big"), about 170 KiB at the default MTU.
const MAX_SEND: usize = 64 * 1024;

/// A KCP stream that never asks KCP to send more than it accepts at once.
struct KcpIo(KcpStream);

impl AsyncRead for KcpIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for KcpIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let n = buf.len().min(MAX_SEND);
        Pin::new(&mut self.0).poll_write(cx, &buf[..n])
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// A bound KCP listener.
pub struct KcpListener(tokio_kcp::KcpListener);

impl std::fmt::Debug for KcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("KcpListener")
            .field(&self.0.local_addr().ok())
            .finish()
    }
}

impl KcpListener {
    /// Bind `host:port`.
    pub async fn bind(hostport: &str) -> io::Result<Self> {
        tokio_kcp::KcpListener::bind(config(), hostport)
            .await
            .map(KcpListener)
            .map_err(to_io)
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    /// Accept one peer.
    pub async fn accept(&mut self) -> io::Result<Link> {
        let (stream, peer) = self.0.accept().await.map_err(to_io)?;
        Ok(Link::Stream(StreamLink::new(
            Box::new(KcpIo(stream)),
            PeerAddr::Kcp(peer),
        )))
    }
}

/// Connect to `host:port`.
pub async fn connect(hostport: &str) -> io::Result<Link> {
    let addr = crate::address::resolve(hostport).await?;
    let stream = KcpStream::connect(&config(), addr).await.map_err(to_io)?;
    Ok(Link::Stream(StreamLink::new(
        Box::new(KcpIo(stream)),
        PeerAddr::Kcp(addr),
    )))
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use crate::{Address, Link, bind, connect};

    #[tokio::test]
    async fn a_write_larger_than_kcp_accepts_at_once_goes_through() {
        let addr: Address = "kcp://127.0.0.1:0".parse().unwrap();
        let mut listener = bind(&addr).await.unwrap();
        let Link::Stream(mut client) = connect(listener.local_addr()).await.unwrap();
        let sent: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        let expected = sent.clone();
        let writer = tokio::spawn(async move {
            client.io.write_all(&sent).await.unwrap();
            client.io.flush().await.unwrap();
            client
        });
        let Link::Stream(mut server) = listener.accept().await.unwrap();
        let mut got = vec![0u8; expected.len()];
        server.io.read_exact(&mut got).await.unwrap();
        assert!(got == expected);
        writer.await.unwrap();
    }
}
