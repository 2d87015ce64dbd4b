//! Prometheus metrics: the families ([`Metrics`]), the observer that feeds them
//! (`observer.rs`), and the `/metrics` listener (`http.rs`).

mod governance;
mod histogram;
mod http;
mod labels;
mod observer;
mod recent;
mod text_format;

pub use http::MetricsServer;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use histogram::LatencyHistogram;
use labels::{CallLabels, CodeLabels, ConnLabels, MessageLabels, ReasonLabels};
use observer::MethodCache;

/// Prometheus metrics of the calls, streams and connections it observes. Cheap to clone (one
/// shared registry); one `Metrics` may observe any number of servers and clients, which the
/// `side` label tells apart.
///
/// Metrics (prefix `erpc_`; `side` is `server` or `client`; a client's calls are counted per
/// attempt, as they go out on a connection, so a retried call counts once per attempt):
///
/// | name | type | labels | what |
/// |---|---|---|---|
/// | `erpc_calls_started_total` | counter | side, service, method | calls admitted (server) or sent (client) |
/// | `erpc_calls_handled_total` | counter | side, service, method, code | calls finished, by status code (`ok`, `unavailable`, ... as in PROTOCOL.md) |
/// | `erpc_call_duration_seconds` | histogram | side, service, method | start to end of each call; buckets 100 µs – 10 s |
/// | `erpc_calls_in_flight` | gauge | side, service, method | started and not yet finished |
/// | `erpc_call_received_bytes_total` | counter | side, service, method | body bytes received, as on the wire (compressed) |
/// | `erpc_call_sent_bytes_total` | counter | side, service, method | body bytes sent, as on the wire |
/// | `erpc_stream_messages_total` | counter | side, service, method, direction (`sent`, `received`) | stream messages |
/// | `erpc_connections_opened_total` | counter | side | connections accepted (server) or dialled (client) |
/// | `erpc_connections_closed_total` | counter | side, reason | connections ended, by reason (`peer_closed`, `local`, `goaway`, `heartbeat`, `first_frame_timeout`, `protocol`, `abuse`, `limit`, `denied`, `peer_error`, `io`) |
/// | `erpc_connections_open` | gauge | side | open now |
/// | `erpc_frames_refused_total` | counter | side, reason | frames refused before anything ran (`too_large`, `malformed`, `unknown`, `at_capacity`, `hook`, `draining`, `expired`); `hook` and `at_capacity` are the frames of calls `erpc_refused_calls_total` counts (by its reason): the same refusals seen as frames, not more of them — do not add the two |
/// | `erpc_refused_calls_total` | counter | side, service, method, reason | calls refused by a limit or check (`rate_limit`, `peer_rate_limit`, `concurrency`, `method_concurrency`, `shedding`, `auth`, `acl`, `workers`, `in_flight`, `hook`; `other` for a kind newer than this crate) |
/// | `erpc_rate_limit_waits_total` | counter | side, service, method | calls that waited their turn under a rate limit, then went on |
/// | `erpc_rate_limit_wait_seconds_total` | counter | side, service, method | the seconds they waited |
/// | `erpc_retries_total` | counter | service, method, kind (`failover`, `failtry`, `hedge`), reason (previous attempt's code, or `no_answer`) | further attempts sent by a fail mode (client) |
/// | `erpc_retries_refused_total` | counter | service, method, kind | further attempts the retry budget refused |
/// | `erpc_hedges_total` | counter | service, method, outcome (`original`, `hedge`, `both_failed`) | hedged calls settled, by whose answer was taken |
/// | `erpc_breaker_state` | gauge | scope (`instance`, `method`), server_address, service, method | a breaker's state since its first change: 0 closed, 1 half-open, 2 open (the labels a scope does not use are empty) |
/// | `erpc_breaker_transitions_total` | counter | scope, from, to (`closed`, `half_open`, `open`) | breakers' changes of state |
/// | `erpc_breakers_open` | gauge | scope | breakers open now |
/// | `erpc_client_connections` | gauge | server_address | a client's connections open now to each instance (by its address; not `instance`, the label Prometheus gives each scrape target) |
/// | `erpc_server_listening` | gauge | server_address | 1 for each address the server accepts connections on (as clients name it: the `server_address` of their series), 0 once stopped |
/// | `erpc_client_connect_failures_total` | counter | server_address | a client's failed attempts to connect to each instance (refused, timed out, or a new connection that did not answer its first PING): with `erpc_client_connections` at 0, an instance that is down |
///
/// Refusals come from the server's engine and hooks; retries, hedges, breakers and client
/// rate limits from the client's layers, given this observer with their own `observer`
/// method (`FailModes`, `InstanceBreakers`, `MethodBreakers`, `ClientRateLimit`,
/// `ClientConcurrencyLimit`); connections
/// per instance from the client's observer.
///
/// Label cardinality is bounded: a server counts a call of a method its service does not
/// have (answered `unimplemented`, as a call) under `method="_unknown"`
/// (`erpc_core::observe::UNKNOWN_METHOD`), so a peer calling made-up names adds one series
/// set; past [`Metrics::MAX_METHODS`] distinct service/method pairs per side, further ones
/// are counted under `service="_other", method="_other"`. Instances likewise: past [`Metrics::MAX_INSTANCES`],
/// `server_address="_other"` (breakers past it have no state series; `erpc_breakers_open` counts
/// them).
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// Tells this `Metrics` apart in the threads' `recent` caches (unique in the process).
    id: u64,
    registry: Mutex<Registry>,
    started: Family<CallLabels, Counter>,
    handled: Family<CodeLabels, Counter>,
    duration: Family<CallLabels, LatencyHistogram, fn() -> LatencyHistogram>,
    in_flight: Family<CallLabels, Gauge>,
    received_bytes: Family<CallLabels, Counter>,
    sent_bytes: Family<CallLabels, Counter>,
    messages: Family<MessageLabels, Counter>,
    opened: Family<ConnLabels, Counter>,
    closed: Family<ReasonLabels, Counter>,
    open: Family<ConnLabels, Gauge>,
    refused: Family<ReasonLabels, Counter>,
    governance: governance::Governance,
    methods: MethodCache,
}

impl Metrics {
    /// The most distinct service/method pairs kept per side before the rest are counted
    /// together as `_other`.
    pub const MAX_METHODS: usize = 4096;

    /// The most distinct instances kept before the rest are counted together as `_other`
    /// (`erpc_client_connections`), or go without a state series of their own
    /// (`erpc_breaker_state` of instance breakers; `erpc_breakers_open` still counts them).
    pub const MAX_INSTANCES: usize = 1024;

    /// Empty metrics in a registry of their own.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("erpc");
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let inner = Inner {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            started: Family::default(),
            handled: Family::default(),
            duration: Family::new_with_constructor(LatencyHistogram::default),
            in_flight: Family::default(),
            received_bytes: Family::default(),
            sent_bytes: Family::default(),
            messages: Family::default(),
            opened: Family::default(),
            closed: Family::default(),
            open: Family::default(),
            refused: Family::default(),
            governance: governance::Governance::default(),
            methods: MethodCache::default(),
            registry: Mutex::new(Registry::default()),
        };
        let r = &mut registry;
        r.register(
            "calls_started",
            "Calls admitted (server) or sent (client)",
            inner.started.clone(),
        );
        r.register(
            "calls_handled",
            "Calls finished, by status code",
            inner.handled.clone(),
        );
        r.register_with_unit(
            "call_duration",
            "Time from a call's start to its end",
            Unit::Seconds,
            inner.duration.clone(),
        );
        r.register(
            "calls_in_flight",
            "Calls started and not yet finished",
            inner.in_flight.clone(),
        );
        r.register_with_unit(
            "call_received",
            "Body bytes received for calls, as on the wire",
            Unit::Bytes,
            inner.received_bytes.clone(),
        );
        r.register_with_unit(
            "call_sent",
            "Body bytes sent for calls, as on the wire",
            Unit::Bytes,
            inner.sent_bytes.clone(),
        );
        r.register(
            "stream_messages",
            "Stream messages sent and received",
            inner.messages.clone(),
        );
        r.register(
            "connections_opened",
            "Connections accepted (server) or dialled (client)",
            inner.opened.clone(),
        );
        r.register(
            "connections_closed",
            "Connections ended, by reason",
            inner.closed.clone(),
        );
        r.register(
            "connections_open",
            "Connections open now",
            inner.open.clone(),
        );
        r.register(
            "frames_refused",
            "Frames refused before anything ran for them, by reason",
            inner.refused.clone(),
        );
        inner.governance.register(r);
        *inner
            .registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = registry;
        Metrics {
            inner: Arc::new(inner),
        }
    }

    /// The observer to register with `ServerBuilder::observer` and `ClientBuilder::observer`.
    pub fn observer(&self) -> impl erpc_core::observe::Observer + Clone {
        observer::MetricsObserver {
            inner: self.inner.clone(),
        }
    }

    /// Register more metrics (the application's own) in the same registry, so one
    /// `/metrics` serves both.
    pub fn with_registry<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        f(&mut self
            .inner
            .registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Everything in the OpenMetrics 1.0 text format (what `/metrics` serves to a scraper
    /// that asks for it, as Prometheus does), ending in `# EOF`.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self
            .inner
            .registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

impl Metrics {
    /// Everything in Prometheus' classic text format 0.0.4 (what `/metrics` serves to a
    /// client that does not ask for OpenMetrics: curl, `promtool check metrics`).
    pub fn encode_text(&self) -> String {
        text_format::from_openmetrics(&self.encode())
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}
