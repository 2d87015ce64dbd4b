//! The tour's queue section (9), as a user runs the demo: through a real `nats-server` when
//! one is reachable at `ERPC_DEMO_NATS`, and one line saying how to start one when none is —
//! the tour succeeding either way.

use std::time::Duration;

/// Run the whole tour with `ERPC_DEMO_NATS=url`; it must exit 0. Its standard output.
async fn tour(url: &str) -> String {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_demo"))
        .env("ERPC_DEMO_NATS", url)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the tour ends in time")
        .expect("the demo starts");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the tour failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The lines of section 9.
fn section_nine(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("9. "))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tour_calls_through_nats_when_a_server_is_reachable() {
    let nats = erpc_queue::servers::nats().await;
    let stdout = tour(&nats.url).await;
    let lines = section_nine(&stdout);
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(
        lines[0].contains(&format!(
            "via NATS JetStream at {}: hello(\"queue\") -> hello, queue!",
            nats.url
        )),
        "{stdout}"
    );
}

#[tokio::test]
async fn without_nats_the_tour_says_how_to_start_one_and_succeeds() {
    // Port 1 (tcpmux): nothing listens there. Not a "free" port picked by binding port 0 and
    // releasing it: the tour's own servers bind port 0 too and may be handed that very port
    // (seen in CI: the probe reached the demo's own listener).
    let url = "nats://127.0.0.1:1".to_string();
    let stdout = tour(&url).await;
    let lines = section_nine(&stdout);
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(
        lines[0].contains(&format!("no NATS server at {url}"))
            && lines[0].contains("`nats-server -js`"),
        "{stdout}"
    );
}
