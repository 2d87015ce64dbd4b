//! KCP has no handshake and no close: a client learns nothing from dialling, and a server
//! that drops a session tells nobody. These tests hold the transport to what TCP offers for
//! free: a call to a server that is draining, or gone, fails fast with a retryable
//! `unavailable` instead of waiting out its deadline (PROTOCOL.md §12.6).

use crate::support;

use std::time::Duration;

use erpc::{ClientConfig, Code, ServerConfig};
use support::*;
use tokio::time::Instant;

/// Long enough that a call which waits it out cannot pass for a fast failure.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// A fresh client's first call to a server that has stopped accepting (its listener gone,
/// a call still running) is refused at once: the server answers the new KCP session with an
/// ERROR `unavailable` before dropping it.
#[tokio::test]
async fn a_new_call_to_a_draining_server_fails_unavailable_at_once() {
    let server = start(
        "kcp",
        ServerConfig {
            shutdown_grace: Duration::from_secs(120),
            ..ServerConfig::default()
        },
    )
    .await;
    // Keeps the server draining while the new call is made.
    let running = tokio::spawn({
        let echo = client(&server.addr);
        async move { echo.sleep(3000).timeout(Duration::from_secs(60)).await }
    });
    wait_for(&server.probe.started, 1, Duration::from_secs(10)).await;
    let mut shutdown = std::pin::pin!(server.handle.shutdown());
    // One poll starts the shutdown: the listener is dropped.
    tokio::select! {
        biased;
        _ = &mut shutdown => panic!("shutdown finished with a call running"),
        _ = std::future::ready(()) => {}
    }
    let began = Instant::now();
    let err = client(&server.addr)
        .len("late".into())
        .timeout(CALL_TIMEOUT)
        .await
        .expect_err("a draining server runs no new call");
    let took = began.elapsed();
    println!("kcp: a new call to a draining server failed in {took:?}: {err}");
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert_eq!(
        running.await.expect("call task").expect("the running call"),
        3000
    );
    tokio::time::timeout(Duration::from_secs(60), shutdown)
        .await
        .expect("shutdown completes");
}

/// A fresh client's call to a KCP port nobody listens on fails `unavailable` within about
/// its connect timeout: the new connection must answer a PING first.
#[tokio::test]
async fn a_call_to_a_stopped_server_fails_unavailable_within_the_connect_timeout() {
    const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
    let server = start("kcp", ServerConfig::default()).await;
    let addr = server.addr.clone();
    server.handle.shutdown().await;
    // The port is free once the listener's socket is closed (500 ms linger, §12).
    let port = addr.trim_start_matches("kcp://").to_string();
    let freed = Instant::now() + Duration::from_secs(10);
    while std::net::UdpSocket::bind(&port).is_err() {
        assert!(Instant::now() < freed, "{port} still bound after 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let echo = EchoClient::new(
        erpc::Client::builder()
            .config(ClientConfig {
                connect_timeout: CONNECT_TIMEOUT,
                ..ClientConfig::default()
            })
            .build(addr.as_str())
            .expect("address"),
    );
    let began = Instant::now();
    let err = echo
        .len("anyone?".into())
        .timeout(CALL_TIMEOUT)
        .await
        .expect_err("nobody listens");
    let took = began.elapsed();
    println!("kcp: a call to a stopped server failed in {took:?}: {err}");
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    // The connect timeout plus generous room for a loaded machine; far below the deadline.
    assert!(
        took < CONNECT_TIMEOUT + Duration::from_secs(2),
        "took {took:?}"
    );
}
