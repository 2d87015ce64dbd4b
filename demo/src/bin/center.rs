//! The registry center of the three-process demo, on tcp://127.0.0.1:7070 with a durable
//! store in the per-user data directory (`erpc-demo-center`):
//!
//! ```sh
//! cargo run -p demo --bin center
//! cargo run -p demo --bin server -- --port 7001   # two or three of these
//! cargo run -p demo --bin client
//! ```
//!
//! It is the `erpc-center` binary's work in a few lines; that binary has every option.

use std::path::PathBuf;

use erpc_center::store::redb::{self, RedbStore};
use erpc_center::{CenterConfig, CenterImpl, CenterServer};

#[path = "../failure.rs"]
mod failure;

/// The demo's registry center (the `erpc-center` binary has every option). Stops
/// gracefully on SIGINT or SIGTERM.
#[derive(Debug, clap::Parser)]
#[command(name = "center")]
struct Args {
    /// Address to serve on.
    #[arg(
        long,
        env = "ERPC_DEMO_CENTER_LISTEN",
        default_value = "tcp://127.0.0.1:7070"
    )]
    listen: String,
    /// Directory of the durable store [default: erpc-demo-center in the per-user data
    /// directory, e.g. ~/.local/share/erpc-demo-center].
    #[arg(long, env = "ERPC_DEMO_CENTER_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let (args, sources) = failure::parse::<Args>();
    failure::exit_named("center", &sources, run(args).await)
}

async fn run(args: Args) -> Result<(), failure::Failure> {
    let mut stop = erpc::ShutdownSignals::listen()?;
    let dir = match args.data_dir {
        Some(dir) => dir,
        None => redb::default_dir("erpc-demo-center")
            .ok_or("no per-user data directory here: give --data-dir")?,
    };
    let path = dir.join(redb::FILE_NAME);
    let store =
        RedbStore::open(&path).map_err(|e| format!("the store at {}: {e}", path.display()))?;
    let center = CenterImpl::open(Box::new(store), CenterConfig::default())?;
    let server = erpc::Server::builder()
        .add_service(CenterServer::new(center))
        .serve([args.listen.as_str()])
        .await
        .map_err(|e| format!("serving on --listen {}: {e}", args.listen))?;
    println!(
        "center listening on {} (data in {}; Ctrl-C stops it)",
        server.local_addr(),
        path.display()
    );
    let signal = stop.recv().await;
    server
        .shutdown_timeout(std::time::Duration::from_secs(2))
        .await;
    println!("{signal}: center stopped");
    Ok(())
}
