//! The OTLP exporter does not trace itself: once a call's spans have been exported, an idle
//! process sends nothing more — the exporter's own tonic/h2/hyper/tower spans stay out of
//! what `otlp::init` exports (they fed back forever, each export making the next).
//!
//! One test in this file: it installs the process's global `tracing` subscriber.

use std::time::Duration;

use erpc_core::{Client, Status};
use erpc_telemetry::trace::otlp::{self, OtlpConfig};
use erpc_telemetry::trace::{ClientTracing, ServerTracing};

mod support;
use support::otlp::receiver;

#[erpc_macros::service(crate = "erpc_core")]
trait Echo {
    async fn say(&self, text: String) -> Result<String, Status>;
}

struct Echoer;

impl Echo for Echoer {
    async fn say(&self, text: String) -> Result<String, Status> {
        Ok(text)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_process_exports_no_spans_of_its_own_exporter() {
    let (endpoint, mut spans) = receiver().await;
    let interval = Duration::from_millis(100);
    let _guard = otlp::init(OtlpConfig {
        endpoint,
        service_name: "idle-test".into(),
        export_interval: interval,
        ..OtlpConfig::default()
    })
    .expect("tracing set up");
    let server = erpc_core::Server::builder()
        .layer(ServerTracing)
        .add_service(EchoServer::new(Echoer))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("serves");
    let client = Client::builder()
        .attempt_layer(ClientTracing)
        .connect(server.local_addr().to_string())
        .await
        .expect("connects");
    EchoClient::new(client)
        .say("hi".into())
        .await
        .expect("answered");

    // The call's two spans arrive (with whatever else an export carried).
    let mut names = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while names.iter().filter(|n| *n == "Echo/say").count() < 2 {
        match tokio::time::timeout_at(deadline, spans.recv()).await {
            Ok(Some(span)) => names.push(span.name),
            _ => panic!("the call's spans did not arrive: {names:?}"),
        }
    }
    // Let any export already under way land, then watch 20 export intervals of idling.
    tokio::time::sleep(interval * 5).await;
    while spans.try_recv().is_ok() {}
    tokio::time::sleep(interval * 20).await;
    let mut idle = Vec::new();
    while let Ok(span) = spans.try_recv() {
        idle.push(span.name);
    }
    assert!(
        idle.is_empty(),
        "{} spans exported while idle: {:?}",
        idle.len(),
        &idle[..idle.len().min(20)]
    );
    assert!(
        names.iter().all(|n| n == "Echo/say"),
        "only the call's spans are exported: {names:?}"
    );
}
