//! Asynchronous erpc calls over a durable message queue (QUEUE.md).
//!
//! A caller that cannot reach a service directly, or must not block on it, publishes the
//! call — the erpc frame itself, in a small [envelope] — on a queue; a
//! [`Bridge`] consumes it, forwards it to the service with timeouts and retries, and
//! publishes the answer on the caller's reply subject. The service's code does not change,
//! and neither does the caller's: a generated client over [`QueueClient::client`] calls
//! through the queue.
//!
//! - [`Queue`]: what a backend provides (durable publish, durable shared subscribe, explicit
//!   ack); [`NatsQueue`] (feature `nats`, default) and `RabbitQueue` (feature
//!   `rabbitmq`). Another backend is one implementation of the trait.
//! - [`QueueClient`]: `call`, `send` (fire and forget) and `invoke`; [`ViaQueueExt`] for
//!   `Client::builder().via_queue(..).build(addr)`.
//! - [`Bridge`]: the forwarding loop, configured by [`BridgeConfig`] (YAML), with [`Hook`]s;
//!   the `erpc-bridge` binary runs one.

pub mod bridge;
pub mod client;
pub mod config;
pub mod envelope;
pub mod frames;
pub mod hooks;
mod names;
#[cfg(feature = "nats")]
pub mod nats;
pub mod queue;
#[cfg(feature = "rabbitmq")]
pub mod rabbitmq;
#[cfg(feature = "servers")]
pub mod servers;
pub mod stats;
pub mod targets;
mod via_queue;
mod window;

pub use bridge::{Bridge, IDEMPOTENCY_METADATA};
pub use client::{QueueClient, QueueClientOptions};
pub use config::{
    BridgeConfig, ConfigError, QueueConfig, RabbitConfig, RabbitQueueType, TargetConfig,
};
pub use envelope::Envelope;
pub use hooks::{Hook, LogHook};
#[cfg(feature = "nats")]
pub use nats::{NatsOptions, NatsQueue};
pub use queue::{Delivery, Queue, QueueError, Settle, Subscribe, Subscription};
#[cfg(feature = "rabbitmq")]
pub use rabbitmq::RabbitQueue;
pub use stats::BridgeStats;
pub use via_queue::{ViaQueue, ViaQueueExt, ViaQueueLayer};

/// Connect to the queue `config` names, within its
/// [`connect_timeout_ms`](QueueConfig::connect_timeout_ms) (5 s by default; handshake and
/// setup included): a server that accepts the connection and never answers fails the connect
/// then, naming the URL, the backend and the timeout.
pub async fn connect(config: &QueueConfig) -> Result<std::sync::Arc<dyn Queue>, QueueError> {
    match config.backend.as_str() {
        #[cfg(feature = "nats")]
        "nats" => {
            let defaults = NatsOptions::default();
            let queue = NatsQueue::connect(NatsOptions {
                url: config.url.clone().unwrap_or(defaults.url),
                stream: config.stream.clone(),
                connect_timeout: config.connect_timeout(),
                ..defaults
            })
            .await?;
            Ok(std::sync::Arc::new(queue))
        }
        #[cfg(feature = "rabbitmq")]
        "rabbitmq" => {
            let url = config
                .url
                .clone()
                .unwrap_or_else(|| "amqp://127.0.0.1:5672/%2f".into());
            Ok(std::sync::Arc::new(
                RabbitQueue::connect_within(
                    &url,
                    config.rabbitmq.queue_type,
                    config.connect_timeout(),
                )
                .await?,
            ))
        }
        other => Err(QueueError::new(
            "config",
            format!(
                "queue backend {other:?} is unknown or not built in (features: nats, rabbitmq)"
            ),
        )),
    }
}
