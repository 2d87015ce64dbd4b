//! Rate limits: a token bucket (a rate, a burst, and how long a call may wait for its turn —
//! KRPC's `WaitMaxDuration`) or a leaky bucket (burst 1: calls paced evenly), the one shape
//! the client's rate-limit layer ([`crate::client::ClientRateLimit`]) and the server's
//! admission hooks ([`crate::server::RateLimit`], [`crate::server::PeerRateLimit`]) take.
//! Feature `rate-limit`.
//!
//! The buckets are [`governor`](https://docs.rs/governor)'s GCRA (the generic cell rate
//! algorithm: a token bucket kept as one timestamp, no refill task). A call that finds the
//! bucket empty learns from governor exactly when the next cell conforms
//! (`NotUntil::wait_time_from`); if that is within its maximum wait — counting the calls
//! already waiting ahead of it, one period each, since they are served first come first
//! served — it waits in line, otherwise it is refused at once with `resource_exhausted` and
//! a [retry-after hint](crate::Status::retry_after) of how much longer than the maximum
//! wait its turn is (at least one period: by then a new call's turn is within the maximum
//! wait again), while the message says the whole wait; the refusal names the limit
//! it is beyond (the maximum wait, the call's deadline if sooner, or a full line). The
//! decision is made once, when the call joins the line: an admitted call waits for its turn
//! and is never refused after waiting (timers may make the turn a few ms late). The line is bounded: by
//! the maximum wait (a call that would wait longer is refused) and by
//! [`Rate::max_waiting`].
//!
//! ```
//! use std::time::Duration;
//! use erpc_core::rate::Rate;
//!
//! // 100 calls/s, 10 at once after a quiet spell, each may wait up to 50 ms for its turn.
//! let rate = Rate::per_second(100).burst(10).max_wait(Duration::from_millis(50));
//! // Smooth pacing: one call every 20 ms, waiting up to a second.
//! let paced = Rate::per_second(50).leaky().max_wait(Duration::from_secs(1));
//! # let _ = (rate, paced);
//! ```

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

use crate::per_method::PerMethod;
use crate::status::Status;

/// A rate limit's settings. Built with [`Rate::per_second`] or [`Rate::every`] and refined
/// with the other methods; checked when the limiter that takes it is built (a zero rate or
/// burst is refused there with `invalid_argument`, naming the setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// What the caller asked for, for messages (the period is derived from it).
    given: Given,
    period: Duration,
    burst: u32,
    max_wait: Duration,
    max_waiting: Option<usize>,
}

/// The constructor a [`Rate`] was made with and its argument, so that a refusal names
/// what was given rather than a derived period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Given {
    PerSecond(u32),
    Every(Duration),
}

impl Rate {
    /// `calls` per second on average, a burst of as many (a full second's worth may come at
    /// once after a quiet second), no waiting: over the rate a call is refused at once.
    pub fn per_second(calls: u32) -> Rate {
        Rate {
            given: Given::PerSecond(calls),
            period: Duration::from_secs(1)
                .checked_div(calls)
                .unwrap_or(Duration::ZERO),
            burst: calls,
            max_wait: Duration::ZERO,
            max_waiting: None,
        }
    }

    /// One call per `period` on average (rates below one a second), a burst of 1, no
    /// waiting.
    pub fn every(period: Duration) -> Rate {
        Rate {
            given: Given::Every(period),
            period,
            burst: 1,
            max_wait: Duration::ZERO,
            max_waiting: None,
        }
    }

    /// At most `calls` at once after a quiet spell (the bucket's size). Default: one
    /// second's worth (`per_second`) or 1 (`every`).
    pub fn burst(mut self, calls: u32) -> Rate {
        self.burst = calls;
        self
    }

    /// A leaky bucket: burst 1, so calls go through evenly spaced, one per period on average
    /// — with a [`max_wait`](Rate::max_wait), bursts are smoothed into a steady pace instead
    /// of refused. A waiting call woken late by its timer takes the turn it was due, so the
    /// next may follow it sooner than a period (by the lateness forgiven: up to a period, at
    /// least 2 ms); the rate over any longer span is kept.
    pub fn leaky(self) -> Rate {
        self.burst(1)
    }

    /// How long a call may wait for its turn when the bucket is empty; one that would wait
    /// longer (or past its deadline) is refused at once. Default: zero — refused at once.
    ///
    /// # Panics
    /// If `wait` is above an hour ([`crate::config::MAX_WAIT`]: a call waiting longer would
    /// outlive any deadline worth giving it); the config file refuses it too.
    pub fn max_wait(mut self, wait: Duration) -> Rate {
        if let Err(why) = crate::config::check_wait(wait, "for a turn") {
            panic!("Rate::max_wait: max_wait {why}");
        }
        self.max_wait = wait;
        self
    }

    /// At most `calls` waiting for their turn at once; more are refused. Default: as many
    /// as the maximum wait can serve (`max_wait / period`, at least 1).
    pub fn max_waiting(mut self, calls: usize) -> Rate {
        self.max_waiting = Some(calls);
        self
    }

    /// The average time between calls.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The bucket's size.
    pub fn burst_size(&self) -> u32 {
        self.burst
    }

    /// The maximum wait.
    pub fn wait_limit(&self) -> Duration {
        self.max_wait
    }

    /// governor's quota for these settings, or what is wrong with them.
    pub(crate) fn quota(&self, what: &str) -> Result<Quota, Status> {
        let quota = Quota::with_period(self.period).ok_or_else(|| {
            Status::invalid_argument(match self.given {
                Given::PerSecond(0) => format!(
                    "{what}: Rate::per_second(0), a rate of 0 calls/s, admits none; use ≥ 1 call/s"
                ),
                Given::PerSecond(calls) => format!(
                    "{what}: Rate::per_second({calls}) is too high to keep: its period would be under 1 ns, the finest the limiter counts; the most is 1000000000 calls/s"
                ),
                Given::Every(_) => format!(
                    "{what}: Rate::every(0), a zero period between calls, is no limit at all; use a non-zero period"
                ),
            })
        })?;
        if self.max_waiting == Some(0) && !self.max_wait.is_zero() {
            return Err(Status::invalid_argument(format!(
                "{what}: max_waiting 0 with a max_wait of {}: nobody could wait; set max_wait to zero instead",
                crate::human::duration(self.max_wait)
            )));
        }
        let burst = NonZeroU32::new(self.burst).ok_or_else(|| {
            Status::invalid_argument(format!("{what}: a burst of 0 calls admits none; use ≥ 1"))
        })?;
        Ok(quota.allow_burst(burst))
    }

    /// The bound on calls waiting at once.
    fn waiting_bound(&self) -> usize {
        self.max_waiting.unwrap_or_else(|| {
            let by_wait = self.max_wait.as_nanos() / self.period.as_nanos().max(1);
            usize::try_from(by_wait).unwrap_or(usize::MAX).max(1)
        })
    }

    /// "100 calls/s" / "1 call per 2s", for messages.
    pub(crate) fn describe(&self) -> String {
        match self.given {
            // Singular for one: "1 call/s", not "1 calls/s".
            Given::PerSecond(calls) => {
                return format!(
                    "{}/s (burst {})",
                    crate::human::count(calls, "call"),
                    self.burst
                );
            }
            Given::Every(period) if period.is_zero() => {
                return format!("1 call per 0 s (burst {})", self.burst);
            }
            Given::Every(_) => {}
        }
        let per_second = 1e9 / self.period.as_nanos().max(1) as f64;
        if per_second >= 1.0 {
            // As given, fractions kept (a period of 400 ms is 2.5 calls/s, not 3): up to
            // three decimals, the trailing zeros left out.
            let text = format!("{per_second:.3}");
            let text = text.trim_end_matches('0').trim_end_matches('.');
            // The text, not the float, decides the noun: 1.0004 calls/s reads "1 call/s".
            let noun = if text == "1" { "call" } else { "calls" };
            format!("{text} {noun}/s (burst {})", self.burst)
        } else {
            format!(
                "1 call per {} (burst {})",
                crate::human::duration(self.period),
                self.burst
            )
        }
    }
}

/// A bucket per rate set in `rates` (`None`: no limit), named for `side` ("client" or
/// "server") in refusals; the first invalid rate's error.
pub(crate) fn buckets(
    rates: PerMethod<Option<Rate>>,
    side: &str,
) -> Result<PerMethod<Option<Arc<Bucket>>>, Status> {
    let mut invalid = None;
    let buckets = rates.map(|rate| {
        let rate = rate?;
        let name = format!("{side}: rate limit of {}", rate.describe());
        Bucket::new(rate, name)
            .map_err(|status| invalid = invalid.take().or(Some(status)))
            .ok()
    });
    match invalid {
        Some(status) => Err(status),
        None => Ok(buckets),
    }
}

/// The buckets of a rate-limit layer or hook, per method, replaced whole when its rates
/// change ([`Buckets::set`]): calls already waiting finish in their old bucket's line, new
/// calls take turns in the new buckets, which start full.
pub(crate) struct Buckets {
    side: &'static str,
    current: std::sync::RwLock<Arc<PerMethod<Option<Arc<Bucket>>>>>,
}

impl Buckets {
    /// Buckets for `rates`, named for `side` ("client" or "server"); the first invalid
    /// rate's error.
    pub(crate) fn new(
        rates: PerMethod<Option<Rate>>,
        side: &'static str,
    ) -> Result<Buckets, Status> {
        Ok(Buckets {
            side,
            current: std::sync::RwLock::new(Arc::new(buckets(rates, side)?)),
        })
    }

    /// The bucket of a call of `service.method`, if it has a limit.
    pub(crate) fn get(&self, service: &str, method: &str) -> Option<Arc<Bucket>> {
        // Replaced whole: a poisoned lock still holds whole buckets.
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        current.get(service, method).clone()
    }

    /// The bucket `service.method` was given itself (its method's or service's), not the
    /// default's: `None` if it has none, or falls to the default.
    pub(crate) fn get_own(&self, service: &str, method: &str) -> Option<Arc<Bucket>> {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        current.get_own(service, method).cloned().flatten()
    }

    /// The services and methods the rates in force name, for `setting`.
    pub(crate) fn named(&self, setting: &'static str) -> Vec<crate::per_method::Named> {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        current.named(setting)
    }

    /// Calls waiting for their turn now in the buckets in force (not those still in the
    /// lines of buckets replaced by [`Buckets::set`]).
    pub(crate) fn waiting(&self) -> usize {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        let buckets = current.values().flatten();
        buckets.map(|b| b.waiting.load(Ordering::Acquire)).sum()
    }

    /// Use `rates` from now on. Errors: `invalid_argument` naming the first invalid rate;
    /// the rates in force stay.
    pub(crate) fn set(&self, rates: PerMethod<Option<Rate>>) -> Result<(), Status> {
        let new = Arc::new(buckets(rates, self.side)?);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = new;
        Ok(())
    }
}

/// governor's default clock, read `lag` nanoseconds back while the head of a line takes the
/// turn it was woken late for ([`Place::wait`]).
///
/// Why: GCRA counts the next turn from the moment a cell is taken, and with a burst of 1
/// it has no tolerance to absorb a late taker. Tokio's timers wake up to a millisecond late,
/// so a saturated leaky bucket lost that much every turn: 500 calls/s ran at ~310 (found by
/// a fresh user). Read as of its due time, the late head's cell is the one it was due, and
/// the schedule keeps the configured rate (uber-go/ratelimit's "slack" does the same for its
/// leaky bucket).
#[derive(Debug, Clone, Default)]
pub(crate) struct LineClock {
    inner: DefaultClock,
    lag: Arc<AtomicU64>,
}

impl Clock for LineClock {
    type Instant = <DefaultClock as Clock>::Instant;

    fn now(&self) -> Self::Instant {
        let now = self.inner.now();
        match self.lag.load(Ordering::Relaxed) {
            0 => now,
            lag => now.saturating_sub(Nanos::from(lag)),
        }
    }
}

type Limiter =
    RateLimiter<NotKeyed, InMemoryState, LineClock, NoOpMiddleware<<LineClock as Clock>::Instant>>;

/// The most lateness a head of line is forgiven ([`LineClock`]): a period, and at least
/// 2 ms (tokio's timer resolution, twice). More — a stalled runtime — is lost rather than
/// made up in a burst.
const FORGIVEN_MIN: Duration = Duration::from_millis(2);

/// One bucket and its line of waiting calls.
pub(crate) struct Bucket {
    limiter: Limiter,
    rate: Rate,
    /// Calls counted in line (admitted to wait, not yet through).
    waiting: AtomicUsize,
    max_waiting: usize,
    /// Taken in turn by the waiting calls: tokio's mutex is fair (first come first served),
    /// so only the head of the line asks governor and nobody is overtaken.
    line: tokio::sync::Mutex<()>,
    /// "client: rate limit of 100 calls/s (burst 10) on Bank.Transfer", for refusals.
    name: String,
}

/// What a bucket says to a call, at once.
pub(crate) enum Turn {
    /// Go now.
    Now,
    /// Wait in line (the call holds its place); [`Place::wait`] ends when it may go.
    Wait(Place),
    /// Refused: `resource_exhausted` with a retry-after hint.
    Refused(Status),
}

impl Bucket {
    /// A bucket for `rate`; `name` says whose limit it is, for refusals. Errors: the rate's
    /// settings are invalid (`invalid_argument`).
    pub(crate) fn new(rate: Rate, name: String) -> Result<Arc<Bucket>, Status> {
        let quota = rate.quota(&name)?;
        Ok(Arc::new(Bucket {
            limiter: RateLimiter::direct_with_clock(quota, LineClock::default()),
            max_waiting: rate.waiting_bound(),
            rate,
            waiting: AtomicUsize::new(0),
            line: tokio::sync::Mutex::new(()),
            name,
        }))
    }

    /// Decide at once for a call that must be through by `deadline`.
    pub(crate) fn turn(self: &Arc<Self>, deadline: Instant) -> Turn {
        let ahead = self.waiting.load(Ordering::Acquire);
        // With calls in line the bucket is empty and they are served first: a newcomer does
        // not ask governor (it would take the cell the head is waiting for).
        let first = if ahead == 0 {
            match self.limiter.check() {
                Ok(()) => return Turn::Now,
                Err(not_until) => not_until.wait_time_from(self.limiter.clock().now()),
            }
        } else {
            self.rate.period
        };
        let ahead_u32 = u32::try_from(ahead).unwrap_or(u32::MAX);
        let wait = first.saturating_add(self.rate.period.saturating_mul(ahead_u32));
        // The binding limit is the earlier of the maximum wait and the call's deadline; a
        // turn within both may still find the line full (`max_waiting`).
        let left = deadline.saturating_duration_since(Instant::now());
        let beyond = if left < self.rate.max_wait {
            Beyond::Deadline(left)
        } else {
            Beyond::MaxWait
        };
        if wait > left.min(self.rate.max_wait) {
            return Turn::Refused(self.refusal(wait, ahead, beyond));
        }
        if ahead >= self.max_waiting {
            return Turn::Refused(self.refusal(wait, ahead, Beyond::Line));
        }
        // Admitted: decided now, once. The call waits for its turn and is not refused later
        // (timers may make the turn come a few ms after the estimate).
        self.waiting.fetch_add(1, Ordering::AcqRel);
        Turn::Wait(Place {
            bucket: self.clone(),
            deadline,
        })
    }

    /// The refusal of a call whose turn is `wait` away with `ahead` calls in line, naming
    /// the limit that binds.
    fn refusal(&self, wait: Duration, ahead: usize, beyond: Beyond) -> Status {
        let over = wait.saturating_sub(self.rate.max_wait);
        let limit = match beyond {
            // A turn a fraction of a millisecond away is not "0 ms away".
            Beyond::MaxWait if self.rate.max_wait.is_zero() => {
                "and calls do not wait for their turn (no max_wait)".to_owned()
            }
            Beyond::MaxWait => format!(
                "beyond the maximum wait of {} ms",
                self.rate.max_wait.as_millis()
            ),
            Beyond::Deadline(left) => format!(
                "beyond the call's deadline, {} ms away (sooner than the maximum wait of {} ms)",
                left.as_millis(),
                self.rate.max_wait.as_millis()
            ),
            Beyond::Line => format!("and the line is full (at most {})", self.max_waiting),
        };
        Status::resource_exhausted(format!(
            "{}: over the rate; the next turn is {} away ({} waiting), {limit}",
            self.name,
            crate::human::duration(wait),
            crate::human::count(ahead, "call"),
        ))
        .with_retry_after(over.max(self.rate.period))
    }
}

/// Which limit a refused call's turn is beyond.
#[derive(Debug, Clone, Copy)]
enum Beyond {
    /// The rate's maximum wait.
    MaxWait,
    /// The call's deadline (this much time left), sooner than the maximum wait.
    Deadline(Duration),
    /// The bound on calls waiting at once.
    Line,
}

/// A call's place in a bucket's line: counted until it goes through (or is dropped —
/// cancelled, expired). Admission was decided when it joined ([`Bucket::turn`]).
pub(crate) struct Place {
    bucket: Arc<Bucket>,
    deadline: Instant,
}

impl Place {
    /// Wait for the call's turn: `Ok` when a cell is its. Never a rate refusal: the call was
    /// admitted when it joined, its turn within its maximum wait and deadline. Only if timers
    /// run so late that the call's deadline passes first is it `deadline_exceeded`.
    pub(crate) async fn wait(self) -> Result<(), Status> {
        let bucket = &self.bucket;
        let forgiven = bucket.rate.period.max(FORGIVEN_MIN);
        let turn = async {
            let _head = bucket.line.lock().await;
            // The turn the head was told to wait for, once it has been told.
            let mut due = None;
            loop {
                // Woken after `due` (timers run late): checked as of `due`, up to
                // `forgiven`, so that the lateness is not lost from every turn. Newcomers
                // do not check while a call waits (`turn`), so nobody else reads the lag.
                let now = bucket.limiter.clock().inner.now();
                let late = due.map_or(Duration::ZERO, |due| {
                    Duration::from(now.duration_since(due))
                });
                let lag = u64::try_from(late.min(forgiven).as_nanos()).unwrap_or(0);
                let clock_lag = &bucket.limiter.clock().lag;
                clock_lag.store(lag, Ordering::Relaxed);
                let checked = bucket.limiter.check();
                clock_lag.store(0, Ordering::Relaxed);
                let wait = match checked {
                    Ok(()) => return,
                    Err(not_until) => {
                        due = Some(not_until.earliest_possible());
                        not_until.wait_time_from(now)
                    }
                };
                tokio::time::sleep(wait).await;
            }
        };
        tokio::time::timeout_at(self.deadline, turn)
            .await
            .map_err(|_| {
                Status::deadline_exceeded(format!(
                    "{}: the call's deadline passed while it waited for its turn",
                    bucket.name
                ))
            })
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.bucket.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::Rate;
    use std::time::Duration;

    #[test]
    #[should_panic(
        expected = "Rate::max_wait: max_wait must be at most 1h (the longest wait for a turn), got"
    )]
    fn a_wait_above_an_hour_is_refused() {
        let _ = Rate::per_second(10).max_wait(Duration::MAX);
    }

    #[test]
    fn an_hour_is_the_longest_wait() {
        let rate = Rate::per_second(10).max_wait(Duration::from_secs(3600));
        assert_eq!(rate.wait_limit(), Duration::from_secs(3600));
    }

    #[test]
    fn a_rate_is_described_as_given_fractions_kept() {
        assert_eq!(Rate::per_second(3).describe(), "3 calls/s (burst 3)");
        let two_and_a_half = Rate::every(Duration::from_millis(400)).burst(3);
        assert_eq!(two_and_a_half.describe(), "2.5 calls/s (burst 3)");
        let third = Rate::every(Duration::from_nanos(1_000_000_000 / 3));
        assert_eq!(third.describe(), "3 calls/s (burst 1)");
        let slow = Rate::every(Duration::from_millis(2_500));
        assert_eq!(slow.describe(), "1 call per 2.5 s (burst 1)");
    }

    /// One is singular, whether given per second or as a period: "1 call/s", never
    /// "1 calls/s".
    #[test]
    fn one_call_a_second_is_singular() {
        assert_eq!(Rate::per_second(1).describe(), "1 call/s (burst 1)");
        let every_second = Rate::every(Duration::from_secs(1)).burst(2);
        assert_eq!(every_second.describe(), "1 call/s (burst 2)");
        assert_eq!(Rate::per_second(2).describe(), "2 calls/s (burst 2)");
    }
}
