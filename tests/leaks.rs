//! After a busy workload, cancellations, expiries and a shutdown, the runtime's tasks and the
//! process's file descriptors are back to where they started: nothing the engine spawned or
//! opened is left behind.

mod support;

use std::time::Duration;

use erpc::ServerConfig;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_return_to_baseline() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let baseline = metrics.num_alive_tasks();
    let fds_before = open_fds();
    {
        let server = start("tcp", ServerConfig::default()).await;
        let client = client(&server.addr);
        let mut calls = tokio::task::JoinSet::new();
        for i in 0..500u64 {
            let client = client.clone();
            calls.spawn(async move {
                match i % 3 {
                    0 => client.len("x".into()).await.map(|_| ()),
                    // expires on both sides
                    1 => client
                        .sleep(500)
                        .timeout(Duration::from_millis(20))
                        .await
                        .map(|_| ()),
                    // cancelled by dropping
                    _ => tokio::time::timeout(
                        Duration::from_millis(10),
                        client.sleep(500).into_future(),
                    )
                    .await
                    .unwrap_or(Ok(0))
                    .map(|_| ()),
                }
            });
        }
        while calls.join_next().await.is_some() {}
        client.notify(1).await.unwrap();
        // Nothing is running, so shutdown must not wait out any timeout (the 5 s flush limit
        // is what a task holding the connection open would cost).
        assert!(
            server.handle.shutdown_timeout(Duration::from_secs(2)).await,
            "shutdown hung"
        );
        client.client().close();
    }
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
    assert_eq!(open_fds(), fds_before, "file descriptors leaked");
}

/// Open file descriptors of this process (Linux).
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

use std::future::IntoFuture;
