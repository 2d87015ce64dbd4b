//! Overload figures (BENCHMARKS.md "Overload", RELIABILITY.md row 18): open-loop load at a
//! multiple of what the server should take, over TCP in this process.
//!
//! 1. **Rate limit** — a server-wide quota (`RateLimit::global`, default 10,000 calls/s,
//!    burst 1% of it) offered 10× that: accepted rate against the quota, refusal p99.
//! 2. **Adaptive shedding** — a handler of 16 workers × 2 ms (capacity 8,000 calls/s)
//!    offered 10× its capacity, with calls of a 500 ms deadline, without and with
//!    `AdaptiveLimit`: offered vs accepted vs goodput (answered in time) and p99.
//!
//! ```text
//! cargo run --release -p erpc-benches --bin overload
//! cargo run --release -p erpc-benches --bin overload -- --quota 20000 --multiple 10 --seconds 5
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use erpc::rate::Rate;
use erpc::server::{AdaptiveLimit, RateLimit};
use erpc::{Code, Status};
use tokio::sync::{Semaphore, mpsc};

/// Offered load and what became of it, from the clients' side.
#[derive(Debug, clap::Parser)]
#[command(name = "overload")]
struct Cli {
    /// The rate limit's quota, calls/s.
    #[arg(long, default_value_t = 10_000)]
    quota: u32,
    /// Offered load as a multiple of the quota (and of the handler's capacity).
    #[arg(long, default_value_t = 10)]
    multiple: u32,
    /// Seconds each run offers load for.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
}

#[erpc::service]
trait Work {
    /// Holds one of the server's workers for `micros`.
    async fn work(&self, micros: u64) -> Result<(), Status>;
}

/// A handler with a fixed capacity: `n` workers.
struct Workers(Arc<Semaphore>);

impl Work for Workers {
    async fn work(&self, micros: u64) -> Result<(), Status> {
        let _worker = self
            .0
            .acquire()
            .await
            .map_err(|_| Status::internal("closed"))?;
        tokio::time::sleep(Duration::from_micros(micros)).await;
        Ok(())
    }
}

const WORKERS: usize = 16;
const SERVICE_MICROS: u64 = 2_000;
const DEADLINE: Duration = Duration::from_millis(500);

/// One call's outcome: its code and latency.
type Outcome = (Code, Duration);

/// Offer `rate` calls/s for `seconds`, open-loop (1 ms ticks, each sending its share
/// whatever came back), spread over `clients` connections; every outcome.
async fn offer(clients: &[WorkClient], rate: u64, seconds: u64, micros: u64) -> Vec<Outcome> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let mut sent = 0u64;
    let mut n = 0usize;
    while start.elapsed() < Duration::from_secs(seconds) {
        tick.tick().await;
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        while sent < due {
            let client = clients[n % clients.len()].clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let t = Instant::now();
                let code = match client.work(micros).timeout(DEADLINE).await {
                    Ok(()) => Code::Ok,
                    Err(status) => status.code(),
                };
                let _ = tx.send((code, t.elapsed()));
            });
            sent += 1;
            n += 1;
        }
    }
    drop(tx);
    let mut outcomes = Vec::with_capacity(sent as usize);
    while let Some(outcome) = rx.recv().await {
        outcomes.push(outcome);
    }
    outcomes
}

fn percentile(mut samples: Vec<Duration>, p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort();
    samples[((samples.len() - 1) as f64 * p) as usize]
}

fn report(label: &str, outcomes: &[Outcome], seconds: u64) {
    let per_s = |n: usize| n as f64 / seconds as f64;
    let ok: Vec<_> = outcomes
        .iter()
        .filter(|(c, _)| *c == Code::Ok)
        .map(|(_, d)| *d)
        .collect();
    let refused: Vec<_> = outcomes
        .iter()
        .filter(|(c, _)| *c == Code::ResourceExhausted)
        .map(|(_, d)| *d)
        .collect();
    let in_time = ok.iter().filter(|d| **d <= DEADLINE).count();
    let other = outcomes.len() - ok.len() - refused.len();
    println!(
        "{label:<34} offered {:>8.0}/s  accepted {:>8.0}/s  goodput {:>8.0}/s  p99 {:>9.2?}  refused {:>8.0}/s (p99 {:>8.2?})  other failures {}",
        per_s(outcomes.len()),
        per_s(ok.len()),
        per_s(in_time),
        percentile(ok, 0.99),
        per_s(refused.len()),
        percentile(refused, 0.99),
        other
    );
}

async fn serve(
    limit: Option<Arc<dyn erpc::server::Admission>>,
) -> (erpc::ServerHandle, Vec<WorkClient>) {
    let mut builder = erpc::Server::builder();
    if let Some(limit) = limit {
        builder = builder.admission(Shared(limit));
    }
    let server = builder
        .add_service(WorkServer::new(Workers(Arc::new(Semaphore::new(WORKERS)))))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("bind");
    let clients = (0..4)
        .map(|_| WorkClient::new(erpc::Client::new(server.local_addr()).expect("address")))
        .collect();
    (server, clients)
}

/// A hook shared with the code that reads it.
struct Shared(Arc<dyn erpc::server::Admission>);

impl erpc::server::Admission for Shared {
    fn admit(&self, call: &erpc::server::CallHead<'_>) -> Result<erpc::server::Admitted, Status> {
        self.0.admit(call)
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let cli = <Cli as clap::Parser>::parse();
    let seconds = cli.seconds;

    // 1. The rate limit: the handler is instant, the quota is the only bound.
    let quota = Rate::per_second(cli.quota).burst((cli.quota / 100).max(1));
    let limit = RateLimit::global(quota).expect("a valid quota");
    let (server, clients) = serve(Some(Arc::new(limit))).await;
    let offered = u64::from(cli.quota) * u64::from(cli.multiple);
    let outcomes = offer(&clients, offered, seconds, 0).await;
    report(
        &format!("rate limit {}/s, {}× offered", cli.quota, cli.multiple),
        &outcomes,
        seconds,
    );
    server.shutdown().await;

    // 2. Adaptive shedding against a handler of fixed capacity.
    let capacity = WORKERS as u64 * 1_000_000 / SERVICE_MICROS;
    println!("handler capacity: {capacity} calls/s ({WORKERS} workers × {SERVICE_MICROS} µs)");
    let offered = capacity * u64::from(cli.multiple);
    let (server, clients) = serve(None).await;
    let outcomes = offer(&clients, offered, seconds, SERVICE_MICROS).await;
    report(
        &format!("no limit, {}× capacity", cli.multiple),
        &outcomes,
        seconds,
    );
    server.shutdown().await;

    let shed = AdaptiveLimit::new(Default::default());
    let (server, clients) = serve(Some(Arc::new(shed.clone()))).await;
    let outcomes = offer(&clients, offered, seconds, SERVICE_MICROS).await;
    report(
        &format!("AdaptiveLimit, {}× capacity", cli.multiple),
        &outcomes,
        seconds,
    );
    println!("AdaptiveLimit settled at {} calls", shed.limit());
    server.shutdown().await;
}
