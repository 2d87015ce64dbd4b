//! What a transport hands the engine: a [`Link`] to one peer.

use std::fmt;
use std::path::PathBuf;

use bytes::Bytes;

use tokio::io::{AsyncRead, AsyncWrite};

/// An ordered, reliable byte stream.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A boxed byte stream: one virtual call per read or write batch, which the engine amortises
/// by reading and writing many frames at a time.
pub type BoxIo = Box<dyn Io>;

/// For transports that receive whole messages (WebSocket, QUIC, UDP) and hand them on as a
/// byte stream: copy as much of `pending` as `buf` takes, keeping the rest for the next read.
#[cfg_attr(
    not(any(feature = "ws", feature = "quic", feature = "udp")),
    allow(dead_code)
)]
pub(crate) fn read_pending(pending: &mut bytes::Bytes, buf: &mut tokio::io::ReadBuf<'_>) {
    let n = pending.len().min(buf.remaining());
    buf.put_slice(&pending[..n]);
    bytes::Buf::advance(pending, n);
}

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
    /// A TLS-over-TCP peer.
    Tls(std::net::SocketAddr),
    /// A WebSocket peer (`secure`: over TLS).
    Ws {
        /// The socket address.
        addr: std::net::SocketAddr,
        /// Whether the WebSocket runs over TLS (`wss://`).
        secure: bool,
    },
    /// A QUIC peer (its current address: QUIC connections survive address changes).
    Quic(std::net::SocketAddr),
    /// A UDP peer.
    Udp(std::net::SocketAddr),
    /// A KCP peer.
    Kcp(std::net::SocketAddr),
    /// A peer of a transport from outside this crate (see [`crate::custom`]).
    Other {
        /// The URL scheme of its transport, as its connector or acceptor names it.
        scheme: String,
        /// The peer's address in whatever form that transport has (a socket address, a
        /// path, a name).
        addr: String,
    },
}

impl PeerAddr {
    /// The URL scheme of the transport this peer came over.
    pub fn scheme(&self) -> &str {
        match self {
            PeerAddr::Tcp(_) => "tcp",
            PeerAddr::Unix(_) => "unix",
            PeerAddr::Mem(_) => "mem",
            PeerAddr::Tls(_) => "tls",
            PeerAddr::Ws { secure: false, .. } => "ws",
            PeerAddr::Ws { secure: true, .. } => "wss",
            PeerAddr::Quic(_) => "quic",
            PeerAddr::Udp(_) => "udp",
            PeerAddr::Kcp(_) => "kcp",
            PeerAddr::Other { scheme, .. } => scheme,
        }
    }

    /// The peer's socket address, on transports over IP (`None` for `unix://`, `mem://` and
    /// custom transports).
    pub fn socket_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            PeerAddr::Tcp(a)
            | PeerAddr::Tls(a)
            | PeerAddr::Ws { addr: a, .. }
            | PeerAddr::Quic(a)
            | PeerAddr::Udp(a)
            | PeerAddr::Kcp(a) => Some(*a),
            PeerAddr::Unix(_) | PeerAddr::Mem(_) | PeerAddr::Other { .. } => None,
        }
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme())?;
        match self {
            PeerAddr::Tcp(a)
            | PeerAddr::Tls(a)
            | PeerAddr::Ws { addr: a, .. }
            | PeerAddr::Quic(a)
            | PeerAddr::Udp(a)
            | PeerAddr::Kcp(a) => write!(f, "{a}"),
            PeerAddr::Unix(Some(p)) => write!(f, "{}", p.display()),
            PeerAddr::Unix(None) => write!(f, "(unnamed)"),
            PeerAddr::Mem(n) => write!(f, "#{n}"),
            PeerAddr::Other { addr, .. } => write!(f, "{addr}"),
        }
    }
}

/// A connection to one peer, as every transport hands it to the engine: a byte stream the
/// engine writes and reads erpc frames on, with what the engine must know of its transport.
///
/// Frame-aware transports (QUIC: a stream per call; UDP: a datagram per frame) cut the byte
/// stream into frames themselves and say what they cannot carry in `max_frame` and
/// `streaming`. A transport of your own builds one with [`Link::new`] and sets the fields
/// that differ from the defaults (see [`crate::custom`]).
pub struct Link {
    /// The stream.
    pub io: BoxIo,
    /// The remote end.
    pub peer: PeerAddr,
    /// The largest frame (header + header block + body) the transport can carry; larger
    /// frames must be refused before they are written. `None` (the default): no limit
    /// beyond erpc's.
    pub max_frame: Option<usize>,
    /// Whether the transport carries streaming calls (UDP does not: no ordering, no
    /// retransmission of stream messages). Default `true`.
    pub streaming: bool,
    /// Whether a successful connect shows that a server is there (a TCP, TLS, WebSocket or
    /// QUIC handshake, UDP's cookie exchange was answered). `false` for KCP, whose connect
    /// sends nothing: a client must see the peer answer (erpc: a PING, PROTOCOL.md §12.6)
    /// before trusting the link with calls. Default `true`.
    pub connect_proves_peer: bool,
    /// The certificate chain the peer presented in its TLS handshake (tls://, wss://,
    /// quic://), DER-encoded, the peer's own certificate first: on a server, the client's
    /// chain when it authenticated with mutual TLS (verified against
    /// `ServerTls::client_auth`'s roots); on a client, the server's. Empty (the default) on
    /// transports without TLS and when the peer presented none.
    pub peer_certificates: Vec<Bytes>,
    /// The request id of a client's first call on this link; the next calls count up from it
    /// (PROTOCOL.md §3 lets a client pick any non-zero ids that differ from those in flight).
    /// Default 1. UDP starts each connection at a random id below 2^32: a server FRAME carries
    /// no connection nonce, so a response the server sent a closed client can reach a new
    /// client at the same port, and must not find a call of the same id there (§12.5).
    pub first_request_id: u64,
}

impl Link {
    /// A link with no transport limit that carries streams, whose connect proves the peer,
    /// with no peer certificates.
    pub fn new(io: BoxIo, peer: PeerAddr) -> Link {
        Link {
            io,
            peer,
            max_frame: None,
            streaming: true,
            connect_proves_peer: true,
            peer_certificates: Vec::new(),
            first_request_id: 1,
        }
    }
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("peer", &self.peer)
            .field("max_frame", &self.max_frame)
            .field("streaming", &self.streaming)
            .field("connect_proves_peer", &self.connect_proves_peer)
            .field("peer_certificates", &self.peer_certificates.len())
            .field("first_request_id", &self.first_request_id)
            .finish()
    }
}
