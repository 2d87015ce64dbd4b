//! Balancers see the call and the load the client keeps: a least-outstanding-requests
//! balancer, built only on the in-flight counts, steers calls away from a slow instance.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use erpc::Status;
use erpc::discovery::{Balancer, LeastOutstanding, RoundRobin, StaticList};
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
    let answers: Vec<String> = stream::iter(0..600)
        .map(|_| {
            let client = client.clone();
            async move { client.work().await.unwrap() }
        })
        .buffer_unordered(24)
        .collect()
        .await;
    for server in servers {
        server.shutdown().await;
    }
    let mut counts = HashMap::new();
    for name in answers {
        *counts.entry(name).or_default() += 1;
    }
    counts
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
