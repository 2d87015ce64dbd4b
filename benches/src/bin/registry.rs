//! The registry center's figures (CENTER.md, BENCHMARKS.md): registrations per second with the
//! durable redb store and with the memory store, discover latency, and the time for one change
//! to reach 1,000 watchers. Center and clients in one process over TCP loopback, release build:
//!
//! ```text
//! cargo run --release -p erpc-benches --bin registry
//! ```
//!
//! With `ERPC_BENCH_ETCD=http://127.0.0.1:2379` it measures a center on that etcd too
//! (`--store etcd://`), under the key prefix `/erpc-bench-{pid}`.

use std::time::{Duration, Instant};

use erpc_center::store::Store;
use erpc_center::store::memory::MemoryStore;
use erpc_center::store::redb::RedbStore;
use erpc_center::{CenterClient, CenterConfig, CenterImpl, CenterServer, Filter, Instance};

async fn serve(store: Box<dyn Store>) -> erpc::ServerHandle {
    let center = CenterImpl::open(store, CenterConfig::default()).expect("center");
    serve_center(center).await
}

async fn serve_center(center: CenterImpl) -> erpc::ServerHandle {
    erpc::Server::builder()
        .add_service(CenterServer::new(center))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("bind")
}

fn client(server: &erpc::ServerHandle) -> CenterClient {
    CenterClient::new(erpc::Client::new(server.local_addr()).expect("address"))
}

fn pct(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

/// Registrations per second from `tasks` concurrent registrants for `secs`.
async fn registrations(server: &erpc::ServerHandle, tasks: usize, secs: f64) -> f64 {
    let c = client(server);
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut joins = Vec::new();
    for t in 0..tasks {
        let c = c.clone();
        joins.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < until {
                let id = format!("t{t}-{n}");
                c.register(Instance::new("bench", id, "tcp://127.0.0.1:1"), 60_000)
                    .await
                    .expect("register");
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for j in joins {
        total += j.await.expect("task");
    }
    total as f64 / started.elapsed().as_secs_f64()
}

/// Discover latency with 100 instances of one service.
async fn discover_latency(name: &str, server: &erpc::ServerHandle) {
    let c = client(server);
    for i in 0..100 {
        c.register(
            Instance::new("svc", format!("i{i}"), "tcp://127.0.0.1:1"),
            60_000,
        )
        .await
        .expect("register");
    }
    let mut samples = Vec::new();
    for _ in 0..5_000 {
        let t = Instant::now();
        let listing = c
            .discover("svc".into(), Filter::default())
            .await
            .expect("discover");
        samples.push(t.elapsed());
        assert_eq!(listing.instances.len(), 100);
    }
    samples.sort();
    println!(
        "discover ({name} store, 100 instances, sequential): p50 {:?} p99 {:?}",
        pct(&samples, 0.5),
        pct(&samples, 0.99)
    );
}

/// Fan-out: 1,000 watchers on one service, one change, time until each has it.
async fn fan_out(name: &str, server: &erpc::ServerHandle) {
    let c = client(server);
    let watchers = 1_000;
    let revision = c
        .discover("fan".into(), Filter::default())
        .await
        .expect("discover")
        .revision;
    let clients: Vec<CenterClient> = (0..8).map(|_| client(server)).collect();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(watchers);
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<Instant>(watchers);
    for w in 0..watchers {
        let c = clients[w % clients.len()].clone();
        let (ready, done) = (ready_tx.clone(), done_tx.clone());
        tokio::spawn(async move {
            // The opening is on its way once `watch` returns.
            let mut stream = c.watch("fan".into(), revision, 0).await.expect("watch");
            let _ = ready.send(()).await;
            if let Ok(Some(_)) = stream.message().await {
                let _ = done.send(Instant::now()).await;
            }
        });
    }
    for _ in 0..watchers {
        ready_rx.recv().await;
    }
    // Let every watch reach the center before the change.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let changed = Instant::now();
    c.register(Instance::new("fan", "x", "tcp://127.0.0.1:1"), 60_000)
        .await
        .expect("register");
    let mut arrivals = Vec::new();
    for _ in 0..watchers {
        match tokio::time::timeout(Duration::from_secs(10), done_rx.recv()).await {
            Ok(Some(at)) => arrivals.push(at.saturating_duration_since(changed)),
            _ => break,
        }
    }
    arrivals.sort();
    println!(
        "watch fan-out ({name} store): {} of {watchers} watchers had the change; p50 {:?}, last {:?}",
        arrivals.len(),
        pct(&arrivals, 0.5),
        arrivals.last().copied().unwrap_or_default()
    );
}

/// The registry center's figures: registrations per second (redb and memory stores, and a
/// center on etcd with --etcd), discover latency, and the time for one change to reach 1,000
/// watchers.
#[derive(Debug, clap::Parser)]
#[command(name = "registry")]
struct Cli {
    /// Also measure a center on this etcd (`http://127.0.0.1:2379`), under the key prefix
    /// `/erpc-bench-{pid}`.
    #[arg(long, env = "ERPC_BENCH_ETCD")]
    etcd: Option<String>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let cli = <Cli as clap::Parser>::parse();
    let dir = std::env::temp_dir().join(format!("erpc-center-bench-{}", std::process::id()));
    let redb = serve(Box::new(
        RedbStore::open(&dir.join("center.redb")).expect("redb"),
    ))
    .await;
    let memory = serve(Box::new(MemoryStore)).await;
    let mut centers = vec![("redb", redb), ("memory", memory)];
    if let Some(etcd) = cli.etcd {
        let prefix = format!("/erpc-bench-{}", std::process::id());
        let center = CenterImpl::on_etcd(&[etcd], &prefix, CenterConfig::default())
            .await
            .expect("etcd reachable");
        centers.push(("etcd", serve_center(center).await));
    }
    for (name, server) in &centers {
        let rate = registrations(server, 64, 3.0).await;
        println!("registrations/s ({name} store, 64 concurrent registrants): {rate:.0}");
    }
    for (name, server) in &centers {
        if *name == "redb" {
            // Reads are the same in-memory state as the memory store's.
            continue;
        }
        discover_latency(name, server).await;
        fan_out(name, server).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}
