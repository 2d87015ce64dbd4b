//! The access log: one line per call, as web servers keep one per request.

use std::time::Instant;

use erpc_core::Status;
use erpc_core::layer::{Service, into_boxed};
use erpc_core::server::{Request, Response};
use erpc_core::status::Code;
use futures_util::future::BoxFuture;

use crate::wrapped::{AroundCall, Wrapped, wrapping_layer};

/// A server layer (`ServerBuilder::layer(AccessLog)`) that logs one `tracing` event per call
/// as it ends, at INFO on target `erpc::access`, with `service`, `method`, `peer`, `code`
/// (the status name), `duration_us` (microseconds from the handler's start) and
/// `request_bytes`/`response_bytes` (bodies, uncompressed). Turn it up or down like any
/// target: `erpc::access=off`. A streaming call is logged at its opening.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccessLog;

wrapping_layer!(AccessLog);

/// [`AccessLog`]'s service.
pub type AccessLogService<S> = Wrapped<AccessLog, S>;

impl<S> AroundCall<Request, S> for AccessLog
where
    S: Service<Request, Response = Response, Error = Status>,
    S::Future: Send + 'static,
{
    fn call(self, inner: &mut S, request: Request) -> BoxFuture<'static, Result<Response, Status>> {
        // Only the compile-time level is checked here, never the subscriber: asking it
        // (`tracing::enabled!`) with no event following leaves a per-layer filter's "no"
        // behind on this thread, and tracing-subscriber 0.3 then skips the next event on
        // that layer — the handler's own first line when `erpc::access=off` and another
        // layer (OpenTelemetry's) wants the access event. The event below is filtered as
        // usual.
        if !tracing::level_enabled!(tracing::Level::INFO) {
            return into_boxed(inner.call(request));
        }
        let started = Instant::now();
        let cx = request.context();
        let service = cx.service().to_owned();
        let method = cx.method().to_owned();
        let peer = cx.peer().map(|p| p.to_string()).unwrap_or_default();
        let request_bytes = request.body().len();
        let call = inner.call(request);
        Box::pin(async move {
            let result = call.await;
            let (code, response_bytes) = match &result {
                Ok(response) => (Code::Ok, response.body.len()),
                Err(status) => (status.code(), 0),
            };
            tracing::info!(
                target: "erpc::access",
                service = %service,
                method = %method,
                peer = %peer,
                code = code.as_str(),
                duration_us = started.elapsed().as_micros() as u64,
                request_bytes,
                response_bytes,
                "call"
            );
            result
        })
    }
}
