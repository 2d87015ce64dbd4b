//! Client rate limits as a call-level layer: a token or leaky bucket ([`Rate`]) for every
//! call of the client or one per method. A call over the rate waits for its turn up to the
//! rate's maximum wait (KRPC's `WaitMaxDuration`) and its own deadline, or fails at once
//! with `resource_exhausted` and a retry-after hint — without being sent. Feature
//! `rate-limit`.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tower_layer::Layer;

use crate::client::{CallService, ClientRequest, ClientResponse};
use crate::layer::{Around, AroundLayer, BoxedService, ErasableLayer};
use crate::per_method::PerMethod;
use crate::rate::{Buckets, Rate};
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
/// let methods = ClientRateLimit::per_method(PerMethod::new(None).method("Search", "Query", Some(query)))?;
/// let client = erpc::Client::builder().layer(all).layer(methods).build("mem://rate-docs").unwrap();
/// # let _ = client; Ok::<(), erpc::Status>(())
/// ```
#[derive(Clone)]
pub struct ClientRateLimit {
    buckets: Arc<Buckets>,
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
            buckets: Arc::new(Buckets::new(rates, "client")?),
        })
    }

    /// Use `rates` from now on (as [`ClientRateLimit::per_method`] takes them), for every
    /// client built with this layer — how a live configuration changes them without a
    /// restart. New buckets start full; calls already waiting for a turn finish in the old
    /// ones. Errors: `invalid_argument` naming the first invalid rate; the rates in force
    /// stay.
    pub fn set_rates(&self, rates: PerMethod<Option<Rate>>) -> Result<(), Status> {
        self.buckets.set(rates)
    }
}

impl Around<ClientRequest, ClientResponse> for Buckets {
    fn around(
        self: Arc<Self>,
        request: ClientRequest,
        rest: CallService,
    ) -> BoxFuture<'static, Result<ClientResponse, Status>> {
        Box::pin(async move {
            let bucket = self.get(&request.service, &request.method);
            if let Some(bucket) = bucket {
                bucket.acquire(request.deadline).await?;
            }
            rest.oneshot(request).await
        })
    }
}

impl ErasableLayer<ClientRequest, ClientResponse> for ClientRateLimit {
    fn erase(&self, inner: CallService) -> CallService {
        BoxedService::new(AroundLayer(self.buckets.clone()).layer(inner))
    }
}
