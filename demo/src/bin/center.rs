//! The registry center of the three-process demo, on tcp://127.0.0.1:7070 with a durable
//! store in `./demo-center-data`:
//!
//! ```sh
//! cargo run -p demo --bin center
//! cargo run -p demo --bin server -- --port 7001   # two or three of these
//! cargo run -p demo --bin client
//! ```
//!
//! It is the `erpc-center` binary's work in a few lines; that binary has every option.

use erpc_center::store::redb::RedbStore;
use erpc_center::{CenterConfig, CenterImpl, CenterServer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = RedbStore::open(std::path::Path::new("demo-center-data/center.redb"))?;
    let center = CenterImpl::open(Box::new(store), CenterConfig::default())?;
    let server = erpc::Server::builder()
        .add_service(CenterServer::new(center))
        .serve(["tcp://127.0.0.1:7070"])
        .await?;
    println!(
        "center listening on {} (Ctrl-C stops it)",
        server.local_addr()
    );
    tokio::signal::ctrl_c().await?;
    server
        .shutdown_timeout(std::time::Duration::from_secs(2))
        .await;
    println!("center stopped");
    Ok(())
}
