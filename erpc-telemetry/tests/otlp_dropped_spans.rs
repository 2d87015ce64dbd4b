//! Spans dropped because the export queue was full are counted and said: OpenTelemetry's
//! batch processor drops them without a word in erpc's build (a fresh user's report: 10,000
//! spans with the collector down, 2,568 reported lost, the ~7,400 dropped at the queue
//! counted nowhere).
//!
//! One test in this file: it installs the process's global `tracing` subscriber.

use std::time::Duration;

use erpc_telemetry::trace::otlp::{self, OtlpConfig};
use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use tracing_subscriber::layer::SubscriberExt;

mod support;
use support::captured::Captured;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_dropped_from_a_full_queue_are_counted_and_said() {
    // A port nothing listens on: every export fails, and slowly enough that the queue fills.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let provider = otlp::provider(&OtlpConfig {
        endpoint: format!("http://{addr}"),
        service_name: "dropped-test".into(),
        max_queue_size: 64,
        export_interval: Duration::from_millis(100),
        timeout: Duration::from_millis(300),
        export_error_interval: Duration::from_millis(200),
        ..OtlpConfig::default()
    })
    .expect("tracing set up");
    let captured = Captured::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(captured.clone()))
        .expect("the only global subscriber");
    let tracer = provider.tracer("test");
    const SPANS: u64 = 5_000;
    for _ in 0..SPANS {
        tracer.in_span("work", |_| ());
    }
    // The exporter keeps failing: the queue stays full and the drops are said.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while captured
        .lines(tracing::Level::WARN, "export queue of 64 was full")
        .is_empty()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no report of dropped spans"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Shut down as a program's end does (the tracer keeps the provider alive: dropping the
    // provider alone would not).
    tokio::task::spawn_blocking(move || drop(otlp::TracingGuard::new(provider)))
        .await
        .expect("shut down");
    let count = |line: &str| -> u64 {
        line.split("spans=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no spans field: {line}"))
    };
    let dropped: Vec<String> = captured.lines(tracing::Level::WARN, "export queue of 64 was full");
    assert!(!dropped.is_empty(), "no report of dropped spans");
    let at_end = captured.lines(tracing::Level::WARN, "never reached the OTLP exporter");
    let failed = captured.lines(tracing::Level::WARN, "lost since the last report");
    let failed_spans: u64 = failed
        .iter()
        .map(|l| {
            l.split("spans=")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum();
    let said: u64 = dropped.iter().chain(&at_end).map(|l| count(l)).sum::<u64>() + failed_spans;
    // Every span is accounted for: dropped at the queue, or handed to the exporter and lost
    // there (at most the batches in flight at shutdown are neither).
    assert!(
        (SPANS - 64..=SPANS).contains(&said),
        "{said} of {SPANS} said lost: dropped {dropped:#?} at end {at_end:#?} failed {failed:#?}"
    );
}
