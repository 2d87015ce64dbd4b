//! Server middleware ([`Middleware`]): a server layer written as one async function, for
//! code that is simpler that way than as a tower `Service`. See [`crate::middleware`] for an
//! example.

use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;

use crate::layer::{Layer, Service};
use crate::server::{HandlerService, Request, Response};
use crate::status::Status;

/// Server middleware. Added with [`crate::ServerBuilder::middleware`], it is a server layer
/// (see [`crate::layer`]) and costs what one does. See the module docs for an example.
#[async_trait::async_trait]
pub trait Middleware: Send + Sync + 'static {
    /// Handle `request`, usually by passing it on with `next.run(request)`.
    async fn call(&self, request: Request, next: Next<'_>) -> Result<Response, Status>;
}

/// The rest of a server chain: further layers, then the service.
pub struct Next<'a> {
    inner: HandlerService,
    _chain: PhantomData<&'a ()>,
}

impl Next<'_> {
    /// Run the rest of the chain.
    pub async fn run(self, request: Request) -> Result<Response, Status> {
        self.inner.oneshot(request).await
    }
}

/// `middleware` as a server layer.
pub(crate) fn layer<M: Middleware>(middleware: M) -> MiddlewareLayer<M> {
    MiddlewareLayer(Arc::new(middleware))
}

pub(crate) struct MiddlewareLayer<M>(Arc<M>);

impl<M> Layer<HandlerService> for MiddlewareLayer<M> {
    type Service = WithMiddleware<M>;
    fn layer(&self, inner: HandlerService) -> WithMiddleware<M> {
        WithMiddleware {
            middleware: self.0.clone(),
            inner,
        }
    }
}

pub(crate) struct WithMiddleware<M> {
    middleware: Arc<M>,
    inner: HandlerService,
}

impl<M> Clone for WithMiddleware<M> {
    fn clone(&self) -> Self {
        WithMiddleware {
            middleware: self.middleware.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<M: Middleware> Service<Request> for WithMiddleware<M> {
    type Response = Response;
    type Error = Status;
    type Future = BoxFuture<'static, Result<Response, Status>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let middleware = self.middleware.clone();
        let next = Next {
            inner: self.inner.clone(),
            _chain: PhantomData,
        };
        Box::pin(async move { middleware.call(request, next).await })
    }
}
