//! Network quality: calls go to the instances with the lowest measured round trip — rpcx's
//! `WeightedICMP`/ping selector and Dubbo's "shortest response" idea, measured in-band
//! instead of with ICMP.
//!
//! The measure of an instance is its smoothed PING round trip ([`Load::rtt`]: the heartbeat
//! PINGs an idle connection sends and the re-check probes) when there is one, else its
//! peak-EWMA call latency ([`Load::latency`]). An instance with neither is tried first, so
//! that it gets measured. Instances within `tolerance` of the best measure share calls in
//! turn, so that a few microseconds of noise do not pin all calls to one instance.
//!
//! [`Load::rtt`]: crate::discovery::Load::rtt
//! [`Load::latency`]: crate::discovery::Load::latency

use super::round_robin::RoundRobin;
use super::{Balancer, Candidates, Pick};
use crate::discovery::Load;

/// The default tolerance: within 20% of the best measure counts as equally good.
const DEFAULT_TOLERANCE: f64 = 0.2;

/// The usable candidates with the lowest round trip (within a tolerance), in turn.
#[derive(Debug)]
pub struct NetworkQuality {
    tolerance: f64,
    turns: RoundRobin,
}

impl Default for NetworkQuality {
    fn default() -> Self {
        NetworkQuality::with_tolerance(DEFAULT_TOLERANCE)
    }
}

impl NetworkQuality {
    /// Candidates whose measure is at most `(1 + tolerance)` × the best one share calls
    /// (0: only the best). Default 0.2.
    ///
    /// # Panics
    /// If `tolerance` fails [`NetworkQuality::check_tolerance`] (negative, NaN or
    /// infinite); the config file refuses the same values.
    pub fn with_tolerance(tolerance: f64) -> NetworkQuality {
        if let Err(why) = NetworkQuality::check_tolerance(tolerance) {
            panic!("NetworkQuality::with_tolerance: tolerance {why}");
        }
        NetworkQuality {
            tolerance,
            turns: RoundRobin::default(),
        }
    }

    /// Whether `tolerance` can be a [`NetworkQuality::with_tolerance`]: a finite number, 0
    /// or more.
    ///
    /// # Errors
    /// Why not.
    pub fn check_tolerance(tolerance: f64) -> Result<(), String> {
        if !tolerance.is_finite() || tolerance < 0.0 {
            return Err(format!(
                "must be a finite number, 0 or more, got {tolerance}"
            ));
        }
        Ok(())
    }
}

/// An instance's measure in nanoseconds: PING round trip, else call latency, else 0.
fn measure(load: &Load) -> f64 {
    load.rtt().unwrap_or_else(|| load.latency()).as_nanos() as f64
}

impl Balancer for NetworkQuality {
    fn pick(&self, call: &Pick<'_>, candidates: &Candidates<'_>) -> usize {
        let best = (0..candidates.len())
            .filter(|&i| candidates.usable(i))
            .map(|i| measure(candidates.load(i)))
            .fold(f64::INFINITY, f64::min);
        if best.is_infinite() {
            return self.turns.pick(call, candidates);
        }
        let bound = best * (1.0 + self.tolerance);
        self.turns
            .among(call, candidates, |i| {
                candidates.usable(i) && measure(candidates.load(i)) <= bound
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::testing;
    use super::*;

    #[test]
    fn a_tolerance_below_zero_or_not_finite_is_refused_not_made_zero() {
        for tolerance in [-0.1, f64::NAN, f64::INFINITY] {
            let text =
                crate::engine::task_guard::refusal(|| NetworkQuality::with_tolerance(tolerance));
            assert_eq!(
                text,
                Some(format!(
                    "NetworkQuality::with_tolerance: tolerance must be a finite number, 0 or more, got {tolerance}"
                )),
            );
        }
        let _ = NetworkQuality::with_tolerance(0.0);
    }

    #[test]
    fn the_lowest_round_trips_share_the_calls() {
        let b = NetworkQuality::default();
        let (e, l) = testing::candidates(&[1, 1, 1, 1]);
        let c = Candidates::new(&e, &l);
        let meta = Default::default();
        let call = testing::call(&meta);
        for (i, ms) in [(0, 20), (1, 2), (2, 40)] {
            l[i].record_rtt(Duration::from_millis(ms));
        }
        // 3 is unmeasured: tried first.
        assert_eq!(b.pick(&call, &c), 3);
        // Measured by its calls' latency (no PING yet): 2.2 ms is within 20% of 2 ms.
        l[3].started();
        l[3].finished(Some(Duration::from_micros(2_200)), false);
        let counts = testing::counts(4, (0..1_000).map(|_| b.pick(&call, &c)));
        assert_eq!(counts, vec![0, 500, 0, 500]);
        // The best two unusable: the next best takes everything.
        l[1].set_suspect(true);
        l[3].set_breaker_open(true);
        let counts = testing::counts(4, (0..100).map(|_| b.pick(&call, &c)));
        assert_eq!(counts, vec![100, 0, 0, 0]);
    }
}
