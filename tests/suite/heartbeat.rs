//! Heartbeats detect a silent peer; the first-frame deadline closes idle new connections.

use crate::support;

use std::time::{Duration, Instant};

use erpc::{ClientConfig, Code, HeartbeatConfig, ServerConfig};
use support::*;
use tokio::io::AsyncReadExt;

fn fast_heartbeat() -> HeartbeatConfig {
    HeartbeatConfig {
        interval: Duration::from_millis(50),
        misses: 3,
    }
}

#[tokio::test]
async fn a_silent_server_fails_pending_calls_with_unavailable() {
    // Accepts and reads, never writes: alive at the TCP level, dead at ours.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut sink = vec![0u8; 4096];
        while socket.read(&mut sink).await.is_ok_and(|n| n > 0) {}
    });
    let client = EchoClient::new(
        erpc::Client::builder()
            .config(ClientConfig {
                heartbeat: fast_heartbeat(),
                ..ClientConfig::default()
            })
            .build(format!("tcp://{addr}"))
            .unwrap(),
    );
    let started = Instant::now();
    let err = client
        .sleep(1)
        .timeout(Duration::from_secs(30))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    assert!(err.message().contains("heartbeat"), "{err}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "detected after {took:?}");
}

#[tokio::test]
async fn an_idle_but_healthy_connection_survives_heartbeats() {
    let server = start(
        "tcp",
        ServerConfig {
            heartbeat: fast_heartbeat(),
            ..ServerConfig::default()
        },
    )
    .await;
    let client = EchoClient::new(
        erpc::Client::builder()
            .config(ClientConfig {
                heartbeat: fast_heartbeat(),
                ..ClientConfig::default()
            })
            .build(server.addr.as_str())
            .unwrap(),
    );
    let before = client.peer().await.unwrap();
    // Ten intervals of silence from the application: pings keep both sides alive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Same connection: had a side given up, the client would have had to dial a new one.
    assert_eq!(client.peer().await.unwrap(), before);
}

#[tokio::test]
async fn server_closes_a_connection_that_sends_no_first_frame() {
    let server = start(
        "tcp",
        ServerConfig {
            first_frame_timeout: Duration::from_millis(200),
            ..ServerConfig::default()
        },
    )
    .await;
    let mut silent = RawPeer::connect(&server.addr).await;
    // Half a header, then nothing.
    silent.send_bytes(&[0xEE, 0x52, 0x01]).await;
    let started = Instant::now();
    let farewell = silent
        .recv_reply()
        .await
        .expect("an ERROR frame before closing");
    assert_eq!(farewell.header.kind, erpc::protocol::Kind::ERROR);
    assert_eq!(farewell.header.status, Code::DeadlineExceeded as u8);
    assert!(silent.recv().await.is_none(), "connection closed");
    assert!(started.elapsed() < Duration::from_secs(3));
    // Meanwhile a real client is served.
    assert_eq!(client(&server.addr).len("ok".into()).await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_slow_connections_are_closed_and_good_clients_stay_fast() {
    let server = start(
        "tcp",
        ServerConfig {
            first_frame_timeout: Duration::from_millis(300),
            ..ServerConfig::default()
        },
    )
    .await;
    let good = client(&server.addr);
    assert_eq!(good.len("warm".into()).await.unwrap(), 4);
    // 1,000 connections that send one byte and then nothing.
    let mut slow = Vec::new();
    for _ in 0..1_000 {
        let mut peer = RawPeer::connect(&server.addr).await;
        peer.send_bytes(&[0xEE]).await;
        slow.push(peer);
    }
    let started = Instant::now();
    let mut worst = Duration::ZERO;
    while started.elapsed() < Duration::from_millis(400) {
        let t = Instant::now();
        assert_eq!(good.len("meanwhile".into()).await.unwrap(), 9);
        worst = worst.max(t.elapsed());
    }
    // Every slow connection gets its ERROR frame and is closed.
    for peer in &mut slow {
        let farewell = peer.recv_reply().await.expect("an ERROR frame");
        assert_eq!(farewell.header.kind, erpc::protocol::Kind::ERROR);
        assert!(peer.recv().await.is_none());
    }
    let closed_after = started.elapsed();
    println!(
        "1,000 silent connections closed within {closed_after:?}; a good client's slowest call meanwhile: {worst:?}"
    );
    // A fresh client connects and is served.
    assert_eq!(client(&server.addr).len("fresh".into()).await.unwrap(), 5);
}
