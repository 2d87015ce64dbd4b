//! Shared by the queue tests: the real queue servers, a service that counts what it runs,
//! bridges in process and as child processes.
#![allow(dead_code)]

pub use erpc_queue::servers;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use erpc_core::{Context, ServerHandle, Status};
use erpc_queue::{Bridge, BridgeConfig, Queue, QueueClient, QueueClientOptions, TargetConfig};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::Notify;

/// Which real queue server a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Nats,
    RabbitMq,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Nats => "nats",
            Backend::RabbitMq => "rabbitmq",
        }
    }

    /// A private server of this kind.
    pub async fn server(self) -> servers::Server {
        match self {
            Backend::Nats => servers::nats().await,
            Backend::RabbitMq => servers::rabbitmq().await,
        }
    }
}

#[erpc_macros::service(crate = "erpc_core")]
pub trait Work {
    /// `n * 2`, after the service's delay; counts a run of `n` once the delay is over (so a
    /// run aborted during it has no effect).
    async fn double(&self, cx: Context, n: u64) -> Result<u64, Status>;
    /// Fails with `failed_precondition` and `why`.
    async fn refuse(&self, why: String) -> Result<u64, Status>;
    /// How many bytes `data` has.
    async fn size(&self, data: String) -> Result<u64, Status>;
    /// `len` bytes of `x`.
    async fn blob(&self, len: u64) -> Result<String, Status>;
    /// `a + b`: two arguments, which travel as a two-element array.
    async fn add(&self, a: u64, b: u64) -> Result<u64, Status>;
    /// Fails with `unavailable` and `why` (a service refusing: retried by the bridge).
    async fn unavailable(&self, why: String) -> Result<u64, Status>;
}

/// What the service saw.
#[derive(Default)]
pub struct Seen {
    /// Completed runs of `double` per argument.
    pub runs: Mutex<HashMap<u64, u32>>,
    /// Runs started (completed or not).
    pub started: Mutex<u32>,
    /// Woken at every start and completion.
    pub changed: Notify,
    /// Completed runs per caller (a bridge's connection).
    pub peers: Mutex<HashMap<String, u32>>,
    /// The idempotency keys seen in metadata.
    pub keys: Mutex<Vec<Vec<u8>>>,
    /// Calls of `unavailable`.
    pub refusals: Mutex<u32>,
}

impl Seen {
    pub fn runs_of(&self, n: u64) -> u32 {
        self.runs.lock().unwrap().get(&n).copied().unwrap_or(0)
    }

    pub fn total_runs(&self) -> u32 {
        self.runs.lock().unwrap().values().sum()
    }

    /// Wait until `check` holds (re-checked at every start and completion).
    pub async fn wait_for(&self, limit: Duration, check: impl Fn(&Seen) -> bool) {
        let wait = async {
            loop {
                let changed = self.changed.notified();
                if check(self) {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(limit, wait)
            .await
            .expect("the service got there in time");
    }
}

pub struct Worker {
    pub delay: Duration,
    pub seen: Arc<Seen>,
}

impl Work for Worker {
    async fn double(&self, cx: Context, n: u64) -> Result<u64, Status> {
        *self.seen.started.lock().unwrap() += 1;
        self.seen.changed.notify_waiters();
        tokio::time::sleep(self.delay).await;
        *self.seen.runs.lock().unwrap().entry(n).or_default() += 1;
        let peer = format!("{:?}", cx.peer());
        *self.seen.peers.lock().unwrap().entry(peer).or_default() += 1;
        if let Some(key) = cx.metadata().get(erpc_queue::IDEMPOTENCY_METADATA) {
            self.seen.keys.lock().unwrap().push(key.to_vec());
        }
        self.seen.changed.notify_waiters();
        Ok(n * 2)
    }

    async fn refuse(&self, why: String) -> Result<u64, Status> {
        Err(Status::failed_precondition(why))
    }

    async fn size(&self, data: String) -> Result<u64, Status> {
        Ok(data.len() as u64)
    }

    async fn blob(&self, len: u64) -> Result<String, Status> {
        Ok("x".repeat(len as usize))
    }

    async fn add(&self, a: u64, b: u64) -> Result<u64, Status> {
        Ok(a + b)
    }

    async fn unavailable(&self, why: String) -> Result<u64, Status> {
        *self.seen.refusals.lock().unwrap() += 1;
        Err(Status::unavailable(why))
    }
}

/// The Work service on a free TCP port, taking `delay` per call.
pub async fn service(delay: Duration) -> (ServerHandle, Arc<Seen>) {
    service_at("tcp://127.0.0.1:0", delay).await
}

/// The Work service at `address`, taking `delay` per call.
pub async fn service_at(address: &str, delay: Duration) -> (ServerHandle, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let server = erpc_core::Server::builder()
        .add_service(WorkServer::new(Worker {
            delay,
            seen: seen.clone(),
        }))
        .serve([address])
        .await
        .expect("the service serves");
    (server, seen)
}

/// A bridge configuration for `backend` at `url` forwarding Work to `address`.
pub fn bridge_config(backend: Backend, url: &str, address: &str) -> BridgeConfig {
    BridgeConfig {
        queue: erpc_queue::QueueConfig {
            backend: backend.name().into(),
            url: Some(url.into()),
            ..Default::default()
        },
        ack_wait_ms: 1_000,
        targets: vec![TargetConfig {
            service: "Work".into(),
            address: Some(address.into()),
            timeout_ms: 5_000,
            max_retries: 2,
            backoff_ms: 50,
            backoff_max_ms: 200,
            idempotent: false,
            idempotent_methods: Vec::new(),
        }],
        ..BridgeConfig::default()
    }
}

/// A bridge running in this process until the handle is dropped (aborted: what it holds
/// unacknowledged comes back) or stopped ([`RunningBridge::stop`]).
pub struct RunningBridge {
    task: tokio::task::JoinHandle<()>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl RunningBridge {
    /// Stop it as a SIGTERM does and return once it has: no new requests, and every request
    /// being forwarded answered and acknowledged (or given back) first.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        tokio::time::timeout(Duration::from_secs(30), &mut self.task)
            .await
            .expect("the bridge stops in time")
            .expect("the bridge task ends without panicking");
    }
}

impl Drop for RunningBridge {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Start a bridge in this process with `config`; returns once it is consuming.
pub async fn bridge(queue: Arc<dyn Queue>, config: BridgeConfig) -> RunningBridge {
    run_bridge(Bridge::new(queue, config).expect("a valid configuration")).await
}

/// Run `bridge` in this process; returns once it is consuming.
pub async fn run_bridge(bridge: Bridge) -> RunningBridge {
    let (ready, consuming) = tokio::sync::oneshot::channel();
    let (shutdown, stopping) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        bridge
            .run(
                move || {
                    let _ = ready.send(());
                },
                async move {
                    let _ = stopping.await;
                },
            )
            .await
            .expect("the bridge runs");
    });
    tokio::time::timeout(Duration::from_secs(30), consuming)
        .await
        .expect("the bridge subscribes in time")
        .expect("the bridge subscribes");
    RunningBridge {
        task,
        shutdown: Some(shutdown),
    }
}

/// Start the `erpc-bridge` binary with `config` (written to `dir`); returns once it says it
/// is consuming. SIGKILLed when dropped.
pub async fn bridge_process(config: &BridgeConfig, dir: &std::path::Path) -> tokio::process::Child {
    let path = dir.join(format!("bridge-{}.yaml", fastrand_suffix()));
    std::fs::write(&path, yaml(config)).expect("the configuration is written");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_erpc-bridge"))
        .arg("--config")
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the erpc-bridge binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("erpc-bridge announces itself in time")
        .expect("stdout readable")
        .expect("erpc-bridge printed a line (did it fail to start?)");
    assert!(line.starts_with("erpc-bridge consuming "), "{line:?}");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

fn fastrand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// `config` as the YAML the binary reads (the fields the tests set).
fn yaml(config: &BridgeConfig) -> String {
    let mut out = format!(
        "queue:\n  backend: {}\n  url: {}\nrequests: {}\ngroup: {}\ndead_letter: {}\nack_wait_ms: {}\nconcurrency: {}\ntargets:\n",
        config.queue.backend,
        config.queue.url.as_deref().unwrap_or_default(),
        config.requests,
        config.group,
        config.dead_letter,
        config.ack_wait_ms,
        config.concurrency,
    );
    for t in &config.targets {
        out.push_str(&format!(
            "  - service: {}\n    address: {}\n    timeout_ms: {}\n    max_retries: {}\n    backoff_ms: {}\n    backoff_max_ms: {}\n",
            t.service,
            t.address.as_deref().unwrap_or_default(),
            t.timeout_ms,
            t.max_retries,
            t.backoff_ms,
            t.backoff_max_ms
        ));
    }
    out
}

/// A queue client on `queue` with calls of `timeout`.
pub async fn client(queue: Arc<dyn Queue>, timeout: Duration) -> QueueClient {
    QueueClient::connect(
        queue,
        QueueClientOptions {
            timeout,
            ..Default::default()
        },
    )
    .await
    .expect("the client subscribes to its replies")
}

/// The next dead letter on `subject`, decoded.
pub async fn next_dead_letter(
    dead: &mut Box<dyn erpc_queue::Subscription>,
) -> erpc_queue::Envelope {
    next_envelope(dead, "a dead letter").await
}

/// The next message on `subscription` (`what`, within 20 s), acked and decoded.
async fn next_envelope(
    subscription: &mut Box<dyn erpc_queue::Subscription>,
    what: &str,
) -> erpc_queue::Envelope {
    let delivery = tokio::time::timeout(Duration::from_secs(20), subscription.next())
        .await
        .unwrap_or_else(|_| panic!("{what} in time"))
        .expect("the subscription lives");
    let envelope = erpc_queue::Envelope::decode(delivery.payload.clone())
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    delivery.ack().await.expect("acked");
    envelope
}

/// A subscription to the dead letters.
pub async fn dead_letters(queue: &Arc<dyn Queue>) -> Box<dyn erpc_queue::Subscription> {
    queue
        .subscribe(erpc_queue::Subscribe::new("erpc.dead", Some("test-dead")))
        .await
        .expect("subscribes to the dead letters")
}

/// The usual scene: a queue server of `backend`, the Work service taking `delay` per call, a
/// bridge in this process forwarding to it, and a typed client through the queue with calls
/// of `timeout`.
pub struct Stack {
    pub server: servers::Server,
    pub queue: Arc<dyn Queue>,
    pub service: ServerHandle,
    pub seen: Arc<Seen>,
    pub bridge: RunningBridge,
    pub client: QueueClient,
    pub work: WorkClient,
}

pub async fn stack(backend: Backend, delay: Duration, timeout: Duration) -> Stack {
    let server = backend.server().await;
    let queue = server.connect().await;
    let (service, seen) = self::service(delay).await;
    let config = bridge_config(backend, &server.url, &service.local_addr().to_string());
    let bridge = self::bridge(queue.clone(), config).await;
    let client = self::client(queue.clone(), timeout).await;
    let work = WorkClient::new(client.client());
    Stack {
        server,
        queue,
        service,
        seen,
        bridge,
        client,
        work,
    }
}

/// A private subscription to `subject` (a reply subject the test reads itself).
pub async fn replies(queue: &Arc<dyn Queue>, subject: &str) -> Box<dyn erpc_queue::Subscription> {
    queue
        .subscribe(erpc_queue::Subscribe::new(subject, None))
        .await
        .expect("subscribes to the replies")
}

/// The next answer on `replies`: its envelope and the call's result.
pub async fn next_answer(
    replies: &mut Box<dyn erpc_queue::Subscription>,
) -> (
    erpc_queue::Envelope,
    Result<erpc_core::ClientResponse, Status>,
) {
    let envelope = next_envelope(replies, "an answer").await;
    let result = erpc_queue::frames::read_response(&envelope.frame);
    (envelope, result)
}

/// A request envelope calling `service.method` with the raw `body` (MessagePack), answered
/// on `reply_to`.
pub fn raw_request(service: &str, method: &str, body: &[u8], reply_to: &str) -> bytes::Bytes {
    let request = erpc_core::ClientRequest::new(
        service.to_owned(),
        method.to_owned(),
        bytes::Bytes::copy_from_slice(body),
    );
    let frame = erpc_queue::frames::request_frame(&request).expect("a frame");
    erpc_queue::Envelope {
        reply_to: reply_to.into(),
        ..erpc_queue::Envelope::request(1, frame)
    }
    .encode()
    .expect("encodes")
}
