//! One instance of `demo.Hello`, registered with the demo's center:
//! `cargo run -p demo --bin server -- --port 7001`. Run two or three on different ports;
//! Ctrl-C or SIGTERM deregisters it at once (kill -9 leaves its lease to expire).

#[path = "../centers.rs"]
mod centers;
#[path = "../failure.rs"]
mod failure;
#[path = "../hello.rs"]
mod hello;

use std::sync::Arc;

use clap::Parser;
use erpc::discovery::Instance;

/// One instance of the demo's `demo.Hello`, registered with the demo's center. SIGINT or
/// SIGTERM deregisters it, sends GOAWAY to its clients and stops it.
#[derive(Debug, Parser)]
#[command(name = "server")]
struct Args {
    /// Port to serve on, on 127.0.0.1.
    #[arg(long, env = "ERPC_DEMO_SERVER_PORT", default_value_t = 7001)]
    port: u16,
    /// Address to serve on, any transport (instead of --port).
    #[arg(long, env = "ERPC_DEMO_SERVER_LISTEN", conflicts_with = "port")]
    listen: Option<String>,
    /// The instance's id [default: instance-PORT].
    #[arg(long, env = "ERPC_DEMO_SERVER_ID")]
    id: Option<String>,
    #[command(flatten)]
    centers: centers::Centers,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    failure::exit("server", run(Args::parse()).await)
}

async fn run(args: Args) -> Result<(), failure::Failure> {
    let mut stop = erpc::ShutdownSignals::listen()?;
    let listen = args
        .listen
        .unwrap_or_else(|| format!("tcp://127.0.0.1:{}", args.port));
    let name = args.id.unwrap_or_else(|| format!("instance-{}", args.port));
    let registry = args.centers.registry()?;
    let server = erpc::Server::builder()
        .add_service(hello::HelloServer::new(hello::Instance(name.clone())))
        .register(
            Arc::new(registry),
            Instance {
                id: name.clone(),
                ..Instance::default()
            },
        )
        .serve([listen.as_str()])
        .await
        .map_err(|e| {
            let center = args.centers.describe();
            format!("{name} on {listen} with {center}: {e}")
        })?;
    println!(
        "{name} serving on {} and registered (Ctrl-C deregisters and stops)",
        server.local_addr()
    );
    let signal = stop.recv().await;
    server.shutdown().await;
    println!("{signal}: {name} deregistered and stopped");
    Ok(())
}
