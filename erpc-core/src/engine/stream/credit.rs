//! The sending side's window: how many bytes the peer still accepts on a stream.

use std::sync::Mutex;

use tokio::sync::Notify;

use crate::status::Status;

/// A stream's send window. Senders take credit before queueing a STREAM_DATA frame and wait
/// when there is not enough; the reader adds the peer's grants.
pub(crate) struct Credit {
    state: Mutex<State>,
    changed: Notify,
}

struct State {
    available: u64,
    closed: Option<Status>,
}

/// A window may not grow past this: a peer granting more is broken (HTTP/2 has the same
/// rule at 2^31 - 1).
const MAX_WINDOW: u64 = (1 << 31) - 1;

impl Credit {
    pub fn new(initial: u32) -> Self {
        Credit {
            state: Mutex::new(State {
                available: u64::from(initial),
                closed: None,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Add the peer's grant. False if it pushes the window past the maximum (a protocol
    /// violation).
    pub fn grant(&self, increment: u32) -> bool {
        let mut state = self.lock();
        state.available += u64::from(increment);
        let ok = state.available <= MAX_WINDOW;
        drop(state);
        self.changed.notify_waiters();
        ok
    }

    /// Wait until `cost` bytes may be sent and take them; the stream's status if it closed.
    pub async fn take(&self, cost: u32) -> Result<(), Status> {
        loop {
            let changed = self.changed.notified();
            {
                let mut state = self.lock();
                if let Some(status) = &state.closed {
                    return Err(status.clone());
                }
                if state.available >= u64::from(cost) {
                    state.available -= u64::from(cost);
                    return Ok(());
                }
            }
            changed.await;
        }
    }

    /// Take `cost` bytes if they are available now, without waiting.
    pub fn try_take(&self, cost: u32) -> bool {
        let mut state = self.lock();
        if state.closed.is_none() && state.available >= u64::from(cost) {
            state.available -= u64::from(cost);
            return true;
        }
        false
    }

    /// Stop the stream's sender: waiting and later takes fail with `status`.
    pub fn close(&self, status: Status) {
        self.lock().closed.get_or_insert(status);
        self.changed.notify_waiters();
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed.is_some()
    }

    #[cfg(test)]
    pub fn available(&self) -> u64 {
        self.lock().available
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn a_sender_waits_for_credit_and_resumes_on_a_grant() {
        let credit = Arc::new(Credit::new(100));
        credit.take(60).await.unwrap();
        let waiter = tokio::spawn({
            let credit = credit.clone();
            async move { credit.take(60).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "took credit it did not have");
        assert!(credit.grant(20));
        assert!(waiter.await.unwrap().is_ok());
        assert_eq!(credit.available(), 0);
    }

    #[tokio::test]
    async fn closing_wakes_waiters_with_the_status() {
        let credit = Arc::new(Credit::new(0));
        let waiter = tokio::spawn({
            let credit = credit.clone();
            async move { credit.take(1).await }
        });
        tokio::task::yield_now().await;
        credit.close(Status::cancelled("gone"));
        assert_eq!(waiter.await.unwrap().unwrap_err().message(), "gone");
    }

    #[test]
    fn a_window_past_the_maximum_is_refused() {
        let credit = Credit::new(u32::MAX >> 1);
        assert!(!credit.grant(u32::MAX >> 1));
    }
}
