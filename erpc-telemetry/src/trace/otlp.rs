//! Export over OTLP: the tracer provider (OTLP/gRPC exporter, batch processor, parent-based
//! ratio sampling) and the `tracing` layer that feeds it.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use erpc_telemetry::trace::otlp::{self, OtlpConfig};
//!
//! // Spans of 10% of new traces (and of every trace a caller sampled) go to a collector.
//! let _guard = otlp::init(OtlpConfig {
//!     endpoint: "http://127.0.0.1:4317".into(),
//!     service_name: "checkout".into(),
//!     sample_ratio: 0.1,
//!     ..OtlpConfig::default()
//! })?;
//! // ... serve with ServerBuilder::layer(ServerTracing) ...
//! # Ok(()) }
//! ```

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, TracerProviderBuilder,
};

/// Where and how spans are exported.
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    /// The OTLP/gRPC endpoint (a collector, Jaeger ≥ 1.35, Tempo): default
    /// `http://127.0.0.1:4317`.
    pub endpoint: String,
    /// `service.name` of the exported resource: default `erpc`.
    pub service_name: String,
    /// The share of new traces sampled, 0.0 to 1.0 (default 1.0). Parent-based: a call whose
    /// caller sampled (or dropped) its trace follows the caller's choice. Decided by erpc's
    /// layers before a span is built ([`with_head_sampling`]), so unsampled calls cost next
    /// to nothing.
    pub sample_ratio: f64,
    /// The longest an export may take before it is abandoned: default 10 s.
    pub timeout: Duration,
    /// Spans waiting for export at most (default 2,048): beyond, new spans are dropped — a
    /// call never waits for the exporter — and counted: a WARN (target
    /// `erpc_telemetry::trace::dropped`) says how many at most once per
    /// `export_error_interval`, and shutdown says how many never reached the exporter.
    pub max_queue_size: usize,
    /// How often a batch is exported: default 5 s (and whenever 512 spans wait).
    pub export_interval: Duration,
    /// A failed export is logged (WARN, target `erpc_telemetry::trace::export_report`: the
    /// endpoint, the exporter's error, the batches and spans lost) at once, then at most once
    /// per this interval for the same error, counting what was lost in between; the first
    /// export that works again says so (INFO), and shutdown reports what is still uncounted.
    /// Default 60 s; zero logs every failed batch.
    pub export_error_interval: Duration,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            endpoint: "http://127.0.0.1:4317".to_owned(),
            service_name: "erpc".to_owned(),
            sample_ratio: 1.0,
            timeout: Duration::from_secs(10),
            max_queue_size: 2048,
            export_interval: Duration::from_secs(5),
            export_error_interval: Duration::from_secs(60),
        }
    }
}

/// Why tracing could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TraceSetupError {
    /// A setting is out of its range (the message names it).
    #[error("tracing configuration: {0}")]
    Config(String),
    /// The exporter could not be built.
    #[error("OTLP exporter: {0}")]
    Exporter(String),
    /// A global `tracing` subscriber was already installed.
    #[error("a global tracing subscriber is already set: {0}")]
    SubscriberSet(String),
}

/// A tracer provider exporting to `config.endpoint` in batches from a background thread
/// (OpenTelemetry's `BatchSpanProcessor`). Must be called inside a Tokio runtime (the gRPC
/// client's connection lives on it); the runtime must outlive the provider. A failed export
/// is logged as a WARN, rate-limited ([`OtlpConfig::export_error_interval`]); the spans of a
/// failed batch are lost (no retry beyond the exporter's own), a call never waits.
///
/// # Errors
/// [`TraceSetupError::Config`] for a ratio outside 0–1, a zero queue or interval, an
/// endpoint that is not `http://` or `https://`; [`TraceSetupError::Exporter`] if the
/// exporter cannot be built.
pub fn provider(config: &OtlpConfig) -> Result<SdkTracerProvider, TraceSetupError> {
    check_ratio(config.sample_ratio)?;
    if config.max_queue_size == 0 || config.export_interval.is_zero() {
        return Err(TraceSetupError::Config(
            "max_queue_size and export_interval must be above zero".to_owned(),
        ));
    }
    if let Err(reason) = crate::endpoint_rules::check_otlp_endpoint(&config.endpoint) {
        return Err(TraceSetupError::Config(format!(
            "endpoint {:?} {reason} (the OTLP/gRPC port is usually 4317)",
            config.endpoint
        )));
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(config.endpoint.clone())
        .with_timeout(config.timeout)
        .build()
        .map_err(|e| TraceSetupError::Exporter(e.to_string()))?;
    // Its failures reported, rate-limited: without it a collector that is down loses every
    // span with nothing said.
    // Spans dropped from a full queue counted too (the batch processor only drops them).
    let tally = super::dropped::Tally::new(
        config.endpoint.clone(),
        config.max_queue_size,
        config.export_error_interval,
    );
    let exporter = super::export_report::Reported::new(
        exporter,
        config.endpoint.clone(),
        config.export_error_interval,
    )
    .counting(tally.clone());
    let batch = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(config.max_queue_size)
                .with_scheduled_delay(config.export_interval)
                .build(),
        )
        .build();
    Ok(
        with_head_sampling(SdkTracerProvider::builder(), config.sample_ratio)?
            .with_span_processor(super::dropped::Counted {
                inner: batch,
                tally,
            })
            .with_resource(
                Resource::builder()
                    .with_service_name(config.service_name.clone())
                    .build(),
            )
            .build(),
    )
}

fn check_ratio(ratio: f64) -> Result<(), TraceSetupError> {
    if (0.0..=1.0).contains(&ratio) {
        Ok(())
    } else {
        Err(TraceSetupError::Config(format!(
            "sample_ratio must be between 0 and 1, got {ratio}"
        )))
    }
}

/// Head sampling at `sample_ratio` (0.0–1.0) for a tracer provider you build yourself
/// (with your own exporter or processors): sets `builder`'s sampler to
/// `ParentBased(TraceIdRatioBased(sample_ratio))` and its id generator to one that gives a
/// root span erpc's layers started the trace id they sampled it on, and makes
/// `sample_ratio` the share of new traces [`ServerTracing`](super::ServerTracing) and
/// [`ClientTracing`](super::ClientTracing) trace — process-wide, the last call wins.
///
/// The layers decide before they build a span, as that sampler would: a call under a
/// sampled parent is traced; under an unsampled one it is not, and its `traceparent` goes on
/// with the same trace id and the sampled flag clear; a root is traced if its new trace
/// id's low 63 bits fall under `sample_ratio × 2^63` (OpenTelemetry's `TraceIdRatioBased`).
/// Without this call the layers still skip calls under an unsampled parent, and hand every
/// root to the span machinery for the provider's own sampler to decide.
///
/// # Errors
/// [`TraceSetupError::Config`] for a ratio outside 0–1 (nothing is changed).
pub fn with_head_sampling(
    builder: TracerProviderBuilder,
    sample_ratio: f64,
) -> Result<TracerProviderBuilder, TraceSetupError> {
    check_ratio(sample_ratio)?;
    super::head::set_ratio(sample_ratio);
    Ok(builder
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            sample_ratio,
        ))))
        .with_id_generator(super::head::HeadIds))
}

/// The crates whose `tracing` spans and events [`layer`] leaves out by default: the
/// exporter's own stack (OTLP/gRPC over tonic, h2, hyper, tower) and OpenTelemetry itself.
/// Each export runs through them, so exporting their spans makes more to export, forever —
/// hundreds of spans a second from an idle process. A target is matched by prefix
/// (`hyper` also covers `hyper_util`). The same crates serving the application's own HTTP
/// or gRPC (an axum or tonic server next to erpc) are left out too; add
/// [`tracing_opentelemetry::layer`] yourself, with a filter of your own, to trace them.
pub const EXPORTER_TARGETS: &[&str] = &[
    "tonic",
    "h2",
    "hyper",
    "hyper_util",
    "tower",
    "opentelemetry",
    "opentelemetry_sdk",
    "opentelemetry_otlp",
];

/// The filter [`layer`] carries: every target at every level except [`EXPORTER_TARGETS`].
/// Build on it (`exporter_filter().with_target("my_noisy_crate", LevelFilter::OFF)`) for a
/// layer of your own.
pub fn exporter_filter() -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::LevelFilter;
    EXPORTER_TARGETS.iter().fold(
        tracing_subscriber::filter::Targets::new().with_default(LevelFilter::TRACE),
        |targets, target| targets.with_target(*target, LevelFilter::OFF),
    )
}

/// The layer [`layer`] returns: OpenTelemetry's, under [`exporter_filter`].
pub type OtlpLayer<S> = tracing_subscriber::filter::Filtered<
    tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::SdkTracer>,
    tracing_subscriber::filter::Targets,
    S,
>;

/// The `tracing` layer that turns spans into OpenTelemetry spans of `provider`: add it to
/// your own `tracing_subscriber::registry()` next to your other layers. It carries its own
/// (per-layer) filter, [`exporter_filter`]: the spans of the exporter's own crates
/// ([`EXPORTER_TARGETS`]) are never exported; every other span is, whatever the other
/// layers' filters (a log filter at `info` does not hide `debug` spans from the traces).
///
/// Three of `tracing-opentelemetry`'s defaults are turned off, for what they cost each
/// traced call (instructions per call, client and server span together; BENCHMARKS.md,
/// "tracing at 100%"):
///
/// - **busy/idle time** (`with_tracked_inactivity(false)`): the `busy_ns` and `idle_ns`
///   attributes — how long the span was entered vs alive — are not recorded. They are not
///   OpenTelemetry conventions; the span's start and end are. Each enter and exit read the
///   clock for them, and each span carried a record of its own.
/// - **thread** (`with_threads(false)`): no `thread.id` and `thread.name`. A call's future
///   moves between a runtime's threads, so the thread its span started on says little; the
///   name was copied into a new string for every span.
/// - **code location** (`with_location(false)`): no `code.file.path`, `code.module.name`,
///   `code.line.number`. On erpc's spans they name erpc-telemetry's own source, the same for
///   every call; your own spans lose them too, and their names usually say where they are.
///
/// Want any back? Build the layer yourself, the same way with the option on:
/// `tracing_opentelemetry::layer().with_tracer(provider.tracer("erpc"))
/// .with_threads(true).with_filter(exporter_filter())`.
pub fn layer<S>(provider: &SdkTracerProvider) -> OtlpLayer<S>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    use tracing_subscriber::Layer as _;
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("erpc"))
        .with_tracked_inactivity(false)
        .with_threads(false)
        .with_location(false)
        .with_filter(exporter_filter())
}

/// Flushes and shuts the provider down when dropped, so spans still queued are exported
/// before the process ends.
#[derive(Debug)]
pub struct TracingGuard {
    provider: SdkTracerProvider,
}

impl TracingGuard {
    /// A guard of `provider` (from [`provider`], or one of your own): for a program that
    /// installs [`layer`] in a subscriber of its own and wants the provider shut down, its
    /// queued spans exported, when the guard is dropped — as [`init`]'s guard does.
    pub fn new(provider: SdkTracerProvider) -> TracingGuard {
        TracingGuard { provider }
    }

    /// The provider (for your own tracers, or to flush now).
    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }
}

impl Drop for TracingGuard {
    fn drop(&mut self) {
        if let Err(e) = self.provider.shutdown() {
            // The export in progress (a collector that accepts and never answers) or the
            // spans still queued did not reach the collector in time.
            tracing::warn!(
                "OTLP span export did not finish at shutdown ({e}): spans still queued or \
                 being sent to the collector are lost"
            );
        }
    }
}

/// [`provider`], then a global `tracing` subscriber with [`layer`] (so without the
/// exporter's own spans, [`EXPORTER_TARGETS`]) on it: the one-line
/// set-up for an application that has no subscriber of its own. Keep the guard until the
/// end of `main`.
///
/// # Errors
/// As [`provider`]; [`TraceSetupError::SubscriberSet`] if a global subscriber exists
/// (compose [`layer`] into yours instead).
pub fn init(config: OtlpConfig) -> Result<TracingGuard, TraceSetupError> {
    use tracing_subscriber::layer::SubscriberExt;
    let provider = provider(&config)?;
    let subscriber = tracing_subscriber::registry().with(layer(&provider));
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|e| TraceSetupError::SubscriberSet(e.to_string()))?;
    Ok(TracingGuard::new(provider))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_are_refused_with_their_name() {
        let bad = |c: OtlpConfig| provider(&c).expect_err("refused").to_string();
        let e = bad(OtlpConfig {
            sample_ratio: 1.5,
            ..OtlpConfig::default()
        });
        assert!(e.contains("sample_ratio") && e.contains("1.5"), "{e}");
        let e = bad(OtlpConfig {
            endpoint: "127.0.0.1:4317".into(),
            ..OtlpConfig::default()
        });
        assert!(e.contains("127.0.0.1:4317") && e.contains("http://"), "{e}");
        // A port out of range: `http::Uri` takes it, the exporter could never connect.
        let e = bad(OtlpConfig {
            endpoint: "http://127.0.0.1:99999".into(),
            ..OtlpConfig::default()
        });
        assert!(e.contains("port \"99999\", expected 1 to 65535"), "{e}");
        let e = bad(OtlpConfig {
            max_queue_size: 0,
            ..OtlpConfig::default()
        });
        assert!(e.contains("max_queue_size"), "{e}");
    }
}
