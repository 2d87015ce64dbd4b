//! `erpc-center --http`: the dashboard in a real browser, and its JSON/SSE API as another
//! tool sees it, against the real binary.
//!
//! The browser test drives headless Chromium through chromedriver's W3C WebDriver HTTP API (a
//! handful of requests, as clients/js's browser test does). Its artefacts are screenshots,
//! kept after the run at `target/tmp/erpc-center-dashboard/two-instances.png` (both
//! instances shown) and `.../after-leave.png` (one left, no reload). It is skipped when
//! Chromium or chromedriver is missing and `CI` is unset; under `CI` it fails instead
//! (scripts/install-deps.sh installs Debian's `chromium` and `chromium-driver`).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use erpc_center::{CenterClient, Instance};
use serde_json::{Value, json};

/// A running `erpc-center` (killed on drop) and what it announced.
struct Center {
    child: Child,
    addr: String,
    dashboard: String,
    /// The /metrics URL, with `--metrics-listen`.
    metrics: Option<String>,
    _data: tempfile::TempDir,
}

impl Drop for Center {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Center {
    /// `erpc-center` on free ports with `--http` and `extra` flags; waits for its
    /// announcements (20 s at most).
    fn start(extra: &[&str]) -> Center {
        let data = tempfile::tempdir().expect("tmp");
        let mut child = Command::new(env!("CARGO_BIN_EXE_erpc-center"))
            .args(["--listen", "tcp://127.0.0.1:0", "--http", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data.path())
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("erpc-center starts");
        let stdout = child.stdout.take().expect("piped");
        let (lines, announced) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    return;
                }
            }
        });
        let (mut addr, mut dashboard, mut metrics) = (None, None, None);
        while dashboard.is_none() {
            let line = announced
                .recv_timeout(Duration::from_secs(20))
                .expect("erpc-center announces its addresses within 20 s");
            if let Some(a) = line.strip_prefix("erpc-center listening on ") {
                addr = Some(a.to_owned());
            }
            if let Some(url) = line.strip_prefix("erpc-center metrics on ") {
                metrics = Some(url.to_owned());
            }
            if let Some(url) = line.strip_prefix("erpc-center dashboard on ") {
                dashboard = Some(url.to_owned());
            }
        }
        Center {
            child,
            addr: addr.expect("a listening line before the dashboard's"),
            dashboard: dashboard.expect("announced"),
            metrics,
            _data: data,
        }
    }

    fn client(&self) -> CenterClient {
        CenterClient::new(erpc_core::Client::new(self.addr.as_str()).expect("address"))
    }
}

/// A GET of the dashboard's API: its status and body.
fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let mut request = ureq::get(url).timeout(Duration::from_secs(10));
    if let Some(token) = token {
        request = request.set("Authorization", &format!("Bearer {token}"));
    }
    match request.call() {
        Ok(r) => (r.status(), r.into_string().expect("a body")),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().expect("a body")),
        Err(e) => panic!("GET {url}: {e}"),
    }
}

/// A `method` request of `url` (a real HTTP client): its status, `Allow` header,
/// `Content-Type` and body.
fn answer(method: &str, url: &str) -> (u16, Option<String>, String, String) {
    let response = match ureq::request(method, url)
        .timeout(Duration::from_secs(10))
        .call()
    {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let allow = response.header("allow").map(str::to_owned);
    let content_type = response.header("content-type").unwrap_or("").to_owned();
    let status = response.status();
    (
        status,
        allow,
        content_type,
        response.into_string().expect("a body"),
    )
}

/// Register instance `id` of `greeter` at `port` in `zone` (region `eu-west`, version
/// 1.4.2) for `ttl_ms`, through the center's API: its lease id.
async fn register(client: &CenterClient, id: &str, port: u16, zone: &str, ttl_ms: u64) -> u64 {
    let mut i = Instance::new("greeter", id, format!("tcp://127.0.0.1:{port}"));
    i.version = "1.4.2".into();
    i.metadata.insert("zone".into(), zone.into());
    i.metadata.insert("region".into(), "eu-west".into());
    client.register(i, ttl_ms).await.expect("registered").id
}

/// An SSE stream being read: one event at a time.
struct Events {
    reader: BufReader<Box<dyn Read + Send + Sync>>,
}

/// One server-sent event.
#[derive(Debug)]
struct Sse {
    event: String,
    id: String,
    data: Value,
}

impl Events {
    fn open(url: &str, last_event_id: Option<&str>) -> Events {
        // A bound on each read, not on the whole stream.
        let agent = ureq::AgentBuilder::new()
            .timeout_read(Duration::from_secs(20))
            .build();
        let mut request = agent.get(url);
        if let Some(id) = last_event_id {
            request = request.set("Last-Event-ID", id);
        }
        let response = request.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert_eq!(
            response.header("content-type"),
            Some("text/event-stream"),
            "{url}"
        );
        Events {
            reader: BufReader::new(response.into_reader()),
        }
    }

    /// The next event (keep-alive comments skipped), within 40 s: each read is bounded by
    /// 20 s, and the keep-alives (every 15 s) bound the wait between deadline checks.
    fn next(&mut self) -> Sse {
        let (mut event, mut id, mut data) = (String::new(), String::new(), String::new());
        let deadline = std::time::Instant::now() + Duration::from_secs(40);
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "no event within 40 s (got event {event:?}, data {data:?})"
            );
            let mut line = String::new();
            let read = self.reader.read_line(&mut line).expect("the stream reads");
            assert!(read > 0, "the stream ended");
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() && !data.is_empty() {
                let data = serde_json::from_str(&data).expect("data is JSON");
                return Sse { event, id, data };
            }
            if let Some(v) = line.strip_prefix("event: ") {
                event = v.to_owned();
            } else if let Some(v) = line.strip_prefix("id: ") {
                id = v.to_owned();
            } else if let Some(v) = line.strip_prefix("data: ") {
                data.push_str(v);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_gives_snapshots_and_a_resumable_event_stream() {
    let center = Center::start(&["--store", "memory", "--metrics-listen", "127.0.0.1:0"]);
    let client = center.client();
    let a = register(&client, "a", 9001, "eu-west-1a", 30_000).await;
    client
        .config_set("greeter/timeout".into(), "2s".into())
        .await
        .expect("set");
    let base = center.dashboard.clone();

    let (snapshot, first, mut events) = tokio::task::block_in_place(|| {
        let (status, body) = get(&format!("{base}api/services"), None);
        assert_eq!(status, 200, "{body}");
        let mut events = Events::open(&format!("{base}api/events"), None);
        let first = events.next();
        (
            serde_json::from_str::<Value>(&body).expect("JSON"),
            first,
            events,
        )
    });
    // The stream opens with the same listing, its id the revision.
    assert_eq!((first.event.as_str(), first.id.as_str()), ("snapshot", "2"));
    assert_eq!(first.data["services"][0]["instances"][0]["id"], "a");
    assert_eq!(snapshot["revision"], 2, "{snapshot}");
    assert_eq!(snapshot["leases"], true);
    let listed = &snapshot["services"][0];
    assert_eq!(listed["name"], "greeter");
    let a_view = &listed["instances"][0];
    assert_eq!(a_view["id"], "a");
    assert_eq!(a_view["addrs"], json!(["tcp://127.0.0.1:9001"]));
    assert_eq!(a_view["version"], "1.4.2");
    assert_eq!(
        (&a_view["zone"], &a_view["region"]),
        (&json!("eu-west-1a"), &json!("eu-west"))
    );
    assert_eq!(a_view["serving"], true);
    // A local registration: no data center named, not mirrored, not stale.
    for field in ["dc", "remote", "stale_since_ms"] {
        assert_eq!(a_view[field], Value::Null, "{field}: {a_view}");
    }
    assert_eq!(a_view["lease"]["id"], a);
    assert_eq!(a_view["lease"]["ttl_ms"], 30_000);
    assert!(a_view["lease"]["expires_in_ms"].as_u64().expect("a number") <= 30_000);

    // Live: a registration, a re-registration (an update) and a removal, each with its
    // revision as the event id.
    register(&client, "b", 9002, "eu-west-1b", 30_000).await;
    register(&client, "b", 9003, "eu-west-1b", 30_000).await;
    client
        .deregister("greeter".into(), "a".into())
        .await
        .expect("deregistered");
    let live: Vec<Sse> = tokio::task::block_in_place(|| (0..3).map(|_| events.next()).collect());
    let names: Vec<(&str, &str)> = live
        .iter()
        .map(|e| (e.event.as_str(), e.id.as_str()))
        .collect();
    assert_eq!(
        names,
        [("register", "3"), ("update", "4"), ("deregister", "5")]
    );
    assert_eq!(
        live[1].data["instance"]["addrs"],
        json!(["tcp://127.0.0.1:9003"])
    );
    assert_eq!(
        live[2].data,
        json!({"revision": 5, "service": "greeter", "id": "a", "reason": "deregistered"})
    );

    // Resuming from revision 3 replays 4 and 5, with no snapshot first; resuming from a
    // revision this history never made opens with a fresh snapshot.
    let (resumed, fresh) = tokio::task::block_in_place(|| {
        let mut resumed = Events::open(&format!("{base}api/events"), Some("3"));
        let resumed = [resumed.next(), resumed.next()];
        let fresh = Events::open(&format!("{base}api/events"), Some("999")).next();
        (resumed, fresh)
    });
    let ids: Vec<(&str, &str)> = resumed
        .iter()
        .map(|e| (e.event.as_str(), e.id.as_str()))
        .collect();
    // A resumed stream has not reported b itself, so its re-registration is a `register`.
    assert_eq!(ids, [("register", "4"), ("deregister", "5")]);
    assert_eq!((fresh.event.as_str(), fresh.id.as_str()), ("snapshot", "5"));
    assert_eq!(fresh.data["services"][0]["instances"][0]["id"], "b");

    tokio::task::block_in_place(|| {
        // Config: the snapshot and its stream.
        let (status, body) = get(&format!("{base}api/config?prefix=greeter/"), None);
        assert_eq!(status, 200, "{body}");
        let config: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(
            config["entries"],
            json!([{"key": "greeter/timeout", "value": "2s"}])
        );
        let first = Events::open(&format!("{base}api/config/events"), None).next();
        assert_eq!(first.event, "snapshot");
        assert_eq!(first.data["entries"], config["entries"]);

        // Rates: the center's own calls, from its metrics (3 registrations answered).
        let (status, body) = get(&format!("{base}api/rates"), None);
        assert_eq!(status, 200, "{body}");
        let rates: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(rates["available"], true, "{rates}");
        let register = rates["calls"]
            .as_array()
            .expect("calls")
            .iter()
            .find(|c| c["service"] == "erpc.Center" && c["method"] == "register")
            .unwrap_or_else(|| panic!("{rates}"));
        assert_eq!(register["handled"], 3.0, "{rates}");

        // Mistakes are named, not ignored.
        let (status, body) = get(&format!("{base}api/services?service=x"), None);
        assert_eq!(status, 400);
        assert!(
            body.contains("unknown query parameter \\\"service\\\""),
            "{body}"
        );
        let bad = ureq::get(&format!("{base}api/events"))
            .set("Last-Event-ID", "yesterday")
            .call();
        assert!(matches!(bad, Err(ureq::Error::Status(400, _))), "{bad:?}");
    });
}

#[test]
fn unknown_paths_and_methods_are_refused_naming_them_and_what_there_is() {
    let center = Center::start(&["--metrics-listen", "127.0.0.1:0"]);
    let base = center.dashboard.trim_end_matches('/');
    // The dashboard: JSON, as its other refusals.
    let (status, _, content_type, body) = answer("GET", &format!("{base}/foo"));
    assert_eq!(status, 404, "{body}");
    assert_eq!(content_type, "application/json");
    let error: Value = serde_json::from_str(&body).expect("JSON");
    let error = error["error"].as_str().expect("an error");
    assert!(error.contains("no page /foo"), "{error}");
    assert!(
        error.contains("GET /") && error.contains("/api/services"),
        "{error}"
    );
    assert!(error.contains("/metrics"), "{error}");
    let (status, _, _, body) = answer("GET", &format!("{base}/api/nothing"));
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no page /api/nothing"), "{body}");
    let (status, allow, _, body) = answer("POST", &format!("{base}/api/services"));
    assert_eq!(status, 405, "{body}");
    assert!(
        allow.as_deref().is_some_and(|a| a.contains("GET")),
        "{allow:?}"
    );
    assert!(
        body.contains("/api/services answers GET, not POST"),
        "{body}"
    );
    // The metrics listener: plain text, as /metrics.
    let metrics = center.metrics.as_deref().expect("a metrics line");
    let root = metrics.trim_end_matches("/metrics");
    let (status, _, content_type, body) = answer("GET", &format!("{root}/foo"));
    assert_eq!(status, 404, "{body}");
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert_eq!(body, "no page /foo: the metrics are at GET /metrics\n");
    let (status, allow, _, body) = answer("DELETE", metrics);
    assert_eq!(status, 405, "{body}");
    assert!(
        allow.as_deref().is_some_and(|a| a.contains("GET")),
        "{allow:?}"
    );
    assert_eq!(body, "/metrics answers GET, not DELETE\n");
}

/// The `(handled, errors)` `/api/rates` gives `method` of `erpc.Center`, if it lists it.
fn rate_of(dashboard: &str, method: &str) -> Option<(f64, f64)> {
    let (status, body) = get(&format!("{dashboard}api/rates"), None);
    assert_eq!(status, 200, "{body}");
    let rates: Value = serde_json::from_str(&body).expect("JSON");
    let calls = rates["calls"].as_array().expect("calls");
    let found = calls
        .iter()
        .find(|c| c["service"] == "erpc.Center" && c["method"] == method)?;
    Some((
        found["handled"].as_f64().expect("a number"),
        found["errors"].as_f64().expect("a number"),
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watch_its_client_closes_is_no_error_in_the_rates() {
    // What every `erpc call --center` does: open a watch, read it, close it. The server ends
    // it `cancelled`; the page must not show that as a failed call.
    let center = Center::start(&["--store", "memory", "--metrics-listen", "127.0.0.1:0"]);
    let client = center.client();
    register(&client, "a", 9001, "eu-west-1a", 30_000).await;
    for _ in 0..2 {
        let mut watch = client.watch("greeter".into(), 0, 0).await.expect("opens");
        watch.message().await.expect("an event").expect("one");
        drop(watch);
    }
    let config_watch = client
        .config_watch(String::new(), 0, 0)
        .await
        .expect("opens");
    drop(config_watch);
    // The server counts a call when it sees the cancellation: wait for it (10 s at most).
    let dashboard = center.dashboard.clone();
    let (watch, config) = tokio::task::block_in_place(|| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let watch = rate_of(&dashboard, "watch");
            let config = rate_of(&dashboard, "config_watch");
            if watch.is_some_and(|(handled, _)| handled >= 2.0)
                && config.is_some_and(|(handled, _)| handled >= 1.0)
            {
                return (watch, config);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the closed watches were not counted within 10 s: watch {watch:?}, config_watch {config:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    assert_eq!(watch, Some((2.0, 0.0)), "watch (handled, errors)");
    assert_eq!(config, Some((1.0, 0.0)), "config_watch (handled, errors)");
    // The Prometheus counter itself keeps the code.
    let metrics = center.metrics.clone().expect("a metrics line");
    let (_, text) = tokio::task::block_in_place(|| get(&metrics, None));
    assert!(
        text.contains(r#"method="watch",code="cancelled"} 2"#),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_metrics_the_rates_say_so_with_no_numbers() {
    let center = Center::start(&["--store", "memory"]);
    let (status, body) =
        tokio::task::block_in_place(|| get(&format!("{}api/rates", center.dashboard), None));
    assert_eq!(status, 200, "{body}");
    let rates: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(rates["available"], false);
    assert!(rates.get("calls").is_none(), "{rates}");
    assert!(
        rates["reason"]
            .as_str()
            .is_some_and(|r| r.contains("--metrics-listen")),
        "{rates}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_asks_for_the_token_exactly_where_the_center_does() {
    let base = |center: &Center, path: &str| format!("{}{path}", center.dashboard);
    // Reads protected: every /api/ path needs the token; the page itself holds no data.
    let protected = Center::start(&["--store", "memory", "--token", "s3cret", "--protect-reads"]);
    tokio::task::block_in_place(|| {
        for path in [
            "api/services",
            "api/config",
            "api/events",
            "api/config/events",
            "api/rates",
        ] {
            let (status, body) = get(&base(&protected, path), None);
            assert_eq!(status, 401, "{path}: {body}");
            assert!(body.contains("requires credentials"), "{path}: {body}");
            let (status, body) = get(&base(&protected, path), Some("wrong"));
            assert_eq!(status, 401, "{path}: {body}");
            assert!(body.contains("unknown bearer token"), "{path}: {body}");
        }
        let (status, _) = get(&base(&protected, "api/services"), Some("s3cret"));
        assert_eq!(status, 200);
        let first = {
            let mut request = ureq::get(&base(&protected, "api/events"));
            request = request.set("Authorization", "Bearer s3cret");
            let response = request.call().expect("admitted");
            let mut first = String::new();
            BufReader::new(response.into_reader())
                .read_line(&mut first)
                .expect("reads");
            first
        };
        assert_eq!(first.trim_end(), "event: snapshot");
        let (status, page) = get(&protected.dashboard, None);
        assert_eq!(status, 200);
        assert!(page.contains("asks for a token"), "the page can ask for it");
    });
    // A token for writes only: reads are open, as the center's are, but a wrong token is
    // still refused (as the center refuses it).
    let writes_only = Center::start(&["--store", "memory", "--token", "s3cret"]);
    tokio::task::block_in_place(|| {
        assert_eq!(get(&base(&writes_only, "api/services"), None).0, 200);
        assert_eq!(
            get(&base(&writes_only, "api/services"), Some("wrong")).0,
            401
        );
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn an_open_event_stream_does_not_hold_the_centers_shutdown() {
    let mut center = Center::start(&["--store", "memory"]);
    let url = format!("{}api/events", center.dashboard);
    tokio::task::block_in_place(|| {
        let mut events = Events::open(&url, None);
        assert_eq!(events.next().event, "snapshot");
        let term = Command::new("kill")
            .args(["-TERM", &center.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(term.success());
        // The center exits 0 (an open stream does not hold its shutdown; the stream's
        // keep-alives would keep a read from ever timing out, so wait on the process).
        let until = std::time::Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = center.child.try_wait().expect("waits") {
                break status;
            }
            assert!(
                std::time::Instant::now() < until,
                "the center did not exit within 20 s of SIGTERM: the open stream held it"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "{status:?}");
        // And the stream was ended, not cut: the response finished.
        let mut rest = String::new();
        events
            .reader
            .read_to_string(&mut rest)
            .expect("the stream ended cleanly");
    });
}

#[test]
fn a_dashboard_address_that_cannot_be_bound_stops_the_center_with_its_name() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let port = taken.local_addr().expect("bound").port();
    let out = Command::new(env!("CARGO_BIN_EXE_erpc-center"))
        .args([
            "--listen",
            "tcp://127.0.0.1:0",
            "--store",
            "memory",
            "--http",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("--http 127.0.0.1:{port}")),
        "{stderr}"
    );
}

/// chromium and chromedriver, or `None` to skip (only when `CI` is unset).
fn browser_binaries() -> Option<(PathBuf, PathBuf)> {
    let path = |var: &str, default: &str| {
        PathBuf::from(std::env::var_os(var).unwrap_or_else(|| default.into()))
    };
    let chromium = path("CHROMIUM", "/usr/bin/chromium");
    let chromedriver = path("CHROMEDRIVER", "/usr/bin/chromedriver");
    let missing: Vec<String> = [&chromium, &chromedriver]
        .iter()
        .filter(|p| !p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if missing.is_empty() {
        return Some((chromium, chromedriver));
    }
    let why = format!(
        "{} missing: run scripts/install-deps.sh (Debian packages chromium and chromium-driver)",
        missing.join(" and ")
    );
    assert!(
        std::env::var_os("CI").is_none(),
        "in CI the browser test must run: {why}"
    );
    eprintln!("skipped (CI unset): {why}");
    None
}

/// A headless Chromium session through chromedriver's WebDriver API; ended on drop.
struct Browser {
    driver: Child,
    url: String,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start(chromium: &Path, chromedriver: &Path) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("tmp");
        let mut browser = Browser {
            driver,
            url: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            _profile: profile,
        };
        let ready = std::time::Instant::now() + Duration::from_secs(30);
        while ureq::get(&format!("{}/status", browser.url))
            .timeout(Duration::from_secs(2))
            .call()
            .is_err()
        {
            assert!(
                std::time::Instant::now() < ready,
                "chromedriver was not ready within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let session = browser.command(
            "POST",
            "/session",
            json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chromium,
                    // Root in CI needs --no-sandbox; the rest keeps Chromium off the network.
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                        "--disable-dev-shm-usage", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--window-size=1400,900",
                        format!("--user-data-dir={}", browser._profile.path().display())],
                },
            }}}),
        );
        browser.session = session["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        browser
    }

    /// One WebDriver command: its `value`, or the driver's error.
    fn try_command(&self, method: &str, path: &str, body: Value) -> Result<Value, String> {
        let url = format!("{}{path}", self.url);
        // Generous: Chromium starts slowly on a machine busy compiling.
        let request = ureq::request(method, &url).timeout(Duration::from_secs(120));
        let sent = if method == "POST" {
            request
                .set("Content-Type", "application/json")
                .send_string(&body.to_string())
        } else {
            request.call()
        };
        let answer = match sent {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(format!("WebDriver {method} {path}: {e}")),
        };
        let status = answer.status();
        let body = answer.into_string().map_err(|e| e.to_string())?;
        let answer: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        if status >= 400 {
            return Err(format!(
                "WebDriver {method} {path}: {}: {}",
                answer["value"]["error"], answer["value"]["message"]
            ));
        }
        Ok(answer["value"].clone())
    }

    /// One WebDriver command: its `value`; panics with the driver's message on an error.
    fn command(&self, method: &str, path: &str, body: Value) -> Value {
        self.try_command(method, path, body)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn session(&self, method: &str, path: &str, body: Value) -> Value {
        self.command(method, &format!("/session/{}{path}", self.session), body)
    }

    /// The page's state once its instance rows are exactly `want` (sorted `service/id`s),
    /// waiting on the DOM within the session's script timeout; on a timeout, panics with
    /// what the page shows instead.
    fn until_rows(&self, want: &[&str]) -> Value {
        let path = format!("/session/{}/execute/async", self.session);
        let body = json!({"script": UNTIL_ROWS, "args": [want]});
        self.try_command("POST", &path, body).unwrap_or_else(|e| {
            let shown = self.session(
                "POST",
                "/execute/sync",
                json!({"script": SHOWN, "args": []}),
            );
            panic!("the page never showed exactly {want:?} ({e}); it shows {shown}")
        })
    }

    fn screenshot(&self, name: &str) -> PathBuf {
        use base64::Engine;
        let png = self.session("GET", "/screenshot", Value::Null);
        let png = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("base64"))
            .expect("a PNG");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("erpc-center-dashboard");
        std::fs::create_dir_all(&dir).expect("artefact directory");
        let path = dir.join(name);
        std::fs::write(&path, png).expect("screenshot written");
        eprintln!("screenshot: {}", path.display());
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = ureq::delete(&format!("{}/session/{}", self.url, self.session))
                .timeout(Duration::from_secs(10))
                .call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Resolves once the page's instance rows are exactly `arguments[0]` (sorted
/// `service/id`s), watching the DOM; the script timeout bounds the wait.
const UNTIL_ROWS: &str = r#"
const [want, done] = arguments;
const shown = () => ({
  rows: [...document.querySelectorAll('tr.instance')].map((r) => `${r.dataset.service}/${r.dataset.id}`).sort(),
  text: document.getElementById('services').innerText,
  status: document.getElementById('status').textContent,
  marker: window.erpcTestMarker ?? null,
});
const check = () => {
  const now = shown();
  if (JSON.stringify(now.rows) !== JSON.stringify(want)) return false;
  done(now);
  return true;
};
if (!check()) {
  const watcher = new MutationObserver(() => { if (check()) watcher.disconnect(); });
  watcher.observe(document.body, { subtree: true, childList: true, characterData: true });
}
"#;

/// What the page shows now: its instance rows, the services' text and the stream's state.
const SHOWN: &str = r#"
return {
  rows: [...document.querySelectorAll('tr.instance')].map((r) => `${r.dataset.service}/${r.dataset.id}`),
  text: document.getElementById('services').innerText,
  status: document.getElementById('status').textContent,
};
"#;

/// The browser test: the page lists the instances a test registered through the center's
/// API, and drops the one that leaves while the page stays loaded (a marker set in the page
/// survives, so it was not reloaded). Screenshots: see the module doc.
#[tokio::test(flavor = "multi_thread")]
async fn in_headless_chromium_the_page_shows_instances_and_drops_one_that_leaves() {
    let Some((chromium, chromedriver)) = browser_binaries() else {
        return;
    };
    let center = Center::start(&["--store", "memory", "--metrics-listen", "127.0.0.1:0"]);
    let client = center.client();
    for (id, port, zone) in [("a", 9001, "eu-west-1a"), ("b", 9002, "eu-west-1b")] {
        register(&client, id, port, zone, 60_000).await;
    }
    client
        .config_set("greeter/timeout".into(), "2s".into())
        .await
        .expect("set");

    let (browser, shown) = tokio::task::block_in_place(|| {
        let browser = Browser::start(&chromium, &chromedriver);
        browser.session("POST", "/timeouts", json!({"script": 30_000}));
        browser.session("POST", "/url", json!({"url": center.dashboard}));
        let shown = browser.until_rows(&["greeter/a", "greeter/b"]);
        // Mark this page: a reload would lose the mark.
        browser.session(
            "POST",
            "/execute/sync",
            json!({"script": "window.erpcTestMarker = 'same page'; return true;", "args": []}),
        );
        browser.screenshot("two-instances.png");
        (browser, shown)
    });
    let text = shown["text"].as_str().expect("text");
    for expected in [
        "greeter",
        "tcp://127.0.0.1:9001",
        "tcp://127.0.0.1:9002",
        "eu-west-1a / eu-west",
        "1.4.2",
        "serving",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} not shown in {text:?}"
        );
    }
    assert_eq!(shown["status"], "live");

    client
        .deregister("greeter".into(), "b".into())
        .await
        .expect("deregistered");
    let after = tokio::task::block_in_place(|| {
        let after = browser.until_rows(&["greeter/a"]);
        browser.screenshot("after-leave.png");
        after
    });
    assert_eq!(after["marker"], "same page", "the page was reloaded");
    let text = after["text"].as_str().expect("text");
    assert!(!text.contains("tcp://127.0.0.1:9002"), "{text}");
    assert!(text.contains("tcp://127.0.0.1:9001"), "{text}");
    tokio::task::block_in_place(|| drop(browser));
}
