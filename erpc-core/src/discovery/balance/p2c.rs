//! Power of two choices (P2C) over peak-EWMA load: draw two usable candidates at random and
//! take the one with the lower [`Load::score`] — peak-EWMA latency × (in flight + 1). This is
//! Finagle's `P2CPeakEwma` and linkerd2's balancer (Mitzenmacher, "The Power of Two Choices
//! in Randomized Load Balancing", 2001: two random choices cut the worst load from
//! O(log n / log log n) to O(log log n), with no scan of the whole list and no herd onto the
//! one instance that looks best to every client at once). While either of the two has no
//! latency sample yet, the one with fewer calls in flight wins (linkerd2 gives a new endpoint
//! a default RTT for the same reason: not to herd onto it before it is measured).
//!
//! [`Load::score`]: crate::discovery::Load::score

use super::random::draw_usable;
use super::{Balancer, Candidates, Pick};
use crate::discovery::Load;

/// Two usable candidates drawn at random, the less loaded one wins (see the module doc).
/// With one usable candidate, that one; with none, any (the pick path reports why).
#[derive(Debug, Default, Clone, Copy)]
pub struct P2c;

impl Balancer for P2c {
    fn pick(&self, _call: &Pick<'_>, candidates: &Candidates<'_>) -> usize {
        let n = candidates.len();
        // Two distinct candidates drawn among all of them, kept if both are usable (nearly
        // always): two looks instead of one per candidate. Otherwise the two are drawn
        // among the usable ones only. Either way each pair of usable candidates is equally
        // likely (a pair kept from the first draw is uniform among usable pairs, and so is
        // the second), so skipping the count changes no distribution.
        if n >= 2 {
            let (a, b) = distinct_pair(n);
            if candidates.usable(a) && candidates.usable(b) {
                return less_loaded(candidates, a, b);
            }
        }
        let usable = candidates.usable_count();
        if usable < 2 {
            return draw_usable(candidates);
        }
        let (a, b) = distinct_pair(usable);
        let nth = |k| candidates.nth_usable(k).unwrap_or_default();
        less_loaded(candidates, nth(a), nth(b))
    }
}

/// `a` or `b`, whichever is less loaded (`a` on a tie).
fn less_loaded(candidates: &Candidates<'_>, a: usize, b: usize) -> usize {
    let (la, lb) = (candidates.load(a), candidates.load(b));
    // Before an instance's first answer its latency is unknown, and a score of "no
    // latency" would draw every call to it until that answer (a slow instance would take a
    // burst at the start): compare what both have, the calls in flight.
    let a_wins = if !la.is_measured() || !lb.is_measured() {
        la.in_flight() <= lb.in_flight()
    } else {
        Load::scores_no_higher(la, lb)
    };
    if a_wins { a } else { b }
}

/// Two distinct positions in `0..n` (`n` ≥ 2), uniformly.
fn distinct_pair(n: usize) -> (usize, usize) {
    let (a, mut b) = two_draws(n);
    // The second among the others, so the two are distinct.
    if b >= a {
        b += 1;
    }
    (a, b)
}

/// Two uniform draws from one random word: the first in `0..n`, the second in `0..n - 1`
/// (`n` ≥ 2), each by Lemire's multiply-shift on a 32-bit half (bias below 2⁻³² × `n`:
/// nothing next to a balancer's). One call into the generator instead of two.
fn two_draws(n: usize) -> (usize, usize) {
    let word = fastrand::u64(..);
    let n = n as u64;
    let a = ((word & 0xffff_ffff) * n) >> 32;
    let b = ((word >> 32) * (n - 1)) >> 32;
    (a as usize, b as usize)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::testing;
    use super::*;

    #[test]
    fn p2c_prefers_the_lower_score_and_skips_unusable_ones() {
        let (e, l) = testing::candidates(&[1, 1, 1]);
        let c = Candidates::new(&e, &l);
        let meta = Default::default();
        let call = testing::call(&meta);
        // Idle and unmeasured: even.
        let counts = testing::counts(3, (0..30_000).map(|_| P2c.pick(&call, &c)));
        assert!(
            counts.iter().all(|&n| (9_400..10_600).contains(&n)),
            "{counts:?}"
        );
        // One ten times slower: it wins only when drawn twice, which cannot happen; so never.
        for (i, ms) in [(0, 5), (1, 5), (2, 50)] {
            l[i].started();
            l[i].finished(Some(Duration::from_millis(ms)), false);
        }
        let counts = testing::counts(3, (0..3_000).map(|_| P2c.pick(&call, &c)));
        assert_eq!(counts[2], 0, "{counts:?}");
        // Breaker open on 0: only 1 and 2 are drawn, and 1 is faster.
        l[0].set_breaker_open(true);
        let counts = testing::counts(3, (0..1_000).map(|_| P2c.pick(&call, &c)));
        assert_eq!(counts, vec![0, 1_000, 0]);
        // One usable: that one.
        l[1].set_suspect(true);
        assert!((0..100).all(|_| P2c.pick(&call, &c) == 2));
    }

    #[test]
    fn the_two_draws_cover_every_pair_evenly() {
        // Three candidates: six ordered pairs (a, b) of distinct ones, each about 1/6.
        let mut pairs = std::collections::HashMap::new();
        for _ in 0..60_000 {
            let (a, b) = distinct_pair(3);
            assert!(a < 3 && b < 3 && a != b);
            *pairs.entry((a, b)).or_insert(0u32) += 1;
        }
        assert_eq!(pairs.len(), 6, "{pairs:?}");
        assert!(
            pairs.values().all(|&n| (9_400..10_600).contains(&n)),
            "{pairs:?}"
        );
    }

    #[test]
    fn with_an_unusable_candidate_the_usable_ones_share_evenly() {
        // Four idle, unmeasured candidates (a tie: the first drawn wins), one suspect: the
        // pair drawn among all four is kept only when both are usable, else drawn again
        // among the three; each of the three is the first of a pair a third of the time.
        let (e, l) = testing::candidates(&[1, 1, 1, 1]);
        l[2].set_suspect(true);
        let c = Candidates::new(&e, &l);
        let meta = Default::default();
        let call = testing::call(&meta);
        let counts = testing::counts(4, (0..30_000).map(|_| P2c.pick(&call, &c)));
        assert_eq!(counts[2], 0, "{counts:?}");
        assert!(
            [0, 1, 3]
                .iter()
                .all(|&i| (9_400..10_600).contains(&counts[i])),
            "{counts:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_instance_not_picked_since_it_was_slow_is_tried_again_as_its_estimate_decays() {
        // 1 was slow once (20 ms), 0 answered in 1 ms (both measured: an unmeasured one
        // is compared by calls in flight alone); then both answer in 1 ms, a call every
        // 100 ms. While 1's estimate stands every pick takes 0, so 1 is never measured
        // again; read between answers it decays towards zero, and wins once
        // 20 ms × exp(-t/τ) < 1 ms: t = τ × ln 20 ≈ 30 s (Finagle's and linkerd's
        // behaviour; without the decay on read, never).
        let (e, l) = testing::candidates(&[1, 1]);
        let c = Candidates::new(&e, &l);
        let meta = Default::default();
        let call = testing::call(&meta);
        l[0].started();
        l[0].finished(Some(Duration::from_millis(1)), false);
        l[1].started();
        l[1].finished(Some(Duration::from_millis(20)), false);
        let step = Duration::from_millis(100);
        let began = tokio::time::Instant::now();
        let mut back = None;
        for _ in 0..600 {
            let i = P2c.pick(&call, &c);
            l[i].started();
            l[i].finished(Some(Duration::from_millis(1)), false);
            if i == 1 {
                back = Some(began.elapsed());
                break;
            }
            tokio::time::advance(step).await;
        }
        let back = back.expect("the instance was never tried again");
        assert!(
            back >= Duration::from_secs(29) && back <= Duration::from_secs(31),
            "{back:?}"
        );
    }

    #[test]
    fn an_unmeasured_instance_does_not_draw_every_call_before_its_first_answer() {
        let (e, l) = testing::candidates(&[1, 1]);
        let c = Candidates::new(&e, &l);
        let meta = Default::default();
        let call = testing::call(&meta);
        // 0 answered in 5 ms and is idle; 1 has three calls out and no answer yet.
        l[0].started();
        l[0].finished(Some(Duration::from_millis(5)), false);
        for _ in 0..3 {
            l[1].started();
        }
        assert!((0..100).all(|_| P2c.pick(&call, &c) == 0));
    }
}
