//! Stream messages cost no allocation each in the engine (BENCHMARKS.md, "streams,
//! instructions per message"): each side of a stream encodes into one reused buffer and
//! batches small messages, so allocations are per batch and per read, not per message.
//! Allocations are counted by a global allocator, so this test has a binary of its own.
//! A guard: the per-thread encode arena also keeps small messages from allocating, so the
//! test passes with either in place (0.006 per message without the stream's own buffer).

#[path = "support/heap.rs"]
mod heap;
mod support;

use erpc::ServerConfig;
use support::feed::{FeedClient, start_feed};
use support::place;

const MESSAGES: u64 = 20_000;

/// Allocations per message, client and server together, of `MESSAGES` numbers streamed to
/// the server (`sum`) and `MESSAGES` streamed back (`count`). Numbers need no allocation to
/// encode or decode, so what is counted is the engine's.
async fn allocations_per_message(client: &FeedClient) -> f64 {
    let before = heap::allocations();
    let sum = client
        .sum(futures_util::stream::iter(0..MESSAGES))
        .await
        .expect("sum");
    assert_eq!(sum, MESSAGES * (MESSAGES - 1) / 2);
    let mut numbers = client.count(MESSAGES).await.expect("count");
    let mut received = 0;
    while let Some(n) = numbers.message().await.expect("a number") {
        assert_eq!(n, received);
        received += 1;
    }
    assert_eq!(received, MESSAGES);
    (heap::allocations() - before) as f64 / (2 * MESSAGES) as f64
}

#[tokio::test(flavor = "current_thread")]
async fn a_stream_message_allocates_nothing_in_the_engine() {
    let place = place("tcp");
    let (server, addr, _) = start_feed(&place.addr, ServerConfig::default()).await;
    let client = FeedClient::new(erpc::Client::builder().build(addr.as_str()).unwrap());
    // Warm-up: the connection, buffers and windows.
    allocations_per_message(&client).await;
    let per_message = allocations_per_message(&client).await;
    println!("allocations per stream message: {per_message:.3}");
    // An encode buffer per message (as before the reused buffer) shows as 1 or more; per
    // batch and per read allocations are a few per thousand messages.
    assert!(
        per_message < 0.2,
        "{per_message:.3} allocations per stream message"
    );
    server.shutdown().await;
}
