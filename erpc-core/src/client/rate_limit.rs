//! Client rate limits as a call-level layer: a token or leaky bucket ([`Rate`]) for every
//! call of the client or one per method. A call over the rate waits for its turn up to the
//! rate's maximum wait (KRPC's `WaitMaxDuration`) and its own deadline, or fails at once
//! with `resource_exhausted` and a retry-after hint — without being sent. Feature
//! `rate-limit`.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::time::Instant;
use tower_layer::Layer;

use crate::client::observed::tell;
use crate::client::{CallService, ClientRequest, ClientResponse};
use crate::layer::{Around, AroundLayer, BoxedService, ErasableLayer};
use crate::observe::{Contained, Observer, RefusedBy, Side};
use crate::per_method::PerMethod;
use crate::rate::{Buckets, Rate, Turn};
use crate::status::Status;

/// Calls of a client held to a [`Rate`]: one bucket for the whole client
/// ([`ClientRateLimit::new`]) or per method ([`ClientRateLimit::per_method`]); added with
/// [`ClientBuilder::layer`](crate::ClientBuilder::layer). Layers above it (a retry) see its
/// refusals; each retry takes a turn of its own.
///
/// ```
/// # use erpc_core as erpc;
/// use std::time::Duration;
/// use erpc::client::ClientRateLimit;
/// use erpc::per_method::PerMethod;
/// use erpc::rate::Rate;
///
/// // 200 calls/s from this client, waiting up to 20 ms for a turn; `Search.Query` paced
/// // evenly at 10/s, waiting up to a second.
/// let all = ClientRateLimit::new(Rate::per_second(200).max_wait(Duration::from_millis(20)))?;
/// let query = Rate::per_second(10).leaky().max_wait(Duration::from_secs(1));
/// let methods = ClientRateLimit::per_method(PerMethod::new(None).method("Search", "query", Some(query)))?;
/// let client = erpc::Client::builder().layer(all).layer(methods).build("mem://rate-docs").unwrap();
/// # let _ = client; Ok::<(), erpc::Status>(())
/// ```
#[derive(Clone)]
pub struct ClientRateLimit {
    limits: Arc<Limits>,
}

/// The buckets, and whom refusals and waits are told.
struct Limits {
    buckets: Arc<Buckets>,
    observer: Option<Arc<dyn Observer>>,
}

impl std::fmt::Debug for ClientRateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRateLimit").finish_non_exhaustive()
    }
}

impl ClientRateLimit {
    /// One bucket for every call of the client. Errors: `invalid_argument` for a zero rate
    /// or burst.
    pub fn new(rate: Rate) -> Result<ClientRateLimit, Status> {
        ClientRateLimit::per_method(PerMethod::new(Some(rate)))
    }

    /// A bucket per value set: a method's own rate is its own bucket; a service's rate is
    /// one bucket shared by that service's methods without their own; the default (`None`:
    /// no limit) one bucket shared by every other call. Errors: `invalid_argument` naming
    /// the first invalid rate.
    pub fn per_method(rates: PerMethod<Option<Rate>>) -> Result<ClientRateLimit, Status> {
        Ok(ClientRateLimit {
            limits: Arc::new(Limits {
                buckets: Arc::new(Buckets::new(rates, "client")?),
                observer: None,
            }),
        })
    }

    /// Use `rates` from now on (as [`ClientRateLimit::per_method`] takes them), for every
    /// client built with this layer — how a live configuration changes them without a
    /// restart. New buckets start full; calls already waiting for a turn finish in the old
    /// ones. Errors: `invalid_argument` naming the first invalid rate; the rates in force
    /// stay.
    pub fn set_rates(&self, rates: PerMethod<Option<Rate>>) -> Result<(), Status> {
        self.limits.buckets.set(rates)
    }

    /// Report each refusal ([`Observer::call_refused`], [`RefusedBy::RateLimit`]) and each
    /// call that waited for its turn ([`Observer::rate_limit_waited`]) to `observer`, on the
    /// client side (the client's own observer does not see a layer's events). The buckets
    /// (and [`ClientRateLimit::set_rates`]) are shared with `self`; clients built with
    /// `self` keep reporting nowhere.
    pub fn observer(self, observer: impl Observer) -> ClientRateLimit {
        ClientRateLimit {
            limits: Arc::new(Limits {
                buckets: self.limits.buckets.clone(),
                observer: Some(Contained::wrap(observer)),
            }),
        }
    }
}

impl Around<ClientRequest, ClientResponse> for Limits {
    fn around(
        self: Arc<Self>,
        request: ClientRequest,
        rest: CallService,
    ) -> BoxFuture<'static, Result<ClientResponse, Status>> {
        Box::pin(async move {
            let bucket = self.buckets.get(&request.service, &request.method);
            if let Some(bucket) = bucket {
                let waited = match bucket.turn(request.deadline) {
                    Turn::Now => Ok(None),
                    Turn::Wait(place) => {
                        let started = Instant::now();
                        place.wait().await.map(|()| Some(started.elapsed()))
                    }
                    Turn::Refused(status) => Err(status),
                };
                match waited {
                    Ok(None) => {}
                    Ok(Some(waited)) => tell(self.observer.as_ref(), &request, |o, call| {
                        o.rate_limit_waited(Side::Client, call, waited)
                    }),
                    Err(refused) => {
                        tell(self.observer.as_ref(), &request, |o, call| {
                            o.call_refused(Side::Client, call, RefusedBy::RateLimit)
                        });
                        // Marked: another instance would not help this client's own limit.
                        return Err(refused.from_client_limit());
                    }
                }
            }
            rest.oneshot(request).await
        })
    }
}

impl ErasableLayer<ClientRequest, ClientResponse> for ClientRateLimit {
    fn erase(&self, inner: CallService) -> CallService {
        BoxedService::new(AroundLayer(self.limits.clone()).layer(inner))
    }
}
