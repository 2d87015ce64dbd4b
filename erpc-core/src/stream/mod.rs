//! Streaming calls: [`Streaming`] (messages arriving from the peer), [`ServerStream`] (what
//! a server handler sends back) and [`push`] (a server sending whenever it likes, with an
//! explicit overflow policy).
//!
//! A method's shape comes from its signature in `#[erpc::service]`:
//!
//! ```
//! # use erpc_core as erpc;
//! use erpc::{ServerStream, Status, Streaming};
//!
//! #[erpc_macros::service(crate = "erpc_core")]
//! trait Numbers {
//!     /// Server streaming: one request, a stream of responses.
//!     async fn count(&self, to: u32) -> Result<ServerStream<u32>, Status>;
//!     /// Client streaming: a stream of requests, one response.
//!     async fn sum(&self, numbers: Streaming<u32>) -> Result<u64, Status>;
//!     /// Bidirectional: both at once, independently.
//!     async fn double(&self, numbers: Streaming<u32>) -> Result<ServerStream<u32>, Status>;
//! }
//! ```
//!
//! Every stream is flow controlled (a slow consumer holds the producer; memory per stream is
//! bounded by the window, 256 KiB by default, plus one message being reassembled), covered
//! by the call's deadline, and cancelled when either side drops it.

mod incoming;
pub mod push;
mod server_stream;

pub use incoming::{Event, Incoming, RawMessage, Streaming};
pub use server_stream::{Outgoing, ResponseStream, ServerStream};
