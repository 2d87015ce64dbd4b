//! What a transport hands the engine: a [`Link`] to one peer.

use std::fmt;
use std::path::PathBuf;

use tokio::io::{AsyncRead, AsyncWrite};

/// An ordered, reliable byte stream.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A boxed byte stream: one virtual call per read or write batch, which the engine amortises
/// by reading and writing many frames at a time.
pub type BoxIo = Box<dyn Io>;

/// Who is at the other end of a link.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PeerAddr {
    /// A TCP peer.
    Tcp(std::net::SocketAddr),
    /// A Unix-socket peer (usually unnamed).
    Unix(Option<PathBuf>),
    /// An in-memory peer, numbered per listener.
    Mem(u64),
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerAddr::Tcp(a) => write!(f, "tcp://{a}"),
            PeerAddr::Unix(Some(p)) => write!(f, "unix://{}", p.display()),
            PeerAddr::Unix(None) => write!(f, "unix://(unnamed)"),
            PeerAddr::Mem(n) => write!(f, "mem://#{n}"),
        }
    }
}

/// A byte-stream link.
pub struct StreamLink {
    /// The stream.
    pub io: BoxIo,
    /// The remote end.
    pub peer: PeerAddr,
}

impl fmt::Debug for StreamLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamLink")
            .field("peer", &self.peer)
            .finish()
    }
}

/// A connection to one peer, in the shape its transport offers. See the crate docs.
#[derive(Debug)]
#[non_exhaustive]
pub enum Link {
    /// An ordered byte stream.
    Stream(StreamLink),
}

impl Link {
    /// The remote end.
    pub fn peer(&self) -> &PeerAddr {
        match self {
            Link::Stream(s) => &s.peer,
        }
    }
}
