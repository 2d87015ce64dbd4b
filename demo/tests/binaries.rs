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

/// SIGTERM `process`, then its remaining output must say it shut down gracefully.
async fn stops_gracefully_on_sigterm(process: &mut Child, out: &mut Lines<BufReader<ChildStdout>>) {
    terminate(process).await;
    let mut rest = Vec::new();
    while let Ok(Some(l)) = out.next_line().await {
        rest.push(l);
    }
    assert!(
        rest.iter().any(|l| l.contains("shut down gracefully")),
        "{rest:?}"
    );
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

/// Two servers given only `--listen` on different ports get different default ids
/// (`instance-PORT` of the port served), so the center lists both rather than one replacing
/// the other.
#[tokio::test]
async fn servers_on_different_listen_ports_are_two_instances() {
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
    let ports = [dead_port(), dead_port()];
    let mut servers = Vec::new();
    for port in ports {
        let listen = format!("tcp://127.0.0.1:{port}");
        let (server, mut out) = start(
            env!("CARGO_BIN_EXE_server"),
            &["--listen", &listen, "--center", &center_addr],
        );
        let first = line(&mut out).await;
        assert!(
            first.starts_with(&format!("instance-{port} serving on ")),
            "{first}"
        );
        // Its stdout kept open: it prints a last line when it stops.
        servers.push((server, out));
    }
    let admin = CenterClient::new(erpc::Client::new(center_addr.as_str()).unwrap());
    let mut ids: Vec<String> = admin
        .discover("demo.Hello".into(), Filter::default())
        .await
        .unwrap()
        .instances
        .into_iter()
        .map(|i| i.id)
        .collect();
    ids.sort();
    let mut expected: Vec<String> = ports.iter().map(|p| format!("instance-{p}")).collect();
    expected.sort();
    assert_eq!(ids, expected);
    for (server, _) in &mut servers {
        terminate(server).await;
    }
    terminate(&mut center).await;
}

/// The tour stopped half-way by SIGTERM: its server still shuts down gracefully.
#[tokio::test]
async fn the_tour_stops_gracefully_on_sigterm() {
    let (mut tour, mut out) = start(env!("CARGO_BIN_EXE_demo"), &[]);
    let first = line(&mut out).await;
    assert!(first.starts_with("erpc demo"), "{first}");
    stops_gracefully_on_sigterm(&mut tour, &mut out).await;
}

/// `exe args` run to its end (30 s at most), failing: its exit code and its stderr, which
/// must be one line and not Rust's `Debug` form of an error.
async fn run_to_end(exe: &str, args: &[&str]) -> (Option<i32>, String) {
    run_to_end_with(exe, args, &[]).await
}

/// [`run_to_end`] with the variables `env` set.
async fn run_to_end_with(exe: &str, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = Command::new(exe)
        .args(args)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), out)
        .await
        .expect("ends within 30 s")
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(!stderr.starts_with("Error: "), "a Debug dump: {stderr}");
    (out.status.code(), stderr)
}

/// A port nothing listens on (bound, then let go).
fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    listener.local_addr().expect("an address").port()
}

/// A failure is one line naming the problem, as the `erpc` command line prints it — not
/// Rust's `Debug` form of the error (`Error: Status { code: Unavailable, … }`) — and exit 1.
#[tokio::test]
async fn failures_are_one_line_naming_the_problem_and_exit_1() {
    let center = format!("tcp://127.0.0.1:{}", dead_port());
    let (code, stderr) = run_to_end(
        env!("CARGO_BIN_EXE_client"),
        &["--center", &center, "--calls", "1"],
    )
    .await;
    assert_eq!(code, Some(1), "{stderr}");
    let expected = format!("unavailable: the center at {center}: cannot connect to {center}: ");
    assert!(stderr.starts_with(&expected), "{stderr}");

    let (code, stderr) = run_to_end(
        env!("CARGO_BIN_EXE_server"),
        &[
            "--listen",
            "tcp://127.0.0.1:0",
            "--id",
            "x",
            "--center",
            &center,
        ],
    )
    .await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with("server: x on tcp://127.0.0.1:0 with the center at ")
            && stderr.contains("registering failed: unavailable: cannot connect"),
        "{stderr}"
    );

    let file = tempfile::NamedTempFile::new().expect("a file");
    let not_a_dir = file.path().to_str().expect("UTF-8");
    let (code, stderr) = run_to_end(
        env!("CARGO_BIN_EXE_center"),
        &["--listen", "tcp://127.0.0.1:0", "--data-dir", not_a_dir],
    )
    .await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!("center: the store at {not_a_dir}/")),
        "{stderr}"
    );

    let (code, stderr) = run_to_end(
        env!("CARGO_BIN_EXE_client"),
        &["--center", "nonsense", "--calls", "1"],
    )
    .await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with("client: --center nonsense: "),
        "{stderr}"
    );
    // From a variable, named by it.
    let (code, stderr) = run_to_end_with(
        env!("CARGO_BIN_EXE_client"),
        &["--calls", "1"],
        &[("ERPC_DEMO_CENTER", "nonsense")],
    )
    .await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with("client: ERPC_DEMO_CENTER (--center) nonsense: "),
        "{stderr}"
    );
    let data = tempfile::tempdir().expect("a directory");
    let (code, stderr) = run_to_end_with(
        env!("CARGO_BIN_EXE_center"),
        &["--data-dir", data.path().to_str().expect("UTF-8")],
        &[("ERPC_DEMO_CENTER_LISTEN", "127.0.0.1:1")],
    )
    .await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("ERPC_DEMO_CENTER_LISTEN (--listen) 127.0.0.1:1: "),
        "{stderr}"
    );
}

/// Every line of the tour until `stop` matches (60 s at most), that line last.
async fn lines_until(
    out: &mut Lines<BufReader<ChildStdout>>,
    stop: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let next = tokio::time::timeout_at(deadline, out.next_line()).await;
        let line = next
            .unwrap_or_else(|_| panic!("no matching line within 60 s: {seen:#?}"))
            .expect("reads")
            .unwrap_or_else(|| panic!("the output ended: {seen:#?}"));
        let done = stop(&line);
        seen.push(line);
        if done {
            return seen;
        }
    }
}

/// The README's first command must end by itself (CI and new users run it), so it does not
/// invite a curl to a /metrics listener that is gone by then.
#[tokio::test]
async fn the_tour_ends_by_itself_without_inviting_a_curl_it_cannot_answer() {
    let (mut tour, mut out) = start(env!("CARGO_BIN_EXE_demo"), &[]);
    let seen = lines_until(&mut out, |l| l.contains("shut down gracefully")).await;
    let exit = tokio::time::timeout(Duration::from_secs(30), tour.wait())
        .await
        .expect("the tour exits by itself")
        .expect("waitable");
    assert!(exit.success(), "{exit:?}");
    let metrics = seen
        .iter()
        .find(|l| l.contains("/metrics"))
        .unwrap_or_else(|| panic!("{seen:#?}"));
    assert!(
        metrics.contains("it closes when the tour ends") && metrics.contains("--stay"),
        "{metrics}"
    );
    assert!(!metrics.contains("try curl"), "{metrics}");
    // Section 3: what is left of a 1 s budget after 20 ms of work is under 980 ms.
    let spare = seen
        .iter()
        .find_map(|l| l.split("within budget: worked 20 ms with ").nth(1))
        .and_then(|rest| rest.strip_suffix(" to spare"))
        .unwrap_or_else(|| panic!("{seen:#?}"));
    let ms: f64 = spare
        .strip_suffix("ms")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{spare:?} is not a number of ms"));
    assert!(ms <= 980.0, "{spare} left after 20 ms of a 1 s budget");
}

/// `demo --stay`: after the tour its /metrics stays up to curl until SIGTERM.
#[tokio::test]
async fn with_stay_the_metrics_stay_up_until_sigterm() {
    let (mut tour, mut out) = start(env!("CARGO_BIN_EXE_demo"), &["--stay"]);
    let seen = lines_until(&mut out, |l| l.trim_start().starts_with("curl http://")).await;
    let url = seen
        .last()
        .and_then(|l| l.trim_start().strip_prefix("curl "))
        .expect("a curl line")
        .to_owned();
    let body = tokio::task::spawn_blocking(move || {
        ureq::get(&url)
            .timeout(Duration::from_secs(10))
            .call()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
            .into_string()
            .expect("a body")
    })
    .await
    .expect("joins");
    assert!(
        body.contains(r#"erpc_calls_handled_total{side="server",service="demo.Hello",method="hello",code="ok"} 3"#),
        "{body}"
    );
    // The tour's own server, the one it invites `erpc call` to, is counted too.
    assert!(
        body.contains(
            r#"erpc_calls_handled_total{side="server",service="Greeter",method="hello",code="ok"}"#
        ),
        "{body}"
    );
    let early = tour.try_wait().expect("waitable");
    assert!(early.is_none(), "the tour exited despite --stay: {early:?}");
    stops_gracefully_on_sigterm(&mut tour, &mut out).await;
}
