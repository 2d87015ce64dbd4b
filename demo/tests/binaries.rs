//! The demo's binaries as a user runs them: each answers `--help` listing its options and
//! their environment variables, and stops gracefully on SIGTERM — a server deregisters
//! first, so its instance leaves the center at once rather than when its lease expires.

#[path = "../../tests/support/child.rs"]
mod child;

use std::time::Duration;

use erpc_center::{CenterClient, Filter};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// Start `exe` with `args`; returns it and its stdout's lines.
fn start(exe: &str, args: &[&str]) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = Command::new(exe)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

/// The next line of output, within 30 s.
async fn line(lines: &mut Lines<BufReader<ChildStdout>>) -> String {
    tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("a line in time")
        .unwrap()
        .expect("the process printed a line (did it fail to start?)")
}

/// SIGTERM; the process must exit 0 within 15 s.
async fn terminate(child: &mut Child) {
    child::terminate(child, Duration::from_secs(15)).await;
}

/// The address in a line "… listening on ADDR (…" or "… serving on ADDR and …".
fn addr_in(line: &str) -> String {
    line.split_whitespace()
        .find(|w| w.contains("://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned()
}

#[test]
fn every_demo_binary_answers_help() {
    child::answers_help(env!("CARGO_BIN_EXE_demo"), &["SIGTERM"]);
    child::answers_help(
        env!("CARGO_BIN_EXE_center"),
        &[
            "--listen",
            "ERPC_DEMO_CENTER_LISTEN",
            "--data-dir",
            "ERPC_DEMO_CENTER_DATA_DIR",
        ],
    );
    child::answers_help(
        env!("CARGO_BIN_EXE_server"),
        &[
            "--port",
            "ERPC_DEMO_SERVER_PORT",
            "--listen",
            "ERPC_DEMO_SERVER_LISTEN",
            "--id",
            "--center",
            "ERPC_DEMO_CENTER",
        ],
    );
    child::answers_help(
        env!("CARGO_BIN_EXE_client"),
        &["--calls", "ERPC_DEMO_CALLS", "--center", "ERPC_DEMO_CENTER"],
    );
}

/// The three-process demo, stopped with SIGTERM as a service manager stops it: the server
/// deregisters before it exits, the client and the center exit 0.
#[tokio::test]
async fn the_three_processes_stop_gracefully_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let (mut center, mut center_out) = start(
        env!("CARGO_BIN_EXE_center"),
        &[
            "--listen",
            "tcp://127.0.0.1:0",
            "--data-dir",
            data.path().to_str().unwrap(),
        ],
    );
    let center_addr = addr_in(&line(&mut center_out).await);
    let (mut server, mut server_out) = start(
        env!("CARGO_BIN_EXE_server"),
        &[
            "--listen",
            "tcp://127.0.0.1:0",
            "--id",
            "test-a",
            "--center",
            &center_addr,
        ],
    );
    line(&mut server_out).await;
    let admin = CenterClient::new(erpc::Client::new(center_addr.as_str()).unwrap());
    let listed = || async {
        admin
            .discover("demo.Hello".into(), Filter::default())
            .await
            .unwrap()
            .instances
            .len()
    };
    assert_eq!(listed().await, 1);

    let (mut client, mut client_out) = start(
        env!("CARGO_BIN_EXE_client"),
        &["--calls", "1000", "--center", &center_addr],
    );
    let first = line(&mut client_out).await;
    assert!(first.contains("from test-a"), "{first}");
    terminate(&mut client).await;

    terminate(&mut server).await;
    assert_eq!(
        listed().await,
        0,
        "the server exited without deregistering (its lease would keep it 10 s)"
    );
    terminate(&mut center).await;
}

/// The tour stopped half-way by SIGTERM: its server still shuts down gracefully.
#[tokio::test]
async fn the_tour_stops_gracefully_on_sigterm() {
    let (mut tour, mut out) = start(env!("CARGO_BIN_EXE_demo"), &[]);
    let first = line(&mut out).await;
    assert!(first.starts_with("erpc demo"), "{first}");
    terminate(&mut tour).await;
    let mut rest = Vec::new();
    while let Ok(Some(l)) = out.next_line().await {
        rest.push(l);
    }
    assert!(
        rest.iter().any(|l| l.contains("shut down gracefully")),
        "{rest:?}"
    );
}
