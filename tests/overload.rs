//! Overload on the server: a per-method bulkhead keeps the other methods served while one is
//! saturated, and the adaptive limit finds the server's capacity from latency — it settles
//! near the knee where latency starts to grow with concurrency, and refuses the rest
//! `resource_exhausted` with a retry-after hint.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use erpc::per_method::PerMethod;
use erpc::server::{AdaptiveLimit, ConcurrencyLimit, MethodConcurrencyLimit};
use erpc::{Code, Status};
use support::*;
use tokio::sync::Semaphore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_method_cannot_starve_the_others() {
    // 4 running calls in all, of which `sleep` may hold 2.
    let caps =
        MethodConcurrencyLimit::new(PerMethod::new(None).method("Echo", "sleep", Some(2))).unwrap();
    let echo = EchoImpl::default();
    let probe = echo.probe.clone();
    let server = erpc::Server::builder()
        .admission(ConcurrencyLimit::new(4).unwrap())
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

#[derive(Clone)]
struct Workers {
    workers: Arc<Semaphore>,
    /// Handlers running now (waiting for a worker or holding one), and the most seen once
    /// `watching` is set.
    inside: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    watching: Arc<AtomicBool>,
}

impl Workers {
    fn new() -> Workers {
        Workers {
            workers: Arc::new(Semaphore::new(WORKERS)),
            inside: Arc::default(),
            peak: Arc::default(),
            watching: Arc::default(),
        }
    }
}

impl Work for Workers {
    async fn work(&self) -> Result<(), Status> {
        let inside = self.inside.fetch_add(1, Ordering::AcqRel) + 1;
        if self.watching.load(Ordering::Acquire) {
            self.peak.fetch_max(inside, Ordering::AcqRel);
        }
        let worker = self.workers.acquire().await;
        tokio::time::sleep(BASE).await;
        drop(worker);
        self.inside.fetch_sub(1, Ordering::AcqRel);
        Ok(())
    }
}

/// 48 callers (6× the knee) for `run`, each waiting out a refusal's retry-after hint as a
/// well-behaved client does; the latencies of the successes after the first `run / 3` (the
/// limit's learning), and the refusals.
async fn load(client: WorkClient, run: Duration, workers: &Workers) -> (Vec<Duration>, u64) {
    let refused = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let watching = workers.watching.clone();
    tokio::spawn(async move {
        tokio::time::sleep(run / 3).await;
        watching.store(true, Ordering::Release);
    });
    let callers: Vec<_> = (0..48)
        .map(|_| {
            let client = client.clone();
            let refused = refused.clone();
            tokio::spawn(async move {
                let mut ok = Vec::new();
                while start.elapsed() < run {
                    let sent = Instant::now();
                    match client.work().await {
                        Ok(()) if start.elapsed() > run / 3 => ok.push(sent.elapsed()),
                        Ok(()) => {}
                        Err(status) => {
                            assert_eq!(status.code(), Code::ResourceExhausted, "{status}");
                            let hint = status.retry_after();
                            assert!(hint.is_some(), "{status}");
                            refused.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(hint.unwrap_or_default()).await;
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
    // The control: without the limit all 48 callers pile up in the handler.
    let workers = Workers::new();
    let server = erpc::Server::builder()
        .add_service(WorkServer::new(workers.clone()))
        .serve([mem_addr()])
        .await
        .unwrap();
    let client = WorkClient::new(erpc::Client::new(server.local_addr().to_string()).unwrap());
    let (ok, refused) = load(client, Duration::from_secs(2), &workers).await;
    let (unlimited_p50, unlimited_p99) = (ok[ok.len() / 2], ok[ok.len() * 99 / 100]);
    let unlimited_peak = workers.peak.load(Ordering::Acquire);
    println!(
        "no limit: {unlimited_peak} calls at once in the handler, p50 {unlimited_p50:?} p99 {unlimited_p99:?}, {refused} refused"
    );
    assert!(unlimited_peak >= 40, "{unlimited_peak}");
    server.shutdown().await;

    let shed = AdaptiveLimit::new(Default::default());
    let workers = Workers::new();
    let server = erpc::Server::builder()
        .admission(shed.clone())
        .add_service(WorkServer::new(workers.clone()))
        .serve([mem_addr()])
        .await
        .unwrap();
    let client = WorkClient::new(erpc::Client::new(server.local_addr().to_string()).unwrap());
    let (ok, refused) = load(client, Duration::from_secs(4), &workers).await;
    let limit = shed.limit();
    let peak = workers.peak.load(Ordering::Acquire);
    let (p50, p99) = (ok[ok.len() / 2], ok[ok.len() * 99 / 100]);
    let goodput = ok.len() as f64 / (4.0 * 2.0 / 3.0);
    println!(
        "adaptive: limit {limit}, at most {peak} calls at once in the handler, goodput {goodput:.0}/s (capacity {:.0}/s), p50 {p50:?} p99 {p99:?}, {refused} refused",
        WORKERS as f64 / BASE.as_secs_f64()
    );
    // Vegas settles a few calls above the knee (~6 with its default thresholds).
    assert!(
        (WORKERS / 2..=3 * WORKERS).contains(&limit),
        "the limit is {limit}, the knee {WORKERS}"
    );
    // Once learnt, the handler never again sees the pile-up.
    assert!(peak <= 3 * WORKERS, "{peak} calls at once in the handler");
    assert!(refused > 0);
    // Latency follows (about 1.75× BASE against 6×); timing on a loaded machine is noisy,
    // so only the order is checked here — benches/overload.rs has the figures.
    assert!(
        p99 < unlimited_p99,
        "p99 {p99:?}, without the limit {unlimited_p99:?}"
    );
    server.shutdown().await;
}
