//! The cost of calling a discovered service instead of one address: three echo servers in
//! this process, one client with 256 calls in flight for 3 s, through a direct address,
//! through round-robin over the three, and through weighted balancing over them.
//!
//! ```text
//! cargo run --release -p erpc-benches --bin balanced
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use erpc::discovery::{Endpoint, StaticList, Weighted};
use erpc_benches::message::Msg;
use erpc_benches::stacks::erpc_stack::{BenchClient, BenchServer, Echo};

async fn run(client: BenchClient, label: &str) {
    let msg = Msg::new(1, 512);
    let until = Instant::now() + Duration::from_secs(3);
    let mut tasks = Vec::new();
    for _ in 0..256 {
        let (client, msg) = (client.clone(), msg.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < until {
                client.echo(msg.clone()).await.expect("echo");
                n += 1;
            }
            n
        }));
    }
    let mut calls = 0;
    for t in tasks {
        calls += t.await.expect("task");
    }
    println!("{label:<28} {:>9.0} calls/s", calls as f64 / 3.0);
}

/// The cost of calling a discovered service instead of one address: three echo servers, one
/// client with 256 calls in flight for 3 s, direct, round-robin and weighted.
#[derive(Debug, clap::Parser)]
#[command(name = "balanced")]
struct Cli {}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    <Cli as clap::Parser>::parse();
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(
            erpc::Server::builder()
                .add_service(BenchServer::new(Echo))
                .serve(["tcp://127.0.0.1:0"])
                .await
                .expect("bind"),
        );
    }
    let addrs: Vec<_> = servers.iter().map(|s| s.local_addr().clone()).collect();
    let direct = erpc::Client::new(&addrs[0]).expect("address");
    run(BenchClient::new(direct), "direct (one address)").await;
    let list = StaticList::new(addrs.iter().cloned().map(Endpoint::new));
    let rr = erpc::Client::builder()
        .discover(&list, "bench")
        .await
        .expect("discover");
    run(BenchClient::new(rr), "round-robin over 3").await;
    let weighted = erpc::Client::builder()
        .discover_with(&list, "bench", Arc::new(Weighted::default()))
        .await
        .expect("discover");
    run(BenchClient::new(weighted), "weighted over 3").await;
}
