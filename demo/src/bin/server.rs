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

use erpc::discovery::Instance;

/// One instance of the demo's `demo.Hello`, registered with the demo's center. SIGINT or
/// SIGTERM deregisters it, sends GOAWAY to its clients and stops it.
#[derive(Debug, clap::Parser)]
#[command(name = "server")]
struct Args {
    /// Port to serve on, on 127.0.0.1.
    #[arg(long, env = "ERPC_DEMO_SERVER_PORT", default_value_t = 7001)]
    port: u16,
    /// Address to serve on, any transport (instead of --port).
    #[arg(long, env = "ERPC_DEMO_SERVER_LISTEN", conflicts_with = "port")]
    listen: Option<String>,
    /// The instance's id [default: instance-PORT, PORT being the port served (--port, or
    /// --listen's); the --listen address itself for a transport without a port, unix://].
    #[arg(long, env = "ERPC_DEMO_SERVER_ID")]
    id: Option<String>,
    #[command(flatten)]
    centers: centers::Centers,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let (args, sources) = failure::parse::<Args>();
    failure::exit_named("server", &sources, run(args).await)
}

async fn run(args: Args) -> Result<(), failure::Failure> {
    let mut stop = erpc::ShutdownSignals::listen()?;
    let listen = args
        .listen
        .unwrap_or_else(|| format!("tcp://127.0.0.1:{}", args.port));
    let name = args.id.unwrap_or_else(|| default_id(&listen));
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

/// The id of an instance serving on `listen`: `instance-PORT` for an address with a port
/// (two servers on one machine differ by it; an id from --port alone would give every
/// --listen server the same one, and they would replace each other in the center), the
/// address itself for one without (`unix:///tmp/a.sock`).
fn default_id(listen: &str) -> String {
    let port = listen
        .rsplit_once(':')
        .map(|(_, port)| port)
        .filter(|port| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()));
    match port {
        Some(port) => format!("instance-{port}"),
        None => listen.to_owned(),
    }
}
