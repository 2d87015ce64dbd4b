//! Balancers see the call and the load the client keeps: least-outstanding-requests (built
//! only on the in-flight counts) and P2C over peak-EWMA steer calls away from a slow
//! instance; consistent hashing keeps a key on one instance; location-aware balancing
//! prefers the client's zone and spills over when it is gone.

use crate::support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use erpc::Status;
use erpc::discovery::{
    Balancer, ConsistentHash, LeastOutstanding, Locality, Nearest, NetworkQuality, P2c, RoundRobin,
    StaticList,
};
use futures_util::stream::{self, StreamExt};
use support::mem_addr;

#[erpc::service]
pub trait Work {
    /// Sleeps this instance's delay, then says which instance it is.
    async fn work(&self) -> Result<String, Status>;
}

struct Instance {
    name: String,
    delay: Duration,
}

impl Work for Instance {
    async fn work(&self) -> Result<String, Status> {
        tokio::time::sleep(self.delay).await;
        Ok(self.name.clone())
    }
}

/// Three instances, the third ten times slower; the share of calls each got.
async fn shares(balancer: Arc<dyn Balancer>) -> HashMap<String, usize> {
    shares_and_p99(balancer).await.0
}

/// Three instances, the third ten times slower: the share of 600 calls (24 at a time) each
/// got, and the calls' latency: mean and 99th percentile.
async fn shares_and_p99(
    balancer: Arc<dyn Balancer>,
) -> (HashMap<String, usize>, (Duration, Duration)) {
    let mut servers = Vec::new();
    for (name, ms) in [("fast-a", 5), ("fast-b", 5), ("slow", 50)] {
        let server = erpc::Server::builder()
            .add_service(WorkServer::new(Instance {
                name: name.into(),
                delay: Duration::from_millis(ms),
            }))
            .serve([mem_addr()])
            .await
            .unwrap();
        servers.push(server);
    }
    let list = StaticList::addrs(servers.iter().map(|s| s.local_addr())).unwrap();
    let client = WorkClient::new(
        erpc::Client::builder()
            .discover_with(&list, "Work", balancer)
            .await
            .unwrap(),
    );
    // 600 calls, 24 at a time.
    let answers: Vec<(String, Duration)> = stream::iter(0..600)
        .map(|_| {
            let client = client.clone();
            async move {
                let start = std::time::Instant::now();
                let name = client.work().await.unwrap();
                (name, start.elapsed())
            }
        })
        .buffer_unordered(24)
        .collect()
        .await;
    for server in servers {
        server.shutdown().await;
    }
    let mut counts = HashMap::new();
    let mut took: Vec<Duration> = answers.iter().map(|(_, t)| *t).collect();
    for (name, _) in answers {
        *counts.entry(name).or_default() += 1;
    }
    took.sort();
    let p99 = took[took.len() * 99 / 100];
    let mean = took.iter().sum::<Duration>() / took.len() as u32;
    (counts, (mean, p99))
}

#[tokio::test]
async fn least_outstanding_steers_away_from_a_slow_instance() {
    let even = shares(Arc::new(RoundRobin::default())).await;
    let steered = shares(Arc::new(LeastOutstanding::default())).await;
    let slow_even = even.get("slow").copied().unwrap_or(0);
    let slow_steered = steered.get("slow").copied().unwrap_or(0);
    println!(
        "slow instance's calls of 600: round-robin {slow_even}, least-outstanding {slow_steered}"
    );
    assert!(slow_even >= 180, "round-robin gives it a third: {even:?}");
    assert!(
        slow_steered < 120,
        "least-outstanding gives the slow one clearly fewer: {steered:?}"
    );
}

#[tokio::test]
async fn a_subset_by_group_version_and_tags_limits_the_instances_called() {
    let mut servers = Vec::new();
    let mut endpoints = Vec::new();
    for (name, group, version, tags) in [
        ("stable-1", "stable", "1", vec!["eu"]),
        ("canary-eu", "canary", "2", vec!["eu", "ssd"]),
        ("canary-us", "canary", "2", vec!["us"]),
    ] {
        let server = erpc::Server::builder()
            .add_service(WorkServer::new(Instance {
                name: name.into(),
                delay: Duration::ZERO,
            }))
            .serve([mem_addr()])
            .await
            .unwrap();
        let instance = erpc::discovery::Instance {
            group: group.into(),
            version: version.into(),
            tags: tags.into_iter().map(String::from).collect(),
            ..erpc::discovery::Instance::new("Work", name, server.local_addr().to_string())
        };
        endpoints.push(instance.endpoint().unwrap());
        servers.push(server);
    }
    let list = StaticList::new(endpoints);
    let called = |subset: erpc::discovery::Subset| {
        let list = list.clone();
        async move {
            let client = WorkClient::new(
                erpc::Client::builder()
                    .subset(subset)
                    .discover(&list, "Work")
                    .await
                    .unwrap(),
            );
            let mut names = Vec::new();
            for _ in 0..6 {
                names.push(client.work().await?);
            }
            names.sort();
            names.dedup();
            Ok::<_, Status>(names)
        }
    };
    use erpc::discovery::Subset;
    assert_eq!(
        called(Subset::default().group("canary")).await.unwrap(),
        ["canary-eu", "canary-us"]
    );
    assert_eq!(
        called(Subset::default().version("2").tag("ssd"))
            .await
            .unwrap(),
        ["canary-eu"]
    );
    assert_eq!(
        called(Subset::default()).await.unwrap(),
        ["canary-eu", "canary-us", "stable-1"]
    );
    let none = called(Subset::default().group("canary").version("1"))
        .await
        .unwrap_err();
    assert_eq!(none.code(), erpc::Code::Unavailable);
    assert!(
        none.message().contains("group \"canary\", version \"1\""),
        "{none}"
    );
}

#[tokio::test]
async fn p2c_and_least_outstanding_steer_away_from_a_slow_instance_and_cut_the_p99() {
    let (even, p99_even) = shares_and_p99(Arc::new(RoundRobin::default())).await;
    let (p2c, p99_p2c) = shares_and_p99(Arc::new(P2c)).await;
    let (least, p99_least) = shares_and_p99(Arc::new(LeastOutstanding::default())).await;
    let slow = |counts: &HashMap<String, usize>| counts.get("slow").copied().unwrap_or(0);
    println!(
        "one instance 10x slower (50 ms vs 5 ms), 600 calls 24 at a time: its calls, then the \
         mean and p99 latency — round-robin {} {p99_even:?}, P2C peak-EWMA {} {p99_p2c:?}, \
         least-outstanding {} {p99_least:?}",
        slow(&even),
        slow(&p2c),
        slow(&least)
    );
    assert!(slow(&even) >= 180, "round-robin gives it a third: {even:?}");
    assert!(slow(&p2c) < 60, "P2C all but drops it: {p2c:?}");
    assert!(slow(&least) < 120, "{least:?}");
    // The slow one still takes overflow (it is the least loaded when the fast ones have ten
    // calls each in flight), so the p99 stays one of its calls; the mean shows the gain.
    // A loaded machine may stretch any call: compare, not bound.
    assert!(p99_p2c.0 < p99_even.0, "{p99_p2c:?} vs {p99_even:?}");
    assert!(p99_least.0 < p99_even.0, "{p99_least:?} vs {p99_even:?}");
}

/// Servers named by their instance, registered with these zones.
async fn zoned(zones: &[(&str, &str)]) -> (Vec<erpc::ServerHandle>, StaticList) {
    let mut servers = Vec::new();
    let mut endpoints = Vec::new();
    for (name, zone) in zones {
        let server = erpc::Server::builder()
            .add_service(WorkServer::new(Instance {
                name: (*name).into(),
                delay: Duration::ZERO,
            }))
            .serve([mem_addr()])
            .await
            .unwrap();
        let mut instance =
            erpc::discovery::Instance::new("Work", *name, server.local_addr().to_string());
        instance.metadata.insert("zone".into(), (*zone).into());
        endpoints.push(instance.endpoint().unwrap());
        servers.push(server);
    }
    (servers, StaticList::new(endpoints))
}

#[tokio::test]
async fn a_hash_key_keeps_its_instance_across_calls() {
    let (servers, list) = zoned(&[("a", ""), ("b", ""), ("c", ""), ("d", "")]).await;
    let client = WorkClient::new(
        erpc::Client::builder()
            .discover_with(&list, "Work", Arc::new(ConsistentHash::default()))
            .await
            .unwrap(),
    );
    let mut owners = HashMap::new();
    for user in 0..40 {
        let key = format!("user-{user}");
        let first = client.work().hash_key(&key).await.unwrap();
        for _ in 0..3 {
            assert_eq!(client.work().hash_key(&key).await.unwrap(), first, "{key}");
        }
        *owners.entry(first).or_insert(0) += 1;
    }
    assert!(
        owners.len() >= 3,
        "40 keys spread over the instances: {owners:?}"
    );
    for server in servers {
        server.shutdown().await;
    }
}

#[tokio::test]
async fn location_aware_prefers_the_zone_and_spills_over_when_it_is_gone() {
    let (mut servers, list) = zoned(&[("a1", "a"), ("a2", "a"), ("b1", "b")]).await;
    let here = Locality {
        zone: Some("a".into()),
        ..Locality::default()
    };
    let client = WorkClient::new(
        erpc::Client::builder()
            .discover_with(&list, "Work", Arc::new(Nearest::new(here)))
            .await
            .unwrap(),
    );
    let mut names = HashMap::new();
    for _ in 0..20 {
        *names.entry(client.work().await.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(names.get("a1"), Some(&10), "{names:?}");
    assert_eq!(names.get("a2"), Some(&10), "{names:?}");
    // Zone a goes away: its instances turn suspect as their connections fail, and calls
    // spill over to zone b (a call already on a dying connection may fail).
    for server in servers.drain(..2) {
        server.shutdown().await;
    }
    let mut failed = 0;
    let mut last = Vec::new();
    for _ in 0..20 {
        match client.work().await {
            Ok(name) => last.push(name),
            Err(_) => failed += 1,
        }
    }
    assert!(failed <= 2, "{failed} calls failed");
    assert!(
        last[last.len() - 10..].iter().all(|n| n == "b1"),
        "{last:?}"
    );
    for server in servers {
        server.shutdown().await;
    }
}

/// Network quality, with what it saw of each candidate's round trip at its last pick.
#[derive(Default)]
struct Watching {
    inner: NetworkQuality,
    rtts: std::sync::Mutex<Vec<Option<Duration>>>,
}

impl Balancer for Watching {
    fn pick(&self, call: &erpc::discovery::Pick<'_>, c: &erpc::discovery::Candidates<'_>) -> usize {
        *self.rtts.lock().unwrap() = (0..c.len()).map(|i| c.load(i).rtt()).collect();
        self.inner.pick(call, c)
    }
}

#[tokio::test]
async fn network_quality_learns_each_instances_round_trip_from_heartbeat_pings() {
    let (servers, list) = zoned(&[("a", ""), ("b", "")]).await;
    let watching = Arc::new(Watching::default());
    let client = WorkClient::new(
        erpc::Client::builder()
            .config(erpc::ClientConfig {
                heartbeat: erpc::HeartbeatConfig {
                    interval: Duration::from_millis(50),
                    misses: 3,
                },
                ..erpc::ClientConfig::default()
            })
            .discover_with(&list, "Work", watching.clone())
            .await
            .unwrap(),
    );
    // Unmeasured instances are tried first: both get a connection.
    let mut first = vec![client.work().await.unwrap(), client.work().await.unwrap()];
    first.sort();
    assert_eq!(first, ["a", "b"]);
    assert_eq!(*watching.rtts.lock().unwrap(), [None, None]);
    // Idle connections send heartbeat PINGs; their PONGs measure the round trip. The next
    // pick after a few idle intervals sees both (a loaded machine may need more than one).
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        client.work().await.unwrap();
        if watching.rtts.lock().unwrap().iter().all(Option::is_some) {
            break;
        }
    }
    let rtts = watching.rtts.lock().unwrap().clone();
    println!("PING round trips over mem://: {rtts:?}");
    assert!(rtts.iter().all(Option::is_some), "{rtts:?}");
    for server in servers {
        server.shutdown().await;
    }
}

/// P2C, with the latency estimate of the one instance at each pick.
#[derive(Default)]
struct WatchingLatency {
    latencies: std::sync::Mutex<Vec<Duration>>,
}

impl Balancer for WatchingLatency {
    fn pick(&self, call: &erpc::discovery::Pick<'_>, c: &erpc::discovery::Candidates<'_>) -> usize {
        self.latencies.lock().unwrap().push(c.load(0).latency());
        P2c.pick(call, c)
    }
}

/// A call's latency sample ends when its answer is read off the connection, not when its
/// caller gets round to polling for it: a busy caller does not make the instance look slow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latency_sample_ends_when_the_answer_arrives_not_when_the_caller_looks() {
    let server = erpc::Server::builder()
        .add_service(WorkServer::new(Instance {
            name: "a".into(),
            delay: Duration::ZERO,
        }))
        .serve([mem_addr()])
        .await
        .unwrap();
    let list = StaticList::addrs([server.local_addr()]).unwrap();
    let watching = Arc::new(WatchingLatency::default());
    let client = WorkClient::new(
        erpc::Client::builder()
            .discover_with(&list, "Work", watching.clone())
            .await
            .unwrap(),
    );
    client.work().await.unwrap();
    // Sent on the first poll; then this thread (not a runtime worker: the reader runs on
    // one) is busy for 300 ms while the answer arrives.
    let mut call = std::pin::pin!(std::future::IntoFuture::into_future(client.work()));
    std::future::poll_fn(|cx| {
        assert!(
            call.as_mut().poll(cx).is_pending(),
            "sent, not answered yet"
        );
        std::task::Poll::Ready(())
    })
    .await;
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(call.await.unwrap(), "a");
    // The next pick sees the estimate the busy call left.
    client.work().await.unwrap();
    let seen = *watching.latencies.lock().unwrap().last().unwrap();
    assert!(
        seen < Duration::from_millis(150),
        "the instance answered at once, but its latency estimate is {seen:?}"
    );
    server.shutdown().await;
}
