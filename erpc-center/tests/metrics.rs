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

#[tokio::test]
async fn registrations_and_open_watches_are_series_on_metrics() {
    let data = tempfile::tempdir().expect("tmp");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_erpc-center"))
        .args([
            "--listen",
            "tcp://127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
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
    let text = tokio::task::spawn_blocking({
        let url = url.clone();
        move || {
            // The watch is counted once its opening has reached the server.
            for _ in 0..100 {
                let text = get(&url);
                if value(
                    &text,
                    &format!("erpc_calls_in_flight{{{call},method=\"watch\"}}"),
                ) == Some(1.0)
                {
                    return text;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            get(&url)
        }
    })
    .await
    .expect("joins");
    assert_eq!(
        value(
            &text,
            &format!("erpc_calls_handled_total{{{call},method=\"register\",code=\"ok\"}}")
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            &format!("erpc_calls_in_flight{{{call},method=\"watch\"}}")
        ),
        Some(1.0),
        "{text}"
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
