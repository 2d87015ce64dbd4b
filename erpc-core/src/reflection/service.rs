//! `erpc.Reflection` over a server's services.

use std::sync::{Arc, OnceLock};

use futures_util::future::BoxFuture;

use super::wire::{DescribeRequest, DescribeResponse, ListResponse, ServiceInfo};
use super::{DESCRIBE, LIST, SERVICE};
use crate::server::{Request, Response, Service, unary, unknown_method};
use crate::status::Status;

/// Every service of a server, described; filled once the server's set of services is
/// final (it includes this service and the other built-in ones).
pub(crate) type Catalogue = Arc<OnceLock<Vec<ServiceInfo>>>;

/// The catalogue of `services`, sorted by name.
pub(crate) fn catalogue<'a>(
    services: impl Iterator<Item = &'a Arc<dyn Service>>,
) -> Vec<ServiceInfo> {
    let mut infos: Vec<ServiceInfo> = services
        .map(|s| match s.descriptor() {
            Some(d) => ServiceInfo::described(d),
            None => ServiceInfo::names_only(s.name(), s.methods()),
        })
        .collect();
    infos.sort_by(|a, b| a.name.cmp(&b.name));
    infos
}

/// The service.
pub(crate) struct ReflectionService(pub(crate) Catalogue);

impl ReflectionService {
    fn all(&self) -> &[ServiceInfo] {
        self.0.get().map(Vec::as_slice).unwrap_or_default()
    }
}

impl Service for ReflectionService {
    fn name(&self) -> &str {
        SERVICE
    }

    fn methods(&self) -> &[&'static str] {
        &[LIST, DESCRIBE]
    }

    fn descriptor(&self) -> Option<&'static super::ServiceDescriptor> {
        Some(&DESCRIPTOR)
    }

    fn call(&self, request: Request) -> BoxFuture<'_, Result<Response, Status>> {
        match request.method() {
            LIST => Box::pin(unary(request, move |_, _: Empty| {
                let services = self.all().iter().map(|s| s.name.clone()).collect();
                async move { Ok(ListResponse { services }) }
            })),
            DESCRIBE => Box::pin(unary(request, move |_, asked: DescribeRequest| {
                let all = self.all();
                let found = if asked.service.is_empty() {
                    Ok(all.to_vec())
                } else {
                    match all.iter().find(|s| s.name == asked.service) {
                        Some(s) => Ok(vec![s.clone()]),
                        None => Err(unknown_service(&asked.service, all)),
                    }
                };
                async move { found.map(|services| DescribeResponse { services }) }
            })),
            other => {
                let status = unknown_method(SERVICE, other);
                Box::pin(async move { Err(status) })
            }
        }
    }
}

/// `not_found`, naming the services there are: the caller can pick the right one.
fn unknown_service(asked: &str, all: &[ServiceInfo]) -> Status {
    let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
    Status::not_found(format!(
        "no service {asked:?} here; this server serves {}",
        names.join(", ")
    ))
}

/// `list`'s request: `{}` (any map; its fields are ignored).
#[derive(serde::Deserialize, serde::Serialize, Default)]
struct Empty {}

use super::descriptor::{
    MethodDescriptor, MethodKind, ServiceDescriptor, TypeDescriptor, no_schema,
};

/// Type names as PROTOCOL.md §16 names the shapes (as a service trait's are written, not
/// Rust paths: tools print them to people who know the wire).
static DESCRIPTOR: ServiceDescriptor = ServiceDescriptor {
    name: SERVICE,
    methods: &[
        MethodDescriptor {
            name: LIST,
            kind: MethodKind::Unary,
            idempotent: true,
            argument: TypeDescriptor {
                name: "{}",
                schema: no_schema,
            },
            result: TypeDescriptor {
                name: "ListResponse",
                schema: no_schema,
            },
        },
        MethodDescriptor {
            name: DESCRIBE,
            kind: MethodKind::Unary,
            idempotent: true,
            argument: TypeDescriptor {
                name: "DescribeRequest",
                schema: no_schema,
            },
            result: TypeDescriptor {
                name: "DescribeResponse",
                schema: no_schema,
            },
        },
    ],
};
