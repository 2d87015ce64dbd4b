//! [`Bridge`]: consumes queued requests, forwards each to its service, publishes the answer,
//! and only then acknowledges the request (QUEUE.md §4).
//!
//! For each delivery, in order:
//! 1. bytes that are not a request envelope (a response or a dead letter among them), or
//!    whose frame is not a well-formed REQUEST or ONEWAY naming a service and a method → dead
//!    letter with the reason, `undecodable…` (and, when the envelope names a reply subject,
//!    an `invalid_argument` answer); the bridge goes on with the next;
//! 2. a request whose deadline has passed → dead letter (`expired`), not forwarded;
//! 3. a key answered within the idempotency window → the remembered answer, not forwarded;
//! 4. hooks `before` (may refuse: the refusal is the answer), the target's attempts with
//!    retries, hooks `after`; attempts exhausted → dead letter with the last error, and that
//!    error as the answer;
//! 5. the answer published on the reply subject (`resource_exhausted` instead of one over the
//!    queue's message limit, the request then dead-lettered) and the dead letter published,
//!    each confirmed persisted; then the request is acked. A failed publish nacks it instead: it comes back,
//!    and its key's answer comes from the window.

use std::sync::Arc;
use std::time::Duration;

use std::panic::AssertUnwindSafe;

use bytes::Bytes;
use erpc_core::discovery::Discover;
use erpc_core::{ClientRequest, ClientResponse, Status};
use futures_util::FutureExt;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::config::{BridgeConfig, ConfigError};
use crate::envelope::{Envelope, Kind, unix_ms_now};
use crate::frames::{read_request, response_frame};
use crate::hooks::Hook;
use crate::queue::{Delivery, Queue, QueueError, Subscribe, within_limit};
use crate::targets::{Failed, Targets};
use crate::window::Window;

/// The metadata key carrying a request's idempotency key to the service.
pub const IDEMPOTENCY_METADATA: &str = "erpc-idempotency-key";

/// A call without a deadline still ends: its attempts are bounded by this.
const NO_DEADLINE: Duration = Duration::from_secs(24 * 3600);

/// How long a request for a service this bridge has no target for stays away before it
/// comes back (to this bridge or another of its group).
const NO_TARGET_DELAY: Duration = Duration::from_secs(2);

/// How long a request whose answer could not be published waits before it comes back.
const REPUBLISH_DELAY: Duration = Duration::from_secs(1);

/// How many times an answer is published before its request is dead-lettered instead
/// (waits of 100, 200 ms between): enough for a queue's brief hiccup, not for a reply
/// subject it cannot store.
const ANSWER_TRIES: u32 = 3;

/// The registry of erpc centers at `addrs`.
#[cfg(feature = "center")]
fn centers(addrs: &[String]) -> Result<Arc<dyn Discover>, ConfigError> {
    let registry = erpc_center::CenterRegistry::new(addrs.iter().map(String::as_str))
        .map_err(|e| ConfigError::field("discovery.centers", e.to_string()))?;
    Ok(Arc::new(registry))
}

#[cfg(not(feature = "center"))]
fn centers(_: &[String]) -> Result<Arc<dyn Discover>, ConfigError> {
    Err(ConfigError::field(
        "discovery.centers",
        "needs erpc-queue's `center` feature",
    ))
}

/// What a request came to: the answer to publish and, when the bridge gave up on it, why.
struct Outcome {
    answer: Bytes,
    dead: Option<String>,
    /// The answer's error, if it is one.
    error: Option<Status>,
    /// What the request asked (`fingerprint`), to refuse a key reused for another call.
    asked: u64,
    /// Not worked out: its target is unreachable and the slots for waiting on one are
    /// taken; the request goes back to the queue for this long.
    give_back: Option<Duration>,
}

impl Outcome {
    /// The outcome answering `result`, dead-lettered with `dead` if set (the answer then
    /// says so, once the dead letter is made: [`Inner::dead_letter`]).
    fn new(result: &Result<ClientResponse, Status>, dead: Option<String>) -> Outcome {
        Outcome {
            answer: response_frame(result),
            dead,
            error: result.as_ref().err().cloned(),
            asked: 0,
            give_back: None,
        }
    }

    /// Whether a repeat of the request would come to the same: a success, or an error
    /// retrying cannot change. A transient failure, or one the bridge gave up on, is not
    /// remembered under its key: a retry must reach the service once it has recovered.
    fn is_final(&self) -> bool {
        use erpc_core::Code;
        self.dead.is_none()
            && self.give_back.is_none()
            && !self.error.as_ref().is_some_and(|e| {
                matches!(
                    e.code(),
                    Code::Unavailable
                        | Code::DeadlineExceeded
                        | Code::ResourceExhausted
                        | Code::Aborted
                        | Code::Cancelled
                )
            })
    }
}

/// A digest of what `request` asks — service, method and body — stored with its idempotency
/// key: the same key asking something else is refused, not answered with the first call's
/// answer. (The window is the process's own, so the hasher need not be stable across
/// processes.)
fn fingerprint(request: &ClientRequest) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    request.service.hash(&mut hasher);
    request.method.hash(&mut hasher);
    request.body.hash(&mut hasher);
    hasher.finish()
}

/// The idempotency key as the service reads it (metadata `erpc-idempotency-key`): the key
/// itself when it is printable UTF-8 text, else its bytes in lowercase hex — text either way,
/// so `get_str` reads it.
fn key_text(key: &Bytes) -> String {
    match std::str::from_utf8(key) {
        Ok(text) if !text.chars().any(char::is_control) => text.to_owned(),
        _ => key.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// A request dead-lettered ([`Inner::dead_letter`]).
struct DeadLetter {
    /// The dead letter to publish.
    letter: Bytes,
    /// The error its caller is answered with, saying it was dead-lettered; `None` if no
    /// error was given to answer with.
    answer: Option<Status>,
}

/// What to publish for one delivery before acking it.
#[derive(Default)]
struct Plan {
    reply: Option<(String, Bytes)>,
    dead: Option<Bytes>,
    /// Nothing to publish: the request goes back to the queue for this long.
    give_back: Option<Duration>,
}

/// The bridge: a queue, a target table, hooks and an idempotency window.
pub struct Bridge {
    inner: Inner,
}

struct Inner {
    queue: Arc<dyn Queue>,
    config: BridgeConfig,
    targets: Targets,
    hooks: Vec<Arc<dyn Hook>>,
    window: Window<Outcome>,
    /// The slots requests waiting on unreachable targets may hold.
    waiting: crate::targets::Waiting,
    /// The calls being forwarded (`service.method`, by a number of their own), for what a
    /// stopping bridge says it waits for.
    forwarding: std::sync::Mutex<(u64, std::collections::HashMap<u64, String>)>,
    /// The messages (by [`Delivery::id`]) this bridge holds, from delivery to settlement.
    held: Arc<std::sync::Mutex<std::collections::HashSet<u64>>>,
    /// What it has done, counted.
    stats: crate::stats::Counts,
}

/// A message's place among those held, given up once it is settled.
struct Held(
    Arc<std::sync::Mutex<std::collections::HashSet<u64>>>,
    Option<u64>,
);

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(id) = self.1 {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        }
    }
}

/// A call's place among those being forwarded, given up when forwarding ends.
struct Forwarding<'a>(&'a Inner, u64);

impl Drop for Forwarding<'_> {
    fn drop(&mut self) {
        self.0.forwarding().1.remove(&self.1);
    }
}

impl Bridge {
    /// A bridge consuming from `queue` as `config` says, finding targets without an address
    /// through `config.discovery`'s centers (the `center` feature); it runs with
    /// [`Bridge::run`].
    pub fn new(queue: Arc<dyn Queue>, config: BridgeConfig) -> Result<Bridge, ConfigError> {
        let registry = match &config.discovery {
            None => None,
            Some(discovery) => Some(centers(&discovery.centers)?),
        };
        Bridge::with_registry(queue, config, registry)
    }

    /// [`Bridge::new`], finding targets without an address through `registry` (any
    /// registry: an erpc center, etcd, ZooKeeper, a static list) instead of
    /// `config.discovery`.
    pub fn with_registry(
        queue: Arc<dyn Queue>,
        config: BridgeConfig,
        registry: Option<Arc<dyn Discover>>,
    ) -> Result<Bridge, ConfigError> {
        config.check()?;
        let targets = Targets::new(&config.targets, registry)?;
        let window = Window::new(
            Duration::from_millis(config.idempotency_window_ms),
            config.idempotency_capacity,
        );
        let waiting = crate::targets::Waiting::new(usize::from(config.concurrency) / 2);
        Ok(Bridge {
            inner: Inner {
                queue,
                config,
                targets,
                hooks: Vec::new(),
                waiting,
                window,
                forwarding: Default::default(),
                held: Default::default(),
                stats: Default::default(),
            },
        })
    }

    /// What this bridge does, counted (requests given back, dead letters), while it runs:
    /// `borrow()` the counts now, or wait for a change (`changed`) or a condition
    /// (`wait_for`). Once the bridge is gone the last counts stay readable, and waiting
    /// ends with an error.
    pub fn stats(&self) -> tokio::sync::watch::Receiver<crate::stats::BridgeStats> {
        self.inner.stats.subscribe()
    }

    /// Add a hook (before [`Bridge::run`]; hooks run in the order added).
    pub fn hook(mut self, hook: impl Hook) -> Bridge {
        self.inner.hooks.push(Arc::new(hook));
        self
    }

    /// Subscribe, then call `ready` and forward requests until `shutdown` completes; then
    /// stop taking requests, wait (at most 10 s) for those being forwarded, and close the
    /// subscription. Requests left unacked come back to another bridge. The queue stays
    /// open: its owner closes it ([`Queue::close`]) once done with it, as `erpc-bridge`
    /// does.
    pub async fn run(
        self,
        ready: impl FnOnce(),
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), QueueError> {
        let inner = Arc::new(self.inner);
        let config = &inner.config;
        let mut subscription = inner
            .queue
            .subscribe(Subscribe {
                ack_wait: Duration::from_millis(config.ack_wait_ms),
                prefetch: config.concurrency,
                ..Subscribe::new(config.requests.clone(), Some(&config.group))
            })
            .await?;
        // Progress signals follow the group's ack_wait as the server has it (another bridge
        // may have made the group with another one), not this bridge's configuration.
        let ack_wait = subscription
            .ack_wait()
            .unwrap_or(Duration::from_millis(config.ack_wait_ms));
        let every = (ack_wait / 2).max(Duration::from_millis(100));
        ready();
        let slots = Arc::new(Semaphore::new(usize::from(config.concurrency)));
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                permit = slots.clone().acquire_owned() => permit,
                () = &mut shutdown => break,
            };
            let Ok(permit) = permit else { break };
            // Fetch no more than the free slots (this one included): a fetched request that
            // waits for a slot has its ack_wait running, and would be redelivered to another
            // bridge — and run twice — while this one still holds it.
            let room = slots.available_permits() + 1;
            let delivery = tokio::select! {
                delivery = subscription.next_within(room) => delivery,
                () = &mut shutdown => break,
            };
            let Some(delivery) = delivery else { break };
            let Some(held) = inner.hold(&delivery) else {
                // A redelivery of a request this bridge is still working on (its progress
                // signal came late): the copy is dropped, the running one keeps the message
                // alive and settles it.
                tracing::debug!(id = ?delivery.id, "a redelivery of a request being forwarded here; not run again");
                tokio::spawn(async move {
                    let _ = delivery.progress().await;
                    drop(permit);
                });
                continue;
            };
            let inner = inner.clone();
            tokio::spawn(async move {
                inner.handle(delivery, every).await;
                drop(held);
                drop(permit);
            });
        }
        let all = u32::from(config.concurrency);
        let busy = usize::from(config.concurrency) - slots.available_permits();
        if busy > 0 {
            tracing::info!(
                busy,
                calls = ?inner.forwarding_now(),
                "stopping: no new requests taken; waiting (at most 10 s) for the {busy} being forwarded"
            );
        }
        if tokio::time::timeout(Duration::from_secs(10), slots.acquire_many(all))
            .await
            .is_err()
        {
            let left = usize::from(config.concurrency) - slots.available_permits();
            tracing::warn!(
                left,
                calls = ?inner.forwarding_now(),
                "stopped with {left} requests still being forwarded: left unacknowledged, the queue redelivers them (NATS after ack_wait_ms, RabbitMQ when the connection closes)"
            );
        } else if busy > 0 {
            tracing::info!("stopped: every request being forwarded was settled");
        }
        // Only now: on RabbitMQ the requests are acknowledged on the subscription's channel.
        subscription.close().await;
        Ok(())
    }
}

impl Inner {
    fn forwarding(
        &self,
    ) -> std::sync::MutexGuard<'_, (u64, std::collections::HashMap<u64, String>)> {
        self.forwarding.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hold `delivery` until the returned guard drops; `None` if this bridge holds the same
    /// message already (a redelivery of it).
    fn hold(&self, delivery: &Delivery) -> Option<Held> {
        if let Some(id) = delivery.id {
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            if !held.insert(id) {
                return None;
            }
        }
        Some(Held(self.held.clone(), delivery.id))
    }

    /// The calls being forwarded now, `service.method` each.
    fn forwarding_now(&self) -> Vec<String> {
        self.forwarding().1.values().cloned().collect()
    }

    /// Work one delivery out, publish what it came to, settle it.
    /// While forwarding, a progress signal every `every` keeps the queue from redelivering
    /// it elsewhere.
    async fn handle(&self, delivery: Delivery, every: Duration) {
        let plan = {
            // A panic (a hook's, say) would otherwise leave the request unacked, to come back
            // and panic again forever.
            let work = AssertUnwindSafe(self.plan(&delivery.payload)).catch_unwind();
            let mut work = std::pin::pin!(work);
            let mut ticker = tokio::time::interval_at(Instant::now() + every, every);
            loop {
                tokio::select! {
                    plan = &mut work => break plan.unwrap_or_else(|panic| self.panicked(&delivery.payload, &*panic)),
                    _ = ticker.tick() => {
                        if let Err(e) = delivery.progress().await {
                            tracing::debug!(error = %e, "progress");
                        }
                    }
                }
            }
        };
        if let Some(after) = plan.give_back {
            self.stats.count_given_back();
            if let Err(e) = delivery.nack(after).await {
                tracing::warn!(error = %e, "nack failed: the request comes back after ack_wait");
            }
            return;
        }
        match self.publish(plan, &delivery.payload).await {
            Ok(()) => match delivery.ack().await {
                Ok(()) => self.stats.count_acked(),
                // It comes back; the window answers it.
                Err(e) => tracing::warn!(error = %e, "ack failed: the request will be redelivered"),
            },
            Err(e) => {
                tracing::warn!(error = %e, "publishing the answer failed: the request is given back");
                if let Err(e) = delivery.nack(REPUBLISH_DELAY).await {
                    tracing::warn!(error = %e, "nack failed: the request comes back after ack_wait");
                }
            }
        }
    }

    /// The dead letter first (losing the answer is recoverable, the reason is not), then the
    /// answer. An answer over the queue's message limit is replaced by a `resource_exhausted`
    /// one saying so — the caller learns why at once, not at its deadline — and its request
    /// dead-lettered, since the service ran and its answer is lost. An answer the queue keeps
    /// refusing (a reply subject it cannot store) is given up after [`ANSWER_TRIES`] and the
    /// request dead-lettered with why: giving the request back would run it again at every
    /// redelivery, without end. `Err` only when even the dead letter cannot be published
    /// (the queue is down): then the request is given back.
    async fn publish(&self, plan: Plan, request: &Bytes) -> Result<(), QueueError> {
        let queue = &self.queue;
        if let Some(dead) = plan.dead {
            queue.publish(&self.config.dead_letter, dead).await?;
        }
        let Some((subject, answer)) = plan.reply else {
            return Ok(());
        };
        let answer = match within_limit(&**queue, "its answer", answer.len()) {
            Ok(()) => answer,
            Err(status) => match self
                .publish_dead(request, status.message(), Some(&status))
                .await?
            {
                Some(said) => answered_instead(&answer, &Err(said)),
                None => answer,
            },
        };
        let mut wait = Duration::from_millis(100);
        let mut tries = 0;
        loop {
            tries += 1;
            match queue.publish(&subject, answer.clone()).await {
                Ok(()) => return Ok(()),
                Err(e) if tries >= ANSWER_TRIES => {
                    let reason = format!(
                        "its answer could not be published to {subject:?} ({tries} tries): {e}"
                    );
                    return self.publish_dead(request, &reason, None).await.map(drop);
                }
                Err(e) => {
                    tracing::debug!(error = %e, tries, "publishing an answer failed; trying again");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            }
        }
    }

    /// Dead-letter `request` with `reason`; `answer` as its caller is to read it then
    /// ([`Inner::dead_letter`]).
    async fn publish_dead(
        &self,
        request: &Bytes,
        reason: &str,
        answer: Option<&Status>,
    ) -> Result<Option<Status>, QueueError> {
        let envelope = Envelope::decode(request.clone()).ok();
        let dead = self.dead_letter(request, envelope.as_ref(), reason, answer);
        self.queue
            .publish(&self.config.dead_letter, dead.letter)
            .await?;
        Ok(dead.answer)
    }

    /// What `payload` comes to.
    async fn plan(&self, payload: &Bytes) -> Plan {
        let envelope = match Envelope::decode(payload.clone()) {
            Ok(envelope) if envelope.kind == Kind::Request => envelope,
            Ok(envelope) => {
                let reason = format!(
                    "undecodable: a {} envelope (kind {:02x}) on the request subject; only requests (kind 01) are forwarded",
                    envelope.kind.name(),
                    envelope.kind as u8
                );
                return self.refuse(payload, &envelope, Status::invalid_argument(reason));
            }
            Err(e) => return self.undecodable(payload, format!("undecodable: {e}")),
        };
        let now_ms = unix_ms_now();
        if envelope.deadline_ms != 0 && envelope.deadline_ms <= now_ms {
            let reason = format!(
                "expired: its deadline passed {} ms before delivery; not forwarded",
                now_ms - envelope.deadline_ms
            );
            // Its caller has normally failed it already; one whose clock is behind this
            // bridge's learns why.
            let expired = Status::deadline_exceeded(reason.clone());
            return self.refuse(payload, &envelope, expired);
        }
        let deadline = Instant::now() + time_left(envelope.deadline_ms, now_ms);
        let outcome = match read_request(&envelope.frame, deadline) {
            Err(reason) => {
                let reason = format!("undecodable request frame: {reason}");
                Arc::new(Outcome::new(
                    &Err(Status::invalid_argument(reason.clone())),
                    Some(reason),
                ))
            }
            Ok(mut request) if envelope.key.is_empty() => {
                Arc::new(self.forward(&mut request).await)
            }
            Ok(mut request) => {
                let asked = fingerprint(&request);
                let key = key_text(&envelope.key);
                request.metadata.set(IDEMPOTENCY_METADATA, key.clone());
                let (outcome, fresh) = self
                    .window
                    .once(
                        envelope.key.clone(),
                        async {
                            Outcome {
                                asked,
                                ..self.forward(&mut request).await
                            }
                        },
                        Outcome::is_final,
                    )
                    .await;
                if !fresh {
                    if let Some(after) = outcome.give_back {
                        return Plan {
                            give_back: Some(after),
                            ..Plan::default()
                        };
                    }
                    if outcome.asked != asked {
                        let refused = Status::failed_precondition(format!(
                            "idempotency key {key:?} was used within the idempotency window for another call (another service, method or arguments); use a new key for a new call"
                        ));
                        tracing::info!(%key, "a reused idempotency key asking another call; refused");
                        return Plan {
                            reply: self.reply(&envelope, response_frame(&Err(refused))),
                            dead: None,
                            give_back: None,
                        };
                    }
                    tracing::debug!("answered a repeated idempotency key from the window");
                    return Plan {
                        reply: self.reply(&envelope, outcome.answer.clone()),
                        dead: None,
                        give_back: None,
                    };
                }
                outcome
            }
        };
        if let Some(after) = outcome.give_back {
            return Plan {
                give_back: Some(after),
                ..Plan::default()
            };
        }
        // A fire-and-forget call answered with an error: nobody else would ever see it.
        let dead = match (&outcome.dead, &outcome.error) {
            (Some(reason), _) => Some(reason.clone()),
            (None, Some(error)) if envelope.reply_to.is_empty() => Some(format!(
                "a fire-and-forget call (no reply subject) was answered with an error: {}: {}",
                error.code(),
                error.message()
            )),
            _ => None,
        };
        let (dead, answer) = match dead {
            None => (None, outcome.answer.clone()),
            Some(reason) => {
                let dead =
                    self.dead_letter(payload, Some(&envelope), &reason, outcome.error.as_ref());
                let answer = dead
                    .answer
                    .map_or_else(|| outcome.answer.clone(), |said| response_frame(&Err(said)));
                (Some(dead.letter), answer)
            }
        };
        Plan {
            reply: self.reply(&envelope, answer),
            dead,
            give_back: None,
        }
    }

    /// Hooks before, the target's attempts, hooks after.
    async fn forward(&self, request: &mut ClientRequest) -> Outcome {
        let _forwarding = {
            let mut forwarding = self.forwarding();
            forwarding.0 += 1;
            let id = forwarding.0;
            forwarding
                .1
                .insert(id, format!("{}.{}", request.service, request.method));
            Forwarding(self, id)
        };
        for hook in &self.hooks {
            if let Err(status) = hook.before(request).await {
                return Outcome::new(&Err(status), None);
            }
        }
        let target = match self.targets.get(&request.service).await {
            Ok(target) => target,
            // Another bridge of the group may have a target for it: given back for one of
            // them, while its deadline allows another delivery (then `unimplemented`).
            Err(status)
                if status.code() == erpc_core::Code::Unimplemented
                    && Instant::now() + NO_TARGET_DELAY < request.deadline =>
            {
                tracing::debug!(service = %request.service, "no target here: given back for another bridge");
                return Outcome {
                    give_back: Some(NO_TARGET_DELAY),
                    ..Outcome::new(&Err(status), None)
                };
            }
            Err(status) => {
                let reason = status.message().to_owned();
                return Outcome::new(&Err(status), Some(reason));
            }
        };
        let (mut result, dead): (Result<ClientResponse, Status>, _) = match target
            .forward(request, &self.waiting)
            .await
        {
            Ok(response) => (Ok(response), None),
            Err(Failed::GiveBack { last, after }) => {
                tracing::debug!(error = %last, ?after, "target unreachable and the waiting slots taken: given back");
                return Outcome {
                    give_back: Some(after),
                    ..Outcome::new(&Err(last), None)
                };
            }
            Err(Failed::Answered(status)) => (Err(status), None),
            Err(Failed::GaveUp { last, attempts }) => {
                let reason = format!("gave up after {attempts} attempts: {last}");
                (Err(Status::new(last.code(), reason.clone())), Some(reason))
            }
        };
        for hook in self.hooks.iter().rev() {
            hook.after(request, &mut result).await;
        }
        Outcome::new(&result, dead)
    }

    /// The response envelope for `request`'s caller, if it wants one.
    fn reply(&self, request: &Envelope, frame: Bytes) -> Option<(String, Bytes)> {
        if request.reply_to.is_empty() {
            return None;
        }
        let envelope = Envelope {
            kind: Kind::Response,
            reply_to: String::new(),
            frame,
            ..request.clone()
        };
        // A response envelope's fields are the request's (which decoded) minus reply_to: it
        // encodes.
        envelope
            .encode()
            .ok()
            .map(|bytes| (request.reply_to.clone(), bytes))
    }

    /// A dead letter naming the panic that forwarding `payload` caused, and an `internal`
    /// answer if its envelope names a reply subject.
    fn panicked(&self, payload: &Bytes, panic: &(dyn std::any::Any + Send)) -> Plan {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        let reason = format!("the bridge panicked forwarding it: {what}");
        tracing::error!(%reason, "a panic while forwarding");
        let envelope = Envelope::decode(payload.clone()).ok();
        let internal = Status::internal(reason.clone());
        let dead = self.dead_letter(payload, envelope.as_ref(), &reason, Some(&internal));
        let answer = response_frame(&Err(dead.answer.unwrap_or(internal)));
        Plan {
            reply: envelope.as_ref().and_then(|e| self.reply(e, answer)),
            dead: Some(dead.letter),
            give_back: None,
        }
    }

    /// A dead letter for bytes that are not an envelope: no reply subject to answer on.
    fn undecodable(&self, payload: &Bytes, reason: String) -> Plan {
        Plan {
            reply: None,
            dead: Some(self.dead_letter(payload, None, &reason, None).letter),
            give_back: None,
        }
    }

    /// A dead letter for a message the bridge does not forward, its reason `refused`'s
    /// message, and `refused` as the answer (saying it was dead-lettered) if its envelope
    /// names a reply subject.
    fn refuse(&self, payload: &Bytes, envelope: &Envelope, refused: Status) -> Plan {
        let dead = self.dead_letter(payload, Some(envelope), refused.message(), Some(&refused));
        let answer = dead.answer.unwrap_or(refused);
        Plan {
            reply: self.reply(envelope, response_frame(&Err(answer))),
            dead: Some(dead.letter),
            give_back: None,
        }
    }

    /// The dead letter for `payload`: the original bytes whole, the reason, and what of the
    /// envelope decoded — unless that is over the queue's payload limit (a request just
    /// under it, plus the reason): then the original's first bytes, and the reason says so.
    /// Refused by the queue, a dead letter would give its request back to come again
    /// without end.
    /// Every dead letter is made here, and logged here (WARN), whatever its cause; and
    /// `answer`, the error its caller is to be answered with (if any), is made to say so
    /// here: `…; dead-lettered to <dead_letter>` after its message, so that the caller
    /// knows at once that nothing will come of its request.
    fn dead_letter(
        &self,
        payload: &Bytes,
        envelope: Option<&Envelope>,
        reason: &str,
        answer: Option<&Status>,
    ) -> DeadLetter {
        tracing::warn!(%reason, "dead letter");
        self.stats.count_dead_letter();
        let answer = answer.map(|status| {
            let message = format!(
                "{}; dead-lettered to {}",
                status.message(),
                self.config.dead_letter
            );
            Status::new(status.code(), message)
        });
        DeadLetter {
            letter: self.dead_letter_bytes(payload, envelope, reason),
            answer,
        }
    }

    /// The bytes of [`Inner::dead_letter`]'s letter.
    fn dead_letter_bytes(
        &self,
        payload: &Bytes,
        envelope: Option<&Envelope>,
        reason: &str,
    ) -> Bytes {
        let whole = encode_dead_letter(payload, envelope, reason);
        let Some(limit) = self.queue.max_payload() else {
            return whole;
        };
        if whole.len() <= limit {
            return whole;
        }
        let reason = format!(
            "{reason} (the original, {} bytes, is cut to fit the queue's limit of {limit} bytes per message)",
            payload.len()
        );
        let around = encode_dead_letter(&Bytes::new(), envelope, &reason).len();
        let keep = limit.saturating_sub(around).min(payload.len());
        encode_dead_letter(&payload.slice(..keep), envelope, &reason)
    }
}

/// The response envelope `answer` with its frame answering `result` instead (its
/// correlation id, deadline and key kept); `answer` itself if it is not one, which cannot
/// happen: the bridge encoded it.
fn answered_instead(answer: &Bytes, result: &Result<ClientResponse, Status>) -> Bytes {
    Envelope::decode(answer.clone())
        .ok()
        .and_then(|envelope| {
            Envelope {
                frame: response_frame(result),
                ..envelope
            }
            .encode()
            .ok()
        })
        .unwrap_or_else(|| answer.clone())
}

/// How long a request with deadline `deadline_ms` (Unix ms, 0: none) has left at `now_ms`,
/// at most [`NO_DEADLINE`] (a deadline in the year 584 million must not overflow a clock).
fn time_left(deadline_ms: u64, now_ms: u64) -> Duration {
    match deadline_ms {
        0 => NO_DEADLINE,
        ms => Duration::from_millis(ms.saturating_sub(now_ms)).min(NO_DEADLINE),
    }
}

/// The dead letter for `payload`: the original bytes whole, the reason, and what of the
/// envelope decoded.
fn encode_dead_letter(payload: &Bytes, envelope: Option<&Envelope>, reason: &str) -> Bytes {
    let mut reason = reason.to_owned();
    if reason.len() > usize::from(u16::MAX) {
        let mut cut = usize::from(u16::MAX);
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason.truncate(cut);
    }
    let dead = Envelope {
        kind: Kind::DeadLetter,
        correlation: envelope.map_or(0, |e| e.correlation),
        deadline_ms: envelope.map_or(0, |e| e.deadline_ms),
        reply_to: envelope.map_or_else(String::new, |e| e.reply_to.clone()),
        key: envelope.map_or_else(Bytes::new, |e| e.key.clone()),
        reason,
        frame: payload.clone(),
    };
    // Every field is within its bound: the request's decoded, the reason was cut.
    dead.encode().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_is_bounded_whatever_the_envelope_says() {
        assert_eq!(time_left(0, 1_000), NO_DEADLINE);
        assert_eq!(time_left(1_500, 1_000), Duration::from_millis(500));
        assert_eq!(time_left(900, 1_000), Duration::ZERO);
        assert_eq!(time_left(u64::MAX, 1_000), NO_DEADLINE);
        // What the bridge adds it to: no overflow.
        let _ = Instant::now() + time_left(u64::MAX, 0);
    }
}
