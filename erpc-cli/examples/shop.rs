//! A center and a shop registered in it, to try the `erpc` command line on (README
//! "Tooling"): `cargo run -p erpc-cli --example shop`, then in another shell
//! `erpc list --center tcp://127.0.0.1:7070`. Stops on Ctrl-C.

use std::sync::Arc;

use erpc::{ServerStream, Status, Streaming};
use erpc_center::store::memory::MemoryStore;
use erpc_center::{CenterConfig, CenterImpl, CenterRegistry, CenterServer, Instance};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

/// What is bought.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Order {
    item: String,
    qty: u32,
}

/// A shop.
#[erpc::service]
pub trait Shop {
    /// The price of an order, in cents.
    #[idempotent]
    async fn price(&self, order: Order) -> Result<u64, Status>;
    /// Counts from 0 to n - 1.
    async fn count(&self, n: u64) -> Result<ServerStream<u64>, Status>;
    /// The sum of the numbers sent.
    async fn sum(&self, numbers: Streaming<u64>) -> Result<u64, Status>;
}

struct ShopImpl;

impl Shop for ShopImpl {
    async fn price(&self, order: Order) -> Result<u64, Status> {
        match order.item.as_str() {
            "tea" => Ok(u64::from(order.qty) * 350),
            other => Err(Status::not_found(format!("no {other} in the shop"))),
        }
    }
    async fn count(&self, n: u64) -> Result<ServerStream<u64>, Status> {
        Ok(ServerStream::new(futures_util::stream::iter(
            (0..n).map(Ok),
        )))
    }
    async fn sum(&self, numbers: Streaming<u64>) -> Result<u64, Status> {
        let all: Vec<Result<u64, Status>> = numbers.collect().await;
        all.into_iter().sum()
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let center = CenterImpl::open(Box::new(MemoryStore), CenterConfig::default())?;
    let center = erpc::Server::builder()
        .add_service(CenterServer::new(center))
        .serve(["tcp://127.0.0.1:7070"])
        .await?;
    let mut template = Instance::new("Shop", "", "");
    template.addrs.clear();
    template.version = "1.2".into();
    template.metadata.insert("zone".into(), "eu-1".into());
    let registry = Arc::new(CenterRegistry::new(["tcp://127.0.0.1:7070"])?);
    let shop = erpc::Server::builder()
        .add_service(ShopServer::new(ShopImpl))
        .register(registry, template)
        .serve(["tcp://127.0.0.1:7000"])
        .await?;
    println!("center on tcp://127.0.0.1:7070, Shop on tcp://127.0.0.1:7000; Ctrl-C stops");
    tokio::signal::ctrl_c().await?;
    shop.shutdown().await;
    center.shutdown().await;
    Ok(())
}
