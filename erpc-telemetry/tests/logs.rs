//! Logs of real calls: JSON lines in files the config names, the access log's line per call,
//! filters, and clear errors for bad settings.

use std::path::Path;

use erpc_core::{Client, ServerHandle, Status};
use erpc_telemetry::logs::{self, AccessLog, LogConfig, LogFormat, LogOutput, Rotation};
use erpc_telemetry::trace::ServerTracing;
use erpc_telemetry::trace::otlp;
use tracing_subscriber::layer::SubscriberExt;

#[erpc_macros::service(crate = "erpc_core")]
trait Echo {
    async fn say(&self, text: String) -> Result<String, Status>;
}

struct Echoer;

impl Echo for Echoer {
    async fn say(&self, text: String) -> Result<String, Status> {
        // The handler's own line, inside the call (and inside its span when traced).
        tracing::info!(text = %text, "handler ran");
        if text == "missing" {
            return Err(Status::not_found("no such thing"));
        }
        if text == "slow" {
            tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        }
        Ok(text)
    }
}

async fn served(traced: bool) -> (ServerHandle, EchoClient) {
    let builder = erpc_core::Server::builder().layer(AccessLog);
    let echo = EchoServer::new(Echoer);
    let listen = ["tcp://127.0.0.1:0"];
    let server = if traced {
        let builder = builder.layer(ServerTracing).add_service(echo);
        builder.serve(listen).await
    } else {
        builder.add_service(echo).serve(listen).await
    }
    .expect("serves");
    let client = Client::connect(server.local_addr().to_string())
        .await
        .expect("connects");
    (server, EchoClient::new(client))
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("the directory exists")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// JSON lines filtered by `filter`, to one file `svc.log` in `dir` (never rotated).
fn json_in(dir: &Path, filter: &str) -> LogConfig {
    LogConfig {
        format: LogFormat::Json,
        filter: filter.into(),
        output: LogOutput::Files {
            directory: dir.to_owned(),
            prefix: "svc".into(),
            rotation: Rotation::Never,
            max_files: 0,
        },
    }
}

/// Run two calls (one ok, one not_found) with logging as `config` says; the JSON lines of
/// the file it wrote.
async fn calls_logged(config: LogConfig) -> Vec<serde_json::Value> {
    calls_logged_with(config, Setup::default()).await.0
}

/// How [`calls_logged_with`] sets up besides the log layer.
#[derive(Default)]
struct Setup {
    /// OpenTelemetry tracing next to the logs (an in-memory exporter) and ServerTracing.
    traced: bool,
    /// A filter set through the guard (as a live change does) before the calls.
    live_filter: Option<&'static str>,
}

/// The JSON lines, and the spans exported (none unless `setup.traced`).
async fn calls_logged_with(
    config: LogConfig,
    setup: Setup,
) -> (
    Vec<serde_json::Value>,
    Vec<opentelemetry_sdk::trace::SpanData>,
) {
    let LogOutput::Files { directory, .. } = &config.output else {
        panic!("files expected")
    };
    let directory = directory.clone();
    let (layer, guard) = logs::layer(&config).expect("valid settings");
    if let Some(filter) = setup.live_filter {
        guard.set_filter(filter).expect("a valid filter");
    }
    let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(layer)
        .with(setup.traced.then(|| otlp::layer(&provider)));
    {
        // This test's runtime is single-threaded: every task logs on this thread.
        let _default = tracing::subscriber::set_default(subscriber);
        let (server, echo) = served(setup.traced).await;
        echo.say("hi".into()).await.expect("ok");
        echo.say("missing".into()).await.expect_err("not found");
        server.shutdown().await;
    }
    drop(guard); // flushes the background writer
    let names = files(&directory);
    assert_eq!(names.len(), 1, "{names:?}");
    let lines = std::fs::read_to_string(directory.join(&names[0]))
        .expect("readable")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (lines, exporter.get_finished_spans().expect("spans"))
}

#[tokio::test]
async fn each_call_is_one_json_access_line_in_the_named_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let lines = calls_logged(LogConfig {
        format: LogFormat::Json,
        filter: "info".into(),
        output: LogOutput::Files {
            directory: dir.path().join("logs"),
            prefix: "svc".into(),
            rotation: Rotation::Daily,
            max_files: 3,
        },
    })
    .await;
    let name = &files(&dir.path().join("logs"))[0];
    // Daily files are PREFIX.YYYY-MM-DD.log.
    assert!(
        name.starts_with("svc.")
            && name.ends_with(".log")
            && name.len() == "svc.2026-11-30.log".len(),
        "{name}"
    );
    let access: Vec<_> = lines
        .iter()
        .filter(|l| l["target"] == "erpc::access")
        .collect();
    assert_eq!(access.len(), 2, "{lines:?}");
    let codes: Vec<_> = access.iter().map(|l| l["fields"]["code"].clone()).collect();
    assert_eq!(codes, ["ok", "not_found"]);
    for line in &access {
        let f = &line["fields"];
        assert_eq!(f["service"], "Echo");
        assert_eq!(f["method"], "say");
        assert!(
            f["peer"].as_str().is_some_and(|p| p.contains("127.0.0.1")),
            "{f}"
        );
        assert!(f["duration_us"].is_u64(), "{f}");
        assert!(f["request_bytes"].as_u64().is_some_and(|b| b > 0), "{f}");
        assert_eq!(line["level"], "INFO");
    }
    assert!(
        access[0]["fields"]["response_bytes"]
            .as_u64()
            .is_some_and(|b| b > 0)
    );
}

/// A call refused before it ran never reaches the `AccessLog` layer; with
/// `log_refused_calls` the engine writes its line: here one refused on arrival (over a rate
/// limit) and one refused after waiting for its turn (the running-call cap, full by then).
#[tokio::test]
async fn a_call_refused_before_it_ran_has_its_line_too() {
    use erpc_core::rate::Rate;
    use erpc_core::server::{ConcurrencyLimit, RateLimit};
    use std::time::Duration;

    let dir = tempfile::tempdir().expect("tmp");
    let (layer, guard) = logs::layer(&json_in(dir.path(), "info")).expect("valid settings");
    let subscriber = tracing_subscriber::registry().with(layer);
    {
        // One call per 400 ms, a call waits up to 600 ms for its turn; one call at a time.
        let rate = Rate::every(Duration::from_millis(400))
            .burst(1)
            .max_wait(Duration::from_millis(600));
        let server = erpc_core::Server::builder()
            .layer(AccessLog)
            .log_refused_calls(true)
            .admission(RateLimit::global(rate).expect("a rate"))
            .admission(ConcurrencyLimit::new(1).expect("a cap"))
            .add_service(EchoServer::new(Echoer))
            .serve(["tcp://127.0.0.1:0"])
            .await
            .expect("serves");
        let client = Client::connect(server.local_addr().to_string())
            .await
            .expect("connects");
        let echo = EchoClient::new(client);
        // Every task of this current-thread runtime logs to this subscriber.
        let _default = tracing::subscriber::set_default(subscriber);
        let call = |text: &'static str| {
            let echo = echo.clone();
            tokio::spawn(async move { echo.say(text.into()).await })
        };
        // At 0 ms "slow" takes the token and runs for 1.2 s.
        let slow = call("slow");
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Its turn at 400 ms (a 380 ms wait), while "slow" still runs: refused by the cap.
        let waits = call("waits");
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Its turn would be at 800 ms, beyond the 600 ms wait: refused on arrival.
        let arrival = echo.say("now".into()).await.expect_err("over the rate");
        assert_eq!(
            arrival.code(),
            erpc_core::status::Code::ResourceExhausted,
            "{arrival}"
        );
        let waited = waits.await.expect("joined").expect_err("cap full");
        assert_eq!(
            waited.code(),
            erpc_core::status::Code::ResourceExhausted,
            "{waited}"
        );
        slow.await.expect("joined").expect("slow ran");
        server.shutdown().await;
    }
    drop(guard);
    let text = std::fs::read_to_string(dir.path().join("svc.log")).expect("readable");
    let refused: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON"))
        .filter(|l| l["target"] == "erpc::access" && l["fields"]["message"] == "call refused")
        .map(|l| l["fields"].clone())
        .collect();
    assert_eq!(refused.len(), 2, "{text}");
    for f in &refused {
        assert_eq!(f["code"], "resource_exhausted", "{f}");
        assert_eq!(f["method"], "say", "{f}");
        assert!(
            f["peer"].as_str().is_some_and(|p| p.contains("127.0.0.1")),
            "{f}"
        );
    }
    let (on_arrival, after_wait) = (&refused[0], &refused[1]);
    assert_eq!(after_wait["refused_by"], "concurrency", "{after_wait}");
    assert!(
        after_wait["duration_us"]
            .as_u64()
            .is_some_and(|us| us >= 100_000),
        "the wait for its turn: {after_wait}"
    );
    assert_eq!(on_arrival["refused_by"], "rate_limit", "{on_arrival}");
    assert_eq!(on_arrival["duration_us"], 0, "{on_arrival}");
    assert!(
        on_arrival["reason"]
            .as_str()
            .is_some_and(|r| r.contains("rate limit")),
        "{on_arrival}"
    );
    // The calls that ran have theirs from the layer.
    let ran = text.matches("\"message\":\"call\"").count();
    assert_eq!(ran, 1, "{text}");
}

/// `max_files` counts the file being written, at every start: tracing-appender's own
/// pruning kept one fewer after a restart within the day (tokio-rs/tracing#3496).
#[test]
fn max_files_are_kept_across_restarts_within_a_period() {
    let dir = tempfile::tempdir().expect("tmp");
    for day in 1..=6 {
        std::fs::write(dir.path().join(format!("app.2020-01-0{day}.log")), "old\n").expect("w");
    }
    let config = LogConfig {
        format: LogFormat::Json,
        filter: "info".into(),
        output: LogOutput::Files {
            directory: dir.path().to_owned(),
            prefix: "app".into(),
            rotation: Rotation::Daily,
            max_files: 3,
        },
    };
    for run in 1..=3 {
        let (layer, guard) = logs::layer(&config).expect("valid settings");
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || tracing::info!(run, "started"));
        drop(guard);
        let names = files(dir.path());
        assert_eq!(names.len(), 3, "run {run}: {names:?}");
        // Today's file and the two newest before it.
        assert_eq!(
            names[..2],
            ["app.2020-01-05.log", "app.2020-01-06.log"],
            "run {run}"
        );
    }
    let today = &files(dir.path())[2];
    let text = std::fs::read_to_string(dir.path().join(today)).expect("read");
    assert_eq!(text.lines().count(), 3, "each run appended: {text}");
}

/// A call cut off at its deadline is dropped, never ending in the layer: it still has its
/// access line (`deadline_exceeded`) and, past the threshold, its slow-call line.
#[tokio::test]
async fn a_call_cut_off_at_its_deadline_is_logged() {
    use std::time::Duration;

    let dir = tempfile::tempdir().expect("tmp");
    let (layer, guard) = logs::layer(&json_in(dir.path(), "info")).expect("valid settings");
    let subscriber = tracing_subscriber::registry().with(layer);
    {
        let server = erpc_core::Server::builder()
            .layer(AccessLog)
            .slow_call_log(Duration::from_millis(100))
            .add_service(EchoServer::new(Echoer))
            .serve(["tcp://127.0.0.1:0"])
            .await
            .expect("serves");
        let client = Client::builder()
            .timeout(Duration::from_millis(300))
            .connect(server.local_addr().to_string())
            .await
            .expect("connects");
        let _default = tracing::subscriber::set_default(subscriber);
        let err = EchoClient::new(client)
            .say("slow".into())
            .await
            .expect_err("cut off");
        assert_eq!(
            err.code(),
            erpc_core::status::Code::DeadlineExceeded,
            "{err}"
        );
        // The shutdown waits for the server's side of the call, which ends at the same
        // deadline, so its lines are written by then.
        server.shutdown().await;
    }
    drop(guard);
    let text = std::fs::read_to_string(dir.path().join("svc.log")).expect("readable");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let access: Vec<_> = lines
        .iter()
        .filter(|l| l["target"] == "erpc::access")
        .collect();
    assert_eq!(access.len(), 1, "{text}");
    assert_eq!(access[0]["fields"]["code"], "deadline_exceeded", "{text}");
    let slow: Vec<_> = lines
        .iter()
        .filter(|l| l["target"] == "erpc::slow_call")
        .collect();
    assert_eq!(slow.len(), 1, "{text}");
    assert_eq!(slow[0]["fields"]["code"], "deadline_exceeded", "{text}");
    assert_eq!(slow[0]["level"], "WARN", "{text}");
}

#[tokio::test]
async fn a_filter_turns_the_access_log_off() {
    let dir = tempfile::tempdir().expect("tmp");
    let lines = calls_logged(json_in(dir.path(), "info,erpc::access=off")).await;
    assert!(
        lines.iter().all(|l| l["target"] != "erpc::access"),
        "{lines:?}"
    );
    assert_eq!(files(dir.path()), ["svc.log"]);
}

/// `erpc::access=off` switches the access log off and nothing else: the handler's own INFO
/// line stays, with OpenTelemetry tracing next to the logs too, and after a live change.
#[tokio::test]
async fn access_off_keeps_the_handlers_own_lines() {
    for setup in [
        // The baseline: without a second layer the fault never showed (the per-layer "no"
        // needs another layer that wants the access event); the traced cases are the checks.
        Setup::default(),
        Setup {
            traced: true,
            live_filter: None,
        },
        Setup {
            traced: true,
            live_filter: Some("info,erpc::access=off"),
        },
    ] {
        let dir = tempfile::tempdir().expect("tmp");
        let (traced, live) = (setup.traced, setup.live_filter.is_some());
        let lines = calls_logged_with(
            LogConfig {
                format: LogFormat::Json,
                filter: if live {
                    "warn"
                } else {
                    "info,erpc::access=off"
                }
                .into(),
                output: LogOutput::Files {
                    directory: dir.path().to_owned(),
                    prefix: "svc".into(),
                    rotation: Rotation::Never,
                    max_files: 0,
                },
            },
            setup,
        )
        .await
        .0;
        let handler = lines
            .iter()
            .filter(|l| l["fields"]["message"] == "handler ran")
            .count();
        assert_eq!(handler, 2, "traced {traced}, live {live}: {lines:?}");
        assert!(
            lines.iter().all(|l| l["target"] != "erpc::access"),
            "{lines:?}"
        );
    }
}

/// A JSON line logged inside a traced call carries the call's trace and span ids (those
/// of the server span exported for it); without tracing, lines carry none.
#[tokio::test]
async fn json_lines_inside_a_traced_call_carry_its_trace_and_span_ids() {
    for traced in [false, true] {
        let dir = tempfile::tempdir().expect("tmp");
        let config = json_in(dir.path(), "info");
        let setup = Setup {
            traced,
            live_filter: None,
        };
        let (lines, spans) = calls_logged_with(config, setup).await;
        let handler: Vec<_> = lines
            .iter()
            .filter(|l| l["fields"]["message"] == "handler ran")
            .collect();
        assert_eq!(handler.len(), 2, "{lines:?}");
        if !traced {
            assert!(
                lines.iter().all(|l| l.get("trace_id").is_none()),
                "{lines:?}"
            );
            continue;
        }
        let servers: Vec<_> = spans.iter().filter(|s| s.name == "Echo/say").collect();
        assert_eq!(servers.len(), 2, "{spans:?}");
        for (line, span) in handler.iter().zip(&servers) {
            let ids = (line["trace_id"].as_str(), line["span_id"].as_str());
            let want = (
                span.span_context.trace_id().to_string(),
                span.span_context.span_id().to_string(),
            );
            assert_eq!(ids, (Some(&*want.0), Some(&*want.1)), "{line}");
        }
    }
}

#[test]
fn bad_settings_are_errors_that_name_them() {
    let bad = |config: LogConfig| match logs::layer::<tracing_subscriber::Registry>(&config) {
        Ok(_) => panic!("accepted {config:?}"),
        Err(e) => e.to_string(),
    };
    let e = bad(LogConfig {
        filter: "info,erpc_core=loud".into(),
        ..LogConfig::default()
    });
    assert!(e.contains("erpc_core=loud"), "{e}");
    // Filters EnvFilter took and that wrote nothing at all: empty, or a misspelt level (a
    // bare word is a target to EnvFilter, with no default level beside it).
    for (filter, says) in [
        ("", "it is empty"),
        ("  ", "it is empty"),
        ("debg", "\"debg\" is not a level (did you mean debug?)"),
        ("infoo", "did you mean info?"),
    ] {
        let e = bad(LogConfig {
            filter: filter.into(),
            ..LogConfig::default()
        });
        assert!(e.contains(says), "{filter:?}: {e}");
    }
    // File names tracing-appender took: an empty directory (files in the current one, and
    // a raw OS error from its pruning), an empty prefix, a prefix that makes a directory.
    let dir = tempfile::tempdir().expect("tmp");
    for (directory, prefix, says) in [
        ("".into(), "app", "is empty"),
        (dir.path().to_owned(), "", "prefix \"\" is empty"),
        (
            dir.path().to_owned(),
            "a/b",
            "prefix \"a/b\" is not a file name start",
        ),
    ] {
        let e = bad(LogConfig {
            output: LogOutput::Files {
                directory,
                prefix: prefix.into(),
                rotation: Rotation::Daily,
                max_files: 3,
            },
            ..LogConfig::default()
        });
        assert!(e.contains(says), "{prefix:?}: {e}");
    }
    assert!(files(dir.path()).is_empty(), "nothing written");
    let file = tempfile::NamedTempFile::new().expect("tmp");
    let e = bad(LogConfig {
        output: LogOutput::Files {
            // A file where the directory should be.
            directory: file.path().join("logs"),
            prefix: "svc".into(),
            rotation: Rotation::Daily,
            max_files: 3,
        },
        ..LogConfig::default()
    });
    assert!(e.contains("logs"), "{e}");
}

#[tokio::test]
async fn the_filter_follows_live_config_and_a_bad_value_keeps_the_old_one() {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    let dir = tempfile::tempdir().expect("tmp");
    let (layer, guard) = logs::layer(&json_in(dir.path(), "warn")).expect("valid");
    let subscriber = tracing_subscriber::registry().with(layer);
    let _default = tracing::subscriber::set_default(subscriber);
    let (config, follow) = tokio::sync::watch::channel(Arc::new(BTreeMap::new()));
    let task = guard.follow_filter(follow, "log_filter");
    // Let the follower run after each change (this runtime has one thread).
    let settle = || async {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    };
    let set = |value: &str| {
        let map = BTreeMap::from([("log_filter".to_owned(), value.to_owned())]);
        config.send(Arc::new(map)).expect("the follower listens");
    };
    settle().await;
    tracing::info!("one: below the filter");
    set("info");
    settle().await;
    tracing::info!("two: the live filter lets it through");
    set("info,erpc_core=loud");
    settle().await;
    tracing::info!("three: the refused value left the filter as it was");
    drop(config);
    task.await.expect("the follower ends with its sender");
    drop(guard);
    let text = std::fs::read_to_string(dir.path().join("svc.log")).expect("written");
    assert!(!text.contains("one:"), "{text}");
    assert!(text.contains("two:"), "{text}");
    assert!(text.contains("three:"), "{text}");
    assert!(
        text.contains("log filter refused") && text.contains("erpc_core=loud"),
        "the refusal is logged with the value: {text}"
    );
}

/// Live values EnvFilter took and that silenced every line — the "filter changed" line and
/// every later refusal included — or were refused with nothing said: each is refused with a
/// WARN naming it and why, and logging goes on under the filter in force.
#[tokio::test]
async fn a_live_empty_or_misspelt_filter_is_refused_with_a_warning_and_logging_goes_on() {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    let dir = tempfile::tempdir().expect("tmp");
    let (layer, guard) = logs::layer(&json_in(dir.path(), "info")).expect("valid");
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    let (config, follow) = tokio::sync::watch::channel(Arc::new(BTreeMap::new()));
    let task = guard.follow_filter(follow, "log_filter");
    let settle = || async {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    };
    let bad = ["", "   ", "LOUD", "info,[", "debg"];
    for (i, value) in bad.iter().enumerate() {
        let map = BTreeMap::from([("log_filter".to_owned(), (*value).to_owned())]);
        config.send(Arc::new(map)).expect("the follower listens");
        settle().await;
        tracing::info!("after bad value {i}");
    }
    drop(config);
    task.await.expect("the follower ends with its sender");
    drop(guard);
    let text = std::fs::read_to_string(dir.path().join("svc.log")).expect("written");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    for (i, value) in bad.iter().enumerate() {
        let after = format!("after bad value {i}");
        assert!(
            lines
                .iter()
                .any(|l| l["fields"]["message"] == after.as_str()),
            "{value:?} silenced logging: {text}"
        );
        let warned = lines.iter().find(|l| {
            l["level"] == "WARN"
                && l["fields"]["key"] == "log_filter"
                && l["fields"]["value"] == format!("{value:?}").as_str()
        });
        let Some(warned) = warned else {
            panic!("no WARN for {value:?}: {text}")
        };
        let message = warned["fields"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("refused"), "{message}");
    }
    let debg = lines
        .iter()
        .find(|l| l["fields"]["value"] == "\"debg\"")
        .map(|l| l["fields"]["message"].to_string())
        .unwrap_or_default();
    assert!(debg.contains("did you mean debug?"), "{debg}");
}

/// The first start with a new log directory (and a bad one) writes nothing to stderr but
/// the error itself, and human lines to a redirected stderr carry no colour codes: run in a
/// child process whose stderr is read.
#[test]
fn a_new_log_directory_and_a_redirected_stderr_get_plain_lines_only() {
    const CHILD: &str = "ERPC_LOGS_TEST_DIRECTORY";
    if let Ok(directory) = std::env::var(CHILD) {
        let config = |directory: std::path::PathBuf| LogConfig {
            format: LogFormat::Json,
            filter: "info".into(),
            output: LogOutput::Files {
                directory,
                prefix: "svc".into(),
                rotation: Rotation::Daily,
                max_files: 2,
            },
        };
        let directory = std::path::PathBuf::from(directory);
        let made = logs::layer::<tracing_subscriber::Registry>(&config(directory.join("new")));
        assert!(made.is_ok(), "a new directory is created");
        // A file where the directory should be: one error, returned, not printed.
        std::fs::write(directory.join("file"), "x").expect("written");
        let bad = logs::layer::<tracing_subscriber::Registry>(&config(directory.join("file")));
        let Err(e) = bad else {
            panic!("a file is no directory")
        };
        println!("ERROR: {e}");
        // Human lines to a redirected stderr: no colour codes.
        let (layer, guard) = logs::layer(&LogConfig::default()).expect("stderr");
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            tracing::info!("plain line");
        });
        drop(guard);
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let out = std::process::Command::new(std::env::current_exe().expect("this test"))
        .args([
            "--exact",
            "a_new_log_directory_and_a_redirected_stderr_get_plain_lines_only",
            "--nocapture",
        ])
        .env(CHILD, dir.path())
        .output()
        .expect("runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(dir.path().join("new").is_dir());
    assert!(!stderr.contains("Error reading"), "stray stderr: {stderr}");
    assert!(stderr.contains("plain line"), "{stderr}");
    assert!(
        !stderr.contains('\x1b'),
        "colour codes in a redirected stderr: {stderr:?}"
    );
    let error = stdout
        .lines()
        .find(|l| l.starts_with("ERROR: "))
        .expect("the error");
    assert!(
        error.contains("file") && error.contains("directory"),
        "{error}"
    );
}
