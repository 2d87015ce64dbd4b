//! `erpc-center --metrics-listen`: the center's own calls as Prometheus series, read from the
//! running binary's /metrics.

use std::time::Duration;

use erpc_center::{CenterClient, Instance};
use tokio::io::{AsyncBufReadExt, BufReader};

fn get(url: &str) -> String {
    ureq::get(url)
        .timeout(Duration::from_secs(5))
        .call()
        .map_err(|e| e.to_string())
        .and_then(|r| r.into_string().map_err(|e| e.to_string()))
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

/// A running `erpc-center` (killed when dropped) with `--metrics-listen`, and extra `args`:
/// its erpc address and its /metrics URL, as it announced them.
async fn center(args: &[&str]) -> (tokio::process::Child, String, String, tempfile::TempDir) {
    let data = tempfile::tempdir().expect("tmp");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_erpc-center"))
        .args([
            "--listen",
            "tcp://127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .args(args)
        .arg("--data-dir")
        .arg(data.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("erpc-center starts");
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("in time")
            .expect("readable")
            .expect("a line")
    };
    let listen = next().await;
    let addr = listen
        .strip_prefix("erpc-center listening on ")
        .unwrap_or_else(|| panic!("{listen}"))
        .to_owned();
    let announced = next().await;
    let url = announced
        .strip_prefix("erpc-center metrics on ")
        .unwrap_or_else(|| panic!("{announced}"))
        .to_owned();
    (child, addr, url, data)
}

/// GET `url` until `done` accepts the text (within 20 s); the last text either way.
async fn scrape_until(url: &str, done: impl Fn(&str) -> bool + Send + 'static) -> String {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        for _ in 0..200 {
            let text = get(&url);
            if done(&text) {
                return text;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        get(&url)
    })
    .await
    .expect("joins")
}

#[tokio::test]
async fn registrations_and_open_watches_are_series_on_metrics() {
    let (_child, addr, url, _data) = center(&[]).await;
    let center = CenterClient::new(erpc_core::Client::new(addr.as_str()).expect("address"));
    center
        .register(Instance::new("greeter", "a", "tcp://127.0.0.1:9"), 5_000)
        .await
        .expect("registered");
    center
        .register(Instance::new("greeter", "b", "tcp://127.0.0.1:10"), 5_000)
        .await
        .expect("registered");
    let _watch = center
        .watch("greeter".to_owned(), 0, 0)
        .await
        .expect("watching");

    let call = "side=\"server\",service=\"erpc.Center\"";
    // The watch is counted once its opening has reached the server.
    let text = scrape_until(&url, move |text| {
        value(
            text,
            &format!("erpc_calls_in_flight{{{call},method=\"watch\"}}"),
        ) == Some(1.0)
    })
    .await;
    assert_value(
        &text,
        &format!("erpc_calls_handled_total{{{call},method=\"register\",code=\"ok\"}}"),
        2.0,
    );
    assert_value(
        &text,
        &format!("erpc_calls_in_flight{{{call},method=\"watch\"}}"),
        1.0,
    );
}

#[tokio::test]
async fn a_metrics_address_that_cannot_be_bound_stops_the_center_with_its_name() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let port = taken.local_addr().expect("bound").port();
    let data = tempfile::tempdir().expect("tmp");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_erpc-center"))
        .args(["--listen", "tcp://127.0.0.1:0", "--metrics-listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data.path())
        .output()
        .await
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("--metrics-listen 127.0.0.1:{port}")),
        "{stderr}"
    );
}

#[tokio::test]
async fn what_the_center_holds_is_on_metrics_and_passes_promtool() {
    let (_child, addr, url, _data) = center(&["--min-ttl-ms", "100", "--sweep-ms", "50"]).await;
    let center = CenterClient::new(erpc_core::Client::new(addr.as_str()).expect("address"));
    for id in ["a", "b", "c"] {
        let at = format!("tcp://127.0.0.1:{}", 9000 + id.len());
        center
            .register(Instance::new("greeter", id, at.as_str()), 60_000)
            .await
            .expect("registered");
    }
    // Never renewed: the sweep expires it.
    center
        .register(Instance::new("brief", "x", "tcp://127.0.0.1:9"), 100)
        .await
        .expect("registered");
    center
        .config_set("greeter/timeout".to_owned(), "2s".to_owned())
        .await
        .expect("set");
    let watch = center
        .watch("greeter".to_owned(), 0, 0)
        .await
        .expect("watching");
    let _config_watch = center
        .config_watch("greeter/".to_owned(), 0, 0)
        .await
        .expect("watching config");

    let text = scrape_until(&url, |text| {
        value(text, "erpc_center_leases_expired_total") == Some(1.0)
            && value(text, "erpc_center_watches{kind=\"config\"}") == Some(1.0)
            && value(text, "erpc_center_watches{kind=\"instances\"}") == Some(1.0)
    })
    .await;
    assert_value(&text, "erpc_center_instances{service=\"greeter\"}", 3.0);
    assert_eq!(
        value(&text, "erpc_center_instances{service=\"brief\"}"),
        None,
        "expired\n{text}"
    );
    assert_value(&text, "erpc_center_leases", 3.0);
    assert_value(&text, "erpc_center_leases_expired_total", 1.0);
    assert_value(&text, "erpc_center_config_keys", 1.0);
    assert_value(&text, "erpc_center_watches{kind=\"instances\"}", 1.0);
    promtool_accepts(&text);

    // A watch that ends is no longer counted.
    drop(watch);
    let text = scrape_until(&url, |text| {
        value(text, "erpc_center_watches{kind=\"instances\"}") == Some(0.0)
    })
    .await;
    assert_value(&text, "erpc_center_watches{kind=\"instances\"}", 0.0);
}

/// Assert that `series` has the value `want` in `text` (shown whole if not).
#[track_caller]
fn assert_value(text: &str, series: &str, want: f64) {
    assert_eq!(value(text, series), Some(want), "{series}\n{text}");
}

/// `promtool check metrics` passes `text` (Prometheus' own linter).
fn promtool_accepts(text: &str) {
    use std::io::Write;
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool runs (scripts/install-deps.sh installs the prometheus package)");
    let mut stdin = promtool.stdin.take().expect("piped");
    stdin.write_all(text.as_bytes()).expect("promtool reads");
    drop(stdin);
    let out = promtool.wait_with_output().expect("promtool ends");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
