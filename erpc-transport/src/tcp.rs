//! TCP, with `TCP_NODELAY` on: the engine batches frames itself, so Nagle's delay would only
//! add latency.

use std::io;
use std::net::SocketAddr;

use crate::link::{Link, PeerAddr};

/// A bound TCP listener.
#[derive(Debug)]
pub struct TcpListener(tokio::net::TcpListener);

impl From<tokio::net::TcpListener> for TcpListener {
    fn from(l: tokio::net::TcpListener) -> Self {
        TcpListener(l)
    }
}

impl TcpListener {
    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    /// Accept one peer.
    pub async fn accept(&mut self) -> io::Result<Link> {
        let (stream, peer) = self.0.accept().await?;
        Ok(link(stream, peer))
    }
}

fn link(stream: tokio::net::TcpStream, peer: SocketAddr) -> Link {
    // A socket that refuses NODELAY still works, only slower; not worth failing the link.
    let _ = stream.set_nodelay(true);
    Link::new(Box::new(stream), PeerAddr::Tcp(peer))
}

/// Connect to `host:port`.
pub async fn connect(hostport: &str) -> io::Result<Link> {
    let (stream, peer) = dial(hostport).await?;
    Ok(link(stream, peer))
}

/// A TCP connection to `host:port` with `TCP_NODELAY`, and the peer's address: the first
/// step of tcp, tls, ws and wss.
pub(crate) async fn dial(hostport: &str) -> io::Result<(tokio::net::TcpStream, SocketAddr)> {
    let stream = tokio::net::TcpStream::connect(hostport).await?;
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr()?;
    Ok((stream, peer))
}
