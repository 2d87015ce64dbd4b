//! Heartbeats detect a silent peer; the first-frame deadline closes idle new connections.

mod support;

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
    assert_eq!(client.len("a".into()).await.unwrap(), 1);
    // Ten intervals of silence from the application: pings keep both sides alive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(client.len("ab".into()).await.unwrap(), 2);
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
