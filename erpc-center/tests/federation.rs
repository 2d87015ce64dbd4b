//! Centers federated across data centers (CENTER.md, "Federation"), with several "data
//! centers" on one machine: each DC a center of its own in this process (memory store unless
//! said), and the centers follow each other through a relay on loopback that holds every chunk
//! for 20 ms each way — the latency of a link between data centers (this machine's kernel has
//! no `netem` qdisc, and a relay can be cut and healed without root, unlike the network
//! namespaces of `registry.rs`'s partition test). Providers and consumers talk to their own
//! DC's center; calls between DCs go straight to the provider (not through the relay).
//!
//! Each test prints its figures (`cargo test -p erpc-center --test federation --
//! --nocapture`; BENCHMARKS.md, "Federation").

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use erpc_center::model::{DC_KEY, REMOTE_KEY, STALE_AGE_KEY, STALE_SINCE_KEY};
use erpc_center::store::Store;
use erpc_center::store::memory::MemoryStore;
use erpc_center::store::redb::RedbStore;
use erpc_center::{CenterClient, CenterConfig, CenterImpl, CenterRegistry, CenterServer, Instance};
use erpc_core::discovery::{Discover, Endpoints, Locality, Nearest, Register};
use erpc_core::{Code, ServerHandle};
use support::process::{Via, spawn_provider};
use support::relay::Relay;
use tokio::time::Instant;

/// The link between two data centers: each chunk held this long, each way.
const LINK_DELAY: Duration = Duration::from_millis(20);
/// How long an unreachable peer's instances are kept (stale) in these tests.
const STALE_AFTER: Duration = Duration::from_secs(3);

#[test]
#[ignore = "not a test: the provider process that the failover test starts and kills"]
fn provider_process() {
    support::process::provider_process();
}

/// The center of data center `dc`, serving on `listen`, on `store`, following `peers`.
async fn center_on(
    dc: &str,
    peers: Vec<String>,
    store: Box<dyn Store>,
    listen: &str,
    calls: Option<&support::Calls>,
) -> ServerHandle {
    let config = CenterConfig {
        min_ttl: Duration::from_millis(100),
        sweep: Duration::from_millis(50),
        dc: Some(dc.into()),
        follow: peers,
        remote_stale_after: STALE_AFTER,
        ..CenterConfig::default()
    };
    let center = CenterImpl::open(store, config).expect("the center opens");
    let mut builder = erpc_core::Server::builder().config(erpc_core::ServerConfig {
        shutdown_grace: Duration::from_millis(100),
        ..erpc_core::ServerConfig::default()
    });
    if let Some(calls) = calls {
        builder = builder.middleware(calls.clone());
    }
    builder
        .add_service(CenterServer::new(center))
        .serve([listen])
        .await
        .expect("the center serves")
}

async fn center(dc: &str, peers: Vec<String>) -> ServerHandle {
    center_on(dc, peers, Box::new(MemoryStore), "tcp://127.0.0.1:0", None).await
}

/// Data centers `a` and `b`, whose centers follow each other, each through the relay into
/// the other (`to_a` carries b's follower to a, `to_b` a's to b).
struct TwoDcs {
    a: ServerHandle,
    b: ServerHandle,
    to_a: Relay,
    to_b: Relay,
}

impl TwoDcs {
    async fn new() -> TwoDcs {
        let to_b = Relay::delayed("", LINK_DELAY).await;
        let a = center("a", vec![to_b.addr.clone()]).await;
        let to_a = Relay::delayed(&a.local_addr().to_string(), LINK_DELAY).await;
        let b = center("b", vec![to_a.addr.clone()]).await;
        to_b.point_to(&b.local_addr().to_string());
        TwoDcs { a, b, to_a, to_b }
    }

    fn cut(&self) {
        self.to_a.cut();
        self.to_b.cut();
    }

    fn heal(&self) {
        self.to_a.heal();
        self.to_b.heal();
    }
}

fn admin(center: &ServerHandle) -> CenterClient {
    CenterClient::new(erpc_core::Client::new(center.local_addr()).expect("an address"))
}

fn registry(center: &ServerHandle) -> CenterRegistry {
    CenterRegistry::new([center.local_addr()]).expect("an address")
}

/// An instance of Whoami nobody calls: these tests read lists.
fn listed(id: &str) -> Instance {
    Instance::new("Whoami", id, "tcp://127.0.0.1:1")
}

/// Whoami's instances as `center` lists them, by id.
async fn listing(center: &ServerHandle) -> BTreeMap<String, Instance> {
    admin(center)
        .discover("Whoami".into(), Default::default())
        .await
        .expect("discover")
        .instances
        .into_iter()
        .map(|i| (i.id.clone(), i))
        .collect()
}

/// Wait (at most 10 s) until the followed list satisfies `ok`; how long that took.
async fn until(
    list: &mut tokio::sync::watch::Receiver<Endpoints>,
    what: &str,
    ok: impl Fn(&Endpoints) -> bool,
) -> Duration {
    let started = Instant::now();
    let reached = tokio::time::timeout(Duration::from_secs(10), list.wait_for(|l| ok(l)))
        .await
        .is_ok_and(|r| r.is_ok());
    let ids: Vec<(String, Option<String>)> = list
        .borrow()
        .iter()
        .map(|e| (e.id.clone(), e.instance.metadata.get(DC_KEY).cloned()))
        .collect();
    assert!(reached, "{what}: the list is {ids:?}");
    started.elapsed()
}

fn has(list: &Endpoints, id: &str) -> bool {
    list.iter().any(|e| e.id == id)
}

fn fresh(list: &Endpoints, id: &str) -> bool {
    list.iter()
        .any(|e| e.id == id && !e.instance.metadata.contains_key(STALE_SINCE_KEY))
}

fn stale(list: &Endpoints, id: &str) -> bool {
    list.iter()
        .any(|e| e.id == id && e.instance.metadata.contains_key(STALE_SINCE_KEY))
}

/// How many of `calls` calls were answered by a provider of DC b (named `b…`); every call
/// must succeed.
async fn answered_in_b(client: &support::WhoamiClient, calls: usize) -> usize {
    let mut in_b = 0;
    for _ in 0..calls {
        let name = client.name().await.expect("a call succeeds");
        in_b += usize::from(name.starts_with('b'));
    }
    in_b
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// A registration in DC a reaches DC b's watchers with its home DC and the peer it came
/// from; its removal follows; a DC's mirrors are not passed on to a third DC (no loops, no
/// re-export); mirrored entries are read-only and a registration cannot pose as one.
#[tokio::test]
async fn a_registration_in_one_dc_is_seen_in_the_other_with_its_dc_and_not_passed_on() {
    // c is followed by b only; a and b follow each other.
    let c = center("c", Vec::new()).await;
    let to_b = Relay::delayed("", LINK_DELAY).await;
    let a = center("a", vec![to_b.addr.clone()]).await;
    let to_a = Relay::delayed(&a.local_addr().to_string(), LINK_DELAY).await;
    let b = center("b", vec![to_a.addr.clone(), c.local_addr().to_string()]).await;
    to_b.point_to(&b.local_addr().to_string());

    let mut at_b = registry(&b).subscribe("Whoami").await.expect("subscribes");
    let mut visible = Vec::new();
    let mut removed = Vec::new();
    for round in 0..20 {
        let id = format!("a{round}");
        let started = Instant::now();
        let lease = admin(&a)
            .register(listed(&id), 30_000)
            .await
            .expect("registers");
        until(&mut at_b, "the registration reaches b", |l| has(l, &id)).await;
        visible.push(started.elapsed());
        let started = Instant::now();
        admin(&a).release(lease.id).await.expect("releases");
        until(&mut at_b, "the removal reaches b", |l| !has(l, &id)).await;
        removed.push(started.elapsed());
    }
    visible.sort();
    removed.sort();
    println!(
        "federation: a registration in DC a visible to DC b's watchers (link {LINK_DELAY:?} each way, 20 rounds): p50 {:?}, max {:?}; a removal: p50 {:?}, max {:?}",
        quantile(&visible, 0.5),
        quantile(&visible, 1.0),
        quantile(&removed, 0.5),
        quantile(&removed, 1.0),
    );
    // One way through the link (20 ms; b's follower is already watching a) plus the hop to
    // b's watcher: well under a second even on a loaded machine.
    assert!(
        quantile(&visible, 0.5) < Duration::from_secs(1),
        "{visible:?}"
    );

    // Stamped with its home DC at a; mirrored at b with the peer it came from.
    admin(&a)
        .register(listed("a-home"), 30_000)
        .await
        .expect("registers");
    until(&mut at_b, "a-home reaches b", |l| has(l, "a-home")).await;
    let home = &listing(&a).await["a-home"];
    assert_eq!(home.metadata.get(DC_KEY).map(String::as_str), Some("a"));
    assert!(!home.metadata.contains_key(REMOTE_KEY), "{home:?}");
    let mirrored = &listing(&b).await["a-home"];
    assert_eq!(mirrored.metadata.get(DC_KEY).map(String::as_str), Some("a"));
    assert_eq!(mirrored.metadata.get(REMOTE_KEY), Some(&to_a.addr));

    // c's instance reaches b, and not a: b passes on only its own registrations. Changes
    // reach a through b's watch in revision order, so once b's later registration is at a,
    // c's would be too if it were passed on.
    admin(&c)
        .register(listed("c1"), 30_000)
        .await
        .expect("registers");
    until(&mut at_b, "c1 reaches b", |l| has(l, "c1")).await;
    admin(&b)
        .register(listed("b-later"), 30_000)
        .await
        .expect("registers");
    let mut at_a = registry(&a).subscribe("Whoami").await.expect("subscribes");
    until(&mut at_a, "b-later reaches a", |l| has(l, "b-later")).await;
    let seen_at_a = listing(&a).await;
    assert!(!seen_at_a.contains_key("c1"), "{seen_at_a:?}");
    assert_eq!(
        seen_at_a["a-home"].metadata.get(REMOTE_KEY),
        None,
        "a's own instance does not come back from b as a remote one"
    );

    // Read-only: b cannot deregister a's instance; nobody registers as a mirror.
    let refused = admin(&b)
        .deregister("Whoami".into(), "a-home".into())
        .await
        .expect_err("a mirrored instance is not b's to remove");
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused}");
    assert!(
        refused.message().contains("deregister it there"),
        "{refused}"
    );
    let mut posing = listed("poser");
    posing
        .metadata
        .insert(REMOTE_KEY.into(), "tcp://x:1".into());
    let refused = admin(&b)
        .register(posing, 30_000)
        .await
        .expect_err("a registration may not carry erpc.remote");
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused}");
    assert!(refused.message().contains(REMOTE_KEY), "{refused}");
}

/// Calls stay in the consumer's DC while its providers are healthy; when they are killed
/// (SIGKILL) calls move to the other DC, and they come back when providers are up again.
#[tokio::test]
async fn calls_stay_in_their_dc_move_to_the_other_when_its_providers_die_and_come_back() {
    let dcs = TwoDcs::new().await;
    let (a_addr, b_addr) = (
        dcs.a.local_addr().to_string(),
        dcs.b.local_addr().to_string(),
    );
    let ttl = Duration::from_secs(1);
    let mut a_providers = Vec::new();
    for id in ["a1", "a2"] {
        a_providers.push(spawn_provider(Via::Centers(&[a_addr.as_str()]), id, ttl).await);
    }
    let mut b_providers = Vec::new();
    for id in ["b1", "b2"] {
        b_providers.push(spawn_provider(Via::Centers(&[b_addr.as_str()]), id, ttl).await);
    }
    let at_a = registry(&dcs.a);
    let mut list = at_a.subscribe("Whoami").await.expect("subscribes");
    until(&mut list, "a lists both DCs' providers", |l| {
        ["a1", "a2", "b1", "b2"].iter().all(|id| has(l, id))
    })
    .await;
    let here = Locality {
        dc: Some("a".into()),
        ..Locality::default()
    };
    let client = support::WhoamiClient::new(
        erpc_core::Client::builder()
            .discover_with(&at_a, "Whoami", Arc::new(Nearest::new(here)))
            .await
            .expect("discovers"),
    );
    let calls = 1_000;
    let remote = answered_in_b(&client, calls).await;
    println!("federation: DC a's providers healthy: {remote} of {calls} calls went to DC b");
    assert_eq!(remote, 0, "calls stay in their DC");

    // Kill DC a's providers: calls move to DC b.
    let killed = Instant::now();
    for p in &mut a_providers {
        p.start_kill().expect("SIGKILL");
    }
    let mut failed = 0;
    let moved = loop {
        match client.name().await {
            Ok(name) if name.starts_with('b') => break killed.elapsed(),
            Ok(_) => {}
            Err(_) => failed += 1,
        }
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "calls never moved"
        );
    };
    let after = answered_in_b(&client, 200).await;
    println!(
        "federation: DC a's providers SIGKILLed: calls moved to DC b {moved:?} after the kill ({failed} calls failed meanwhile); then {after} of 200 went to DC b"
    );
    assert_eq!(after, 200);
    // Calls already sent on a killed provider's connection fail (a few per provider, until
    // its connection is found dead); calls not yet sent go elsewhere.
    assert!(failed <= 6, "{failed} calls failed");

    // A provider up again in DC a: calls come back.
    let back = spawn_provider(Via::Centers(&[a_addr.as_str()]), "a1", ttl).await;
    let registered = Instant::now();
    let returned = loop {
        let name = client.name().await.expect("a call succeeds");
        if name.starts_with('a') {
            break registered.elapsed();
        }
        assert!(
            registered.elapsed() < Duration::from_secs(10),
            "calls never came back"
        );
    };
    drop(list);
    let remote = answered_in_b(&client, 200).await;
    println!(
        "federation: a provider back in DC a: calls returned {returned:?} after its registration; then {remote} of 200 went to DC b"
    );
    assert_eq!(remote, 0, "calls came back home");
    drop(back);
}

/// The link between the DCs cut: each keeps serving its own instances and registering new
/// ones; the other DC's entries are marked stale (with their age in discover results), then
/// dropped at the bound; healed, both converge, with what changed meanwhile.
#[tokio::test]
async fn a_cut_link_keeps_each_dc_serving_marks_remote_entries_stale_drops_them_and_heals() {
    let dcs = TwoDcs::new().await;
    let (reg_a, reg_b) = (registry(&dcs.a), registry(&dcs.b));
    let _a1 = reg_a.register(listed("a1")).await.expect("registers");
    let _b1 = reg_b.register(listed("b1")).await.expect("registers");
    let mut at_a = reg_a.subscribe("Whoami").await.expect("subscribes");
    let mut at_b = reg_b.subscribe("Whoami").await.expect("subscribes");
    until(&mut at_a, "a lists b1", |l| fresh(l, "b1")).await;
    until(&mut at_b, "b lists a1", |l| fresh(l, "a1")).await;

    let cut = Instant::now();
    dcs.cut();
    let marked = until(&mut at_a, "b1 marked stale at a", |l| stale(l, "b1")).await;
    until(&mut at_b, "a1 marked stale at b", |l| stale(l, "a1")).await;
    // The age is in discover results.
    let b1 = &listing(&dcs.a).await["b1"];
    let age: u64 = b1
        .metadata
        .get(STALE_AGE_KEY)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no stale age on {b1:?}"));
    assert!(age < STALE_AFTER.as_millis() as u64 + 1_000, "{age}");
    // Each DC keeps its own and registers new ones.
    let _a2 = reg_a
        .register(listed("a2"))
        .await
        .expect("registers while cut off");
    let _b2 = reg_b
        .register(listed("b2"))
        .await
        .expect("registers while cut off");
    until(&mut at_a, "a lists a1 and a2", |l| {
        fresh(l, "a1") && fresh(l, "a2")
    })
    .await;
    until(&mut at_b, "b lists b1 and b2", |l| {
        fresh(l, "b1") && fresh(l, "b2")
    })
    .await;
    // Dropped at the bound.
    until(&mut at_a, "b1 dropped at a", |l| !has(l, "b1")).await;
    let dropped = cut.elapsed();
    until(&mut at_b, "a1 dropped at b", |l| !has(l, "a1")).await;
    assert!(
        dropped >= STALE_AFTER && dropped < STALE_AFTER + Duration::from_secs(2),
        "dropped {dropped:?} after the cut (bound {STALE_AFTER:?})"
    );
    assert!(!has(&at_a.borrow(), "b2"), "b2 cannot have reached a");

    let healed = Instant::now();
    dcs.heal();
    until(&mut at_a, "a converges", |l| {
        ["a1", "a2", "b1", "b2"].iter().all(|id| fresh(l, id)) && l.len() == 4
    })
    .await;
    until(&mut at_b, "b converges", |l| {
        ["a1", "a2", "b1", "b2"].iter().all(|id| fresh(l, id)) && l.len() == 4
    })
    .await;
    let converged = healed.elapsed();
    println!(
        "federation: link cut: remote entries marked stale {marked:?} after the cut, dropped {dropped:?} after it (bound {STALE_AFTER:?}); healed: both DCs converged {converged:?} after the heal"
    );
    assert!(converged < Duration::from_secs(5), "{converged:?}");
}

/// A peer restarted behind the link: on the same redb file (same history) its follower
/// resumes by revision without listing again; on the memory store (another history) the
/// resume is refused and it lists again, dropping what the new history lacks.
#[tokio::test]
async fn a_restarted_peer_is_resumed_by_revision_or_listed_again_when_refused() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("b.redb");
    let calls = support::Calls::default();
    let b = center_on(
        "b",
        Vec::new(),
        Box::new(RedbStore::open(&path).expect("redb")),
        "tcp://127.0.0.1:0",
        Some(&calls),
    )
    .await;
    let b_addr = b.local_addr().to_string();
    let to_b = Relay::delayed(&b_addr, LINK_DELAY).await;
    let a = center("a", vec![to_b.addr.clone()]).await;
    // b0 reaches a by its listing or its watch; b1, registered after, by its watch: the
    // watch has delivered, so its break at b's restart is not taken for an unreachable b.
    let mut at_a = registry(&a).subscribe("Whoami").await.expect("subscribes");
    for id in ["b0", "b1"] {
        admin(&b)
            .register(listed(id), 60_000)
            .await
            .expect("registers");
        until(&mut at_a, "a lists b's instance", |l| fresh(l, id)).await;
    }
    assert_eq!(calls.of("discover"), 1, "listed once");

    // Same history: held at the relay while b restarts, then resumed by revision.
    to_b.hold_new(true);
    b.shutdown().await;
    let b = center_on(
        "b",
        Vec::new(),
        Box::new(RedbStore::open(&path).expect("redb")),
        &b_addr,
        Some(&calls),
    )
    .await;
    to_b.hold_new(false);
    admin(&b)
        .register(listed("b2"), 60_000)
        .await
        .expect("registers");
    until(&mut at_a, "b2 reaches a", |l| {
        fresh(l, "b1") && fresh(l, "b2")
    })
    .await;
    assert_eq!(
        calls.of("discover"),
        1,
        "resumed by revision, not listed again"
    );
    assert!(calls.of("watch") >= 2, "watched again");

    // Another history: the resume is refused and a lists again.
    to_b.hold_new(true);
    b.shutdown().await;
    let b = center_on(
        "b",
        Vec::new(),
        Box::new(MemoryStore),
        &b_addr,
        Some(&calls),
    )
    .await;
    admin(&b)
        .register(listed("b3"), 60_000)
        .await
        .expect("registers");
    to_b.hold_new(false);
    let took = until(&mut at_a, "a lists exactly b3 of b's", |l| {
        fresh(l, "b3") && !has(l, "b0") && !has(l, "b1") && !has(l, "b2")
    })
    .await;
    assert_eq!(calls.of("discover"), 2, "listed again once");
    println!("federation: a peer restarted with another history: listed again in {took:?}");
    drop(to_b);
}

/// The `erpc-center` binary: `--dc` and `--follow` by flag, and the same from the config
/// file's `center:` section (`dc`, `follow`, `remote_stale_after`).
#[tokio::test]
async fn erpc_center_processes_follow_peers_given_by_flag_or_config_file() {
    let a =
        support::process::spawn_center("tcp://127.0.0.1:0", &["--store", "memory", "--dc", "a"])
            .await;
    let b = support::process::spawn_center(
        "tcp://127.0.0.1:0",
        &["--store", "memory", "--dc", "b", "--follow", &a.addr],
    )
    .await;
    let file = tempfile::Builder::new()
        .suffix(".yaml")
        .tempfile()
        .expect("a temp file");
    std::fs::write(
        file.path(),
        format!(
            "center:\n  store: memory\n  dc: c\n  follow: [\"{}\"]\n  remote_stale_after: 2s\n",
            a.addr
        ),
    )
    .expect("written");
    let config = file.path().to_string_lossy().into_owned();
    let c = support::process::spawn_center("tcp://127.0.0.1:0", &["--config", &config]).await;
    let client = |addr: &str| CenterClient::new(erpc_core::Client::new(addr).expect("an address"));
    client(&a.addr)
        .register(listed("a1"), 30_000)
        .await
        .expect("registers");
    for follower in [&b.addr, &c.addr] {
        let mut list = CenterRegistry::new([follower.as_str()])
            .expect("an address")
            .subscribe("Whoami")
            .await
            .expect("subscribes");
        until(&mut list, "the follower lists a1", |l| {
            l.iter().any(|e| {
                e.id == "a1"
                    && e.instance.metadata.get(DC_KEY).map(String::as_str) == Some("a")
                    && e.instance.metadata.get(REMOTE_KEY) == Some(&a.addr)
            })
        })
        .await;
    }
    // The follower's own registrations get its DC.
    client(&c.addr)
        .register(listed("c1"), 30_000)
        .await
        .expect("registers");
    let listed_at_c = client(&c.addr)
        .discover("Whoami".into(), Default::default())
        .await
        .expect("discover");
    let c1 = listed_at_c.instances.iter().find(|i| i.id == "c1");
    assert_eq!(
        c1.and_then(|i| i.metadata.get(DC_KEY)).map(String::as_str),
        Some("c"),
        "{listed_at_c:?}"
    );
}

/// A peer address that does not parse, or one given twice, is refused at start, named; so
/// is a data center named "".
#[tokio::test]
async fn a_bad_or_repeated_peer_address_is_refused_naming_it() {
    let open = |follow: Vec<&str>| {
        CenterImpl::open(
            Box::new(MemoryStore),
            CenterConfig {
                follow: follow.into_iter().map(String::from).collect(),
                ..CenterConfig::default()
            },
        )
    };
    let bad = open(vec!["nowhere"]).expect_err("not an address");
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad}");
    assert!(bad.message().contains("\"nowhere\""), "{bad}");
    let twice = open(vec!["tcp://127.0.0.1:1", "tcp://127.0.0.1:1"]).expect_err("twice");
    assert_eq!(twice.code(), Code::InvalidArgument, "{twice}");
    assert!(twice.message().contains("given twice"), "{twice}");
    let unnamed = CenterImpl::open(
        Box::new(MemoryStore),
        CenterConfig {
            dc: Some(String::new()),
            ..CenterConfig::default()
        },
    )
    .expect_err("an empty dc");
    assert_eq!(unnamed.code(), Code::InvalidArgument, "{unnamed}");
    for dc in ["eu/west", "eu\nwest", " "] {
        let refused = CenterImpl::open(
            Box::new(MemoryStore),
            CenterConfig {
                dc: Some(dc.into()),
                ..CenterConfig::default()
            },
        )
        .expect_err("not one plain name");
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused}");
        assert!(
            refused
                .message()
                .starts_with(&format!("the center's data center (dc) {dc:?}")),
            "{refused}"
        );
    }
}

/// A peer that protects reads (`--protect-reads`) is followed by a center given its token
/// (`follow_token`), and not by one without it (refused, so its list stays empty).
#[tokio::test]
async fn a_peer_protecting_reads_is_followed_with_its_token() {
    let token = "s3cret";
    let b = erpc_core::Server::builder()
        .admission(erpc_center::auth::require_token(token, true))
        .add_service(CenterServer::new(
            CenterImpl::open(Box::new(MemoryStore), CenterConfig::default()).expect("opens"),
        ))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("serves");
    let b_addr = b.local_addr().to_string();
    let follower = |follow_token: Option<&str>| {
        let config = CenterConfig {
            follow: vec![b_addr.clone()],
            follow_token: follow_token.map(String::from),
            ..CenterConfig::default()
        };
        async move {
            erpc_core::Server::builder()
                .add_service(CenterServer::new(
                    CenterImpl::open(Box::new(MemoryStore), config).expect("opens"),
                ))
                .serve(["tcp://127.0.0.1:0"])
                .await
                .expect("serves")
        }
    };
    let without = follower(None).await;
    let with = follower(Some(token)).await;
    let writer = CenterClient::new(
        erpc_core::Client::builder()
            .middleware(erpc_core::auth::Credentials::bearer(token))
            .build(b_addr.as_str())
            .expect("an address"),
    );
    writer
        .register(listed("b1"), 30_000)
        .await
        .expect("registers with the token");
    let mut at_with = registry(&with)
        .subscribe("Whoami")
        .await
        .expect("subscribes");
    until(&mut at_with, "the follower with the token lists b1", |l| {
        fresh(l, "b1")
    })
    .await;
    // The other follower has had as long, and b's changes are ordered after its listing.
    writer
        .register(listed("b2"), 30_000)
        .await
        .expect("registers with the token");
    until(&mut at_with, "the follower with the token lists b2", |l| {
        fresh(l, "b2")
    })
    .await;
    assert!(listing(&without).await.is_empty(), "read without the token");
}

/// A link that goes silent (nothing passes, no reset) is found by the follower's heartbeats
/// and the listing that follows: the peer's entries turn stale; once the link carries again,
/// they are fresh.
#[tokio::test]
async fn a_silent_link_is_found_and_its_entries_marked_stale() {
    let dcs = TwoDcs::new().await;
    let _b1 = registry(&dcs.b)
        .register(listed("b1"))
        .await
        .expect("registers");
    let mut at_a = registry(&dcs.a)
        .subscribe("Whoami")
        .await
        .expect("subscribes");
    until(&mut at_a, "a lists b1", |l| fresh(l, "b1")).await;
    dcs.to_b.stall(true);
    let silent = Instant::now();
    let stale_after = until(&mut at_a, "b1 marked stale at a", |l| stale(l, "b1")).await;
    dcs.to_b.stall(false);
    let fresh_after = until(&mut at_a, "b1 fresh again at a", |l| fresh(l, "b1")).await;
    println!(
        "federation: a silent link: remote entries marked stale {:?} after it went silent (heartbeats 1 s x 3, then a listing that times out at 3 s); fresh {fresh_after:?} after it carried again",
        silent.elapsed() - fresh_after
    );
    // Heartbeats give the link up after 3-4 s, the listing after 3 s more.
    assert!(stale_after < Duration::from_secs(10), "{stale_after:?}");
}

/// The same id registered in two data centers: while a's own registration shadows b's
/// mirrored one, a lists its own; once it leaves, b's (alive all along) is listed again at
/// once — not at the next re-listing of b (which an idle link never makes).
#[tokio::test]
async fn a_peer_instance_shadowed_by_a_local_one_of_the_same_id_returns_when_that_leaves() {
    let b = center("b", Vec::new()).await;
    let a = center("a", vec![b.local_addr().to_string()]).await;
    let dc_of = |l: &Endpoints, id: &str| {
        l.iter()
            .find(|e| e.id == id)
            .and_then(|e| e.instance.metadata.get(DC_KEY).cloned())
    };
    let mut at_a = registry(&a).subscribe("Whoami").await.expect("subscribes");
    // b's first, shadowed by a's; then a's first, b's arriving while it is there.
    for (round, b_first) in [(0, true), (1, false)] {
        let id = format!("x{round}");
        let register = async |center: &ServerHandle| {
            admin(center)
                .register(listed(&id), 30_000)
                .await
                .expect("registers")
        };
        if b_first {
            register(&b).await;
            until(&mut at_a, "a lists b's copy", |l| {
                dc_of(l, &id).as_deref() == Some("b")
            })
            .await;
            register(&a).await;
        } else {
            register(&a).await;
            register(&b).await;
            // b's copy reached a (hidden behind a's) once a later registration at b did:
            // the peer's watch delivers in order.
            let marker = format!("{id}-after");
            admin(&b)
                .register(listed(&marker), 30_000)
                .await
                .expect("registers");
            until(&mut at_a, "a lists b's later registration", |l| {
                has(l, &marker)
            })
            .await;
        }
        until(&mut at_a, "a lists its own copy", |l| {
            dc_of(l, &id).as_deref() == Some("a")
        })
        .await;
        admin(&a)
            .deregister("Whoami".into(), id.clone())
            .await
            .expect("deregisters");
        let back = until(&mut at_a, "b's copy listed at a again", |l| {
            dc_of(l, &id).as_deref() == Some("b")
        })
        .await;
        println!(
            "federation: a shadowed peer instance listed again {back:?} after the local one left"
        );
        assert!(back < Duration::from_secs(2), "{back:?}");
        // And it is b's to remove.
        admin(&b)
            .deregister("Whoami".into(), id.clone())
            .await
            .expect("deregisters");
        until(&mut at_a, "b's copy gone from a", |l| !has(l, &id)).await;
    }
}

/// Each way a follow fails is logged for what it is: a peer refusing the (missing) token
/// names `--follow-token`, an address serving something other than a center says so, and a
/// peer never reached says it was never listed — none of them claims instances "marked
/// stale".
#[tokio::test]
async fn each_kind_of_follow_failure_is_logged_for_what_it_is() {
    let protected = support::process::spawn_center(
        "tcp://127.0.0.1:0",
        &["--store", "memory", "--token", "s3cret", "--protect-reads"],
    )
    .await;
    let not_a_center = erpc_core::Server::builder()
        .add_service(support::WhoamiServer::new(support::Named("w".into())))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("serves");
    let not_a_center = not_a_center.local_addr().to_string();
    let nobody = {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("binds")
            .local_addr()
            .expect("an address")
            .port();
        format!("tcp://127.0.0.1:{port}")
    };
    let (_follower, mut log) = support::process::spawn_center_logged(
        "tcp://127.0.0.1:0",
        &[
            "--store",
            "memory",
            "--follow",
            &protected.addr,
            "--follow",
            &not_a_center,
            "--follow",
            &nobody,
        ],
    )
    .await;
    // The three followers start at once: their lines come in any order.
    let mut expected = vec![
        (protected.addr.clone(), "--follow-token"),
        (not_a_center, "not an erpc-center"),
        (nobody, "never answered"),
    ];
    let names = |line: &str, peer: &str| {
        let field = format!("peer={peer}");
        line.split_whitespace().any(|w| w == field)
    };
    let mut lines = Vec::new();
    while !expected.is_empty() {
        let line = support::process::log_line(&mut log, "a warning on each peer", |l| {
            l.contains("WARN") && expected.iter().any(|(peer, _)| names(l, peer))
        })
        .await;
        let at = expected
            .iter()
            .position(|(peer, _)| names(&line, peer))
            .expect("a peer named");
        let (peer, says) = expected.remove(at);
        assert!(line.contains(says), "{peer}: {line}");
        assert!(!line.contains("marked stale"), "{peer}: {line}");
        lines.push(line);
    }
    println!("federation: follow failures logged:\n{}", lines.join("\n"));
}

/// One peer under two spellings (`127.0.0.1:P`, `localhost:P`) is followed once: the
/// second spelling is dropped with a warning naming both, and the peer's instances are
/// mirrored under the first.
#[tokio::test]
async fn one_peer_under_two_spellings_is_followed_once() {
    let b = support::process::spawn_center("tcp://127.0.0.1:0", &["--store", "memory"]).await;
    let port = b.addr.rsplit(':').next().expect("a port");
    let by_name = format!("tcp://localhost:{port}");
    let (a, mut log) = support::process::spawn_center_logged(
        "tcp://127.0.0.1:0",
        &[
            "--store", "memory", "--follow", &b.addr, "--follow", &by_name,
        ],
    )
    .await;
    let line = support::process::log_line(&mut log, "a warning naming both spellings", |l| {
        l.contains("WARN") && l.contains(&b.addr) && l.contains(&by_name)
    })
    .await;
    assert!(line.contains("same peer"), "{line}");
    let client = |addr: &str| CenterClient::new(erpc_core::Client::new(addr).expect("an address"));
    client(&b.addr)
        .register(listed("b1"), 30_000)
        .await
        .expect("registers");
    let mut at_a = CenterRegistry::new([a.addr.as_str()])
        .expect("an address")
        .subscribe("Whoami")
        .await
        .expect("subscribes");
    until(&mut at_a, "a lists b1 under the first spelling", |l| {
        l.iter()
            .any(|e| e.id == "b1" && e.instance.metadata.get(REMOTE_KEY) == Some(&b.addr))
    })
    .await;
}

/// A center whose `--follow` list names itself (one shared list for every center) does not
/// follow itself: it warns, and an instance that leaves is gone — not kept as a mirror of
/// itself that it then refuses to deregister. Both an exact listen address and a wildcard
/// listen (`0.0.0.0:P`, followed as `localhost:P`).
#[tokio::test]
async fn a_center_following_its_own_address_does_not_follow_itself() {
    for wildcard in [false, true] {
        let port = support::etcd::free_port();
        let (listen, follow) = if wildcard {
            (
                format!("tcp://0.0.0.0:{port}"),
                format!("tcp://localhost:{port}"),
            )
        } else {
            let own = format!("tcp://127.0.0.1:{port}");
            (own.clone(), own)
        };
        let (_center, mut log) = support::process::spawn_center_logged(
            &listen,
            &["--store", "memory", "--follow", &follow],
        )
        .await;
        let line = support::process::log_line(&mut log, "a warning that it is itself", |l| {
            l.contains("WARN") && l.contains("this center itself")
        })
        .await;
        assert!(line.contains(&follow), "{line}");
        let center = CenterClient::new(
            erpc_core::Client::new(format!("tcp://127.0.0.1:{port}").as_str()).expect("an address"),
        );
        center
            .register(listed("x"), 30_000)
            .await
            .expect("registers");
        center
            .deregister("Whoami".into(), "x".into())
            .await
            .expect("deregisters its own instance");
        let left = center
            .discover("Whoami".into(), Default::default())
            .await
            .expect("discover");
        assert!(left.instances.is_empty(), "{follow}: {left:?}");
    }
}

/// a and b follow each other, `dup` registered at both. b's own dup leaves (b then lists a's
/// mirror of dup in its place and sends no `Deregistered`): a drops b's copy it held hidden,
/// so when a's own dup leaves, a lists no dup — not b's copy, gone long ago.
#[tokio::test]
async fn a_peer_copy_replaced_by_its_mirror_of_ours_does_not_come_back() {
    let (pa, pb) = (support::etcd::free_port(), support::etcd::free_port());
    let (addr_a, addr_b) = (
        format!("tcp://127.0.0.1:{pa}"),
        format!("tcp://127.0.0.1:{pb}"),
    );
    let spawn = |listen: String, dc: &'static str, peer: String| async move {
        support::process::spawn_center(
            &listen,
            &["--store", "memory", "--dc", dc, "--follow", &peer],
        )
        .await
    };
    let _a = spawn(addr_a.clone(), "a", addr_b.clone()).await;
    let _b = spawn(addr_b.clone(), "b", addr_a.clone()).await;
    let client = |addr: &str| CenterClient::new(erpc_core::Client::new(addr).expect("an address"));
    let (a, b) = (client(&addr_a), client(&addr_b));
    let subscribe = async |addr: &str| {
        CenterRegistry::new([addr])
            .expect("an address")
            .subscribe("Whoami")
            .await
            .expect("subscribes")
    };
    let (mut at_a, mut at_b) = (subscribe(&addr_a).await, subscribe(&addr_b).await);
    let dc_of = |l: &Endpoints, id: &str| {
        l.iter()
            .find(|e| e.id == id)
            .and_then(|e| e.instance.metadata.get(DC_KEY).cloned())
    };
    a.register(listed("dup"), 30_000).await.expect("registers");
    b.register(listed("dup"), 30_000).await.expect("registers");
    // Each center's dup reached the other (hidden there) once a later registration did.
    a.register(listed("a-mark"), 30_000)
        .await
        .expect("registers");
    b.register(listed("b-mark"), 30_000)
        .await
        .expect("registers");
    until(&mut at_a, "a lists b-mark", |l| has(l, "b-mark")).await;
    until(&mut at_b, "b lists a-mark", |l| has(l, "a-mark")).await;
    b.deregister("Whoami".into(), "dup".into())
        .await
        .expect("deregisters");
    until(&mut at_b, "b lists a's mirror of dup", |l| {
        dc_of(l, "dup").as_deref() == Some("a")
    })
    .await;
    // a has seen b list that mirror once it sees a later registration at b.
    b.register(listed("b-mark2"), 30_000)
        .await
        .expect("registers");
    until(&mut at_a, "a lists b-mark2", |l| has(l, "b-mark2")).await;
    a.deregister("Whoami".into(), "dup".into())
        .await
        .expect("deregisters");
    let left = a
        .discover("Whoami".into(), Default::default())
        .await
        .expect("discover");
    assert!(
        !left.instances.iter().any(|i| i.id == "dup"),
        "b's stale copy came back at a: {left:?}"
    );
    until(&mut at_b, "dup gone from b", |l| !has(l, "dup")).await;
}
