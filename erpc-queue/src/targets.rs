//! The target table: where each service is — a static address, or found by name through a
//! registry — and how a request to it is attempted: each attempt within the target's
//! timeout and the call's deadline, retried with backoff when the target is unreachable or
//! too slow.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use erpc_core::discovery::Discover;
use erpc_core::{Client, ClientRequest, ClientResponse, Code, Status};
use tokio::time::Instant;

use crate::config::{ConfigError, TargetConfig};

/// One service's address and attempt policy.
#[derive(Debug, Clone)]
pub struct Target {
    client: Client,
    address: String,
    timeout: Duration,
    max_retries: u32,
    backoff: Duration,
    backoff_max: Duration,
    /// Every method may be run again after an attempt timed out.
    idempotent: bool,
    /// These methods may.
    idempotent_methods: Vec<String>,
}

/// Whether `status` says the attempt never reached the service: the dial failed (`cannot
/// connect to …`) or no instance was reachable. Such a request did nothing, so retrying it
/// is always safe and does not use up `max_retries`.
fn never_delivered(status: &Status) -> bool {
    status.code() == Code::Unavailable && {
        let message = status.message();
        message.starts_with("cannot connect to")
            || message.contains("unreachable")
            || message.contains("no instance")
    }
}

/// How long before a request's deadline its retries stop, at most (a tenth of the time it
/// had left when forwarding began, if less): the time its answer needs to reach the caller.
const ANSWER_MARGIN: Duration = Duration::from_millis(500);

/// Why a forwarded request failed.
#[derive(Debug)]
pub enum Failed {
    /// The service answered with this status (or a hook refused): an answer, not retried.
    Answered(Status),
    /// Every attempt failed `unavailable` or timed out, or the call's deadline passed between
    /// them; the last attempt's status and how many attempts were made.
    GaveUp {
        /// The last attempt's status.
        last: Status,
        /// Attempts made (the first included).
        attempts: u32,
    },
    /// The target is unreachable and the bridge's slots for waiting on unreachable targets
    /// are all taken ([`Waiting`]): give the request back to come again after `after`,
    /// instead of holding a slot other services need.
    GiveBack {
        /// The attempt's status (`cannot connect to …`).
        last: Status,
        /// How long the queue should keep it before delivering it again (`backoff_max_ms`).
        after: Duration,
    },
}

/// How many of a bridge's slots may be held by requests retrying unreachable targets: at
/// most half (at least one). A request whose target is down retries it until its deadline —
/// a fire-and-forget for up to 24 h — and enough of them used to hold every slot, starving
/// every other service; past this bound one is given back to the queue instead, delayed.
#[derive(Debug)]
pub struct Waiting {
    held: std::sync::atomic::AtomicUsize,
    most: usize,
}

impl Waiting {
    /// Room for `most` (at least 1) requests waiting on unreachable targets at once.
    pub fn new(most: usize) -> Waiting {
        Waiting {
            held: Default::default(),
            most: most.max(1),
        }
    }

    /// A place among the waiting, if there is one; given up when dropped.
    fn take(&self) -> Option<WaitingPlace<'_>> {
        use std::sync::atomic::Ordering;
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held < self.most).then_some(held + 1)
            })
            .ok()
            .map(|_| WaitingPlace(self))
    }
}

struct WaitingPlace<'a>(&'a Waiting);

impl Drop for WaitingPlace<'_> {
    fn drop(&mut self) {
        self.0
            .held
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl Target {
    /// The target `config` describes, calling through `client` (which dials on the first
    /// call); `address` names it in errors.
    fn new(config: &TargetConfig, client: Client, address: String) -> Target {
        Target {
            client,
            address,
            timeout: Duration::from_millis(config.timeout_ms),
            max_retries: config.max_retries,
            backoff: Duration::from_millis(config.backoff_ms),
            backoff_max: Duration::from_millis(config.backoff_max_ms.max(config.backoff_ms)),
            idempotent: config.idempotent,
            idempotent_methods: config.idempotent_methods.clone(),
        }
    }

    /// Whether `method` may run again after an attempt timed out (it may have run).
    fn may_rerun(&self, method: &str) -> bool {
        self.idempotent || self.idempotent_methods.iter().any(|m| m == method)
    }

    /// Send `request` (its `deadline` is the call's). An attempt that never reached the
    /// service (the dial failed) is tried again with backoff until the call's deadline; one
    /// that reached it and failed `unavailable` — or timed out, for a method marked
    /// idempotent — is tried again at most `max_retries` times; any other outcome is the
    /// answer (QUEUE.md §4.4).
    ///
    /// Waiting on an unreachable target takes a place in `waiting`; with none free the
    /// request is given back ([`Failed::GiveBack`]) instead.
    pub async fn forward(
        &self,
        request: &ClientRequest,
        waiting: &Waiting,
    ) -> Result<ClientResponse, Failed> {
        let call_deadline = request.deadline;
        // Retrying stops early enough for the answer (an error, dead-lettered) to travel
        // back before the caller's own timer fails it with a bare `deadline_exceeded`.
        let left = call_deadline.saturating_duration_since(Instant::now());
        let answer_by = call_deadline - (left / 10).min(ANSWER_MARGIN);
        let mut place = None;
        let mut wait = self.backoff;
        let mut attempts = 0;
        let mut delivered_failures = 0;
        loop {
            attempts += 1;
            let attempt_deadline = call_deadline.min(Instant::now() + self.timeout);
            let attempt = ClientRequest {
                deadline: attempt_deadline,
                ..request.clone()
            };
            let status = match self.client.invoke(attempt).await {
                Ok(response) => return Ok(response),
                // The attempt's own timeout, not the call's deadline, cut it short: say so,
                // or the caller reads "the deadline" as its own.
                Err(status)
                    if status.code() == Code::DeadlineExceeded
                        && attempt_deadline < call_deadline =>
                {
                    Status::deadline_exceeded(format!(
                        "the attempt hit the target's timeout_ms ({} ms) before the call's deadline: {}",
                        self.timeout.as_millis(),
                        status.message()
                    ))
                }
                Err(status) => status,
            };
            // An attempt's own timeout is the target being slow; but the service may have run
            // it (and may still be running it), so it is tried again only for a method marked
            // idempotent, as gRPC does. The call's deadline passing is the end.
            let retryable = status.code() == Code::Unavailable
                || (status.code() == Code::DeadlineExceeded
                    && attempt_deadline < call_deadline
                    && self.may_rerun(&request.method));
            if !retryable {
                return Err(Failed::Answered(status));
            }
            if !never_delivered(&status) {
                delivered_failures += 1;
            } else if place.is_none() {
                place = waiting.take();
                if place.is_none() && Instant::now() + self.backoff_max < call_deadline {
                    return Err(Failed::GiveBack {
                        last: Status::new(
                            status.code(),
                            format!("{} (target {})", status.message(), self.address),
                        ),
                        after: self.backoff_max,
                    });
                }
            }
            let sleep = wait.mul_f64(0.5 + fastrand::f64() / 2.0);
            if delivered_failures > self.max_retries || Instant::now() + sleep >= answer_by {
                let last = Status::new(
                    status.code(),
                    format!("{} (target {})", status.message(), self.address),
                );
                return Err(Failed::GaveUp { last, attempts });
            }
            tokio::time::sleep(sleep).await;
            wait = (wait * 2).min(self.backoff_max);
        }
    }
}

/// The client a target is called through. Its redial backoff is off: after a failed dial,
/// the erpc client refuses calls without dialling (`unavailable`, "unreachable; retrying in
/// …") for a wait growing to 5 s, so the bridge's retries — spaced by the target's own
/// backoff, per request — failed without dialling once an outage had outlasted a few
/// waits, and a target back within the retry budget went unnoticed until its requests were
/// dead-lettered. Every attempt dials instead: the bridge's retry schedule is the backoff,
/// and its concurrency bounds the dials.
fn target_client() -> erpc_core::ClientBuilder {
    Client::builder().backoff(Duration::ZERO, Duration::ZERO)
}

/// Every configured target, by service name; `*` catches the rest. A target without an
/// address is found through the registry, by the name each request calls.
#[derive(Clone)]
pub struct Targets {
    by_service: HashMap<String, Entry>,
    registry: Option<Arc<dyn Discover>>,
    /// Discovered targets, by service name, made on first use.
    found: Arc<tokio::sync::Mutex<HashMap<String, Target>>>,
}

#[derive(Clone)]
enum Entry {
    Static(Target),
    Discovered(TargetConfig),
}

impl Targets {
    /// The table `configs` describe; `registry` finds the targets without an address.
    pub fn new(
        configs: &[TargetConfig],
        registry: Option<Arc<dyn Discover>>,
    ) -> Result<Targets, ConfigError> {
        let mut by_service = HashMap::new();
        for (i, config) in configs.iter().enumerate() {
            let entry = match &config.address {
                Some(address) => {
                    let client = target_client().build(address.as_str()).map_err(|e| {
                        ConfigError::field(format!("targets[{i}].address"), e.to_string())
                    })?;
                    Entry::Static(Target::new(config, client, address.clone()))
                }
                None if registry.is_some() => Entry::Discovered(config.clone()),
                None => {
                    return Err(ConfigError::field(
                        format!("targets[{i}].address"),
                        format!(
                            "none, and no discovery is configured to find service {:?} by name (add `discovery: {{ centers: [...] }}`)",
                            config.service
                        ),
                    ));
                }
            };
            by_service.insert(config.service.clone(), entry);
        }
        Ok(Targets {
            by_service,
            registry,
            found: Arc::default(),
        })
    }

    /// The target of `service` (or of `*`); why there is none: `unimplemented` when the
    /// table has no entry, `unavailable` when discovering it failed.
    pub async fn get(&self, service: &str) -> Result<Target, Status> {
        let entry = self
            .by_service
            .get(service)
            .or_else(|| self.by_service.get("*"))
            .ok_or_else(|| {
                Status::unimplemented(format!(
                    "no target for service {service:?} (the bridge's target table has no entry for it, nor `*`)"
                ))
            })?;
        let config = match entry {
            Entry::Static(target) => return Ok(target.clone()),
            Entry::Discovered(config) => config,
        };
        let mut found = self.found.lock().await;
        if let Some(target) = found.get(service) {
            return Ok(target.clone());
        }
        let registry = self
            .registry
            .as_deref()
            .ok_or_else(|| Status::internal("no registry to discover with"))?;
        let client = target_client()
            .discover(registry, service)
            .await
            .map_err(|e| Status::unavailable(format!("discovering service {service:?}: {e}")))?;
        let target = Target::new(config, client, format!("discovered {service}"));
        found.insert(service.to_owned(), target.clone());
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(service: &str, address: Option<&str>) -> TargetConfig {
        TargetConfig {
            service: service.into(),
            address: address.map(str::to_owned),
            timeout_ms: 1_000,
            max_retries: 0,
            backoff_ms: 10,
            backoff_max_ms: 10,
            idempotent: false,
            idempotent_methods: Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_service_finds_its_own_target_or_the_wildcard_or_is_refused_by_name() {
        let targets = Targets::new(
            &[
                target("A", Some("tcp://127.0.0.1:1")),
                target("*", Some("tcp://127.0.0.1:2")),
            ],
            None,
        )
        .unwrap();
        assert_eq!(targets.get("A").await.unwrap().address, "tcp://127.0.0.1:1");
        assert_eq!(targets.get("B").await.unwrap().address, "tcp://127.0.0.1:2");
        let only_a = Targets::new(&[target("A", Some("tcp://127.0.0.1:1"))], None).unwrap();
        let refused = only_a.get("B").await.unwrap_err();
        assert_eq!(refused.code(), Code::Unimplemented);
        assert!(refused.message().contains("\"B\""), "{refused}");
    }

    #[test]
    fn a_target_without_address_needs_a_registry() {
        let err = Targets::new(&[target("A", None)], None).err().unwrap();
        assert!(
            err.to_string().contains("targets[0].address: none"),
            "{err}"
        );
    }
}
