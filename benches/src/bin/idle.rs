//! Memory held per idle connection.
//!
//! `cargo run --release -p erpc-benches --bin idle [CONNECTIONS]` (default 2,000): client and
//! server in one process; opens the connections over TCP on one runtime, makes one call on each
//! (so every buffer that a used connection keeps is there), then reads the live heap from a
//! counting allocator — both sides together.
//!
//! `… --bin idle -- --split [CONNECTIONS]`: the server in a child process (this binary with
//! `--serve`), the client here, each with its file limit raised to the hard limit. Prints the
//! server's live heap and resident set (`VmRSS`) per connection, after one call on each and
//! again after a heartbeat tick (1 s here) has released idle read buffers.

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
    /// The server in a child process: its own heap and resident set per connection.
    #[arg(long)]
    split: bool,
    /// Run as the `--split` server child (stdin/stdout protocol, not for people).
    #[arg(long, hide = true)]
    serve: bool,
}

fn main() {
    let cli = <Cli as clap::Parser>::parse();
    if cli.serve {
        return split::serve();
    }
    if cli.split {
        return split::measure(cli.connections);
    }
    let connections = cli.connections;
    runtime().block_on(async {
        let server = serve_echo(erpc::Server::builder()).await;
        let addr = server.local_addr().to_string();
        let msg = Msg::new(1, 512);
        let before = LIVE.load(Ordering::Relaxed);
        let clients = open_idle(&addr, connections, &msg).await;
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

/// The one-threaded runtime both sides run on.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The echo service served on a free TCP port by `builder`.
async fn serve_echo(builder: erpc::ServerBuilder) -> erpc::ServerHandle {
    builder
        .add_service(BenchServer::new(Echo))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("serve")
}

/// `connections` clients of one connection each to `addr`, each having made one call.
async fn open_idle(addr: &str, connections: usize, msg: &Msg) -> Vec<BenchClient> {
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        let client = BenchClient::new(erpc::Client::connect(addr).await.expect("connect"));
        client.echo(msg.clone()).await.expect("call");
        clients.push(client);
    }
    clients
}

/// The two-process measurement: the server's own memory, as an operator sees it.
mod split {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use erpc_benches::message::Msg;

    use super::{LIVE, open_idle, runtime, serve_echo};

    /// The heartbeat of the measured server: short, so the release of idle read buffers at a
    /// tick shows within the run (default is 15 s).
    const HEARTBEAT: Duration = Duration::from_secs(1);

    /// Ten thousand connections need more descriptors than the usual soft limit of 1,024.
    fn raise_fd_limit() {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit write/read the struct we own.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
                limit.rlim_cur = limit.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            }
        }
    }

    /// `VmRSS` of this process, in KiB.
    fn rss_kib() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                status.lines().find_map(|line| {
                    line.strip_prefix("VmRSS:")
                        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                })
            })
            .unwrap_or(0)
    }

    /// The child: serve, print the address, then answer each stdin line with
    /// `<live heap bytes> <rss KiB>`.
    pub fn serve() {
        raise_fd_limit();
        runtime().block_on(async {
            let server = serve_echo(erpc::Server::builder().heartbeat(HEARTBEAT, 3)).await;
            println!("{}", server.local_addr());
            let mut lines =
                tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(tokio::io::stdin()));
            while let Ok(Some(_)) = lines.next_line().await {
                println!("{} {}", LIVE.load(Ordering::Relaxed), rss_kib());
            }
            server.shutdown().await;
        });
    }

    /// The parent: open the connections, call once on each, read the child's memory.
    pub fn measure(connections: usize) {
        raise_fd_limit();
        let exe = std::env::current_exe().expect("own path");
        let mut child = Command::new(exe)
            .arg("--serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("server child");
        let mut to_child = child.stdin.take().expect("child stdin");
        let mut from_child = BufReader::new(child.stdout.take().expect("child stdout")).lines();
        let addr = from_child.next().expect("address").expect("address line");
        let mut sample = move || -> (f64, f64) {
            writeln!(to_child, "measure").expect("ask");
            let line = from_child.next().expect("answer").expect("answer line");
            let mut parts = line.split(' ').map(|n| n.parse::<f64>().expect("number"));
            (
                parts.next().expect("heap"),
                parts.next().expect("rss") * 1024.0,
            )
        };
        runtime().block_on(async {
            let (heap0, rss0) = sample();
            let msg = Msg::new(1, 512);
            let clients = open_idle(&addr, connections, &msg).await;
            let report = |when: &str, (heap, rss): (f64, f64)| {
                println!(
                    "{connections} idle connections, server {when}: {:.1} KiB heap and {:.1} KiB \
                     resident each; {:.1} MiB resident in all",
                    (heap - heap0) / connections as f64 / 1024.0,
                    (rss - rss0) / connections as f64 / 1024.0,
                    rss / (1 << 20) as f64,
                )
            };
            tokio::time::sleep(Duration::from_millis(200)).await;
            report("after one call on each", sample());
            tokio::time::sleep(HEARTBEAT * 2).await;
            report("after a heartbeat tick", sample());
            // All still served: one more call on each.
            for client in &clients {
                client.echo(msg.clone()).await.expect("call after idling");
            }
            println!("a second call on each of the {connections} connections: ok");
        });
        drop(sample);
        child.kill().ok();
        child.wait().ok();
    }
}
