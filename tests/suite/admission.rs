//! More concurrent calls than a server runs at once: the client waits for a slot within each
//! call's deadline (as HTTP/2 clients do for SETTINGS_MAX_CONCURRENT_STREAMS) instead of
//! sending calls the server would refuse.

use crate::support;

use std::future::IntoFuture;
use std::time::Duration;

use erpc::{Code, ServerConfig};
use futures_util::future::join_all;
use support::*;

#[tokio::test]
async fn a_burst_beyond_the_servers_cap_waits_instead_of_failing() {
    let server = start("tcp", ServerConfig::default()).await;
    let client = client(&server.addr);
    // 1,100 calls at once on one default client to one default server (cap 1,024).
    let calls = (0..1_100).map(|_| client.sleep(200).into_future());
    let results = join_all(calls).await;
    let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} failed, e.g. {:?}",
        failed.len(),
        failed.first()
    );
    server.handle.shutdown().await;
}

#[tokio::test]
async fn a_call_waiting_for_a_slot_keeps_its_deadline_and_never_reaches_the_server() {
    let server = start("mem", ServerConfig::default()).await;
    let client = EchoClient::new(
        erpc::Client::builder()
            .max_concurrent_calls(2)
            .build(server.addr.as_str())
            .unwrap(),
    );
    let busy: Vec<_> = (0..2)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.sleep(1_000).await })
        })
        .collect();
    wait_for(&server.probe.started, 2, Duration::from_secs(5)).await;
    // Both slots taken: this call waits, and its deadline passes while it does.
    let started = std::time::Instant::now();
    let waited = client
        .len("x".into())
        .timeout(Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!(waited.code(), Code::DeadlineExceeded);
    assert!(
        waited.message().contains("max_concurrent_calls"),
        "{waited}"
    );
    assert!(started.elapsed() < Duration::from_millis(900));
    // It never reached the server.
    assert_eq!(*server.probe.started.borrow(), 2);
    // A call that can wait long enough runs once a slot frees.
    assert_eq!(client.len("abc".into()).await.unwrap(), 3);
    for call in busy {
        call.await.unwrap().unwrap();
    }
    server.handle.shutdown().await;
}

#[tokio::test]
async fn a_matching_client_cap_keeps_a_smaller_server_cap_from_refusing() {
    let server = start(
        "mem",
        ServerConfig {
            max_in_flight: 8,
            ..ServerConfig::default()
        },
    )
    .await;
    let client = EchoClient::new(
        erpc::Client::builder()
            .max_concurrent_calls(8)
            .build(server.addr.as_str())
            .unwrap(),
    );
    let results = join_all((0..100).map(|_| client.sleep(20).into_future())).await;
    assert!(results.iter().all(|r| r.is_ok()));
    server.handle.shutdown().await;
}
