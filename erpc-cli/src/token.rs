//! `--token` / `--token-file`: the credential a protected center wants (one started with
//! `--token`; CENTER.md, "Access"), sent as metadata `authorization: Bearer <TOKEN>` on every
//! call to it — listing, watching, routing rules, and resolving a service name for `call`.

use std::path::PathBuf;

use crate::failure::Failure;

/// The center's token, as a flag, a variable or a file (read as the center reads its own:
/// the file's first line, surrounding whitespace ignored).
#[derive(clap::Args, Clone, Default)]
pub struct TokenArgs {
    /// The token of a center started with --token (sent as metadata `authorization: Bearer
    /// <TOKEN>`). Prefer the variable or --token-file: a flag shows in the process list.
    #[arg(
        long,
        env = "ERPC_TOKEN",
        hide_env_values = true,
        conflicts_with = "token_file"
    )]
    token: Option<String>,
    /// Read the center's token from this file (its first line).
    #[arg(long, env = "ERPC_TOKEN_FILE", value_name = "PATH")]
    token_file: Option<PathBuf>,
}

impl TokenArgs {
    /// The token, if one was given; bad input for an unreadable file or an empty token.
    pub fn read(&self) -> Result<Option<String>, Failure> {
        erpc_center::auth::read_token(&self.token, &self.token_file, "token", "center token")
            .map_err(Failure::Usage)
    }
}
