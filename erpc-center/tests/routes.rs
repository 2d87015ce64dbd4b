//! Routing rules end to end (CENTER.md, "Routing rules"): a center in this process, Whoami
//! providers of two versions registered with it, and clients following
//! `erpc/routes/Whoami` through `CenterRegistry::follow_config`. The center refuses tables
//! it could not apply; a weighted split holds its weights; a metadata-matched rule takes
//! only matching calls; a change applies within a config watch's round trip.
//!
//! Figures print with `cargo test -p erpc-center --test routes -- --nocapture`
//! (BENCHMARKS.md, "Routing rules").

mod support;

use std::sync::Arc;
use std::time::Duration;

use erpc_center::store::memory::MemoryStore;
use erpc_center::{CenterClient, CenterConfig, CenterImpl, CenterRegistry, CenterServer, Instance};
use erpc_core::discovery::{Locality, ROUTES_PREFIX, routes_key};
use erpc_core::{Code, ServerHandle};
use support::{Named, WhoamiClient, WhoamiServer};
use tokio::time::Instant;

struct Setup {
    center: ServerHandle,
    registry: CenterRegistry,
    admin: CenterClient,
    _providers: Vec<ServerHandle>,
}

/// A center and providers `(id, version)` of Whoami registered with it, listed.
async fn setup(providers: &[(&str, &str)]) -> Setup {
    let center =
        CenterImpl::open(Box::new(MemoryStore), CenterConfig::default()).expect("the center opens");
    let center = erpc_core::Server::builder()
        .add_service(CenterServer::new(center))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("the center serves");
    let registry = CenterRegistry::new([center.local_addr()]).expect("an address");
    let mut handles = Vec::new();
    for (id, version) in providers {
        let handle = erpc_core::Server::builder()
            .add_service(WhoamiServer::new(Named((*id).into())))
            .register(
                Arc::new(registry.clone()),
                Instance {
                    id: (*id).into(),
                    version: (*version).into(),
                    ..Instance::default()
                },
            )
            .serve(["tcp://127.0.0.1:0"])
            .await
            .expect("a provider serves");
        handles.push(handle);
    }
    support::list_reaches(&registry, providers.len(), Duration::from_secs(10)).await;
    let admin = CenterClient::new(erpc_core::Client::new(center.local_addr()).expect("address"));
    Setup {
        center,
        registry,
        admin,
        _providers: handles,
    }
}

impl Setup {
    async fn set_routes(&self, json: &str) -> Result<u64, erpc_core::Status> {
        self.admin
            .config_set(routes_key("Whoami"), json.to_owned())
            .await
    }

    /// A Whoami client following the routes, in data center `dc`.
    async fn client(&self, dc: &str) -> WhoamiClient {
        let entries = self
            .registry
            .follow_config(ROUTES_PREFIX)
            .await
            .expect("follows the config");
        let here = Locality {
            dc: Some(dc.into()),
            ..Locality::default()
        };
        WhoamiClient::new(
            erpc_core::Client::builder()
                .routes(entries, here)
                .discover(&self.registry, "Whoami")
                .await
                .expect("discovers"),
        )
    }
}

#[tokio::test]
async fn the_center_refuses_rules_it_could_not_apply_naming_the_problem() {
    let s = setup(&[("v1-a", "1"), ("v2-a", "2")]).await;
    let refused = async |key: &str, json: &str, says: &str| {
        let e = s
            .admin
            .config_set(key.into(), json.into())
            .await
            .expect_err(json);
        assert_eq!(e.code(), Code::InvalidArgument, "{e}");
        assert!(e.message().contains(says), "{json}: {e}");
    };
    let whoami = routes_key("Whoami");
    refused(
        &whoami,
        r#"{"rules":[{"match":{"header":{"x":"y"}},"route":[{}]}]}"#,
        "unknown field `header`, expected one of `method`, `metadata`, `dc`, `zone`",
    )
    .await;
    refused(
        &whoami,
        r#"{"default":[{"subset":{"version":"1"},"weight":95},{"subset":{"version":"3"},"weight":5}]}"#,
        "\"default\", entry 2 names the subset version \"3\", and no instance of \"Whoami\" registered now is in it",
    )
    .await;
    refused(
        &routes_key("Nobody"),
        r#"{"default":[{"subset":{"version":"1"}}]}"#,
        "no instance of \"Nobody\"",
    )
    .await;
    refused(&whoami, "{", "not a routing table").await;
    refused(ROUTES_PREFIX, "{}", "names no service").await;
    let listing = s
        .admin
        .config_get(ROUTES_PREFIX.into())
        .await
        .expect("lists");
    assert!(listing.entries.is_empty(), "nothing refused was stored");

    let good = r#"{"default":[{"subset":{"version":"1"},"weight":95},{"subset":{"version":"2"},"weight":5}]}"#;
    s.set_routes(good).await.expect("a valid table is stored");
    let listing = s
        .admin
        .config_get(ROUTES_PREFIX.into())
        .await
        .expect("lists");
    assert_eq!(listing.entries, vec![(whoami, good.to_owned())]);
    // Other config keys are not routing rules: stored as they are.
    s.admin
        .config_set("app/rps".into(), "{not json".into())
        .await
        .expect("other keys are free-form");
    s.center.shutdown().await;
}

/// A route to every instance of a service with none registered is refused in a plain
/// sentence (it said "names the subset every instance, and …").
#[tokio::test]
async fn a_route_to_every_instance_of_a_service_with_none_is_refused_in_plain_words() {
    let s = setup(&[("v1-a", "1")]).await;
    let e = s
        .admin
        .config_set(
            routes_key("Nobody"),
            r#"{"default":[{"subset":{}}]}"#.into(),
        )
        .await
        .expect_err("no instance of Nobody");
    assert_eq!(e.code(), Code::InvalidArgument, "{e}");
    assert_eq!(
        e.message(),
        "erpc/routes/Nobody: \"default\", entry 1 routes to every instance of \"Nobody\", and none is registered now"
    );
    s.center.shutdown().await;
}

/// Service names are one path segment wherever the center takes one: a routes key, a live
/// config key (`erpc/config/<service>/…`) and a registration refuse `/`, `..`, an empty name
/// and control characters, naming the service and the reason; nothing is stored.
#[tokio::test]
async fn service_names_that_are_not_one_plain_segment_are_refused_everywhere() {
    let s = setup(&[("v1-a", "1")]).await;
    let bad = [
        ("Whoami/../x", "'/'"),
        ("Whoami/", "'/'"),
        ("a//b", "'/'"),
        ("..", "\"..\""),
        ("Who..ami", "\"..\""),
        ("Who\u{7}ami", "control character"),
        ("Who\nami", "control character"),
    ];
    for (service, why) in bad {
        for key in [
            routes_key(service),
            format!("erpc/config/{service}/client.rate_limit"),
        ] {
            let e = s
                .admin
                .config_set(key.clone(), "{}".into())
                .await
                .expect_err(&key);
            assert_eq!(e.code(), Code::InvalidArgument, "{key:?}: {e}");
            assert!(
                e.message().contains(&format!("service name {service:?}"))
                    && e.message().contains(why),
                "{key:?}: {e}"
            );
        }
        let e = s
            .admin
            .register(Instance::new(service, "x", "tcp://127.0.0.1:1"), 30_000)
            .await
            .expect_err(service);
        assert_eq!(e.code(), Code::InvalidArgument, "{service:?}: {e}");
        assert!(
            e.message().contains(&format!("service name {service:?}")) && e.message().contains(why),
            "{service:?}: {e}"
        );
    }
    let e = s
        .admin
        .config_set("erpc/config//x".into(), "1".into())
        .await
        .expect_err("an empty service");
    assert!(e.message().contains("empty"), "{e}");
    let stored = s.admin.config_get("erpc/".into()).await.expect("lists");
    assert!(stored.entries.is_empty(), "{:?}", stored.entries);
    // Dotted names are names: `pkg.Greeter`.
    s.admin
        .config_set("erpc/config/pkg.Whoami/server.weight".into(), "3".into())
        .await
        .expect("a dotted service name is fine");
    s.center.shutdown().await;
}

/// How many of `calls` calls (with `tier` as `x-user-tier` if given) version-2 instances
/// answered.
async fn to_v2(client: &WhoamiClient, calls: usize, tier: Option<&str>) -> usize {
    let mut v2 = 0;
    for _ in 0..calls {
        let call = client.name();
        let call = match tier {
            Some(tier) => call.metadata("x-user-tier", tier.to_owned()),
            None => call,
        };
        let name = call.await.expect("a call succeeds");
        v2 += usize::from(name.starts_with("v2"));
    }
    v2
}

#[tokio::test]
async fn a_canary_split_of_95_to_5_holds_within_two_points_over_10_000_calls() {
    let s = setup(&[("v1-a", "1"), ("v1-b", "1"), ("v2-a", "2")]).await;
    s.set_routes(
        r#"{"default":[{"subset":{"version":"1"},"weight":95},{"subset":{"version":"2"},"weight":5}]}"#,
    )
    .await
    .expect("stored");
    let client = s.client("a").await;
    let calls = 10_000;
    let canary = to_v2(&client, calls, None).await;
    let share = canary as f64 / calls as f64 * 100.0;
    println!(
        "routes: 95/5 canary split: {canary} of {calls} calls went to the canary ({share:.2} %)"
    );
    // Binomial: σ = 0.22 points; 2 points is 9 σ. Without the rules round-robin gives 33 %.
    assert!((3.0..=7.0).contains(&share), "canary share {share:.2} %");
    s.center.shutdown().await;
}

#[tokio::test]
async fn a_metadata_matched_rule_routes_only_the_calls_that_carry_it() {
    let s = setup(&[("v1-a", "1"), ("v2-a", "2"), ("v2-b", "2")]).await;
    s.set_routes(
        r#"{"rules":[{"name":"beta","match":{"method":"name","metadata":{"x-user-tier":"beta"}},
                      "route":[{"subset":{"version":"2"}}]},
                     {"name":"elsewhere","match":{"dc":"b"},"route":[{"subset":{"version":"2"}}]}],
            "default":[{"subset":{"version":"1"}}]}"#,
    )
    .await
    .expect("stored");
    let client = s.client("a").await;
    assert_eq!(to_v2(&client, 500, Some("beta")).await, 500, "beta calls");
    assert_eq!(to_v2(&client, 500, Some("gold")).await, 0, "other tiers");
    assert_eq!(to_v2(&client, 500, None).await, 0, "no tier");
    // The same rules in data center b: its own rule sends everything to version 2.
    let in_b = s.client("b").await;
    assert_eq!(to_v2(&in_b, 200, None).await, 200, "callers in dc b");
    s.center.shutdown().await;
}

#[tokio::test]
async fn a_rule_change_applies_within_a_config_watch_round_trip() {
    let s = setup(&[("v1-a", "1"), ("v2-a", "2")]).await;
    let only = |version: &str| format!(r#"{{"default":[{{"subset":{{"version":"{version}"}}}}]}}"#);
    s.set_routes(&only("1")).await.expect("stored");
    let client = s.client("a").await;
    assert_eq!(to_v2(&client, 100, None).await, 0, "all on version 1");
    // A second follower of the same entries: when its watch delivers the change (one round
    // trip of the config watch), for comparison with when calls move.
    let mut watched = s
        .registry
        .follow_config(ROUTES_PREFIX)
        .await
        .expect("follows");
    watched.borrow_and_update();

    let mut moves = Vec::new();
    let mut rounds = Vec::new();
    for round in 0..20 {
        let (from, to) = if round % 2 == 0 {
            ("1", "2")
        } else {
            ("2", "1")
        };
        let started = Instant::now();
        s.set_routes(&only(to)).await.expect("stored");
        let calls_move = async {
            loop {
                let name = client.name().await.expect("a call succeeds");
                if name.starts_with(&format!("v{to}")) {
                    break started.elapsed();
                }
                assert!(name.starts_with(&format!("v{from}")), "{name}");
                assert!(
                    started.elapsed() < Duration::from_secs(5),
                    "calls never moved to version {to}"
                );
            }
        };
        let watch_sees = async {
            tokio::time::timeout(Duration::from_secs(5), watched.changed())
                .await
                .expect("the watch delivers the change")
                .expect("the follower lives");
            started.elapsed()
        };
        let (moved, seen) = tokio::join!(calls_move, watch_sees);
        rounds.push(seen);
        moves.push(moved);
        // Every call after the first moved one stays moved.
        assert_eq!(
            to_v2(&client, 20, None).await,
            if to == "2" { 20 } else { 0 }
        );
    }
    moves.sort();
    rounds.sort();
    let q = support::process::quantile;
    println!(
        "routes: a rule change moved calls {:?} p50 / {:?} max after config_set returned (20 changes); a config watch saw it {:?} p50 / {:?} max",
        q(&moves, 0.5),
        moves[moves.len() - 1],
        q(&rounds, 0.5),
        rounds[rounds.len() - 1],
    );
    s.center.shutdown().await;
}
