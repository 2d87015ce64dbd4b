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
//! let Link::Stream(mut client) = erpc_transport::connect(&addr).await? else { unreachable!() };
//! let Link::Stream(mut server) = listener.accept().await? else { unreachable!() };
//! client.io.write_all(b"ping").await?;
//! let mut buf = [0; 4];
//! server.io.read_exact(&mut buf).await?;
//! assert_eq!(&buf, b"ping");
//! # Ok(()) }
//! ```
//!
//! # Links: the shapes a transport can have
//! [`Link`] is an enum so that the engine can serve each shape in its natural way:
//! - [`Link::Stream`]: an ordered byte stream (TCP, Unix, in-memory, and later TLS and
//!   WebSocket). The engine frames it with erpc's length-prefixed frames.
//! - Datagram links (UDP) and stream-per-call links (QUIC) are added as further variants by
//!   the transports issue: the engine already speaks in whole frames ("frames in, frames
//!   out"), so a datagram link hands it one frame per datagram and a QUIC link one frame
//!   sequence per stream, without a byte-stream layer between them.
//!
//! # Layout
//! - [`address`]: [`Address`], parsed from `tcp://`, `unix://` and `mem://` URLs.
//! - [`link`]: [`Link`], [`StreamLink`], [`PeerAddr`].
//! - [`listener`]: [`Listener`], [`bind`] and [`connect`].
//! - [`tcp`], [`unix`], [`mem`]: the transports themselves, each behind its cargo feature.
#![warn(missing_docs)]

pub mod address;
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
#[cfg(feature = "udp")]
pub mod udp;
#[cfg(all(unix, feature = "unix"))]
pub mod unix;
#[cfg(feature = "ws")]
mod ws;

pub use address::{Address, AddressError};
pub use link::{BoxIo, Io, Link, PeerAddr, StreamLink};
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
            let Link::Stream(mut s) = listener.accept().await.unwrap();
            let mut buf = [0u8; 5];
            s.io.read_exact(&mut buf).await.unwrap();
            s.io.write_all(&buf).await.unwrap();
        });
        let Link::Stream(mut c) = connect(&local).await.unwrap();
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
