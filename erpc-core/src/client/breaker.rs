//! A circuit breaker with gobreaker's semantics (sony/gobreaker, after Nygard's "Release
//! It!"): **closed** — calls pass and their outcomes are counted; when the trip function
//! says so it **opens** — calls fail at once with `unavailable` — until the open timeout
//! passes; then it is **half-open** — up to `max_half_open` trial calls pass; as many
//! successes in a row close it, one failure opens it again. In the closed state the counts
//! are cleared every counting `interval` (0: never); every change of state clears them too.
//!
//! Two differences from gobreaker, both for a client that balances: a trial call the caller
//! abandoned frees its place (gobreaker keeps counting it, and a half-open breaker whose
//! trials were all cancelled stays stuck), and the change from open to half-open happens on
//! a timer, not on the next call — an instance breaker keeps its instance out of the
//! balancer's picks ([`Load::set_breaker_open`]) while open, so no call would come to make
//! the change.
//!
//! **New settings apply to a breaker as it is** (the layers' `set_settings`, a live
//! configuration's change): it keeps its state and counts, and the new durations count from
//! when that state began, as if it had had them all along — an open breaker half-opens at
//! its opening time plus the new open timeout (at once if that is past: a shorter timeout
//! releases a breaker opened under a long one), a closed one clears its counts at its
//! counting interval's start plus the new interval. gobreaker and resilience4j have no such
//! change (their settings are fixed; resilience4j's registry replaces a breaker, closed);
//! erpc keeps the state so that an open instance is not let back in by a change of its
//! trip rule alone.
//!
//! The layers that use it are in `breaker_layer.rs`: one breaker per instance (attempt
//! level) and one per method (call level).
//!
//! **The closed state takes no lock.** A call let through a closed breaker and its success —
//! nearly every call — are two atomic increments and one clock read: the state and its
//! generation are mirrored in an atomic word, and admissions and successes are counted in
//! two atomic words tagged with the generation they count for, which the locked state
//! machine folds into its counts whenever it looks at them (on a failure, an abandoned
//! call, any change of state, a half-open breaker's every call). A count tagged with an
//! older generation is not added (the call it stands for began under a state since left,
//! as the locked path decides too). A success needs no clock read: one that ends after the
//! counting interval did is added to the counts that interval's end clears before anything
//! reads them (every locked look applies the time first). The counts a trip function sees
//! are those of some order of the calls that ended, as under gobreaker's lock: only
//! successes are counted apart, and a success changes no count a failure does not reset
//! in one step (the fold adds them before the failure is counted).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use tokio::time::Instant;

use crate::discovery::Load;
use crate::discovery::load::{is_instance_failure, says_nothing_of_instance};
use crate::observe::{BreakerChange, BreakerScope, BreakerState, Observer};
use crate::status::{Code, Status};

/// What a breaker counted since its state last changed (or its counting interval began):
/// what a trip function decides on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Calls let through (including those still running).
    pub requests: u32,
    /// Calls that succeeded.
    pub total_successes: u32,
    /// Calls that failed (by the settings' failure rule).
    pub total_failures: u32,
    /// Successes since the last failure.
    pub consecutive_successes: u32,
    /// Failures since the last success.
    pub consecutive_failures: u32,
}

/// When a closed breaker opens.
#[derive(Clone)]
pub enum Trip {
    /// After this many failures in a row (at least 1: [`BreakerSettings::trip`] refuses 0).
    /// gobreaker's default (it trips after more than 5; erpc's default is 5).
    ConsecutiveFailures(u32),
    /// When, with at least `min_calls` calls decided in the counting interval, the share
    /// that failed is `rate` or more.
    ErrorRate {
        /// The share of failures that trips it: above 0, at most 1 ([`BreakerSettings::trip`]
        /// refuses others: NaN or above 1 would never trip, 0 or less would trip at once).
        rate: f64,
        /// Calls needed before the rate counts (at least 1).
        min_calls: u32,
    },
    /// Your rule, given the counts after each failure (gobreaker's `ReadyToTrip`).
    Custom(Arc<dyn Fn(&Counts) -> bool + Send + Sync>),
}

impl fmt::Debug for Trip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trip::ConsecutiveFailures(n) => write!(f, "ConsecutiveFailures({n})"),
            Trip::ErrorRate { rate, min_calls } => {
                write!(f, "ErrorRate {{ rate: {rate}, min_calls: {min_calls} }}")
            }
            Trip::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl Trip {
    /// Whether this rule can work: [`Trip::ConsecutiveFailures`] at least 1,
    /// [`Trip::ErrorRate`]'s `rate` above 0 and at most 1, its `min_calls` at least 1.
    /// [`BreakerSettings::trip`] checks it; the config crate reports it against the file's
    /// key.
    ///
    /// # Errors
    /// The setting at fault (`"ConsecutiveFailures"`, `"ErrorRate.rate"` or
    /// `"ErrorRate.min_calls"`) and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        match *self {
            Trip::ConsecutiveFailures(0) => {
                Err(("ConsecutiveFailures", "must be at least 1".into()))
            }
            Trip::ErrorRate { rate, .. } if rate.is_nan() || rate <= 0.0 || rate > 1.0 => Err((
                "ErrorRate.rate",
                format!("must be above 0 and at most 1 (a share of calls), got {rate}"),
            )),
            Trip::ErrorRate { min_calls: 0, .. } => Err((
                "ErrorRate.min_calls",
                "must be at least 1: a rate needs calls to be a share of".into(),
            )),
            _ => Ok(()),
        }
    }

    fn trips(&self, counts: &Counts) -> bool {
        match self {
            Trip::ConsecutiveFailures(n) => counts.consecutive_failures >= (*n).max(1),
            Trip::ErrorRate { rate, min_calls } => {
                let decided = counts.total_successes + counts.total_failures;
                decided >= (*min_calls).max(1)
                    && f64::from(counts.total_failures) >= rate * f64::from(decided)
            }
            Trip::Custom(f) => f(counts),
        }
    }
}

/// A breaker's settings. Defaults: trip after 5 failures in a row, 1 trial call when
/// half-open, open for 5 s, counts cleared every 10 s while closed, and the statuses that
/// count as failures those of an instance failing — `unavailable`, `deadline_exceeded`,
/// `internal`, `unknown`, `data_loss` (an application's `not_found` or
/// `invalid_argument` is a success to a breaker: the instance answered).
#[derive(Clone)]
pub struct BreakerSettings {
    max_half_open: u32,
    interval: Duration,
    open_timeout: Duration,
    trip: Trip,
    failure: Arc<dyn Fn(Code) -> bool + Send + Sync>,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            max_half_open: 1,
            interval: Duration::from_secs(10),
            open_timeout: Duration::from_secs(5),
            trip: Trip::ConsecutiveFailures(5),
            failure: Arc::new(is_instance_failure),
        }
    }
}

impl fmt::Debug for BreakerSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerSettings")
            .field("max_half_open", &self.max_half_open)
            .field("interval", &self.interval)
            .field("open_timeout", &self.open_timeout)
            .field("trip", &self.trip)
            .finish_non_exhaustive()
    }
}

impl BreakerSettings {
    /// The longest open timeout and counting interval: an hour.
    pub const MAX_DURATION: Duration = Duration::from_secs(3600);

    /// Trial calls let through while half-open, and successes in a row that close it (at
    /// least 1; gobreaker's `MaxRequests`). Default 1.
    ///
    /// # Panics
    /// If `calls` is 0 (no trial call could close the breaker); the config file refuses it
    /// too.
    pub fn max_half_open(mut self, calls: u32) -> Self {
        assert!(
            calls >= 1,
            "BreakerSettings::max_half_open: max_half_open must be at least 1, got 0"
        );
        self.max_half_open = calls;
        self
    }

    /// How often the counts are cleared while closed (gobreaker's `Interval`); zero never
    /// clears them. Default 10 s.
    ///
    /// # Panics
    /// If `interval` fails [`BreakerSettings::check_interval`] (above an hour); the config
    /// file refuses it too.
    pub fn interval(mut self, interval: Duration) -> Self {
        if let Err(why) = BreakerSettings::check_interval(interval) {
            panic!("BreakerSettings::interval: interval {why}; zero never clears the counts");
        }
        self.interval = interval;
        self
    }

    /// How long it stays open before letting trial calls through (gobreaker's `Timeout`).
    /// Default 5 s.
    ///
    /// # Panics
    /// If `timeout` fails [`BreakerSettings::check_open_timeout`] (zero, or above an hour);
    /// the config file refuses it too.
    pub fn open_timeout(mut self, timeout: Duration) -> Self {
        if let Err(why) = BreakerSettings::check_open_timeout(timeout) {
            panic!("BreakerSettings::open_timeout: open_timeout {why}");
        }
        self.open_timeout = timeout;
        self
    }

    /// When it opens. Default [`Trip::ConsecutiveFailures`]`(5)`.
    ///
    /// # Panics
    /// If `trip` fails [`Trip::check`] (`ConsecutiveFailures(0)`; an `ErrorRate` whose
    /// `rate` is NaN, 0 or less, or above 1 — a breaker that never opens, or always does —
    /// or whose `min_calls` is 0); the config file refuses the same values.
    pub fn trip(mut self, trip: Trip) -> Self {
        if let Err((setting, why)) = trip.check() {
            panic!("BreakerSettings::trip: Trip::{setting} {why}");
        }
        self.trip = trip;
        self
    }

    /// Whether `timeout` can be an open timeout: above zero (an open breaker fails calls
    /// fast for this long) and at most [`BreakerSettings::MAX_DURATION`].
    ///
    /// # Errors
    /// Why not.
    pub fn check_open_timeout(timeout: Duration) -> Result<(), String> {
        if timeout.is_zero() {
            return Err(
                "must be above zero: an open breaker fails calls fast for this long".into(),
            );
        }
        if timeout > BreakerSettings::MAX_DURATION {
            return Err(format!(
                "must be at most 1h (the longest open timeout), got {}: trial calls find out \
                 sooner whether the instance is back",
                crate::human::duration(timeout)
            ));
        }
        Ok(())
    }

    /// Whether `interval` can be a counting interval: at most
    /// [`BreakerSettings::MAX_DURATION`] (zero, never clearing the counts, included).
    ///
    /// # Errors
    /// Why not.
    pub fn check_interval(interval: Duration) -> Result<(), String> {
        if interval > BreakerSettings::MAX_DURATION {
            return Err(format!(
                "must be at most 1h (the longest counting interval), got {}",
                crate::human::duration(interval)
            ));
        }
        Ok(())
    }

    /// Which statuses count as failures (gobreaker's `IsSuccessful`, inverted); every
    /// other outcome, `Ok` included, is a success — but `cancelled`, which counts neither
    /// way (the caller ended the call, or closed its client: nothing was learnt of the
    /// instance), as a call whose caller dropped it. Default: an instance failing (see
    /// [`BreakerSettings`]).
    pub fn failures(mut self, failure: impl Fn(Code) -> bool + Send + Sync + 'static) -> Self {
        self.failure = Arc::new(failure);
        self
    }

    /// Whether a call that ended with `code` counts as a failure.
    pub(crate) fn is_failure(&self, code: Code) -> bool {
        (self.failure)(code)
    }
}

/// One breaker: its state machine and whom it tells of changes.
pub(crate) struct Breaker {
    /// `instance <addr>` or `method <service>.<method>`: named in refusals and events.
    name: String,
    /// What it guards, for events.
    scope: Scope,
    /// Replaced whole when the layer's settings change ([`Breaker::set_settings`]).
    settings: RwLock<Arc<BreakerSettings>>,
    machine: Mutex<Machine>,
    observer: Option<Arc<dyn Observer>>,
    /// The machine's state and generation as one word (`generation << 2 | state`), written
    /// under its lock, read without it.
    gate: AtomicU64,
    /// While closed with a counting interval: when it ends, in nanoseconds since `epoch`
    /// (`u64::MAX`: never). Written under the lock.
    closed_until: AtomicU64,
    /// What `closed_until` counts from.
    epoch: Instant,
    /// Calls let through a closed breaker and not yet folded into the machine's counts:
    /// [`Tally`] of the generation's low 32 bits and the count.
    admitted: AtomicU64,
    /// Successes in a closed breaker not yet folded into the machine's counts ([`Tally`]).
    succeeded: AtomicU64,
}

/// `Breaker::gate`'s state bits.
const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;

fn state_bits(state: BreakerState) -> u64 {
    match state {
        BreakerState::Closed => CLOSED,
        BreakerState::Open => OPEN,
        BreakerState::HalfOpen => HALF_OPEN,
    }
}

/// A count tagged with the generation it counts for: `tag << 32 | count`, in one atomic
/// word, so that an increment for a generation since left is refused (not added to the next
/// one's counts) without a lock.
struct Tally;

impl Tally {
    /// The tag of `generation` (its low 32 bits: a call would have to outlive 2³² changes
    /// of state for its count to be taken for a later generation's).
    fn tag(generation: u64) -> u64 {
        generation & u64::from(u32::MAX)
    }

    /// An empty tally for `generation`.
    fn empty(generation: u64) -> u64 {
        Tally::tag(generation) << 32
    }

    /// Add one to `word` if it counts for `generation` and is not full; `false` otherwise
    /// (the caller takes the lock).
    fn bump(word: &AtomicU64, generation: u64) -> bool {
        let tag = Tally::tag(generation);
        word.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
            (w >> 32 == tag && w as u32 != u32::MAX).then_some(w + 1)
        })
        .is_ok()
    }

    /// Take `word`'s count for `generation` (zero if it counts for another), leaving it
    /// empty for `generation`.
    fn take(word: &AtomicU64, generation: u64) -> u32 {
        let w = word.swap(Tally::empty(generation), Ordering::Relaxed);
        if w >> 32 == Tally::tag(generation) {
            w as u32
        } else {
            0
        }
    }
}

struct Machine {
    state: BreakerState,
    /// Changes with every change of state (and every cleared interval): an outcome of a
    /// call let through under another generation is not counted.
    generation: u64,
    counts: Counts,
    /// Closed: when the counts are next cleared; open: when it half-opens.
    expiry: Option<Instant>,
    /// When the state (or, closed, the counting interval) began: new settings count their
    /// open timeout or interval from here ([`Breaker::set_settings`]).
    since: Instant,
    /// The timer that half-opens it while open ([`Breaker::half_open_later`]), replaced
    /// (and the old one stopped) when new settings move the end of the open timeout.
    timer: Option<tokio::task::AbortHandle>,
    /// The instance's loads, told whether the instance can take calls (instance breakers):
    /// one per client sharing this breaker's layer, and a re-registered instance's new one
    /// beside its old. Weak: a load its client's list dropped goes (and a load holds its
    /// breaker, [`Load::attach`], so a strong one would keep both alive).
    loads: Vec<Weak<Load>>,
}

/// What a breaker guards (owned [`BreakerScope`]).
pub(crate) enum Scope {
    /// An instance's address.
    Instance(String),
    /// A service and method.
    Method(String, String),
}

impl Scope {
    fn borrowed(&self) -> BreakerScope<'_> {
        match self {
            Scope::Instance(addr) => BreakerScope::Instance(addr),
            Scope::Method(service, method) => BreakerScope::Method { service, method },
        }
    }

    fn name(&self) -> String {
        match self {
            Scope::Instance(addr) => format!("instance {addr}"),
            Scope::Method(service, method) => format!("method {service}.{method}"),
        }
    }
}

/// A change of state, told once the lock is released.
type Change = (BreakerState, BreakerState);

/// A call let through: report its outcome with [`Ticket::finish`]; dropped without, the
/// call was abandoned and counts neither way.
pub struct Ticket {
    breaker: Arc<Breaker>,
    generation: u64,
    done: bool,
}

impl Breaker {
    pub(crate) fn new(
        scope: Scope,
        settings: Arc<BreakerSettings>,
        observer: Option<Arc<dyn Observer>>,
        load: Option<Arc<Load>>,
    ) -> Arc<Breaker> {
        let now = Instant::now();
        let expiry = interval_end(&settings, now);
        Arc::new(Breaker {
            gate: AtomicU64::new(CLOSED),
            closed_until: AtomicU64::new(nanos_since(now, expiry)),
            epoch: now,
            admitted: AtomicU64::new(Tally::empty(0)),
            succeeded: AtomicU64::new(Tally::empty(0)),
            name: scope.name(),
            scope,
            settings: RwLock::new(settings),
            machine: Mutex::new(Machine {
                state: BreakerState::Closed,
                generation: 0,
                counts: Counts::default(),
                expiry,
                since: now,
                timer: None,
                loads: load.iter().map(Arc::downgrade).collect(),
            }),
            observer,
        })
    }

    /// The settings in force.
    fn settings(&self) -> Arc<BreakerSettings> {
        // Replaced whole: a poisoned lock still holds whole settings.
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Use `settings` from now on, keeping the state and counts. The new durations count
    /// from when the state began, as if the breaker had had them all along: an open breaker
    /// stays open until its opening time plus the new open timeout — half-open at once if
    /// that is past, so a shorter timeout releases a breaker opened under a long one — and a
    /// closed one's counts are cleared at the start of its counting interval plus the new
    /// interval. A closed breaker is judged by the new trip rule from its next outcome; a
    /// half-open one takes the new number of trial calls.
    pub(crate) fn set_settings(self: &Arc<Self>, settings: Arc<BreakerSettings>) {
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = settings.clone();
        let now = Instant::now();
        let (change, reopened) = {
            let mut m = self.lock();
            let moved = match m.state {
                BreakerState::Open => {
                    let at = later(m.since, settings.open_timeout);
                    let moved = m.expiry != Some(at);
                    m.expiry = Some(at);
                    moved
                }
                BreakerState::Closed => {
                    m.expiry = interval_end(&settings, m.since);
                    // Published alone: the counts kept apart stay (a new generation would
                    // drop the outcomes of the calls now running).
                    let until = nanos_since(self.epoch, m.expiry);
                    self.closed_until.store(until, Ordering::Relaxed);
                    false
                }
                BreakerState::HalfOpen => false,
            };
            // An end now past is applied now (half-open, or counts cleared).
            let change = self.expire(&mut m, now);
            self.publish(&m);
            // Still open with its end moved: the timer must wake at the new end.
            (change, moved && m.state == BreakerState::Open)
        };
        self.tell(change, None);
        if reopened {
            self.half_open_later();
        }
    }

    /// The machine, with the counts kept apart (admissions and successes of a closed
    /// breaker) folded in.
    fn lock(&self) -> std::sync::MutexGuard<'_, Machine> {
        // Every update leaves the machine whole: a poisoned lock is still consistent.
        let mut m = self.machine.lock().unwrap_or_else(|p| p.into_inner());
        let admitted = Tally::take(&self.admitted, m.generation);
        let succeeded = Tally::take(&self.succeeded, m.generation);
        let c = &mut m.counts;
        c.requests = c.requests.saturating_add(admitted);
        if succeeded > 0 {
            c.total_successes = c.total_successes.saturating_add(succeeded);
            c.consecutive_successes = c.consecutive_successes.saturating_add(succeeded);
            c.consecutive_failures = 0;
        }
        m
    }

    /// Mirror a new generation (after a change of state or a cleared interval) in the
    /// words read without the lock: counts apart start empty for it, the interval's end is
    /// published, and the gate opens to it last.
    fn mirror(&self, m: &Machine) {
        self.admitted
            .store(Tally::empty(m.generation), Ordering::Relaxed);
        self.succeeded
            .store(Tally::empty(m.generation), Ordering::Relaxed);
        let until = match m.state {
            BreakerState::Closed => nanos_since(self.epoch, m.expiry),
            _ => 0,
        };
        self.closed_until.store(until, Ordering::Relaxed);
        self.gate
            .store(m.generation << 2 | state_bits(m.state), Ordering::Release);
    }

    /// The current state (after any expiry due now).
    pub(crate) fn state(self: &Arc<Self>) -> BreakerState {
        let (state, change) = {
            let mut m = self.lock();
            let change = self.expire(&mut m, Instant::now());
            (m.state, change)
        };
        self.tell(change, None);
        state
    }

    /// Follow an instance's load too: every client whose attempts this breaker guards has
    /// its own load of the instance (and a re-registered instance gets a new one), and each
    /// must hear when the breaker refuses and when it lets calls through again — a client
    /// not told of the half-open would never pick the instance to make the trial call.
    /// Called once per load (the load then holds the breaker, [`Load::attach`]).
    pub(crate) fn follow_load(&self, load: &Arc<Load>) {
        let mut m = self.lock();
        m.loads.retain(|followed| followed.strong_count() > 0);
        if !m
            .loads
            .iter()
            .any(|followed| followed.as_ptr() == Arc::as_ptr(load))
        {
            m.loads.push(Arc::downgrade(load));
            self.publish(&m);
        }
    }

    /// Let a call through, or refuse it with `unavailable` naming this breaker.
    #[cfg(test)]
    pub(crate) fn admit(self: &Arc<Self>) -> Result<Ticket, Status> {
        self.clone().enter()
    }

    /// Let a call through, or refuse it with `unavailable` naming this breaker; the ticket
    /// holds this `Arc`.
    pub(crate) fn enter(self: Arc<Self>) -> Result<Ticket, Status> {
        self.enter_at(Instant::now())
    }

    /// [`Breaker::enter`] at `now`, a clock read the caller made a moment ago.
    pub(crate) fn enter_at(self: Arc<Self>, now: Instant) -> Result<Ticket, Status> {
        // Closed, within its counting interval: count the call without the lock.
        let gate = self.gate.load(Ordering::Acquire);
        if gate & 3 == CLOSED
            && nanos_since(self.epoch, Some(now)) < self.closed_until.load(Ordering::Relaxed)
            && Tally::bump(&self.admitted, gate >> 2)
        {
            return Ok(Ticket {
                breaker: self,
                generation: gate >> 2,
                done: false,
            });
        }
        self.admit_locked(now)
    }

    fn admit_locked(self: Arc<Self>, now: Instant) -> Result<Ticket, Status> {
        let (admitted, change) = {
            let mut m = self.lock();
            let change = self.expire(&mut m, now);
            let admitted = match m.state {
                BreakerState::Open => {
                    let left = m
                        .expiry
                        .map(|e| e.saturating_duration_since(now))
                        .unwrap_or_default();
                    // The hint is the time it stays open: a retry before then fails fast too.
                    Err(Status::unavailable(format!(
                        "circuit breaker open: {} fails fast for {} more",
                        self.name,
                        crate::human::duration(left),
                    ))
                    .with_retry_after(left))
                }
                BreakerState::HalfOpen if m.counts.requests >= self.settings().max_half_open => {
                    Err(Status::unavailable(format!(
                        "circuit breaker half-open: {} has its {} in flight",
                        self.name,
                        crate::human::count(self.settings().max_half_open, "trial call")
                    )))
                }
                _ => {
                    m.counts.requests += 1;
                    self.publish(&m);
                    Ok(Ticket {
                        breaker: self.clone(),
                        generation: m.generation,
                        done: false,
                    })
                }
            };
            (admitted, change)
        };
        self.tell(change, None);
        admitted
    }

    /// Count the outcome of a call let through under `generation`: `Some(true)` failed,
    /// `Some(false)` succeeded, `None` abandoned.
    fn record(self: &Arc<Self>, generation: u64, failed: Option<bool>) {
        // A success while still closed under the same generation: counted apart, no lock.
        if failed == Some(false)
            && self.gate.load(Ordering::Acquire) == generation << 2 | CLOSED
            && Tally::bump(&self.succeeded, generation)
        {
            return;
        }
        let now = Instant::now();
        let (first, second) = {
            let mut m = self.lock();
            let first = self.expire(&mut m, now);
            if m.generation != generation {
                // Counted under a state since left: its outcome says nothing of this one.
                drop(m);
                self.tell(first, None);
                return;
            }
            let c = &mut m.counts;
            let second = match failed {
                None => {
                    c.requests = c.requests.saturating_sub(1);
                    None
                }
                Some(false) => {
                    c.total_successes += 1;
                    c.consecutive_successes += 1;
                    c.consecutive_failures = 0;
                    let close = m.state == BreakerState::HalfOpen
                        && m.counts.consecutive_successes >= self.settings().max_half_open;
                    close.then(|| self.set(&mut m, BreakerState::Closed, now))
                }
                Some(true) => {
                    c.total_failures += 1;
                    c.consecutive_failures += 1;
                    c.consecutive_successes = 0;
                    let open = match m.state {
                        BreakerState::Closed => self.settings().trip.trips(&m.counts),
                        BreakerState::HalfOpen => true,
                        BreakerState::Open => false,
                    };
                    open.then(|| self.set(&mut m, BreakerState::Open, now))
                }
            };
            self.publish(&m);
            (first, second)
        };
        self.tell(first, second);
    }

    /// Apply what time has done: a closed breaker's interval ended (counts cleared), an
    /// open one's timeout passed (half-open).
    fn expire(&self, m: &mut Machine, now: Instant) -> Option<Change> {
        match (m.state, m.expiry) {
            (BreakerState::Closed, Some(at)) if at <= now => {
                m.generation += 1;
                m.counts = Counts::default();
                m.since = now;
                m.expiry = interval_end(&self.settings(), now);
                self.mirror(m);
                None
            }
            (BreakerState::Open, Some(at)) if at <= now => {
                Some(self.set(m, BreakerState::HalfOpen, now))
            }
            _ => None,
        }
    }

    fn set(&self, m: &mut Machine, to: BreakerState, now: Instant) -> Change {
        let from = m.state;
        m.state = to;
        m.generation += 1;
        m.counts = Counts::default();
        m.since = now;
        m.expiry = match to {
            BreakerState::Closed => interval_end(&self.settings(), now),
            BreakerState::Open => Some(later(now, self.settings().open_timeout)),
            BreakerState::HalfOpen => None,
        };
        if to != BreakerState::Open {
            // A timer of the open state just left has nothing more to do.
            if let Some(timer) = m.timer.take() {
                timer.abort();
            }
        }
        self.mirror(m);
        self.publish(m);
        (from, to)
    }

    /// Tell the instance's load whether it can take calls: not while open, nor while
    /// half-open with every trial place taken — so the balancer sends calls elsewhere.
    fn publish(&self, m: &Machine) {
        if m.loads.is_empty() {
            return;
        }
        let refusing = match m.state {
            BreakerState::Closed => false,
            BreakerState::Open => true,
            BreakerState::HalfOpen => m.counts.requests >= self.settings().max_half_open,
        };
        for load in m.loads.iter().filter_map(Weak::upgrade) {
            if load.is_breaker_open() != refusing {
                load.set_breaker_open(refusing);
            }
        }
    }

    /// Report changes (after the lock is released) and, on opening, start the timer that
    /// half-opens it.
    fn tell(self: &Arc<Self>, first: Option<Change>, second: Option<Change>) {
        if first.is_none() && second.is_none() {
            // Every call that changes nothing (nearly all of them) passes here twice.
            return;
        }
        for (from, to) in [first, second].into_iter().flatten() {
            // What an operator looks for in the log: an opening (calls now fail fast) at WARN,
            // the way back at INFO.
            if to == BreakerState::Open {
                tracing::warn!(
                    breaker = %self.name,
                    ?from,
                    ?to,
                    "circuit breaker opened: its calls fail at once until it half-opens"
                );
            } else {
                tracing::info!(breaker = %self.name, ?from, ?to, "circuit breaker changed state");
            }
            if let Some(observer) = &self.observer {
                observer.breaker_changed(&BreakerChange {
                    breaker: &self.name,
                    scope: self.scope.borrowed(),
                    from,
                    to,
                });
            }
            if to == BreakerState::Open {
                self.half_open_later();
            }
        }
    }

    /// Half-open when the open timeout has passed, whether or not a call comes (none comes
    /// to an instance the balancer skips): a timer to the end of the open state, replacing
    /// (and stopping) any earlier one. Holds the breaker weakly: a dropped client's breakers
    /// are not kept alive by their timers.
    fn half_open_later(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime (a breaker driven outside one): the next call half-opens it.
            return;
        };
        let mut m = self.lock();
        let Some(at) = m.expiry.filter(|_| m.state == BreakerState::Open) else {
            return;
        };
        let weak: Weak<Breaker> = Arc::downgrade(self);
        let timer = runtime.spawn(async move {
            tokio::time::sleep_until(at).await;
            if let Some(breaker) = weak.upgrade() {
                breaker.state();
            }
        });
        if let Some(old) = m.timer.replace(timer.abort_handle()) {
            old.abort();
        }
    }
}

/// `at` in nanoseconds since `epoch` (`u64::MAX` for `None`: never).
fn nanos_since(epoch: Instant, at: Option<Instant>) -> u64 {
    at.map_or(u64::MAX, |at| {
        u64::try_from(at.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX)
    })
}

fn interval_end(settings: &BreakerSettings, now: Instant) -> Option<Instant> {
    (!settings.interval.is_zero()).then(|| later(now, settings.interval))
}

/// `at` plus `wait`; a wait too long for the clock to hold is a century (a breaker made in
/// code may be given `Duration::MAX`; erpc-config bounds its durations at an hour).
fn later(at: Instant, wait: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    at.checked_add(wait.min(CENTURY))
        .or_else(|| at.checked_add(Duration::from_secs(24 * 3600)))
        .unwrap_or(at)
}

impl Ticket {
    /// Count the call's outcome.
    pub(crate) fn finish<T>(self, outcome: &Result<T, Status>) {
        self.finish_with(outcome.as_ref().err().map(Status::code));
    }

    /// Count the call's outcome by its status code: `None` for a success. A `cancelled`
    /// call is abandoned, whatever the settings' failures: its own caller ended it (gave up,
    /// or closed the client), which says nothing of the instance.
    pub(crate) fn finish_with(mut self, failed_with: Option<Code>) {
        self.done = true;
        let failed = match failed_with {
            None => Some(false),
            Some(code) if says_nothing_of_instance(code) => None,
            Some(code) => Some(self.breaker.settings().is_failure(code)),
        };
        self.breaker.record(self.generation, failed);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.done {
            self.breaker.record(self.generation, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail() -> Result<(), Status> {
        Err(Status::unavailable("down"))
    }

    fn breaker(settings: BreakerSettings, load: Option<Arc<Load>>) -> Arc<Breaker> {
        Breaker::new(
            Scope::Instance("test".into()),
            Arc::new(settings),
            None,
            load,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn closed_open_half_open_closed() {
        let load = Arc::new(Load::default());
        let b = breaker(BreakerSettings::default(), Some(load.clone()));
        for _ in 0..4 {
            b.admit().unwrap().finish(&fail());
        }
        assert_eq!(b.state(), BreakerState::Closed);
        // An application error is a success to a breaker: the count starts again.
        b.admit()
            .unwrap()
            .finish(&Err::<(), _>(Status::not_found("no such key")));
        for _ in 0..4 {
            b.admit().unwrap().finish(&fail());
        }
        assert_eq!(b.state(), BreakerState::Closed);
        b.admit().unwrap().finish(&fail());
        assert_eq!(b.state(), BreakerState::Open);
        assert!(load.is_breaker_open());
        let refused = b.admit().err().unwrap();
        assert_eq!(refused.code(), Code::Unavailable);
        // It says how long it stays open (5 s, less the instant since it opened).
        let hint = refused.retry_after().expect("a retry-after hint");
        assert!(
            hint > Duration::from_millis(4_000) && hint <= Duration::from_secs(5),
            "{hint:?}"
        );
        assert!(
            refused
                .message()
                .contains("circuit breaker open: instance test"),
            "{refused}"
        );
        // The wait in the message is a person's ("4.9 s"), not Duration's Debug.
        assert!(refused.message().ends_with(" s more"), "{refused}");
        // The timer half-opens it without any call.
        tokio::time::sleep(Duration::from_secs(5)).await;
        tokio::task::yield_now().await;
        assert!(!load.is_breaker_open(), "half-open takes a trial call");
        let trial = b.admit().unwrap();
        assert!(load.is_breaker_open(), "its one trial place is taken");
        assert!(b.admit().is_err());
        trial.finish(&Ok::<(), Status>(()));
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(!load.is_breaker_open());
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_trial_reopens_and_an_abandoned_one_frees_its_place() {
        let b = breaker(
            BreakerSettings::default().trip(Trip::ConsecutiveFailures(1)),
            None,
        );
        b.admit().unwrap().finish(&fail());
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(b.state(), BreakerState::HalfOpen);
        drop(b.admit().unwrap());
        b.admit().unwrap().finish(&fail());
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn the_error_rate_trips_over_a_minimum_of_calls_and_intervals_clear_it() {
        let settings = BreakerSettings::default()
            .trip(Trip::ErrorRate {
                rate: 0.5,
                min_calls: 10,
            })
            .interval(Duration::from_secs(1));
        let b = breaker(settings, None);
        // 4 of 8 failed: too few calls.
        for i in 0..8 {
            let t = b.admit().unwrap();
            if i % 2 == 0 {
                t.finish(&fail())
            } else {
                t.finish(&Ok::<(), Status>(()))
            }
        }
        assert_eq!(b.state(), BreakerState::Closed);
        // The interval ends: counts start again, so 2 more calls do not reach 10.
        tokio::time::sleep(Duration::from_secs(1)).await;
        b.admit().unwrap().finish(&fail());
        b.admit().unwrap().finish(&fail());
        assert_eq!(b.state(), BreakerState::Closed);
        for _ in 0..8 {
            b.admit().unwrap().finish(&fail());
        }
        assert_eq!(b.state(), BreakerState::Open);
    }

    /// A trip rule that remembers the counts it was shown.
    fn watching(seen: &Arc<Mutex<Vec<Counts>>>) -> Trip {
        let seen = seen.clone();
        Trip::Custom(Arc::new(move |c: &Counts| {
            seen.lock().unwrap().push(*c);
            false
        }))
    }

    #[tokio::test(start_paused = true)]
    async fn successes_counted_without_the_lock_reach_the_trip_rule_in_order() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let b = breaker(BreakerSettings::default().trip(watching(&seen)), None);
        let running = b.admit().unwrap();
        for _ in 0..3 {
            b.admit().unwrap().finish(&Ok::<(), Status>(()));
        }
        // An application error is a success to the breaker, counted the same way.
        b.admit()
            .unwrap()
            .finish(&Err::<(), _>(Status::not_found("no such key")));
        b.admit().unwrap().finish(&fail());
        b.admit().unwrap().finish(&fail());
        b.admit().unwrap().finish(&Ok::<(), Status>(()));
        b.admit().unwrap().finish(&fail());
        drop(running);
        let seen = seen.lock().unwrap().clone();
        let counts = |requests, s, f, cs, cf| Counts {
            requests,
            total_successes: s,
            total_failures: f,
            consecutive_successes: cs,
            consecutive_failures: cf,
        };
        assert_eq!(
            seen,
            [
                counts(6, 4, 1, 0, 1),
                counts(7, 4, 2, 0, 2),
                counts(9, 5, 3, 0, 1),
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_outcome_from_an_earlier_state_is_not_counted_in_a_later_one() {
        // A success of a call let through while closed does not close the half-open
        // breaker it ends in (its one trial place is the only way to close it).
        let b = breaker(
            BreakerSettings::default().trip(Trip::ConsecutiveFailures(1)),
            None,
        );
        let early = b.admit().unwrap();
        b.admit().unwrap().finish(&fail());
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(b.state(), BreakerState::HalfOpen);
        early.finish(&Ok::<(), Status>(()));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        // Across a cleared counting interval too: the rule sees only the new interval's.
        let seen = Arc::new(Mutex::new(Vec::new()));
        let b = breaker(
            BreakerSettings::default()
                .trip(watching(&seen))
                .interval(Duration::from_secs(1)),
            None,
        );
        let early = b.admit().unwrap();
        b.admit().unwrap().finish(&Ok::<(), Status>(()));
        tokio::time::sleep(Duration::from_secs(1)).await;
        b.admit().unwrap().finish(&fail());
        early.finish(&Ok::<(), Status>(()));
        b.admit().unwrap().finish(&fail());
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2);
        assert_eq!((seen[0].requests, seen[0].total_successes), (1, 0));
        assert_eq!(
            (
                seen[1].requests,
                seen[1].total_successes,
                seen[1].total_failures
            ),
            (2, 0, 2)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn new_settings_recount_an_open_breaker_s_wait_from_its_opening() {
        // Opened under an hour's timeout (a live value a fresh user gave by mistake) ...
        let load = Arc::new(Load::default());
        let hour = BreakerSettings::default()
            .trip(Trip::ConsecutiveFailures(1))
            .open_timeout(Duration::from_secs(3600));
        let b = breaker(hour.clone(), Some(load.clone()));
        b.admit().unwrap().finish(&fail());
        assert_eq!(b.state(), BreakerState::Open);
        tokio::time::sleep(Duration::from_secs(4)).await;
        // ... a 10 s one leaves it open 6 s more, as if it had had 10 s all along ...
        b.set_settings(Arc::new(hour.clone().open_timeout(Duration::from_secs(10))));
        assert_eq!(b.state(), BreakerState::Open);
        let hint = b.admit().err().unwrap().retry_after().unwrap();
        assert!(
            hint <= Duration::from_secs(6) && hint > Duration::from_secs(5),
            "{hint:?}"
        );
        // ... and its timer wakes at the new end, with no call.
        tokio::time::sleep(Duration::from_secs(6)).await;
        tokio::task::yield_now().await;
        assert!(!load.is_breaker_open(), "half-open at the new end");
        b.admit().unwrap().finish(&fail());
        assert_eq!(b.state(), BreakerState::Open, "a failed trial reopens it");
        // A timeout already past since it opened half-opens it at once.
        b.set_settings(Arc::new(hour.clone()));
        tokio::time::sleep(Duration::from_secs(4)).await;
        b.set_settings(Arc::new(hour.open_timeout(Duration::from_secs(1))));
        assert!(!load.is_breaker_open());
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.admit().unwrap().finish(&Ok::<(), Status>(()));
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_counting_interval_counts_from_the_interval_s_start() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let hour = BreakerSettings::default()
            .trip(watching(&seen))
            .interval(Duration::from_secs(3600));
        let b = breaker(hour.clone(), None);
        b.admit().unwrap().finish(&Ok::<(), Status>(()));
        tokio::time::sleep(Duration::from_secs(4)).await;
        // 1 s from an interval begun 4 s ago: over, the counts start again.
        b.set_settings(Arc::new(hour.interval(Duration::from_secs(1))));
        b.admit().unwrap().finish(&fail());
        assert_eq!(seen.lock().unwrap()[0].total_successes, 0);
        assert_eq!(seen.lock().unwrap()[0].total_failures, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_timeout_beyond_the_clock_does_not_panic() {
        // The builders refuse these now; the breaker stays safe with them all the same.
        let b = breaker(
            BreakerSettings {
                open_timeout: Duration::MAX,
                ..BreakerSettings::default().trip(Trip::ConsecutiveFailures(1))
            },
            None,
        );
        b.admit().unwrap().finish(&fail());
        assert_eq!(b.state(), BreakerState::Open);
        b.set_settings(Arc::new(BreakerSettings {
            interval: Duration::MAX,
            ..BreakerSettings::default()
        }));
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(b.state(), BreakerState::HalfOpen);
    }

    #[tokio::test(start_paused = true)]
    async fn a_custom_trip_and_failure_rule() {
        let settings = BreakerSettings::default()
            .failures(|code| code == Code::ResourceExhausted)
            .trip(Trip::Custom(Arc::new(|c: &Counts| c.total_failures >= 2)));
        let b = breaker(settings, None);
        b.admit().unwrap().finish(&fail()); // unavailable: not a failure here
        b.admit()
            .unwrap()
            .finish(&Err::<(), _>(Status::resource_exhausted("busy")));
        assert_eq!(b.state(), BreakerState::Closed);
        b.admit()
            .unwrap()
            .finish(&Err::<(), _>(Status::resource_exhausted("busy")));
        assert_eq!(b.state(), BreakerState::Open);
    }
}
