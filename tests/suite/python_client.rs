//! A client written from PROTOCOL.md alone, in Python, talks to a real server: the spec is
//! precise enough to implement.

use crate::support;

use erpc::ServerConfig;
use support::*;

#[tokio::test]
async fn a_python_client_written_from_the_spec_interoperates() {
    let server = start("tcp", ServerConfig::default()).await;
    let hostport = server.addr.strip_prefix("tcp://").unwrap().to_owned();
    let (host, port) = hostport.rsplit_once(':').unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/client.py");
    let output = tokio::process::Command::new("python3")
        .args([script, host, port])
        .output()
        .await
        .expect("python3 is installed (scripts/install-deps.sh)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "python client failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.trim_end().ends_with("ok"), "{stdout}");
    // The oneway it sent reached the handler.
    assert_eq!(*server.probe.notified.borrow(), 1);
}
