//! A real ZooKeeper (Debian's zookeeperd, installed by scripts/install-deps.sh): a standalone
//! server on a free loopback port with a temporary data directory and 200 ms ticks, so that
//! sessions may be as short as 400 ms.

use std::time::Duration;

use tokio::time::Instant;

/// The jar Debian's zookeeper package installs; its manifest names every dependency.
const JAR: &str = "/usr/share/java/zookeeper.jar";

/// A private ZooKeeper, killed when dropped.
pub struct ZooKeeper {
    child: std::process::Child,
    /// `127.0.0.1:PORT`.
    pub cluster: String,
    _dir: tempfile::TempDir,
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start a ZooKeeper and wait until it serves sessions.
pub async fn zookeeper() -> ZooKeeper {
    start(super::etcd::free_port()).await
}

/// Start a ZooKeeper on `port` with a new temporary data directory.
async fn start(port: u16) -> ZooKeeper {
    let dir = tempfile::tempdir().unwrap();
    let child = std::process::Command::new("java")
        // No admin web server: it would take port 8080 in every test.
        .arg("-Dzookeeper.admin.enableServer=false")
        .args([
            "-cp",
            JAR,
            "org.apache.zookeeper.server.ZooKeeperServerMain",
        ])
        .arg(port.to_string())
        .arg(dir.path())
        .arg("200")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("java and ZooKeeper are installed (scripts/install-deps.sh)");
    let zk = ZooKeeper {
        child,
        cluster: format!("127.0.0.1:{port}"),
        _dir: dir,
    };
    let started = Instant::now();
    loop {
        let session = zookeeper_client::Client::connector()
            .with_session_timeout(Duration::from_secs(2))
            .connect(&zk.cluster);
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(2), session).await {
            return zk;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "zookeeper did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl ZooKeeper {
    /// Kill this ZooKeeper and start a new one, empty, on the same port: what clients see of
    /// a ZooKeeper restored from an old snapshot or started again without its data.
    pub async fn restart_empty(self) -> ZooKeeper {
        let port = self
            .cluster
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("127.0.0.1:PORT");
        drop(self);
        start(port).await
    }
}
