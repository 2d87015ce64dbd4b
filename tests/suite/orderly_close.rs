//! An orderly end is not a crash: what either side accepted for sending before a close, a
//! drop or a shutdown reaches the other side, and work nobody waits for (oneway calls) is
//! allowed to finish where PROTOCOL.md §4 says it runs.

use crate::support;

use std::time::Duration;

use erpc::ServerConfig;
use support::*;

/// Fresh clients per transport, each dropped (or closed) right after its oneway returned.
const CLIENTS: u64 = 20;

async fn oneways_then(transport: &str, end: fn(&EchoClient)) {
    let server = start(transport, ServerConfig::default()).await;
    for n in 0..CLIENTS {
        let client = client(&server.addr);
        // Connect first, so the oneway's `Ok` means "queued on a live connection".
        client.len("x".into()).await.unwrap();
        client.notify(1).await.unwrap();
        end(&client);
        drop(client);
        let _ = n;
    }
    let mut seen = server.probe.notified.subscribe();
    let all = seen.wait_for(|n| *n >= CLIENTS);
    let delivered = tokio::time::timeout(Duration::from_secs(10), all).await;
    assert!(
        delivered.is_ok(),
        "{transport}: {} of {CLIENTS} accepted oneways delivered in 10 s",
        *server.probe.notified.borrow()
    );
    server.handle.shutdown().await;
}

#[tokio::test]
async fn a_oneway_accepted_before_the_client_is_dropped_is_delivered() {
    for transport in TRANSPORTS {
        oneways_then(transport, |_| {}).await;
    }
}

#[tokio::test]
async fn a_oneway_accepted_before_the_client_is_closed_is_delivered() {
    for transport in TRANSPORTS {
        oneways_then(transport, |client| client.client().close()).await;
    }
}

#[tokio::test]
async fn a_running_oneway_finishes_after_its_client_leaves() {
    for transport in TRANSPORTS {
        let server = start(transport, ServerConfig::default()).await;
        let client = client(&server.addr);
        client.nap(300).await.unwrap();
        // The handler is running when the client goes away.
        wait_for(&server.probe.started, 1, Duration::from_secs(5)).await;
        drop(client);
        wait_for(&server.probe.notified, 1, Duration::from_secs(5)).await;
        assert_eq!(
            *server.probe.aborted.borrow(),
            0,
            "{transport}: the oneway was not aborted"
        );
        server.handle.shutdown().await;
    }
}

#[tokio::test]
async fn a_running_request_is_still_aborted_when_its_client_leaves() {
    // Nobody can read its answer: the handler must not run on.
    let server = start("tcp", ServerConfig::default()).await;
    let client = client(&server.addr);
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.sleep(5_000).await }
    });
    wait_for(&server.probe.started, 1, Duration::from_secs(5)).await;
    call.abort();
    drop(client);
    wait_for(&server.probe.aborted, 1, Duration::from_secs(5)).await;
    server.handle.shutdown().await;
}

/// A client in a runtime of its own that sends `n` oneways, maybe shuts down, and is gone
/// with its runtime — as a process that exits right after.
fn exit_after_oneways(addr: String, n: u64, shutdown: bool) {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let client = client(&addr);
            for _ in 0..n {
                client.notify(1).await.unwrap();
            }
            if shutdown {
                client.client().shutdown().await;
            }
        });
        // The runtime drops here, taking every task it still had.
    })
    .join()
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_writes_accepted_oneways_before_a_runtime_ends() {
    let server = start("tcp", ServerConfig::default()).await;
    for _ in 0..10 {
        exit_after_oneways(server.addr.clone(), 5, true);
    }
    let seen = wait_for(&server.probe.notified, 50, Duration::from_secs(10)).await;
    assert_eq!(seen, 50);
    server.handle.shutdown().await;
}
