//! The client's two layer stacks (see [`crate::layer`]): call-level layers over
//! [`CallService`] above the balancer's pick, attempt-level layers over [`AttemptService`]
//! below it, and the services at the bottom of each.

use std::sync::{Arc, Mutex, Weak};

use erpc_transport::Address;
use futures_util::future::BoxFuture;

use crate::client::breaker::Ticket;
use crate::client::conn::ClientConn;
use crate::client::{Client, ClientRequest, ClientResponse, Inner};
use crate::discovery::Load;
use crate::layer::{BoxedService, Erased};
use crate::status::Status;

/// A client call as a tower service: what call-level layers ([`crate::ClientBuilder::layer`])
/// wrap. Layers here run once per call, above the balancer's pick, so a retry picks again.
pub type CallService = BoxedService<ClientRequest, ClientResponse>;

/// One attempt of a call on the instance the balancer picked: what attempt-level layers
/// ([`crate::ClientBuilder::attempt_layer`]) wrap. A call retried by a call-level layer
/// makes one attempt per try.
pub type AttemptService = BoxedService<Attempt, ClientResponse>;

/// One attempt of a call: the request and the connection it goes out on, already chosen.
///
/// `addr` names the instance (for a per-instance breaker's key or a metric's label) and
/// `load` is the load the client keeps for it — a breaker sets
/// [`Load::set_breaker_open`] there so that balancers and the pick skip the instance.
pub struct Attempt {
    /// The request, as the call-level layers passed it on.
    pub request: ClientRequest,
    conn: Arc<ClientConn>,
    client: Client,
    /// A breaker's ticket left to the wire by a breaker layer right above it, so that the
    /// attempt's outcome is counted without a future of the breaker's own around the
    /// wire's (one boxed future per attempt instead of two).
    pub(crate) ticket: Option<Ticket>,
}

impl Attempt {
    /// The address of the instance this attempt goes to.
    pub fn addr(&self) -> &Address {
        self.conn.peer()
    }

    /// The instance's live load: kept for a discovered service's instances, `None` for a
    /// client of one address.
    pub fn load(&self) -> Option<&Arc<Load>> {
        self.conn.load()
    }

    /// Close the connection this attempt would go out on at once, as a reset would: every
    /// call on it fails `unavailable`, and the client dials a new one for the next call. For
    /// chaos drills and fault injection (`erpc::testing`'s `Fault::reset`).
    pub fn abort_connection(&self) {
        self.conn
            .abort("the connection was aborted (Attempt::abort_connection)");
    }
}

impl std::fmt::Debug for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempt")
            .field("addr", self.addr())
            .field("request", &self.request)
            .finish_non_exhaustive()
    }
}

impl Attempt {
    /// The client's observer, if it has one.
    pub(crate) fn observer(&self) -> Option<&Arc<dyn crate::observe::Observer>> {
        self.client.observer()
    }

    pub(crate) fn new(request: ClientRequest, conn: Arc<ClientConn>, client: Client) -> Self {
        Attempt {
            request,
            conn,
            client,
            ticket: None,
        }
    }
}

/// The bottom of the call-level stack: the pick, then the attempt-level stack (if any) or
/// the wire. Holds the client weakly: the client holds the stack.
#[derive(Clone)]
pub(crate) struct Route(pub(crate) Weak<Inner>);

impl Route {
    /// The client, unless it was dropped.
    pub(crate) fn client(&self) -> Option<Client> {
        self.0.upgrade().map(|inner| Client { inner })
    }
}

impl Erased<ClientRequest, ClientResponse> for Route {
    fn oneshot(
        &self,
        request: ClientRequest,
    ) -> BoxFuture<'static, Result<ClientResponse, Status>> {
        let Some(client) = self.client() else {
            let dropped = Status::cancelled("the client was dropped mid-call");
            return Box::pin(std::future::ready(Err(dropped)));
        };
        client.send_boxed(request)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The bottom of the attempt-level stack: the wire, on the attempt's connection.
#[derive(Clone, Copy)]
pub(crate) struct Transmit;

impl Erased<Attempt, ClientResponse> for Transmit {
    fn oneshot(&self, attempt: Attempt) -> BoxFuture<'static, Result<ClientResponse, Status>> {
        let Attempt {
            request,
            conn,
            client,
            ticket,
        } = attempt;
        client.transmit(request, conn, ticket)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Where the layers hand a stream's opening back to the code that opens it: the request as
/// the layers passed it on and, if attempt-level layers ran, the connection they ran for.
/// Set by erpc on [`ClientRequest::opening`] of a stream's opening; empty otherwise.
#[doc(hidden)]
#[derive(Clone, Default)]
pub struct Opening(Option<Arc<Mutex<Option<Opened>>>>);

pub(crate) type Opened = (ClientRequest, Option<Arc<ClientConn>>);

impl std::fmt::Debug for Opening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Opening"
        } else {
            "NotOpening"
        })
    }
}

impl Opening {
    /// A slot to open a stream through.
    pub(crate) fn slot() -> Opening {
        Opening(Some(Arc::default()))
    }

    /// Whether this is a stream's opening passing through the layers.
    pub(crate) fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// The layers passed the opening on: keep the request (without its slot, which would
    /// otherwise hold itself) and the connection.
    pub(crate) fn put(&self, mut request: ClientRequest, conn: Option<Arc<ClientConn>>) {
        let opening = std::mem::take(&mut request.opening);
        if let Some(slot) = opening.0 {
            *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some((request, conn));
        }
    }

    /// What the layers passed on, if they did.
    pub(crate) fn take(&self) -> Option<Opened> {
        let slot = self.0.as_ref()?;
        slot.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}
