//! Client-side call events: each attempt's start and end, reported to the client's
//! [`Observer`] by the engine where a request frame is queued on a connection and where its
//! answer arrives — not by a layer, so an observed client keeps the direct call path (an
//! attempt layer made every observed call box and move its future several times: −50%
//! throughput at 4×256, BENCHMARKS.md). An unobserved client pays one `None` check.
//!
//! An attempt that fails before its request reaches a connection — its request does not
//! frame, no instance can be picked, the dial is refused or times out — is reported where
//! the engine gives up ([`unsent`]): started and finished at once with its status, so an
//! error rate over the finished calls sees the calls that never left as well as those that
//! failed on the wire.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::client::ClientRequest;
use crate::observe::{CallEvent, Finished, MethodWatch, MethodWatches, Observer, Side};
use crate::protocol::{ByteStr, Frame};
use crate::status::{Code, Status};

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

/// Report an attempt of `service.method` that failed with `status` before its request was
/// queued on a connection, if `observer` is there: `call_started`, then `call_finished`
/// with the status's code, no bytes, and the time since `since` (when the attempt began
/// waiting for a connection; `None`: it failed at once). Gives `status` back, so a site
/// reads `.map_err(|s| unsent(...))`. A stream's opening is reported where it fails, by
/// `stream_call::open` (as a stream), never here.
pub(crate) fn unsent(
    observer: Option<&Arc<dyn Observer>>,
    service: &str,
    method: &str,
    since: Option<Instant>,
    status: Status,
) -> Status {
    if let Some(observer) = observer {
        let call = CallEvent {
            service,
            method,
            stream: false,
        };
        let finished = Finished {
            code: status.code(),
            took: since.map_or(Duration::ZERO, |since| since.elapsed()),
            bytes_in: 0,
            bytes_out: 0,
        };
        crate::observe::started_and_finished(observer, Side::Client, &call, &finished);
    }
    status
}

/// [`unsent`] for a call already framed (its names taken from the frame).
pub(crate) fn unsent_frame(
    observer: Option<&Arc<dyn Observer>>,
    frame: &Frame,
    since: Option<Instant>,
    status: Status,
) -> Status {
    let service = frame.head.service.as_deref().unwrap_or("");
    let method = frame.head.method.as_deref().unwrap_or("");
    unsent(observer, service, method, since, status)
}

/// One attempt being reported; reports `cancelled` if dropped unfinished.
pub(crate) struct Report {
    /// The method's watch (its names and where its events go), from the client's.
    watch: Arc<MethodWatch>,
    started: Instant,
    bytes_out: u64,
    done: bool,
}

/// The name of a frame without one (never sent so: framing sets both).
static NO_NAME: ByteStr = ByteStr::from_static("");

impl Report {
    /// Report that the request in `frame` goes out now (`call_started`).
    pub(crate) fn start(watches: &MethodWatches, frame: &Frame) -> Box<Report> {
        let service = frame.head.service.as_ref().unwrap_or(&NO_NAME);
        let method = frame.head.method.as_ref().unwrap_or(&NO_NAME);
        let report = Box::new(Report {
            watch: watches.get(service, method),
            started: Instant::now(),
            bytes_out: frame.body.len() as u64,
            done: false,
        });
        report.watch.started(false);
        report
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
        self.watch.finished(false, &finished);
    }
}

impl Drop for Report {
    fn drop(&mut self) {
        if !self.done {
            self.finish(Code::Cancelled, 0);
        }
    }
}
