//! A task erpc runs for a call that panics ends that call at once, with a status naming what
//! panicked, and frees the server's running-call slot: the call never waits for its deadline.
//!
//! Every server here runs at most one call per connection (`max_in_flight: 1`), so the call
//! right after a failure is served only if the failed call's slot was freed.

use std::time::{Duration, Instant};

use erpc::stream::push::{self, Overflow, Pusher};
use erpc::{Code, ServerConfig, ServerStream, Status, Streaming};
use futures_util::StreamExt;
use tokio::sync::mpsc;

#[erpc::service]
pub trait Faulty {
    /// The sum of the numbers sent (client streaming).
    async fn sum(&self, numbers: Streaming<u64>) -> Result<u64, Status>;
    /// Each number doubled, as it arrives (bidirectional).
    async fn double(&self, numbers: Streaming<u64>) -> Result<ServerStream<u64>, Status>;
    /// 0, 1, then the response stream panics.
    async fn count_then_panic(&self) -> Result<ServerStream<u64>, Status>;
    /// Each number doubled; the response stream panics on the number 2 (bidirectional).
    async fn double_until_panic(
        &self,
        numbers: Streaming<u64>,
    ) -> Result<ServerStream<u64>, Status>;
    /// Each number pushed back by a task of the handler's, which panics on the number 2.
    async fn relay(&self, numbers: Streaming<u64>) -> Result<ServerStream<u64>, Status>;
    /// A push subscription; its pusher goes to the test.
    async fn subscribe(&self) -> Result<ServerStream<u64>, Status>;
    /// The number back.
    async fn ping(&self, n: u64) -> Result<u64, Status>;
}

#[derive(Clone)]
struct FaultyImpl {
    pushers: mpsc::UnboundedSender<Pusher<u64>>,
}

impl Faulty for FaultyImpl {
    async fn sum(&self, mut numbers: Streaming<u64>) -> Result<u64, Status> {
        let mut total = 0;
        while let Some(n) = numbers.message().await? {
            total += n;
        }
        Ok(total)
    }

    async fn double(&self, numbers: Streaming<u64>) -> Result<ServerStream<u64>, Status> {
        Ok(ServerStream::new(numbers.map(|n| n.map(|n| n * 2))))
    }

    async fn count_then_panic(&self) -> Result<ServerStream<u64>, Status> {
        Ok(ServerStream::new(futures_util::stream::iter(0..3).map(
            |n| {
                if n == 2 {
                    panic!("the response stream fails on purpose")
                }
                Ok(n)
            },
        )))
    }

    async fn double_until_panic(
        &self,
        numbers: Streaming<u64>,
    ) -> Result<ServerStream<u64>, Status> {
        Ok(ServerStream::new(numbers.map(|n| {
            let n = n?;
            if n == 2 {
                panic!("the response stream fails on purpose")
            }
            Ok(n * 2)
        })))
    }

    async fn relay(&self, mut numbers: Streaming<u64>) -> Result<ServerStream<u64>, Status> {
        let (pusher, stream) = push::channel(16, Overflow::Block);
        tokio::spawn(async move {
            while let Ok(Some(n)) = numbers.message().await {
                if n == 2 {
                    panic!("the relaying task fails on purpose")
                }
                if pusher.send(n).await.is_err() {
                    return;
                }
            }
        });
        Ok(stream)
    }

    async fn subscribe(&self) -> Result<ServerStream<u64>, Status> {
        let (pusher, stream) = push::channel(16, Overflow::Block);
        let _ = self.pushers.send(pusher);
        Ok(stream)
    }

    async fn ping(&self, n: u64) -> Result<u64, Status> {
        Ok(n)
    }
}

struct Setup {
    server: erpc::ServerHandle,
    client: FaultyClient,
    pushers: mpsc::UnboundedReceiver<Pusher<u64>>,
}

/// A server running one call at a time, and a client whose calls allow 8 s.
async fn setup() -> Setup {
    let (tx, pushers) = mpsc::unbounded_channel();
    let server = erpc::Server::builder()
        .config(ServerConfig {
            max_in_flight: 1,
            ..ServerConfig::default()
        })
        .add_service(FaultyServer::new(FaultyImpl { pushers: tx }))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("server starts");
    let client = erpc::Client::builder()
        .timeout(Duration::from_secs(8))
        .build(server.local_addr().to_string().as_str())
        .expect("address");
    Setup {
        server,
        client: FaultyClient::new(client),
        pushers,
    }
}

/// The numbers 0, 1, then a panic: the request stream of the report.
fn panicking_requests() -> impl futures_util::Stream<Item = u64> + Send + 'static {
    futures_util::stream::iter(0..3u64).map(|n| {
        if n == 2 {
            panic!("the request stream fails on purpose")
        }
        n
    })
}

/// Two messages, `first` then `second`, then the stream's failure — not its end.
async fn two_then_failure(stream: &mut Streaming<u64>, first: u64, second: u64) -> Status {
    assert_eq!(stream.message().await.unwrap(), Some(first));
    assert_eq!(stream.message().await.unwrap(), Some(second));
    stream
        .message()
        .await
        .expect_err("the call must not end as if it had succeeded")
}

/// The call failed well before its 8 s deadline, with `code` and a message containing
/// `cause`; and the server, which runs one call at a time, serves the next call at once.
/// Then the server shuts down.
async fn failed_fast(setup: Setup, started: Instant, status: Status, code: Code, cause: &str) {
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(4),
        "failed only after {took:?}: {status}"
    );
    assert_eq!(status.code(), code, "{status}");
    assert!(status.message().contains(cause), "{status}");
    let next = tokio::time::timeout(Duration::from_secs(4), setup.client.ping(7))
        .await
        .expect("the next call is answered at once");
    assert_eq!(next.expect("the failed call's slot was freed"), 7);
    setup.server.shutdown().await;
}

#[tokio::test]
async fn a_panicking_request_stream_fails_a_client_streaming_call_at_once() {
    let setup = setup().await;
    let started = Instant::now();
    let status = setup.client.sum(panicking_requests()).await.unwrap_err();
    failed_fast(
        setup,
        started,
        status,
        Code::Cancelled,
        "request stream panicked",
    )
    .await;
}

#[tokio::test]
async fn a_panicking_request_stream_fails_a_bidirectional_call_at_once() {
    let setup = setup().await;
    let started = Instant::now();
    let mut doubled = setup.client.double(panicking_requests()).await.unwrap();
    let mut seen = Vec::new();
    let status = loop {
        match doubled.message().await {
            Ok(Some(n)) => seen.push(n),
            Ok(None) => panic!("the call succeeded with {seen:?}"),
            Err(status) => break status,
        }
    };
    assert!(seen.len() <= 2, "{seen:?}");
    failed_fast(
        setup,
        started,
        status,
        Code::Cancelled,
        "request stream panicked",
    )
    .await;
}

#[tokio::test]
async fn a_response_stream_panicking_midway_fails_a_server_streaming_call() {
    let setup = setup().await;
    let started = Instant::now();
    let mut numbers = setup.client.count_then_panic().await.unwrap();
    let status = two_then_failure(&mut numbers, 0, 1).await;
    failed_fast(
        setup,
        started,
        status,
        Code::Internal,
        "response stream panicked",
    )
    .await;
}

#[tokio::test]
async fn a_response_stream_panicking_fails_a_bidirectional_call() {
    let setup = setup().await;
    let started = Instant::now();
    let mut doubled = setup
        .client
        .double_until_panic(futures_util::stream::iter(0..10u64))
        .await
        .unwrap();
    let status = two_then_failure(&mut doubled, 0, 2).await;
    failed_fast(
        setup,
        started,
        status,
        Code::Internal,
        "response stream panicked",
    )
    .await;
}

#[tokio::test]
async fn a_handlers_pushing_task_panicking_fails_a_bidirectional_call() {
    let setup = setup().await;
    let started = Instant::now();
    let mut relayed = setup
        .client
        .relay(futures_util::stream::iter(0..10u64))
        .await
        .unwrap();
    let status = two_then_failure(&mut relayed, 0, 1).await;
    failed_fast(setup, started, status, Code::Internal, "pusher panicked").await;
}

#[tokio::test]
async fn a_panicking_push_source_fails_its_subscription() {
    let mut setup = setup().await;
    let started = Instant::now();
    let mut updates = setup.client.subscribe().await.unwrap();
    let pusher = tokio::time::timeout(Duration::from_secs(5), setup.pushers.recv())
        .await
        .expect("subscribed")
        .expect("a pusher");
    let source = tokio::spawn(async move {
        pusher.send(10).await.unwrap();
        pusher.send(11).await.unwrap();
        panic!("the push source fails on purpose");
    });
    assert!(source.await.unwrap_err().is_panic());
    let status = two_then_failure(&mut updates, 10, 11).await;
    failed_fast(setup, started, status, Code::Internal, "pusher panicked").await;
}
