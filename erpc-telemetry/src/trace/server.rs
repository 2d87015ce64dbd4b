//! The server span: one per call, around the handler.

use erpc_core::Status;
use erpc_core::layer::Service;
use erpc_core::server::{Request, Response};
use futures_util::future::BoxFuture;

use crate::wrapped::{AroundCall, Wrapped, wrapping_layer};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::attributes;
use super::propagation::extract;

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
/// Cost: a span per call (`tracing` disabled: next to nothing; enabled and sampled: the
/// OpenTelemetry span and its export — BENCHMARKS.md has the figure).
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
        let (transport, peer) = attributes::peer(cx.peer());
        let span = tracing::info_span!(
            "erpc.server",
            otel.name = %format_args!("{}/{}", cx.service(), cx.method()),
            otel.kind = "server",
            rpc.system = "erpc",
            rpc.service = %cx.service(),
            rpc.method = %cx.method(),
            network.transport = transport,
            network.peer.address = %peer,
        );
        let parent = extract(cx.metadata());
        if opentelemetry::trace::TraceContextExt::has_active_span(&parent) {
            // Fails only if the span has already started (it has not).
            let _ = span.set_parent(parent);
        }
        let call = span.in_scope(|| inner.call(request));
        let finished = span.clone();
        Box::pin(
            async move {
                let result = call.await;
                attributes::finish(&finished, result.as_ref().map(|_| ()), true);
                result
            }
            .instrument(span),
        )
    }
}
