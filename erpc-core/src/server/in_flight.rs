//! The handlers running on one connection, by request id, so that CANCEL, shutdown and a
//! vanished client can abort them.
//!
//! A call is *reserved* before its task is spawned and the task's abort handle *attached*
//! right after, so a task that finishes (and removes itself) before the attach leaves no stale
//! entry, and an abort that lands in between is remembered and applied at the attach.
//! A call run inline on the connection's task (`inline_call`) is only checked against the
//! table ([`InFlight::check`]) and enters it only if its handler is still pending after its
//! first poll, when it gets a task like any other.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::engine::deadlines::Deadlines;
use crate::engine::stream::StreamState;
use crate::protocol::Kind;

/// The refusal of a call beyond the connection's running-call cap of `cap`.
pub(crate) fn full(cap: usize) -> crate::Status {
    crate::Status::resource_exhausted(format!(
        "server: {} already running on this connection (max_in_flight)",
        crate::human::count(cap, "call")
    ))
}

/// Why a call could not be registered.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// A call with this id is still running.
    Duplicate,
    /// The connection is at its cap of running handlers.
    Full,
}

enum State {
    /// Reserved; the task is being spawned.
    Reserved,
    /// Running.
    Running(AbortHandle),
}

struct Slot {
    state: State,
    kind: Kind,
    /// When the call arrived, and when it is due.
    arrived: Instant,
    deadline: Instant,
    /// A streaming call's flow-control state, for the reader to route stream frames to.
    stream: Option<Arc<StreamState>>,
    /// Waiting for a rate limit's turn: not running, so not counted against the cap.
    waiting: bool,
}

/// A call cancelled within this time of arriving may be a rapid reset (see [`InFlight::abort`]).
const RAPID_CANCEL: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Default)]
struct Calls {
    by_id: HashMap<u64, Slot>,
    deadlines: Deadlines,
    /// Calls in `by_id` that are `waiting`.
    waiting: usize,
}

impl Calls {
    /// Calls running (or about to): all but the waiting ones.
    fn running(&self) -> usize {
        self.by_id.len() - self.waiting
    }

    /// Take call `id` out, keeping the count of waiting calls.
    fn remove(&mut self, id: u64) -> Option<Slot> {
        let slot = self.by_id.remove(&id)?;
        if slot.waiting {
            self.waiting -= 1;
        }
        Some(slot)
    }
}

/// What a CANCEL did to a call.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Cancelled {
    /// Nothing was running under that id (it had finished, or never existed).
    NotRunning,
    /// The call was stopped; a normal cancel.
    Stopped,
    /// The call was stopped before it could have done anything the client reacted to: the
    /// shape of a rapid reset. It adds to the cancel debt.
    Rapid,
}

/// A call whose deadline passed, taken out of the table by [`InFlight::expire`].
pub(crate) struct Expired {
    pub id: u64,
    pub kind: Kind,
}

#[derive(Default)]
pub(crate) struct InFlight {
    calls: Mutex<Calls>,
    /// How many calls `calls` holds, mirrored after every change under its lock. Only the
    /// connection's reader adds calls, so a reader that reads 0 here knows the table is
    /// empty without taking the lock (`InFlight::check`, on every call run inline).
    occupied: AtomicUsize,
    emptied: Notify,
    /// Wakes the deadline sweeper when a call's deadline is the new earliest.
    pub wake_sweeper: Notify,
    /// Calls the client cancelled rapidly (see [`InFlight::abort`]), minus calls that
    /// completed (never below zero): a client that keeps starting and cancelling calls
    /// ("rapid reset") runs it up.
    cancel_debt: AtomicU64,
}

impl InFlight {
    fn lock(&self) -> std::sync::MutexGuard<'_, Calls> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserve a slot for a call about to start, arrived at `arrived` and due at `deadline`.
    /// A `waiting` call (for a rate limit's turn) is not counted against `cap` until
    /// [`InFlight::start`].
    #[allow(clippy::too_many_arguments)]
    pub fn reserve(
        &self,
        id: u64,
        kind: Kind,
        arrived: Instant,
        deadline: Instant,
        cap: usize,
        stream: Option<Arc<StreamState>>,
        waiting: bool,
    ) -> Result<(), Refused> {
        let earliest = {
            let mut calls = self.lock();
            if calls.by_id.contains_key(&id) {
                return Err(Refused::Duplicate);
            }
            if !waiting && calls.running() >= cap {
                return Err(Refused::Full);
            }
            calls.waiting += usize::from(waiting);
            let Calls {
                by_id, deadlines, ..
            } = &mut *calls;
            by_id.insert(
                id,
                Slot {
                    state: State::Reserved,
                    kind,
                    arrived,
                    deadline,
                    stream,
                    waiting,
                },
            );
            let earliest = deadlines.push(deadline, id);
            deadlines.compact_if_needed(by_id.len(), by_id.iter().map(|(id, s)| (*id, s.deadline)));
            self.occupied.store(by_id.len(), Ordering::Release);
            earliest
        };
        if earliest {
            self.wake_sweeper.notify_one();
        }
        Ok(())
    }

    /// A waiting call's wait is over: it runs now, if fewer than `cap` calls run. A call
    /// already taken out (cancelled, expired) is left to its abort.
    pub fn start(&self, id: u64, cap: usize) -> Result<(), Refused> {
        let mut calls = self.lock();
        let running = calls.running();
        let Some(slot) = calls.by_id.get_mut(&id) else {
            return Ok(());
        };
        if !slot.waiting {
            return Ok(());
        }
        if running >= cap {
            return Err(Refused::Full);
        }
        slot.waiting = false;
        calls.waiting -= 1;
        Ok(())
    }

    /// Take out (and abort) every call due at `now`; return them and the next deadline.
    pub fn expire(&self, now: Instant, expired: &mut Vec<Expired>) -> Option<Instant> {
        let mut calls = self.lock();
        while let Some((id, at)) = calls.deadlines.pop_due(now) {
            if calls.by_id.get(&id).is_some_and(|slot| slot.deadline == at) {
                if let Some(slot) = calls.remove(id) {
                    if let State::Running(handle) = slot.state {
                        handle.abort();
                    }
                    expired.push(Expired {
                        id,
                        kind: slot.kind,
                    });
                }
            }
        }
        let Calls {
            by_id, deadlines, ..
        } = &mut *calls;
        self.occupied.store(by_id.len(), Ordering::Release);
        if by_id.is_empty() {
            self.emptied.notify_waiters();
        }
        deadlines.next_live(|id, at| by_id.get(&id).is_some_and(|slot| slot.deadline == at))
    }

    /// Attach the spawned task. If the call was aborted meanwhile, the task is aborted now; if
    /// it already finished, nothing is stored.
    pub fn attach(&self, id: u64, handle: AbortHandle) {
        let mut calls = self.lock();
        match calls.by_id.get_mut(&id) {
            Some(slot) => slot.state = State::Running(handle),
            None => handle.abort(),
        }
    }

    /// A call finished by itself. Returns false if it had already been taken out (cancelled,
    /// expired, shut down), in which case it must not answer.
    pub fn finish(&self, id: u64) -> bool {
        let mut calls = self.lock();
        let owned = calls.remove(id).is_some();
        self.occupied.store(calls.by_id.len(), Ordering::Release);
        if calls.by_id.is_empty() {
            self.emptied.notify_waiters();
        }
        drop(calls);
        if owned {
            self.completed();
        }
        owned
    }

    /// A call completed: it pays back one rapid cancel of the debt (see
    /// [`InFlight::abort`]). Calls run inline call this themselves, never having been in
    /// the table.
    pub fn completed(&self) {
        // Read first: the debt is almost always 0, and a load is cheaper than an update.
        if self.cancel_debt.load(Ordering::Relaxed) > 0 {
            let _ = self
                .cancel_debt
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| d.checked_sub(1));
        }
    }

    /// Whether call `id` may run inline on the connection's task without a slot: refused
    /// as [`InFlight::reserve`] would refuse it (a duplicate of a call in the table, or the
    /// table at `cap`). Without the lock while the table is empty (see `occupied`).
    pub fn check(&self, id: u64, cap: usize) -> Result<(), Refused> {
        if cap > 0 && self.occupied.load(Ordering::Acquire) == 0 {
            return Ok(());
        }
        let calls = self.lock();
        if calls.by_id.contains_key(&id) {
            return Err(Refused::Duplicate);
        }
        if calls.running() >= cap {
            return Err(Refused::Full);
        }
        Ok(())
    }

    /// Abort one call (CANCEL). Unknown ids are ignored: the call may have just finished.
    ///
    /// A cancel counts towards the cancel debt ([`Cancelled::Rapid`]) only if the call had
    /// sent no stream message (a client that cancels a stream it is reading is ending a
    /// subscription), arrived less than [`RAPID_CANCEL`] ago (cancelling a long-running call
    /// costs nothing the call did not already cost), and had more than a tenth of its
    /// deadline left (a client's CANCEL at its deadline arrives about when the server's own
    /// deadline for the call passes). What is left is the shape of a rapid reset: a call
    /// started and thrown away before it could do anything — and also a client abandoning
    /// many calls within a second, which completed calls pay back.
    pub fn abort(&self, id: u64) -> Cancelled {
        let mut calls = self.lock();
        let removed = calls.remove(id);
        self.occupied.store(calls.by_id.len(), Ordering::Release);
        if calls.by_id.is_empty() {
            self.emptied.notify_waiters();
        }
        drop(calls);
        let Some(slot) = removed else {
            return Cancelled::NotRunning;
        };
        if let State::Running(handle) = slot.state {
            handle.abort();
        }
        let now = Instant::now();
        let span = slot.deadline.saturating_duration_since(slot.arrived);
        let rapid = !slot.stream.is_some_and(|s| s.has_sent())
            && now.saturating_duration_since(slot.arrived) < RAPID_CANCEL
            && slot.deadline.saturating_duration_since(now) > span / 10;
        if !rapid {
            return Cancelled::Stopped;
        }
        self.cancel_debt.fetch_add(1, Ordering::Relaxed);
        Cancelled::Rapid
    }

    /// The stream state of running streaming call `id`.
    pub fn stream(&self, id: u64) -> Option<Arc<StreamState>> {
        self.lock().by_id.get(&id)?.stream.clone()
    }

    /// See the field's doc.
    pub fn cancel_debt(&self) -> u64 {
        self.cancel_debt.load(Ordering::Relaxed)
    }

    /// Abort every call, returning the ids and kinds of those aborted.
    pub fn abort_all(&self) -> Vec<(u64, Kind)> {
        let drained: Vec<_> = {
            let mut calls = self.lock();
            calls.waiting = 0;
            self.occupied.store(0, Ordering::Release);
            calls.by_id.drain().collect()
        };
        self.emptied.notify_waiters();
        drained
            .into_iter()
            .map(|(id, slot)| {
                if let State::Running(handle) = slot.state {
                    handle.abort();
                }
                (id, slot.kind)
            })
            .collect()
    }

    /// Abort every call someone waits for an answer to (requests and streams), leaving
    /// oneway calls running: what a client's orderly close does.
    pub fn abort_answered(&self) {
        let mut calls = self.lock();
        let answered: Vec<u64> = (calls.by_id.iter())
            .filter(|(_, slot)| slot.kind != Kind::ONEWAY)
            .map(|(id, _)| *id)
            .collect();
        for id in answered {
            if let Some(Slot {
                state: State::Running(handle),
                ..
            }) = calls.remove(id)
            {
                handle.abort();
            }
        }
        self.occupied.store(calls.by_id.len(), Ordering::Release);
        if calls.by_id.is_empty() {
            self.emptied.notify_waiters();
        }
    }

    /// Wait until no call is running.
    pub async fn wait_empty(&self) {
        loop {
            let emptied = self.emptied.notified();
            if self.lock().by_id.is_empty() {
                return;
            }
            emptied.await;
        }
    }
}
