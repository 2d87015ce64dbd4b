//! A call through a durable queue, end to end in one process: a Greeter service, a bridge
//! forwarding to it, and a typed client whose calls go through NATS JetStream.
//!
//! ```sh
//! nats-server -js -sd /tmp/erpc-nats &          # Debian: apt-get install nats-server
//! cargo run -p erpc-queue --example queue        # ERPC_QUEUE_URL=nats://host:port to point elsewhere
//! ```

use std::time::Duration;

use erpc_core::Status;
use erpc_queue::{
    Bridge, BridgeConfig, QueueClient, QueueClientOptions, QueueConfig, TargetConfig,
};

#[erpc_macros::service(crate = "erpc_core")]
pub trait Greeter {
    async fn hello(&self, name: String) -> Result<String, Status>;
}

struct Hello;

impl Greeter for Hello {
    async fn hello(&self, name: String) -> Result<String, Status> {
        Ok(format!("hello, {name}"))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("ERPC_QUEUE_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let queue_config = QueueConfig {
        url: Some(url.clone()),
        ..QueueConfig::default()
    };
    let queue = match tokio::time::timeout(
        Duration::from_secs(3),
        erpc_queue::connect(&queue_config),
    )
    .await
    {
        Ok(Ok(queue)) => queue,
        _ => {
            eprintln!(
                "no NATS server with JetStream at {url}: start one with `nats-server -js -sd /tmp/erpc-nats`"
            );
            std::process::exit(2);
        }
    };

    // The service, unchanged: it knows nothing of the queue.
    let server = erpc_core::Server::builder()
        .add_service(GreeterServer::new(Hello))
        .serve(["tcp://127.0.0.1:0"])
        .await?;

    // The bridge (usually the erpc-bridge binary with a YAML file; QUEUE.md §5).
    let config = BridgeConfig {
        queue: queue_config,
        targets: vec![TargetConfig {
            service: "Greeter".into(),
            address: Some(server.local_addr().to_string()),
            timeout_ms: 2_000,
            max_retries: 3,
            backoff_ms: 100,
            backoff_max_ms: 1_000,
            idempotent: false,
            idempotent_methods: Vec::new(),
        }],
        ..BridgeConfig::default()
    };
    let (ready, consuming) = tokio::sync::oneshot::channel();
    let (stop, stopping) = tokio::sync::oneshot::channel::<()>();
    let bridge = Bridge::new(queue.clone(), config)?;
    let bridging = tokio::spawn(bridge.run(
        move || {
            let _ = ready.send(());
        },
        async move {
            let _ = stopping.await;
        },
    ));
    consuming.await?;

    // The caller: a generated client over the queue.
    let queue_client = QueueClient::connect(queue.clone(), QueueClientOptions::default()).await?;
    let greeter = GreeterClient::new(queue_client.client());
    println!("{}", greeter.hello("queue".into()).await?);

    // An orderly end: the client and the bridge close, then the connection they share.
    queue_client.close().await;
    let _ = stop.send(());
    bridging.await??;
    queue.close().await?;
    server.shutdown().await;
    Ok(())
}
