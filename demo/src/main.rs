//! The erpc tour, in one process on embedded defaults: a server with three services on every
//! transport (tcp, unix, mem, tls, ws, wss, quic, udp, kcp), and a client showing codecs,
//! compression, deadlines, cancellation, oneway calls, errors, streaming (a live counter, a
//! chat, server push), the transports side by side with their latency, discovery, and — when
//! a NATS server is reachable (`ERPC_DEMO_NATS`, default `nats://127.0.0.1:4222`) — a call
//! through a durable queue.
//!
//! Run it with `cargo run --release -p demo`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use erpc::transport::{ClientTls, ServerTls};
use erpc::{CodecId, CompressionId, Context, Status, TransportOptions};
use serde::{Deserialize, Serialize};

mod failure;
mod hello;
mod observability;
#[cfg(feature = "queue")]
mod queue;
mod ticker;

/// Greets people, slowly if asked.
#[erpc::service]
pub trait Greeter {
    /// A greeting for `name`.
    async fn hello(&self, name: String) -> Result<String, Status>;
    /// Works for `ms` milliseconds, then says how long it had left.
    async fn slow(&self, cx: Context, ms: u64) -> Result<String, Status>;
    /// Writes a line to the server's log; nothing comes back.
    #[oneway]
    async fn log(&self, line: String);
}

/// Arithmetic over structured messages.
#[erpc::service(name = "demo.Calculator")]
pub trait Calculator {
    /// Sum and mean of a series.
    async fn stats(&self, series: Series) -> Result<Summary, Status>;
    /// `a / b`, refusing to divide by zero.
    async fn divide(&self, a: f64, b: f64) -> Result<f64, Status>;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Series {
    pub label: String,
    pub values: Vec<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub label: String,
    pub count: usize,
    pub sum: f64,
    pub mean: f64,
}

#[derive(Default)]
struct Server {
    logged: AtomicU64,
    aborted: AtomicU64,
}

struct CountAbort<'a>(&'a AtomicU64, bool);

impl Drop for CountAbort<'_> {
    fn drop(&mut self) {
        if !self.1 {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Greeter for Arc<Server> {
    async fn hello(&self, name: String) -> Result<String, Status> {
        Ok(format!("hello, {name}!"))
    }

    async fn slow(&self, cx: Context, ms: u64) -> Result<String, Status> {
        let mut guard = CountAbort(&self.aborted, false);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        // What is left of the caller's budget now the work is done, not before it.
        let left = cx.remaining();
        guard.1 = true;
        Ok(format!("worked {ms} ms with {left:?} to spare"))
    }

    async fn log(&self, line: String) {
        self.logged.fetch_add(1, Ordering::SeqCst);
        println!("    [server log] {line}");
    }
}

impl Calculator for Arc<Server> {
    async fn stats(&self, series: Series) -> Result<Summary, Status> {
        let sum: f64 = series.values.iter().sum();
        let count = series.values.len();
        Ok(Summary {
            label: series.label,
            count,
            sum,
            mean: if count == 0 { 0.0 } else { sum / count as f64 },
        })
    }

    async fn divide(&self, a: f64, b: f64) -> Result<f64, Status> {
        if b == 0.0 {
            return Err(Status::invalid_argument("division by zero"));
        }
        Ok(a / b)
    }
}

/// The erpc tour, in one process: a server with three services on every transport (each on a
/// free loopback port), and a client showing codecs, compression, deadlines, cancellation,
/// oneway calls, errors, streams, the transports side by side, discovery and a call through a
/// durable queue (NATS JetStream at `ERPC_DEMO_NATS`, default `nats://127.0.0.1:4222`, when
/// one is reachable; otherwise one line says how to start it). SIGINT or
/// SIGTERM stops the tour and shuts the server down gracefully.
#[derive(Debug, clap::Parser)]
#[command(name = "demo")]
struct Args {
    /// After the tour, keep its server and its /metrics listener up until SIGINT (Ctrl-C) or
    /// SIGTERM, printing their addresses to try with curl and the `erpc` command line.
    /// Without it the tour ends by itself.
    #[arg(long)]
    stay: bool,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let (args, sources) = failure::parse::<Args>();
    failure::exit_named("demo", &sources, run(args).await)
}

async fn run(args: Args) -> Result<(), failure::Failure> {
    let mut stop = erpc::ShutdownSignals::listen()?;
    let dir = std::env::temp_dir().join(format!("erpc-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let unix = format!("unix://{}", dir.join("demo.sock").display());

    let state = Arc::new(Server::default());
    let (ticker, mut newsroom) = ticker::TickerImpl::new();
    // TLS, WSS and QUIC need a certificate: the demo makes a self-signed one (development
    // mode) and has its clients trust exactly that one.
    let cert = ServerTls::self_signed(&["localhost"])?;
    let client_tls = ClientTls::trust_pem(cert.certificate_pem().as_bytes())?;
    // One set of metrics for the tour's server and section 10's: the /metrics the tour
    // prints (and `--stay` keeps up) counts the calls made to the server it tells you to
    // call, the tour's own and yours.
    let metrics = erpc_telemetry::Metrics::new();
    let server = erpc::Server::builder()
        .observer(metrics.observer())
        .add_service(GreeterServer::new(state.clone()))
        .add_service(CalculatorServer::new(state.clone()))
        .add_service(ticker::TickerServer::new(ticker))
        .transport(TransportOptions::default().server_tls(cert))
        .serve([
            "tcp://127.0.0.1:0",
            unix.as_str(),
            "mem://erpc-demo",
            "tls://127.0.0.1:0",
            "ws://127.0.0.1:0/erpc",
            "wss://127.0.0.1:0/erpc",
            "quic://127.0.0.1:0",
            "udp://127.0.0.1:0",
            "kcp://127.0.0.1:0",
        ])
        .await?;
    println!("erpc demo: one server, three services, listening on");
    for addr in server.local_addrs() {
        println!("  {addr}");
    }
    println!("  (tls, wss and quic use a generated self-signed certificate: development only)");
    let options = TransportOptions::default().client_tls(client_tls);
    // Interrupted (Ctrl-C, SIGTERM): the tour stops where it is, and the server still shuts
    // down gracefully.
    let toured = tokio::select! {
        done = tour(&server, &state, &mut newsroom, options, metrics, args.stay) => done.map(Some),
        signal = stop.recv() => {
            println!("\n{signal}: stopping the tour");
            Ok(None)
        }
    };
    let outcome = match toured {
        Ok(Some(observed)) => {
            if args.stay {
                println!(
                    "\nThe tour is over; its server and metrics stay up until Ctrl-C (--stay). Try:"
                );
                println!("  curl {}", observed.metrics_url());
                println!("  erpc describe {}", server.local_addr());
                println!(
                    "  erpc call {} demo.Calculator.divide '[1, 4]'",
                    server.local_addr()
                );
                let signal = stop.recv().await;
                println!("\n{signal}: stopping");
            }
            observed.finish().await
        }
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    println!("\nserver shut down gracefully; bye");
    outcome
}

/// Sections 1 to 10, against the tour's server; what section 10 leaves running (its
/// `/metrics` listener of `metrics`, kept up with `stay`).
async fn tour(
    server: &erpc::ServerHandle,
    state: &Arc<Server>,
    newsroom: &mut ticker::Newsroom,
    options: TransportOptions,
    metrics: erpc_telemetry::Metrics,
    stay: bool,
) -> Result<observability::Observed, Box<dyn std::error::Error>> {
    let tcp = erpc::Client::connect(server.local_addr()).await?;
    let greeter = GreeterClient::new(tcp.clone());
    let calculator = CalculatorClient::new(tcp.clone());

    println!("\n1. Typed calls, one per codec");
    println!(
        "  msgpack  hello(\"ada\")          -> {}",
        greeter.hello("ada".into()).await?
    );
    let reply = greeter.hello("grace".into()).codec(CodecId::JSON).await?;
    println!("  json     hello(\"grace\")        -> {reply}");
    let series = Series {
        label: "sensor-7".into(),
        values: (0..2000).map(|i| (i % 17) as f64).collect(),
    };
    let summary = calculator
        .stats(series)
        .compression(CompressionId::ZSTD)
        .await?;
    println!(
        "  zstd     stats(2000 values)    -> {} values, sum {}, mean {:.3}",
        summary.count, summary.sum, summary.mean
    );

    println!("\n2. Errors are data");
    match calculator.divide(1.0, 0.0).await {
        Err(status) => println!("  divide(1, 0)                   -> {status}"),
        Ok(v) => return Err(format!("expected an error, got {v}").into()),
    }

    println!("\n3. A deadline that expires");
    let started = Instant::now();
    match greeter
        .slow(2_000)
        .timeout(Duration::from_millis(150))
        .await
    {
        Err(status) => println!(
            "  slow(2000) with a 150 ms budget -> {} after {:?}",
            status.code(),
            started.elapsed()
        ),
        Ok(v) => return Err(format!("expected a deadline error, got {v}").into()),
    }
    println!(
        "  within budget: {}",
        greeter.slow(20).timeout(Duration::from_secs(1)).await?
    );

    println!("\n4. A cancelled call (the caller stops waiting)");
    let before = state.aborted.load(Ordering::SeqCst);
    tokio::select! {
        _ = std::future::IntoFuture::into_future(greeter.slow(5_000)) => {}
        _ = tokio::time::sleep(Duration::from_millis(50)) => {
            println!("  gave up on slow(5000) after 50 ms; the client sent CANCEL")
        }
    }
    let wait_until = Instant::now() + Duration::from_secs(2);
    while state.aborted.load(Ordering::SeqCst) == before && Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "  handlers aborted on the server so far: {} (deadline + cancel)",
        state.aborted.load(Ordering::SeqCst)
    );

    println!("\n5. A oneway call");
    greeter
        .log("hello from the client, no reply needed".into())
        .await?;
    let wait_until = Instant::now() + Duration::from_secs(2);
    while state.logged.load(Ordering::SeqCst) == 0 && Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    println!("\n6. Streams");
    ticker::tour(tcp, newsroom).await?;

    println!(
        "\n7. Transports side by side: one service, a call over each, then the latency of 2,000 sequential calls"
    );
    for addr in server.local_addrs() {
        let client = erpc::Client::builder()
            .transport(options.clone())
            .connect(addr)
            .await?;
        let client = GreeterClient::new(client);
        let reply = client.hello(addr.scheme().into()).await?;
        let mut samples = Vec::with_capacity(2000);
        for _ in 0..2000 {
            let t = Instant::now();
            client.hello("bench".into()).await?;
            samples.push(t.elapsed());
        }
        samples.sort();
        let pick = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
        println!(
            "  {:<5} {:<22} p50 {:>7.1?}  p99 {:>7.1?}  max {:>7.1?}",
            addr.scheme(),
            reply,
            pick(0.50),
            pick(0.99),
            samples[samples.len() - 1]
        );
    }

    println!(
        "\n8. Discovery: an embedded center, three registered instances, calls spread over them, failover"
    );
    discovery_tour().await?;

    #[cfg(feature = "queue")]
    {
        println!("\n9. A call through a durable queue (NATS JetStream)");
        queue::tour(&server.local_addr().to_string()).await?;
    }

    println!("\n10. Metrics and traces");
    observability::tour(metrics, stay).await
}

/// Refuses every call `unavailable` while its flag is set: an instance failing on demand.
struct Down(Arc<AtomicBool>);

impl erpc::server::Admission for Down {
    fn admit(&self, _call: &erpc::server::CallHead<'_>) -> Result<erpc::server::Admitted, Status> {
        match self.0.load(Ordering::Relaxed) {
            true => Err(Status::unavailable("this instance is failing (demo)")),
            false => Ok(erpc::server::Admitted::now()),
        }
    }
}

/// Section 8: a center in this process (memory store), three instances of `demo.Hello`
/// registering with it, a client of the service name, one instance leaving, and failover
/// around one that fails.
async fn discovery_tour() -> Result<(), Box<dyn std::error::Error>> {
    use erpc_center::store::memory::MemoryStore;
    use erpc_center::{CenterConfig, CenterImpl, CenterRegistry, CenterServer};

    let center = CenterImpl::open(Box::new(MemoryStore), CenterConfig::default())?;
    let center_server = erpc::Server::builder()
        .add_service(CenterServer::new(center))
        .serve(["mem://erpc-demo-center"])
        .await?;
    let registry = CenterRegistry::new(["mem://erpc-demo-center"])?;
    let mut instances = Vec::new();
    // Beta can be switched into refusing every call, to show failover below.
    let beta_down = Arc::new(AtomicBool::new(false));
    for name in ["alpha", "beta", "gamma"] {
        let down = match name {
            "beta" => beta_down.clone(),
            _ => Arc::new(AtomicBool::new(false)),
        };
        let server = erpc::Server::builder()
            .admission(Down(down))
            .add_service(hello::HelloServer::new(hello::Instance(name.into())))
            .register(
                Arc::new(registry.clone()),
                erpc::discovery::Instance {
                    id: name.into(),
                    ..Default::default()
                },
            )
            .serve([format!("mem://erpc-demo-{name}")])
            .await?;
        instances.push(server);
    }
    let client = hello::HelloClient::new(
        erpc::Client::builder()
            .discover(&registry, "demo.Hello")
            .await?,
    );
    for _ in 0..3 {
        println!("  {}", client.hello("tour".into()).await?);
    }
    let leaving = instances.remove(0);
    leaving.shutdown().await;
    // No waiting needed: the watch drops alpha from the client's list, and a call that
    // picks it before then is retried on another instance (it was never sent).
    println!("  alpha shut down (deregistered first); the client's list follows:");
    for _ in 0..3 {
        println!("  {}", client.hello("tour".into()).await?);
    }

    // Failover: beta now refuses every call `unavailable`. A plain client passes the
    // refusal on; one with the failover fail mode sends the call to another instance.
    // `hello` is not marked #[idempotent], and a refused call was sent, so the fail mode
    // is told per method that resending it is safe.
    beta_down.store(true, Ordering::Relaxed);
    println!("  beta now refuses every call (unavailable):");
    for _ in 0..2 {
        match client.hello("tour".into()).await {
            Ok(reply) => println!("    plain client:    {reply}"),
            Err(status) => println!("    plain client:    failed: {status}"),
        }
    }
    let failover = erpc::client::FailModes::new(erpc::client::FailMode::Failover { retries: 2 })
        .idempotent(erpc::per_method::PerMethod::new(false).method("demo.Hello", "hello", true));
    let governed = hello::HelloClient::new(
        erpc::Client::builder()
            .layer(failover)
            .discover(&registry, "demo.Hello")
            .await?,
    );
    for _ in 0..2 {
        println!(
            "    failover client: {}",
            governed.hello("tour".into()).await?
        );
    }

    // A circuit breaker per instance: beta's opens after three failures in a row and takes it
    // out of the picks; after the open timeout one trial call (half-open) finds it healthy
    // again and closes it.
    println!("  with a breaker per instance (open after 3 failures, half-open after 500 ms):");
    let breakers = erpc::client::InstanceBreakers::new(
        erpc::client::BreakerSettings::default()
            .trip(erpc::client::Trip::ConsecutiveFailures(3))
            .open_timeout(Duration::from_millis(500)),
    )
    .observer(PrintBreaker);
    let failover = erpc::client::FailModes::new(erpc::client::FailMode::Failover { retries: 2 })
        .idempotent(erpc::per_method::PerMethod::new(false).method("demo.Hello", "hello", true));
    let guarded = hello::HelloClient::new(
        erpc::Client::builder()
            .layer(failover)
            .attempt_layer(breakers)
            .discover(&registry, "demo.Hello")
            .await?,
    );
    let mut answers = Vec::new();
    for _ in 0..8 {
        answers.push(guarded.hello("tour".into()).await?);
    }
    println!("    8 calls while beta fails: {}", tally(&answers));
    beta_down.store(false, Ordering::Relaxed);
    println!("    beta recovers; 600 ms later:");
    tokio::time::sleep(Duration::from_millis(600)).await;
    answers.clear();
    for _ in 0..6 {
        answers.push(guarded.hello("tour".into()).await?);
    }
    println!("    6 calls: {}", tally(&answers));
    drop((client, governed, guarded));
    for server in instances {
        server.shutdown().await;
    }
    center_server.shutdown_timeout(Duration::from_secs(2)).await;
    Ok(())
}

/// Prints each circuit breaker's change of state.
struct PrintBreaker;

impl erpc::observe::Observer for PrintBreaker {
    fn breaker_changed(&self, change: &erpc::observe::BreakerChange<'_>) {
        println!(
            "    breaker of {}: {:?} -> {:?}",
            change.breaker, change.from, change.to
        );
    }
}

/// "hello from gamma x5, hello from beta x3": how many answers each instance gave.
fn tally(answers: &[String]) -> String {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for answer in answers {
        *counts.entry(answer.as_str()).or_default() += 1;
    }
    let parts: Vec<String> = counts.iter().map(|(a, n)| format!("{a:?} x{n}")).collect();
    parts.join(", ")
}
