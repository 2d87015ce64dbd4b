//! Finds `demo.Hello` through the demo's center and calls it twice a second, printing which
//! instance answered: `cargo run -p demo --bin client` (`-- --calls N`, default 20). Start
//! and stop servers meanwhile to watch the list follow.

#[path = "../hello.rs"]
mod hello;

use std::time::Duration;

use erpc_center::CenterRegistry;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let calls = match args.iter().position(|a| a == "--calls") {
        Some(i) => args
            .get(i + 1)
            .ok_or("--calls needs a number")?
            .parse::<usize>()?,
        None => 20,
    };
    let registry = CenterRegistry::new(["tcp://127.0.0.1:7070"])?;
    let client = hello::HelloClient::new(
        erpc::Client::builder()
            .discover(&registry, "demo.Hello")
            .await?,
    );
    for i in 1..=calls {
        match client.hello("demo".into()).await {
            Ok(reply) => println!("{i:>3}: {reply}"),
            Err(status) => println!("{i:>3}: {status}"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}
