//! Fault injection as a tower layer: [`Faults`] (a cloneable switchboard of [`Fault`]s per
//! method) and its [`FaultLayer`], for a client (`ClientBuilder::layer`) or a server
//! (`ServerBuilder::layer`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use erpc_core::client::Attempt;
use erpc_core::layer::{Layer, Service};
use erpc_core::{ClientRequest, Request, Status};
use futures_util::future::BoxFuture;
use tokio::time::Instant;

/// What to do to a call. Every part is off by default ([`Fault::new`]); they combine, in this
/// order: a reset (the call is not made), the latency, an error (the call is not made), a
/// dropped response (the call is made, its answer discarded).
///
/// ```
/// use std::time::Duration;
/// use erpc::{Status, testing::Fault};
///
/// let flaky = Fault::new()
///     .latency_between(Duration::from_millis(5), Duration::from_millis(20))
///     .error(0.1, Status::unavailable("injected"))
///     .drop_response(0.01);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Fault {
    latency: Option<(Duration, Duration)>,
    error: Option<(f64, Status)>,
    drop: f64,
    reset: f64,
}

impl Fault {
    /// No fault: calls pass unchanged.
    pub fn new() -> Self {
        Fault::default()
    }

    /// Delay every call by `delay` before it is made; a call whose deadline comes first fails
    /// `deadline_exceeded` at its deadline.
    pub fn latency(mut self, delay: Duration) -> Self {
        self.latency = Some((delay, delay));
        self
    }

    /// Delay every call by a time drawn uniformly from `min..=max`.
    ///
    /// # Panics
    /// If `min > max`.
    pub fn latency_between(mut self, min: Duration, max: Duration) -> Self {
        assert!(
            min <= max,
            "Fault::latency_between: min {min:?} is above max {max:?}"
        );
        self.latency = Some((min, max));
        self
    }

    /// Fail a call with `status` with probability `p` (0.0 to 1.0), without making it.
    ///
    /// # Panics
    /// If `p` is not within 0.0..=1.0.
    pub fn error(mut self, p: f64, status: Status) -> Self {
        self.error = Some((probability("error", p), status));
        self
    }

    /// With probability `p`, make the call but discard its answer: the call hangs until its
    /// deadline and fails `deadline_exceeded` (a lost response, a stuck server). A oneway
    /// call (on the client) has no answer to drop and passes. A stream's opening has no
    /// deadline unless the call set one (`.timeout`): without it, a dropped opening hangs.
    ///
    /// # Panics
    /// If `p` is not within 0.0..=1.0.
    pub fn drop_response(mut self, p: f64) -> Self {
        self.drop = probability("drop_response", p);
        self
    }

    /// With probability `p`, reset the connection instead of making the call: on a server
    /// (`ServerBuilder::layer`) the call's connection is closed at once
    /// (`Context::abort_connection`), so every call on it fails `unavailable` at its client;
    /// as an attempt-level layer (`ClientBuilder::attempt_layer`) the attempt's connection is
    /// closed (`Attempt::abort_connection`) and the client dials anew for the next call. As a
    /// call-level client layer (`ClientBuilder::layer`), which runs before a connection is
    /// picked, only the call fails `unavailable`, as a reset would have failed it.
    ///
    /// # Panics
    /// If `p` is not within 0.0..=1.0.
    pub fn reset(mut self, p: f64) -> Self {
        self.reset = probability("reset", p);
        self
    }
}

fn probability(what: &str, p: f64) -> f64 {
    assert!(
        (0.0..=1.0).contains(&p),
        "Fault::{what}: probability {p} is not within 0.0..=1.0"
    );
    p
}

/// The faults in force, changeable at run time through any clone: per method (by
/// `"method"` or `"Service.method"`; the more specific wins) and for every other call.
/// Randomness comes from one `fastrand` generator, seeded by [`Faults::seeded`] for
/// reproducible runs.
///
/// ```
/// # use erpc::{Status, testing::{Fault, Faults}};
/// # #[erpc::service] pub trait Greeter { async fn hello(&self, name: String) -> Result<String, Status>; }
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let faults = Faults::seeded(7);
/// let server = erpc::Server::builder()
///     .layer(faults.layer())
///     .add_service(MockGreeter::new().hello(|n| Ok(n)));
/// let (client, _server) =
///     erpc::testing::pair_with::<GreeterClient>(server, erpc::Client::builder()).await;
/// faults.set("hello", Fault::new().error(1.0, Status::internal("boom")));
/// assert!(client.hello("x".into()).await.is_err());
/// faults.clear();
/// assert!(client.hello("x".into()).await.is_ok());
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Faults {
    inner: Arc<Mutex<Board>>,
}

#[derive(Debug, Default)]
struct Board {
    all: Option<Fault>,
    methods: HashMap<String, Fault>,
    rng: fastrand::Rng,
}

/// What one call gets, drawn when it starts.
enum Outcome {
    Reset,
    Error(Status),
    Drop,
    Pass,
}

impl Faults {
    /// No faults, random seed.
    pub fn new() -> Self {
        Faults::default()
    }

    /// No faults, the generator seeded with `seed`: the same calls in the same order draw
    /// the same faults.
    pub fn seeded(seed: u64) -> Self {
        let faults = Faults::default();
        faults.board().rng = fastrand::Rng::with_seed(seed);
        faults
    }

    fn board(&self) -> MutexGuard<'_, Board> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Apply `fault` to every call without a fault of its own.
    pub fn set_all(&self, fault: Fault) {
        self.board().all = Some(fault);
    }

    /// Apply `fault` to calls of `method` (`"hello"`, or `"Greeter.hello"` for one service's).
    pub fn set(&self, method: &str, fault: Fault) {
        self.board().methods.insert(method.to_owned(), fault);
    }

    /// Remove the fault of `method` (set with the same key).
    pub fn clear_method(&self, method: &str) {
        self.board().methods.remove(method);
    }

    /// Remove every fault: calls pass unchanged.
    pub fn clear(&self) {
        let mut board = self.board();
        board.all = None;
        board.methods.clear();
    }

    /// The layer: give it to `ClientBuilder::layer` or `ServerBuilder::layer`. Every layer
    /// made from one `Faults` follows its current settings.
    pub fn layer(&self) -> FaultLayer {
        FaultLayer {
            faults: self.clone(),
        }
    }

    /// Draw what a call of `service.method` gets: its delay and outcome.
    fn draw(&self, service: &str, method: &str) -> (Duration, Outcome) {
        let mut board = self.board();
        let board = &mut *board;
        let qualified = format!("{service}.{method}");
        let fault = board
            .methods
            .get(&qualified)
            .or_else(|| board.methods.get(method))
            .or(board.all.as_ref());
        let Some(fault) = fault else {
            return (Duration::ZERO, Outcome::Pass);
        };
        let rng = &mut board.rng;
        let hit = |rng: &mut fastrand::Rng, p: f64| p > 0.0 && rng.f64() < p;
        let delay = match fault.latency {
            None => Duration::ZERO,
            Some((min, max)) if min == max => min,
            Some((min, max)) => {
                let span = (max - min).as_nanos().min(u64::MAX as u128) as u64;
                min + Duration::from_nanos(rng.u64(0..=span))
            }
        };
        let outcome = if hit(rng, fault.reset) {
            Outcome::Reset
        } else if let Some((p, status)) = &fault.error
            && hit(rng, *p)
        {
            Outcome::Error(status.clone())
        } else if hit(rng, fault.drop) {
            Outcome::Drop
        } else {
            Outcome::Pass
        };
        (delay, outcome)
    }
}

/// What the fault layer needs of a request: whom it calls and its deadline. Implemented for
/// the client's [`ClientRequest`] and the server's [`Request`].
pub trait FaultTarget: Send + 'static {
    /// The service called.
    fn service(&self) -> &str;
    /// The method called.
    fn method(&self) -> &str;
    /// When the caller stops waiting.
    fn deadline(&self) -> Instant;
    /// Whether the caller waits for an answer (`false` for a oneway call, where there is no
    /// response to drop).
    fn expects_response(&self) -> bool {
        true
    }
    /// Close the connection the call is on, if this side of it knows it; whether it did. A
    /// client's call-level request does not know its connection yet (the pick comes after).
    fn abort_connection(&self) -> bool {
        false
    }
}

impl FaultTarget for ClientRequest {
    fn expects_response(&self) -> bool {
        !self.oneway
    }
    fn service(&self) -> &str {
        &self.service
    }
    fn method(&self) -> &str {
        &self.method
    }
    fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl FaultTarget for Request {
    fn service(&self) -> &str {
        self.context().service()
    }
    fn method(&self) -> &str {
        self.context().method()
    }
    fn deadline(&self) -> Instant {
        self.context().deadline()
    }
    fn abort_connection(&self) -> bool {
        self.context().abort_connection();
        self.context().peer().is_some()
    }
}

impl FaultTarget for Attempt {
    fn expects_response(&self) -> bool {
        !self.request.oneway
    }
    fn service(&self) -> &str {
        &self.request.service
    }
    fn method(&self) -> &str {
        &self.request.method
    }
    fn deadline(&self) -> Instant {
        self.request.deadline
    }
    fn abort_connection(&self) -> bool {
        Attempt::abort_connection(self);
        true
    }
}

/// The tower layer of a [`Faults`] (made by [`Faults::layer`]).
#[derive(Debug, Clone)]
pub struct FaultLayer {
    faults: Faults,
}

impl<S> Layer<S> for FaultLayer {
    type Service = FaultService<S>;
    fn layer(&self, inner: S) -> FaultService<S> {
        FaultService {
            inner,
            faults: self.faults.clone(),
        }
    }
}

/// A service with faults injected in front of it (see [`Fault`] for what each does).
#[derive(Debug, Clone)]
pub struct FaultService<S> {
    inner: S,
    faults: Faults,
}

impl<S, Req> Service<Req> for FaultService<S>
where
    S: Service<Req, Error = Status> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    Req: FaultTarget,
{
    type Response = S::Response;
    type Error = Status;
    type Future = BoxFuture<'static, Result<S::Response, Status>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Status>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let (delay, outcome) = self.faults.draw(request.service(), request.method());
        let deadline = request.deadline();
        let name = format!("{}.{}", request.service(), request.method());
        // The clone that was made ready is the one that must be called (tower's rule).
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let reset = matches!(outcome, Outcome::Reset) && request.abort_connection();
        let expects_response = request.expects_response();
        Box::pin(async move {
            if let Outcome::Reset = outcome {
                let how = if reset {
                    ""
                } else {
                    " (the call only: no connection here yet)"
                };
                return Err(Status::unavailable(format!(
                    "connection reset (fault injected on {name}){how}"
                )));
            }
            if !delay.is_zero() {
                // The caller stops waiting at its deadline, whatever the delay: a client-side
                // latency must not outlive it (a server-side one is cut there by the engine).
                match Instant::now().checked_add(delay) {
                    Some(until) if until < deadline => tokio::time::sleep_until(until).await,
                    _ => {
                        tokio::time::sleep_until(deadline).await;
                        return Err(Status::deadline_exceeded(format!(
                            "deadline exceeded during {delay:?} of latency injected on {name}"
                        )));
                    }
                }
            }
            match outcome {
                Outcome::Error(status) => Err(status),
                // A oneway call has no response to drop.
                Outcome::Drop if !expects_response => inner.call(request).await,
                Outcome::Drop => {
                    let _discarded = inner.call(request).await;
                    tokio::time::sleep_until(deadline).await;
                    Err(Status::deadline_exceeded(format!(
                        "the response of {name} was dropped (fault injected)"
                    )))
                }
                Outcome::Reset | Outcome::Pass => inner.call(request).await,
            }
        })
    }
}
