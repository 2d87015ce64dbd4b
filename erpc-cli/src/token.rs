//! `--center-token` / `--center-token-file` (also `--token` / `--token-file`): the credential
//! a protected center wants (one started with `--token`; CENTER.md, "Access"), sent as
//! metadata `authorization: Bearer <TOKEN>` on every call to it — listing, watching, routing
//! rules, and resolving a service name for `call`. erpc-center's flags, shared with
//! `erpc-gateway`: the same names and variables (`ERPC_CENTER_TOKEN`, and `ERPC_TOKEN`
//! still).

pub use erpc_center::token_flags::CenterTokenFlags as TokenArgs;

use crate::failure::Failure;

/// The token, if one was given; bad input for an unreadable file or an empty token.
pub fn read(flags: &TokenArgs) -> Result<Option<String>, Failure> {
    flags.read().map_err(Failure::Usage)
}
