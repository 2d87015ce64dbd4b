//! The tour's observability section: Prometheus metrics served at /metrics while calls run,
//! and tracing exported over OTLP when a collector is named.

use erpc_telemetry::trace::otlp::{self, OtlpConfig};
use erpc_telemetry::trace::{ClientTracing, ServerTracing};
use erpc_telemetry::{Metrics, MetricsServer};

use crate::hello;

/// The OTLP/gRPC collector to export spans to, when set (e.g. `http://127.0.0.1:4317`).
const OTLP_ENV: &str = "ERPC_DEMO_OTLP";

/// A server and a client observed by one `Metrics`, a `/metrics` listener on a free port,
/// a few calls, and the series they produced.
pub async fn tour() -> Result<(), Box<dyn std::error::Error>> {
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
    let metrics = Metrics::new();
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
    println!(
        "  metrics: http://{}/metrics (Prometheus scrapes it; try curl), for example:",
        exporter.local_addr()
    );
    let text = metrics.encode_text();
    for line in text.lines().filter(|l| {
        l.starts_with("erpc_calls_handled_total{side=\"server\"")
            || l.starts_with("erpc_call_duration_seconds_count{side=\"client\"")
    }) {
        println!("    {line}");
    }
    exporter.shutdown().await;
    server.shutdown().await;
    if let Some(guard) = tracing_guard {
        let provider = guard.provider().clone();
        tokio::task::spawn_blocking(move || provider.force_flush()).await??;
        drop(guard);
    }
    Ok(())
}
