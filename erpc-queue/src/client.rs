//! [`QueueClient`]: erpc calls as queued messages — published durably, answered on the
//! client's own reply subject, paired by correlation id, bounded by the call's deadline.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use erpc_core::{ClientRequest, ClientResponse, Metadata, Status};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::bridge::IDEMPOTENCY_METADATA;
use crate::envelope::{Envelope, Kind, unix_ms_now};
use crate::frames::{read_response, request_frame};
use crate::queue::{Queue, Subscribe};

/// Where a [`QueueClient`] publishes and listens.
#[derive(Debug, Clone)]
pub struct QueueClientOptions {
    /// The subject (queue) the bridges consume. Default `erpc.requests`.
    pub requests: String,
    /// This client's reply subject; it must be its own (answers to it are this client's).
    /// Default `erpc.replies.` and 16 random hex digits. Name it yourself (stable across
    /// restarts) to receive answers published while the client was down. Either way its
    /// queue is removed an hour after the client stopped reading it (NATS: an inactive
    /// consumer; RabbitMQ: a classic queue with `x-expires`).
    pub reply_to: Option<String>,
    /// The deadline of calls made with [`QueueClient::call`]. Default 10 s; zero is
    /// refused by [`QueueClient::connect`] (`invalid_argument`).
    pub timeout: Duration,
    /// The deadline of fire-and-forget calls made with [`QueueClient::send`]: how long the
    /// bridge may keep trying to deliver one (a target down for hours, a scheduler's job
    /// queued overnight). Default 24 h; `None`: no deadline (the envelope's `0`). Per call:
    /// [`QueueClient::send_within`]. A queue that drops unconsumed messages bounds it: on
    /// NATS a deadline past the stream's `max_age` (24 h by default) — or none — is refused
    /// `invalid_argument`, naming it, since the message would be removed unannounced;
    /// RabbitMQ keeps a message until it is consumed, so any deadline (or none) holds.
    pub send_timeout: Option<Duration>,
}

/// The default of [`QueueClientOptions::send_timeout`].
pub const SEND_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

impl Default for QueueClientOptions {
    fn default() -> Self {
        QueueClientOptions {
            requests: "erpc.requests".into(),
            reply_to: None,
            timeout: Duration::from_secs(10),
            send_timeout: Some(SEND_TIMEOUT),
        }
    }
}

/// A call awaiting its answer: the key it was published with (an answer must carry it too)
/// and where the answer goes.
struct Waiter {
    key: Bytes,
    tx: oneshot::Sender<Result<ClientResponse, Status>>,
}

type Waiters = Mutex<HashMap<u64, Waiter>>;

/// A client making erpc calls through a queue. Cheap to clone; the reply listener stops
/// when the last clone is dropped, or at [`QueueClient::close`] — a program ending should
/// call it, so that what it published is confirmed and its connection closes in order.
///
/// Typed generated clients use it unchanged through [`QueueClient::client`] (or
/// `Client::builder().via_queue(&queue_client).build(addr)`, see [`ViaQueueExt`](crate::ViaQueueExt)).
#[derive(Clone)]
pub struct QueueClient {
    inner: Arc<Inner>,
}

struct Inner {
    queue: Arc<dyn Queue>,
    requests: String,
    reply_to: String,
    timeout: Duration,
    send_timeout: Option<Duration>,
    waiters: Arc<Waiters>,
    /// Every publish holds it shared while it runs; [`QueueClient::close`] takes it whole
    /// (waiting for them) and sets it: closed.
    closed: tokio::sync::RwLock<bool>,
    listener: std::sync::Mutex<Option<Listener>>,
}

/// The task pairing answers with calls, and how to stop it.
struct Listener {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Stopped, not aborted: the listener then ends as at `close` — its acks awaited, its
        // subscription closed in order (consumer cancelled, then channel closed) — on its
        // own task, which holds the subscription and through it the connection until then.
        // Aborted, the subscription was dropped half-way through that on RabbitMQ, and lapin
        // logged the channel's close racing the connection's at ERROR.
        if let Some(listener) = self
            .listener
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = listener.stop.send(());
        }
    }
}

impl QueueClient {
    /// Subscribe to this client's reply subject on `queue` and start pairing answers with
    /// calls.
    pub async fn connect(
        queue: Arc<dyn Queue>,
        options: QueueClientOptions,
    ) -> Result<QueueClient, Status> {
        let reply_to = options
            .reply_to
            .unwrap_or_else(|| format!("erpc.replies.{:016x}", fastrand::u64(..)));
        crate::names::check_subject("reply_to", &reply_to).map_err(Status::invalid_argument)?;
        crate::names::check_subject("requests", &options.requests)
            .map_err(Status::invalid_argument)?;
        if options.timeout.is_zero() {
            // Every call would fail unsent, and `client()` could not build its client.
            return Err(Status::invalid_argument(
                "QueueClientOptions::timeout must be above zero",
            ));
        }
        let mut replies = queue
            .subscribe(Subscribe::new(reply_to.clone(), None))
            .await
            .map_err(|e| {
                Status::unavailable(format!("subscribing to replies on {reply_to}: {e}"))
            })?;
        let waiters: Arc<Waiters> = Arc::default();
        let listening = waiters.clone();
        let (stop, mut stopping) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut acks = tokio::task::JoinSet::new();
            loop {
                let delivery = tokio::select! {
                    delivery = replies.next() => delivery,
                    _ = &mut stopping => break,
                };
                let Some(delivery) = delivery else { break };
                deliver(&listening, &delivery.payload);
                // An answer nobody waits for (late, or a repeat) is acked all the same. Not
                // awaited here: a NATS ack waits for the server's confirmation, and awaiting
                // each before taking the next reply held every client to one answer per
                // round trip to the server, however many calls were in flight (NATS: ~2.3 k
                // answers/s). A lost ack only brings an answer again, which nobody awaits any
                // more; the acks in flight are bounded by the server's unacked deliveries
                // (NATS `max_ack_pending`, 1,000 by default). Kept (the settled ones reaped
                // as it goes) so that closing waits for them.
                acks.spawn(async move {
                    if let Err(e) = delivery.ack().await {
                        tracing::debug!(error = %e, "acking a reply");
                    }
                });
                while acks.try_join_next().is_some() {}
            }
            while acks.join_next().await.is_some() {}
            replies.close().await;
        });
        Ok(QueueClient {
            inner: Arc::new(Inner {
                queue,
                requests: options.requests,
                reply_to,
                timeout: options.timeout,
                send_timeout: options.send_timeout,
                waiters,
                closed: tokio::sync::RwLock::new(false),
                listener: std::sync::Mutex::new(Some(Listener { stop, task })),
            }),
        })
    }

    /// Close the client (every clone of it): new calls are refused (`cancelled`, "the queue
    /// client is closed"); the publishes in flight are waited for until the queue confirms
    /// them (each is bounded by its call's deadline); the answers received are acknowledged
    /// and the reply subscription is closed (its queue then expires as when the client
    /// dies, QUEUE.md §1); calls still awaiting an answer fail `cancelled`. If this client
    /// holds the last reference to its queue — as when the queue was made for it and
    /// handed over — the queue's connection is closed too ([`Queue::close`]); a queue shared
    /// with others (a bridge in the same process) stays open for them, to be closed by its
    /// last user. Closing again, or a clone after, does nothing. Dropping the client without
    /// closing it is quiet too: the listener acknowledges and closes its subscription in
    /// the background, on its task (which a runtime ending cuts short), and nothing waits
    /// for that or for the publishes in flight.
    pub async fn close(self) {
        {
            let mut closed = self.inner.closed.write().await;
            if *closed {
                return;
            }
            *closed = true;
        }
        let listener = self
            .inner
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(listener) = listener {
            let _ = listener.stop.send(());
            if let Err(e) = listener.task.await {
                tracing::debug!(error = %e, "the reply listener ended badly");
            }
        }
        // Every waiting call's sender dropped: each fails `cancelled`.
        self.waiters().clear();
        if Arc::strong_count(&self.inner.queue) == 1 {
            if let Err(e) = self.inner.queue.close().await {
                tracing::debug!(error = %e, "closing the queue");
            }
        }
    }

    /// The deadline of calls made with [`QueueClient::call`] and [`QueueClient::client`].
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// This client's reply subject.
    pub fn reply_to(&self) -> &str {
        &self.inner.reply_to
    }

    /// Call `service.method` with `body` (already encoded in MessagePack) and `metadata`,
    /// within the client's timeout; the answer as erpc's client would give it (its body
    /// decoded with [`erpc_core::Message`] by the caller). Each call gets a fresh idempotency
    /// key.
    pub async fn call(
        &self,
        service: &str,
        method: &str,
        body: Bytes,
        metadata: Metadata,
    ) -> Result<ClientResponse, Status> {
        let request = ClientRequest {
            metadata,
            deadline: Instant::now() + self.inner.timeout,
            ..ClientRequest::new(service.to_owned(), method.to_owned(), body)
        };
        self.invoke(request).await
    }

    /// Publish a call to `service.method` that nobody awaits; `Ok` once the queue has
    /// persisted it. The bridge still forwards it with retries until its deadline —
    /// [`QueueClientOptions::send_timeout`] from now (24 h by default), not the calls'
    /// timeout — and dead-letters it if they run out or the service answers it with an
    /// error, since nobody else would see that.
    pub async fn send(
        &self,
        service: &str,
        method: &str,
        body: Bytes,
        metadata: Metadata,
    ) -> Result<(), Status> {
        self.send_within(service, method, body, metadata, self.inner.send_timeout)
            .await
    }

    /// [`QueueClient::send`] with this call's own deadline: `within` from now, or none.
    /// On NATS, a `within` past the stream's `max_age` (24 h by default), or none, is refused
    /// `invalid_argument` ([`QueueClientOptions::send_timeout`]).
    pub async fn send_within(
        &self,
        service: &str,
        method: &str,
        body: Bytes,
        metadata: Metadata,
        within: Option<Duration>,
    ) -> Result<(), Status> {
        // Publishing itself is bounded by the calls' timeout; the envelope's deadline is
        // `within`.
        let mut request = ClientRequest {
            metadata,
            deadline: Instant::now() + self.inner.timeout,
            ..ClientRequest::new(service.to_owned(), method.to_owned(), body)
        };
        let deadline_ms = within.map_or(0, |within| {
            unix_ms_now().saturating_add(within.as_millis() as u64)
        });
        let key = take_key(&mut request);
        self.publish(&request, 0, "", key, Some(deadline_ms)).await
    }

    /// Make `request` through the queue: its codec, metadata and deadline carry over. The
    /// idempotency key is the metadata entry `erpc-idempotency-key` if there is one (moved
    /// into the envelope), else a fresh random key. A oneway returns once persisted; a call
    /// whose answer has not come by its deadline fails `deadline_exceeded`, and an answer
    /// arriving later is dropped. Streaming calls do not go through a queue
    /// (`unimplemented`). On NATS a deadline past the stream's `max_age` is refused
    /// `invalid_argument` (see [`QueueClientOptions::send_timeout`]).
    pub async fn invoke(&self, request: ClientRequest) -> Result<ClientResponse, Status> {
        if request.stream {
            return Err(Status::unimplemented(
                "streaming calls do not go through a queue: call the service directly",
            ));
        }
        let mut request = request;
        let key = take_key(&mut request);
        if request.oneway {
            self.publish(&request, 0, "", key, None).await?;
            return Ok(ClientResponse::default());
        }
        let (tx, rx) = oneshot::channel();
        // A random id, not a count from 1: a reply subject named to be stable across restarts
        // may still hold answers to an earlier process's calls, which a count would pair
        // with this process's calls. The key, random too unless the caller chose it, must
        // match as well (`deliver`).
        let correlation = {
            let mut waiters = self.waiters();
            let mut correlation = fastrand::u64(1..);
            while waiters.contains_key(&correlation) {
                correlation = fastrand::u64(1..);
            }
            waiters.insert(
                correlation,
                Waiter {
                    key: key.clone(),
                    tx,
                },
            );
            correlation
        };
        // Removes the waiter however this call ends (answer, deadline, dropped future).
        let _waiting = Waiting(self, correlation);
        self.publish(&request, correlation, &self.inner.reply_to, key, None)
            .await?;
        match tokio::time::timeout_at(request.deadline, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(Status::cancelled("the queue client was closed")),
            Err(_) => Err(Status::deadline_exceeded(format!(
                "no answer through the queue within the deadline (request published on {})",
                self.inner.requests
            ))),
        }
    }

    /// Publish `request` with `key`; its envelope's deadline is `deadline_ms` if given
    /// (Unix ms, `0`: none), else the request's. Publishing is bounded by the request's
    /// deadline.
    async fn publish(
        &self,
        request: &ClientRequest,
        correlation: u64,
        reply_to: &str,
        key: Bytes,
        deadline_ms: Option<u64>,
    ) -> Result<(), Status> {
        // The bridge reads the frame within erpc's default limits (QUEUE.md §3); a larger
        // body would travel only to be refused (on RabbitMQ, whose own limit is far above).
        let max_body = erpc_core::protocol::Limits::default().max_body as usize;
        if request.body.len() > max_body {
            return Err(Status::resource_exhausted(format!(
                "the request body is {} bytes, over the {max_body} bytes a queued request frame may carry",
                request.body.len()
            )));
        }
        // Held while publishing: closing waits for it.
        let closed = self.inner.closed.read().await;
        if *closed {
            return Err(Status::cancelled("the queue client is closed"));
        }
        let left = request.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Status::deadline_exceeded(
                "the deadline passed before publishing",
            ));
        }
        let now_ms = unix_ms_now();
        let deadline_ms = deadline_ms.unwrap_or(now_ms + left.as_millis() as u64);
        // NATS drops a message older than its stream's max_age unannounced: a deadline past
        // it (or none) would be a promise the queue does not keep.
        if let Some(retention) = self.inner.queue.retention() {
            let kept_until = now_ms.saturating_add(retention.as_millis() as u64);
            if deadline_ms == 0 || deadline_ms > kept_until {
                return Err(Status::invalid_argument(format!(
                    "a deadline {} is longer than the queue keeps an unconsumed message ({} s, the {} stream's max_age): it would be removed without a dead letter; use a deadline within it",
                    if deadline_ms == 0 {
                        "of none".to_owned()
                    } else {
                        format!("{} s away", (deadline_ms - now_ms) / 1000)
                    },
                    retention.as_secs(),
                    self.inner.queue.backend(),
                )));
            }
        }
        let envelope = Envelope {
            deadline_ms,
            reply_to: reply_to.to_owned(),
            key,
            ..Envelope::request(correlation, request_frame(request)?)
        };
        let bytes = envelope
            .encode()
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        crate::queue::within_limit(&*self.inner.queue, "the request", bytes.len())?;
        tokio::time::timeout_at(
            request.deadline,
            self.inner.queue.publish(&self.inner.requests, bytes),
        )
        .await
        .map_err(|_| {
            Status::deadline_exceeded("the queue did not confirm the request within the deadline")
        })?
        .map_err(|e| Status::unavailable(format!("publishing the request: {e}")))
    }

    fn waiters(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Waiter>> {
        self.inner.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The idempotency key of `request`: its metadata entry `erpc-idempotency-key` (moved out of
/// the metadata: the envelope carries it), else 32 random hex digits — text, so that the
/// service reads it with `get_str` like a key the caller chose.
fn take_key(request: &mut ClientRequest) -> Bytes {
    match request.metadata.get(IDEMPOTENCY_METADATA).cloned() {
        Some(key) => {
            request.metadata.remove(IDEMPOTENCY_METADATA);
            key
        }
        None => Bytes::from(format!("{:032x}", fastrand::u128(..))),
    }
}

/// A call's place among the waiters, given up when the call ends.
struct Waiting<'a>(&'a QueueClient, u64);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiters().remove(&self.1);
    }
}

/// Hand a reply to the call awaiting it, if any still does.
fn deliver(waiters: &Waiters, payload: &Bytes) {
    let envelope = match Envelope::decode(payload.clone()) {
        Ok(envelope) if envelope.kind == Kind::Response => envelope,
        Ok(envelope) => {
            tracing::warn!(kind = ?envelope.kind, "not a response on the reply subject; dropped");
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "undecodable message on the reply subject; dropped");
            return;
        }
    };
    let waiter = {
        let mut waiters = waiters.lock().unwrap_or_else(|p| p.into_inner());
        match waiters.get(&envelope.correlation) {
            // Same id, another call (an earlier process's, on a reply subject kept across
            // restarts): never its answer. The waiter stays for its own.
            Some(waiter) if waiter.key != envelope.key => {
                tracing::warn!(
                    correlation = envelope.correlation,
                    "an answer whose idempotency key is not the waiting call's (a stale answer for another call, from an earlier process?); dropped"
                );
                return;
            }
            Some(_) => waiters.remove(&envelope.correlation),
            None => None,
        }
    };
    match waiter {
        Some(waiter) => {
            let _ = waiter.tx.send(read_response(&envelope.frame));
        }
        None => tracing::debug!(
            correlation = envelope.correlation,
            "an answer nobody awaits (late or repeated); dropped"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer with the waiting call's id but another key (an earlier process's call on
    /// the same reply subject) is dropped, and the call still gets its own.
    #[test]
    fn an_answer_for_another_call_with_the_same_id_is_never_delivered() {
        let waiters: Waiters = Mutex::default();
        let (tx, mut rx) = oneshot::channel();
        let key = Bytes::from_static(b"mine");
        waiters.lock().unwrap().insert(
            7,
            Waiter {
                key: key.clone(),
                tx,
            },
        );
        let answer = |key: &'static [u8], n: u8| {
            let response = ClientResponse {
                body: Bytes::from(vec![n]),
                ..ClientResponse::default()
            };
            Envelope {
                kind: Kind::Response,
                key: Bytes::from_static(key),
                ..Envelope::request(7, crate::frames::response_frame(&Ok(response)))
            }
            .encode()
            .unwrap()
        };
        deliver(&waiters, &answer(b"stale", 1));
        assert!(rx.try_recv().is_err(), "the stale answer was not delivered");
        assert!(waiters.lock().unwrap().contains_key(&7), "still waiting");
        deliver(&waiters, &answer(b"mine", 2));
        assert_eq!(&rx.try_recv().unwrap().unwrap().body[..], &[2]);
    }
}
