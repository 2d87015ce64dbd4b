//! Middleware: code that wraps every call, on the server ([`Middleware`]) and on the client
//! ([`ClientMiddleware`]). Rate limits, breakers, tracing and metrics are built as middleware.
//!
//! Middleware sees calls in their untyped form, before the body is decoded, so a check such
//! as authentication rejects a call without paying for its body. An empty chain costs
//! nothing: the engine calls the service directly.
//!
//! ```
//! # use erpc_core as erpc;
//! use erpc::{Middleware, Next, Request, Response, Status};
//!
//! /// Refuses calls without the right token.
//! struct RequireToken(&'static str);
//!
//! #[async_trait::async_trait]
//! impl Middleware for RequireToken {
//!     async fn call(&self, request: Request, next: Next<'_>) -> Result<Response, Status> {
//!         match request.context().metadata().get_str("authorization") {
//!             Some(token) if token == self.0 => next.run(request).await,
//!             _ => Err(Status::unauthenticated("missing or wrong token")),
//!         }
//!     }
//! }
//! ```

use std::sync::{Arc, Mutex};

use crate::client::{Client, ClientRequest, ClientResponse};
use crate::server::{Request, Response, Service};
use crate::status::Status;

/// Server middleware. See the module docs for an example.
#[async_trait::async_trait]
pub trait Middleware: Send + Sync + 'static {
    /// Handle `request`, usually by passing it on with `next.run(request)`.
    async fn call(&self, request: Request, next: Next<'_>) -> Result<Response, Status>;
}

/// The rest of a server chain: further middleware, then the service.
pub struct Next<'a> {
    chain: &'a [Arc<dyn Middleware>],
    end: End<'a>,
}

/// What the end of a chain does.
#[derive(Clone, Copy)]
enum End<'a> {
    /// Call the service.
    Service(&'a dyn Service),
    /// The opening of a stream passed every middleware: hand the request back to the engine,
    /// which runs the streaming handler with it.
    Opened(&'a Mutex<Option<Request>>),
}

impl<'a> Next<'a> {
    pub(crate) fn new(chain: &'a [Arc<dyn Middleware>], service: &'a dyn Service) -> Self {
        Next {
            chain,
            end: End::Service(service),
        }
    }

    /// A chain for a stream's opening, which ends by putting the request in `opened`.
    pub(crate) fn for_stream(
        chain: &'a [Arc<dyn Middleware>],
        opened: &'a Mutex<Option<Request>>,
    ) -> Self {
        Next {
            chain,
            end: End::Opened(opened),
        }
    }

    /// Run the rest of the chain.
    pub async fn run(self, request: Request) -> Result<Response, Status> {
        match self.chain.split_first() {
            Some((first, rest)) => {
                let next = Next {
                    chain: rest,
                    end: self.end,
                };
                first.call(request, next).await
            }
            None => match self.end {
                End::Service(service) => service.call(request).await,
                End::Opened(opened) => {
                    *opened.lock().unwrap_or_else(|p| p.into_inner()) = Some(request);
                    Ok(Response::default())
                }
            },
        }
    }
}

/// Client middleware: sees every outgoing call, can add metadata, retry, time or refuse it.
///
/// ```
/// # use erpc_core as erpc;
/// use erpc::{ClientMiddleware, ClientNext, ClientRequest, ClientResponse, Status};
///
/// /// Adds a token to every call.
/// struct AddToken(&'static str);
///
/// #[async_trait::async_trait]
/// impl ClientMiddleware for AddToken {
///     async fn call(&self, mut request: ClientRequest, next: ClientNext<'_>)
///         -> Result<ClientResponse, Status> {
///         request.metadata.set("authorization", self.0);
///         next.run(request).await
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait ClientMiddleware: Send + Sync + 'static {
    /// Handle `request`, usually by passing it on with `next.run(request)`.
    async fn call(
        &self,
        request: ClientRequest,
        next: ClientNext<'_>,
    ) -> Result<ClientResponse, Status>;
}

/// The rest of a client chain: further middleware, then the wire.
pub struct ClientNext<'a> {
    chain: &'a [Arc<dyn ClientMiddleware>],
    client: &'a Client,
    opened: Option<&'a Mutex<Option<ClientRequest>>>,
}

impl<'a> ClientNext<'a> {
    pub(crate) fn new(chain: &'a [Arc<dyn ClientMiddleware>], client: &'a Client) -> Self {
        ClientNext {
            chain,
            client,
            opened: None,
        }
    }

    /// A chain for a stream's opening, which ends by putting the request in `opened`
    /// instead of sending it: the engine opens the stream with it.
    pub(crate) fn for_stream(
        chain: &'a [Arc<dyn ClientMiddleware>],
        client: &'a Client,
        opened: &'a Mutex<Option<ClientRequest>>,
    ) -> Self {
        ClientNext {
            chain,
            client,
            opened: Some(opened),
        }
    }

    /// Run the rest of the chain.
    pub async fn run(self, request: ClientRequest) -> Result<ClientResponse, Status> {
        match self.chain.split_first() {
            Some((first, rest)) => {
                let next = ClientNext {
                    chain: rest,
                    client: self.client,
                    opened: self.opened,
                };
                first.call(request, next).await
            }
            None => match self.opened {
                Some(opened) => {
                    *opened.lock().unwrap_or_else(|p| p.into_inner()) = Some(request);
                    Ok(ClientResponse::default())
                }
                None => self.client.send(request).await,
            },
        }
    }
}
