//! `erpc describe`: a server's services and methods, from its reflection.

use erpc_core::reflection::{MethodKind, ServiceInfo};
use erpc_core::{Client, Metadata};

use crate::failure::Failure;
use crate::reflect;

/// Print `service` (`""`: every service) as the server describes it (asked with `metadata`); the raw
/// `DescribeResponse.services` as JSON with `json`.
pub async fn run(
    client: &Client,
    service: &str,
    metadata: &Metadata,
    json: bool,
) -> Result<(), Failure> {
    let services = reflect::describe(client, service, metadata).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&services).unwrap_or_default()
        );
        return Ok(());
    }
    for (n, s) in services.iter().enumerate() {
        if n > 0 {
            println!();
        }
        print_service(s);
    }
    Ok(())
}

/// `erpc list ADDR [SERVICE]`: the server's service names, one a line, or `service`'s
/// methods as `SERVICE.METHOD` (as `grpcurl ADDR list [SERVICE]` prints them); the same
/// names as a JSON array with `json`.
pub async fn list(
    client: &Client,
    service: &str,
    metadata: &Metadata,
    json: bool,
) -> Result<(), Failure> {
    let services = reflect::describe(client, service, metadata).await?;
    let names: Vec<String> = if service.is_empty() {
        services.into_iter().map(|s| s.name).collect()
    } else {
        services
            .iter()
            .flat_map(|s| {
                s.methods
                    .iter()
                    .map(move |m| format!("{}.{}", s.name, m.name))
            })
            .collect()
    };
    if json {
        println!("{}", serde_json::to_string(&names).unwrap_or_default());
    } else {
        for name in names {
            println!("{name}");
        }
    }
    Ok(())
}

fn print_service(s: &ServiceInfo) {
    println!("service {}", s.name);
    if !s.described {
        println!("  (not described by the service: method names only)");
    }
    for m in &s.methods {
        let (Some(kind), Some(argument), Some(result)) = (m.kind, &m.argument, &m.result) else {
            println!("  {}", m.name);
            continue;
        };
        let (arg, res) = match kind {
            MethodKind::Unary | MethodKind::Oneway => (argument.name.clone(), result.name.clone()),
            MethodKind::ServerStream => (argument.name.clone(), format!("stream {}", result.name)),
            MethodKind::ClientStream => (format!("stream {}", argument.name), result.name.clone()),
            MethodKind::BidiStream => (
                format!("stream {}", argument.name),
                format!("stream {}", result.name),
            ),
        };
        let mut marks = Vec::new();
        if kind == MethodKind::Oneway {
            marks.push("oneway");
        }
        if m.idempotent == Some(true) {
            marks.push("idempotent");
        }
        let marks = if marks.is_empty() {
            String::new()
        } else {
            format!("  [{}]", marks.join(", "))
        };
        let out = if kind == MethodKind::Oneway {
            String::new()
        } else {
            format!(" -> {res}")
        };
        println!("  {}({arg}){out}{marks}", m.name);
        for (side, t) in [("argument", argument), ("result", result)] {
            if let Some(schema) = &t.schema {
                println!("    {side} schema: {schema}");
            }
        }
    }
}
