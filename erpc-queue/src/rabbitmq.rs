//! The RabbitMQ backend (`rabbitmq` feature, lapin): a subject is a durable **quorum queue**
//! of that name (replicated, on disk), published to through the default exchange with
//! publisher confirms.
//!
//! - [`Queue::publish`] declares the queue (once per connection) and waits for the broker's
//!   confirm; the message is persistent (delivery mode 2) and `mandatory`, so one the broker
//!   could not route is an error, not a silent loss.
//! - A group is the queue itself: every subscriber consuming it shares its messages (the
//!   broker round-robins them). A private subscription is the same on a queue nobody else
//!   consumes.
//! - Acks and nacks go to the broker; an unacked delivery is redelivered when its
//!   subscriber's channel closes (RabbitMQ has no acknowledgement timeout: `ack_wait` is not
//!   used), which is what a killed bridge does.
//! - The connection is re-made when it breaks (a broker restart): publishing tries once more
//!   on a fresh connection, subscriptions consume again.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio::sync::Mutex;

use crate::config::RabbitQueueType;
use crate::queue::{
    Closed, Delivery, Queue, QueueError, Settle, Subscribe, Subscription, backoff, redacted,
};

const BACKEND: &str = "rabbitmq";

/// How long one publish (its queue declared, the message sent, the broker's confirm) may
/// take. A broker that crashed mid-publish can leave the confirm (or a declare) never
/// completing; without a bound the publish held the connection's lock for good and every
/// later publish — every answer of a bridge — waited behind it.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(30);

fn error(e: impl std::fmt::Display) -> QueueError {
    QueueError::new(BACKEND, e)
}

/// A [`Queue`] on RabbitMQ.
#[derive(Clone)]
pub struct RabbitQueue {
    link: std::sync::Arc<Link>,
}

impl std::fmt::Debug for RabbitQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitQueue").finish_non_exhaustive()
    }
}

/// The connection, its publishing channel and the queues declared on it; re-made when
/// broken, until closed.
struct Link {
    url: String,
    /// What subjects other than reply queues are declared as.
    queue_type: RabbitQueueType,
    /// How long a dial (TCP, the AMQP handshake, the publishing channel) may take.
    connect_timeout: Duration,
    state: Mutex<Option<Connected>>,
    /// Set by [`Queue::close`]: nothing dials again, subscriptions end.
    closed: Closed,
    /// Queues whose declaration the broker refused (another `x-queue-type`), with when and
    /// why: used for [`REFUSED_FOR`] instead of declaring again.
    refused: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, QueueError)>>,
}

/// How long a queue's refused declaration is answered from memory. Each refusal closes a
/// channel, which lapin logs at ERROR: declared again at every call, a mismatched
/// `queue_type` logged two or three raw ERROR lines per call besides erpc's own error. Remembered,
/// it costs one such line per queue at start and then once every 30 s at most; a queue
/// deleted meanwhile (to be declared again with the right type) is used after at most 30 s.
const REFUSED_FOR: Duration = Duration::from_secs(30);

/// How long closing (a channel, the connection) may take before it is given up on.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long dropping the last clone of a queue waits for its connection to close.
const DROP_CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

struct Connected {
    connection: Connection,
    publisher: Channel,
    declared: HashSet<String>,
    /// What runs lapin's tasks for `connection` ([`serial`]).
    tasks: serial::Serial,
}

impl RabbitQueue {
    /// Connect to `url` (`amqp://user:pass@host:port/vhost`, the default vhost being `%2f`);
    /// subjects are quorum queues.
    pub async fn connect(url: &str) -> Result<RabbitQueue, QueueError> {
        RabbitQueue::connect_with(url, RabbitQueueType::Quorum).await
    }

    /// [`RabbitQueue::connect`], subjects other than reply queues declared as `queue_type`
    /// (every client and bridge of a subject must use the same: the broker refuses a
    /// declaration with another type).
    pub async fn connect_with(
        url: &str,
        queue_type: RabbitQueueType,
    ) -> Result<RabbitQueue, QueueError> {
        RabbitQueue::connect_within(url, queue_type, crate::queue::DEFAULT_CONNECT_TIMEOUT).await
    }

    /// [`RabbitQueue::connect_with`], each connection made (this first one, and any made
    /// again after the broker went away) within `connect_timeout`, all of it: TCP, the AMQP
    /// handshake, the publishing channel. A broker that accepts the connection and then says
    /// nothing fails the dial after it, naming the URL and the timeout (lapin has no bound of
    /// its own). [`RabbitQueue::connect_with`] gives 5 s.
    pub async fn connect_within(
        url: &str,
        queue_type: RabbitQueueType,
        connect_timeout: Duration,
    ) -> Result<RabbitQueue, QueueError> {
        let link = Link {
            url: url.to_owned(),
            queue_type,
            connect_timeout,
            refused: Default::default(),
            state: Mutex::new(None),
            closed: Closed::default(),
        };
        *link.state.lock().await = Some(link.dial().await?);
        Ok(RabbitQueue {
            link: std::sync::Arc::new(link),
        })
    }
}

impl Link {
    fn check_open(&self) -> Result<(), QueueError> {
        self.closed.check(BACKEND)
    }

    /// Close the connection for good (see [`Queue::close`]).
    async fn close(&self) -> Result<(), QueueError> {
        self.closed.close();
        // Taking the lock waits for a publish declaring its queue; one awaiting its confirm
        // gets it before the broker's close-ok (AMQP answers in order on the connection).
        let Some(connected) = self.state.lock().await.take() else {
            return Ok(());
        };
        // The publishing channel is kept until the connection is closed: dropping it first
        // would start a channel close of its own, racing the connection's.
        let Connected {
            connection,
            publisher: _publisher,
            declared: _,
            tasks,
        } = connected;
        if !connection.status().connected() {
            return Ok(());
        }
        // A channel closed just before (a subscription's) is removed from lapin's table by a
        // task of lapin's; the connection's close must not find it there, or lapin removes it
        // twice and logs the second removal's failure at ERROR (see [`serial`]).
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, tasks.settled()).await;
        let closed = match tokio::time::timeout(
            CLOSE_TIMEOUT,
            connection.close(200, "closed by the client"),
        )
        .await
        {
            Ok(result) => result.map_err(|e| error(format!("closing: {e}"))),
            Err(_) => Err(error(format!(
                "closing: the broker did not answer within {CLOSE_TIMEOUT:?}"
            ))),
        };
        closed?;
        // The close-ok is in, but lapin's I/O thread is still finishing (its socket still
        // registered with this runtime's reactor): a runtime shut down now makes it log
        // `A Tokio 1.x context was found, but it is being shutdown` at ERROR (fu16 #2). So
        // wait for it to end.
        if tokio::time::timeout(CLOSE_TIMEOUT, io_loop_ended(connection))
            .await
            .is_err()
        {
            return Err(error(format!(
                "closing: the connection's I/O thread did not end within {CLOSE_TIMEOUT:?}"
            )));
        }
        Ok(())
    }

    /// A fresh connection and publishing channel, within the connect timeout.
    async fn dial(&self) -> Result<Connected, QueueError> {
        crate::queue::within_connect_timeout(BACKEND, &self.url, self.connect_timeout, self.open())
            .await
    }

    async fn open(&self) -> Result<Connected, QueueError> {
        let tasks = serial::Serial::start();
        let properties = ConnectionProperties::default()
            .with_executor(tasks.clone())
            .with_reactor(tokio_reactor_trait::Tokio);
        let connection = Connection::connect(&self.url, properties)
            .await
            .map_err(|e| error(format!("connecting to {}: {e}", redacted(&self.url))))?;
        let publisher = connection
            .create_channel()
            .await
            .map_err(|e| error(format!("opening a channel: {e}")))?;
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| error(format!("enabling publisher confirms: {e}")))?;
        Ok(Connected {
            connection,
            publisher,
            declared: HashSet::new(),
            tasks,
        })
    }

    /// The publishing channel with `queue` declared, on a live connection.
    async fn publisher(&self, queue: &str) -> Result<Channel, QueueError> {
        let mut state = self.state.lock().await;
        self.check_open()?;
        let live = state
            .as_ref()
            .is_some_and(|c| c.connection.status().connected() && c.publisher.status().connected());
        if !live {
            *state = Some(self.dial().await?);
        }
        let connected = state.as_mut().ok_or_else(|| error("not connected"))?;
        if !connected.declared.contains(queue) {
            // On a channel of its own: a refusal closes the channel it came on, and the
            // publishing one lost would mean a new connection for the next publish.
            let channel = connected
                .connection
                .create_channel()
                .await
                .map_err(|e| error(format!("opening a channel: {e}")))?;
            self.declare(&channel, queue).await?;
            if let Err(e) = channel.close(200, "declared").await {
                tracing::debug!(error = %e, "rabbitmq: closing the declaring channel");
            }
            connected.declared.insert(queue.to_owned());
        }
        Ok(connected.publisher.clone())
    }

    /// [`declare`] `queue` on `channel` — unless the broker refused it within
    /// [`REFUSED_FOR`]: then that refusal again, without asking (see [`Link::refused`]).
    async fn declare(&self, channel: &Channel, queue: &str) -> Result<(), QueueError> {
        {
            let mut refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((at, e)) = refused.get(queue) {
                if at.elapsed() < REFUSED_FOR {
                    return Err(e.clone());
                }
                refused.remove(queue);
            }
        }
        let declared = declare(channel, queue, self.queue_type).await;
        if let Err(e) = &declared {
            // Only the broker's refusal of the arguments is remembered, not a broken
            // connection (which the next dial may mend).
            if e.message.contains("PRECONDITION_FAILED") || e.message.contains("x-queue-type") {
                self.refused
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(queue.to_owned(), (std::time::Instant::now(), e.clone()));
            }
        }
        declared
    }

    /// A fresh channel for a consumer, on a live connection.
    async fn consumer_channel(&self) -> Result<Channel, QueueError> {
        let mut state = self.state.lock().await;
        self.check_open()?;
        let live = state
            .as_ref()
            .is_some_and(|c| c.connection.status().connected());
        if !live {
            *state = Some(self.dial().await?);
        }
        let connected = state.as_ref().ok_or_else(|| error("not connected"))?;
        connected
            .connection
            .create_channel()
            .await
            .map_err(|e| error(format!("opening a channel: {e}")))
    }

    /// [`Link::publish_confirmed`] within [`PUBLISH_TIMEOUT`]; past it the connection is
    /// taken for broken and dropped, so the next publish (or consumer) dials a fresh one.
    async fn publish_once(&self, subject: &str, payload: &[u8]) -> Result<(), QueueError> {
        match tokio::time::timeout(PUBLISH_TIMEOUT, self.publish_confirmed(subject, payload)).await
        {
            Ok(result) => result,
            Err(_) => {
                if let Some(stale) = self.state.lock().await.take() {
                    // Closing may hang like the publish did: in the background, bounded.
                    tokio::spawn(async move {
                        let closing = stale.connection.close(320, "publish timed out");
                        let _ = tokio::time::timeout(Duration::from_secs(1), closing).await;
                    });
                }
                Err(error(format!(
                    "publishing on {subject}: not confirmed within {PUBLISH_TIMEOUT:?}; reconnecting"
                )))
            }
        }
    }

    async fn publish_confirmed(&self, subject: &str, payload: &[u8]) -> Result<(), QueueError> {
        let channel = self.publisher(subject).await?;
        let confirm = channel
            .basic_publish(
                "",
                subject,
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                payload,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .map_err(|e| error(format!("publishing on {subject}: {e}")))?
            .await
            .map_err(|e| error(format!("publishing on {subject}: no confirm: {e}")))?;
        match confirm {
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Ack(Some(_)) => Err(error(format!(
                "publishing on {subject}: the broker could not route it (no queue {subject})"
            ))),
            Confirmation::Nack(_) => Err(error(format!(
                "publishing on {subject}: the broker refused to persist it (nack)"
            ))),
            Confirmation::NotRequested => Err(error("publisher confirms are off")),
        }
    }
}

/// The connection closed when the last clone of its queue is dropped without
/// [`Queue::close`]: lapin would close it from a task of its own, which a program's end does
/// not wait for — its I/O thread then meets a runtime shutting down and logs that at ERROR
/// (`A Tokio 1.x context was found, but it is being shutdown`), with a WARN for every answer
/// nobody awaits any more. So the close is waited for here (at most
/// [`DROP_CLOSE_TIMEOUT`], timed by a thread: during the runtime's shutdown its timers would
/// panic and its drivers no longer run — the close then fails, and lapin logs it, as
/// before) where the runtime allows blocking (multi-threaded); on a current-thread runtime
/// it is only started.
impl Drop for Link {
    fn drop(&mut self) {
        let Some(connected) = self.state.get_mut().take() else {
            return;
        };
        if !connected.connection.status().connected() || std::thread::panicking() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        // Bounded by a thread's sleep, not a tokio timer: a drop may come while the runtime
        // shuts down (a task holding the queue dropped), when its timers panic.
        let (elapsed, timed_out) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            std::thread::sleep(DROP_CLOSE_TIMEOUT);
            let _ = elapsed.send(());
        });
        let close = async move {
            let Connected {
                connection,
                publisher: _publisher,
                declared: _,
                tasks,
            } = connected;
            let closing = std::pin::pin!(async move {
                // Not `tasks.settled()` first, as `Link::close` does: here no subscription was
                // closed and awaited before (a dropped one's consumer and channel are closed
                // by lapin's own tasks, on their way when this runs). Waiting for those tasks
                // puts their channel's close in flight as the connection's begins, which
                // lapin logged at ERROR (`invalid connection state: Closed`, close.rs under
                // load); closing the connection at once, as before, was quiet there.
                drop(tasks);
                if connection.close(200, "closed by the client").await.is_ok() {
                    // As in `Link::close`: the I/O thread done with the reactor first.
                    let _ = io_loop_ended(connection).await;
                }
            });
            let _ = futures_util::future::select(closing, timed_out).await;
        };
        match runtime.runtime_flavor() {
            tokio::runtime::RuntimeFlavor::MultiThread => {
                // A drop must not panic whatever the context; at worst the close is skipped.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    tokio::task::block_in_place(|| runtime.block_on(close))
                }));
            }
            _ => drop(runtime.spawn(close)),
        }
    }
}

/// Resolves once lapin's I/O thread for `connection` has ended (at once if it has), after
/// the connection was closed: [`Connection::run`] joins that thread, here on a thread of
/// its own so that no runtime thread blocks. Without the wait a close returns while the
/// thread still has its socket on the runtime's reactor.
fn io_loop_ended(connection: Connection) -> tokio::sync::oneshot::Receiver<()> {
    let (ended, waited) = tokio::sync::oneshot::channel();
    let joining = std::thread::Builder::new()
        .name("erpc-rabbitmq-close".into())
        .spawn(move || {
            if let Err(e) = connection.run() {
                tracing::debug!(error = %e, "rabbitmq: the connection's I/O thread ended");
            }
            let _ = ended.send(());
        });
    if let Err(e) = joining {
        // No thread: not waited for; the receiver resolves at once (its sender dropped).
        tracing::debug!(error = %e, "rabbitmq: no thread to wait for the I/O thread");
    }
    waited
}

/// How long a private queue (a client's replies) outlives its last reader: an hour, as on
/// NATS.
const PRIVATE_EXPIRES_MS: i64 = 3_600_000;

/// The prefix of reply queues: classic and expiring (see [`declare`]).
const REPLIES: &str = "erpc.replies.";

/// Declare `queue` durable. A reply queue (named `erpc.replies.…`, a `QueueClient`'s
/// default) is a classic durable queue that the broker deletes an hour after its last reader
/// left (`x-expires`), so a client gone for good leaves nothing behind — and which, unlike a
/// quorum queue, recovers after a single node is killed (a quorum queue can stay without a
/// leader, every publish to it unconfirmed: rabbitmq-server issue 10070). Every other queue
/// is of `queue_type`: quorum (replicated, on disk) by default, or classic durable. Decided
/// by the name and the configuration alone, so that every declaration of a queue, by its
/// reader or a publisher, has the same arguments: RabbitMQ refuses a redeclaration with
/// others (and closes the channel) — the error then says what to change.
async fn declare(
    channel: &Channel,
    queue: &str,
    queue_type: RabbitQueueType,
) -> Result<(), QueueError> {
    let mut arguments = FieldTable::default();
    if !queue.starts_with(REPLIES) {
        arguments.insert(
            "x-queue-type".into(),
            AMQPValue::LongString(queue_type.as_str().into()),
        );
    } else {
        arguments.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("classic".into()),
        );
        arguments.insert(
            "x-expires".into(),
            AMQPValue::LongLongInt(PRIVATE_EXPIRES_MS),
        );
    }
    channel
        .queue_declare(
            queue,
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            arguments,
        )
        .await
        .map_err(|e| {
            let hint = if e.to_string().contains("x-queue-type") {
                format!(
                    " (it exists with another type than {}: every client and bridge of it must use the same queue.rabbitmq.queue_type, or delete the queue once nobody uses it)",
                    queue_type.as_str()
                )
            } else {
                String::new()
            };
            error(format!("declaring queue {queue}: {e}{hint}"))
        })?;
    Ok(())
}

#[async_trait]
impl Queue for RabbitQueue {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn publish(&self, subject: &str, payload: Bytes) -> Result<(), QueueError> {
        self.link.check_open()?;
        match self.link.publish_once(subject, &payload).await {
            Ok(()) => Ok(()),
            Err(first) => {
                // A connection broken since the last publish: one more try on a fresh one.
                tracing::debug!(error = %first, "rabbitmq: publishing again");
                self.link.publish_once(subject, &payload).await
            }
        }
    }

    async fn subscribe(
        &self,
        subscription: Subscribe,
    ) -> Result<Box<dyn Subscription>, QueueError> {
        let consumer = consume(&self.link, &subscription).await?;
        Ok(Box::new(RabbitSubscription {
            link: self.link.clone(),
            subscription,
            consumer: Some(consumer),
            ended: false,
        }))
    }

    async fn close(&self) -> Result<(), QueueError> {
        self.link.close().await
    }
}

/// A consumer and the channel it is on (closed with it).
type Consuming = (Channel, lapin::Consumer);

async fn consume(link: &Link, subscription: &Subscribe) -> Result<Consuming, QueueError> {
    let channel = link.consumer_channel().await?;
    link.declare(&channel, &subscription.subject).await?;
    channel
        .basic_qos(subscription.prefetch, BasicQosOptions::default())
        .await
        .map_err(|e| error(format!("prefetch: {e}")))?;
    let consumer = channel
        .basic_consume(
            &subscription.subject,
            "",
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| error(format!("consuming {}: {e}", subscription.subject)))?;
    Ok((channel, consumer))
}

struct RabbitSubscription {
    link: std::sync::Arc<Link>,
    subscription: Subscribe,
    consumer: Option<Consuming>,
    /// Closed ([`Subscription::close`]).
    ended: bool,
}

impl RabbitSubscription {
    /// Whether this subscription is over: closed, or its queue closed.
    fn over(&self) -> bool {
        self.ended || self.link.closed.is_closed()
    }
}

#[async_trait]
impl Subscription for RabbitSubscription {
    async fn close(&mut self) {
        self.ended = true;
        let Some((channel, consumer)) = self.consumer.take() else {
            return;
        };
        // Cancelled first, so the broker sends nothing more, then the channel closed: what
        // it holds unacknowledged goes back to the queue.
        let closing = async {
            channel
                .basic_cancel(consumer.tag().as_str(), Default::default())
                .await?;
            channel.close(200, "closed by the subscriber").await
        };
        match tokio::time::timeout(CLOSE_TIMEOUT, closing).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "rabbitmq: closing a subscription"),
            Err(_) => tracing::debug!("rabbitmq: closing a subscription timed out"),
        }
    }

    async fn next(&mut self) -> Option<Delivery> {
        let mut failures = 0u32;
        loop {
            if self.over() {
                self.consumer = None;
                return None;
            }
            let consumer = match &mut self.consumer {
                Some((_, consumer)) => consumer,
                None => match consume(&self.link, &self.subscription).await {
                    Ok(consuming) => &mut self.consumer.insert(consuming).1,
                    Err(_) if self.over() => return None,
                    Err(e) => {
                        failures += 1;
                        tracing::warn!(error = %e, "rabbitmq: consuming again");
                        tokio::time::sleep(backoff(failures)).await;
                        continue;
                    }
                },
            };
            match consumer.next().await {
                Some(Ok(delivery)) => {
                    let delivered = if delivery.redelivered { 2 } else { 1 };
                    return Some(Delivery::new(
                        Bytes::from(delivery.data),
                        delivered,
                        Box::new(RabbitSettle(delivery.acker)),
                    ));
                }
                Some(Err(_)) | None if self.over() => return None,
                Some(Err(e)) => {
                    failures += 1;
                    tracing::warn!(error = %e, "rabbitmq: consumer interrupted");
                    self.consumer = None;
                    tokio::time::sleep(backoff(failures)).await;
                }
                None => {
                    failures += 1;
                    self.consumer = None;
                    tokio::time::sleep(backoff(failures)).await;
                }
            }
        }
    }
}

struct RabbitSettle(lapin::acker::Acker);

#[async_trait]
impl Settle for RabbitSettle {
    async fn ack(self: Box<Self>) -> Result<(), QueueError> {
        self.0
            .ack(BasicAckOptions::default())
            .await
            .map(drop)
            .map_err(|e| error(format!("ack: {e}")))
    }

    /// RabbitMQ requeues at once: a delay is kept here, the delivery held (the broker
    /// redelivers nothing a live channel holds) and requeued when it is over.
    async fn nack(self: Box<Self>, delay: Duration) -> Result<(), QueueError> {
        if !delay.is_zero() {
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if let Err(e) = self.nack(Duration::ZERO).await {
                    tracing::warn!(error = %e, "rabbitmq: a delayed requeue failed; the request comes back when the channel closes");
                }
            });
            return Ok(());
        }
        self.0
            .nack(BasicNackOptions {
                requeue: true,
                ..Default::default()
            })
            .await
            .map(drop)
            .map_err(|e| error(format!("nack: {e}")))
    }
}

/// lapin's internal tasks of one connection, run in order ([`serial::Serial`]).
mod serial;
