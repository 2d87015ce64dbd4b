//! Tracing of real calls across three services, exported over OTLP to a real OTLP/gRPC
//! receiver (opentelemetry-proto's generated server) that decodes what the exporter sends:
//! one trace, the right parent links, the semantic-convention attributes, errors marked.
//!
//! One test in this file: it installs the process's global `tracing` subscriber.

use std::collections::HashMap;
use std::time::Duration;

use std::future::IntoFuture;

use erpc_core::{Client, ServerHandle, Status};
use erpc_telemetry::trace::otlp::{self, OtlpConfig};
use erpc_telemetry::trace::{ClientTracing, ServerTracing};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind, status::StatusCode};

mod support;
use support::otlp::receiver;

#[erpc_macros::service(crate = "erpc_core")]
trait Front {
    async fn order(&self, item: String) -> Result<String, Status>;
}

#[erpc_macros::service(crate = "erpc_core")]
trait Stock {
    async fn reserve(&self, item: String) -> Result<String, Status>;
}

#[erpc_macros::service(crate = "erpc_core")]
trait Ledger {
    async fn record(&self, item: String) -> Result<String, Status>;
}

struct FrontImpl(StockClient);
struct StockImpl(LedgerClient);
struct LedgerImpl;

impl Front for FrontImpl {
    async fn order(&self, item: String) -> Result<String, Status> {
        // The application's own span nests inside the server span.
        let span = tracing::info_span!("check-order");
        let reserved =
            tracing::Instrument::instrument(self.0.reserve(item).into_future(), span).await?;
        Ok(format!("ordered {reserved}"))
    }
}

impl Stock for StockImpl {
    async fn reserve(&self, item: String) -> Result<String, Status> {
        self.0.record(item).await
    }
}

impl Ledger for LedgerImpl {
    async fn record(&self, item: String) -> Result<String, Status> {
        if item == "broken" {
            return Err(Status::internal("the ledger is broken"));
        }
        if item == "slow" {
            // Cut off at the caller's deadline, which every hop inherits.
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        Ok(item)
    }
}

async fn serve(service: impl erpc_core::server::Service) -> ServerHandle {
    erpc_core::Server::builder()
        .layer(ServerTracing)
        .add_service(service)
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("serves")
}

async fn client(server: &ServerHandle) -> Client {
    Client::builder()
        .attempt_layer(ClientTracing)
        .connect(server.local_addr().to_string())
        .await
        .expect("connects")
}

fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn string_attr<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    match attr(span, key) {
        Some(Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_crosses_three_services_and_reaches_an_otlp_receiver() {
    let (endpoint, mut spans) = receiver().await;
    let guard = otlp::init(OtlpConfig {
        endpoint,
        service_name: "tracing-test".into(),
        export_interval: Duration::from_millis(200),
        ..OtlpConfig::default()
    })
    .expect("tracing set up");

    let ledger = serve(LedgerServer::new(LedgerImpl)).await;
    let stock = serve(StockServer::new(StockImpl(LedgerClient::new(
        client(&ledger).await,
    ))))
    .await;
    let front = serve(FrontServer::new(FrontImpl(StockClient::new(
        client(&stock).await,
    ))))
    .await;
    let front_client = FrontClient::new(client(&front).await);

    let root = tracing::info_span!("test-root");
    let answer = tracing::Instrument::instrument(
        front_client.order("apple".into()).into_future(),
        root.clone(),
    )
    .await
    .expect("ordered");
    assert_eq!(answer, "ordered apple");
    let failed = tracing::Instrument::instrument(
        front_client.order("broken".into()).into_future(),
        root.clone(),
    )
    .await
    .expect_err("the ledger fails");
    assert_eq!(failed.code(), erpc_core::Code::Internal);
    let cut = tracing::Instrument::instrument(
        front_client
            .order("slow".into())
            .timeout(Duration::from_millis(300))
            .into_future(),
        root.clone(),
    )
    .await
    .expect_err("past its deadline");
    assert_eq!(cut.code(), erpc_core::Code::DeadlineExceeded);
    drop(root);

    let provider = guard.provider().clone();
    tokio::task::spawn_blocking(move || provider.force_flush())
        .await
        .expect("joins")
        .expect("flushed");
    // Three calls × (3 client + 3 server spans) + check-order × 3 + the root.
    let mut got: Vec<Span> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while got.len() < 22 {
        match tokio::time::timeout_at(deadline, spans.recv()).await {
            Ok(Some(span)) => got.push(span),
            _ => break,
        }
    }
    let names: Vec<_> = got.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(got.len(), 22, "spans received: {names:?}");

    let root = got.iter().find(|s| s.name == "test-root").expect("root");
    assert!(
        got.iter().all(|s| s.trace_id == root.trace_id),
        "one trace: {names:?}"
    );
    let by_id: HashMap<&[u8], &Span> = got.iter().map(|s| (s.span_id.as_slice(), s)).collect();
    let parent_of = |s: &Span| by_id.get(s.parent_span_id.as_slice()).copied();

    // Every server span's parent is a client span of the same method, and every client span
    // past the first sits under a server span or the application's own span.
    for kind_server in got.iter().filter(|s| s.kind == SpanKind::Server as i32) {
        let parent = parent_of(kind_server).expect("a server span has a parent");
        assert_eq!(parent.kind, SpanKind::Client as i32, "{}", kind_server.name);
        assert_eq!(parent.name, kind_server.name);
        assert_eq!(string_attr(kind_server, "rpc.system"), Some("erpc"));
        assert_eq!(
            string_attr(kind_server, "rpc.service"),
            kind_server.name.split('/').next()
        );
        assert_eq!(string_attr(kind_server, "network.transport"), Some("tcp"));
        // The address the call came in on, as the client named it.
        assert_eq!(
            string_attr(kind_server, "server.address"),
            Some("127.0.0.1")
        );
        assert!(matches!(attr(kind_server, "server.port"), Some(Value::IntValue(p)) if *p > 0));
    }
    let chain = |method: &str, parent_name: &str| {
        for s in got
            .iter()
            .filter(|s| s.name == method && s.kind == SpanKind::Client as i32)
        {
            let parent = parent_of(s).expect("a client span has a parent");
            assert_eq!(parent.name, parent_name, "{method}'s parent");
            assert_eq!(string_attr(s, "server.address"), Some("127.0.0.1"));
            assert!(matches!(attr(s, "server.port"), Some(Value::IntValue(p)) if *p > 0));
        }
    };
    chain("Front/order", "test-root");
    chain("Stock/reserve", "check-order");
    chain("Ledger/record", "Stock/reserve");
    let check = got
        .iter()
        .find(|s| s.name == "check-order")
        .expect("the app's span");
    assert_eq!(
        parent_of(check).map(|p| p.name.as_str()),
        Some("Front/order")
    );

    // The failed call: the ledger's server span and every client span above it are errors;
    // status codes are recorded as numbers (internal = 13).
    let ledger_server_errors = got
        .iter()
        .filter(|s| s.name == "Ledger/record" && s.kind == SpanKind::Server as i32)
        .filter(|s| {
            s.status
                .as_ref()
                .is_some_and(|st| st.code == StatusCode::Error as i32)
        })
        // Not the call cut off at its deadline (below).
        .filter(|s| !matches!(attr(s, "rpc.erpc.status_code"), Some(Value::IntValue(4))))
        .collect::<Vec<_>>();
    assert_eq!(ledger_server_errors.len(), 1);
    assert!(matches!(
        attr(ledger_server_errors[0], "rpc.erpc.status_code"),
        Some(Value::IntValue(13))
    ));
    assert_eq!(
        ledger_server_errors[0]
            .status
            .as_ref()
            .map(|s| s.message.as_str()),
        Some("the ledger is broken")
    );
    let ok_spans = got
        .iter()
        .filter(|s| matches!(attr(s, "rpc.erpc.status_code"), Some(Value::IntValue(0))))
        .count();
    assert_eq!(ok_spans, 6, "the first call's six spans ended ok");
    // The call cut off at its deadline: every hop's spans say so. The test's own client span
    // ends `deadline_exceeded` (= 4), an error. Each hop below is dropped unfinished, and its
    // spans end `deadline_exceeded` if its own deadline has passed, else `cancelled` (= 1):
    // the CANCEL sent at the caller's deadline races the hop's own, which is later by the
    // request's time in transit (PROTOCOL.md §8), as with gRPC's RST_STREAM.
    let code = |s: &Span| match attr(s, "rpc.erpc.status_code") {
        Some(Value::IntValue(code)) => Some(*code),
        _ => None,
    };
    let is_error = |s: &Span| {
        s.status
            .as_ref()
            .is_some_and(|st| st.code == StatusCode::Error as i32)
    };
    let cut_spans: Vec<&Span> = got
        .iter()
        .filter(|s| matches!(code(s), Some(1 | 4)))
        .collect();
    assert_eq!(cut_spans.len(), 6, "the cut call's six spans: {names:?}");
    let outermost = cut_spans
        .iter()
        .find(|s| s.name == "Front/order" && s.kind == SpanKind::Client as i32)
        .expect("the test's client span");
    assert_eq!(code(outermost), Some(4));
    for s in &cut_spans {
        // A client span is an error whatever its code; a server span only when its own
        // deadline passed (a cancelled call is not the server's failure).
        let server = s.kind == SpanKind::Server as i32;
        assert_eq!(
            is_error(s),
            !server || code(s) == Some(4),
            "{} ({}) ended {:?}",
            s.name,
            if server { "server" } else { "client" },
            code(s)
        );
    }
    drop(guard);
}
