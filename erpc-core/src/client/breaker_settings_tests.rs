//! [`BreakerSettings`] and [`Trip`] refuse what the config file refuses (a panic naming the
//! setting and the value), rather than building a breaker that never opens.

use std::time::Duration;

use super::breaker::{BreakerSettings, Trip};
use crate::engine::task_guard::refusal;

#[test]
fn an_error_rate_that_could_never_work_is_refused() {
    // Each was accepted: the breaker then never opened (or opened on every failure).
    for rate in [1.5, f64::NAN, 0.0, -0.5] {
        let text = refusal(|| {
            BreakerSettings::default().trip(Trip::ErrorRate {
                rate,
                min_calls: 20,
            })
        });
        assert!(
            text.as_deref().is_some_and(|t| t.starts_with(
                "BreakerSettings::trip: Trip::ErrorRate.rate must be above 0 and at most 1"
            ) && t.contains(&format!("got {rate}"))),
            "{rate}: {text:?}"
        );
    }
    let text = refusal(|| {
        BreakerSettings::default().trip(Trip::ErrorRate {
            rate: 0.5,
            min_calls: 0,
        })
    });
    assert!(
        text.as_deref().is_some_and(|t| t
            .starts_with("BreakerSettings::trip: Trip::ErrorRate.min_calls must be at least 1")),
        "{text:?}"
    );
    let text = refusal(|| BreakerSettings::default().trip(Trip::ConsecutiveFailures(0)));
    assert_eq!(
        text.as_deref(),
        Some("BreakerSettings::trip: Trip::ConsecutiveFailures must be at least 1")
    );
    let _ = BreakerSettings::default().trip(Trip::ErrorRate {
        rate: 1.0,
        min_calls: 1,
    });
}

#[test]
fn durations_out_of_bounds_and_no_trial_call_are_refused() {
    let text = refusal(|| BreakerSettings::default().open_timeout(Duration::ZERO));
    assert!(
        text.as_deref().is_some_and(
            |t| t.starts_with("BreakerSettings::open_timeout: open_timeout must be above zero")
        ),
        "{text:?}"
    );
    let text = refusal(|| BreakerSettings::default().open_timeout(Duration::from_secs(7200)));
    assert!(
        text.as_deref().is_some_and(|t| t.starts_with(
            "BreakerSettings::open_timeout: open_timeout must be at most 1h (the longest open timeout), got 7200 s"
        )),
        "{text:?}"
    );
    let text = refusal(|| BreakerSettings::default().interval(Duration::MAX));
    assert!(
        text.as_deref().is_some_and(|t| t.starts_with(
            "BreakerSettings::interval: interval must be at most 1h (the longest counting interval), got"
        )),
        "{text:?}"
    );
    let text = refusal(|| BreakerSettings::default().max_half_open(0));
    assert_eq!(
        text.as_deref(),
        Some("BreakerSettings::max_half_open: max_half_open must be at least 1, got 0")
    );
    // The bounds themselves, and zero (never cleared) for the interval, are taken.
    let _ = BreakerSettings::default()
        .open_timeout(BreakerSettings::MAX_DURATION)
        .interval(BreakerSettings::MAX_DURATION)
        .interval(Duration::ZERO)
        .max_half_open(1);
}
