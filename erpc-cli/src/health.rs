//! `erpc health TARGET [SERVICE]`: the built-in `erpc.Health` service's `check` (PROTOCOL.md
//! §15), as `grpc_health_probe` asks gRPC's.

use erpc_core::{CallOptions, Client, CodecId, Metadata, Status};
use serde_json::{Value, json};

use crate::failure::Failure;

/// Print the status of `service` (`""`: the whole server) and succeed only if it is
/// SERVING; NOT_SERVING and SERVICE_UNKNOWN fail (exit 1) with the status as the message.
pub async fn run(client: &Client, service: &str, metadata: Metadata) -> Result<(), Failure> {
    let answer: Value = client
        .call("erpc.Health", "check", json!({ "service": service }))
        .options(CallOptions {
            metadata,
            codec: Some(CodecId::JSON),
            ..CallOptions::default()
        })
        .await?;
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
    if status == "SERVING" {
        println!("{name}: SERVING");
        return Ok(());
    }
    Err(Failure::Call(Status::unavailable(format!(
        "{name}: {status}"
    ))))
}
