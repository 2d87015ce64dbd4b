//! The JavaScript client (`clients/js`) passes its own test suite — every call shape over
//! ws:// against this crate's server, PROTOCOL.md's vectors byte for byte, and headless
//! Chromium — so `cargo test --workspace` covers it. Missing Node.js, npm or Chromium fails
//! the test (scripts/install-deps.sh installs them); it never skips.

use std::path::Path;
use std::process::Command;

#[test]
fn the_javascript_client_passes_its_tests_against_a_real_server() {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("../js");
    for tool in ["node", "npm"] {
        let found = Command::new(tool).arg("--version").output();
        assert!(
            found.is_ok_and(|o| o.status.success()),
            "{tool} is not installed: run scripts/install-deps.sh (Debian packages nodejs and npm)"
        );
    }
    // Offline-safe: an existing install is used as is; `npm ci` installs exactly the lockfile.
    let installed = ["@msgpack/msgpack", "ws"].iter().all(|p| {
        js.join("node_modules")
            .join(p)
            .join("package.json")
            .exists()
    });
    if !installed {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&js)
            .status()
            .expect("npm runs");
        assert!(status.success(), "npm ci failed in {}", js.display());
    }
    let output = Command::new("npm")
        .args(["test", "--silent"])
        .current_dir(&js)
        .env("ERPC_TEST_SERVER", env!("CARGO_BIN_EXE_erpc-test-server"))
        .output()
        .expect("npm runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The runner's summary (and the browser screenshot's path) in the test's output.
    for line in stdout
        .lines()
        .filter(|l| (l.starts_with("# ") && !l.starts_with("# Subtest")) || l.starts_with("not ok"))
    {
        println!("{line}");
    }
    assert!(
        output.status.success(),
        "the JavaScript client's tests failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("# fail 0"), "{stdout}");
}
