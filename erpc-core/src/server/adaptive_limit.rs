//! Adaptive load shedding as a header-level hook: a concurrency limit that finds the
//! server's capacity from its latency, so that under overload the calls it admits still run
//! at close to their unloaded latency and the rest are refused at once, cheaply, instead of
//! every call queueing until all of them miss their deadlines.
//!
//! The limit follows TCP Vegas (L. Brakmo and L. Peterson, "TCP Vegas: End to End
//! Congestion Avoidance on a Global Internet", IEEE JSAC 13(8), 1995) as Netflix's
//! concurrency-limits applies it to servers (`VegasLimit`,
//! <https://github.com/Netflix/concurrency-limits>): with `rtt` the mean latency of the calls
//! that ended in the last window and `rtt_noload` the latency without queueing, the number
//! of calls queued rather than served is estimated as `limit × (1 − rtt_noload / rtt)`;
//! below α = 3·max(1, log10 limit) the limit grows by max(1, log10 limit) (unless fewer than
//! half of it were in use: an idle server learns nothing about its capacity), above
//! β = 6·max(1, log10 limit) it shrinks by as much, and in between it stays. So the limit
//! settles a few calls above the knee — where latency starts to rise with concurrency.
//!
//! The no-load latency is learnt as in BBR's ProbeRTT (N. Cardwell et al., "BBR:
//! Congestion-Based Congestion Control", ACM Queue 14(5), 2016): at the start and then every
//! [`probe_every`](AdaptiveSettings::probe_every) the limit drops to its minimum for one
//! window, and that window's mean latency becomes `rtt_noload`; between probes it is the
//! least window mean seen. Without probing, a server first measured under load would take
//! its loaded latency for the no-load one, and one whose work became slower for good would
//! shed forever.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::admission::{Admission, Admitted, CallHead};
use crate::status::Status;

/// An [`AdaptiveLimit`]'s settings; `Default` gives the values below.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveSettings {
    /// The limit before the first probe has measured anything. Default 20.
    pub initial_limit: usize,
    /// The least limit, also the concurrency of a probe. Default 2.
    pub min_limit: usize,
    /// The greatest limit. Default 1,000.
    pub max_limit: usize,
    /// A window ends, and the limit is updated, once it is at least this long and has
    /// `window_calls` calls in it. Default 100 ms.
    pub window: Duration,
    /// Calls a window needs. Default 10.
    pub window_calls: u64,
    /// How often the no-load latency is measured again. Default 10 s.
    pub probe_every: Duration,
}

impl Default for AdaptiveSettings {
    fn default() -> Self {
        AdaptiveSettings {
            initial_limit: 20,
            min_limit: 2,
            max_limit: 1_000,
            window: Duration::from_millis(100),
            window_calls: 10,
            probe_every: Duration::from_secs(10),
        }
    }
}

/// Calls beyond a concurrency limit learnt from latency (see the module docs) are refused
/// `resource_exhausted`, with a retry-after hint of the current mean latency, before
/// anything is decoded or spawned. A call's latency is from its admission to its end
/// (answered, cancelled or expired); a call that waits for a rate limit's turn is admitted
/// here only once that wait is over, whatever order the hooks were added in
/// ([`Admission::counts_running`]), so neither its slot nor its latency includes the wait.
///
/// ```
/// # use erpc_core as erpc;
/// use erpc::server::AdaptiveLimit;
///
/// let shed = AdaptiveLimit::new(Default::default());
/// let server = erpc::Server::builder().admission(shed.clone());
/// // Later: how many calls the server runs at once now.
/// let _limit = shed.limit();
/// # let _ = server;
/// ```
#[derive(Debug, Clone)]
pub struct AdaptiveLimit {
    state: Arc<State>,
}

#[derive(Debug)]
struct State {
    settings: AdaptiveSettings,
    running: AtomicUsize,
    /// The current limit, read by every admission.
    limit: AtomicUsize,
    /// The last window's mean latency in microseconds: the refusals' retry-after hint.
    rtt_micros: AtomicU64,
    window: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    calls: u64,
    total: Duration,
    /// The most calls running at once during the window.
    peak: usize,
    /// The limit as a real number (it moves by fractions of a call).
    estimate: f64,
    no_load: Option<Duration>,
    /// `Some(limit to go back to)` while a probe window runs.
    probing: Option<f64>,
    last_probe: Instant,
}

impl AdaptiveLimit {
    /// A limit with `settings`, starting with a probe. Values out of order are put in
    /// order: `min_limit` at least 1, `max_limit` at least `min_limit`, `initial_limit`
    /// between them, `window_calls` at least 1.
    pub fn new(settings: AdaptiveSettings) -> AdaptiveLimit {
        let mut settings = settings;
        settings.min_limit = settings.min_limit.max(1);
        settings.max_limit = settings.max_limit.max(settings.min_limit);
        settings.initial_limit = settings
            .initial_limit
            .clamp(settings.min_limit, settings.max_limit);
        settings.window_calls = settings.window_calls.max(1);
        let now = Instant::now();
        AdaptiveLimit {
            state: Arc::new(State {
                running: AtomicUsize::new(0),
                limit: AtomicUsize::new(settings.min_limit),
                rtt_micros: AtomicU64::new(0),
                window: Mutex::new(Window {
                    started: now,
                    calls: 0,
                    total: Duration::ZERO,
                    peak: 0,
                    estimate: settings.initial_limit as f64,
                    no_load: None,
                    probing: Some(settings.initial_limit as f64),
                    last_probe: now,
                }),
                settings,
            }),
        }
    }

    /// The limit now: calls that may run at once.
    pub fn limit(&self) -> usize {
        self.state.limit.load(Ordering::Relaxed)
    }

    /// Calls running now under this limit.
    pub fn running(&self) -> usize {
        self.state.running.load(Ordering::Relaxed)
    }
}

/// Holds a call's slot; gives it back and reports the call's latency when the call ends.
struct Slot {
    state: Arc<State>,
    admitted: Instant,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let running = self.state.running.fetch_sub(1, Ordering::AcqRel);
        self.state.sample(self.admitted.elapsed(), running);
    }
}

impl State {
    /// One call ended after `latency`, with `running` calls (itself included) running.
    fn sample(&self, latency: Duration, running: usize) {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        w.calls += 1;
        w.total += latency;
        w.peak = w.peak.max(running);
        let now = Instant::now();
        if w.calls < self.settings.window_calls || now - w.started < self.settings.window {
            return;
        }
        let rtt = w.total / u32::try_from(w.calls).unwrap_or(u32::MAX);
        let limit = self.next_limit(&mut w, rtt, now);
        let rtt_micros = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX);
        self.rtt_micros.store(rtt_micros, Ordering::Relaxed);
        w.estimate = limit;
        w.started = now;
        w.calls = 0;
        w.total = Duration::ZERO;
        w.peak = 0;
        let admit = if w.probing.is_some() {
            self.settings.min_limit
        } else {
            limit.round() as usize
        };
        self.limit.store(admit, Ordering::Relaxed);
    }

    /// The limit after a window whose mean latency was `rtt`.
    fn next_limit(&self, w: &mut Window, rtt: Duration, now: Instant) -> f64 {
        let s = &self.settings;
        if let Some(resume) = w.probing.take() {
            // A probe window: what the server's latency is with (almost) nothing queued.
            w.no_load = Some(rtt);
            w.last_probe = now;
            return resume;
        }
        if now - w.last_probe >= s.probe_every {
            w.probing = Some(w.estimate);
            return w.estimate;
        }
        let no_load = w.no_load.map_or(rtt, |n| n.min(rtt));
        w.no_load = Some(no_load);
        let limit = w.estimate;
        let log = limit.log10().max(1.0);
        let queued = limit * (1.0 - no_load.as_secs_f64() / rtt.as_secs_f64().max(1e-9));
        let next = if queued < 3.0 * log {
            // Too little queued to be at capacity — unless the server was not even busy.
            if (w.peak as f64) * 2.0 < limit {
                limit
            } else {
                limit + log
            }
        } else if queued > 6.0 * log {
            limit - log
        } else {
            limit
        };
        next.clamp(s.min_limit as f64, s.max_limit as f64)
    }
}

impl Admission for AdaptiveLimit {
    fn refused_by(&self) -> crate::observe::RefusedBy {
        crate::observe::RefusedBy::Shedding
    }

    /// A cap on running calls: a call waiting for a rate limit's turn takes no slot.
    fn counts_running(&self) -> bool {
        true
    }

    fn admit(&self, _call: &CallHead<'_>) -> Result<Admitted, Status> {
        let state = &self.state;
        let limit = state.limit.load(Ordering::Relaxed);
        let taken = state
            .running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            });
        match taken {
            Ok(_) => Ok(Admitted::holding(Slot {
                state: state.clone(),
                admitted: Instant::now(),
            })),
            Err(_) => {
                let rtt = Duration::from_micros(state.rtt_micros.load(Ordering::Relaxed));
                Err(Status::resource_exhausted(format!(
                    "server: at its adaptive concurrency limit of {} (AdaptiveLimit)",
                    crate::human::count(limit, "call")
                ))
                .with_retry_after(rtt))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{AdaptiveLimit, AdaptiveSettings};

    /// Feed windows of latency `base × max(1, running / knee)` (a server of `knee` workers)
    /// at the current limit and return the limit it settles at.
    fn settle(knee: usize) -> usize {
        let limit = AdaptiveLimit::new(AdaptiveSettings {
            window: Duration::ZERO,
            probe_every: Duration::from_secs(3600),
            ..Default::default()
        });
        let base = Duration::from_millis(10);
        for _ in 0..2_000 {
            let running = limit.limit();
            let latency = base.mul_f64((running as f64 / knee as f64).max(1.0));
            for _ in 0..10 {
                limit
                    .state
                    .running
                    .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                limit
                    .state
                    .running
                    .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
                limit.state.sample(latency, running);
            }
        }
        limit.limit()
    }

    #[test]
    fn the_limit_settles_a_little_above_the_knee() {
        for knee in [4, 16, 100] {
            let settled = settle(knee);
            assert!(
                settled >= knee
                    && settled <= knee + 6 * (knee as f64).log10().max(1.0) as usize + 2,
                "a server of {knee} workers: the limit settled at {settled}"
            );
        }
    }
}
