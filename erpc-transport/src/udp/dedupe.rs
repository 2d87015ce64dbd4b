//! The server's duplicate suppression: a retransmitted request runs once.
//!
//! Each peer's most recent [`MAX_IDS`] call ids are remembered. A REQUEST or ONEWAY whose id
//! is remembered is not run again: if its response is cached it is sent again (the first
//! one was lost), otherwise the duplicate is dropped (the call is still running, or its
//! response was evicted and the client's deadline will end it). Responses are cached up to
//! [`MAX_CACHE_BYTES`] per peer, oldest evicted first.

use std::collections::{HashMap, HashSet, VecDeque};

use bytes::Bytes;

/// Call ids remembered per peer: far more than a client can retransmit within its retry
/// horizon at erpc's default of 1,024 calls in flight.
pub(crate) const MAX_IDS: usize = 65_536;
/// Bytes of responses cached per peer for replay.
pub(crate) const MAX_CACHE_BYTES: usize = 1 << 20;

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
    cache: HashMap<u64, Bytes>,
    cache_order: VecDeque<u64>,
    cache_bytes: usize,
}

impl Dedupe {
    /// A call with `id` arrived.
    pub(crate) fn on_call(&mut self, id: u64) -> Seen {
        if self.seen.contains(&id) {
            return match self.cache.get(&id) {
                Some(datagram) => Seen::Replay(datagram.clone()),
                None => Seen::Drop,
            };
        }
        if self.order.len() == MAX_IDS
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
            if let Some(evicted) = self.cache.remove(&old) {
                self.cache_bytes -= evicted.len();
            }
        }
        self.seen.insert(id);
        self.order.push_back(id);
        Seen::New
    }

    /// Bytes of responses cached and call ids remembered: what the window's bounds cap.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn sizes(&self) -> (usize, usize) {
        (self.cache_bytes, self.order.len())
    }

    /// The response to call `id` was sent as `datagram`: keep it for replays.
    pub(crate) fn on_response(&mut self, id: u64, datagram: Bytes) {
        if !self.seen.contains(&id) || datagram.len() > MAX_CACHE_BYTES {
            return;
        }
        while self.cache_bytes + datagram.len() > MAX_CACHE_BYTES {
            let Some(old) = self.cache_order.pop_front() else {
                break;
            };
            if let Some(evicted) = self.cache.remove(&old) {
                self.cache_bytes -= evicted.len();
            }
        }
        self.cache_bytes += datagram.len();
        if let Some(replaced) = self.cache.insert(id, datagram) {
            self.cache_bytes -= replaced.len();
        }
        self.cache_order.push_back(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_dropped_or_replayed() {
        let mut d = Dedupe::default();
        assert_eq!(d.on_call(1), Seen::New);
        assert_eq!(d.on_call(1), Seen::Drop);
        d.on_response(1, Bytes::from_static(b"answer"));
        assert_eq!(d.on_call(1), Seen::Replay(Bytes::from_static(b"answer")));
        // A response for a call never seen is not cached.
        d.on_response(9, Bytes::from_static(b"x"));
        assert_eq!(d.on_call(9), Seen::New);
    }

    #[test]
    fn the_cache_and_the_window_are_bounded() {
        let mut d = Dedupe::default();
        let big = Bytes::from(vec![0u8; MAX_CACHE_BYTES / 4 + 1]);
        for id in 1..=4 {
            d.on_call(id);
            d.on_response(id, big.clone());
        }
        assert!(d.cache_bytes <= MAX_CACHE_BYTES);
        assert_eq!(
            d.on_call(1),
            Seen::Drop,
            "evicted from the cache, still remembered"
        );
        assert!(matches!(d.on_call(4), Seen::Replay(_)));
        for id in 100..100 + MAX_IDS as u64 {
            d.on_call(id);
        }
        assert_eq!(
            d.on_call(2),
            Seen::New,
            "forgotten after MAX_IDS newer calls"
        );
        assert_eq!(d.order.len(), MAX_IDS);
    }
}
