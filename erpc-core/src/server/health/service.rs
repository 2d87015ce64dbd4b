//! `erpc.Health`: the built-in health service every server serves unless told not to
//! ([`crate::ServerBuilder::health`]), `grpc.health.v1`'s two methods over erpc. Its wire
//! shape is PROTOCOL.md §15.

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::{Health, ServingStatus};
use crate::reflection::descriptor::no_schema;
use crate::reflection::{MethodDescriptor, MethodKind, ServiceDescriptor, TypeDescriptor};
use crate::server::{Request, Response, Service, StreamRequest, server_streaming, unary};
use crate::status::Status;
use crate::stream::{ResponseStream, ServerStream};

/// The service's name.
pub const SERVICE: &str = "erpc.Health";
/// Unary: the status now.
pub const CHECK: &str = "check";
/// Server stream: the status now, then each change.
pub const WATCH: &str = "watch";

/// What `check` and `watch` ask about. On the wire a map `{"service": string}`; `service`
/// may be left out and then is `""`, the server as a whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheckRequest {
    /// The service name; `""` for the whole server.
    #[serde(default)]
    pub service: String,
}

/// A service's status. On the wire a map `{"status": string}`, the string one of
/// `"UNKNOWN"`, `"SERVING"`, `"NOT_SERVING"`, `"SERVICE_UNKNOWN"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheckResponse {
    /// The status.
    pub status: ServingStatus,
}

/// `erpc.Health` over a server's [`Health`].
pub(crate) struct HealthService(pub(crate) Health);

impl Service for HealthService {
    fn name(&self) -> &str {
        SERVICE
    }

    fn methods(&self) -> &[&'static str] {
        &[CHECK, WATCH]
    }

    fn descriptor(&self) -> Option<&'static ServiceDescriptor> {
        Some(&DESCRIPTOR)
    }

    fn call(&self, request: Request) -> BoxFuture<'_, Result<Response, Status>> {
        match request.method() {
            CHECK => {
                let health = &self.0;
                Box::pin(unary(request, move |_, asked: HealthCheckRequest| {
                    let status = health.status(&asked.service);
                    async move { Ok(HealthCheckResponse { status }) }
                }))
            }
            WATCH => failed(crate::server::wrong_shape(SERVICE, WATCH, true)),
            other => failed(crate::server::unknown_method(SERVICE, other)),
        }
    }

    fn stream(&self, request: StreamRequest) -> BoxFuture<'_, Result<ResponseStream, Status>> {
        match request.method() {
            WATCH => {
                let health = self.0.clone();
                Box::pin(server_streaming(
                    request,
                    move |_, asked: HealthCheckRequest| {
                        // The watch ends once the server shuts down, after telling the client
                        // NOT_SERVING; the call then ends `unavailable`, as streams cut by a
                        // shutdown do.
                        let statuses = health
                            .watch(&asked.service)
                            .map(|status| Ok(HealthCheckResponse { status }));
                        let end = futures_util::stream::once(async {
                            Err(Status::unavailable("the server is shutting down"))
                        });
                        async move { Ok(ServerStream::new(statuses.chain(end))) }
                    },
                ))
            }
            CHECK => failed(crate::server::wrong_shape(SERVICE, CHECK, false)),
            other => failed(crate::server::unknown_method(SERVICE, other)),
        }
    }
}

/// A call answered `status` at once.
fn failed<T: Send + 'static>(status: Status) -> BoxFuture<'static, Result<T, Status>> {
    Box::pin(std::future::ready(Err(status)))
}

/// What reflection says of `erpc.Health`: without it a tool sees the method names alone and
/// cannot tell that `watch` is a server stream (the gateway answered it 501, "open it as a
/// stream").
static DESCRIPTOR: ServiceDescriptor = ServiceDescriptor {
    name: SERVICE,
    methods: &[
        method(CHECK, MethodKind::Unary),
        method(WATCH, MethodKind::ServerStream),
    ],
};

/// Both methods take a [`HealthCheckRequest`] and answer [`HealthCheckResponse`]s; asking
/// again is harmless.
const fn method(name: &'static str, kind: MethodKind) -> MethodDescriptor {
    MethodDescriptor {
        name,
        kind,
        idempotent: true,
        argument: TypeDescriptor {
            name: "HealthCheckRequest",
            schema: no_schema,
        },
        result: TypeDescriptor {
            name: "HealthCheckResponse",
            schema: no_schema,
        },
    }
}
