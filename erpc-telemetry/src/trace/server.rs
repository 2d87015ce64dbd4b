//! The server span: one per call, around the handler.

use erpc_core::Status;
use erpc_core::layer::{Service, into_boxed};
use erpc_core::server::{Request, Response};
use futures_util::future::BoxFuture;

use crate::wrapped::{AroundCall, Wrapped, wrapping_layer};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::TraceContextExt as _;

use super::attributes;
use super::head::{self, Head};
use super::propagation::remote;
use super::traced::Traced;
use super::traceparent::TRACEPARENT;

/// A server layer (`ServerBuilder::layer(ServerTracing)`) that runs each call inside a
/// `tracing` span of OpenTelemetry kind SERVER, named `service/method`, with `rpc.system =
/// "erpc"`, `rpc.service`, `rpc.method`, `network.transport`, `network.peer.address` and, at
/// its end, `rpc.erpc.status_code`; a status meaning the server failed (`internal`,
/// `unavailable`, `unknown`, `deadline_exceeded`, `unimplemented`, `data_loss`) sets the span's
/// status to ERROR. Its parent is the caller's span when the request carries a W3C
/// `traceparent`, else the current span.
///
/// The handler runs inside the span, so its own `tracing` spans and events nest in it and
/// its own erpc calls (through a client with [`super::ClientTracing`]) are its children. A
/// streaming call's span covers its opening only.
///
/// Head-sampled (the `head` module): a call whose caller did not sample its trace, or a new
/// trace the ratio leaves out, gets no span at all — the handler runs in the caller's
/// context, so its own calls send the same trace id on with the sampled flag clear.
///
/// Cost: an unsampled call, a `traceparent` parse and two small allocations (its context and
/// the future that runs the handler in it); a sampled one, the OpenTelemetry span and its
/// export — BENCHMARKS.md has the figures.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerTracing;

wrapping_layer!(ServerTracing);

/// [`ServerTracing`]'s service.
pub type ServerTracingService<S> = Wrapped<ServerTracing, S>;

impl<S> AroundCall<Request, S> for ServerTracing
where
    S: Service<Request, Response = Response, Error = Status>,
    S::Future: Send + 'static,
{
    fn call(self, inner: &mut S, request: Request) -> BoxFuture<'static, Result<Response, Status>> {
        let cx = request.context();
        let metadata = cx.metadata();
        let span = match head::decide(metadata.get(TRACEPARENT).map(|v| &v[..])) {
            Head::Skip(parent) => {
                // No span. The handler runs in the call's context instead, so its own calls
                // send the trace on unsampled and its own spans are dropped with it.
                let otel = if parent.is_remote() {
                    remote(metadata, parent)
                } else {
                    opentelemetry::Context::current().with_remote_span_context(parent)
                };
                return Box::pin(inner.call(request).with_context(otel));
            }
            Head::TraceRemote(parent) => {
                let span = server_span(cx);
                // Fails only if the span has already started (it has not).
                let _ = span.set_parent(remote(metadata, parent.span_context(true)));
                span
            }
            Head::Trace => server_span(cx),
            Head::TraceRoot(trace_id) => {
                let span = server_span(cx);
                // Started now, so it gets the trace id the decision was made on.
                head::with_trace_id(trace_id, || span.context());
                span
            }
        };
        let deadline = request.context().deadline();
        let call = into_boxed(span.in_scope(|| inner.call(request)));
        Box::pin(Traced::new(span, call, true, deadline))
    }
}

/// The server span of a traced call.
fn server_span(cx: &erpc_core::Context) -> tracing::Span {
    let (transport, peer) = attributes::peer(cx.peer());
    // The address the call came in on, as its clients name this server.
    let (host, port) = cx.local_addr().map_or(("", None), attributes::host_port);
    // `&str` values, not `%`-formatted ones (see `client_span`).
    attributes::with_span_name(cx.service(), cx.method(), |name| {
        tracing::info_span!(
            "erpc.server",
            otel.name = name,
            otel.kind = "server",
            rpc.system = "erpc",
            rpc.service = cx.service(),
            rpc.method = cx.method(),
            network.transport = transport,
            network.peer.address = peer.as_str(),
            server.address = host,
            server.port = port,
        )
    })
}
