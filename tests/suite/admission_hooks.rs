//! Header-level hooks decide from the header block alone: a refused call costs no decode and
//! no task. Shown with a server-wide concurrency limit and an API-key check.

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use erpc::protocol::Kind;
use erpc::server::{Admission, Admitted, CallHead, ConcurrencyLimit};
use erpc::{Code, CodecId, Status};
use support::*;

#[tokio::test]
async fn over_a_concurrency_limit_calls_are_refused_before_any_decode_or_task() {
    let limit = ConcurrencyLimit::new(2).unwrap();
    let echo = EchoImpl::default();
    let probe = echo.probe.clone();
    let server = erpc::Server::builder()
        .admission(limit.clone())
        .add_service(EchoServer::new(echo))
        .serve([mem_addr()])
        .await
        .unwrap();
    let addr = server.local_addr().to_string();
    let client = client(&addr);
    // Two calls hold both permits.
    let busy: Vec<_> = (0..2)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.sleep(800).await })
        })
        .collect();
    wait_for(&probe.started, 2, Duration::from_secs(5)).await;
    assert_eq!(limit.running(), 2);

    // Over the limit: refused, and the body — undecodable for `len`, which takes a string —
    // is never looked at: a decode would have answered invalid_argument, a handler run
    // would show in the probe.
    let mut peer = RawPeer::connect(&addr).await;
    for id in 1..=20u64 {
        peer.send(&request(id, "sleep", CodecId::MSGPACK, &[0xc1, 0xc1]))
            .await;
    }
    for _ in 1..=20 {
        let answer = peer.recv_reply().await.expect("an answer");
        assert_eq!(answer.header.kind, Kind::RESPONSE);
        assert_eq!(answer.header.status, Code::ResourceExhausted as u8);
        let message = answer.head.message.as_deref().unwrap_or("");
        assert!(message.contains("ConcurrencyLimit"), "{message}");
    }
    assert_eq!(
        *probe.started.borrow(),
        2,
        "no handler ran for the refused calls"
    );

    for call in busy {
        call.await.unwrap().unwrap();
    }
    // The permits came back as the calls ended: a call is admitted again.
    assert_eq!(limit.running(), 0);
    assert_eq!(client.len("abc".into()).await.unwrap(), 3);
    server.shutdown().await;
}

/// Counts the calls it saw, and admits only those with the key.
struct ApiKey {
    seen: AtomicU64,
}

impl Admission for ApiKey {
    fn admit(&self, call: &CallHead<'_>) -> Result<Admitted, Status> {
        self.seen.fetch_add(1, Ordering::Relaxed);
        match call.metadata.get_str("x-api-key") {
            Some("open sesame") => Ok(Admitted::now()),
            _ => Err(Status::unauthenticated(format!(
                "{}.{}: missing or wrong x-api-key",
                call.service, call.method
            ))),
        }
    }
}

#[tokio::test]
async fn a_hook_refuses_with_its_own_status_and_hooks_run_in_order() {
    let key = Arc::new(ApiKey {
        seen: AtomicU64::new(0),
    });
    struct Shared(Arc<ApiKey>);
    impl Admission for Shared {
        fn admit(&self, call: &CallHead<'_>) -> Result<Admitted, Status> {
            self.0.admit(call)
        }
    }
    let echo = EchoImpl::default();
    let probe = echo.probe.clone();
    let server = erpc::Server::builder()
        .admission(Shared(key.clone()))
        .admission(ConcurrencyLimit::new(100).unwrap())
        .add_service(EchoServer::new(echo))
        .serve([mem_addr()])
        .await
        .unwrap();
    let client = client(&server.local_addr().to_string());
    let refused = client.sleep(1).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert!(refused.message().contains("Echo.sleep"), "{refused}");
    assert_eq!(*probe.started.borrow(), 0);
    let ok = client.sleep(1).metadata("x-api-key", "open sesame").await;
    assert_eq!(ok.unwrap(), 1);
    assert_eq!(key.seen.load(Ordering::Relaxed), 2);
    // A refused oneway is dropped (nobody to tell), and its handler never runs. Frames of one
    // connection are read in order: once the next call is answered, the hook has seen (and
    // refused) the oneway — no task exists for it that could still run.
    client.notify(1).await.unwrap();
    assert_eq!(
        client
            .sleep(1)
            .metadata("x-api-key", "open sesame")
            .await
            .unwrap(),
        1
    );
    assert_eq!(key.seen.load(Ordering::Relaxed), 4);
    assert_eq!(*probe.notified.borrow(), 0);
    server.shutdown().await;
}
