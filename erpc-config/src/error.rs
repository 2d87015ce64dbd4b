//! Configuration errors that say where: the key, the file and the line, and what was
//! expected.

use std::path::{Path, PathBuf};

/// Why settings could not be loaded. Its `Debug` is its message, so that `main` returning
/// `Result<_, Box<dyn Error>>` (or `ConfigError`) prints `Error: erpc.yaml:3: server.…`
/// rather than the variant's fields.
#[derive(thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or is not YAML.
    #[error("{file}: {reason}")]
    File {
        /// The file.
        file: PathBuf,
        /// What went wrong (the parser's words, with its line and column).
        reason: String,
    },
    /// A key is unknown or its value is wrong: `FILE:LINE: KEY: REASON`, or
    /// `environment: ERPC_VAR: KEY: REASON` for a value from the environment, or
    /// `KEY: REASON` when neither is known (settings made in code).
    #[error("{}{key}: {reason}", where_from(.file.as_deref(), *.line, .env.as_deref()))]
    Key {
        /// The file the value came from (or, for an error in a file the settings name — a
        /// tokens file's bad line — that file); `None` when it came from the environment or
        /// is not known.
        file: Option<PathBuf>,
        /// Its line in the file (1-based), when it could be found.
        line: Option<usize>,
        /// The environment variable the value came from (`ERPC_SERVER__MAX_IN_FLIGHT`), if it
        /// came from the environment.
        env: Option<String>,
        /// The key, dotted from the top (`server.heartbeat.interval`).
        key: String,
        /// What is wrong and what was expected.
        reason: String,
    },
    /// An environment variable that looks like a setting but is not one the loader reads
    /// (`ERPC_CLIENT_TIMEOUT`, one underscore; `ERPC_SERVR__…`, no such section;
    /// `erpc_server__…`, not in capitals): `environment: VAR: not a setting: …`, saying the
    /// form it should have.
    #[error("environment: {var}: {reason}")]
    Variable {
        /// The variable, as it is named in the environment.
        var: String,
        /// Why it is not read, and what it should look like.
        reason: String,
    },
}

impl std::fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Where an error's value came from, as its message begins.
fn where_from(file: Option<&Path>, line: Option<usize>, env: Option<&str>) -> String {
    match (file, line, env) {
        (_, _, Some(var)) => format!("environment: {var}: "),
        (Some(file), Some(line), None) => format!("{}:{line}: ", file.display()),
        (Some(file), None, None) => format!("{}: ", file.display()),
        (None, _, None) => String::new(),
    }
}

/// The one way error keys are written: `parent.name`, a name with dots quoted
/// (`methods."Bank.transfer"`), a list entry `parent[0]`.
pub(crate) fn key_at(parent: &str, name: &str) -> String {
    if name.contains('.') {
        format!("{parent}.\"{name}\"")
    } else {
        format!("{parent}.{name}")
    }
}

/// A list entry's key: `parent[index]`.
pub(crate) fn entry_at(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// What every settings variable's name begins with.
pub(crate) const ENV_PREFIX: &str = "ERPC_";
/// What separates the levels of a key in a variable's name.
pub(crate) const ENV_SEPARATOR: &str = "__";

/// The environment variable that sets dotted `key` (`server.max_in_flight` →
/// `ERPC_SERVER__MAX_IN_FLIGHT`; a list entry is set by its list's variable). The inverse
/// of [`env_key`].
pub(crate) fn env_var(key: &str) -> String {
    let parts: Vec<String> = key_parts(key)
        .into_iter()
        .filter(|p| !p.starts_with('['))
        .map(str::to_uppercase)
        .collect();
    format!("{ENV_PREFIX}{}", parts.join(ENV_SEPARATOR))
}

/// The dotted key, lower case as the `config` crate reads it, that variable `var` sets
/// (`ERPC_SERVER__MAX_IN_FLIGHT` → `server.max_in_flight`); `None` for a variable without
/// the `ERPC_` prefix. The inverse of [`env_var`].
pub(crate) fn env_key(var: &str) -> Option<String> {
    let path = var.strip_prefix(ENV_PREFIX)?;
    Some(path.to_lowercase().replace(ENV_SEPARATOR, "."))
}

/// The variable of `env` that set `key` (or a map or list above it), if one did.
pub(crate) fn env_source<'a>(
    env: Option<&'a std::collections::HashMap<String, String>>,
    key: &str,
) -> Option<&'a str> {
    let var = env_var(key);
    env?.keys()
        .filter(|v| var == **v || var.starts_with(&format!("{v}__")))
        .map(String::as_str)
        .next()
}

/// An error in the value of environment variable `var`, which set `key`.
pub(crate) fn in_variable(var: &str, key: String, reason: String) -> ConfigError {
    ConfigError::Key {
        file: None,
        line: None,
        env: Some(var.to_owned()),
        key,
        reason,
    }
}

/// `error` blamed on the variable of `env` that set its key, if one did (the environment
/// wins over the file, so the value in error is the variable's). A variable given where a
/// list of mappings is expected gets the way lists are set. A key missing from a mapping
/// that a variable made (`ERPC_CLIENT__RATE_LIMIT__DEFAULT__BURST=5` without a `rate`, in a
/// file `text` that does not give the mapping) is blamed on that variable too, not on a
/// line of the file.
pub(crate) fn blamed_on_env(
    error: ConfigError,
    env: Option<&std::collections::HashMap<String, String>>,
    text: &str,
) -> ConfigError {
    match error {
        ConfigError::Key {
            env: None,
            key,
            reason,
            ..
        } if reason.starts_with("missing")
            && env_source(env, &key).is_none()
            && made_by(env, &key, text).is_some() =>
        {
            let (var, parent) = made_by(env, &key, text).unwrap_or_default();
            let reason = format!(
                "{reason}; this variable made {parent}, which needs it too (set it in the file \
                 or with {})",
                env_var(&key)
            );
            in_variable(&var, key, reason)
        }
        ConfigError::Key {
            env: None,
            key,
            reason,
            file,
            line,
        } => match env_source(env, &key) {
            Some(var) => {
                let reason = if reason.contains("expected a sequence") {
                    format!(
                        "{reason}; a list of plain values is one variable with its entries \
                         separated by commas (ERPC_SERVER__LISTEN=tcp://0.0.0.0:7001,tcp://[::]:7001), \
                         a list of mappings can only be set in the file"
                    )
                } else {
                    reason
                };
                in_variable(var, key, reason)
            }
            None => ConfigError::Key {
                file,
                line,
                env: None,
                key,
                reason,
            },
        },
        other => other,
    }
}

/// The variable of `env` that set a sibling of `key` (or a key below one) — so made the
/// mapping `key` is missing from — when the file's `text` does not give that mapping: the
/// variable (the first by name) and the mapping's key.
fn made_by(
    env: Option<&std::collections::HashMap<String, String>>,
    key: &str,
    text: &str,
) -> Option<(String, String)> {
    let (parent, _) = key.rsplit_once('.')?;
    if in_yaml(text, parent) {
        return None;
    }
    let below = format!("{}{ENV_SEPARATOR}", env_var(parent));
    let mut vars: Vec<&String> = env?.keys().filter(|v| v.starts_with(&below)).collect();
    vars.sort();
    vars.first().map(|v| ((*v).clone(), parent.to_owned()))
}

impl From<(String, String)> for ConfigError {
    /// A (dotted key, reason) found after loading: no file or line (nor, for a reason
    /// comparing two keys, where their values came from).
    fn from((key, reason): (String, String)) -> Self {
        ConfigError::Key {
            file: None,
            line: None,
            env: None,
            key,
            reason: resolve_marks(&reason, |_| String::new()),
        }
    }
}

/// The 1-based line of `key` (dotted) in block-style YAML `text`: each part is looked for
/// below its parent, indented deeper. `None` if a part is not found (a flow-style mapping,
/// or a key that came from the environment).
pub(crate) fn line_of(text: &str, key: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0;
    let mut parent_indent: Option<usize> = None;
    let mut found = None;
    // Inside a list entry: the indent of its `- `; the next `- ` there ends it.
    let mut item: Option<usize> = None;
    let parts = key_parts(key);
    for (at_part, &part) in parts.iter().enumerate() {
        // A list index (`targets.0`) names no line of its own.
        if part.parse::<usize>().is_ok() {
            continue;
        }
        if let Some(index) = part.strip_prefix('[').and_then(|p| p.strip_suffix(']')) {
            let index: usize = index.parse().ok()?;
            let Some((i, indent)) = nth_item(&lines, from, parent_indent, index) else {
                // A flow-style list (`default: [{name: x}]`): the entry is on the list's line.
                let list: &str = lines.get(found? - 1).copied()?;
                return list.contains('[').then_some(found?);
            };
            found = Some(i + 1);
            // The entry's first key is on its `- ` line.
            from = i;
            parent_indent = Some(indent);
            item = Some(indent);
            continue;
        }
        let mut hit = None;
        for (i, line) in lines.iter().enumerate().skip(from) {
            let trimmed = line.trim_start();
            let indent = line.len() - trimmed.len();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if let Some(parent) = parent_indent {
                // Left the parent's block.
                if indent <= parent && !trimmed.starts_with("- ") {
                    break;
                }
            }
            // Reached the next entry of the list the key is in.
            if item == Some(indent) && trimmed.starts_with("- ") && Some(i + 1) != found {
                break;
            }
            let trimmed = trimmed.trim_start_matches("- ");
            // A key with dots (`"Bank.transfer"`) is written quoted or not.
            let names_it = [part.to_owned(), format!("\"{part}\""), format!("'{part}'")]
                .iter()
                .any(|p| {
                    trimmed
                        .strip_prefix(p.as_str())
                        .is_some_and(|rest| rest.trim_start().starts_with(':'))
                });
            if names_it {
                hit = Some((i, indent));
                break;
            }
        }
        let Some((i, indent)) = hit else {
            // A flow-style mapping (`trip: {error_rate: 1.5}`): the key is on its parent's
            // line, or on a line of the parent's block (`rate_limit:` then `{default: …}`
            // below it, as a live value is nested).
            // Every part left must be there, in order (a key below one that is not there is
            // not there either); the line is the first one's.
            let parent_line = found? - 1;
            let block: Vec<&str> = (lines.iter().enumerate().skip(parent_line))
                .take_while(|(i, line)| {
                    let trimmed = line.trim_start();
                    *i == parent_line
                        || trimmed.is_empty()
                        || parent_indent.is_none_or(|p| line.len() - trimmed.len() > p)
                })
                .map(|(_, line)| *line)
                .collect();
            let block = block.join("\n");
            let mut first = None;
            let mut rest = 0;
            for part in parts[at_part..].iter().filter(|p| !p.starts_with('[')) {
                let (start, end) = flow_key(&block[rest..], part)?;
                first.get_or_insert(rest + start);
                rest += end;
            }
            let first = first?;
            return Some(parent_line + block[..first].matches('\n').count() + 1);
        };
        found = Some(i + 1);
        from = i + 1;
        parent_indent = Some(indent);
        item = None;
    }
    found
}

/// Where `part` is first written as a key in flow-style `text` (`{part: …`, `"part": …`,
/// `, 'part':`): its start and the end of its `:`. A key is preceded by the start, a space,
/// `{` or `,`, so `rate:` is not found in `max_rate:`.
fn flow_key(text: &str, part: &str) -> Option<(usize, usize)> {
    [part.to_owned(), format!("\"{part}\""), format!("'{part}'")]
        .iter()
        .filter_map(|form| {
            text.match_indices(form.as_str()).find_map(|(start, _)| {
                let before = text[..start].chars().next_back();
                let after = text[start + form.len()..].trim_start();
                let colon = text.len() - after.len();
                (before.is_none_or(|c| c.is_whitespace() || c == '{' || c == ',')
                    && after.starts_with(':'))
                .then_some((start, colon + 1))
            })
        })
        .min()
}

/// The line (0-based) and indent of the `index`th `- ` entry from line `from` on, deeper
/// than `parent`.
fn nth_item(
    lines: &[&str],
    from: usize,
    parent: Option<usize>,
    index: usize,
) -> Option<(usize, usize)> {
    let mut seen = 0;
    for (i, line) in lines.iter().enumerate().skip(from) {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if parent.is_some_and(|p| indent <= p) && !trimmed.starts_with("- ") {
            return None;
        }
        if trimmed.starts_with("- ") {
            if seen == index {
                return Some((i, indent));
            }
            seen += 1;
        }
    }
    None
}

/// The parts of a dotted key; a part in double quotes (`methods."Bank.transfer"`) keeps its
/// dots; a list index (`keys[0]`) is a part of its own, `[0]`.
fn key_parts(key: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = key;
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            parts.push(&quoted[..end]);
            rest = quoted.get(end + 1..).unwrap_or("");
        } else if rest.starts_with('[') {
            let end = rest.find(']').map_or(rest.len(), |e| e + 1);
            parts.push(&rest[..end]);
            rest = &rest[end..];
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            parts.push(&rest[..end]);
            rest = &rest[end..];
        }
        rest = rest.strip_prefix('.').unwrap_or(rest);
    }
    parts
}

/// A key as the `config` crate writes it (`methods.Bank.transfer.rate`, `keys[0]alg`) in
/// the one form ([`key_at`]): a list entry's field after a dot, and a name with dots that
/// `text` has as one key quoted (`methods."Bank.transfer".rate`).
pub(crate) fn normalized(key: &str, text: Option<&str>) -> String {
    // `keys[0]alg` → `keys[0].alg`.
    let mut dotted = String::with_capacity(key.len() + 4);
    let mut chars = key.chars().peekable();
    while let Some(c) = chars.next() {
        dotted.push(c);
        if c == ']' && chars.peek().is_some_and(|n| *n != '.' && *n != '[') {
            dotted.push('.');
        }
    }
    let Some(text) = text else {
        return dotted;
    };
    if dotted.contains('"') {
        return dotted;
    }
    // Rebuild it part by part; where several dotted parts together are one key of the file
    // below the parts before them, they are that key, quoted.
    let parts = key_parts(&dotted);
    let mut out = String::new();
    let mut i = 0;
    while i < parts.len() {
        let join = |n: usize| parts[i..i + n].join(".");
        let parent = out.clone();
        let at = |name: &str| {
            if parent.is_empty() {
                name.to_owned()
            } else if name.starts_with('[') {
                format!("{parent}{name}")
            } else {
                key_at(&parent, name)
            }
        };
        let longest = (2..=parts.len() - i).rev().find(|n| {
            !parts[i..i + n].iter().any(|p| p.starts_with('['))
                && line_of(text, &at(&join(*n))).is_some()
        });
        let n = longest.unwrap_or(1);
        out = at(&join(n));
        i += n;
    }
    out
}

/// A `config` crate error as a [`ConfigError`], located in `file` (whose text is `text`).
pub(crate) fn from_config(error: config::ConfigError, file: Option<(&Path, &str)>) -> ConfigError {
    use config::ConfigError as E;
    match error {
        E::FileParse { uri, cause } => {
            let path = uri
                .map(PathBuf::from)
                .or_else(|| file.map(|(p, _)| p.to_owned()))
                .unwrap_or_default();
            not_yaml(&path, file.map_or("", |(_, text)| text), cause.to_string())
        }
        // A key without a default that the file does not give (serde's "missing field" for
        // a struct is a `Message`; this is the `config` crate's own word for it).
        E::NotFound(what) => missing(&what, file),
        E::Type {
            origin,
            unexpected,
            expected,
            key,
        } => located(
            key.unwrap_or_default(),
            type_reason(&unexpected.to_string(), expected),
            origin,
            file,
        ),
        E::At { error, origin, key } => {
            let inner = from_config(*error, file);
            let (reason, inner_key) = match inner {
                ConfigError::Key { reason, key, .. } => (reason, key),
                ConfigError::File { reason, .. } | ConfigError::Variable { reason, .. } => {
                    (reason, String::new())
                }
            };
            let key = match (key, inner_key.is_empty()) {
                (Some(k), true) => k,
                (Some(k), false) if !inner_key.starts_with(&k) => format!("{k}.{inner_key}"),
                (_, _) => inner_key,
            };
            located(key, reason, origin, file)
        }
        E::Message(message) => {
            let message = with_variants(message);
            let message = without_type_names(message);
            // serde's own messages: "unknown field `x`, expected one of ..." name the field
            // but not its parent; the `At` wrapper above adds the path when it knows it.
            let key = message
                .split('`')
                .nth(1)
                .filter(|_| {
                    message.starts_with("unknown field") || message.starts_with("missing field")
                })
                .unwrap_or_default()
                .to_owned();
            located(key, message, None, file)
        }
        other => ConfigError::Key {
            file: file.map(|(p, _)| p.to_owned()),
            line: None,
            env: None,
            key: String::new(),
            reason: other.to_string(),
        },
    }
}

/// A value of the wrong type, in words: a whole number's bounds said as numbers (not "an
/// unsigned 32 bit integer"), a number with a fraction where a whole number goes refused as
/// such (the `config` crate would round it; `crate::parse` hands it on as text so that it
/// is refused here), the value as written. `unexpected` is the `config` crate's words for
/// the value found (`64-bit unsigned integer `9`` , `string "2048.7"`).
fn type_reason(unexpected: &str, expected: &str) -> String {
    // The value itself: between backquotes, or the quoted text.
    let text = unexpected
        .split_once(" `")
        .map(|(_, v)| v.trim_end_matches('`').to_owned())
        .or_else(|| {
            unexpected
                .strip_prefix("string ")
                .and_then(|q| q.strip_prefix('"'))
                .and_then(|q| q.strip_suffix('"'))
                .map(|q| q.trim().to_owned())
        });
    let quoted = unexpected.starts_with("string ");
    let found = match (text.as_deref(), unexpected) {
        (Some(t), _) if quoted => format!("{t:?}"),
        (Some(t), _) => t.to_owned(),
        (None, "unit value") => "null".into(),
        (None, "sequence") => "a list".into(),
        (None, "map") => "a mapping".into(),
        (None, other) => other.to_owned(),
    };
    let bits = |signed: &str| {
        expected
            .strip_prefix(signed)
            .and_then(|rest| rest.strip_suffix(" bit integer"))
            .and_then(|b| b.parse::<u32>().ok())
    };
    if let Some(bits) = bits("an unsigned ") {
        let max = u64::MAX >> (64 - bits.clamp(1, 64));
        return format!("expected a whole number of 0 to {max}, found {found}");
    }
    if let Some(bits) = bits("an signed ") {
        let max = i64::MAX >> (64 - bits.clamp(1, 64));
        return format!(
            "expected a whole number of {} to {max}, found {found}",
            -i128::from(max) - 1
        );
    }
    if expected.starts_with("an unsigned ") {
        // u64, usize: a negative number.
        return format!("expected a whole number of 0 or more, found {found}");
    }
    let number = text
        .as_deref()
        .filter(|_| quoted)
        .and_then(|t| t.parse::<f64>().ok().map(|n| (t, n)));
    let whole = expected.contains("integer");
    // A number with spaces around it (`ERPC_SERVER__MAX_IN_FLIGHT=" 12"`) is text, not a
    // number: say so, not that 12 is out of range.
    let spaced = unexpected
        .strip_prefix("string \"")
        .and_then(|q| q.strip_suffix('"'))
        .filter(|q| q.trim() != *q);
    if let (Some(raw), Some(_), true) = (spaced, number, whole) {
        return format!(
            "expected a whole number, found {raw:?}: remove the spaces around the number"
        );
    }
    match number {
        Some((t, n)) if whole && n.is_finite() && n.fract() != 0.0 => {
            format!("expected a whole number, found {t}: a fraction is refused, not rounded")
        }
        Some((t, n)) if whole && n.is_finite() => {
            format!("{t} is out of range for a whole number here")
        }
        Some((t, _)) if whole => format!("expected a whole number, found {t}"),
        _ if expected == "a floating point" => format!("expected a number, found {found}"),
        _ => format!("expected {expected}, found {found}"),
    }
}

/// serde's "invalid type: X, expected Y" in the words of the other messages: "expected Y,
/// found X", the value as written, and a mapping of keys for "struct Name" (the name of a
/// Rust type is nothing to a reader of the file).
fn without_type_names(message: String) -> String {
    let Some((found, expected)) = message
        .strip_prefix("invalid type: ")
        .and_then(|rest| rest.split_once(", expected "))
    else {
        return message;
    };
    let struct_name = expected
        .strip_prefix("struct variant ")
        .or_else(|| expected.strip_prefix("struct "));
    let expected = match struct_name {
        Some(name) if !name.contains(' ') => "a mapping of keys",
        _ => expected,
    };
    let found = match found {
        "unit value" => "null".to_owned(),
        "sequence" => "a list".to_owned(),
        "map" => "a mapping".to_owned(),
        other => other.split_once(" `").map_or(other.to_owned(), |(_, v)| {
            v.trim_end_matches('`').to_owned()
        }),
    };
    format!("expected {expected}, found {found}")
}

/// Why `text` (the file at `path`) is not YAML, from the parser's `reason`: a key given
/// twice in one mapping is named by its dotted path at its line ("given twice"), instead of
/// the parser's `String("max_in_flight"): duplicated key in mapping at byte 45 line 3 column
/// 18`; any other reason is the file's.
pub(crate) fn not_yaml(path: &Path, text: &str, reason: String) -> ConfigError {
    let duplicate = reason
        .split_once(": duplicated key in mapping at ")
        .and_then(|(name, at)| {
            let line: usize = at.split(" line ").nth(1)?.split(' ').next()?.parse().ok()?;
            // The parser writes the key in its Debug form: `String("x")`, `Integer(3)`.
            let name = name
                .strip_prefix("String(\"")
                .and_then(|n| n.strip_suffix("\")"))
                .map_or(name.to_owned(), |n| n.replace("\\\"", "\""));
            Some((name, line))
        });
    let Some((name, line)) = duplicate else {
        return ConfigError::File {
            file: path.to_owned(),
            reason: tab_placed(text, reason),
        };
    };
    ConfigError::Key {
        file: Some(path.to_owned()),
        line: Some(line),
        env: None,
        key: path_at(text, line, &name),
        reason: "given twice in the same mapping: a key may be given once (keep one)".into(),
    }
}

/// The parser's "found a tab" `reason` (`while scanning a plain scalar, found a tab at byte
/// 19 line 2 column 12`) with the tab's own place: the parser marks where the scalar before
/// it ended, often the line above. Any other reason is returned as it is.
fn tab_placed(text: &str, reason: String) -> String {
    let placed = reason.split_once(" at byte ").and_then(|(what, at)| {
        let index: usize = at.split(' ').next()?.parse().ok()?;
        let (line, column) = tab_after(text, index)?;
        Some(format!(
            "{what} at line {line} column {column}: YAML indents with spaces, never tabs"
        ))
    });
    match placed {
        Some(placed) if reason.contains("found a tab") => placed,
        _ => reason,
    }
}

/// The 1-based line and column of the first tab in `text` at or after character `from` (a
/// YAML parser's mark, counted in characters).
pub(crate) fn tab_after(text: &str, from: usize) -> Option<(usize, usize)> {
    let (at, _) = text.char_indices().skip(from).find(|(_, c)| *c == '\t')?;
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |n| n + 1);
    Some((line, before[line_start..].chars().count() + 1))
}

/// The dotted key of `name`, found at 1-based `line` of block-style YAML `text`: the keys
/// of the lines above it indented less, outermost first, then `name` (a flow mapping on
/// the line, `server: {a: 1, a: 2}`, adds the line's own key).
fn path_at(text: &str, line: usize, name: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let key_of = |l: &str| -> Option<(usize, String)> {
        let trimmed = l.trim_start();
        let indent = l.len() - trimmed.len();
        let trimmed = trimmed.trim_start_matches("- ");
        if trimmed.is_empty() || trimmed.starts_with('#') {
            return None;
        }
        let (key, _) = trimmed.split_once(':')?;
        let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
        Some((indent, key.to_owned()))
    };
    let mut parents = Vec::new();
    let Some(here) = line.checked_sub(1).and_then(|i| lines.get(i)) else {
        return name.to_owned();
    };
    let mut indent = here.len() - here.trim_start().len();
    if let Some((_, own)) = key_of(here).filter(|(_, own)| own != name) {
        parents.push(own);
    }
    for l in lines[..line - 1].iter().rev() {
        if indent == 0 {
            break;
        }
        if let Some((i, key)) = key_of(l).filter(|(i, _)| *i < indent) {
            parents.push(key);
            indent = i;
        }
    }
    let mut key = String::new();
    for part in parents.iter().rev().map(String::as_str).chain([name]) {
        key = if key.is_empty() {
            part.to_owned()
        } else {
            key_at(&key, part)
        };
    }
    key
}

/// The enums' variants a file writes as a one-key mapping (`failover: {retries: 2}`): the
/// `config` crate leaves them out of a missing key's path.
const MAPPING_VARIANTS: [&str; 6] = [
    "failover",
    "failtry",
    "failbackup",
    "consistent_hash",
    "network_quality",
    "nearest",
];

/// What each required key (one without a default) expects, by the end of its path (list
/// indexes left out), the most specific first.
const REQUIRED: [(&str, &str); 19] = [
    (
        "retries",
        "a number of retries after the first attempt, 1 to 10, e.g. 2",
    ),
    ("failbackup.delay", "a duration (20ms) or p95"),
    ("rate", "calls per second, e.g. 100"),
    (
        "max_in_flight.limit",
        "the calls in flight at most, at least 1, e.g. 64",
    ),
    ("tls.ca", "the CA's PEM file, e.g. /etc/erpc/ca.pem"),
    (
        "tls.cert",
        "a PEM certificate chain file, e.g. /etc/erpc/server.pem",
    ),
    (
        "tls.key",
        "its PEM private key file, e.g. /etc/erpc/server.key",
    ),
    ("discovery.service", "the service's name, e.g. Kv"),
    (
        "registration.centers",
        "the centers' addresses, e.g. [tcp://center:7070]",
    ),
    ("workers.workers", "the number of workers, e.g. 64"),
    (
        "files.directory",
        "the directory the log files go to, e.g. /var/log/erpc",
    ),
    (
        "bearer.file",
        "the tokens file (lines TOKEN SUBJECT [ROLES]), e.g. /etc/erpc/tokens",
    ),
    (
        "jwt.keys",
        "a list of keys, e.g. [{alg: hs256, file: /etc/erpc/jwt.key}]",
    ),
    ("keys.alg", "hs256, rs256 or es256"),
    ("keys.file", "the key's file, e.g. /etc/erpc/jwt.key"),
    ("acl.default", "allow or deny"),
    ("name", "the rule's name, e.g. ops"),
    ("effect", "allow or deny"),
    (
        "token_file",
        "the file holding the token, e.g. /etc/erpc/token",
    ),
];

/// A required key missing from `file`: its full path (with the enum variant the `config`
/// crate leaves out: `client.fail_mode.default.failover.retries`), the line of the nearest
/// key above it that the file gives, and what it expects.
fn missing(what: &str, file: Option<(&Path, &str)>) -> ConfigError {
    let text = file.map(|(_, text)| text);
    let key = normalized(what, text);
    let key = text.map_or(key.clone(), |t| with_variant(t, &key));
    let plain: String = key_parts(&key)
        .iter()
        .filter(|p| !p.starts_with('['))
        .copied()
        .collect::<Vec<_>>()
        .join(".");
    let expected = REQUIRED
        .iter()
        .find(|(end, _)| plain == *end || plain.ends_with(&format!(".{end}")))
        .map_or(String::new(), |(_, e)| format!(" ({e})"));
    // The key is not in the file: its line is that of the nearest key above it that is.
    let parts = key_parts(&key);
    let line = text.and_then(|t| {
        (1..parts.len()).rev().find_map(|n| {
            let above = parts[..n].iter().fold(String::new(), |k, p| {
                if k.is_empty() {
                    (*p).to_owned()
                } else if p.starts_with('[') {
                    format!("{k}{p}")
                } else {
                    key_at(&k, p)
                }
            });
            line_of(t, &above)
        })
    });
    ConfigError::Key {
        file: file.map(|(p, _)| p.to_owned()),
        line,
        env: None,
        key,
        reason: format!("missing: this key is required{expected}"),
    }
}

/// `key` with the one-key variant mapping (`failover:`) that `text` has on its way and the
/// `config` crate's path leaves out put back.
fn with_variant(text: &str, key: &str) -> String {
    let Some(doc) = yaml_rust2::YamlLoader::load_from_str(text)
        .ok()
        .and_then(|docs| docs.into_iter().next())
    else {
        return key.to_owned();
    };
    let mut node = &doc;
    let mut out: Vec<String> = Vec::new();
    for part in key_parts(key) {
        if let Some(index) = part
            .strip_prefix('[')
            .and_then(|p| p.strip_suffix(']'))
            .and_then(|p| p.parse::<usize>().ok())
        {
            node = &node[index];
            out.push(part.to_owned());
            continue;
        }
        let named = yaml_rust2::Yaml::String(part.to_owned());
        if let yaml_rust2::Yaml::Hash(map) = node {
            if !map.contains_key(&named) && map.len() == 1 {
                if let Some((yaml_rust2::Yaml::String(variant), inner)) = map.iter().next() {
                    if MAPPING_VARIANTS.contains(&variant.as_str()) {
                        out.push(variant.clone());
                        node = inner;
                    }
                }
            }
        }
        node = &node[part];
        out.push(part.to_owned());
    }
    let mut joined = String::new();
    for part in &out {
        joined = if joined.is_empty() {
            part.clone()
        } else if part.starts_with('[') {
            format!("{joined}{part}")
        } else {
            key_at(&joined, part)
        };
    }
    joined
}

/// The names each enum of the settings is written as, for the `config` crate's "enum X does
/// not have variant constructor y", which does not list them.
const VARIANTS: [(&str, &str); 5] = [
    (
        "BalancerSettings",
        "round_robin weighted random least_outstanding p2c consistent_hash network_quality nearest",
    ),
    ("FailModeSettings", "failfast failover failtry failbackup"),
    ("JwtAlg", "hs256 rs256 es256"),
    ("EffectName", "allow deny"),
    ("HealthModeName", "mark deregister off"),
];

/// `message` saying what was expected when it is an unknown enum name.
fn with_variants(message: String) -> String {
    // A value neither a name nor a one-key mapping (`fail_mode: {default: 5}`).
    if let Some(name) = message.strip_prefix("value of enum ").and_then(|rest| {
        rest.strip_suffix(" should be represented by either string or table with exactly one key")
    }) {
        if let Some((_, names)) = VARIANTS.iter().find(|(enum_name, _)| *enum_name == name) {
            return format!(
                "expected one of {names}: a name, or a mapping of one name to its settings"
            );
        }
    }
    let Some((name, found)) = message
        .strip_prefix("enum ")
        .and_then(|rest| rest.split_once(" does not have variant constructor "))
    else {
        return message;
    };
    match VARIANTS.iter().find(|(enum_name, _)| *enum_name == name) {
        Some((_, names)) => format!("expected one of {names}, found {found:?}"),
        None => message,
    }
}

fn located(
    key: String,
    reason: String,
    origin: Option<String>,
    file: Option<(&Path, &str)>,
) -> ConfigError {
    // A value from the environment has an origin of "the environment"; from the file, the
    // file's path (or none, for a key with no value at all, such as an unknown one).
    let from_env = origin.as_deref().is_some_and(|o| o.contains("environment"));
    let text = file.filter(|_| !from_env).map(|(_, text)| text);
    let key = normalized(&key, text);
    // A key below a variant (`failover: {retrie: 2}`) is named with it.
    let key = text.map_or(key.clone(), |t| with_variant(t, &key));
    let (file, line) = match file {
        Some((path, text)) if !from_env => (Some(path.to_owned()), line_of(text, &key)),
        _ => (None, None),
    };
    ConfigError::Key {
        file,
        line,
        env: from_env.then(|| env_var(&key)),
        key,
        reason,
    }
}

/// What brackets a key in a check's reason where the origin of that key's value is to be
/// written once it is known ([`valued`], resolved by [`located_in`]).
const ORIGIN_MARK: char = '\u{1}';

/// `value` of `key` in a check's reason that compares two keys' values
/// (`server.default_deadline` and `server.max_deadline`): the value, followed, once the
/// error is located, by where it came from — ` (default)`, ` (FILE:LINE)` or
/// ` (environment: VAR)` — so that a message never blames the file for a variable's value
/// nor names a value nobody wrote without saying it is the default.
pub(crate) fn valued(key: &str, value: impl std::fmt::Display) -> String {
    format!("{value}{ORIGIN_MARK}{key}{ORIGIN_MARK}")
}

/// Where the value of `key` came from, for [`valued`]'s note: the variable of `env` that set
/// it, its line in `path` (whose text is `text`), the file (a key found there without a
/// line: a flow-style mapping), or the default.
fn origin_of(
    key: &str,
    path: &Path,
    text: &str,
    env: Option<&std::collections::HashMap<String, String>>,
) -> String {
    if let Some(var) = env_source(env, key) {
        return format!("environment: {var}");
    }
    if let Some(line) = line_of(text, key) {
        return format!("{}:{line}", path.display());
    }
    if in_yaml(text, key) {
        return path.display().to_string();
    }
    "default".to_owned()
}

/// Whether the YAML `text` gives `key` (dotted) a value.
pub(crate) fn in_yaml(text: &str, key: &str) -> bool {
    let Some(doc) = yaml_rust2::YamlLoader::load_from_str(text)
        .ok()
        .and_then(|docs| docs.into_iter().next())
    else {
        return false;
    };
    let mut node = &doc;
    for part in key_parts(key) {
        node = match part
            .strip_prefix('[')
            .and_then(|p| p.strip_suffix(']'))
            .and_then(|p| p.parse::<usize>().ok())
        {
            Some(index) => &node[index],
            None => &node[part],
        };
        if node.is_badvalue() {
            return false;
        }
    }
    !node.is_null()
}

/// `reason` with each [`valued`] mark replaced by `note(key)`.
fn resolve_marks(reason: &str, mut note: impl FnMut(&str) -> String) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut parts = reason.split(ORIGIN_MARK);
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    // Parts alternate: a marked key, then the text up to the next mark.
    while let Some(key) = parts.next() {
        out.push_str(&note(key));
        out.push_str(parts.next().unwrap_or(""));
    }
    out
}

/// A (dotted key, reason) found once the settings are read, located: in the environment
/// variable of `env` that set it, else at its line in `path` (whose text is `text`). A
/// reason comparing two keys ([`valued`]) names where each value came from; its error is
/// then located at neither file nor variable when the key it names has the default value
/// (the other value's origin is in the reason).
pub(crate) fn located_in(
    (key, reason): (String, String),
    path: &Path,
    text: &str,
    env: Option<&std::collections::HashMap<String, String>>,
) -> ConfigError {
    let compares = reason.contains(ORIGIN_MARK);
    let var = env_source(env, &key);
    let line = line_of(text, &key);
    let defaulted = compares && var.is_none() && !in_yaml(text, &key);
    // The key the error is located at needs no note of its own, unless it is the default.
    let reason = resolve_marks(&reason, |marked| {
        if marked == key && !defaulted && (var.is_some() || line.is_some()) {
            String::new()
        } else {
            format!(" ({})", origin_of(marked, path, text, env))
        }
    });
    match var {
        Some(var) => in_variable(var, key, reason),
        None => ConfigError::Key {
            file: (!defaulted).then(|| path.to_owned()),
            line,
            env: None,
            key,
            reason,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::line_of;

    #[test]
    fn keys_are_found_below_their_parents() {
        let text = "# top\nserver:\n  listen: [a]\n  heartbeat:\n    interval: 5s\nclient:\n  heartbeat:\n    interval: 9\n";
        assert_eq!(line_of(text, "server.heartbeat.interval"), Some(5));
        assert_eq!(line_of(text, "client.heartbeat.interval"), Some(8));
        assert_eq!(line_of(text, "server.listen"), Some(3));
        assert_eq!(line_of(text, "server.missing"), None);
        assert_eq!(line_of(text, "client.listen"), None);
        let text = "client:\n  breaker:\n    trip: {error_rate: 1.5}\n";
        assert_eq!(line_of(text, "client.breaker.trip.error_rate"), Some(3));
        assert_eq!(line_of(text, "client.breaker.trip.consecutive"), None);
        let text =
            "client:\n  rate_limit:\n    methods:\n      \"Bank.transfer\":\n        rate: 0\n";
        assert_eq!(
            line_of(text, "client.rate_limit.methods.\"Bank.transfer\".rate"),
            Some(5)
        );
    }
}
