//! `erpc-bridge`: forwards queued erpc requests to their services (QUEUE.md §4).
//!
//! `erpc-bridge --config bridge.yaml`; prints `erpc-bridge consuming SUBJECT` once
//! subscribed; stops on SIGINT or SIGTERM, finishing what it is forwarding (at most 10 s).

use std::path::PathBuf;

use clap::Parser;

/// Forward requests from a durable queue to erpc services and publish their answers.
///
/// Fields of the configuration are overridden by `ERPC_BRIDGE__<FIELD>` environment
/// variables (double underscore; `ERPC_BRIDGE__QUEUE__URL`), QUEUE.md §5.
#[derive(Parser)]
#[command(name = "erpc-bridge", version)]
struct Args {
    /// The YAML configuration (QUEUE.md §5).
    #[arg(long, env = "ERPC_BRIDGE_CONFIG")]
    config: PathBuf,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("erpc-bridge: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let config = erpc_queue::BridgeConfig::load(&args.config)?;
    let queue = erpc_queue::connect(&config.queue).await?;
    let requests = config.requests.clone();
    // Refusals of the table (a target without an address or discovery) name the file too.
    let bridge = erpc_queue::Bridge::new(queue.clone(), config)
        .map_err(|e| e.in_file(&args.config))?
        .hook(erpc_queue::LogHook);
    bridge
        .run(
            || println!("erpc-bridge consuming {requests}"),
            shutdown_signal(),
        )
        .await?;
    // In order, so that a stop is not logged as a broken connection (lapin does, at ERROR).
    queue.close().await?;
    Ok(())
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::warn!(error = %e, "no SIGTERM handler; stopping on SIGINT only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
