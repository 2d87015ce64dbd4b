//! Server middleware ([`Middleware`]): a server layer written as one async function, for
//! code that is simpler that way than as a tower `Service`. See [`crate::middleware`] for an
//! example.

use std::marker::PhantomData;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::layer::{Around, AroundLayer};
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
#[derive(Clone)]
pub struct Next<'a> {
    rest: HandlerService,
    _chain: PhantomData<&'a ()>,
}

impl Next<'_> {
    /// Run the rest of the chain.
    pub async fn run(self, request: Request) -> Result<Response, Status> {
        self.rest.oneshot(request).await
    }
}

impl<M: Middleware> Around<Request, Response> for M {
    fn around(
        self: Arc<Self>,
        request: Request,
        rest: HandlerService,
    ) -> BoxFuture<'static, Result<Response, Status>> {
        Box::pin(async move {
            let next = Next {
                rest,
                _chain: PhantomData,
            };
            self.call(request, next).await
        })
    }
}

/// `middleware` as a server layer.
pub(crate) fn layer<M: Middleware>(middleware: M) -> AroundLayer<M> {
    AroundLayer(Arc::new(middleware))
}
