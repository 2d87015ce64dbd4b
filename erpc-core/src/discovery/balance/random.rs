//! Random: each call to a candidate drawn uniformly (rpcx's `RandomSelect`, Kitex's
//! `random` without weights). Stateless, so it spreads evenly from the first call and needs
//! no coordination between clients.

use super::{Balancer, Candidates, Pick};

/// A usable candidate drawn uniformly at random per call (any candidate if none is usable:
/// the pick path then reports why none can take the call).
#[derive(Debug, Default, Clone, Copy)]
pub struct Random;

impl Balancer for Random {
    fn pick(&self, _call: &Pick<'_>, candidates: &Candidates<'_>) -> usize {
        draw_usable(candidates)
    }
}

/// A usable candidate drawn uniformly; any candidate if none is usable.
pub(super) fn draw_usable(candidates: &Candidates<'_>) -> usize {
    let n = candidates.len();
    let usable = candidates.usable_count();
    if usable == n || usable == 0 {
        return fastrand::usize(..n);
    }
    candidates
        .nth_usable(fastrand::usize(..usable))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;

    #[test]
    fn random_spreads_evenly_over_the_usable_ones() {
        let (e, l) = testing::candidates(&[1, 1, 1, 1]);
        let c = Candidates::new(&e, &l);
        let meta = Default::default();
        let call = testing::call(&meta);
        let counts = testing::counts(4, (0..40_000).map(|_| Random.pick(&call, &c)));
        // 10,000 expected each; 5 standard deviations is about ±430.
        assert!(
            counts.iter().all(|&n| (9_500..10_500).contains(&n)),
            "{counts:?}"
        );
        l[2].set_breaker_open(true);
        let counts = testing::counts(4, (0..3_000).map(|_| Random.pick(&call, &c)));
        assert_eq!(counts[2], 0, "{counts:?}");
        assert!(counts.iter().all(|&n| n == 0 || n > 800), "{counts:?}");
    }
}
