//! Stream throughput: `count` messages echoed through one bidirectional stream, on a
//! single-threaded runtime (the driver, `benches/streams.sh`, pins it to core 1 and the
//! server, `e2e server STACK ADDR`, to core 0).
//!
//! ```text
//! streams STACK ADDR COUNT PAYLOAD
//! ```
//! Prints one tab-separated line: stack, payload, messages, seconds, messages/s, MB/s (payload
//! bytes echoed per second, one way).

use std::net::SocketAddr;
use std::time::Instant;

use clap::Parser;
use erpc_benches::message::Msg;
use erpc_benches::stacks::{erpc_stack, tonic_stack};

/// Stream throughput: COUNT messages of PAYLOAD bytes echoed through one bidirectional
/// stream of an `e2e server STACK ADDR` (benches/streams.sh drives it). Prints one
/// tab-separated line: stack, payload, messages, seconds, messages/s, MB/s.
#[derive(Debug, Parser)]
#[command(name = "streams")]
struct Cli {
    /// erpc or tonic.
    stack: String,
    /// The server's address.
    addr: SocketAddr,
    /// Messages to echo.
    count: usize,
    /// Bytes per message.
    payload: usize,
}

fn main() {
    let Cli {
        stack,
        addr,
        count,
        payload,
    } = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let msg = Msg::new(1, payload);
    let run = |count: usize| {
        runtime.block_on(async {
            match stack.as_str() {
                "erpc" => erpc_stack::stream_echo(addr, &msg, count).await,
                "tonic" => tonic_stack::stream_echo(addr, &msg, count).await,
                other => {
                    eprintln!("unknown stack {other:?}: erpc or tonic");
                    std::process::exit(2)
                }
            }
        })
    };
    // Warm up: connections, buffers, windows.
    if let Err(e) = run((count / 10).max(1)) {
        eprintln!("{stack}: {e}");
        std::process::exit(1);
    }
    let started = Instant::now();
    let echoed = match run(count) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("{stack}: {e}");
            std::process::exit(1);
        }
    };
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(echoed, count, "{stack} echoed {echoed} of {count}");
    println!(
        "{stack}\t{payload}\t{count}\t{secs:.2}\t{:.0}\t{:.1}",
        count as f64 / secs,
        (count * payload) as f64 / secs / 1e6
    );
}
