//! QUIC specifics: each call travels on its own QUIC stream, so small calls are not held
//! behind large ones (on TCP, one connection's bytes are one queue).

use crate::support;

use std::future::IntoFuture;
use std::time::Duration;

use erpc::ServerConfig;
use support::*;
use tokio::time::Instant;

/// Median latency of small calls made while four 4 MiB responses are being delivered on the
/// same connection, and how long those large calls took.
async fn small_beside_large(transport: &str) -> (Duration, Duration) {
    let server = start(transport, ServerConfig::default()).await;
    let client = client(&server.addr);
    client.len("warm".into()).await.unwrap();
    let started = Instant::now();
    let large = tokio::spawn({
        let client = client.clone();
        async move {
            let calls = (0..4).map(|_| {
                client
                    .fill(4 << 20)
                    .timeout(Duration::from_secs(60))
                    .into_future()
            });
            for r in futures_util::future::join_all(calls).await {
                assert_eq!(r.unwrap().0.len(), 4 << 20);
            }
            started.elapsed()
        }
    });
    let mut small = Vec::new();
    while !large.is_finished() && small.len() < 200 {
        let t = Instant::now();
        client.len("x".into()).await.unwrap();
        small.push(t.elapsed());
    }
    let large = large.await.unwrap();
    small.sort();
    let median = small.get(small.len() / 2).copied().unwrap_or_default();
    server.handle.shutdown().await;
    (median, large)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_calls_are_not_held_behind_large_ones() {
    let (tcp_small, tcp_large) = small_beside_large("tcp").await;
    let (quic_small, quic_large) = small_beside_large("quic").await;
    eprintln!(
        "small-call median beside 16 MiB of responses: tcp {tcp_small:?} (large calls {tcp_large:?}), quic {quic_small:?} (large calls {quic_large:?})"
    );
    assert!(
        quic_small * 4 < quic_large,
        "on QUIC a small call waited {quic_small:?} while the large ones took {quic_large:?}"
    );
}

#[tokio::test]
async fn a_frame_over_the_quic_limit_closes_the_connection_with_the_reason() {
    let place = place("quic");
    let mut options = server_options();
    options.max_frame = 64 * 1024;
    let server = erpc::Server::builder()
        .config(ServerConfig {
            transport: options,
            ..ServerConfig::default()
        })
        .add_service(EchoServer::new(EchoImpl::default()))
        .serve([place.addr.as_str()])
        .await
        .unwrap();
    let client = client(&server.local_addr().to_string());
    assert_eq!(client.len("ok".into()).await.unwrap(), 2);
    let err = client
        .raw_len(erpc::Raw(vec![0u8; 100_000].into()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), erpc::Code::Unavailable, "{err}");
    assert!(
        err.message().contains("exceeds this QUIC link's limit"),
        "{err}"
    );
    // A new connection serves again.
    assert_eq!(client.len("again".into()).await.unwrap(), 5);
    server.shutdown().await;
}
