//! Signalling a child process the way a service manager does, for the tests that run the
//! workspace's binaries (demo, erpc-center, benches: each includes this file by path).

use std::time::Duration;

/// Send `child` the signal `name` (`TERM`, `INT`…) with kill(1).
pub fn signal(child: &tokio::process::Child, name: &str) {
    let pid = child.id().expect("the process runs");
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("kill(1) runs");
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// SIGTERM `child`; it must exit 0 within `limit`.
pub async fn terminate(child: &mut tokio::process::Child, limit: Duration) {
    signal(child, "TERM");
    let exit = tokio::time::timeout(limit, child.wait())
        .await
        .expect("exits in time after SIGTERM")
        .expect("waitable");
    assert!(exit.success(), "after SIGTERM: {exit:?}");
}

/// `exe --help` exits 0 at once and its output names each of `names`.
pub fn answers_help(exe: &str, names: &[&str]) {
    let out = std::process::Command::new(exe)
        .arg("--help")
        .output()
        .expect("the binary runs");
    assert!(out.status.success(), "{exe} --help: {out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    for name in names {
        assert!(help.contains(name), "{exe} --help lacks {name}:\n{help}");
    }
}
