//! The `telemetry:` section applied in one call (`TelemetrySettings::start`): a file's logging
//! (JSON, to files), access log, tracing and metrics listener are running after it, and a
//! server and client built from the same settings report to them. A test file of its own: the global
//! `tracing` subscriber can be set once per process.

use std::time::{Duration, Instant};

use erpc_config::{ConfigError, LogFormatName, RotationName, load_with_env};
use erpc_core::Status;
use erpc_telemetry::logs::{LogFormat, LogOutput, Rotation};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod support;
use support::{no_env, written};

#[erpc_macros::service(crate = "erpc_core")]
trait Greeter {
    async fn hello(&self, name: String) -> Result<String, Status>;
}

struct Greet;

impl Greeter for Greet {
    async fn hello(&self, name: String) -> Result<String, Status> {
        Ok(format!("hello {name}"))
    }
}

/// `GET path` on `addr` over a plain TCP connection (HTTP/1.1, closed after the answer): the
/// whole answer, status line and headers included.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("request sent");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("answer read");
    String::from_utf8(answer).expect("UTF-8")
}

/// The key of a `ConfigError::Key`, and its message.
fn key_of(e: &ConfigError) -> (String, String) {
    match e {
        ConfigError::Key { key, .. } => (key.clone(), e.to_string()),
        other => panic!("not a key's error: {other}"),
    }
}

#[test]
fn names_convert_to_erpc_telemetrys_settings() {
    assert_eq!(LogFormat::from(LogFormatName::Json), LogFormat::Json);
    assert_eq!(LogFormat::from(LogFormatName::Human), LogFormat::Human);
    assert_eq!(Rotation::from(RotationName::Hourly), Rotation::Hourly);
    assert_eq!(Rotation::from(RotationName::Daily), Rotation::Daily);
    assert_eq!(Rotation::from(RotationName::Never), Rotation::Never);
    let file = written(
        r#"
telemetry:
  tracing: {endpoint: "http://127.0.0.1:4317", service_name: shop, sample_ratio: 0.25}
  logging:
    format: json
    filter: "warn,erpc::access=info"
    files: {directory: /var/log/shop, prefix: shop, rotation: hourly, max_files: 3}
"#,
    );
    let settings = load_with_env(file.path(), no_env()).expect("loads");
    let logs = settings.telemetry.logging.log_config();
    assert_eq!(logs.format, LogFormat::Json);
    assert_eq!(logs.filter, "warn,erpc::access=info");
    assert_eq!(
        logs.output,
        LogOutput::Files {
            directory: "/var/log/shop".into(),
            prefix: "shop".into(),
            rotation: Rotation::Hourly,
            max_files: 3,
        }
    );
    let otlp = settings
        .telemetry
        .tracing
        .otlp_config()
        .expect("tracing on");
    assert_eq!(otlp.endpoint, "http://127.0.0.1:4317");
    assert_eq!(otlp.service_name, "shop");
    assert_eq!(otlp.sample_ratio, 0.25);
    let off = load_with_env(written("{}\n").path(), no_env()).expect("loads");
    assert!(off.telemetry.tracing.otlp_config().is_none());
    assert_eq!(off.telemetry.logging.log_config().output, LogOutput::Stderr);
}

#[test]
fn start_can_run_on_a_spawned_task() {
    fn send<T: Send>(_: &T) {}
    let settings = erpc_config::TelemetrySettings::default();
    // Never polled: only its type is checked.
    send(&settings.start());
}

/// Everything that touches the global subscriber, in order, in one test: a start that fails
/// installs nothing, the one that works runs what the file says, and a second one is refused.
#[tokio::test]
async fn the_file_starts_logs_access_log_and_metrics_in_one_call() {
    let logs = tempfile::tempdir().expect("temp dir");
    let log_dir = logs.path().join("logs");
    // A port taken: the start fails naming the key, and sets no subscriber (the one below
    // could not be set otherwise).
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bound");
    // Spans go to a port nobody listens on: the test reads the trace ids on the log lines,
    // not the export (erpc-telemetry's own tests check that).
    let collector = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let yaml = |listen: &str| {
        format!(
            r#"
server:
  slow_call_log: 1h
  rate_limit: {{methods: {{"Greeter.hello": {{rate: 0.01, burst: 1}}}}}}
telemetry:
  metrics: {{listen: "{listen}"}}
  tracing: {{endpoint: "http://{collector}", service_name: shop, sample_ratio: 1.0}}
  logging:
    format: json
    filter: info
    access_log: true
    files: {{directory: "{}", prefix: shop, rotation: never, max_files: 2}}
"#,
            log_dir.display()
        )
    };
    let busy = written(&yaml(&taken.local_addr().expect("addr").to_string()));
    let settings = load_with_env(busy.path(), no_env()).expect("loads");
    let e = settings.telemetry.start().await.expect_err("port in use");
    let (key, message) = key_of(&e);
    assert_eq!(key, "telemetry.metrics.listen", "{message}");
    assert!(message.contains("in use"), "{message}");
    // Named as the load names a value: by the file and the key's line...
    assert!(
        message.starts_with(&format!(
            "{}:6: telemetry.metrics.listen: ",
            busy.path().display()
        )),
        "{message}"
    );
    // ...or by the variable that set it.
    let taken_addr = taken.local_addr().expect("addr").to_string();
    let from_env = load_with_env(
        written(&yaml("127.0.0.1:0")).path(),
        [("ERPC_TELEMETRY__METRICS__LISTEN".to_owned(), taken_addr)],
    )
    .expect("loads");
    let e = from_env.telemetry.start().await.expect_err("port in use");
    let (key, message) = key_of(&e);
    assert_eq!(key, "telemetry.metrics.listen", "{message}");
    assert!(
        message.starts_with("environment: ERPC_TELEMETRY__METRICS__LISTEN: "),
        "{message}"
    );

    // A directory that cannot be made (a file is in the way): the error names the path.
    let in_the_way = written("not a directory");
    let mut settings =
        load_with_env(written(&yaml("127.0.0.1:0")).path(), no_env()).expect("loads");
    if let Some(files) = &mut settings.telemetry.logging.files {
        files.directory = in_the_way.path().to_path_buf();
    }
    let e = settings
        .telemetry
        .start()
        .await
        .expect_err("a file in the way");
    let (key, message) = key_of(&e);
    assert_eq!(key, "telemetry.logging.files.directory", "{message}");
    assert!(
        message.contains(&in_the_way.path().display().to_string()),
        "{message}"
    );
    // Changed in code since the load: the file's line would name a value not in force.
    assert!(
        message.starts_with("telemetry.logging.files.directory: "),
        "{message}"
    );

    let file = written(&yaml("127.0.0.1:0"));
    let settings = load_with_env(file.path(), no_env()).expect("loads");
    let telemetry = settings.telemetry.start().await.expect("telemetry started");
    let metrics_addr = telemetry.metrics_addr().expect("metrics listening");

    // The governance applied, kept: what live config changes.
    let (builder, governance) = settings
        .server
        .governed_with(&telemetry)
        .expect("server builder");
    let server = builder
        .add_service(GreeterServer::new(Greet))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("serves");
    let mut client_settings = settings.client.clone();
    client_settings.target = Some(server.local_addr().to_string());
    let client = GreeterClient::new(
        client_settings
            .connect_with(&telemetry)
            .await
            .expect("client connected"),
    );
    assert_eq!(
        client.hello("ada".into()).await.expect("answered"),
        "hello ada"
    );
    // The rate limit's one token is spent: the next call is refused before it runs, and
    // still has its access-log line.
    let refused = client.hello("bob".into()).await.expect_err("rate limited");
    assert_eq!(
        refused.code(),
        erpc_core::status::Code::ResourceExhausted,
        "{refused}"
    );
    // The kept governance is the server's: a live value given to it lifts the limit.
    let Ok(erpc_config::LiveValue::ServerRateLimit(rates)) =
        erpc_config::parse_live("server.rate_limit", "null", "test")
    else {
        panic!("a live rate limit")
    };
    governance
        .rate_limit
        .as_ref()
        .expect("the file's rate limit")
        .set_rates(rates)
        .expect("set");
    assert_eq!(
        client.hello("cy".into()).await.expect("no limit now"),
        "hello cy"
    );

    // The access log's line, as JSON, in the file the settings name (rotation `never`: one
    // file, PREFIX.log). The writer is a background thread: wait for it.
    let log_file = log_dir.join("shop.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    let access = loop {
        let text = std::fs::read_to_string(&log_file).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("erpc::access")) {
            break line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no access-log line in {}: {text:?}",
            log_file.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    for field in [
        r#""target":"erpc::access""#,
        r#""level":"INFO""#,
        r#""service":"Greeter""#,
        r#""method":"hello""#,
        r#""code":"ok""#,
    ] {
        assert!(access.contains(field), "{field} not in {access}");
    }
    assert!(access.starts_with('{') && access.ends_with('}'), "{access}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused_line = loop {
        let text = std::fs::read_to_string(&log_file).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("call refused")) {
            break line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no line for the refused call: {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    for field in [
        r#""target":"erpc::access""#,
        r#""method":"hello""#,
        r#""code":"resource_exhausted""#,
        r#""refused_by":"rate_limit""#,
        r#""peer":"tcp://127.0.0.1:"#,
        // No max_wait: said so, not "beyond the maximum wait of 0 ms".
        "calls do not wait for their turn",
    ] {
        assert!(
            refused_line.contains(field),
            "{field} not in {refused_line}"
        );
    }
    // Tracing on: the line was logged inside the call's server span (ServerTracing outside
    // AccessLog), so it carries the call's ids.
    assert!(
        access.contains(r#""trace_id":""#) && access.contains(r#""span_id":""#),
        "no trace ids in {access}"
    );

    // /metrics serves the call's series, both sides.
    let page = http_get(metrics_addr, "/metrics").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    for side in ["server", "client"] {
        let series = format!(
            r#"erpc_calls_handled_total{{side="{side}",service="Greeter",method="hello",code="ok"}} 2"#
        );
        assert!(page.contains(&series), "{series} not in {page}");
    }

    // Once per process: a second start names why it cannot — even with the first one's
    // metrics address, whose "address in use" would send the user looking for another
    // process.
    let mut again = settings.telemetry.clone();
    again.metrics.listen = Some(metrics_addr.to_string());
    let e = again.start().await.expect_err("second start");
    let (key, message) = key_of(&e);
    assert_eq!(key, "telemetry", "{message}");
    assert!(message.contains("already set"), "{message}");

    server.shutdown().await;
    telemetry.shutdown().await;
}
