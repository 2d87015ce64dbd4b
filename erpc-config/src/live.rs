//! Settings that change while a program runs — from the registry center's live config
//! (`erpc_center::live_config` follows it) or anywhere else: a key naming the setting and
//! its value in YAML (or JSON, which is YAML), parsed and checked exactly as in a file, so a
//! bad value is refused with the same words and the setting in force stays.
//!
//! | key | value (the shape of the same key in a file) |
//! |---|---|
//! | `client.rate_limit` | `{default: {rate: 100}, methods: {"Kv.get": {rate: 2.5, max_wait: 20ms}}}`; `null`: no limit |
//! | `server.rate_limit` | as `client.rate_limit` |
//! | `client.breaker.instance` | `{trip: {consecutive: 5}, open_timeout: 5s, ...}` |
//! | `client.breaker.method` | `{default: null, methods: {"Kv.put": {trip: {error_rate: 0.5}}}}`; `null`: none |
//! | `server.weight` | a YAML integer, 0 to 4294967295 (`40`, `40 # canary`): the weight the server registers with |
//!
//! A syntax error is placed in the value as written (its line and column, or its end); an
//! empty value is refused (`null` says none). A client's method keys are checked against the
//! services it calls by [`crate::ClientGovernance::parse_live`].

use std::path::PathBuf;

use erpc_core::client::BreakerSettings;
use erpc_core::per_method::PerMethod;

use crate::Settings;
use crate::error::ConfigError;

/// The keys a live configuration may set (see the module docs).
pub const LIVE_KEYS: [&str; 5] = [
    "client.rate_limit",
    "server.rate_limit",
    "client.breaker.instance",
    "client.breaker.method",
    "server.weight",
];

/// A live setting's new value, parsed and checked, ready for the layer's `set_*` method.
#[derive(Debug)]
pub enum LiveValue {
    /// For `ClientRateLimit::set_rates`.
    #[cfg(feature = "rate-limit")]
    ClientRateLimit(PerMethod<Option<erpc_core::rate::Rate>>),
    /// For `RateLimit::set_rates`.
    #[cfg(feature = "rate-limit")]
    ServerRateLimit(PerMethod<Option<erpc_core::rate::Rate>>),
    /// For `InstanceBreakers::set_settings`.
    InstanceBreaker(BreakerSettings),
    /// For `MethodBreakers::set_settings`.
    MethodBreakers(PerMethod<Option<BreakerSettings>>),
    /// For `Weights::set` (`ServerHandle::weights`).
    Weight(u32),
}

/// Parse `value` (YAML or JSON) as the setting `key` (one of [`LIVE_KEYS`]); `origin` names
/// where it came from in errors (the center's key).
///
/// # Errors
/// [`ConfigError::Key`] naming `key` (or the key inside the value that is wrong), its line in
/// the value, and what was expected — as a file's error: an unknown key, a bad value, a
/// value that cannot work; or a `key` that is not a live setting (or needs a feature this
/// build lacks).
pub fn parse_live(key: &str, value: &str, origin: &str) -> Result<LiveValue, ConfigError> {
    parse_live_settings(key, value, origin).map(|(value, _)| value)
}

/// [`parse_live`], with the settings the value was read into (the value nested under its
/// key, every other key left out) and the number of lines of that nesting.
pub(crate) fn parse_live_settings(
    key: &str,
    value: &str,
    origin: &str,
) -> Result<(LiveValue, Option<(Settings, usize)>), ConfigError> {
    let at = PathBuf::from(origin);
    let unknown = |reason: String| ConfigError::Key {
        file: Some(at.clone()),
        line: None,
        env: None,
        key: key.to_owned(),
        reason,
    };
    if !LIVE_KEYS.contains(&key) {
        return Err(unknown(format!(
            "not a live setting; expected one of {}",
            LIVE_KEYS.join(" ")
        )));
    }
    if value.trim().is_empty() {
        return Err(unknown(if key == "server.weight" {
            format!(
                "the value is empty: give a whole number of 0 to {}",
                u32::MAX
            )
        } else {
            "the value is empty: give one in the shape of the file's key (null where none is \
             meant)"
                .into()
        }));
    }
    // The value alone first: a syntax error is placed in the text the user wrote, not in
    // the nesting below (`at byte 46 line 4` of a one-line, 19-byte value).
    if let Err(e) = yaml_rust2::YamlLoader::load_from_str(value) {
        let written = value.trim_end();
        let mark = e.marker();
        // The parser marks the end of the scalar before a tab, often on the line above.
        let tab = e
            .info()
            .contains("found a tab")
            .then(|| crate::error::tab_after(value, mark.index()))
            .flatten();
        let (line, place) = if let Some((line, column)) = tab {
            (
                line,
                format!(
                    "at line {line} column {column} of the value: YAML indents with spaces, \
                     never tabs"
                ),
            )
        } else if mark.index() >= written.len() {
            (
                written.lines().count().max(1),
                format!(
                    "at the end of the value ({}): is a bracket or quote left open?",
                    erpc_core::human::count(written.len(), "byte")
                ),
            )
        } else {
            (
                mark.line(),
                format!(
                    "at line {} column {} of the value",
                    mark.line(),
                    mark.col() + 1
                ),
            )
        };
        return Err(ConfigError::Key {
            file: Some(at.clone()),
            line: Some(line),
            env: None,
            key: key.to_owned(),
            reason: format!("not YAML: {} {place}", e.info()),
        });
    }
    if key == "server.weight" {
        // Not a file's key (a server's registration is made in code): one YAML integer.
        return weight(value)
            .map(|w| (LiveValue::Weight(w), None))
            .map_err(|found| {
                unknown(format!(
                    "expected a whole number of 0 to {}, found {found}",
                    u32::MAX
                ))
            });
    }
    // The value nested under its key's path, as in a file, so that it is read and checked
    // by the same code and its errors name the same keys.
    let parts: Vec<&str> = key.split('.').collect();
    let mut text = String::new();
    for (depth, part) in parts.iter().enumerate() {
        text.push_str(&"  ".repeat(depth));
        text.push_str(part);
        text.push_str(":\n");
    }
    let indent = "  ".repeat(parts.len());
    for line in value.lines() {
        text.push_str(&indent);
        text.push_str(line);
        text.push('\n');
    }
    let settings = crate::parse(&text, &at, None).map_err(|e| of_value(e, parts.len()))?;
    // Named with where the value came from.
    let live = live_value(key, &settings).map_err(|e| match e {
        ConfigError::Key {
            file: None,
            line,
            env,
            key,
            reason,
        } => ConfigError::Key {
            file: Some(at.clone()),
            line,
            env,
            key,
            reason,
        },
        other => other,
    })?;
    Ok((live, Some((settings, parts.len()))))
}

/// A live `server.weight`: YAML holding one integer of 0 to `u32::MAX` (a comment or spaces
/// around it as anywhere in YAML); else what was found, for the error.
fn weight(value: &str) -> Result<u32, String> {
    use yaml_rust2::Yaml;
    let docs = yaml_rust2::YamlLoader::load_from_str(value).map_err(|e| e.to_string())?;
    match docs.as_slice() {
        [Yaml::Integer(n)] => u32::try_from(*n).map_err(|_| n.to_string()),
        [Yaml::Real(r)] => Err(r.clone()),
        [Yaml::String(s)] => Err(format!("the text {s:?}")),
        [Yaml::Null] => Err("null (a weight cannot be removed; 0 takes no calls)".into()),
        [Yaml::Boolean(b)] => Err(b.to_string()),
        [Yaml::Array(_)] => Err("a list".into()),
        [Yaml::Hash(_)] => Err("a mapping".into()),
        _ => Err(format!("{:?}", value.trim())),
    }
}

/// `error` (of the value nested `depth` lines deep) with its line in the value, not in the
/// nesting.
pub(crate) fn of_value(error: ConfigError, depth: usize) -> ConfigError {
    match error {
        ConfigError::Key {
            file,
            line,
            env,
            key,
            reason,
        } => ConfigError::Key {
            file,
            line: line.and_then(|l| l.checked_sub(depth)).filter(|l| *l > 0),
            env,
            key,
            reason,
        },
        other => other,
    }
}

/// The live value of `key` in `settings` (read from the value alone).
fn live_value(key: &str, settings: &Settings) -> Result<LiveValue, ConfigError> {
    let unknown = |reason: &str| ConfigError::from((key.to_owned(), reason.to_owned()));
    let (client, server) = (&settings.client, &settings.server);
    match key {
        #[cfg(feature = "rate-limit")]
        "client.rate_limit" => Ok(LiveValue::ClientRateLimit(
            client
                .rate_limit
                .to_per_method(key, |r, _| Ok::<_, ConfigError>(r.map(|r| r.rate())))?,
        )),
        #[cfg(feature = "rate-limit")]
        "server.rate_limit" => Ok(LiveValue::ServerRateLimit(
            server
                .rate_limit
                .to_per_method(key, |r, _| Ok::<_, ConfigError>(r.map(|r| r.rate())))?,
        )),
        "client.breaker.instance" => match &client.breaker.instance {
            Some(spec) => Ok(LiveValue::InstanceBreaker(spec.settings())),
            None => Err(unknown(
                "null: an instance breaker cannot be removed live; give its settings",
            )),
        },
        "client.breaker.method" => Ok(LiveValue::MethodBreakers(
            client.breaker.method.to_per_method(key, |s, _| {
                Ok::<_, ConfigError>(s.as_ref().map(|s| s.settings()))
            })?,
        )),
        _ => {
            let _ = server;
            Err(unknown(
                "this build of erpc-config has no rate limits: enable its feature `rate-limit`",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{LiveValue, parse_live};
    use crate::ConfigError;

    #[test]
    fn a_live_value_is_read_and_checked_as_in_a_file() {
        let v = parse_live(
            "client.breaker.method",
            "{methods: {\"Kv.put\": {trip: {consecutive: 2}}}}",
            "erpc/config/Kv/client.breaker.method",
        )
        .expect("parses");
        assert!(matches!(v, LiveValue::MethodBreakers(_)));
        let e = parse_live(
            "client.breaker.instance",
            "trip:\n  error_rate: 2\n",
            "erpc/config/Kv/client.breaker.instance",
        )
        .expect_err("error rate over 1");
        let text = e.to_string();
        let ConfigError::Key { key, line, .. } = e else {
            panic!("{text}")
        };
        assert_eq!(key, "client.breaker.instance.trip.error_rate", "{text}");
        assert_eq!(line, Some(2), "the value's own line: {text}");
        assert!(
            text.starts_with("erpc/config/Kv/client.breaker.instance:2:"),
            "{text}"
        );
        for written in [" 40\n", "40 # raised for the canary", "  40  "] {
            assert!(
                matches!(
                    parse_live("server.weight", written, "k"),
                    Ok(LiveValue::Weight(40))
                ),
                "{written:?}"
            );
        }
        for (written, found) in [
            ("-1", "found -1"),
            ("4294967296", "found 4294967296"),
            ("40.5", "found 40.5"),
            ("\"40\"", "found the text \"40\""),
            ("forty", "found the text \"forty\""),
            ("null", "found null"),
            ("[40]", "found a list"),
        ] {
            let e = parse_live("server.weight", written, "k").expect_err(written);
            let text = e.to_string();
            assert!(
                text.contains("expected a whole number of 0 to 4294967295") && text.contains(found),
                "{written}: {text}"
            );
        }
        let e = parse_live("client.timeout", "1s", "k").expect_err("not live");
        assert!(e.to_string().contains("client.rate_limit"), "{e}");
    }
}
