//! The erpc server the JavaScript (`clients/js`) and Python (`clients/python`) clients are
//! tested against.
//!
//! ```text
//! erpc-test-server [--listen ADDR]... [--heartbeat-ms N] [--center]
//! ```
//!
//! Serves `Echo` and `Feed` (see their files) on every `--listen` address (default
//! `ws://127.0.0.1:0/erpc` and `tcp://127.0.0.1:0`: free ports), then prints one JSON line,
//! `{"addrs":["ws://127.0.0.1:PORT/erpc","tcp://127.0.0.1:PORT"]}`, so the test that spawned
//! it knows where to connect. With `--center` it also serves the registry center
//! (`erpc.Center`, in memory) and registers two instances of `Echo` there: `echo-1` at the
//! bound addresses and `echo-0` at `tcp://127.0.0.1:1`, where nothing listens, so that a
//! client's discovery has to pick an instance it can reach. `--heartbeat-ms` sets the
//! server's heartbeat interval (default 15 s), to test that a client answers PINGs.
//!
//! It shuts down gracefully (GOAWAY) on SIGINT, SIGTERM or when its standard input ends, so
//! it never outlives the test that spawned it through a pipe.

mod echo;
mod feed;
mod probe;

use std::sync::Arc;
use std::time::Duration;

use erpc::discovery::Instance;
use erpc_center::service::Center;
use erpc_center::store::memory::MemoryStore;
use erpc_center::{CenterConfig, CenterImpl, CenterServer};
use tokio::io::AsyncReadExt;

use crate::echo::{EchoImpl, EchoServer};
use crate::feed::{FeedImpl, FeedServer};
use crate::probe::Probe;

/// The command line.
struct Args {
    listen: Vec<String>,
    heartbeat: Option<Duration>,
    center: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        listen: Vec::new(),
        heartbeat: None,
        center: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--listen" => args
                .listen
                .push(it.next().ok_or("--listen needs an address")?),
            "--heartbeat-ms" => {
                let ms = it.next().ok_or("--heartbeat-ms needs a number")?;
                let ms: u64 = ms
                    .parse()
                    .map_err(|e| format!("--heartbeat-ms {ms}: {e}"))?;
                args.heartbeat = Some(Duration::from_millis(ms));
            }
            "--center" => args.center = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if args.listen.is_empty() {
        args.listen = vec!["ws://127.0.0.1:0/erpc".into(), "tcp://127.0.0.1:0".into()];
    }
    Ok(args)
}

/// Resolves when standard input ends (the spawning test went away) or a signal arrives.
async fn stop_requested() {
    let stdin_closed = async {
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 256];
        while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let terminated = async {
        match term.as_mut() {
            Some(term) => {
                term.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = stdin_closed => {}
        _ = terminated => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args().map_err(|e| {
        format!("{e}\nusage: erpc-test-server [--listen ADDR]... [--heartbeat-ms N] [--center]")
    })?;
    let probe = Arc::new(Probe::default());
    let mut builder = erpc::Server::builder()
        .add_service(EchoServer::new(EchoImpl {
            probe: probe.clone(),
        }))
        .add_service(FeedServer::new(FeedImpl { probe }))
        .shutdown_grace(Duration::from_secs(1));
    if let Some(interval) = args.heartbeat {
        builder = builder.heartbeat(interval, 3);
    }
    let center = if args.center {
        let center = CenterImpl::open(Box::new(MemoryStore), CenterConfig::default())?;
        builder = builder.add_service(CenterServer::new(center.clone()));
        Some(center)
    } else {
        None
    };
    let server = builder
        .serve(args.listen.iter().map(String::as_str))
        .await?;
    let addrs: Vec<String> = server.local_addrs().iter().map(|a| a.to_string()).collect();

    if let Some(center) = center {
        let ttl_ms = 300_000;
        let unreachable = Instance::new("Echo", "echo-0", "tcp://127.0.0.1:1");
        center.register(unreachable, ttl_ms).await?;
        let mut live = Instance::new("Echo", "echo-1", addrs[0].clone());
        live.addrs = addrs.clone();
        center.register(live, ttl_ms).await?;
    }

    let quoted: Vec<String> = addrs.iter().map(|a| format!("\"{a}\"")).collect();
    println!("{{\"addrs\":[{}]}}", quoted.join(","));

    stop_requested().await;
    server.shutdown().await;
    Ok(())
}
