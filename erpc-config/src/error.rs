//! Configuration errors that say where: the key, the file and the line, and what was
//! expected.

use std::path::{Path, PathBuf};

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or is not YAML.
    #[error("{file}: {reason}")]
    File {
        /// The file.
        file: PathBuf,
        /// What went wrong (the parser's words, with its line and column).
        reason: String,
    },
    /// A key is unknown or its value is wrong.
    #[error("{}{}: {key}: {reason}", .file.as_ref().map(|f| f.display().to_string()).unwrap_or_else(|| "environment".into()), .line.map(|l| format!(":{l}")).unwrap_or_default())]
    Key {
        /// The file the value came from; `None` when it came from the environment (or the
        /// defaults).
        file: Option<PathBuf>,
        /// Its line in the file (1-based), when it could be found.
        line: Option<usize>,
        /// The key, dotted from the top (`server.heartbeat.interval`).
        key: String,
        /// What is wrong and what was expected.
        reason: String,
    },
}

/// The 1-based line of `key` (dotted) in block-style YAML `text`: each part is looked for
/// below its parent, indented deeper. `None` if a part is not found (a flow-style mapping,
/// or a key that came from the environment).
pub(crate) fn line_of(text: &str, key: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0;
    let mut parent_indent: Option<usize> = None;
    let mut found = None;
    for part in key.split('.') {
        // A list index (`targets.0`) names no line of its own.
        if part.parse::<usize>().is_ok() {
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
            let trimmed = trimmed.trim_start_matches("- ");
            if trimmed
                .strip_prefix(part)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
            {
                hit = Some((i, indent));
                break;
            }
        }
        let (i, indent) = hit?;
        found = Some(i + 1);
        from = i + 1;
        parent_indent = Some(indent);
    }
    found
}

/// A `config` crate error as a [`ConfigError`], located in `file` (whose text is `text`).
pub(crate) fn from_config(error: config::ConfigError, file: Option<(&Path, &str)>) -> ConfigError {
    use config::ConfigError as E;
    match error {
        E::FileParse { uri, cause } => ConfigError::File {
            file: uri
                .map(PathBuf::from)
                .or_else(|| file.map(|(p, _)| p.to_owned()))
                .unwrap_or_default(),
            reason: cause.to_string(),
        },
        E::NotFound(what) => ConfigError::File {
            file: file.map(|(p, _)| p.to_owned()).unwrap_or_default(),
            reason: format!("not found: {what}"),
        },
        E::Type {
            origin,
            unexpected,
            expected,
            key,
        } => located(
            key.unwrap_or_default(),
            format!("expected {expected}, found {unexpected}"),
            origin,
            file,
        ),
        E::At { error, origin, key } => {
            let inner = from_config(*error, file);
            let (reason, inner_key) = match inner {
                ConfigError::Key { reason, key, .. } => (reason, key),
                ConfigError::File { reason, .. } => (reason, String::new()),
            };
            let key = match (key, inner_key.is_empty()) {
                (Some(k), true) => k,
                (Some(k), false) if !inner_key.starts_with(&k) => format!("{k}.{inner_key}"),
                (_, _) => inner_key,
            };
            located(key, reason, origin, file)
        }
        E::Message(message) => {
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
            key: String::new(),
            reason: other.to_string(),
        },
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
    let (file, line) = match file {
        Some((path, text)) if !from_env => (Some(path.to_owned()), line_of(text, &key)),
        _ => (None, None),
    };
    ConfigError::Key {
        file,
        line,
        key,
        reason,
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
    }
}
