//! A bulk stream does not hold up small calls on the same connection: the writer puts small
//! frames first and at most one chunk of stream data per write.
//!
//! A binary of its own: it measures latency, so it must not share the two cores with the
//! other streaming tests (test binaries run one after another; tests in one binary run at
//! once, and with them beside it the median was 23–64 ms instead of ~13 ms).

mod support;

use std::time::{Duration, Instant};

use erpc::ServerConfig;
use support::feed::{FeedClient, start_feed};
use support::place;

#[tokio::test]
async fn a_bulk_stream_does_not_hold_up_small_calls_on_the_same_connection() {
    let place = place("tcp");
    let (server, addr, _) = start_feed(&place.addr, ServerConfig::default()).await;
    // A 64 MiB window lets the server queue far more stream data than one chunk, so only the
    // writer's scheduling (small frames first, one chunk per write) keeps the calls fast.
    let config = erpc::ClientConfig {
        stream_window: 64 << 20,
        ..Default::default()
    };
    let client = FeedClient::new(
        erpc::Client::builder()
            .config(config)
            .build(addr.as_str())
            .unwrap(),
    );
    let mut idle = Vec::with_capacity(1000);
    for i in 0..1000 {
        let start = Instant::now();
        assert_eq!(client.ping(i).await.unwrap(), i);
        idle.push(start.elapsed());
    }

    // Other processes (a loaded CI machine) can stall either side for tens of milliseconds,
    // which no scheduling inside erpc helps; broken scheduling is slow in every round. So the
    // test takes the best of up to three rounds.
    let mut best = Duration::MAX;
    for round in 0..3 {
        let busy = small_calls_beside_a_stream(&client, &idle).await;
        best = best.min(busy);
        if best < Duration::from_millis(50) {
            break;
        }
        println!("round {round}: p50 {busy:?} (loaded machine?); again");
    }
    // Ahead of a small call's response are at most one 64 KiB chunk in erpc's writer and
    // what the kernel's socket buffers hold (megabytes on loopback): 12–14 ms median on this
    // 2-core machine in a debug build, 18 ms with a build running beside it, 31 ms with the
    // whole suite running beside it. With the writer's scheduling broken on purpose (stream
    // data unbudgeted and written first) it was 89–118 ms: the bound sits between the two
    // with room on both sides.
    assert!(
        best < Duration::from_millis(50),
        "p50 {best:?} in each of three rounds"
    );
    server.shutdown().await;
}

/// Small calls for as long as a 300 MiB stream flows on the same connection; their p50.
async fn small_calls_beside_a_stream(client: &FeedClient, idle: &[Duration]) -> Duration {
    // 300 MiB in 1 MiB messages, read as fast as possible, on the same connection.
    let mut blobs = client
        .blob(300, 1 << 20)
        .timeout(Duration::from_secs(120))
        .await
        .unwrap();
    let (flowing_tx, flowing) = tokio::sync::oneshot::channel();
    let reader = tokio::spawn(async move {
        let mut bytes = 0usize;
        let mut flowing_tx = Some(flowing_tx);
        while let Some(blob) = blobs.message().await.unwrap() {
            bytes += blob.0.len();
            if let Some(tx) = flowing_tx.take() {
                let _ = tx.send(());
            }
        }
        bytes
    });
    // Small calls for as long as the stream flows.
    flowing.await.unwrap();
    let mut busy = Vec::new();
    let mut i = 0;
    while !reader.is_finished() {
        let start = Instant::now();
        assert_eq!(client.ping(i).await.unwrap(), i);
        busy.push(start.elapsed());
        i += 1;
    }
    let streamed = reader.await.unwrap();
    assert_eq!(streamed, 300 << 20);
    let mut idle = idle.to_vec();
    idle.sort();
    busy.sort();
    let pct = |v: &[Duration], p: usize| v[(v.len() * p / 100).min(v.len() - 1)];
    println!(
        "unary latency, idle: p50 {:?} p99 {:?} max {:?}; {} calls beside a 300 MiB stream: p50 {:?} p99 {:?} max {:?}",
        pct(&idle, 50),
        pct(&idle, 99),
        idle[idle.len() - 1],
        busy.len(),
        pct(&busy, 50),
        pct(&busy, 99),
        busy[busy.len() - 1]
    );
    assert!(
        busy.len() >= 10,
        "only {} calls overlapped the stream",
        busy.len()
    );
    pct(&busy, 50)
}
