//! Routing rules cost no allocation per call (CENTER.md, "Routing rules": planned once per
//! table and instance list): calls through a client following a table whose matching rule
//! comes last and splits by weight allocate as many times as calls of a client without rules.
//! Allocations are counted by a global allocator, so this test has a binary of its own.

#[path = "support/heap.rs"]
mod heap;
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use erpc::ServerHandle;
use erpc::discovery::{InProcess, Instance, Locality, routes_key};
use support::{Named, WhoamiClient, WhoamiServer};

async fn instance(registry: &InProcess, name: &str, version: &str) -> ServerHandle {
    erpc::Server::builder()
        .add_service(WhoamiServer::new(Named(name.into())))
        .register(
            Arc::new(registry.clone()),
            Instance {
                id: name.into(),
                version: version.into(),
                ..Instance::default()
            },
        )
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("serves")
}

/// Allocations per call over `calls` calls carrying `x-user-tier: gold`, after a warm-up.
async fn allocations_per_call(client: &WhoamiClient, calls: u64) -> f64 {
    let call = async || {
        client
            .name()
            .metadata("x-user-tier", "gold")
            .await
            .expect("a call succeeds")
    };
    for _ in 0..2_000 {
        call().await;
    }
    let before = heap::allocations();
    for _ in 0..calls {
        call().await;
    }
    (heap::allocations() - before) as f64 / calls as f64
}

#[tokio::test(flavor = "current_thread")]
async fn routing_a_call_allocates_nothing() {
    let registry = InProcess::default();
    let mut servers = Vec::new();
    for (name, version) in [("v1-a", "1"), ("v1-b", "1"), ("v2-a", "2")] {
        servers.push(instance(&registry, name, version).await);
    }
    // Two rules that do not match (another method; another tier), then a 90/10 split.
    let table = r#"{"rules":[
        {"match":{"method":"other"},"route":[{"subset":{"version":"2"}}]},
        {"match":{"metadata":{"x-user-tier":"beta"}},"route":[{"subset":{"version":"2"}}]},
        {"match":{"metadata":{"x-user-tier":"gold"}},
         "route":[{"subset":{"version":"1"},"weight":90},{"subset":{"version":"2"},"weight":10}]}]}"#;
    let entries = BTreeMap::from([(routes_key("Whoami"), table.to_owned())]);
    let (_rules, entries) = tokio::sync::watch::channel(Arc::new(entries));
    let routed = WhoamiClient::new(
        erpc::Client::builder()
            .routes(entries, Locality::default())
            .discover(&registry, "Whoami")
            .await
            .expect("discovers"),
    );
    let plain = WhoamiClient::new(
        erpc::Client::builder()
            .discover(&registry, "Whoami")
            .await
            .expect("discovers"),
    );
    let calls = 5_000;
    let with_rules = allocations_per_call(&routed, calls).await;
    let without = allocations_per_call(&plain, calls).await;
    println!("allocations per call: {with_rules:.3} with routing rules, {without:.3} without");
    // One allocation per call would show as a difference of 1.
    assert!(
        (with_rules - without).abs() < 0.2,
        "routing allocates per call: {with_rules:.3} vs {without:.3}"
    );
    for server in servers {
        server.shutdown().await;
    }
}
