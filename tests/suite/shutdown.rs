//! Graceful shutdown, dead peers, reconnecting.

use crate::support;

use std::time::{Duration, Instant};

use erpc::{ClientConfig, Code, ServerConfig};
use support::*;

#[tokio::test]
async fn graceful_shutdown_lets_in_flight_calls_finish() {
    let server = start("tcp", ServerConfig::default()).await;
    let client = client(&server.addr);
    let running = tokio::spawn({
        let client = client.clone();
        async move { client.sleep(300).await }
    });
    wait_for(&server.probe.started, 1, Duration::from_secs(2)).await;
    let started = Instant::now();
    server.handle.shutdown().await;
    assert_eq!(running.await.unwrap().unwrap(), 300);
    assert!(started.elapsed() >= Duration::from_millis(200));
    // The server is gone: new calls fail fast.
    let err = client.len("x".into()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
}

#[tokio::test]
async fn calls_outliving_the_grace_period_are_answered_unavailable() {
    let server = start(
        "tcp",
        ServerConfig {
            shutdown_grace: Duration::from_millis(100),
            ..ServerConfig::default()
        },
    )
    .await;
    let client = client(&server.addr);
    let running = tokio::spawn({
        let client = client.clone();
        async move { client.sleep(10_000).await }
    });
    wait_for(&server.probe.started, 1, Duration::from_secs(2)).await;
    let started = Instant::now();
    server.handle.shutdown().await;
    let err = running.await.unwrap().unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
    wait_for(&server.probe.aborted, 1, Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_peer_dying_mid_call_fails_pending_calls_at_once() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        use tokio::io::AsyncReadExt;
        let mut first = [0u8; 1];
        let _ = socket.read(&mut first).await; // a request arrives... and the peer dies
    });
    let client = client(&format!("tcp://{addr}"));
    let started = Instant::now();
    let err = client
        .sleep(1)
        .timeout(Duration::from_secs(30))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn the_client_reconnects_after_the_server_restarts() {
    let first = start("tcp", ServerConfig::default()).await;
    let addr = first.addr.clone();
    let client = EchoClient::new(
        erpc::Client::builder()
            .config(ClientConfig {
                backoff_initial: Duration::from_millis(20),
                backoff_max: Duration::from_millis(100),
                ..ClientConfig::default()
            })
            .build(addr.as_str())
            .unwrap(),
    );
    assert_eq!(client.len("one".into()).await.unwrap(), 3);
    first.handle.shutdown().await;
    // Nobody listens: calls fail fast with unavailable, never hang.
    let started = Instant::now();
    let err = client.len("x".into()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert!(started.elapsed() < Duration::from_secs(1));
    // Same address again.
    let again = erpc::Server::builder()
        .add_service(EchoServer::new(EchoImpl::default()))
        .serve([addr.as_str()])
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match client.len("back".into()).await {
            Ok(n) => {
                assert_eq!(n, 4);
                break;
            }
            Err(e) if Instant::now() < deadline => {
                assert_eq!(e.code(), Code::Unavailable, "{e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("never reconnected: {e}"),
        }
    }
    again.shutdown().await;
}
