//! The command-line flags a client of a protected center takes for its token (CENTER.md,
//! "Access"), shared by the `erpc` command line and `erpc-gateway` so both accept the same
//! names: `--center-token` / `--center-token-file`, or the variables `ERPC_CENTER_TOKEN` /
//! `ERPC_CENTER_TOKEN_FILE` (the ones the center reads its own token from). The `erpc`
//! command line's first names stay accepted: the flags `--token` / `--token-file` and the
//! variables `ERPC_TOKEN` / `ERPC_TOKEN_FILE` (read only when neither new variable is set).

use std::path::PathBuf;

use crate::auth::read_token;

/// The variables the token was first read from by `erpc`: still read, after the new ones.
pub const OLD_ENV: [&str; 2] = ["ERPC_TOKEN", "ERPC_TOKEN_FILE"];

/// The center's token, as a flag, a variable or a file (its first line, surrounding
/// whitespace ignored, as the center reads its own: [`read_token`]).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct CenterTokenFlags {
    /// The token of a center started with --token, sent to it as metadata `authorization:
    /// Bearer <TOKEN>` (also --token; variable ERPC_TOKEN too). Prefer the variable or
    /// --center-token-file: a flag shows in the process list.
    #[arg(
        long,
        visible_alias = "token",
        env = "ERPC_CENTER_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        conflicts_with = "center_token_file"
    )]
    pub center_token: Option<String>,
    /// Read the center's token from this file (its first line; also --token-file; variable
    /// ERPC_TOKEN_FILE too).
    #[arg(
        long,
        visible_alias = "token-file",
        env = "ERPC_CENTER_TOKEN_FILE",
        value_name = "PATH"
    )]
    pub center_token_file: Option<PathBuf>,
}

impl CenterTokenFlags {
    /// Whether a token was given (flag, file or variable, old names included).
    pub fn given(&self) -> bool {
        self.center_token.is_some()
            || self.center_token_file.is_some()
            || OLD_ENV.iter().any(|name| std::env::var_os(name).is_some())
    }

    /// The token, if one was given: the flags (or their variables), else the old variables
    /// [`OLD_ENV`].
    ///
    /// # Errors
    /// An unreadable file or an empty token, naming the flag.
    pub fn read(&self) -> Result<Option<String>, String> {
        let (token, file) = match (&self.center_token, &self.center_token_file) {
            (None, None) => (
                std::env::var(OLD_ENV[0]).ok(),
                std::env::var_os(OLD_ENV[1]).map(PathBuf::from),
            ),
            (token, file) => (token.clone(), file.clone()),
        };
        read_token(&token, &file, "center-token", "center's token")
    }
}
