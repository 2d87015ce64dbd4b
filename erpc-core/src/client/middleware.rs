//! Client middleware ([`ClientMiddleware`]): code that wraps every call a client makes,
//! before it goes on the wire.

use std::sync::{Arc, Mutex};

use crate::client::{Client, ClientRequest, ClientResponse};
use crate::status::Status;

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
