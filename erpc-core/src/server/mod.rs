//! The server: services by name, listening on any number of transports at once, with
//! graceful shutdown.

pub mod adaptive_limit;
pub mod admission;
mod built_in;
mod call_task;
mod concurrency_limit;
mod conn;
pub mod health;
mod in_flight;
mod inline_call;
mod layer;
mod method_concurrency;
pub(crate) mod middleware;
mod observed;
pub mod on_connect;
#[cfg(feature = "rate-limit")]
mod peer_rate_limit;
#[cfg(feature = "rate-limit")]
mod rate_limit;
mod refusal_log;
mod served_names;
mod service;
mod signal;
mod slow_calls;
mod stall_watch;
mod stream_task;
mod task_queue;
mod weights;
mod workers;

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use erpc_codec::{Codec, Codecs};
use erpc_transport::{Acceptor, Address, IntoAddress, Listener};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use adaptive_limit::{AdaptiveLimit, AdaptiveSettings};
pub use admission::{Admission, Admitted, CallHead, CallKind};
pub use concurrency_limit::ConcurrencyLimit;
pub use health::check::HealthCheck;
pub use health::registry::HealthInRegistry;
pub use health::{Health, ServingStatus};
pub use layer::HandlerService;
pub use method_concurrency::MethodConcurrencyLimit;
pub use on_connect::Connecting;
#[cfg(feature = "rate-limit")]
pub use peer_rate_limit::{DEFAULT_MAX_PEERS, PeerRateLimit};
#[cfg(feature = "rate-limit")]
pub use rate_limit::RateLimit;
pub use served_names::ServedMethods;
pub use service::{
    Request, Responder, Response, Service, StreamRequest, bidi_streaming, client_streaming, oneway,
    server_streaming, unary, unknown_method, wrong_shape,
};
pub use signal::ShutdownSignals;
pub use slow_calls::SlowCallLog;
pub use task_queue::TaskQueue;
pub use weights::Weights;
pub use workers::Workers;

use crate::config::ServerConfig;
use crate::discovery::{Instance, Register};
use crate::layer::{ErasableLayer, Stack};
use crate::observe::{CloseReason, Observer, Side};
use crate::server::layer::Layered;
use crate::server::middleware::Middleware;
use crate::server::on_connect::ConnectHook;
use crate::status::Status;

/// What every connection of a server shares.
pub(crate) struct Shared {
    /// The route table: each service by name (with its methods' watches, if observed).
    pub services: HashMap<String, observed::Route>,
    /// Header-level hooks, in order (see [`admission`]).
    pub admission: Vec<Arc<dyn Admission>>,
    /// Connection-level hooks, in order (see [`on_connect`]).
    pub on_connect: Vec<Arc<ConnectHook>>,
    /// Engine events go here, if anyone listens.
    pub observer: Option<Arc<dyn Observer>>,
    pub config: ServerConfig,
    pub codecs: Arc<Codecs>,
    /// The handler worker limit, if one was set ([`ServerBuilder::workers`]).
    pub workers: Option<Workers>,
    /// Log calls refused before they ran ([`ServerBuilder::log_refused_calls`]).
    pub log_refused_calls: bool,
}

/// Entry point: `Server::builder()`.
#[derive(Debug)]
pub struct Server;

impl Server {
    /// A builder with default settings and no services.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }
}

/// Builds and starts a server.
///
/// ```no_run
/// # use erpc_core as erpc;
/// # async fn run(svc: impl erpc::Service) -> std::io::Result<()> {
/// let server = erpc::Server::builder()
///     .add_service(svc)
///     .serve(["tcp://127.0.0.1:7000", "unix:///tmp/erpc.sock"])
///     .await?;
/// // ... later
/// server.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct ServerBuilder {
    services: HashMap<String, Arc<dyn Service>>,
    layers: Stack<Request, Response>,
    admission: Vec<Arc<dyn Admission>>,
    on_connect: Vec<Arc<ConnectHook>>,
    observer: Option<Arc<dyn Observer>>,
    config: ServerConfig,
    codecs: Option<Codecs>,
    registry: Option<(Arc<dyn Register>, Instance)>,
    /// Health: served as `erpc.Health` unless `serve_health` is false, fed by `checks`.
    health: Health,
    no_health_service: bool,
    checks: Vec<HealthCheck>,
    health_in_registry: HealthInRegistry,
    workers: Option<Workers>,
    task_queues: Vec<TaskQueue>,
    /// Serve `erpc.Reflection` unless false was asked ([`ServerBuilder::reflection`]).
    no_reflection: bool,
    log_refused_calls: bool,
}

impl ServerBuilder {
    /// Who refuses a setting, in a setter's panic.
    const WHO: &'static str = "ServerBuilder";

    /// Serve `service` under its name. A second service with the same name replaces the first.
    pub fn add_service(mut self, service: impl Service) -> Self {
        self.services
            .insert(service.name().to_owned(), Arc::new(service));
        self
    }

    /// Serve the built-in reflection service `erpc.Reflection` (every service's methods,
    /// their call kinds, idempotency and types; PROTOCOL.md §16), or not. Default: served.
    /// It goes through the server's layers and admission hooks like any service.
    pub fn reflection(mut self, serve: bool) -> Self {
        self.no_reflection = !serve;
        self
    }

    /// Add a header-level hook: it admits or refuses each call from its header block alone,
    /// before the body is decoded and before a task exists (see [`admission`]). Hooks run in
    /// the order added — the caps on running calls ([`Admission::counts_running`]) after the
    /// others, and after any wait for a rate limit's turn; the first refusal answers the call.
    pub fn admission(mut self, hook: impl Admission) -> Self {
        self.admission.push(Arc::new(hook));
        self
    }

    /// Add a connection-level hook: it serves or turns away each new connection from its
    /// peer address and TLS client certificates ([`Connecting`]), before any frame is read
    /// (see [`on_connect`]). `Err(status)` closes the connection at once after one ERROR
    /// frame with that status, reported to the observer as
    /// [`CloseReason::Denied`]. Hooks run in the order added; the first refusal wins.
    /// Default: none, every connection is served (up to `max_connections`).
    pub fn on_connect<F>(mut self, hook: F) -> Self
    where
        F: Fn(&Connecting<'_>) -> Result<(), Status> + Send + Sync + 'static,
    {
        self.on_connect.push(Arc::new(hook));
        self
    }

    /// Report engine events (connections opened and closed with the reason, frames refused,
    /// calls started and finished) to `observer`. See [`crate::observe`].
    pub fn observer(mut self, observer: impl Observer) -> Self {
        self.observer = Some(crate::observe::Contained::wrap(observer));
        self
    }

    /// Add a layer around every service's handler: a [`tower` layer](crate::layer) over
    /// [`HandlerService`], run in the call's task after the header-level hooks admitted it
    /// and before the body is decoded (tracing, metrics, logging, a slow-call log). The
    /// first added runs outermost. Each `layer` call costs one boxed future per call; stack
    /// several in one `tower::ServiceBuilder` to pay it once.
    pub fn layer(mut self, layer: impl ErasableLayer<Request, Response>) -> Self {
        self.layers.push(layer);
        self
    }

    /// Add a middleware: a layer written as one async function (see [`Middleware`]). The
    /// first added runs outermost.
    pub fn middleware(self, middleware: impl Middleware) -> Self {
        self.layer(crate::server::middleware::layer(middleware))
    }

    /// Replace the whole configuration.
    ///
    /// # Panics
    /// If [`ServerConfig::check`] refuses it (a zero count or timeout, a bad heartbeat,
    /// limit or stream window), as the setters and the config file would.
    #[track_caller]
    pub fn config(mut self, config: ServerConfig) -> Self {
        crate::config::refuse("ServerBuilder", "config", config.check());
        self.config = config;
        self
    }

    shared_setters!();

    /// Handlers running at once on one connection; more are refused `resource_exhausted`.
    /// A call waiting for a rate limit's turn is not counted until its wait is over (the
    /// rate limit's line bounds those). Default 1,024.
    ///
    /// # Panics
    /// If `calls` is 0 (every call would be refused); the config file refuses it too.
    #[track_caller]
    pub fn max_in_flight(mut self, calls: usize) -> Self {
        crate::config::refuse(
            Self::WHO,
            "max_in_flight",
            crate::config::above_zero("max_in_flight", calls == 0),
        );
        self.config.max_in_flight = calls;
        self
    }

    /// Whether unary and oneway handlers run on their connection's own task (polled once
    /// there; spawned if still pending), or each in a task of its own. Default `true`. See
    /// [`ServerConfig::inline_calls`] for the trade-off.
    pub fn inline_calls(mut self, inline: bool) -> Self {
        self.config.inline_calls = inline;
        self
    }

    /// Connections served at once; more are refused. Default 10,000.
    ///
    /// # Panics
    /// If `connections` is 0 (every connection would be turned away) or above 2^61 − 1
    /// (tokio's semaphore's limit); the config file refuses them too.
    #[track_caller]
    pub fn max_connections(mut self, connections: usize) -> Self {
        let zero = crate::config::above_zero("max_connections", connections == 0);
        crate::config::refuse(Self::WHO, "max_connections", zero);
        crate::config::refuse(
            Self::WHO,
            "max_connections",
            crate::config::check_max_connections(connections),
        );
        self.config.max_connections = connections;
        self
    }

    /// Deadline of a unary or oneway request that carries none. Default 10 s.
    ///
    /// # Panics
    /// If `deadline` is zero (such calls would be refused unrun); the config file refuses
    /// it too.
    #[track_caller]
    pub fn default_deadline(mut self, deadline: Duration) -> Self {
        let zero = crate::config::above_zero("default_deadline", deadline.is_zero());
        crate::config::refuse(Self::WHO, "default_deadline", zero);
        self.config.default_deadline = deadline;
        self
    }

    /// Longer unary and oneway deadlines are clamped to this. Default 1 hour.
    ///
    /// # Panics
    /// If `deadline` is zero (every call would be refused unrun); the config file refuses
    /// it too.
    #[track_caller]
    pub fn max_deadline(mut self, deadline: Duration) -> Self {
        let zero = crate::config::above_zero("max_deadline", deadline.is_zero());
        crate::config::refuse(Self::WHO, "max_deadline", zero);
        self.config.max_deadline = deadline;
        self
    }

    /// Deadline of a stream opened without one. Default: none.
    ///
    /// # Panics
    /// If `deadline` is zero (every such stream would end at once); the config file refuses
    /// it too.
    #[track_caller]
    pub fn default_stream_deadline(mut self, deadline: Duration) -> Self {
        let zero = crate::config::above_zero("default_stream_deadline", deadline.is_zero());
        crate::config::refuse(Self::WHO, "default_stream_deadline", zero);
        self.config.default_stream_deadline = Some(deadline);
        self
    }

    /// A new connection must deliver a whole first frame within this. Default 10 s.
    ///
    /// # Panics
    /// If `timeout` is zero (every connection would be closed unheard) or over a day; the
    /// config file refuses them too.
    #[track_caller]
    pub fn first_frame_timeout(mut self, timeout: Duration) -> Self {
        let zero = crate::config::above_zero("first_frame_timeout", timeout.is_zero());
        crate::config::refuse(Self::WHO, "first_frame_timeout", zero);
        let long = crate::config::at_most_a_day("first_frame_timeout", timeout);
        crate::config::refuse(Self::WHO, "first_frame_timeout", long);
        self.config.first_frame_timeout = timeout;
        self
    }

    /// How long a graceful shutdown waits for running calls. Default 10 s.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.config.shutdown_grace = grace;
        self
    }

    /// Compression of responses to calls that ask for none but accept this one. Default
    /// none. See [`ServerConfig::response_compression`].
    pub fn response_compression(
        mut self,
        compression: erpc_codec::compression::CompressionId,
    ) -> Self {
        self.config.response_compression = compression;
        self
    }

    /// Transport settings: the TLS certificate for tls://, wss:// and quic:// listeners,
    /// the handshake deadline.
    pub fn transport(mut self, options: erpc_transport::Options) -> Self {
        self.config.transport = options;
        self
    }

    /// Add a custom codec.
    pub fn register_codec(mut self, codec: Arc<dyn Codec>) -> Self {
        self.codecs
            .get_or_insert_with(Codecs::default)
            .register(codec);
        self
    }

    /// Serve the built-in health service `erpc.Health` (check and watch each service's
    /// status, as `grpc.health.v1`; PROTOCOL.md §15), or not. Default: served. Health is
    /// kept either way (checks run, the registry hears of it, [`ServerHandle::health`]).
    pub fn health(mut self, serve: bool) -> Self {
        self.no_health_service = !serve;
        self
    }

    /// The server's health, to hand to services before serving: they may set their own
    /// status ([`Health::set`]). The same as [`ServerHandle::health`] once serving.
    pub fn health_handle(&self) -> Health {
        self.health.clone()
    }

    /// Run `check` every 5 s ([`health::check::DEFAULT_INTERVAL`]) under a 2 s timeout
    /// ([`health::check::DEFAULT_TIMEOUT`]), first as the server starts; while it fails
    /// (an `Err`, a timeout or a panic), every service is `NOT_SERVING`. For another
    /// interval, timeout or set of services, see [`ServerBuilder::health_check_with`].
    pub fn health_check<F, Fut>(self, name: impl Into<String>, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), health::check::CheckError>> + Send + 'static,
    {
        self.health_check_with(HealthCheck::new(name, check))
    }

    /// Run `check` as it says (see [`HealthCheck`]). A check with the name of one added
    /// before replaces it.
    pub fn health_check_with(mut self, check: HealthCheck) -> Self {
        self.checks.retain(|c| c.name() != check.name());
        self.checks.push(check);
        self
    }

    /// What the registry hears of each registered service's health. Default
    /// [`HealthInRegistry::Mark`]: a service that is not `SERVING` stays registered,
    /// marked so (metadata `erpc.health` = `NOT_SERVING`), and balanced clients skip it.
    pub fn health_in_registry(mut self, mode: HealthInRegistry) -> Self {
        self.health_in_registry = mode;
        self
    }

    /// At most `workers` unary and oneway handlers running at once across the server; up
    /// to `queue` more calls wait for a worker within their deadline, in arrival order;
    /// more are refused `resource_exhausted` before anything is decoded or spawned. See
    /// [`Workers`]. Default: no limit but `max_in_flight` per connection. Errors:
    /// `invalid_argument` for 0 workers (no call would ever run).
    pub fn workers(self, workers: usize, queue: usize) -> Result<Self, Status> {
        Ok(self.worker_pool(Workers::new(workers, queue)?))
    }

    /// As [`ServerBuilder::workers`], with a pool already made (a clone shares it).
    pub fn worker_pool(mut self, workers: Workers) -> Self {
        self.workers = Some(workers);
        self
    }

    /// Drain `queue` on graceful shutdown, after the calls ended (they may still submit),
    /// within the shutdown grace (`shutdown_grace`, default 10 s). See [`TaskQueue`].
    pub fn task_queue(mut self, queue: &TaskQueue) -> Self {
        self.task_queues.push(queue.clone());
        self
    }

    /// Log calls slower than `threshold` at `warn` (see [`SlowCallLog`]; for a threshold
    /// per method add `SlowCallLog::per_method` with [`ServerBuilder::middleware`]). A
    /// layer: where it is added among the others decides what it measures.
    pub fn slow_call_log(self, threshold: Duration) -> Self {
        self.middleware(SlowCallLog::new(threshold))
    }

    /// Log each call refused before it ran — by an admission hook (a rate limit, a cap,
    /// authentication, an ACL), the worker limit or the connection's running-call cap — as an
    /// access-log line: INFO on target `erpc::access`, message `call refused`, with
    /// `service`, `method`, `peer`, `code`, `duration_us` (the wait for a rate limit's turn
    /// that ran out; 0 for a refusal on arrival), `refused_by` (`rate_limit`, `concurrency`,
    /// `auth`, ... as `erpc_refused_calls_total`'s `reason`) and `reason` (the status
    /// message). Layers never see these calls, so erpc-telemetry's `AccessLog` layer, which
    /// logs the calls that ran on the same target, needs this for one line per call.
    /// Default off.
    pub fn log_refused_calls(mut self, on: bool) -> Self {
        self.log_refused_calls = on;
        self
    }

    /// Register every service with `registry` once serving, keep the registrations alive,
    /// and deregister them first thing on shutdown. `template` gives what all the services'
    /// instances share (id, weight, version, group, tags, metadata); its addresses, if empty,
    /// become the addresses actually bound, and its id, if empty, the first of them. Each
    /// service's health is fed to its registration ([`ServerBuilder::health_in_registry`]).
    pub fn register(mut self, registry: Arc<dyn Register>, template: Instance) -> Self {
        self.registry = Some((registry, template));
        self
    }

    /// Bind every address and start serving on all of them (and register, if a registry was
    /// given). Fails with `InvalidInput` for an address that does not parse, a
    /// [`ServerConfig::response_compression`] this build does not support, or an admission
    /// hook's per-method setting naming a service this server does not serve or a method its
    /// service does not have ([`Admission::names`]; the message lists what is served), or
    /// settings [`ServerConfig::check`] refuses (set field by field on a `ServerConfig`
    /// passed to [`ServerBuilder::config`], they are refused there already).
    pub async fn serve<I, A>(mut self, addrs: I) -> io::Result<ServerHandle>
    where
        I: IntoIterator<Item = A>,
        A: IntoAddress,
    {
        if let Err((setting, why)) = self.config.check() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("ServerBuilder::serve: {setting} {why}"),
            ));
        }
        if let Some(why) = unsupported_response_compression(&self.config) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
        }
        if let Err(why) = self.check_named() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
        }
        let mut listeners = Vec::new();
        for addr in addrs {
            let addr = addr
                .into_address()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            // Named: the system's "Address already in use" alone does not say which of the
            // addresses (or which key of a config file) it was.
            let listener = erpc_transport::bind_with(&addr, &self.config.transport)
                .await
                .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
            listeners.push(listener);
        }
        let registry = self.registry.take();
        let names: Vec<String> = self.services.keys().cloned().collect();
        let mode = self.health_in_registry;
        let handle = self.serve_listeners(listeners);
        if let Some((registry, template)) = registry
            && let Err(status) = handle.register_all(registry, template, names, mode).await
        {
            handle.shutdown().await;
            return Err(io::Error::other(format!("registering failed: {status}")));
        }
        Ok(handle)
    }

    /// Start serving on listeners bound elsewhere. A
    /// [`ServerConfig::response_compression`] this build does not support is logged as an
    /// error and never used, as is a per-method setting naming nothing served (which
    /// [`ServerBuilder::serve`] refuses). A registry given with [`ServerBuilder::register`] is not used
    /// (registering needs an await: use [`ServerBuilder::serve`]).
    pub fn serve_listeners(self, listeners: Vec<Listener>) -> ServerHandle {
        self.serve_with(listeners)
    }

    /// Start serving on the connections `acceptors` hand out: transports from outside
    /// erpc-transport (see [`erpc_transport::custom`]; box them,
    /// `Box<dyn Acceptor>`, to mix kinds), or [`Listener`]s bound elsewhere. Each acceptor
    /// gets an accept loop of its own until shutdown, or until it says no more connections
    /// will come. As [`ServerBuilder::serve_listeners`] otherwise.
    pub fn serve_with<I, A>(self, acceptors: I) -> ServerHandle
    where
        I: IntoIterator<Item = A>,
        A: Acceptor,
    {
        if let Some(why) = unsupported_response_compression(&self.config) {
            tracing::error!("{why}; responses will not use it");
        }
        // `serve` refuses these; here (no error to return) they are logged.
        if let Err(why) = self.check_named() {
            tracing::error!("{why}");
        }
        let layers = self.layers;
        let health = self.health;
        // Reflection describes the final set of services, itself and `erpc.Health`
        // included: its catalogue is filled once that set is known, below.
        let catalogue = crate::reflection::service::Catalogue::default();
        let mut services = self.services;
        if !self.no_health_service {
            let service = health::service::HealthService(health.clone());
            services.insert(health::service::SERVICE.to_owned(), Arc::new(service));
        }
        if !self.no_reflection {
            let service = crate::reflection::service::ReflectionService(catalogue.clone());
            services.insert(crate::reflection::SERVICE.to_owned(), Arc::new(service));
        }
        // Every service served is known to health, `erpc.Health` included.
        health.serve(services.keys().cloned());
        let services: HashMap<String, Arc<dyn Service>> = services
            .into_iter()
            .map(|(name, service)| (name, Layered::wrap(service, &layers)))
            .collect();
        let _ = catalogue.set(crate::reflection::service::catalogue(services.values()));
        let observed = self.observer.is_some();
        let services = services
            .into_iter()
            .map(|(name, service)| {
                let route = observed::Route::new(&name, service, observed);
                (name, route)
            })
            .collect();
        let shared = Arc::new(Shared {
            services,
            admission: self.admission,
            on_connect: self.on_connect,
            observer: self.observer,
            config: self.config,
            codecs: Arc::new(self.codecs.unwrap_or_default()),
            workers: self.workers,
            log_refused_calls: self.log_refused_calls,
        });
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        for check in self.checks {
            tracker.spawn(check.run(health.clone(), shutdown.clone()));
        }
        let slots = Arc::new(Semaphore::new(shared.config.max_connections));
        let mut local_addrs = Vec::new();
        for acceptor in acceptors {
            local_addrs.push(acceptor.local_addr().clone());
            tracker.spawn(accept_loop(
                acceptor,
                shared.clone(),
                shutdown.clone(),
                tracker.clone(),
                slots.clone(),
            ));
        }
        ServerHandle {
            local_addrs,
            shutdown,
            tracker,
            registrations: Default::default(),
            health,
            task_queues: self.task_queues,
            grace: shared.config.shutdown_grace,
            workers: shared.workers.clone(),
        }
    }
}

/// Why the configured response compression cannot be used, if it cannot.
fn unsupported_response_compression(config: &ServerConfig) -> Option<String> {
    let id = config.response_compression;
    (!id.is_supported())
        .then(|| format!("ServerConfig::response_compression {id} is not supported by this build"))
}

/// A running server. Dropping the handle leaves it running; call
/// [`ServerHandle::shutdown`] to stop it.
pub struct ServerHandle {
    local_addrs: Vec<Address>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    /// Shared with [`Weights`] handles.
    registrations: Arc<std::sync::Mutex<Vec<health::registry::Slot>>>,
    health: Health,
    /// Drained after the calls, on graceful shutdown.
    task_queues: Vec<TaskQueue>,
    grace: Duration,
    workers: Option<Workers>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addrs", &self.local_addrs)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The addresses actually bound, in the order given (with real ports for port 0).
    pub fn local_addrs(&self) -> &[Address] {
        &self.local_addrs
    }

    /// The first bound address.
    ///
    /// # Panics
    /// If the server was started with no listener at all.
    pub fn local_addr(&self) -> &Address {
        &self.local_addrs[0]
    }

    /// The server's health: read, watch or set each service's status.
    pub fn health(&self) -> Health {
        self.health.clone()
    }

    /// The weight its registrations carry, to change while it runs ([`Weights::set`]).
    pub fn weights(&self) -> Weights {
        Weights {
            slots: self.registrations.clone(),
            health: self.health.clone(),
        }
    }

    /// The handler worker limit, if [`ServerBuilder::workers`] set one: how many handlers
    /// run and how many calls wait now.
    pub fn workers(&self) -> Option<&Workers> {
        self.workers.as_ref()
    }

    async fn register_all(
        &self,
        registry: Arc<dyn Register>,
        template: Instance,
        services: Vec<String>,
        mode: HealthInRegistry,
    ) -> Result<(), Status> {
        let addrs: Vec<String> = if template.addrs.is_empty() {
            // A wildcard bind (0.0.0.0, [::]) says where to listen, not where to be reached:
            // advertising it would send every client to its own machine.
            if let Some(wild) = self.local_addrs.iter().find(|a| is_wildcard(a)) {
                return Err(Status::invalid_argument(format!(
                    "cannot register {wild}: it is a wildcard address, which no client can dial; set Instance::addrs to the addresses clients reach this server at"
                )));
            }
            self.local_addrs.iter().map(|a| a.to_string()).collect()
        } else {
            template.addrs.clone()
        };
        let id = if template.id.is_empty() {
            addrs.first().cloned().unwrap_or_default()
        } else {
            template.id.clone()
        };
        for service in services {
            let instance = Instance {
                service,
                id: id.clone(),
                addrs: addrs.clone(),
                ..template.clone()
            };
            let slot = health::registry::register(registry.clone(), instance, mode).await?;
            self.registrations
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(slot.clone());
            let slot = Arc::downgrade(&slot);
            let follow = health::registry::follow(slot, self.health.clone(), self.shutdown.clone());
            self.tracker.spawn(follow);
        }
        Ok(())
    }

    /// Remove this server's instances from its registry (the first step of a shutdown), all
    /// at once and for at most `limit`: an unreachable registry must not hold the shutdown
    /// up — the leases it could not remove expire by themselves.
    async fn deregister_all(&self, limit: Duration) {
        let slots =
            std::mem::take(&mut *self.registrations.lock().unwrap_or_else(|p| p.into_inner()));
        if slots.is_empty() {
            return;
        }
        let all = futures_util::future::join_all(slots.iter().map(|slot| async move {
            match health::registry::close(slot).await {
                Some(registration) => registration.deregister().await,
                // Deregistered already: its service is not serving.
                None => Ok(()),
            }
        }));
        match tokio::time::timeout(limit, all).await {
            Ok(outcomes) => {
                for status in outcomes.into_iter().filter_map(Result::err) {
                    tracing::warn!(%status, "deregistering failed; the lease will expire instead");
                }
            }
            Err(_) => tracing::warn!(
                ?limit,
                "the registry did not answer in time; the leases will expire instead"
            ),
        }
    }

    /// Graceful shutdown: deregister from the registry (so clients stop picking this
    /// server; at most [`DEREGISTER_LIMIT`]), set every health status `NOT_SERVING`, stop
    /// accepting, send GOAWAY on every connection, let running calls finish within the
    /// configured grace period, answer the rest `unavailable`, close; then drain the task
    /// queues given to [`ServerBuilder::task_queue`] within the grace period again.
    pub async fn shutdown(self) {
        self.deregister_all(DEREGISTER_LIMIT).await;
        self.health.shut_down();
        self.shutdown.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        self.drain_task_queues().await;
    }

    /// Drain every task queue at once, within the grace period; `true` if all finished.
    async fn drain_task_queues(&self) -> bool {
        let drains = self.task_queues.iter().map(|queue| queue.drain(self.grace));
        futures_util::future::join_all(drains)
            .await
            .into_iter()
            .all(|drained| drained)
    }

    /// Like [`ServerHandle::shutdown`], but gives up *waiting* after `limit`, deregistration
    /// included (it gets at most half of it). `false` if calls, or jobs of its task queues,
    /// were still running then. It does not shorten the grace period: calls still running
    /// keep it (`shutdown_grace`, default 10 s) in the background, then are answered
    /// `unavailable`; to stop sooner, set a shorter `shutdown_grace`. Task queues whose
    /// drain it stops waiting for take no more jobs, and their jobs run on.
    pub async fn shutdown_timeout(self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        self.deregister_all((limit / 2).min(DEREGISTER_LIMIT)).await;
        self.health.shut_down();
        self.shutdown.cancel();
        self.tracker.close();
        let all = async {
            self.tracker.wait().await;
            self.drain_task_queues().await
        };
        tokio::time::timeout_at(deadline, all)
            .await
            .unwrap_or(false)
    }
}

/// Whether `addr`'s host is the unspecified address (`0.0.0.0`, `::`).
fn is_wildcard(addr: &Address) -> bool {
    addr.host()
        .and_then(|h| h.parse::<std::net::IpAddr>().ok())
        .is_some_and(|ip| ip.is_unspecified())
}

/// The longest a shutdown waits for the registry to remove this server's instances.
pub const DEREGISTER_LIMIT: Duration = Duration::from_secs(5);

/// Accept connections from `acceptor` until shutdown or until it has no more, and serve each
/// one its hooks and the connection limit let through.
async fn accept_loop(
    acceptor: impl Acceptor,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    slots: Arc<Semaphore>,
) {
    let addr = acceptor.local_addr().clone();
    if let Some(observer) = &shared.observer {
        observer.server_listening(&addr, true);
    }
    let observer = shared.observer.clone();
    accept_until_stopped(acceptor, shared, shutdown, tracker, slots).await;
    if let Some(observer) = observer {
        observer.server_listening(&addr, false);
    }
}

/// [`accept_loop`]'s loop: until shutdown, or the acceptor ends.
async fn accept_until_stopped(
    mut acceptor: impl Acceptor,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    slots: Arc<Semaphore>,
) {
    let mut backoff = Duration::from_millis(5);
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = acceptor.accept() => accepted,
        };
        let link = match accepted {
            Some(Ok(link)) => link,
            Some(Err(e)) => {
                // Out of file descriptors, say: wait a little and keep serving the others.
                tracing::warn!(error = %e, addr = %acceptor.local_addr(), "accept failed");
                // The wait gives way to a shutdown: a server stopped while out of
                // descriptors stops at once, not after up to a second of backoff.
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
            None => {
                tracing::debug!(addr = %acceptor.local_addr(), "acceptor ended; no more connections from it");
                return;
            }
        };
        backoff = Duration::from_millis(5);
        let connecting = Connecting {
            peer: &link.peer,
            local: acceptor.local_addr(),
            peer_certificates: &link.peer_certificates,
        };
        if let Err(denied) = on_connect::admit_connection(&shared.on_connect, &connecting) {
            if let Some(observer) = &shared.observer {
                let reason = CloseReason::Denied(denied.message().to_owned());
                observer.connection_closed(Side::Server, &link.peer, &reason);
            }
            tracker.spawn(conn::refuse(link, denied));
            continue;
        }
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                if let Some(observer) = &shared.observer {
                    observer.connection_opened(Side::Server, &link.peer);
                }
                let local = acceptor.local_addr().clone();
                let serve = conn::serve(shared.clone(), link, local, shutdown.clone());
                tracker.spawn(async move {
                    serve.await;
                    drop(slot);
                });
            }
            Err(_) => {
                let why = format!(
                    "server is at its limit of {} (max_connections)",
                    crate::human::count(shared.config.max_connections, "connection")
                );
                if let Some(observer) = &shared.observer {
                    let reason = CloseReason::Limit(why.clone());
                    observer.connection_closed(Side::Server, &link.peer, &reason);
                }
                tracker.spawn(conn::refuse(link, Status::unavailable(why)));
            }
        }
    }
}
