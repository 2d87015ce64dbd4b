//! The Python client (`clients/python`) installs with pip into a fresh venv and passes its
//! tests there — every call shape, discovery through a center, PROTOCOL.md's vectors and the
//! README's example — against this crate's server, so `cargo test --workspace` covers it.
//! The venv lives under cargo's target dir, never in the system's Python.

use std::path::Path;
use std::process::Command;

fn run(command: &mut Command, what: &str) -> String {
    let output = command.output().unwrap_or_else(|e| {
        panic!("{what}: cannot run: {e} (scripts/install-deps.sh installs python3)")
    });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{what} failed:\n{stdout}\n{stderr}"
    );
    stdout + &stderr
}

#[test]
fn the_python_package_installs_and_passes_its_tests_against_a_real_server() {
    let package = Path::new(env!("CARGO_MANIFEST_DIR")).join("../python");
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-client-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        run(
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
            "python3 -m venv",
        );
    }
    // Installed afresh each run (pip rebuilds a local directory), so the tests see this
    // source exactly as `pip install ./clients/python` would deliver it.
    run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg(&package),
        "pip install ./clients/python",
    );
    // From the tests' directory, so `import erpc_client` finds the installed package, not
    // the source tree.
    let report = run(
        Command::new(&python)
            .args([
                "-W",
                "error::ResourceWarning",
                "-m",
                "unittest",
                "discover",
                "-v",
                "-s",
                ".",
            ])
            .current_dir(package.join("tests"))
            .env("ERPC_TEST_SERVER", env!("CARGO_BIN_EXE_erpc-test-server")),
        "the Python client's tests",
    );
    println!("{report}");
    assert!(report.contains("\nOK"), "{report}");
}
