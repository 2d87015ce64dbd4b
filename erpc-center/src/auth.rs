//! The center's token: who may change the registry and the configuration, and, if chosen,
//! who may read them — so not anyone who can reach the center can register an instance or
//! change a setting (CENTER.md, "Access").

use erpc_core::auth::{Authenticate, BearerTokens, Principal};
use erpc_core::per_method::PerMethod;

/// The center's service name.
const CENTER: &str = "erpc.Center";

/// The methods that change state: registrations, leases, configuration.
pub const WRITES: [&str; 6] = [
    "register",
    "renew",
    "deregister",
    "release",
    "config_set",
    "config_delete",
];

/// The methods that only read: discovery, configuration reads and both watches.
pub const READS: [&str; 4] = ["discover", "watch", "config_get", "config_watch"];

/// A header-level hook (`ServerBuilder::admission`) that refuses the center's write methods
/// ([`WRITES`]) `unauthenticated` unless the call carries metadata
/// `authorization: Bearer <token>`, and the read methods ([`READS`]) too when
/// `protect_reads`. A wrong token is refused on every method, read or write. The token is
/// compared in constant time; callers are admitted as principal `center-client`.
pub fn require_token(token: impl Into<String>, protect_reads: bool) -> Authenticate<BearerTokens> {
    let tokens = BearerTokens::new().token(token, Principal::new("center-client"));
    let required = WRITES
        .iter()
        .fold(PerMethod::new(protect_reads), |required, write| {
            required.method(CENTER, *write, true)
        });
    Authenticate::new(tokens).required(required)
}

/// A token (`what`, for messages) given as `--NAME` or in the file `--NAME-file` (its first
/// line, surrounding whitespace ignored); an error naming the option for an unreadable file or
/// an empty token. Shared by the center's own options (`--token`, `--follow-token`) and the
/// `erpc` command line's (`--token`), so a token file means the same to both.
pub fn read_token(
    given: &Option<String>,
    file: &Option<std::path::PathBuf>,
    name: &str,
    what: &str,
) -> Result<Option<String>, String> {
    let labels = [format!("--{name}"), format!("--{name}-file")];
    read_token_from(given, file, [&labels[0], &labels[1]], what)
}

/// As [`read_token`], its two options named in messages as `[token, file]` say: where each
/// value came from, e.g. `ERPC_CENTER_TOKEN_FILE (--token-file)` for a file named by the
/// environment (`env_flags::Sources::name`), so a person who typed no flag learns which
/// variable to fix.
pub fn read_token_from(
    given: &Option<String>,
    file: &Option<std::path::PathBuf>,
    [token_label, file_label]: [&str; 2],
    what: &str,
) -> Result<Option<String>, String> {
    let (token, from) = match (given, file) {
        (Some(token), _) => (token.trim().to_owned(), token_label.to_owned()),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("{file_label} {}: {e}", path.display()))?;
            let first = text.lines().next().unwrap_or("").trim().to_owned();
            let from = format!("the first line of {file_label} {}", path.display());
            (first, from)
        }
        (None, None) => return Ok(None),
    };
    if token.is_empty() {
        return Err(format!(
            "the {what} is empty: {from} is blank; give a non-empty {token_label} or {file_label}"
        ));
    }
    Ok(Some(token))
}
