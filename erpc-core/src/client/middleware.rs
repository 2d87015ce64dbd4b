//! Client middleware ([`ClientMiddleware`]): a call-level layer written as one async
//! function, for code that is simpler that way than as a tower `Service`.

use std::marker::PhantomData;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::client::{CallService, ClientRequest, ClientResponse};
use crate::layer::{Around, AroundLayer};
use crate::status::Status;

/// Client middleware: sees every outgoing call, can add metadata, retry, time or refuse it.
/// Added with [`crate::ClientBuilder::middleware`], it is a call-level layer (see
/// [`crate::layer`]) and costs what one does.
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

/// The rest of a client chain: further layers, the pick, then the wire. Clone it (and the
/// request) to run the rest more than once, as a retry does.
#[derive(Clone)]
pub struct ClientNext<'a> {
    rest: CallService,
    _chain: PhantomData<&'a ()>,
}

impl ClientNext<'_> {
    /// Run the rest of the chain.
    pub async fn run(self, request: ClientRequest) -> Result<ClientResponse, Status> {
        self.rest.oneshot(request).await
    }
}

impl<M: ClientMiddleware> Around<ClientRequest, ClientResponse> for M {
    fn around(
        self: Arc<Self>,
        request: ClientRequest,
        rest: CallService,
    ) -> BoxFuture<'static, Result<ClientResponse, Status>> {
        Box::pin(async move {
            let next = ClientNext {
                rest,
                _chain: PhantomData,
            };
            self.call(request, next).await
        })
    }
}

/// `middleware` as a call-level layer.
pub(crate) fn layer<M: ClientMiddleware>(middleware: M) -> AroundLayer<M> {
    AroundLayer(Arc::new(middleware))
}
