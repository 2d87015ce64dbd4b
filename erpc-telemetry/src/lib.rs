//! Observability for erpc servers and clients.
//!
//! **Metrics** (feature `metrics`, on by default): [`Metrics`] keeps Prometheus metrics of
//! every call, stream message, connection and refused frame it observes, and of governance
//! (refused calls, retries, hedges, circuit breakers, connections per instance) — register its
//! [`Metrics::observer`] on servers and clients — and [`MetricsServer`] serves them at
//! `/metrics` in the OpenMetrics text format for Prometheus to scrape.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use erpc_telemetry::{Metrics, MetricsServer};
//!
//! let metrics = Metrics::new();
//! let server = erpc_core::Server::builder()
//!     .observer(metrics.observer())
//!     // .add_service(...)
//!     .serve(["tcp://127.0.0.1:7000"])
//!     .await?;
//! let client = erpc_core::Client::builder()
//!     .observer(metrics.observer())
//!     .build("tcp://127.0.0.1:7000")
//!     .expect("a valid address");
//! // Prometheus scrapes http://127.0.0.1:9464/metrics
//! let exporter = MetricsServer::bind(metrics, "127.0.0.1:9464").await?;
//! # drop((server, client, exporter)); Ok(()) }
//! ```
//!
//! The metric names, labels and units are listed in [`Metrics`]'s documentation.
//!
//! **Tracing** (feature `otel`): a span per call on each side following OpenTelemetry's RPC
//! semantic conventions, the W3C trace context carried in call metadata, and export over
//! OTLP — see the `trace` module.
//!
//! **Logs** (feature `logs`): human or JSON lines, a level per module, to stderr or rotated
//! files, and an access log of every call — see the `logs` module. The rules a filter and a
//! log file's directory and prefix follow are in the `log_rules` module (feature `log-rules`,
//! part of `logs`), which erpc-config checks its `telemetry.logging` settings with.

#![warn(missing_docs)]

#[cfg(feature = "metrics")]
mod metrics;

#[cfg(feature = "metrics")]
pub use metrics::{Metrics, MetricsServer};

/// The Prometheus client erpc's metrics are kept in ([`Metrics::with_registry`] hands out its
/// `Registry`): the same version, for registering the application's own metrics and
/// collectors next to erpc's.
#[cfg(feature = "metrics")]
pub use prometheus_client;

#[cfg(any(feature = "otel", feature = "logs"))]
mod wrapped;
#[cfg(any(feature = "otel", feature = "logs"))]
pub use wrapped::Wrapped;

#[cfg(feature = "otel")]
pub mod trace;

#[cfg(feature = "logs")]
pub mod logs;

#[cfg(feature = "log-rules")]
pub mod log_rules;

#[cfg(any(feature = "log-rules", feature = "otel"))]
pub mod endpoint_rules;
