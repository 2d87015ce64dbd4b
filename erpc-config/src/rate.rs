//! A rate limit as a file writes it (`{rate: 100, burst: 10, max_wait: 50ms}`), read into
//! `erpc_core::rate::Rate` — the one shape of the client's `rate_limit` and the server's
//! `rate_limit` and `peer_rate_limit`.

use std::time::Duration;

use serde::Deserialize;

/// One rate limit. `rate` is required; the rest default as `Rate::per_second` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateSettings {
    /// Calls per second on average (at least 1).
    pub rate: u32,
    /// Calls at once after a quiet spell (the bucket's size, at least 1). Default: `rate`
    /// (a second's worth); 1 with `leaky`.
    #[serde(default)]
    pub burst: Option<u32>,
    /// How long a call over the rate may wait for its turn; longer, it is refused
    /// `resource_exhausted` at once. Default `0s`: refused at once.
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

impl RateSettings {
    /// Values that parse but cannot work, under `at`.
    pub(crate) fn check(&self, at: &str) -> Result<(), (String, String)> {
        if self.rate == 0 {
            return Err((
                format!("{at}.rate"),
                "must be at least 1 (calls per second); to refuse every call, use an ACL".into(),
            ));
        }
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

    /// The `Rate` these settings describe.
    #[cfg(feature = "rate-limit")]
    pub fn rate(&self) -> erpc_core::rate::Rate {
        let mut rate = erpc_core::rate::Rate::per_second(self.rate);
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
