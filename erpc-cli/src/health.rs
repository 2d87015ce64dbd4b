//! `erpc health TARGET [SERVICE]`: the built-in `erpc.Health` service's `check` (PROTOCOL.md
//! §15), as `grpc_health_probe` asks gRPC's.

use erpc_core::{CallOptions, Client, CodecId, Metadata};
use serde_json::{Value, json};

use crate::deadline::Deadline;
use crate::failure::Failure;

/// `grpc_health_probe`'s exit codes, which `erpc health` uses (not the other commands' 1 and
/// 2), so a probe written for one works with the other.
pub mod exit {
    /// Invalid arguments (a bad flag, a name without --center, a bad `-H`).
    pub const BAD_ARGUMENTS: u8 = 1;
    /// The target could not be connected to (or its center reached).
    pub const CONNECTION_FAILED: u8 = 2;
    /// The check call failed (a status instead of an answer: refused, timed out, …).
    pub const RPC_FAILED: u8 = 3;
    /// The check answered, and not SERVING (NOT_SERVING, SERVICE_UNKNOWN, …).
    pub const UNHEALTHY: u8 = 4;
}

/// A failure before the check: bad input exits [`exit::BAD_ARGUMENTS`], anything else (the
/// dial, the center) [`exit::CONNECTION_FAILED`].
pub fn setup_failure(failure: Failure) -> Failure {
    match failure {
        Failure::Usage(_) => failure.with_code(exit::BAD_ARGUMENTS),
        other => other.with_code(exit::CONNECTION_FAILED),
    }
}

/// Print the status of `service` (`""`: the whole server) on stdout — `Shop: SERVING`,
/// `Nope: SERVICE_UNKNOWN` — and succeed only if it is SERVING ([`exit::UNHEALTHY`]
/// otherwise); a failed call exits [`exit::RPC_FAILED`] with its status on stderr, or
/// [`exit::CONNECTION_FAILED`] when it never reached a server (no instance found through
/// the center could be dialled, a TLS handshake refused: the client marks those
/// [connect failures](erpc_core::Status::is_connect_failure)), as a dead address is.
/// The check has what is left of `deadline` (`--timeout`).
pub async fn run(
    client: &Client,
    service: &str,
    metadata: Metadata,
    deadline: &Deadline,
) -> Result<(), Failure> {
    let answer: Value = client
        .call("erpc.Health", "check", json!({ "service": service }))
        .options(CallOptions {
            metadata,
            timeout: deadline.left(),
            codec: Some(CodecId::JSON),
            ..CallOptions::default()
        })
        .await
        .map_err(|status| {
            let code = if status.is_connect_failure() {
                exit::CONNECTION_FAILED
            } else {
                exit::RPC_FAILED
            };
            deadline
                .name(Failure::Call(status), "checking health")
                .with_code(code)
        })?;
    let status = answer
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("UNKNOWN")
        .to_owned();
    let name = if service.is_empty() {
        "server"
    } else {
        service
    };
    println!("{name}: {status}");
    if status == "SERVING" {
        return Ok(());
    }
    Err(Failure::Exit(exit::UNHEALTHY, String::new()))
}
