//! The ZooKeeper registry against a real ZooKeeper (Debian's zookeeperd), started here on a
//! free loopback port with a temporary data directory.

mod support;

use std::sync::Arc;
use std::time::Duration;

use erpc_center::zookeeper::ZooKeeperRegistry;
use erpc_core::ServerHandle;
use erpc_core::discovery::{Instance, Register};
use support::zookeeper::zookeeper;

#[test]
#[ignore = "not a test: the provider process that the SIGKILL test starts"]
fn provider_process() {
    support::process::provider_process();
}

async fn provider(registry: &ZooKeeperRegistry, name: &str) -> ServerHandle {
    support::provider(Arc::new(registry.clone()), name).await
}

#[tokio::test]
async fn register_discover_follow_and_deregister_on_zookeeper() {
    let zk = zookeeper().await;
    let registry = ZooKeeperRegistry::new(&zk.cluster).session_timeout(Duration::from_secs(2));
    // The sessions keep the nodes past their timeout; a shutdown deletes the node at once and
    // the consumer's child watch fires.
    support::two_providers_come_and_go(&registry, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn a_restarted_provider_takes_over_its_node_from_the_old_session() {
    let zk = zookeeper().await;
    let registry = ZooKeeperRegistry::new(&zk.cluster).session_timeout(Duration::from_secs(4));
    support::a_replaced_registration_survives_the_old_deregistering(&registry).await;
}

#[tokio::test]
async fn killed_provider_processes_disappear_when_their_sessions_time_out() {
    let zk = zookeeper().await;
    // The server's ticks are 200 ms, so a 1 s session is granted as asked.
    let ttl = Duration::from_secs(1);
    let registry = ZooKeeperRegistry::new(&zk.cluster);
    let took = support::process::removal_after_sigkill(
        support::process::Via::ZooKeeper(&zk.cluster),
        &registry,
        8,
        ttl,
        "zookeeper (session timeout 1 s, tick 200 ms)",
    )
    .await;
    // ZooKeeper expires a session between its timeout and one tick later; the client pings
    // every third of it, so the last sign of life came at most that long before the kill.
    assert!(took[0] >= Duration::from_millis(500), "{took:?}");
    let p99 = support::process::quantile(&took, 0.99);
    assert!(p99 <= ttl + Duration::from_millis(200 + 600), "{took:?}");
}

#[tokio::test]
async fn the_last_known_list_stays_while_zookeeper_is_down() {
    let zk = zookeeper().await;
    let registry = ZooKeeperRegistry::new(&zk.cluster).session_timeout(Duration::from_secs(4));
    let a = provider(&registry, "a").await;
    let client = support::consumer(&registry).await;
    assert_eq!(client.name().await.unwrap(), "a");
    drop(zk);
    for _ in 0..10 {
        assert_eq!(client.name().await.unwrap(), "a");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Deregistering cannot reach ZooKeeper: the shutdown's limit bounds it.
    let started = tokio::time::Instant::now();
    a.shutdown_timeout(Duration::from_secs(1)).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(1_500),
        "shutdown took {took:?}"
    );
}

/// ZooKeeper started again empty at the same address (what clients see of a restore from an
/// old snapshot): the consumer's session cannot resume there (ZooKeeper refuses a client that
/// has seen a newer transaction than its own, and does not know the session), so it expires,
/// and the consumer lists again in a new session — dropping the instances ZooKeeper no longer
/// has — within about 1.4 session timeouts.
#[tokio::test]
async fn a_consumer_lists_again_when_zookeeper_restarts_empty() {
    let zk = zookeeper().await;
    let registry = ZooKeeperRegistry::new(&zk.cluster).session_timeout(Duration::from_secs(1));
    // Registered in a session of its own that nothing renews after the restart.
    let old = registry
        .register(Instance::new("Whoami", "old", "tcp://127.0.0.1:1"))
        .await
        .unwrap();
    let mut list = support::subscribe(&registry).await;
    assert_eq!(list.borrow_and_update().len(), 1);

    let zk = zk.restart_empty().await;
    // Its provider is gone too: nothing registers it again on the new ZooKeeper (dropped
    // only now, its session's close cannot remove anything there).
    drop(old);
    let fresh = ZooKeeperRegistry::new(&zk.cluster);
    let _new = fresh
        .register(Instance::new("Whoami", "new", "tcp://127.0.0.1:2"))
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    support::list_becomes(&mut list, &["new"]).await;
    eprintln!(
        "zookeeper restarted empty: the consumer listed again {:?} after the new registration",
        started.elapsed()
    );
}
