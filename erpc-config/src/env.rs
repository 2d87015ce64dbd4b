//! Which environment variables the loader reads, and which it refuses as misspelt settings.
//!
//! The settings' variables are `ERPC_` + a section + `__` + the key's path with `__` between
//! levels (`ERPC_SERVER__MAX_IN_FLIGHT`). Other erpc programs read `ERPC_*` variables of
//! their own, with one underscore after a name (`ERPC_CENTER_LISTEN`, `ERPC_TOKEN`,
//! `ERPC_DEMO_CENTER`, `ERPC_SOAK_SECS`) or the queue bridge's `ERPC_BRIDGE__*`; the loader
//! runs in some of them (`erpc-center --config`), so those must be left alone. The rules,
//! on the name in capitals:
//!
//! 1. `ERPC_<SECTION>__…` (a section of [`SECTIONS`]) is read; written other than in
//!    capitals (`erpc_server__max_in_flight`) it is refused (it would otherwise be skipped:
//!    the names are matched in capitals).
//! 2. `ERPC_<SECTION>_…` with one underscore, or `ERPC_<SECTION>` alone, is refused as a
//!    misspelt setting — except for `CENTER`, whose `ERPC_CENTER_*` are erpc-center's flags.
//! 3. `ERPC_<NAME>__…` whose `NAME` is no section is refused (a misspelt section), except
//!    `BRIDGE` (the queue bridge's settings).
//! 4. Anything else (`ERPC_TOKEN`, `ERPC_CENTER_DC`, `ERPC_SHOP_LISTEN`) is not the loader's.

use std::collections::HashMap;

use crate::ConfigError;
use crate::error::{ENV_PREFIX, ENV_SEPARATOR};

/// The sections a variable may set, as written in a variable's name.
pub(crate) const SECTIONS: [&str; 5] = ["SERVER", "CLIENT", "CLIENTS", "CENTER", "TELEMETRY"];

/// Sections whose one-underscore names (`ERPC_CENTER_LISTEN`) belong to another program.
const OTHER_PROGRAMS_SINGLE: [&str; 1] = ["CENTER"];

/// Names before `__` that another program reads as its own settings (the queue bridge's
/// `ERPC_BRIDGE__QUEUE__URL`).
const OTHER_PROGRAMS_DOUBLE: [&str; 1] = ["BRIDGE"];

/// The settings' variables of `vars`, or the first (by name) that looks like a setting but
/// would not be read.
///
/// # Errors
/// [`ConfigError::Variable`] naming the variable and the form it should have.
pub(crate) fn select(
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<HashMap<String, String>, ConfigError> {
    let mut read = HashMap::new();
    let mut refused: Vec<(String, String)> = Vec::new();
    for (name, value) in vars {
        match classify(&name) {
            Ok(true) => {
                read.insert(name, value);
            }
            Ok(false) => {}
            Err(reason) => refused.push((name, reason)),
        }
    }
    // The first by name, so that the same environment always gives the same error.
    refused.sort();
    match refused.into_iter().next() {
        Some((var, reason)) => Err(ConfigError::Variable { var, reason }),
        None => Ok(read),
    }
}

/// Whether the loader reads variable `name` (`Ok(true)`), leaves it to another program
/// (`Ok(false)`), or refuses it (`Err`, what it should look like) — the rules of the module.
fn classify(name: &str) -> Result<bool, String> {
    let upper = name.to_uppercase();
    let Some(rest) = upper.strip_prefix(ENV_PREFIX) else {
        return Ok(false);
    };
    let double = rest.split_once(ENV_SEPARATOR);
    let first = double.map_or(rest, |(first, _)| first);
    let example = "ERPC_SERVER__MAX_IN_FLIGHT";
    if let (Some((_, key)), true) = (double, SECTIONS.contains(&first)) {
        if name != upper {
            return Err(format!(
                "not a setting: settings' variables are written in capitals, {upper}"
            ));
        }
        if key.is_empty() {
            return Err(format!(
                "not a setting: a variable names a key below its section, e.g. {example}"
            ));
        }
        // A method's name has a dot and capitals, which a variable's name cannot carry (it
        // is read in lower case, split at `__`): `…__METHODS__BANK.TRANSFER__RATE` would be
        // misread, `…__METHODS__BANK__RATE` would name a service "bank".
        if key.split(ENV_SEPARATOR).any(|part| part == "METHODS") {
            return Err(
                "not a setting: per-method settings (`methods:`) are set in the file only — a \
                 method's name has a dot and capitals, which a variable's name cannot carry; \
                 the `default` value can be set (…__DEFAULT__RATE)"
                    .to_owned(),
            );
        }
        return Ok(true);
    }
    // One underscore after a section's name (the longest that fits: CLIENTS before CLIENT).
    let mut by_length = SECTIONS;
    by_length.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let single = by_length.iter().find_map(|section| {
        let tail = first.strip_prefix(section)?;
        if tail.is_empty() {
            return Some((section, None));
        }
        tail.strip_prefix('_').map(|t| (section, Some(t)))
    });
    match single {
        // `ERPC_CENTER_*` without `__` is erpc-center's.
        Some((section, _)) if double.is_none() && OTHER_PROGRAMS_SINGLE.contains(section) => {
            Ok(false)
        }
        Some((section, None)) => Err(format!(
            "not a setting: a variable names a key below its section, e.g. \
             ERPC_{section}__{}",
            if *section == "SERVER" {
                "MAX_IN_FLIGHT"
            } else {
                "KEY"
            }
        )),
        Some((section, Some(_))) => {
            let below = &rest[section.len() + 1..];
            Err(format!(
                "not a setting: sections and keys are separated by two underscores, e.g. \
                 ERPC_{section}__{below} (and every level below: \
                 ERPC_SERVER__HEARTBEAT__INTERVAL)"
            ))
        }
        None if double.is_some() && !OTHER_PROGRAMS_DOUBLE.contains(&first) => {
            let nearest = SECTIONS
                .iter()
                .filter(|s| strsim::levenshtein(s, first) <= 2)
                .min_by_key(|s| strsim::levenshtein(s, first));
            let hint = nearest.map_or(String::new(), |s| format!(" (did you mean {s}?)"));
            Err(format!(
                "not a setting: {first:?} is not a section{hint}; a variable is ERPC_ + one \
                 of {} + `__` + the key's path, e.g. {example}",
                SECTIONS.join(", ")
            ))
        }
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::classify;

    #[test]
    fn settings_are_read_and_other_programs_variables_left_alone() {
        for read in [
            "ERPC_SERVER__MAX_IN_FLIGHT",
            "ERPC_CLIENT__TIMEOUT",
            "ERPC_CLIENTS__BILLING__TIMEOUT",
            "ERPC_CENTER__LISTEN",
            "ERPC_TELEMETRY__LOGGING__FILTER",
        ] {
            assert_eq!(classify(read), Ok(true), "{read}");
        }
        for theirs in [
            "PATH",
            "ERPC_CENTER",
            "ERPC_CENTER_LISTEN",
            "ERPC_CENTER_TOKEN_FILE",
            "ERPC_TOKEN",
            "ERPC_TOKEN_FILE",
            "ERPC_DEMO_CENTER",
            "ERPC_SOAK_SECS",
            "ERPC_SHOP_LISTEN",
            "ERPC_GATEWAY_DC",
            "ERPC_BRIDGE_CONFIG",
            "ERPC_BRIDGE__QUEUE__URL",
            "ERPC_TEST_SERVER",
            "erpc_token",
            "erpc_center_dc",
        ] {
            assert_eq!(classify(theirs), Ok(false), "{theirs}");
        }
    }

    #[test]
    fn misspelt_settings_are_refused_saying_the_right_form() {
        let cases = [
            ("ERPC_CLIENT_TIMEOUT", "ERPC_CLIENT__TIMEOUT"),
            ("ERPC_SERVER_MAX_IN_FLIGHT", "ERPC_SERVER__MAX_IN_FLIGHT"),
            (
                "ERPC_CLIENTS_BILLING__TIMEOUT",
                "ERPC_CLIENTS__BILLING__TIMEOUT",
            ),
            ("ERPC_CENTER_LISTEN__X", "ERPC_CENTER__LISTEN__X"),
            (
                "ERPC_TELEMETRY_LOGGING__FILTER",
                "ERPC_TELEMETRY__LOGGING__FILTER",
            ),
            ("ERPC_SERVR__MAX_IN_FLIGHT", "did you mean SERVER?"),
            ("ERPC_TELEMETY__LOGGING__FILTER", "did you mean TELEMETRY?"),
            ("ERPC_NOPE__X", "SERVER, CLIENT, CLIENTS, CENTER, TELEMETRY"),
            (
                "erpc_server__max_in_flight",
                "capitals, ERPC_SERVER__MAX_IN_FLIGHT",
            ),
            (
                "ERPC_server__max_in_flight",
                "capitals, ERPC_SERVER__MAX_IN_FLIGHT",
            ),
            ("erpc_client_timeout", "ERPC_CLIENT__TIMEOUT"),
            ("ERPC_SERVER", "below its section"),
            ("ERPC_SERVER__", "below its section"),
        ];
        for (name, says) in cases {
            match classify(name) {
                Err(reason) => assert!(reason.contains(says), "{name}: {reason}"),
                Ok(read) => panic!("{name} not refused (read: {read})"),
            }
        }
    }
}
