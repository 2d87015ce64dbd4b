//! A list only where a list goes. serde's derived structs read a sequence as their fields
//! in order, so without this check `max_in_flight: [3]` would load as `{limit: 3}`,
//! `trip: [1]` as `{consecutive: 1}`, and `rate_limit: [1, 2]` would be refused at
//! `rate_limit[0]` as if a list were right there and its first entry wrong.
//!
//! Which keys take a list is asked of the settings types themselves, not kept in a table
//! here: the list is replaced by an empty mapping and the settings read again — a key that
//! takes a list refuses the mapping with "expected a sequence" at that key; any other
//! outcome means the key takes a mapping (a single value refuses a list on its own).

use std::path::Path;

use config::{Value, ValueKind};

use crate::Settings;
use crate::error::ConfigError;
use crate::probe::{self, Found};

/// The reason given for a list where a mapping goes.
const NOT_A_LIST: &str = "expected a mapping of keys, found a list";

/// After `root` was read as settings: the first list (by key) at a key that takes a
/// mapping, as (key, reason) — `read` was `Ok`, or failed inside such a list (at
/// `key[0]...`, which then names the wrong place). `None` if every list is where one goes,
/// or `read` failed elsewhere. `path` and `text` are the file's, for the keys' spelling.
pub(crate) fn misplaced(
    root: &Value,
    read: &Result<Settings, ConfigError>,
    path: &Path,
    text: &str,
) -> Option<(String, String)> {
    let failed_in = match read {
        Ok(_) => None,
        Err(ConfigError::Key { key, .. }) if key.contains('[') => Some(probe::plain(key)),
        Err(_) => return None,
    };
    probe::nodes(root, |v| matches!(v.kind, ValueKind::Array(_)))
        .into_iter()
        .filter(|list| {
            failed_in
                .as_deref()
                .is_none_or(|at| at.starts_with(&format!("{}[", probe::plain(&list.key))))
        })
        .find(|list| !takes_a_list(root, list, path, text))
        .map(|list| (list.key, NOT_A_LIST.to_owned()))
}

/// Whether the key of `list` takes a list: with an empty mapping in its place, the settings
/// are refused at that key for not being a sequence.
fn takes_a_list(root: &Value, list: &Found, path: &Path, text: &str) -> bool {
    probe::refusal(root, list, ValueKind::Table(Default::default()), path, text)
        .is_some_and(|reason| reason.contains("expected a sequence"))
}
