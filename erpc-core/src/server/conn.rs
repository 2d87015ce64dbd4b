//! One server connection: the read loop dispatching calls — run inline on the connection's
//! task (`inline_call`) or in spawned tasks (`call_task`, `stream_task`) —, the deadline
//! sweeper, the shutdown drainer, and the refusals sent from the read path.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::engine::frame_queue;
use erpc_transport::{Address, Link};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::body::{decompress, side_status};
use crate::context::Connection;
use crate::context::Context;
use crate::deadline;
use crate::engine::deadlines::sweep;
use crate::engine::reader::{Closed, Endpoint, ReadConfig, Verdict, read_loop};
use crate::engine::signal::{Role, Signal};
use crate::engine::stream::{
    Inbox, LastStream, Outbound, StreamState, end_frame, route_stream_frame,
};
use crate::engine::task_guard::OnAbandon;
use crate::engine::task_guard::spawn_connection_task;
use crate::engine::writer::{CLOSE_FLUSH, write_loop};
use crate::engine::{OutFrame, channels, control, queue, queue_or_spawn, streaming_unsupported};
use crate::extensions::Extensions;
use crate::observe::{CallEvent, Refusal, RefusedBy, Side, WriterWatch};
use crate::protocol::{Frame, HeadError, Header, Kind, ProtocolError};
use crate::server::admission::{Admitted, CallHead, CallKind, admit_all};
use crate::server::call_task::{Answered, CallTask};
use crate::server::in_flight::{self, Cancelled, InFlight, Refused};
use crate::server::inline_call::{Continuation, FirstPoll, Inline, first_poll};
use crate::server::observed::Observed;
use crate::server::stream_task::StreamTask;
use crate::server::workers::Seat;
use crate::server::{Request, Shared};
use crate::status::{Code, Status};
use crate::status_wire::{status_frame, truncate};

/// Serve one accepted connection until it ends.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    link: Link,
    local: Address,
    shutdown: CancellationToken,
) {
    let config = &shared.config;
    let (read, write) = tokio::io::split(link.io);
    let (tx, data_tx, queues) = channels(config.write_queue);
    let dead = Arc::new(Signal::default());
    let close = Arc::new(Signal::default());
    let writer = spawn_connection_task(
        "writer",
        write_loop(
            write,
            queues,
            dead.clone(),
            close.clone(),
            WriterWatch::of(shared.observer.as_ref(), Side::Server, &link.peer),
        ),
        {
            let dead = dead.clone();
            move |_| dead.fire()
        },
    );
    let stop = Arc::new(Signal::default());
    let in_flight = Arc::new(InFlight::default());
    let draining = Arc::new(AtomicBool::new(false));
    let last_id = Arc::new(AtomicU64::new(0));

    let sweeper = spawn_connection_task(
        "deadline sweeper",
        expire_calls(in_flight.clone(), tx.clone(), dead.clone()),
        {
            let dead = dead.clone();
            move |_| dead.fire()
        },
    );
    let drain = drain_on_shutdown(
        shutdown.clone(),
        stop.clone(),
        tx.clone(),
        in_flight.clone(),
        draining.clone(),
        last_id.clone(),
        config.shutdown_grace,
    );
    let drainer = spawn_connection_task("shutdown drainer", drain, {
        let dead = dead.clone();
        move |_| dead.fire()
    });

    let mut endpoint = ServerEndpoint {
        shutdown,
        shared: shared.clone(),
        tx: tx.clone(),
        highest_id: 0,
        answers_waiting: Arc::default(),
        data_tx,
        in_flight: in_flight.clone(),
        conn: Arc::new(Connection {
            peer: link.peer.clone(),
            local,
            dead: dead.clone(),
            identity: crate::auth::PeerIdentity::of_chain(&link.peer_certificates).map(Arc::new),
        }),
        draining,
        last_id,
        max_frame: link.max_frame,
        streaming: link.streaming,
        last_stream: LastStream::default(),
        inline: Inline::new(config.inline_calls),
    };
    let read_config = ReadConfig {
        limits: config.limits,
        heartbeat: config.heartbeat,
        first_frame_timeout: Some(config.first_frame_timeout),
        max_junk_frames: config.max_junk_frames,
    };
    let closed = read_loop(read, read_config, &tx, &stop, &dead, &mut endpoint).await;
    tracing::debug!(peer = %link.peer, reason = %closed, "server connection ended");
    if let Some(observer) = &shared.observer {
        let draining = endpoint.draining.load(Ordering::Acquire);
        observer.connection_closed(Side::Server, &link.peer, &closed.reason(draining));
    }
    let farewell = match &closed {
        Closed::Protocol(e @ ProtocolError::FrameTooLarge { .. }) => {
            Some((Code::ResourceExhausted, e.to_string()))
        }
        Closed::Protocol(e) => Some((Code::InvalidArgument, e.to_string())),
        Closed::NotErpc(_) => Some((Code::InvalidArgument, closed.to_string())),
        Closed::Violation(why) => Some((Code::InvalidArgument, why.clone())),
        Closed::Abuse(why) => Some((Code::ResourceExhausted, why.clone())),
        Closed::FirstFrameTimeout => Some((Code::DeadlineExceeded, closed.to_string())),
        Closed::Panicked(_) => Some((Code::Internal, closed.to_string())),
        // A frame-aware transport found bytes that are not a frame (a malformed datagram).
        Closed::Io(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            Some((Code::InvalidArgument, e.to_string()))
        }
        _ => None,
    };
    match closed {
        // Graceful: calls finished or were answered `unavailable` by the drainer.
        Closed::Stopped => {}
        // The client closed in order: nobody reads answers any more, but oneway calls are
        // work nobody waits for, accepted to run (PROTOCOL.md §4): they finish within their
        // deadlines (the sweeper keeps running) unless the server shuts down meanwhile.
        Closed::Eof => {
            in_flight.abort_answered();
            tokio::select! {
                _ = in_flight.wait_empty() => {}
                _ = stop.fired(Role::Reader) => {}
            }
        }
        // The stream cannot be trusted, or the peer is gone: stop working.
        _ => {
            in_flight.abort_all();
        }
    }
    // A client that does not read (its queue full) must not hold the connection open
    // waiting to queue the farewell; the writer's close bounds the rest.
    if let Some((code, message)) = farewell {
        let farewell = tx.send(error_frame(code, message).into());
        let _ = tokio::time::timeout(CLOSE_FLUSH, farewell).await;
    }
    stop.fire();
    drainer.abort();
    sweeper.abort();
    // Write what is queued (answers, the farewell), bounded by the writer's close timeout.
    close.fire();
    let _ = writer.await;
}

/// Turn a connection away: an ERROR frame with `status`'s code and message, then close.
/// Bounded in time so a peer that does not read cannot hold the task.
pub(crate) async fn refuse(link: Link, status: Status) {
    use tokio::io::AsyncWriteExt;
    let mut io = link.io;
    let mut bytes = bytes::BytesMut::new();
    if error_frame(status.code(), status.message().to_owned())
        .encode(&mut bytes)
        .is_ok()
    {
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            let _ = io.write_all(&bytes).await;
            let _ = io.shutdown().await;
        })
        .await;
    }
}

/// The connection's deadline sweeper: aborts handlers whose deadline passed and answers them
/// `deadline_exceeded`.
async fn expire_calls(in_flight: Arc<InFlight>, tx: frame_queue::Sender, dead: Arc<Signal>) {
    let mut expired = Vec::new();
    sweep(&in_flight.wake_sweeper, &dead, |now| {
        let next = in_flight.expire(now, &mut expired);
        for call in expired.drain(..) {
            let status =
                Status::deadline_exceeded("the handler did not finish before the deadline");
            if let Some(answer) = answer_frame(call.kind, call.id, &status) {
                queue_or_spawn(&tx, answer.into());
            }
        }
        next
    })
    .await;
}

/// On server shutdown: announce GOAWAY, refuse new calls, give running ones the grace period,
/// then answer whatever is left with `unavailable` and stop the connection.
async fn drain_on_shutdown(
    shutdown: CancellationToken,
    stop: Arc<Signal>,
    tx: frame_queue::Sender,
    in_flight: Arc<InFlight>,
    draining: Arc<AtomicBool>,
    last_id: Arc<AtomicU64>,
    grace: Duration,
) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = stop.fired(Role::Background) => return,
    }
    draining.store(true, Ordering::Release);
    let mut goaway = Frame::new(Kind::GOAWAY, last_id.load(Ordering::Acquire));
    goaway.head.message = Some("server is shutting down".into());
    let _ = tx.send(goaway.into()).await;
    tokio::select! {
        _ = in_flight.wait_empty() => {}
        _ = tokio::time::sleep(grace) => {
            for (id, kind) in in_flight.abort_all() {
                let status = Status::unavailable("server shut down before the call finished");
                if let Some(answer) = answer_frame(kind, id, &status) {
                    let _ = tx.send(answer.into()).await;
                }
            }
        }
        _ = stop.fired(Role::Background) => return,
    }
    stop.fire();
}

struct ServerEndpoint {
    /// The server's graceful shutdown, handed to stream handlers (`Context::shutting_down`).
    shutdown: CancellationToken,
    shared: Arc<Shared>,
    tx: frame_queue::Sender,
    /// The highest request id the client has opened a call with (refused calls included).
    /// A CANCEL or stream frame for an id at or below it may belong to a call that just
    /// ended or was refused — expected on the wire; one above it names a call the client
    /// never made. One number, where remembering the ids themselves would need a bound that
    /// a burst of legitimate calls could exceed.
    highest_id: u64,
    /// Refusals queued from the read path while the writer's queue was full, still waiting
    /// for room. Bounded: a client that keeps sending calls without reading their answers
    /// would otherwise grow it without end.
    answers_waiting: Arc<AtomicUsize>,
    /// The writer's queue for stream messages.
    data_tx: frame_queue::Sender,
    in_flight: Arc<InFlight>,
    /// Who is at the other end, and the signal that kills the connection (shared by the
    /// calls' contexts: `Context::abort_connection`).
    conn: Arc<Connection>,
    draining: Arc<AtomicBool>,
    last_id: Arc<AtomicU64>,
    /// The transport's largest frame, if it has one (UDP).
    max_frame: Option<usize>,
    /// Whether the transport carries streaming calls (UDP does not).
    streaming: bool,
    /// The stream this read's previous stream frame went to.
    last_stream: LastStream,
    /// Whether a unary or oneway call runs inline on this task, or is spawned.
    inline: Inline,
}

impl Endpoint for ServerEndpoint {
    fn on_frame(&mut self, frame: Frame) -> Verdict {
        let id = frame.header.request_id;
        if frame.header.kind == Kind::CANCEL {
            // The call ends: its stream is looked up afresh, if a frame for it follows.
            self.last_stream.forget();
        }
        match frame.header.kind {
            kind if kind.is_stream_traffic() => {
                let in_flight = &self.in_flight;
                match self.last_stream.get(id, || in_flight.stream(id)) {
                    Some(state) => route_stream_frame(state, frame),
                    None => self.late_or_junk(id),
                }
            }
            Kind::REQUEST | Kind::ONEWAY | Kind::STREAM_OPEN if id == 0 => {
                Verdict::Violation(format!(
                    "{} with request id 0: id 0 names no call (PROTOCOL.md §3)",
                    frame.header.kind.name()
                ))
            }
            Kind::REQUEST | Kind::ONEWAY | Kind::STREAM_OPEN => {
                self.highest_id = self.highest_id.max(id);
                self.on_call(frame)
            }
            Kind::CANCEL => match self.in_flight.abort(id) {
                Cancelled::NotRunning => self.late_or_junk(id),
                Cancelled::Stopped => Verdict::Useful,
                Cancelled::Rapid => {
                    let debt = self.in_flight.cancel_debt();
                    if debt > self.shared.config.max_cancel_debt {
                        return Verdict::Abuse(format!(
                            "{debt} calls cancelled right after they started, beyond those completed (limit {})",
                            self.shared.config.max_cancel_debt
                        ));
                    }
                    Verdict::Useful
                }
            },
            // Frames only a server sends.
            Kind::GOAWAY | Kind::RESPONSE => Verdict::Junk,
            Kind::ERROR => {
                let message = frame.head.message.as_ref().map_or("", |m| m.as_str());
                tracing::warn!(peer = %self.conn.peer, message, "client reported a connection error");
                Verdict::Useful
            }
            other => self.reject(
                &frame.header,
                Refusal::Unknown,
                Status::unimplemented(format!("unknown frame kind 0x{:02x}", other.0)),
                Verdict::Junk,
            ),
        }
    }

    fn on_ping(&mut self, id: u64) -> Verdict {
        self.answer(control(Kind::PONG, id), Verdict::Junk)
    }

    fn on_read_done(&mut self) {
        self.last_stream.forget();
    }

    fn on_oversized(&mut self, header: Header, reason: String) -> Verdict {
        if header.kind.is_stream_traffic() {
            self.last_stream.forget();
            if let Some(state) = self.in_flight.stream(header.request_id) {
                // A message of a running stream over this server's limits: the stream fails
                // with it — the handler's next read, and through the stream's end the
                // client — rather than going on without the message (a server-streaming
                // request read as missing, a client stream summed without a part), as the
                // client does with a message over its own limits.
                if let Some(observer) = &self.shared.observer {
                    observer.frame_refused(Side::Server, &self.conn.peer, Refusal::TooLarge);
                }
                state.fail(Status::resource_exhausted(format!(
                    "server refused a stream message: {reason}"
                )));
                return Verdict::Junk;
            }
        }
        if header.kind.opens_call() {
            self.highest_id = self.highest_id.max(header.request_id);
        }
        // Over this server's limits, which PROTOCOL.md §8 states.
        self.reject(
            &header,
            Refusal::TooLarge,
            Status::resource_exhausted(format!("server refused the frame: {reason}")),
            Verdict::Junk,
        )
    }

    fn on_bad_head(&mut self, header: Header, error: HeadError) -> Verdict {
        if header.kind.opens_call() {
            self.highest_id = self.highest_id.max(header.request_id);
        }
        let status = match error {
            HeadError::TooManyMetadata(_) => {
                Status::resource_exhausted(format!("server refused the frame: {error}"))
            }
            HeadError::UnknownCritical(_) => Status::unimplemented(error.to_string()),
            _ => Status::invalid_argument(error.to_string()),
        };
        self.reject(&header, Refusal::Malformed, status, Verdict::Junk)
    }
}

impl ServerEndpoint {
    /// A CANCEL or stream frame for an id that is not running: expected if the id was used
    /// (the call just finished or was refused, and the frame crossed its end on the wire),
    /// junk if the client never used it.
    fn late_or_junk(&self, id: u64) -> Verdict {
        if id != 0 && id <= self.highest_id {
            Verdict::Useful
        } else {
            Verdict::Junk
        }
    }

    /// Answer a call that will not run (see [`ServerEndpoint::answer`]), and return
    /// `verdict`. Oneway calls (and frames without a request id) have nobody to tell; they
    /// are logged. Unknown kinds are answered: their sender may be waiting for a response.
    fn reject(
        &self,
        header: &Header,
        refusal: Refusal,
        status: Status,
        verdict: Verdict,
    ) -> Verdict {
        if let Some(observer) = &self.shared.observer {
            observer.frame_refused(Side::Server, &self.conn.peer, refusal);
        }
        let answer = match header.kind {
            Kind::ONEWAY => None,
            // Frames of a stream that is not running have nobody to answer.
            kind if kind.is_stream_traffic() => None,
            _ if header.request_id == 0 => None,
            Kind::STREAM_OPEN => answer_frame(header.kind, header.request_id, &status),
            _ => Some(status_frame(header.request_id, &status)),
        };
        let Some(answer) = answer else {
            tracing::debug!(peer = %self.conn.peer, kind = ?header.kind, %status, "refused frame");
            return verdict;
        };
        self.answer(answer.into(), verdict)
    }

    /// Queue an answer from the read path without waiting, and return `verdict`; the client
    /// is closed instead if it leaves more answers unread than the writer's queue holds,
    /// twice over.
    fn answer(&self, answer: OutFrame, verdict: Verdict) -> Verdict {
        let Some(wait) = queue(&self.tx, answer) else {
            return verdict;
        };
        let limit = self.shared.config.write_queue;
        let waiting = self.answers_waiting.fetch_add(1, Ordering::AcqRel);
        if waiting >= limit {
            self.answers_waiting.fetch_sub(1, Ordering::AcqRel);
            return Verdict::Abuse(format!(
                "the client left more than {limit} answers unread beyond a full write queue"
            ));
        }
        let answers_waiting = self.answers_waiting.clone();
        tokio::spawn(async move {
            // Counted down however the wait ends: sent, or dropped with the runtime.
            let _done = OnAbandon::new(move || {
                answers_waiting.fetch_sub(1, Ordering::AcqRel);
            });
            wait.await;
        });
        verdict
    }

    /// Refuse a call the client could not have known would be refused (the server's
    /// services, its cap, its shutdown, a deadline spent in transit): answered, and no junk.
    fn refuse(&self, header: &Header, refusal: Refusal, status: Status) -> Verdict {
        self.reject(header, refusal, status, Verdict::Useful)
    }

    /// Refuse a call of a known service that a limit or check turned away: reported as a
    /// refused call (with its names and `by`) as well as a refused frame.
    fn refuse_call(
        &self,
        header: &Header,
        (service, method): (&str, &str),
        (refusal, by): (Refusal, RefusedBy),
        status: Status,
    ) -> Verdict {
        if let Some(observer) = &self.shared.observer {
            let call = CallEvent {
                service,
                method,
                stream: header.kind == Kind::STREAM_OPEN,
            };
            observer.call_refused(Side::Server, &call, by);
        }
        let peer = Some(&self.conn.peer);
        let names = (service, method);
        super::refusal_log::log(&self.shared, peer, names, &status, by, Duration::ZERO);
        self.refuse(header, refusal, status)
    }

    /// Start a call, or refuse it.
    fn on_call(&mut self, frame: Frame) -> Verdict {
        let header = frame.header;
        let id = header.request_id;
        let config = &self.shared.config;
        if self.draining.load(Ordering::Acquire) {
            return self.refuse(
                &header,
                Refusal::Draining,
                Status::unavailable("server is shutting down; the call was not run"),
            );
        }
        let (Some(service_name), Some(method)) = (&frame.head.service, &frame.head.method) else {
            // Both are required (PROTOCOL.md §2.2): a frame the protocol does not allow.
            return self.reject(
                &header,
                Refusal::Malformed,
                Status::invalid_argument("call without service or method name"),
                Verdict::Junk,
            );
        };
        let Some(route) = self.shared.services.get(service_name.as_str()) else {
            return self.refuse(
                &header,
                Refusal::Unknown,
                Status::unimplemented(format!("unknown service {:?}", service_name.as_str())),
            );
        };
        let service = route.service.clone();
        // The name the observer's events carry (`_unknown` for a method the service lacks):
        // looked up only for a refusal, not on every call.
        let reported = || route.reported(method);
        if self.shared.codecs.get(header.codec).is_none() {
            return self.refuse(
                &header,
                Refusal::Unknown,
                Status::unimplemented(format!(
                    "unknown codec {}: this server has not registered it (ServerBuilder::register_codec)",
                    header.codec
                )),
            );
        }
        // A STREAM_OPEN has no body, so its compression byte says nothing (§6).
        if header.kind != Kind::STREAM_OPEN && !header.compression.is_supported() {
            return self.refuse(
                &header,
                Refusal::Unknown,
                Status::unimplemented(format!("unknown compression id {}", header.compression.0)),
            );
        }
        if header.kind == Kind::STREAM_OPEN && !self.streaming {
            return self.refuse(
                &header,
                Refusal::Unknown,
                streaming_unsupported(self.conn.peer.scheme()),
            );
        }
        let now = Instant::now();
        let is_stream = header.kind == Kind::STREAM_OPEN;
        let deadline = match frame.head.deadline_micros {
            Some(0) => {
                return self.refuse(
                    &header,
                    Refusal::Expired,
                    Status::deadline_exceeded("deadline had passed on arrival"),
                );
            }
            // Streams are meant to live (watches, subscriptions): not clamped.
            Some(micros) if is_stream => deadline::from_micros(now, micros, Duration::MAX),
            Some(micros) => deadline::from_micros(now, micros, config.max_deadline),
            None if is_stream => match config.default_stream_deadline {
                Some(wait) => deadline::after(now, wait),
                None => deadline::after(now, deadline::NO_DEADLINE),
            },
            // Clamped as a deadline the call carried would be: a server given only a
            // shorter `max_deadline` holds to it (the config file refuses the pair).
            None => now + config.default_deadline.min(config.max_deadline),
        };
        // Header-level hooks: a refusal here costs no decode and no task.
        let mut admitted = if self.shared.admission.is_empty() {
            Admitted::now()
        } else {
            let head = CallHead {
                service: service_name,
                method,
                metadata: &frame.head.metadata,
                peer: &self.conn.peer,
                kind: CallKind::of(header.kind),
                deadline,
                wire: crate::context::Wire {
                    codec: header.codec,
                    compression: header.compression,
                    wire_len: frame.body.len(),
                    body_len: 0,
                },
                peer_identity: self.conn.identity.as_deref(),
                extensions: &Extensions::new(),
            };
            match admit_all(&self.shared.admission, &head) {
                Ok(admitted) => admitted,
                Err((status, by)) => {
                    let names = (service_name.as_str(), reported().as_str());
                    return self.refuse_call(&header, names, (Refusal::Hook, by), status);
                }
            }
        };
        // A call that waits for its turn (a rate limit's line) is not running yet: it takes
        // its place under the worker limit and the running-call cap once the wait is over.
        let gate = admitted.take_gate();
        // The worker limit: a place to run or wait in, or a refusal before any task exists.
        // Streams and the built-in services are not counted (see `Workers`).
        let seat = match &self.shared.workers {
            Some(workers)
                if !is_stream && !crate::server::built_in::is_built_in(service_name.as_str()) =>
            {
                if gate.is_some() {
                    Some(Seat::After(workers.clone()))
                } else {
                    match workers.admit() {
                        Ok(ticket) => Some(Seat::Taken(ticket)),
                        Err(status) => {
                            let names = (service_name.as_str(), reported().as_str());
                            let why = (Refusal::AtCapacity, RefusedBy::Workers);
                            return self.refuse_call(&header, names, why, status);
                        }
                    }
                }
            }
            _ => None,
        };
        let stream = is_stream.then(|| {
            Arc::new(StreamState::new(Inbox::new(
                id,
                config.stream_window,
                self.tx.clone(),
            )))
        });
        // A call that waits for nothing before its handler (no rate limit's line, no worker
        // limit) runs inline: it takes a slot in the table only if its first poll leaves
        // it pending, and is refused now as a reservation would refuse it.
        let inline = !is_stream && gate.is_none() && seat.is_none() && self.inline.allows(now);
        let registered = if inline {
            self.in_flight.check(id, config.max_in_flight)
        } else {
            self.in_flight.reserve(
                id,
                header.kind,
                now,
                deadline,
                config.max_in_flight,
                stream.clone(),
                gate.is_some(),
            )
        };
        match registered {
            Ok(()) => {}
            Err(Refused::Full) => {
                return self.refuse_call(
                    &header,
                    (service_name.as_str(), reported().as_str()),
                    (Refusal::AtCapacity, RefusedBy::InFlight),
                    in_flight::full(config.max_in_flight),
                );
            }
            Err(Refused::Duplicate) => {
                // Answering would complete the original call with the wrong outcome, so the
                // duplicate is dropped and the original left to finish.
                tracing::warn!(peer = %self.conn.peer, id, "duplicate request id in flight; ignored");
                // Ids of calls in flight MUST differ (PROTOCOL.md §3).
                return Verdict::Junk;
            }
        }
        self.last_id.fetch_max(id, Ordering::AcqRel);
        let observed = self.shared.observer.as_ref().map(|observer| {
            Observed::start(
                route.watch(observer, method),
                is_stream,
                (now, deadline),
                &self.draining,
                frame.body.len() as u64,
                // A call with a gate runs (and is started) once it is through.
                gate.is_none(),
            )
        });
        let service_name = service_name.clone();
        let method = method.clone();
        let Frame { head, body, .. } = frame;
        // What the responses are compressed with: the call's choice, not its body's (§6).
        let respond = head.accept_compression.choose(config.response_compression);
        let context = Context {
            deadline,
            metadata: head.metadata,
            conn: Some(self.conn.clone()),
            service: service_name,
            method,
            request_id: id,
            extensions: admitted.take_extensions(),
            wire: crate::context::Wire {
                codec: header.codec,
                compression: header.compression,
                wire_len: body.len(),
                body_len: 0,
            },
            shutdown: None,
        };
        if inline {
            let answered = Answered {
                compression: respond,
                max_frame: self.max_frame,
                observed,
            };
            self.run_inline(service, context, header, body, answered, (admitted, now));
            return Verdict::Useful;
        }
        let handle = match stream {
            Some(state) => {
                let mut context = context;
                context.shutdown = Some(self.shutdown.clone());
                if let Some(grant) = state.inbox.initial_grant() {
                    queue_or_spawn(&self.tx, grant);
                }
                let task = StreamTask {
                    shared: self.shared.clone(),
                    outbound: Outbound {
                        id,
                        data: self.data_tx.clone(),
                        state,
                        compression: respond,
                        threshold: config.compression_threshold,
                        max_body: config.limits.max_body,
                        side: "server",
                        batch: bytes::BytesMut::new(),
                        last_batch: 0,
                    },
                    in_flight: self.in_flight.clone(),
                    service,
                    context,
                    header,
                    observed: observed.map(Box::new),
                    gate,
                };
                spawn_holding(admitted, task.run())
            }
            None => {
                let task = CallTask {
                    shared: self.shared.clone(),
                    tx: self.tx.clone(),
                    in_flight: self.in_flight.clone(),
                    service,
                    context,
                    header,
                    body,
                    compression: respond,
                    max_frame: self.max_frame,
                    observed: observed.map(Box::new),
                    gate,
                    seat,
                };
                spawn_holding(admitted, task.run())
            }
        };
        self.in_flight.attach(id, handle.abort_handle());
        Verdict::Useful
    }
}

impl ServerEndpoint {
    /// Run a unary or oneway call on this task (see `inline_call`): its handler polled once
    /// here, answered here if it finished, or handed to a task of its own — with a slot in
    /// the table, so that CANCEL, the deadline and shutdown reach it — if it did not.
    /// `admitted` (what header-level hooks handed back) is held until the call ends;
    /// `arrived` is when the call's frame was dispatched.
    fn run_inline(
        &mut self,
        service: Arc<dyn crate::server::Service>,
        mut context: Context,
        header: Header,
        body: bytes::Bytes,
        answered: Answered,
        (admitted, arrived): (Admitted, Instant),
    ) {
        let id = header.request_id;
        let deadline = context.deadline;
        let shared = &self.shared;
        let limit = shared.config.limits.max_decompressed;
        let polled = match decompress(header.compression, body, limit, None) {
            Ok(body) => {
                context.wire.body_len = body.len();
                let request = Request::new(context, header.codec, shared.codecs.clone(), body);
                let _watched = self.inline.watch();
                first_poll(id, service, request, deadline)
            }
            Err(e) => FirstPoll::Done(Err(side_status("server", e))),
        };
        self.inline.polled(arrived);
        let handler = match polled {
            FirstPoll::Done(result) => {
                self.in_flight.completed();
                if let Some(frame) = answered.frame(shared, header.kind, id, result) {
                    queue_or_spawn(&self.tx, frame.into());
                }
                return;
            }
            FirstPoll::Pending(handler) => handler,
        };
        let cap = shared.config.max_in_flight;
        // `check` passed and only this reader adds calls, so this does not fail; if it did,
        // the call is answered as a refused one.
        if self
            .in_flight
            .reserve(id, header.kind, arrived, deadline, cap, None, false)
            .is_err()
        {
            drop(handler);
            let refused = Err(in_flight::full(cap));
            if let Some(frame) = answered.frame(shared, header.kind, id, refused) {
                queue_or_spawn(&self.tx, frame.into());
            }
            return;
        }
        let task = Continuation {
            shared: shared.clone(),
            tx: self.tx.clone(),
            in_flight: self.in_flight.clone(),
            handler,
            header,
            deadline,
            answered,
        };
        let handle = spawn_holding(admitted, task.run());
        self.in_flight.attach(id, handle.abort_handle());
    }
}

/// Spawn a call's task, keeping what its header-level hooks handed back (a permit) until the
/// task ends, however it ends; without a guard the task is spawned as it is.
fn spawn_holding<F>(admitted: Admitted, task: F) -> tokio::task::JoinHandle<()>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    if admitted.is_empty() {
        return tokio::spawn(task);
    }
    tokio::spawn(async move {
        let _held = admitted;
        task.await
    })
}

/// A connection-level ERROR frame, sent just before closing.
fn error_frame(code: Code, message: String) -> Frame {
    let mut error = Frame::new(Kind::ERROR, 0);
    error.header.status = code as u8;
    error.head.message = Some(truncate(&message).into());
    error
}

/// What answers a call of `kind` that ends with `status` without its handler: a RESPONSE
/// for a request, a STREAM_END for a stream, nothing for a oneway call.
pub(crate) fn answer_frame(kind: Kind, id: u64, status: &Status) -> Option<Frame> {
    match kind {
        Kind::REQUEST => Some(status_frame(id, status)),
        Kind::STREAM_OPEN => Some(end_frame(id, Some(status))),
        _ => None,
    }
}
