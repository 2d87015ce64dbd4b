//! A call under observation: reports `call_finished` to the server's [`Observer`] exactly
//! once — with the call's status when its task answers, or, when the task is stopped from
//! outside (CANCEL, the deadline sweeper, shutdown), as `deadline_exceeded` if its deadline
//! had passed, `unavailable` if the server was shutting down (what its client is answered),
//! and `cancelled` otherwise.

use std::sync::Arc;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::observe::{CallEvent, Finished, Observer, Side};
use crate::protocol::ByteStr;
use crate::status::Code;

pub(crate) struct Observed {
    observer: Arc<dyn Observer>,
    service: ByteStr,
    method: ByteStr,
    stream: bool,
    started: Instant,
    deadline: Instant,
    /// The server's shutdown: a call stopped while it is under way ended by shutdown.
    shutdown: CancellationToken,
    bytes_in: u64,
    done: bool,
}

impl Observed {
    /// Report the call's start and watch it. `started`: when its request was read (the clock
    /// reading the connection took for the deadline, not a second one).
    pub fn start(
        observer: &Arc<dyn Observer>,
        (service, method): (&ByteStr, &ByteStr),
        stream: bool,
        (started, deadline): (Instant, Instant),
        shutdown: &CancellationToken,
        bytes_in: u64,
    ) -> Box<Observed> {
        let observed = Observed {
            observer: observer.clone(),
            service: service.clone(),
            method: method.clone(),
            stream,
            started,
            deadline,
            shutdown: shutdown.clone(),
            bytes_in,
            done: false,
        };
        observed
            .observer
            .call_started(Side::Server, &observed.event());
        Box::new(observed)
    }

    fn event(&self) -> CallEvent<'_> {
        CallEvent {
            service: &self.service,
            method: &self.method,
            stream: self.stream,
        }
    }

    /// The call ended with `code`, having sent `bytes_out` body bytes (0 for a stream: its
    /// messages are counted as they go).
    pub fn finish(&mut self, code: Code, bytes_out: u64) {
        self.report(code, bytes_out);
    }

    fn report(&mut self, code: Code, bytes_out: u64) {
        self.done = true;
        let finished = Finished {
            code,
            took: self.started.elapsed(),
            bytes_in: self.bytes_in,
            bytes_out,
        };
        self.observer
            .call_finished(Side::Server, &self.event(), &finished);
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        if !self.done {
            let code = if Instant::now() >= self.deadline {
                Code::DeadlineExceeded
            } else if self.shutdown.is_cancelled() {
                Code::Unavailable
            } else {
                Code::Cancelled
            };
            self.report(code, 0);
        }
    }
}

/// [`crate::observe::UNKNOWN_METHOD`] as a call's name.
static UNKNOWN: ByteStr = ByteStr::from_static(crate::observe::UNKNOWN_METHOD);

/// The method name `service`'s call of `method` is reported under: its own, or
/// [`crate::observe::UNKNOWN_METHOD`] if the service lists its methods and this is none of
/// them (a client's made-up names must not each make metric series).
pub(crate) fn reported_method<'a>(
    service: &dyn crate::server::Service,
    method: &'a ByteStr,
) -> &'a ByteStr {
    let methods = service.methods();
    if methods.is_empty() || methods.contains(&method.as_str()) {
        method
    } else {
        &UNKNOWN
    }
}
