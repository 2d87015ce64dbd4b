//! A call under observation: reports `call_started` once the call runs and `call_finished`
//! exactly once — with the call's status when its task answers, or, when the task is stopped
//! from outside (CANCEL, the deadline sweeper, shutdown), as `deadline_exceeded` if its
//! deadline had passed, `unavailable` if the server was shutting down (what its client is
//! answered), and `cancelled` otherwise.
//!
//! A call that waits for its turn (a rate limit's line) is started only when the wait is
//! over and it was admitted: one refused at that point is counted by `call_refused` alone,
//! as a call refused on arrival is, not also as started and finished.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::time::Instant;

use crate::observe::{Finished, MethodWatch, Observer, Side};
use crate::protocol::ByteStr;
use crate::server::Service;
use crate::status::Code;

pub(crate) struct Observed {
    /// The method's watch (its names and where its events go), from the route table.
    watch: Arc<MethodWatch>,
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
        watch: Arc<MethodWatch>,
        stream: bool,
        (started, deadline): (Instant, Instant),
        draining: &Arc<AtomicBool>,
        bytes_in: u64,
        runs: bool,
    ) -> Observed {
        let mut observed = Observed {
            watch,
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
        observed
    }

    /// The call runs: report its start, if not reported yet.
    pub fn running(&mut self) {
        if !self.running {
            self.running = true;
            self.watch.started(self.stream);
        }
    }

    /// The call was refused before it ran, and the refusal told (`call_refused`): it is
    /// counted there, so neither its start nor its end is reported.
    pub fn refused(&mut self) {
        if !self.running {
            self.done = true;
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
        self.watch.finished(self.stream, &finished);
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

/// A served service as the route table holds it: the service, and, on an observed server,
/// the [`MethodWatch`] of each of its methods, made on the method's first call (so a call's
/// report takes a reference to it instead of cloning the observer and both names, and the
/// observer's per-method state is found once, not per event).
pub(crate) struct Route {
    pub service: Arc<dyn Service>,
    /// Its name, as events carry it.
    name: ByteStr,
    /// The methods it lists (`Service::methods`, copied: a call finds its own here).
    methods: Box<[&'static str]>,
    /// One watch per method in `methods`, then one for every name it lacks
    /// ([`crate::observe::UNKNOWN_METHOD`]); none on a server without an observer.
    watches: Box<[OnceLock<Arc<MethodWatch>>]>,
}

impl Route {
    /// The route of `service`, served as `name`; with room for watches if `observed`.
    pub fn new(name: &str, service: Arc<dyn Service>, observed: bool) -> Route {
        let methods: Box<[&'static str]> = service.methods().into();
        let watches = if observed {
            (0..=methods.len()).map(|_| OnceLock::new()).collect()
        } else {
            Box::default()
        };
        Route {
            service,
            name: ByteStr::from(name.to_owned()),
            methods,
            watches,
        }
    }

    /// The method name a call of `method` is reported under: its own, or
    /// [`crate::observe::UNKNOWN_METHOD`] if the service lists its methods and this is none
    /// of them (a client's made-up names must not each make metric series).
    pub fn reported<'a>(&self, method: &'a ByteStr) -> &'a ByteStr {
        if self.methods.is_empty() || self.methods.contains(&method.as_str()) {
            method
        } else {
            &UNKNOWN
        }
    }

    /// The watch of calls of `method` (reported as [`Route::reported`] names it), made now
    /// if this is its first. A service that lists no methods takes any name: its calls get
    /// a watch each (the observer asked each time), as no table can hold every name.
    pub fn watch(&self, observer: &Arc<dyn Observer>, method: &ByteStr) -> Arc<MethodWatch> {
        let make = |method: ByteStr| {
            let service = self.name.clone();
            Arc::new(MethodWatch::new(observer, Side::Server, service, method))
        };
        if self.methods.is_empty() {
            return make(method.clone());
        }
        let index = self
            .methods
            .iter()
            .position(|listed| *listed == method.as_str())
            .unwrap_or(self.methods.len());
        self.watches[index]
            .get_or_init(|| {
                let listed = self.methods.get(index).copied();
                make(ByteStr::from_static(
                    listed.unwrap_or(crate::observe::UNKNOWN_METHOD),
                ))
            })
            .clone()
    }
}
