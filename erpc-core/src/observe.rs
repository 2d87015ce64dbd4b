//! Engine events: what happens on connections and calls, for metrics, logs and tests, with no
//! cost when nobody observes (one `Option` check per event site).
//!
//! Register an [`Observer`] with `ServerBuilder::observer` or `ClientBuilder::observer`. Every
//! method has an empty default: implement the events you need. Methods are called on the
//! engine's own tasks, inline: keep them short and non-blocking (bump a counter, record a
//! histogram sample, push to a channel), never await or lock for long. A panic in one is
//! caught and logged: the event is lost, nothing else. An observer that keeps state per
//! method (counters, say) can hand it out once per method ([`Observer::method_observer`])
//! and then get that method's calls there, without finding it by name on every event.
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

use std::sync::{Arc, OnceLock};
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

/// Run `deliver` (an observer's code, inline on an engine task) with a panic caught and
/// logged as `event`'s: the event is lost, nothing else. Not `task_guard::contained`: its
/// `Result<(), Status>` was made and dropped on every event (~30 instructions each, four
/// events a call), where a panic needs only to be logged (BENCHMARKS.md, "what metrics cost
/// per call, by part").
#[inline]
fn contained<R>(event: &'static str, deliver: impl FnOnce() -> R) -> Option<R> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(deliver)) {
        Ok(delivered) => Some(delivered),
        Err(panic) => {
            let text = crate::engine::task_guard::panic_text(panic.as_ref());
            tracing::error!(panic = text, "{} panicked", ObserverEvent(event));
            None
        }
    }
}

/// The engine's handle on a user's observer: every event delivered with a panic caught and
/// logged, so a bug in an observer costs its events, never a call's answer or a connection
/// (an observer runs inline on the engine's tasks). Generic over the observer, not a second
/// `dyn` handle on it, so an event is one dynamic call, not two. (A [`MethodObserver`] the
/// observer hands out is contained by the [`MethodWatch`] that holds it.)
pub(crate) struct Contained<O>(O);

impl<O: Observer> Contained<O> {
    /// `observer`, contained.
    pub(crate) fn wrap(observer: O) -> Arc<dyn Observer> {
        Arc::new(Contained(observer))
    }

    #[inline]
    fn deliver(&self, event: &'static str, deliver: impl FnOnce(&O)) {
        contained(event, || deliver(&self.0));
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
    fn method_observer(
        &self,
        side: Side,
        service: &str,
        method: &str,
    ) -> Option<Arc<dyn MethodObserver>> {
        // A panic here is the answer `None`: the method's calls are reported by name.
        contained("method_observer", || {
            self.0.method_observer(side, service, method)
        })
        .flatten()
    }
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
    fn observes_write_batches(&self) -> bool {
        // A panic here is the default answer.
        contained("observes_write_batches", || self.0.observes_write_batches()).unwrap_or(true)
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
    fn instance_connect_failed(&self, instance: &Address) {
        self.deliver("instance_connect_failed", |o| {
            o.instance_connect_failed(instance)
        });
    }
    fn server_listening(&self, addr: &Address, listening: bool) {
        self.deliver("server_listening", |o| o.server_listening(addr, listening));
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
    pub observer: Arc<dyn Observer>,
    pub side: Side,
    pub service: crate::protocol::ByteStr,
    pub method: crate::protocol::ByteStr,
    /// A client's stream as a call (started when it opened, finished when it ends); `None`
    /// on the server, whose call task reports its streams' calls.
    pub call: Option<Arc<StreamCallTally>>,
}

impl StreamWatch {
    /// Report one message of `bytes` (its body, decompressed).
    pub fn message(&self, direction: Direction, bytes: usize) {
        let call = CallEvent {
            service: &self.service,
            method: &self.method,
            stream: true,
        };
        if let Some(tally) = &self.call {
            tally.message(direction, bytes);
        }
        self.observer
            .stream_message(self.side, &call, direction, bytes);
    }

    /// The stream's call ended with `code` (reported once, the first end told).
    pub fn ended(&self, code: Code) {
        if let Some(tally) = &self.call {
            tally.end(code);
        }
    }
}

/// A client's streaming call, counted as a call: reported started when made
/// ([`StreamCallTally::start`]) and finished once, when its `Incoming` ends — its status, the
/// end of the server's messages (`ok`), or `cancelled` if the caller dropped it first — with
/// the time since it started and its messages' bytes (bodies, decompressed).
pub(crate) struct StreamCallTally {
    watch: Arc<MethodWatch>,
    started: std::time::Instant,
    bytes_in: std::sync::atomic::AtomicU64,
    bytes_out: std::sync::atomic::AtomicU64,
    ended: std::sync::atomic::AtomicBool,
}

impl StreamCallTally {
    /// Report the stream's call started, through its method's watch.
    pub(crate) fn start(watch: Arc<MethodWatch>) -> Arc<StreamCallTally> {
        watch.started(true);
        Arc::new(StreamCallTally {
            watch,
            started: std::time::Instant::now(),
            bytes_in: Default::default(),
            bytes_out: Default::default(),
            ended: Default::default(),
        })
    }

    fn message(&self, direction: Direction, bytes: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        let counter = match direction {
            Direction::Sent => &self.bytes_out,
            Direction::Received => &self.bytes_in,
        };
        counter.fetch_add(bytes as u64, Relaxed);
    }

    /// Report the call finished with `code`, unless an end was reported already.
    pub(crate) fn end(&self, code: Code) {
        use std::sync::atomic::Ordering::Relaxed;
        if self.ended.swap(true, Relaxed) {
            return;
        }
        let finished = Finished {
            code,
            took: self.started.elapsed(),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
        };
        self.watch.finished(true, &finished);
    }
}

/// A writer as its batch events name it.
#[derive(Clone)]
pub(crate) struct WriterWatch {
    pub observer: Arc<dyn Observer>,
    pub side: Side,
    pub peer: PeerAddr,
}

impl WriterWatch {
    /// The watch of a writer on `side` to `peer`, if there is an observer and it wants
    /// write batches ([`Observer::observes_write_batches`]).
    pub fn of(observer: Option<&Arc<dyn Observer>>, side: Side, peer: &PeerAddr) -> Option<Self> {
        let observer = observer.filter(|o| o.observes_write_batches())?;
        Some(WriterWatch {
            observer: observer.clone(),
            side,
            peer: peer.clone(),
        })
    }
}

/// One method's calls on one side as the engine reports them: the names their events carry,
/// and where those go — the [`MethodObserver`] the observer gave for the method
/// ([`Observer::method_observer`]), or else the observer itself by name. Made once per
/// method where the engine can keep it (a server's route table, a client's
/// [`MethodWatches`]), so a call's report holds one reference to it instead of the observer
/// and both names, and its events need no lookup by name.
pub(crate) struct MethodWatch {
    side: Side,
    service: crate::protocol::ByteStr,
    method: crate::protocol::ByteStr,
    to: Reported,
}

/// Where a method's call events go.
enum Reported {
    /// The observer's own state for the method (contained here, event by event).
    Method(Arc<dyn MethodObserver>),
    /// The observer (contained), by name.
    Observer(Arc<dyn Observer>),
}

impl MethodWatch {
    /// The watch of `service`'s `method` on `side`: asks `observer` (contained) for the
    /// method's own observer.
    pub(crate) fn new(
        observer: &Arc<dyn Observer>,
        side: Side,
        service: crate::protocol::ByteStr,
        method: crate::protocol::ByteStr,
    ) -> MethodWatch {
        let to = match observer.method_observer(side, &service, &method) {
            Some(method) => Reported::Method(method),
            None => Reported::Observer(observer.clone()),
        };
        MethodWatch {
            side,
            service,
            method,
            to,
        }
    }

    /// Whether this is the watch of `service`'s `method` (a name given as a static string
    /// is the same pointer each time, so most comparisons end there).
    fn is(&self, service: &str, method: &str) -> bool {
        fn same(a: &str, b: &str) -> bool {
            (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || a == b
        }
        same(&self.method, method) && same(&self.service, service)
    }

    fn event(&self, stream: bool) -> CallEvent<'_> {
        CallEvent {
            service: &self.service,
            method: &self.method,
            stream,
        }
    }

    /// Report a call of the method started ([`Observer::call_started`]).
    #[inline]
    pub(crate) fn started(&self, stream: bool) {
        let call = self.event(stream);
        match &self.to {
            Reported::Method(method) => {
                contained("call_started", || method.call_started(&call));
            }
            Reported::Observer(observer) => observer.call_started(self.side, &call),
        }
    }

    /// Report a call of the method finished ([`Observer::call_finished`]).
    #[inline]
    pub(crate) fn finished(&self, stream: bool, finished: &Finished) {
        let call = self.event(stream);
        match &self.to {
            Reported::Method(method) => {
                contained("call_finished", || method.call_finished(&call, finished));
            }
            Reported::Observer(observer) => observer.call_finished(self.side, &call, finished),
        }
    }
}

/// Report `call` on `side` as started and at once `finished`, where no [`MethodWatch`] is
/// kept for it (a client's attempt that never reached a connection): to the method observer
/// `observer` gives for it, or else to `observer` by name, as a watch would.
pub(crate) fn started_and_finished(
    observer: &Arc<dyn Observer>,
    side: Side,
    call: &CallEvent<'_>,
    finished: &Finished,
) {
    match observer.method_observer(side, call.service, call.method) {
        Some(method) => {
            contained("call_started", || method.call_started(call));
            contained("call_finished", || method.call_finished(call, finished));
        }
        None => {
            observer.call_started(side, call);
            observer.call_finished(side, call, finished);
        }
    }
}

/// A client's [`MethodWatch`]es, found by the names of a call: made on each method's first
/// call and kept for the client's life, up to [`MethodWatches::KEPT`] methods (past them, a
/// call's watch is made for it alone — the observer is asked again each time). Without a
/// lock: an open-addressed table of slots that are set once.
pub(crate) struct MethodWatches {
    observer: Arc<dyn Observer>,
    slots: Box<[OnceLock<Arc<MethodWatch>>]>,
}

impl MethodWatches {
    /// Methods a client keeps watches for (a power of two).
    pub(crate) const KEPT: usize = 64;

    /// No watches yet, of `observer`'s client side.
    pub(crate) fn new(observer: Arc<dyn Observer>) -> MethodWatches {
        MethodWatches {
            observer,
            slots: (0..Self::KEPT).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The watch of `service`'s `method` (client side), made now if this is its first call.
    /// The observer the watches report to.
    pub(crate) fn observer(&self) -> &Arc<dyn Observer> {
        &self.observer
    }

    #[inline]
    pub(crate) fn get(
        &self,
        service: &crate::protocol::ByteStr,
        method: &crate::protocol::ByteStr,
    ) -> Arc<MethodWatch> {
        let make = || {
            let (service, method) = (service.clone(), method.clone());
            Arc::new(MethodWatch::new(
                &self.observer,
                Side::Client,
                service,
                method,
            ))
        };
        let start = name_hash(service, method);
        for probe in 0..Self::KEPT {
            let slot = &self.slots[(start + probe) % Self::KEPT];
            // Another method's watch may win an empty slot first: then probe on.
            let watch = match slot.get() {
                Some(watch) => watch,
                None => slot.get_or_init(make),
            };
            if watch.is(service, method) {
                return watch.clone();
            }
        }
        make()
    }
}

/// A cheap hash of a call's names, to start [`MethodWatches`]' probe: their lengths and a
/// sample of their bytes (the first and last eight, or of a shorter name its ends and
/// middle), read without a copy. Names equal here are compared in full anyway.
#[inline]
fn name_hash(service: &str, method: &str) -> usize {
    #[inline]
    fn sample(s: &str) -> u64 {
        let b = s.as_bytes();
        let n = b.len();
        let word = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]));
        let half = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or([0; 4]));
        let sampled = if n >= 8 {
            word(0) ^ word(n - 8).rotate_left(29)
        } else if n >= 4 {
            u64::from(half(0)) | u64::from(half(n - 4)) << 32
        } else if n > 0 {
            u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16
        } else {
            0
        };
        sampled ^ (n as u64) << 56
    }
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let h = sample(method).wrapping_mul(K);
    ((h ^ sample(service)).wrapping_mul(K) >> 40) as usize
}

/// One method's calls on one side, as an observer that keeps state per method sees them
/// ([`Observer::method_observer`]): the engine asks for it once and hands it the method's
/// `call_started` and `call_finished` events, so the observer finds its state without
/// looking it up by name on every event. Called inline on the engine's tasks, contained
/// as [`Observer`]'s methods are.
pub trait MethodObserver: Send + Sync + 'static {
    /// A call of the method started (as [`Observer::call_started`]).
    fn call_started(&self, call: &CallEvent<'_>);
    /// A call of the method finished (as [`Observer::call_finished`]).
    fn call_finished(&self, call: &CallEvent<'_>, finished: &Finished);
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
    /// connection — a retried call is reported once per attempt; a client's stream once,
    /// when it opens, and finished when it ends: the server's status, `ok` at the end of its
    /// messages, `cancelled` if the caller let go of it first, with its messages' bodies as
    /// the bytes). A client's attempt (or stream) that failed before its request reached a
    /// connection (it did not frame, no instance could be picked, the dial failed) is
    /// reported started and then at once finished with its status. (A method whose
    /// [`Observer::method_observer`] gave a [`MethodObserver`] reports its calls there
    /// instead, this and [`Observer::call_finished`] alike.)
    fn call_started(&self, _side: Side, _call: &CallEvent<'_>) {}
    /// A call finished.
    fn call_finished(&self, _side: Side, _call: &CallEvent<'_>, _finished: &Finished) {}
    /// Optional, for an observer that keeps state per method (counters, say): that state
    /// for `service`'s `method` on `side`, to receive the method's `call_started` and
    /// `call_finished` events in place of [`Observer::call_started`] and
    /// [`Observer::call_finished`], so an event does not look it up by name. The engine asks
    /// before a method's first call and keeps the answer where it can — a server for each
    /// method its services list (and one for every name they lack,
    /// [`UNKNOWN_METHOD`]), a client for its first 64 methods — and asks again on each call
    /// elsewhere (a service that lists no methods, a client's further methods, an attempt
    /// that never reached a connection), so give the same state each time. Every other event
    /// of the method's calls (stream messages, refusals, retries...) still comes to this
    /// observer by name. Default `None`: every call event comes by name. A panic in it is
    /// caught and logged, and taken as `None`.
    fn method_observer(
        &self,
        _side: Side,
        _service: &str,
        _method: &str,
    ) -> Option<Arc<dyn MethodObserver>> {
        None
    }
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
    /// depth then. Once per write, not per frame. Not reported to an observer whose
    /// [`Observer::observes_write_batches`] is `false`.
    fn write_batch(&self, _side: Side, _peer: &PeerAddr, _batch: &WriteBatch) {}
    /// Whether to report [`Observer::write_batch`] to this observer (asked once per
    /// connection, as its writer starts). `false` spares each write of the connection the
    /// event and the reading of its queues' depth (a lock per queue), for an observer that
    /// does nothing with it. Default `true`.
    fn observes_write_batches(&self) -> bool {
        true
    }
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
    /// A client's attempt to connect to `instance` failed: the dial was refused or timed out,
    /// or a new connection did not answer its first PING (a [suspect](crate::client) instance
    /// re-checked). Once per attempt, in a call or in the background; the instance then backs
    /// off before the next. With [`Observer::instance_connection_opened`], how an instance
    /// that never connects shows.
    fn instance_connect_failed(&self, _instance: &Address) {}
    /// A server started accepting connections on `addr` (its bound address, as clients name
    /// it: `tcp://10.0.0.7:7001`) — `listening` true — or stopped (shutdown, or the acceptor
    /// ended): false. What ties a client's view of an instance (its address) to the
    /// server's own reports.
    fn server_listening(&self, _addr: &Address, _listening: bool) {}
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

impl RefusedBy {
    /// Its name in snake_case (`rate_limit`, `peer_rate_limit`, `concurrency`,
    /// `method_concurrency`, `shedding`, `auth`, `acl`, `workers`, `in_flight`, `hook`): the
    /// `reason` label of erpc-telemetry's `erpc_refused_calls_total` and the `refused_by`
    /// field of a refused call's access-log line.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusedBy::RateLimit => "rate_limit",
            RefusedBy::PeerRateLimit => "peer_rate_limit",
            RefusedBy::Concurrency => "concurrency",
            RefusedBy::MethodConcurrency => "method_concurrency",
            RefusedBy::Shedding => "shedding",
            RefusedBy::Auth => "auth",
            RefusedBy::Acl => "acl",
            RefusedBy::Workers => "workers",
            RefusedBy::InFlight => "in_flight",
            RefusedBy::Hook => "hook",
        }
    }
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::protocol::ByteStr;

    /// Counts what comes by name and what comes to the method observers it hands out (one
    /// per method, made on each ask), and panics where told.
    #[derive(Default)]
    struct Split {
        by_name: Mutex<Vec<(Side, String, &'static str)>>,
        asked: AtomicUsize,
        per_method: bool,
        panics: bool,
    }

    struct PerMethod(Arc<Split>, String);

    impl MethodObserver for PerMethod {
        fn call_started(&self, call: &CallEvent<'_>) {
            assert_eq!(self.1, format!("{}.{}", call.service, call.method));
            if self.0.panics {
                panic!("method observer bug");
            }
            let name = format!("method {}", self.1);
            self.0
                .by_name
                .lock()
                .unwrap()
                .push((Side::Client, name, "started"));
        }
        fn call_finished(&self, call: &CallEvent<'_>, finished: &Finished) {
            assert_eq!(self.1, format!("{}.{}", call.service, call.method));
            assert_eq!(finished.code, Code::Ok);
            let name = format!("method {}", self.1);
            self.0
                .by_name
                .lock()
                .unwrap()
                .push((Side::Client, name, "finished"));
        }
    }

    #[derive(Clone)]
    struct Shared(Arc<Split>);

    impl Observer for Shared {
        fn call_started(&self, side: Side, call: &CallEvent<'_>) {
            let name = format!("{}.{}", call.service, call.method);
            self.0.by_name.lock().unwrap().push((side, name, "started"));
        }
        fn call_finished(&self, side: Side, call: &CallEvent<'_>, _: &Finished) {
            let name = format!("{}.{}", call.service, call.method);
            self.0
                .by_name
                .lock()
                .unwrap()
                .push((side, name, "finished"));
        }
        fn method_observer(
            &self,
            _side: Side,
            service: &str,
            method: &str,
        ) -> Option<Arc<dyn MethodObserver>> {
            self.0.asked.fetch_add(1, Ordering::Relaxed);
            let name = format!("{service}.{method}");
            self.0
                .per_method
                .then(|| Arc::new(PerMethod(self.0.clone(), name)) as Arc<dyn MethodObserver>)
        }
    }

    fn split_observer(per_method: bool, panics: bool) -> (Arc<Split>, Arc<dyn Observer>) {
        let split = Arc::new(Split {
            per_method,
            panics,
            ..Split::default()
        });
        (split.clone(), Contained::wrap(Shared(split)))
    }

    fn ok() -> Finished {
        Finished {
            code: Code::Ok,
            took: Duration::from_millis(1),
            bytes_in: 1,
            bytes_out: 2,
        }
    }

    #[test]
    fn a_method_observer_gets_its_methods_calls_and_is_asked_once_per_kept_method() {
        let (split, observer) = split_observer(true, false);
        let watches = MethodWatches::new(observer);
        // The same names as static strings and as a copy: one watch.
        let (s, m) = (ByteStr::from_static("S"), ByteStr::from_static("echo"));
        let copied = (
            ByteStr::from(String::from("S")),
            ByteStr::from(String::from("echo")),
        );
        for (service, method) in [(&s, &m), (&copied.0, &copied.1), (&s, &m)] {
            let watch = watches.get(service, method);
            watch.started(false);
            watch.finished(false, &ok());
        }
        let other = watches.get(&s, &ByteStr::from_static("other"));
        other.started(false);
        assert_eq!(split.asked.load(Ordering::Relaxed), 2);
        let events = split.by_name.lock().unwrap().clone();
        assert_eq!(events.len(), 7, "{events:?}");
        assert!(
            events
                .iter()
                .all(|(_, name, _)| name.starts_with("method ")),
            "{events:?}"
        );
        assert_eq!(events[6].1, "method S.other");
    }

    #[test]
    fn past_the_kept_methods_each_call_gets_a_watch_of_its_own() {
        let (split, observer) = split_observer(true, false);
        let watches = MethodWatches::new(observer);
        let s = ByteStr::from_static("S");
        let names: Vec<ByteStr> = (0..MethodWatches::KEPT + 3)
            .map(|i| ByteStr::from(format!("m{i}")))
            .collect();
        for _ in 0..2 {
            for method in &names {
                let watch = watches.get(&s, method);
                assert!(watch.is("S", method));
                watch.started(false);
            }
        }
        // Each kept method asked once; the three past them on each of the two rounds.
        let asked = split.asked.load(Ordering::Relaxed);
        assert_eq!(asked, MethodWatches::KEPT + 3 * 2);
        assert_eq!(split.by_name.lock().unwrap().len(), names.len() * 2);
    }

    #[test]
    fn without_a_method_observer_calls_come_by_name_and_a_panicking_one_is_contained() {
        let (split, observer) = split_observer(false, false);
        let watch = MethodWatch::new(&observer, Side::Server, "S".into(), "m".into());
        watch.started(false);
        watch.finished(false, &ok());
        started_and_finished(&observer, Side::Client, &watch.event(false), &ok());
        let events = split.by_name.lock().unwrap().clone();
        let sides: Vec<_> = events
            .iter()
            .map(|(side, name, what)| (*side, name.as_str(), *what))
            .collect();
        assert_eq!(
            sides,
            [
                (Side::Server, "S.m", "started"),
                (Side::Server, "S.m", "finished"),
                (Side::Client, "S.m", "started"),
                (Side::Client, "S.m", "finished"),
            ]
        );

        let (split, observer) = split_observer(true, true);
        let watch = MethodWatch::new(&observer, Side::Client, "S".into(), "m".into());
        // The start panics (lost, logged); the end still comes.
        watch.started(false);
        watch.finished(false, &ok());
        let events = split.by_name.lock().unwrap().clone();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].2, "finished");
    }
}
