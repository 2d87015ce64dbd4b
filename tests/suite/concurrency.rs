//! Many calls on one connection, completing out of order.

use crate::support;

use std::time::Duration;

use erpc::{ClientConfig, ServerConfig};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_calls_on_one_connection() {
    let server = start(
        "tcp",
        ServerConfig {
            max_in_flight: 20_000,
            ..ServerConfig::default()
        },
    )
    .await;
    let client = EchoClient::new(
        erpc::Client::builder()
            .config(ClientConfig {
                connections: 1,
                ..ClientConfig::default()
            })
            .build(server.addr.as_str())
            .unwrap(),
    );
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10_000u64 {
        let client = client.clone();
        tasks.spawn(async move {
            // Earlier calls sleep longer, so responses come back in a different order.
            let ms = 20 - (i % 21);
            let got = client.sleep(ms).timeout(Duration::from_secs(30)).await;
            (i, ms, got)
        });
    }
    let mut completed = 0;
    while let Some(joined) = tasks.join_next().await {
        let (i, ms, got) = joined.unwrap();
        assert_eq!(got.unwrap_or_else(|e| panic!("call {i}: {e}")), ms);
        completed += 1;
    }
    assert_eq!(completed, 10_000);
    assert_eq!(*server.probe.finished.borrow(), 10_000);
}

#[tokio::test]
async fn calls_spread_over_several_connections() {
    let server = start("tcp", ServerConfig::default()).await;
    let client = EchoClient::new(
        erpc::Client::builder()
            .connections(4)
            .build(server.addr.as_str())
            .unwrap(),
    );
    let calls = (0..64).map(|i| {
        let client = client.clone();
        async move { client.echo(Msg::new(i, 32)).await.unwrap().id }
    });
    let ids = futures_util::future::join_all(calls).await;
    assert_eq!(ids, (0..64).collect::<Vec<_>>());
    // The calls really went over four connections.
    let mut peers = std::collections::HashSet::new();
    for _ in 0..16 {
        peers.insert(client.peer().await.unwrap());
    }
    assert_eq!(peers.len(), 4, "{peers:?}");
}
