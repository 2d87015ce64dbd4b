//! After a busy workload, cancellations, expiries and a shutdown, the runtime's tasks, the
//! process's file descriptors and its heap are back to where they started: nothing the engine
//! spawned, opened or allocated is left behind. The heap is measured by a counting allocator,
//! so this test has a binary of its own.

#[path = "support/heap.rs"]
mod heap;
mod support;

use std::time::Duration;

use erpc::ServerConfig;
use support::*;

/// A server, `calls` calls on one client (a third answered, a third expiring on both sides, a
/// third cancelled by dropping), a oneway, a graceful shutdown and the client closed.
async fn busy_workload(calls: u64) {
    let server = start("tcp", ServerConfig::default()).await;
    let client = client(&server.addr);
    let mut running = tokio::task::JoinSet::new();
    for i in 0..calls {
        let client = client.clone();
        running.spawn(async move {
            match i % 3 {
                0 => client.len("x".into()).await.map(|_| ()),
                // expires on both sides
                1 => client
                    .sleep(500)
                    .timeout(Duration::from_millis(20))
                    .await
                    .map(|_| ()),
                // cancelled by dropping
                _ => {
                    tokio::time::timeout(Duration::from_millis(10), client.sleep(500).into_future())
                        .await
                        .unwrap_or(Ok(0))
                        .map(|_| ())
                }
            }
        });
    }
    while running.join_next().await.is_some() {}
    client.notify(1).await.unwrap();
    // Nothing is running, so shutdown must not wait out any timeout (the 5 s flush limit
    // is what a task holding the connection open would cost).
    assert!(
        server.handle.shutdown_timeout(Duration::from_secs(2)).await,
        "shutdown hung"
    );
    client.client().close();
}

/// Wait until no more than `baseline` tasks are alive.
async fn tasks_back_to(baseline: usize) {
    let metrics = tokio::runtime::Handle::current().metrics();
    // Well under the server's 5 s flush timeout, which would otherwise mask a task that only
    // ends when that timeout fires.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        let alive = metrics.num_alive_tasks();
        if alive <= baseline {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{alive} tasks alive, baseline {baseline}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_return_to_baseline() {
    const CALLS: u64 = 500;
    let baseline = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    let fds_before = open_fds();
    // A first round pays for what is allocated once per process (the runtime's timer wheel
    // and I/O driver slabs, tracing's callsite registry), so the heap is compared afterwards.
    busy_workload(30).await;
    tasks_back_to(baseline).await;
    let heap_before = heap::reset_peak();
    let rss_before = status_kib("VmRSS");

    busy_workload(CALLS).await;
    tasks_back_to(baseline).await;
    assert_eq!(open_fds(), fds_before, "file descriptors leaked");
    let heap_after = heap::live();
    let grown = heap_after as i64 - heap_before as i64;
    println!(
        "{CALLS} calls (a third answered, expired, cancelled) and a shutdown: tasks and fds back \
         to baseline; heap {heap_before} B before, {heap_after} B after ({grown:+} B), peak \
         +{:.2} MiB during; RSS {rss_before} KiB before, {} KiB after, peak (VmHWM) {} KiB",
        (heap::peak() - heap_before) as f64 / (1 << 20) as f64,
        status_kib("VmRSS"),
        status_kib("VmHWM"),
    );
    // What a leak of per-call state would show: 500 calls leaving even 100 bytes each is
    // 50 KB. Allocator caches do not count here (the allocator counts live allocations).
    assert!(
        grown < 32 << 10,
        "the heap grew {grown} B over the workload"
    );
}

/// Open file descriptors of this process (Linux).
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// A `kB` field of /proc/self/status (Linux; 0 elsewhere).
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

use std::future::IntoFuture;
