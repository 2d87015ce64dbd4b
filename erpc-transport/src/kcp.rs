//! KCP (`kcp://host:port`): reliable, ordered delivery over UDP, with tokio_kcp.
//!
//! KCP trades bandwidth for latency (it retransmits early, without TCP's backoff), which
//! helps on lossy links. erpc runs over it exactly as over TCP: KCP is used in stream mode,
//! so it is a byte stream and carries every call kind, streams included (PROTOCOL.md
//! §15.6).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

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
            Box::new(stream),
            PeerAddr::Kcp(peer),
        )))
    }
}

/// Connect to `host:port`.
pub async fn connect(hostport: &str) -> io::Result<Link> {
    let addr = tokio::net::lookup_host(hostport)
        .await?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address"))?;
    let stream = KcpStream::connect(&config(), addr).await.map_err(to_io)?;
    Ok(Link::Stream(StreamLink::new(
        Box::new(stream),
        PeerAddr::Kcp(addr),
    )))
}
