//! Client-side call events: an attempt-level layer, the innermost, that reports each
//! attempt's start and end to the client's [`Observer`]. Added only when the client has an
//! observer, so an unobserved client pays nothing for it.

use std::sync::Arc;

use tokio::time::Instant;

use crate::client::{Attempt, AttemptService, ClientResponse};
use crate::layer::{Layer, Service};
use crate::observe::{CallEvent, Finished, Observer, Side};
use crate::status::Code;

/// Wraps the wire in [`ObservedCalls`].
pub(crate) struct ObserveLayer(pub(crate) Arc<dyn Observer>);

impl Layer<AttemptService> for ObserveLayer {
    type Service = ObservedCalls;
    fn layer(&self, inner: AttemptService) -> ObservedCalls {
        ObservedCalls {
            observer: self.0.clone(),
            inner,
        }
    }
}

/// Reports `call_started` when an attempt goes out and `call_finished` when it ends — with
/// its status, or `cancelled` if it is dropped first. Stream openings pass unreported: the
/// layer sees only a stream's opening, not its end.
#[derive(Clone)]
pub(crate) struct ObservedCalls {
    observer: Arc<dyn Observer>,
    inner: AttemptService,
}

impl Service<Attempt> for ObservedCalls {
    always_ready_boxed!(ClientResponse);

    fn call(&mut self, attempt: Attempt) -> Self::Future {
        let request = &attempt.request;
        if request.stream {
            return self.inner.oneshot(attempt);
        }
        let mut report = Report {
            observer: self.observer.clone(),
            service: request.service.clone(),
            method: request.method.clone(),
            started: Instant::now(),
            bytes_out: request.body.len() as u64,
            done: false,
        };
        self.observer.call_started(Side::Client, &report.event());
        let inner = self.inner.clone();
        Box::pin(async move {
            let result = inner.oneshot(attempt).await;
            let (code, bytes_in) = match &result {
                Ok(response) => (Code::Ok, response.wire_len as u64),
                Err(status) => (status.code(), 0),
            };
            report.finish(code, bytes_in);
            result
        })
    }
}

/// One attempt being reported; reports `cancelled` if dropped unfinished.
struct Report {
    observer: Arc<dyn Observer>,
    service: crate::protocol::ByteStr,
    method: crate::protocol::ByteStr,
    started: Instant,
    bytes_out: u64,
    done: bool,
}

impl Report {
    fn event(&self) -> CallEvent<'_> {
        CallEvent {
            service: &self.service,
            method: &self.method,
            stream: false,
        }
    }

    fn finish(&mut self, code: Code, bytes_in: u64) {
        self.done = true;
        let finished = Finished {
            code,
            took: self.started.elapsed(),
            bytes_in,
            bytes_out: self.bytes_out,
        };
        self.observer
            .call_finished(Side::Client, &self.event(), &finished);
    }
}

impl Drop for Report {
    fn drop(&mut self) {
        if !self.done {
            self.finish(Code::Cancelled, 0);
        }
    }
}
