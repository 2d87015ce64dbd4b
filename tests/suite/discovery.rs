//! Discovery in clients and servers: servers register on start and deregister on shutdown;
//! clients follow a service's instances, balance across them, and skip unreachable ones.

use crate::support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use erpc::discovery::{Discover, InProcess, Instance, StaticList, Weighted};
use erpc::{ServerHandle, Status};
use support::{Named, WhoamiClient, WhoamiServer};

async fn instance(registry: &InProcess, name: &str, weight: u32) -> ServerHandle {
    erpc::Server::builder()
        .add_service(WhoamiServer::new(Named(name.into())))
        .register(
            Arc::new(registry.clone()),
            Instance {
                id: name.into(),
                weight,
                ..Instance::default()
            },
        )
        .serve(["tcp://127.0.0.1:0"])
        .await
        .unwrap()
}

async fn tally(client: &WhoamiClient, calls: usize) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for _ in 0..calls {
        *seen.entry(client.name().await.unwrap()).or_default() += 1;
    }
    seen
}

#[tokio::test]
async fn servers_register_and_clients_spread_calls_round_robin() {
    let registry = InProcess::default();
    let servers = [
        instance(&registry, "a", 100).await,
        instance(&registry, "b", 100).await,
        instance(&registry, "c", 100).await,
    ];
    assert_eq!(registry.instances("Whoami").len(), 3);
    let client = WhoamiClient::new(
        erpc::Client::builder()
            .discover(&registry, "Whoami")
            .await
            .unwrap(),
    );
    let seen = tally(&client, 300).await;
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen.values().all(|n| *n == 100), "{seen:?}");
    for s in servers {
        s.shutdown().await;
    }
}

#[tokio::test]
async fn weighted_balancing_follows_the_weights() {
    let registry = InProcess::default();
    let heavy = instance(&registry, "heavy", 300).await;
    let light = instance(&registry, "light", 100).await;
    let client = WhoamiClient::new(
        erpc::Client::builder()
            .discover_with(&registry, "Whoami", Arc::new(Weighted::default()))
            .await
            .unwrap(),
    );
    let seen = tally(&client, 400).await;
    assert_eq!((seen["heavy"], seen["light"]), (300, 100), "{seen:?}");
    heavy.shutdown().await;
    light.shutdown().await;
}

#[tokio::test]
async fn a_server_shutting_down_leaves_the_list_first() {
    let registry = InProcess::default();
    let a = instance(&registry, "a", 100).await;
    let b = instance(&registry, "b", 100).await;
    let client = WhoamiClient::new(
        erpc::Client::builder()
            .discover(&registry, "Whoami")
            .await
            .unwrap(),
    );
    assert_eq!(tally(&client, 10).await.len(), 2);
    a.shutdown().await;
    assert_eq!(registry.instances("Whoami").len(), 1);
    // Every call after the shutdown goes to b, and none fails.
    let seen = tally(&client, 20).await;
    assert_eq!(seen.get("b"), Some(&20), "{seen:?}");
    b.shutdown().await;
    let err = client.name().await.unwrap_err();
    assert_eq!(err.code(), erpc::Code::Unavailable);
    assert!(err.message().contains("no instance"), "{err}");
}

#[tokio::test]
async fn an_unreachable_instance_is_skipped_and_calls_go_to_the_others() {
    let live = erpc::Server::builder()
        .add_service(WhoamiServer::new(Named("live".into())))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .unwrap();
    // A port nobody listens on: port 1 (tcpmux). Not a port released after binding port 0,
    // which a server of a test running alongside may be handed next.
    let dead = "tcp://127.0.0.1:1".to_string();
    let list = StaticList::addrs([dead.as_str(), &live.local_addr().to_string()]).unwrap();
    let client = WhoamiClient::new(
        erpc::Client::builder()
            .discover(&list, "Whoami")
            .await
            .unwrap(),
    );
    for _ in 0..20 {
        assert_eq!(client.name().await.unwrap(), "live");
    }
    live.shutdown().await;
}

/// A call that no instance can take because none can be dialled says why each could not —
/// from the first call on: it tries every instance before failing, and does not end with
/// the last attempt's failure alone — naming at most three, with "…" only when there are
/// more; and it is marked a connect failure, so a tool can tell it from a server's answer.
#[tokio::test]
async fn no_reachable_instance_says_why_each_could_not_be_dialled() {
    // Ports nobody listens on (see above).
    for (n, more) in [(1, None), (2, None), (3, None), (5, Some(2))] {
        let addrs: Vec<String> = (1..=n).map(|p| format!("tcp://127.0.0.1:{p}")).collect();
        let list = StaticList::addrs(addrs.iter().map(String::as_str)).unwrap();
        let client = WhoamiClient::new(
            erpc::Client::builder()
                .discover(&list, "Whoami")
                .await
                .unwrap(),
        );
        let err = client.name().await.unwrap_err();
        assert_eq!(err.code(), erpc::Code::Unavailable, "{err}");
        assert!(err.is_connect_failure(), "{n}: {err}");
        let said = err.message();
        assert!(
            said.starts_with(
                "no instance of \"Whoami\" is reachable: cannot connect to tcp://127.0.0.1:"
            ),
            "{n}: {said}"
        );
        let named = addrs.iter().filter(|a| said.contains(a.as_str())).count();
        assert_eq!(named, n.min(3), "{n}: {said}");
        assert_eq!(
            said.matches("Connection refused").count(),
            n.min(3),
            "{n}: {said}"
        );
        match more {
            Some(more) => assert!(said.contains(&format!("… and {more} more")), "{said}"),
            None => assert!(!said.contains('…'), "{said}"),
        }
        assert!(said.contains("retry"), "{said}");
    }
}

/// The client's reconnect backoff (`ClientBuilder::backoff`) is the one the instances of a
/// discovered service back off by: with 5 ms to 10 ms, the wait a refused call names never
/// grows past 10 ms — not to the 5 s default — however long the instance stays down. (A
/// fresh user read a grown wait there; this pins it.)
#[tokio::test]
async fn a_discovered_instance_redials_within_the_client_backoff() {
    let list = StaticList::addrs(["tcp://127.0.0.1:1"]).unwrap();
    let client = WhoamiClient::new(
        erpc::Client::builder()
            .backoff(Duration::from_millis(5), Duration::from_millis(10))
            .discover(&list, "Whoami")
            .await
            .unwrap(),
    );
    let mut longest = Duration::ZERO;
    let mut hinted = 0;
    for _ in 0..40 {
        let err = client.name().await.unwrap_err();
        assert_eq!(err.code(), erpc::Code::Unavailable, "{err}");
        if let Some(wait) = err.retry_after() {
            hinted += 1;
            longest = longest.max(wait);
            assert!(wait <= Duration::from_millis(10), "{wait:?}: {err}");
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    eprintln!("{hinted} hinted refusals, the longest wait {longest:?}");
    assert!(hinted > 0, "a refusal while backing off names its wait");
}

#[tokio::test]
async fn a_static_list_is_a_discovery_too() {
    let list = StaticList::addrs(["tcp://127.0.0.1:1", "tcp://127.0.0.1:2"]).unwrap();
    let endpoints = list.subscribe("anything").await.unwrap();
    assert_eq!(endpoints.borrow().len(), 2);
}

/// A registry that accepts registrations but never answers a deregistration, as an
/// unreachable one would not.
struct Unanswering;

struct Stuck;

#[async_trait::async_trait]
impl erpc::discovery::Registration for Stuck {
    async fn deregister(self: Box<Self>) -> Result<(), Status> {
        std::future::pending().await
    }
}

#[async_trait::async_trait]
impl erpc::discovery::Register for Unanswering {
    async fn register(
        &self,
        _: Instance,
    ) -> Result<Box<dyn erpc::discovery::Registration>, Status> {
        Ok(Box::new(Stuck))
    }
}

#[tokio::test]
async fn an_unanswering_registry_does_not_hold_a_shutdown_up() {
    let server = erpc::Server::builder()
        .add_service(WhoamiServer::new(Named("a".into())))
        .register(Arc::new(Unanswering), Instance::default())
        .serve(["tcp://127.0.0.1:0"])
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    assert!(server.shutdown_timeout(Duration::from_millis(300)).await);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "shutdown took {took:?}");
}

/// A port whose connections are accepted and then never read or answered: a stopped
/// (SIGSTOP) or hung process, whose kernel still completes TCP handshakes.
struct BlackHole {
    addr: std::net::SocketAddr,
    release: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl BlackHole {
    /// Close the port and every connection it accepted; returns once they are closed.
    async fn release(self) {
        drop(self.release);
        self.task.await.unwrap();
    }
}

async fn black_hole() -> BlackHole {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        tokio::pin!(released);
        loop {
            tokio::select! {
                _ = &mut released => return,
                accepted = listener.accept() => match accepted {
                    Ok((socket, _)) => held.push(socket),
                    Err(_) => return,
                },
            }
        }
    });
    BlackHole {
        addr,
        release,
        task,
    }
}

#[tokio::test]
async fn a_stalled_instance_is_skipped_until_it_answers_again() {
    stalled_then_recovered(Arc::new(erpc::discovery::RoundRobin::default())).await;
}

/// The same with a policy that never picks an unusable instance itself: the client still
/// re-checks it (before, it stayed suspect for good: "the recovered instance got no call").
#[tokio::test]
async fn a_stalled_instance_recovers_under_a_policy_that_avoids_it() {
    stalled_then_recovered(Arc::new(erpc::discovery::LeastOutstanding::default())).await;
}

async fn stalled_then_recovered(balancer: Arc<dyn erpc::discovery::Balancer>) {
    let live = erpc::Server::builder()
        .add_service(WhoamiServer::new(Named("live".into())))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .unwrap();
    let hole = black_hole().await;
    let stalled = hole.addr;
    let list = StaticList::addrs([
        format!("tcp://{stalled}").as_str(),
        &live.local_addr().to_string(),
    ])
    .unwrap();
    let config = erpc::ClientConfig {
        heartbeat: erpc::HeartbeatConfig {
            interval: Duration::from_millis(100),
            misses: 3,
        },
        timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_millis(500),
        backoff_initial: Duration::from_millis(100),
        backoff_max: Duration::from_millis(400),
        ..erpc::ClientConfig::default()
    };
    let client = WhoamiClient::new(
        erpc::Client::builder()
            .config(config)
            .discover_with(&list, "Whoami", balancer)
            .await
            .unwrap(),
    );
    // The first call to the stalled instance is accepted by its kernel and never answered:
    // it fails when the connection misses its heartbeats, well before its deadline.
    let started = tokio::time::Instant::now();
    let first = client.name().await;
    let second = client.name().await;
    let (hung, answered) = match (first, second) {
        (Err(e), Ok(name)) | (Ok(name), Err(e)) => (e, name),
        other => panic!("one call should have hung on the stalled instance: {other:?}"),
    };
    eprintln!(
        "the stalled instance was found out after {:?}",
        started.elapsed()
    );
    assert_eq!(hung.code(), erpc::Code::Unavailable, "{hung:?}");
    assert_eq!(answered, "live");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    // From then on the stalled instance is skipped: each time its backoff passes it is
    // re-checked (a PING on a new connection) in the background, and no call waits for
    // that (a check of the black hole takes the whole connect timeout, 500 ms).
    let started = tokio::time::Instant::now();
    let (mut calls, mut slowest) = (0, Duration::ZERO);
    while started.elapsed() < Duration::from_secs(2) {
        let call = tokio::time::Instant::now();
        assert_eq!(client.name().await.unwrap(), "live");
        slowest = slowest.max(call.elapsed());
        calls += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!("{calls} calls while it stayed stalled, none failed, the slowest {slowest:?}");
    assert!(slowest < Duration::from_millis(250), "{slowest:?}");
    // It recovers: a real server on the same port passes the check and takes calls again.
    hole.release().await;
    let recovered = erpc::Server::builder()
        .add_service(WhoamiServer::new(Named("recovered".into())))
        .serve([format!("tcp://{stalled}")])
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    loop {
        if client.name().await.unwrap() == "recovered" {
            eprintln!(
                "the recovered instance took calls after {:?}",
                started.elapsed()
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the recovered instance got no call"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    recovered.shutdown().await;
    live.shutdown().await;
}
