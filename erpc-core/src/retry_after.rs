//! The retry-after hint: how long a refused caller should wait before trying again, carried
//! in a status's details as ASCII text `retry-after-ms=N` (PROTOCOL.md §7, "Retry-after").
//!
//! erpc's own refusals under load — rate limits, concurrency caps, adaptive shedding — are
//! `resource_exhausted` with this hint; a client's retry policy reads it with
//! [`Status::retry_after`] and waits at least that long (or does not retry when the caller's
//! deadline is nearer).

use std::time::Duration;

use crate::status::Status;

/// The key of the hint in the details: `retry-after-ms=N`, `N` whole milliseconds in decimal.
pub const RETRY_AFTER_KEY: &str = "retry-after-ms";

impl Status {
    /// These details replaced by a retry-after hint of `wait`, rounded up to whole
    /// milliseconds (at least 1: "now" is not a hint). Details set before are replaced.
    pub fn with_retry_after(self, wait: Duration) -> Status {
        let ms = wait.as_nanos().div_ceil(1_000_000).max(1);
        self.with_details(format!("{RETRY_AFTER_KEY}={ms}"))
    }

    /// The retry-after hint in the details, if they carry one: `None` for details without
    /// the key (a handler's own details, or none), or with a value that is not a decimal
    /// number. The details may hold other `;`-separated `key=value` pairs beside it.
    pub fn retry_after(&self) -> Option<Duration> {
        let text = std::str::from_utf8(self.details()).ok()?;
        text.split(';').find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == RETRY_AFTER_KEY)
                .then(|| value.parse::<u64>().ok())
                .flatten()
                .map(Duration::from_millis)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::status::Status;

    #[test]
    fn a_hint_survives_its_round_trip_and_rounds_up() {
        let s = Status::resource_exhausted("busy").with_retry_after(Duration::from_micros(1500));
        assert_eq!(s.details().as_ref(), b"retry-after-ms=2");
        assert_eq!(s.retry_after(), Some(Duration::from_millis(2)));
        let zero = Status::resource_exhausted("busy").with_retry_after(Duration::ZERO);
        assert_eq!(zero.retry_after(), Some(Duration::from_millis(1)));
        let more = Status::unavailable("x").with_details(&b"a=b; retry-after-ms=30"[..]);
        assert_eq!(more.retry_after(), Some(Duration::from_millis(30)));
        for other in [
            &b""[..],
            b"\xff\xfe",
            b"retry-after-ms=soon",
            b"retry-after=5",
        ] {
            assert_eq!(
                Status::internal("x").with_details(other).retry_after(),
                None
            );
        }
    }
}
