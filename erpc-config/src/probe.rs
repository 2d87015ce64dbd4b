//! Asking the settings types what a key takes: a node of the loaded tree is replaced by a
//! probe value and the settings read again; the reason they are refused at that very key
//! (or that they are not) says what the key wants. Used where the `config` crate's reading
//! would silently accept a shape the key does not take: a list read as a struct's fields
//! (`lists.rs`), a boolean read as a number (`flags.rs`). Only on the load path, once per
//! such node in the file.

use std::path::Path;

use config::{Value, ValueKind};

use crate::Settings;
use crate::error::{self, ConfigError, entry_at, key_at};

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

/// Every node of `root` that `wanted` picks, the lists' entries too, sorted by key (so
/// that the same file always gives the same first error).
pub(crate) fn nodes(root: &Value, wanted: impl Fn(&Value) -> bool) -> Vec<Found> {
    let mut found = Vec::new();
    collect_where(root, &mut Vec::new(), &mut found, &wanted);
    found.sort_by(|a, b| a.key.cmp(&b.key));
    found
}

/// Every node of `value` (at `at`) that `wanted` picks, outermost first.
fn collect_where(
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
pub(crate) fn plain(key: &str) -> String {
    key.replace(['"', '.'], "")
}

/// The settings read with `kind` in place of the node at `found`: the reason they are
/// refused at that very key, if they are (`None`: read, or refused elsewhere).
pub(crate) fn refusal(
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

/// The node at dotted `key` (mappings only) of `root`, if there.
pub(crate) fn node_at_key<'a>(root: &'a mut Value, key: &str) -> Option<&'a mut Value> {
    let path: Vec<Part> = key.split('.').map(|p| Part::Name(p.to_owned())).collect();
    node_at(root, &path)
}
