//! The handlers running on one connection, by request id, so that CANCEL, shutdown and a
//! vanished client can abort them.
//!
//! A call is *reserved* before its task is spawned and the task's abort handle *attached*
//! right after, so a task that finishes (and removes itself) before the attach leaves no stale
//! entry, and an abort that lands in between is remembered and applied at the attach.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::Notify;
use tokio::task::AbortHandle;

use crate::protocol::Kind;

/// Why a call could not be registered.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// A call with this id is still running.
    Duplicate,
    /// The connection is at its cap of running handlers.
    Full,
}

enum Slot {
    /// Reserved; the task is being spawned.
    Reserved(Kind),
    /// Running.
    Running(AbortHandle, Kind),
}

#[derive(Default)]
pub(crate) struct InFlight {
    calls: Mutex<HashMap<u64, Slot>>,
    emptied: Notify,
}

impl InFlight {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Slot>> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserve a slot for a call about to start.
    pub fn reserve(&self, id: u64, kind: Kind, cap: usize) -> Result<(), Refused> {
        let mut calls = self.lock();
        if calls.contains_key(&id) {
            return Err(Refused::Duplicate);
        }
        if calls.len() >= cap {
            return Err(Refused::Full);
        }
        calls.insert(id, Slot::Reserved(kind));
        Ok(())
    }

    /// Attach the spawned task. If the call was aborted meanwhile, the task is aborted now; if
    /// it already finished, nothing is stored.
    pub fn attach(&self, id: u64, handle: AbortHandle) {
        let mut calls = self.lock();
        match calls.get_mut(&id) {
            Some(slot @ Slot::Reserved(_)) => {
                let Slot::Reserved(kind) = *slot else { return };
                *slot = Slot::Running(handle, kind);
            }
            Some(Slot::Running(..)) => {}
            None => handle.abort(),
        }
    }

    /// A call finished by itself.
    pub fn finish(&self, id: u64) {
        let mut calls = self.lock();
        calls.remove(&id);
        if calls.is_empty() {
            self.emptied.notify_waiters();
        }
    }

    /// Abort one call (CANCEL). Unknown ids are ignored: the call may have just finished.
    pub fn abort(&self, id: u64) {
        let mut calls = self.lock();
        if let Some(Slot::Running(handle, _)) = calls.remove(&id) {
            handle.abort();
        }
        if calls.is_empty() {
            self.emptied.notify_waiters();
        }
    }

    /// Abort every call, returning the ids and kinds of those aborted.
    pub fn abort_all(&self) -> Vec<(u64, Kind)> {
        let drained: Vec<_> = self.lock().drain().collect();
        self.emptied.notify_waiters();
        drained
            .into_iter()
            .map(|(id, slot)| match slot {
                Slot::Running(handle, kind) => {
                    handle.abort();
                    (id, kind)
                }
                Slot::Reserved(kind) => (id, kind),
            })
            .collect()
    }

    /// Wait until no call is running.
    pub async fn wait_empty(&self) {
        loop {
            let emptied = self.emptied.notified();
            if self.lock().is_empty() {
                return;
            }
            emptied.await;
        }
    }
}
