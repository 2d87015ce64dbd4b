//! Heap held per idle connection, client and server sides together:
//! `cargo run --release -p erpc-benches --bin idle [CONNECTIONS]` (default 2,000).
//!
//! Opens the connections over TCP on one runtime, makes one call on each (so every buffer
//! that a used connection keeps is there), then reads the live heap from a counting
//! allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use erpc_benches::message::Msg;
use erpc_benches::stacks::erpc_stack::{BenchClient, BenchServer, Echo};

struct Live;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged, only counting.
unsafe impl GlobalAlloc for Live {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Live = Live;

/// Heap held per idle connection, client and server sides together.
#[derive(Debug, clap::Parser)]
#[command(name = "idle")]
struct Cli {
    /// Idle connections to open.
    #[arg(default_value_t = 2_000)]
    connections: usize,
}

fn main() {
    let connections = <Cli as clap::Parser>::parse().connections;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let server = erpc::Server::builder()
            .add_service(BenchServer::new(Echo))
            .serve(["tcp://127.0.0.1:0"])
            .await
            .expect("serve");
        let addr = server.local_addr().clone();
        let msg = Msg::new(1, 512);
        let before = LIVE.load(Ordering::Relaxed);
        let mut clients = Vec::with_capacity(connections);
        for _ in 0..connections {
            let client = BenchClient::new(erpc::Client::connect(&addr).await.expect("connect"));
            client.echo(msg.clone()).await.expect("call");
            clients.push(client);
        }
        // Let the server finish its side of the last calls.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let after = LIVE.load(Ordering::Relaxed);
        let per = (after - before) as f64 / connections as f64;
        println!(
            "{connections} idle connections: {:.1} KiB of heap each (client + server), {:.1} MiB in all",
            per / 1024.0,
            (after - before) as f64 / (1 << 20) as f64
        );
        drop(clients);
        server.shutdown().await;
    });
}
