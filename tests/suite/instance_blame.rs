//! What a client counts against an instance, and what it must not: calls cut by the client's
//! own `close()` fail `cancelled` at once and are neither retried nor counted by a breaker or
//! the instance's load (gRPC's `ClientConn.Close` likewise fails its calls `CANCELLED`); a
//! server stream that ended stops counting in flight though its handle is kept; and with
//! every instance unreachable a fail mode does not make each call wait out the reconnect
//! backoff.

use crate::support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use erpc::client::{BreakerSettings, FailMode, FailModes, InstanceBreakers, Trip};
use erpc::discovery::{Balancer, Candidates, Pick, StaticList};
use erpc::observe::BreakerState;
use erpc::{Code, Status};
use futures_util::StreamExt;
use support::{eventually, mem_addr};
use tokio::time::Instant;

#[erpc::service]
pub trait Slow {
    /// Answers after an hour (cut long before).
    #[idempotent]
    async fn hang(&self) -> Result<(), Status>;
    /// Answers at once.
    #[idempotent]
    async fn now(&self) -> Result<(), Status>;
    /// `n` numbers, then the end.
    async fn count(&self, n: u32) -> Result<erpc::ServerStream<u32>, Status>;
}

/// Counts the calls that reached it.
#[derive(Clone, Default)]
struct Instance(Arc<Mutex<u32>>);

impl Slow for Instance {
    async fn hang(&self) -> Result<(), Status> {
        *self.0.lock().unwrap() += 1;
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(())
    }
    async fn now(&self) -> Result<(), Status> {
        *self.0.lock().unwrap() += 1;
        Ok(())
    }
    async fn count(&self, n: u32) -> Result<erpc::ServerStream<u32>, Status> {
        Ok(erpc::ServerStream::new(futures_util::stream::iter(
            (0..n).map(Ok),
        )))
    }
}

/// Picks the first instance, and keeps what the first instance's load said at each pick.
#[derive(Clone, Default)]
struct Watching(Arc<Mutex<Vec<(u32, f64)>>>);

impl Balancer for Watching {
    fn pick(&self, _: &Pick<'_>, candidates: &Candidates<'_>) -> usize {
        let load = candidates.load(0);
        let seen = (load.in_flight(), load.error_rate());
        self.0.lock().unwrap().push(seen);
        0
    }
}

impl Watching {
    /// The first instance's calls in flight and error rate at the last pick.
    fn last(&self) -> (u32, f64) {
        *self.0.lock().unwrap().last().expect("a pick")
    }
}

struct Backend {
    server: erpc::ServerHandle,
    reached: Arc<Mutex<u32>>,
}

async fn backends(n: usize) -> Vec<Backend> {
    let mut all = Vec::new();
    for _ in 0..n {
        let instance = Instance::default();
        let reached = instance.0.clone();
        let server = erpc::Server::builder()
            .add_service(SlowServer::new(instance))
            .serve([mem_addr()])
            .await
            .expect("serve");
        all.push(Backend { server, reached });
    }
    all
}

fn reached(all: &[Backend]) -> u32 {
    all.iter().map(|b| *b.reached.lock().unwrap()).sum()
}

#[tokio::test]
async fn closing_the_client_cancels_its_calls_and_blames_no_instance() {
    // Breakers alone, under a fail mode, and with a layer between: a breaker that counted
    // the cut calls would open on the first (it trips on one failure).
    for (failover, layer_between) in [(false, false), (true, false), (true, true)] {
        let case = format!("failover {failover}, layer between {layer_between}");
        let all = backends(2).await;
        let breakers = InstanceBreakers::new(
            BreakerSettings::default()
                .trip(Trip::ConsecutiveFailures(1))
                .open_timeout(Duration::from_secs(60)),
        );
        let mut builder = erpc::Client::builder();
        if failover {
            builder = builder.layer(FailModes::new(FailMode::Failover { retries: 3 }));
        }
        builder = builder.attempt_layer(breakers.clone());
        if layer_between {
            builder = builder.attempt_layer(tower::layer::util::Identity::new());
        }
        let watching = Watching::default();
        let list = StaticList::addrs(all.iter().map(|b| b.server.local_addr())).expect("list");
        let discovered = builder
            .discover_with(&list, "Slow", Arc::new(watching.clone()))
            .await;
        let client = SlowClient::new(discovered.expect("discover"));
        client.now().await.expect("a first call");
        let calls: Vec<_> = (0..4)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move { client.hang().await })
            })
            .collect();
        eventually(|| reached(&all) == 5, || format!("{case}: calls in flight")).await;
        let closed = Instant::now();
        client.client().close();
        for call in calls {
            let status = call.await.expect("joined").expect_err("cut by close");
            assert_eq!(status.code(), Code::Cancelled, "{case}: {status}");
            assert!(
                status
                    .message()
                    .contains("the client closed its connection"),
                "{case}: {status}"
            );
        }
        assert!(closed.elapsed() < Duration::from_secs(1), "{case}: at once");
        // Not resent (idempotent as they are): a resend would have been made inside the
        // call's future, which ended with the cut — and no instance blamed.
        assert_eq!(reached(&all), 5, "{case}: resent after close");
        // Every call went to the first instance (the balancer picks it).
        let state = breakers.state(all[0].server.local_addr());
        assert_eq!(state, Some(BreakerState::Closed), "{case}");
        // The next call reconnects, and the load saw no failure and nothing left in flight.
        client.now().await.expect("reconnects");
        let (in_flight, error_rate) = watching.last();
        assert_eq!(in_flight, 0, "{case}: cut calls still counted in flight");
        assert_eq!(error_rate, 0.0, "{case}: cut calls counted as failures");
        for b in all {
            b.server.shutdown().await;
        }
    }
}

#[tokio::test]
async fn an_ended_server_stream_no_longer_counts_in_flight() {
    let all = backends(1).await;
    let watching = Watching::default();
    let list = StaticList::addrs([all[0].server.local_addr()]).expect("list");
    let client = SlowClient::new(
        erpc::Client::builder()
            .discover_with(&list, "Slow", Arc::new(watching.clone()))
            .await
            .expect("discover"),
    );
    let mut numbers = client.count(3).await.expect("opened");
    let mut got = Vec::new();
    while let Some(n) = numbers.next().await {
        got.push(n.expect("a number"));
    }
    assert_eq!(got, [0, 1, 2]);
    // The handle is still held; the next pick must not see the stream in flight.
    client.now().await.expect("a call");
    assert_eq!(watching.last().0, 0, "an ended stream counted in flight");
    // A stream let go before its end stops counting too.
    let unread = client.count(1_000_000).await.expect("opened");
    client.now().await.expect("a call");
    assert_eq!(watching.last().0, 1, "an open stream counts in flight");
    drop(unread);
    client.now().await.expect("a call");
    assert_eq!(watching.last().0, 0, "a dropped stream counted in flight");
    drop(numbers);
    for b in all {
        b.server.shutdown().await;
    }
}

#[tokio::test]
async fn with_every_instance_down_failover_fails_at_once() {
    // Two instances that stop listening: failover tries each, then every instance is
    // backing off. A call must not wait out the reconnect backoff (up to 5 s per call); it
    // fails with the refusal, whose retry hint says when the next redial is due.
    let all = backends(2).await;
    let list = StaticList::addrs(all.iter().map(|b| b.server.local_addr())).expect("list");
    let client = SlowClient::new(
        erpc::Client::builder()
            .layer(FailModes::new(FailMode::Failover { retries: 5 }))
            .discover(&list, "Slow")
            .await
            .expect("discover"),
    );
    client.now().await.expect("a first call");
    for b in all {
        b.server.shutdown().await;
    }
    let mut slowest = Duration::ZERO;
    let mut last = None;
    for _ in 0..20 {
        let began = Instant::now();
        let status = client.now().await.expect_err("nothing is up");
        slowest = slowest.max(began.elapsed());
        assert_eq!(status.code(), Code::Unavailable, "{status}");
        last = Some(status);
    }
    let last = last.expect("a failure");
    println!("every instance down: slowest of 20 failover calls {slowest:?}; last: {last}");
    assert!(last.is_connect_failure(), "{last}");
    assert!(last.retry_after().is_some(), "{last}");
    // Nothing waited for a redial (the backoff grows from 100 ms to 5 s).
    assert!(slowest < Duration::from_millis(100), "{slowest:?}");
}
