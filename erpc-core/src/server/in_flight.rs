//! The handlers running on one connection, by request id, so that CANCEL, shutdown and a
//! vanished client can abort them.

use std::collections::HashMap;
use std::sync::Mutex;

use futures_util::future::{AbortHandle, AbortRegistration};
use tokio::sync::Notify;

use crate::protocol::Kind;

/// Why a call could not be registered.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// A call with this id is still running.
    Duplicate,
    /// The connection is at its cap of running handlers.
    Full,
}

#[derive(Default)]
pub(crate) struct InFlight {
    calls: Mutex<HashMap<u64, (AbortHandle, Kind)>>,
    emptied: Notify,
}

impl InFlight {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (AbortHandle, Kind)>> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Register a call about to start; the registration makes its future abortable.
    pub fn start(&self, id: u64, kind: Kind, cap: usize) -> Result<AbortRegistration, Refused> {
        let mut calls = self.lock();
        if calls.contains_key(&id) {
            return Err(Refused::Duplicate);
        }
        if calls.len() >= cap {
            return Err(Refused::Full);
        }
        let (handle, registration) = AbortHandle::new_pair();
        calls.insert(id, (handle, kind));
        Ok(registration)
    }

    /// A call finished.
    pub fn finish(&self, id: u64) {
        let mut calls = self.lock();
        calls.remove(&id);
        if calls.is_empty() {
            self.emptied.notify_waiters();
        }
    }

    /// Abort one call (CANCEL). Unknown ids are ignored: the call may have just finished.
    pub fn abort(&self, id: u64) {
        if let Some((handle, _)) = self.lock().remove(&id) {
            handle.abort();
        }
        self.finish_if_empty();
    }

    /// Abort every call, returning the ids and kinds of those aborted.
    pub fn abort_all(&self) -> Vec<(u64, Kind)> {
        let drained: Vec<_> = self.lock().drain().collect();
        self.emptied.notify_waiters();
        drained
            .into_iter()
            .map(|(id, (handle, kind))| {
                handle.abort();
                (id, kind)
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

    fn finish_if_empty(&self) {
        if self.lock().is_empty() {
            self.emptied.notify_waiters();
        }
    }
}
