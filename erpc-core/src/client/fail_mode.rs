//! Fail modes: what a client does when a call fails — rpcx's four (`failfast`, `failover`,
//! `failtry`, `failbackup`), chosen per method, as a call-level layer ([`FailModes`], added
//! with [`crate::ClientBuilder::layer`]) over the balancer's pick, so that each attempt picks
//! again.
//!
//! ```no_run
//! # use erpc_core as erpc;
//! # async fn run(list: erpc::discovery::StaticList) -> Result<(), erpc::Status> {
//! use std::time::Duration;
//! use erpc::client::{FailMode, FailModes};
//! use erpc::per_method::PerMethod;
//!
//! // Up to 2 retries on other instances; Kv.get may be hedged after 50 ms.
//! let modes = PerMethod::new(FailMode::Failover { retries: 2 })
//!     .method("Kv", "get", FailMode::Failbackup { delay: erpc::client::HedgeDelay::Fixed(Duration::from_millis(50)) });
//! let client = erpc::Client::builder()
//!     .layer(FailModes::new(modes))
//!     .discover(&list, "Kv")
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! **What is retried.** Only what is safe ([`retry_allowed`]):
//! - a call never sent — it failed before its request was queued on a connection (the
//!   connection was refused or was closing) — may always go to another instance: the
//!   server never saw it; but not when every instance is backing off after failed dials
//!   (see **Backoff**);
//! - a call that was sent is resent only if its method is idempotent (`#[idempotent]` in
//!   `#[erpc::service]`, `.idempotent()` on the call, or [`FailModes::idempotent`] for
//!   untyped calls) **and** its status says the server did not do it or may be asked again:
//!   `unavailable`, or `resource_exhausted` carrying a retry hint
//!   ([`Status::retry_after`]). A call that timed out is not retried: its deadline is gone.
//! - a refusal by the client's own rate limit or cap on calls in flight
//!   ([`Status::is_client_limit`]) is passed on, never retried, whatever the layer order:
//!   another instance would not lift a limit of this client's. When such a limit below
//!   this layer refuses a *retry*, the call ends with the failure that prompted it (as when
//!   the retry budget is spent), not with the refusal.
//!
//! **Deadlines are never extended.** Every attempt carries the call's own absolute deadline,
//! so it gets what is left of it; no attempt (and no backoff wait) starts unless it can begin
//! before the deadline. Streams and oneway calls pass through untouched (a oneway is never
//! answered, so nothing can be judged).
//!
//! **Backoff.** Before a retry the layer waits a random time between zero and
//! `min(max, base × 2^(retry−1))` — "full jitter" of Marc Brooker's "Exponential Backoff And
//! Jitter" (AWS Architecture Blog, 2015,
//! <https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/>): clients that
//! failed together do not retry together. Default base 10 ms, max 1 s. A retry hint longer
//! than the draw is waited instead. But when every instance is backing off after failed
//! dials (the client's own refusal, its hint the soonest redial) the call is not retried:
//! it fails at once with that status, as a `failfast` one does (and gRPC fails a call
//! while its channel is in `TRANSIENT_FAILURE`), rather than each call waiting out the
//! outage's reconnect backoff.
//!
//! **Budget.** Retries and hedges spend the layer's [`RetryBudget`] (default: 10% of calls
//! plus 10 per second); when it is spent, a failure is returned as it is. One `FailModes`
//! per client: its budget is that client's.
//!
//! **Cost.** Added last (the innermost call-level layer, right above the balancer's pick),
//! with no attempt-level layer or only [`InstanceBreakers`](crate::client::InstanceBreakers),
//! a `failover`/`failtry` call's first attempt is run by the layer itself: the pick, the
//! breaker's admission and the wire in one step, its answer awaited in the layer's own
//! future. When it is the only call-level layer, a typed call holds that future in its own
//! (an untyped [`crate::Client::invoke`] boxes it, as it boxes a call without layers), so a
//! governed typed call allocates nothing more than a plain one; what it adds is the copy
//! of the request kept for a retry (reference counts: its body is shared, not copied).
//! Anywhere else in a stack it works the same, through the layers below it, at one boxed
//! future per layer per attempt. BENCHMARKS.md has the figures.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};
use std::time::Duration;

use erpc_transport::Address;
use futures_util::future::BoxFuture;
use tokio::time::Instant;

use crate::client::answer::Answer;
use crate::client::direct::{Direct, Unsent};
use crate::client::hedge::{self, Latencies};
use crate::client::layer::{CallService, Route};
use crate::client::observed::tell;
use crate::client::retry_budget::RetryBudget;
use crate::client::{Client, ClientRequest, ClientResponse};
use crate::discovery::{Steer, Want};
use crate::layer::{Layer, Service};
use crate::observe::{HedgeOutcome, Observer, Retry, RetryKind};
use crate::per_method::PerMethod;
use crate::status::{Code, Status};

/// What a client does when a call fails (rpcx's fail modes). Default [`FailMode::Failfast`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailMode {
    /// Return the failure: no retry.
    #[default]
    Failfast,
    /// Retry on another instance (one not tried yet, while there is one), up to `retries`
    /// times.
    Failover {
        /// Retries after the first attempt.
        retries: u32,
    },
    /// Retry on the same instance, up to `retries` times (a call never sent goes to another:
    /// the same one could not take it).
    Failtry {
        /// Retries after the first attempt.
        retries: u32,
    },
    /// Hedged request: if no answer came within `delay`, send a second copy to another
    /// instance; the first answer wins and the other attempt is cancelled (a CANCEL frame).
    /// Only idempotent methods are hedged; a failure of the first attempt before the delay
    /// is retried once on another instance, as `failover` would.
    Failbackup {
        /// How long to wait for the first attempt before sending the copy.
        delay: HedgeDelay,
    },
}

/// How long a `failbackup` call waits before sending its second copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HedgeDelay {
    /// This long.
    Fixed(Duration),
    /// The method's observed 95th-percentile latency (over its last 128 answers), so that
    /// about one call in twenty is hedged when the instances are alike; `until_known` until
    /// 16 answers were seen. Each answer counts the answering copy's own time (a hedged
    /// call records its hedge's), so one slow instance does not raise the delay: every call
    /// that started on it is hedged after the others' p95.
    P95 {
        /// The delay before enough answers were seen.
        until_known: Duration,
    },
}

/// The most retries a [`FailMode::Failover`] or [`FailMode::Failtry`] may name: each retry
/// is another attempt within the same deadline and budget, so more is never useful (gRPC
/// caps attempts at 5, Kitex retries at 5).
pub const MAX_RETRIES: u32 = 10;

impl FailMode {
    /// Whether this mode's settings can work: retries at most [`MAX_RETRIES`], hedge delays
    /// more than zero and at most an hour (a zero delay sends every call twice; to ask every instance at once and
    /// keep the first answer, use [`crate::Client::fork`]). [`FailModes::new`] checks every
    /// mode with it; the config crate reports it against the file's key.
    ///
    /// # Errors
    /// The setting at fault (`"failover.retries"`, `"failtry.retries"`, `"failbackup.delay"`
    /// or `"failbackup.until_known"`) and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let retries = |setting, n: u32| {
            if n > MAX_RETRIES {
                return Err((
                    setting,
                    format!(
                        "must be at most {MAX_RETRIES}, got {n}: each retry is another attempt \
                         within the same deadline (gRPC caps attempts at 5, Kitex retries at 5)"
                    ),
                ));
            }
            Ok(())
        };
        match *self {
            FailMode::Failfast => Ok(()),
            FailMode::Failover { retries: n } => retries("failover.retries", n),
            FailMode::Failtry { retries: n } => retries("failtry.retries", n),
            FailMode::Failbackup { delay } => {
                let (setting, wait, zero) = match delay {
                    HedgeDelay::Fixed(wait) => (
                        "failbackup.delay",
                        wait,
                        "a zero delay sends every call twice (to call every instance at once \
                         and keep the first answer, use fork)",
                    ),
                    HedgeDelay::P95 { until_known } => (
                        "failbackup.until_known",
                        until_known,
                        "a zero delay sends every call twice until the p95 is known",
                    ),
                };
                if wait.is_zero() {
                    return Err((setting, format!("must be more than 0: {zero}")));
                }
                crate::config::check_wait(wait, "before a hedge").map_err(|why| (setting, why))
            }
        }
    }
}

/// The fail-mode layer (see the module docs): settings per method, a retry budget, an
/// optional observer for its retries. Clones (and clients built with the same layer) share
/// the budget and the observed latencies.
#[derive(Clone)]
pub struct FailModes {
    settings: Settings,
}

#[derive(Clone)]
pub(crate) struct Settings {
    modes: PerMethod<FailMode>,
    idempotent: PerMethod<bool>,
    backoff_base: Duration,
    backoff_max: Duration,
    pub(crate) budget: Arc<RetryBudget>,
    observer: Option<Arc<dyn Observer>>,
    pub(crate) latencies: Arc<Latencies>,
}

impl FailModes {
    /// A layer applying `modes` (one [`FailMode`] for every method, or a
    /// [`PerMethod`] of them), with the default backoff (10 ms to 1 s) and budget (10% of
    /// calls plus 10 per second).
    ///
    /// # Panics
    /// If a mode fails [`FailMode::check`] (more than [`MAX_RETRIES`] retries, a zero hedge
    /// delay): the message names the setting, as the config file's error would.
    pub fn new(modes: impl Into<PerMethod<FailMode>>) -> FailModes {
        let modes = modes.into();
        for mode in modes.values() {
            if let Err((setting, why)) = mode.check() {
                panic!("FailModes::new: {setting} {why}");
            }
        }
        FailModes {
            settings: Settings {
                modes,
                idempotent: PerMethod::new(false),
                backoff_base: Duration::from_millis(10),
                backoff_max: Duration::from_secs(1),
                budget: Arc::new(RetryBudget::default()),
                observer: None,
                latencies: Arc::default(),
            },
        }
    }

    fn settings_mut(&mut self) -> &mut Settings {
        &mut self.settings
    }

    /// Which methods are idempotent besides those whose calls say so (typed calls of an
    /// `#[idempotent]` method, `.idempotent()`): for untyped calls ([`crate::Client::invoke`],
    /// `client.call(...)`). Default: none.
    pub fn idempotent(mut self, methods: PerMethod<bool>) -> FailModes {
        self.settings_mut().idempotent = methods;
        self
    }

    /// The retry backoff: full jitter below `base × 2^(retry−1)`, at most `max`. Default
    /// 10 ms and 1 s. A server's retry hint (`resource_exhausted` with `retry-after`) waits
    /// longer if it asks for longer.
    ///
    /// # Panics
    /// If `base` is above `max`, or `max` above an hour ([`crate::config::MAX_WAIT`]: a
    /// longer wait would outlive any deadline, and overflow the clock where the retry's
    /// timer is set); the config file refuses both too.
    pub fn backoff(mut self, base: Duration, max: Duration) -> FailModes {
        if let Err(why) = crate::config::check_wait(max, "before a retry") {
            panic!("FailModes::backoff: max {why}");
        }
        assert!(
            base <= max,
            "FailModes::backoff: base {base:?} is above max {max:?}"
        );
        let settings = self.settings_mut();
        settings.backoff_base = base;
        settings.backoff_max = max;
        self
    }

    /// The retry budget. Default [`RetryBudget::default`].
    pub fn budget(mut self, budget: RetryBudget) -> FailModes {
        self.settings_mut().budget = Arc::new(budget);
        self
    }

    /// Report retries and hedges (and those the budget refused) to `observer`
    /// ([`Observer::retry`]).
    pub fn observer(mut self, observer: impl Observer) -> FailModes {
        self.settings_mut().observer = Some(crate::observe::Contained::wrap(observer));
        self
    }

    /// The retry budget this layer spends, to watch its balance.
    pub fn retry_budget(&self) -> Arc<RetryBudget> {
        self.settings.budget.clone()
    }
}

impl Layer<CallService> for FailModes {
    type Service = FailModeService;

    fn layer(&self, inner: CallService) -> FailModeService {
        FailModeService {
            shared: Arc::new(Shared {
                settings: self.settings.clone(),
                route: inner.as_any().downcast_ref::<Route>().cloned(),
                inner,
            }),
        }
    }
}

/// [`FailModes`] over the rest of the call-level stack.
#[derive(Clone)]
pub struct FailModeService {
    /// One `Arc` for both, so that the clone per call (the erasure's, then the call's) is
    /// one reference count, not two.
    shared: Arc<Shared>,
}

/// A [`FailModeService`]'s settings and the stack below it.
pub(crate) struct Shared {
    settings: Settings,
    inner: CallService,
    /// The pick, when it is what `inner` is (this layer the innermost call-level one): a
    /// first attempt may then go straight to the wire ([`crate::client::direct`]).
    route: Option<Route>,
}

impl FailModeService {
    /// Whether the pick is right below this layer (it is the innermost call-level one): a
    /// first attempt may then go straight to the wire ([`crate::client::direct`]).
    pub(crate) fn is_over_route(&self) -> bool {
        self.shared.route.is_some()
    }

    /// Start `request` — what [`Service::call`] does — leaving a `failover`/`failtry`
    /// call's first attempt unboxed, for a caller that holds its future itself (a typed
    /// call's [`crate::client::CallFuture`]). `client` is the client this layer serves, if
    /// the caller has it at hand (else it is found through the pick below); `began` a clock
    /// read made as the call began, a moment ago, if the caller made one.
    pub(crate) fn start(
        &self,
        request: ClientRequest,
        client: Option<&Client>,
        began: Option<Instant>,
    ) -> Launch {
        let settings = &self.shared.settings;
        let inner = &self.shared.inner;
        let passes =
            request.stream || request.oneway || matches!(request.steer.want(), Want::Only(_));
        if !passes {
            settings.budget.deposit();
        }
        let mode = *settings.modes.get(&request.service, &request.method);
        if passes || mode == FailMode::Failfast {
            return Launch::Boxed(inner.oneshot(request));
        }
        let idempotent =
            request.idempotent || *settings.idempotent.get(&request.service, &request.method);
        let call = Call {
            shared: self.shared.clone(),
            idempotent,
        };
        match mode {
            FailMode::Failbackup { delay } => {
                Launch::Boxed(Box::pin(hedge::run(call, request, delay)))
            }
            FailMode::Failover { retries } => call.first(request, retries, false, client, began),
            FailMode::Failtry { retries } => call.first(request, retries, true, client, began),
            FailMode::Failfast => Launch::Boxed(inner.oneshot(request)),
        }
    }
}

/// How a call under [`FailModeService::start`] was launched.
// Returned once and moved into its holder: boxing the large variant would cost every
// governed call the allocation this exists to spare it.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Launch {
    /// A `failover`/`failtry` call's first attempt, and what a retry needs.
    First(FirstAttempt),
    /// Anything else.
    Boxed(BoxFuture<'static, Result<ClientResponse, Status>>),
}

impl Launch {
    /// The call's future, boxed.
    pub(crate) fn boxed(self) -> BoxFuture<'static, Result<ClientResponse, Status>> {
        match self {
            Launch::First(first) => Box::pin(first),
            Launch::Boxed(future) => future,
        }
    }
}

impl Service<ClientRequest> for FailModeService {
    always_ready_boxed!(ClientResponse);

    fn call(&mut self, request: ClientRequest) -> Self::Future {
        self.start(request, None, None).boxed()
    }
}

/// A call under `failover` or `failtry`: its first attempt, sent when the call is made, and
/// what a retry needs, used only if that attempt fails. The common call — its first attempt
/// succeeds — is this one future (the request kept for a retry and the attempt's answer),
/// and the retry loop's larger future is made only after a failure.
pub(crate) struct FirstAttempt {
    attempt: First,
    /// The call, its request and `(retries, same)`: taken when the first attempt fails.
    retry: Option<(Call, ClientRequest, u32, bool)>,
}

/// Where a [`FirstAttempt`] is.
enum First {
    /// Queued straight on the wire ([`crate::client::direct`]); its connection says where
    /// it went.
    Direct(Answer),
    /// Straight to the wire, once a connection is dialled.
    Dialing(BoxFuture<'static, Result<Answer, Unsent>>),
    /// Through the stacks below this layer, with the steer that records where it went.
    Layered(BoxFuture<'static, Result<ClientResponse, Status>>, Steer),
    /// It failed and may be retried: the retry loop.
    Retrying(BoxFuture<'static, Result<ClientResponse, Status>>),
}

impl Future for FirstAttempt {
    type Output = Result<ClientResponse, Status>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            // A success is returned without moving the kept request out (it is dropped
            // with this future).
            let (status, landed) = match &mut this.attempt {
                First::Direct(answer) => match ready!(Pin::new(&mut *answer).poll(cx)) {
                    Ok(response) => return Poll::Ready(Ok(response)),
                    Err(status) => (status, Some(answer.landed())),
                },
                First::Dialing(dialing) => match ready!(dialing.as_mut().poll(cx)) {
                    Ok(answer) => {
                        this.attempt = First::Direct(answer);
                        continue;
                    }
                    Err(unsent) => (unsent.status, unsent.landed),
                },
                First::Layered(attempt, steer) => match ready!(attempt.as_mut().poll(cx)) {
                    Ok(response) => return Poll::Ready(Ok(response)),
                    Err(status) => (status, steer.landed()),
                },
                First::Retrying(retrying) => return retrying.as_mut().poll(cx),
            };
            match this.retry.take() {
                Some((call, request, retries, same)) => {
                    let retrying = call.retry(request, retries, same, status, landed);
                    this.attempt = First::Retrying(Box::pin(retrying));
                }
                // Not reached: the first attempt's failure takes the retry loop.
                None => return Poll::Ready(Err(status)),
            }
        }
    }
}

/// One call under a fail mode: what its attempts share.
pub(crate) struct Call {
    shared: Arc<Shared>,
    pub(crate) idempotent: bool,
}

/// An attempt's outcome and where it went.
pub(crate) struct Outcome {
    pub result: Result<ClientResponse, Status>,
    /// Where it went, if it failed.
    pub landed: Option<crate::discovery::Landed>,
}

impl Call {
    /// The layer's settings.
    pub(crate) fn settings(&self) -> &Settings {
        &self.shared.settings
    }

    /// Send a copy of `request` steered by `steer` (a fresh one per attempt: it records
    /// where the attempt went).
    fn send(
        &self,
        request: &ClientRequest,
        steer: Steer,
    ) -> BoxFuture<'static, Result<ClientResponse, Status>> {
        let mut request = request.clone();
        request.steer = steer;
        self.shared.inner.oneshot(request)
    }

    /// `failover` (`same` false) or `failtry` (`same` true) with up to `retries` retries:
    /// the first attempt goes out now; [`Call::retry`] takes over if it fails.
    ///
    /// `client` is the client, if the caller has it at hand; it is used only when the pick
    /// is right below this layer, as is `began` (see [`FailModeService::start`]).
    fn first(
        self,
        request: ClientRequest,
        retries: u32,
        same: bool,
        client: Option<&Client>,
        began: Option<Instant>,
    ) -> Launch {
        if retries == 0 {
            // Nothing to retry: the call passes as under `failfast`.
            return Launch::Boxed(self.shared.inner.oneshot(request));
        }
        let direct = match (&self.shared.route, client) {
            (None, _) => None,
            (Some(_), Some(client)) => client.attempt_direct(&request, began),
            (Some(route), None) => route
                .client()
                .and_then(|c| c.attempt_direct(&request, began)),
        };
        let attempt = match direct {
            Some(Direct::Queued(answer)) => First::Direct(answer),
            Some(Direct::Dialing(dialing)) => First::Dialing(dialing),
            Some(Direct::Unsent(unsent)) => {
                let (status, landed) = (unsent.status, unsent.landed);
                let retrying = self.retry(request, retries, same, status, landed);
                return Launch::Boxed(Box::pin(retrying));
            }
            None => {
                let steer = Steer::new(Want::Any, Vec::new());
                First::Layered(self.send(&request, steer.clone()), steer)
            }
        };
        Launch::First(FirstAttempt {
            attempt,
            retry: Some((self, request, retries, same)),
        })
    }

    /// Send one attempt of `request` steered by `steer` (a fresh one per attempt: it
    /// records where the attempt went).
    pub(crate) async fn attempt(&self, request: &ClientRequest, steer: Steer) -> Outcome {
        let result = self.send(request, steer.clone()).await;
        // Where it went matters only to a retry: a success is not asked (naming the
        // instance copies its address).
        let landed = if result.is_err() {
            steer.landed()
        } else {
            None
        };
        Outcome { result, landed }
    }

    /// The rest of a `failover` (`same` false) or `failtry` (`same` true) call with up to
    /// `retries` retries, after its first attempt failed with `status` having gone to
    /// `landed`.
    async fn retry(
        self,
        request: ClientRequest,
        retries: u32,
        same: bool,
        mut status: Status,
        mut landed: Option<crate::discovery::Landed>,
    ) -> Result<ClientResponse, Status> {
        let mut tried: Vec<Address> = Vec::new();
        let mut retry = 0;
        loop {
            let sent = landed.as_ref().is_some_and(|l| l.sent);
            if let Some(landed) = landed {
                tried.push(landed.addr);
            }
            if retry >= retries || !retry_allowed(&status, sent, self.idempotent) {
                return Err(status);
            }
            retry += 1;
            // A call never sent goes elsewhere: the same instance could not take it. Its
            // kind is still the call's fail mode's: the kind tells an operator which mode
            // retries (the metrics' `kind` label), not where the retry went.
            let kind = if same {
                RetryKind::Failtry
            } else {
                RetryKind::Failover
            };
            let next = if same && sent {
                Want::Same
            } else {
                Want::Other
            };
            let wait = self.backoff(retry, &status);
            if Instant::now() + wait >= request.deadline {
                return Err(status);
            }
            if !self.spend(&request, kind, retry + 1, Some(status.code())) {
                return Err(status);
            }
            tokio::time::sleep(wait).await;
            let outcome = self
                .attempt(&request, Steer::new(next, tried.clone()))
                .await;
            (status, landed) = match outcome.result {
                Ok(response) => return Ok(response),
                // This client's own limit (a layer below) refused the retry: as with a spent
                // budget, the call ends with the failure that prompted the retry — the
                // backend's — not with a refusal that hides it.
                Err(refused) if refused.is_client_limit() => return Err(status),
                Err(status) => (status, outcome.landed),
            };
        }
    }

    /// Record that a call of `request`'s method was answered after `took` (for the p95 a
    /// hedge may wait).
    pub(crate) fn answered(&self, request: &ClientRequest, took: Duration) {
        let latencies = &self.settings().latencies;
        latencies.record(&request.service, &request.method, took);
    }

    /// Spend a token for attempt number `attempt` and report it: `false` if the budget is
    /// spent (reported too).
    pub(crate) fn spend(
        &self,
        request: &ClientRequest,
        kind: RetryKind,
        attempt: u32,
        after: Option<Code>,
    ) -> bool {
        let granted = self.settings().budget.withdraw();
        let retry = Retry {
            kind,
            attempt,
            after,
            granted,
        };
        tell(self.settings().observer.as_ref(), request, |o, call| {
            o.retry(call, &retry)
        });
        granted
    }

    /// Report which copy of a hedged call answered.
    pub(crate) fn hedge_settled(&self, request: &ClientRequest, outcome: HedgeOutcome) {
        tell(self.settings().observer.as_ref(), request, |o, call| {
            o.hedge_settled(call, outcome)
        });
    }

    /// The wait before retry number `retry` (1 for the first) after `status`: full jitter,
    /// or the server's retry hint if longer.
    fn backoff(&self, retry: u32, status: &Status) -> Duration {
        let settings = self.settings();
        let ceiling = settings
            .backoff_base
            .saturating_mul(
                1u32.checked_shl(retry.saturating_sub(1))
                    .unwrap_or(u32::MAX),
            )
            .min(settings.backoff_max);
        let jitter = ceiling.mul_f64(fastrand::f64());
        jitter.max(status.retry_after().unwrap_or_default())
    }
}

/// Whether a failed attempt may be sent again (the module docs say why): a request never
/// sent always may, if its status is one to retry; a sent one only if its method is
/// idempotent. Statuses to retry: `unavailable`, and `resource_exhausted` carrying a retry
/// hint — but not a refusal by this client's own limit ([`Status::is_client_limit`]: its
/// rate limit or cap on calls in flight), which another instance would not lift, nor its
/// refusal when no instance can take the call now: every instance backing off after failed
/// dials (its retry hint the soonest redial), every one's circuit breaker open, or every one
/// `NOT_SERVING`. A retry would meet the same refusal, and waiting for the redial would hold
/// every call for the outage's reconnect backoff (up to [`crate::ClientConfig::backoff_max`],
/// 5 s by default); the caller learns at once, as a `failfast` one does and as gRPC fails a
/// call while its channel is in `TRANSIENT_FAILURE`, and a hint says when to ask again.
pub fn retry_allowed(status: &Status, sent: bool, idempotent: bool) -> bool {
    let retryable = match status.code() {
        Code::Unavailable => !status.no_instance,
        Code::ResourceExhausted => status.retry_after().is_some() && !status.is_client_limit(),
        _ => false,
    };
    retryable && (!sent || idempotent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "FailModes::new: failover.retries must be at most 10, got 11")]
    fn the_code_refuses_more_retries_than_a_file_may_name() {
        let modes = PerMethod::new(FailMode::Failfast).method(
            "Kv",
            "get",
            FailMode::Failover {
                retries: MAX_RETRIES + 1,
            },
        );
        let _ = FailModes::new(modes);
    }

    #[test]
    fn the_code_refuses_zero_hedge_delays_naming_the_setting() {
        let fixed = FailMode::Failbackup {
            delay: HedgeDelay::Fixed(Duration::ZERO),
        };
        let p95 = FailMode::Failbackup {
            delay: HedgeDelay::P95 {
                until_known: Duration::ZERO,
            },
        };
        assert_eq!(fixed.check().map_err(|e| e.0), Err("failbackup.delay"));
        assert_eq!(p95.check().map_err(|e| e.0), Err("failbackup.until_known"));
        let text = crate::engine::task_guard::refusal(|| FailModes::new(fixed));
        assert!(
            text.as_deref()
                .is_some_and(|t| t.contains("failbackup.delay must be more than 0")),
            "{text:?}"
        );
        // A delay past any deadline would only overflow the clock.
        let late = FailMode::Failbackup {
            delay: HedgeDelay::Fixed(Duration::MAX),
        };
        assert_eq!(late.check().map_err(|e| e.0), Err("failbackup.delay"));
        let fine = FailMode::Failbackup {
            delay: HedgeDelay::Fixed(Duration::from_millis(1)),
        };
        assert_eq!(fine.check(), Ok(()));
        assert_eq!(
            FailMode::Failtry {
                retries: MAX_RETRIES
            }
            .check(),
            Ok(())
        );
    }

    #[test]
    #[should_panic(expected = "FailModes::backoff: base 2s is above max 1s")]
    fn the_code_refuses_a_backoff_base_above_its_max() {
        let _ = FailModes::new(FailMode::Failover { retries: 1 })
            .backoff(Duration::from_secs(2), Duration::from_secs(1));
    }

    #[test]
    #[should_panic(
        expected = "FailModes::backoff: max must be at most 1h (the longest wait before a retry), got"
    )]
    fn the_code_refuses_a_backoff_max_above_an_hour() {
        // Accepted, the first retry panicked: "overflow when adding duration to instant".
        let _ =
            FailModes::new(FailMode::Failover { retries: 1 }).backoff(Duration::MAX, Duration::MAX);
    }

    #[test]
    fn only_safe_failures_are_retried() {
        let unavailable = Status::unavailable("down");
        let exhausted = Status::resource_exhausted("over the rate");
        let hinted = exhausted.clone().with_retry_after(Duration::from_millis(5));
        // Never sent: any retryable status, idempotent or not.
        assert!(retry_allowed(&unavailable, false, false));
        assert!(retry_allowed(&hinted, false, false));
        // Sent: only an idempotent method.
        assert!(!retry_allowed(&unavailable, true, false));
        assert!(retry_allowed(&unavailable, true, true));
        assert!(retry_allowed(&hinted, true, true));
        // Statuses that are not retried, whatever the method.
        assert!(!retry_allowed(&exhausted, true, true));
        assert!(!retry_allowed(&exhausted, false, true));
        // A connect failure goes elsewhere — also one instance's backoff refusal, which
        // another instance may not share; the refusal while every instance backs off
        // (marked where the pick makes it) does not wait for the redial.
        let refused = unavailable.clone().from_connect_failure();
        assert!(retry_allowed(&refused, false, false));
        let one_backing_off = refused.clone().with_retry_after(Duration::from_millis(300));
        assert!(retry_allowed(&one_backing_off, false, true));
        let backing_off = one_backing_off.no_instance_now();
        assert!(!retry_allowed(&backing_off, false, true));
        for code in [
            Code::DeadlineExceeded,
            Code::Internal,
            Code::NotFound,
            Code::Cancelled,
            Code::Unknown,
        ] {
            assert!(
                !retry_allowed(&Status::new(code, "x"), false, true),
                "{code}"
            );
        }
    }

    #[test]
    fn backoff_is_full_jitter_below_a_doubling_ceiling() {
        let call = Call {
            shared: Arc::new(Shared {
                settings: FailModes::new(FailMode::Failover { retries: 9 })
                    .backoff(Duration::from_millis(10), Duration::from_millis(100))
                    .settings,
                inner: crate::layer::BoxedService::from_erased(Never),
                route: None,
            }),
            idempotent: true,
        };
        let plain = Status::unavailable("x");
        for (retry, ceiling) in [(1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (40, 100)] {
            let waits: Vec<Duration> = (0..200).map(|_| call.backoff(retry, &plain)).collect();
            let max = waits.iter().max().copied().unwrap_or_default();
            let min = waits.iter().min().copied().unwrap_or_default();
            assert!(max < Duration::from_millis(ceiling), "{retry}: {max:?}");
            // Spread over the whole range, not bunched at the ceiling.
            assert!(min < Duration::from_millis(ceiling) / 4, "{retry}: {min:?}");
            assert!(
                max > Duration::from_millis(ceiling) * 3 / 4,
                "{retry}: {max:?}"
            );
        }
        let hinted = Status::resource_exhausted("x").with_retry_after(Duration::from_secs(2));
        assert_eq!(call.backoff(1, &hinted), Duration::from_secs(2));
    }

    /// A bottom that never answers (the backoff test sends nothing).
    struct Never;

    impl crate::layer::Erased<ClientRequest, ClientResponse> for Never {
        fn oneshot(
            &self,
            _: ClientRequest,
        ) -> futures_util::future::BoxFuture<'static, Result<ClientResponse, Status>> {
            Box::pin(std::future::pending())
        }

        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }
}
