//! Tracing settings given without an endpoint are said to have no effect (in its own test
//! binary: `start` sets the process's one global subscriber).

use std::time::{Duration, Instant};

use erpc_config::load_with_env;

mod support;
use support::{no_env, written};

#[tokio::test]
async fn tracing_settings_without_an_endpoint_are_warned_of() {
    let logs = tempfile::tempdir().expect("temp dir");
    let file = written(&format!(
        r#"
telemetry:
  tracing: {{service_name: checkout, sample_ratio: 0.1}}
  logging:
    format: json
    files: {{directory: "{}", prefix: app, rotation: never}}
"#,
        logs.path().display()
    ));
    let settings = load_with_env(file.path(), no_env()).expect("loads");
    assert_eq!(
        settings.telemetry.tracing.given_without_endpoint(),
        Some("service_name and sample_ratio")
    );
    let telemetry = settings.telemetry.start().await.expect("started");
    assert!(telemetry.tracing().is_none(), "tracing is off");
    // The writer is a background thread: wait for the line to reach the file.
    let deadline = Instant::now() + Duration::from_secs(10);
    let warned = loop {
        let text = std::fs::read_dir(logs.path())
            .expect("log dir")
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .collect::<String>();
        if let Some(line) = text.lines().find(|l| l.contains("no endpoint")) {
            break line.to_owned();
        }
        assert!(Instant::now() < deadline, "no warning in {text:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        warned.contains(r#""level":"WARN""#)
            && warned.contains("telemetry.tracing: service_name and sample_ratio given"),
        "{warned}"
    );
    telemetry.shutdown().await;
}
