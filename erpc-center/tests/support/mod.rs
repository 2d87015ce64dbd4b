//! Shared by the registry tests: a service that says which instance answered, and a
//! provider of it registered with any registry.
#![allow(dead_code)]

pub mod etcd;
pub mod process;
pub mod relay;
pub mod zookeeper;

use std::sync::Arc;

use erpc_core::discovery::{Instance, Register};
use erpc_core::{ServerHandle, Status};

#[erpc_macros::service(crate = "erpc_core")]
pub trait Whoami {
    /// The name of the instance that answered.
    async fn name(&self) -> Result<String, Status>;
}

pub struct Named(pub String);

impl Whoami for Named {
    async fn name(&self) -> Result<String, Status> {
        Ok(self.0.clone())
    }
}

/// An instance named `name` serving Whoami on a free port, registered with `registry`.
pub async fn provider(registry: Arc<dyn Register>, name: &str) -> ServerHandle {
    erpc_core::Server::builder()
        .add_service(WhoamiServer::new(Named(name.into())))
        .register(
            registry,
            Instance {
                id: name.into(),
                ..Instance::default()
            },
        )
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("provider serves")
}

/// A client of Whoami that finds its instances through `registry`.
pub async fn consumer(registry: &dyn erpc_core::discovery::Discover) -> WhoamiClient {
    WhoamiClient::new(
        erpc_core::Client::builder()
            .discover(registry, "Whoami")
            .await
            .expect("discovers"),
    )
}

/// `registry`'s followed list of Whoami instances.
pub async fn subscribe(
    registry: &dyn erpc_core::discovery::Discover,
) -> tokio::sync::watch::Receiver<erpc_core::discovery::Endpoints> {
    registry.subscribe("Whoami").await.expect("subscribes")
}

/// Wait until `registry`'s list of Whoami instances has `n` entries — the list a client
/// follows, woken by its own updates — and say how long that took.
pub async fn list_reaches(
    registry: &dyn erpc_core::discovery::Discover,
    n: usize,
    limit: std::time::Duration,
) -> std::time::Duration {
    let started = tokio::time::Instant::now();
    let mut list = subscribe(registry).await;
    let reached = tokio::time::timeout(limit, list.wait_for(|l| l.len() == n))
        .await
        .is_ok_and(|r| r.is_ok());
    assert!(
        reached,
        "{} instances, wanted {n}, after {limit:?}",
        list.borrow().len()
    );
    started.elapsed()
}
