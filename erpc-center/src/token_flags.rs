//! The command-line flags a client of a protected center takes for its token (CENTER.md,
//! "Access"), shared by the `erpc` command line and `erpc-gateway` so both accept the same
//! names: `--center-token` / `--center-token-file`, or the variables `ERPC_CENTER_TOKEN` /
//! `ERPC_CENTER_TOKEN_FILE` (the ones the center reads its own token from). The `erpc`
//! command line's first names stay accepted: the flags `--token` / `--token-file` and the
//! variables `ERPC_TOKEN` / `ERPC_TOKEN_FILE` (read only when neither new variable is set).

use std::path::PathBuf;

use crate::auth::read_token;

/// How a command-line client of a protected center is given its token: what `erpc` and
/// `erpc-gateway` say when the center refuses them for want of one (or a wrong one).
pub const GIVE_TOKEN: &str = "give --center-token TOKEN or --center-token-file PATH, or set ERPC_CENTER_TOKEN or ERPC_CENTER_TOKEN_FILE";

/// The variables the token is read from when neither flag is typed: the token, its file.
pub const ENV: [&str; 2] = ["ERPC_CENTER_TOKEN", "ERPC_CENTER_TOKEN_FILE"];

/// The variables the token was first read from by `erpc`: still read, after [`ENV`].
pub const OLD_ENV: [&str; 2] = ["ERPC_TOKEN", "ERPC_TOKEN_FILE"];

/// The center's token, as a flag, a variable or a file (its first line, surrounding
/// whitespace ignored, as the center reads its own: [`read_token`]). A flag typed on the
/// command line wins over every variable: the variables are read here, not by clap, whose
/// `conflicts_with` would count a variable as the other flag typed (an exported
/// `ERPC_CENTER_TOKEN` would forbid `--center-token-file` for one command).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct CenterTokenFlags {
    /// The token of a center started with --token, sent to it as metadata `authorization:
    /// Bearer <TOKEN>` (also --token). Without this flag or --center-token-file, read from
    /// the variable ERPC_CENTER_TOKEN (or ERPC_TOKEN). Prefer the variable or
    /// --center-token-file: a flag shows in the process list.
    #[arg(
        long,
        visible_alias = "token",
        value_name = "TOKEN",
        conflicts_with = "center_token_file"
    )]
    pub center_token: Option<String>,
    /// Read the center's token from this file (its first line; also --token-file). Without
    /// this flag or --center-token, the variable ERPC_CENTER_TOKEN_FILE (or ERPC_TOKEN_FILE)
    /// names the file.
    #[arg(long, visible_alias = "token-file", value_name = "PATH")]
    pub center_token_file: Option<PathBuf>,
}

impl CenterTokenFlags {
    /// Whether a token was given (flag, file or variable, old names included).
    pub fn given(&self) -> bool {
        self.center_token.is_some()
            || self.center_token_file.is_some()
            || ENV
                .iter()
                .chain(OLD_ENV.iter())
                .any(|name| std::env::var_os(name).is_some())
    }

    /// The token, if one was given: a flag typed, else the variables [`ENV`], else the old
    /// ones [`OLD_ENV`].
    ///
    /// # Errors
    /// An unreadable file or an empty token, naming the flag; both variables of one pair
    /// set (which one was meant is unknown), naming them.
    pub fn read(&self) -> Result<Option<String>, String> {
        let (token, file) = match (&self.center_token, &self.center_token_file) {
            (None, None) => match from_env(ENV)? {
                (None, None) => from_env(OLD_ENV)?,
                given => given,
            },
            (token, file) => (token.clone(), file.clone()),
        };
        read_token(&token, &file, "center-token", "center's token")
    }
}

/// The token and the file named by a pair of variables; an error if both are set.
fn from_env([token, file]: [&str; 2]) -> Result<(Option<String>, Option<PathBuf>), String> {
    match (std::env::var(token).ok(), std::env::var_os(file)) {
        (Some(_), Some(_)) => Err(format!(
            "both {token} and {file} are set: unset one (or type --center-token or --center-token-file, which wins)"
        )),
        (token, file) => Ok((token, file.map(PathBuf::from))),
    }
}
