//! Centers keeping their state in a real etcd (`--store etcd://…`): the API over etcd's
//! leases and revisions, and several centers serving one registry — one killed, the clients
//! carrying on through the other.

mod support;

use std::sync::Arc;
use std::time::Duration;

use erpc_center::backend::etcd::REMOVED;
use erpc_center::{
    CenterClient, CenterConfig, CenterImpl, CenterRegistry, CenterServer, Change, Filter, Instance,
};
use erpc_core::{Code, ServerHandle};
use support::etcd::{Etcd, etcd};
use support::process::spawn_center;

/// An in-process center on `etcd`.
async fn center_on(etcd: &Etcd) -> (ServerHandle, CenterClient) {
    let center = CenterImpl::on_etcd(&[&etcd.endpoint], "/test", CenterConfig::default())
        .await
        .unwrap();
    let server = erpc_core::Server::builder()
        .add_service(CenterServer::new(center))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .unwrap();
    let client = CenterClient::new(erpc_core::Client::new(server.local_addr()).unwrap());
    (server, client)
}

#[test]
#[ignore = "not a test: the provider process that the SIGKILL test starts"]
fn provider_process() {
    support::process::provider_process();
}

fn inst(id: &str) -> Instance {
    Instance::new("svc", id, format!("tcp://127.0.0.1:{}", 7000 + id.len()))
}

#[tokio::test]
async fn a_center_on_etcd_registers_renews_discovers_and_deregisters() {
    let etcd = etcd().await;
    let (server, c) = center_on(&etcd).await;
    let a = c.register(inst("a"), 2_000).await.unwrap();
    assert_eq!(a.ttl_ms, 2_000, "etcd leases are whole seconds");
    let mut canary = inst("b");
    canary.group = "canary".into();
    let b = c.register(canary.clone(), 2_000).await.unwrap();
    assert!(b.revision > a.revision, "revisions come from etcd");

    let all = c.discover("svc".into(), Filter::default()).await.unwrap();
    assert_eq!(all.instances.len(), 2);
    assert!(all.revision >= b.revision);
    let only = Filter {
        group: Some("canary".into()),
        ..Filter::default()
    };
    let listing = c.discover("svc".into(), only).await.unwrap();
    assert_eq!(listing.instances, vec![canary.clone()]);

    assert_eq!(c.renew(a.id).await.unwrap(), 2_000);
    c.deregister("svc".into(), "a".into()).await.unwrap();
    let gone = c.renew(a.id).await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound, "{gone:?}");

    // Registering again moves the instance to a new lease and ends the old one.
    let b2 = c.register(canary, 2_000).await.unwrap();
    assert_ne!(b2.id, b.id);
    assert_eq!(c.renew(b.id).await.unwrap_err().code(), Code::NotFound);
    assert_eq!(c.renew(b2.id).await.unwrap(), 2_000);
    // Releasing the replaced lease removes nothing; releasing the current one removes it.
    let before = c.discover("svc".into(), Filter::default()).await.unwrap();
    assert_eq!(c.release(b.id).await.unwrap(), before.revision);
    assert_eq!(
        c.discover("svc".into(), Filter::default())
            .await
            .unwrap()
            .instances
            .len(),
        1
    );
    assert!(c.release(b2.id).await.unwrap() > before.revision);
    assert!(
        c.discover("svc".into(), Filter::default())
            .await
            .unwrap()
            .instances
            .is_empty()
    );
    assert_eq!(c.renew(b2.id).await.unwrap_err().code(), Code::NotFound);

    let registry = erpc_center::CenterRegistry::new([server.local_addr()]).unwrap();
    support::a_replaced_registration_survives_the_old_deregistering(&registry).await;

    let bad = c
        .register(Instance::new("a/b", "x", "tcp://127.0.0.1:1"), 2_000)
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_watch_on_etcd_replays_from_a_revision_and_refuses_compacted_ones() {
    let etcd = etcd().await;
    let (server, c) = center_on(&etcd).await;
    let first = c.register(inst("a"), 5_000).await.unwrap();
    let second = c.register(inst("b"), 5_000).await.unwrap();
    let removed = c.deregister("svc".into(), "a".into()).await.unwrap();

    // Everything after the first registration, in order, then live changes.
    let mut watch = c.watch("svc".into(), first.revision, 0).await.unwrap();
    let e = watch.message().await.unwrap().unwrap();
    assert_eq!(e.revision, second.revision);
    assert!(matches!(e.change, Change::Registered(ref i) if i.id == "b"));
    let e = watch.message().await.unwrap().unwrap();
    assert_eq!(e.revision, removed);
    assert_eq!(
        e.change,
        Change::Deregistered {
            service: "svc".into(),
            id: "a".into(),
            reason: REMOVED.into()
        }
    );
    let live = c.register(inst("c"), 5_000).await.unwrap();
    let e = watch.message().await.unwrap().unwrap();
    assert_eq!(e.revision, live.revision);
    drop(watch);

    // Config: same revisions, same watch.
    let set = c.config_set("app/limit".into(), "10".into()).await.unwrap();
    let mut config = c.config_watch("app/".into(), set - 1, 0).await.unwrap();
    let e = config.message().await.unwrap().unwrap();
    assert_eq!(
        e.change,
        Change::ConfigSet {
            key: "app/limit".into(),
            value: "10".into()
        }
    );
    let got = c.config_get("app/".into()).await.unwrap();
    assert_eq!(got.entries, vec![("app/limit".into(), "10".into())]);
    let deleted = c.config_delete("app/limit".into()).await.unwrap();
    let e = config.message().await.unwrap().unwrap();
    assert_eq!(e.revision, deleted);
    assert_eq!(
        e.change,
        Change::ConfigDeleted {
            key: "app/limit".into()
        }
    );
    drop(config);

    // etcd compacts its history: a revision before the compaction cannot be replayed.
    let mut etcd_client = etcd_client::Client::connect([&etcd.endpoint], None)
        .await
        .unwrap();
    etcd_client.compact(deleted as i64, None).await.unwrap();
    // A stream's outcome arrives on the stream: the refusal is its first item.
    let mut refused = c.watch("svc".into(), first.revision, 0).await.unwrap();
    let old = refused.message().await.unwrap_err();
    assert_eq!(old.code(), Code::OutOfRange, "{old:?}");
    assert!(old.message().contains("too old"), "{old:?}");
    // From the compaction on, replay works.
    let mut watch = c.watch("svc".into(), deleted, 0).await.unwrap();
    let next = c.register(inst("d"), 5_000).await.unwrap();
    assert_eq!(
        watch.message().await.unwrap().unwrap().revision,
        next.revision
    );
    drop(watch);
    server.shutdown().await;
}

#[tokio::test]
async fn two_centers_on_one_etcd_survive_the_loss_of_one() {
    let etcd = etcd().await;
    let store = format!("etcd://{}/ha", etcd.host_port());
    let mut first = spawn_center("tcp://127.0.0.1:0", &["--store", &store]).await;
    let second = spawn_center("tcp://127.0.0.1:0", &["--store", &store]).await;
    let centers = [first.addr.as_str(), second.addr.as_str()];
    let ttl = Duration::from_secs(2);
    let registry = CenterRegistry::new(centers).unwrap().ttl(ttl);

    // Everyone starts on the first center.
    let a = support::provider(Arc::new(registry.clone()), "a").await;
    let client = support::consumer(&registry).await;
    support::list_reaches(&registry, 1, Duration::from_secs(5)).await;
    assert_eq!(client.name().await.unwrap(), "a");

    // The first center dies without a word.
    first.child.start_kill().unwrap();
    first.child.wait().await.unwrap();

    // A new provider registers (through the second); the running consumer's watch fails
    // over and resumes from its revision, so it learns of the newcomer.
    let b = support::provider(Arc::new(registry.clone()), "b").await;
    let mut names = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while names.len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the consumer never reached b: {names:?}"
        );
        names.insert(client.name().await.unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // `a` renews through the second center: after two TTLs it is still there.
    tokio::time::sleep(ttl * 2).await;
    let survivor = CenterClient::new(erpc_core::Client::new(second.addr.as_str()).unwrap());
    let listing = survivor
        .discover("Whoami".into(), Filter::default())
        .await
        .unwrap();
    let mut ids: Vec<_> = listing.instances.iter().map(|i| i.id.clone()).collect();
    ids.sort();
    assert_eq!(ids, vec!["a", "b"], "nobody healthy was evicted");

    // A graceful shutdown deregisters through the surviving center, and the consumer follows.
    a.shutdown().await;
    support::list_reaches(&registry, 1, Duration::from_secs(5)).await;
    for _ in 0..4 {
        assert_eq!(client.name().await.unwrap(), "b");
    }
    b.shutdown().await;
}

#[tokio::test]
async fn killed_provider_processes_expire_with_their_etcd_leases() {
    let etcd = etcd().await;
    let (center, _) = center_on(&etcd).await;
    let addr = center.local_addr().to_string();
    // etcd's shortest lease is 2 s (1.5 × its election timeout, rounded up).
    let ttl = Duration::from_secs(2);
    let centers = [addr.as_str()];
    let registry = CenterRegistry::new(centers).unwrap();
    let took = support::process::removal_after_sigkill(
        support::process::Via::Centers(&centers),
        &registry,
        8,
        ttl,
        "center on etcd (TTL 2 s, renewed every 667 ms)",
    )
    .await;
    let p99 = support::process::quantile(&took, 0.99);
    // etcd expires a lease no sooner than its TTL after the last keep-alive, and its leader
    // looks for expired leases every 500 ms.
    assert!(took[0] >= Duration::from_millis(1_250), "{took:?}");
    assert!(p99 <= ttl + Duration::from_millis(500 + 700), "{took:?}");
    center.shutdown().await;
}

/// A center on an etcd started again empty (or restored from an old snapshot): a watch from a
/// revision etcd has not reached is refused, not left waiting for it; and a watch naming
/// another cluster's epoch is refused too.
#[tokio::test]
async fn a_watch_from_a_revision_etcd_has_not_reached_is_refused() {
    let etcd = etcd().await;
    let (server, c) = center_on(&etcd).await;
    c.register(inst("a"), 5_000).await.unwrap();
    let listing = c.discover("svc".into(), Filter::default()).await.unwrap();
    assert_ne!(listing.epoch, 0, "the epoch is etcd's cluster id");
    for refused in [
        c.watch("svc".into(), listing.revision + 10, 0).await,
        c.config_watch("app/".into(), listing.revision + 10, 0)
            .await,
        c.watch("svc".into(), listing.revision, listing.epoch + 1)
            .await,
    ] {
        support::refused_to_list_again(refused).await;
    }
    // The listing's own revision and epoch: live changes follow.
    let mut watch = c
        .watch("svc".into(), listing.revision, listing.epoch)
        .await
        .unwrap();
    c.register(inst("b"), 5_000).await.unwrap();
    let e = watch.message().await.unwrap().unwrap();
    assert!(matches!(e.change, Change::Registered(ref i) if i.id == "b"));
    drop(watch);
    server.shutdown().await;
}
