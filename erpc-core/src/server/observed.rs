//! A call under observation: reports `call_started` once the call runs and `call_finished`
//! exactly once — with the call's status when its task answers, or, when the task is stopped
//! from outside (CANCEL, the deadline sweeper, shutdown), as `deadline_exceeded` if its
//! deadline had passed, `unavailable` if the server was shutting down (what its client is
//! answered), and `cancelled` otherwise.
//!
//! A call that waits for its turn (a rate limit's line) is started only when the wait is
//! over and it was admitted: one refused at that point is counted by `call_refused` alone,
//! as a call refused on arrival is, not also as started and finished.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::time::Instant;

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
    /// The connection's draining flag, set when the server shuts down: a call stopped while
    /// it is set ended by shutdown. (A flag's `Arc`, not a clone of the shutdown token:
    /// cloning and dropping a token take its tree's lock, ~180 instructions a call.)
    draining: Arc<AtomicBool>,
    bytes_in: u64,
    /// `call_started` was reported.
    running: bool,
    /// `call_finished` was reported, or the call was refused (nothing more to report).
    done: bool,
}

impl Observed {
    /// Watch a call, and report its start now if it `runs` now (else at [`Observed::running`]:
    /// a call that waits for its turn first). `started`: when its request was read (the
    /// clock reading the connection took for the deadline, not a second one).
    pub fn start(
        observer: &Arc<dyn Observer>,
        (service, method): (&ByteStr, &ByteStr),
        stream: bool,
        (started, deadline): (Instant, Instant),
        draining: &Arc<AtomicBool>,
        bytes_in: u64,
        runs: bool,
    ) -> Box<Observed> {
        let mut observed = Observed {
            observer: observer.clone(),
            service: service.clone(),
            method: method.clone(),
            stream,
            started,
            deadline,
            draining: draining.clone(),
            bytes_in,
            running: false,
            done: false,
        };
        if runs {
            observed.running();
        }
        Box::new(observed)
    }

    /// The call runs: report its start, if not reported yet.
    pub fn running(&mut self) {
        if !self.running {
            self.running = true;
            self.observer.call_started(Side::Server, &self.event());
        }
    }

    /// The call was refused before it ran, and the refusal told (`call_refused`): it is
    /// counted there, so neither its start nor its end is reported.
    pub fn refused(&mut self) {
        if !self.running {
            self.done = true;
        }
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
        if self.done {
            return;
        }
        // A call that ended while waiting for its turn (its deadline, a cancel, shutdown)
        // ends as a call, started then finished: every call is counted once.
        self.running();
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
            } else if self.draining.load(Ordering::Acquire) {
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
