//! Rate limits on the server as a header-level hook: a token or leaky bucket
//! ([`Rate`]) for every call, or one per method — each refusal `resource_exhausted` with a
//! retry-after hint, decided before anything is decoded or spawned. A call allowed to wait
//! ([`Rate::max_wait`]) waits in its task, in a bounded first-come-first-served line, before
//! its body is decoded. Feature `rate-limit`; per peer: [`crate::server::PeerRateLimit`].

use std::sync::{Arc, Mutex};

use super::ServedMethods;
use super::admission::{Admission, Admitted, CallHead};
use crate::per_method::PerMethod;
use crate::rate::{Buckets, Rate, Turn};
use crate::status::Status;

/// Calls admitted at a [`Rate`]: one bucket for the whole server ([`RateLimit::global`]), or
/// per method ([`RateLimit::per_method`]). Add both hooks for both limits. The built-in
/// services `erpc.Health` and `erpc.Reflection` are outside the default rate (a load
/// balancer's health checks or `erpc call`'s describe never use up the application's calls):
/// they are limited only by a rate given to them by name (`"erpc.Health.*"`).
///
/// ```
/// # use erpc_core as erpc;
/// use std::time::Duration;
/// use erpc::per_method::PerMethod;
/// use erpc::rate::Rate;
/// use erpc::server::RateLimit;
///
/// // 5,000 calls/s in all; `Bank.Transfer` 100/s, each waiting up to 50 ms for its turn.
/// let global = RateLimit::global(Rate::per_second(5_000))?;
/// let transfer = Rate::per_second(100).burst(10).max_wait(Duration::from_millis(50));
/// let methods = RateLimit::per_method(PerMethod::new(None).method("Bank", "transfer", Some(transfer)))?;
/// let server = erpc::Server::builder().admission(global).admission(methods);
/// # let _ = server; Ok::<(), erpc::Status>(())
/// ```
#[derive(Clone)]
pub struct RateLimit {
    buckets: Arc<Buckets>,
    /// What the servers this hook is on serve ([`Admission::serving`]), for
    /// [`RateLimit::set_rates`] to check names against; `None` before any server started.
    served: Arc<Mutex<Option<ServedMethods>>>,
    /// What errors about its names call it ([`RateLimit::setting_name`]).
    setting: &'static str,
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit").finish_non_exhaustive()
    }
}

impl RateLimit {
    /// One bucket shared by every call of the server. Errors: `invalid_argument` for a zero
    /// rate or burst.
    pub fn global(rate: Rate) -> Result<RateLimit, Status> {
        RateLimit::per_method(PerMethod::new(Some(rate)))
    }

    /// A bucket per value set: a method's own rate is its own bucket; a service's rate is
    /// one bucket shared by that service's methods without their own; the default (`None`:
    /// no limit) one bucket shared by every other call. Errors: `invalid_argument` naming
    /// the first invalid rate.
    pub fn per_method(rates: PerMethod<Option<Rate>>) -> Result<RateLimit, Status> {
        Ok(RateLimit {
            buckets: Arc::new(Buckets::new(rates, "server")?),
            served: Arc::default(),
            setting: "RateLimit",
        })
    }

    /// Call it `name` in errors about the services and methods it names (default
    /// `"RateLimit"`): erpc-config gives the key it came from, `server.rate_limit.methods`,
    /// so a misspelt method at start-up reads `server.rate_limit.methods: "Stock.reserv"
    /// names method "reserv", which service "Stock" does not have (it has "reserve")`.
    pub fn setting_name(mut self, name: &'static str) -> RateLimit {
        self.setting = name;
        self
    }

    /// Calls waiting for their turn now (admitted to a line, not yet through). They hold no
    /// slot of any cap meanwhile (see [`Admission::counts_running`]).
    pub fn waiting(&self) -> usize {
        self.buckets.waiting()
    }

    /// Use `rates` from now on (as [`RateLimit::per_method`] takes them) — how a live
    /// configuration changes them without a restart. New buckets start full; calls already
    /// waiting for a turn finish in the old ones. Errors: `invalid_argument` naming the
    /// first invalid rate, or — once the server has started — a service or method it does
    /// not serve (as `ServerBuilder::serve` refuses at start: a misspelt method would
    /// otherwise get no limit at all); the rates in force stay.
    pub fn set_rates(&self, rates: PerMethod<Option<Rate>>) -> Result<(), Status> {
        // Checked under the lock (a rare call, and `serving` takes it only at a start).
        if let Some(served) = &*self.served.lock().unwrap_or_else(|e| e.into_inner()) {
            served
                .check(&rates.named(self.setting))
                .map_err(Status::invalid_argument)?;
        }
        self.buckets.set(rates)
    }
}

impl Admission for RateLimit {
    fn refused_by(&self) -> crate::observe::RefusedBy {
        crate::observe::RefusedBy::RateLimit
    }

    fn names(&self) -> Vec<crate::per_method::Named> {
        self.buckets.named(self.setting)
    }

    fn serving(&self, served: &ServedMethods) {
        let mut known = self.served.lock().unwrap_or_else(|e| e.into_inner());
        known
            .get_or_insert_with(ServedMethods::default)
            .merge(served);
    }

    fn admit(&self, call: &CallHead<'_>) -> Result<Admitted, Status> {
        // The built-in services (health checks from load balancers, a tool's reflection) are
        // outside the default rate: limited only by a rate given to them by name.
        let bucket = if super::built_in::is_built_in(call.service) {
            self.buckets.get_own(call.service, call.method)
        } else {
            self.buckets.get(call.service, call.method)
        };
        let Some(bucket) = bucket else {
            return Ok(Admitted::now());
        };
        match bucket.turn(call.deadline) {
            Turn::Now => Ok(Admitted::now()),
            Turn::Wait(place) => Ok(Admitted::now().after(place.wait())),
            Turn::Refused(status) => Err(status),
        }
    }
}
