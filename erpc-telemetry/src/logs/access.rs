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
/// target: `erpc::access=off`. A streaming call is logged at its opening. A call cut off
/// before its handler ended is logged as it is dropped, with `deadline_exceeded` (its
/// deadline passed) or `cancelled` (the client cancelled it, or the server shut down). A call refused
/// before it ran (a rate limit, a cap, authentication) never reaches a layer: add
/// `ServerBuilder::log_refused_calls(true)` for the engine to log it on the same target
/// (message `call refused`, with `refused_by` and `reason`), so that every call has its line.
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
        let cx = request.context();
        // Kept as they are (reference counted, the peer's address by value) and formatted
        // only when the line is written.
        let mut line = Line {
            service: cx.names().0.clone(),
            method: cx.names().1.clone(),
            peer: cx.peer().cloned(),
            deadline: cx.deadline(),
            started: Instant::now(),
            request_bytes: request.body().len(),
            written: false,
        };
        let call = inner.call(request);
        Box::pin(async move {
            let result = call.await;
            match &result {
                Ok(response) => line.write(Code::Ok, response.body.len()),
                Err(status) => line.write(status.code(), 0),
            }
            result
        })
    }
}

/// One call's line, written when it ends — or when its future is dropped first (its
/// deadline passed, the client cancelled it, the server shut down), with the code the engine
/// answers such a call with: a call cut off at its deadline has its line too.
struct Line {
    service: erpc_core::protocol::ByteStr,
    method: erpc_core::protocol::ByteStr,
    peer: Option<erpc_core::PeerAddr>,
    deadline: tokio::time::Instant,
    started: Instant,
    request_bytes: usize,
    written: bool,
}

impl Line {
    fn write(&mut self, code: Code, response_bytes: usize) {
        self.written = true;
        tracing::info!(
            target: "erpc::access",
            service = self.service.as_str(),
            method = self.method.as_str(),
            peer = %Peer(self.peer.as_ref()),
            code = code.as_str(),
            duration_us = self.started.elapsed().as_micros() as u64,
            request_bytes = self.request_bytes,
            response_bytes,
            "call"
        );
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if !self.written {
            self.write(erpc_core::deadline::dropped_code(self.deadline), 0);
        }
    }
}

/// A call's peer as the access log writes it: its address, or nothing when unknown.
struct Peer<'a>(Option<&'a erpc_core::PeerAddr>);

impl std::fmt::Display for Peer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(peer) => peer.fmt(f),
            None => Ok(()),
        }
    }
}
