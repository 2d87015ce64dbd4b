//! The wait for a unary attempt's answer once its request is queued on a connection.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use crate::client::breaker::Ticket;
use crate::client::in_flight::PendingCall;
use crate::client::{Client, ClientResponse};
use crate::discovery::Landed;
use crate::protocol::CompressionList;
use crate::status::Status;

/// A queued unary attempt's answer: the response unpacked (its compression checked against
/// the request's accept list), and the outcome counted on a breaker's ticket if the attempt
/// carries one (a ticket dropped unfinished, with this future, counts neither way).
///
/// A named future rather than an `async` block, so that a fail mode's first attempt holds
/// it inline in its own future instead of in a second box ([`crate::client::direct`]).
pub(crate) struct Answer {
    pending: PendingCall,
    /// The accept-compression list the request carried: what the response may use.
    accept: CompressionList,
    client: Client,
    ticket: Option<Ticket>,
}

impl Answer {
    pub(crate) fn new(
        pending: PendingCall,
        accept: CompressionList,
        client: Client,
        ticket: Option<Ticket>,
    ) -> Answer {
        Answer {
            pending,
            accept,
            client,
            ticket,
        }
    }

    /// Where the attempt went: queued (so sent) to its connection's instance.
    pub(crate) fn landed(&self) -> Landed {
        Landed {
            addr: self.pending.conn.peer().clone(),
            sent: true,
        }
    }
}

impl Future for Answer {
    type Output = Result<ClientResponse, Status>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let answered = ready!(this.pending.poll_response(cx))
            .and_then(|frame| this.client.unpack(frame, &this.accept));
        if let Some(ticket) = this.ticket.take() {
            ticket.finish(&answered);
        }
        Poll::Ready(answered)
    }
}
