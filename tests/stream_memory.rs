//! A million messages through one server stream in bounded memory: flow control keeps the
//! buffers at the window, however long the stream. The heap is measured by a counting
//! allocator, so this test has a binary of its own.

#[path = "support/heap.rs"]
mod heap;
mod support;

use erpc::ServerConfig;
use support::feed::{FeedClient, start_feed};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_items_stream_through_bounded_memory() {
    let (server, addr, _) = start_feed("tcp://127.0.0.1:0", ServerConfig::default()).await;
    let client = FeedClient::new(erpc::Client::new(addr.as_str()).unwrap());
    // Warm up: the connection, its buffers and the runtime's first allocations.
    let mut warm = client.count(10_000).await.unwrap();
    while warm.message().await.unwrap().is_some() {}
    drop(warm);

    let baseline = heap::reset_peak();
    let mut numbers = client.count(1_000_000).await.unwrap();
    let mut expected = 0u64;
    while let Some(n) = numbers.message().await.unwrap() {
        assert_eq!(n, expected);
        expected += 1;
        if expected % 100_000 == 0 {
            // A consumer that pauses now and then: the producer must wait, not pile up.
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    assert_eq!(expected, 1_000_000);
    let peak = heap::peak() - baseline;
    println!(
        "1,000,000 items: peak heap growth {:.2} MiB over the warmed-up baseline",
        peak as f64 / (1 << 20) as f64
    );
    // Window (256 KiB) on the wire side, the same again in the client's queue as parsed
    // frames, the writer's and reader's buffers (256 KiB each at most) and the queues'
    // blocks: a few MiB. Unbounded buffering would be ~1,000,000 x 80 bytes = 76 MiB.
    assert!(peak < 8 << 20, "peak heap growth {peak} bytes");
    server.shutdown().await;
}
