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
use crate::error::{self, ConfigError, entry_at, key_at};

/// The reason given for a list where a mapping goes.
const NOT_A_LIST: &str = "expected a mapping of keys, found a list";

/// Where a node is in the settings tree: the parts of its path, and its dotted key.
pub(crate) struct Found {
    pub path: Vec<Part>,
    pub key: String,
}

#[derive(Clone)]
pub(crate) enum Part {
    Name(String),
    Index(usize),
}

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
        Err(ConfigError::Key { key, .. }) if key.contains('[') => Some(plain(key)),
        Err(_) => return None,
    };
    let mut lists = Vec::new();
    collect(root, &mut Vec::new(), &mut lists);
    lists.sort_by(|a, b| a.key.cmp(&b.key));
    lists
        .into_iter()
        .filter(|list| {
            failed_in
                .as_deref()
                .is_none_or(|at| at.starts_with(&format!("{}[", plain(&list.key))))
        })
        .find(|list| !takes_a_list(root, list, path, text))
        .map(|list| (list.key, NOT_A_LIST.to_owned()))
}

/// Every list in `value` (at `at`), outermost first, the lists inside each list too.
fn collect(value: &Value, at: &mut Vec<Part>, out: &mut Vec<Found>) {
    collect_where(value, at, out, &|v| matches!(v.kind, ValueKind::Array(_)));
}

/// Every node of `value` (at `at`) that `wanted` picks, outermost first.
pub(crate) fn collect_where(
    value: &Value,
    at: &mut Vec<Part>,
    out: &mut Vec<Found>,
    wanted: &dyn Fn(&Value) -> bool,
) {
    if wanted(value) {
        out.push(Found {
            path: at.clone(),
            key: render(at),
        });
    }
    match &value.kind {
        ValueKind::Table(table) => {
            for (name, child) in table {
                at.push(Part::Name(name.clone()));
                collect_where(child, at, out, wanted);
                at.pop();
            }
        }
        ValueKind::Array(entries) => {
            for (index, child) in entries.iter().enumerate() {
                at.push(Part::Index(index));
                collect_where(child, at, out, wanted);
                at.pop();
            }
        }
        _ => {}
    }
}

/// The dotted key of `path`, written as errors write keys.
fn render(path: &[Part]) -> String {
    let mut key = String::new();
    for part in path {
        key = match part {
            Part::Name(name) if key.is_empty() => name.clone(),
            Part::Name(name) => key_at(&key, name),
            Part::Index(index) => entry_at(&key, *index),
        };
    }
    key
}

/// A key with neither quotes nor dots, to compare keys however their parts were quoted.
fn plain(key: &str) -> String {
    key.replace(['"', '.'], "")
}

/// Whether the key of `list` takes a list: with an empty mapping in its place, the settings
/// are refused at that key for not being a sequence.
fn takes_a_list(root: &Value, list: &Found, path: &Path, text: &str) -> bool {
    probe(root, list, ValueKind::Table(Default::default()), path, text)
        .is_some_and(|reason| reason.contains("expected a sequence"))
}

/// The settings read with `kind` in place of the node at `found`: the reason they are
/// refused at that very key, if they are (`None`: read, or refused elsewhere).
pub(crate) fn probe(
    root: &Value,
    found: &Found,
    kind: ValueKind,
    path: &Path,
    text: &str,
) -> Option<String> {
    let mut probe = root.clone();
    node_at(&mut probe, &found.path)?.kind = kind;
    match probe.try_deserialize::<Settings>() {
        Ok(_) => None,
        Err(e) => match error::from_config(e, Some((path, text))) {
            ConfigError::Key { key, reason, .. } if plain(&key) == plain(&found.key) => {
                Some(reason)
            }
            _ => None,
        },
    }
}

fn node_at<'a>(mut value: &'a mut Value, path: &[Part]) -> Option<&'a mut Value> {
    for part in path {
        value = match (&mut value.kind, part) {
            (ValueKind::Table(table), Part::Name(name)) => table.get_mut(name)?,
            (ValueKind::Array(entries), Part::Index(index)) => entries.get_mut(*index)?,
            _ => return None,
        };
    }
    Some(value)
}
