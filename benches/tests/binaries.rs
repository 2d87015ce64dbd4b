//! The benchmark binaries as a user runs them: `--help` answers at once (before, some ran
//! the whole benchmark instead) and names their arguments; an e2e server stops on SIGTERM
//! with exit 0. Nothing here runs a benchmark.

#[path = "../../tests/support/child.rs"]
mod child;

use std::time::Duration;

#[test]
fn every_benchmark_binary_answers_help() {
    for (exe, names) in [
        (env!("CARGO_BIN_EXE_allocs"), &["PAYLOADS"][..]),
        (env!("CARGO_BIN_EXE_balanced"), &["Usage: balanced"][..]),
        (env!("CARGO_BIN_EXE_e2e"), &["server", "client", "both"][..]),
        (env!("CARGO_BIN_EXE_hostile"), &["Usage: hostile"][..]),
        (env!("CARGO_BIN_EXE_idle"), &["CONNECTIONS"][..]),
        (
            env!("CARGO_BIN_EXE_overload"),
            &["--quota", "--multiple", "--seconds"][..],
        ),
        (
            env!("CARGO_BIN_EXE_registry"),
            &["--etcd", "ERPC_BENCH_ETCD"][..],
        ),
        (
            env!("CARGO_BIN_EXE_streams"),
            &["STACK", "ADDR", "COUNT", "PAYLOAD"][..],
        ),
    ] {
        child::answers_help(exe, names);
    }
}

#[tokio::test]
async fn an_e2e_server_stops_on_sigterm_with_exit_0() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_e2e"))
        .args(["server", "erpc", &addr])
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let started = tokio::time::Instant::now();
    while tokio::net::TcpStream::connect(&addr).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "never served");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child::terminate(&mut server, Duration::from_secs(10)).await;
}
