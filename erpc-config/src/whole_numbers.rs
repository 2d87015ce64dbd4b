//! Whole numbers too big for the loader, refused with their key and the value as written.
//! The YAML reader keeps an integer beyond i64 as a float, and the `config` crate then casts
//! it to the key's integer type, saturating: `max_in_flight: 99999999999999999999999` would
//! load as 18446744073709551615 with no word. Such a number is found in the text (and in the
//! environment's values) before the settings are read.

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
            if let Some((key, value)) = too_big(doc, "") {
                return Err(ConfigError::Key {
                    file: Some(path.to_owned()),
                    line: line_of(text, &key),
                    env: None,
                    reason: reason(&value),
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

/// A digits-only literal (optionally signed) that does not fit in an i64.
fn is_too_big(literal: &str) -> bool {
    let digits = literal.strip_prefix(['+', '-']).unwrap_or(literal);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && literal.parse::<i64>().is_err()
}

/// The key (dotted from `at`) and literal of the first too-big whole number under `node`.
fn too_big(node: &Yaml, at: &str) -> Option<(String, String)> {
    match node {
        // The reader keeps a number it could not hold as an integer as a "real", as written.
        Yaml::Real(literal) if is_too_big(literal) => Some((at.to_owned(), literal.clone())),
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
            too_big(value, &key)
        }),
        Yaml::Array(items) => {
            (items.iter().enumerate()).find_map(|(i, item)| too_big(item, &entry_at(at, i)))
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
}
