//! What the server saw, counted so a client in another language can ask for it (`Echo.stats`)
//! and prove that its CANCEL, deadline or oneway reached the server.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Counters shared by both services.
#[derive(Debug, Default)]
pub struct Probe {
    started: AtomicU64,
    finished: AtomicU64,
    aborted: AtomicU64,
    notified: AtomicU64,
}

/// A snapshot of the counters, as `Echo.stats` returns it: a map keyed by field name.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Stats {
    /// Slow handlers (`Echo.sleep`, `Feed.hang`) started.
    pub started: u64,
    /// Slow handlers that ran to their end.
    pub finished: u64,
    /// Slow handlers dropped before their end: cancelled or past their deadline.
    pub aborted: u64,
    /// Sum of the `n` of every `Echo.notify` oneway call received.
    pub notified: u64,
}

impl Probe {
    pub fn started(&self) {
        self.started.fetch_add(1, Ordering::SeqCst);
    }

    pub fn finished(&self) {
        self.finished.fetch_add(1, Ordering::SeqCst);
    }

    pub fn aborted(&self) {
        self.aborted.fetch_add(1, Ordering::SeqCst);
    }

    pub fn notified(&self, n: u64) {
        self.notified.fetch_add(n, Ordering::SeqCst);
    }

    pub fn snapshot(&self) -> Stats {
        Stats {
            started: self.started.load(Ordering::SeqCst),
            finished: self.finished.load(Ordering::SeqCst),
            aborted: self.aborted.load(Ordering::SeqCst),
            notified: self.notified.load(Ordering::SeqCst),
        }
    }
}

/// Counts an abort when dropped before [`Unfinished::done`]: a handler's future dropped by
/// the server (cancel, deadline) never reaches its end.
pub struct Unfinished<'a> {
    probe: &'a Probe,
    done: bool,
}

impl<'a> Unfinished<'a> {
    pub fn start(probe: &'a Probe) -> Self {
        probe.started();
        Unfinished { probe, done: false }
    }

    pub fn done(mut self) {
        self.done = true;
        self.probe.finished();
    }
}

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.probe.aborted();
        }
    }
}
