//! Dropping a call future sends CANCEL; the server aborts the handler.

use crate::support;

use std::time::Duration;

use erpc::ServerConfig;
use support::*;

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
