//! The chaos soak (issue 19; RELIABILITY.md row 25): a center (redb store) and three
//! providers, each a process of its own (one inside a network namespace when this runs as
//! root), and clients in this process making unary, oneway, server-streaming and
//! bidirectional calls with known answers through discovery, each with a deadline, while a
//! scheduler injects faults at random: SIGKILL and restart a provider or the center, cut and
//! heal the namespaced provider's link, SIGSTOP/SIGCONT a provider, drop the client's
//! connections (reset or orderly close). Then a quiet phase, and the checks, printed as one
//! `soak:` line:
//! - calls: each succeeded with the right answer or failed with a status within its
//!   deadline (+ [`SLACK`]); none hung, none wrong;
//! - oneways: what PROTOCOL.md §6 promises. The client's `Ok` means "queued on a live
//!   connection", not "delivered": a frame queued on a connection that is then reset, or to
//!   a process killed or stopped before reading it, may be lost. So: every delivered id was
//!   accepted, none twice, none altered; every accepted oneway sent outside a lossy fault's
//!   window (a provider killed, stopped or cut off, connections reset; a center restart is
//!   not one) was delivered; and in the quiet phase every accepted one was. Providers append
//!   each id to a file with one write(2) as the handler runs, which a SIGKILL does not undo;
//! - discovery, seen by two watchers of the center (one resuming its watch every few
//!   seconds): revisions consecutive (gapless, in order) across reconnects and center
//!   restarts, both saw the same change at each revision, neither had to list again; no
//!   instance removed unless it was killed, stopped past its TTL or cut off; every killed
//!   incarnation gone from the list within TTL + sweep of its kill (or of the center's
//!   return, whose restart grants every lease a full TTL);
//! - resources: the center's, a provider's (never killed) and this process's descriptors,
//!   threads (tasks here) and RSS back near their baselines.
//!
//! `ERPC_SOAK_SECS` sets the duration of the chaos (default 120 s, CI's budget; at least
//! 30 s, [`MIN_CHAOS`], so that each of the seven fault kinds fits: kill provider, kill
//! center, cut link (only as root, with the namespace), short stop, long stop, reset
//! connections, close connections); `ERPC_SOAK_SEED` replays a run's fault schedule (the
//! seed is printed first; unset, it is random).
//!
//! A soak killed midway (SIGKILL, so no `Drop` runs) leaves nothing running: its children
//! get SIGKILL when it dies (`PR_SET_PDEATHSIG`), and the next run deletes what it left on
//! disk (its temp dir, `erpc-soak-PID-*`) and in the network (its namespace and link).

mod support;

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use erpc_center::{CenterClient, CenterRegistry, Change, Filter};
use erpc_core::client::{Attempt, AttemptService};
use erpc_core::discovery::Instance;
use erpc_core::{ClientConfig, Code, HeartbeatConfig, ServerStream, Status, Streaming};
use futures_util::StreamExt;
use support::process::{CenterProcess, spawn_center, spawn_test_process};
use tokio::process::Child;
use tokio::time::Instant;
use tower::ServiceExt;

/// The shortest chaos `ERPC_SOAK_SECS` may ask for: seven owed faults, 1–3 s apart, some
/// retried while their target is busy, and the center's kill within the first 60%.
const MIN_CHAOS: Duration = Duration::from_secs(30);
/// What an unset `ERPC_SOAK_SECS` / `ERPC_SOAK_SEED` gives, for their errors.
const SECS_UNSET: &str = "for the default 120 s";
const SEED_UNSET: &str = "for a random seed";

/// Providers' leases.
const TTL: Duration = Duration::from_secs(2);
/// The center's sweep of expired leases.
const SWEEP: Duration = Duration::from_millis(100);
/// Deadline of each unary and oneway call.
const UNARY_DEADLINE: Duration = Duration::from_secs(3);
/// Deadline of each stream (the whole call).
const STREAM_DEADLINE: Duration = Duration::from_secs(5);
/// How late past its deadline a failure may come on a loaded machine.
const SLACK: Duration = Duration::from_secs(1);
/// A call still running this long after its deadline has hung.
const HUNG: Duration = Duration::from_secs(10);
/// The clients' heartbeats: a stopped or cut-off provider's connection is dropped after
/// three silent half-seconds.
const HEARTBEAT: Duration = Duration::from_millis(500);

#[erpc_macros::service(crate = "erpc_core")]
pub trait Soak {
    /// `(seq, text)` back as `(seq, text reversed)`.
    async fn echo(&self, seq: u64, text: String) -> Result<(u64, String), Status>;
    /// Records `id` in the provider's oneway file when `check` is `check_of(id)`.
    #[oneway]
    async fn note(&self, id: u64, check: u64);
    /// `from`, `from + 1`, … `from + n - 1`.
    async fn count(&self, from: u64, n: u64) -> Result<ServerStream<u64>, Status>;
    /// Each number back doubled, as it arrives.
    async fn double(&self, numbers: Streaming<u64>) -> Result<ServerStream<u64>, Status>;
}

/// What a oneway carries besides its id, so that an altered one is noticed.
fn check_of(id: u64) -> u64 {
    id.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5eed
}

fn reversed(text: &str) -> String {
    text.chars().rev().collect()
}

/// A provider: its oneways go to an append-only file, one write(2) per id.
struct Provider(Mutex<std::fs::File>);

impl Soak for Provider {
    async fn echo(&self, seq: u64, text: String) -> Result<(u64, String), Status> {
        Ok((seq, reversed(&text)))
    }

    async fn note(&self, id: u64, check: u64) {
        let line = if check == check_of(id) {
            format!("{id}\n")
        } else {
            format!("bad {id} {check}\n")
        };
        let mut file = self.0.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(line.as_bytes())
            .expect("the oneway file is writable");
    }

    async fn count(&self, from: u64, n: u64) -> Result<ServerStream<u64>, Status> {
        Ok(ServerStream::new(futures_util::stream::iter(
            (from..from + n).map(Ok),
        )))
    }

    async fn double(&self, numbers: Streaming<u64>) -> Result<ServerStream<u64>, Status> {
        Ok(ServerStream::new(numbers.map(|n| n.map(|n| n * 2))))
    }
}

const PROVIDER_ENV: &str = "ERPC_SOAK_PROVIDER";
const READY: &str = "soak-provider ready";

/// The provider process (see [`spawn_provider`]); returns at once when the test binary was
/// not started as one.
#[test]
#[ignore = "not a test: the provider process that the soak starts"]
fn soak_provider_process() {
    let Ok(spec) = std::env::var(PROVIDER_ENV) else {
        return;
    };
    // center address, id, listen address, oneway file
    let parts: Vec<&str> = spec.split('|').collect();
    let [center, id, listen, file] = parts[..] else {
        panic!("bad {PROVIDER_ENV} {spec:?}");
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .expect("the oneway file opens");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let registry = CenterRegistry::new([center])
            .expect("center address")
            .ttl(TTL);
        let server = erpc_core::Server::builder()
            .add_service(SoakServer::new(Provider(Mutex::new(file))))
            .register(
                Arc::new(registry),
                Instance {
                    id: id.into(),
                    ..Instance::default()
                },
            )
            .serve([listen])
            .await
            .expect("the provider serves and registers");
        println!("{READY} {}", server.local_addr());
        std::future::pending::<()>().await;
    });
}

/// A provider process, one incarnation.
struct Incarnation {
    child: Child,
    addr: String,
    pid: u32,
}

/// One of the three providers.
struct Slot {
    id: String,
    /// In the network namespace (its link can be cut).
    netns: bool,
    /// Never killed: its resources are measured.
    long_lived: bool,
    /// A fault is being done to it (one at a time).
    busy: AtomicBool,
    now: tokio::sync::Mutex<Incarnation>,
    incarnations: AtomicU32,
}

/// What was done, when (from the start of the soak).
#[derive(Debug, Clone)]
struct Fault {
    kind: &'static str,
    target: String,
    start: Duration,
    end: Duration,
    /// The killed incarnation's address.
    old_addr: Option<String>,
    /// Oneways accepted around it may be lost (PROTOCOL.md §6).
    lossy: bool,
    /// It may take the target's registration away.
    unhealthy: bool,
}

struct World {
    start: Instant,
    /// Where everyone but the namespaced provider reaches the center.
    local: String,
    /// Where the namespaced provider reaches it.
    across: Option<String>,
    center_listen: String,
    center_args: Vec<String>,
    /// Write-locked while the center is down; provider restarts read-lock it (a provider
    /// must register as it starts).
    center: tokio::sync::RwLock<CenterProcess>,
    center_pid: AtomicU32,
    slots: Vec<Slot>,
    ns: Option<support::netns::Netns>,
    dir: PathBuf,
    faults: Mutex<Vec<Fault>>,
    /// Attempts whose connection the client's layer resets.
    resets: Arc<AtomicU32>,
    client: erpc_core::Client,
}

impl World {
    fn since(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.start)
    }

    fn record(&self, fault: Fault) {
        self.faults.lock().unwrap().push(fault);
    }
}

/// Start incarnation `n` of provider `slot` and wait until it is registered.
async fn spawn_provider(
    local: &str,
    across: Option<&str>,
    ns: Option<&support::netns::Netns>,
    dir: &Path,
    id: &str,
    n: u32,
) -> Incarnation {
    let (center, listen, netns) = match (ns, across) {
        (Some(ns), Some(across)) => (across, format!("tcp://{}:0", ns.ns_ip), Some(&ns.name)),
        _ => (local, "tcp://127.0.0.1:0".to_owned(), None),
    };
    let file = dir.join(format!("oneways-{id}-{n}"));
    let spec = format!("{center}|{id}|{listen}|{}", file.display());
    let (child, addr) = spawn_test_process(
        netns.map(String::as_str),
        "soak_provider_process",
        &[(PROVIDER_ENV, spec)],
        READY,
    )
    .await;
    let pid = child.id().expect("the provider runs");
    Incarnation { child, addr, pid }
}

async fn restart(world: &World, slot: &Slot) -> Incarnation {
    let _center_up = world.center.read().await;
    let n = slot.incarnations.fetch_add(1, Ordering::SeqCst) + 1;
    let ns = if slot.netns { world.ns.as_ref() } else { None };
    spawn_provider(
        &world.local,
        world.across.as_deref(),
        ns,
        &world.dir,
        &slot.id,
        n,
    )
    .await
}

/// SIGKILL a provider, leave it down for `down`, start it again.
async fn kill_provider(world: Arc<World>, i: usize, down: Duration) {
    let slot = &world.slots[i];
    let mut now = slot.now.lock().await;
    let old_addr = now.addr.clone();
    let start = world.since(Instant::now());
    now.child.start_kill().expect("SIGKILL");
    let _ = now.child.wait().await;
    tokio::time::sleep(down).await;
    *now = restart(&world, slot).await;
    world.record(Fault {
        kind: "kill provider",
        target: slot.id.clone(),
        start,
        end: world.since(Instant::now()),
        old_addr: Some(old_addr),
        lossy: true,
        unhealthy: true,
    });
}

/// SIGSTOP a provider for `stopped`; longer than a third of the TTL may cost it its lease.
async fn stop_provider(world: Arc<World>, i: usize, stopped: Duration) {
    let slot = &world.slots[i];
    let now = slot.now.lock().await;
    let start = world.since(Instant::now());
    support::process::child::signal(&now.child, "STOP");
    tokio::time::sleep(stopped).await;
    support::process::child::signal(&now.child, "CONT");
    world.record(Fault {
        kind: if stopped > TTL / 3 {
            "long stop"
        } else {
            "short stop"
        },
        target: slot.id.clone(),
        start,
        end: world.since(Instant::now()),
        old_addr: None,
        // A short stop is over well before the client's heartbeats would drop the
        // connection: what was queued to it is read once it runs again.
        lossy: stopped > TTL / 3,
        unhealthy: stopped > TTL / 3,
    });
}

/// SIGKILL the center, leave it down for `down`, start it again on its store.
async fn kill_center(world: Arc<World>, down: Duration) {
    let mut center = world.center.write().await;
    let start = world.since(Instant::now());
    center.child.start_kill().expect("SIGKILL");
    let _ = center.child.wait().await;
    tokio::time::sleep(down).await;
    let args: Vec<&str> = world.center_args.iter().map(String::as_str).collect();
    *center = spawn_center(&world.center_listen, &args).await;
    world
        .center_pid
        .store(center.child.id().expect("runs"), Ordering::SeqCst);
    world.record(Fault {
        kind: "kill center",
        target: "center".into(),
        start,
        end: world.since(Instant::now()),
        old_addr: None,
        lossy: false,
        unhealthy: false,
    });
}

/// Cut the namespaced provider's link for `cut`.
async fn cut_link(world: Arc<World>, i: usize, cut: Duration) {
    let Some(ns) = &world.ns else { return };
    let start = world.since(Instant::now());
    ns.cut();
    tokio::time::sleep(cut).await;
    ns.heal();
    world.record(Fault {
        kind: "cut link",
        target: world.slots[i].id.clone(),
        start,
        end: world.since(Instant::now()),
        old_addr: None,
        lossy: true,
        unhealthy: true,
    });
}

/// Drop the client's connections: reset the next three attempts' (`Attempt::
/// abort_connection`), or close them all in order (`Client::close`).
async fn drop_connections(world: Arc<World>, reset: bool) {
    let start = world.since(Instant::now());
    if reset {
        world.resets.store(3, Ordering::SeqCst);
    } else {
        world.client.close();
    }
    world.record(Fault {
        kind: if reset {
            "reset connections"
        } else {
            "close connections"
        },
        target: "client".into(),
        start,
        end: start,
        old_addr: None,
        lossy: reset,
        unhealthy: false,
    });
}

/// The client's attempt layer that resets connections on demand.
fn resetter(
    resets: Arc<AtomicU32>,
) -> impl erpc_core::layer::ErasableLayer<Attempt, erpc_core::ClientResponse> {
    tower::layer::layer_fn(move |inner: AttemptService| {
        let resets = resets.clone();
        tower::service_fn(move |attempt: Attempt| {
            let take = resets
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if take {
                attempt.abort_connection();
            }
            inner.clone().oneshot(attempt)
        })
    })
}

/// Outcomes of one kind of call.
#[derive(Default, Debug)]
struct Tally {
    ok: u64,
    failed_in_time: u64,
    late: Vec<String>,
    hung: u64,
    wrong: Vec<String>,
    codes: BTreeMap<String, u64>,
}

impl Tally {
    /// Count a call that took `took` under `deadline` and ended with `outcome`: `Ok(None)`
    /// right, `Ok(Some(what))` wrong, `Err(status)` failed; `None` when it hung.
    fn note(
        &mut self,
        deadline: Duration,
        took: Duration,
        outcome: Option<Result<Option<String>, Status>>,
    ) {
        match outcome {
            None => self.hung += 1,
            Some(Ok(None)) => self.ok += 1,
            Some(Ok(Some(wrong))) => self.wrong.push(wrong),
            Some(Err(status)) => {
                *self
                    .codes
                    .entry(format!("{:?}", status.code()))
                    .or_default() += 1;
                if took <= deadline + SLACK {
                    self.failed_in_time += 1;
                } else {
                    self.late.push(format!("{status} after {took:?}"));
                }
            }
        }
    }

    fn calls(&self) -> u64 {
        self.ok + self.failed_in_time + self.late.len() as u64 + self.hung + self.wrong.len() as u64
    }
}

/// Run `call` under a guard that notices a hang, and count it.
async fn timed<F>(tally: &Mutex<Tally>, deadline: Duration, call: F)
where
    F: Future<Output = Result<Option<String>, Status>>,
{
    let started = Instant::now();
    let outcome = tokio::time::timeout(deadline + HUNG, call).await.ok();
    tally
        .lock()
        .unwrap()
        .note(deadline, started.elapsed(), outcome);
}

struct Load {
    unary: Mutex<Tally>,
    oneway: Mutex<Tally>,
    server_stream: Mutex<Tally>,
    bidi: Mutex<Tally>,
    /// Oneways the client saw accepted, with when they were sent.
    accepted: Mutex<Vec<(u64, Duration)>>,
    next_id: AtomicU64,
}

impl Load {
    fn tallies(&self) -> [(&'static str, &Mutex<Tally>); 4] {
        [
            ("unary", &self.unary),
            ("oneway", &self.oneway),
            ("server stream", &self.server_stream),
            ("bidi stream", &self.bidi),
        ]
    }

    /// The ids of the oneways the client saw accepted.
    fn accepted_ids(&self) -> HashSet<u64> {
        let accepted = self.accepted.lock().unwrap();
        accepted.iter().map(|(id, _)| *id).collect()
    }

    fn new() -> Load {
        Load {
            unary: Mutex::default(),
            oneway: Mutex::default(),
            server_stream: Mutex::default(),
            bidi: Mutex::default(),
            accepted: Mutex::default(),
            next_id: AtomicU64::new(1),
        }
    }
}

async fn one_unary(client: &SoakClient, load: &Load, seq: u64) {
    let text = format!("m{seq}-{}", seq % 977);
    timed(&load.unary, UNARY_DEADLINE, async {
        let (back, answer) = client
            .echo(seq, text.clone())
            .timeout(UNARY_DEADLINE)
            .await?;
        Ok((back != seq || answer != reversed(&text))
            .then(|| format!("echo {seq} {text:?} gave {back} {answer:?}")))
    })
    .await;
}

async fn one_oneway(world: &World, client: &SoakClient, load: &Load) {
    let id = load.next_id.fetch_add(1, Ordering::SeqCst);
    let sent = world.since(Instant::now());
    let mut accepted = false;
    timed(&load.oneway, UNARY_DEADLINE, async {
        client
            .note(id, check_of(id))
            .timeout(UNARY_DEADLINE)
            .await?;
        accepted = true;
        Ok(None)
    })
    .await;
    if accepted {
        load.accepted.lock().unwrap().push((id, sent));
    }
}

async fn one_server_stream(client: &SoakClient, load: &Load, from: u64) {
    let n = 40;
    timed(&load.server_stream, STREAM_DEADLINE, async {
        let mut numbers = client.count(from, n).timeout(STREAM_DEADLINE).await?;
        let mut got = Vec::new();
        while let Some(x) = numbers.message().await? {
            got.push(x);
        }
        let want: Vec<u64> = (from..from + n).collect();
        Ok((got != want).then(|| format!("count({from}, {n}) gave {got:?}")))
    })
    .await;
}

async fn one_bidi(client: &SoakClient, load: &Load, from: u64) {
    let n = 20;
    timed(&load.bidi, STREAM_DEADLINE, async {
        let mut doubled = client
            .double(futures_util::stream::iter(from..from + n))
            .timeout(STREAM_DEADLINE)
            .await?;
        let mut got = Vec::new();
        while let Some(x) = doubled.message().await? {
            got.push(x);
        }
        let want: Vec<u64> = (from..from + n).map(|x| x * 2).collect();
        Ok((got != want).then(|| format!("double({from}..+{n}) gave {got:?}")))
    })
    .await;
}

/// The four kinds of calls in loops until `stop`.
fn start_load(
    world: &Arc<World>,
    client: &SoakClient,
    load: &Arc<Load>,
    stop: &Arc<AtomicBool>,
) -> tokio::task::JoinSet<()> {
    let mut tasks = tokio::task::JoinSet::new();
    for kind in 0..4u64 {
        let (world, client, load, stop) =
            (world.clone(), client.clone(), load.clone(), stop.clone());
        tasks.spawn(async move {
            let mut seq = 0u64;
            while !stop.load(Ordering::SeqCst) {
                seq += 1;
                match kind {
                    0 => one_unary(&client, &load, seq).await,
                    1 => one_oneway(&world, &client, &load).await,
                    2 => one_server_stream(&client, &load, seq * 1000).await,
                    _ => one_bidi(&client, &load, seq * 1000).await,
                }
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
        });
    }
    tasks
}

/// One subscriber's view of the center.
#[derive(Default, Debug)]
struct Watched {
    /// Each change as it arrived: when, revision, what.
    events: Vec<(Duration, u64, Change)>,
    /// Revisions that did not follow the previous one.
    gaps: Vec<String>,
    /// Times it was told to list again (`out_of_range`).
    relists: u32,
    /// Watches opened (the first and each resumption).
    opened: u32,
    /// The list it follows: id → address.
    list: BTreeMap<String, String>,
}

fn first_addr(instance: &Instance) -> String {
    instance.addrs.first().cloned().unwrap_or_default()
}

/// Follow every instance change on the center, resuming from the last revision after each
/// disconnect (and every `resume_every`, if given), until `stop`.
async fn watcher(
    world: Arc<World>,
    resume_every: Option<Duration>,
    seen: Arc<Mutex<Watched>>,
    stop: Arc<AtomicBool>,
) {
    let center = CenterClient::new(
        erpc_core::Client::builder()
            .backoff(Duration::from_millis(50), Duration::from_millis(250))
            .timeout(Duration::from_secs(2))
            .build(world.local.as_str())
            .expect("the center's address"),
    );
    let (mut revision, mut epoch) = (0u64, 0u64);
    let mut listed = false;
    while !stop.load(Ordering::SeqCst) {
        if !listed {
            match center.discover("Soak".into(), Filter::default()).await {
                Ok(listing) => {
                    let mut s = seen.lock().unwrap();
                    s.list = listing
                        .instances
                        .iter()
                        .map(|i| (i.id.clone(), first_addr(i)))
                        .collect();
                    (revision, epoch, listed) = (listing.revision, listing.epoch, true);
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
            continue;
        }
        let mut stream = match center.watch(String::new(), revision, epoch).await {
            Ok(stream) => stream,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        seen.lock().unwrap().opened += 1;
        let until = resume_every.map(|d| Instant::now() + d);
        loop {
            let next = async {
                match until {
                    Some(at) => tokio::time::timeout_at(at, stream.message()).await.ok(),
                    None => Some(stream.message().await),
                }
            };
            let next = tokio::select! {
                next = next => next,
                () = stopped(&stop) => None,
            };
            let Some(next) = next else { break };
            match next {
                Ok(Some(event)) => {
                    let at = world.since(Instant::now());
                    let mut s = seen.lock().unwrap();
                    if event.revision != revision + 1 {
                        s.gaps.push(format!("{} after {revision}", event.revision));
                    }
                    revision = event.revision;
                    match &event.change {
                        Change::Registered(i) => {
                            s.list.insert(i.id.clone(), first_addr(i));
                        }
                        Change::Deregistered { id, .. } => {
                            s.list.remove(id);
                        }
                        _ => {}
                    }
                    s.events.push((at, event.revision, event.change));
                }
                Err(status) if status.code() == Code::OutOfRange => {
                    seen.lock().unwrap().relists += 1;
                    listed = false;
                    break;
                }
                Ok(None) | Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    break;
                }
            }
        }
    }
}

/// Resolves once `stop` is set.
async fn stopped(stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A process's descriptors, threads and resident memory (KiB), from /proc.
#[derive(Debug, Clone, Copy)]
struct Usage {
    fds: usize,
    threads: usize,
    rss_kib: u64,
}

fn usage(pid: u32) -> Usage {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Usage {
        fds,
        threads: field("Threads:") as usize,
        rss_kib: field("VmRSS:"),
    }
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

fn secs(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64())
}

/// The fault kinds, by the number the scheduler draws; each is owed once per run (a link is
/// cut only with a namespace), so [`missing_kinds`] requires all of them.
const KINDS: [&str; 7] = [
    "kill provider",
    "kill center",
    "cut link",
    "short stop",
    "long stop",
    "reset connections",
    "close connections",
];
const KILL_CENTER: usize = 1;
const CUT_LINK: usize = 2;

/// The owed kinds in the order they are to be drawn, the next last (it is popped): a
/// shuffle, but the center's kill first, since it is only allowed early in the run.
fn owed_kinds(rng: &mut fastrand::Rng, with_netns: bool) -> Vec<usize> {
    let mut owed: Vec<usize> = (0..KINDS.len())
        .filter(|&k| k != KILL_CENTER && (k != CUT_LINK || with_netns))
        .collect();
    rng.shuffle(&mut owed);
    owed.push(KILL_CENTER);
    owed
}

/// The scheduler: a fault every 1–3 s, chosen at random among those whose target is free,
/// until `until` (the center is killed only before `center_until`); then wait until every
/// fault has healed.
async fn inject(world: Arc<World>, rng: &mut fastrand::Rng, until: Instant, center_until: Instant) {
    let mut faults = tokio::task::JoinSet::new();
    let ns_slot = world.slots.iter().position(|s| s.netns);
    let center_busy = Arc::new(AtomicBool::new(false));
    // Every kind of fault happens in every run, whatever the seed: the first draws go through
    // the owed kinds (see `owed_kinds`); an owed kind that cannot be injected now (its target
    // busy, or the center's window over) gives way to the next owed one, so none blocks the
    // others. Once none is owed, the draws are free.
    let mut owed = owed_kinds(rng, ns_slot.is_some());
    // On a loaded machine the owed kinds may not all fit in the chaos: the draws go on past
    // `until` (for at most another [`MIN_CHAOS`]) while one that can still run is owed.
    let owing = |owed: &[usize]| owed.iter().any(|&k| k != KILL_CENTER);
    while Instant::now() < until || (owing(&owed) && Instant::now() < until + MIN_CHAOS) {
        tokio::time::sleep(Duration::from_millis(rng.u64(1_000..3_000))).await;
        let candidates: Vec<usize> = if owed.is_empty() {
            // One draw in eight injects nothing: a pause.
            vec![rng.usize(..KINDS.len() + 1)]
        } else {
            owed.iter().rev().copied().collect()
        };
        for kind in candidates {
            let injected = inject_one(
                &world,
                rng,
                &mut faults,
                kind,
                ns_slot,
                &center_busy,
                Instant::now() < center_until,
            );
            if injected {
                owed.retain(|&k| k != kind);
                break;
            }
        }
    }
    while let Some(done) = faults.join_next().await {
        done.expect("a fault task panicked");
    }
}

/// Start a fault of `kind` (an index into [`KINDS`]) if its target is free; whether it did.
fn inject_one(
    world: &Arc<World>,
    rng: &mut fastrand::Rng,
    faults: &mut tokio::task::JoinSet<()>,
    kind: usize,
    ns_slot: Option<usize>,
    center_busy: &Arc<AtomicBool>,
    center_allowed: bool,
) -> bool {
    let w = world.clone();
    let i = rng.usize(..w.slots.len());
    let claim = |i: usize| {
        w.slots[i]
            .busy
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    };
    let free = |i: usize, w: &Arc<World>| w.slots[i].busy.store(false, Ordering::SeqCst);
    // A provider kill never takes the long-lived provider: it picks another.
    let i = if kind == 0 && w.slots[i].long_lived {
        (i + 1) % w.slots.len()
    } else {
        i
    };
    match kind {
        0 if !w.slots[i].long_lived && claim(i) => {
            let down = Duration::from_millis(rng.u64(300..3_000));
            faults.spawn(async move {
                kill_provider(w.clone(), i, down).await;
                free(i, &w);
            });
            true
        }
        KILL_CENTER
            if center_allowed
                && center_busy
                    .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok() =>
        {
            let down = Duration::from_millis(rng.u64(300..3_000));
            let busy = center_busy.clone();
            faults.spawn(async move {
                kill_center(w, down).await;
                busy.store(false, Ordering::SeqCst);
            });
            true
        }
        CUT_LINK if ns_slot.is_some_and(claim) => {
            let i = ns_slot.unwrap_or_default();
            let cut = Duration::from_millis(rng.u64(1_000..5_000));
            faults.spawn(async move {
                cut_link(w.clone(), i, cut).await;
                free(i, &w);
            });
            true
        }
        // Short (kept registered) or past the TTL (evicted, then registered again).
        3 | 4 if claim(i) => {
            let stopped = if kind == 3 {
                Duration::from_millis(rng.u64(100..500))
            } else {
                Duration::from_millis(rng.u64(2_500..4_000))
            };
            faults.spawn(async move {
                stop_provider(w.clone(), i, stopped).await;
                free(i, &w);
            });
            true
        }
        5 | 6 => {
            faults.spawn(drop_connections(w, kind == 5));
            true
        }
        _ => false,
    }
}

/// The fault kinds every run must have injected: all of [`KINDS`] (a link is cut only with
/// a namespace).
fn missing_kinds(kinds: &BTreeMap<&str, u32>, with_netns: bool) -> Vec<&'static str> {
    KINDS
        .iter()
        .copied()
        .filter(|k| (*k != KINDS[CUT_LINK] || with_netns) && !kinds.contains_key(k))
        .collect()
}

/// A whole number from the environment variable `name`, or `None` when it is unset; a value
/// that is not one stops the test naming the variable and what unsetting it gives
/// (`when_unset`, e.g. "for the default 120 s").
fn env_number(name: &str, when_unset: &str) -> Option<u64> {
    let value = match std::env::var(name) {
        Ok(text) => Some(text),
        Err(std::env::VarError::NotPresent) => None,
        Err(e) => panic!("{name}: {e}"),
    };
    number_from(name, value.as_deref(), when_unset).unwrap_or_else(|e| panic!("{e}"))
}

fn number_from(name: &str, value: Option<&str>, when_unset: &str) -> Result<Option<u64>, String> {
    value
        .map(|text| {
            text.trim().parse().map_err(|e| {
                format!("{name}={text:?} is not a whole non-negative number ({e}); unset it {when_unset}")
            })
        })
        .transpose()
}

#[test]
fn a_bad_soak_variable_is_named() {
    let secs = |v| number_from("ERPC_SOAK_SECS", v, SECS_UNSET);
    assert_eq!(secs(None), Ok(None));
    assert_eq!(secs(Some(" 1800 ")), Ok(Some(1800)));
    let bad = secs(Some("30m")).unwrap_err();
    assert!(
        bad.starts_with("ERPC_SOAK_SECS=\"30m\" is not a whole"),
        "{bad}"
    );
    assert!(bad.ends_with("unset it for the default 120 s"), "{bad}");
    // Unset, the seed is random, not 0: the error must not promise a default.
    let bad = number_from("ERPC_SOAK_SEED", Some("-3"), SEED_UNSET).unwrap_err();
    assert!(
        bad.starts_with("ERPC_SOAK_SEED=\"-3\" is not a whole"),
        "{bad}"
    );
    assert!(bad.ends_with("unset it for a random seed"), "{bad}");
}

#[test]
fn every_fault_kind_is_required() {
    let mut kinds = BTreeMap::new();
    for k in ["kill provider", "long stop", "reset connections"] {
        kinds.insert(k, 1);
    }
    let without_link = vec!["kill center", "short stop", "close connections"];
    assert_eq!(missing_kinds(&kinds, false), without_link);
    assert_eq!(
        missing_kinds(&kinds, true),
        vec!["kill center", "cut link", "short stop", "close connections"]
    );
    // One of a pair does not stand for the other.
    kinds.insert("kill center", 2);
    kinds.insert("short stop", 1);
    assert_eq!(missing_kinds(&kinds, false), vec!["close connections"]);
    kinds.insert("close connections", 1);
    assert!(missing_kinds(&kinds, false).is_empty());
    assert_eq!(missing_kinds(&kinds, true), vec!["cut link"]);
}

#[test]
fn owed_kinds_draw_the_center_kill_first() {
    for seed in [0, 1, 2175216119781798972] {
        let mut rng = fastrand::Rng::with_seed(seed);
        for with_netns in [false, true] {
            let owed = owed_kinds(&mut rng, with_netns);
            assert_eq!(owed.last(), Some(&KILL_CENTER), "seed {seed}: {owed:?}");
            let mut sorted = owed.clone();
            sorted.sort();
            let all: Vec<usize> = (0..KINDS.len())
                .filter(|&k| k != CUT_LINK || with_netns)
                .collect();
            assert_eq!(sorted, all, "seed {seed}");
        }
    }
}

/// How a soak's temp dir is named: this, its PID, a dash, random letters.
const DIR_PREFIX: &str = "erpc-soak-";

/// The soak temp dirs in `root` whose run is gone (no process of their PID): a soak killed
/// before its `TempDir` dropped leaves its dir (center store, oneway files) behind.
fn dead_runs_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let pid = name
                .to_str()
                .and_then(|n| n.strip_prefix(DIR_PREFIX))
                .and_then(|rest| rest.split_once('-'))
                .and_then(|(pid, _)| pid.parse::<u32>().ok());
            pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        })
        .map(|entry| entry.path())
        .collect()
}

/// Delete the soak temp dirs in `root` of runs that are gone; returns those it deleted. The
/// caller says so: the soak does, its test of this does not (its printing a made-up dead
/// run's dir read, in the soak's output, as if a real one had been found).
fn sweep_dead_runs_dirs(root: &Path) -> Vec<PathBuf> {
    let dead = dead_runs_dirs(root);
    for dir in &dead {
        let _ = std::fs::remove_dir_all(dir);
    }
    dead
}

#[test]
fn dirs_of_killed_soaks_are_swept() {
    let root = tempfile::tempdir().unwrap();
    let me = std::process::id();
    let dead = root.path().join(format!("{DIR_PREFIX}4294967295-abc"));
    let mine = root.path().join(format!("{DIR_PREFIX}{me}-xyz"));
    let other = root.path().join("erpc-soak-notapid-1");
    for d in [&dead, &mine, &other] {
        std::fs::create_dir_all(d.join("center")).unwrap();
    }
    assert_eq!(dead_runs_dirs(root.path()), vec![dead.clone()]);
    assert_eq!(sweep_dead_runs_dirs(root.path()), vec![dead.clone()]);
    assert!(!dead.exists());
    assert!(mine.exists() && other.exists());
}

/// Whether `t` falls in a lossy fault's window: from half a second before it began to
/// `after` past its end (a reset's or kill's at once; a stopped or cut-off provider's
/// connection may be dropped by heartbeats up to 1.5 s after it returns).
fn in_lossy_window(faults: &[Fault], t: Duration) -> bool {
    faults.iter().filter(|f| f.lossy).any(|f| {
        let after = match f.kind {
            "reset connections" => Duration::from_millis(1_500),
            "kill provider" => Duration::from_millis(1_500),
            _ => Duration::from_secs(3),
        };
        let from = f.start.saturating_sub(Duration::from_millis(500));
        let to = if f.kind == "kill provider" {
            f.start + after
        } else {
            f.end + after
        };
        (from..=to).contains(&t)
    })
}

/// When the center was last back up at or before `t` (after `since`), if it restarted.
fn center_back(faults: &[Fault], since: Duration, t: Duration) -> Option<Duration> {
    faults
        .iter()
        .filter(|f| f.kind == "kill center" && f.end >= since && f.end <= t)
        .map(|f| f.end)
        .max()
}

/// Ids delivered to every provider incarnation, and the altered ones.
fn delivered(dir: &Path) -> (Vec<u64>, Vec<String>) {
    let (mut ids, mut bad) = (Vec::new(), Vec::new());
    for entry in std::fs::read_dir(dir)
        .expect("the oneway directory")
        .flatten()
    {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for line in text.lines() {
            match line.parse::<u64>() {
                Ok(id) => ids.push(id),
                Err(_) => bad.push(line.to_owned()),
            }
        }
    }
    (ids, bad)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_soak() {
    let chaos = Duration::from_secs(env_number("ERPC_SOAK_SECS", SECS_UNSET).unwrap_or(120));
    assert!(
        chaos >= MIN_CHAOS,
        "ERPC_SOAK_SECS={} is too short: every kind of fault must fit in the chaos (at least {} s)",
        chaos.as_secs(),
        MIN_CHAOS.as_secs()
    );
    let seed = env_number("ERPC_SOAK_SEED", SEED_UNSET).unwrap_or_else(|| fastrand::u64(..));
    eprintln!(
        "soak: {} s of chaos, seed {seed} (replay: ERPC_SOAK_SEED={seed})",
        chaos.as_secs()
    );
    let mut rng = fastrand::Rng::with_seed(seed);

    for dir in sweep_dead_runs_dirs(&std::env::temp_dir()) {
        eprintln!(
            "soak: deleted {}, left by a run that is gone",
            dir.display()
        );
    }
    let dir = tempfile::Builder::new()
        .prefix(&format!("{DIR_PREFIX}{}-", std::process::id()))
        .tempdir()
        .unwrap();
    let oneways = dir.path().join("oneways");
    std::fs::create_dir(&oneways).unwrap();
    let data = dir.path().join("center");
    let port = support::etcd::free_port();
    let ns = support::netns::permitted().then(|| support::netns::Netns::create(9));
    if ns.is_none() {
        eprintln!("soak: not root, so no network namespace: no link is cut");
    }
    let center_listen = format!("tcp://0.0.0.0:{port}");
    let local = format!("tcp://127.0.0.1:{port}");
    let across = ns.as_ref().map(|ns| format!("tcp://{}:{port}", ns.host_ip));
    let center_args: Vec<String> = [
        "--data-dir",
        data.to_str().unwrap(),
        "--min-ttl-ms",
        "100",
        "--sweep-ms",
        &SWEEP.as_millis().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let args: Vec<&str> = center_args.iter().map(String::as_str).collect();
    let center = spawn_center(&center_listen, &args).await;
    let center_pid = center.child.id().unwrap();

    let mut slots = Vec::new();
    for (k, id) in ["p0", "p1", "p2"].into_iter().enumerate() {
        let netns = k == 2 && ns.is_some();
        let now = spawn_provider(
            &local,
            across.as_deref(),
            if netns { ns.as_ref() } else { None },
            &oneways,
            id,
            0,
        )
        .await;
        slots.push(Slot {
            id: id.into(),
            netns,
            long_lived: k == 0,
            busy: AtomicBool::new(false),
            now: tokio::sync::Mutex::new(now),
            incarnations: AtomicU32::new(0),
        });
    }

    let registry = CenterRegistry::new([local.as_str()]).unwrap();
    let resets = Arc::new(AtomicU32::new(0));
    let raw = erpc_core::Client::builder()
        .config(ClientConfig {
            heartbeat: HeartbeatConfig {
                interval: HEARTBEAT,
                misses: 3,
            },
            connect_timeout: Duration::from_secs(1),
            ..ClientConfig::default()
        })
        .attempt_layer(resetter(resets.clone()))
        .discover(&registry, "Soak")
        .await
        .unwrap();
    let client = SoakClient::new(raw.clone());
    let world = Arc::new(World {
        start: Instant::now(),
        local: local.clone(),
        across,
        center_listen,
        center_args,
        center: tokio::sync::RwLock::new(center),
        center_pid: AtomicU32::new(center_pid),
        slots,
        ns,
        dir: oneways.clone(),
        faults: Mutex::default(),
        resets,
        client: raw,
    });

    // Settle: everyone listed, every provider answering; then the baselines.
    support::list_reaches_service(&registry, "Soak", 3, Duration::from_secs(10)).await;
    let stop_watch = Arc::new(AtomicBool::new(false));
    let watched: [Arc<Mutex<Watched>>; 2] = Default::default();
    let watchers: Vec<_> = [None, Some(Duration::from_secs(3))]
        .into_iter()
        .zip(watched.iter())
        .map(|(every, seen)| {
            tokio::spawn(watcher(
                world.clone(),
                every,
                seen.clone(),
                stop_watch.clone(),
            ))
        })
        .collect();
    let warm = Arc::new(Load::new());
    for seq in 0..30 {
        one_unary(&client, &warm, seq).await;
    }
    assert_eq!(warm.unary.lock().unwrap().ok, 30, "{:?}", warm.unary);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let p0_pid = world.slots[0].now.lock().await.pid;
    let base = (
        usage(center_pid),
        usage(p0_pid),
        usage(std::process::id()),
        alive_tasks(),
    );

    // Chaos: the load runs while faults come and go; the center is killed only in the first
    // 60% of it, so that its last incarnation lives long enough for its resources to mean
    // something.
    let load = Arc::new(Load::new());
    let stop_load = Arc::new(AtomicBool::new(false));
    let mut tasks = start_load(&world, &client, &load, &stop_load);
    let chaos_end = Instant::now() + chaos;
    inject(
        world.clone(),
        &mut rng,
        chaos_end,
        Instant::now() + chaos * 3 / 5,
    )
    .await;
    stop_load.store(true, Ordering::SeqCst);
    while let Some(done) = tasks.join_next().await {
        done.expect("a load task panicked");
    }

    // Quiet: every fault healed. Once all three are listed and answer, every call must
    // succeed and every oneway be delivered.
    support::list_reaches_service(&registry, "Soak", 3, Duration::from_secs(20)).await;
    let quiet_from = world.since(Instant::now());
    let reach = Instant::now() + Duration::from_secs(20);
    loop {
        let probe = Load::new();
        for seq in 0..9 {
            one_unary(&client, &probe, seq).await;
        }
        if probe.unary.lock().unwrap().ok == 9 {
            break;
        }
        assert!(
            Instant::now() < reach,
            "the providers do not answer after the chaos: {:?}",
            probe.unary
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let quiet = Arc::new(Load::new());
    quiet.next_id.store(1 << 40, Ordering::SeqCst);
    for seq in 0..60 {
        one_unary(&client, &quiet, seq).await;
        one_oneway(&world, &client, &quiet).await;
        if seq % 3 == 0 {
            one_server_stream(&client, &quiet, seq * 1000).await;
            one_bidi(&client, &quiet, seq * 1000).await;
        }
    }
    let quiet_ids = quiet.accepted_ids();
    let wait_delivered = Instant::now() + Duration::from_secs(10);
    while Instant::now() < wait_delivered {
        let (ids, _) = delivered(&oneways);
        let ids: HashSet<u64> = ids.into_iter().collect();
        if quiet_ids.iter().all(|id| ids.contains(id)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Resources, after the connections the chaos dropped have had time to close.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let center_now = world.center_pid.load(Ordering::SeqCst);
    let end = (
        usage(center_now),
        usage(p0_pid),
        usage(std::process::id()),
        alive_tasks(),
    );

    stop_watch.store(true, Ordering::SeqCst);
    for w in watchers {
        w.await.expect("a watcher panicked");
    }
    let final_listing = CenterClient::new(erpc_core::Client::new(local.as_str()).unwrap())
        .discover("Soak".into(), Filter::default())
        .await
        .unwrap();

    // The checks: each adds what it found wrong to `problems` and says what it counted.
    let faults = world.faults.lock().unwrap().clone();
    let mut problems: Vec<String> = Vec::new();
    let calls = check_calls(&load, &quiet, &mut problems);
    let oneways = check_oneways(&oneways, &load, &quiet, &faults, &mut problems);
    let views: Vec<Watched> = watched
        .iter()
        .map(|w| std::mem::take(&mut *w.lock().unwrap()))
        .collect();
    let mut current = BTreeMap::new();
    for slot in &world.slots {
        current.insert(slot.id.clone(), slot.now.lock().await.addr.clone());
    }
    let watches = check_watchers(&views, &final_listing, &current, &mut problems);
    let removals = check_removals(&views[0], &faults, &mut problems);
    let resources = check_resources(base, end, &mut problems);

    let mut kinds: BTreeMap<&str, u32> = BTreeMap::new();
    for f in &faults {
        *kinds.entry(f.kind).or_default() += 1;
    }
    eprintln!(
        "soak: faults {kinds:?}; quiet phase from {} s",
        secs(quiet_from)
    );
    let timeline: Vec<String> = faults
        .iter()
        .map(|f| {
            format!(
                "{} {} {}–{} s",
                f.kind,
                f.target,
                secs(f.start),
                secs(f.end)
            )
        })
        .collect();
    eprintln!("soak: fault timeline {timeline:?}");
    let missing = missing_kinds(&kinds, world.ns.is_some());
    if !missing.is_empty() {
        problems.push(format!("faults never injected: {missing:?}"));
    }
    println!(
        "soak: {} s, seed {seed}, {calls}; {oneways}; discovery: {removals}, {watches}; {resources}",
        chaos.as_secs()
    );
    assert!(
        problems.is_empty(),
        "soak (seed {seed}) found:\n{}",
        problems.join("\n")
    );
}

/// Every call right or failed in time (none hung, late or wrong), some of each kind
/// succeeded, and every call of the quiet phase did.
fn check_calls(load: &Load, quiet: &Load, problems: &mut Vec<String>) -> String {
    let (mut ok, mut failed, mut hung, mut wrong, mut late) = (0, 0, 0, 0, 0);
    for (name, tally) in load.tallies() {
        let t = tally.lock().unwrap();
        eprintln!(
            "soak: {name}: {} calls, {} ok, {} failed in time {:?}",
            t.calls(),
            t.ok,
            t.failed_in_time,
            t.codes
        );
        ok += t.ok;
        failed += t.failed_in_time;
        hung += t.hung;
        wrong += t.wrong.len();
        late += t.late.len();
        for w in t.wrong.iter().take(3) {
            problems.push(format!("{name} wrong: {w}"));
        }
        for l in t.late.iter().take(3) {
            problems.push(format!("{name} failed late: {l}"));
        }
        if t.hung > 0 {
            problems.push(format!("{name}: {} calls hung", t.hung));
        }
        if t.ok == 0 {
            problems.push(format!("{name}: no call succeeded"));
        }
    }
    for (name, tally) in quiet.tallies() {
        let t = tally.lock().unwrap();
        if t.ok != t.calls() {
            problems.push(format!("quiet phase: {name}: {t:?}"));
        }
    }
    format!(
        "{ok} calls ok, {failed} failed with a status within the deadline, {hung} hung, \
         {late} late, {wrong} wrong"
    )
}

/// What PROTOCOL.md promises of oneways (see the file's comment), from the providers' files.
fn check_oneways(
    dir: &Path,
    load: &Load,
    quiet: &Load,
    faults: &[Fault],
    problems: &mut Vec<String>,
) -> String {
    let (ids, bad) = delivered(dir);
    let accepted = load.accepted.lock().unwrap().clone();
    let quiet_ids = quiet.accepted_ids();
    let accepted_ids = load.accepted_ids();
    let mut seen = HashSet::new();
    let duplicates = ids.iter().filter(|id| !seen.insert(**id)).count();
    let unaccepted = seen
        .iter()
        .filter(|id| !accepted_ids.contains(id) && !quiet_ids.contains(id))
        .count();
    let lost: Vec<(u64, Duration)> = accepted
        .iter()
        .copied()
        .filter(|(id, _)| !seen.contains(id))
        .collect();
    let lost_outside: Vec<(u64, Duration)> = lost
        .iter()
        .copied()
        .filter(|(_, at)| !in_lossy_window(faults, *at))
        .collect();
    let quiet_lost = quiet_ids.iter().filter(|id| !seen.contains(id)).count();
    let outside = accepted
        .iter()
        .filter(|(_, at)| !in_lossy_window(faults, *at))
        .count();
    for (n, what) in [
        (bad.len(), "altered oneways"),
        (duplicates, "oneways delivered twice"),
        (unaccepted, "oneways delivered but never accepted"),
        (
            lost_outside.len(),
            "oneways accepted outside a lossy fault's window and lost",
        ),
        (quiet_lost, "oneways accepted in the quiet phase and lost"),
    ] {
        if n > 0 {
            problems.push(format!("{n} {what}"));
        }
    }
    if !lost_outside.is_empty() {
        let some = &lost_outside[..lost_outside.len().min(10)];
        problems.push(format!("lost outside the windows (id, when): {some:?}"));
    }
    format!(
        "oneways accepted {} delivered {} ({} lost within a lossy fault's window, {} outside \
         one; {} of the {outside} accepted outside one delivered; quiet phase {} of {})",
        accepted.len(),
        accepted.len() - lost.len(),
        lost.len() - lost_outside.len(),
        lost_outside.len(),
        outside - lost_outside.len(),
        quiet_ids.len() - quiet_lost,
        quiet_ids.len()
    )
}

/// Each watcher's revisions consecutive, never told to list again; both saw the same change
/// at each revision; both end with the center's list, which is the providers' own.
fn check_watchers(
    views: &[Watched],
    listing: &erpc_center::service::Listing,
    current: &BTreeMap<String, String>,
    problems: &mut Vec<String>,
) -> String {
    for (k, v) in views.iter().enumerate() {
        if !v.gaps.is_empty() {
            problems.push(format!(
                "watcher {k}: revisions out of order or missing: {:?}",
                v.gaps
            ));
        }
        if v.relists > 0 {
            problems.push(format!(
                "watcher {k} was told to list again {} times",
                v.relists
            ));
        }
    }
    let by_revision = |v: &Watched| -> BTreeMap<u64, Change> {
        v.events.iter().map(|(_, r, c)| (*r, c.clone())).collect()
    };
    let (a, b) = (by_revision(&views[0]), by_revision(&views[1]));
    let disagree = a
        .iter()
        .filter(|(r, c)| b.get(r).is_some_and(|other| other != *c))
        .count();
    if disagree > 0 {
        problems.push(format!("the watchers saw {disagree} revisions differently"));
    }
    let want: BTreeMap<String, String> = listing
        .instances
        .iter()
        .map(|i| (i.id.clone(), first_addr(i)))
        .collect();
    for (k, v) in views.iter().enumerate() {
        if v.list != want {
            problems.push(format!(
                "watcher {k} ended with {:?}, the center lists {want:?}",
                v.list
            ));
        }
    }
    if &want != current {
        problems.push(format!(
            "the center lists {want:?}, the providers are {current:?}"
        ));
    }
    format!(
        "watch events ordered and gapless ({} and {} events over {} and {} watches, {} and {} \
         relists)",
        views[0].events.len(),
        views[1].events.len(),
        views[0].opened,
        views[1].opened,
        views[0].relists,
        views[1].relists
    )
}

/// Each removal justified by a fault that made its provider unhealthy; each killed
/// incarnation gone within TTL + sweep (+ slack) of its kill or of the center's return.
fn check_removals(view: &Watched, faults: &[Fault], problems: &mut Vec<String>) -> String {
    let bound = TTL + SWEEP + SLACK;
    let mut healthy_evicted = Vec::new();
    for (at, _, change) in &view.events {
        let Change::Deregistered { id, reason, .. } = change else {
            continue;
        };
        let justified = faults
            .iter()
            .filter(|f| f.unhealthy && &f.target == id)
            .any(|f| {
                let from = center_back(faults, f.start, *at).map_or(f.end, |c| c.max(f.end));
                f.start <= *at && *at <= from + bound + SLACK
            });
        if !justified {
            healthy_evicted.push(format!("{id} ({reason}) at {} s", secs(*at)));
        }
    }
    if !healthy_evicted.is_empty() {
        problems.push(format!("healthy providers removed: {healthy_evicted:?}"));
    }
    let mut slowest = Duration::ZERO;
    let kills: Vec<&Fault> = faults
        .iter()
        .filter(|f| f.kind == "kill provider")
        .collect();
    for kill in &kills {
        let old = kill.old_addr.as_deref().unwrap_or_default();
        let gone = view.events.iter().find(|(at, _, change)| {
            *at >= kill.start
                && match change {
                    Change::Deregistered { id, .. } => *id == kill.target,
                    Change::Registered(i) => i.id == kill.target && first_addr(i) != old,
                    _ => false,
                }
        });
        let Some((at, _, _)) = gone else {
            problems.push(format!(
                "{} killed at {} s was never removed",
                kill.target,
                secs(kill.start)
            ));
            continue;
        };
        let from = center_back(faults, kill.start, *at).map_or(kill.start, |c| c.max(kill.start));
        let took = at.saturating_sub(from);
        slowest = slowest.max(took);
        if took > bound {
            problems.push(format!(
                "{} killed at {} s was removed {} s later",
                kill.target,
                secs(kill.start),
                secs(took)
            ));
        }
    }
    format!(
        "{} healthy evicted, {} killed removed within TTL+sweep (max {} s)",
        healthy_evicted.len(),
        kills.len(),
        secs(slowest)
    )
}

/// The center's, p0's and this process's descriptors, threads, RSS (and tasks here) back
/// near their baselines.
fn check_resources(
    base: (Usage, Usage, Usage, usize),
    end: (Usage, Usage, Usage, usize),
    problems: &mut Vec<String>,
) -> String {
    let (b_center, b_p0, b_me, b_tasks) = base;
    let (e_center, e_p0, e_me, e_tasks) = end;
    let mut line = Vec::new();
    for (who, b, e) in [
        ("center", b_center, e_center),
        ("p0", b_p0, e_p0),
        ("this process", b_me, e_me),
    ] {
        if e.fds > b.fds + 3 {
            problems.push(format!(
                "{who}: {} descriptors, {} at the start",
                e.fds, b.fds
            ));
        }
        if e.threads > b.threads + 4 {
            problems.push(format!(
                "{who}: {} threads, {} at the start",
                e.threads, b.threads
            ));
        }
        if e.rss_kib > b.rss_kib + 64 * 1024 {
            problems.push(format!(
                "{who}: RSS {} KiB, {} KiB at the start",
                e.rss_kib, b.rss_kib
            ));
        }
        line.push(format!(
            "{who} {}→{} fds, {}→{} threads, {}→{} MiB",
            b.fds,
            e.fds,
            b.threads,
            e.threads,
            b.rss_kib / 1024,
            e.rss_kib / 1024
        ));
    }
    if e_tasks > b_tasks + 8 {
        problems.push(format!(
            "{e_tasks} tasks alive in this process, {b_tasks} at the start"
        ));
    }
    format!(
        "resources (start→end): {}, {b_tasks}→{e_tasks} tasks",
        line.join(", ")
    )
}
