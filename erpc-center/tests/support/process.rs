//! The `erpc-center` binary as a child process, for tests that kill it.

use std::time::Duration;

#[path = "../../../tests/support/child.rs"]
pub mod child;

use tokio::io::{AsyncBufReadExt, BufReader};

/// Make `command`'s process get SIGKILL when this test process dies, however it dies (a
/// SIGKILLed test runs no `Drop`, so `kill_on_drop` alone would leave it running). The
/// signal follows the death of the thread that spawned it: tokio's runtime threads, which
/// live as long as the test. It survives exec, so `ip netns exec` passes it on to the
/// program it runs in the namespace.
pub fn dies_with_test(command: &mut tokio::process::Command) -> &mut tokio::process::Command {
    let parent = std::process::id();
    // SAFETY: the closure runs in the child between fork and exec and only calls prctl(2)
    // and getppid(2), both async-signal-safe; it allocates nothing on success.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The test died between fork and prctl: the signal will never come.
            if libc::getppid() as u32 != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        })
    }
}

/// A running `erpc-center`; killed (SIGKILL) when dropped or when the test process dies.
pub struct CenterProcess {
    /// The process.
    pub child: tokio::process::Child,
    /// Where it listens (`tcp://127.0.0.1:PORT`).
    pub addr: String,
}

/// Start `erpc-center --listen listen` with `args` and wait for its "listening on" line.
pub async fn spawn_center(listen: &str, args: &[&str]) -> CenterProcess {
    start_center(listen, args, std::process::Stdio::null()).await
}

/// [`spawn_center`], its log (stderr) kept: lines are read from the returned reader.
pub async fn spawn_center_logged(
    listen: &str,
    args: &[&str],
) -> (
    CenterProcess,
    tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
) {
    let mut center = start_center(listen, args, std::process::Stdio::piped()).await;
    let stderr = center.child.stderr.take().expect("piped stderr");
    (center, BufReader::new(stderr).lines())
}

async fn start_center(listen: &str, args: &[&str], stderr: std::process::Stdio) -> CenterProcess {
    let mut child = dies_with_test(&mut tokio::process::Command::new(env!(
        "CARGO_BIN_EXE_erpc-center"
    )))
    .args(["--listen", listen])
    .args(args)
    .stdout(std::process::Stdio::piped())
    .stderr(stderr)
    .kill_on_drop(true)
    .spawn()
    .expect("the erpc-center binary starts");
    let addr = listening_addr(&mut child).await;
    CenterProcess { child, addr }
}

/// Read `log` until a line satisfies `ok` (at most 20 s); that line. Panics naming `what`
/// with the lines read.
pub async fn log_line(
    log: &mut tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
    what: &str,
    ok: impl Fn(&str) -> bool,
) -> String {
    let mut read = Vec::new();
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(line)) = log.next_line().await {
            let line = without_colours(&line);
            if ok(&line) {
                return Some(line);
            }
            read.push(line);
        }
        None
    })
    .await;
    match found {
        Ok(Some(line)) => line,
        _ => panic!(
            "{what}: no such line in the log; read:\n{}",
            read.join("\n")
        ),
    }
}

/// `line` without its ANSI colour sequences (`ESC [ … m`).
fn without_colours(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|c| *c == 'm');
            continue;
        }
        plain.push(c);
    }
    plain
}

/// Wait for a started `erpc-center`'s first "listening on" line (its stdout piped); the
/// address it names.
pub async fn listening_addr(child: &mut tokio::process::Child) -> String {
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("erpc-center announces its address in time")
        .expect("stdout readable")
        .expect("erpc-center printed a line (did it fail to start?)");
    line.strip_prefix("erpc-center listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned()
}

/// What the provider process reads: its registry (see [`Via`]), its id, its TTL.
const REGISTRY_ENV: &str = "ERPC_TEST_PROVIDER_REGISTRY";
const ID_ENV: &str = "ERPC_TEST_PROVIDER_ID";
const TTL_ENV: &str = "ERPC_TEST_PROVIDER_TTL_MS";
const LISTEN_ENV: &str = "ERPC_TEST_PROVIDER_LISTEN";
/// The line a provider process prints once registered.
const READY: &str = "erpc-test-provider registered";

/// The registry a provider process registers with.
#[derive(Clone, Copy)]
pub enum Via<'a> {
    /// erpc centers at these addresses (`ttl` is the lease).
    Centers(&'a [&'a str]),
    /// A ZooKeeper ensemble (`ttl` is the session timeout).
    ZooKeeper(&'a str),
}

impl Via<'_> {
    fn encode(&self) -> String {
        match self {
            Via::Centers(addrs) => format!("center={}", addrs.join(",")),
            Via::ZooKeeper(cluster) => format!("zookeeper={cluster}"),
        }
    }
}

/// Start a provider of Whoami named `id` in a process of its own, registered `via` a
/// registry with leases (or sessions) of `ttl`; returns once it is registered. The test
/// binary runs itself: it must have an ignored test named `provider_process` calling
/// [`provider_process`]. Killed (SIGKILL) when dropped.
pub async fn spawn_provider(via: Via<'_>, id: &str, ttl: Duration) -> tokio::process::Child {
    spawn_provider_in(None, "tcp://127.0.0.1:0", via, id, ttl).await
}

/// [`spawn_provider`], serving on `listen`, in network namespace `netns` if one is given.
pub async fn spawn_provider_in(
    netns: Option<&str>,
    listen: &str,
    via: Via<'_>,
    id: &str,
    ttl: Duration,
) -> tokio::process::Child {
    let envs = [
        (REGISTRY_ENV, via.encode()),
        (ID_ENV, id.to_owned()),
        (TTL_ENV, ttl.as_millis().to_string()),
        (LISTEN_ENV, listen.to_owned()),
    ];
    let (child, _) = spawn_test_process(netns, "provider_process", &envs, READY).await;
    child
}

/// Run this test binary's ignored test `test` in a process of its own (in network namespace
/// `netns` if one is given) with the environment `envs`; wait (at most 20 s) for its line
/// starting with `ready`, and return the process and the rest of that line. Its later output
/// is read and discarded, so that it never blocks on a full pipe. Killed (SIGKILL) when
/// dropped or when the test process dies.
pub async fn spawn_test_process(
    netns: Option<&str>,
    test: &str,
    envs: &[(&str, String)],
    ready: &str,
) -> (tokio::process::Child, String) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = match netns {
        Some(ns) => {
            let mut c = tokio::process::Command::new(super::netns::ip_program());
            c.args(["netns", "exec", ns]).arg(exe);
            c
        }
        None => tokio::process::Command::new(exe),
    };
    let mut child = dies_with_test(&mut command)
        .args([test, "--exact", "--ignored", "--nocapture"])
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the test binary runs itself");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let rest = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.strip_prefix(ready) {
                return Some(rest.trim().to_owned());
            }
        }
        None
    })
    .await;
    let Ok(Some(rest)) = rest else {
        panic!("process {test} {envs:?} did not say {ready:?}");
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, rest)
}

/// The provider process's body (see [`spawn_provider`]); returns at once when the test
/// binary was not started as a provider.
pub fn provider_process() {
    let (Ok(registry), Ok(id), Ok(ttl)) = (
        std::env::var(REGISTRY_ENV),
        std::env::var(ID_ENV),
        std::env::var(TTL_ENV),
    ) else {
        return;
    };
    let ttl = Duration::from_millis(ttl.parse().expect("a TTL in ms"));
    let listen = std::env::var(LISTEN_ENV).unwrap_or_else(|_| "tcp://127.0.0.1:0".into());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let registry: std::sync::Arc<dyn erpc_core::discovery::Register> =
            match registry.split_once('=') {
                Some(("center", addrs)) => std::sync::Arc::new(
                    erpc_center::CenterRegistry::new(addrs.split(','))
                        .expect("center addresses")
                        .ttl(ttl),
                ),
                Some(("zookeeper", cluster)) => std::sync::Arc::new(
                    erpc_center::zookeeper::ZooKeeperRegistry::new(cluster).session_timeout(ttl),
                ),
                _ => panic!("unknown registry {registry:?}"),
            };
        let _server = super::provider_on(registry, &id, &listen).await;
        println!("{READY}");
        // Serve and renew until killed.
        std::future::pending::<()>().await;
    });
}

/// Start `n` provider processes registered `via` a registry with leases (sessions) of `ttl`,
/// let them renew for a while, SIGKILL them one after another across a third of the TTL (so
/// the kills fall at different points of their renewal period), and measure when each
/// disappears from the list that `follow` (the consumers' view) gives. Prints and returns
/// the removal times after each kill, sorted.
pub async fn removal_after_sigkill(
    via: Via<'_>,
    follow: &dyn erpc_core::discovery::Discover,
    n: usize,
    ttl: Duration,
    label: &str,
) -> Vec<Duration> {
    let ids: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
    let children =
        futures_util::future::join_all(ids.iter().map(|id| spawn_provider(via, id, ttl))).await;
    super::list_reaches(follow, n, Duration::from_secs(10)).await;
    let mut list = super::subscribe(follow).await;
    tokio::time::sleep(ttl).await;
    let stagger = ttl / 3 / n as u32;
    let took = removal_after_kill(
        ids.into_iter().zip(children).collect(),
        stagger,
        &mut list,
        ttl * 5,
    )
    .await;
    eprintln!(
        "{label}: {n} SIGKILLed providers removed after p50 {:?}, p99 {:?}; all {took:?}",
        quantile(&took, 0.5),
        quantile(&took, 0.99)
    );
    took
}

/// Kill the providers one after another, `stagger` apart (so the kills fall at different
/// points of their renewal period), and wait until `list` no longer holds them; how long
/// each one's removal took after its kill, sorted.
async fn removal_after_kill(
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
