//! A rate limit as a file writes it (`{rate: 100, burst: 10, max_wait: 50ms}`), read into
//! `erpc_core::rate::Rate` — the one shape of the client's `rate_limit` and the server's
//! `rate_limit` and `peer_rate_limit`.

use std::time::Duration;

use serde::Deserialize;

/// One rate limit. `rate` is required; the rest default as `Rate::per_second` does.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateSettings {
    /// Calls per second on average, fractions kept: `2.5` is a call every 400 ms, `0.5`
    /// one every 2 s. From 0.001 (one call per 1000 s) to 1000000000 (the limiter counts
    /// no finer than 1 ns).
    pub rate: f64,
    /// Calls at once after a quiet spell (the bucket's size, at least 1). Default: a
    /// second's worth, `rate` (rounded up when it has a fraction: 3 for 2.5, 1 for 0.5); 1
    /// with `leaky`.
    #[serde(default)]
    pub burst: Option<u32>,
    /// How long a call over the rate may wait for its turn, at most `1h`;
    /// longer, it is refused `resource_exhausted` at once. Default `0s`: refused at once.
    #[serde(default, with = "humantime_serde")]
    pub max_wait: Option<Duration>,
    /// A leaky bucket: burst 1, calls paced evenly (with `max_wait`, smoothed instead of
    /// refused). Default false.
    #[serde(default)]
    pub leaky: bool,
    /// At most this many calls waiting at once. Default: as many as `max_wait` can serve.
    #[serde(default)]
    pub max_waiting: Option<usize>,
}

/// The lowest `rate`: one call per 1000 s.
pub(crate) const MIN_RATE: f64 = 0.001;

/// The highest `rate`: a call every nanosecond, the finest the limiter counts.
pub(crate) const MAX_RATE: f64 = 1e9;

/// Refuse `wait` at `key` if it is above an hour, the longest wait a call may be given — for
/// its turn, a slot, or before a retry ([`erpc_core::config::MAX_WAIT`]; refused, not cut: the README's
/// rule); `what` is what the call waits for ("for a turn", "for a slot", "before a retry").
/// The words are the code's ([`erpc_core::config::check_wait`]): its builders refuse the
/// same values.
pub(crate) fn check_wait(
    key: &str,
    wait: Option<Duration>,
    what: &str,
) -> Result<(), (String, String)> {
    match wait {
        Some(wait) => {
            erpc_core::config::check_wait(wait, what).map_err(|why| (key.to_owned(), why))
        }
        None => Ok(()),
    }
}

impl RateSettings {
    /// Values that parse but cannot work, under `at`.
    pub(crate) fn check(&self, at: &str) -> Result<(), (String, String)> {
        let rate = self.rate;
        if rate == 0.0 {
            return Err((
                format!("{at}.rate"),
                "must be above 0 (calls per second); to refuse every call, use an ACL".into(),
            ));
        }
        // NaN (from a variable's `NaN`) is refused here too.
        if rate.is_nan() || rate < MIN_RATE {
            return Err((
                format!("{at}.rate"),
                format!(
                    "must be at least {MIN_RATE} (calls per second, fractions kept: 0.5 is a call every 2 s), got {rate}"
                ),
            ));
        }
        if rate > MAX_RATE {
            return Err((
                format!("{at}.rate"),
                "must be at most 1000000000 (calls per second: the limiter counts no finer than 1 ns)"
                    .into(),
            ));
        }
        check_wait(&format!("{at}.max_wait"), self.max_wait, "for a turn")?;
        if self.burst == Some(0) {
            return Err((format!("{at}.burst"), "must be at least 1".into()));
        }
        if self.leaky && self.burst.is_some_and(|b| b > 1) {
            return Err((
                format!("{at}.burst"),
                "a leaky bucket has a burst of 1: drop burst or leaky".into(),
            ));
        }
        if self.max_waiting == Some(0) && self.max_wait.is_some_and(|w| !w.is_zero()) {
            return Err((
                format!("{at}.max_waiting"),
                "0 with a max_wait: nobody could wait; drop max_wait instead".into(),
            ));
        }
        Ok(())
    }

    /// The `Rate` these settings describe (checked first): a whole rate is
    /// `Rate::per_second`, one with a fraction a call every `1 / rate` seconds
    /// (`Rate::every`) with a burst of `rate` rounded up.
    #[cfg(feature = "rate-limit")]
    pub fn rate(&self) -> erpc_core::rate::Rate {
        use erpc_core::rate::Rate;
        let calls = self.rate.clamp(MIN_RATE, MAX_RATE);
        let mut rate = if calls.fract() == 0.0 {
            // Within u32 (at most 1e9): exact.
            Rate::per_second(calls as u32)
        } else {
            Rate::every(Duration::from_secs_f64(1.0 / calls)).burst(calls.ceil() as u32)
        };
        if let Some(burst) = self.burst {
            rate = rate.burst(burst);
        }
        if self.leaky {
            rate = rate.leaky();
        }
        if let Some(wait) = self.max_wait {
            rate = rate.max_wait(wait);
        }
        if let Some(waiting) = self.max_waiting {
            rate = rate.max_waiting(waiting);
        }
        rate
    }
}

/// The error for a rate limit set in a build without the `rate-limit` feature.
#[cfg(not(feature = "rate-limit"))]
pub(crate) fn unsupported(at: &str) -> (String, String) {
    (
        at.to_owned(),
        "this build of erpc-config has no rate limits: enable its feature `rate-limit`".into(),
    )
}

/// A limiter's refusal of settings the checks let through, as a key error.
#[cfg(feature = "rate-limit")]
pub(crate) fn refused(key: String, status: &erpc_core::Status) -> crate::ConfigError {
    crate::ConfigError::Key {
        file: None,
        line: None,
        env: None,
        key,
        reason: status.message().to_owned(),
    }
}
