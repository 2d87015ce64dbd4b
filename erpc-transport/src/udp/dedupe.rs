//! The server's duplicate suppression: a retransmitted request runs once.
//!
//! Each peer's most recent [`MAX_IDS`] call ids are remembered. A REQUEST or ONEWAY whose id
//! is remembered is not run again: if its response is cached it is sent again (the first
//! one was lost), otherwise the duplicate is dropped (the call is still running, or its
//! response was evicted and the client's deadline will end it). Responses are cached up to
//! [`MAX_CACHE_BYTES`] per peer, oldest evicted first, and for at most [`RESPONSE_KEPT`]:
//! past the client's resend horizon nobody asks for them again, and an idle peer must not
//! hold its megabyte for as long as its connection lives.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

/// Call ids remembered per peer: far more than a client can retransmit within its retry
/// horizon at erpc's default of 1,024 calls in flight.
pub(crate) const MAX_IDS: usize = 65_536;
/// Bytes of responses cached per peer for replay.
pub(crate) const MAX_CACHE_BYTES: usize = 1 << 20;
/// How long a response stays cached: three times the client's resend horizon (about 9 s,
/// see `retransmit`), so a request delayed in the network as long again is still answered.
pub(crate) const RESPONSE_KEPT: Duration = Duration::from_secs(30);

/// What to do with an arriving call.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// First time: run it.
    New,
    /// Already answered: send this datagram again.
    Replay(Bytes),
    /// Already running, or answered and evicted: drop it.
    Drop,
}

/// One peer's window.
#[derive(Debug, Default)]
pub(crate) struct Dedupe {
    seen: HashSet<u64>,
    order: VecDeque<u64>,
    cache: HashMap<u64, (Bytes, Instant)>,
    /// Cached ids, oldest first. An id leaves `cache` without leaving this queue when the
    /// window forgets it; the queue is compacted once such stale ids are half of it.
    cache_order: VecDeque<u64>,
    cache_bytes: usize,
}

impl Dedupe {
    /// A call with `id` arrived at `now`.
    pub(crate) fn on_call(&mut self, id: u64, now: Instant) -> Seen {
        self.expire(now);
        if self.seen.contains(&id) {
            return match self.cache.get(&id) {
                Some((datagram, _)) => Seen::Replay(datagram.clone()),
                None => Seen::Drop,
            };
        }
        if self.order.len() == MAX_IDS
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
            self.uncache(old);
        }
        self.seen.insert(id);
        self.order.push_back(id);
        Seen::New
    }

    /// Bytes of responses cached, call ids remembered, and ids queued for the cache's
    /// eviction: what the window's bounds cap.
    pub(crate) fn sizes(&self) -> (usize, usize, usize) {
        (self.cache_bytes, self.order.len(), self.cache_order.len())
    }

    /// The response to call `id` was sent as `datagram` at `now`: keep it for replays.
    pub(crate) fn on_response(&mut self, id: u64, datagram: Bytes, now: Instant) {
        self.expire(now);
        // A call has one response; one already cached stays as it is.
        if !self.seen.contains(&id)
            || self.cache.contains_key(&id)
            || datagram.len() > MAX_CACHE_BYTES
        {
            return;
        }
        while self.cache_bytes + datagram.len() > MAX_CACHE_BYTES {
            let Some(old) = self.cache_order.pop_front() else {
                break;
            };
            self.uncache(old);
        }
        self.cache_bytes += datagram.len();
        self.cache.insert(id, (datagram, now));
        self.cache_order.push_back(id);
    }

    /// Drop the responses cached for longer than [`RESPONSE_KEPT`] (the queue is in the
    /// order they were cached, so they are at its front).
    fn expire(&mut self, now: Instant) {
        while let Some(&old) = self.cache_order.front() {
            match self.cache.get(&old) {
                Some((_, at)) if now.saturating_duration_since(*at) < RESPONSE_KEPT => break,
                _ => {
                    self.cache_order.pop_front();
                    self.uncache(old);
                }
            }
        }
    }

    /// Forget `id`'s cached response, if any; compact the eviction queue once most of it
    /// names responses no longer cached.
    fn uncache(&mut self, id: u64) {
        if let Some((evicted, _)) = self.cache.remove(&id) {
            self.cache_bytes -= evicted.len();
        }
        if self.cache_order.len() > 2 * self.cache.len() + 64 {
            let cache = &self.cache;
            self.cache_order.retain(|id| cache.contains_key(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_dropped_or_replayed() {
        let mut d = Dedupe::default();
        let now = Instant::now();
        assert_eq!(d.on_call(1, now), Seen::New);
        assert_eq!(d.on_call(1, now), Seen::Drop);
        d.on_response(1, Bytes::from_static(b"answer"), now);
        assert_eq!(
            d.on_call(1, now),
            Seen::Replay(Bytes::from_static(b"answer"))
        );
        // A response for a call never seen is not cached.
        d.on_response(9, Bytes::from_static(b"x"), now);
        assert_eq!(d.on_call(9, now), Seen::New);
    }

    #[test]
    fn the_cache_and_the_window_are_bounded() {
        let mut d = Dedupe::default();
        let now = Instant::now();
        let big = Bytes::from(vec![0u8; MAX_CACHE_BYTES / 4 + 1]);
        for id in 1..=4 {
            d.on_call(id, now);
            d.on_response(id, big.clone(), now);
        }
        assert!(d.cache_bytes <= MAX_CACHE_BYTES);
        assert_eq!(
            d.on_call(1, now),
            Seen::Drop,
            "evicted from the cache, still remembered"
        );
        assert!(matches!(d.on_call(4, now), Seen::Replay(_)));
        for id in 100..100 + MAX_IDS as u64 {
            d.on_call(id, now);
        }
        assert_eq!(
            d.on_call(2, now),
            Seen::New,
            "forgotten after MAX_IDS newer calls"
        );
        assert_eq!(d.order.len(), MAX_IDS);
    }

    /// Small responses never fill the cache's bytes, so its eviction queue was popped only
    /// by size: every id the window forgot stayed queued, one per call for as long as the
    /// peer lived (4 × MAX_IDS calls left 262,144 ids queued for 65,536 responses cached).
    #[test]
    fn ids_the_window_forgets_leave_the_caches_queue() {
        let mut d = Dedupe::default();
        let now = Instant::now();
        for id in 1..=4 * MAX_IDS as u64 {
            d.on_call(id, now);
            d.on_response(id, Bytes::from_static(b"ok"), now);
        }
        let (bytes, ids, queued) = d.sizes();
        assert_eq!((bytes, ids), (2 * MAX_IDS, MAX_IDS));
        assert!(
            queued <= 2 * d.cache.len() + 65,
            "{queued} ids queued for {} cached responses",
            d.cache.len()
        );
    }

    /// A response is kept for RESPONSE_KEPT, past the client's resend horizon, then dropped
    /// (its id is still remembered: the call does not run again).
    #[test]
    fn responses_expire_after_the_resend_horizon() {
        let mut d = Dedupe::default();
        let start = Instant::now();
        d.on_call(1, start);
        d.on_response(1, Bytes::from_static(b"answer"), start);
        let nearly = start + RESPONSE_KEPT - Duration::from_millis(1);
        assert!(matches!(d.on_call(1, nearly), Seen::Replay(_)));
        d.on_call(2, nearly);
        d.on_response(2, Bytes::from_static(b"later"), nearly);
        let past = start + RESPONSE_KEPT;
        assert_eq!(d.on_call(1, past), Seen::Drop);
        assert_eq!(d.sizes().0, b"later".len(), "the expired response freed");
        assert!(matches!(d.on_call(2, past), Seen::Replay(_)));
        assert_eq!(d.on_call(2, nearly + RESPONSE_KEPT), Seen::Drop);
        assert_eq!(d.sizes(), (0, 2, 0));
    }
}
