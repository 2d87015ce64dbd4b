//! Typed clients through the queue, unchanged: a client middleware that sends every call
//! through a [`QueueClient`] instead of the wire.
//!
//! It is the last step of the client's chain (it never passes a call on), so add it after
//! any other middleware. When erpc-core's call-level layers land, this becomes one of them.

use erpc_core::{
    Client, ClientBuilder, ClientMiddleware, ClientNext, ClientRequest, ClientResponse, Status,
};

use crate::client::QueueClient;

/// The address a queue-backed [`Client`] is built with: never dialled, since every call
/// goes through the queue.
const UNDIALLED: &str = "mem://erpc-queue-undialled";

/// The middleware sending calls through `.0`.
#[derive(Clone)]
pub struct ViaQueue(pub QueueClient);

#[async_trait::async_trait]
impl ClientMiddleware for ViaQueue {
    async fn call(
        &self,
        request: ClientRequest,
        _next: ClientNext<'_>,
    ) -> Result<ClientResponse, Status> {
        self.0.invoke(request).await
    }
}

/// `Client::builder().via_queue(&queue_client)`.
pub trait ViaQueueExt {
    /// Send every call of the client being built through `queue` (see [`ViaQueue`]); build
    /// it with any address, which is never dialled.
    fn via_queue(self, queue: &QueueClient) -> ClientBuilder;
}

impl ViaQueueExt for ClientBuilder {
    fn via_queue(self, queue: &QueueClient) -> ClientBuilder {
        self.middleware(ViaQueue(queue.clone()))
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
