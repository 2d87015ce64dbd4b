//! Engine events: what happens on connections and calls, for metrics, logs and tests, with no
//! cost when nobody observes (one `Option` check per event site).
//!
//! Register an [`Observer`] with `ServerBuilder::observer` or `ClientBuilder::observer`. Every
//! method has an empty default: implement the events you need. Methods are called on the
//! engine's own tasks, inline: keep them short and non-blocking (bump a counter, record a
//! histogram sample, push to a channel), never await or lock for long. A panic in one is
//! caught and logged: the event is lost, nothing else.
//!
//! ```
//! # use erpc_core as erpc;
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use erpc::observe::{CloseReason, Observer, Side};
//! use erpc::PeerAddr;
//!
//! /// Counts connections closed because the peer stopped answering heartbeats.
//! #[derive(Default)]
//! struct Silent(AtomicU64);
//!
//! impl Observer for Silent {
//!     fn connection_closed(&self, _side: Side, _peer: &PeerAddr, reason: &CloseReason) {
//!         if *reason == CloseReason::Heartbeat {
//!             self.0.fetch_add(1, Ordering::Relaxed);
//!         }
//!     }
//! }
//! ```

use std::time::Duration;

use erpc_transport::{Address, PeerAddr};

use crate::status::Code;

/// Which end of the connection reports the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The server's end.
    Server,
    /// The client's end.
    Client,
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer closed it in order (end of stream).
    PeerClosed,
    /// This side closed it in order: a client dropped or closed, a server finished draining
    /// after GOAWAY or shut down.
    Local,
    /// The server sent GOAWAY and the connection drained (client side: it was replaced).
    GoAway,
    /// The peer stopped answering heartbeats.
    Heartbeat,
    /// A new connection sent no whole frame within the first-frame deadline.
    FirstFrameTimeout,
    /// The peer broke the protocol (the message says how).
    Protocol(String),
    /// The peer flooded the connection (junk frames, rapid cancels).
    Abuse(String),
    /// A limit turned the connection away (the server's `max_connections`).
    Limit(String),
    /// A connection-level hook (`ServerBuilder::on_connect`) turned the connection away
    /// (the refusal's message).
    Denied(String),
    /// The peer sent an ERROR frame (its message).
    PeerError(String),
    /// Reading or writing failed.
    Io(String),
}

/// Why a frame was refused without running anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// Over a size limit (`limits.max_head`, `max_body`, `max_metadata_entries`).
    TooLarge,
    /// A malformed header block.
    Malformed,
    /// No such service or method, or an unknown codec or compression.
    Unknown,
    /// At the running-call cap (`max_in_flight`).
    AtCapacity,
    /// Refused by a header-level hook (auth, rate limit, concurrency limit).
    Hook,
    /// The server is draining (GOAWAY sent).
    Draining,
    /// Its deadline had passed on arrival.
    Expired,
}

/// The method name a server's events give a call of a method its service does not have
/// (answered `unimplemented`): made-up names would each be a metric series of their own.
pub const UNKNOWN_METHOD: &str = "_unknown";

/// A call as events name it.
#[derive(Debug, Clone, Copy)]
pub struct CallEvent<'a> {
    /// The service name.
    pub service: &'a str,
    /// The method name; on the server, [`UNKNOWN_METHOD`] for a method the service does not
    /// list (`Service::methods`; a service listing none is taken at its word for any name).
    pub method: &'a str,
    /// Whether it is a stream (else unary or oneway).
    pub stream: bool,
}

/// What a finished call measured.
#[derive(Debug, Clone, Copy)]
pub struct Finished {
    /// How it ended (`Ok` for success).
    pub code: Code,
    /// From its start (request read, or sent) to its end; for a client's attempt that never
    /// reached a connection, from when it began waiting for one (zero if it failed at once)
    /// to its failure.
    pub took: Duration,
    /// Body bytes received for it (as on the wire, compressed).
    pub bytes_in: u64,
    /// Body bytes sent for it (as on the wire).
    pub bytes_out: u64,
}

/// The engine's handle on a user's observer: every event delivered with a panic caught and
/// logged, so a bug in an observer costs its events, never a call's answer or a connection
/// (an observer runs inline on the engine's tasks). Generic over the observer, not a second
/// `dyn` handle on it, so an event is one dynamic call, not two.
pub(crate) struct Contained<O>(O);

impl<O: Observer> Contained<O> {
    /// `observer`, contained.
    pub(crate) fn wrap(observer: O) -> std::sync::Arc<dyn Observer> {
        std::sync::Arc::new(Contained(observer))
    }

    #[inline]
    fn deliver(&self, event: &'static str, deliver: impl FnOnce(&O)) {
        // Not `task_guard::contained`: its `Result<(), Status>` was made and dropped on every
        // event (~30 instructions each, four events a call), where a panic needs only to be
        // logged (BENCHMARKS.md, "what metrics cost per call, by part").
        let delivered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| deliver(&self.0)));
        if let Err(panic) = delivered {
            let text = crate::engine::task_guard::panic_text(panic.as_ref());
            tracing::error!(panic = text, "{} panicked", ObserverEvent(event));
        }
    }
}

/// Names an observer method in a panic's message (formatted only if it panicked).
struct ObserverEvent(&'static str);

impl std::fmt::Display for ObserverEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "an observer's {}", self.0)
    }
}

impl<O: Observer> Observer for Contained<O> {
    fn connection_opened(&self, side: Side, peer: &PeerAddr) {
        self.deliver("connection_opened", |o| o.connection_opened(side, peer));
    }
    fn connection_closed(&self, side: Side, peer: &PeerAddr, reason: &CloseReason) {
        self.deliver("connection_closed", |o| {
            o.connection_closed(side, peer, reason)
        });
    }
    fn frame_refused(&self, side: Side, peer: &PeerAddr, refusal: Refusal) {
        self.deliver("frame_refused", |o| o.frame_refused(side, peer, refusal));
    }
    fn call_started(&self, side: Side, call: &CallEvent<'_>) {
        self.deliver("call_started", |o| o.call_started(side, call));
    }
    fn call_finished(&self, side: Side, call: &CallEvent<'_>, finished: &Finished) {
        self.deliver("call_finished", |o| o.call_finished(side, call, finished));
    }
    fn stream_message(&self, side: Side, call: &CallEvent<'_>, direction: Direction, bytes: usize) {
        self.deliver("stream_message", |o| {
            o.stream_message(side, call, direction, bytes)
        });
    }
    fn write_batch(&self, side: Side, peer: &PeerAddr, batch: &WriteBatch) {
        self.deliver("write_batch", |o| o.write_batch(side, peer, batch));
    }
    fn retry(&self, call: &CallEvent<'_>, retry: &Retry) {
        self.deliver("retry", |o| o.retry(call, retry));
    }
    fn breaker_changed(&self, change: &BreakerChange<'_>) {
        self.deliver("breaker_changed", |o| o.breaker_changed(change));
    }
    fn call_refused(&self, side: Side, call: &CallEvent<'_>, by: RefusedBy) {
        self.deliver("call_refused", |o| o.call_refused(side, call, by));
    }
    fn rate_limit_waited(&self, side: Side, call: &CallEvent<'_>, waited: Duration) {
        self.deliver("rate_limit_waited", |o| {
            o.rate_limit_waited(side, call, waited)
        });
    }
    fn hedge_settled(&self, call: &CallEvent<'_>, outcome: HedgeOutcome) {
        self.deliver("hedge_settled", |o| o.hedge_settled(call, outcome));
    }
    fn instance_connection_opened(&self, instance: &Address) {
        self.deliver("instance_connection_opened", |o| {
            o.instance_connection_opened(instance)
        });
    }
    fn instance_connection_closed(&self, instance: &Address) {
        self.deliver("instance_connection_closed", |o| {
            o.instance_connection_closed(instance)
        });
    }
}

/// A fail mode's decision to send another attempt of a call (client side), or to not send
/// it because the client's retry budget was spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// What the attempt is.
    pub kind: RetryKind,
    /// Its number: 2 for the first retry or the hedge.
    pub attempt: u32,
    /// How the previous attempt failed; `None` for a hedge sent because no answer came.
    pub after: Option<Code>,
    /// `false`: the retry budget refused it, and the call ends with the previous failure.
    pub granted: bool,
}

/// Which kind of further attempt a fail mode made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryKind {
    /// A retry of a `failover` call (on another instance), or a `failbackup` call's one
    /// retry after its first attempt failed before the hedge's delay.
    Failover,
    /// A retry of a `failtry` call: on the same instance, or on another when the call was
    /// never sent (the same one could not take it).
    Failtry,
    /// A second copy sent while the first still runs (`failbackup`).
    Hedge,
}

/// Which way a stream message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// This side sent it.
    Sent,
    /// This side received it (handed to the application).
    Received,
}

/// One write of a connection's writer: what it took from the write queue at once.
#[derive(Debug, Clone, Copy)]
pub struct WriteBatch {
    /// Frames written together (one vectored write).
    pub frames: usize,
    /// Their encoded bytes.
    pub bytes: usize,
    /// Frames still queued behind them when the write began: with `frames`, the queue's
    /// depth at that moment (bounded by `write_queue`, PROTOCOL.md's limits).
    pub still_queued: usize,
}

/// A stream as its message events name it.
#[derive(Clone)]
pub(crate) struct StreamWatch {
    pub observer: std::sync::Arc<dyn Observer>,
    pub side: Side,
    pub service: crate::protocol::ByteStr,
    pub method: crate::protocol::ByteStr,
}

impl StreamWatch {
    /// Report one message of `bytes` (its body, decompressed).
    pub fn message(&self, direction: Direction, bytes: usize) {
        let call = CallEvent {
            service: &self.service,
            method: &self.method,
            stream: true,
        };
        self.observer
            .stream_message(self.side, &call, direction, bytes);
    }
}

/// A writer as its batch events name it.
#[derive(Clone)]
pub(crate) struct WriterWatch {
    pub observer: std::sync::Arc<dyn Observer>,
    pub side: Side,
    pub peer: PeerAddr,
}

/// Receives engine events. Every method defaults to doing nothing.
pub trait Observer: Send + Sync + 'static {
    /// A connection was established (server: accepted and handed to the engine; client:
    /// dialled).
    fn connection_opened(&self, _side: Side, _peer: &PeerAddr) {}
    /// A connection ended, and why.
    fn connection_closed(&self, _side: Side, _peer: &PeerAddr, _reason: &CloseReason) {}
    /// A frame was refused before anything ran for it.
    fn frame_refused(&self, _side: Side, _peer: &PeerAddr, _refusal: Refusal) {}
    /// A call started (server: admitted; client: each attempt, as it goes out on its
    /// connection — a retried call is reported once per attempt; streams are reported on
    /// the server only). A client's attempt that failed before its request reached a
    /// connection (it did not frame, no instance could be picked, the dial failed) is
    /// reported started and then at once finished with its status.
    fn call_started(&self, _side: Side, _call: &CallEvent<'_>) {}
    /// A call finished.
    fn call_finished(&self, _side: Side, _call: &CallEvent<'_>, _finished: &Finished) {}
    /// A stream's message was sent or received (`bytes`: its body, uncompressed).
    fn stream_message(
        &self,
        _side: Side,
        _call: &CallEvent<'_>,
        _direction: Direction,
        _bytes: usize,
    ) {
    }
    /// A connection's writer wrote a batch; `still_queued` + `frames` is the write queue's
    /// depth then. Once per write, not per frame.
    fn write_batch(&self, _side: Side, _peer: &PeerAddr, _batch: &WriteBatch) {}
    /// A fail mode (`erpc::client::FailModes`) sent another attempt of a call (a retry or a
    /// hedge), or wanted to and its retry budget refused (`granted: false`). Reported by the
    /// layer, to the observer given to it.
    fn retry(&self, _call: &CallEvent<'_>, _retry: &Retry) {}
    /// A client's circuit breaker changed state (`erpc_core::client::breaker`).
    fn breaker_changed(&self, _change: &BreakerChange<'_>) {}
    /// A call was refused by a limit or a check before it ran (server: a header-level hook,
    /// the worker limit or the connection's running-call cap — the refused frame is also
    /// reported to [`Observer::frame_refused`] — or a hook's wait that ran out, after the
    /// call was reported started; client: a rate limit or concurrency cap, reported by the
    /// layer to the observer given to it). Once per refused call.
    fn call_refused(&self, _side: Side, _call: &CallEvent<'_>, _by: RefusedBy) {}
    /// A call waited `waited` for its turn under a rate limit and then went on (server: a
    /// header-level hook's wait, `Admitted::after` — a `RateLimit` with a maximum wait;
    /// client: `ClientRateLimit`, reported by the layer to the observer given to it). A wait
    /// that ran out is a [`Observer::call_refused`] instead.
    fn rate_limit_waited(&self, _side: Side, _call: &CallEvent<'_>, _waited: Duration) {}
    /// A hedged call (`failbackup`, after its hedge was sent) settled: which copy's answer
    /// it took. Reported by the fail-mode layer to the observer given to it, once per hedge
    /// sent (unless the call is dropped first).
    fn hedge_settled(&self, _call: &CallEvent<'_>, _outcome: HedgeOutcome) {}
    /// A client connected to one of its instances (`instance`: the address dialled, as
    /// discovery or the caller gave it); with [`Observer::instance_connection_closed`], the
    /// size of each instance's pool. Also reported as [`Observer::connection_opened`].
    fn instance_connection_opened(&self, _instance: &Address) {}
    /// A client's connection to `instance` ended (after
    /// [`Observer::instance_connection_opened`] for it).
    fn instance_connection_closed(&self, _instance: &Address) {}
}

/// Who refused a call ([`Observer::call_refused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefusedBy {
    /// A rate limit: the server's `RateLimit`, or the client's `ClientRateLimit`.
    RateLimit,
    /// The server's per-peer rate limit (`PeerRateLimit`).
    PeerRateLimit,
    /// A cap on calls at once: the server's `ConcurrencyLimit` (running calls), or the
    /// client's `ClientConcurrencyLimit` (calls in flight).
    Concurrency,
    /// A method's cap on running calls (`MethodConcurrencyLimit`).
    MethodConcurrency,
    /// Adaptive load shedding (`AdaptiveLimit`).
    Shedding,
    /// Authentication (`auth::Authenticate`: no or bad credentials).
    Auth,
    /// An access-control list (`auth::Acl`: authenticated but not allowed).
    Acl,
    /// The server's worker limit (its workers busy and its task queue full).
    Workers,
    /// The connection's running-call cap (`max_in_flight`).
    InFlight,
    /// Any other header-level hook (the application's own `Admission`).
    Hook,
}

/// Which copy of a hedged call answered ([`Observer::hedge_settled`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HedgeOutcome {
    /// The first attempt's answer was taken (the hedge was cancelled or failed).
    Original,
    /// The hedge's answer was taken (the first attempt was cancelled or failed).
    Hedge,
    /// Both failed: the call ends with the last failure.
    BothFailed,
}

/// A circuit breaker's state (gobreaker's three).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls pass; outcomes are counted.
    Closed,
    /// Calls fail at once with `unavailable`, until the open timeout passes.
    Open,
    /// A few trial calls pass (the settings' maximum); their outcome closes or reopens it.
    HalfOpen,
}

/// A circuit breaker changed state.
#[derive(Debug, Clone, Copy)]
pub struct BreakerChange<'a> {
    /// Which breaker: `instance <address>` (one per instance) or `method <service>.<method>`
    /// (one per method).
    pub breaker: &'a str,
    /// The same, in parts.
    pub scope: BreakerScope<'a>,
    /// The state it left.
    pub from: BreakerState,
    /// The state it entered.
    pub to: BreakerState,
}

/// What a circuit breaker guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerScope<'a> {
    /// One instance (`InstanceBreakers`): its address.
    Instance(&'a str),
    /// One method over every instance (`MethodBreakers`).
    Method {
        /// The service name.
        service: &'a str,
        /// The method name.
        method: &'a str,
    },
}
