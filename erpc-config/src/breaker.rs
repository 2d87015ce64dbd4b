//! A circuit breaker as a file writes it, read into `erpc_core::client::BreakerSettings`
//! (gobreaker's settings: when it trips, how long it stays open, the counting interval, the
//! trial calls when half-open, which statuses count as failures).

use std::time::Duration;

use erpc_core::Code;
use erpc_core::client::{BreakerSettings, Trip};
use serde::Deserialize;

/// One breaker's settings; every field defaults as `BreakerSettings::default()`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerSpec {
    /// When it opens: `{consecutive: 5}` (default) or `{error_rate: 0.5, min_calls: 20}`.
    pub trip: TripSettings,
    /// How long it stays open before trial calls: above zero, at most `1h`. Default `5s`.
    /// Changed while a breaker is open (a live value), it counts from when it opened.
    #[serde(with = "humantime_serde")]
    pub open_timeout: Duration,
    /// How often the counts are cleared while closed: above zero, at most `1h`; `null`:
    /// never. Default `10s`.
    #[serde(with = "humantime_serde")]
    pub interval: Option<Duration>,
    /// Trial calls while half-open, and successes in a row that close it. Default 1.
    pub max_half_open: u32,
    /// Status codes that count as failures (snake_case names). Default: an instance failing
    /// — `unavailable`, `deadline_exceeded`, `internal`, `unknown`, `data_loss`.
    pub failures: Vec<String>,
}

/// `trip.min_calls` when `error_rate` is given without it: an error rate over fewer calls
/// than this in the counting interval does not trip the breaker.
pub const DEFAULT_MIN_CALLS: u32 = 20;

/// `trip:` — exactly one of `consecutive` or `error_rate` (with `min_calls`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TripSettings {
    /// Open after this many failures in a row.
    #[serde(default)]
    pub consecutive: Option<u32>,
    /// Open when this share (0 to 1] of the calls counted failed ...
    #[serde(default)]
    pub error_rate: Option<f64>,
    /// ... with at least this many calls counted (decided, in the counting `interval`):
    /// fewer never trip it. `None` (not given) is [`DEFAULT_MIN_CALLS`], 20; `0` counts as 1.
    #[serde(default)]
    pub min_calls: Option<u32>,
}

impl Default for TripSettings {
    fn default() -> Self {
        TripSettings {
            consecutive: Some(5),
            error_rate: None,
            min_calls: None,
        }
    }
}

/// The default failure codes (those `BreakerSettings::default()` counts).
const DEFAULT_FAILURES: [&str; 5] = [
    "unavailable",
    "deadline_exceeded",
    "internal",
    "unknown",
    "data_loss",
];

impl Default for BreakerSpec {
    fn default() -> Self {
        BreakerSpec {
            trip: TripSettings::default(),
            open_timeout: Duration::from_secs(5),
            interval: Some(Duration::from_secs(10)),
            max_half_open: 1,
            failures: DEFAULT_FAILURES.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// The code named `name` (snake_case, as `Code::as_str`), or what was expected.
pub(crate) fn code_named(name: &str) -> Result<Code, String> {
    (0..=16u8)
        .map(Code::from_u8)
        .find(|c| c.as_str() == name)
        .ok_or_else(|| {
            let all: Vec<&str> = (0..=16u8).map(|n| Code::from_u8(n).as_str()).collect();
            format!(
                "unknown status code {name:?}; expected one of {}",
                all.join(" ")
            )
        })
}

impl BreakerSpec {
    /// Values that parse but cannot work, under `at`.
    pub(crate) fn check(&self, at: &str) -> Result<(), (String, String)> {
        let trip = &self.trip;
        if trip.consecutive.is_some() == trip.error_rate.is_some() {
            return Err((
                format!("{at}.trip"),
                "expected exactly one of consecutive or error_rate".into(),
            ));
        }
        // The code's rules (`BreakerSettings::trip` refuses the same), against the keys.
        let as_written = match (trip.consecutive, trip.error_rate) {
            (Some(n), _) => Trip::ConsecutiveFailures(n),
            (None, rate) => Trip::ErrorRate {
                rate: rate.unwrap_or_default(),
                min_calls: trip.min_calls.unwrap_or(DEFAULT_MIN_CALLS),
            },
        };
        if let Err((setting, why)) = as_written.check() {
            let key = match setting {
                "ConsecutiveFailures" => "consecutive",
                "ErrorRate.rate" => "error_rate",
                _ => "min_calls",
            };
            return Err((format!("{at}.trip.{key}"), why));
        }
        if trip.min_calls == Some(0) {
            return Err((
                format!("{at}.trip.min_calls"),
                "must be at least 1: a rate needs calls to be a share of".into(),
            ));
        }
        if trip.consecutive.is_some() && trip.min_calls.is_some() {
            return Err((
                format!("{at}.trip.min_calls"),
                "goes with error_rate, not consecutive".into(),
            ));
        }
        BreakerSettings::check_open_timeout(self.open_timeout)
            .map_err(|why| (format!("{at}.open_timeout"), why))?;
        match self.interval {
            Some(interval) if interval.is_zero() => {
                return Err((
                    format!("{at}.interval"),
                    "must be above zero; for counts never cleared while closed, write null".into(),
                ));
            }
            Some(interval) => BreakerSettings::check_interval(interval).map_err(|why| {
                (
                    format!("{at}.interval"),
                    format!("{why}; for counts never cleared while closed, write null"),
                )
            })?,
            None => {}
        }
        if self.max_half_open == 0 {
            return Err((format!("{at}.max_half_open"), "must be at least 1".into()));
        }
        if self.failures.is_empty() {
            return Err((
                format!("{at}.failures"),
                "needs at least one status code, or the breaker could never open".into(),
            ));
        }
        for name in &self.failures {
            let code = code_named(name).map_err(|reason| (format!("{at}.failures"), reason))?;
            if code == Code::Ok {
                return Err((
                    format!("{at}.failures"),
                    "ok is a success: a breaker counting it would open on a healthy instance"
                        .into(),
                ));
            }
        }
        Ok(())
    }

    /// The `BreakerSettings` these settings describe (checked first).
    pub fn settings(&self) -> BreakerSettings {
        let trip = match (self.trip.consecutive, self.trip.error_rate) {
            (_, Some(rate)) => Trip::ErrorRate {
                rate,
                min_calls: self.trip.min_calls.unwrap_or(DEFAULT_MIN_CALLS),
            },
            (Some(n), None) => Trip::ConsecutiveFailures(n),
            (None, None) => Trip::ConsecutiveFailures(5),
        };
        let codes: Vec<Code> = self
            .failures
            .iter()
            .filter_map(|n| code_named(n).ok())
            .collect();
        BreakerSettings::default()
            .trip(trip)
            .open_timeout(self.open_timeout)
            .interval(self.interval.unwrap_or(Duration::ZERO))
            .max_half_open(self.max_half_open)
            .failures(move |code| codes.contains(&code))
    }
}

/// `breaker:` — a breaker per instance (attempt level), per method (call level), or both.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakersSettings {
    /// One breaker per instance, for every method; an open one keeps its instance out of
    /// the balancer's picks. Default none.
    pub instance: Option<BreakerSpec>,
    /// One breaker per method over all instances (`null`: none for that method). Default
    /// none.
    pub method: crate::PerMethodSettings<Option<BreakerSpec>>,
}

impl BreakersSettings {
    pub(crate) fn check(&self, at: &str) -> Result<(), (String, String)> {
        if let Some(spec) = &self.instance {
            spec.check(&format!("{at}.instance"))?;
        }
        self.method.check(&format!("{at}.method"), |spec, key| {
            spec.as_ref().map_or(Ok(()), |s| s.check(key))
        })
    }
}
