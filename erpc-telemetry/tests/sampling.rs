//! Head sampling in `ServerTracing`/`ClientTracing`: the decision comes before any span is
//! built (a counting `tracing` layer sees no span for an unsampled call), follows the
//! caller's `traceparent`, and an unsampled call still sends the trace on, flag clear.
//!
//! A front service relays each call to a back service; both report the `traceparent` they
//! received. Spans go to OpenTelemetry's in-memory exporter through a subscriber set for the
//! test's thread (a current-thread runtime: servers and clients run on it). The head ratio
//! is process-wide, so the tests take turns.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use erpc_core::{Client, Context, ServerHandle, Status};
use erpc_telemetry::trace::otlp;
use erpc_telemetry::trace::{ClientTracing, ServerTracing};
use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_subscriber::layer::SubscriberExt;

#[erpc_macros::service(crate = "erpc_core")]
trait Front {
    /// The `traceparent` the front received, then the back's.
    async fn relay(&self, cx: Context) -> Result<(String, String), Status>;
}

#[erpc_macros::service(crate = "erpc_core")]
trait Back {
    async fn seen(&self, cx: Context) -> Result<String, Status>;
}

struct FrontImpl(BackClient);
struct BackImpl;

fn traceparent(cx: &Context) -> String {
    cx.metadata()
        .get_str("traceparent")
        .unwrap_or_default()
        .to_owned()
}

impl Front for FrontImpl {
    async fn relay(&self, cx: Context) -> Result<(String, String), Status> {
        let back = self.0.seen().await?;
        Ok((traceparent(&cx), back))
    }
}

impl Back for BackImpl {
    async fn seen(&self, cx: Context) -> Result<String, Status> {
        Ok(traceparent(&cx))
    }
}

/// Counts the `tracing` spans made while it is installed.
struct Counting(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Counting {
    fn on_new_span(
        &self,
        _: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Tracing at `ratio` for this thread, two services, and a client of the front.
struct Setup {
    exporter: InMemorySpanExporter,
    made: Arc<AtomicUsize>,
    provider: SdkTracerProvider,
    front: Option<FrontClient>,
    servers: Vec<ServerHandle>,
    _subscriber: tracing::subscriber::DefaultGuard,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn serve(service: impl erpc_core::server::Service) -> ServerHandle {
    erpc_core::Server::builder()
        .layer(ServerTracing)
        .add_service(service)
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("serves")
}

async fn connect(server: &ServerHandle, traced: bool) -> Client {
    let builder = Client::builder();
    let builder = if traced {
        builder.attempt_layer(ClientTracing)
    } else {
        builder
    };
    builder
        .connect(server.local_addr().to_string())
        .await
        .expect("connects")
}

impl Setup {
    /// `traced_caller`: the test's own client has `ClientTracing` (else it is a caller that
    /// sends the `traceparent` the test gives it, as another SDK would).
    async fn new(ratio: f64, traced_caller: bool) -> Setup {
        let turn = TURN.lock().await;
        let exporter = InMemorySpanExporter::default();
        let provider = otlp::with_head_sampling(SdkTracerProvider::builder(), ratio)
            .expect("a valid ratio")
            .with_simple_exporter(exporter.clone())
            .build();
        let made = Arc::new(AtomicUsize::new(0));
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
            .with(Counting(made.clone()));
        let guard = tracing::subscriber::set_default(subscriber);
        let back = serve(BackServer::new(BackImpl)).await;
        let front = serve(FrontServer::new(FrontImpl(BackClient::new(
            connect(&back, true).await,
        ))))
        .await;
        let caller = FrontClient::new(connect(&front, traced_caller).await);
        Setup {
            exporter,
            made,
            provider,
            front: Some(caller),
            servers: vec![back, front],
            _subscriber: guard,
            _turn: turn,
        }
    }

    async fn relay(&self, traceparent: Option<&str>) -> (String, String) {
        let front = self.front.as_ref().expect("connected");
        let call = front.relay();
        let call = match traceparent {
            Some(tp) => call.metadata("traceparent", tp.to_owned()),
            None => call,
        };
        call.await.expect("relayed")
    }

    /// The spans exported once every server has finished its calls.
    async fn spans(mut self) -> Vec<SpanData> {
        self.front = None;
        for server in self.servers.drain(..) {
            server.shutdown().await;
        }
        self.provider.force_flush().expect("flushed");
        self.exporter.get_finished_spans().expect("spans")
    }
}

fn parts(traceparent: &str) -> (TraceId, SpanId, &str) {
    let p: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(p.len(), 4, "{traceparent:?}");
    (
        TraceId::from_hex(p[1]).expect("trace id"),
        SpanId::from_hex(p[2]).expect("span id"),
        p[3],
    )
}

const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7";

#[tokio::test]
async fn an_unsampled_parent_builds_no_span_and_is_sent_on_unchanged() {
    // Ratio 1: the caller's choice wins over it.
    let setup = Setup::new(1.0, false).await;
    let unsampled = format!("{PARENT}-00");
    for _ in 0..5 {
        let (front, back) = setup.relay(Some(&unsampled)).await;
        assert_eq!(front, unsampled);
        assert_eq!(back, unsampled, "same trace and span id, flag clear");
    }
    assert_eq!(setup.made.load(Ordering::Relaxed), 0, "no span was built");
    assert!(setup.spans().await.is_empty());
}

#[tokio::test]
async fn ratio_zero_traces_no_root_yet_sends_its_trace_id_on() {
    let setup = Setup::new(0.0, true).await;
    let mut traces = std::collections::HashSet::new();
    for _ in 0..20 {
        let (front, back) = setup.relay(None).await;
        assert_eq!(front, back, "the front sends its caller's context on");
        let (trace, _, flags) = parts(&front);
        assert_eq!(flags, "00");
        assert!(traces.insert(trace), "a new trace per root call");
    }
    assert_eq!(setup.made.load(Ordering::Relaxed), 0, "no span was built");
    assert!(setup.spans().await.is_empty());
}

#[tokio::test]
async fn ratio_one_traces_every_root_through_every_hop() {
    let setup = Setup::new(1.0, true).await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        let (front, back) = setup.relay(None).await;
        let (front_trace, _, front_flags) = parts(&front);
        let (back_trace, _, back_flags) = parts(&back);
        assert_eq!((front_flags, back_flags), ("01", "01"));
        assert_eq!(front_trace, back_trace);
        ids.push(front_trace);
    }
    let spans = setup.spans().await;
    // Per call: the caller's client span, the front's server and client spans, the back's.
    assert_eq!(spans.len(), 40);
    for id in ids {
        assert_eq!(
            spans
                .iter()
                .filter(|s| s.span_context.trace_id() == id)
                .count(),
            4
        );
    }
}

#[tokio::test]
async fn at_ratio_one_half_the_sdk_keeps_exactly_the_roots_the_layer_traced() {
    let setup = Setup::new(0.5, true).await;
    let (mut traced, mut skipped) = (Vec::new(), 0);
    for _ in 0..40 {
        let (front, back) = setup.relay(None).await;
        let (trace, _, flags) = parts(&front);
        assert_eq!(parts(&back).2, flags, "every hop agrees");
        match flags {
            "01" => traced.push(trace),
            _ => skipped += 1,
        }
    }
    assert!(!traced.is_empty() && skipped > 0, "{} traced", traced.len());
    assert_eq!(
        setup.made.load(Ordering::Relaxed),
        4 * traced.len(),
        "spans built only for traced calls"
    );
    let spans = setup.spans().await;
    // The SDK's sampler saw the trace id the layer decided on, so it kept every span.
    assert_eq!(spans.len(), 4 * traced.len());
    assert!(
        spans
            .iter()
            .all(|s| traced.contains(&s.span_context.trace_id()))
    );
}

#[tokio::test]
async fn a_sampled_parent_is_followed_whatever_the_ratio() {
    let setup = Setup::new(0.0, false).await;
    let sampled = format!("{PARENT}-01");
    let (front, back) = setup.relay(Some(&sampled)).await;
    assert_eq!(front, sampled);
    let (trace, _, flags) = parts(&back);
    assert_eq!(flags, "01");
    let spans = setup.spans().await;
    assert_eq!(
        spans.len(),
        3,
        "the front's server and client spans, the back's"
    );
    let (parent_trace, parent_span, _) = parts(&sampled);
    assert!(
        spans
            .iter()
            .all(|s| s.span_context.trace_id() == parent_trace)
    );
    assert_eq!(trace, parent_trace);
    assert_eq!(
        spans
            .iter()
            .filter(|s| s.parent_span_id == parent_span)
            .count(),
        1,
        "the front's server span is the caller's child"
    );
}

#[test]
fn a_ratio_outside_zero_to_one_is_refused_by_name() {
    let e = otlp::with_head_sampling(SdkTracerProvider::builder(), -0.5)
        .expect_err("refused")
        .to_string();
    assert!(e.contains("sample_ratio") && e.contains("-0.5"), "{e}");
}
