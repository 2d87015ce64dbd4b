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
    /// An unreadable file or an empty token, naming where it came from: the flag, or the
    /// variable that named the file or held the token; a token variable that is not UTF-8
    /// (a token is text; ignoring it would send no token, or an older variable's), naming
    /// it; both variables of one pair set (which one was meant is unknown), naming them.
    pub fn read(&self) -> Result<Option<String>, String> {
        if self.center_token.is_some() || self.center_token_file.is_some() {
            return read_token(
                &self.center_token,
                &self.center_token_file,
                "center-token",
                "center's token",
            );
        }
        match from_env(ENV)? {
            Some(given) => given.read().map(Some),
            None => from_env(OLD_ENV)?.map(|given| given.read()).transpose(),
        }
    }
}

/// A token given by a variable: the token itself, or the file holding it.
enum FromEnv {
    Token { var: &'static str, token: String },
    File { var: &'static str, path: PathBuf },
}

impl FromEnv {
    /// The token (a file's first line, surrounding whitespace ignored, as [`read_token`]
    /// reads one); an unreadable file or an empty token is an error naming the variable.
    fn read(self) -> Result<String, String> {
        match self {
            FromEnv::Token { var, token } => match token.trim() {
                "" => Err(format!(
                    "{var} is set and empty: set it to the center's token, or unset it"
                )),
                token => Ok(token.to_owned()),
            },
            FromEnv::File { var, path } => {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    format!("{var} names {}, which cannot be read: {e}", path.display())
                })?;
                match text.lines().next().unwrap_or("").trim() {
                    "" => Err(format!(
                        "{var} names {}, whose first line is empty: the center's token is that line",
                        path.display()
                    )),
                    token => Ok(token.to_owned()),
                }
            }
        }
    }
}

/// The token or the file named by a pair of variables, if either is set; an error if both
/// are, or if the token's is not UTF-8.
fn from_env([token, file]: [&'static str; 2]) -> Result<Option<FromEnv>, String> {
    let value = match std::env::var(token) {
        Ok(value) => Some(value),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(format!(
                "{token} is not valid UTF-8: a center's token is text; set it to the token, or unset it"
            ));
        }
    };
    match (value, std::env::var_os(file)) {
        (Some(_), Some(_)) => Err(format!(
            "both {token} and {file} are set: unset one (or type --center-token or --center-token-file, which wins)"
        )),
        (Some(value), None) => Ok(Some(FromEnv::Token {
            var: token,
            token: value,
        })),
        (None, Some(path)) => Ok(Some(FromEnv::File {
            var: file,
            path: PathBuf::from(path),
        })),
        (None, None) => Ok(None),
    }
}
