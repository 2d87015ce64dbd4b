//! [`Queue`]: what erpc needs of a durable message queue, so that a backend (NATS JetStream,
//! RabbitMQ, or a third party's Kafka) is one implementation of three small traits.
//!
//! The contract, which every backend keeps and the tests check on the real servers:
//! - [`Queue::publish`] returns `Ok` only once the server has **persisted** the message (a
//!   JetStream publish acknowledgement, an AMQP publisher confirm); an error means it may not
//!   have been, and the caller may publish again.
//! - [`Queue::subscribe`] with a group is **durable and shared**: messages published while no
//!   subscriber runs wait for one, and subscribers of the same group split the messages
//!   between them (a consumer group).
//! - Each [`Delivery`] is acknowledged explicitly: [`Delivery::ack`] removes it for good,
//!   [`Delivery::nack`] gives it back for redelivery, and a delivery neither acked nor nacked
//!   (its subscriber died) is **redelivered** after the backend's acknowledgement timeout.
//!   So a message is delivered at least once; the bridge's idempotency window turns that into
//!   one effect.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

/// A failure of the queue itself (connection, server refusal, timeout), with the backend's
/// reason.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{backend}: {message}")]
pub struct QueueError {
    /// Which backend failed (`"nats"`, `"rabbitmq"`).
    pub backend: &'static str,
    /// What failed, for people.
    pub message: String,
}

impl QueueError {
    /// An error of `backend` saying `message`.
    pub fn new(backend: &'static str, message: impl std::fmt::Display) -> QueueError {
        QueueError {
            backend,
            message: message.to_string(),
        }
    }
}

/// How long connecting to a queue server may take by default, handshake and setup included
/// ([`QueueConfig::connect_timeout_ms`](crate::QueueConfig::connect_timeout_ms)): 5 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `connecting` (a backend's whole connect: TCP, handshake, setup) within `timeout`; past it,
/// an error naming the backend, the URL (its password hidden) and the timeout. A server that
/// accepts TCP and never answers would otherwise hold the connect for good: the clients'
/// own timeouts bound the TCP connect only (async-nats), or nothing (lapin).
#[cfg(any(feature = "nats", feature = "rabbitmq"))]
pub(crate) async fn within_connect_timeout<T>(
    backend: &'static str,
    url: &str,
    timeout: Duration,
    connecting: impl std::future::Future<Output = Result<T, QueueError>>,
) -> Result<T, QueueError> {
    match tokio::time::timeout(timeout, connecting).await {
        Ok(result) => result,
        Err(_) => Err(QueueError::new(
            backend,
            format!(
                "connecting to {}: no answer within the connect timeout of {} ms (queue.connect_timeout_ms): the address accepts connections but does not speak {backend} (a proxy, a stalled or half-started server, another protocol's port?)",
                redacted(url),
                timeout.as_millis()
            ),
        )),
    }
}

/// How a subscription is shared and how long a delivery may stay unacknowledged.
#[derive(Debug, Clone)]
pub struct Subscribe {
    /// The subject (NATS) or queue (RabbitMQ) to consume.
    pub subject: String,
    /// `Some(name)`: a durable consumer group shared by every subscriber with that name (the
    /// bridges); `None`: a private subscription for this subscriber alone (a client's
    /// replies), which still survives a restart of the queue server.
    pub group: Option<String>,
    /// A delivery not acked within this time is redelivered (NATS `ack_wait`, when this
    /// subscription creates the group's consumer: an existing one keeps its own, see
    /// [`Subscription::ack_wait`]; RabbitMQ redelivers when the subscriber's connection
    /// closes, whatever this says). Default 30 s.
    pub ack_wait: Duration,
    /// At most this many deliveries fetched ahead by this subscriber (NATS pull batch size,
    /// RabbitMQ prefetch per channel): the subscriber should take about as many at once.
    /// Default 256.
    pub prefetch: u16,
}

impl Subscribe {
    /// A subscription to `subject` in consumer group `group` (`None`: private), with a 30 s
    /// acknowledgement timeout and 256 deliveries in flight.
    pub fn new(subject: impl Into<String>, group: Option<&str>) -> Subscribe {
        Subscribe {
            subject: subject.into(),
            group: group.map(str::to_owned),
            ack_wait: Duration::from_secs(30),
            prefetch: 256,
        }
    }
}

/// A durable message queue: publish with persistence confirmed, subscribe durably.
///
/// Cheap to share (`Arc<dyn Queue>`); every method may be called concurrently.
#[async_trait]
pub trait Queue: Send + Sync + 'static {
    /// The backend's name, for logs and errors (`"nats"`, `"rabbitmq"`).
    fn backend(&self) -> &'static str;

    /// Publish `payload` on `subject`; returns once the server has persisted it. A payload
    /// over [`Queue::max_payload`] is refused at once, naming its size and the limit.
    async fn publish(&self, subject: &str, payload: Bytes) -> Result<(), QueueError>;

    /// The largest message, in bytes, the server takes now, when it says: NATS announces its
    /// `max_payload` (1 MiB by default) to every client, and drops a connection that
    /// publishes more — so callers check first ([`QueueClient`](crate::QueueClient) answers
    /// `resource_exhausted`, the bridge answers that instead of an answer over it). `None`:
    /// no limit known (RabbitMQ does not announce its `max_message_size`; default `None`).
    fn max_payload(&self) -> Option<usize> {
        None
    }

    /// How long the server keeps a message nobody consumed, when it drops it then: NATS
    /// removes a message older than the stream's `max_age` (24 h by default) without a dead
    /// letter, so [`QueueClient`](crate::QueueClient) refuses a deadline past it. `None`:
    /// kept until consumed (RabbitMQ; a NATS stream with `max_age` 0; default `None`).
    fn retention(&self) -> Option<std::time::Duration> {
        None
    }

    /// Start consuming as `subscription` says.
    async fn subscribe(&self, subscription: Subscribe)
    -> Result<Box<dyn Subscription>, QueueError>;

    /// Close the connection to the server, for good, once what was sent on it is through:
    /// publishes in flight finish first (NATS flushes and drains; RabbitMQ closes its
    /// channels and the connection with the AMQP handshake, then waits for lapin's I/O
    /// thread to end, each within 5 s, so a runtime shut down right after has nothing left
    /// to interrupt). Afterwards publishing
    /// and subscribing fail (`… is closed`) and every subscription's [`Subscription::next`]
    /// returns `None`; closing again does nothing. Without it, the connection closes when
    /// the last clone is dropped — on RabbitMQ with a close waited for (at most 1 s) where
    /// the runtime allows, so that a program's end is not logged as a broken connection.
    /// Default: nothing.
    async fn close(&self) -> Result<(), QueueError> {
        Ok(())
    }
}

/// A running subscription: deliveries one after another.
#[async_trait]
pub trait Subscription: Send {
    /// The next delivery; `None` when the subscription has ended for good (the queue client
    /// closed). Transient failures are retried inside the backend, not surfaced here.
    async fn next(&mut self) -> Option<Delivery>;

    /// [`Subscription::next`], fetching at most `room` messages ahead (`room` ≥ 1: the
    /// subscriber's free slots, this delivery's included). A backend whose fetched messages
    /// wait with their acknowledgement timeout running (NATS) must not hold more than the
    /// subscriber can start at once: a message held past `ack_wait` is redelivered to another
    /// subscriber while this one still holds it, and then runs twice. Default: `next`
    /// (RabbitMQ redelivers nothing to a live channel; its prefetch bounds what it holds).
    async fn next_within(&mut self, room: usize) -> Option<Delivery> {
        let _ = room;
        self.next().await
    }

    /// The acknowledgement timeout in effect, as the server says (NATS: the consumer's
    /// `ack_wait`, which may be another subscriber's, not [`Subscribe::ack_wait`]): progress
    /// signals must come within it. `None`: the backend has none (RabbitMQ).
    fn ack_wait(&self) -> Option<Duration> {
        None
    }

    /// Stop consuming: the server is told (RabbitMQ: the consumer cancelled and its channel
    /// closed; NATS: the pull dropped), deliveries not yet settled come back to the group,
    /// and [`Subscription::next`] returns `None` afterwards. Default: nothing.
    async fn close(&mut self) {}
}

/// How a backend settles one delivery.
#[async_trait]
pub trait Settle: Send + Sync {
    /// Remove the message for good; `Ok` once the server has taken the acknowledgement.
    async fn ack(self: Box<Self>) -> Result<(), QueueError>;
    /// Give the message back to be delivered again (to any subscriber of the group), after
    /// `delay` where the backend supports one (NATS does; RabbitMQ requeues at once).
    async fn nack(self: Box<Self>, delay: Duration) -> Result<(), QueueError>;
    /// Say the message is still being worked on, restarting its acknowledgement timeout
    /// (NATS `+WPI`). Default: nothing (RabbitMQ has no such timeout).
    async fn progress(&self) -> Result<(), QueueError> {
        Ok(())
    }
}

/// One message delivered by a [`Subscription`]; settle it with [`Delivery::ack`] or
/// [`Delivery::nack`] (dropping it unsettled leaves it to be redelivered after the
/// acknowledgement timeout).
pub struct Delivery {
    /// The message's bytes, as published.
    pub payload: Bytes,
    /// How many times the server has delivered this message, this time included (1 the first
    /// time); RabbitMQ only says 1 or "redelivered", reported as 2.
    pub delivered: u64,
    /// The message's identity, the same at every redelivery (NATS: its stream sequence),
    /// where the backend has one: a subscriber recognises a redelivery of a message it still
    /// holds. `None` (RabbitMQ, which redelivers nothing to a live channel).
    pub id: Option<u64>,
    settle: Box<dyn Settle>,
}

impl Delivery {
    /// A delivery of `payload` (delivered `delivered` times) settled through `settle`; for
    /// backends.
    pub fn new(payload: Bytes, delivered: u64, settle: Box<dyn Settle>) -> Delivery {
        Delivery {
            payload,
            delivered,
            id: None,
            settle,
        }
    }

    /// This delivery with the message's identity `id` (see [`Delivery::id`]).
    pub fn with_id(self, id: u64) -> Delivery {
        Delivery {
            id: Some(id),
            ..self
        }
    }

    /// Acknowledge: the message is done with.
    pub async fn ack(self) -> Result<(), QueueError> {
        self.settle.ack().await
    }

    /// Restart the acknowledgement timeout: still at work (see [`Settle::progress`]).
    pub async fn progress(&self) -> Result<(), QueueError> {
        self.settle.progress().await
    }

    /// Give the message back for redelivery after `delay` (see [`Settle::nack`]).
    pub async fn nack(self, delay: Duration) -> Result<(), QueueError> {
        self.settle.nack(delay).await
    }
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("len", &self.payload.len())
            .field("delivered", &self.delivered)
            .field("id", &self.id)
            .finish()
    }
}

/// `url` as errors may show it: a password in it (`scheme://user:password@host`) replaced
/// by `***`.
#[cfg(any(feature = "nats", feature = "rabbitmq"))]
pub(crate) fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{}", &rest[authority.len()..])
        }
        _ => url.to_owned(),
    }
}

/// `Ok` if a message of `len` bytes is within `queue`'s [`Queue::max_payload`]; else
/// `resource_exhausted` naming `what`, its size and the limit — at once, where publishing it
/// would fail only after the publish timeout (NATS drops the connection) with a retryable
/// `unavailable`.
pub(crate) fn within_limit(
    queue: &dyn Queue,
    what: &str,
    len: usize,
) -> Result<(), erpc_core::Status> {
    match queue.max_payload() {
        Some(limit) if len > limit => Err(erpc_core::Status::resource_exhausted(format!(
            "{what} is {len} bytes queued, over the {} server's limit of {limit} bytes per message",
            queue.backend()
        ))),
        _ => Ok(()),
    }
}

/// How long a backend waits before consuming again after its `failures`-th failure in a row:
/// 50 ms doubling up to 2 s.
#[cfg(any(feature = "nats", feature = "rabbitmq"))]
pub(crate) fn backoff(failures: u32) -> Duration {
    Duration::from_millis(50u64 << failures.min(6)).min(Duration::from_secs(2))
}

#[cfg(all(test, any(feature = "nats", feature = "rabbitmq")))]
mod tests {
    use super::*;

    #[test]
    fn a_url_in_an_error_shows_no_password() {
        assert_eq!(
            redacted("amqp://guest:secret@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(redacted("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        assert_eq!(redacted("nats://token@host"), "nats://token@host");
        assert_eq!(redacted("not a url"), "not a url");
    }
}

/// Whether a backend's connection was closed for good ([`Queue::close`]): every use checks it
/// first, so a closed queue answers with one clear error instead of a backend's own.
#[derive(Debug, Default)]
pub(crate) struct Closed(std::sync::atomic::AtomicBool);

impl Closed {
    /// `Ok` while open; else the error every use of a closed queue gets.
    pub(crate) fn check(&self, backend: &'static str) -> Result<(), QueueError> {
        if self.is_closed() {
            return Err(QueueError::new(
                backend,
                "the connection is closed (Queue::close)",
            ));
        }
        Ok(())
    }

    /// Whether it is closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Mark it closed; whether it already was.
    pub(crate) fn close(&self) -> bool {
        self.0.swap(true, std::sync::atomic::Ordering::AcqRel)
    }
}
