//! [`Signal`]: a one-shot, lock-free "this connection is done" flag that the connection's own
//! tasks wait on.
//!
//! A `CancellationToken` would do, but a registered `cancelled()` future takes the token's lock
//! every time it is polled while waiting, and the read and write loops poll theirs on every
//! turn: ~6% of a call's instructions (callgrind). Here waiting is an `AtomicWaker`
//! registration per role, and firing wakes each role once.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

use futures_util::task::AtomicWaker;

/// Who waits on a signal; each role has its own waker slot, so at most one task per role.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Role {
    /// The connection's read loop.
    Reader = 0,
    /// The connection's write loop.
    Writer = 1,
    /// A background task of the connection (deadline sweeper, shutdown drainer).
    Background = 2,
}

#[derive(Default)]
pub(crate) struct Signal {
    fired: AtomicBool,
    wakers: [AtomicWaker; 3],
    /// Any number of other waiters (rare ones: a client's shutdown waiting for its
    /// connections to close), woken all at once.
    others: tokio::sync::Notify,
}

impl Signal {
    /// Fire the signal, waking every waiting role. Idempotent.
    pub fn fire(&self) {
        self.fired.store(true, Ordering::Release);
        for waker in &self.wakers {
            waker.wake();
        }
        self.others.notify_waiters();
    }

    /// Whether the signal has fired.
    pub fn is_fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }

    /// Wait until the signal fires, for a waiter outside the connection's roles (any number
    /// of them). Takes the notifier's lock when polled: not for hot loops.
    pub async fn fired_any(&self) {
        let fired = self.others.notified();
        tokio::pin!(fired);
        // Registered before looking, so a fire in between is not missed.
        fired.as_mut().enable();
        if !self.is_fired() {
            fired.await;
        }
    }

    /// Wait until the signal fires. Cheap to poll repeatedly (no lock).
    pub async fn fired(&self, role: Role) {
        poll_fn(|cx| {
            self.wakers[role as usize].register(cx.waker());
            if self.is_fired() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

impl std::fmt::Debug for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signal")
            .field("fired", &self.is_fired())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn firing_wakes_every_role() {
        let signal = Arc::new(Signal::default());
        let mut waiters: Vec<_> = [Role::Reader, Role::Writer, Role::Background]
            .into_iter()
            .map(|role| {
                let signal = signal.clone();
                tokio::spawn(async move { signal.fired(role).await })
            })
            .collect();
        // And any number of others.
        for _ in 0..2 {
            let signal = signal.clone();
            waiters.push(tokio::spawn(async move { signal.fired_any().await }));
        }
        tokio::task::yield_now().await;
        assert!(!signal.is_fired());
        signal.fire();
        for waiter in waiters {
            tokio::time::timeout(Duration::from_secs(1), waiter)
                .await
                .expect("woken")
                .unwrap();
        }
        // Already fired: returns at once.
        signal.fired(Role::Reader).await;
        signal.fired_any().await;
    }
}
