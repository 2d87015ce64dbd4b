//! How erpc moves bytes: transports addressed by URL.
//!
//! A transport knows nothing about frames. It dials an [`Address`] and yields a [`Link`], or
//! binds one and accepts links. `erpc-core` runs its connection engine over whatever link it
//! gets.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use erpc_transport::{Address, Link};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let addr: Address = "mem://doc-example".parse().unwrap();
//! let mut listener = erpc_transport::bind(&addr).await?;
//! let mut client: Link = erpc_transport::connect(&addr).await?;
//! let mut server: Link = listener.accept().await?;
//! client.io.write_all(b"ping").await?;
//! let mut buf = [0; 4];
//! server.io.read_exact(&mut buf).await?;
//! assert_eq!(&buf, b"ping");
//! # Ok(()) }
//! ```
//!
//! # Transports
//! Each behind a cargo feature (tcp, unix and mem by default); PROTOCOL.md §12 specifies how
//! frames map onto each.
//!
//! | address | module | carries |
//! |---|---|---|
//! | `tcp://host:port` | [`tcp`] | a byte stream |
//! | `unix:///path` | `unix` | a byte stream |
//! | `mem://name` | [`mem`] | a byte stream, in-process |
//! | `tls://host:port` | [`tls`] | a byte stream in TLS (rustls) |
//! | `ws://host:port/path`, `wss://…` | `ws` | a byte stream in WebSocket binary messages |
//! | `quic://host:port` | `quic` | each call on its own QUIC stream (quinn) |
//! | `udp://host:port` | [`udp`] | one frame per datagram, after cookie validation |
//! | `kcp://host:port` | [`kcp`] | a byte stream over KCP (tokio_kcp) |
//! | `yourscheme://…` | [`custom`] | a transport from outside this crate: your [`custom::Connector`] and [`custom::Acceptor`] |
//!
//! # Links
//! Every transport hands the engine a [`Link`]: a byte stream of erpc frames. QUIC and UDP
//! are frame-aware underneath (they find frame boundaries with [`frames`] and route each
//! frame to its call's QUIC stream, or into its own datagram), so the engine is the same on
//! every transport. A link also says what its transport cannot carry ([`Link::max_frame`],
//! [`Link::streaming`]) and, over TLS, the certificates the peer presented
//! ([`Link::peer_certificates`]).
//!
//! # Layout
//! - [`address`]: [`Address`], parsed from URLs.
//! - [`link`]: [`Link`], [`PeerAddr`].
//! - [`listener`]: [`Listener`], [`bind`]/[`bind_with`] and [`connect`]/[`connect_with`].
//! - [`custom`]: [`custom::Connector`] and [`custom::Acceptor`], for transports of your own.
//! - [`options`]: [`Options`]: certificates, the handshake deadline, the largest frame.
//! - [`frames`]: what a frame-aware transport knows of frames.
//! - one module per transport.
#![warn(missing_docs)]

/// UDP internals for the fuzz targets in `fuzz/` and their property tests in `fuzz-checks/`;
/// not part of the API.
#[cfg(feature = "udp")]
#[doc(hidden)]
pub mod __fuzz;
pub mod address;
pub mod custom;
pub mod frames;
mod handshake;
#[cfg(feature = "kcp")]
pub mod kcp;
pub mod link;
pub mod listener;
#[cfg(feature = "mem")]
pub mod mem;
pub mod options;
#[cfg(feature = "quic")]
mod quic;
#[cfg(feature = "tcp")]
pub mod tcp;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "flags")]
pub mod tls_flags;
#[cfg(feature = "udp")]
pub mod udp;
#[cfg(all(unix, feature = "unix"))]
pub mod unix;
#[cfg(feature = "ws")]
mod ws;

pub use address::{Address, AddressError, IntoAddress};
pub use custom::{Acceptor, Connector};
pub use link::{BoxIo, Io, Link, PeerAddr};
pub use listener::{Listener, bind, bind_with, connect, connect_with};
pub use options::Options;
#[cfg(feature = "tls")]
pub use tls::{ClientTls, ServerTls};

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn echo_once(addr: Address) {
        let mut listener = bind(&addr).await.unwrap();
        let local = listener.local_addr().clone();
        let server = tokio::spawn(async move {
            let mut s = listener.accept().await.unwrap();
            let mut buf = [0u8; 5];
            s.io.read_exact(&mut buf).await.unwrap();
            s.io.write_all(&buf).await.unwrap();
        });
        let mut c = connect(&local).await.unwrap();
        c.io.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 5];
        c.io.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn tcp_unix_and_mem_carry_bytes() {
        echo_once("tcp://127.0.0.1:0".parse().unwrap()).await;
        let dir = tempfile::tempdir().unwrap();
        echo_once(Address::Unix(dir.path().join("t.sock"))).await;
        echo_once("mem://transport-test".parse().unwrap()).await;
    }

    #[tokio::test]
    async fn mem_names_are_exclusive_and_freed_on_drop() {
        let addr: Address = "mem://exclusive".parse().unwrap();
        let first = bind(&addr).await.unwrap();
        assert_eq!(
            bind(&addr).await.unwrap_err().kind(),
            std::io::ErrorKind::AddrInUse
        );
        drop(first);
        assert_eq!(
            connect(&addr).await.unwrap_err().kind(),
            std::io::ErrorKind::ConnectionRefused
        );
        let _again = bind(&addr).await.unwrap();
    }

    #[tokio::test]
    async fn unix_replaces_a_stale_socket_but_not_a_live_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        std::fs::write(&path, b"").unwrap();
        let addr = Address::Unix(path);
        let live = bind(&addr).await.unwrap();
        assert!(bind(&addr).await.is_err());
        drop(live);
        bind(&addr).await.unwrap();
    }
}
