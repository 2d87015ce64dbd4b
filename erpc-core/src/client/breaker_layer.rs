//! Circuit breakers as client layers (the state machine is [`crate::client::breaker`]'s):
//!
//! - [`InstanceBreakers`], an attempt-level layer ([`crate::ClientBuilder::attempt_layer`]):
//!   one breaker per instance, for every method. An open breaker marks the instance's load
//!   ([`Load::set_breaker_open`](crate::discovery::Load::set_breaker_open)), so the
//!   balancer's pick skips it; when every instance's breaker is open a call fails at once
//!   with `unavailable` ("circuit breaker open: every instance of …").
//! - [`MethodBreakers`], a call-level layer ([`crate::ClientBuilder::layer`]): one breaker
//!   per method, over all instances, with settings per method
//!   ([`PerMethod`](crate::per_method::PerMethod)); while open, calls of that method fail at
//!   once with `unavailable` ("circuit breaker open: method S.m …") and nothing is sent.
//!
//! Kitex has the same two granularities (its instance and service breakers). A stream's
//! opening passes an open breaker's refusal like a call, but its outcome is not counted:
//! the `Ok` of an opening says nothing of the stream.
//!
//! ```
//! # use erpc_core as erpc;
//! use std::time::Duration;
//! use erpc::client::{BreakerSettings, InstanceBreakers, Trip};
//!
//! let breakers = InstanceBreakers::new(
//!     BreakerSettings::default()
//!         .trip(Trip::ErrorRate { rate: 0.5, min_calls: 20 })
//!         .open_timeout(Duration::from_secs(10)),
//! );
//! let builder = erpc::Client::builder().attempt_layer(breakers);
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context as TaskContext, Poll};

use erpc_transport::Address;
use futures_util::future::BoxFuture;
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

use crate::client::breaker::{Breaker, BreakerSettings, Scope, Ticket};
use crate::client::layer::Transmit;
use crate::client::observed::unsent;
use crate::client::{Attempt, AttemptService, ClientRequest, ClientResponse};
use crate::discovery::Load;
use crate::observe::{BreakerState, Contained, Observer};
use crate::per_method::PerMethod;
use crate::status::Status;

/// One circuit breaker per instance (see the module doc): give it to
/// [`crate::ClientBuilder::attempt_layer`]. Cloning shares the breakers: clients built with
/// clones share one breaker per instance (what one client learns of an instance guards the
/// others too), and each client is told when it opens, half-opens and closes.
#[derive(Clone)]
pub struct InstanceBreakers {
    shared: Arc<InstanceShared>,
}

struct InstanceShared {
    /// Names this layer's breakers on the instances' loads (`Load::attached`).
    id: u64,
    /// Replaced whole by [`InstanceBreakers::set_settings`].
    settings: RwLock<Arc<BreakerSettings>>,
    observer: Option<Arc<dyn Observer>>,
    /// Kept for every instance called: a client calls tens of instances, and a breaker
    /// forgotten while open would let its instance back in early.
    breakers: Mutex<HashMap<Address, Arc<Breaker>>>,
}

/// The next [`InstanceShared::id`]: process-wide, so two layers never share one.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl InstanceBreakers {
    /// A breaker with `settings` for each instance called.
    pub fn new(settings: BreakerSettings) -> InstanceBreakers {
        InstanceBreakers::build(settings, None)
    }

    /// Report every change of state to `observer` ([`Observer::breaker_changed`]; the
    /// client's own observer does not see a layer's events).
    pub fn observer(self, observer: impl Observer) -> InstanceBreakers {
        let settings = BreakerSettings::clone(&self.settings());
        InstanceBreakers::build(settings, Some(Contained::wrap(observer)))
    }

    fn build(settings: BreakerSettings, observer: Option<Arc<dyn Observer>>) -> Self {
        InstanceBreakers {
            shared: Arc::new(InstanceShared {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                settings: RwLock::new(Arc::new(settings)),
                observer,
                breakers: Mutex::default(),
            }),
        }
    }

    /// Use `settings` from now on, for the breakers of instances already called and those
    /// called later — how a live configuration changes them without a restart. A breaker
    /// keeps its state, and the new durations count from when that state began: an open
    /// breaker half-opens at its opening time plus the new open timeout (at once if that
    /// is past: a shorter timeout releases a breaker opened under a long one), a closed
    /// one's counts are cleared at its counting interval's start plus the new interval.
    pub fn set_settings(&self, settings: BreakerSettings) {
        let settings = Arc::new(settings);
        *self
            .shared
            .settings
            .write()
            .unwrap_or_else(|p| p.into_inner()) = settings.clone();
        // Changed outside the map's lock: a change of state is told to the observer.
        let made: Vec<Arc<Breaker>> = self.lock().values().cloned().collect();
        for breaker in made {
            breaker.set_settings(settings.clone());
        }
    }

    fn settings(&self) -> Arc<BreakerSettings> {
        // Replaced whole: a poisoned lock still holds whole settings.
        self.shared
            .settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The state of the breaker of the instance at `addr`, if it was called.
    pub fn state(&self, addr: &Address) -> Option<BreakerState> {
        let breaker = self.lock().get(addr).cloned();
        breaker.map(|b| b.state())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Address, Arc<Breaker>>> {
        // Inserts are whole: a poisoned map is still consistent.
        self.shared
            .breakers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The breaker of the instance at `addr` (whose load is `load`), made on its first call.
    ///
    /// The map by address is where breakers are kept (a re-registered instance gets a new
    /// load but keeps its breaker); each instance's load also holds its breaker, so the
    /// common attempt finds it there without the map's lock and hash.
    fn breaker_of(&self, addr: &Address, load: Option<&Arc<Load>>) -> Arc<Breaker> {
        // Found on the load: it follows that load already — it was attached below, after
        // following it — or a newer one of the same address, which it should keep following
        // (an attempt still on the re-registered instance's old load must not pull it back).
        if let Some(breaker) = load.and_then(|l| l.attached::<Breaker>(self.shared.id)) {
            return breaker;
        }
        let breaker = {
            let mut breakers = self.lock();
            match breakers.get(addr) {
                Some(breaker) => {
                    if let Some(load) = load {
                        breaker.follow_load(load);
                    }
                    breaker.clone()
                }
                None => {
                    let breaker = Breaker::new(
                        Scope::Instance(addr.to_string()),
                        self.settings(),
                        self.shared.observer.clone(),
                        load.cloned(),
                    );
                    breakers.insert(addr.clone(), breaker.clone());
                    breaker
                }
            }
        };
        if let Some(load) = load {
            load.attach(self.shared.id, breaker.clone());
        }
        breaker
    }
}

impl std::fmt::Debug for InstanceBreakers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceBreakers")
            .field("settings", &self.settings())
            .finish_non_exhaustive()
    }
}

/// One circuit breaker per method (see the module doc): give it to
/// [`crate::ClientBuilder::layer`]. Cloning shares the breakers.
#[derive(Clone)]
pub struct MethodBreakers {
    shared: Arc<MethodShared>,
}

struct MethodShared {
    /// `None` for a method without a breaker; replaced whole by
    /// [`MethodBreakers::set_settings`].
    settings: RwLock<Arc<PerMethod<Option<Arc<BreakerSettings>>>>>,
    observer: Option<Arc<dyn Observer>>,
    /// By service, then method, so that a lookup borrows the call's names.
    breakers: Mutex<HashMap<String, HashMap<String, Arc<Breaker>>>>,
}

impl MethodBreakers {
    /// A breaker for each method whose setting is `Some`: `PerMethod::new(None)` with
    /// `.method("S", "m", Some(settings))` guards one method, `PerMethod::new(Some(s))`
    /// every method.
    pub fn new(settings: PerMethod<Option<BreakerSettings>>) -> MethodBreakers {
        MethodBreakers::build(settings.map(|s| s.map(Arc::new)), None)
    }

    /// Report every change of state to `observer` ([`Observer::breaker_changed`]).
    pub fn observer(self, observer: impl Observer) -> MethodBreakers {
        let settings = PerMethod::clone(&self.settings());
        MethodBreakers::build(settings, Some(Contained::wrap(observer)))
    }

    fn build(
        settings: PerMethod<Option<Arc<BreakerSettings>>>,
        observer: Option<Arc<dyn Observer>>,
    ) -> Self {
        MethodBreakers {
            shared: Arc::new(MethodShared {
                settings: RwLock::new(Arc::new(settings)),
                observer,
                breakers: Mutex::default(),
            }),
        }
    }

    /// Use `settings` from now on: a method's breaker that exists keeps its state under its
    /// new settings, whose durations count from when that state began (as
    /// [`InstanceBreakers::set_settings`]: a shorter open timeout releases a breaker opened
    /// under a long one); one whose method has no breaker any more is dropped (its calls
    /// pass from now on). How a live configuration changes them.
    pub fn set_settings(&self, settings: PerMethod<Option<BreakerSettings>>) {
        let settings = Arc::new(settings.map(|s| s.map(Arc::new)));
        *self
            .shared
            .settings
            .write()
            .unwrap_or_else(|p| p.into_inner()) = settings.clone();
        let mut kept = Vec::new();
        {
            let mut breakers = self.lock();
            for (service, methods) in breakers.iter_mut() {
                methods.retain(|method, breaker| match settings.get(service, method) {
                    Some(new) => {
                        kept.push((breaker.clone(), new.clone()));
                        true
                    }
                    None => false,
                });
            }
        }
        // Changed outside the map's lock: a change of state is told to the observer.
        for (breaker, new) in kept {
            breaker.set_settings(new);
        }
    }

    fn settings(&self) -> Arc<PerMethod<Option<Arc<BreakerSettings>>>> {
        // Replaced whole: a poisoned lock still holds whole settings.
        self.shared
            .settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The state of `service.method`'s breaker, if it has one and was called.
    pub fn state(&self, service: &str, method: &str) -> Option<BreakerState> {
        let breaker = self
            .lock()
            .get(service)
            .and_then(|m| m.get(method))
            .cloned();
        breaker.map(|b| b.state())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashMap<String, Arc<Breaker>>>> {
        // Inserts are whole: a poisoned map is still consistent.
        self.shared
            .breakers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The method's breaker, made on its first call; `None` if it has no breaker.
    fn breaker(&self, service: &str, method: &str) -> Option<Arc<Breaker>> {
        let all = self.settings();
        let settings = all.get(service, method).as_ref()?;
        let mut breakers = self.lock();
        if let Some(breaker) = breakers.get(service).and_then(|m| m.get(method)) {
            return Some(breaker.clone());
        }
        let breaker = Breaker::new(
            Scope::Method(service.to_owned(), method.to_owned()),
            settings.clone(),
            self.shared.observer.clone(),
            None,
        );
        breakers
            .entry(service.to_owned())
            .or_default()
            .insert(method.to_owned(), breaker.clone());
        Some(breaker)
    }
}

impl std::fmt::Debug for MethodBreakers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MethodBreakers").finish_non_exhaustive()
    }
}

/// A service behind breakers of kind `B` (the layer's shared state).
#[derive(Clone)]
pub struct Guarded<S, B> {
    inner: S,
    breakers: B,
}

impl<S> Layer<S> for InstanceBreakers {
    type Service = Guarded<S, InstanceBreakers>;
    fn layer(&self, inner: S) -> Self::Service {
        Guarded {
            inner,
            breakers: self.clone(),
        }
    }
}

impl<S> Layer<S> for MethodBreakers {
    type Service = Guarded<S, MethodBreakers>;
    fn layer(&self, inner: S) -> Self::Service {
        Guarded {
            inner,
            breakers: self.clone(),
        }
    }
}

/// Run `call` under `ticket` (if any): count its outcome, unless it is a stream's opening.
async fn guarded<F>(ticket: Option<Ticket>, stream: bool, call: F) -> Result<ClientResponse, Status>
where
    F: std::future::Future<Output = Result<ClientResponse, Status>>,
{
    let result = call.await;
    match ticket {
        // Dropping it unfinished counts neither way.
        Some(ticket) if !stream => ticket.finish(&result),
        _ => {}
    }
    result
}

/// What a kind of breakers needs of a request: the breaker's admission (`None`: no breaker
/// for it) and whether it opens a stream.
pub trait Admits<Req>: Clone + Send + Sync + 'static {
    /// Let `request` through under its breaker (`Ok(None)`: it has none), or refuse it.
    fn admit(&self, request: &Req) -> Result<Option<Ticket>, Status>;
    /// Whether `request` opens a stream (its outcome is not counted).
    fn is_stream(request: &Req) -> bool;
    /// Leave `ticket` with `request` for the wire right below (`inner`) to count its
    /// outcome, if `inner` is that wire; else give it back. Default: give it back.
    fn leave<S: 'static>(request: &mut Req, ticket: Ticket, inner: &S) -> Option<Ticket> {
        let _ = (request, inner);
        Some(ticket)
    }
}

/// Whether `stack` is the wire itself, with no layer in between.
fn is_wire(stack: &AttemptService) -> bool {
    stack.as_any().is::<Transmit>()
}

impl InstanceBreakers {
    /// The breakers of an attempt stack that is these breakers right over the wire and
    /// nothing else (the common governed client's): then a fail mode's first attempt runs
    /// the admission itself, with the pick and the wire, instead of through the stack.
    pub(crate) fn alone_over_wire(stack: &AttemptService) -> Option<InstanceBreakers> {
        let guarded = stack
            .as_any()
            .downcast_ref::<Guarded<AttemptService, InstanceBreakers>>()?;
        is_wire(&guarded.inner).then(|| guarded.breakers.clone())
    }

    /// Let an attempt of `request` to the instance at `addr` (whose load is `load`) through
    /// its breaker, or refuse it, telling `observer` of the refusal (unless the request
    /// opens a stream).
    pub(crate) fn admit_to(
        &self,
        addr: &Address,
        load: Option<&Arc<Load>>,
        request: &ClientRequest,
        observer: Option<&Arc<dyn Observer>>,
        now: Instant,
    ) -> Result<Ticket, Status> {
        // Without the open time as a retry hint: it concerns this instance alone, and a fail
        // mode waits a hint before any retry — failing over to another instance must not.
        self.breaker_of(addr, load)
            .enter_at(now)
            .map_err(|refused| {
                let refused = Status::new(refused.code(), refused.message());
                // The attempt never reaches the wire, where the client's observer hears of
                // attempts: told here, as the engine tells of one it could not send, so an
                // error rate over the client's calls sees it. Streams are not calls there.
                let observer = observer.filter(|_| !request.stream);
                unsent(observer, &request.service, &request.method, None, refused)
            })
    }
}

impl Admits<Attempt> for InstanceBreakers {
    fn admit(&self, attempt: &Attempt) -> Result<Option<Ticket>, Status> {
        let (addr, load) = (attempt.addr(), attempt.load());
        self.admit_to(
            addr,
            load,
            &attempt.request,
            attempt.observer(),
            Instant::now(),
        )
        .map(Some)
    }
    fn is_stream(attempt: &Attempt) -> bool {
        attempt.request.stream
    }
    fn leave<S: 'static>(attempt: &mut Attempt, ticket: Ticket, inner: &S) -> Option<Ticket> {
        // Right above the wire (the common stack): the wire counts the outcome, so the
        // attempt costs one boxed future, not a second one here around the wire's.
        let wire = (inner as &dyn std::any::Any)
            .downcast_ref::<AttemptService>()
            .is_some_and(is_wire);
        if wire && attempt.ticket.is_none() {
            attempt.ticket = Some(ticket);
            return None;
        }
        Some(ticket)
    }
}

impl Admits<ClientRequest> for MethodBreakers {
    fn admit(&self, request: &ClientRequest) -> Result<Option<Ticket>, Status> {
        match self.breaker(&request.service, &request.method) {
            None => Ok(None),
            Some(breaker) => breaker.enter().map(Some),
        }
    }
    fn is_stream(request: &ClientRequest) -> bool {
        request.stream
    }
}

impl<S, Req, B> Service<Req> for Guarded<S, B>
where
    S: Service<Req, Response = ClientResponse, Error = Status> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Admits<Req>,
{
    type Response = ClientResponse;
    type Error = Status;
    type Future = BoxFuture<'static, Result<ClientResponse, Status>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Status>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Req) -> Self::Future {
        let stream = B::is_stream(&request);
        let mut ticket = match self.breakers.admit(&request) {
            Ok(ticket) => ticket,
            Err(refused) => return Box::pin(std::future::ready(Err(refused))),
        };
        if !stream {
            ticket = ticket.and_then(|t| B::leave(&mut request, t, &self.inner));
        }
        // Called now, on the service `poll_ready` readied (tower's rule), so no clone of it
        // needs to go into the future.
        let call = self.inner.call(request);
        if ticket.is_none() {
            // No breaker for it, or its ticket left to the wire: nothing to do after, so the
            // inner future is handed on (boxed only if it is not boxed already).
            return crate::layer::into_boxed(call);
        }
        Box::pin(guarded(ticket, stream, call))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::breaker::Trip;

    fn fail() -> Result<(), Status> {
        Err(Status::unavailable("down"))
    }

    #[tokio::test(start_paused = true)]
    async fn new_method_settings_apply_to_breakers_already_made_and_drop_unguarded_ones() {
        let five = BreakerSettings::default().trip(Trip::ConsecutiveFailures(5));
        let breakers = MethodBreakers::new(PerMethod::new(Some(five)));
        let kv_get = breakers.breaker("Kv", "get").expect("guarded");
        kv_get.admit().expect("closed").finish(&fail());
        assert_eq!(breakers.state("Kv", "get"), Some(BreakerState::Closed));
        // Live: one failure trips `Kv.get` now; `Kv.put` has no breaker any more.
        let one = BreakerSettings::default().trip(Trip::ConsecutiveFailures(1));
        breakers.set_settings(PerMethod::new(None).method("Kv", "get", Some(one)));
        breakers
            .breaker("Kv", "get")
            .expect("still guarded")
            .admit()
            .expect("closed")
            .finish(&fail());
        assert_eq!(breakers.state("Kv", "get"), Some(BreakerState::Open));
        assert!(breakers.breaker("Kv", "put").is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn an_instance_keeps_its_breaker_through_its_load_and_a_new_load() {
        let one = BreakerSettings::default().trip(Trip::ConsecutiveFailures(1));
        let breakers = InstanceBreakers::new(one.clone());
        let other_layer = InstanceBreakers::new(one);
        let addr: Address = "mem://breaker-load".parse().expect("addr");
        let load = Arc::new(Load::default());
        let first = breakers.breaker_of(&addr, Some(&load));
        assert!(
            Arc::ptr_eq(&first, &breakers.breaker_of(&addr, Some(&load))),
            "found again on the load"
        );
        // Another layer on the same instance keeps a breaker of its own.
        let theirs = other_layer.breaker_of(&addr, Some(&load));
        assert!(!Arc::ptr_eq(&first, &theirs));
        assert!(Arc::ptr_eq(
            &theirs,
            &other_layer.breaker_of(&addr, Some(&load))
        ));
        first.admit().expect("closed").finish(&fail());
        assert_eq!(breakers.state(&addr), Some(BreakerState::Open));
        assert_eq!(other_layer.state(&addr), Some(BreakerState::Closed));
        assert!(load.is_breaker_open());
        // Re-registered: a new load, the same (open) breaker, which now marks the new load.
        let renewed = Arc::new(Load::default());
        let again = breakers.breaker_of(&addr, Some(&renewed));
        assert!(
            Arc::ptr_eq(&first, &again),
            "an open breaker is not forgotten"
        );
        assert!(renewed.is_breaker_open(), "the new load is marked open");
        assert!(again.admit().is_err());
        // An attempt still on the old load finds the breaker there, and leaves it following
        // the new one: as it half-opens and closes, the new load is told.
        assert!(Arc::ptr_eq(
            &first,
            &breakers.breaker_of(&addr, Some(&load))
        ));
        tokio::time::advance(std::time::Duration::from_secs(6)).await;
        again
            .admit()
            .expect("half-open: a trial")
            .finish(&Ok::<(), Status>(()));
        assert_eq!(breakers.state(&addr), Some(BreakerState::Closed));
        assert!(!renewed.is_breaker_open(), "the new load is told it closed");
    }

    #[tokio::test(start_paused = true)]
    async fn clients_sharing_instance_breakers_each_hear_the_half_open() {
        // A fresh user's report: two clients built with one `InstanceBreakers`; once the
        // second had called, the first never heard its breakers half-open and refused every
        // call for good (the breaker told only the last client's load).
        let one = BreakerSettings::default().trip(Trip::ConsecutiveFailures(1));
        let breakers = InstanceBreakers::new(one);
        let addr: Address = "mem://breaker-shared".parse().expect("addr");
        let (a, b) = (Arc::new(Load::default()), Arc::new(Load::default()));
        let breaker = breakers.breaker_of(&addr, Some(&a));
        breaker.admit().expect("closed").finish(&fail());
        assert!(a.is_breaker_open());
        let same = breakers.breaker_of(&addr, Some(&b));
        assert!(Arc::ptr_eq(&breaker, &same), "one breaker per instance");
        assert!(b.is_breaker_open(), "the second client is told it is open");
        assert!(same.admit().is_err());
        tokio::time::advance(std::time::Duration::from_secs(6)).await;
        assert_eq!(breakers.state(&addr), Some(BreakerState::HalfOpen));
        assert!(
            !a.is_breaker_open(),
            "the first client may pick it for a trial"
        );
        assert!(!b.is_breaker_open(), "so may the second");
        let trial = breaker.admit().expect("half-open: a trial");
        assert!(
            a.is_breaker_open() && b.is_breaker_open(),
            "its one trial place is taken, for both"
        );
        trial.finish(&Ok::<(), Status>(()));
        assert_eq!(breakers.state(&addr), Some(BreakerState::Closed));
        assert!(!a.is_breaker_open() && !b.is_breaker_open());
        // A client gone (its load dropped) is no longer followed.
        drop(a);
        breaker.admit().expect("closed").finish(&fail());
        assert!(b.is_breaker_open());
    }

    #[tokio::test(start_paused = true)]
    async fn new_instance_settings_apply_to_breakers_already_made() {
        let breakers = InstanceBreakers::new(BreakerSettings::default());
        let addr: Address = "mem://breaker-live".parse().expect("addr");
        let made = Breaker::new(
            Scope::Instance("test".into()),
            breakers.settings(),
            None,
            None,
        );
        breakers.lock().insert(addr.clone(), made.clone());
        made.admit().expect("closed").finish(&fail());
        assert_eq!(breakers.state(&addr), Some(BreakerState::Closed));
        breakers.set_settings(BreakerSettings::default().trip(Trip::ConsecutiveFailures(2)));
        made.admit().expect("closed").finish(&fail());
        assert_eq!(
            breakers.state(&addr),
            Some(BreakerState::Open),
            "the second failure in a row trips it under the new rule"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_shorter_open_timeout_releases_breakers_already_open() {
        // A fresh user's report: 1 h, then 1 s live — still open 5 s later.
        let hour = BreakerSettings::default()
            .trip(Trip::ConsecutiveFailures(1))
            .open_timeout(std::time::Duration::from_secs(3600));
        let instances = InstanceBreakers::new(hour.clone());
        let addr: Address = "mem://breaker-release".parse().expect("addr");
        let load = Arc::new(Load::default());
        instances
            .breaker_of(&addr, Some(&load))
            .admit()
            .expect("closed")
            .finish(&fail());
        let methods = MethodBreakers::new(PerMethod::new(Some(hour.clone())));
        let greet = methods.breaker("Greeter", "fail").expect("guarded");
        greet.admit().expect("closed").finish(&fail());
        assert_eq!(instances.state(&addr), Some(BreakerState::Open));
        assert_eq!(methods.state("Greeter", "fail"), Some(BreakerState::Open));
        tokio::time::sleep(std::time::Duration::from_secs(4)).await;
        let second = hour.open_timeout(std::time::Duration::from_secs(1));
        instances.set_settings(second.clone());
        methods.set_settings(PerMethod::new(Some(second)));
        assert_eq!(instances.state(&addr), Some(BreakerState::HalfOpen));
        assert!(!load.is_breaker_open(), "the instance is picked again");
        assert_eq!(
            methods.state("Greeter", "fail"),
            Some(BreakerState::HalfOpen)
        );
        assert!(greet.admit().is_ok(), "a trial call passes");
    }
}
