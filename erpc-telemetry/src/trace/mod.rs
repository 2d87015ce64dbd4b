//! OpenTelemetry tracing: a span per call on each side, named and attributed as
//! OpenTelemetry's RPC semantic conventions say, the W3C trace context carried in call
//! metadata, and export over OTLP.
//!
//! The spans are `tracing` spans; `tracing-opentelemetry` turns them into OpenTelemetry spans,
//! so an application's own `tracing` spans nest inside a handler's server span and a call
//! made inside one of them is its child.
//!
//! - [`ServerTracing`] (`ServerBuilder::layer`): a server span per call (kind SERVER), child
//!   of the caller's span when the request carries `traceparent`.
//! - [`ClientTracing`] (`ClientBuilder::attempt_layer`): a client span per attempt (kind
//!   CLIENT) under the current span, whose context goes out as `traceparent`/`tracestate`
//!   (and `baggage`) metadata.
//! - Both decide whether a call is traced before they build anything (head sampling,
//!   parent-based, with the ratio [`otlp::with_head_sampling`] sets): an unsampled call costs
//!   a `traceparent` read and write, not a span.
//! - [`otlp`]: the exporter (OTLP over gRPC), sampling, and the `tracing` layer to install.

mod attributes;
mod client;
mod dropped;
mod export_report;
mod head;
pub mod otlp;
mod propagation;
mod server;
mod traced;
mod traceparent;

pub use client::{ClientTracing, ClientTracingService};
pub use propagation::{MetadataExtractor, MetadataInjector, extract, inject};
pub use server::{ServerTracing, ServerTracingService};
