//! The client: cheap to clone, sharing its connections; typed calls through [`Call`] and
//! [`Oneway`], untyped ones through [`Client::invoke`].

mod answer;
#[macro_use]
mod call;
mod broadcast;
mod concurrency_limit;
mod conn;
mod direct;
mod endpoint;
pub mod fail_mode;
mod hedge;
mod id_hash;
mod in_flight;
mod layer;
pub(crate) mod middleware;
mod observed;
mod pool;
#[cfg(feature = "rate-limit")]
mod rate_limit;
mod reachability;
mod redial_note;
mod retry_budget;
mod stream_call;
mod target;
mod typed;
mod watchers;

// Circuit breakers (per instance, per method) and the response cache: client governance.
mod breaker;
mod breaker_layer;
#[cfg(test)]
mod breaker_settings_tests;
#[cfg(feature = "cache")]
mod cache;
pub use breaker::{BreakerSettings, Counts, Trip};
pub use breaker_layer::{Guarded, InstanceBreakers, MethodBreakers};
#[cfg(feature = "cache")]
pub use cache::{CacheLayer, CacheSettings, CacheStats, Cached};

use std::sync::Arc;

use bytes::Bytes;
use erpc_codec::compression::CompressionId;
use erpc_codec::{Codec, CodecId, Codecs, Message};
use erpc_transport::{Address, AddressError, IntoAddress};
use futures_util::future::BoxFuture;
use tokio::time::Instant;

use answer::Answer;
use breaker::Ticket;
pub use call::{Call, CallFuture, CallOptions, Oneway};
pub use concurrency_limit::ClientConcurrencyLimit;
use conn::ClientConn;
use direct::AttemptStack;
pub use fail_mode::{FailMode, FailModes, HedgeDelay, MAX_RETRIES};
use in_flight::PendingCall;
#[doc(hidden)]
pub use layer::Opening;
pub use layer::{Attempt, AttemptService, CallService};
#[cfg(feature = "rate-limit")]
pub use rate_limit::ClientRateLimit;
pub use reachability::Reachability;
pub use retry_budget::RetryBudget;
pub use stream_call::{ClientStreamCall, StreamCall};
pub use typed::TypedClient;

use crate::body::{compress, decompress};
use crate::client::layer::{Route, Transmit};
use crate::client::middleware::ClientMiddleware;
use crate::client::observed::{Report, unsent, unsent_frame};
use crate::config::ClientConfig;
use crate::layer::{ErasableLayer, Stack};
use crate::metadata::Metadata;
use crate::observe::MethodWatches;
use crate::observe::Observer;
use crate::protocol::{ByteStr, CompressionList, Frame, Kind};
use crate::status::{Code, Status};
use pool::Pool;
use target::{Ready, Target};
use watchers::Watchers;

/// How [`Client::start`] got a call going.
pub(crate) enum Started {
    /// Queued on a connection; waiting for the response, which may be compressed with
    /// `accept` (the request's accept-compression list).
    Sent {
        pending: PendingCall,
        accept: CompressionList,
    },
    /// A connection must be dialled first: the rest of the call.
    Dialing(BoxFuture<'static, Result<ClientResponse, Status>>),
}

/// A call in its untyped form: what client layers and middleware see and [`Client::invoke`]
/// takes.
#[derive(Debug, Clone)]
pub struct ClientRequest {
    /// Service name.
    pub service: ByteStr,
    /// Method name.
    pub method: ByteStr,
    /// Metadata to send.
    pub metadata: Metadata,
    /// Absolute deadline.
    pub deadline: Instant,
    /// Codec the body is encoded with.
    pub codec: CodecId,
    /// Compression to apply (if the body reaches the threshold), and to ask of the server
    /// for the response whatever the body's size.
    pub compression: CompressionId,
    /// Compressions accepted in the response besides `compression`, most preferred first
    /// (PROTOCOL.md §6); each must be supported by this build.
    pub accept_compression: CompressionList,
    /// The encoded, uncompressed body.
    pub body: Bytes,
    /// Whether no response is expected.
    pub oneway: bool,
    /// Whether this opens a streaming call (layers see the opening once, with an empty
    /// body; the messages follow once the layers have passed it on).
    pub stream: bool,
    /// The key a balancer hashes to keep calls with the same key on the same instance
    /// (`.hash_key(k)`; see [`crate::discovery::balance::hash_key`]).
    pub hash_key: Option<u64>,
    /// Whether the method is safe to run more than once (`#[idempotent]` in
    /// `#[erpc::service]`, or `.idempotent()` on the call): a fail mode may resend it after
    /// it was sent. Default `false`: only a request never sent is resent.
    pub idempotent: bool,
    /// Where this attempt should go relative to the call's earlier ones, and where it went:
    /// set by fail modes, hedging and broadcast ([`crate::client::fail_mode`]); leave it
    /// default.
    pub steer: crate::discovery::Steer,
    /// Set by erpc on a stream's opening, to get it back from the layers; leave it default.
    #[doc(hidden)]
    pub opening: Opening,
}

impl ClientRequest {
    /// A unary request for `service.method` with `body` (already encoded in MessagePack),
    /// a 10 s deadline, no metadata, no compression; change fields with struct update syntax:
    /// `ClientRequest { codec: CodecId::JSON, ..ClientRequest::new("Echo", "len", body) }`.
    pub fn new(
        service: impl Into<ByteStr>,
        method: impl Into<ByteStr>,
        body: impl Into<Bytes>,
    ) -> ClientRequest {
        ClientRequest {
            service: service.into(),
            method: method.into(),
            metadata: Metadata::new(),
            deadline: Instant::now() + std::time::Duration::from_secs(10),
            codec: CodecId::MSGPACK,
            compression: CompressionId::NONE,
            accept_compression: CompressionList::new(),
            body: body.into(),
            oneway: false,
            stream: false,
            hash_key: None,
            idempotent: false,
            steer: crate::discovery::Steer::default(),
            opening: Opening::default(),
        }
    }
}

/// A response in its untyped form.
#[derive(Debug, Clone, Default)]
pub struct ClientResponse {
    /// Codec of the body.
    pub codec: CodecId,
    /// The compression the body arrived in (`NONE` if it was not compressed).
    pub compression: CompressionId,
    /// The body's size on the wire, in bytes (before decompression).
    pub wire_len: usize,
    /// Metadata the server sent back.
    pub metadata: Metadata,
    /// The decoded (decompressed) body; empty for oneway calls.
    pub body: Bytes,
}

/// A client of one server address.
///
/// ```no_run
/// # use erpc_core as erpc;
/// # async fn run() -> Result<(), erpc::Status> {
/// use erpc::Client;
/// let client = Client::connect("tcp://127.0.0.1:7000").await?;
/// let reply: String = client.call("greeter", "hello", "ada".to_string()).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    target: Target,
    config: ClientConfig,
    codecs: Arc<Codecs>,
    /// The call-level layers over the pick, if any were added.
    calls: Option<CallService>,
    /// The attempt-level layers over the wire, if any were added.
    attempts: Option<AttemptService>,
    /// What that stack is, for a fail mode's first attempt ([`direct`]).
    attempt_stack: AttemptStack,
    /// The call-level stack when it is one [`FailModes`] layer right over the pick: calls
    /// then start through it directly, a typed call holding its first attempt's future
    /// itself ([`fail_mode::FailModeService::start`]).
    fail_modes: Option<fail_mode::FailModeService>,
    /// Engine events go to its observer, if anyone listens (streams report their messages to
    /// it), and the calls' reports through its watch of each method called.
    watches: Option<MethodWatches>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("target", &self.inner.target.describe())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`]. Cloning it copies its settings and shares its layers (a layer's
/// state — a breaker's counts, a fail mode's retry budget, a rate limit's bucket — is shared
/// by the clients built from the clones, as when one layer value is given to two builders).
#[derive(Clone, Default)]
pub struct ClientBuilder {
    config: ClientConfig,
    codecs: Option<Codecs>,
    calls: Stack<ClientRequest, ClientResponse>,
    attempts: Stack<Attempt, ClientResponse>,
    observer: Option<Arc<dyn Observer>>,
    subset: crate::discovery::Subset,
    routes: Option<crate::discovery::route_follow::RouteSource>,
}

impl ClientBuilder {
    /// Who refuses a setting, in a setter's panic.
    const WHO: &'static str = "ClientBuilder";

    /// Replace the whole configuration.
    ///
    /// # Panics
    /// If [`ClientConfig::check`] refuses it (a zero timeout or count, a bad backoff,
    /// heartbeat, limit or stream window), as the setters and the config file would.
    #[track_caller]
    pub fn config(mut self, config: ClientConfig) -> Self {
        crate::config::refuse("ClientBuilder", "config", config.check());
        self.config = config;
        self
    }

    /// Connections to open to the server (calls are spread across them).
    ///
    /// # Panics
    /// If `n` is 0 (no connection could carry a call); the config file refuses it too.
    pub fn connections(mut self, n: usize) -> Self {
        assert!(
            n >= 1,
            "ClientBuilder::connections: connections must be above zero, got 0"
        );
        self.config.connections = n;
        self
    }

    /// Calls one connection carries at once (default 1,024, a server's default cap); more
    /// wait for a slot within their deadline. See [`ClientConfig::max_concurrent_calls`].
    ///
    /// # Panics
    /// If `n` is 0 (every call would wait for a slot that never frees); the config file
    /// refuses it too.
    pub fn max_concurrent_calls(mut self, n: usize) -> Self {
        assert!(
            n >= 1,
            "ClientBuilder::max_concurrent_calls: max_concurrent_calls must be above zero, got 0"
        );
        self.config.max_concurrent_calls = n;
        self
    }

    shared_setters!();

    /// Deadline of a streaming call that sets none (default: none; see
    /// [`ClientConfig::stream_timeout`]).
    ///
    /// # Panics
    /// If `timeout` is zero (every stream would fail unsent); the config file refuses it too.
    #[track_caller]
    pub fn stream_timeout(mut self, timeout: std::time::Duration) -> Self {
        let zero = crate::config::above_zero("stream_timeout", timeout.is_zero());
        crate::config::refuse(Self::WHO, "stream_timeout", zero);
        self.config.stream_timeout = Some(timeout);
        self
    }

    /// Give up connecting after this long. Default 5 s.
    ///
    /// # Panics
    /// If `timeout` is zero (every dial would time out) or over a day (it overflowed the
    /// clock); the config file refuses them too.
    #[track_caller]
    pub fn connect_timeout(mut self, timeout: std::time::Duration) -> Self {
        assert!(
            !timeout.is_zero(),
            "ClientBuilder::connect_timeout: connect_timeout must be above zero, got 0s"
        );
        let long = crate::config::at_most_a_day("connect_timeout", timeout);
        crate::config::refuse(Self::WHO, "connect_timeout", long);
        self.config.connect_timeout = timeout;
        self
    }

    /// Reconnect backoff: the first wait after a failed attempt, doubling up to `max`.
    /// Default 100 ms to 5 s.
    ///
    /// # Panics
    /// If `initial` is above `max`, or `max` above an hour ([`crate::config::MAX_WAIT`]; a
    /// longer wait overflows where it is computed): the config file refuses both too
    /// ([`crate::config::check_backoff`]).
    pub fn backoff(mut self, initial: std::time::Duration, max: std::time::Duration) -> Self {
        if let Err((setting, why)) = crate::config::check_backoff(initial, max) {
            panic!("ClientBuilder::backoff: {setting} {why}");
        }
        self.config.backoff_initial = initial;
        self.config.backoff_max = max;
        self
    }

    /// Default deadline of unary and oneway calls (a call's own `.timeout` or `.deadline`
    /// wins). Default 10 s.
    ///
    /// # Panics
    /// If `timeout` is zero (every call would fail `deadline_exceeded` unsent); the config
    /// file refuses it too.
    #[track_caller]
    pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
        crate::config::refuse(
            Self::WHO,
            "timeout",
            crate::config::above_zero("timeout", timeout.is_zero()),
        );
        self.config.timeout = timeout;
        self
    }

    /// Default codec of calls.
    pub fn codec(mut self, codec: CodecId) -> Self {
        self.config.codec = codec;
        self
    }

    /// Default compression of calls: of their request bodies above the threshold, and asked
    /// of the server for their responses.
    pub fn compression(mut self, compression: CompressionId) -> Self {
        self.config.compression = compression;
        self
    }

    /// Compressions accepted in responses besides a call's own, most preferred first (`none`
    /// is always accepted; at most 16, each supported by this build, or calls fail). See
    /// [`ClientConfig::accept_compression`].
    pub fn accept_compression(mut self, ids: impl IntoIterator<Item = CompressionId>) -> Self {
        self.config.accept_compression = ids.into_iter().collect();
        self
    }

    /// Add a custom codec.
    pub fn register_codec(mut self, codec: Arc<dyn Codec>) -> Self {
        self.codecs
            .get_or_insert_with(Codecs::default)
            .register(codec);
        self
    }

    /// Transport settings: the roots a tls://, wss:// or quic:// client trusts (and its own
    /// certificate for mTLS), the handshake deadline.
    pub fn transport(mut self, options: erpc_transport::Options) -> Self {
        self.config.transport = options;
        self
    }

    /// Dial `scheme://…` addresses with `connector`: a transport from outside
    /// erpc-transport (see [`erpc_transport::custom`]), or a replacement for a built-in
    /// scheme's dialer. Addresses with that scheme then parse (as `Address::Other` for a
    /// scheme of your own) where they would fail as an unknown transport. Kept in the
    /// transport options: a later [`ClientBuilder::transport`] or `config` replaces it.
    pub fn connector(
        mut self,
        scheme: impl Into<String>,
        connector: impl erpc_transport::Connector,
    ) -> Self {
        self.config
            .transport
            .connectors
            .insert(scheme, Arc::new(connector));
        self
    }

    /// Add a call-level layer: a [`tower` layer](crate::layer) over [`CallService`], run once
    /// per call above the balancer's pick (retry, hedging, fail modes, a cache, client rate
    /// limits, tracing). The first added runs outermost. Each `layer` call costs one boxed
    /// future per call; stack several in one `tower::ServiceBuilder` to pay it once.
    pub fn layer(mut self, layer: impl ErasableLayer<ClientRequest, ClientResponse>) -> Self {
        self.calls.push(layer);
        self
    }

    /// Add an attempt-level layer: a [`tower` layer](crate::layer) over [`AttemptService`],
    /// run for each attempt below the balancer's pick, seeing the instance the attempt goes
    /// to ([`Attempt::addr`], [`Attempt::load`]): per-instance circuit breakers,
    /// per-attempt metrics. The first added runs outermost.
    pub fn attempt_layer(mut self, layer: impl ErasableLayer<Attempt, ClientResponse>) -> Self {
        self.attempts.push(layer);
        self
    }

    /// Call only the discovered instances in `subset` (by group, version and tags); calls
    /// fail `unavailable`, naming the subset, while none is. Default: every instance. Only
    /// a client of a discovered service ([`ClientBuilder::discover`]) consults it: a client
    /// of one address ([`ClientBuilder::build`]) has no registrations to choose by.
    pub fn subset(mut self, subset: crate::discovery::Subset) -> Self {
        self.subset = subset;
        self
    }

    /// Follow routing rules: before balancing, each call's subset of the instances is chosen
    /// by the rules of the entry `erpc/routes/<service>` in `entries` (a registry's followed
    /// config entries, e.g. `CenterRegistry::follow_config("erpc/routes/")`), matched on the
    /// call's method and metadata and on the caller's place `here` (its `dc` and `zone`), with
    /// weighted splits drawn at random ([`crate::discovery::RouteTable`]; CENTER.md "Routing
    /// rules"). Changes apply to the next call; an entry the client cannot parse is logged
    /// and the previous rules kept; no entry: every instance. A call whose route names only
    /// subsets with no instance now fails `unavailable`, naming the rule. Narrows the
    /// [`ClientBuilder::subset`]; only a client of a discovered service consults it.
    /// Broadcasts and a retry to the same instance are not routed.
    pub fn routes(
        mut self,
        entries: crate::discovery::ConfigEntries,
        here: crate::discovery::Locality,
    ) -> Self {
        self.routes = Some(crate::discovery::route_follow::RouteSource { entries, here });
        self
    }

    /// Report engine events to `observer`: this client's connections opened and closed
    /// with the reason, and its calls' attempts started and finished (status, duration,
    /// request body bytes before compression, response body bytes on the wire; a retried
    /// call reports each attempt, also one that failed before reaching a connection — no
    /// instance, a refused dial — with its status and no bytes; streams are not reported as
    /// calls). See [`crate::observe`]. Reported by the engine, not a layer: an unobserved
    /// client pays one `None` check per event site.
    pub fn observer(mut self, observer: impl Observer) -> Self {
        self.observer = Some(crate::observe::Contained::wrap(observer));
        self
    }

    /// Add a middleware: a call-level layer written as one async function (see
    /// [`ClientMiddleware`]). The first added runs outermost.
    pub fn middleware(self, middleware: impl ClientMiddleware) -> Self {
        self.layer(crate::client::middleware::layer(middleware))
    }

    /// A client of `addr` that connects on its first call.
    pub fn build<A>(self, addr: A) -> Result<Client, AddressError>
    where
        A: IntoAddress,
    {
        let connectors = &self.config.transport.connectors;
        let addr = addr.into_address_with(&|scheme| connectors.has(scheme))?;
        let watchers = Watchers {
            load: None,
            observer: self.observer.clone(),
        };
        let target = Target::One(Arc::new(Pool::new(addr, self.config.connections, watchers)));
        Ok(self.with_target(target))
    }

    fn with_target(self, target: Target) -> Client {
        let attempts = self.attempts.wrap(Transmit);
        let attempt_stack = AttemptStack::of(attempts.as_ref());
        Client {
            inner: Arc::new_cyclic(|inner| {
                let calls = self.calls.wrap(Route(inner.clone()));
                let fail_modes = calls.as_ref().and_then(|calls| {
                    let modes = calls.as_any().downcast_ref::<fail_mode::FailModeService>();
                    modes.filter(|modes| modes.is_over_route()).cloned()
                });
                Inner {
                    target,
                    config: self.config,
                    codecs: Arc::new(self.codecs.unwrap_or_default()),
                    calls,
                    attempts,
                    attempt_stack,
                    fail_modes,
                    watches: self.observer.map(MethodWatches::new),
                }
            }),
        }
    }

    /// A client of the service named `service`, following its instances through `discover`
    /// and spreading calls over them round-robin. Connections are made on first use; an
    /// instance that cannot be dialled, or whose connection stops answering heartbeats, is
    /// skipped until a new connection answers a PING (re-checked in the background).
    pub async fn discover(
        self,
        discover: &dyn crate::discovery::Discover,
        service: &str,
    ) -> Result<Client, Status> {
        self.discover_with(
            discover,
            service,
            Arc::new(crate::discovery::RoundRobin::default()),
        )
        .await
    }

    /// Like [`ClientBuilder::discover`], with your balancer.
    pub async fn discover_with(
        mut self,
        discover: &dyn crate::discovery::Discover,
        service: &str,
        balancer: Arc<dyn crate::discovery::Balancer>,
    ) -> Result<Client, Status> {
        let endpoints = discover.subscribe(service).await?;
        let connections = self.config.connections;
        let (observer, subset) = (self.observer.clone(), self.subset.clone());
        let routing = self
            .routes
            .take()
            .map(|source| crate::discovery::route_follow::Routing::new(service, source));
        let target = Target::many(
            service.to_owned(),
            endpoints,
            balancer,
            connections,
            observer,
            subset,
            self.config.clone(),
        )
        .routed(routing);
        Ok(self.with_target(target))
    }

    /// A client of `addr`, with one connection made now to prove the server is there.
    pub async fn connect<A>(self, addr: A) -> Result<Client, Status>
    where
        A: IntoAddress,
    {
        let client = self
            .build(addr)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let by = Instant::now() + client.inner.config.connect_timeout;
        let nothing = Metadata::new();
        let call = crate::discovery::Pick {
            service: "",
            method: "",
            metadata: &nothing,
            hash_key: None,
            steer: &crate::discovery::balance::NO_STEER,
            retry: false,
        };
        client
            .inner
            .target
            .get(&client.inner.config, by, &call)
            .await?;
        Ok(client)
    }
}

impl Client {
    /// A builder for a client with non-default settings.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client of `addr` with default settings that connects on its first call.
    pub fn new<A>(addr: A) -> Result<Client, AddressError>
    where
        A: IntoAddress,
    {
        ClientBuilder::default().build(addr)
    }

    /// A client of `addr` with default settings, connected now.
    pub async fn connect<A>(addr: A) -> Result<Client, Status>
    where
        A: IntoAddress,
    {
        ClientBuilder::default().connect(addr).await
    }

    /// A typed request-response call by service and method name.
    pub fn call<Req: Message, Resp: Message>(
        &self,
        service: impl Into<ByteStr>,
        method: impl Into<ByteStr>,
        request: Req,
    ) -> Call<Req, Resp> {
        Call::new(self.clone(), service.into(), method.into(), request)
    }

    /// A typed oneway call by service and method name.
    pub fn oneway<Req: Message>(
        &self,
        service: impl Into<ByteStr>,
        method: impl Into<ByteStr>,
        request: Req,
    ) -> Oneway<Req> {
        Oneway::new(self.clone(), service.into(), method.into(), request)
    }

    /// A server-streaming call: one request, a stream of responses. Awaiting it opens the
    /// stream and gives a [`crate::Streaming`] of the responses.
    pub fn server_stream<Req: Message, Resp: Message>(
        &self,
        service: impl Into<ByteStr>,
        method: impl Into<ByteStr>,
        request: Req,
    ) -> StreamCall<Req, Resp> {
        let requests = futures_util::stream::once(std::future::ready(request));
        StreamCall::new(
            self.clone(),
            service.into(),
            method.into(),
            Box::pin(requests),
        )
    }

    /// A client-streaming call: the messages `requests` yields (sent as the server's window
    /// allows), then one response.
    pub fn client_stream<Req: Message, Resp: Message>(
        &self,
        service: impl Into<ByteStr>,
        method: impl Into<ByteStr>,
        requests: impl futures_util::Stream<Item = Req> + Send + 'static,
    ) -> ClientStreamCall<Req, Resp> {
        ClientStreamCall::new(self.bidi_stream(service, method, requests))
    }

    /// A bidirectional call: the messages `requests` yields go out while the responses come
    /// in, independently. Awaiting it opens the stream and gives a [`crate::Streaming`] of
    /// the responses.
    pub fn bidi_stream<Req: Message, Resp: Message>(
        &self,
        service: impl Into<ByteStr>,
        method: impl Into<ByteStr>,
        requests: impl futures_util::Stream<Item = Req> + Send + 'static,
    ) -> StreamCall<Req, Resp> {
        StreamCall::new(
            self.clone(),
            service.into(),
            method.into(),
            Box::pin(requests),
        )
    }

    /// The server's address (`None` for a client of a discovered service).
    pub fn addr(&self) -> Option<&Address> {
        self.inner.target.addr()
    }

    /// Each instance calls may go to now (the one address of a client of one address; a
    /// discovered service's instances in its subset, in the discovered order), and whether
    /// this client knows it unreachable: its last connection attempt failed and it is
    /// backing off. An instance never tried is not known unreachable. One whose backoff
    /// has passed is re-checked now in the background — a dial and a PING, as a call would
    /// have it — and counts as unreachable until that check succeeds: so a readiness probe
    /// polling this follows an instance's recovery even while no call comes (nothing else
    /// redials in the background). Nothing is waited for.
    pub fn reachability(&self) -> Vec<Reachability> {
        self.inner.target.reachability(&self.inner.config)
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The codecs this client can use.
    pub fn codecs(&self) -> &Codecs {
        &self.inner.codecs
    }

    /// Close every connection in order: calls still waiting for an answer fail at once with
    /// `cancelled` ("the client closed its connection to …", as gRPC's `ClientConn.Close`
    /// fails its calls; not retried by a fail mode, not counted by a circuit breaker or an
    /// instance's load: the instance did nothing wrong), and frames already queued — oneway calls whose await returned `Ok`,
    /// CANCELs, stream ends — are still written, in the background (for at most 5 s). The
    /// client reconnects if it is used again. To wait until they are written (before a
    /// process exits), use [`Client::shutdown`].
    pub fn close(&self) {
        self.inner.target.close();
    }

    /// Close every connection as [`Client::close`] does, and wait until what was queued on
    /// them has been written (at most 5 s per connection, all at once). Call it before a
    /// process exits right after sending oneway calls: a runtime that stops first takes the
    /// unwritten frames with it.
    pub async fn shutdown(&self) {
        let closed = self.inner.target.close();
        let all = futures_util::future::join_all(closed.iter().map(|conn| conn.closed()));
        let _ = tokio::time::timeout(crate::engine::writer::CLOSE_FLUSH, all).await;
    }

    /// Make an untyped call: through the layers, then over the wire.
    pub async fn invoke(&self, request: ClientRequest) -> Result<ClientResponse, Status> {
        self.through_layers(request).await
    }

    /// The call's future through the layers. Not an `async fn` over both branches: that
    /// future would be as large as [`Client::send`]'s, which holds a dial's state, and moving
    /// and boxing that per call cost a layered client over a third of its throughput.
    pub(crate) fn through_layers(
        &self,
        request: ClientRequest,
    ) -> BoxFuture<'static, Result<ClientResponse, Status>> {
        if let Some(modes) = &self.inner.fail_modes {
            return modes.start(request, Some(self), None).boxed();
        }
        match &self.inner.calls {
            Some(calls) => calls.oneshot(request),
            None => self.clone().send_boxed(request),
        }
    }

    /// [`Client::send`] as a boxed future that stays small for the common call: a unary call
    /// without attempt-level layers is queued synchronously (as the layer-less path does) and
    /// only the wait for its answer is boxed. `send`'s own future holds a dial's state; boxing
    /// that per call halved a layered client's throughput.
    pub(crate) fn send_boxed(
        self,
        request: ClientRequest,
    ) -> BoxFuture<'static, Result<ClientResponse, Status>> {
        if let Some(attempts) = &self.inner.attempts
            && !request.stream
        {
            // The common attempt: a connection is ready, so the attempt-level layers run at
            // once and their future is the only one boxed; `send`'s (which holds a dial's
            // state, ~1 KiB moved per call) only when a connection must be dialled first.
            return match self.inner.target.ready_next(&pick_of_request(&request)) {
                Err(status) => {
                    let status = unsent_request(self.observer(), &request, None, status);
                    Box::pin(std::future::ready(Err(status)))
                }
                Ok(Ready::Conn(conn)) => {
                    request.steer.record(&conn, false);
                    attempts.oneshot(Attempt::new(request, conn, self.clone()))
                }
                Ok(Ready::Dial(pick)) => {
                    let attempts = attempts.clone();
                    Box::pin(async move {
                        let since = self.observer().map(|_| Instant::now());
                        let conn = self
                            .inner
                            .target
                            .dial(
                                pick,
                                &self.inner.config,
                                request.deadline,
                                &pick_of_request(&request),
                            )
                            .await
                            .map_err(|s| unsent_request(self.observer(), &request, since, s))?;
                        request.steer.record(&conn, false);
                        attempts.oneshot(Attempt::new(request, conn, self)).await
                    })
                }
            };
        }
        if self.inner.attempts.is_some() || request.stream || request.oneway {
            return Box::pin(async move { self.send(request).await });
        }
        match self.start(request, None) {
            Err(status) => Box::pin(std::future::ready(Err(status))),
            Ok(Started::Sent { pending, accept }) => {
                Box::pin(Answer::new(pending, accept, self, None))
            }
            Ok(Started::Dialing(rest)) => rest,
        }
    }

    /// Below the call-level layers: pick an instance, then run the attempt-level layers (if
    /// any) and the wire.
    pub(crate) async fn send(&self, request: ClientRequest) -> Result<ClientResponse, Status> {
        if request.stream && !request.opening.is_set() {
            return Err(Status::invalid_argument(
                "a streaming call is opened with server_stream, client_stream or bidi_stream, not invoked",
            ));
        }
        if let Some(attempts) = &self.inner.attempts {
            let call = pick_of_request(&request);
            // A stream's opening is not reported as a call on the client.
            let observer = self.observer().filter(|_| !request.stream);
            let since = observer.map(|_| Instant::now());
            let conn = self
                .inner
                .target
                .get(&self.inner.config, request.deadline, &call)
                .await
                .map_err(|s| unsent_request(observer, &request, since, s))?;
            request.steer.record(&conn, false);
            let attempt = Attempt::new(request, conn, self.clone());
            return attempts.oneshot(attempt).await;
        }
        if request.stream {
            // The opening passed the call-level layers; the stream's code picks and opens.
            let opening = request.opening.clone();
            opening.put(request, None);
            return Ok(ClientResponse::default());
        }
        self.send_picked(request).await
    }

    /// The wire for an attempt on the connection already picked, as a boxed future that
    /// stays small for a unary call: it is framed and queued now and only the wait for its
    /// answer is boxed, as [`Client::send_boxed`] does without attempt-level layers (an
    /// `async fn` over every case would box a future holding the request and the frame).
    ///
    /// `ticket` is a breaker's, left to the wire by a breaker layer right above it: the
    /// attempt's outcome is counted on it here (dropped unfinished if the attempt is).
    pub(crate) fn transmit(
        self,
        request: ClientRequest,
        conn: Arc<ClientConn>,
        ticket: Option<Ticket>,
    ) -> BoxFuture<'static, Result<ClientResponse, Status>> {
        if request.stream {
            let opening = request.opening.clone();
            opening.put(request, Some(conn));
            return Box::pin(std::future::ready(Ok(ClientResponse::default())));
        }
        if request.oneway {
            let deadline = request.deadline;
            let steer = request.steer.clone();
            let frame = match self.frame(request) {
                Ok(frame) => frame,
                Err(status) => return Box::pin(std::future::ready(settle(ticket, Err(status)))),
            };
            return Box::pin(async move {
                let watches = self.inner.watches.as_ref();
                let sent = send_oneway(&conn, frame, deadline, &steer, watches).await;
                settle(ticket, sent)
            });
        }
        let (deadline, steer) = (request.deadline, request.steer.clone());
        match self.queue(&conn, self.frame(request), deadline, &steer, ticket, None) {
            Ok(answer) => Box::pin(answer),
            Err(status) => Box::pin(std::future::ready(Err(status))),
        }
    }

    /// The last step of a call without attempt-level layers: frame it, pick, send it, await
    /// and unpack the response.
    async fn send_picked(&self, request: ClientRequest) -> Result<ClientResponse, Status> {
        if request.oneway {
            let deadline = request.deadline;
            let hash_key = request.hash_key;
            let steer = request.steer.clone();
            let frame = self.frame(request)?;
            let call = pick_of(&frame, hash_key, &steer);
            let observer = self.observer();
            let since = observer.map(|_| Instant::now());
            let conn = self
                .inner
                .target
                .get(&self.inner.config, deadline, &call)
                .await
                .map_err(|s| unsent_frame(observer, &frame, since, s))?;
            let watches = self.inner.watches.as_ref();
            return send_oneway(&conn, frame, deadline, &steer, watches).await;
        }
        match self.start(request, None)? {
            Started::Sent { pending, accept } => self.unpack(pending.wait().await?, &accept),
            Started::Dialing(rest) => rest.await,
        }
    }

    /// Start a request-response call without waiting: frame it and queue it on a connection
    /// that is up. Only when a connection must be dialled first is the rest of the call a
    /// (boxed) future. `began`: a clock read made as the call began, a moment ago, if the
    /// caller made one (the start of the call's latency sample, when it is sent at once).
    pub(crate) fn start(
        &self,
        request: ClientRequest,
        began: Option<Instant>,
    ) -> Result<Started, Status> {
        let deadline = request.deadline;
        let hash_key = request.hash_key;
        // Cloning an unset steer (every call without a fail mode) copies a null pointer.
        let steer = request.steer.clone();
        // Framing checks the limits: a request that can never be sent fails before dialling.
        let frame = self.frame(request)?;
        let accept = frame.head.accept_compression;
        let ready = match self
            .inner
            .target
            .ready_next(&pick_of(&frame, hash_key, &steer))
        {
            Ok(ready) => ready,
            Err(status) => return Err(unsent_frame(self.observer(), &frame, None, status)),
        };
        match ready {
            Ready::Conn(conn) => Ok(Started::Sent {
                pending: started(
                    &conn,
                    frame,
                    deadline,
                    &steer,
                    self.inner.watches.as_ref(),
                    began,
                )?,
                accept,
            }),
            Ready::Dial(pick) => {
                let client = self.clone();
                Ok(Started::Dialing(Box::pin(async move {
                    let config = &client.inner.config;
                    let observer = client.observer();
                    let since = observer.map(|_| Instant::now());
                    let call = pick_of(&frame, hash_key, &steer);
                    let dialed = client
                        .inner
                        .target
                        .dial(pick, config, deadline, &call)
                        .await;
                    let conn = dialed.map_err(|s| unsent_frame(observer, &frame, since, s))?;
                    let watches = client.inner.watches.as_ref();
                    let response = started(&conn, frame, deadline, &steer, watches, None)?
                        .wait()
                        .await?;
                    client.unpack(response, &accept)
                })))
            }
        }
    }

    /// Build and check the request frame; a failure is reported to the observer as an
    /// attempt never sent (unless it is a stream's opening: streams are not reported as calls
    /// on the client).
    fn frame(&self, request: ClientRequest) -> Result<Frame, Status> {
        let stream = request.stream;
        self.frame_from(FrameParts::from(request), stream)
    }

    /// [`Client::frame`] of a request kept for a retry: its parts are shared with the frame
    /// (reference counts, no bytes copied), the request left whole.
    pub(crate) fn frame_copy(&self, request: &ClientRequest) -> Result<Frame, Status> {
        self.frame_from(FrameParts::copied(request), request.stream)
    }

    fn frame_from(&self, parts: FrameParts, stream: bool) -> Result<Frame, Status> {
        let Some(observer) = self.observer().filter(|_| !stream) else {
            return self.build_frame(parts);
        };
        // The names are kept for the report: building the frame consumes the parts.
        let (service, method) = (parts.service.clone(), parts.method.clone());
        self.build_frame(parts)
            .map_err(|status| unsent(Some(observer), &service, &method, None, status))
    }

    /// Build and check the request frame.
    fn build_frame(&self, request: FrameParts) -> Result<Frame, Status> {
        let config = &self.inner.config;
        let mut frame = Frame::new(request.kind, 0);
        let kind = request.kind;
        frame.header.codec = request.codec;
        frame.head.service = Some(request.service);
        frame.head.method = Some(request.method);
        frame.head.metadata = request.metadata;
        let accept = accept_list(request.compression, &request.accept_compression)?;
        if kind != Kind::ONEWAY {
            // A oneway call receives nothing, so it has nothing to accept.
            frame.head.accept_compression = accept;
        }
        if !frame.head.fits() {
            return Err(Status::invalid_argument(
                "a name or metadata entry is too long (keys up to 255 bytes, values up to 65,000)",
            ));
        }
        let entries = frame.head.metadata.len();
        if entries > config.limits.max_metadata_entries {
            return Err(Status::resource_exhausted(format!(
                "request has {entries} metadata entries; at most {} are sent (client: limits.max_metadata_entries; servers accept 64 by default)",
                config.limits.max_metadata_entries
            )));
        }
        let head_len = frame.head.encoded_len();
        if head_len > config.limits.max_head as usize {
            return Err(Status::resource_exhausted(format!(
                "client: request header block of {head_len} bytes exceeds the limit of {} bytes (limits.max_head)",
                config.limits.max_head
            )));
        }
        frame.body = compress(
            request.compression,
            request.body,
            config.compression_threshold,
            &mut frame.header.compression,
        )?;
        if frame.body.len() > config.limits.max_body as usize {
            return Err(Status::resource_exhausted(format!(
                "client: request body of {} bytes exceeds the limit of {} bytes (limits.max_body)",
                frame.body.len(),
                config.limits.max_body
            )));
        }
        Ok(frame)
    }

    /// Turn a response frame into a response or the status it carries. `accept` is the
    /// request's accept-compression list: a body compressed with anything else is refused.
    pub(crate) fn unpack(
        &self,
        response: Frame,
        accept: &CompressionList,
    ) -> Result<ClientResponse, Status> {
        let header = response.header;
        crate::status_wire::status_of(&response)?;
        let limit = self.inner.config.limits.max_decompressed;
        let wire_len = response.body.len();
        Ok(ClientResponse {
            codec: header.codec,
            compression: header.compression,
            wire_len,
            metadata: response.head.metadata,
            body: decompress(header.compression, response.body, limit, Some(accept))
                .map_err(|e| crate::body::side_status("client", e))?,
        })
    }

    /// The codecs, shared.
    pub(crate) fn codecs_shared(&self) -> Arc<Codecs> {
        self.inner.codecs.clone()
    }

    /// Where calls go.
    pub(crate) fn target(&self) -> &Target {
        &self.inner.target
    }

    /// The client's observer, if it has one.
    pub(crate) fn observer(&self) -> Option<&Arc<dyn Observer>> {
        self.inner.watches.as_ref().map(MethodWatches::observer)
    }

    /// The client's method watches, if it is observed.
    pub(crate) fn watches(&self) -> Option<&MethodWatches> {
        self.inner.watches.as_ref()
    }

    /// The call-level stack, when it is one fail-mode layer right over the pick.
    pub(crate) fn fail_modes(&self) -> Option<&fail_mode::FailModeService> {
        self.inner.fail_modes.as_ref()
    }

    /// Whether calls go straight to the wire (no layers).
    pub(crate) fn is_direct(&self) -> bool {
        self.inner.calls.is_none() && self.inner.attempts.is_none()
    }
}

/// The fields of a request its frame is made of.
struct FrameParts {
    kind: Kind,
    codec: CodecId,
    service: ByteStr,
    method: ByteStr,
    metadata: Metadata,
    compression: CompressionId,
    accept_compression: CompressionList,
    body: Bytes,
}

impl FrameParts {
    /// The frame kind of `request`.
    fn kind(request: &ClientRequest) -> Kind {
        match (request.stream, request.oneway) {
            (true, _) => Kind::STREAM_OPEN,
            (false, true) => Kind::ONEWAY,
            (false, false) => Kind::REQUEST,
        }
    }

    /// Shared with `request`, which stays whole (kept for a retry): reference counts, no
    /// bytes copied — cheaper than a copy of the whole request.
    fn copied(request: &ClientRequest) -> FrameParts {
        FrameParts {
            kind: FrameParts::kind(request),
            codec: request.codec,
            service: request.service.clone(),
            method: request.method.clone(),
            metadata: request.metadata.clone(),
            compression: request.compression,
            accept_compression: request.accept_compression,
            body: request.body.clone(),
        }
    }
}

impl From<ClientRequest> for FrameParts {
    fn from(request: ClientRequest) -> FrameParts {
        FrameParts {
            kind: FrameParts::kind(&request),
            codec: request.codec,
            service: request.service,
            method: request.method,
            metadata: request.metadata,
            compression: request.compression,
            accept_compression: request.accept_compression,
            body: request.body,
        }
    }
}

/// [`unsent`] for a call not framed yet (its names taken from the request).
fn unsent_request(
    observer: Option<&Arc<dyn Observer>>,
    request: &ClientRequest,
    since: Option<Instant>,
    status: Status,
) -> Status {
    unsent(observer, &request.service, &request.method, since, status)
}

/// `result`, counted on `ticket` (a breaker's) if there is one.
fn settle(
    ticket: Option<Ticket>,
    result: Result<ClientResponse, Status>,
) -> Result<ClientResponse, Status> {
    if let Some(ticket) = ticket {
        ticket.finish(&result);
    }
    result
}

/// What the balancer sees of a call not framed yet.
fn pick_of_request(request: &ClientRequest) -> crate::discovery::Pick<'_> {
    crate::discovery::Pick {
        service: &request.service,
        method: &request.method,
        metadata: &request.metadata,
        hash_key: request.hash_key,
        steer: &request.steer,
        retry: request.steer.is_retry(),
    }
}

/// What the balancer sees of a framed call.
pub(crate) fn pick_of<'a>(
    frame: &'a Frame,
    hash_key: Option<u64>,
    steer: &'a crate::discovery::Steer,
) -> crate::discovery::Pick<'a> {
    crate::discovery::Pick {
        service: frame.head.service.as_deref().unwrap_or(""),
        method: frame.head.method.as_deref().unwrap_or(""),
        metadata: &frame.head.metadata,
        hash_key,
        steer,
        retry: steer.is_retry(),
    }
}

/// Queue `frame` on `conn`, recording in the call's steer where it went and whether it was
/// queued (sent) — what a fail mode needs to know whether it may resend it.
fn started(
    conn: &Arc<ClientConn>,
    frame: Frame,
    deadline: Instant,
    steer: &crate::discovery::Steer,
    watches: Option<&MethodWatches>,
    now: Option<Instant>,
) -> Result<PendingCall, Status> {
    let report = watches.map(|watches| Report::start(watches, &frame));
    let pending = conn.start(frame, deadline, now);
    steer.record(conn, pending.is_ok());
    match pending {
        Ok(mut pending) => {
            pending.report = report;
            Ok(pending)
        }
        Err(status) => {
            if let Some(mut report) = report {
                report.finish(status.code(), 0);
            }
            Err(status)
        }
    }
}

/// Send a oneway request, reporting it through `watches` (its end is when it is written).
async fn send_oneway(
    conn: &Arc<ClientConn>,
    frame: Frame,
    deadline: Instant,
    steer: &crate::discovery::Steer,
    watches: Option<&MethodWatches>,
) -> Result<ClientResponse, Status> {
    let mut report = watches.map(|watches| Report::start(watches, &frame));
    let sent = Box::pin(conn.send_oneway(frame, deadline)).await;
    if let Some(report) = &mut report {
        report.finish(sent.as_ref().map_or_else(|s| s.code(), |_| Code::Ok), 0);
    }
    sent?;
    steer.record(conn, true);
    Ok(ClientResponse::default())
}

/// The accept-compression list a call sends (PROTOCOL.md §6): what it asks for first (`none`
/// if nothing), then the others it accepts; empty (no field, the common case, no work) when
/// it asks for nothing and accepts nothing. Refuses compressions this build cannot handle,
/// so a typo fails the call instead of silently going uncompressed.
fn accept_list(
    wanted: CompressionId,
    accepted: &CompressionList,
) -> Result<CompressionList, Status> {
    if !wanted.is_supported() {
        return Err(unsupported_compression(wanted));
    }
    if accepted.is_empty() {
        return Ok(if wanted == CompressionId::NONE {
            CompressionList::new()
        } else {
            [wanted].into_iter().collect()
        });
    }
    if accepted.overflowed() {
        return Err(Status::invalid_argument(format!(
            "more than {} compressions accepted",
            CompressionList::MAX
        )));
    }
    if let Some(id) = accepted.iter().find(|id| !id.is_supported()) {
        return Err(unsupported_compression(id));
    }
    let mut list = CompressionList::new();
    // `none` is not in a collected list, so it can lead without being a repeat; at most
    // four supported ids, so nothing is dropped.
    list.push(wanted);
    for id in accepted.iter() {
        list.push(id);
    }
    Ok(list)
}

fn unsupported_compression(id: CompressionId) -> Status {
    Status::unimplemented(format!(
        "compression {id} is not supported by this build (erpc supports gzip, zlib and zstd behind features of those names)"
    ))
}

#[cfg(test)]
mod builder_tests {
    use std::time::Duration;

    use super::*;

    #[test]
    #[should_panic(expected = "ClientBuilder::backoff: backoff.initial 5s is above backoff.max 1s")]
    fn a_backoff_initial_above_its_max_is_refused() {
        let _ = Client::builder().backoff(Duration::from_secs(5), Duration::from_secs(1));
    }

    #[test]
    #[should_panic(
        expected = "ClientBuilder::backoff: backoff.max must be at most 1h (the longest reconnect backoff), got"
    )]
    fn a_backoff_max_above_an_hour_is_refused() {
        // Accepted, a call panicked: "overflow when multiplying duration by scalar".
        let _ = Client::builder().backoff(Duration::MAX, Duration::MAX);
    }

    #[test]
    #[should_panic(expected = "ClientBuilder::config: backoff.max must be at most 1h")]
    fn a_whole_config_with_such_a_backoff_is_refused_too() {
        let config = ClientConfig {
            backoff_max: Duration::from_secs(7200),
            ..ClientConfig::default()
        };
        let _ = Client::builder().config(config);
    }

    #[test]
    #[should_panic(expected = "ClientBuilder::connections: connections must be above zero, got 0")]
    fn no_connections_are_refused_not_made_one() {
        let _ = Client::builder().connections(0);
    }

    #[test]
    #[should_panic(
        expected = "ClientBuilder::max_concurrent_calls: max_concurrent_calls must be above zero, got 0"
    )]
    fn no_concurrent_calls_are_refused_not_made_one() {
        let _ = Client::builder().max_concurrent_calls(0);
    }

    #[test]
    #[should_panic(
        expected = "ClientBuilder::connect_timeout: connect_timeout must be above zero, got 0s"
    )]
    fn a_zero_connect_timeout_is_refused() {
        let _ = Client::builder().connect_timeout(Duration::ZERO);
    }

    #[test]
    fn a_backoff_within_bounds_is_taken() {
        let _ = Client::builder().backoff(Duration::from_secs(1), Duration::from_secs(3600));
        let _ = Client::builder().backoff(Duration::ZERO, Duration::ZERO);
    }
}
