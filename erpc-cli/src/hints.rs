//! The engine's error messages in the CLI's words: where erpc-core or erpc-transport names a
//! Rust API (`ClientTls::server_name`, `ClientBuilder::connector`) or only a rustls case, the
//! user of `erpc` is told the flag to give instead (erpc-transport's `tls_flags`, shared with
//! `erpc-gateway`). Translated here, where the CLI prints failures, so the library keeps
//! speaking to library users.

use erpc_core::Status;
use erpc_transport::tls_flags::in_flag_words;

use crate::failure::Failure;

/// `failure` as the CLI prints it: an unknown address scheme is bad input (exit 2) naming the
/// schemes `erpc` speaks; Rust API names become flags; rustls cases get what to do; no
/// "retrying in …" (nothing retries once `erpc` has exited).
pub fn for_cli(failure: Failure) -> Failure {
    let status = match failure {
        Failure::Call(status) => status,
        Failure::Exit(code, line) => return Failure::Exit(code, in_flag_words(&line)),
        Failure::Usage(line) => return Failure::Usage(in_flag_words(&line)),
    };
    // Reworded, so without the client's marks: the redial note goes now, while it can be
    // told (`Failure::line`).
    let message = status.message_without_redial_note();
    if message.contains("unknown transport") || message.contains("no connector is registered") {
        return Failure::usage(in_flag_words(message));
    }
    Failure::Call(Status::new(status.code(), in_flag_words(message)))
}
