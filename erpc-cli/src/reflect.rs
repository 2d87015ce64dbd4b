//! What the target serves, from its `erpc.Reflection` service.

use erpc_core::reflection::{
    DESCRIBE, DescribeRequest, DescribeResponse, MethodInfo, SERVICE, ServiceInfo,
};
use erpc_core::{CallOptions, Client, Code, Metadata};

use crate::failure::Failure;

/// `service` described (`""`: every service), asked with `metadata` (the user's `-H`
/// headers: a server may want credentials on every call, reflection's too). An unknown
/// service is bad input: the error lists the services there are.
pub async fn describe(
    client: &Client,
    service: &str,
    metadata: &Metadata,
) -> Result<Vec<ServiceInfo>, Failure> {
    let asked = DescribeRequest {
        service: service.to_owned(),
    };
    match client
        .call::<_, DescribeResponse>(SERVICE, DESCRIBE, asked)
        .options(CallOptions {
            metadata: metadata.clone(),
            ..CallOptions::default()
        })
        .await
    {
        Ok(answer) => Ok(answer.services),
        Err(status) if status.code() == Code::NotFound => Err(Failure::usage(status.message())),
        Err(status) if status.code() == Code::Unimplemented => {
            Err(Failure::Call(erpc_core::Status::unimplemented(format!(
                "the server does not answer {SERVICE} (reflection is off: ServerBuilder::reflection(false)): {}",
                status.message()
            ))))
        }
        Err(status) => Err(status.into()),
    }
}

/// `SERVICE.METHOD` described, or `None` if the server has no reflection (the call is then
/// made as asked, unary unless `--stream` says otherwise).
pub async fn method(
    client: &Client,
    service: &str,
    method: &str,
    metadata: &Metadata,
) -> Result<Option<MethodInfo>, Failure> {
    let services = match describe(client, service, metadata).await {
        Ok(services) => services,
        Err(Failure::Call(status)) if status.code() == Code::Unimplemented => return Ok(None),
        Err(other) => return Err(other),
    };
    let Some(found) = services.into_iter().find(|s| s.name == service) else {
        return Ok(None);
    };
    let names: Vec<String> = found.methods.iter().map(|m| m.name.clone()).collect();
    match found.methods.into_iter().find(|m| m.name == method) {
        Some(m) => Ok(Some(m)),
        None => Err(Failure::usage(format!(
            "service {service:?} has no method {method:?}; it has {}",
            names.join(", ")
        ))),
    }
}
