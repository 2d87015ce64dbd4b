//! Requests/s and p50/p99 latency of calls through the queue (one bridge, one client, 512 B
//! echoes), with a direct erpc call to the same service in the same run for comparison
//! (BENCHMARKS.md). It starts its own queue server — `nats-server -js` or a RabbitMQ node —
//! on a free loopback port with a temporary data directory (feature `servers`).
//!
//! ```sh
//! cargo run --release -p erpc-queue --example queue_bench                 # NATS JetStream
//! cargo run --release -p erpc-queue --example queue_bench -- rabbitmq     # RabbitMQ
//! cargo run --release -p erpc-queue --example queue_bench -- --in-flight 1,16,64 --secs 10
//! ```

use std::time::{Duration, Instant};

use erpc_core::Status;
use erpc_queue::{
    Bridge, BridgeConfig, QueueClient, QueueClientOptions, QueueConfig, TargetConfig, servers,
};
use serde_bytes::ByteBuf;

#[erpc_macros::service(crate = "erpc_core")]
pub trait Echo {
    /// `payload`, unchanged.
    async fn echo(&self, payload: ByteBuf) -> Result<ByteBuf, Status>;
}

struct Echoer;

impl Echo for Echoer {
    async fn echo(&self, payload: ByteBuf) -> Result<ByteBuf, Status> {
        Ok(payload)
    }
}

/// Calls through a queue vs direct calls, against a queue server this program starts.
#[derive(Debug, clap::Parser)]
#[command(name = "queue_bench")]
struct Args {
    /// The queue server to start: `nats` (JetStream) or `rabbitmq`.
    #[arg(default_value = "nats", value_parser = ["nats", "rabbitmq"])]
    backend: String,
    /// Calls kept in flight, one run per value (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    in_flight: Vec<usize>,
    /// Seconds measured per run, after `--warmup` seconds not counted.
    #[arg(long, default_value_t = 5)]
    secs: u64,
    /// Seconds of calls before each run's measurement starts.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Payload bytes per request (the response is as large).
    #[arg(long, default_value_t = 512)]
    payload: usize,
}

/// One run's outcome.
struct Run {
    calls: usize,
    errors: usize,
    secs: f64,
    /// Latencies of the measured calls, sorted.
    latencies: Vec<Duration>,
}

impl Run {
    fn quantile(&self, q: f64) -> Duration {
        let last = self.latencies.len().saturating_sub(1);
        self.latencies
            .get(((self.latencies.len() as f64 * q) as usize).min(last))
            .copied()
            .unwrap_or_default()
    }
}

/// Keep `in_flight` calls of `client` going for `warmup + secs` seconds; measure the calls
/// started after the warm-up.
async fn run(client: EchoClient, in_flight: usize, warmup: u64, secs: u64, payload: usize) -> Run {
    let body = ByteBuf::from(vec![0x5a; payload]);
    let measured = Instant::now() + Duration::from_secs(warmup);
    let end = measured + Duration::from_secs(secs);
    let workers: Vec<_> = (0..in_flight)
        .map(|_| {
            let client = client.clone();
            let body = body.clone();
            tokio::spawn(async move {
                let (mut latencies, mut errors) = (Vec::new(), 0);
                loop {
                    let started = Instant::now();
                    if started >= end {
                        break;
                    }
                    let outcome = client.echo(body.clone()).await;
                    if started < measured {
                        continue;
                    }
                    match outcome {
                        Ok(echoed) if echoed.len() == body.len() => {
                            latencies.push(started.elapsed())
                        }
                        _ => errors += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut outcome = Run {
        calls: 0,
        errors: 0,
        secs: 0.0,
        latencies: Vec::new(),
    };
    for worker in workers {
        let (latencies, errors) = worker.await.expect("a worker finished");
        outcome.latencies.extend(latencies);
        outcome.errors += errors;
    }
    outcome.secs = (Instant::now() - measured).as_secs_f64();
    outcome.calls = outcome.latencies.len();
    outcome.latencies.sort();
    outcome
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = <Args as clap::Parser>::parse();
    let started = Instant::now();
    let server = match args.backend.as_str() {
        "rabbitmq" => servers::rabbitmq().await,
        _ => servers::nats().await,
    };
    let queue = server.connect().await;
    eprintln!(
        "{} up at {} in {:.1?}",
        server.backend(),
        server.url,
        started.elapsed()
    );

    let service = erpc_core::Server::builder()
        .add_service(EchoServer::new(Echoer))
        .serve(["tcp://127.0.0.1:0"])
        .await?;
    let bridge = Bridge::new(
        queue.clone(),
        BridgeConfig {
            queue: QueueConfig {
                backend: server.backend().into(),
                url: Some(server.url.clone()),
                ..QueueConfig::default()
            },
            targets: vec![TargetConfig {
                service: "Echo".into(),
                address: Some(service.local_addr().to_string()),
                timeout_ms: 10_000,
                max_retries: 3,
                backoff_ms: 100,
                backoff_max_ms: 2_000,
                idempotent: false,
                idempotent_methods: Vec::new(),
            }],
            ..BridgeConfig::default()
        },
    )?;
    let (ready, consuming) = tokio::sync::oneshot::channel();
    tokio::spawn(bridge.run(
        move || {
            let _ = ready.send(());
        },
        std::future::pending(),
    ));
    consuming.await?;
    let queue_client = QueueClient::connect(
        queue,
        QueueClientOptions {
            timeout: Duration::from_secs(30),
            ..QueueClientOptions::default()
        },
    )
    .await?;
    let direct = EchoClient::new(erpc_core::Client::connect(service.local_addr()).await?);
    let through_queue = EchoClient::new(queue_client.client());

    println!(
        "| backend | path | in flight | calls/s | p50 µs | p99 µs | calls | errors |\n|---|---|---:|---:|---:|---:|---:|---:|"
    );
    for &in_flight in &args.in_flight {
        for (path, client) in [("direct", &direct), ("queue", &through_queue)] {
            let outcome = run(
                client.clone(),
                in_flight,
                args.warmup,
                args.secs,
                args.payload,
            )
            .await;
            println!(
                "| {} | {path} | {in_flight} | {:.0} | {} | {} | {} | {} |",
                server.backend(),
                outcome.calls as f64 / outcome.secs,
                outcome.quantile(0.50).as_micros(),
                outcome.quantile(0.99).as_micros(),
                outcome.calls,
                outcome.errors,
            );
        }
    }
    drop(through_queue);
    service.shutdown().await;
    Ok(())
}
