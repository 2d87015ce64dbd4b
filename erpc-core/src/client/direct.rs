//! A fail mode's first attempt run straight on the wire.
//!
//! When the call-level stack right below a [`crate::client::FailModes`] layer is the pick
//! itself, and the attempt-level stack is empty or a lone
//! [`InstanceBreakers`](crate::client::InstanceBreakers) over the wire — a governed client's
//! usual stacks — the first attempt's pick, breaker admission, framing and queueing are done
//! here at once, and its answer ([`Answer`]) is awaited inside the fail mode's own future:
//! one boxed future for the whole call, no steer to record where it went (its connection
//! says), and none of the moves of the request through two erased stacks. Any other stack
//! goes through its layers as before; so do retries (rare, and they may wait anyway).

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::time::Instant;

use crate::client::answer::Answer;
use crate::client::breaker::Ticket;
use crate::client::conn::ClientConn;
use crate::client::target::Ready;
use crate::client::unsent_request;
use crate::client::{AttemptService, Client, ClientRequest, InstanceBreakers, started};
use crate::discovery::balance::NO_STEER;
use crate::discovery::{Landed, Pick, Steer};
use crate::protocol::Frame;
use crate::status::Status;

/// What lies below a client's pick, as far as a direct attempt cares.
pub(crate) enum AttemptStack {
    /// No attempt-level layer: the wire.
    Wire,
    /// One instance-breaker layer right over the wire.
    Breakers(InstanceBreakers),
    /// Anything else: attempts go through the layers.
    Layered,
}

impl AttemptStack {
    /// The shape of `stack` (`None`: no attempt-level layers).
    pub(crate) fn of(stack: Option<&AttemptService>) -> AttemptStack {
        match stack {
            None => AttemptStack::Wire,
            Some(stack) => match InstanceBreakers::alone_over_wire(stack) {
                Some(breakers) => AttemptStack::Breakers(breakers),
                None => AttemptStack::Layered,
            },
        }
    }
}

/// A first attempt started directly.
pub(crate) enum Direct {
    /// Queued on a connection: its answer.
    Queued(Answer),
    /// A connection to the instance picked is being dialled first.
    Dialing(BoxFuture<'static, Result<Answer, Unsent>>),
    /// It failed before it was queued.
    Unsent(Unsent),
}

/// An attempt that failed before its request was queued, and the instance it was picked
/// for (if it got that far) — what a fail mode needs to know whether it may try again.
pub(crate) struct Unsent {
    pub status: Status,
    pub landed: Option<Landed>,
}

impl Client {
    /// Start the first attempt of `request` (kept by the caller for a retry) directly, if
    /// this client's attempt-level stack allows it; `None` if it has other layers, which
    /// the attempt must go through. `began`: a clock read made as the call began, a moment
    /// ago, if the caller made one — the breaker's admission and the latency sample's start
    /// of an attempt queued at once (one dialled first reads the clock when it is queued).
    pub(crate) fn attempt_direct(
        &self,
        request: &ClientRequest,
        began: Option<Instant>,
    ) -> Option<Direct> {
        if let AttemptStack::Layered = self.inner.attempt_stack {
            return None;
        }
        Some(match self.inner.target.ready_next(&first_pick(request)) {
            Err(status) => Direct::Unsent(Unsent {
                status: unsent_request(self.observer(), request, None, status),
                landed: None,
            }),
            Ok(Ready::Conn(conn)) => match self.admit_and_queue(conn, request, began) {
                Ok(answer) => Direct::Queued(answer),
                Err(unsent) => Direct::Unsent(unsent),
            },
            Ok(Ready::Dial(slot)) => {
                let client = self.clone();
                let request = first_copy(request);
                Direct::Dialing(Box::pin(async move {
                    let inner = &client.inner;
                    let since = client.observer().map(|_| Instant::now());
                    let pick = first_pick(&request);
                    let dialed = inner
                        .target
                        .dial(slot, &inner.config, request.deadline, &pick)
                        .await;
                    let conn = dialed.map_err(|status| Unsent {
                        status: unsent_request(client.observer(), &request, since, status),
                        landed: None,
                    })?;
                    client.admit_and_queue(conn, &request, None)
                }))
            }
        })
    }

    /// Let `request` through the instance's breaker (if the client has them), then frame
    /// and queue it on `conn`, leaving `request` whole for a retry: the frame shares its
    /// parts ([`Client::frame_copy`]). `began`: see [`Client::attempt_direct`].
    // The error is as large as the answer it stands in for, and moved once; boxing it would
    // add an allocation to every failure for nothing.
    #[allow(clippy::result_large_err)]
    fn admit_and_queue(
        &self,
        conn: Arc<ClientConn>,
        request: &ClientRequest,
        began: Option<Instant>,
    ) -> Result<Answer, Unsent> {
        let unsent = |status| Unsent {
            status,
            landed: Some(Landed {
                addr: conn.peer().clone(),
                sent: false,
            }),
        };
        // One clock read for the breaker's admission and the start of the call's latency
        // sample, a moment apart (a read is ~25 ns on a virtual machine) — the call's own,
        // if it was just made.
        let (ticket, now) = match &self.inner.attempt_stack {
            AttemptStack::Breakers(breakers) => {
                let now = began.unwrap_or_else(Instant::now);
                let admitted =
                    breakers.admit_to(conn.peer(), conn.load(), request, self.observer(), now);
                (Some(admitted.map_err(unsent)?), Some(now))
            }
            AttemptStack::Wire | AttemptStack::Layered => (None, began),
        };
        // A first attempt records nowhere where it went: its connection says.
        let frame = self.frame_copy(request);
        self.queue(&conn, frame, request.deadline, &NO_STEER, ticket, now)
            .map_err(unsent)
    }

    /// Queue a unary request's `frame` (or the failure to build it) on `conn`, recording
    /// where it went in `steer`; its answer is counted on `ticket`, as is a failure to queue
    /// it. `now`: a clock read made a moment ago, if one was (see [`ClientConn::start`]).
    pub(crate) fn queue(
        &self,
        conn: &Arc<ClientConn>,
        frame: Result<Frame, Status>,
        deadline: Instant,
        steer: &Steer,
        ticket: Option<Ticket>,
        now: Option<Instant>,
    ) -> Result<Answer, Status> {
        let queued = frame.and_then(|frame| {
            let accept = frame.head.accept_compression;
            let watches = self.inner.watches.as_ref();
            started(conn, frame, deadline, steer, watches, now).map(|pending| (pending, accept))
        });
        match queued {
            Ok((pending, accept)) => Ok(Answer::new(pending, accept, self.clone(), ticket)),
            Err(status) => {
                if let Some(ticket) = ticket {
                    ticket.finish_with(Some(status.code()));
                }
                Err(status)
            }
        }
    }
}

/// The copy of `request` its first attempt sends (the caller keeps the original for a
/// retry), with an unset steer: where the attempt went is its connection's instance.
fn first_copy(request: &ClientRequest) -> ClientRequest {
    let mut copy = request.clone();
    copy.steer = Steer::default();
    copy
}

/// What the balancer sees of a call's first attempt: nothing to avoid or prefer (a fail
/// mode's first attempt asks what a call without one does).
fn first_pick(request: &ClientRequest) -> Pick<'_> {
    Pick {
        service: &request.service,
        method: &request.method,
        metadata: &request.metadata,
        hash_key: request.hash_key,
        steer: &NO_STEER,
        retry: false,
    }
}
