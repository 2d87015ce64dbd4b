//! The client's retransmission of requests over UDP.
//!
//! Each REQUEST is kept until its RESPONSE arrives or the call is cancelled (the engine sends
//! CANCEL when a deadline passes or the caller gives up). Unanswered requests are sent again
//! after 200 ms, then with the wait doubling up to 2 s, [`MAX_TRIES`] sends in all (about 9 s):
//! the server's duplicate suppression makes every retry of one call run it at most once.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

/// Sends of one request, the first included.
pub(crate) const MAX_TRIES: u32 = 8;
const FIRST_WAIT: Duration = Duration::from_millis(200);
const MAX_WAIT: Duration = Duration::from_secs(2);

struct Entry {
    frame: Bytes,
    due: Instant,
    wait: Duration,
    tries: u32,
}

/// Requests not yet answered.
#[derive(Default)]
pub(crate) struct Unanswered {
    calls: HashMap<u64, Entry>,
}

impl Unanswered {
    /// A request was sent.
    pub(crate) fn sent(&mut self, id: u64, frame: Bytes, now: Instant) {
        self.calls.insert(
            id,
            Entry {
                frame,
                due: now + FIRST_WAIT,
                wait: FIRST_WAIT,
                tries: 1,
            },
        );
    }

    /// The call ended (answered or cancelled).
    pub(crate) fn done(&mut self, id: u64) {
        self.calls.remove(&id);
    }

    /// The frames to send again now; a request that used all its tries is dropped (its
    /// deadline will end the call).
    pub(crate) fn due(&mut self, now: Instant, all: bool) -> Vec<Bytes> {
        let mut out = Vec::new();
        self.calls.retain(|_, e| {
            if !all && e.due > now {
                return true;
            }
            if e.tries >= MAX_TRIES {
                return false;
            }
            e.tries += 1;
            e.wait = (e.wait * 2).min(MAX_WAIT);
            e.due = now + e.wait;
            out.push(e.frame.clone());
            true
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_and_stop() {
        let mut u = Unanswered::default();
        let t0 = Instant::now();
        u.sent(1, Bytes::from_static(b"r"), t0);
        assert!(u.due(t0, false).is_empty());
        let mut t = t0;
        let mut sends = 1;
        for _ in 0..20 {
            t += MAX_WAIT;
            sends += u.due(t, false).len() as u32;
        }
        assert_eq!(sends, MAX_TRIES);
        u.sent(2, Bytes::from_static(b"r"), t);
        u.done(2);
        assert!(u.due(t + MAX_WAIT, true).is_empty());
    }
}
