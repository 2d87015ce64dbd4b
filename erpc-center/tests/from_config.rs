//! A server and a client from a config file alone, through a real center: the server
//! registers as `server.registration` says, the client discovers as `client.discovery`
//! says and calls it.

mod support;

use std::time::Duration;

use erpc_center::store::memory::MemoryStore;
use erpc_center::{CenterConfig, CenterImpl, CenterServer, config_client};
use erpc_core::discovery::Discover;
use support::{Named, WhoamiClient, WhoamiServer};

#[tokio::test]
async fn a_server_registers_and_a_client_discovers_from_the_file() {
    let center = CenterImpl::open(Box::new(MemoryStore), CenterConfig::default()).unwrap();
    let center = erpc_core::Server::builder()
        .add_service(CenterServer::new(center))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .unwrap();
    let at = center.local_addr().to_string();
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
