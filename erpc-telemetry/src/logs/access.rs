//! The access log: one line per call, as web servers keep one per request.

use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use erpc_core::Status;
use erpc_core::layer::{Layer, Service};
use erpc_core::server::{Request, Response};
use erpc_core::status::Code;
use futures_util::future::BoxFuture;

/// A server layer (`ServerBuilder::layer(AccessLog)`) that logs one `tracing` event per call
/// as it ends, at INFO on target `erpc::access`, with `service`, `method`, `peer`, `code`
/// (the status name), `duration_us` (microseconds from the handler's start) and
/// `request_bytes`/`response_bytes` (bodies, uncompressed). Turn it up or down like any
/// target: `erpc::access=off`. A streaming call is logged at its opening.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccessLog;

impl<S> Layer<S> for AccessLog {
    type Service = AccessLogService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AccessLogService { inner }
    }
}

/// [`AccessLog`]'s service.
#[derive(Debug, Clone)]
pub struct AccessLogService<S> {
    inner: S,
}

impl<S> Service<Request> for AccessLogService<S>
where
    S: Service<Request, Response = Response, Error = Status>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Status;
    type Future = BoxFuture<'static, Result<Response, Status>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Status>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // Filtered out (`erpc::access=off`): no names copied, no clock read.
        if !tracing::enabled!(target: "erpc::access", tracing::Level::INFO) {
            return Box::pin(self.inner.call(request));
        }
        let started = Instant::now();
        let cx = request.context();
        let service = cx.service().to_owned();
        let method = cx.method().to_owned();
        let peer = cx.peer().map(|p| p.to_string()).unwrap_or_default();
        let request_bytes = request.body().len();
        let call = self.inner.call(request);
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
