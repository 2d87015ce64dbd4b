//! The tour's observability section: Prometheus metrics served at /metrics while calls run,
//! and tracing exported over OTLP when a collector is named.

use erpc_telemetry::trace::otlp::{self, OtlpConfig};
use erpc_telemetry::trace::{ClientTracing, ServerTracing};
use erpc_telemetry::{Metrics, MetricsServer};

use crate::hello;

/// The OTLP/gRPC collector to export spans to, when set (e.g. `http://127.0.0.1:4317`).
const OTLP_ENV: &str = "ERPC_DEMO_OTLP";

/// What the section leaves running — its `/metrics` listener and its observed server — until
/// [`Observed::finish`]: `demo --stay` keeps them up for a person to curl.
pub struct Observed {
    exporter: MetricsServer,
    server: erpc::ServerHandle,
    tracing: Option<otlp::TracingGuard>,
}

impl Observed {
    /// The `/metrics` URL, e.g. `http://127.0.0.1:45047/metrics`.
    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.exporter.local_addr())
    }

    /// Stops the listener and the server, and flushes the spans not yet exported.
    pub async fn finish(self) -> Result<(), Box<dyn std::error::Error>> {
        self.exporter.shutdown().await;
        self.server.shutdown().await;
        if let Some(guard) = self.tracing {
            let provider = guard.provider().clone();
            tokio::task::spawn_blocking(move || provider.force_flush()).await??;
            drop(guard);
        }
        Ok(())
    }
}

/// A server and a client observed by `metrics` (which the tour's server reports to as well),
/// a `/metrics` listener on a free port, a few calls, and the series they produced (those
/// of this section's `demo.Hello`). The listener stays up until the returned
/// [`Observed`] is finished; `stay` says whether that waits for the user (the line that
/// shows the address says when it closes).
pub async fn tour(metrics: Metrics, stay: bool) -> Result<Observed, Box<dyn std::error::Error>> {
    let tracing_guard = match std::env::var(OTLP_ENV) {
        Ok(endpoint) => {
            let guard = otlp::init(OtlpConfig {
                endpoint: endpoint.clone(),
                service_name: "erpc-demo".into(),
                ..OtlpConfig::default()
            })?;
            println!("  tracing: spans of every call go to {endpoint} (service erpc-demo)");
            Some(guard)
        }
        Err(_) => {
            println!(
                "  tracing: set {OTLP_ENV}=http://127.0.0.1:4317 to send each call's spans to an OTLP collector (Jaeger, Tempo)"
            );
            None
        }
    };
    let server = erpc::Server::builder()
        .observer(metrics.observer())
        .layer(ServerTracing)
        .add_service(hello::HelloServer::new(hello::Instance("observed".into())))
        .serve(["mem://erpc-demo-observed"])
        .await?;
    let client = hello::HelloClient::new(
        erpc::Client::builder()
            .observer(metrics.observer())
            .attempt_layer(ClientTracing)
            .connect("mem://erpc-demo-observed")
            .await?,
    );
    let exporter = MetricsServer::bind(metrics.clone(), "127.0.0.1:0").await?;
    for name in ["ada", "grace", "barbara"] {
        client.hello(name.into()).await?;
    }
    let observed = Observed {
        exporter,
        server,
        tracing: tracing_guard,
    };
    // The listener closes with the tour unless it stays: say so, rather than invite a curl
    // to a port that is gone by the time it runs.
    let until = match stay {
        true => "--stay keeps it up after the tour, until Ctrl-C",
        false => "it closes when the tour ends: run the demo with --stay to keep it up for curl",
    };
    println!(
        "  metrics: {} (Prometheus scrapes it; {until}), as read now:",
        observed.metrics_url()
    );
    let text = metrics.encode_text();
    for line in text.lines().filter(|l| {
        (l.starts_with("erpc_calls_handled_total{side=\"server\"")
            || l.starts_with("erpc_call_duration_seconds_count{side=\"client\""))
            && l.contains("service=\"demo.Hello\"")
    }) {
        println!("    {line}");
    }
    Ok(observed)
}
