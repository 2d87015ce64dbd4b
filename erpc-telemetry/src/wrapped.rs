//! The shape erpc-telemetry's layers share: a stateless layer (a unit struct) whose service
//! passes readiness through to the service it wraps and does its work around each call — a
//! span, an access-log line. Written once here; each layer says only what it does per call.

use std::task::{Context as TaskContext, Poll};

use erpc_core::layer::Service;
use futures_util::future::BoxFuture;

/// What a layer does with each call: `call` `request` on `inner` (it was made ready), with
/// its work around it.
pub trait AroundCall<Req, S: Service<Req>>: Copy {
    /// The call's future, wrapped.
    fn call(self, inner: &mut S, request: Req)
    -> BoxFuture<'static, Result<S::Response, S::Error>>;
}

/// The service of one of erpc-telemetry's layers (`AccessLog`, `ServerTracing`,
/// `ClientTracing`) over `S`: ready when `S` is; each call goes through the layer, with the
/// same response and error as `S`.
#[derive(Debug, Clone)]
pub struct Wrapped<L, S> {
    layer: L,
    inner: S,
}

impl<L, S> Wrapped<L, S> {
    /// `inner` wrapped in `layer`.
    pub(crate) fn new(layer: L, inner: S) -> Self {
        Wrapped { layer, inner }
    }
}

impl<L, S, Req> Service<Req> for Wrapped<L, S>
where
    S: Service<Req>,
    L: AroundCall<Req, S>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        self.layer.call(&mut self.inner, request)
    }
}

/// `impl Layer<S> for $layer`, making [`Wrapped`] services.
macro_rules! wrapping_layer {
    ($layer:ty) => {
        impl<S> erpc_core::layer::Layer<S> for $layer {
            type Service = $crate::wrapped::Wrapped<$layer, S>;

            fn layer(&self, inner: S) -> Self::Service {
                $crate::wrapped::Wrapped::new(*self, inner)
            }
        }
    };
}
pub(crate) use wrapping_layer;
