//! Finds `demo.Hello` through the demo's center and calls it twice a second, printing which
//! instance answered: `cargo run -p demo --bin client` (`-- --calls N`, default 20). Start
//! and stop servers meanwhile to watch the list follow.

#[path = "../centers.rs"]
mod centers;
#[path = "../failure.rs"]
mod failure;
#[path = "../hello.rs"]
mod hello;

use std::time::Duration;

/// Finds `demo.Hello` through the demo's center and calls it twice a second, printing which
/// instance answered. SIGINT or SIGTERM stops it between calls.
#[derive(Debug, clap::Parser)]
#[command(name = "client")]
struct Args {
    /// How many calls to make.
    #[arg(long, env = "ERPC_DEMO_CALLS", default_value_t = 20)]
    calls: usize,
    #[command(flatten)]
    centers: centers::Centers,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let (args, sources) = failure::parse::<Args>();
    failure::exit_named("client", &sources, run(args).await)
}

async fn run(args: Args) -> Result<(), failure::Failure> {
    let mut stop = erpc::ShutdownSignals::listen()?;
    let registry = args.centers.registry()?;
    let client = hello::HelloClient::new(
        erpc::Client::builder()
            .discover(&registry, "demo.Hello")
            .await
            .map_err(|status| {
                let message = format!("{}: {}", args.centers.describe(), status.message());
                erpc::Status::new(status.code(), message)
            })?,
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
