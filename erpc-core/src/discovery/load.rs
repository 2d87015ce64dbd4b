//! The load a client keeps per instance of a discovered service, for balancers to read:
//! calls in flight, a peak-EWMA latency, a recent error rate, and whether the instance is
//! suspect (its connection failed or stopped answering) or its circuit breaker is open.
//!
//! Peak EWMA is Finagle's and linkerd's latency estimate (Finagle `PeakEwma`, linkerd2's
//! `PeakEwma`): a new sample above the estimate replaces it at once (so a slowing instance is
//! seen at its first slow answer), one below decays the estimate towards it with weight
//! `exp(-Δt/τ)`, where Δt is the time since the last sample and τ the decay time (10 s); read
//! between samples, the estimate is that decay applied towards zero (Finagle's `get` observes
//! a zero; linkerd2 and tower decay it on every read), so an instance no call went to since
//! it was slow is tried again within a few τ rather than never. The
//! error rate is an exponentially weighted mean of "failed" (1) and "succeeded" (0) per call,
//! with weight 1/20 for the newest (about the last twenty calls): by calls rather than by
//! time, so a burst of failures shows at once. The round-trip time of the connection's PINGs
//! (heartbeats and re-check probes) is a plain EWMA with weight 1/8 for the newest sample,
//! TCP's smoothed RTT (RFC 6298 §2). Updates race benignly: concurrent completions may lose
//! one another's sample, never corrupt the estimate.

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use crate::status::Code;

/// The decay time τ of the latency estimate.
pub const DECAY: Duration = Duration::from_secs(10);

/// The weight of the newest call in the error rate.
const ERROR_WEIGHT: f64 = 1.0 / 20.0;

/// The weight of the newest PING round trip in the RTT estimate (RFC 6298's α).
const RTT_WEIGHT: f64 = 1.0 / 8.0;

/// Live load of one instance, kept by the client that calls it.
#[derive(Debug)]
pub struct Load {
    in_flight: AtomicU32,
    /// Peak-EWMA latency in nanoseconds (f64 bits); 0 before the first sample.
    latency: AtomicU64,
    /// Error rate in [0, 1] (f64 bits).
    errors: AtomicU64,
    /// When the last call ended, on the time line all loads share ([`timeline`]): two
    /// loads' last samples compare in a balancer's pick without an `Instant` in sight.
    last: AtomicI64,
    suspect: AtomicBool,
    breaker_open: AtomicBool,
    /// Smoothed PING round trip in nanoseconds (f64 bits); 0 before the first.
    rtt: AtomicU64,
    /// State a client layer keeps for this instance (an instance breaker), so that finding
    /// it per attempt is a pointer read here rather than a lookup in the layer's map.
    attached: Attached,
}

/// The first client layer's state for an instance: `(the layer's id, its state)`. One slot:
/// a client has one breaker layer; a second one finds its state in its own map.
#[derive(Default)]
struct Attached(OnceLock<(u64, Arc<dyn Any + Send + Sync>)>);

impl std::fmt::Debug for Attached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.get() {
            Some((owner, _)) => write!(f, "Attached({owner})"),
            None => f.write_str("Attached(none)"),
        }
    }
}

impl Default for Load {
    fn default() -> Self {
        Load {
            in_flight: AtomicU32::new(0),
            latency: AtomicU64::new(0f64.to_bits()),
            errors: AtomicU64::new(0f64.to_bits()),
            last: AtomicI64::new(timeline(Instant::now())),
            suspect: AtomicBool::new(false),
            breaker_open: AtomicBool::new(false),
            rtt: AtomicU64::new(0f64.to_bits()),
            attached: Attached::default(),
        }
    }
}

impl Load {
    /// Calls (unary and streams) sent to the instance and not yet finished.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// The peak-EWMA latency of its answers, as of now; zero before the first. Between
    /// answers the estimate decays towards zero with the decay time τ (see the module doc),
    /// as Finagle's and linkerd's do when read: an instance no call has gone to since it
    /// was slow looks better and better until one is sent there and measures it again —
    /// without that, a balancer preferring the lower estimate would never try it again.
    pub fn latency(&self) -> Duration {
        Duration::from_nanos(self.latency_nanos_at(Instant::now()) as u64)
    }

    /// The latency estimate at `now`, in nanoseconds: the one the last answer left,
    /// decayed by `exp(-Δt/τ)` for the time since it.
    fn latency_nanos_at(&self, now: Instant) -> f64 {
        let estimate = f64::from_bits(self.latency.load(Ordering::Relaxed));
        let since = timeline(now).saturating_sub(self.last.load(Ordering::Relaxed));
        estimate * decay_weight(decays(since))
    }

    /// Whether its latency was measured (an answer came): what [`Load::latency`] being
    /// non-zero says, without making a `Duration` of it.
    pub(crate) fn is_measured(&self) -> bool {
        f64::from_bits(self.latency.load(Ordering::Relaxed)) >= 1.0
    }

    /// The recent share of its calls that failed as an instance fails (unavailable,
    /// deadline exceeded, internal, unknown, data loss; not application statuses such as
    /// not_found), from 0 to 1.
    pub fn error_rate(&self) -> f64 {
        f64::from_bits(self.errors.load(Ordering::Relaxed))
    }

    /// Whether its last connection attempt failed or its connection stopped answering:
    /// balanced clients skip it until a re-check passes.
    pub fn is_suspect(&self) -> bool {
        self.suspect.load(Ordering::Relaxed)
    }

    /// Whether a circuit breaker refuses its calls (set by a breaker layer): open, or
    /// half-open with every trial place taken.
    pub fn is_breaker_open(&self) -> bool {
        self.breaker_open.load(Ordering::Relaxed)
    }

    /// Set by a circuit breaker as it opens and closes.
    pub fn set_breaker_open(&self, open: bool) {
        self.breaker_open.store(open, Ordering::Relaxed);
    }

    /// Linkerd's load score: peak-EWMA latency (as of now: decayed since the last answer,
    /// see [`Load::latency`]) × (in flight + 1). With no latency sample yet, the in-flight
    /// count alone (an unknown instance is tried, not avoided).
    pub fn score(&self) -> f64 {
        let latency = self.latency_nanos_at(Instant::now()).max(1.0);
        latency * f64::from(self.in_flight() + 1)
    }

    /// Whether `a`'s [`Load::score`] is now at most `b`'s, for two measured instances —
    /// without reading the clock. Both estimates decay at the same rate, so their order now
    /// is their order at the later of their last answers: the one answered earlier decayed
    /// by the time between the two (`now` cancels out of `score(a) / score(b)`). A P2C pick
    /// costs one decay weight instead of a clock read and two.
    pub(crate) fn scores_no_higher(a: &Load, b: &Load) -> bool {
        let (ta, tb) = (
            a.last.load(Ordering::Relaxed),
            b.last.load(Ordering::Relaxed),
        );
        let undecayed = |l: &Load| {
            f64::from_bits(l.latency.load(Ordering::Relaxed)).max(1.0)
                * f64::from(l.in_flight() + 1)
        };
        let (mut sa, mut sb) = (undecayed(a), undecayed(b));
        let keep = decay_weight(decays(ta.abs_diff(tb)));
        if ta < tb {
            sa *= keep;
        } else {
            sb *= keep;
        }
        sa <= sb
    }

    /// The smoothed round-trip time of the connection's PINGs (heartbeats sent while the
    /// connection is idle, and re-check probes); `None` before the first PONG.
    pub fn rtt(&self) -> Option<Duration> {
        let rtt = f64::from_bits(self.rtt.load(Ordering::Relaxed));
        (rtt > 0.0).then(|| Duration::from_nanos(rtt as u64))
    }

    /// A PING was answered after `rtt`.
    pub(crate) fn record_rtt(&self, rtt: Duration) {
        // At least 1 ns, so that a measured round trip is never mistaken for none.
        let sample = (rtt.as_nanos() as f64).max(1.0);
        let old = f64::from_bits(self.rtt.load(Ordering::Relaxed));
        let new = if old == 0.0 {
            sample
        } else {
            old + RTT_WEIGHT * (sample - old)
        };
        self.rtt.store(new.to_bits(), Ordering::Relaxed);
    }

    /// The state the layer `owner` attached to this instance, if it is of type `T`.
    pub(crate) fn attached<T: Any + Send + Sync>(&self, owner: u64) -> Option<Arc<T>> {
        match self.attached.0.get() {
            Some((id, state)) if *id == owner => state.clone().downcast().ok(),
            _ => None,
        }
    }

    /// Attach the layer `owner`'s `state` to this instance, unless a layer already did
    /// (the first keeps the slot).
    pub(crate) fn attach<T: Any + Send + Sync>(&self, owner: u64, state: Arc<T>) {
        let _ = self.attached.0.set((owner, state));
    }

    pub(crate) fn set_suspect(&self, suspect: bool) {
        self.suspect.store(suspect, Ordering::Relaxed);
    }

    /// A call was sent.
    pub(crate) fn started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// A call ended without an answer worth measuring (cancelled by the caller).
    pub(crate) fn abandoned(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// A call ended after `took`, failing as an instance fails or not.
    #[cfg(test)]
    pub(crate) fn finished(&self, took: Option<Duration>, failed: bool) {
        self.finished_at(Instant::now(), took, failed);
    }

    /// A call ended at `now` after `took`, failing as an instance fails or not; `now` is the
    /// clock read the caller made anyway (to measure `took`), so a call costs one, not two.
    pub(crate) fn finished_at(&self, now: Instant, took: Option<Duration>, failed: bool) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let now = timeline(now);
        let then = self.last.swap(now, Ordering::Relaxed);
        if let Some(took) = took {
            let sample = nanos(took) as f64;
            let old = f64::from_bits(self.latency.load(Ordering::Relaxed));
            let new = if sample > old || old == 0.0 {
                sample
            } else {
                // The decay weight only where it is used: `exp` is most of this method's
                // cost, and a peak (above the estimate) replaces it without.
                let keep = decay_weight(decays(now.saturating_sub(then)));
                old * keep + sample * (1.0 - keep)
            };
            self.latency.store(new.to_bits(), Ordering::Relaxed);
        }
        let old = f64::from_bits(self.errors.load(Ordering::Relaxed));
        let x = if failed { 1.0 } else { 0.0 };
        self.errors.store(
            (old + ERROR_WEIGHT * (x - old)).to_bits(),
            Ordering::Relaxed,
        );
    }
}

/// `exp(-x)` for `x` ≥ 0: the weight a latency estimate keeps after `x` decay times. Calls
/// come microseconds to milliseconds apart against a decay time of seconds, so `x` is
/// nearly always small, and there a Taylor polynomial is exact to within its next term at a
/// fraction of `exp`'s cost (about 50 instructions and a call): `1 - x + x²/2` to within
/// `x³/6` (below 2·10⁻¹⁰ under `x` = 10⁻³: calls 10 ms apart), and to the fourth power to
/// within `x⁵/120` (below 3·10⁻¹¹ under `x` = 0.02: 200 ms apart, a P2C pick between two
/// instances one of which was last answered that long before the other).
fn decay_weight(x: f64) -> f64 {
    if x < 1e-3 {
        1.0 - x + 0.5 * x * x
    } else if x < 0.02 {
        1.0 - x * (1.0 - x * (0.5 - x * (1.0 / 6.0 - x * (1.0 / 24.0))))
    } else {
        (-x).exp()
    }
}

/// How many decay times `nanos` nanoseconds are (none for a negative span: samples that
/// raced).
fn decays(nanos: impl TryInto<u64>) -> f64 {
    nanos.try_into().unwrap_or(0) as f64 / DECAY.as_nanos() as f64
}

/// `at` on the time line all loads share: signed nanoseconds from the first instant any
/// load read (the anchor), saturating. Signed, because on a paused test clock an instant
/// may lie before the anchor.
fn timeline(at: Instant) -> i64 {
    static ANCHOR: OnceLock<Instant> = OnceLock::new();
    let anchor = *ANCHOR.get_or_init(|| at);
    let signed = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    if at >= anchor {
        signed(at - anchor)
    } else {
        -signed(anchor - at)
    }
}

/// `d` in nanoseconds, saturating at `u64::MAX` (584 years): a `u64`, whose conversion to
/// `f64` is one instruction where a `u128`'s is a library call.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Whether a call that ended with `code` failed as an instance fails (it is down, overloaded
/// or broken), rather than with an answer of the application's.
pub(crate) fn is_instance_failure(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Internal
            | Code::Unknown
            | Code::DataLoss
    )
}

/// Whether a call that ended with `code` says nothing of its instance either way: a
/// `cancelled` one was ended by its own side (its caller gave up, or closed the client), as
/// a call whose caller dropped it. Breakers and the load count it as abandoned.
pub(crate) fn says_nothing_of_instance(code: Code) -> bool {
    code == Code::Cancelled
}

/// Counts a call (a stream) in flight until dropped.
pub(crate) struct InFlightGuard(pub std::sync::Arc<Load>);

impl InFlightGuard {
    pub(crate) fn new(load: std::sync::Arc<Load>) -> InFlightGuard {
        load.started();
        InFlightGuard(load)
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.abandoned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Paused: the estimate read decays with time, which must not pass between the steps.
    #[tokio::test(start_paused = true)]
    async fn peak_ewma_jumps_up_and_decays_down() {
        let load = Load::default();
        load.started();
        assert_eq!(load.in_flight(), 1);
        load.finished(Some(Duration::from_millis(10)), false);
        assert_eq!(load.in_flight(), 0);
        assert_eq!(load.latency(), Duration::from_millis(10));
        load.started();
        load.finished(Some(Duration::from_millis(50)), false);
        assert_eq!(
            load.latency(),
            Duration::from_millis(50),
            "a peak replaces it"
        );
        load.started();
        load.finished(Some(Duration::from_millis(1)), false);
        // Samples close together barely move it down.
        assert!(load.latency() > Duration::from_millis(45));
        assert!(load.score() > load.latency().as_nanos() as f64 * 0.99);
        // Read after τ without an answer: decayed towards zero by 1/e.
        let before = load.latency().as_secs_f64();
        tokio::time::advance(DECAY).await;
        let after = load.latency().as_secs_f64();
        assert!(
            (after / before - (-1f64).exp()).abs() < 1e-3,
            "{before} -> {after}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn comparing_without_the_clock_orders_as_the_scores_now_do() {
        // a answered 30 ms once, then b 5 ms 20 s later: by then a's estimate has decayed
        // to 30 × e⁻² ≈ 4.1 ms, below b's. The order by the gap alone is the order now, at
        // any later time (both decay alike), and follows the calls in flight.
        let (a, b) = (Load::default(), Load::default());
        a.started();
        a.finished(Some(Duration::from_millis(30)), false);
        tokio::time::advance(2 * DECAY).await;
        b.started();
        b.finished(Some(Duration::from_millis(5)), false);
        for _ in 0..3 {
            assert!(a.score() < b.score());
            assert!(Load::scores_no_higher(&a, &b));
            assert!(!Load::scores_no_higher(&b, &a));
            tokio::time::advance(DECAY).await;
        }
        a.started();
        assert!(a.score() > b.score(), "one in flight doubles a's");
        assert!(!Load::scores_no_higher(&a, &b));
        assert!(Load::scores_no_higher(&b, &a));
    }

    #[test]
    fn the_decay_weight_is_exp_to_within_a_billionth() {
        for x in [
            0.0, 1e-9, 1e-6, 5e-4, 9.99e-4, 1e-3, 0.005, 0.01, 0.0199, 0.02, 0.5, 3.0, 50.0,
        ] {
            let (ours, exact) = (decay_weight(x), (-x).exp());
            assert!(
                (ours - exact).abs() <= 1e-9 * exact,
                "{x}: {ours} vs {exact}"
            );
        }
    }

    #[test]
    fn the_error_rate_follows_the_last_calls() {
        let load = Load::default();
        for _ in 0..40 {
            load.started();
            load.finished(None, true);
        }
        assert!(load.error_rate() > 0.8, "{}", load.error_rate());
        for _ in 0..60 {
            load.started();
            load.finished(None, false);
        }
        assert!(load.error_rate() < 0.1, "{}", load.error_rate());
    }

    #[test]
    fn the_rtt_is_smoothed_from_the_first_sample() {
        let load = Load::default();
        assert_eq!(load.rtt(), None);
        load.record_rtt(Duration::from_millis(8));
        assert_eq!(load.rtt(), Some(Duration::from_millis(8)));
        load.record_rtt(Duration::from_millis(16));
        // 8 + (16 - 8) / 8 = 9 ms.
        assert_eq!(load.rtt(), Some(Duration::from_millis(9)));
    }
}
