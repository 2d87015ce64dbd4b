//! Real queue servers for tests and benchmarks (feature `servers`) — Debian's `nats-server`
//! and `rabbitmq-server` (scripts/install-deps.sh installs both), each started on free
//! loopback ports with a temporary data directory and killed when dropped.
//!
//! Test support, not for production: every function here panics, with a message naming
//! what is missing, when a server is not installed or does not start in time.

use std::os::unix::process::CommandExt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::{Queue, QueueConfig, QueueError};

/// A free loopback port (the listener is closed: a server started right after binds it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A server process (and its children, in a process group of their own); SIGKILLed when
/// dropped.
pub struct Server {
    child: std::process::Child,
    /// The URL clients connect to.
    pub url: String,
    port: u16,
    dir: tempfile::TempDir,
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    Nats,
    RabbitMq { dist_port: u16 },
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            // What the server said, to explain the failure.
            for file in ["log"].iter().map(|d| self.dir.path().join(d)) {
                for entry in std::fs::read_dir(&file).into_iter().flatten().flatten() {
                    let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                    let tail: Vec<&str> = text.lines().rev().take(400).collect();
                    eprintln!("== {}", entry.path().display());
                    for line in tail.into_iter().rev() {
                        eprintln!("{line}");
                    }
                }
            }
        }
    }
}

impl Server {
    /// SIGKILL the server's whole process group (RabbitMQ's script starts the Erlang VM as
    /// its child) and reap it.
    fn kill(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &group])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The backend's name in a [`QueueConfig`]: `nats` or `rabbitmq`.
    pub fn backend(&self) -> &'static str {
        match self.kind {
            Kind::Nats => "nats",
            Kind::RabbitMq { .. } => "rabbitmq",
        }
    }

    /// A queue connected to this server, retrying until a publish (on `erpc.ready`) is
    /// confirmed, for up to a minute: RabbitMQ listens before it takes AMQP sessions, and
    /// after a restart before its queues have recovered.
    pub async fn connect(&self) -> Arc<dyn Queue> {
        let config = QueueConfig {
            backend: self.backend().into(),
            url: Some(self.url.clone()),
            ..Default::default()
        };
        let started = Instant::now();
        loop {
            let ready = async {
                let queue = crate::connect(&config).await?;
                queue
                    .publish("erpc.ready", bytes::Bytes::from_static(b"ready"))
                    .await?;
                Ok::<_, QueueError>(queue)
            };
            match ready.await {
                Ok(queue) => return queue,
                Err(e) => {
                    assert!(
                        started.elapsed() < Duration::from_secs(60),
                        "cannot connect to {}: {e}",
                        self.url
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    /// Stop the server and start it again on the same port with the same data directory.
    /// NATS is SIGKILLed (no orderly shutdown). RabbitMQ 3.10 is stopped with SIGTERM: after
    /// a SIGKILL, a single node's quorum queue that held messages stays without a leader
    /// ("leader not known", rabbitmq-server issue 10070) — a minute later still — so
    /// nothing can consume it until an operator triggers an election.
    pub async fn restart(&mut self) {
        if let Kind::RabbitMq { .. } = self.kind {
            let group = format!("-{}", self.child.id());
            let _ = std::process::Command::new("kill")
                .args(["-TERM", "--", &group])
                .status();
            let _ = self.child.wait();
        }
        self.kill();
        self.child = spawn(self.kind, self.port, self.dir.path());
        wait_until_listening(self.port, self.kind).await;
    }

    /// SIGKILL the server (whatever its kind: a crash, no orderly shutdown) and start it
    /// again on the same port with the same data directory.
    pub async fn crash_and_restart(&mut self) {
        self.kill();
        self.child = spawn(self.kind, self.port, self.dir.path());
        wait_until_listening(self.port, self.kind).await;
    }
}

/// A NATS server with JetStream on a free port, storing in a temporary directory.
pub async fn nats() -> Server {
    start(Kind::Nats).await
}

/// A RabbitMQ node of its own (private node name, ports, data and log directories).
pub async fn rabbitmq() -> Server {
    start(Kind::RabbitMq {
        dist_port: free_port(),
    })
    .await
}

async fn start(kind: Kind) -> Server {
    let port = free_port();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let child = spawn(kind, port, dir.path());
    let url = match kind {
        Kind::Nats => format!("nats://127.0.0.1:{port}"),
        Kind::RabbitMq { .. } => format!("amqp://guest:guest@127.0.0.1:{port}/%2f"),
    };
    wait_until_listening(port, kind).await;
    Server {
        child,
        url,
        port,
        dir,
        kind,
    }
}

fn spawn(kind: Kind, port: u16, dir: &std::path::Path) -> std::process::Child {
    let mut command = match kind {
        Kind::Nats => {
            let mut c = std::process::Command::new("nats-server");
            c.args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
                .arg(dir);
            c
        }
        Kind::RabbitMq { dist_port } => {
            // The script itself, not /usr/sbin's wrapper, which switches to the rabbitmq user
            // (who may not write the temporary directory).
            let mut c = std::process::Command::new("/usr/lib/rabbitmq/bin/rabbitmq-server");
            c.current_dir(dir)
                .env("RABBITMQ_NODENAME", format!("erpc-test-{port}@localhost"))
                .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
                .env("RABBITMQ_NODE_PORT", port.to_string())
                .env("RABBITMQ_DIST_PORT", dist_port.to_string())
                .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
                .env("RABBITMQ_LOG_BASE", dir.join("log"))
                .env("RABBITMQ_FEATURE_FLAGS_FILE", dir.join("feature_flags"))
                .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
                .env("RABBITMQ_PLUGINS_EXPAND_DIR", dir.join("plugins-expand"));
            c
        }
    };
    command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .expect("the queue server is installed (scripts/install-deps.sh)")
}

/// Wait until the server takes connections: NATS within seconds; RabbitMQ's Erlang node
/// takes 5–10 s alone, longer on a loaded machine, so it gets a minute.
async fn wait_until_listening(port: u16, kind: Kind) {
    let budget = match kind {
        Kind::Nats => Duration::from_secs(20),
        Kind::RabbitMq { .. } => Duration::from_secs(60),
    };
    let started = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < budget,
            "the queue server did not listen on {port} within {budget:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
