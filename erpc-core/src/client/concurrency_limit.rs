//! A client's cap on calls in flight, as a call-level layer: over it a call waits for a slot
//! up to a maximum wait (and its deadline), first come first served, or fails at once with
//! `resource_exhausted` — without being sent; a call whose deadline passes while it waits
//! fails `deadline_exceeded`, naming the cap.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::Semaphore;
use tower_layer::Layer;

use crate::client::observed::tell;
use crate::client::{CallService, ClientRequest, ClientResponse};
use crate::layer::{Around, AroundLayer, BoxedService, ErasableLayer};
use crate::observe::{Contained, Observer, RefusedBy, Side};
use crate::status::{Status, zero_cap};

/// At most `limit` calls of the client in flight at once, added with
/// [`ClientBuilder::layer`](crate::ClientBuilder::layer). A unary or oneway call holds its
/// slot until its answer (or failure) is back; a stream holds one only while it opens.
///
/// ```
/// # use erpc_core as erpc;
/// use std::time::Duration;
/// use erpc::client::ClientConcurrencyLimit;
///
/// // 64 calls in flight at most; a 65th waits up to 10 ms for one to finish.
/// let cap = ClientConcurrencyLimit::new(64)?.max_wait(Duration::from_millis(10));
/// let client = erpc::Client::builder().layer(cap).build("mem://cap-docs").unwrap();
/// # let _ = client;
/// # Ok::<(), erpc::Status>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClientConcurrencyLimit {
    state: Arc<Cap>,
}

struct Cap {
    slots: Arc<Semaphore>,
    limit: usize,
    max_wait: Duration,
    /// Told of each refusal.
    observer: Option<Arc<dyn Observer>>,
}

impl std::fmt::Debug for Cap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cap")
            .field("limit", &self.limit)
            .field("max_wait", &self.max_wait)
            .finish_non_exhaustive()
    }
}

impl ClientConcurrencyLimit {
    /// A cap of `limit` calls in flight; over it a call fails at once. Errors:
    /// `invalid_argument` for a cap of 0, which would refuse every call.
    pub fn new(limit: usize) -> Result<ClientConcurrencyLimit, Status> {
        if limit == 0 {
            return Err(zero_cap("ClientConcurrencyLimit::new(0)"));
        }
        let limit = limit.min(Semaphore::MAX_PERMITS);
        Ok(ClientConcurrencyLimit {
            state: Arc::new(Cap {
                slots: Arc::new(Semaphore::new(limit)),
                limit,
                max_wait: Duration::ZERO,
                observer: None,
            }),
        })
    }

    /// Over the cap, wait up to `wait` (within the call's deadline) for a slot. Default 0.
    /// A call still without a slot after `wait` fails `resource_exhausted`; one whose
    /// deadline comes first fails `deadline_exceeded`.
    ///
    /// # Panics
    /// If `wait` is above an hour ([`crate::config::MAX_WAIT`]: a call waiting longer would
    /// outlive any deadline worth giving it); the config file refuses it too.
    pub fn max_wait(self, wait: Duration) -> ClientConcurrencyLimit {
        if let Err(why) = crate::config::check_wait(wait, "for a slot") {
            panic!("ClientConcurrencyLimit::max_wait: max_wait {why}");
        }
        ClientConcurrencyLimit {
            state: Arc::new(Cap {
                slots: self.state.slots.clone(),
                limit: self.state.limit,
                max_wait: wait,
                observer: self.state.observer.clone(),
            }),
        }
    }

    /// Report each refusal to `observer` ([`Observer::call_refused`],
    /// [`RefusedBy::Concurrency`], client side; the client's own observer does not see a
    /// layer's events). The cap's slots are shared with `self`.
    pub fn observer(self, observer: impl Observer) -> ClientConcurrencyLimit {
        ClientConcurrencyLimit {
            state: Arc::new(Cap {
                slots: self.state.slots.clone(),
                limit: self.state.limit,
                max_wait: self.state.max_wait,
                observer: Some(Contained::wrap(observer)),
            }),
        }
    }

    /// Calls in flight now under this cap.
    pub fn in_flight(&self) -> usize {
        self.state.limit - self.state.slots.available_permits()
    }
}

impl Around<ClientRequest, ClientResponse> for Cap {
    fn around(
        self: Arc<Self>,
        request: ClientRequest,
        rest: CallService,
    ) -> BoxFuture<'static, Result<ClientResponse, Status>> {
        Box::pin(async move {
            let max_wait = self.max_wait;
            // How long the call could wait for a slot, if it had to wait at all.
            let mut could_wait = None;
            let slot = match self.slots.clone().try_acquire_owned() {
                Ok(slot) => Some(slot),
                Err(_) if max_wait.is_zero() => None,
                // Wait no longer than the call may: its deadline may come before max_wait.
                // Only a call that waits reads the clock (a read is ~25 ns, on every call).
                Err(_) => {
                    let left = request
                        .deadline
                        .saturating_duration_since(tokio::time::Instant::now());
                    could_wait = Some(left);
                    tokio::time::timeout(left.min(max_wait), self.slots.clone().acquire_owned())
                        .await
                        .ok()
                        .and_then(Result::ok)
                }
            };
            let Some(_slot) = slot else {
                tell(self.observer.as_ref(), &request, |o, call| {
                    o.call_refused(Side::Client, call, RefusedBy::Concurrency)
                });
                // Say which limit ended the wait: a refusal naming a max_wait that did not
                // apply (none set, or cut short by the deadline) misleads whoever tunes it.
                let why = match could_wait {
                    None => {
                        "refused at once: calls do not wait for a slot (no max_wait)".to_owned()
                    }
                    // The call's own deadline ended the wait: `deadline_exceeded`, as the
                    // call's deadline timer, racing this one to the same instant, says when
                    // it fires first (and as a rate limit's line says).
                    Some(left) if left < max_wait => {
                        return Err(Status::deadline_exceeded(format!(
                            "client: the call's deadline, {} away, passed while it waited for a \
                             slot ({} already in flight, ClientConcurrencyLimit; maximum wait {})",
                            crate::human::duration(left),
                            crate::human::count(self.limit, "call"),
                            crate::human::duration(max_wait)
                        ))
                        .from_client_limit());
                    }
                    Some(_) => format!(
                        "no slot freed within the maximum wait of {}",
                        crate::human::duration(max_wait)
                    ),
                };
                return Err(Status::resource_exhausted(format!(
                    "client: {} already in flight (ClientConcurrencyLimit; {why})",
                    crate::human::count(self.limit, "call"),
                ))
                .from_client_limit());
            };
            rest.oneshot(request).await
        })
    }
}

impl ErasableLayer<ClientRequest, ClientResponse> for ClientConcurrencyLimit {
    fn erase(&self, inner: CallService) -> CallService {
        BoxedService::new(AroundLayer(self.state.clone()).layer(inner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(
        expected = "ClientConcurrencyLimit::max_wait: max_wait must be at most 1h (the longest wait for a slot), got 7200 s"
    )]
    fn a_wait_above_an_hour_is_refused() {
        let _ = ClientConcurrencyLimit::new(4)
            .expect("a cap")
            .max_wait(Duration::from_secs(7200));
    }
}
