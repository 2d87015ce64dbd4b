//! One side of one end-to-end benchmark case, on a single-threaded runtime (the driver,
//! `benches/e2e.sh`, pins each side to its own core).
//!
//! ```text
//! e2e server STACK ADDR
//! e2e client STACK ADDR CONNS INFLIGHT WARMUP_S MEASURE_S PAYLOAD
//! ```
//! STACK is raw, erpc, tarpc or tonic. The client prints one tab-separated line:
//! stack, conns, inflight, payload, rps, p50 µs, p99 µs, p99.9 µs, errors.

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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match role.as_str() {
        "server" => runtime.block_on(async move {
            match stack.as_str() {
                "raw" => raw::serve(addr).await,
                "erpc" => erpc_stack::serve(addr).await,
                "tarpc" => tarpc_stack::serve(addr).await,
                "tonic" => tonic_stack::serve(addr).await,
                _ => args.usage(),
            }
        }),
        "client" => {
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
                    _ => args.usage(),
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
