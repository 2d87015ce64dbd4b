//! Deadlines of the calls on one connection, kept in one min-heap and served by one sweeper
//! task, instead of a timer per call.
//!
//! A per-call `tokio::time::timeout` registers and cancels an entry in the runtime's timer
//! wheel under its lock, twice per call (client and server): about a tenth of a saturated
//! core (BENCHMARKS.md). Here registering a deadline is a heap push under the lock the call
//! takes anyway, and the sweeper sleeps until the earliest one.
//!
//! Finished calls are not removed from the heap (that would need a search); they are skipped
//! when they reach the top, and the heap is rebuilt from the live calls whenever stale entries
//! outnumber them, so its size stays within twice the calls in flight.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::pending;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::engine::signal::{Role, Signal};

/// Stale entries tolerated before a rebuild, on top of twice the live calls.
const SLACK: usize = 64;

#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
}

impl Deadlines {
    /// Track call `id`, due `at`. Returns true when it is now the earliest deadline, so the
    /// sweeper must be woken to sleep less.
    pub fn push(&mut self, at: Instant, id: u64) -> bool {
        let earliest = self
            .heap
            .peek()
            .is_none_or(|Reverse((first, _))| at < *first);
        self.heap.push(Reverse((at, id)));
        earliest
    }

    /// Rebuild from the live calls if stale entries have piled up.
    pub fn compact_if_needed(&mut self, live: usize, calls: impl Iterator<Item = (u64, Instant)>) {
        if self.heap.len() > 2 * live + SLACK {
            // Rebuilt in its own buffer: collecting into a new one cost an allocation per
            // compaction and a few more regrowing it, ~0.1 allocation per call (BENCHMARKS.md).
            let mut entries = std::mem::take(&mut self.heap).into_vec();
            entries.clear();
            entries.extend(calls.map(|(id, at)| Reverse((at, id))));
            self.heap = BinaryHeap::from(entries);
        }
    }

    /// Take the next entry due at `now`, if any. The caller checks whether the call is still
    /// live (and still has this deadline).
    pub fn pop_due(&mut self, now: Instant) -> Option<(u64, Instant)> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => {
                self.heap.pop().map(|Reverse((at, id))| (id, at))
            }
            _ => None,
        }
    }

    /// Drop stale entries from the top (`is_live(id, at)` false) and return the earliest
    /// live deadline.
    pub fn next_live(&mut self, mut is_live: impl FnMut(u64, Instant) -> bool) -> Option<Instant> {
        while let Some(Reverse((at, id))) = self.heap.peek().copied() {
            if is_live(id, at) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.heap.len()
    }
}

/// The sweeper loop: `expire(now)` expires everything due and returns the next deadline to
/// sleep until; `wake` interrupts the sleep when an earlier deadline arrives.
pub(crate) async fn sweep(
    wake: &Notify,
    dead: &Signal,
    mut expire: impl FnMut(Instant) -> Option<Instant>,
) {
    let died = dead.fired(Role::Background);
    tokio::pin!(died);
    loop {
        let next = expire(Instant::now());
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => pending().await,
            }
        };
        tokio::select! {
            _ = &mut died => return,
            _ = wake.notified() => {}
            _ = sleep => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::time::Duration;

    #[test]
    fn due_entries_come_out_in_order_and_stale_ones_are_skipped() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut d = Deadlines::default();
        assert!(d.push(at(30), 3));
        assert!(d.push(at(10), 1));
        assert!(!d.push(at(20), 2));
        let live: HashMap<u64, Instant> = [(2, at(20)), (3, at(30))].into();
        // 1 finished: skipped.
        assert_eq!(d.next_live(|id, a| live.get(&id) == Some(&a)), Some(at(20)));
        assert_eq!(d.pop_due(at(25)), Some((2, at(20))));
        assert_eq!(d.pop_due(at(25)), None);
        assert_eq!(d.pop_due(at(30)), Some((3, at(30))));
    }

    #[test]
    fn the_heap_stays_bounded_by_the_live_calls() {
        let t0 = Instant::now();
        let mut d = Deadlines::default();
        let mut live = HashMap::new();
        for id in 0..100_000u64 {
            let at = t0 + Duration::from_secs(10);
            d.push(at, id);
            live.insert(id, at);
            // Calls finish quickly; only the last few are ever live.
            if id >= 4 {
                live.remove(&(id - 4));
            }
            let before = d.len();
            d.compact_if_needed(live.len(), live.iter().map(|(i, a)| (*i, *a)));
            assert!(d.len() <= 2 * live.len() + SLACK + 1);
            if d.len() < before {
                // Rebuilt in the buffer it had, which has room to pile up again: no
                // allocation in steady state.
                assert!(d.heap.capacity() > 2 * live.len() + SLACK, "buffer kept");
            }
        }
    }
}
