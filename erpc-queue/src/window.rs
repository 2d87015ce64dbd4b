//! The idempotency window: what the bridge answered for each recently completed idempotency
//! key, so that a repeat (a redelivery after a lost ack, a caller publishing again) is
//! answered from memory instead of calling the service again.
//!
//! Bounded in time (an entry is forgotten `window` after it was written) and in count (the
//! least recently used go first past `capacity`). Concurrent requests with the same key run
//! once: the others wait for the first one's outcome. The memory is the bridge process's own:
//! bridges sharing a group do not share it, and it does not survive a restart — requests
//! carry their key to the service as metadata `erpc-idempotency-key` so that a service whose
//! effects must happen once whatever fails can keep its own record (QUEUE.md §4).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

/// Completed keys and what they were answered.
#[derive(Clone)]
pub struct Window<V: Send + Sync + 'static> {
    cache: moka::future::Cache<Bytes, Arc<V>>,
}

impl<V: Send + Sync + 'static> Window<V> {
    /// A window remembering each key for `window`, at most `capacity` keys.
    pub fn new(window: Duration, capacity: u64) -> Window<V> {
        Window {
            cache: moka::future::Cache::builder()
                .time_to_live(window)
                .max_capacity(capacity)
                .build(),
        }
    }

    /// The outcome for `key`: remembered, or computed by `run` (once, however many ask at
    /// the same time) and remembered if `keep` says it is final — an outcome that is not
    /// (a transient failure) is returned to this caller only, and the next request with the
    /// key runs again. `true` with it when this call computed it.
    pub async fn once(
        &self,
        key: Bytes,
        run: impl Future<Output = V>,
        keep: impl FnOnce(&V) -> bool,
    ) -> (Arc<V>, bool) {
        let mut not_kept = None;
        let entry = self
            .cache
            .entry(key)
            .or_optionally_insert_with(async {
                let value = Arc::new(run.await);
                if keep(&*value) {
                    Some(value)
                } else {
                    not_kept = Some(value);
                    None
                }
            })
            .await;
        match (entry, not_kept) {
            (Some(entry), _) => {
                let fresh = entry.is_fresh();
                (entry.into_value(), fresh)
            }
            (None, Some(value)) => (value, true),
            // moka returns no entry only when this call's `run` produced nothing to keep.
            (None, None) => unreachable!("no entry and no value computed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn a_key_runs_once_while_remembered_and_again_after_the_window() {
        let window = Window::new(Duration::from_millis(300), 100);
        let runs = AtomicU32::new(0);
        let run = || async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            runs.fetch_add(1, Ordering::SeqCst)
        };
        let key = Bytes::from_static(b"k");
        let (a, b) = tokio::join!(
            window.once(key.clone(), run(), |_| true),
            window.once(key.clone(), run(), |_| true)
        );
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "concurrent repeats wait for the first"
        );
        assert_eq!(a.0, b.0);
        assert!(a.1 != b.1, "exactly one computed it");
        assert!(
            !window.once(key.clone(), run(), |_| true).await.1,
            "remembered"
        );
        window
            .once(Bytes::from_static(b"other"), run(), |_| true)
            .await;
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(
            window.once(key, run(), |_| true).await.1,
            "forgotten after the window"
        );
    }

    #[tokio::test]
    async fn an_outcome_that_is_not_final_is_not_remembered() {
        let window = Window::new(Duration::from_secs(60), 100);
        let key = Bytes::from_static(b"k");
        let (first, fresh) = window.once(key.clone(), async { 1 }, |_| false).await;
        assert_eq!((*first, fresh), (1, true));
        let (second, fresh) = window.once(key.clone(), async { 2 }, |_| true).await;
        assert_eq!((*second, fresh), (2, true), "ran again");
        let (third, fresh) = window.once(key, async { 3 }, |_| true).await;
        assert_eq!((*third, fresh), (2, false), "the final one is remembered");
    }
}
