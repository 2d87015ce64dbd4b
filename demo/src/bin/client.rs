//! Finds `demo.Hello` through the demo's center and calls it twice a second, printing which
//! instance answered: `cargo run -p demo --bin client` (`-- --calls N`, default 20). Start
//! and stop servers meanwhile to watch the list follow.

#[path = "../hello.rs"]
mod hello;

use std::time::Duration;

use clap::Parser;
use erpc_center::CenterRegistry;

/// Finds `demo.Hello` through the demo's center and calls it twice a second, printing which
/// instance answered. SIGINT or SIGTERM stops it between calls.
#[derive(Debug, Parser)]
#[command(name = "client")]
struct Args {
    /// How many calls to make.
    #[arg(long, env = "ERPC_DEMO_CALLS", default_value_t = 20)]
    calls: usize,
    /// The center's address (repeat, or separate with commas, for several).
    #[arg(
        long,
        env = "ERPC_DEMO_CENTER",
        value_delimiter = ',',
        default_value = "tcp://127.0.0.1:7070"
    )]
    center: Vec<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut stop = erpc::ShutdownSignals::listen()?;
    let registry = CenterRegistry::new(args.center.iter().map(String::as_str))?;
    let client = hello::HelloClient::new(
        erpc::Client::builder()
            .discover(&registry, "demo.Hello")
            .await?,
    );
    let calls = async {
        for i in 1..=args.calls {
            match client.hello("demo".into()).await {
                Ok(reply) => println!("{i:>3}: {reply}"),
                Err(status) => println!("{i:>3}: {status}"),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    tokio::select! {
        _ = calls => {}
        signal = stop.recv() => println!("{signal}: stopped"),
    }
    Ok(())
}
