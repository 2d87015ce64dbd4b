//! A stream opened without a deadline lives (PROTOCOL.md §8, §13): neither the client's nor
//! the server's default call deadline ends it, and an explicit stream deadline is honoured
//! without being clamped to the unary maximum.

use crate::support;

use std::time::Duration;

use erpc::protocol::{Frame, Kind};
use erpc::{Code, ServerConfig};
use support::feed::{FeedClient, start_feed};
use support::{RawPeer, mem_addr};

/// Defaults short enough that a stream governed by them would end within the test.
fn short_defaults() -> ServerConfig {
    ServerConfig {
        default_deadline: Duration::from_millis(200),
        max_deadline: Duration::from_millis(200),
        // Streams without deadlines are still open at the end of a test.
        shutdown_grace: Duration::from_millis(100),
        ..ServerConfig::default()
    }
}

async fn feed_client(addr: &str) -> FeedClient {
    FeedClient::new(
        erpc::Client::builder()
            .timeout(Duration::from_millis(200))
            .build(addr)
            .expect("address"),
    )
}

#[tokio::test]
async fn a_stream_without_a_deadline_outlives_both_default_deadlines() {
    let (server, addr, _) = start_feed(&mem_addr(), short_defaults()).await;
    let client = feed_client(&addr).await;
    let mut stream = client.hang().await.unwrap();
    assert_eq!(stream.message().await.unwrap(), Some(7));
    // Five times either default: still open, nothing ended it.
    let waited = tokio::time::timeout(Duration::from_secs(1), stream.message()).await;
    assert!(waited.is_err(), "the stream ended: {waited:?}");
    drop(stream);
    server.shutdown().await;
}

#[tokio::test]
async fn a_stream_with_a_deadline_ends_at_it_unclamped() {
    let (server, addr, _) = start_feed(&mem_addr(), short_defaults()).await;
    let client = feed_client(&addr).await;
    let started = std::time::Instant::now();
    let mut stream = client
        .hang()
        .timeout(Duration::from_millis(700))
        .await
        .unwrap();
    assert_eq!(stream.message().await.unwrap(), Some(7));
    let end = stream
        .message()
        .await
        .expect_err("the deadline ends the stream");
    assert_eq!(end.code(), Code::DeadlineExceeded);
    let took = started.elapsed();
    // Not the 200 ms unary clamp: the stream's own 700 ms.
    assert!(
        took >= Duration::from_millis(650),
        "ended after {took:?}, before its own deadline"
    );
    server.shutdown().await;
}

/// Send `open`, then the request (msgpack nil: no arguments) and this side's end (§13).
async fn open_hang(peer: &mut RawPeer, open: Frame) {
    peer.send(&open).await;
    let mut request = Frame::new(Kind::STREAM_DATA, 1);
    request.body = bytes::Bytes::from_static(&[0xc0]);
    peer.send(&request).await;
    peer.send(&Frame::new(Kind::STREAM_END, 1)).await;
}

#[tokio::test]
async fn a_stream_open_without_a_deadline_field_is_not_ended_by_the_server() {
    // A client written from PROTOCOL.md that sends no deadline field.
    let (server, addr, _) = start_feed(&mem_addr(), short_defaults()).await;
    let mut peer = RawPeer::connect(&addr).await;
    let mut open = Frame::new(Kind::STREAM_OPEN, 1);
    open.head.service = Some("Feed".into());
    open.head.method = Some("hang".into());
    open_hang(&mut peer, open).await;
    let mut saw_data = false;
    let quiet = tokio::time::timeout(Duration::from_millis(800), async {
        loop {
            let frame = peer.recv_reply().await.expect("connection stays open");
            match frame.header.kind {
                Kind::STREAM_DATA => saw_data = true,
                Kind::STREAM_WINDOW => {}
                Kind::STREAM_END => return frame,
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await;
    assert!(saw_data, "the stream's first message arrived");
    assert!(quiet.is_err(), "the server ended the stream: {quiet:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_stream_open_with_a_deadline_field_ends_at_it() {
    let (server, addr, _) = start_feed(&mem_addr(), short_defaults()).await;
    let mut peer = RawPeer::connect(&addr).await;
    let mut open = Frame::new(Kind::STREAM_OPEN, 1);
    open.head.service = Some("Feed".into());
    open.head.method = Some("hang".into());
    open.head.deadline_micros = Some(100_000);
    open_hang(&mut peer, open).await;
    let end = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            let frame = peer.recv_reply().await.expect("connection stays open");
            if frame.header.kind == Kind::STREAM_END {
                return frame;
            }
        }
    })
    .await
    .expect("an explicit stream deadline ends the stream");
    assert_eq!(end.header.status, Code::DeadlineExceeded as u8);
    server.shutdown().await;
}

#[erpc::service]
pub trait Watch {
    /// One event, then nothing until the server shuts down.
    async fn follow(&self, cx: erpc::Context) -> Result<erpc::ServerStream<u64>, erpc::Status>;
}

struct Follow;

impl Watch for Follow {
    async fn follow(&self, cx: erpc::Context) -> Result<erpc::ServerStream<u64>, erpc::Status> {
        use futures_util::StreamExt;
        let events =
            futures_util::stream::once(async { Ok(1) }).chain(futures_util::stream::pending());
        Ok(erpc::ServerStream::new(events).until(
            cx.shutting_down(),
            erpc::Status::unavailable("shutting down; resume from 1"),
        ))
    }
}

#[tokio::test]
async fn a_watch_ends_at_a_graceful_shutdown_instead_of_holding_it() {
    let server = erpc::Server::builder()
        .shutdown_grace(Duration::from_secs(30))
        .add_service(WatchServer::new(Follow))
        .serve([mem_addr()])
        .await
        .unwrap();
    let client = WatchClient::new(erpc::Client::new(server.local_addr()).unwrap());
    let mut events = client.follow().await.unwrap();
    assert_eq!(events.message().await.unwrap(), Some(1));
    let started = std::time::Instant::now();
    let stopped = tokio::spawn(server.shutdown());
    let end = events.message().await.unwrap_err();
    assert_eq!(end.code(), Code::Unavailable);
    assert!(end.message().contains("resume from 1"), "{end}");
    stopped.await.unwrap();
    // Not the 30 s grace: the stream ended at once.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
