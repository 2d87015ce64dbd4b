//! [`BridgeStats`]: what a running bridge has done, counted — for operators' metrics and for
//! tests that wait for an event (a request given back) instead of sleeping. Published in a
//! `tokio::sync::watch` channel ([`Bridge::stats`](crate::Bridge::stats)): a reader takes a
//! consistent snapshot (`borrow`), waits for a change (`changed`) or for a condition
//! (`wait_for`); the counts change only on a bridge's rare paths, so the channel's lock costs
//! nothing on the common one.

/// Counts of a bridge's outcomes since it was made. Every count only grows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BridgeStats {
    /// Requests given back to the queue unworked (QUEUE.md §4.4: no target here, or their
    /// target unreachable with the waiting slots taken), each time.
    pub given_back: u64,
    /// Dead letters made (QUEUE.md §4), whether or not publishing them succeeded.
    pub dead_lettered: u64,
    /// Requests worked and acked (their answer, if any, published first): done with, never
    /// to come back.
    pub acked: u64,
}

/// The bridge's side of its stats channel.
#[derive(Debug)]
pub(crate) struct Counts(tokio::sync::watch::Sender<BridgeStats>);

impl Default for Counts {
    fn default() -> Self {
        Counts(tokio::sync::watch::Sender::new(BridgeStats::default()))
    }
}

impl Counts {
    /// A receiver of the counts from now on.
    pub(crate) fn subscribe(&self) -> tokio::sync::watch::Receiver<BridgeStats> {
        self.0.subscribe()
    }

    pub(crate) fn count_given_back(&self) {
        // `send_modify`, not `send`: counted whether or not anyone holds a receiver.
        self.0.send_modify(|s| s.given_back += 1);
    }

    pub(crate) fn count_dead_letter(&self) {
        self.0.send_modify(|s| s.dead_lettered += 1);
    }

    pub(crate) fn count_acked(&self) {
        self.0.send_modify(|s| s.acked += 1);
    }
}
