//! The retry-after hint: how long a refused caller should wait before trying again, carried
//! in a status's details as ASCII text `retry-after-ms=N` (PROTOCOL.md §7, "Retry-after").
//!
//! erpc's own refusals under load — rate limits and adaptive shedding — are
//! `resource_exhausted` with this hint (a fixed concurrency cap's refusal carries none: when
//! a slot frees is not known); a client's retry policy reads it with
//! [`Status::retry_after`] and waits at least that long (or does not retry when the caller's
//! deadline is nearer).

use std::time::Duration;

use crate::status::Status;

/// The key of the hint in the details: `retry-after-ms=N`, `N` whole milliseconds in decimal.
pub const RETRY_AFTER_KEY: &str = "retry-after-ms";

/// The pair marking a refusal by the calling client's own limit (`client-limit=1`, beside a
/// retry hint): another instance would not help, so a fail mode does not retry it.
const CLIENT_LIMIT_PAIR: &str = "client-limit=1";

impl Status {
    /// These details replaced by a retry-after hint of `wait`, rounded up to whole
    /// milliseconds (at least 1: "now" is not a hint). Details set before are replaced.
    pub fn with_retry_after(self, wait: Duration) -> Status {
        let ms = wait.as_nanos().div_ceil(1_000_000).max(1);
        self.with_details(format!("{RETRY_AFTER_KEY}={ms}"))
    }

    /// This refusal marked as the calling client's own limit's (its rate limit, its cap on
    /// calls in flight): `client-limit=1` added to the details, beside any retry hint. A
    /// fail mode passes such a refusal on instead of retrying it on another instance.
    pub fn from_client_limit(self) -> Status {
        let details = match std::str::from_utf8(self.details()) {
            Ok("") => CLIENT_LIMIT_PAIR.to_owned(),
            Ok(text) => format!("{text};{CLIENT_LIMIT_PAIR}"),
            // Binary details of a handler: the mark alone (a client limit sets none).
            Err(_) => CLIENT_LIMIT_PAIR.to_owned(),
        };
        self.with_details(details)
    }

    /// Whether this is a refusal by the calling client's own limit
    /// ([`Status::from_client_limit`]).
    pub fn is_client_limit(&self) -> bool {
        std::str::from_utf8(self.details())
            .is_ok_and(|text| text.split(';').any(|pair| pair.trim() == CLIENT_LIMIT_PAIR))
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

    #[test]
    fn a_client_limit_mark_keeps_the_hint_and_is_read_back() {
        let marked = Status::resource_exhausted("over")
            .with_retry_after(Duration::from_millis(30))
            .from_client_limit();
        assert!(marked.is_client_limit());
        assert_eq!(marked.retry_after(), Some(Duration::from_millis(30)));
        assert!(!Status::resource_exhausted("over").is_client_limit());
        assert!(!crate::client::fail_mode::retry_allowed(
            &marked, false, true
        ));
    }
}
