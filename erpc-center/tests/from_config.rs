//! A server and a client from a config file alone, through a real center: the server
//! registers as `server.registration` says, the client discovers as `client.discovery`
//! says and calls it.

mod support;

use std::time::Duration;

use erpc_center::store::memory::MemoryStore;
use erpc_center::{CenterConfig, CenterImpl, CenterServer, config_client};
use erpc_core::discovery::Discover;
use support::{Named, WhoamiClient, WhoamiServer};

/// A center on the memory store, and its address.
async fn center() -> (erpc_core::ServerHandle, String) {
    let center = CenterImpl::open(Box::new(MemoryStore), CenterConfig::default()).unwrap();
    let center = erpc_core::Server::builder()
        .add_service(CenterServer::new(center))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .unwrap();
    let at = center.local_addr().to_string();
    (center, at)
}

#[tokio::test]
async fn a_server_registers_and_a_client_discovers_from_the_file() {
    let (center, at) = center().await;
    let file = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    std::fs::write(
        file.path(),
        format!(
            "server:\n  listen: [\"tcp://127.0.0.1:0\"]\n  registration:\n    centers: [\"{at}\"]\n    weight: 30\n    metadata: {{zone: eu-1a}}\nclient:\n  balancer: p2c\n  discovery: {{service: Whoami, centers: [\"{at}\"]}}\n"
        ),
    )
    .unwrap();
    let settings = erpc_config::load_with_env(file.path(), Vec::new()).unwrap();
    let builder = settings.server.builder().unwrap();
    let server = config_client::register(&settings.server, builder)
        .unwrap()
        .add_service(WhoamiServer::new(Named("from-file".into())))
        .serve(settings.server.listen.iter().map(String::as_str))
        .await
        .unwrap();

    // Registered as the file says.
    let registry = erpc_center::CenterRegistry::new([at.as_str()]).unwrap();
    let mut list = registry.subscribe("Whoami").await.unwrap();
    let listed = tokio::time::timeout(Duration::from_secs(10), list.wait_for(|l| l.len() == 1))
        .await
        .expect("registered")
        .unwrap()
        .clone();
    assert_eq!(listed[0].weight, 30);
    assert_eq!(
        listed[0].instance.metadata.get("zone").map(String::as_str),
        Some("eu-1a")
    );

    // A client of the service from the file alone.
    let client = WhoamiClient::new(config_client::connect(&settings.client).await.unwrap());
    assert_eq!(client.name().await.expect("answers"), "from-file");
    server.shutdown().await;
    center.shutdown().await;
}

/// A client from a config file discovering through a center follows the service's routing
/// rules (`erpc/routes/<service>`) as `ClientBuilder::routes` does, by default; with
/// `client.routes: false` it ignores them.
#[tokio::test]
async fn a_client_from_the_file_follows_the_routing_rules_unless_told_not_to() {
    let (center, at) = center().await;
    let registry = erpc_center::CenterRegistry::new([at.as_str()]).unwrap();
    let mut providers = Vec::new();
    for (id, version) in [("v1", "1"), ("v2", "2")] {
        let provider = erpc_core::Server::builder()
            .add_service(WhoamiServer::new(Named(id.into())))
            .register(
                std::sync::Arc::new(registry.clone()),
                erpc_center::Instance {
                    id: id.into(),
                    version: version.into(),
                    ..erpc_center::Instance::default()
                },
            )
            .serve(["tcp://127.0.0.1:0"])
            .await
            .unwrap();
        providers.push(provider);
    }
    support::list_reaches(&registry, 2, Duration::from_secs(10)).await;
    let admin = erpc_center::CenterClient::new(erpc_core::Client::new(at.as_str()).unwrap());
    admin
        .config_set(
            erpc_core::discovery::routes_key("Whoami"),
            r#"{"default":[{"subset":{"version":"2"}}]}"#.into(),
        )
        .await
        .expect("the rules are stored");

    let client_of = |extra: &str| {
        let file = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
        std::fs::write(
            file.path(),
            format!("client:\n  discovery: {{service: Whoami, centers: [\"{at}\"]}}\n{extra}"),
        )
        .unwrap();
        erpc_config::load_with_env(file.path(), Vec::new()).unwrap()
    };
    let names = async |client: &WhoamiClient| {
        let mut names = std::collections::BTreeSet::new();
        for _ in 0..20 {
            names.insert(client.name().await.expect("answers"));
        }
        names
    };
    let routed = client_of("");
    assert!(routed.client.routes, "on by default");
    let routed = WhoamiClient::new(config_client::connect(&routed.client).await.unwrap());
    assert_eq!(
        names(&routed).await,
        ["v2".to_owned()].into(),
        "routed to version 2"
    );
    let unrouted = client_of("  routes: false\n");
    let unrouted = WhoamiClient::new(config_client::connect(&unrouted.client).await.unwrap());
    assert_eq!(
        names(&unrouted).await.len(),
        2,
        "both versions without the rules"
    );
    for provider in providers {
        provider.shutdown().await;
    }
    center.shutdown().await;
}
