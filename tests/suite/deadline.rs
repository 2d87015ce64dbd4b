//! Deadlines: every call has one, it travels relative, the server aborts the handler, and a
//! handler's own calls inherit what is left.

use crate::support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use erpc::{Code, Context, ServerConfig, Status};
use support::*;

#[tokio::test]
async fn the_deadline_travels_relative() {
    let server = start("mem", ServerConfig::default()).await;
    let client = client(&server.addr);
    let left = client
        .remaining_ms()
        .timeout(Duration::from_millis(3_000))
        .await
        .unwrap();
    assert!((2_000..=3_000).contains(&left), "{left} ms left");
    // Without a per-call timeout the client default (10 s) applies.
    let left = client.remaining_ms().await.unwrap();
    assert!((9_000..=10_000).contains(&left), "{left} ms left");
}

#[tokio::test]
async fn extreme_deadlines_are_clamped() {
    let server = start(
        "tcp",
        ServerConfig {
            max_deadline: Duration::from_secs(60),
            ..ServerConfig::default()
        },
    )
    .await;
    let client = client(&server.addr);
    let left = client.remaining_ms().timeout(Duration::MAX).await.unwrap();
    assert!((59_000..=60_000).contains(&left), "{left} ms left");
    // A zero deadline has passed before the call is sent.
    let err = client
        .remaining_ms()
        .timeout(Duration::ZERO)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded);
    // A raw zero on the wire is refused by the server, not run.
    let mut peer = RawPeer::connect(&server.addr).await;
    // msgpack nil (0xc0) is the unit request `()`.
    let mut frame = request(1, "remaining_ms", erpc::CodecId::MSGPACK, &[0xc0]);
    frame.head.deadline_micros = Some(0);
    peer.send(&frame).await;
    let reply = peer.recv_reply().await.unwrap();
    assert_eq!(reply.header.status, Code::DeadlineExceeded as u8);
    frame.header.request_id = 2;
    frame.head.deadline_micros = Some(u64::MAX);
    peer.send(&frame).await;
    let reply = peer.recv_reply().await.unwrap();
    assert_eq!(reply.header.status, 0, "{:?}", reply.head.message);
}

/// A relay whose handler calls the echo server: its call inherits the relay's deadline.
#[erpc::service]
trait Relay {
    async fn relay_sleep(&self, cx: Context, ms: u64) -> Result<u64, Status>;
}

struct RelayImpl(EchoClient);

impl Relay for RelayImpl {
    async fn relay_sleep(&self, _cx: Context, ms: u64) -> Result<u64, Status> {
        // No timeout here: the inherited deadline must bound it.
        self.0.sleep(ms).await
    }
}

#[tokio::test]
async fn a_handlers_outgoing_calls_inherit_its_deadline() {
    let backend = start("mem", ServerConfig::default()).await;
    let relay_addr = mem_addr();
    let relay = erpc::Server::builder()
        .add_service(RelayServer::new(RelayImpl(client(&backend.addr))))
        .serve([relay_addr.as_str()])
        .await
        .unwrap();
    let client = RelayClient::connect(relay_addr.as_str()).await.unwrap();
    let started = Instant::now();
    let err = client
        .relay_sleep(5_000)
        .timeout(Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded);
    assert!(started.elapsed() < Duration::from_secs(2));
    // The backend handler got at most the relay's remaining time, and was aborted.
    let seen = backend.probe.last_remaining_ms.load(Ordering::SeqCst);
    assert!(seen <= 200, "backend saw {seen} ms");
    wait_for(&backend.probe.aborted, 1, Duration::from_secs(2)).await;
    relay.shutdown().await;
}
