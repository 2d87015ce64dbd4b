//! A connection flood to the server's descriptor limit (RELIABILITY.md row 11).
//!
//! The server runs in a child process (this test binary again, running
//! `flood_server_process`) whose open-files limit is lowered to [`SERVER_FDS`], so the
//! limit is reached in a fraction of a second. This process connects a good client, then
//! opens plain TCP connections until the server holds as many descriptors as it may and
//! its `accept` fails with EMFILE, the rest waiting in the listen backlog. Then:
//! - the good client's calls keep being answered (its connection is established);
//! - the server's accept loop backs off instead of retrying at once: the child's CPU time
//!   over [`IDLE_WINDOW`] at the limit stays a small fraction of it (a loop retrying a
//!   failing `accept` burns a whole core);
//! - once the flood's connections close, the server accepts again: a new client's call
//!   succeeds, and the time from the close to that success is the recovery time.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use erpc::ServerConfig;
use erpc::config::HeartbeatConfig;
use support::*;
use tokio::time::Instant;

/// The child server's open-files limit.
const SERVER_FDS: usize = 256;
/// Connections the flood opens: twice what the server can hold, so the backlog fills too.
const FLOOD: usize = 2 * SERVER_FDS;
/// How long the server's CPU time is watched while it sits at the limit.
const IDLE_WINDOW: Duration = Duration::from_secs(2);
/// Tells the test binary it is the flood's server process.
const CHILD_ENV: &str = "ERPC_FLOOD_SERVER";

/// The server process: lower the open-files limit, serve Echo on TCP, print the address,
/// and serve until standard input ends (the test dropped its end, or died).
#[test]
#[ignore = "the server process of a_flood_to_the_descriptor_limit_is_survived; started by it"]
fn flood_server_process() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let limit = libc::rlimit {
        rlim_cur: SERVER_FDS as libc::rlim_t,
        rlim_max: SERVER_FDS as libc::rlim_t,
    };
    // SAFETY: setrlimit only reads the struct passed to it.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        // The flood's connections send nothing: only descriptors are under attack here
        // (silent connections are row 10's case), so nothing closes them but their peer.
        let config = ServerConfig {
            first_frame_timeout: Duration::from_secs(600),
            heartbeat: HeartbeatConfig {
                interval: Duration::from_secs(600),
                misses: 3,
            },
            ..ServerConfig::default()
        };
        let server = start("tcp", config).await;
        println!("FLOOD-SERVER {}", server.addr);
        std::io::stdout().flush().expect("stdout");
        tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
        })
        .await
        .expect("stdin watcher");
        server.handle.shutdown().await;
    });
}

/// Descriptors the process `pid` holds.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// CPU time (user + system) the process `pid` has used.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // Fields after the command (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')').expect("a stat line") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // SAFETY: sysconf only reads a system value.
    let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_micros(ticks * 1_000_000 / per_sec)
}

/// The child server, killed if the test fails before it stops it.
struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_server() -> (ServerProcess, String) {
    let mut child = Command::new(std::env::current_exe().expect("this test binary"))
        .args([
            "--exact",
            "flood_server_process",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the server process starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let child = ServerProcess(child);
    let addr = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("FLOOD-SERVER ").map(str::to_owned))
        .expect("the server prints its address");
    (child, addr)
}

fn p99(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[(times.len() * 99 / 100).min(times.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_to_the_descriptor_limit_is_survived() {
    let have = raise_open_files_limit();
    if have < (FLOOD + 200) as libc::rlim_t {
        eprintln!(
            "skipped: {} open files needed, the limit is {have}",
            FLOOD + 200
        );
        return;
    }
    let (server, addr) = spawn_server();
    let pid = server.0.id();
    let good = client(&addr);
    assert_eq!(
        good.len("hello".into())
            .await
            .expect("served before the flood"),
        5
    );
    let baseline = open_fds(pid);

    // The good client calls every 10 ms for the whole flood (a paced caller, so its own
    // calls cost the server little CPU next to a spinning accept loop).
    let flooding = Arc::new(AtomicBool::new(true));
    let caller = tokio::spawn({
        let flooding = flooding.clone();
        async move {
            let mut times = Vec::new();
            while flooding.load(Ordering::Relaxed) {
                let started = Instant::now();
                let n = tokio::time::timeout(Duration::from_secs(10), good.len("during".into()))
                    .await
                    .expect("a call during the flood answered within 10 s")
                    .expect("a call during the flood succeeds");
                assert_eq!(n, 6);
                times.push(started.elapsed());
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (times, good)
        }
    });

    let flood_addr = addr.trim_start_matches("tcp://").to_owned();
    let sockets = tokio::task::spawn_blocking(move || {
        (0..FLOOD)
            .map(|_| TcpStream::connect(&flood_addr).expect("the backlog takes the connect"))
            .collect::<Vec<_>>()
    })
    .await
    .expect("flood");
    // Wait until the server holds every descriptor it may.
    let full = Instant::now();
    while open_fds(pid) < SERVER_FDS {
        assert!(
            full.elapsed() < Duration::from_secs(30),
            "the server holds {} descriptors of {SERVER_FDS} 30 s into the flood",
            open_fds(pid)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let held = open_fds(pid) - baseline;

    let cpu_before = cpu_time(pid);
    tokio::time::sleep(IDLE_WINDOW).await;
    let cpu = cpu_time(pid) - cpu_before;

    // Free the descriptors: close the flood, then time a new client's first answer.
    drop(sockets);
    let freed = Instant::now();
    let newcomer = client(&addr);
    loop {
        match tokio::time::timeout(Duration::from_secs(2), newcomer.len("back".into())).await {
            Ok(Ok(n)) => {
                assert_eq!(n, 4);
                break;
            }
            Ok(Err(_)) | Err(_) => assert!(
                freed.elapsed() < Duration::from_secs(20),
                "no new client served 20 s after the flood closed"
            ),
        }
    }
    let recovered = freed.elapsed();
    flooding.store(false, Ordering::Relaxed);
    let (times, good) = caller.await.expect("the good client's caller");
    assert_eq!(good.len("after".into()).await.expect("still served"), 5);
    let calls = times.len();
    let p99 = p99(times);
    println!(
        "flood of {FLOOD} connections against a {SERVER_FDS}-descriptor server: {held} held \
         (baseline {baseline} descriptors); server CPU {cpu:?} over {IDLE_WINDOW:?} at the limit; \
         good client {calls} calls, p99 {p99:?}; recovered (new client served) {recovered:?} \
         after the flood closed"
    );
    assert!(
        cpu < IDLE_WINDOW / 8,
        "the server used {cpu:?} of CPU in {IDLE_WINDOW:?} at its descriptor limit: the accept \
         loop spins on EMFILE"
    );
    assert!(
        p99 < Duration::from_secs(1),
        "good client's p99 {p99:?} during the flood"
    );
    assert!(
        recovered < Duration::from_secs(5),
        "recovery took {recovered:?}"
    );
    drop(server);
}
