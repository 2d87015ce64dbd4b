//! Layers: erpc's interception model is [`tower`](https://docs.rs/tower)'s `Service` and
//! `Layer`, on both sides, so layers written for tonic or axum (timeouts, concurrency limits,
//! load shedding, `tower::ServiceBuilder` stacks) work here unchanged.
//!
//! | where | request → response | added with | sees |
//! |---|---|---|---|
//! | client, above the pick | [`ClientRequest`] → [`ClientResponse`] ([`CallService`]) | [`ClientBuilder::layer`] | every call once: retry, hedge, fail modes, cache, rate limit, tracing |
//! | client, below the pick | [`Attempt`] → [`ClientResponse`] ([`AttemptService`]) | [`ClientBuilder::attempt_layer`] | each attempt with the instance it went to: per-instance breaker, per-attempt metrics |
//! | server, around the handler | [`Request`] → [`Response`] ([`HandlerService`]) | [`ServerBuilder::layer`] | every call after it was admitted, body not yet decoded: tracing, metrics, logging, slow-call log |
//!
//! Refusals that must cost no task and no decode are not layers but header-level hooks
//! ([`crate::server::Admission`]), and events without a call around them (connections,
//! refused frames) go to an [`Observer`](crate::observe::Observer).
//!
//! A streaming call passes through the layers once, at its opening, with an empty body
//! ([`ClientRequest::stream`], [`Request::is_stream`]); what a layer changes (metadata,
//! extensions) reaches the stream, and an error it returns ends the call before it opens.
//!
//! **Cost.** With no layers the engine calls the wire (client) or the handler (server)
//! directly: nothing is paid. Each layer added with `layer` is type-erased into a
//! [`BoxedService`]: per call one `Arc` clone of the layer's service and one boxed future.
//! Several layers stacked in one [`tower::ServiceBuilder`] and added with a single `layer`
//! call are erased once. A [`FailModes`] layer added last runs its first attempt's pick,
//! instance breaker and wire itself, in its own future (see its "Cost"). BENCHMARKS.md has
//! the measured cost.
//!
//! ```
//! # use erpc_core as erpc;
//! use std::task::{Context, Poll};
//! use erpc::{ClientRequest, ClientResponse, Status};
//!
//! /// Adds a token to every call (a hand-written tower layer).
//! #[derive(Clone)]
//! struct AddToken<S> { inner: S, token: &'static str }
//!
//! impl<S> tower_service::Service<ClientRequest> for AddToken<S>
//! where S: tower_service::Service<ClientRequest, Response = ClientResponse, Error = Status>
//! {
//!     type Response = ClientResponse;
//!     type Error = Status;
//!     type Future = S::Future;
//!     fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
//!         self.inner.poll_ready(cx)
//!     }
//!     fn call(&mut self, mut request: ClientRequest) -> Self::Future {
//!         request.metadata.set("authorization", self.token);
//!         self.inner.call(request)
//!     }
//! }
//!
//! let layer = tower_layer::layer_fn(|inner| AddToken { inner, token: "secret" });
//! let client = erpc::Client::builder().layer(layer).build("mem://docs-layer").unwrap();
//! ```
//!
//! **Good to know** (what tower users ask):
//! - Layers are applied when the client or server is built: a layer that spawns at
//!   construction (`tower::buffer::Buffer`) needs a runtime then.
//! - A call clones the stack (an `Arc` increment per erased layer), so a layer's service must
//!   be `Clone`; one that is not (`tower::limit::RateLimit`) goes behind a `Buffer`, as in
//!   any tower stack shared by concurrent callers.
//! - A stream's opening passes the layers once, and the `Ok` a client layer gets back means
//!   "passed on to be opened": STREAM_OPEN has no acknowledgement, so a refusal by the server
//!   arrives as the stream's first item. A layer that answers an opening itself, without
//!   passing it on, fails the call with `internal` on either side.
//! - Panics: in a server layer or handler, the call fails with `internal`; in a client
//!   layer, the panic reaches the caller (as in tower); in a header-level hook
//!   ([`crate::server::Admission`]), that call is refused `internal`; in a connection hook
//!   (`ServerBuilder::on_connect`), that connection is turned away; in an
//!   [`crate::observe::Observer`], the event is lost and logged. None of them stop the
//!   connection or the listener.
//!
//! For code that is easier to write as one async function, [`ClientMiddleware`] and
//! [`Middleware`] are the same layers in `async-trait` form (as axum's `from_fn`).
//!
//! [`ClientRequest`]: crate::ClientRequest
//! [`ClientRequest::stream`]: crate::ClientRequest::stream
//! [`ClientResponse`]: crate::ClientResponse
//! [`ClientBuilder::layer`]: crate::ClientBuilder::layer
//! [`ClientBuilder::attempt_layer`]: crate::ClientBuilder::attempt_layer
//! [`ServerBuilder::layer`]: crate::ServerBuilder::layer
//! [`Request`]: crate::Request
//! [`Request::is_stream`]: crate::Request::is_stream
//! [`Response`]: crate::Response
//! [`Attempt`]: crate::client::Attempt
//! [`CallService`]: crate::client::CallService
//! [`AttemptService`]: crate::client::AttemptService
//! [`HandlerService`]: crate::server::HandlerService
//! [`ClientMiddleware`]: crate::ClientMiddleware
//! [`FailModes`]: crate::client::FailModes
//! [`Middleware`]: crate::Middleware
//! [`tower::ServiceBuilder`]: https://docs.rs/tower/latest/tower/struct.ServiceBuilder.html

use std::sync::Arc;

/// The associated types and `poll_ready` of a tower service that is always ready, fails with
/// a [`Status`] and returns a boxed future of `$response`: what every service of erpc's own
/// layers declares.
macro_rules! always_ready_boxed {
    ($response:ty) => {
        type Response = $response;
        type Error = $crate::status::Status;
        type Future =
            ::futures_util::future::BoxFuture<'static, Result<$response, $crate::status::Status>>;

        fn poll_ready(
            &mut self,
            _: &mut ::std::task::Context<'_>,
        ) -> ::std::task::Poll<Result<(), $crate::status::Status>> {
            ::std::task::Poll::Ready(Ok(()))
        }
    };
}

use futures_util::future::BoxFuture;
pub use tower_layer::Layer;
pub use tower_service::Service;

use crate::status::Status;

/// A type-erased tower service from `Req` to `Resp` failing with [`Status`]: cheap to clone
/// (an `Arc`), always ready. What every erpc layer wraps and is erased into.
///
/// Calling it clones the wrapped service, waits for its `poll_ready` and calls it (tower's
/// `oneshot`), in one boxed future: a service ready at once is called at once, and its
/// future, if it already is a `BoxFuture` of this type (erpc's own layers'), is handed on
/// without a second box. The wrapped service may fail with any error that
/// converts into a `BoxError` — tower's own layers fail with one — which becomes a status
/// by [`status_of`].
pub struct BoxedService<Req, Resp> {
    inner: Arc<dyn Erased<Req, Resp>>,
}

impl<Req, Resp> Clone for BoxedService<Req, Resp> {
    fn clone(&self) -> Self {
        BoxedService {
            inner: self.inner.clone(),
        }
    }
}

impl<Req, Resp> std::fmt::Debug for BoxedService<Req, Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoxedService").finish_non_exhaustive()
    }
}

impl<Req: Send + 'static, Resp: 'static> BoxedService<Req, Resp> {
    /// Erase `service`.
    pub fn new<S>(service: S) -> Self
    where
        S: Service<Req, Response = Resp> + Clone + Send + Sync + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        BoxedService {
            inner: Arc::new(service),
        }
    }

    /// Erase a bottom of a stack (see [`Erased`]).
    pub(crate) fn from_erased(bottom: impl Erased<Req, Resp> + 'static) -> Self {
        BoxedService {
            inner: Arc::new(bottom),
        }
    }

    /// Run one request through the service.
    pub fn oneshot(&self, request: Req) -> BoxFuture<'static, Result<Resp, Status>> {
        self.inner.oneshot(request)
    }

    /// The erased service itself, to recognise one of erpc's own below a layer (the wire
    /// right under a breaker, the pick right under a fail mode) and run the two as one.
    pub(crate) fn as_any(&self) -> &dyn std::any::Any {
        self.inner.as_any()
    }
}

impl<Req, Resp> Service<Req> for BoxedService<Req, Resp> {
    always_ready_boxed!(Resp);

    fn call(&mut self, request: Req) -> Self::Future {
        self.inner.oneshot(request)
    }
}

/// The object-safe face of a cloneable tower service.
///
/// The bottoms of erpc's stacks implement it directly rather than as tower services: they
/// are always ready, so they skip the readiness wrapper and its boxed future.
pub(crate) trait Erased<Req, Resp>: Send + Sync {
    /// Run one request.
    fn oneshot(&self, request: Req) -> BoxFuture<'static, Result<Resp, Status>>;

    /// The service itself ([`BoxedService::as_any`]).
    fn as_any(&self) -> &dyn std::any::Any;
}

impl<S, Req, Resp> Erased<Req, Resp> for S
where
    S: Service<Req, Response = Resp> + Clone + Send + Sync + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    Req: Send + 'static,
    Resp: 'static,
{
    fn oneshot(&self, request: Req) -> BoxFuture<'static, Result<Resp, Status>> {
        let mut service = self.clone();
        // Most services are ready at once (erpc's own always are): then the call is made now,
        // and a future that already is a boxed one of this type (what erpc's own layers
        // return) is handed on as it is instead of being boxed again — one allocation per
        // layer per call instead of two. A service not ready yet is asked again, with the
        // caller's waker, when the future is first polled.
        let mut noop = std::task::Context::from_waker(std::task::Waker::noop());
        match service.poll_ready(&mut noop) {
            std::task::Poll::Ready(Ok(())) => {
                match same_type::<S::Future, BoxFuture<'static, Result<Resp, Status>>>(
                    service.call(request),
                ) {
                    Ok(boxed) => boxed,
                    Err(future) => Box::pin(async move { future.await.map_err(status_of) }),
                }
            }
            std::task::Poll::Ready(Err(error)) => {
                let status = status_of(error);
                Box::pin(async move { Err(status) })
            }
            std::task::Poll::Pending => Box::pin(async move {
                std::future::poll_fn(|cx| service.poll_ready(cx))
                    .await
                    .map_err(status_of)?;
                service.call(request).await.map_err(status_of)
            }),
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// `future` as a [`BoxFuture`]: handed on as it is when it already is one (what erpc's
/// erased stacks return), else boxed — so a layer that passes a call through untouched (not
/// sampled, filtered out, no breaker) adds no allocation of its own.
pub fn into_boxed<F, T>(future: F) -> BoxFuture<'static, T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: 'static,
{
    same_type::<F, BoxFuture<'static, T>>(future).unwrap_or_else(|future| Box::pin(future))
}

/// `value` as a `U` if `T` is `U` (the same type), else back as it was: a move, no
/// allocation.
pub(crate) fn same_type<T: 'static, U: 'static>(value: T) -> Result<U, T> {
    let mut slot = Some(value);
    if let Some(same) = (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<U>>() {
        if let Some(value) = same.take() {
            return Ok(value);
        }
    }
    match slot {
        Some(value) => Err(value),
        // Only taken above, where it returned.
        None => unreachable!("the value was taken only when its type matched"),
    }
}

/// The error type of tower's own layers (`tower::BoxError`).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The status a layer's error stands for: a [`Status`] anywhere in its `source()` chain as it
/// is; tower's timeout (`Elapsed`) `deadline_exceeded` and its load shedding (`Overloaded`)
/// `resource_exhausted`, recognised by their messages since erpc does not depend on tower
/// itself; anything else `unknown` with the error's text (as tonic's `Status::from_error`).
pub fn status_of(error: impl Into<BoxError>) -> Status {
    let error: BoxError = error.into();
    let error = match error.downcast::<Status>() {
        Ok(status) => return *status,
        Err(error) => error,
    };
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error.as_ref());
    while let Some(e) = source {
        if let Some(status) = e.downcast_ref::<Status>() {
            return status.clone();
        }
        source = e.source();
    }
    match error.to_string().as_str() {
        "request timed out" => {
            Status::deadline_exceeded("a layer's timeout elapsed (tower Timeout)")
        }
        "service overloaded" => {
            Status::resource_exhausted("a layer shed the call (tower LoadShed)")
        }
        text => Status::unknown(format!("a layer failed: {text}")),
    }
}

/// One async function around the rest of a chain: what a [`crate::Middleware`] or a
/// [`crate::ClientMiddleware`] is, made a layer by [`AroundLayer`] (as axum's `from_fn`).
pub(crate) trait Around<Req, Resp>: Send + Sync + 'static {
    /// Handle `request`, passing it on to `rest` or not.
    fn around(
        self: Arc<Self>,
        request: Req,
        rest: BoxedService<Req, Resp>,
    ) -> BoxFuture<'static, Result<Resp, Status>>;
}

/// An [`Around`] as a layer.
pub(crate) struct AroundLayer<M>(pub(crate) Arc<M>);

impl<M, Req, Resp> Layer<BoxedService<Req, Resp>> for AroundLayer<M> {
    type Service = WithAround<M, Req, Resp>;
    fn layer(&self, rest: BoxedService<Req, Resp>) -> Self::Service {
        WithAround {
            around: self.0.clone(),
            rest,
        }
    }
}

/// An [`Around`] over the rest of its chain.
pub(crate) struct WithAround<M, Req, Resp> {
    around: Arc<M>,
    rest: BoxedService<Req, Resp>,
}

impl<M, Req, Resp> Clone for WithAround<M, Req, Resp> {
    fn clone(&self) -> Self {
        WithAround {
            around: self.around.clone(),
            rest: self.rest.clone(),
        }
    }
}

impl<M: Around<Req, Resp>, Req, Resp> Service<Req> for WithAround<M, Req, Resp> {
    always_ready_boxed!(Resp);

    fn call(&mut self, request: Req) -> Self::Future {
        self.around.clone().around(request, self.rest.clone())
    }
}

/// A tower layer that erpc can add to one of its stacks: any `Layer` over
/// [`BoxedService<Req, Resp>`] whose service is `Clone + Send + Sync` (each call clones it),
/// fails with an error convertible into a [`BoxError`] and returns a `Send` future. What
/// `ClientBuilder::layer` (`Req` = `ClientRequest`), `ClientBuilder::attempt_layer`
/// (`Attempt`) and `ServerBuilder::layer` (`Request`) take; implemented for every such layer.
pub trait ErasableLayer<Req, Resp>: Send + Sync + 'static {
    /// `inner` wrapped in this layer, erased.
    fn erase(&self, inner: BoxedService<Req, Resp>) -> BoxedService<Req, Resp>;
}

impl<L, Req, Resp> ErasableLayer<Req, Resp> for L
where
    L: Layer<BoxedService<Req, Resp>> + Send + Sync + 'static,
    L::Service: Service<Req, Response = Resp> + Clone + Send + Sync + 'static,
    <L::Service as Service<Req>>::Error: Into<BoxError>,
    <L::Service as Service<Req>>::Future: Send + 'static,
    Req: Send + 'static,
    Resp: 'static,
{
    fn erase(&self, inner: BoxedService<Req, Resp>) -> BoxedService<Req, Resp> {
        BoxedService::new(self.layer(inner))
    }
}

/// Layers added one by one to a builder, applied when it builds: the first added runs
/// outermost (as in `tower::ServiceBuilder`).
pub(crate) struct Stack<Req, Resp> {
    layers: Vec<Arc<dyn ErasableLayer<Req, Resp>>>,
}

impl<Req, Resp> Default for Stack<Req, Resp> {
    fn default() -> Self {
        Stack { layers: Vec::new() }
    }
}

impl<Req, Resp> Clone for Stack<Req, Resp> {
    fn clone(&self) -> Self {
        Stack {
            layers: self.layers.clone(),
        }
    }
}

impl<Req: Send + 'static, Resp: 'static> Stack<Req, Resp> {
    /// Add `layer` inside the ones added before.
    pub(crate) fn push(&mut self, layer: impl ErasableLayer<Req, Resp>) {
        self.layers.push(Arc::new(layer));
    }

    /// `innermost` wrapped in every layer, or `None` if there are none (the caller then
    /// skips the erasure altogether).
    pub(crate) fn wrap(
        &self,
        innermost: impl Erased<Req, Resp> + 'static,
    ) -> Option<BoxedService<Req, Resp>> {
        if self.layers.is_empty() {
            return None;
        }
        let innermost = BoxedService::from_erased(innermost);
        Some(
            self.layers
                .iter()
                .rev()
                .fold(innermost, |inner, layer| layer.erase(inner)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::into_boxed;

    #[test]
    fn a_boxed_future_passes_as_it_is_and_another_is_boxed() {
        let boxed: futures_util::future::BoxFuture<'static, u8> = Box::pin(async { 7 });
        let address = &*boxed as *const _ as *const u8;
        let passed = into_boxed(boxed);
        assert_eq!(
            &*passed as *const _ as *const u8, address,
            "not boxed again"
        );
        let other = into_boxed(std::future::ready(8u8));
        assert_eq!(futures_util::FutureExt::now_or_never(other), Some(8));
    }

    use std::task::{Context, Poll};

    use super::*;

    /// Appends its name to the request on the way in.
    #[derive(Clone)]
    struct Tag<S>(S, &'static str);

    impl<S> Service<String> for Tag<S>
    where
        S: Service<String, Response = String, Error = Status>,
    {
        type Response = String;
        type Error = Status;
        type Future = S::Future;
        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
            self.0.poll_ready(cx)
        }
        fn call(&mut self, request: String) -> S::Future {
            self.0.call(request + self.1)
        }
    }

    #[derive(Clone)]
    struct Echo;

    impl Service<String> for Echo {
        type Response = String;
        type Error = Status;
        type Future = std::future::Ready<Result<String, Status>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, request: String) -> Self::Future {
            std::future::ready(Ok(request))
        }
    }

    /// Answers with a boxed future, as erpc's own layers do, and keeps its address.
    #[derive(Clone, Default)]
    struct Boxing(Arc<std::sync::atomic::AtomicUsize>);

    impl Service<String> for Boxing {
        always_ready_boxed!(String);
        fn call(&mut self, request: String) -> Self::Future {
            let future: Self::Future = Box::pin(async move { Ok(request) });
            let address = &*future as *const _ as *const () as usize;
            self.0.store(address, std::sync::atomic::Ordering::Relaxed);
            future
        }
    }

    #[tokio::test]
    async fn a_boxed_future_is_handed_on_not_boxed_again() {
        let boxing = Boxing::default();
        let service = BoxedService::new(boxing.clone());
        let future = service.oneshot("a".into());
        let handed = &*future as *const _ as *const () as usize;
        assert_eq!(
            handed,
            boxing.0.load(std::sync::atomic::Ordering::Relaxed),
            "the layer's own box, not a second one around it"
        );
        assert_eq!(future.await.ok(), Some("a".into()));
    }

    /// Not ready on its first poll (it wakes its task at once); counts its calls.
    #[derive(Clone, Default)]
    struct Late(
        Arc<std::sync::atomic::AtomicUsize>,
        Arc<std::sync::atomic::AtomicUsize>,
    );

    impl Service<String> for Late {
        type Response = String;
        type Error = Status;
        type Future = std::future::Ready<Result<String, Status>>;
        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
            if self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, request: String) -> Self::Future {
            self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            std::future::ready(Ok(request))
        }
    }

    #[tokio::test]
    async fn a_service_not_ready_at_once_is_called_once_it_is() {
        let late = Late::default();
        let service = BoxedService::new(late.clone());
        let future = service.oneshot("b".into());
        assert_eq!(
            late.1.load(std::sync::atomic::Ordering::Relaxed),
            0,
            "not called yet"
        );
        assert_eq!(future.await.ok(), Some("b".into()));
        assert_eq!(late.1.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn the_first_layer_added_runs_outermost() {
        let mut stack = Stack::<String, String>::default();
        assert!(stack.wrap(Echo).is_none(), "no layers, no erasure");
        stack.push(tower_layer::layer_fn(|inner| Tag(inner, "a")));
        stack.push(tower_layer::layer_fn(|inner| Tag(inner, "b")));
        let service = stack.wrap(Echo).expect("layers");
        assert_eq!(service.oneshot(String::new()).await.ok(), Some("ab".into()));
    }
}
