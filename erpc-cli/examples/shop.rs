//! A center and a shop registered in it, to try the `erpc` command line on (README
//! "Tooling"): `cargo run -p erpc-cli --example shop`, then in another shell
//! `erpc list --center tcp://127.0.0.1:7070`. Other addresses: `-- --center-listen
//! tcp://127.0.0.1:17070 --listen tcp://127.0.0.1:17000` (or `ERPC_SHOP_CENTER_LISTEN`,
//! `ERPC_SHOP_LISTEN`). Stops on Ctrl-C.

use std::sync::Arc;

use clap::Parser;
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

/// A registry center and a `Shop` registered in it, to try `erpc` on. Stops on Ctrl-C.
#[derive(Debug, Parser)]
#[command(name = "shop")]
struct Args {
    /// Where the center serves (the address to give `erpc --center`).
    #[arg(
        long,
        value_name = "ADDR",
        env = "ERPC_SHOP_CENTER_LISTEN",
        default_value = "tcp://127.0.0.1:7070"
    )]
    center_listen: String,
    /// Where the shop serves (it registers this address in the center).
    #[arg(
        long,
        value_name = "ADDR",
        env = "ERPC_SHOP_LISTEN",
        default_value = "tcp://127.0.0.1:7000"
    )]
    listen: String,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // A failure as one line (`shop: --listen …: Address already in use`), not Rust's Debug.
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shop: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let center = CenterImpl::open(Box::new(MemoryStore), CenterConfig::default())?;
    let center = erpc::Server::builder()
        .add_service(CenterServer::new(center))
        .serve([args.center_listen.as_str()])
        .await
        .map_err(|e| format!("--center-listen {}: {e}", args.center_listen))?;
    // The address it serves on (port 0: the one picked), for the shop to register with.
    let center_addr = center.local_addr().to_string();
    let mut template = Instance::new("Shop", "", "");
    template.addrs.clear();
    template.version = "1.2".into();
    template.metadata.insert("zone".into(), "eu-1".into());
    let registry = Arc::new(CenterRegistry::new([center_addr.as_str()])?);
    let shop = erpc::Server::builder()
        .add_service(ShopServer::new(ShopImpl))
        .register(registry, template)
        .serve([args.listen.as_str()])
        .await
        .map_err(|e| format!("--listen {}: {e}", args.listen))?;
    println!(
        "center on {center_addr}, Shop on {}; Ctrl-C stops",
        shop.local_addr()
    );
    tokio::signal::ctrl_c().await?;
    shop.shutdown().await;
    center.shutdown().await;
    Ok(())
}
