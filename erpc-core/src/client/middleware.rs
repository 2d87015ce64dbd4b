//! Client middleware ([`ClientMiddleware`]): a call-level layer written as one async
//! function, for code that is simpler that way than as a tower `Service`.

use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;

use crate::client::{CallService, ClientRequest, ClientResponse};
use crate::layer::{Layer, Service};
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

/// The rest of a client chain: further layers, the pick, then the wire.
pub struct ClientNext<'a> {
    inner: CallService,
    _chain: PhantomData<&'a ()>,
}

impl ClientNext<'_> {
    /// Run the rest of the chain. May be called once; clone the request first to retry.
    pub async fn run(self, request: ClientRequest) -> Result<ClientResponse, Status> {
        self.inner.oneshot(request).await
    }
}

/// `middleware` as a call-level layer.
pub(crate) fn layer<M: ClientMiddleware>(middleware: M) -> MiddlewareLayer<M> {
    MiddlewareLayer(Arc::new(middleware))
}

pub(crate) struct MiddlewareLayer<M>(Arc<M>);

impl<M> Layer<CallService> for MiddlewareLayer<M> {
    type Service = WithMiddleware<M>;
    fn layer(&self, inner: CallService) -> WithMiddleware<M> {
        WithMiddleware {
            middleware: self.0.clone(),
            inner,
        }
    }
}

pub(crate) struct WithMiddleware<M> {
    middleware: Arc<M>,
    inner: CallService,
}

impl<M> Clone for WithMiddleware<M> {
    fn clone(&self) -> Self {
        WithMiddleware {
            middleware: self.middleware.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<M: ClientMiddleware> Service<ClientRequest> for WithMiddleware<M> {
    type Response = ClientResponse;
    type Error = Status;
    type Future = BoxFuture<'static, Result<ClientResponse, Status>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: ClientRequest) -> Self::Future {
        let middleware = self.middleware.clone();
        let next = ClientNext {
            inner: self.inner.clone(),
            _chain: PhantomData,
        };
        Box::pin(async move { middleware.call(request, next).await })
    }
}
