//! Naming the environment variable a flag's value came from, in the messages about it. clap
//! reads an `env = "VAR"` variable as if its flag had been typed, and its errors then name
//! only the flag (`invalid value '0' for '--min-ttl-ms'`): a person who typed no such flag
//! is left to guess. Shared by the `erpc-center` and `erpc-gateway` binaries.

use std::collections::HashMap;
use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue};
use clap::parser::ValueSource;
use clap::{ArgMatches, Command};

/// `command`'s matches for this process's arguments. On a usage error, clap's message with
/// a tip for each flag it names whose value came from its environment variable ("--min-ttl-ms
/// was not typed: its value came from the environment variable ERPC_CENTER_MIN_TTL_MS"),
/// then exit as clap does (status 2; 0 for `--help` and `--version`).
pub fn get_matches(command: Command) -> ArgMatches {
    match command.clone().try_get_matches() {
        Ok(matches) => matches,
        Err(error) => name_env_sources(error, &command, std::env::args_os()).exit(),
    }
}

/// `error` with a tip for each flag it names (the invalid one, and the one it conflicts
/// with) that `argv` does not type while its variable is set: its value came from there.
pub fn name_env_sources(
    mut error: clap::Error,
    command: &Command,
    argv: impl IntoIterator<Item = OsString>,
) -> clap::Error {
    let argv: Vec<String> = argv
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut named = Vec::new();
    for kind in [ContextKind::InvalidArg, ContextKind::PriorArg] {
        match error.get(kind) {
            Some(ContextValue::String(arg)) => named.push(arg.clone()),
            Some(ContextValue::Strings(args)) => named.extend(args.iter().cloned()),
            _ => {}
        }
    }
    let mut tips: Vec<clap::builder::StyledStr> = Vec::new();
    for shown in named {
        // "--min-ttl-ms <MIN_TTL_MS>": the flag is the first word.
        let Some(flag) = shown.split_whitespace().next() else {
            continue;
        };
        let Some(long) = flag.strip_prefix("--") else {
            continue;
        };
        let Some(arg) = command.get_arguments().find(|a| a.get_long() == Some(long)) else {
            continue;
        };
        let Some(var) = arg.get_env() else {
            continue;
        };
        let typed = argv
            .iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")));
        if !typed && std::env::var_os(var).is_some() {
            tips.push(
                format!(
                    "{flag} was not typed: its value came from the environment variable {}",
                    var.to_string_lossy()
                )
                .into(),
            );
        }
    }
    if !tips.is_empty() {
        if let Some(ContextValue::StyledStrs(earlier)) = error.get(ContextKind::Suggested) {
            tips.splice(0..0, earlier.iter().cloned());
        }
        error.insert(ContextKind::Suggested, ContextValue::StyledStrs(tips));
    }
    error
}

/// Where each option's value came from, for the messages about it that clap does not
/// write (an unreadable token file, a bad data center name): [`Sources::name`].
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// By argument id: the option's flag (`--token-file`) and how a message names it when
    /// its value did not come from that flag ("ERPC_CENTER_TOKEN_FILE (--token-file)",
    /// "center.token_file in center.yaml").
    by_id: HashMap<String, (String, String)>,
}

impl Sources {
    /// The sources of `matches`' values: each read from an environment variable is named
    /// by that variable.
    pub fn of(command: &Command, matches: &ArgMatches) -> Sources {
        let mut by_id = HashMap::new();
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if matches.value_source(id) != Some(ValueSource::EnvVariable) {
                continue;
            }
            let (Some(var), Some(long)) = (arg.get_env(), arg.get_long()) else {
                continue;
            };
            by_id.insert(
                id.to_owned(),
                (
                    format!("--{long}"),
                    format!("{} (--{long})", var.to_string_lossy()),
                ),
            );
        }
        Sources { by_id }
    }

    /// Record that `id`'s value came from `source` (a config file's key, say); its flag is
    /// `id` in kebab case (`token_file`: `--token-file`).
    pub fn set(&mut self, id: &str, source: String) {
        let flag = format!("--{}", id.replace('_', "-"));
        self.by_id.insert(id.to_owned(), (flag, source));
    }

    /// How a message names option `id` (flag `--long`): `--long` when it was typed (or
    /// left at its default), else where its value came from — `ERPC_CENTER_TOKEN_FILE
    /// (--token-file)` for one from the environment.
    pub fn name(&self, id: &str, long: &str) -> String {
        self.by_id
            .get(id)
            .map(|(_, source)| source.clone())
            .unwrap_or_else(|| format!("--{long}"))
    }

    /// `message` (one refusing a value at start-up) with each flag it names as `--long`
    /// whose value did not come from that flag named as [`Sources::name`] names it:
    /// `--http 127.0.0.1: invalid socket address` becomes `ERPC_CENTER_HTTP (--http)
    /// 127.0.0.1: …` when the variable gave it. One pass over every message, so no check
    /// has to remember to ask. A flag the message already names so is left alone.
    pub fn named_in(&self, message: &str) -> String {
        let mut message = message.to_owned();
        for (flag, source) in self.by_id.values() {
            if message.contains(source.as_str()) {
                continue;
            }
            message = replace_flag(&message, flag, source);
        }
        message
    }
}

/// `text` with each whole `flag` (not the start of a longer one: `--follow` in
/// `--follow-ca`) replaced by `by`.
fn replace_flag(text: &str, flag: &str, by: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(flag) {
        let after = &rest[at + flag.len()..];
        let whole = !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        out.push_str(&rest[..at]);
        out.push_str(if whole { by } else { flag });
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_names_a_flag_by_the_variable_that_gave_it() {
        let mut sources = Sources::default();
        sources.set("follow", "ERPC_CENTER_FOLLOW (--follow)".into());
        sources.set("data_dir", "ERPC_CENTER_DATA_DIR (--data-dir)".into());
        assert_eq!(
            sources.named_in("--follow \"x\" is given twice; --follow-ca a: b"),
            "ERPC_CENTER_FOLLOW (--follow) \"x\" is given twice; --follow-ca a: b"
        );
        assert_eq!(
            sources.named_in("--data-dir /x: no"),
            "ERPC_CENTER_DATA_DIR (--data-dir) /x: no"
        );
        // Already named: not twice.
        assert_eq!(
            sources.named_in("ERPC_CENTER_FOLLOW (--follow) x"),
            "ERPC_CENTER_FOLLOW (--follow) x"
        );
        assert_eq!(sources.named_in("--http a: b"), "--http a: b");
    }
}
