//! The etcd registry against a real etcd (Debian's etcd-server, installed by
//! scripts/install-deps.sh), started here on free loopback ports with a temporary data
//! directory.

mod support;

use std::sync::Arc;
use std::time::Duration;

use erpc_center::etcd::EtcdRegistry;
use erpc_core::ServerHandle;
use erpc_core::discovery::{Instance, Register};
use support::etcd::etcd;

async fn provider(registry: &EtcdRegistry, name: &str) -> ServerHandle {
    support::provider(Arc::new(registry.clone()), name).await
}

async fn wait_for_count(registry: &EtcdRegistry, n: usize, limit: Duration) -> Duration {
    support::list_reaches(registry, n, limit).await
}

#[tokio::test]
async fn register_discover_follow_and_deregister_on_etcd() {
    let etcd = etcd().await;
    let registry = EtcdRegistry::connect(&[&etcd.endpoint])
        .await
        .unwrap()
        .ttl(Duration::from_secs(2));
    // Keep-alives hold the leases well past their TTL; a shutdown deletes the key at once.
    support::two_providers_come_and_go(&registry, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn a_restarted_provider_keeps_its_key_when_the_old_instance_deregisters() {
    let etcd = etcd().await;
    let registry = EtcdRegistry::connect(&[&etcd.endpoint])
        .await
        .unwrap()
        .ttl(Duration::from_secs(5));
    support::a_replaced_registration_survives_the_old_deregistering(&registry).await;
}

#[tokio::test]
async fn a_provider_that_stops_keeping_its_lease_alive_expires() {
    let etcd = etcd().await;
    let registry = EtcdRegistry::connect(&[&etcd.endpoint])
        .await
        .unwrap()
        .ttl(Duration::from_secs(1));
    let doomed = provider(&registry, "doomed").await;
    wait_for_count(&registry, 1, Duration::from_secs(2)).await;
    // Dropping the handle stops the keep-alives, as a killed process would.
    drop(doomed);
    let took = wait_for_count(&registry, 0, Duration::from_secs(5)).await;
    eprintln!("etcd lease (TTL 1 s) expired {took:?} after the keep-alives stopped");
}

#[tokio::test]
async fn the_last_known_list_stays_while_etcd_is_down() {
    let etcd = etcd().await;
    let registry = EtcdRegistry::connect(&[&etcd.endpoint])
        .await
        .unwrap()
        .ttl(Duration::from_secs(5));
    let a = provider(&registry, "a").await;
    let client = support::consumer(&registry).await;
    assert_eq!(client.name().await.unwrap(), "a");
    drop(etcd);
    for _ in 0..10 {
        assert_eq!(client.name().await.unwrap(), "a");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.shutdown_timeout(Duration::from_secs(5)).await;
}

/// etcd started again empty at the same address (what clients see of an etcd restored from
/// an old snapshot): its revisions count from 1 again, below the consumer's. The consumer
/// must list again — not wait for etcd to reach its old revision — and drop the instances
/// etcd no longer has.
#[tokio::test]
async fn a_consumer_lists_again_when_etcd_restarts_empty() {
    let etcd = etcd().await;
    let registry = EtcdRegistry::connect(&[&etcd.endpoint])
        .await
        .unwrap()
        .ttl(Duration::from_secs(30));
    for i in 0..3 {
        let old = Instance::new("Whoami", format!("old-{i}"), "tcp://127.0.0.1:1");
        // Dropped: no keep-alive puts it back on the new etcd.
        drop(registry.register(old).await.unwrap());
    }
    let mut list = support::subscribe(&registry).await;
    assert_eq!(list.borrow_and_update().len(), 3);

    let etcd = etcd.restart_empty().await;
    let fresh = EtcdRegistry::connect(&[&etcd.endpoint]).await.unwrap();
    let _new = fresh
        .register(Instance::new("Whoami", "new", "tcp://127.0.0.1:2"))
        .await
        .unwrap();
    support::list_becomes(&mut list, &["new"]).await;
}
