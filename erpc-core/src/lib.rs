//! The erpc engine: the sans-IO wire protocol, the connection engine, the client, the
//! server, call contexts, status codes and middleware.
//!
//! Most users depend on the `erpc` facade crate, which re-exports this one and adds
//! `#[erpc::service]`. Without the macro, a service is a [`Service`] impl and a call is
//! [`Client::call`] by name:
//!
//! ```
//! # use erpc_core as erpc;
//! use erpc::{Client, Request, Response, Server, Service, Status};
//! use futures_util::future::BoxFuture;
//!
//! struct Upper;
//!
//! impl Service for Upper {
//!     fn name(&self) -> &str { "upper" }
//!     fn methods(&self) -> &[&'static str] { &["shout"] }
//!     fn call(&self, request: Request) -> BoxFuture<'_, Result<Response, Status>> {
//!         Box::pin(erpc::server::unary(request, |_cx, text: String| async move {
//!             Ok::<_, Status>(text.to_uppercase())
//!         }))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = Server::builder().add_service(Upper).serve(["mem://upper-doc"]).await?;
//! let client = Client::connect("mem://upper-doc").await?;
//! let loud: String = client.call("upper", "shout", "hi".to_string()).await?;
//! assert_eq!(loud, "HI");
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`protocol`]: frames, header, header block, decoder, limits (sans-IO).
//! - `engine`: the writer task that coalesces frames and the read loop with heartbeats.
//! - [`client`]: [`Client`], [`Call`], [`Oneway`], connection pool, reconnect with backoff.
//! - [`server`]: [`Server`], [`Service`], [`Request`], [`Response`], graceful shutdown; per
//!   connection a read loop running unary calls inline (a task for those that wait), a deadline
//!   sweeper and a shutdown drainer.
//! - [`context`], [`deadline`], [`extensions`], [`metadata`]: what a call carries;
//!   [`ambient`]: what a handler's own calls inherit, and how to carry it across a spawn.
//! - [`layer`]: the interception model — tower `Service`s and `Layer`s on both sides (client
//!   calls above the pick, attempts below it, server handlers); [`middleware`]: the same
//!   layers as async-trait [`Middleware`] and [`ClientMiddleware`].
//! - [`auth`]: authentication (bearer tokens, JWT), client credentials, the mTLS peer
//!   identity and per-method ACLs, as header-level hooks.
//! - [`status`]: [`Status`] and [`Code`].
//! - [`config`]: [`ClientConfig`], [`ServerConfig`] and their defaults.
#![warn(missing_docs)]

/// Internals for the fuzz targets in `fuzz/` and their property tests in `fuzz-checks/`; not
/// part of the API. Always compiled (it is small), so no feature splits the workspace's builds.
#[doc(hidden)]
pub mod __fuzz;
pub mod ambient;
pub mod auth;
mod body;
mod codec_failure;
mod connect_failure;

// Before `client` and `server`: they use its `shared_setters!`.
#[macro_use]
pub mod config;
#[cfg(test)]
mod config_check_tests;
// Likewise: their layers use its `always_ready_boxed!`.
#[macro_use]
pub mod layer;

pub mod client;
pub mod context;
pub mod deadline;
pub mod discovery;
mod engine;
pub mod extensions;
pub mod human;
pub mod metadata;
pub mod middleware;
pub mod mock;
pub mod observe;
pub mod per_method;
pub mod protocol;
#[cfg(feature = "rate-limit")]
pub mod rate;
pub mod reflection;
mod retry_after;
pub mod server;
pub mod status;
pub mod status_wire;
pub mod stream;

pub use ambient::{in_current_call, spawn};
pub use client::{
    Call, CallFuture, CallOptions, Client, ClientBuilder, ClientRequest, ClientResponse, Oneway,
    Reachability,
};
pub use config::{ClientConfig, HeartbeatConfig, ServerConfig};
pub use context::{Context, Wire};
pub use erpc_codec::compression::CompressionId;
pub use erpc_codec::{Codec, CodecError, CodecId, Codecs, Message, Proto, Raw};
pub use erpc_transport::{
    Address, AddressError, IntoAddress, Options as TransportOptions, PeerAddr,
};
pub use extensions::Extensions;
pub use metadata::Metadata;
pub use middleware::{ClientMiddleware, ClientNext, Middleware, Next};
pub use protocol::CompressionList;
pub use retry_after::RETRY_AFTER_KEY;
pub use server::{
    Request, Responder, Response, Server, ServerBuilder, ServerHandle, Service, ShutdownSignals,
    StreamRequest,
};
pub use status::{Code, Status};
pub use stream::{Event, ServerStream, Streaming};

/// What `#[erpc::service]` expands to refers to; not a stable API.
#[doc(hidden)]
pub mod __private {
    // The dispatch helpers generated code calls; a hand-written `Service` reaches them as
    // `erpc::server::unary` and so on.
    pub use crate::reflection::schema::{NoSchema, SchemaProbe, WithSchema};
    pub use crate::reflection::{MethodDescriptor, MethodKind, ServiceDescriptor, TypeDescriptor};
    pub use crate::server::{
        bidi_streaming, client_streaming, oneway, server_streaming, unary, unknown_method,
        wrong_shape,
    };
    pub use futures_util::Stream;
    pub use futures_util::future::BoxFuture;
    pub use std::future::Future;
    pub use std::sync::Arc;
}
