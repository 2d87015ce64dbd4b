//! `fail_mode:`, `idempotent:`, `retry_budget:` and `retry_backoff:` — what a client does
//! when a call fails (rpcx's fail modes, per method), read into
//! `erpc_core::client::FailModes`.

use std::time::Duration;

use erpc_core::client::{FailMode, FailModes, HedgeDelay, RetryBudget};
use serde::Deserialize;

use crate::per_method::PerMethodSettings;

/// The most retries a `failover` or `failtry` may name in a file: more is refused at start-up
/// (a larger count is never useful within one deadline and a retry budget).
pub use erpc_core::client::MAX_RETRIES;

/// One method's fail mode: `failfast` (the default), `{failover: {retries: 2}}`,
/// `{failtry: {retries: 2}}`, or `{failbackup: {delay: 20ms}}` / `{failbackup: {delay: p95,
/// until_known: 50ms}}`.
///
/// A name alone whose mode needs settings (`failover`) and settings given to `failfast` are
/// refused (read by `one_of`, not the `config` crate's enums).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(remote = "Self", rename_all = "snake_case", deny_unknown_fields)]
pub enum FailModeSettings {
    /// No retry.
    #[default]
    Failfast,
    /// Retry on another instance.
    Failover {
        /// Retries after the first attempt (1 to [`MAX_RETRIES`]).
        retries: u32,
    },
    /// Retry on the same instance.
    Failtry {
        /// Retries after the first attempt (1 to [`MAX_RETRIES`]).
        retries: u32,
    },
    /// Hedge: a second copy to another instance after `delay`.
    Failbackup {
        /// `20ms` (fixed, more than 0, at most 1h) or `p95` (the method's observed 95th
        /// percentile).
        delay: DelaySettings,
        /// With `p95`: the delay until 16 answers were seen (more than 0, at most 1h).
        /// Default `50ms`.
        #[serde(default, with = "humantime_serde")]
        until_known: Option<Duration>,
    },
}

impl crate::one_of::OneOf for FailModeSettings {
    const WHAT: &'static str = "a fail mode";
    const WITH_SETTINGS: &'static [(&'static str, &'static str)] = &[
        ("failover", "{failover: {retries: 2}}"),
        ("failtry", "{failtry: {retries: 2}}"),
        ("failbackup", "{failbackup: {delay: 20ms}}"),
    ];
    fn derived<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        FailModeSettings::deserialize(d)
    }
}

impl<'de> Deserialize<'de> for FailModeSettings {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::one_of::one_of(d)
    }
}

/// A hedge delay: a duration, or `p95`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelaySettings {
    /// This long.
    Fixed(Duration),
    /// The method's observed p95 latency.
    P95,
}

impl<'de> Deserialize<'de> for DelaySettings {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text == "p95" {
            return Ok(DelaySettings::P95);
        }
        humantime::parse_duration(&text)
            .map(DelaySettings::Fixed)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "expected a duration (20ms) or p95, found {text:?}: {e}"
                ))
            })
    }
}

/// `retry_budget:` — retries and hedges at most `ratio` of the calls plus `min_per_sec`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryBudgetSettings {
    /// Share of calls that may be retried (0 to 1000; 0.1 = 10%). Default 0.1.
    pub ratio: f64,
    /// Retries per second allowed whatever the calls. Default 10.
    pub min_per_sec: u32,
}

impl Default for RetryBudgetSettings {
    fn default() -> Self {
        RetryBudgetSettings {
            ratio: 0.1,
            min_per_sec: 10,
        }
    }
}

/// `retry_backoff:` — full jitter below `base × 2^(retry−1)`, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryBackoffSettings {
    /// Default `10ms`.
    #[serde(with = "humantime_serde")]
    pub base: Duration,
    /// At most `1h`. Default `1s`.
    #[serde(with = "humantime_serde")]
    pub max: Duration,
}

impl Default for RetryBackoffSettings {
    fn default() -> Self {
        RetryBackoffSettings {
            base: Duration::from_millis(10),
            max: Duration::from_secs(1),
        }
    }
}

impl FailModeSettings {
    pub(crate) fn check(&self, at: &str) -> Result<(), (String, String)> {
        // What only a file can get wrong first; then what the code's `FailModes::new`
        // refuses too.
        let zero_retries = match *self {
            FailModeSettings::Failover { retries: 0 } => Some("failover"),
            FailModeSettings::Failtry { retries: 0 } => Some("failtry"),
            _ => None,
        };
        if let Some(kind) = zero_retries {
            return Err((
                format!("{at}.{kind}.retries"),
                "must be at least 1 (for none, write failfast)".to_owned(),
            ));
        }
        if let FailModeSettings::Failbackup {
            delay: DelaySettings::Fixed(_),
            until_known: Some(_),
        } = self
        {
            return Err((
                format!("{at}.failbackup.until_known"),
                "goes with delay: p95 only".into(),
            ));
        }
        self.mode()
            .check()
            .map_err(|(setting, why)| (format!("{at}.{setting}"), why))
    }

    fn mode(&self) -> FailMode {
        match *self {
            FailModeSettings::Failfast => FailMode::Failfast,
            FailModeSettings::Failover { retries } => FailMode::Failover { retries },
            FailModeSettings::Failtry { retries } => FailMode::Failtry { retries },
            FailModeSettings::Failbackup { delay, until_known } => FailMode::Failbackup {
                delay: match delay {
                    DelaySettings::Fixed(d) => HedgeDelay::Fixed(d),
                    DelaySettings::P95 => HedgeDelay::P95 {
                        until_known: until_known.unwrap_or(Duration::from_millis(50)),
                    },
                },
            },
        }
    }
}

impl RetryBudgetSettings {
    pub(crate) fn check(&self, at: &str) -> Result<(), (String, String)> {
        RetryBudget::check_ratio(self.ratio).map_err(|why| (format!("{at}.ratio"), why))
    }
}

/// The `FailModes` layer of a client's settings, or `None` when every method is
/// `failfast` (no layer: nothing to retry).
pub(crate) fn layer(
    modes: &PerMethodSettings<FailModeSettings>,
    idempotent: &PerMethodSettings<bool>,
    budget: &RetryBudgetSettings,
    backoff: &RetryBackoffSettings,
    at: &str,
) -> Result<Option<FailModes>, crate::ConfigError> {
    if !modes.any(|m| *m != FailModeSettings::Failfast) {
        return Ok(None);
    }
    let modes = modes.to_per_method(&format!("{at}.fail_mode"), |m, _| {
        Ok::<_, crate::ConfigError>(m.mode())
    })?;
    let idempotent = idempotent.to_per_method(&format!("{at}.idempotent"), |b, _| {
        Ok::<_, crate::ConfigError>(*b)
    })?;
    Ok(Some(
        FailModes::new(modes)
            .idempotent(idempotent)
            .backoff(backoff.base, backoff.max)
            .budget(RetryBudget::new(budget.ratio, budget.min_per_sec)),
    ))
}
