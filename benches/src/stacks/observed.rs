//! erpc with erpc-telemetry turned on: the `erpc` stack plus Prometheus metrics on both sides
//! (`erpc-metrics`), or tracing with OpenTelemetry at a sampling ratio (`erpc-trace1`: 1%,
//! `erpc-trace100`: every call). Spans are batched and handed to an exporter that discards
//! them, so the figure is what a call pays (the head-sampling decision, span creation for
//! sampled calls, context propagation, the batch queue), not the network export, which runs
//! on its own thread. `erpc-governed` adds what a
//! production client runs: P2C over two instances, a breaker per instance, failover;
//! `erpc-governance` is that client without metrics (issue 13's "P2C + breaker + retry
//! policy vs none", against the `erpc` stack), `erpc-p2c` its balancing alone.

use std::net::SocketAddr;
use std::sync::Arc;

use erpc::client::{BreakerSettings, FailMode, FailModes, InstanceBreakers};
use erpc::discovery::P2c;

use erpc_telemetry::Metrics;
use erpc_telemetry::trace::otlp;
use erpc_telemetry::trace::{ClientTracing, ServerTracing};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tracing_subscriber::layer::SubscriberExt;

use super::erpc_stack::{BenchClient, BenchServer, Echo, ErpcCaller};

/// What is observed.
#[derive(Clone, Copy, Debug)]
pub enum Observed {
    /// Prometheus metrics of every call on both sides.
    Metrics,
    /// A span per call on both sides, this share of traces sampled.
    Trace(f64),
    /// What a governed production client runs: a client that balances two instances (the
    /// server on 127.0.0.1 and 127.0.0.2) with P2C, keeps a circuit breaker per instance
    /// and fails over (`Failover { retries: 2 }`); with metrics on both sides
    /// (`erpc-governed`) or without (`erpc-governance`: the governance's own cost, against
    /// the `erpc` stack); or the balancing alone, without the breakers, the fail mode and
    /// metrics (`erpc-p2c`: what of that cost is P2C's).
    Governed {
        /// Whether both sides keep Prometheus metrics.
        metrics: bool,
        /// Whether the client keeps breakers and fails over.
        layers: bool,
    },
}

impl Observed {
    /// The stack named `name`, if it is one of these.
    pub fn named(name: &str) -> Option<Observed> {
        match name {
            "erpc-metrics" => Some(Observed::Metrics),
            "erpc-trace0" => Some(Observed::Trace(0.0)),
            "erpc-trace1" => Some(Observed::Trace(0.01)),
            "erpc-trace100" => Some(Observed::Trace(1.0)),
            "erpc-governed" => Some(Observed::Governed {
                metrics: true,
                layers: true,
            }),
            "erpc-governance" => Some(Observed::Governed {
                metrics: false,
                layers: true,
            }),
            "erpc-p2c" => Some(Observed::Governed {
                metrics: false,
                layers: false,
            }),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct Discard;

impl SpanExporter for Discard {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        drop(batch);
        Ok(())
    }
}

/// Install the process's tracing (once per process, however many servers and clients ask):
/// head sampling at `ratio` as `erpc_telemetry::trace::otlp::provider` sets it up, spans
/// batched to an exporter that discards them, through the layer users get
/// (`otlp::layer`: its settings and its filter of the exporter's own crates).
fn install_tracing(ratio: f64) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let provider = otlp::with_head_sampling(SdkTracerProvider::builder(), ratio)
            .expect("a ratio in 0..=1")
            .with_batch_exporter(Discard)
            .build();
        let layer = otlp::layer(&provider);
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
            .expect("one subscriber per process");
        // Kept for the process's life.
        std::mem::forget(provider);
    });
}

/// `builder` with `observed` on: metrics (a `Metrics` of its own) or a tracing layer.
/// `Governed` adds metrics here if it has them; its second listener and balancing are
/// `serve`'s and `connect`'s.
pub fn observe_server(builder: erpc::ServerBuilder, observed: Observed) -> erpc::ServerBuilder {
    match observed {
        Observed::Metrics | Observed::Governed { metrics: true, .. } => {
            builder.observer(Metrics::new().observer())
        }
        Observed::Governed { metrics: false, .. } => builder,
        Observed::Trace(ratio) => {
            install_tracing(ratio);
            builder.layer(ServerTracing)
        }
    }
}

/// `builder` with `observed` on, as [`observe_server`].
pub fn observe_client(builder: erpc::ClientBuilder, observed: Observed) -> erpc::ClientBuilder {
    match observed {
        Observed::Metrics | Observed::Governed { metrics: true, .. } => {
            builder.observer(Metrics::new().observer())
        }
        Observed::Governed { metrics: false, .. } => builder,
        Observed::Trace(ratio) => {
            install_tracing(ratio);
            builder.attempt_layer(ClientTracing)
        }
    }
}

/// Serve the echo service over TCP with `observed` on.
pub async fn serve(addr: SocketAddr, observed: Observed) {
    let mut listen = vec![format!("tcp://{addr}")];
    if let Observed::Governed { .. } = observed {
        listen.push(format!("tcp://{}", second_instance(addr)));
    }
    let _server = observe_server(erpc::Server::builder(), observed)
        .add_service(BenchServer::new(Echo))
        .serve(listen.iter().map(String::as_str))
        .await
        .expect("bind");
    std::future::pending::<()>().await;
}

/// A client of `conns` connections with `observed` on.
pub async fn connect(addr: SocketAddr, conns: usize, observed: Observed) -> ErpcCaller {
    if let Observed::Governed { .. } = observed {
        return connect_governed(addr, conns, observed).await;
    }
    let client = observe_client(erpc::Client::builder().connections(conns), observed)
        .connect(format!("tcp://{addr}"))
        .await
        .expect("connect");
    ErpcCaller(BenchClient::new(client))
}

/// The governed server's second listener: the same port on 127.0.0.2 (all of 127/8 is
/// loopback on Linux), so the client balances two instances of one process.
fn second_instance(addr: SocketAddr) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 2], addr.port()))
}

/// P2C over two instances with `conns` connections in all; a breaker per instance and
/// failover, and metrics, if `observed` has them.
async fn connect_governed(addr: SocketAddr, conns: usize, observed: Observed) -> ErpcCaller {
    let instances = [
        format!("tcp://{addr}"),
        format!("tcp://{}", second_instance(addr)),
    ];
    let list = erpc::discovery::StaticList::addrs(instances).expect("addresses");
    let mut builder = observe_client(erpc::Client::builder(), observed);
    if let Observed::Governed { layers: true, .. } = observed {
        builder = builder
            .layer(FailModes::new(FailMode::Failover { retries: 2 }))
            .attempt_layer(InstanceBreakers::new(BreakerSettings::default()));
    }
    let client = builder
        .connections((conns / 2).max(1))
        .discover_with(&list, "Bench", Arc::new(P2c))
        .await
        .expect("discover");
    ErpcCaller(BenchClient::new(client))
}
