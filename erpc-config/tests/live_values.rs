//! Live values and the numbers of a file as a fresh user gave them: fractions, bounds,
//! `null`, NaN and syntax errors — each refused naming the key and what was expected, in the
//! words of the value given (never rounded, cut or named by a Rust type), or read as meant.

use std::time::Duration;

use erpc_config::{ConfigError, LiveValue, parse_live};

mod support;
use support::{error_of, no_env};

/// `key`'s live `value` refused: its message.
fn refused(key: &str, value: &str) -> String {
    match parse_live(key, value, &format!("erpc/config/Greeter/{key}")) {
        Ok(v) => panic!("{key} {value} accepted: {v:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_fraction_in_a_whole_number_key_is_refused_not_rounded() {
    for yaml in [
        "server: {max_in_flight: 2048.7}\n",
        "server:\n  max_in_flight: 2048.7\n",
    ] {
        let (key, _, message) = error_of(yaml, no_env());
        assert_eq!(key, "server.max_in_flight", "{message}");
        assert!(
            message.contains("expected a whole number, found 2048.7"),
            "{message}"
        );
    }
    let (key, line, message) = error_of(
        "server: {}\n",
        vec![("ERPC_SERVER__MAX_IN_FLIGHT".to_owned(), "2048.7".to_owned())],
    );
    assert_eq!((key.as_str(), line), ("server.max_in_flight", None));
    assert!(
        message.starts_with("environment: ERPC_SERVER__MAX_IN_FLIGHT:")
            && message.contains("found 2048.7"),
        "{message}"
    );
    // In a live value too, whatever the key's depth.
    for (value, key) in [
        ("{default: {rate: 5, burst: 2.5}}", "default.burst"),
        (
            "{default: {rate: 5, max_waiting: 1.5}}",
            "default.max_waiting",
        ),
    ] {
        let message = refused("client.rate_limit", value);
        assert!(
            message.contains(&format!("client.rate_limit.{key}: expected a whole number")),
            "{message}"
        );
    }
    let message = refused(
        "client.breaker.method",
        "{default: {trip: {consecutive: 1.5}}}",
    );
    assert!(
        message.contains("trip.consecutive: expected a whole number, found 1.5"),
        "{message}"
    );
    // A whole number written as a float is that number.
    let file = support::written("server:\n  max_in_flight: 2048.0\n  workers: {workers: 1e1}\n");
    let s = erpc_config::load_with_env(file.path(), no_env()).expect("whole");
    assert_eq!(s.server.max_in_flight, 2048);
}

#[test]
fn a_number_s_bounds_are_said_in_words() {
    let message = refused(
        "client.rate_limit",
        "{default: {rate: 5, burst: 9223372036854775807}}",
    );
    assert!(
        message.contains("expected a whole number of 0 to 4294967295, found 9223372036854775807"),
        "{message}"
    );
    assert!(!message.contains("bit"), "{message}");
    let (_, _, message) = error_of("server:\n  max_in_flight: -3\n", no_env());
    assert!(
        message.contains("expected a whole number of 0 or more, found -3"),
        "{message}"
    );
}

#[test]
fn a_fractional_rate_is_kept() {
    let rate = |value: &str| match parse_live("client.rate_limit", value, "k") {
        Ok(LiveValue::ClientRateLimit(rates)) => rates.default_value().expect("a rate"),
        other => panic!("{other:?}"),
    };
    let two_and_a_half = rate("{default: {rate: 2.5, max_wait: 0ms}}");
    assert_eq!(two_and_a_half.period(), Duration::from_millis(400));
    assert_eq!(
        two_and_a_half.burst_size(),
        3,
        "a second's worth, rounded up"
    );
    let slow = rate("{default: {rate: 0.4}}");
    assert_eq!(slow.period(), Duration::from_millis(2500));
    assert_eq!(slow.burst_size(), 1);
    let whole = rate("{default: {rate: 100, burst: 10}}");
    assert_eq!(
        (whole.period(), whole.burst_size()),
        (Duration::from_millis(10), 10)
    );
    // Out of the limiter's range: refused with the bound, not cut to fit.
    let message = refused(
        "server.rate_limit",
        "{default: {rate: 9223372036854775807}}",
    );
    assert!(
        message.contains("server.rate_limit.default.rate: must be at most 1000000000"),
        "{message}"
    );
    let message = refused("server.rate_limit", "{default: {rate: 0.0001}}");
    assert!(message.contains("must be at least 0.001"), "{message}");
    let message = refused("server.rate_limit", "{default: {rate: 0}}");
    assert!(
        message.starts_with(
            "erpc/config/Greeter/server.rate_limit:1: server.rate_limit.default.rate: must be above 0"
        ),
        "{message}"
    );
}

#[test]
fn waits_open_timeouts_and_intervals_are_bounded() {
    let message = refused(
        "client.rate_limit",
        "{default: {rate: 5, max_wait: 100000000h}}",
    );
    assert!(
        message.contains("client.rate_limit.default.max_wait: must be at most 1h"),
        "{message}"
    );
    let message = refused(
        "client.breaker.method",
        "{default: {trip: {consecutive: 1}, open_timeout: 100000000000h}}",
    );
    assert!(
        message.contains("client.breaker.method.default.open_timeout: must be at most 1h"),
        "{message}"
    );
    let message = refused("client.breaker.instance", "{interval: 2h}");
    assert!(
        message.contains("client.breaker.instance.interval: must be at most 1h"),
        "{message}"
    );
    // Zero is refused for both, `null` is "never" for the interval.
    let message = refused("client.breaker.instance", "{interval: 0s}");
    assert!(
        message.contains("interval: must be above zero") && message.contains("write null"),
        "{message}"
    );
    let message = refused("client.breaker.instance", "{open_timeout: 0s}");
    assert!(
        message.contains("open_timeout: must be above zero"),
        "{message}"
    );
    let never = parse_live("client.breaker.instance", "{interval: null}", "k");
    assert!(
        matches!(never, Ok(LiveValue::InstanceBreaker(_))),
        "{never:?}"
    );
    let hour = parse_live(
        "client.breaker.instance",
        "{open_timeout: 1h, interval: 1h}",
        "k",
    );
    assert!(
        matches!(hour, Ok(LiveValue::InstanceBreaker(_))),
        "{hour:?}"
    );
}

#[test]
fn null_removes_a_rate_limit_and_method_breakers() {
    for key in ["client.rate_limit", "server.rate_limit"] {
        match parse_live(key, "null", "k") {
            Ok(LiveValue::ClientRateLimit(rates) | LiveValue::ServerRateLimit(rates)) => {
                assert!(rates.values().all(Option::is_none), "{rates:?}")
            }
            other => panic!("{key}: {other:?}"),
        }
    }
    match parse_live("client.breaker.method", "~", "k") {
        Ok(LiveValue::MethodBreakers(b)) => assert!(b.values().all(Option::is_none)),
        other => panic!("{other:?}"),
    }
    // In a file too.
    let file = support::written("server:\n  rate_limit: null\nclient:\n  rate_limit: null\n");
    erpc_config::load_with_env(file.path(), no_env()).expect("null is no limit");
    // A value of another shape is named in words, not by a Rust type.
    let message = refused("client.rate_limit", "5");
    assert!(
        message.contains("client.rate_limit: expected a mapping of default and methods, or null, found 5")
            || message.contains("client.rate_limit: invalid type: integer `5`, expected a mapping of default and methods, or null"),
        "{message}"
    );
    for yaml in [
        "server:\n  heartbeat: 5\n",
        "client:\n  fail_mode: {default: 5}\n",
        "client:\n  balancer: 5\n",
    ] {
        let (_, _, message) = error_of(yaml, no_env());
        assert!(
            !message.contains("Settings") && !message.contains("struct"),
            "{message}"
        );
    }
    // An empty value is not taken for null.
    let message = refused("client.rate_limit", "  ");
    assert!(message.contains("the value is empty"), "{message}");
}

#[test]
fn a_live_value_s_mistakes_are_placed_in_the_value_as_written() {
    let message = refused("client.rate_limit", "{default: {rate: 5}");
    assert!(
        message
            .starts_with("erpc/config/Greeter/client.rate_limit:1: client.rate_limit: not YAML:")
            && message.contains("at the end of the value (19 bytes)"),
        "{message}"
    );
    assert!(!message.contains("byte 46"), "{message}");
    let message = refused("client.rate_limit", "default:\n  rate: 5: 6\n");
    assert!(message.contains("at line 2 column"), "{message}");
    for nan in [".nan", ".inf", "-.inf"] {
        let message = refused(
            "client.breaker.instance",
            &format!("{{trip: {{error_rate: {nan}}}}}"),
        );
        assert!(
            message.contains(&format!(
                "client.breaker.instance.trip.error_rate: {nan} is not a finite number"
            )),
            "{message}"
        );
    }
    let message = refused("server.weight", "2.5");
    assert_eq!(
        message,
        "erpc/config/Greeter/server.weight: server.weight: expected a whole number of 0 to 4294967295, found 2.5"
    );
    match erpc_config::parse_live("client.rate_limit", "{default: {rate: 5}", "k") {
        Err(ConfigError::Key { line, .. }) => assert_eq!(line, Some(1)),
        other => panic!("{other:?}"),
    }
}

/// A method's name has a dot, so the keys below it are written with it quoted, in every
/// setting alike (the rate limit's were; a breaker's were printed `methods.Kv.put.…`).
#[test]
fn a_method_key_is_quoted_in_every_setting() {
    for (key, value) in [
        (
            "client.breaker.method",
            "{default: null, methods: {\"Kv.put\": {trip: {consecutive: 1.5}}}}",
        ),
        (
            "server.rate_limit",
            "{methods: {\"Kv.put\": {rate: 5, burst: 1.5}}}",
        ),
    ] {
        let message = refused(key, value);
        assert!(
            message.contains(&format!("{key}.methods.\"Kv.put\".")),
            "{message}"
        );
    }
}

/// serde reads a list as a struct's fields in order: `{trip: [1]}` was taken as
/// `{consecutive: 1}`, and `[1,2]` refused at `[0]` as if a list went there.
#[test]
fn a_list_where_a_mapping_goes_is_refused_at_its_key() {
    for (key, value, at) in [
        ("client.rate_limit", "[1,2]", "client.rate_limit"),
        (
            "client.breaker.instance",
            "[1,2]",
            "client.breaker.instance",
        ),
        ("client.breaker.method", "[1,2]", "client.breaker.method"),
        (
            "client.rate_limit",
            "{default: [5]}",
            "client.rate_limit.default",
        ),
        (
            "client.breaker.instance",
            "{trip: [1]}",
            "client.breaker.instance.trip",
        ),
    ] {
        let message = refused(key, value);
        assert!(
            message.ends_with(&format!(" {at}: expected a mapping of keys, found a list")),
            "{key} {value}: {message}"
        );
    }
}
/// The parser marks the end of the scalar before a tab (the line above); the tab's own
/// line is named.
#[test]
fn a_tab_is_placed_where_it_is() {
    let message = refused("client.rate_limit", "default:\n  rate: 5\n\tburst: 3\n");
    assert!(
        message.starts_with("erpc/config/Greeter/client.rate_limit:3: ")
            && message
                .contains("found a tab at line 3 column 1 of the value: YAML indents with spaces"),
        "{message}"
    );
}
