//! One side of one end-to-end benchmark case, on a single-threaded runtime (the driver,
//! `benches/e2e.sh`, pins each side to its own core), or with `--threads N` on a
//! multi-threaded runtime of N workers (the multi-core figure, `benches/multicore.sh`).
//!
//! ```text
//! e2e [--threads N] server STACK ADDR
//! e2e [--threads N] client STACK ADDR CONNS INFLIGHT WARMUP_S MEASURE_S PAYLOAD
//! e2e [--threads N] both   STACK ADDR CONNS INFLIGHT WARMUP_S MEASURE_S PAYLOAD
//! ```
//! STACK is raw, erpc, tarpc or tonic, or erpc:TRANSPORT for erpc over another transport
//! (tcp, unix, mem, tls, ws, wss, quic, udp, kcp). `both` runs the server on a thread of its
//! own in the same process (for mem://, which does not cross processes). The client prints
//! one tab-separated line: stack, conns, inflight, payload, rps, p50 µs, p99 µs, p99.9 µs,
//! errors.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, Subcommand};
use erpc_benches::load::{self, LoadConfig, Report};
use erpc_benches::stacks::erpc_stack::Layers;
use erpc_benches::stacks::observed::{self, Observed};
use erpc_benches::stacks::{erpc_stack, raw, tarpc_stack, tonic_stack};

/// One side of one end-to-end benchmark case (benches/e2e.sh drives it). STACK is raw, erpc,
/// tarpc or tonic, or erpc:TRANSPORT (tcp, unix, mem, tls, ws, wss, quic, udp, kcp). A
/// server stops on SIGINT or SIGTERM (exit 0).
#[derive(Debug, Parser)]
#[command(name = "e2e")]
struct Cli {
    /// Worker threads of this side's runtime: 1 (the default) is tokio's current-thread
    /// runtime, N > 1 its multi-threaded runtime with N workers.
    #[arg(long, default_value_t = 1, global = true)]
    threads: usize,
    #[command(subcommand)]
    role: Role,
}

#[derive(Debug, Subcommand)]
enum Role {
    /// Serve STACK on ADDR until SIGINT or SIGTERM.
    Server { stack: String, addr: SocketAddr },
    /// Load a server of STACK at ADDR and print one tab-separated line: stack, conns,
    /// inflight, payload, rps, p50 µs, p99 µs, p99.9 µs, errors.
    Client(Load),
    /// Both in this process, the server on a thread of its own (for mem://).
    Both(Load),
}

#[derive(Debug, clap::Args)]
struct Load {
    stack: String,
    addr: SocketAddr,
    /// Connections.
    conns: usize,
    /// Calls in flight per connection.
    inflight: usize,
    /// Warm-up, in seconds.
    warmup_s: f64,
    /// Measured time, in seconds.
    measure_s: f64,
    /// Request and response payload, in bytes.
    payload: usize,
}

/// The number of worker threads every runtime of this process gets (`--threads`).
static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

fn runtime() -> tokio::runtime::Runtime {
    let mut builder = match THREADS.get().copied().unwrap_or(1) {
        0 | 1 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(n);
            builder
        }
    };
    builder.enable_all().build().expect("runtime")
}

async fn serve(stack: String, addr: SocketAddr) {
    match stack.as_str() {
        "raw" => raw::serve(addr).await,
        "erpc" => erpc_stack::serve(addr).await,
        "erpc-layers" => erpc_stack::serve_layered("tcp", addr, Layers::ThreeApart).await,
        "erpc-stacked" => erpc_stack::serve_layered("tcp", addr, Layers::ThreeStacked).await,
        "tarpc" => tarpc_stack::serve(addr).await,
        "tonic" => tonic_stack::serve(addr).await,
        other => match (other.strip_prefix("erpc:"), Observed::named(other)) {
            (Some(transport), _) => erpc_stack::serve_on(transport, addr).await,
            (None, Some(observed)) => observed::serve(addr, observed).await,
            (None, None) => unknown(other),
        },
    }
}

fn unknown(stack: &str) -> ! {
    eprintln!(
        "unknown stack {stack:?}: raw, erpc, erpc-layers (3 no-op layers each side, added apart), erpc-stacked (the same 3 in one layer), erpc-metrics, erpc-trace1, erpc-trace100 (erpc with erpc-telemetry's metrics or tracing at 1% / 100%), erpc-governed (metrics, P2C over two instances, a breaker per instance, failover), erpc-governance (the same without metrics), erpc-p2c (its balancing alone), tarpc, tonic or erpc:TRANSPORT"
    );
    std::process::exit(2)
}

fn main() {
    let cli = Cli::parse();
    let _ = THREADS.set(cli.threads);
    match cli.role {
        Role::Server { stack, addr } => runtime().block_on(async move {
            let mut stop = erpc::ShutdownSignals::listen().expect("signal handlers");
            tokio::select! {
                _ = serve(stack, addr) => {}
                _ = stop.recv() => {}
            }
        }),
        Role::Client(load) => run(load),
        Role::Both(load) => {
            let (stack, addr) = (load.stack.clone(), load.addr);
            std::thread::spawn(move || runtime().block_on(serve(stack, addr)));
            std::thread::sleep(Duration::from_millis(500));
            run(load)
        }
    }
}

fn run(load: Load) {
    let Load {
        stack, addr, conns, ..
    } = load;
    let config = LoadConfig {
        inflight: load.inflight,
        warmup: Duration::from_secs_f64(load.warmup_s),
        measure: Duration::from_secs_f64(load.measure_s),
        payload: load.payload,
    };
    let report: Report = runtime().block_on(async {
        match stack.as_str() {
            "raw" => load::run(raw::connect(addr, conns).await, config).await,
            "erpc" => load::run(erpc_stack::connect(addr, conns).await, config).await,
            "erpc-layers" => {
                let caller = erpc_stack::connect_layered("tcp", addr, conns, Layers::ThreeApart);
                load::run(caller.await, config).await
            }
            "erpc-stacked" => {
                let caller = erpc_stack::connect_layered("tcp", addr, conns, Layers::ThreeStacked);
                load::run(caller.await, config).await
            }
            "tarpc" => load::run(tarpc_stack::connect(addr, conns).await, config).await,
            "tonic" => load::run(tonic_stack::connect(addr, conns).await, config).await,
            other => match (other.strip_prefix("erpc:"), Observed::named(other)) {
                (Some(transport), _) => {
                    let caller = erpc_stack::connect_on(transport, addr, conns).await;
                    load::run(caller, config).await
                }
                (None, Some(observed)) => {
                    let caller = observed::connect(addr, conns, observed).await;
                    load::run(caller, config).await
                }
                (None, None) => unknown(other),
            },
        }
    });
    println!(
        "{}\t{}\t{}\t{}\t{:.0}\t{:.1}\t{:.1}\t{:.1}\t{}",
        stack,
        conns,
        config.inflight,
        config.payload,
        report.rps,
        report.p50_us,
        report.p99_us,
        report.p999_us,
        report.errors
    );
}
