//! A collector that is down is reported: each failed export's error reaches the logs as a
//! WARN naming the endpoint and what was lost, at most once per interval per cause, and the
//! first export that works again says so. Before, spans were lost with nothing said (a
//! fresh user's report: 12 s, two export intervals, with the endpoint down and no line).
//!
//! One test in this file: it installs the process's global `tracing` subscriber (the batch
//! processor exports, and so logs, on a thread of its own).

use std::time::{Duration, Instant};

use erpc_telemetry::trace::otlp::{self, OtlpConfig};
use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use tracing_subscriber::layer::SubscriberExt;

mod support;
use support::captured::Captured;
use support::otlp::receiver_on;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_down_is_reported_once_per_interval_and_its_return_too() {
    // A port nothing listens on (yet).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("bound");
    drop(listener);
    let endpoint = format!("http://{addr}");
    let every = Duration::from_millis(1500);
    let provider = otlp::provider(&OtlpConfig {
        endpoint: endpoint.clone(),
        service_name: "down-test".into(),
        export_interval: Duration::from_millis(50),
        timeout: Duration::from_millis(500),
        export_error_interval: every,
        ..OtlpConfig::default()
    })
    .expect("tracing set up");
    let captured = Captured::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(captured.clone()))
        .expect("the only global subscriber");
    let tracer = provider.tracer("test");
    // Spans keep coming while the collector is down, each batch failing.
    let started = Instant::now();
    let mut made = 0;
    while started.elapsed() < every * 2 + every / 2 {
        // A span costs no wait on the exporter, collector down or not.
        let before = Instant::now();
        tracer.in_span("work", |_| ());
        assert!(
            before.elapsed() < Duration::from_millis(100),
            "a span waited"
        );
        made += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    let warned = captured.lines(tracing::Level::WARN, "OTLP span export");
    println!("{made} spans in {elapsed:?}: {warned:#?}");
    assert!(!warned.is_empty(), "a failed export said nothing");
    // At most one per interval (the cause is the same: connection refused).
    let most = (elapsed.as_millis() / every.as_millis()) as usize + 1;
    assert!(
        warned.len() <= most,
        "{} WARN lines in {elapsed:?}, at most {most}",
        warned.len()
    );
    let first = &warned[0];
    assert!(
        first.contains(&endpoint) && first.contains("failed") && first.contains("lost"),
        "{first}"
    );
    // The error chain says each part once (tonic's wrapper and hyper's connector both say
    // "tcp connect error").
    let parts: Vec<&str> = first.split(": ").collect();
    assert!(
        parts.windows(2).all(|w| w[0] != w[1]),
        "a part repeated: {first}"
    );
    assert!(
        warned.len() >= 2,
        "only one report in {elapsed:?}: {warned:?}"
    );
    // The later report counts the batches lost since the first: more than one.
    let batches: u64 = warned[1]
        .split("batches=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("a batches field");
    assert!(batches > 1, "{}", warned[1]);

    // The collector comes up on the same port: export works again, and that is said.
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("binds again");
    let (_, mut spans) = receiver_on(listener);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        tracer.in_span("after", |_| ());
        if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(100), spans.recv()).await {
            break;
        }
        assert!(Instant::now() < deadline, "the receiver got nothing");
    }
    provider.force_flush().expect("flushed");
    let again = captured.lines(tracing::Level::INFO, "works again");
    assert_eq!(again.len(), 1, "{again:?}");
    drop(provider);
}
