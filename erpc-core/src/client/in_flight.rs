//! The client's side of the calls in flight on a connection: who waits on each call
//! ([`Waiter`]), the table of them with their deadlines ([`Pending`]), and the caller's
//! handle ([`PendingCall`]), which sends CANCEL when dropped before its answer. Mirrors the
//! server's `in_flight.rs`.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};

use futures_util::future::BoxFuture;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::client::conn::ClientConn;
use crate::client::id_hash::BuildIdHasher;
use crate::client::observed::Report;
use crate::discovery::Load;
use crate::discovery::load::is_instance_failure;
use crate::engine::control;
use crate::engine::deadlines::Deadlines;
use crate::engine::stream::StreamState;
use crate::protocol::{Frame, Kind};
use crate::status::{Code, Status};

pub(super) type Reply = oneshot::Sender<Result<Frame, Status>>;

/// Who waits on a call.
pub(super) enum Waiter {
    /// A request awaiting its response.
    Unary(Reply),
    /// A streaming call, until the server ends it.
    Stream(Arc<StreamState>),
}

impl Waiter {
    /// End the call with `status`.
    pub(super) fn fail(self, status: Status) {
        match self {
            Waiter::Unary(reply) => {
                let _ = reply.send(Err(status));
            }
            Waiter::Stream(state) => state.fail(status),
        }
    }
}

pub(super) struct Pending {
    /// Calls awaiting a response or streaming, with their deadlines.
    pub(super) calls: HashMap<u64, (Waiter, Instant), BuildIdHasher>,
    /// The same deadlines, soonest first, for the sweeper.
    pub(super) deadlines: Deadlines,
    /// Set once the connection is gone; later calls fail with it at once.
    pub(super) dead: Option<Status>,
}

/// A request on its way: waits for the response, and sends CANCEL if it is dropped (or its
/// deadline passes) before the response arrives.
pub(crate) struct PendingCall {
    pub(super) conn: Arc<ClientConn>,
    pub(super) id: u64,
    pub(super) response: oneshot::Receiver<Result<Frame, Status>>,
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
                    self.measure(Err(status.code()));
                    if let Some(mut report) = self.report.take() {
                        report.finish(status.code(), 0);
                    }
                    return Poll::Ready(Err(status));
                }
            }
        }
        let result = ready!(Pin::new(&mut self.response).poll(cx));
        self.armed = false;
        let result = result.unwrap_or_else(|_| Err(self.conn.dead_status()));
        self.measure(match &result {
            Ok(frame) => Ok(Code::from_u8(frame.header.status)),
            Err(status) => Err(status.code()),
        });
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

    /// Record the call's outcome in the instance's load, once.
    fn measure(&mut self, outcome: Result<Code, Code>) {
        if let Some((load, started)) = self.load.take() {
            let code = outcome.unwrap_or_else(|code| code);
            let now = Instant::now();
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
        let was_pending = self.conn.shared.lock().calls.remove(&self.id).is_some();
        if was_pending {
            self.conn.shared.freed();
            // Best effort: a full queue means the connection is saturated and the server's
            // own deadline will reap the handler.
            let _ = self.conn.tx.try_send(control(Kind::CANCEL, self.id));
        }
    }
}
