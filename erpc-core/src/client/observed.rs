//! Client-side call events: each attempt's start and end, reported to the client's
//! [`Observer`] by the engine where a request frame is queued on a connection and where its
//! answer arrives — not by a layer, so an observed client keeps the direct call path (an
//! attempt layer made every observed call box and move its future several times: −50%
//! throughput at 4×256, BENCHMARKS.md). An unobserved client pays one `None` check.

use std::sync::Arc;

use tokio::time::Instant;

use crate::client::ClientRequest;
use crate::observe::{CallEvent, Finished, Observer, Side};
use crate::protocol::Frame;
use crate::status::Code;

impl ClientRequest {
    /// The call as events name it.
    pub(crate) fn event(&self) -> CallEvent<'_> {
        CallEvent {
            service: &self.service,
            method: &self.method,
            stream: self.stream,
        }
    }
}

/// Tell `observer`, if there is one, of `request` with `tell` (a client layer's event).
pub(crate) fn tell(
    observer: Option<&Arc<dyn Observer>>,
    request: &ClientRequest,
    tell: impl FnOnce(&dyn Observer, &CallEvent<'_>),
) {
    if let Some(observer) = observer {
        tell(observer.as_ref(), &request.event());
    }
}

/// One attempt being reported; reports `cancelled` if dropped unfinished.
pub(crate) struct Report {
    observer: Arc<dyn Observer>,
    service: crate::protocol::ByteStr,
    method: crate::protocol::ByteStr,
    started: Instant,
    bytes_out: u64,
    done: bool,
}

impl Report {
    /// Report that the request in `frame` goes out now (`call_started`).
    pub(crate) fn start(observer: &Arc<dyn Observer>, frame: &Frame) -> Box<Report> {
        let report = Box::new(Report {
            observer: observer.clone(),
            service: frame.head.service.clone().unwrap_or_default(),
            method: frame.head.method.clone().unwrap_or_default(),
            started: Instant::now(),
            bytes_out: frame.body.len() as u64,
            done: false,
        });
        observer.call_started(Side::Client, &report.event());
        report
    }

    fn event(&self) -> CallEvent<'_> {
        CallEvent {
            service: &self.service,
            method: &self.method,
            stream: false,
        }
    }

    /// Report the attempt's end (`call_finished`): its status and the answer's body bytes.
    pub(crate) fn finish(&mut self, code: Code, bytes_in: u64) {
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
