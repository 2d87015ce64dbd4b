//! Smooth weighted round-robin (nginx's `ngx_http_upstream_get_peer`).

use std::sync::Mutex;

use super::round_robin::RoundRobin;
use super::{Balancer, Candidates, Endpoint, Pick};

/// Smooth weighted round-robin (nginx's): over any window, each endpoint gets calls in
/// proportion to its weight, spread evenly rather than in bursts. Weight 0 gets none unless
/// every weight is 0 (then it is plain round-robin). Unusable endpoints (suspect, breaker
/// open) sit the round out, as nginx skips down peers, so the others share their calls by
/// weight.
#[derive(Debug, Default)]
pub struct Weighted {
    state: Mutex<Scores>,
    fallback: RoundRobin,
}

/// Each endpoint's running score, by position, for the list of ids it was built for.
#[derive(Debug, Default)]
struct Scores {
    ids: Vec<String>,
    scores: Vec<i64>,
}

impl Scores {
    /// Carry the scores over to a changed list, by id (new endpoints start at 0). The usual
    /// call sees the same list and changes nothing, so a pick allocates nothing.
    fn follow(&mut self, endpoints: &[Endpoint]) {
        let same = self.ids.len() == endpoints.len()
            && self.ids.iter().zip(endpoints).all(|(id, e)| *id == e.id);
        if same {
            return;
        }
        let scores = endpoints
            .iter()
            .map(|e| {
                self.ids
                    .iter()
                    .position(|id| *id == e.id)
                    .map_or(0, |i| self.scores[i])
            })
            .collect();
        self.scores = scores;
        self.ids = endpoints.iter().map(|e| e.id.clone()).collect();
    }
}

impl Balancer for Weighted {
    fn pick(&self, call: &Pick<'_>, candidates: &Candidates<'_>) -> usize {
        let endpoints = candidates.endpoints();
        // With none usable every one takes part (the pick path then reports why).
        let any_usable = (0..endpoints.len()).any(|i| candidates.usable(i));
        let takes_part = |i: usize| !any_usable || candidates.usable(i);
        let total: i64 = endpoints
            .iter()
            .enumerate()
            .filter(|(i, _)| takes_part(*i))
            .map(|(_, e)| e.weight as i64)
            .sum();
        if total == 0 {
            return self.fallback.pick(call, candidates);
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.follow(endpoints);
        // The endpoint whose score, raised by its weight, is highest: the one nginx's round
        // would take (the first of equals).
        let mut best: Option<(usize, i64)> = None;
        for (i, e) in endpoints.iter().enumerate() {
            if !takes_part(i) {
                continue;
            }
            let raised = state.scores[i] + e.weight as i64;
            if best.is_none_or(|(_, b)| raised > b) {
                best = Some((i, raised));
            }
        }
        let best = best.map_or(0, |(i, _)| i);
        // A retry's or hedge's pick takes what the next call would get and leaves the scores
        // alone: the round is the calls' first attempts', so extra picks do not skew it.
        if call.retry {
            return best;
        }
        for (i, e) in endpoints.iter().enumerate() {
            if takes_part(i) {
                state.scores[i] += e.weight as i64;
            }
        }
        state.scores[best] -= total;
        best
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;

    #[test]
    fn weighted_follows_the_weights_smoothly() {
        let b = Weighted::default();
        let meta = Default::default();
        let call = testing::call(&meta);
        let (e, l) = testing::candidates(&[5, 1, 1]);
        let c = Candidates::new(&e, &l);
        let picks: Vec<usize> = (0..7).map(|_| b.pick(&call, &c)).collect();
        assert_eq!(
            picks,
            vec![0, 0, 1, 0, 2, 0, 0],
            "nginx's sequence for 5:1:1"
        );
        let mut counts = [0; 3];
        for _ in 0..7000 {
            counts[b.pick(&call, &c)] += 1;
        }
        assert_eq!(counts, [5000, 1000, 1000]);
        let (e, l) = testing::candidates(&[0, 3]);
        let zero = Candidates::new(&e, &l);
        assert!(
            (0..10).all(|_| b.pick(&call, &zero) == 1),
            "weight 0 takes nothing"
        );
        // The heaviest unusable: the others share by weight, 1:1.
        let (e, l) = testing::candidates(&[5, 1, 1]);
        let c = Candidates::new(&e, &l);
        l[0].set_suspect(true);
        let counts = testing::counts(3, (0..1_000).map(|_| b.pick(&call, &c)));
        assert_eq!(counts, vec![0, 500, 500]);
    }
}
