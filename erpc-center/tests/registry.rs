//! The center as erpc's registry: servers register through it, clients discover through
//! it, and clients keep their last known list while no center answers.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use erpc_center::store::Store;
use erpc_center::store::memory::MemoryStore;
use erpc_center::store::redb::RedbStore;
use erpc_center::{CenterClient, CenterConfig, CenterImpl, CenterRegistry, CenterServer, Instance};
use erpc_core::ServerHandle;

async fn center() -> ServerHandle {
    center_at("tcp://127.0.0.1:0").await
}

async fn center_at(listen: &str) -> ServerHandle {
    center_on(Box::new(MemoryStore), listen, &support::Calls::default()).await
}

/// A center on `store` serving on `listen`, counting its calls in `calls`. A graceful
/// shutdown gives open watches 100 ms, so their followers notice it at once.
async fn center_on(store: Box<dyn Store>, listen: &str, calls: &support::Calls) -> ServerHandle {
    let config = CenterConfig {
        min_ttl: Duration::from_millis(100),
        sweep: Duration::from_millis(50),
        ..CenterConfig::default()
    };
    let center = CenterImpl::open(store, config).unwrap();
    erpc_core::Server::builder()
        .config(erpc_core::ServerConfig {
            shutdown_grace: Duration::from_millis(100),
            ..erpc_core::ServerConfig::default()
        })
        .middleware(calls.clone())
        .add_service(CenterServer::new(center))
        .serve([listen])
        .await
        .unwrap()
}

fn admin(addr: &str) -> CenterClient {
    CenterClient::new(erpc_core::Client::new(addr).unwrap())
}

/// An instance of Whoami nobody calls: the tests only read the lists.
fn listed(id: &str) -> Instance {
    Instance::new("Whoami", id, "tcp://127.0.0.1:1")
}

async fn provider(registry: &CenterRegistry, name: &str) -> ServerHandle {
    support::provider(Arc::new(registry.clone()), name).await
}

#[test]
#[ignore = "not a test: the provider process that the SIGKILL test starts"]
fn provider_process() {
    support::process::provider_process();
}

#[tokio::test]
async fn killed_provider_processes_are_removed_within_ttl_plus_sweep() {
    // Sweep 50 ms (center()); TTL 1 s; renewals every third of it.
    let center = center().await;
    let addr = center.local_addr().to_string();
    let ttl = Duration::from_secs(1);
    let centers = [addr.as_str()];
    let registry = CenterRegistry::new(centers).unwrap();
    let took = support::process::removal_after_sigkill(
        support::process::Via::Centers(&centers),
        &registry,
        12,
        ttl,
        "center (TTL 1 s, renewed every 333 ms, sweep 50 ms)",
    )
    .await;
    let p99 = support::process::quantile(&took, 0.99);
    // The last renewal was at most a third of the TTL before the kill, so the removal comes
    // at least two thirds of the TTL after it; and at most TTL + sweep (+ slack for a loaded
    // machine) after it.
    assert!(took[0] >= Duration::from_millis(600), "{took:?}");
    assert!(p99 <= ttl + Duration::from_millis(50 + 400), "{took:?}");
    center.shutdown().await;
}

#[tokio::test]
async fn providers_register_and_consumers_follow_them() {
    let center = center().await;
    let registry = CenterRegistry::new([center.local_addr()])
        .unwrap()
        .ttl(Duration::from_millis(600));
    let a = provider(&registry, "a").await;
    let b = provider(&registry, "b").await;
    let client = support::consumer(&registry).await;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for _ in 0..20 {
        *seen.entry(client.name().await.unwrap()).or_default() += 1;
    }
    assert_eq!((seen["a"], seen["b"]), (10, 10));
    // Renewals keep them: well past the TTL, both are still there.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let c = erpc_center::CenterClient::new(erpc_core::Client::new(center.local_addr()).unwrap());
    let listing = c
        .discover("Whoami".into(), Default::default())
        .await
        .unwrap();
    assert_eq!(listing.instances.len(), 2);
    // A graceful shutdown deregisters at once; the followed list drops it (checked on the
    // list itself: calls alone would pass anyway, an unreachable pick is retried elsewhere).
    a.shutdown().await;
    support::list_reaches(&registry, 1, Duration::from_secs(2)).await;
    for _ in 0..4 {
        assert_eq!(client.name().await.unwrap(), "b");
    }
    b.shutdown().await;
    center.shutdown().await;
}

#[tokio::test]
async fn a_replaced_registration_survives_the_old_deregistering() {
    let center = center().await;
    let registry = CenterRegistry::new([center.local_addr()]).unwrap();
    support::a_replaced_registration_survives_the_old_deregistering(&registry).await;
    center.shutdown().await;
}

#[tokio::test]
async fn a_provider_that_stops_renewing_disappears_after_its_ttl() {
    let center = center().await;
    let registry = CenterRegistry::new([center.local_addr()])
        .unwrap()
        .ttl(Duration::from_millis(300));
    let server = provider(&registry, "doomed").await;
    // Dropping the handle without a shutdown stops its renewals, as a killed process would.
    drop(server);
    let took = support::list_reaches(&registry, 0, Duration::from_secs(3)).await;
    // Its last renewal was up to a third of the TTL before the drop.
    assert!(took >= Duration::from_millis(200), "gone after {took:?}");
    assert!(
        took < Duration::from_millis(300 + 50 + 200),
        "gone after {took:?}"
    );
    center.shutdown().await;
}

#[tokio::test]
async fn consumers_keep_the_last_known_list_while_the_center_is_down() {
    let center = center().await;
    let registry = CenterRegistry::new([center.local_addr()])
        .unwrap()
        .ttl(Duration::from_secs(5));
    let a = provider(&registry, "a").await;
    let client = support::consumer(&registry).await;
    assert_eq!(client.name().await.unwrap(), "a");
    center.shutdown().await;
    // No center: calls still reach the instance the client knew.
    for _ in 0..20 {
        assert_eq!(client.name().await.unwrap(), "a");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.shutdown_timeout(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_registry_fails_over_to_the_next_center() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("tcp://{}", l.local_addr().unwrap())
    };
    let center = center().await;
    let live = center.local_addr().to_string();
    let registry = CenterRegistry::new([dead.as_str(), live.as_str()]).unwrap();
    let a = provider(&registry, "a").await;
    let client = support::consumer(&registry).await;
    assert_eq!(client.name().await.unwrap(), "a");
    a.shutdown().await;
    center.shutdown().await;
}

#[tokio::test]
async fn a_center_killed_under_load_restarts_with_every_registration() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let listen = format!("tcp://127.0.0.1:{}", support::etcd::free_port());
    let args = [
        "--data-dir",
        data.as_str(),
        "--min-ttl-ms",
        "100",
        "--sweep-ms",
        "50",
    ];
    let mut center = support::process::spawn_center(&listen, &args).await;
    let ttl = Duration::from_secs(1);
    let registry = CenterRegistry::new([center.addr.as_str()])
        .unwrap()
        .ttl(ttl);
    let a = provider(&registry, "a").await;
    let b = provider(&registry, "b").await;
    let client = support::consumer(&registry).await;
    support::list_reaches(&registry, 2, Duration::from_secs(5)).await;
    let before =
        erpc_center::CenterClient::new(erpc_core::Client::new(center.addr.as_str()).unwrap())
            .discover("Whoami".into(), Default::default())
            .await
            .unwrap()
            .revision;

    // Calls run throughout; the center dies mid-way without a word.
    let load = {
        let client = client.clone();
        tokio::spawn(async move {
            let (mut ok, mut failed) = (0u32, 0u32);
            let until = tokio::time::Instant::now() + Duration::from_secs(4);
            while tokio::time::Instant::now() < until {
                match client.name().await {
                    Ok(_) => ok += 1,
                    Err(_) => failed += 1,
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (ok, failed)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    center.child.start_kill().unwrap();
    center.child.wait().await.unwrap();
    // Down for longer than the TTL: nobody can renew meanwhile.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let center = support::process::spawn_center(&listen, &args).await;

    // Every registration survived the kill, and each gets a full TTL: the providers renew
    // in time, so after two TTLs both are still there — restored, not registered again
    // (which would also list them, but with new revisions).
    tokio::time::sleep(ttl * 2).await;
    let direct =
        erpc_center::CenterClient::new(erpc_core::Client::new(center.addr.as_str()).unwrap());
    let listing = direct
        .discover("Whoami".into(), Default::default())
        .await
        .unwrap();
    let mut ids: Vec<_> = listing.instances.iter().map(|i| i.id.clone()).collect();
    ids.sort();
    assert_eq!(ids, vec!["a", "b"]);
    assert_eq!(
        listing.revision, before,
        "no change since the kill: nothing expired, nothing re-registered"
    );

    let (ok, failed) = load.await.unwrap();
    assert_eq!(
        failed, 0,
        "calls failed while the center was down ({ok} succeeded)"
    );
    // The consumer's watch resumed on the restarted center: it follows a newcomer.
    let c = provider(&registry, "c").await;
    let mut seen = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains("c") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never reached c: {seen:?}"
        );
        seen.insert(client.name().await.unwrap());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for server in [a, b, c] {
        server.shutdown().await;
    }
}

#[tokio::test]
async fn a_provider_cut_off_from_the_center_leaves_and_comes_back_when_healed() {
    let center = center().await;
    let direct = center.local_addr().to_string();
    // The provider reaches the center only through the relay; the consumer directly.
    let relay = support::relay::Relay::to(&direct).await;
    let ttl = Duration::from_millis(600);
    let cut_off = CenterRegistry::new([relay.addr.as_str()]).unwrap().ttl(ttl);
    let registry = CenterRegistry::new([direct.as_str()]).unwrap();
    let a = provider(&cut_off, "a").await;
    let b = provider(&registry, "b").await;
    let client = support::consumer(&registry).await;
    support::list_reaches(&registry, 2, Duration::from_secs(2)).await;

    // Partition: `a` cannot renew, so the center lets its lease expire and consumers stop
    // calling it, although it is alive.
    relay.cut();
    let took = support::list_reaches(&registry, 1, Duration::from_secs(3)).await;
    assert!(took <= ttl + Duration::from_millis(50 + 300), "{took:?}");
    for _ in 0..4 {
        assert_eq!(client.name().await.unwrap(), "b");
    }

    // Healed: its next renewal is refused (the lease is gone), so it registers again and the
    // consumers follow it back.
    relay.heal();
    support::list_reaches(&registry, 2, Duration::from_secs(5)).await;
    let names = support::answering(&client, 4).await;
    assert_eq!(names.len(), 2, "{names:?}");
    a.shutdown().await;
    b.shutdown().await;
    center.shutdown().await;
}

/// A namespace left by a killed run (its `Drop` never ran) is found by its dead PID and
/// deleted by the next run; a running process's namespaces and others' are left alone.
#[test]
fn namespaces_of_killed_runs_are_swept() {
    let me = std::process::id();
    let listing =
        format!("erpc-4294967295-9 (id: 3)\nerpc-{me}-1\nerpc-12345\nsomeone-else\nerpc-x-1\n");
    assert_eq!(
        support::netns::stale_names(&listing),
        vec!["erpc-4294967295-9".to_string()]
    );
    // The host side of its veth pair (`eh` + the PID's last five digits + the tag).
    assert_eq!(
        support::netns::stale_host_link("erpc-4294967295-9").as_deref(),
        Some("eh672959")
    );
    assert_eq!(support::netns::stale_host_link("someone-else"), None);
    assert_eq!(support::netns::pids_in("12\n 34\n\nx\n"), vec![12, 34]);
    if !support::netns::permitted() {
        return;
    }
    // A killed run's namespace with its link and a process still inside (a provider it
    // left): the process keeps the namespace, and so the link, alive past `netns del`.
    let ip = support::netns::ip_program();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(ip).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // Until this test's own sweep, no other test's sweeps this dead run's namespace.
    let _sweeps = support::netns::hold_sweeps();
    let dead = "erpc-4294967294-7";
    let host_if = support::netns::stale_host_link(dead).unwrap();
    let _ = std::process::Command::new(ip)
        .args(["link", "del", &host_if])
        .output();
    run(&["netns", "add", dead]);
    run(&[
        "link",
        "add",
        &host_if,
        "type",
        "veth",
        "peer",
        "name",
        "en672947x",
    ]);
    run(&["link", "set", "en672947x", "netns", dead]);
    let mut inside = std::process::Command::new(ip)
        .args(["netns", "exec", dead, "sleep", "60"])
        // Not holding the test's output open if the sweep fails to kill it.
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let listed = std::time::Instant::now();
    while support::netns::pids_in(&String::from_utf8_lossy(
        &std::process::Command::new(ip)
            .args(["netns", "pids", dead])
            .output()
            .unwrap()
            .stdout,
    ))
    .is_empty()
    {
        assert!(
            listed.elapsed() < Duration::from_secs(10),
            "sleep never ran"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    support::netns::sweep_stale_held();
    let list = std::process::Command::new(ip)
        .args(["netns", "list"])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(!list.contains(dead), "{dead} was not swept: {list}");
    let killed = std::time::Instant::now();
    let exit = loop {
        if let Some(exit) = inside.try_wait().unwrap() {
            break exit;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "the process inside {dead} was not killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!exit.success(), "{exit:?}");
    let link = std::process::Command::new(ip)
        .args(["link", "show", &host_if])
        .output()
        .unwrap();
    assert!(
        !link.status.success(),
        "{host_if} was not deleted: {}",
        String::from_utf8_lossy(&link.stdout)
    );
}

/// The partition above, made of a real network: the provider is a process in a network
/// namespace of its own, and its link is cut (packets dropped, no connection reset: its
/// connections to the center hang rather than fail) and healed.
#[tokio::test]
async fn a_provider_partitioned_off_by_the_network_leaves_and_comes_back_when_healed() {
    if !support::netns::permitted() {
        eprintln!(
            "not root: no network namespace can be made here (the relay test covers the rest)"
        );
        return;
    }
    let ns = support::netns::Netns::create(1);
    let center = center_at("tcp://0.0.0.0:0").await;
    let port = center.local_addr().to_string();
    let port = port.rsplit(':').next().unwrap();
    let (local, across) = (
        format!("tcp://127.0.0.1:{port}"),
        format!("tcp://{}:{port}", ns.host_ip),
    );
    let ttl = Duration::from_secs(1);
    let _a = support::process::spawn_provider_in(
        Some(&ns.name),
        &format!("tcp://{}:0", ns.ns_ip),
        support::process::Via::Centers(&[across.as_str()]),
        "a",
        ttl,
    )
    .await;
    let registry = CenterRegistry::new([local.as_str()]).unwrap();
    let b = provider(&registry, "b").await;
    let client = support::consumer(&registry).await;
    support::list_reaches(&registry, 2, Duration::from_secs(5)).await;
    let names = support::answering(&client, 4).await;
    assert_eq!(
        names.len(),
        2,
        "both are called, one across the link: {names:?}"
    );

    ns.cut();
    let took = support::list_reaches(&registry, 1, Duration::from_secs(5)).await;
    eprintln!("partitioned provider evicted {took:?} after the cut (TTL {ttl:?})");
    assert!(took <= ttl + Duration::from_millis(50 + 400), "{took:?}");
    for _ in 0..4 {
        assert_eq!(client.name().await.unwrap(), "b");
    }

    ns.heal();
    let back = support::list_reaches(&registry, 2, Duration::from_secs(30)).await;
    eprintln!("it registered again {back:?} after the heal");
    let names = support::answering(&client, 8).await;
    assert_eq!(names.len(), 2, "{names:?}");
    b.shutdown().await;
    center.shutdown().await;
}

#[tokio::test]
async fn config_is_followed_live_and_kept_while_the_center_is_down() {
    let center = center().await;
    let addr = center.local_addr().to_string();
    let registry = CenterRegistry::new([addr.as_str()]).unwrap();
    let admin = erpc_center::CenterClient::new(erpc_core::Client::new(addr.as_str()).unwrap());
    admin
        .config_set("app/limit".into(), "10".into())
        .await
        .unwrap();
    admin.config_set("other".into(), "x".into()).await.unwrap();
    let mut config = registry.follow_config("app/").await.unwrap();
    let first: Vec<_> = config
        .borrow_and_update()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(first, vec![("app/limit".to_owned(), "10".to_owned())]);

    // A change arrives without asking.
    admin
        .config_set("app/limit".into(), "20".into())
        .await
        .unwrap();
    admin
        .config_set("app/mode".into(), "fast".into())
        .await
        .unwrap();
    let live = tokio::time::timeout(
        Duration::from_secs(2),
        config.wait_for(|c| c.get("app/mode").is_some()),
    )
    .await
    .expect("the change arrives")
    .unwrap()
    .clone();
    assert_eq!(live.get("app/limit").map(String::as_str), Some("20"));
    admin.config_delete("app/mode".into()).await.unwrap();
    tokio::time::timeout(
        Duration::from_secs(2),
        config.wait_for(|c| c.get("app/mode").is_none()),
    )
    .await
    .expect("the deletion arrives")
    .unwrap();

    // No center: the last entries stay.
    center.shutdown_timeout(Duration::from_secs(1)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        config.borrow().get("app/limit").map(String::as_str),
        Some("20")
    );
}

/// The reported case: a consumer follows a service (revision 21); the center, on the memory
/// store, restarts at the same address and counts revisions from 1 again; a newcomer
/// registers. The consumer's revision 21 is not from this history: it must list again, see
/// the newcomer, and drop the instances the new center does not know.
#[tokio::test]
async fn a_consumer_lists_again_when_a_memory_center_restarts_at_the_same_address() {
    let first = center().await;
    let addr = first.local_addr().to_string();
    for i in 0..3 {
        admin(&addr)
            .register(listed(&format!("old-{i}")), 60_000)
            .await
            .unwrap();
    }
    for i in 0..18 {
        admin(&addr)
            .config_set(format!("k{i}"), "v".into())
            .await
            .unwrap();
    }
    let registry = CenterRegistry::new([addr.as_str()]).unwrap();
    let mut list = support::subscribe(&registry).await;
    support::list_becomes(&mut list, &["old-0", "old-1", "old-2"]).await;

    first.shutdown_timeout(Duration::from_secs(1)).await;
    let _second = center_at(&addr).await;
    admin(&addr).register(listed("new"), 60_000).await.unwrap();
    support::list_becomes(&mut list, &["new"]).await;
}

/// The same fault with the new history already past the consumer's revision: a consumer
/// failing over to a center on another store (its own memory) must list there, not resume
/// from a revision of the first center's history.
#[tokio::test]
async fn a_consumer_lists_again_when_it_fails_over_to_a_center_on_another_store() {
    let (one, two) = (center().await, center().await);
    let (a, b) = (one.local_addr().to_string(), two.local_addr().to_string());
    for i in 0..3 {
        admin(&a)
            .register(listed(&format!("old-{i}")), 60_000)
            .await
            .unwrap();
    }
    admin(&b).register(listed("other"), 60_000).await.unwrap();
    for i in 0..30 {
        admin(&b)
            .config_set(format!("k{i}"), "v".into())
            .await
            .unwrap();
    }
    let registry = CenterRegistry::new([a.as_str(), b.as_str()]).unwrap();
    let mut list = support::subscribe(&registry).await;
    support::list_becomes(&mut list, &["old-0", "old-1", "old-2"]).await;

    one.shutdown_timeout(Duration::from_secs(1)).await;
    admin(&b).register(listed("late"), 60_000).await.unwrap();
    support::list_becomes(&mut list, &["late", "other"]).await;
    two.shutdown_timeout(Duration::from_secs(1)).await;
}

/// A center on the redb store restarted on its own file keeps its history: consumers resume
/// their watches there and do not list again (no `discover` reaches the restarted center).
#[tokio::test]
async fn a_consumer_resumes_without_listing_again_when_a_redb_center_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("center.redb");
    let first = center_on(
        Box::new(RedbStore::open(&path).unwrap()),
        "tcp://127.0.0.1:0",
        &support::Calls::default(),
    )
    .await;
    let addr = first.local_addr().to_string();
    admin(&addr).register(listed("old"), 60_000).await.unwrap();
    let registry = CenterRegistry::new([addr.as_str()]).unwrap();
    let mut list = support::subscribe(&registry).await;
    support::list_becomes(&mut list, &["old"]).await;

    first.shutdown_timeout(Duration::from_secs(1)).await;
    let calls = support::Calls::default();
    let _second = center_on(Box::new(RedbStore::open(&path).unwrap()), &addr, &calls).await;
    admin(&addr).register(listed("new"), 60_000).await.unwrap();
    support::list_becomes(&mut list, &["new", "old"]).await;
    assert_eq!(calls.of("discover"), 0, "the consumer listed again");
    assert!(calls.of("watch") >= 1, "the consumer resumed its watch");
}

/// Config followed across a memory center's restart: the entries become the new center's.
#[tokio::test]
async fn followed_config_is_listed_again_when_a_memory_center_restarts() {
    let first = center().await;
    let addr = first.local_addr().to_string();
    for key in ["app/a", "app/b", "app/c"] {
        admin(&addr)
            .config_set(key.into(), "old".into())
            .await
            .unwrap();
    }
    let registry = CenterRegistry::new([addr.as_str()]).unwrap();
    let mut config = registry.follow_config("app/").await.unwrap();
    assert_eq!(config.borrow_and_update().len(), 3);

    first.shutdown_timeout(Duration::from_secs(1)).await;
    let _second = center_at(&addr).await;
    admin(&addr)
        .config_set("app/z".into(), "new".into())
        .await
        .unwrap();
    let entries = |c: &std::collections::BTreeMap<String, String>| {
        c.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
    };
    let reached = tokio::time::timeout(
        Duration::from_secs(10),
        config.wait_for(|c| entries(c) == ["app/z=new"]),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    assert!(reached, "the config is {:?}", entries(&config.borrow()));
}

/// `CenterRegistry` keeps one watch (and one config watch) open for as long as it follows,
/// past its own call timeout (3 s) and the center's default call deadline (300 ms here): a
/// watch opened with a deadline would end at it and be opened again.
#[tokio::test]
async fn a_follower_keeps_one_watch_past_the_default_deadlines() {
    let calls = support::Calls::default();
    let center = erpc_core::Server::builder()
        .config(erpc_core::ServerConfig {
            default_deadline: Duration::from_millis(300),
            ..erpc_core::ServerConfig::default()
        })
        .middleware(calls.clone())
        .add_service(CenterServer::new(
            CenterImpl::open(Box::new(MemoryStore), CenterConfig::default()).unwrap(),
        ))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .unwrap();
    let addr = center.local_addr().to_string();
    let registry = CenterRegistry::new([addr.as_str()]).unwrap();
    let mut list = support::subscribe(&registry).await;
    let mut config = registry.follow_config("app/").await.unwrap();
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    admin(&addr).register(listed("a"), 60_000).await.unwrap();
    admin(&addr)
        .config_set("app/k".into(), "v".into())
        .await
        .unwrap();
    support::list_becomes(&mut list, &["a"]).await;
    let arrived = tokio::time::timeout(
        Duration::from_secs(5),
        config.wait_for(|c| c.contains_key("app/k")),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    assert!(arrived, "the config change did not arrive");
    assert_eq!(
        (calls.of("watch"), calls.of("config_watch")),
        (1, 1),
        "watches were opened again"
    );
    center.shutdown_timeout(Duration::from_secs(1)).await;
}

/// A provider of Whoami named `name` registered through `registry`, with a health check
/// that fails while `down` is set (run every 50 ms), telling the registry as `mode` says.
async fn checked_provider(
    registry: &CenterRegistry,
    name: &str,
    down: &Arc<std::sync::atomic::AtomicBool>,
    mode: erpc_core::server::HealthInRegistry,
) -> ServerHandle {
    let down = down.clone();
    let check = erpc_core::server::HealthCheck::new("backend", move || {
        let down = down.load(std::sync::atomic::Ordering::Relaxed);
        async move {
            if down {
                Err("the backend is down".into())
            } else {
                Ok(())
            }
        }
    })
    .interval(Duration::from_millis(50));
    erpc_core::Server::builder()
        .add_service(support::WhoamiServer::new(support::Named(name.into())))
        .health_check_with(check)
        .health_in_registry(mode)
        .register(
            Arc::new(registry.clone()),
            Instance {
                id: name.into(),
                ..Instance::default()
            },
        )
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("provider serves")
}

/// Call until `want` holds of twenty calls in a row (the set of instances that answered
/// them), and say how long that took; panic after 5 s.
async fn answers_settle(
    client: &support::WhoamiClient,
    want: impl Fn(&std::collections::BTreeSet<String>) -> bool,
) -> Duration {
    let started = std::time::Instant::now();
    loop {
        let names = support::answering(client, 20).await;
        if want(&names) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still answered by {names:?} after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A provider whose health check fails stops getting calls within a bound, whether its
/// registration is marked NOT_SERVING or removed; once the check passes, calls come back.
async fn failing_health_takes_a_provider_out_of_rotation(
    mode: erpc_core::server::HealthInRegistry,
) {
    let center = center().await;
    let registry = CenterRegistry::new([center.local_addr()])
        .unwrap()
        .ttl(Duration::from_secs(2));
    let healthy = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sick = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let a = checked_provider(&registry, "a", &healthy, mode).await;
    let b = checked_provider(&registry, "b", &sick, mode).await;
    let client = support::consumer(&registry).await;
    answers_settle(&client, |names| names.len() == 2).await;

    sick.store(true, std::sync::atomic::Ordering::Relaxed);
    let out = answers_settle(&client, |names| !names.contains("b")).await;
    // The check's interval (50 ms), the registry's update and the watch to the client; the
    // bound leaves room for a loaded machine.
    assert!(out < Duration::from_secs(2), "{mode:?}: out after {out:?}");
    // And it stays out: the client does not drift back to it.
    assert_eq!(
        support::answering(&client, 50).await,
        ["a".to_owned()].into()
    );
    let listed = support::subscribe(&registry).await.borrow().clone();
    match mode {
        erpc_core::server::HealthInRegistry::Mark => {
            let b = listed.iter().find(|e| e.id == "b").expect("b stays listed");
            assert_eq!(
                b.instance.metadata.get(erpc_core::discovery::HEALTH_KEY),
                Some(&"NOT_SERVING".to_owned())
            );
        }
        _ => assert!(listed.iter().all(|e| e.id != "b"), "{listed:?}"),
    }

    sick.store(false, std::sync::atomic::Ordering::Relaxed);
    let back = answers_settle(&client, |names| names.contains("b")).await;
    assert!(
        back < Duration::from_secs(2),
        "{mode:?}: back after {back:?}"
    );
    println!("{mode:?}: out of rotation after {out:?}, back after {back:?}");
    b.shutdown().await;
    a.shutdown().await;
    center.shutdown().await;
}

#[tokio::test]
async fn a_provider_failing_its_health_check_is_marked_and_skipped_then_comes_back() {
    failing_health_takes_a_provider_out_of_rotation(erpc_core::server::HealthInRegistry::Mark)
        .await;
}

#[tokio::test]
async fn a_provider_failing_its_health_check_can_deregister_instead() {
    failing_health_takes_a_provider_out_of_rotation(
        erpc_core::server::HealthInRegistry::Deregister,
    )
    .await;
}
