//! erpc: an RPC framework for Rust.
//!
//! A trait with `#[erpc::service]` becomes a typed client and a server; calls travel in erpc's
//! framed binary protocol (PROTOCOL.md) over any of nine transports — TCP, Unix sockets and
//! in-memory pipes by default; TLS, WebSocket (plain and TLS), QUIC, UDP and KCP behind cargo
//! features — encoded with MessagePack (default), JSON, protobuf, raw bytes or your own codec,
//! optionally compressed with gzip, zlib or zstd — chosen per call.
//!
//! ```
//! use erpc::{Context, Status};
//!
//! #[erpc::service]
//! pub trait Greeter {
//!     async fn hello(&self, name: String) -> Result<String, Status>;
//!     async fn add(&self, cx: Context, a: i64, b: i64) -> Result<i64, Status>;
//! }
//!
//! struct MyGreeter;
//!
//! impl Greeter for MyGreeter {
//!     async fn hello(&self, name: String) -> Result<String, Status> {
//!         Ok(format!("hello, {name}"))
//!     }
//!     async fn add(&self, _cx: Context, a: i64, b: i64) -> Result<i64, Status> {
//!         a.checked_add(b).ok_or_else(|| Status::out_of_range("overflow"))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = erpc::Server::builder()
//!     .add_service(GreeterServer::new(MyGreeter))
//!     .serve(["tcp://127.0.0.1:0"])
//!     .await?;
//!
//! let client = GreeterClient::connect(server.local_addr()).await?;
//! assert_eq!(client.hello("ada".into()).await?, "hello, ada");
//! let sum = client
//!     .add(2, 3)
//!     .timeout(std::time::Duration::from_secs(1))
//!     .codec(erpc::CodecId::JSON)
//!     .await?;
//! assert_eq!(sum, 5);
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # The attribute, in full
//! [`service`] documents every form: one argument or several (sent as a tuple), a leading
//! [`Context`], `#[oneway]` methods (no return type), streaming arguments and returns
//! ([`Streaming`], [`ServerStream`]), and the `name = "pkg.Svc"` and `crate = "…"` options.
//! The README shows each of them in a compiled example.
//!
//! # Where things are
//! - Per-call options: [`Call`] (`.timeout`, `.deadline`, `.metadata`, `.codec`,
//!   `.compression`); client settings: [`ClientBuilder`] (a method per limit, timeouts,
//!   `max_concurrent_calls`, codecs, middleware, discovery); server settings:
//!   [`ServerBuilder`] (a method per limit and cap, deadlines, shutdown grace, registry).
//! - Deadlines inherited by a handler's own calls, and across spawns: [`ambient`]
//!   ([`spawn`], [`in_current_call`], [`Context::scope`]).
//! - Discovery and balancing: [`discovery`]; the registry center is the `erpc-center` crate.
//! - Custom codecs: [`codec::Codec`] (with `erpc::codec::erased_serde` and `erpc::codec::bytes`
//!   re-exported), registered with `register_codec` on both builders.
//!
//! # Layout
//! - Everything of the `erpc-core` crate is re-exported here: [`Client`], [`Server`], [`Status`],
//!   [`Context`], [`Middleware`], [`protocol`], ...
//! - [`service`]: the attribute macro.
//! - [`blocking`]: a wrapper for calling from synchronous code.
//! - `erpc::codec` and `erpc::transport`: the codec and transport crates, for custom codecs,
//!   listeners and transports of your own (`erpc::transport::{Connector, Acceptor}`).
//!
//! # Cargo features
//! On by default: `tcp`, `unix`, `mem` (transports); `msgpack`, `json`, `protobuf` (codecs);
//! `gzip`, `zlib`, `zstd` (compression). Off by default: `tls`, `ws`, `wss`, `quic`, `udp`,
//! `kcp` (transports), or `all-transports` for every one; `testing`, the testing kit
//! (module `testing`: a served service and its client in one line, mocks, fault injection);
//! `cache`, the client response cache (`client::CacheLayer`, on moka).
#![warn(missing_docs)]

pub mod blocking;
#[cfg(feature = "testing")]
pub mod testing;

/// The README's code, compiled and run as a doctest so the quick start cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// QUEUE.md's code blocks, compiled as the README's are: a Rust block there (none is `text`)
/// must compile too.
#[cfg(doctest)]
#[doc = include_str!("../QUEUE.md")]
pub struct QueueDoctests;

pub use erpc_core::*;
pub use erpc_macros::service;
/// The `schemars` crate reflection's JSON Schemas come from (feature `schema`): derive
/// `erpc::schemars::JsonSchema` on argument and result types to have their schemas reported.
#[cfg(feature = "schema")]
pub use schemars;

/// The codec crate: the [`codec::Codec`] trait for custom codecs, compression functions.
pub use erpc_codec as codec;
/// The transport crate: addresses, links, listeners, and the connector and acceptor traits
/// of transports of your own.
pub use erpc_transport as transport;
