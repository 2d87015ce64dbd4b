//! [`BridgeStats`]: what a running bridge has done, counted — for operators' metrics and for
//! tests that wait for an event (a request given back) instead of sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counts of a bridge's outcomes since it was made; shared (`Arc`) with whoever asked
/// [`Bridge::stats`](crate::Bridge::stats). Every count only grows.
#[derive(Debug, Default)]
pub struct BridgeStats {
    given_back: AtomicU64,
    dead_lettered: AtomicU64,
    changed: tokio::sync::Notify,
}

impl BridgeStats {
    /// Requests given back to the queue unworked (QUEUE.md §4.4: no target here, or their
    /// target unreachable with the waiting slots taken), each time.
    pub fn given_back(&self) -> u64 {
        self.given_back.load(Ordering::Acquire)
    }

    /// Dead letters made (QUEUE.md §4), whether or not publishing them succeeded.
    pub fn dead_lettered(&self) -> u64 {
        self.dead_lettered.load(Ordering::Acquire)
    }

    /// Wait until `check` holds (re-checked at every count), at most `limit`; whether it did.
    pub async fn wait_for(&self, limit: Duration, check: impl Fn(&BridgeStats) -> bool) -> bool {
        let wait = async {
            loop {
                let changed = self.changed.notified();
                if check(self) {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(limit, wait).await.is_ok()
    }

    pub(crate) fn count_given_back(&self) {
        self.given_back.fetch_add(1, Ordering::AcqRel);
        self.changed.notify_waiters();
    }

    pub(crate) fn count_dead_letter(&self) {
        self.dead_lettered.fetch_add(1, Ordering::AcqRel);
        self.changed.notify_waiters();
    }
}
