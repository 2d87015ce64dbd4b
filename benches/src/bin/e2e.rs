//! One side of one end-to-end benchmark case, on a single-threaded runtime (the driver,
//! `benches/e2e.sh`, pins each side to its own core).
//!
//! ```text
//! e2e server STACK ADDR
//! e2e client STACK ADDR CONNS INFLIGHT WARMUP_S MEASURE_S PAYLOAD
//! e2e both   STACK ADDR CONNS INFLIGHT WARMUP_S MEASURE_S PAYLOAD
//! ```
//! STACK is raw, erpc, tarpc or tonic, or erpc:TRANSPORT for erpc over another transport
//! (tcp, unix, mem, tls, ws, wss, quic, udp, kcp). `both` runs the server on a thread of its
//! own in the same process (for mem://, which does not cross processes). The client prints
//! one tab-separated line: stack, conns, inflight, payload, rps, p50 µs, p99 µs, p99.9 µs,
//! errors.

use std::net::SocketAddr;
use std::time::Duration;

use erpc_benches::cli::Args;
use erpc_benches::load::{self, LoadConfig, Report};
use erpc_benches::stacks::{erpc_stack, raw, tarpc_stack, tonic_stack};

fn main() {
    let args = &Args::new(
        "e2e server STACK ADDR | e2e client STACK ADDR CONNS INFLIGHT WARMUP_S MEASURE_S PAYLOAD",
    );
    let role: String = args.get(1);
    let stack: String = args.get(2);
    let addr: SocketAddr = args.get(3);
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    };
    let serve = move |stack: String| async move {
        match stack.as_str() {
            "raw" => raw::serve(addr).await,
            "erpc" => erpc_stack::serve(addr).await,
            "tarpc" => tarpc_stack::serve(addr).await,
            "tonic" => tonic_stack::serve(addr).await,
            other => match other.strip_prefix("erpc:") {
                Some(transport) => erpc_stack::serve_on(transport, addr).await,
                None => Args::new("unknown stack").usage(),
            },
        }
    };
    if role == "both" {
        let stack = stack.clone();
        std::thread::spawn(move || runtime().block_on(serve(stack)));
        std::thread::sleep(Duration::from_millis(500));
    }
    let runtime = runtime();
    match role.as_str() {
        "server" => runtime.block_on(serve(stack)),
        "client" | "both" => {
            let conns: usize = args.get(4);
            let config = LoadConfig {
                inflight: args.get(5),
                warmup: Duration::from_secs_f64(args.get(6)),
                measure: Duration::from_secs_f64(args.get(7)),
                payload: args.get(8),
            };
            let report: Report = runtime.block_on(async move {
                match stack.as_str() {
                    "raw" => load::run(raw::connect(addr, conns).await, config).await,
                    "erpc" => load::run(erpc_stack::connect(addr, conns).await, config).await,
                    "tarpc" => load::run(tarpc_stack::connect(addr, conns).await, config).await,
                    "tonic" => load::run(tonic_stack::connect(addr, conns).await, config).await,
                    other => match other.strip_prefix("erpc:") {
                        Some(transport) => {
                            let caller = erpc_stack::connect_on(transport, addr, conns).await;
                            load::run(caller, config).await
                        }
                        None => args.usage(),
                    },
                }
            });
            println!(
                "{}\t{}\t{}\t{}\t{:.0}\t{:.1}\t{:.1}\t{:.1}\t{}",
                args.get::<String>(2),
                conns,
                config.inflight,
                config.payload,
                report.rps,
                report.p50_us,
                report.p99_us,
                report.p999_us,
                report.errors
            );
        }
        _ => args.usage(),
    }
}
