//! `erpc-center`: the registry center as a process. `erpc-center --help` lists the options.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use erpc_center::store::Store;
use erpc_center::store::memory::MemoryStore;
use erpc_center::store::redb::RedbStore;
use erpc_center::{CenterConfig, CenterImpl, CenterServer};

/// erpc's registry center: services register under leases, clients discover and watch them.
#[derive(Debug, Parser)]
#[command(name = "erpc-center", version)]
struct Args {
    /// Address to serve on (repeat for several: tcp://, unix://, quic://…).
    #[arg(long, default_value = "tcp://127.0.0.1:7070")]
    listen: Vec<String>,
    /// Where state lives: `redb` (a file in --data-dir, durable), `memory` (lost on exit), or
    /// `etcd://host:2379[,host:2379…][/prefix]` (shared by every center on that etcd; needs
    /// the `etcd` feature).
    #[arg(long, default_value = "redb")]
    store: String,
    /// Directory of the redb store.
    #[arg(long, default_value = "erpc-center-data")]
    data_dir: PathBuf,
    /// Shortest lease granted, in milliseconds.
    #[arg(long, default_value_t = 1_000)]
    min_ttl_ms: u64,
    /// Longest lease granted, in milliseconds.
    #[arg(long, default_value_t = 300_000)]
    max_ttl_ms: u64,
    /// How often expired leases are removed, in milliseconds.
    #[arg(long, default_value_t = 500)]
    sweep_ms: u64,
    /// Changes kept for watchers to resume from.
    #[arg(long, default_value_t = 10_000)]
    history: usize,
}

/// The center the arguments describe.
async fn open_center(args: &Args, config: CenterConfig) -> Result<CenterImpl, String> {
    if args.store.starts_with("etcd://") {
        return on_etcd(&args.store, config).await;
    }
    let store = open_store(args)?;
    CenterImpl::open(store, config).map_err(|e| e.to_string())
}

#[cfg(feature = "etcd")]
async fn on_etcd(url: &str, config: CenterConfig) -> Result<CenterImpl, String> {
    let (endpoints, prefix) = erpc_center::backend::etcd::parse_url(url)?;
    let center = CenterImpl::on_etcd(&endpoints, &prefix, config)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    tracing::info!(?endpoints, %prefix, "using etcd: every center on it serves the same registry");
    Ok(center)
}

#[cfg(not(feature = "etcd"))]
async fn on_etcd(url: &str, _: CenterConfig) -> Result<CenterImpl, String> {
    Err(format!(
        "{url}: this erpc-center was built without etcd support (build it with --features etcd)"
    ))
}

fn open_store(args: &Args) -> Result<Box<dyn Store>, String> {
    match args.store.as_str() {
        "redb" => {
            let path = args.data_dir.join("center.redb");
            let store = RedbStore::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            tracing::info!(path = %path.display(), "using the redb store");
            Ok(Box::new(store))
        }
        "memory" => {
            tracing::warn!("using the memory store: registrations are lost when the center exits");
            Ok(Box::new(MemoryStore))
        }
        other => Err(format!(
            "unknown store {other:?}: expected redb, memory or etcd://host:2379"
        )),
    }
}

async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Logs go to stderr; stdout carries only the "listening on" lines a launcher reads.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let config = CenterConfig {
        min_ttl: Duration::from_millis(args.min_ttl_ms),
        max_ttl: Duration::from_millis(args.max_ttl_ms),
        sweep: Duration::from_millis(args.sweep_ms),
        history: args.history,
        ..CenterConfig::default()
    };
    let center = match open_center(&args, config).await {
        Ok(center) => center,
        Err(e) => {
            tracing::error!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let server = match erpc_core::Server::builder()
        // Watches never end by themselves: on shutdown they get 2 s, then `unavailable`, and
        // their clients resume from their last revision on another center.
        .config(erpc_core::ServerConfig {
            shutdown_grace: Duration::from_secs(2),
            ..erpc_core::ServerConfig::default()
        })
        .add_service(CenterServer::new(center))
        .serve(args.listen.iter().map(String::as_str))
        .await
    {
        Ok(server) => server,
        Err(e) => {
            tracing::error!("cannot listen on {:?}: {e}", args.listen);
            return std::process::ExitCode::FAILURE;
        }
    };
    for addr in server.local_addrs() {
        // The first line a launcher can wait for.
        println!("erpc-center listening on {addr}");
    }
    stopped().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    tracing::info!("stopped");
    std::process::ExitCode::SUCCESS
}
