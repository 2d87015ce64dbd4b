//! The client's side of the calls in flight on a connection: who waits on each call
//! ([`Waiter`]), the table of them with their deadlines ([`Pending`]), and the caller's
//! handle ([`PendingCall`]), which sends CANCEL when dropped before its answer. Mirrors the
//! server's `in_flight.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Waker};

use futures_util::future::BoxFuture;
use tokio::time::Instant;

use crate::client::conn::ClientConn;
use crate::client::id_hash::BuildIdHasher;
use crate::client::observed::Report;
use crate::discovery::Load;
use crate::discovery::load::{is_instance_failure, says_nothing_of_instance};
use crate::engine::control;
use crate::engine::deadlines::Deadlines;
use crate::engine::stream::StreamState;
use crate::protocol::{Frame, Kind};
use crate::status::{Code, Status};

/// A request's place in the table: whether its outcome is in (in [`Pending::outcomes`]) and
/// the caller's waker. In the table itself, so a call allocates no channel of its own; the
/// entry leaves the table when the caller takes the outcome (or gives up).
#[derive(Default)]
pub(super) struct Slot {
    answered: bool,
    waker: Option<Waker>,
}

/// Who waits on a call.
pub(super) enum Waiter {
    /// A request awaiting its response.
    Unary(Slot),
    /// A streaming call, until the server ends it.
    Stream(Arc<StreamState>),
}

impl Waiter {
    /// A request awaiting its response.
    pub(super) fn unary() -> Waiter {
        Waiter::Unary(Slot::default())
    }

    /// End the call with `status`, it being out of the table already: a stream is told;
    /// a request's caller is woken, finds its entry gone and fails with the connection's
    /// status (the only way a request leaves the table without its caller: the connection
    /// died).
    pub(super) fn fail(self, status: Status) {
        match self {
            Waiter::Unary(slot) => {
                if let Some(waker) = slot.waker {
                    waker.wake();
                }
            }
            Waiter::Stream(state) => state.fail(status),
        }
    }

    /// Whether this is a request with its outcome waiting for its caller: no longer in
    /// flight (no deadline to enforce, nothing to cancel).
    pub(super) fn is_answered(&self) -> bool {
        matches!(self, Waiter::Unary(Slot { answered: true, .. }))
    }
}

pub(super) struct Pending {
    /// Calls awaiting a response or streaming, with their deadlines; and requests answered
    /// whose caller has not taken the outcome yet.
    pub(super) calls: HashMap<u64, (Waiter, Instant), BuildIdHasher>,
    /// The outcomes of the answered requests in `calls`, until their callers take them:
    /// apart, so that an entry of `calls` stays small (a `Frame` is ~260 bytes). With when
    /// the answer was read, if the reader read the clock for it ([`Pending::answer`]).
    pub(super) outcomes: HashMap<u64, (Result<Frame, Status>, Option<Instant>), BuildIdHasher>,
    /// The same deadlines, soonest first, for the sweeper.
    pub(super) deadlines: Deadlines,
    /// Set once the connection is gone; later calls fail with it at once.
    pub(super) dead: Option<Status>,
}

impl Pending {
    /// Leave `outcome` for request `id`'s caller, unless the request has one already (the
    /// first wins: a response crossing the deadline on the wire is dropped) or is not in
    /// the table (its caller gave up; or a stream). `at`: when the answer was read, if the
    /// reader read the clock for it (the end of the call's latency sample). Returns the
    /// waker to wake once the table's lock is released.
    #[must_use]
    pub(super) fn answer(
        &mut self,
        id: u64,
        outcome: Result<Frame, Status>,
        at: Option<Instant>,
    ) -> Option<Waker> {
        let Some((Waiter::Unary(slot), _)) = self.calls.get_mut(&id) else {
            return None;
        };
        if slot.answered {
            return None;
        }
        slot.answered = true;
        self.outcomes.insert(id, (outcome, at));
        slot.waker.take()
    }

    /// Take call `id` out of the table, with its outcome if it was answered.
    pub(super) fn remove(&mut self, id: u64) -> Option<Waiter> {
        let (waiter, _) = self.calls.remove(&id)?;
        if waiter.is_answered() {
            self.outcomes.remove(&id);
        }
        Some(waiter)
    }
}

/// A request on its way: waits for the response, and sends CANCEL if it is dropped (or its
/// deadline passes) before the response arrives.
pub(crate) struct PendingCall {
    pub(super) conn: Arc<ClientConn>,
    pub(super) id: u64,
    /// Waiting for room in the writer's queue, when it was full at the start (rare; boxed
    /// so that it does not enlarge every call).
    pub(super) queued: Option<BoxFuture<'static, Result<(), Status>>>,
    pub(super) armed: bool,
    /// The instance's load and when the call started, when a balancer reads it.
    pub(super) load: Option<(Arc<Load>, Instant)>,
    /// The call's report to the client's observer, if it has one (boxed: an unobserved
    /// call carries a null pointer).
    pub(crate) report: Option<Box<Report>>,
}

impl PendingCall {
    /// Poll for the response. No timer: the connection's sweeper answers
    /// `deadline_exceeded` (and sends CANCEL) when the deadline passes.
    pub fn poll_response(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<Frame, Status>> {
        if let Some(queued) = &mut self.queued {
            match queued.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(())) => self.queued = None,
                Poll::Ready(Err(status)) => {
                    // Still armed: dropping the call takes it out of the pending table.
                    self.queued = None;
                    self.measure(Err(status.code()), None);
                    if let Some(mut report) = self.report.take() {
                        report.finish(status.code(), 0);
                    }
                    return Poll::Ready(Err(status));
                }
            }
        }
        let (result, answered_at) = {
            let shared = &self.conn.shared;
            let mut pending = shared.lock();
            match pending.calls.get_mut(&self.id) {
                Some((Waiter::Unary(slot), _)) if !slot.answered => {
                    if !slot.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        slot.waker = Some(cx.waker().clone());
                    }
                    return Poll::Pending;
                }
                Some(_) => {
                    pending.calls.remove(&self.id);
                    let outcome = pending.outcomes.remove(&self.id);
                    drop(pending);
                    shared.freed();
                    outcome.unwrap_or_else(|| (Err(self.conn.dead_status()), None))
                }
                // Taken out with every other call: the connection is gone.
                None => {
                    drop(pending);
                    (Err(self.conn.dead_status()), None)
                }
            }
        };
        self.armed = false;
        let code = match &result {
            Ok(frame) => Ok(Code::from_u8(frame.header.status)),
            Err(status) => Err(status.code()),
        };
        self.measure(code, answered_at);
        if let Some(mut report) = self.report.take() {
            match &result {
                Ok(frame) => {
                    report.finish(Code::from_u8(frame.header.status), frame.body.len() as u64)
                }
                Err(status) => report.finish(status.code(), 0),
            }
        }
        Poll::Ready(result)
    }

    /// Record the call's outcome in the instance's load, once. A `cancelled` call (its
    /// client closed the connection under it) is abandoned: its time is not the instance's.
    /// `at`: when the answer was read, if the reader read the clock for it (one read per
    /// socket read, shared by the answers it carried: ~25 ns each on a virtual machine).
    fn measure(&mut self, outcome: Result<Code, Code>, at: Option<Instant>) {
        if let Some((load, started)) = self.load.take() {
            let code = outcome.unwrap_or_else(|code| code);
            if says_nothing_of_instance(code) {
                load.abandoned();
                return;
            }
            let now = at.unwrap_or_else(Instant::now);
            let took = now.saturating_duration_since(started);
            load.finished_at(now, Some(took), is_instance_failure(code));
        }
    }

    /// Wait for the response.
    pub async fn wait(mut self) -> Result<Frame, Status> {
        std::future::poll_fn(|cx| self.poll_response(cx)).await
    }
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        if let Some((load, _)) = self.load.take() {
            load.abandoned();
        }
        if !self.armed {
            return;
        }
        let removed = self.conn.shared.lock().remove(self.id);
        if let Some(waiter) = removed {
            self.conn.shared.freed();
            // Best effort: a full queue means the connection is saturated and the server's
            // own deadline will reap the handler. An answered call has nothing to cancel.
            if !waiter.is_answered() {
                let _ = self.conn.tx.try_send(control(Kind::CANCEL, self.id));
            }
        }
    }
}
