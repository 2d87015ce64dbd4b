//! The `erpc-center` binary as a child process, for tests that kill it.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

/// A running `erpc-center`; killed (SIGKILL) when dropped.
pub struct CenterProcess {
    /// The process.
    pub child: tokio::process::Child,
    /// Where it listens (`tcp://127.0.0.1:PORT`).
    pub addr: String,
}

/// Start `erpc-center --listen listen` with `args` and wait for its "listening on" line.
pub async fn spawn_center(listen: &str, args: &[&str]) -> CenterProcess {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_erpc-center"))
        .args(["--listen", listen])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the erpc-center binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("erpc-center announces its address in time")
        .expect("stdout readable")
        .expect("erpc-center printed a line (did it fail to start?)");
    let addr = line
        .strip_prefix("erpc-center listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    CenterProcess { child, addr }
}

/// What the provider process reads: comma-separated center addresses, its id, its TTL.
const CENTERS_ENV: &str = "ERPC_TEST_PROVIDER_CENTERS";
const ID_ENV: &str = "ERPC_TEST_PROVIDER_ID";
const TTL_ENV: &str = "ERPC_TEST_PROVIDER_TTL_MS";
/// The line a provider process prints once registered.
const READY: &str = "erpc-test-provider registered";

/// Start a provider of Whoami named `id` in a process of its own, registered through the
/// centers at `centers` with leases of `ttl`; returns once it is registered. The test binary
/// runs itself: it must have an ignored test named `provider_process` calling
/// [`provider_process`]. Killed (SIGKILL) when dropped.
pub async fn spawn_provider(centers: &[&str], id: &str, ttl: Duration) -> tokio::process::Child {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut child = tokio::process::Command::new(exe)
        .args(["provider_process", "--exact", "--ignored", "--nocapture"])
        .env(CENTERS_ENV, centers.join(","))
        .env(ID_ENV, id)
        .env(TTL_ENV, ttl.as_millis().to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the test binary runs itself");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line == READY {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(ready, Ok(true), "provider process {id} did not register");
    // Keep reading (and discarding) its output so that it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

/// The provider process's body (see [`spawn_provider`]); returns at once when the test
/// binary was not started as a provider.
pub fn provider_process() {
    let (Ok(centers), Ok(id), Ok(ttl)) = (
        std::env::var(CENTERS_ENV),
        std::env::var(ID_ENV),
        std::env::var(TTL_ENV),
    ) else {
        return;
    };
    let ttl = Duration::from_millis(ttl.parse().expect("a TTL in ms"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let registry = erpc_center::CenterRegistry::new(centers.split(','))
            .expect("center addresses")
            .ttl(ttl);
        let _server = super::provider(std::sync::Arc::new(registry), &id).await;
        println!("{READY}");
        // Serve and renew until killed.
        std::future::pending::<()>().await;
    });
}

/// Kill the providers one after another, `stagger` apart (so the kills fall at different
/// points of their renewal period), and wait until `list` no longer holds them; how long
/// each one's removal took after its kill, sorted.
pub async fn removal_after_kill(
    providers: Vec<(String, tokio::process::Child)>,
    stagger: Duration,
    list: &mut tokio::sync::watch::Receiver<erpc_core::discovery::Endpoints>,
    limit: Duration,
) -> Vec<Duration> {
    let mut killed = std::collections::HashMap::new();
    for (id, mut child) in providers {
        child.start_kill().expect("SIGKILL");
        killed.insert(id, (tokio::time::Instant::now(), child));
        tokio::time::sleep(stagger).await;
    }
    let mut took = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    while !killed.is_empty() {
        let present: std::collections::HashSet<String> = list
            .borrow_and_update()
            .iter()
            .map(|e| e.id.clone())
            .collect();
        let gone: Vec<String> = killed
            .keys()
            .filter(|id| !present.contains(*id))
            .cloned()
            .collect();
        for id in gone {
            if let Some((at, _)) = killed.remove(&id) {
                took.push(at.elapsed());
            }
        }
        if killed.is_empty() {
            break;
        }
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let changed = tokio::time::timeout(remaining, list.changed()).await;
        assert!(
            matches!(changed, Ok(Ok(()))),
            "still listed after {limit:?}: {:?}",
            killed.keys().collect::<Vec<_>>()
        );
    }
    took.sort();
    took
}

/// The `q` quantile (0..=1) of sorted samples.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
