//! One instance of `demo.Hello`, registered with the demo's center:
//! `cargo run -p demo --bin server -- --port 7001`. Run two or three on different ports;
//! Ctrl-C deregisters it at once (kill -9 leaves its lease to expire).

#[path = "../hello.rs"]
mod hello;

use std::sync::Arc;

use erpc::discovery::Instance;
use erpc_center::CenterRegistry;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let port = match args.iter().position(|a| a == "--port") {
        Some(i) => args
            .get(i + 1)
            .ok_or("--port needs a number")?
            .parse::<u16>()?,
        None => 7001,
    };
    let name = format!("instance-{port}");
    let registry = CenterRegistry::new(["tcp://127.0.0.1:7070"])?;
    let server = erpc::Server::builder()
        .add_service(hello::HelloServer::new(hello::Instance(name.clone())))
        .register(
            Arc::new(registry),
            Instance {
                id: name.clone(),
                ..Instance::default()
            },
        )
        .serve([format!("tcp://127.0.0.1:{port}")])
        .await?;
    println!(
        "{name} serving on {} and registered (Ctrl-C deregisters and stops)",
        server.local_addr()
    );
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    println!("{name} deregistered and stopped");
    Ok(())
}
