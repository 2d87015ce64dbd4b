//! The engine's error messages in the CLI's words: where erpc-core or erpc-transport names a
//! Rust API (`ClientTls::server_name`, `ClientBuilder::connector`) or only a rustls case, the
//! user of `erpc` is told the flag to give instead. Translated here, where the CLI prints
//! failures, so the library keeps speaking to library users.

use erpc_core::Status;

use crate::failure::Failure;

/// The address schemes `erpc` dials (its transport features).
pub const SCHEMES: &str = "tcp://, unix://, tls://, ws://, wss:// and quic://";

/// Rewrites of a failed call's message: (text the engine says, what the CLI says instead).
const REWRITES: [(&str, &str); 1] = [(
    "(set ClientTls::server_name?)",
    "(give --server-name NAME, the name the certificate is for?)",
)];

/// Hints added for rustls cases the engine names without saying what to do, keyed by the
/// case's name as rustls spells it.
const HINTS: [(&str, &str); 2] = [
    (
        "CertificateRequired",
        "the server wants a client certificate: give --cert PEM --key PEM",
    ),
    (
        "CaUsedAsEndEntity",
        "the server's certificate is a CA certificate (CA:TRUE); --cacert can name a self-signed certificate only if it is an end-entity one: make it with `openssl req -x509 … -addext basicConstraints=critical,CA:FALSE`, or sign the server's certificate with a CA and give --cacert that CA",
    ),
];

/// `failure` as the CLI prints it: an unknown address scheme is bad input (exit 2) naming the
/// schemes `erpc` speaks; Rust API names become flags; rustls cases get what to do.
pub fn for_cli(failure: Failure) -> Failure {
    let status = match failure {
        Failure::Call(status) => status,
        Failure::Exit(code, line) => return Failure::Exit(code, in_cli_words(&line)),
        usage => return usage,
    };
    let message = status.message();
    if message.contains("unknown transport") || message.contains("no connector is registered") {
        return Failure::usage(format!(
            "{} (erpc speaks {SCHEMES} addresses)",
            message.split(" (").next().unwrap_or(message)
        ));
    }
    Failure::Call(Status::new(status.code(), in_cli_words(message)))
}

/// `text` with Rust API names replaced by flags and rustls cases explained.
fn in_cli_words(text: &str) -> String {
    let mut text = REWRITES
        .iter()
        .fold(text.to_owned(), |t, (from, to)| t.replace(from, to));
    if let Some((_, hint)) = HINTS.iter().find(|(case, _)| text.contains(case)) {
        text = format!("{text} — {hint}");
    }
    text
}
