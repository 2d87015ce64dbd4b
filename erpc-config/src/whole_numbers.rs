//! Numbers the loader would change or fail on without naming the key, refused with their
//! key and the value as written:
//!
//! - whole numbers too big for it: the YAML reader keeps an integer beyond i64 as a float,
//!   and the `config` crate then casts it to the key's integer type, saturating:
//!   `max_in_flight: 99999999999999999999999` would load as 18446744073709551615 with no
//!   word. Found in the text (and in the environment's values) before the settings are read.
//! - YAML's `.nan` and `.inf`, which the `config` crate fails on naming no key.
//! - a fraction where a whole number goes: the `config` crate rounds a float into an
//!   integer key (`max_in_flight: 2048.7` would load as 2049). [`floats_as_text`] hands
//!   every float on as its text, which a number key reads back and a whole-number key
//!   refuses (`error::type_reason`).

use std::collections::HashMap;
use std::path::Path;

use yaml_rust2::{Yaml, YamlLoader};

use crate::error::{ConfigError, entry_at, env_key, in_variable, key_at, line_of};

/// The largest whole number a file or variable can give (i64's): beyond, it would be cut.
const MAX_WHOLE: i64 = i64::MAX;

/// The first whole number of `text` (YAML, read from `path`) or of `env`'s values too big to
/// be carried, as an error naming its key and line (or its variable) and the value given.
/// Text that is not YAML is left to the loader, whose error names the file.
pub(crate) fn check(
    text: &str,
    path: &Path,
    env: Option<&HashMap<String, String>>,
) -> Result<(), ConfigError> {
    let reason = |value: &str| {
        format!("{value} is out of range: a whole number here is at most {MAX_WHOLE}")
    };
    if let Ok(docs) = YamlLoader::load_from_str(text) {
        for doc in &docs {
            let found = too_big(doc, "").map(|(key, value)| (key, reason(&value)));
            let found = found.or_else(|| {
                not_finite(doc, "").map(|(key, value)| {
                    let reason = format!(
                        "{value} is not a finite number: give a number such as 0.5 (quoted, if text is meant)"
                    );
                    (key, reason)
                })
            });
            if let Some((key, reason)) = found {
                return Err(ConfigError::Key {
                    file: Some(path.to_owned()),
                    line: line_of(text, &key),
                    env: None,
                    reason,
                    key,
                });
            }
        }
    }
    let mut vars: Vec<(&String, &String)> = env.into_iter().flatten().collect();
    vars.sort();
    for (var, value) in vars {
        if is_too_big(value.trim()) {
            let key = env_key(var).unwrap_or_else(|| var.clone());
            return Err(in_variable(var, key, reason(value.trim())));
        }
    }
    Ok(())
}

/// Every float under `value` made the text it reads as (`2048.7`, `1000` for `1e3`), so
/// that the `config` crate does not round it into a whole-number key: there, text that is
/// not a whole number is refused ("a fraction is refused, not rounded", `error::type_reason`);
/// a key taking a number reads the text back as the same float (its shortest exact form).
pub(crate) fn floats_as_text(value: &mut config::Value) {
    use config::ValueKind;
    match &mut value.kind {
        ValueKind::Float(f) => value.kind = ValueKind::String(f.to_string()),
        ValueKind::Table(table) => table.values_mut().for_each(floats_as_text),
        ValueKind::Array(items) => items.iter_mut().for_each(floats_as_text),
        _ => {}
    }
}

/// A digits-only literal (optionally signed) that does not fit in an i64.
fn is_too_big(literal: &str) -> bool {
    let digits = literal.strip_prefix(['+', '-']).unwrap_or(literal);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && literal.parse::<i64>().is_err()
}

/// A YAML float that is not a finite number: `.nan`, `.inf`, `-.inf` (the loader would
/// fail on it without naming its key).
fn is_not_finite(literal: &str) -> bool {
    literal.parse::<f64>().map_or(true, |f| !f.is_finite())
}

/// The key (dotted from `at`) and literal of the first too-big whole number under `node`.
fn too_big(node: &Yaml, at: &str) -> Option<(String, String)> {
    first_real(node, at, &is_too_big)
}

/// The key and literal of the first float under `node` that is not a finite number.
fn not_finite(node: &Yaml, at: &str) -> Option<(String, String)> {
    first_real(node, at, &is_not_finite)
}

/// The key (dotted from `at`) and literal of the first "real" under `node` that `bad` says
/// is wrong.
fn first_real(node: &Yaml, at: &str, bad: &dyn Fn(&str) -> bool) -> Option<(String, String)> {
    match node {
        // The reader keeps a number it could not hold as an integer as a "real", as written.
        Yaml::Real(literal) if bad(literal) => Some((at.to_owned(), literal.clone())),
        Yaml::Hash(map) => map.iter().find_map(|(name, value)| {
            let name = match name {
                Yaml::String(s) | Yaml::Real(s) => s.clone(),
                Yaml::Integer(i) => i.to_string(),
                Yaml::Boolean(b) => b.to_string(),
                _ => return None,
            };
            let key = if at.is_empty() {
                name
            } else {
                key_at(at, &name)
            };
            first_real(value, &key, bad)
        }),
        Yaml::Array(items) => {
            (items.iter().enumerate()).find_map(|(i, item)| first_real(item, &entry_at(at, i), bad))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::is_too_big;

    #[test]
    fn only_whole_numbers_beyond_i64_are_too_big() {
        assert!(is_too_big("9223372036854775808"));
        assert!(is_too_big("-99999999999999999999"));
        assert!(!is_too_big("9223372036854775807"));
        assert!(!is_too_big("1.5e30"));
        assert!(!is_too_big("12abc"));
        assert!(!is_too_big(""));
    }

    #[test]
    fn yaml_s_nan_and_infinities_are_not_finite() {
        use super::is_not_finite;
        for bad in [".nan", ".NaN", ".inf", "-.inf", "+.Inf"] {
            assert!(is_not_finite(bad), "{bad}");
        }
        assert!(!is_not_finite("0.5"));
        assert!(!is_not_finite("1e300"));
    }
}
