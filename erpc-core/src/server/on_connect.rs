//! Connection-level hooks: decide whether a new connection may be served at all, from who is
//! connecting — the peer's address and, over TLS (`tls://`, `wss://`, `quic://`) with mutual
//! TLS, the certificate chain it authenticated with — before any of its frames is read.
//!
//! Hooks run on the listener's accept loop, in the order added, when a link has been accepted
//! (its TLS, WebSocket or QUIC handshake done), before the `max_connections` check. They must
//! be quick and must not block: no I/O, no await (every other peer of that listener waits).
//! The first refusal wins: the connection is answered with one ERROR frame carrying the
//! refusal's code and message (the message goes to the peer: put nothing secret in it), then
//! closed, and an [`Observer`](crate::observe::Observer) sees it closed with
//! [`CloseReason::Denied`](crate::observe::CloseReason::Denied). An admitted connection is
//! served as usual; per-call decisions belong in header-level hooks
//! ([`Admission`](crate::server::Admission)).
//!
//! ```
//! # use erpc_core as erpc;
//! use erpc::{PeerAddr, Status};
//!
//! // Serve loopback peers only.
//! let builder = erpc::Server::builder().on_connect(|conn| match conn.peer {
//!     PeerAddr::Tcp(at) | PeerAddr::Tls(at) if at.ip().is_loopback() => Ok(()),
//!     other => Err(Status::permission_denied(format!("{other} is not served here"))),
//! });
//! ```

use crate::engine::task_guard::contained;
use std::sync::Arc;

use bytes::Bytes;
use erpc_transport::{Address, PeerAddr};

use crate::status::Status;

/// What a connection-level hook sees of a new connection.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Connecting<'a> {
    /// Who connected.
    pub peer: &'a PeerAddr,
    /// The listening address it connected to (as in `ServerHandle::local_addrs`).
    pub local: &'a Address,
    /// The certificate chain the peer presented in its TLS handshake, DER-encoded, its own
    /// certificate first, already verified against the roots of `ServerTls::client_auth`
    /// (mutual TLS). Empty on transports without TLS and when the client sent none. Read the
    /// subject and SANs with [`PeerIdentity::from_der`](crate::auth::PeerIdentity) (feature
    /// `tls`; each call's `Context::peer_identity` has them already), or compare it whole to
    /// pin one client's certificate.
    pub peer_certificates: &'a [Bytes],
}

/// A connection-level hook: `Ok(())` serves the connection, `Err(status)` turns it away with
/// that status. See the module docs.
pub(crate) type ConnectHook = dyn Fn(&Connecting<'_>) -> Result<(), Status> + Send + Sync;

/// Run every hook in order; the first refusal wins.
pub(crate) fn admit_connection(
    hooks: &[Arc<ConnectHook>],
    connecting: &Connecting<'_>,
) -> Result<(), Status> {
    hooks.iter().try_for_each(|hook| {
        // A panicking hook turns its connection away, not the listener's accept loop.
        contained("a connection hook (on_connect)", || hook(connecting))?
    })
}
