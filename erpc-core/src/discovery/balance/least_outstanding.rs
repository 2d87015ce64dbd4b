//! Least outstanding requests (least connections): the candidate with the fewest calls in
//! flight from this client, ties broken round-robin.
//!
//! Built only on the load the client keeps ([`crate::discovery::Load::in_flight`]): a slow
//! instance accumulates calls in flight and so receives fewer new ones, without any
//! latency measurement. This is Envoy's `LEAST_REQUEST` with all candidates compared (fine
//! for the tens of instances a service has; P2C samples two for large lists).

use super::round_robin::RoundRobin;
use super::{Balancer, Candidates, Pick};

/// The candidate with the fewest calls in flight; usable ones (not suspect, breaker closed)
/// first.
#[derive(Debug, Default)]
pub struct LeastOutstanding {
    /// Where the scan starts, so that ties rotate instead of always favouring the first.
    start: RoundRobin,
}

impl Balancer for LeastOutstanding {
    fn pick(&self, call: &Pick<'_>, candidates: &Candidates<'_>) -> usize {
        let n = candidates.len();
        let start = self.start.next(call, n);
        let mut best = start;
        let mut best_key = (true, u32::MAX);
        for k in 0..n {
            let i = (start + k) % n;
            // Unusable ones sort last; among the rest, fewest in flight.
            let key = (!candidates.usable(i), candidates.load(i).in_flight());
            if key < best_key {
                best = i;
                best_key = key;
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;

    #[test]
    fn the_least_loaded_wins_and_ties_rotate() {
        let b = LeastOutstanding::default();
        let (e, l) = testing::candidates(&[1, 1, 1]);
        let c = Candidates::new(&e, &l);
        let meta = Default::default();
        let call = testing::call(&meta);
        l[0].started();
        l[0].started();
        l[2].started();
        assert_eq!(b.pick(&call, &c), 1);
        l[1].started();
        l[1].started();
        l[1].started();
        assert_eq!(b.pick(&call, &c), 2);
        // All equal: turns.
        let (e, l) = testing::candidates(&[1, 1]);
        let c = Candidates::new(&e, &l);
        let picks: Vec<_> = (0..4).map(|_| b.pick(&call, &c)).collect();
        assert!(picks.contains(&0) && picks.contains(&1), "{picks:?}");
        // A suspect one is avoided even when idle.
        l[0].set_suspect(true);
        l[1].started();
        assert_eq!(b.pick(&call, &c), 1);
    }

    #[test]
    fn an_instance_marked_not_serving_is_avoided_even_when_idle() {
        let b = LeastOutstanding::default();
        let (mut e, l) = testing::candidates(&[1, 1]);
        let marked = (*e[0].instance).clone().marked_serving(false);
        e[0].instance = std::sync::Arc::new(marked);
        l[1].started();
        let c = Candidates::new(&e, &l);
        assert!(!c.usable(0) && c.usable(1));
        let meta = Default::default();
        assert_eq!(b.pick(&testing::call(&meta), &c), 1);
    }
}
