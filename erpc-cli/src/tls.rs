//! TLS flags for the TLS transports (`tls://`, `wss://`, `quic://`): erpc-transport's
//! [`TlsFlags`](erpc_transport::tls_flags::TlsFlags), shared with `erpc-gateway`, with the
//! CLI's failures (bad input, exit 2) and its `--insecure` warning.

use erpc_transport::Options;
pub use erpc_transport::tls_flags::{TlsFlags as TlsArgs, is_tls};

use crate::failure::Failure;

/// The transport options `flags` ask for, or which flag is bad input. `target` (an address
/// or a service name) is where they are for: the --insecure warning is printed unless it is
/// an address without TLS.
pub fn options(flags: &TlsArgs, target: &str) -> Result<Options, Failure> {
    if flags.insecure && (is_tls(target) || !crate::target::Target::is_address(target)) {
        eprintln!("erpc: {}", erpc_transport::tls_flags::INSECURE_WARNING);
    }
    flags.options().map_err(Failure::Usage)
}

/// Bad input, saying which flag to give, if `addr` is a TLS address and `transport` has no
/// TLS settings (the transport's own message names a Rust API, not a flag).
pub fn require_settings(addr: &str, transport: &Options) -> Result<(), Failure> {
    erpc_transport::tls_flags::require(addr, transport).map_err(Failure::Usage)
}
