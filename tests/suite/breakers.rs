//! Circuit breakers (gobreaker semantics) on real in-process servers with injected faults:
//! an instance breaker cuts a failing instance off and readmits it once it recovers
//! (RELIABILITY 17), every instance open fails a call at once naming the breaker, and a
//! method breaker guards one method without touching the others.

use crate::support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use erpc::client::{BreakerSettings, InstanceBreakers, MethodBreakers, Trip};
use erpc::discovery::{RoundRobin, StaticList};
use erpc::observe::{BreakerChange, BreakerState, Observer};
use erpc::per_method::PerMethod;
use erpc::testing::{Fault, Faults};
use erpc::{Code, Status};
use support::{eventually, mem_addr};

#[erpc::service]
pub trait Pair {
    /// Says which instance answered.
    async fn read(&self) -> Result<String, Status>;
    /// Says which instance answered.
    async fn write(&self) -> Result<String, Status>;
}

struct Instance {
    name: String,
    /// Calls that reached the handler.
    served: Arc<AtomicU64>,
}

impl Pair for Instance {
    async fn read(&self) -> Result<String, Status> {
        self.served.fetch_add(1, Ordering::Relaxed);
        Ok(self.name.clone())
    }
    async fn write(&self) -> Result<String, Status> {
        self.served.fetch_add(1, Ordering::Relaxed);
        Ok(self.name.clone())
    }
}

/// Breaker changes as they happened.
#[derive(Clone, Default)]
struct Changes(Arc<Mutex<Vec<(Instant, String, BreakerState)>>>);

impl Observer for Changes {
    fn breaker_changed(&self, change: &BreakerChange<'_>) {
        let mut seen = self.0.lock().unwrap();
        seen.push((Instant::now(), change.breaker.to_owned(), change.to));
    }
}

impl Changes {
    /// When the breaker whose name contains `name` entered `state`, if it did.
    fn when(&self, name: &str, state: BreakerState) -> Option<Instant> {
        let seen = self.0.lock().unwrap();
        seen.iter()
            .find(|(_, b, s)| b.contains(name) && *s == state)
            .map(|(at, _, _)| *at)
    }

    fn states(&self, name: &str) -> Vec<BreakerState> {
        let seen = self.0.lock().unwrap();
        seen.iter()
            .filter(|(_, b, _)| b.contains(name))
            .map(|(_, _, s)| *s)
            .collect()
    }
}

/// Instances named `names`, each with its own server-side faults and served count.
struct Fleet {
    servers: Vec<erpc::ServerHandle>,
    faults: Vec<Faults>,
    served: Vec<Arc<AtomicU64>>,
    list: StaticList,
}

async fn fleet(names: &[&str]) -> Fleet {
    let (mut servers, mut faults, mut served) = (Vec::new(), Vec::new(), Vec::new());
    for name in names {
        let f = Faults::new();
        let count = Arc::new(AtomicU64::new(0));
        let server = erpc::Server::builder()
            .layer(f.layer())
            .add_service(PairServer::new(Instance {
                name: (*name).into(),
                served: count.clone(),
            }))
            .serve([mem_addr()])
            .await
            .unwrap();
        servers.push(server);
        faults.push(f);
        served.push(count);
    }
    let list = StaticList::addrs(servers.iter().map(|s| s.local_addr())).unwrap();
    Fleet {
        servers,
        faults,
        served,
        list,
    }
}

/// Two instances failing every call, and breakers that open after two failures in a row for
/// `open_timeout`.
async fn two_failing(open_timeout: Duration) -> (Fleet, InstanceBreakers) {
    let fleet = fleet(&["a", "b"]).await;
    for f in &fleet.faults {
        f.set_all(failing());
    }
    let breakers = InstanceBreakers::new(
        BreakerSettings::default()
            .trip(Trip::ConsecutiveFailures(2))
            .open_timeout(open_timeout),
    );
    (fleet, breakers)
}

fn failing() -> Fault {
    Fault::new().error(1.0, Status::unavailable("injected: the backend is down"))
}

#[tokio::test]
async fn reliability_17_a_failing_instance_is_cut_off_then_readmitted_when_it_recovers() {
    let fleet = fleet(&["good", "bad"]).await;
    let bad_addr = fleet.servers[1].local_addr().to_string();
    let changes = Changes::default();
    let open_timeout = Duration::from_millis(300);
    let breakers = InstanceBreakers::new(
        BreakerSettings::default()
            .trip(Trip::ConsecutiveFailures(5))
            .open_timeout(open_timeout),
    )
    .observer(changes.clone());
    let client = PairClient::new(
        erpc::Client::builder()
            .attempt_layer(breakers.clone())
            .discover_with(&fleet.list, "Pair", Arc::new(RoundRobin::default()))
            .await
            .unwrap(),
    );
    for _ in 0..10 {
        client.read().await.unwrap();
    }
    // The backend fails every call from now on.
    let broke = Instant::now();
    fleet.faults[1].set_all(failing());
    let mut failed_before_open = 0;
    while changes.when(&bad_addr, BreakerState::Open).is_none() {
        if client.read().await.is_err() {
            failed_before_open += 1;
        }
        assert!(broke.elapsed() < Duration::from_secs(5), "never opened");
    }
    let opened = changes.when(&bad_addr, BreakerState::Open).unwrap();
    // While it is open every call goes to the good one.
    let served_bad = fleet.served[1].load(Ordering::Relaxed);
    for _ in 0..20 {
        assert_eq!(client.read().await.unwrap(), "good");
    }
    assert_eq!(fleet.served[1].load(Ordering::Relaxed), served_bad);
    // It recovers: the breaker half-opens after its timeout, a trial call succeeds, closed.
    let recovered = Instant::now();
    fleet.faults[1].clear();
    let mut failed_after_recovery = 0;
    while changes.when(&bad_addr, BreakerState::Closed).is_none() {
        if client.read().await.is_err() {
            failed_after_recovery += 1;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert!(recovered.elapsed() < Duration::from_secs(5), "never closed");
    }
    let closed = changes.when(&bad_addr, BreakerState::Closed).unwrap();
    let (to_open, to_close) = (opened - broke, closed - recovered);
    println!(
        "RELIABILITY 17: 5 consecutive failures, open timeout {open_timeout:?}: opened {to_open:?} \
         after the backend broke ({failed_before_open} calls failed, round-robin over 2), closed \
         {to_close:?} after it recovered ({failed_after_recovery} failed)"
    );
    assert_eq!(failed_before_open, 5, "exactly the trip count");
    assert_eq!(failed_after_recovery, 0);
    assert!(
        to_close <= open_timeout + Duration::from_secs(1),
        "{to_close:?}"
    );
    assert_eq!(
        changes.states(&bad_addr),
        [
            BreakerState::Open,
            BreakerState::HalfOpen,
            BreakerState::Closed
        ]
    );
    let bad: erpc::Address = bad_addr.parse().unwrap();
    assert_eq!(breakers.state(&bad), Some(BreakerState::Closed));
    // Back in the rotation.
    let mut names = Vec::new();
    for _ in 0..4 {
        names.push(client.read().await.unwrap());
    }
    assert!(names.iter().any(|n| n == "bad"), "{names:?}");
    for server in fleet.servers {
        server.shutdown().await;
    }
}

#[tokio::test]
async fn an_instance_breaker_counts_what_the_layer_below_it_returns_not_the_wire() {
    // A layer between the breaker and the wire turns the backend's `unavailable` into
    // `not_found` (a success to a breaker): the breaker counts that and never opens. (Right
    // above the wire, the breaker leaves its count to the wire; with a layer between, it
    // must not.)
    let fleet = fleet(&["a"]).await;
    fleet.faults[0].set_all(failing());
    let breakers =
        InstanceBreakers::new(BreakerSettings::default().trip(Trip::ConsecutiveFailures(2)));
    fn hide(status: Status) -> Status {
        Status::not_found(status.message())
    }
    let client = PairClient::new(
        erpc::Client::builder()
            .attempt_layer(breakers.clone())
            .attempt_layer(tower::util::MapErrLayer::new(hide as fn(Status) -> Status))
            .discover_with(&fleet.list, "Pair", Arc::new(RoundRobin::default()))
            .await
            .unwrap(),
    );
    for _ in 0..5 {
        let e = client.read().await.unwrap_err();
        assert_eq!(e.code(), Code::NotFound, "{e}");
    }
    let addr: erpc::Address = fleet.servers[0].local_addr().to_string().parse().unwrap();
    assert_eq!(breakers.state(&addr), Some(BreakerState::Closed));
    for server in fleet.servers {
        server.shutdown().await;
    }
}

#[tokio::test]
async fn every_instance_open_fails_a_call_at_once_naming_the_breaker() {
    let (fleet, breakers) = two_failing(Duration::from_secs(30)).await;
    let client = PairClient::new(
        erpc::Client::builder()
            .attempt_layer(breakers)
            .discover_with(&fleet.list, "Pair", Arc::new(RoundRobin::default()))
            .await
            .unwrap(),
    );
    // Two failures each: both open.
    for _ in 0..4 {
        let e = client.read().await.unwrap_err();
        assert!(e.message().contains("injected"), "{e}");
    }
    let served = fleet
        .served
        .iter()
        .map(|s| s.load(Ordering::Relaxed))
        .sum::<u64>();
    let start = Instant::now();
    let e = client.read().await.unwrap_err();
    let took = start.elapsed();
    println!("every instance's breaker open: the call failed in {took:?}: {e}");
    assert_eq!(e.code(), Code::Unavailable);
    assert!(e.message().contains("circuit breaker open"), "{e}");
    assert!(took < Duration::from_millis(100), "{took:?}");
    // Nothing reached the servers (the faults answer before the handler anyway; the
    // refusal happens before a connection is even picked).
    let after = fleet
        .served
        .iter()
        .map(|s| s.load(Ordering::Relaxed))
        .sum::<u64>();
    assert_eq!(after, served);
    for server in fleet.servers {
        server.shutdown().await;
    }
}

#[tokio::test]
async fn a_method_breaker_guards_its_method_and_no_other() {
    let fleet = fleet(&["only"]).await;
    fleet.faults[0].set("read", failing());
    let changes = Changes::default();
    let breakers = MethodBreakers::new(
        PerMethod::new(None).method(
            "Pair",
            "read",
            Some(
                BreakerSettings::default()
                    .trip(Trip::ConsecutiveFailures(3))
                    .open_timeout(Duration::from_secs(30)),
            ),
        ),
    )
    .observer(changes.clone());
    let client = PairClient::new(
        erpc::Client::builder()
            .layer(breakers.clone())
            .connect(fleet.servers[0].local_addr())
            .await
            .unwrap(),
    );
    for _ in 0..3 {
        let e = client.read().await.unwrap_err();
        assert!(e.message().contains("injected"), "{e}");
    }
    let e = client.read().await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable);
    assert!(
        e.message()
            .contains("circuit breaker open: method Pair.read"),
        "{e}"
    );
    assert_eq!(breakers.state("Pair", "read"), Some(BreakerState::Open));
    assert_eq!(
        breakers.state("Pair", "write"),
        None,
        "no breaker for write"
    );
    // The other method is untouched.
    assert_eq!(client.write().await.unwrap(), "only");
    eventually(
        || changes.states("Pair.read") == [BreakerState::Open],
        || format!("{:?}", changes.states("Pair.read")),
    )
    .await;
    for server in fleet.servers {
        server.shutdown().await;
    }
}

#[tokio::test]
async fn clients_sharing_instance_breakers_both_recover_when_the_instances_do() {
    // A fresh user's report: the second client sharing the breakers took their news away
    // from the first, which then refused every call for good once the instances healed.
    let (fleet, breakers) = two_failing(Duration::from_millis(300)).await;
    let client = || async {
        PairClient::new(
            erpc::Client::builder()
                .attempt_layer(breakers.clone())
                .discover_with(&fleet.list, "Pair", Arc::new(RoundRobin::default()))
                .await
                .unwrap(),
        )
    };
    let (first, second) = (client().await, client().await);
    for _ in 0..4 {
        first.read().await.unwrap_err();
    }
    // The second client meets both open breakers (round-robin: one call each).
    for _ in 0..2 {
        let refused = second.read().await.unwrap_err();
        assert!(refused.message().contains("circuit breaker"), "{refused}");
    }
    for f in &fleet.faults {
        f.clear();
    }
    // Once the open timeout has half-opened both breakers, each client's next call is let
    // through — a trial call, or a call to an instance a trial closed.
    let give_up = Instant::now() + Duration::from_secs(5);
    while !fleet
        .servers
        .iter()
        .all(|s| breakers.state(s.local_addr()) == Some(BreakerState::HalfOpen))
    {
        assert!(Instant::now() < give_up, "the breakers never half-opened");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for (name, client) in [("first", &first), ("second", &second), ("first", &first)] {
        if let Err(e) = client.read().await {
            panic!("the {name} client still refuses after the breakers half-opened: {e}");
        }
    }
    for server in fleet.servers {
        server.shutdown().await;
    }
}
