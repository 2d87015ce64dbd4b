//! A real etcd (Debian's etcd-server, installed by scripts/install-deps.sh), started on free
//! loopback ports with a temporary data directory.

use std::time::Duration;

use tokio::time::Instant;

/// A private etcd, killed when dropped.
pub struct Etcd {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    peer_url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Start an etcd on free loopback ports with a temporary data directory; wait until it answers.
pub async fn etcd() -> Etcd {
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let peer_url = format!("http://127.0.0.1:{}", free_port());
    start(endpoint, peer_url).await
}

/// Start an etcd on these URLs with a new temporary data directory.
async fn start(endpoint: String, peer_url: String) -> Etcd {
    let dir = tempfile::tempdir().unwrap();
    let child = std::process::Command::new("etcd")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--name", "test"])
        .args(["--listen-client-urls", &endpoint])
        .args(["--advertise-client-urls", &endpoint])
        .args(["--listen-peer-urls", &peer_url])
        .args(["--initial-advertise-peer-urls", &peer_url])
        .args(["--initial-cluster", &format!("test={peer_url}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("etcd is installed (scripts/install-deps.sh)");
    let etcd = Etcd {
        child,
        endpoint,
        peer_url,
        _dir: dir,
    };
    let started = Instant::now();
    while !serves(&etcd.endpoint).await {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "etcd did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    etcd
}

/// Whether the etcd at `endpoint` answers a linearizable read: it has elected its leader.
/// (A listening port, or a client that connected, is not enough: the first requests of a
/// just-started etcd can still fail.)
async fn serves(endpoint: &str) -> bool {
    let Ok(mut client) = etcd_client::Client::connect([endpoint], None).await else {
        return false;
    };
    tokio::time::timeout(Duration::from_secs(2), client.get("erpc-test-probe", None))
        .await
        .is_ok_and(|read| read.is_ok())
}

impl Etcd {
    /// The endpoint as `host:port`, for `etcd://` store URLs.
    pub fn host_port(&self) -> &str {
        self.endpoint.trim_start_matches("http://")
    }

    /// Kill this etcd and start a new one, empty, on the same ports: what clients see of an
    /// etcd restored from an old snapshot or started again without its data. Its revisions
    /// count from 1 again; its cluster id is the same (it derives from the member's name and
    /// URLs).
    pub async fn restart_empty(self) -> Etcd {
        let (endpoint, peer_url) = (self.endpoint.clone(), self.peer_url.clone());
        drop(self);
        start(endpoint, peer_url).await
    }
}
