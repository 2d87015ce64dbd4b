//! Dropping a call future sends CANCEL; the server aborts the handler.

mod support;

use std::time::Duration;

use erpc::ServerConfig;
use support::*;

#[tokio::test]
async fn dropping_a_call_aborts_the_handler() {
    for transport in TRANSPORTS {
        let server = start(transport, ServerConfig::default()).await;
        let client = client(&server.addr);
        let call = tokio::spawn({
            let client = client.clone();
            async move { client.sleep(10_000).await }
        });
        wait_for(&server.probe.started, 1, Duration::from_secs(2)).await;
        call.abort();
        wait_for(&server.probe.aborted, 1, Duration::from_secs(2)).await;
        assert_eq!(*server.probe.finished.borrow(), 0);
        // The connection is still good.
        assert_eq!(client.len("ok".into()).await.unwrap(), 2, "{transport}");
    }
}

#[tokio::test]
async fn select_losing_branch_cancels_the_call() {
    let server = start("tcp", ServerConfig::default()).await;
    let client = client(&server.addr);
    tokio::select! {
        _ = client.sleep(10_000).into_future() => panic!("should lose"),
        _ = tokio::time::sleep(Duration::from_millis(50)) => {}
    }
    wait_for(&server.probe.aborted, 1, Duration::from_secs(2)).await;
}

use std::future::IntoFuture;
