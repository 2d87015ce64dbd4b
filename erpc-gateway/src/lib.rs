//! An HTTP/JSON API gateway for erpc services, as grpc-gateway is for gRPC: any method of any
//! service is called by name with JSON, without its code (servers answer in the codec they
//! were asked in; call kinds come from their reflection, PROTOCOL.md §16).
//!
//! - `POST /{service}/{method}` with a JSON body (empty: `null`) → an erpc call → the answer
//!   as JSON (200), 202 for a oneway method, a server stream as NDJSON or server-sent events
//!   (`stream` module docs). Client and bidirectional streams: 501.
//! - Failures: the HTTP status of [`http_status`]'s table and the body
//!   `{"code": "not_found", "message": "…"}` — every failure, the gateway's own included:
//!   a body that is not JSON is a 400 naming the position, a path with a malformed
//!   percent-escape (`/%ZZ/price`) a 400 naming it, an unknown service or method a 404
//!   naming the ones there are, an unknown path a 404, another HTTP method a 405, a body
//!   over the limit a 413; a center refusing the gateway (no token, a wrong one) a 503 naming
//!   [`CENTER_TOKEN_HINT`]; instances that cannot be reached (none listening, a TLS
//!   handshake refused, no TLS settings for a TLS address) a 503 saying why, per instance
//!   ([`GatewayBuilder::explain`] rewords the Rust APIs these name for a binary's flags).
//!   `Retry-After` (whole seconds, rounded up) whenever the
//!   status carries a retry hint (rate limits, open breakers, shedding, an instance
//!   backing off).
//! - Allow-listed request headers become call metadata; the timeout header
//!   ([`TIMEOUT_HEADER`], `x-erpc-timeout: 250ms`) sets the call's deadline.
//! - Calls go to an [`Upstream`]: one address, or each service's instances through the
//!   registry center, with the client governance the [`GatewayBuilder::client`] factory adds
//!   (erpc-core's balancing, `FailModes`, `InstanceBreakers`) and, with a center, each
//!   service's routing rules (`erpc/routes/<service>`; [`GatewayBuilder::locality`]) and
//!   the center's token ([`GatewayBuilder::center_token`]); TLS to the services with
//!   [`GatewayBuilder::transport`].
//! - `GET /healthz` (liveness: the process answers); `GET /readyz[?service=NAME]`
//!   (readiness: 503 while draining, or while no instance is there to call that is not known
//!   unreachable); `GET /metrics` (feature `metrics`, on by default: erpc-telemetry's
//!   client-side call metrics, and `erpc_gateway_requests_total{status}`, every HTTP request
//!   answered by its HTTP status); CORS with tower-http's `CorsLayer`.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use erpc_core::client::{FailMode, FailModes};
//! use erpc_core::per_method::PerMethod;
//! use erpc_gateway::{Gateway, Upstream};
//!
//! let gateway = Gateway::builder(Upstream::Center("tcp://127.0.0.1:7070".into()))
//!     .client(|| {
//!         erpc_core::Client::builder()
//!             .layer(FailModes::new(PerMethod::new(FailMode::Failover { retries: 2 })))
//!     })
//!     .allow_header(erpc_gateway::HeaderName::from_static("x-user"))
//!     .build()?;
//! let server = gateway.serve("127.0.0.1:8080").await?;
//! // curl -d '{"item":"tea","qty":2}' http://127.0.0.1:8080/Shop/price
//! # drop(server); Ok(()) }
//! ```

#![warn(missing_docs)]

mod catalog;
mod error;
mod gateway;
mod headers;
#[cfg(feature = "metrics")]
mod http_metrics;
mod lifecycle;
mod serve;
mod stream;
mod upstream;

pub use axum::http::{self, HeaderName};
pub use error::{ApiError, http_status};
pub use gateway::{Explain, Gateway, GatewayBuilder, TIMEOUT_HEADER};
pub use serve::{Drained, GatewayServer};
pub use tower_http::cors;
pub use upstream::{CENTER_TOKEN_HINT, MakeBalancer, MakeClient, Upstream};
