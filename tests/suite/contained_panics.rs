//! User code the engine calls inline — a connection hook, a header-level hook, an observer,
//! a server layer — fails only what it was deciding about when it panics or misbehaves: the
//! listener keeps accepting, the connection keeps serving its other calls, every call is
//! answered.

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use erpc::observe::{CallEvent, Finished, Observer, Side};
use erpc::server::{Admission, Admitted, CallHead};
use erpc::{Code, Status};
use support::*;

#[tokio::test]
async fn a_panicking_connection_hook_turns_away_its_connection_not_the_listener() {
    let seen = Arc::new(AtomicUsize::new(0));
    let server = erpc::Server::builder()
        .add_service(EchoServer::new(EchoImpl::default()))
        .on_connect({
            let seen = seen.clone();
            move |_| {
                if seen.fetch_add(1, Ordering::SeqCst) == 1 {
                    panic!("hook bug");
                }
                Ok(())
            }
        })
        .serve(["tcp://127.0.0.1:0"])
        .await
        .unwrap();
    let addr = server.local_addr().to_string();
    assert_eq!(client(&addr).len("a".into()).await.unwrap(), 1);
    let refused = client(&addr).len("b".into()).await.unwrap_err();
    assert_eq!(refused.code(), Code::Internal, "{refused}");
    assert!(refused.message().contains("hook bug"), "{refused}");
    // The listener still accepts.
    assert_eq!(client(&addr).len("cc".into()).await.unwrap(), 2);
    server.shutdown().await;
}

/// Panics on calls carrying metadata `boom`.
struct Fragile;

impl Admission for Fragile {
    fn admit(&self, call: &CallHead<'_>) -> Result<Admitted, Status> {
        if call.metadata.get_str("boom").is_some() {
            panic!("admission bug");
        }
        Ok(Admitted::now())
    }
}

#[tokio::test]
async fn a_panicking_header_hook_refuses_its_call_and_the_connection_serves_on() {
    let echo = EchoImpl::default();
    let server = erpc::Server::builder()
        .add_service(EchoServer::new(echo.clone()))
        .admission(Fragile)
        .serve([mem_addr()])
        .await
        .unwrap();
    let client = client(&server.local_addr().to_string());
    let slow = tokio::spawn({
        let client = client.clone();
        async move { client.sleep(300).await }
    });
    // The slow call is running on the server before the fragile hook meets its neighbour.
    wait_for(&echo.probe.started, 1, Duration::from_secs(5)).await;
    let refused = client
        .len("x".into())
        .metadata("boom", "1")
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Internal, "{refused}");
    assert!(refused.message().contains("admission bug"), "{refused}");
    // The call already running on the same connection was not touched.
    assert_eq!(slow.await.unwrap().unwrap(), 300);
    assert_eq!(client.len("ok".into()).await.unwrap(), 2);
    server.shutdown().await;
}

/// Panics on every finished call.
struct Broken;

impl Observer for Broken {
    fn call_finished(&self, _: Side, _: &CallEvent<'_>, _: &Finished) {
        panic!("observer bug");
    }
}

#[tokio::test]
async fn a_panicking_observer_loses_its_event_and_every_call_is_still_answered() {
    let server = erpc::Server::builder()
        .add_service(EchoServer::new(EchoImpl::default()))
        .observer(Broken)
        .serve([mem_addr()])
        .await
        .unwrap();
    let client = EchoClient::new(
        erpc::Client::builder()
            .observer(Broken)
            .timeout(Duration::from_secs(2))
            .build(server.local_addr())
            .unwrap(),
    );
    let started = std::time::Instant::now();
    for text in ["a", "bb", "ccc"] {
        assert_eq!(client.len(text.into()).await.unwrap(), text.len() as u64);
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "answers waited for the deadline"
    );
    server.shutdown().await;
}
