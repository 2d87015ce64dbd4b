//! Section 9 of the tour: a typed call through a durable queue (NATS JetStream), when a NATS
//! server is reachable — at `ERPC_DEMO_NATS`, default `nats://127.0.0.1:4222`. Without one,
//! the section is one line saying how to start it: the tour neither fails nor waits for it.

use std::time::{Duration, Instant};

use erpc_queue::{
    Bridge, BridgeConfig, QueueClient, QueueClientOptions, QueueConfig, TargetConfig,
};

use crate::GreeterClient;

/// How long the tour waits for the NATS port to accept a connection: a machine without NATS
/// refuses at once, so this only bounds an address that drops packets.
const PROBE: Duration = Duration::from_millis(300);

/// The demo's own subjects and consumer group, so that a bridge already consuming
/// `erpc.requests` on that server does not take the demo's call (or the demo its calls).
const REQUESTS: &str = "erpc.demo.requests";
const GROUP: &str = "erpc-demo";

/// Call the tour's Greeter at `address` through NATS: a bridge in this process forwards the
/// call, and a typed client sends it as a message and awaits the answer.
pub async fn tour(address: &str) -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("ERPC_DEMO_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let hint = "start one with `nats-server -js` (or point ERPC_DEMO_NATS at one) to see a call go through the queue";
    if !reachable(&url).await {
        println!("  no NATS server at {url}: {hint}");
        return Ok(());
    }
    let config = QueueConfig {
        url: Some(url.clone()),
        ..QueueConfig::default()
    };
    let queue =
        match tokio::time::timeout(Duration::from_secs(3), erpc_queue::connect(&config)).await {
            Ok(Ok(queue)) => queue,
            Ok(Err(e)) => {
                println!("  NATS at {url} refused the queue ({e}): {hint}");
                return Ok(());
            }
            Err(_) => {
                println!("  NATS at {url} did not answer within 3 s: {hint}");
                return Ok(());
            }
        };

    // The bridge, usually the erpc-bridge binary (QUEUE.md §5); the service is unchanged.
    let bridge = Bridge::new(
        queue.clone(),
        BridgeConfig {
            queue: config,
            requests: REQUESTS.into(),
            group: GROUP.into(),
            targets: vec![TargetConfig {
                service: "Greeter".into(),
                address: Some(address.into()),
                timeout_ms: 2_000,
                max_retries: 3,
                backoff_ms: 100,
                backoff_max_ms: 1_000,
                idempotent: false,
                idempotent_methods: Vec::new(),
            }],
            ..BridgeConfig::default()
        },
    )?;
    let (ready, consuming) = tokio::sync::oneshot::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(bridge.run(
        move || {
            let _ = ready.send(());
        },
        async move {
            let _ = stopped.await;
        },
    ));
    consuming.await?;

    let queue_client = QueueClient::connect(
        queue.clone(),
        QueueClientOptions {
            requests: REQUESTS.into(),
            timeout: Duration::from_secs(5),
            ..QueueClientOptions::default()
        },
    )
    .await?;
    let greeter = GreeterClient::new(queue_client.client());
    let started = Instant::now();
    let reply = greeter.hello("queue".into()).await?;
    println!(
        "  via NATS JetStream at {url}: hello(\"queue\") -> {reply} in {:.1?} (request and answer persisted, bridge in between)",
        started.elapsed()
    );
    queue_client.close().await;
    let _ = stop.send(());
    running.await??;
    // The connection closed in order: a closing connection is not logged as an error.
    queue.close().await?;
    Ok(())
}

/// Whether `url`'s host and port (default 4222) accept a TCP connection within [`PROBE`].
async fn reachable(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let target = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:4222")
    };
    matches!(
        tokio::time::timeout(PROBE, tokio::net::TcpStream::connect(target)).await,
        Ok(Ok(_))
    )
}
