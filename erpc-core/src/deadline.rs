//! Deadlines: relative on the wire, absolute (`Instant`) in memory, inherited by a handler's
//! own outgoing calls.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::ambient::{self, Ambient};

/// The deadline of the call being handled by this task, if any. A client call made from a
/// handler never outlives it: its deadline is the earlier of its own and this one. It does
/// not cross `tokio::spawn` by itself: see [`crate::ambient`].
pub fn current() -> Option<Instant> {
    ambient::current().map(|a| a.deadline)
}

/// The code of a call whose handler's future was dropped before it ended, as the engine
/// answers it: `deadline_exceeded` once `deadline` has passed, else `cancelled` (the
/// client's CANCEL, its connection gone, or the server shutting down). For a layer that
/// reports each call's end (an access log) and must report those too.
pub fn dropped_code(deadline: Instant) -> crate::Code {
    if Instant::now() >= deadline {
        crate::Code::DeadlineExceeded
    } else {
        crate::Code::Cancelled
    }
}

/// Run `fut` with `deadline` as the inherited deadline.
pub(crate) fn scope<F: Future>(deadline: Instant, fut: F) -> impl Future<Output = F::Output> {
    ambient::scope(Ambient { deadline }, fut)
}

/// Run `f` with `deadline` as the inherited deadline (the synchronous [`scope`]).
pub(crate) fn sync_scope<R>(deadline: Instant, f: impl FnOnce() -> R) -> R {
    ambient::sync_scope(Ambient { deadline }, f)
}

/// How far ahead "no deadline" lies: a stream opened without a deadline (PROTOCOL.md §13),
/// or a call asking for `Duration::MAX`, is given an `Instant` this far away, so that every
/// deadline table and sweeper can keep working with plain instants. 100 years: no process
/// lives that long, and it stays far from `Instant`'s overflow.
pub const NO_DEADLINE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `now + wait`, or the [`NO_DEADLINE`] horizon if that overflows or lies beyond it.
pub(crate) fn after(now: Instant, wait: Duration) -> Instant {
    now + wait.min(NO_DEADLINE)
}

/// Whether `deadline` stands for "no deadline" (it lies past half the horizon from `now`);
/// such a deadline is not sent on the wire.
pub(crate) fn is_unbounded(deadline: Instant, now: Instant) -> bool {
    deadline.saturating_duration_since(now) > NO_DEADLINE / 2
}

/// The deadline for an outgoing call: its own, capped by the inherited one.
pub(crate) fn effective(own: Instant) -> Instant {
    match current() {
        Some(inherited) => own.min(inherited),
        None => own,
    }
}

/// Microseconds from `now` to `deadline`, 0 if it has passed.
pub(crate) fn micros_until(deadline: Instant, now: Instant) -> u64 {
    u64::try_from(deadline.saturating_duration_since(now).as_micros()).unwrap_or(u64::MAX)
}

/// The absolute deadline for a received relative one, clamped to `max` so that `u64::MAX`
/// neither overflows nor pins a handler forever.
pub(crate) fn from_micros(now: Instant, micros: u64, max: Duration) -> Instant {
    after(now, Duration::from_micros(micros).min(max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extremes_are_clamped() {
        let now = Instant::now();
        let max = Duration::from_secs(3600);
        assert_eq!(from_micros(now, u64::MAX, max), now + max);
        assert_eq!(from_micros(now, 0, max), now);
        assert_eq!(micros_until(now, now + Duration::from_secs(1)), 0);
        assert_eq!(micros_until(now + Duration::from_millis(5), now), 5000);
        // A stream's "no deadline": far, never overflowing, not sent.
        let never = from_micros(now, u64::MAX, Duration::MAX);
        assert_eq!(never, now + NO_DEADLINE);
        assert!(is_unbounded(never, now));
        assert!(!is_unbounded(now + max, now));
    }

    #[tokio::test]
    async fn inherited_deadline_caps_own() {
        let now = Instant::now();
        let soon = now + Duration::from_millis(10);
        let late = now + Duration::from_secs(10);
        assert_eq!(effective(late), late);
        scope(soon, async move {
            assert_eq!(current(), Some(soon));
            assert_eq!(effective(late), soon);
        })
        .await;
    }
}
