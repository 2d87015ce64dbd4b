//! [`Context`]: what a handler knows about the call it serves.

use std::sync::Arc;
use std::time::Duration;

use erpc_transport::PeerAddr;
use tokio::time::Instant;

use erpc_codec::CodecId;
use erpc_codec::compression::CompressionId;

use crate::auth::{PeerIdentity, Principal};
use crate::extensions::Extensions;
use crate::metadata::Metadata;
use crate::protocol::ByteStr;

/// The call a handler is serving: its deadline, metadata, peer, names and typed extensions.
///
/// Outgoing calls a handler makes inherit what is left of this deadline automatically, in
/// the handler's own task; across `tokio::spawn` only when carried ([`crate::ambient`]).
#[derive(Debug)]
pub struct Context {
    pub(crate) deadline: Instant,
    pub(crate) metadata: Metadata,
    /// The connection the call came on, when it came over a transport.
    pub(crate) conn: Option<Arc<Connection>>,
    pub(crate) service: ByteStr,
    pub(crate) method: ByteStr,
    pub(crate) request_id: u64,
    pub(crate) extensions: Extensions,
    pub(crate) wire: Wire,
    /// The server's graceful shutdown, for stream handlers (none for unary calls, which
    /// finish within the grace period anyway).
    pub(crate) shutdown: Option<tokio_util::sync::CancellationToken>,
}

/// What was on the wire about a call's request: its codec, its compression and its body's
/// size before and after decompression. For a stream, the opening frame's (its messages
/// each say their own).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wire {
    /// The codec the request is encoded in (the response goes back in it).
    pub codec: CodecId,
    /// The compression the request body arrived in (`NONE` if none).
    pub compression: CompressionId,
    /// The request body's size on the wire, in bytes.
    pub wire_len: usize,
    /// The request body's size after decompression, in bytes (the same when uncompressed;
    /// 0 until the body is decompressed, which happens after header-level hooks).
    pub body_len: usize,
}

impl Context {
    /// A context for calling a handler directly (unit tests of a service, say).
    pub fn new(service: impl Into<ByteStr>, method: impl Into<ByteStr>, timeout: Duration) -> Self {
        Context {
            deadline: Instant::now() + timeout,
            metadata: Metadata::new(),
            conn: None,
            service: service.into(),
            method: method.into(),
            request_id: 0,
            extensions: Extensions::new(),
            wire: Wire::default(),
            shutdown: None,
        }
    }

    /// When the caller stops waiting. For a stream opened without a deadline, a point
    /// [`crate::deadline::NO_DEADLINE`] (100 years) ahead.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// `fut` with this call's deadline as what its outgoing calls inherit, wherever it runs:
    /// for work handed to another task along with the `Context` (see [`crate::ambient`]).
    pub fn scope<F: std::future::Future>(
        &self,
        fut: F,
    ) -> impl std::future::Future<Output = F::Output> + use<F> {
        crate::deadline::scope(self.deadline, fut)
    }

    /// Time left before the deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// The request's metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The request's metadata, mutably (for middleware).
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// Who called, when the call came over a transport.
    pub fn peer(&self) -> Option<&PeerAddr> {
        self.conn.as_deref().map(|conn| &conn.peer)
    }

    /// The server address the call came in on (the listener's: `tcp://10.0.0.7:7001`), when
    /// it came over a transport — what a client names this server by (OpenTelemetry's
    /// `server.address` and `server.port` on a server span).
    pub fn local_addr(&self) -> Option<&erpc_transport::Address> {
        self.conn.as_deref().map(|conn| &conn.local)
    }

    /// Close the connection this call came on at once, as a reset would: no GOAWAY, no
    /// answer to this call or any other running on it (their clients fail them
    /// `unavailable`, as for a lost connection). For chaos drills and fault injection
    /// (`erpc::testing`'s `Fault::reset`), and for a peer that must be dropped now. Does
    /// nothing for a context made with [`Context::new`].
    pub fn abort_connection(&self) {
        if let Some(conn) = &self.conn {
            conn.dead.fire();
        }
    }

    /// The service name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The method name.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The service and method names as the call carries them: cheap to clone (reference
    /// counted), for a layer that keeps them past the call's start (an access log line).
    pub fn names(&self) -> (&crate::protocol::ByteStr, &crate::protocol::ByteStr) {
        (&self.service, &self.method)
    }

    /// Resolves when the server begins a graceful shutdown, for streams that would otherwise
    /// never end (watches, subscriptions): end them then, with a status that tells the
    /// client where to resume, so the shutdown need not wait out its grace period (which it
    /// does for every stream still open). Never resolves for unary calls and for contexts
    /// made with [`Context::new`].
    pub fn shutting_down(&self) -> impl std::future::Future<Output = ()> + Send + 'static + use<> {
        let token = self.shutdown.clone();
        async move {
            match token {
                Some(token) => token.cancelled_owned().await,
                None => std::future::pending().await,
            }
        }
    }

    /// What was on the wire about the request: codec, compression, sizes.
    pub fn wire(&self) -> &Wire {
        &self.wire
    }

    /// The request id on its connection.
    pub fn request_id(&self) -> u64 {
        self.request_id
    }

    /// Who the call was authenticated as ([`crate::auth::Authenticate`]), if it was.
    pub fn principal(&self) -> Option<&Principal> {
        self.extensions.get::<Principal>()
    }

    /// The identity in the client's TLS certificate (mutual TLS, feature `tls`), if the
    /// call came over a connection that presented one.
    pub fn peer_identity(&self) -> Option<&PeerIdentity> {
        self.conn.as_deref()?.identity.as_deref()
    }

    /// Typed values attached by middleware.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// Typed values, mutably.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }

    /// Set the metadata (builder style, for tests).
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }
}

/// The connection a call came on: who is at the other end, and the signal that kills it.
/// One `Arc` per connection, shared by its calls' contexts.
#[derive(Debug)]
pub(crate) struct Connection {
    pub peer: PeerAddr,
    /// The address the server accepted it on (its listener's, as clients name it).
    pub local: erpc_transport::Address,
    pub dead: Arc<crate::engine::signal::Signal>,
    /// The mutual-TLS client certificate's identity, parsed once for all its calls.
    pub identity: Option<Arc<PeerIdentity>>,
}
