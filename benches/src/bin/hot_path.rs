//! A deterministic workload for the client's hot path, for `valgrind --tool=callgrind` and
//! allocation counts: untyped echo calls (`Client::invoke`, a raw body the server hands back
//! without decoding, so the figure is the call path's, not a codec's) over the in-memory
//! transport on one thread.
//!
//! ```text
//! cargo build --release -p erpc-benches --bin hot_path
//! target/release/hot_path governed 20000
//! valgrind --tool=callgrind target/release/hot_path governed 20000
//! ```
//!
//! A binary of the benches crate, not an example of erpc-core: an example is built with its
//! crate's dev-dependencies, and erpc-core's turn on tokio's `test-util`, under which every
//! `tokio::time::Instant::now` asks the runtime for its (pausable) clock — a cost a
//! program built with erpc never pays, on every clock read of the call path.
//!
//! `MODE` (first argument): `plain` — a client of one address with two connections;
//! `balanced` — P2C over two instances (the server listens on two addresses); `governed` —
//! `balanced` plus a breaker per instance (`InstanceBreakers`) and
//! `FailModes(Failover { retries: 2 })`: the `erpc-governed` bench stack without its
//! metrics. `CALLS` (second argument, default 20,000) are measured after 2,000 warm-up calls;
//! instructions per call are (Ir of a run − Ir of a run with `CALLS` = 0) / `CALLS`. The
//! balancer draws from a fixed seed (13, or the environment's `SEED`), so a run's count
//! repeats.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use erpc::client::{BreakerSettings, FailMode, FailModes, InstanceBreakers};
use erpc::discovery::{P2c, StaticList};
use erpc::server::{Request, Response, Service};
use erpc::{Client, ClientRequest, Server, Status};
use futures_util::future::BoxFuture;

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Hands the request's body back as it came.
struct Echo;

impl Service for Echo {
    fn name(&self) -> &str {
        "Bench"
    }
    fn methods(&self) -> &[&'static str] {
        &["echo"]
    }
    fn call(&self, request: Request) -> BoxFuture<'_, Result<Response, Status>> {
        let response = Response {
            codec: request.codec(),
            body: request.body().clone(),
            ..Response::default()
        };
        Box::pin(std::future::ready(Ok(response)))
    }
}

const ADDRS: [&str; 2] = ["mem://hot-path-a", "mem://hot-path-b"];

async fn client(mode: &str) -> Client {
    let list = || StaticList::addrs(ADDRS).expect("addresses");
    match mode {
        "plain" => Client::builder()
            .connections(2)
            .connect(ADDRS[0])
            .await
            .expect("connect"),
        "balanced" => Client::builder()
            .discover_with(&list(), "Bench", Arc::new(P2c))
            .await
            .expect("discover"),
        "governed" => Client::builder()
            .layer(FailModes::new(FailMode::Failover { retries: 2 }))
            .attempt_layer(InstanceBreakers::new(BreakerSettings::default()))
            .discover_with(&list(), "Bench", Arc::new(P2c))
            .await
            .expect("discover"),
        other => panic!("MODE is plain, balanced or governed, not {other:?}"),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "governed".into());
    let calls: u64 = args
        .next()
        .map(|n| n.parse().expect("CALLS is a number"))
        .unwrap_or(20_000);
    // The balancer's draws (P2C) from a fixed seed: the same run gives the same count, so a
    // change of a few hundred instructions per call is not lost in the draws' ±1%. `SEED`
    // picks another sequence: which instance each call lands on moves the allocator's work
    // (glibc consolidates its fast bins on some sequences, ~200 instructions per call), so
    // a change to the draws themselves is judged over several seeds.
    let seed = std::env::var("SEED").map_or(13, |s| s.parse().expect("SEED is a number"));
    fastrand::seed(seed);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let server = Server::builder()
            .add_service(Echo)
            .serve(ADDRS)
            .await
            .expect("serve");
        let client = client(&mode).await;
        // A fresh body per call, carved out of a reused block as a typed call's encoder
        // carves a small body (`engine::encode_arena`): a reference-counted slice, so a
        // clone of it (a fail mode keeps one for a retry) costs what it costs there — an
        // increment, not the allocation a body frozen from its own buffer needs.
        let block = std::cell::RefCell::new(BytesMut::new());
        let call = || {
            let body: Bytes = {
                let mut block = block.borrow_mut();
                block.reserve(16 * 1024);
                block.extend_from_slice(&[7u8; 512]);
                block.split().freeze()
            };
            client.invoke(ClientRequest::new("Bench", "echo", body))
        };
        for _ in 0..2_000 {
            call().await.expect("warm-up call");
        }
        let before = ALLOCS.load(Ordering::Relaxed);
        for _ in 0..calls {
            call().await.expect("call");
        }
        let allocs = ALLOCS.load(Ordering::Relaxed) - before;
        println!(
            "{mode}: {calls} calls, {:.2} allocations per call (client + server)",
            allocs as f64 / calls.max(1) as f64
        );
        server.shutdown().await;
    });
}
