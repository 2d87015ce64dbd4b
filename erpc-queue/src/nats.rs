//! The NATS JetStream backend (`nats` feature, the default): one stream on disk holding every
//! erpc subject, a durable pull consumer per consumer group.
//!
//! - The stream (default `ERPC`, subjects `erpc.>`, file storage, work-queue retention: a
//!   message is removed once acked) is created on [`NatsQueue::connect`] if missing; an
//!   existing one that keeps acked messages is refused.
//! - [`Queue::publish`] awaits JetStream's publish acknowledgement: the message is on disk.
//!   One over the server's `max_payload` is refused before it is sent.
//! - A group is a durable pull consumer named after it: every subscriber pulling from it
//!   shares its messages. One that exists filtered on another subject is refused, naming
//!   both. A private subscription (no group) is a durable consumer named after
//!   its subject that the server deletes after an hour without a subscriber, so a client's
//!   replies survive a server restart but do not pile up after the client is gone.
//! - Acks are double acks (the server confirms them); a nack is a NAK with the delay; an
//!   unacked delivery comes back after `ack_wait`.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull, stream};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;

use crate::queue::{
    Closed, Delivery, Queue, QueueError, Settle, Subscribe, Subscription, backoff, redacted,
};

const BACKEND: &str = "nats";

/// How a private subscription's consumer outlives its subscriber: an hour.
const PRIVATE_INACTIVE: Duration = Duration::from_secs(3600);

/// Where the stream is and what it holds.
#[derive(Debug, Clone)]
pub struct NatsOptions {
    /// The server's URL, `nats://host:port`. Default `nats://127.0.0.1:4222`.
    pub url: String,
    /// The stream's name. Default `ERPC`.
    pub stream: String,
    /// The subjects the stream holds: every subject erpc publishes on must match one. Default
    /// `["erpc.>"]`.
    pub subjects: Vec<String>,
    /// How long an unconsumed message is kept (the stream's `max_age`; 0: until consumed). A
    /// deadline past it is refused by [`QueueClient`](crate::QueueClient): the message would
    /// be removed first, without a dead letter. Used only when the stream is created: an
    /// existing stream keeps its own. Default 24 h.
    pub max_age: Duration,
    /// How long [`NatsQueue::connect`] may take, all of it (TCP, the server's INFO and our
    /// CONNECT, the stream's creation or check). Default 5 s
    /// ([`DEFAULT_CONNECT_TIMEOUT`](crate::queue::DEFAULT_CONNECT_TIMEOUT)).
    pub connect_timeout: Duration,
}

impl Default for NatsOptions {
    fn default() -> Self {
        NatsOptions {
            url: "nats://127.0.0.1:4222".into(),
            stream: "ERPC".into(),
            subjects: vec!["erpc.>".into()],
            max_age: Duration::from_secs(24 * 3600),
            connect_timeout: crate::queue::DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

/// A [`Queue`] on NATS JetStream.
#[derive(Clone)]
pub struct NatsQueue {
    client: async_nats::Client,
    context: jetstream::Context,
    stream: String,
    /// The stream's `max_age` as the server has it; `None` when 0 (kept until consumed).
    retention: Option<Duration>,
    /// Set by [`Queue::close`]: publishing fails and subscriptions end.
    closed: Arc<Closed>,
}

impl std::fmt::Debug for NatsQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsQueue")
            .field("stream", &self.stream)
            .finish()
    }
}

fn error(e: impl std::fmt::Display) -> QueueError {
    QueueError::new(BACKEND, e)
}

impl NatsQueue {
    /// Connect to `options.url` and create the stream if it does not exist. The first
    /// connection is tried once, all of it within `options.connect_timeout` (5 s by
    /// default): a server that is not there, or a URL that does not parse, is an error at
    /// once naming the URL and the cause (`connection refused`), not a wait; one that
    /// accepts the connection and says nothing is an error after the timeout, naming the
    /// URL and the timeout. Once connected, the connection reconnects by itself when the
    /// server restarts.
    pub async fn connect(options: NatsOptions) -> Result<NatsQueue, QueueError> {
        let url = options.url.clone();
        let timeout = options.connect_timeout;
        crate::queue::within_connect_timeout(BACKEND, &url, timeout, NatsQueue::dial(options)).await
    }

    async fn dial(options: NatsOptions) -> Result<NatsQueue, QueueError> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(options.connect_timeout)
            .connect(&options.url)
            .await
            .map_err(|e| error(format!("connecting to {}: {e}", redacted(&options.url))))?;
        let context = jetstream::new(client.clone());
        let stream = context
            .get_or_create_stream(stream::Config {
                name: options.stream.clone(),
                subjects: options.subjects.clone(),
                storage: stream::StorageType::File,
                retention: stream::RetentionPolicy::WorkQueue,
                max_age: options.max_age,
                ..Default::default()
            })
            .await
            .map_err(|e| error(format!("creating stream {}: {e}", options.stream)))?;
        // A stream made by someone else is used as it is — but not one that keeps acknowledged
        // messages: a consumer group made later (or made again) would start from its first
        // message and run every request it holds once more.
        let retention = stream.cached_info().config.retention;
        if retention != stream::RetentionPolicy::WorkQueue {
            return Err(error(format!(
                "stream {} already exists with {retention:?} retention, not WorkQueue: it would keep acknowledged requests, and a new consumer group would run them again; use another stream (queue.stream) or recreate it",
                options.stream
            )));
        }
        // An existing stream's own max_age, not ours, is what removes messages (0: never).
        let max_age = stream.cached_info().config.max_age;
        Ok(NatsQueue {
            client,
            context,
            stream: options.stream,
            retention: (!max_age.is_zero()).then_some(max_age),
            closed: Arc::default(),
        })
    }

    fn check_open(&self) -> Result<(), QueueError> {
        self.closed.check(BACKEND)
    }
}

/// Whether `e` says the client's connection task is gone — closed, or its runtime shutting
/// down — so nothing on this client can work again: the end of a subscription, not a
/// failure to retry (and warn about) at every backoff. async-nats says so only in the text
/// of its internal channel's error.
fn connection_gone(e: &dyn std::error::Error) -> bool {
    let mut cause = Some(e);
    while let Some(e) = cause {
        if e.to_string().contains("channel closed") {
            return true;
        }
        cause = e.source();
    }
    false
}

/// Refuse a message over the server's `max_payload`: JetStream publishes are not checked by
/// the NATS client, and the server answers one with `-ERR 'Maximum Payload Violation'` and
/// closes the connection — every call in flight on it waits out its timeout.
fn check_size(subject: &str, len: usize, max_payload: usize) -> Result<(), QueueError> {
    if len > max_payload {
        return Err(error(format!(
            "publishing on {subject}: the message is {len} bytes, over the server's max_payload of {max_payload} bytes"
        )));
    }
    Ok(())
}

/// Where a consumer group's durable consumer already exists with another filter subject:
/// what it consumes, for the refusal.
fn filters(config: &jetstream::consumer::Config) -> String {
    if !config.filter_subjects.is_empty() {
        format!("{:?}", config.filter_subjects)
    } else if config.filter_subject.is_empty() {
        "every subject of the stream".into()
    } else {
        format!("{:?}", config.filter_subject)
    }
}

#[async_trait]
impl Queue for NatsQueue {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn publish(&self, subject: &str, payload: Bytes) -> Result<(), QueueError> {
        self.check_open()?;
        check_size(
            subject,
            payload.len(),
            self.client.server_info().max_payload,
        )?;
        self.context
            .publish(subject.to_owned(), payload)
            .await
            .map_err(|e| error(format!("publishing on {subject}: {e}")))?
            .await
            .map_err(|e| error(format!("publishing on {subject}: not persisted: {e}")))?;
        Ok(())
    }

    fn max_payload(&self) -> Option<usize> {
        Some(self.client.server_info().max_payload)
    }

    fn retention(&self) -> Option<Duration> {
        self.retention
    }

    async fn close(&self) -> Result<(), QueueError> {
        if self.closed.close() {
            return Ok(());
        }
        // What was written goes out first; then the subscriptions drain and the connection
        // closes (in async-nats's connection task).
        let flushed = tokio::time::timeout(Duration::from_secs(5), self.client.flush()).await;
        if let Ok(Err(e)) = flushed {
            tracing::debug!(error = %e, "nats: flushing before closing");
        }
        self.client
            .drain()
            .await
            .map_err(|e| error(format!("closing: {e}")))
    }

    async fn subscribe(
        &self,
        subscription: Subscribe,
    ) -> Result<Box<dyn Subscription>, QueueError> {
        self.check_open()?;
        let (name, inactive) = match &subscription.group {
            Some(group) => (group.clone(), Duration::ZERO),
            None => (
                subscription.subject.replace(['.', '*', '>'], "_"),
                PRIVATE_INACTIVE,
            ),
        };
        let stream = self
            .context
            .get_stream(&self.stream)
            .await
            .map_err(|e| error(format!("stream {}: {e}", self.stream)))?;
        let config = pull::Config {
            durable_name: Some(name.clone()),
            filter_subject: subscription.subject.clone(),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: subscription.ack_wait,
            inactive_threshold: inactive,
            ..Default::default()
        };
        let failed = |e: &dyn std::fmt::Display| {
            error(format!("consumer {name} on {}: {e}", subscription.subject))
        };
        let consumer = stream
            .get_or_create_consumer(&name, config.clone())
            .await
            .map_err(|e| failed(&e))?;
        let existing = &consumer.cached_info().config;
        if existing.filter_subject != subscription.subject || !existing.filter_subjects.is_empty() {
            // Refused rather than updated: the durable consumer is the group's, shared by
            // every bridge in it. Changing its filter would silently move the other running
            // bridges of the group to this subject (and the next one started with the old
            // configuration would move them back); the messages it holds acknowledged or
            // pending belong to the old subject; and nats-server before 2.10 cannot change a
            // filter at all. Naming both lets the operator choose: another group, or the old
            // consumer deleted once no bridge uses it.
            return Err(error(format!(
                "consumer group {name:?} already exists on stream {} consuming {}, not {:?}: use another group, or delete it once no subscriber uses it (nats consumer rm {} {name})",
                self.stream,
                filters(existing),
                subscription.subject,
                self.stream,
            )));
        }
        if existing.ack_wait != subscription.ack_wait {
            // The existing consumer's wins: it is the group's, and changing it in place would
            // change it under the running bridges too — one with a longer ack_wait than the
            // new value times its progress signals from it, and its running requests would
            // be redelivered to another bridge and run twice. Every subscriber times its
            // progress from the value read back here.
            tracing::warn!(
                group = %name,
                consumer_ack_wait_ms = existing.ack_wait.as_millis() as u64,
                configured_ack_wait_ms = subscription.ack_wait.as_millis() as u64,
                "nats: consumer group {name:?} exists with ack_wait {} ms, not the {} ms configured: the group's {} ms is kept (change it with `nats consumer edit {} {name}` or delete the consumer once no subscriber uses it)",
                existing.ack_wait.as_millis(),
                subscription.ack_wait.as_millis(),
                existing.ack_wait.as_millis(),
                self.stream,
            );
        }
        let ack_wait = existing.ack_wait;
        Ok(Box::new(NatsSubscription {
            consumer,
            ack_wait,
            most: usize::from(subscription.prefetch.max(1)),
            messages: None,
            closed: self.closed.clone(),
            ended: false,
        }))
    }
}

/// How long one pull waits at the server for messages before it is made again.
const PULL_EXPIRES: Duration = Duration::from_secs(5);

/// A pull consumer read one pull at a time, each for no more messages than the subscriber
/// has room for (`next_within`): a message pulled but not started would wait here with its
/// `ack_wait` running, be redelivered to another subscriber of the group, and run twice. A
/// pull ends when it has its messages or after [`PULL_EXPIRES`]; a broken one (a server
/// restart) is made again.
struct NatsSubscription {
    consumer: jetstream::consumer::Consumer<pull::Config>,
    /// The consumer's `ack_wait`, as the server has it.
    ack_wait: Duration,
    /// The most messages one pull asks for (`Subscribe::prefetch`).
    most: usize,
    messages: Option<pull::Batch>,
    /// The queue's: closed, this subscription ends.
    closed: Arc<Closed>,
    /// Closed itself, or its connection gone for good.
    ended: bool,
}

impl NatsSubscription {
    /// Whether this subscription is over: closed, its queue closed, or — `failed` — its
    /// connection gone for good. Said at DEBUG: a closing connection is not an error.
    fn over(&mut self, failed: Option<&dyn std::error::Error>) -> bool {
        if let Some(e) = failed.filter(|e| connection_gone(*e)) {
            tracing::debug!(error = %e, "nats: the connection is gone; the subscription ends");
            self.ended = true;
        }
        self.ended || self.closed.is_closed()
    }
}

#[async_trait]
impl Subscription for NatsSubscription {
    async fn next(&mut self) -> Option<Delivery> {
        self.next_within(self.most).await
    }

    fn ack_wait(&self) -> Option<Duration> {
        Some(self.ack_wait)
    }

    async fn close(&mut self) {
        self.ended = true;
        self.messages = None;
    }

    async fn next_within(&mut self, room: usize) -> Option<Delivery> {
        let mut failures = 0u32;
        loop {
            if self.over(None) {
                self.messages = None;
                return None;
            }
            let messages = match &mut self.messages {
                Some(messages) => messages,
                None => {
                    let pull = self
                        .consumer
                        .batch()
                        .max_messages(room.clamp(1, self.most))
                        .expires(PULL_EXPIRES)
                        .messages()
                        .await;
                    match pull {
                        Ok(messages) => self.messages.insert(messages),
                        Err(e) => {
                            if self.over(Some(&e as &dyn std::error::Error)) {
                                return None;
                            }
                            failures += 1;
                            tracing::warn!(error = %e, "nats: pulling a consumer's messages");
                            tokio::time::sleep(backoff(failures)).await;
                            continue;
                        }
                    }
                }
            };
            match messages.next().await {
                Some(Ok(message)) => {
                    let info = message.info().ok();
                    let delivered = info.as_ref().map_or(1, |i| i.delivered.max(1) as u64);
                    let sequence = info.as_ref().map(|i| i.stream_sequence);
                    let payload = message.payload.clone();
                    let delivery = Delivery::new(payload, delivered, Box::new(NatsSettle(message)));
                    return Some(match sequence {
                        Some(sequence) => delivery.with_id(sequence),
                        None => delivery,
                    });
                }
                Some(Err(e)) => {
                    if self.over(Some(&*e as &dyn std::error::Error)) {
                        self.messages = None;
                        return None;
                    }
                    // Failed pulls (the server restarting) end nothing: pull again.
                    failures += 1;
                    tracing::warn!(error = %e, "nats: consumer pull interrupted");
                    self.messages = None;
                    tokio::time::sleep(backoff(failures)).await;
                }
                None => {
                    // The pull has its messages or expired: the next one asks for the room
                    // there is then.
                    self.messages = None;
                }
            }
        }
    }
}

struct NatsSettle(jetstream::Message);

#[async_trait]
impl Settle for NatsSettle {
    async fn ack(self: Box<Self>) -> Result<(), QueueError> {
        self.0
            .double_ack()
            .await
            .map_err(|e| error(format!("ack: {e}")))
    }

    async fn nack(self: Box<Self>, delay: Duration) -> Result<(), QueueError> {
        self.0
            .ack_with(AckKind::Nak(Some(delay)))
            .await
            .map_err(|e| error(format!("nak: {e}")))
    }

    async fn progress(&self) -> Result<(), QueueError> {
        self.0
            .ack_with(AckKind::Progress)
            .await
            .map_err(|e| error(format!("progress: {e}")))
    }
}
