//! Streaming calls end to end: every shape on every transport, flow control, cancellation
//! from both sides, errors and deadlines mid-stream, server push under each overflow policy,
//! and a bulk stream sharing a connection with small unary calls.

use crate::support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use erpc::{Code, Event, ServerConfig};
use futures_util::StreamExt;
use support::feed::{FeedClient, FeedImpl, start_feed};
use support::{Msg, STREAM_TRANSPORTS, place, wait_for};

async fn feed_on(transport: &str) -> (erpc::ServerHandle, FeedClient, FeedImpl, support::Place) {
    let place = place(transport);
    let (handle, addr, feed) = start_feed(&place.addr, ServerConfig::default()).await;
    let client = FeedClient::new(
        erpc::Client::builder()
            .transport(support::client_options())
            .build(addr.as_str())
            .expect("address"),
    );
    (handle, client, feed, place)
}

#[tokio::test]
async fn every_call_shape_works_on_every_transport() {
    for transport in STREAM_TRANSPORTS {
        let (server, client, _, _place) = feed_on(transport).await;
        let numbers: Vec<u64> = client
            .count(1000)
            .await
            .unwrap()
            .map(|n| n.unwrap())
            .collect()
            .await;
        assert_eq!(numbers, (0..1000).collect::<Vec<_>>(), "{transport}");

        let sum = client
            .sum(futures_util::stream::iter(1..=1000u64))
            .await
            .unwrap();
        assert_eq!(sum, 500_500, "{transport}");

        let empty = client.sum(futures_util::stream::empty()).await.unwrap();
        assert_eq!(empty, 0, "{transport}");

        let mut echoed = client
            .echo(futures_util::stream::iter(
                (0..50).map(|i| Msg::new(i, 100)),
            ))
            .await
            .unwrap();
        for i in 0..50 {
            assert_eq!(echoed.message().await.unwrap(), Some(Msg::new(i, 100)));
        }
        assert_eq!(echoed.message().await.unwrap(), None, "{transport}");
        server.shutdown().await;
    }
}

#[tokio::test]
async fn bidirectional_echo_with_both_sides_sending_at_once() {
    let (server, client, _, _place) = feed_on("tcp").await;
    // Far more than one window each way: without both directions flowing independently
    // the call would stall once the windows filled.
    const N: i64 = 5_000;
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let sender = tokio::spawn(async move {
        for i in 0..N {
            tx.send(Msg::new(i, 512)).await.unwrap();
        }
    });
    let mut responses = client
        .echo(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|m| (m, rx))
        }))
        .await
        .unwrap();
    let mut next = 0;
    while let Some(msg) = responses.message().await.unwrap() {
        assert_eq!(msg, Msg::new(next, 512));
        next += 1;
    }
    assert_eq!(next, N);
    sender.await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn large_messages_are_chunked_and_reassembled() {
    let (server, client, _, _place) = feed_on("tcp").await;
    for size in [0u64, 1, 65_536, 65_537, 1 << 20, 4 << 20] {
        let mut blobs = client.blob(3, size).await.unwrap();
        for _ in 0..3 {
            let blob = blobs.message().await.unwrap().expect("a blob");
            assert_eq!(blob.0.len() as u64, size);
            assert!(blob.0.iter().all(|b| *b == 0x5a));
        }
        assert!(blobs.message().await.unwrap().is_none());
    }
    // One byte over the limit: the stream fails with a clear status, the connection lives.
    let mut over = client.blob(1, (4 << 20) + 1).await.unwrap();
    let status = over.message().await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status}");
    assert_eq!(client.ping(5).await.unwrap(), 5);
    server.shutdown().await;
}

#[tokio::test]
async fn an_error_mid_stream_arrives_as_a_status() {
    let (server, client, _, _place) = feed_on("tcp").await;
    let mut numbers = client.fail_after(5).await.unwrap();
    for i in 0..5 {
        assert_eq!(numbers.message().await.unwrap(), Some(i));
    }
    let status = numbers.message().await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert_eq!(status.message(), "failed on purpose");
    assert_eq!(&status.details()[..], &[1, 2, 3]);
    // After the error the stream is over.
    assert!(numbers.next().await.is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn dropping_the_stream_cancels_the_servers_handler() {
    let (server, client, feed, _place) = feed_on("tcp").await;
    let mut numbers = client.hang().await.unwrap();
    assert_eq!(numbers.message().await.unwrap(), Some(7));
    assert_eq!(*feed.aborted.borrow(), 0);
    drop(numbers);
    wait_for(&feed.aborted, 1, Duration::from_secs(5)).await;
    assert_eq!(client.ping(1).await.unwrap(), 1);
    server.shutdown().await;
}

/// A stream that says when it is dropped.
struct Watched<S> {
    inner: S,
    dropped: Option<tokio::sync::oneshot::Sender<()>>,
}

impl<S: futures_util::Stream + Unpin> futures_util::Stream for Watched<S> {
    type Item = S::Item;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<S::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

impl<S> Drop for Watched<S> {
    fn drop(&mut self) {
        if let Some(dropped) = self.dropped.take() {
            let _ = dropped.send(());
        }
    }
}

#[tokio::test]
async fn the_server_ending_the_call_stops_the_clients_sending_task() {
    let (server, client, _, _place) = feed_on("tcp").await;
    let (dropped_tx, dropped) = tokio::sync::oneshot::channel();
    // Endless: only the call ending can stop it.
    let requests = Watched {
        inner: futures_util::stream::iter(0u64..),
        dropped: Some(dropped_tx),
    };
    let sum = client.take(requests).await.unwrap();
    assert_eq!(sum, 1 + 2);
    tokio::time::timeout(Duration::from_secs(5), dropped)
        .await
        .expect("the client kept feeding an ended call")
        .unwrap();
    assert_eq!(client.ping(2).await.unwrap(), 2);
    server.shutdown().await;
}

#[tokio::test]
async fn the_deadline_covers_the_whole_stream() {
    let (server, client, feed, _place) = feed_on("tcp").await;
    let started = Instant::now();
    let mut numbers = client
        .hang()
        .timeout(Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(numbers.message().await.unwrap(), Some(7));
    let status = numbers.message().await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // The server's own copy of the deadline aborted the handler.
    wait_for(&feed.aborted, 1, Duration::from_secs(5)).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_slow_consumer_holds_the_producer_instead_of_buffering() {
    let (server, client, feed, _place) = feed_on("tcp").await;
    let mut numbers = client.count(1_000_000).await.unwrap();
    assert_eq!(numbers.message().await.unwrap(), Some(0));
    // Wait until the producer stops: it must, once the window is used up.
    let mut held_at = feed.produced.load(Ordering::Relaxed);
    let by = Instant::now() + Duration::from_secs(10);
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = feed.produced.load(Ordering::Relaxed);
        if now == held_at {
            break;
        }
        assert!(
            Instant::now() < by,
            "the producer never stopped: {now} produced"
        );
        held_at = now;
    }
    // And it stays held while nobody reads.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later = feed.produced.load(Ordering::Relaxed);
    assert_eq!(held_at, later, "the producer kept going while nobody read");
    // Each number costs at least 1 + 32 bytes of the 256 KiB window: at most 7,943 can be
    // in flight, plus the one the producer holds.
    assert!(
        held_at <= 262_144 / 33 + 1,
        "{held_at} produced with one message consumed: buffered, not held"
    );
    println!("producer held after {held_at} messages of 1,000,000 (window 256 KiB)");
    // Reading resumes it, to the end.
    let mut expected = 1;
    while let Some(n) = numbers.message().await.unwrap() {
        assert_eq!(n, expected);
        expected += 1;
    }
    assert_eq!(expected, 1_000_000);
    server.shutdown().await;
}

#[tokio::test]
async fn push_with_back_pressure_holds_the_pusher() {
    let (server, client, feed, _place) = feed_on("tcp").await;
    let mut updates = client.subscribe(None, 4).await.unwrap();
    let pusher = feed.next_pusher().await;
    // The window and the channel fill, then the pusher is held.
    let pushing = tokio::spawn(async move {
        for n in 0..20_000u64 {
            pusher.send(n).await.unwrap();
        }
        pusher
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!pushing.is_finished(), "the pusher was not held back");
    let mut next = 0;
    while next < 20_000 {
        assert_eq!(updates.message().await.unwrap(), Some(next));
        next += 1;
    }
    let pusher = pushing.await.unwrap();
    assert_eq!(pusher.dropped(), 0);
    assert_eq!(updates.dropped(), 0);
    drop(pusher);
    assert_eq!(updates.message().await.unwrap(), None);
    server.shutdown().await;
}

/// Push 100,000 numbers at a client that is not reading; then read everything.
async fn push_and_drop(drop_oldest: bool) -> (Vec<u64>, Vec<u64>, u64) {
    let (server, client, feed, _place) = feed_on("tcp").await;
    let mut updates = client.subscribe(Some(drop_oldest), 16).await.unwrap();
    let pusher = feed.next_pusher().await;
    for n in 0..100_000u64 {
        pusher.send(n).await.unwrap();
    }
    let dropped = pusher.dropped();
    drop(pusher);
    let (mut messages, mut gaps) = (Vec::new(), Vec::new());
    while let Some(event) = updates.event().await.unwrap() {
        match event {
            Event::Message(n) => messages.push(n),
            Event::Dropped(n) => gaps.push(n),
        }
    }
    assert_eq!(updates.dropped(), dropped);
    server.shutdown().await;
    (messages, gaps, dropped)
}

#[tokio::test]
async fn push_dropping_the_oldest_tells_the_client_what_it_lost() {
    let (messages, gaps, dropped) = push_and_drop(true).await;
    assert!(
        dropped > 0,
        "nothing was dropped: the test did not overflow"
    );
    // Never a silent drop: every number is either received or counted in a gap.
    assert_eq!(messages.len() as u64 + gaps.iter().sum::<u64>(), 100_000);
    assert_eq!(gaps.iter().sum::<u64>(), dropped);
    // The newest survive.
    assert_eq!(messages.last(), Some(&99_999));
    assert!(messages.windows(2).all(|w| w[0] < w[1]));
    println!(
        "drop-oldest: {} received, {dropped} dropped in {} gaps",
        messages.len(),
        gaps.len()
    );
}

#[tokio::test]
async fn push_dropping_the_newest_tells_the_client_what_it_lost() {
    let (messages, gaps, dropped) = push_and_drop(false).await;
    assert!(
        dropped > 0,
        "nothing was dropped: the test did not overflow"
    );
    assert_eq!(messages.len() as u64 + gaps.iter().sum::<u64>(), 100_000);
    assert_eq!(gaps.iter().sum::<u64>(), dropped);
    // The first ones survive.
    assert_eq!(messages.first(), Some(&0));
    assert!(messages.windows(2).all(|w| w[0] < w[1]));
    println!(
        "drop-newest: {} received, {dropped} dropped in {} gaps",
        messages.len(),
        gaps.len()
    );
}

#[tokio::test]
async fn calls_of_the_wrong_shape_are_refused_clearly() {
    let (server, client, _, _place) = feed_on("tcp").await;
    let raw = client.client();
    // A streaming method called as unary.
    let status = raw.call::<u64, u64>("Feed", "count", 3).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert!(status.message().contains("streaming"), "{status}");
    // A unary method opened as a stream.
    let mut opened = raw
        .server_stream::<u64, u64>("Feed", "ping", 3)
        .await
        .unwrap();
    let status = opened.message().await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status}");
    // Unknown service and method.
    for (service, method) in [("Nope", "count"), ("Feed", "nope")] {
        let mut opened = raw
            .server_stream::<u64, u64>(service, method, 3)
            .await
            .unwrap();
        let status = opened.message().await.unwrap_err();
        assert_eq!(status.code(), Code::Unimplemented, "{status}");
    }
    assert_eq!(client.ping(3).await.unwrap(), 3);
    server.shutdown().await;
}

#[tokio::test]
async fn server_middleware_sees_the_opening_of_a_stream() {
    use erpc::{Middleware, Next, Request, Response, Status};
    struct Gate;
    #[async_trait::async_trait]
    impl Middleware for Gate {
        async fn call(&self, request: Request, next: Next<'_>) -> Result<Response, Status> {
            assert!(request.is_stream() || request.method() == "ping");
            match request.context().metadata().get_str("token") {
                Some("yes") => next.run(request).await,
                _ => Err(Status::unauthenticated("no token")),
            }
        }
    }
    let handle = erpc::Server::builder()
        .middleware(Gate)
        .add_service(support::feed::FeedServer::new(FeedImpl::default()))
        .serve([support::mem_addr().as_str()])
        .await
        .unwrap();
    let client =
        FeedClient::new(erpc::Client::new(handle.local_addr().to_string().as_str()).unwrap());
    let mut refused = client.count(3).await.unwrap();
    assert_eq!(
        refused.message().await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let allowed: Vec<u64> = client
        .count(3)
        .metadata("token", "yes")
        .await
        .unwrap()
        .map(|n| n.unwrap())
        .collect()
        .await;
    assert_eq!(allowed, [0, 1, 2]);
    // A key the server could never read is refused before the stream opens.
    let bad = client.count(3).metadata("Token", "yes").await;
    let refused = match bad {
        Ok(mut stream) => stream.message().await.unwrap_err(),
        Err(status) => status,
    };
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused}");
    assert!(refused.message().contains("\"Token\""), "{refused}");
    handle.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_open_streams_with_unavailable_after_the_grace_period() {
    let place = place("tcp");
    let config = ServerConfig {
        shutdown_grace: Duration::from_millis(100),
        ..ServerConfig::default()
    };
    let (server, addr, feed) = start_feed(&place.addr, config).await;
    let client = FeedClient::new(erpc::Client::new(addr.as_str()).unwrap());
    let mut numbers = client.hang().await.unwrap();
    assert_eq!(numbers.message().await.unwrap(), Some(7));
    server.shutdown().await;
    let status = numbers.message().await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status}");
    wait_for(&feed.aborted, 1, Duration::from_secs(5)).await;
}

/// The connection goes through a relay that is cut, both sockets closed at once: the server
/// says nothing more. (Killing the server by dropping its runtime, as this test did, is not
/// silent: the runtime drops its tasks in no set order, and a call's task dropped before its
/// connection's answers `internal`, "the call's task was stopped before answering", as
/// documented — which a loaded machine showed.)
#[tokio::test]
async fn a_lost_connection_fails_open_streams_with_unavailable() {
    let (server, addr, _) = start_feed("tcp://127.0.0.1:0", ServerConfig::default()).await;
    let backend = addr.strip_prefix("tcp://").unwrap_or(&addr).to_owned();
    let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relayed = format!("tcp://{}", relay.local_addr().unwrap());
    let relaying = tokio::spawn(async move {
        let (mut inbound, _) = relay.accept().await.unwrap();
        let mut outbound = tokio::net::TcpStream::connect(backend).await.unwrap();
        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
    });
    let client = FeedClient::new(erpc::Client::new(relayed.as_str()).unwrap());
    let mut numbers = client.hang().await.unwrap();
    assert_eq!(numbers.message().await.unwrap(), Some(7));
    // Cut: the relay's task, its listener and both sockets dropped.
    relaying.abort();
    assert!(relaying.await.unwrap_err().is_cancelled());
    let status = tokio::time::timeout(Duration::from_secs(5), numbers.message())
        .await
        .expect("the stream learned of the lost connection")
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status}");
    server.shutdown().await;
}
