//! One client connection: a writer task, a reader task completing calls by request id
//! (`endpoint.rs` routes what it reads), a deadline sweeper, and the table of calls in flight
//! (`in_flight.rs`). It mirrors the server's `conn.rs` / `in_flight.rs`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::engine::frame_queue;
use erpc_transport::Address;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::client::endpoint::ClientEndpoint;
use crate::client::in_flight::{Pending, PendingCall, Waiter};
use crate::client::watchers::Watchers;
use crate::config::ClientConfig;
use crate::deadline;
use crate::discovery::Load;
use crate::discovery::load::InFlightGuard;
use crate::engine::deadlines::{Deadlines, sweep};
use crate::engine::reader::{Closed, ReadConfig, read_loop};
use crate::engine::signal::Signal;
use crate::engine::stream::{Inbox, Outbound, StreamState};
use crate::engine::task_guard::{OnAbandon, spawn_connection_task};
use crate::engine::writer::write_loop;
use crate::engine::{OutFrame, channels, control, queue_or_spawn, streaming_unsupported};
use crate::observe::{Side, WriterWatch};
use crate::protocol::{Frame, Kind};
use crate::status::Status;

pub(super) struct Shared {
    pub(super) pending: Mutex<Pending>,
    /// Set when the server sent GOAWAY: finish what is running, start nothing new here.
    pub(super) draining: AtomicBool,
    /// Fired when the connection is gone; its tasks stop.
    pub(super) dead: Arc<Signal>,
    /// Fired for an orderly close (the last handle dropped, or [`ClientConn::close`]): the
    /// writer sends what was already queued — accepted oneway calls, CANCELs, stream ends —
    /// then shuts the connection down and fires `dead`.
    pub(super) closing: Arc<Signal>,
    /// Wakes the deadline sweeper when a call's deadline is the new earliest.
    pub(super) wake_sweeper: Notify,
    /// Wakes [`ClientConn::probe`]rs: a PONG arrived, or the connection died.
    pub(super) pong: Notify,
    /// Probe PINGs whose PONG has not arrived (their PONGs are no junk).
    pub(super) probes_out: AtomicU32,
    /// Set when the connection died because the server stopped answering heartbeats, or
    /// because the peer is not an erpc server.
    pub(super) unhealthy: AtomicBool,
    /// Calls waiting for one of the connection's call slots (`max_concurrent_calls`).
    pub(super) waiting: AtomicUsize,
    /// Wakes one waiting call when a call leaves the table (all of them when it dies).
    pub(super) slot_freed: Notify,
    /// Calls (unary and streams) this connection carries at once; see
    /// [`ClientConfig::max_concurrent_calls`].
    pub(super) max_calls: usize,
}

impl Shared {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        // A panic while holding this lock cannot leave the map inconsistent (single inserts
        // and removes), so a poisoned lock is still usable.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Leave request `id`'s outcome in its slot and wake its caller, who takes it out of
    /// the table (and frees the call slot). Unknown ids, streams, and requests answered
    /// already (their deadline passed) are ignored. `at`: when the answer was read, if the
    /// reader read the clock for it.
    pub(super) fn complete(&self, id: u64, result: Result<Frame, Status>, at: Option<Instant>) {
        let waker = self.lock().answer(id, result, at);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// A call left the table: if calls wait for a slot, wake one.
    pub(super) fn freed(&self) {
        if self.waiting.load(Ordering::Acquire) > 0 {
            self.slot_freed.notify_one();
        }
    }

    /// The stream state of a running streaming call; with `take`, also out of the table (the
    /// call is over).
    pub(super) fn stream(&self, id: u64, take: bool) -> Option<Arc<StreamState>> {
        let mut pending = self.lock();
        let Some((Waiter::Stream(state), _)) = pending.calls.get(&id) else {
            return None;
        };
        let state = state.clone();
        if take {
            pending.calls.remove(&id);
            drop(pending);
            self.freed();
        }
        Some(state)
    }

    /// Fail every pending call and refuse new ones.
    pub(super) fn fail_all(&self, status: Status) {
        let mut failed = Vec::new();
        {
            let mut p = self.lock();
            p.dead.get_or_insert(status.clone());
            // A request answered before the connection died keeps its answer for its caller.
            for (id, entry) in std::mem::take(&mut p.calls) {
                if entry.0.is_answered() {
                    p.calls.insert(id, entry);
                } else {
                    failed.push(entry.0);
                }
            }
        }
        for waiter in failed {
            waiter.fail(status.clone());
        }
        // Calls waiting for a slot learn that the connection is gone.
        self.slot_freed.notify_waiters();
    }

    /// The connection is gone: stop handing it out and stop its tasks, then fail every
    /// pending call and refuse new ones. In that order: a caller woken by its failure must
    /// find the connection unusable already, or its next call takes the same dead
    /// connection from the pool and fails at once too (seen: hundreds of calls in a row on a
    /// loaded multi-threaded runtime, between the two steps).
    pub(super) fn kill(&self, status: Status) {
        self.dead.fire();
        self.fail_all(status);
        self.pong.notify_waiters();
    }
}

/// Why the client closes a connection of its own accord ([`ClientConn::close`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Closing {
    /// [`crate::Client::close`] or [`crate::Client::shutdown`]: calls still waiting fail
    /// `cancelled`.
    ByClient,
    /// Discovery no longer lists the instance: calls still waiting fail `unavailable` (an
    /// idempotent one may be retried on an instance still listed).
    Unlisted,
    /// A new connection that never proved its peer (no answer to its first PING): nothing
    /// waits on it yet.
    Unproven,
}

/// A live connection to a server.
pub(crate) struct ClientConn {
    pub(super) tx: frame_queue::Sender,
    /// The writer's queue for stream messages.
    data_tx: frame_queue::Sender,
    pub(super) shared: Arc<Shared>,
    next_id: AtomicU64,
    peer: Address,
    /// The link's largest frame, if its transport has one (UDP: a datagram).
    max_frame: Option<usize>,
    /// Whether the link carries streaming calls (UDP does not).
    streaming: bool,
    /// Whether the dial itself showed a server is there (not on KCP; see
    /// [`ClientConn::connect_proves_peer`]).
    connect_proves_peer: bool,
    /// The instance's load, for balancers: kept only for a discovered service's instances.
    load: Option<Arc<Load>>,
}

impl ClientConn {
    /// Dial `addr` and start the connection's tasks.
    pub async fn connect(
        addr: &Address,
        config: &ClientConfig,
        watchers: Watchers,
    ) -> Result<Arc<ClientConn>, Status> {
        let Watchers { load, observer } = watchers;
        let stream = erpc_transport::connect_with(addr, &config.transport)
            .await
            .map_err(|e| {
                Status::unavailable(format!("cannot connect to {addr}: {e}")).from_connect_failure()
            })?;
        let (max_frame, streaming, connect_proves_peer) = (
            stream.max_frame,
            stream.streaming,
            stream.connect_proves_peer,
        );
        // Never 0: id 0 names no call (PROTOCOL.md §3).
        let first_id = stream.first_request_id.max(1);
        let link_peer = stream.peer.clone();
        if let Some(observer) = &observer {
            observer.connection_opened(Side::Client, &link_peer);
            observer.instance_connection_opened(addr);
        }
        let (read, write) = tokio::io::split(stream.io);
        let (tx, data_tx, queues) = channels(config.write_queue);
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending {
                calls: HashMap::default(),
                outcomes: HashMap::default(),
                deadlines: Deadlines::default(),
                dead: None,
            }),
            draining: AtomicBool::new(false),
            dead: Arc::default(),
            closing: Arc::default(),
            wake_sweeper: Notify::new(),
            pong: Notify::new(),
            probes_out: AtomicU32::new(0),
            unhealthy: AtomicBool::new(false),
            waiting: AtomicUsize::new(0),
            slot_freed: Notify::new(),
            max_calls: config.max_concurrent_calls.max(1),
        });
        let killer = |shared: &Arc<Shared>| {
            let shared = shared.clone();
            move |why: String| shared.kill(Status::internal(why))
        };
        spawn_connection_task(
            "writer",
            write_loop(
                write,
                queues,
                shared.dead.clone(),
                shared.closing.clone(),
                WriterWatch::of(observer.as_ref(), Side::Client, &link_peer),
            ),
            killer(&shared),
        );
        spawn_connection_task(
            "deadline sweeper",
            expire_calls(shared.clone(), tx.clone()),
            killer(&shared),
        );
        let reader_shared = shared.clone();
        let reader_tx = tx.clone();
        let read_config = ReadConfig {
            limits: config.limits,
            heartbeat: config.heartbeat,
            first_frame_timeout: None,
            max_junk_frames: config.max_junk_frames,
        };
        let peer = addr.clone();
        let reader_load = load.clone();
        tokio::spawn(async move {
            let mut endpoint = ClientEndpoint {
                shared: reader_shared.clone(),
                tx: reader_tx.clone(),
                load: reader_load,
                last_stream: Default::default(),
                heard: false,
                read_at: None,
            };
            let dead = reader_shared.dead.clone();
            // Nothing stops a client's reader but the connection dying.
            let stop = Signal::default();
            let closed =
                read_loop(read, read_config, &reader_tx, &stop, &dead, &mut endpoint).await;
            tracing::debug!(peer = %peer, reason = %closed, "client connection ended");
            if let Some(observer) = &observer {
                let draining = reader_shared.draining.load(Ordering::Acquire);
                observer.connection_closed(Side::Client, &link_peer, &closed.reason(draining));
                observer.instance_connection_closed(&peer);
            }
            // The next connection must answer a PING before it takes calls (the pool then
            // backs off while it does not): after a server went silent, and after a peer that
            // is not an erpc server at all (an HTTP port) — otherwise every call would dial
            // it again at once, since its TCP connect succeeds.
            if matches!(closed, Closed::HeartbeatTimeout | Closed::NotErpc(_)) {
                reader_shared.unhealthy.store(true, Ordering::Release);
            }
            let status = match &closed {
                // Another protocol at that port: no connection to an erpc server was made
                // (a client with failover tries another instance).
                Closed::NotErpc(foreign) => {
                    Status::unavailable(foreign.server_answered(&peer)).from_connect_failure()
                }
                Closed::Protocol(_) | Closed::Panicked(_) | Closed::Violation(_) => {
                    Status::internal(format!("connection to {peer}: {closed}"))
                }
                // Refused or closed before the server said anything (a TLS handshake
                // refused after the dial, by a TLS 1.3 server wanting a client
                // certificate): no connection to a server was made.
                Closed::Io(_) | Closed::Eof if !endpoint.heard => {
                    Status::unavailable(format!("connection to {peer}: {closed}"))
                        .from_connect_failure()
                }
                other => Status::unavailable(format!("connection to {peer}: {other}")),
            };
            reader_shared.kill(status);
        });
        Ok(Arc::new(ClientConn {
            tx,
            data_tx,
            shared,
            next_id: AtomicU64::new(first_id),
            peer: addr.clone(),
            max_frame,
            streaming,
            connect_proves_peer,
            load,
        }))
    }

    /// Resolves once the connection is fully closed (its writer finished or it died).
    pub async fn closed(&self) {
        self.shared.dead.fired_any().await
    }

    /// Counts a stream in the instance's load until dropped (no guard when not balanced).
    /// Kill the connection now: its calls fail `unavailable` with `why`, its tasks stop.
    pub fn abort(&self, why: &str) {
        self.shared.kill(Status::unavailable(format!(
            "connection to {}: {why}",
            self.peer
        )));
    }

    /// The address dialled.
    pub fn peer(&self) -> &Address {
        &self.peer
    }

    /// The instance's load, if the client keeps it (a discovered service).
    pub fn load(&self) -> Option<&Arc<Load>> {
        self.load.as_ref()
    }

    pub fn stream_guard(&self) -> Option<InFlightGuard> {
        self.load.clone().map(InFlightGuard::new)
    }

    /// Whether new calls may use this connection.
    pub fn is_usable(&self) -> bool {
        !self.shared.dead.is_fired()
            && !self.shared.closing.is_fired()
            && !self.shared.draining.load(Ordering::Acquire)
    }

    /// Whether the connection died because the server stopped answering heartbeats (it is
    /// stalled or unreachable, not merely restarted) or the peer speaks another protocol:
    /// either way the next connection must prove an erpc server answers before calls use it.
    pub fn failed_health(&self) -> bool {
        self.shared.unhealthy.load(Ordering::Acquire)
    }

    /// Whether dialling showed that a server is there. When not (KCP: its connect sends
    /// nothing), the connection must answer a [probe](ClientConn::probe) before it takes
    /// calls, or calls to a stopped server would wait for their deadlines.
    pub fn connect_proves_peer(&self) -> bool {
        self.connect_proves_peer
    }

    /// Send a PING and wait for its PONG until `by`: proof that the server is reading and
    /// answering, which an accepted connection is not (a stopped process's kernel still
    /// accepts).
    pub async fn probe(&self, by: Instant) -> Result<(), Status> {
        let answered = self.shared.pong.notified();
        tokio::pin!(answered);
        // Registered before the PING goes out, so the PONG cannot slip past. A connection
        // dying also wakes it (`Shared::kill`).
        answered.as_mut().enable();
        let ping = async {
            // Counted before it can be answered.
            self.shared.probes_out.fetch_add(1, Ordering::AcqRel);
            let sent = Instant::now();
            if self.tx.send(control(Kind::PING, 0)).await.is_ok() {
                answered.await;
                // A round trip for network-quality balancing (a death wakes it too, and
                // is not recorded: the caller below sees it).
                if let (Some(load), false) = (&self.load, self.shared.dead.is_fired()) {
                    load.record_rtt(sent.elapsed());
                }
            }
        };
        let alive = !self.shared.dead.is_fired();
        if alive && tokio::time::timeout_at(by, ping).await.is_ok() && !self.shared.dead.is_fired()
        {
            return Ok(());
        }
        if self.shared.dead.is_fired() {
            // Why it died says more than the missing PONG (a draining KCP server's ERROR).
            return Err(self.dead_status());
        }
        Err(Status::unavailable(format!(
            "{} did not answer a ping",
            self.peer
        )))
    }

    /// Close the connection in order: pending calls fail (with the status `why` gives), new
    /// ones are refused, and what was already queued (oneway calls whose send returned `Ok`)
    /// is written before the connection shuts down.
    pub fn close(&self, why: Closing) {
        let status = match why {
            // The caller's own side ended the call, as a cancelled one: gRPC's
            // `ClientConn.Close` fails its calls `CANCELLED` likewise. It says nothing of the
            // instance (breakers and the load do not count it) and is not retried.
            Closing::ByClient => {
                Status::cancelled(format!("the client closed its connection to {}", self.peer))
            }
            Closing::Unlisted => Status::unavailable(format!(
                "connection to {} closed: the instance is no longer listed",
                self.peer
            )),
            Closing::Unproven => Status::unavailable(format!("connection to {} closed", self.peer)),
        };
        self.shared.fail_all(status);
        self.shared.closing.fire();
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Refuse what this link's transport cannot carry: streams over UDP, frames larger than
    /// a datagram. Checked per connection, so a discovered service's instances are judged
    /// by the transport each one is actually reached over.
    fn fits(&self, frame: &Frame) -> Result<(), Status> {
        if frame.header.kind == Kind::STREAM_OPEN && !self.streaming {
            return Err(streaming_unsupported(self.peer.scheme()));
        }
        if let Some(max) = self.max_frame
            && frame.encoded_len() > max
        {
            return Err(Status::resource_exhausted(format!(
                "client: request of {} bytes exceeds {}'s limit of {max} bytes per frame (a datagram; use a stream transport for larger calls)",
                frame.encoded_len(),
                self.peer.scheme()
            )));
        }
        Ok(())
    }

    /// Send a oneway frame. Returns once it is queued for writing.
    pub async fn send_oneway(&self, mut frame: Frame, deadline: Instant) -> Result<(), Status> {
        self.fits(&frame)?;
        frame.header.request_id = self.next_id();
        if let Some(status) = &self.shared.lock().dead {
            return Err(status.clone());
        }
        let out = OutFrame {
            frame,
            deadline: Some(deadline),
        };
        self.queue(out, deadline).await
    }

    /// Register a request and queue it for writing, without waiting. The returned
    /// [`PendingCall`] waits for the response; dropping it before then sends CANCEL.
    ///
    /// Doing this part synchronously keeps the call's future small (futures are moved as
    /// they are awaited, and a fat one cost a fifth of the client's CPU in memmove).
    ///
    /// `now` is a clock read the caller made a moment ago (as the call began, or for a
    /// breaker's admission), if it made one: the start of the call's latency sample. A clock read costs about 25 ns on
    /// a virtual machine, a governed call's largest single cost (BENCHMARKS.md,
    /// 2026-12-03).
    pub fn start(
        self: &Arc<Self>,
        mut frame: Frame,
        deadline: Instant,
        now: Option<Instant>,
    ) -> Result<PendingCall, Status> {
        self.fits(&frame)?;
        let id = self.next_id();
        frame.header.request_id = id;
        let mut call = PendingCall {
            conn: self.clone(),
            id,
            queued: None,
            armed: true,
            load: self.load.as_ref().map(|load| {
                load.started();
                (load.clone(), now.unwrap_or_else(Instant::now))
            }),
            report: None,
        };
        let out = OutFrame {
            frame,
            deadline: Some(deadline),
        };
        if let Err(waiter) = self.register(id, Waiter::unary(), deadline)? {
            // Every call slot is taken: wait for one (within the deadline), then send.
            let conn = self.clone();
            call.queued = Some(Box::pin(async move {
                conn.admit(id, waiter, deadline).await?;
                conn.queue(out, deadline).await
            }));
            return Ok(call);
        }
        match self.tx.try_send(out) {
            Ok(()) => {}
            Err(frame_queue::TrySendError::Full(out)) => {
                let conn = self.clone();
                call.queued = Some(Box::pin(async move { conn.queue(out, deadline).await }));
            }
            Err(frame_queue::TrySendError::Closed(_)) => return Err(self.dead_status()),
        }
        Ok(call)
    }

    /// Queue `out` for the writer, waiting for room until `deadline`.
    async fn queue(&self, out: OutFrame, deadline: Instant) -> Result<(), Status> {
        match tokio::time::timeout_at(deadline, self.tx.send(out)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(self.dead_status()),
            Err(_) => Err(Status::deadline_exceeded(
                "deadline passed while queued for writing",
            )),
        }
    }

    /// Wait until the connection has a free call slot and take it for `waiter`: the
    /// client's side of the server's running-call cap, so that a burst beyond it waits
    /// (as HTTP/2 clients do for SETTINGS_MAX_CONCURRENT_STREAMS) instead of being refused.
    async fn admit(&self, id: u64, mut waiter: Waiter, deadline: Instant) -> Result<(), Status> {
        self.shared.waiting.fetch_add(1, Ordering::AcqRel);
        // Counted down however this ends: admitted, refused, or the caller gave up.
        let _waiting = OnAbandon::new(|| {
            self.shared.waiting.fetch_sub(1, Ordering::AcqRel);
        });
        loop {
            let freed = self.shared.slot_freed.notified();
            tokio::pin!(freed);
            // Registered before looking, so a slot freed in between is not missed.
            freed.as_mut().enable();
            match self.register(id, waiter, deadline)? {
                Ok(()) => return Ok(()),
                Err(back) => waiter = back,
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return Err(Status::deadline_exceeded(format!(
                    "deadline passed while waiting for one of the {} call slots of the connection to {} (client: max_concurrent_calls)",
                    self.shared.max_calls, self.peer
                )));
            }
        }
    }

    /// Open a streaming call: register it and queue its STREAM_OPEN (waiting for room if the
    /// writer is backed up). The returned sender sends this side's messages.
    pub async fn open_stream(
        self: &Arc<Self>,
        mut frame: Frame,
        deadline: Instant,
        config: &ClientConfig,
        compression: erpc_codec::compression::CompressionId,
    ) -> Result<Outbound, Status> {
        self.fits(&frame)?;
        let id = self.next_id();
        frame.header.request_id = id;
        let state = Arc::new(StreamState::new(Inbox::new(
            id,
            config.stream_window,
            self.tx.clone(),
        )));
        if let Err(waiter) = self.register(id, Waiter::Stream(state.clone()), deadline)? {
            self.admit(id, waiter, deadline).await?;
        }
        // Dropped while waiting for room (the caller gave up): the server never saw the call,
        // so it leaves the table now, not at its deadline with a CANCEL for nothing.
        let unregister = OnAbandon::new(|| {
            self.shared.lock().calls.remove(&id);
            self.shared.freed();
        });
        let out = OutFrame {
            frame,
            // A stream without a deadline says so by sending none (PROTOCOL.md §13).
            deadline: (!deadline::is_unbounded(deadline, Instant::now())).then_some(deadline),
        };
        let queued = self.queue(out, deadline).await;
        unregister.disarm();
        if let Err(status) = queued {
            self.shared.lock().calls.remove(&id);
            self.shared.freed();
            return Err(status);
        }
        if let Some(grant) = state.inbox.initial_grant() {
            // Never lost: the inbox already counts this credit as the server's.
            queue_or_spawn(&self.tx, grant);
        }
        Ok(Outbound {
            id,
            data: self.data_tx.clone(),
            state,
            compression,
            threshold: config.compression_threshold,
            max_body: config.limits.max_body,
            side: "client",
            batch: bytes::BytesMut::new(),
            last_batch: 0,
        })
    }

    /// This side gave up on stream `id` (dropped it, or could not send): if the server has
    /// not ended it yet, tell it to stop, and stop sending.
    pub fn cancel_stream(&self, id: u64, state: &StreamState, status: Status) {
        if self.shared.stream(id, true).is_some() {
            let _ = self.tx.try_send(control(Kind::CANCEL, id));
        }
        state.fail(status);
    }

    /// Put a call in the pending table under its deadline, waking the sweeper if that
    /// deadline is the new earliest; the connection's failure if it is already dead; the
    /// waiter back if every call slot is taken.
    fn register(
        &self,
        id: u64,
        waiter: Waiter,
        deadline: Instant,
    ) -> Result<Result<(), Waiter>, Status> {
        let earliest = {
            let mut pending = self.shared.lock();
            if let Some(status) = &pending.dead {
                return Err(status.clone());
            }
            if pending.calls.len() >= self.shared.max_calls {
                return Ok(Err(waiter));
            }
            pending.calls.insert(id, (waiter, deadline));
            let Pending {
                calls, deadlines, ..
            } = &mut *pending;
            let earliest = deadlines.push(deadline, id);
            deadlines.compact_if_needed(calls.len(), calls.iter().map(|(id, (_, at))| (*id, *at)));
            earliest
        };
        if earliest {
            self.shared.wake_sweeper.notify_one();
        }
        Ok(Ok(()))
    }

    pub(super) fn dead_status(&self) -> Status {
        self.shared
            .lock()
            .dead
            .clone()
            .unwrap_or_else(|| Status::unavailable(format!("connection to {} closed", self.peer)))
    }
}

impl Drop for ClientConn {
    fn drop(&mut self) {
        // The last handle is gone, so nobody waits for an answer: close in order (the writer
        // sends what was queued, then stops the reader and the sweeper).
        self.shared.closing.fire();
    }
}

/// The connection's deadline sweeper: fails calls whose deadline passed with
/// `deadline_exceeded` and tells the server to stop working on them.
async fn expire_calls(shared: Arc<Shared>, tx: frame_queue::Sender) {
    let mut expired = Vec::new();
    let mut woken = Vec::new();
    let exceeded = || Status::deadline_exceeded("deadline exceeded");
    // A call still waiting for its answer at `at`.
    let live = |entry: Option<&(Waiter, Instant)>, at: Instant| {
        entry.is_some_and(|(waiter, due)| *due == at && !waiter.is_answered())
    };
    sweep(&shared.wake_sweeper, &shared.dead, |now| {
        let next = {
            let mut pending = shared.lock();
            while let Some((id, at)) = pending.deadlines.pop_due(now) {
                match pending.calls.get(&id) {
                    Some(entry) if !live(Some(entry), at) => {}
                    // A request's caller takes its failure from its slot, as an answer.
                    Some((Waiter::Unary(_), _)) => {
                        woken.push((id, pending.answer(id, Err(exceeded()), None)));
                    }
                    Some(_) => {
                        if let Some(waiter) = pending.remove(id) {
                            expired.push((id, waiter));
                        }
                    }
                    None => {}
                }
            }
            let Pending {
                calls, deadlines, ..
            } = &mut *pending;
            deadlines.next_live(|id, at| live(calls.get(&id), at))
        };
        for (id, waker) in woken.drain(..) {
            if let Some(waker) = waker {
                waker.wake();
            }
            // Best effort, as for a dropped call.
            let _ = tx.try_send(control(Kind::CANCEL, id));
        }
        for (id, waiter) in expired.drain(..) {
            shared.freed();
            waiter.fail(exceeded());
            let _ = tx.try_send(control(Kind::CANCEL, id));
        }
        next
    })
    .await;
}

/// A fail mode's steer records the connection an attempt went out on, and names its
/// instance from it only when asked.
impl crate::discovery::balance::Peer for ClientConn {
    fn peer(&self) -> &Address {
        &self.peer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_stream_open_given_up_before_it_was_queued_leaves_nothing_behind() {
        // A server that accepts and never reads: the socket's buffers fill, then the writer's
        // queue (one frame), then opening a stream waits for room.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: Address = format!("tcp://{}", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        let held = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            std::future::pending::<()>().await;
            drop(socket);
        });
        let config = ClientConfig {
            write_queue: 1,
            ..ClientConfig::default()
        };
        let conn = ClientConn::connect(&addr, &config, Watchers::default())
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let call = |kind| {
            let mut frame = Frame::new(kind, 0);
            frame.head.service = Some("s".into());
            frame.head.method = Some("m".into());
            frame
        };
        loop {
            let mut oneway = call(Kind::ONEWAY);
            oneway.body = bytes::Bytes::from(vec![0u8; 1 << 20]);
            let queued = conn.send_oneway(oneway, deadline);
            if tokio::time::timeout(Duration::from_millis(200), queued)
                .await
                .is_err()
            {
                break;
            }
        }
        let open = conn.open_stream(
            call(Kind::STREAM_OPEN),
            deadline,
            &config,
            erpc_codec::compression::CompressionId::NONE,
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(100), open)
                .await
                .is_err(),
            "the open was queued although the writer is stuck"
        );
        assert!(
            conn.shared.lock().calls.is_empty(),
            "the abandoned open is still pending"
        );
        held.abort();
    }
}
