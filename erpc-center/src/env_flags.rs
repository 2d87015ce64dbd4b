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
    /// By argument id: how a message names an option whose value did not come from its
    /// flag ("ERPC_CENTER_TOKEN_FILE (--token-file)", "center.token_file in center.yaml").
    by_id: HashMap<String, String>,
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
                format!("{} (--{long})", var.to_string_lossy()),
            );
        }
        Sources { by_id }
    }

    /// Record that `id`'s value came from `source` (a config file's key, say).
    pub fn set(&mut self, id: &str, source: String) {
        self.by_id.insert(id.to_owned(), source);
    }

    /// How a message names option `id` (flag `--long`): `--long` when it was typed (or
    /// left at its default), else where its value came from — `ERPC_CENTER_TOKEN_FILE
    /// (--token-file)` for one from the environment.
    pub fn name(&self, id: &str, long: &str) -> String {
        self.by_id
            .get(id)
            .cloned()
            .unwrap_or_else(|| format!("--{long}"))
    }
}
