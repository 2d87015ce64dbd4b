//! Metrics of real calls: counted by method and code in the exported text, accepted by
//! `promtool check metrics`, and scraped by a real Prometheus that the test starts.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use erpc_core::{Client, ServerHandle, Status};
use erpc_telemetry::{Metrics, MetricsServer};

#[erpc_macros::service(crate = "erpc_core")]
trait Echo {
    async fn say(&self, text: String) -> Result<String, Status>;
}

struct Echoer;

impl Echo for Echoer {
    async fn say(&self, text: String) -> Result<String, Status> {
        if text == "missing" {
            return Err(Status::not_found("no such thing"));
        }
        Ok(text)
    }
}

async fn served(metrics: &Metrics) -> (ServerHandle, EchoClient) {
    let server = erpc_core::Server::builder()
        .observer(metrics.observer())
        .add_service(EchoServer::new(Echoer))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("the server serves");
    let client = Client::builder()
        .observer(metrics.observer())
        .connect(server.local_addr().to_string())
        .await
        .expect("the client connects");
    (server, EchoClient::new(client))
}

/// The value of the series whose line starts with `series` (name and labels, as encoded).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test]
async fn calls_are_counted_by_side_method_and_code() {
    let metrics = Metrics::new();
    let (server, echo) = served(&metrics).await;
    for _ in 0..5 {
        echo.say("hi".to_owned()).await.expect("an answer");
    }
    for _ in 0..2 {
        let err = echo.say("missing".to_owned()).await.expect_err("not found");
        assert_eq!(err.code(), erpc_core::Code::NotFound);
    }
    let text = metrics.encode();
    for side in ["server", "client"] {
        let call = format!("side=\"{side}\",service=\"Echo\",method=\"say\"");
        assert_eq!(
            value(&text, &format!("erpc_calls_started_total{{{call}}}")),
            Some(7.0),
            "{side} started\n{text}"
        );
        assert_eq!(
            value(
                &text,
                &format!("erpc_calls_handled_total{{{call},code=\"ok\"}}")
            ),
            Some(5.0),
            "{side} ok\n{text}"
        );
        assert_eq!(
            value(
                &text,
                &format!("erpc_calls_handled_total{{{call},code=\"not_found\"}}")
            ),
            Some(2.0),
            "{side} not_found\n{text}"
        );
        assert_eq!(
            value(
                &text,
                &format!("erpc_call_duration_seconds_count{{{call}}}")
            ),
            Some(7.0),
            "{side} histogram\n{text}"
        );
        assert_eq!(
            value(&text, &format!("erpc_calls_in_flight{{{call}}}")),
            Some(0.0),
            "{side} in flight\n{text}"
        );
        let sent = value(&text, &format!("erpc_call_sent_bytes_total{{{call}}}"));
        assert!(sent.is_some_and(|b| b > 0.0), "{side} bytes\n{text}");
        assert_eq!(
            value(
                &text,
                &format!("erpc_connections_opened_total{{side=\"{side}\"}}")
            ),
            Some(1.0),
            "{side} connections\n{text}"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn arbitrary_method_names_do_not_grow_the_metrics_without_end() {
    let metrics = Metrics::new();
    let (server, _echo) = served(&metrics).await;
    let raw = Client::builder()
        .observer(metrics.observer())
        .connect(server.local_addr().to_string())
        .await
        .expect("connects");
    // More distinct names than the cap: the client side keeps MAX_METHODS pairs, the rest
    // land under _other; the server refuses them all before they are calls.
    let n = Metrics::MAX_METHODS + 10;
    for i in 0..n {
        let err = raw
            .call::<String, String>("Echo", format!("m{i}"), String::new())
            .await
            .expect_err("no such method");
        assert_eq!(err.code(), erpc_core::Code::Unimplemented);
    }
    let text = metrics.encode();
    // A server answers an unknown method of a known service as a call (`unimplemented`):
    // both sides keep MAX_METHODS pairs and count the rest together.
    for side in ["server", "client"] {
        let series = text
            .lines()
            .filter(|l| l.starts_with(&format!("erpc_calls_started_total{{side=\"{side}\"")))
            .count();
        assert_eq!(
            series,
            Metrics::MAX_METHODS + 1,
            "{side}: the cap and _other"
        );
        assert_eq!(
            value(
                &text,
                &format!(
                    "erpc_calls_started_total{{side=\"{side}\",service=\"_other\",method=\"_other\"}}"
                )
            ),
            Some(10.0),
            "{side}"
        );
    }
    server.shutdown().await;
}

/// GET a URL's body as text.
fn get(url: &str) -> Result<String, String> {
    ureq::get(url)
        .timeout(Duration::from_secs(5))
        .call()
        .map_err(|e| e.to_string())?
        .into_string()
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn the_exported_text_passes_promtool() {
    let metrics = Metrics::new();
    let (server, echo) = served(&metrics).await;
    echo.say("hi".to_owned()).await.expect("an answer");
    let _ = echo.say("missing".to_owned()).await;
    let exporter = MetricsServer::bind(metrics.clone(), "127.0.0.1:0")
        .await
        .expect("binds");
    let url = format!("http://{}/metrics", exporter.local_addr());
    let text = tokio::task::spawn_blocking(move || get(&url))
        .await
        .expect("joins")
        .expect("/metrics answers");
    assert!(text.contains("erpc_calls_handled_total"), "{text}");
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (scripts/install-deps.sh installs the prometheus package)");
    {
        use std::io::Write;
        let mut stdin = promtool.stdin.take().expect("piped");
        stdin.write_all(text.as_bytes()).expect("promtool reads");
    }
    let out = promtool.wait_with_output().expect("promtool ends");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    exporter.shutdown().await;
    server.shutdown().await;
}

/// A Prometheus server scraping one target every second, on a free port with its data in a
/// temporary directory; killed when dropped.
struct Prometheus {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Start Prometheus scraping `target`; tries a few ports, as one picked free may be taken
/// before Prometheus binds it.
fn prometheus(target: &str) -> Prometheus {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: erpc\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .expect("config written");
    for _ in 0..5 {
        let port = free_port();
        let mut child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus runs (scripts/install-deps.sh installs it)");
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(_)) = child.try_wait() {
                break; // exited: most likely the port was taken; try another
            }
            if get(&format!("{url}/-/ready")).is_ok() {
                return Prometheus {
                    child,
                    url,
                    _dir: dir,
                };
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("prometheus did not become ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_the_series() {
    let metrics = Metrics::new();
    let (server, echo) = served(&metrics).await;
    for _ in 0..3 {
        echo.say("hi".to_owned()).await.expect("an answer");
    }
    let _ = echo.say("missing".to_owned()).await;
    let exporter = MetricsServer::bind(metrics.clone(), "127.0.0.1:0")
        .await
        .expect("binds");
    let target = exporter.local_addr().to_string();
    let found = tokio::task::spawn_blocking(move || {
        let prom = prometheus(&target);
        let query = format!(
            "{}/api/v1/query?query=erpc_calls_handled_total%7Bside%3D%22server%22%2Cservice%3D%22Echo%22%7D",
            prom.url
        );
        let started = Instant::now();
        let mut last = String::new();
        while started.elapsed() < Duration::from_secs(60) {
            if let Ok(body) = get(&query) {
                if body.contains("\"code\":\"ok\"") && body.contains("\"code\":\"not_found\"") {
                    return Ok(body);
                }
                last = body;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        Err(last)
    })
    .await
    .expect("joins");
    let body = found.unwrap_or_else(|last| panic!("Prometheus never had the series: {last}"));
    // Each series' value is the last element of its ["<time>", "<value>"] pair.
    let ok = body
        .split("\"code\":\"ok\"")
        .nth(1)
        .and_then(|rest| rest.split("\"value\":[").nth(1))
        .and_then(|v| v.split('"').nth(1))
        .map(str::to_owned);
    assert_eq!(ok.as_deref(), Some("3"), "{body}");
    exporter.shutdown().await;
    server.shutdown().await;
}
