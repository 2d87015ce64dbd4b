//! Typed clients through the queue, unchanged: a call-level [tower layer](erpc_core::layer)
//! that sends every call through a [`QueueClient`] instead of the rest of the stack.
//!
//! It ends the stack (the calls it takes never reach the wire), so add it after any other
//! call-level layer: those run first, then the call is queued.

use std::task::{Context, Poll};

use erpc_core::layer::{Layer, Service};
use erpc_core::{Client, ClientBuilder, ClientRequest, ClientResponse, Status};
use futures_util::future::BoxFuture;

use crate::client::QueueClient;

/// The address a queue-backed [`Client`] is built with: never dialled, since every call
/// goes through the queue.
const UNDIALLED: &str = "mem://erpc-queue-undialled";

/// The layer sending every call through `.0` (a unary call or a oneway; a stream fails
/// `unimplemented`).
#[derive(Clone)]
pub struct ViaQueueLayer(pub QueueClient);

/// Over erpc's call-level service (or any: what it wraps is never called).
impl<S> Layer<S> for ViaQueueLayer {
    type Service = ViaQueue;

    fn layer(&self, _rest: S) -> ViaQueue {
        ViaQueue(self.0.clone())
    }
}

/// The service [`ViaQueueLayer`] makes: [`QueueClient::invoke`] as a tower service.
#[derive(Clone)]
pub struct ViaQueue(pub QueueClient);

impl Service<ClientRequest> for ViaQueue {
    type Response = ClientResponse;
    type Error = Status;
    type Future = BoxFuture<'static, Result<ClientResponse, Status>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: ClientRequest) -> Self::Future {
        let queue = self.0.clone();
        Box::pin(async move { queue.invoke(request).await })
    }
}

/// `Client::builder().via_queue(&queue_client).build(addr)`.
pub trait ViaQueueExt {
    /// Send every call of the client being built through `queue` (see [`ViaQueueLayer`]);
    /// finish with `.build(addr)` — any address, which is never dialled — not `.connect`,
    /// which would dial it.
    fn via_queue(self, queue: &QueueClient) -> ClientBuilder;
}

impl ViaQueueExt for ClientBuilder {
    fn via_queue(self, queue: &QueueClient) -> ClientBuilder {
        self.layer(ViaQueueLayer(queue.clone()))
    }
}

impl QueueClient {
    /// An erpc [`Client`] whose calls all go through this queue client, with its timeout
    /// as their default: wrap it in a generated client
    /// (`GreeterClient::new(queue_client.client())`) and call as usual.
    pub fn client(&self) -> Client {
        Client::builder()
            .timeout(self.timeout())
            .via_queue(self)
            .build(UNDIALLED)
            .unwrap_or_else(|e| unreachable!("{UNDIALLED} is a valid address: {e}"))
    }
}
