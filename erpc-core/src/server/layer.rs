//! The server's layer stack (see [`crate::layer`]): tower layers over [`HandlerService`]
//! around each service's handler, applied once per service when the server starts.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::layer::{BoxedService, Erased, Stack};
use crate::server::service::StreamOpening;
use crate::server::{Request, Response, Service, StreamRequest};
use crate::status::Status;
use crate::stream::ResponseStream;

/// A server call as a tower service: what server layers ([`crate::ServerBuilder::layer`])
/// wrap. It runs after the call was admitted (header-level hooks) in the call's own task,
/// before the body is decoded.
pub type HandlerService = BoxedService<Request, Response>;

/// A service with the server's layers around it: what the server registers in its place, so
/// the engine's call path is the same with layers as without.
pub(crate) struct Layered {
    inner: Arc<dyn Service>,
    chain: HandlerService,
}

impl Layered {
    /// `inner` wrapped in `layers`, or `inner` itself if there are none.
    pub(crate) fn wrap(
        inner: Arc<dyn Service>,
        layers: &Stack<Request, Response>,
    ) -> Arc<dyn Service> {
        match layers.wrap(Handler(inner.clone())) {
            None => inner,
            Some(chain) => Arc::new(Layered { inner, chain }),
        }
    }
}

impl Service for Layered {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn methods(&self) -> &[&'static str] {
        self.inner.methods()
    }

    fn descriptor(&self) -> Option<&'static crate::reflection::ServiceDescriptor> {
        self.inner.descriptor()
    }

    fn call(&self, request: Request) -> BoxFuture<'_, Result<Response, Status>> {
        self.chain.oneshot(request)
    }

    /// The layers see the opening (an empty-bodied [`Request`] with
    /// [`Request::is_stream`]); what they pass on reaches the streaming handler.
    fn stream(&self, request: StreamRequest) -> BoxFuture<'_, Result<ResponseStream, Status>> {
        Box::pin(async move {
            let (context, codec, codecs, incoming) = request.into_raw();
            let opening = StreamOpening::default();
            let open = Request::stream_open(context, codec, codecs.clone(), opening.clone());
            self.chain.oneshot(open).await?;
            match opening.take() {
                Some(context) => {
                    let request = StreamRequest::new(context, codec, codecs, incoming);
                    self.inner.stream(request).await
                }
                // A layer answered for the handler: there is nothing to answer a stream with
                // (an empty stream would pass for success, and a client stream's single
                // response would be missing), so the call fails, naming why.
                None => Err(Status::internal(
                    "a server layer answered a streaming call without passing its opening on",
                )),
            }
        })
    }
}

/// The bottom of a service's stack: the handler, or for a stream's opening the slot that
/// hands the context back to [`Layered::stream`].
#[derive(Clone)]
struct Handler(Arc<dyn Service>);

impl Erased<Request, Response> for Handler {
    fn oneshot(&self, mut request: Request) -> BoxFuture<'static, Result<Response, Status>> {
        if let Some(opening) = request.take_opening() {
            opening.put(request.into_context());
            return Box::pin(std::future::ready(Ok(Response::default())));
        }
        let service = self.0.clone();
        Box::pin(async move { service.call(request).await })
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
