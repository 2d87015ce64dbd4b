//! The client span: one per attempt, its context sent as `traceparent`.

use erpc_core::client::Attempt;
use erpc_core::layer::{Service, into_boxed};
use erpc_core::{ClientResponse, Status};
use futures_util::future::BoxFuture;

use crate::wrapped::{AroundCall, Wrapped, wrapping_layer};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use opentelemetry::Context;
use opentelemetry::trace::TraceContextExt as _;

use super::attributes;
use super::head::{self, Head};
use super::propagation::{inject, inject_traceparent, inject_with_propagators};
use super::traced::Traced;

/// A client attempt layer (`ClientBuilder::attempt_layer(ClientTracing)`) that wraps each
/// attempt of a call in a `tracing` span of OpenTelemetry kind CLIENT under the current span,
/// named `service/method`, with `rpc.system = "erpc"`, `rpc.service`, `rpc.method`,
/// `server.address`, `server.port`, `network.transport` and, at its end,
/// `rpc.erpc.status_code`; any status but `ok` sets the span's status to ERROR. The span's
/// context goes out in the call's metadata as W3C `traceparent` and `tracestate` (and the
/// current `baggage`), replacing any the caller set.
///
/// Head-sampled (the `head` module): an attempt under an unsampled span or context, or a
/// new trace the ratio leaves out, gets no span — only its `traceparent` goes out (the
/// parent's trace and span ids, sampled flag clear; a new trace's fresh ids), so the servers
/// it reaches do not trace it either.
///
/// Per attempt, not per call, because that is when the instance is known: a retried call
/// has one span per attempt, each with the instance it went to (as gRPC's OpenTelemetry
/// instrumentation does). A streaming call's span covers its opening only.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientTracing;

wrapping_layer!(ClientTracing);

/// [`ClientTracing`]'s service.
pub type ClientTracingService<S> = Wrapped<ClientTracing, S>;

impl<S> AroundCall<Attempt, S> for ClientTracing
where
    S: Service<Attempt, Response = ClientResponse, Error = Status>,
    S::Future: Send + 'static,
{
    fn call(
        self,
        inner: &mut S,
        mut attempt: Attempt,
    ) -> BoxFuture<'static, Result<ClientResponse, Status>> {
        let span = match head::decide(None) {
            Head::Skip(parent) => {
                // No span: only the context goes on, sampled flag clear — as a bare
                // `traceparent` in the common case, without building a context.
                let metadata = &mut attempt.request.metadata;
                if !Context::map_current(|cx| inject_traceparent(&parent, cx, metadata)) {
                    // Not plain (a trace state, baggage, a `tracestate` to replace): the
                    // propagators write it, without checking for the plain case again.
                    inject_with_propagators(
                        &Context::current().with_remote_span_context(parent),
                        metadata,
                    );
                }
                return into_boxed(inner.call(attempt));
            }
            Head::Trace | Head::TraceRemote(_) => {
                let span = client_span(&attempt);
                inject(&span.context(), &mut attempt.request.metadata);
                span
            }
            Head::TraceRoot(trace_id) => {
                let span = client_span(&attempt);
                let cx = head::with_trace_id(trace_id, || span.context());
                inject(&cx, &mut attempt.request.metadata);
                span
            }
        };
        let deadline = attempt.request.deadline;
        let call = into_boxed(span.in_scope(|| inner.call(attempt)));
        Box::pin(Traced::new(span, call, false, deadline))
    }
}

/// The client span of a traced attempt.
fn client_span(attempt: &Attempt) -> tracing::Span {
    let addr = attempt.addr();
    let (host, port) = attributes::host_port(addr);
    // Every value a `&str`, not `%`-formatted: a `Display` field reaches the OpenTelemetry
    // attribute through `record_debug` and the formatter, a `&str` is copied as it is.
    let (service, method) = (&attempt.request.service, &attempt.request.method);
    attributes::with_span_name(service, method, |name| {
        tracing::info_span!(
            "erpc.client",
            otel.name = name,
            otel.kind = "client",
            rpc.system = "erpc",
            rpc.service = service.as_str(),
            rpc.method = method.as_str(),
            server.address = host,
            server.port = port,
            network.transport = attributes::transport_of_address(addr),
        )
    })
}
