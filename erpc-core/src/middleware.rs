//! Middleware: code that wraps every call, on the server ([`Middleware`]) and on the client
//! ([`ClientMiddleware`]). Rate limits, breakers, tracing and metrics are built as middleware.
//!
//! Middleware sees calls in their untyped form, before the body is decoded, so a check such
//! as authentication rejects a call without paying for its body. An empty chain costs
//! nothing: the engine calls the service directly.
//!
//! ```
//! # use erpc_core as erpc;
//! use erpc::{Middleware, Next, Request, Response, Status};
//!
//! /// Refuses calls without the right token.
//! struct RequireToken(&'static str);
//!
//! #[async_trait::async_trait]
//! impl Middleware for RequireToken {
//!     async fn call(&self, request: Request, next: Next<'_>) -> Result<Response, Status> {
//!         match request.context().metadata().get_str("authorization") {
//!             Some(token) if token == self.0 => next.run(request).await,
//!             _ => Err(Status::unauthenticated("missing or wrong token")),
//!         }
//!     }
//! }
//! ```

//! The traits live with their side (`server::middleware`, `client::middleware`), so neither
//! side's module depends on the other's through this one; this module gathers them.

pub use crate::client::middleware::{ClientMiddleware, ClientNext};
pub use crate::server::middleware::{Middleware, Next};
