//! Heap allocations per unary call, client and server together, counted by a global
//! allocator: `cargo run --release -p erpc-benches --bin allocs [PAYLOAD_BYTES...]`
//! (default 16 512 65536). Also a deterministic workload for `valgrind --tool=callgrind`.
//!
//! Runs the benchmark echo over the in-memory transport on one thread, so every allocation in
//! the window belongs to the calls being measured. `LAYERS=apart` adds three no-op layers on
//! each side with three `layer` calls, `LAYERS=stacked` the same three with one;
//! `LAYERS=governed` gives the client what the `erpc-governed` stack's does, without its
//! metrics: P2C over two instances (the server listens on two addresses), a breaker per
//! instance and `Failover { retries: 2 }`; `LAYERS=p2c` only its balancing (P2C over the two
//! instances, no layer).
//! `OBSERVED=erpc-metrics` (or `erpc-trace1`, `erpc-trace100`, `erpc-trace0`) turns on what
//! the e2e stack of that name turns on, on both sides (`LAYERS=governed
//! OBSERVED=erpc-metrics` is the whole `erpc-governed` client). `CALLS` (default 10,000) calls are
//! measured per payload, after `CALLS / 10` warm-up calls.
//!
//! Instructions per call, deterministic (unlike wall-clock figures on a shared machine): run
//! under callgrind at two call counts and divide the difference, which cancels start-up:
//!
//! ```text
//! cargo build --release -p erpc-benches --bin allocs
//! for n in 2000 12000; do CALLS=$n OBSERVED=erpc-metrics valgrind --tool=callgrind \
//!   --callgrind-out-file=/dev/null target/release/allocs 512 2>&1 | grep Collected; done
//! # (Ir at 12000 - Ir at 2000) / 11000 = instructions per call, client + server
//! ```
//!
//! (`benches/callgrind.sh` does exactly this for plain erpc and each `OBSERVED` stack.)
//!
//! `SIDES=1`: the server runs on a thread (and runtime) of its own, and the figures are given
//! per side as well — the client's (its calls and its connection's tasks) and the server's.
//! Two threads wake each other across a thread boundary, so use it for allocation counts,
//! not for instruction counts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use std::sync::Arc;

use erpc::client::{BreakerSettings, FailMode, FailModes, InstanceBreakers};
use erpc_benches::message::Msg;
use erpc_benches::stacks::erpc_stack::{BenchClient, BenchServer, Layers};
use erpc_benches::stacks::observed::{self, Observed};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
/// Allocations made on the server's thread (`SIDES=1` only).
static SERVER_ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Set on the server's thread (`SIDES=1`). `const`, no destructor: safe to read from
    /// inside the allocator.
    static ON_SERVER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn count(size: usize) {
    ALLOCS.fetch_add(1, Ordering::Relaxed);
    BYTES.fetch_add(size as u64, Ordering::Relaxed);
    if ON_SERVER.try_with(|on| on.get()).unwrap_or(false) {
        SERVER_ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards to the system allocator unchanged, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap allocations per unary call, client and server together, for each PAYLOAD size.
#[derive(Debug, clap::Parser)]
#[command(name = "allocs")]
struct Cli {
    /// Payload sizes in bytes [default: 16 512 65536].
    payloads: Vec<usize>,
}

fn main() {
    let payloads = <Cli as clap::Parser>::parse().payloads;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let addr = "mem://allocs";
        let second = "mem://allocs-2";
        let governed = std::env::var("LAYERS").as_deref() == Ok("governed");
        let balanced = governed || std::env::var("LAYERS").as_deref() == Ok("p2c");
        let layers = match std::env::var("LAYERS").as_deref() {
            Ok("apart") => Layers::ThreeApart,
            Ok("stacked") => Layers::ThreeStacked,
            _ => Layers::None,
        };
        let observed = std::env::var("OBSERVED").ok().filter(|name| !name.is_empty());
        let observed = observed.map(|name| {
            match Observed::named(&name) {
                Some(Observed::Governed { .. }) | None => {
                    panic!("OBSERVED={name}: not erpc-metrics or erpc-trace0/1/100")
                }
                Some(o) => o,
            }
        });
        let server = erpc::Server::builder();
        let server = match observed {
            Some(o) => observed::observe_server(server, o),
            None => server,
        };
        let client = erpc::Client::builder();
        let client = match observed {
            Some(o) => observed::observe_client(client, o),
            None => client,
        };
        let calls: u64 = std::env::var("CALLS")
            .ok()
            .map(|n| n.parse().expect("CALLS: a number of calls"))
            .unwrap_or(10_000);
        let serve = async move {
            layers
                .apply(server, |b, l| b.layer(l), |b, l| b.layer(l))
                .add_service(BenchServer::new(erpc_benches::stacks::erpc_stack::Echo))
                .serve([addr, second])
                .await
                .expect("serve")
        };
        let sides = std::env::var("SIDES").as_deref() == Ok("1");
        let (server, server_thread) = if sides {
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let (ready, serving) = std::sync::mpsc::channel();
            let thread = std::thread::spawn(move || {
                ON_SERVER.with(|on| on.set(true));
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("server runtime");
                runtime.block_on(async move {
                    let server = serve.await;
                    ready.send(()).expect("serving");
                    let _ = stopped.await;
                    server.shutdown().await;
                });
            });
            serving.recv().expect("server started");
            (None, Some((stop, thread)))
        } else {
            (Some(serve.await), None)
        };
        let client = if balanced {
            let list = erpc::discovery::StaticList::addrs([addr, second]).expect("addresses");
            let client = if governed {
                client
                    .layer(FailModes::new(FailMode::Failover { retries: 2 }))
                    .attempt_layer(InstanceBreakers::new(BreakerSettings::default()))
            } else {
                client
            };
            client
                .discover_with(&list, "Bench", Arc::new(erpc::discovery::P2c))
                .await
                .expect("discover")
        } else {
            layers
                .apply(client, |b, l| b.layer(l), |b, l| b.layer(l))
                .connect(addr)
                .await
                .expect("connect")
        };
        let client = BenchClient::new(client);
        let payloads = if payloads.is_empty() {
            vec![16, 512, 65536]
        } else {
            payloads
        };
        for payload in payloads {
            let msg = Msg::new(1, payload);
            for _ in 0..calls / 10 {
                client.echo(msg.clone()).await.expect("warm-up call");
            }
            let (a0, b0) = (ALLOCS.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed));
            let s0 = SERVER_ALLOCS.load(Ordering::Relaxed);
            for _ in 0..calls {
                client.echo(msg.clone()).await.expect("call");
            }
            let allocs = ALLOCS.load(Ordering::Relaxed) - a0;
            let bytes = BYTES.load(Ordering::Relaxed) - b0;
            println!(
                "payload {payload:>6} B: {:.1} allocations and {:.0} bytes allocated per call (client + server)",
                allocs as f64 / calls as f64,
                bytes as f64 / calls as f64
            );
            if sides {
                let on_server = SERVER_ALLOCS.load(Ordering::Relaxed) - s0;
                println!(
                    "payload {payload:>6} B: {:.2} allocations per call on the client, {:.2} on the server",
                    (allocs - on_server) as f64 / calls as f64,
                    on_server as f64 / calls as f64
                );
            }
        }
        if let Some(server) = server {
            server.shutdown().await;
        }
        if let Some((stop, thread)) = server_thread {
            let _ = stop.send(());
            thread.join().expect("server thread");
        }
    });
}
