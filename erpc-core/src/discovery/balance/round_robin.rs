//! Round-robin: each candidate in turn.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Balancer, Candidates, Pick};

/// Each candidate in turn, whatever the load; an unusable one's turn (suspect, breaker open)
/// goes to a usable one drawn at random, not always to its neighbour (which would then get a
/// double share).
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl RoundRobin {
    /// The next index for `n` candidates. A retry's or hedge's pick ([`Pick::retry`]) takes
    /// the index the next call would get without moving the turn: moving it would shift
    /// every later call by one (with two instances, each hedge would send the next
    /// original back to the instance the last one went to).
    pub(crate) fn next(&self, call: &Pick<'_>, n: usize) -> usize {
        if call.retry {
            return self.next.load(Ordering::Relaxed) % n;
        }
        self.next.fetch_add(1, Ordering::Relaxed) % n
    }

    /// The candidates for which `member` holds, in turn: the next of them, or `None` if
    /// there is none. Two passes over the list, no allocation.
    pub(crate) fn among(
        &self,
        call: &Pick<'_>,
        candidates: &Candidates<'_>,
        member: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        let n = candidates.len();
        let members = (0..n).filter(|&i| member(i)).count();
        if members == 0 {
            return None;
        }
        (0..n).filter(|&i| member(i)).nth(self.next(call, members))
    }
}

impl Balancer for RoundRobin {
    fn pick(&self, call: &Pick<'_>, candidates: &Candidates<'_>) -> usize {
        let i = self.next(call, candidates.len());
        if candidates.usable(i) {
            return i;
        }
        // Drawn at random: taking them in turn with the same counter falls into step with
        // it and favours some.
        super::random::draw_usable(candidates)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;

    #[test]
    fn round_robin_takes_turns() {
        let b = RoundRobin::default();
        let (e, l) = testing::candidates(&[1, 1, 1]);
        let c = Candidates::new(&e, &l);
        let meta = Default::default();
        let picks: Vec<usize> = (0..6).map(|_| b.pick(&testing::call(&meta), &c)).collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1, 2]);
        // One unusable: the others share its turns evenly, never it.
        let (e, l) = testing::candidates(&[1, 1, 1, 1]);
        let c = Candidates::new(&e, &l);
        l[1].set_breaker_open(true);
        let counts = testing::counts(4, (0..3_000).map(|_| b.pick(&testing::call(&meta), &c)));
        assert_eq!(counts[1], 0, "{counts:?}");
        assert!(
            counts.iter().all(|&n| n == 0 || (900..1_100).contains(&n)),
            "{counts:?}"
        );
    }
}
