//! Overload on the server: a per-method bulkhead keeps the other methods served while one is
//! saturated, and the adaptive limit finds the server's capacity from latency — it settles
//! near the knee where latency starts to grow with concurrency, and refuses the rest
//! `resource_exhausted` with a retry-after hint.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use erpc::per_method::PerMethod;
use erpc::server::{AdaptiveLimit, ConcurrencyLimit, MethodConcurrencyLimit};
use erpc::{Code, Status};
use support::*;
use tokio::sync::Semaphore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_method_cannot_starve_the_others() {
    // 4 running calls in all, of which `sleep` may hold 2.
    let caps = MethodConcurrencyLimit::new(PerMethod::new(None).method("Echo", "sleep", Some(2)));
    let echo = EchoImpl::default();
    let probe = echo.probe.clone();
    let server = erpc::Server::builder()
        .admission(ConcurrencyLimit::new(4))
        .admission(caps.clone())
        .add_service(EchoServer::new(echo))
        .serve([mem_addr()])
        .await
        .unwrap();
    let client = client(&server.local_addr().to_string());
    // A flood of slow calls: two run, the rest are refused by the bulkhead.
    let slow: Vec<_> = (0..10)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.sleep(1_500).await })
        })
        .collect();
    wait_for(&probe.started, 2, Duration::from_secs(5)).await;
    assert_eq!(caps.running("Echo", "sleep"), Some(2));
    // Meanwhile `len` is served, and keeps being served.
    for i in 0..50 {
        let n = client.len("x".repeat(i)).await.unwrap();
        assert_eq!(n, i as u64);
    }
    let mut refused = 0;
    for call in slow {
        match call.await.unwrap() {
            Ok(_) => {}
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{status}");
                assert!(status.message().contains("Echo.sleep"), "{status}");
                refused += 1;
            }
        }
    }
    assert_eq!(refused, 8);
    assert_eq!(*probe.started.borrow(), 2);
    server.shutdown().await;
}

/// A service of `WORKERS` workers: each call holds one for `BASE`, so latency is `BASE` up to
/// `WORKERS` calls at once and grows linearly beyond — the knee is at `WORKERS`.
const WORKERS: usize = 8;
const BASE: Duration = Duration::from_millis(20);

#[erpc::service]
trait Work {
    async fn work(&self) -> Result<(), Status>;
}

struct Workers(Arc<Semaphore>);

impl Work for Workers {
    async fn work(&self) -> Result<(), Status> {
        let _worker = self
            .0
            .acquire()
            .await
            .map_err(|_| Status::internal("closed"))?;
        tokio::time::sleep(BASE).await;
        Ok(())
    }
}

/// 64 callers for `run`; the successes' latencies and the refusals.
async fn load(client: WorkClient, run: Duration) -> (Vec<Duration>, u64) {
    let refused = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let callers: Vec<_> = (0..64)
        .map(|_| {
            let client = client.clone();
            let refused = refused.clone();
            tokio::spawn(async move {
                let mut ok = Vec::new();
                while start.elapsed() < run {
                    let sent = Instant::now();
                    match client.work().await {
                        Ok(()) => ok.push(sent.elapsed()),
                        Err(status) => {
                            assert_eq!(status.code(), Code::ResourceExhausted, "{status}");
                            assert!(status.retry_after().is_some(), "{status}");
                            refused.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                }
                ok
            })
        })
        .collect();
    let mut ok = Vec::new();
    for caller in callers {
        ok.extend(caller.await.unwrap());
    }
    ok.sort();
    (ok, refused.load(Ordering::Relaxed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_adaptive_limit_settles_near_the_knee_and_keeps_latency_down() {
    // The control: without the limit every call queues for the workers.
    let server = erpc::Server::builder()
        .add_service(WorkServer::new(Workers(Arc::new(Semaphore::new(WORKERS)))))
        .serve([mem_addr()])
        .await
        .unwrap();
    let client = WorkClient::new(erpc::Client::new(server.local_addr().to_string()).unwrap());
    let (ok, refused) = load(client, Duration::from_secs(2)).await;
    let unlimited_p99 = ok[ok.len() * 99 / 100];
    println!("no limit: p99 {unlimited_p99:?}, {refused} refused");
    assert!(unlimited_p99 >= BASE * 6, "p99 {unlimited_p99:?}");
    server.shutdown().await;

    let shed = AdaptiveLimit::new(Default::default());
    let server = erpc::Server::builder()
        .admission(shed.clone())
        .add_service(WorkServer::new(Workers(Arc::new(Semaphore::new(WORKERS)))))
        .serve([mem_addr()])
        .await
        .unwrap();
    let client = WorkClient::new(erpc::Client::new(server.local_addr().to_string()).unwrap());
    let (ok, refused) = load(client, Duration::from_secs(4)).await;
    let limit = shed.limit();
    let p99 = ok[ok.len() * 99 / 100];
    let goodput = ok.len() as f64 / 4.0;
    println!(
        "adaptive: limit {limit}, goodput {goodput:.0}/s (capacity {:.0}/s), p99 {p99:?}, {refused} refused",
        WORKERS as f64 / BASE.as_secs_f64()
    );
    // 64 callers against 8 workers: without the limit every call would wait ~8× BASE.
    assert!(
        (WORKERS / 2..=3 * WORKERS).contains(&limit),
        "the limit is {limit}, the knee {WORKERS}"
    );
    assert!(refused > 0);
    assert!(p99 < BASE * 5, "p99 {p99:?}");
    // Goodput near capacity (400/s), allowing for probes and a loaded machine.
    assert!(
        goodput > 0.6 * WORKERS as f64 / BASE.as_secs_f64(),
        "{goodput:.0}/s"
    );
    server.shutdown().await;
}
