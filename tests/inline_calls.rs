//! Unary calls run on their connection's own task (`ServerConfig::inline_calls`, on by
//! default): a handler that finishes in its first poll runs there, one still pending goes on
//! in a task of its own (cancellable, under its deadline, counted by `max_in_flight`), and a
//! handler that holds its thread holds neither other connections nor — on a multi-threaded
//! runtime, after the first such call — other calls of its own connection.

use std::future::IntoFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use erpc::{Code, ServerHandle, Status};

#[erpc::service]
pub trait Placed {
    /// The id of the tokio task the handler ran on.
    async fn task(&self) -> Result<String, Status>;
    /// Holds its thread, never yielding, until released or `ms` pass; whether it was
    /// released.
    async fn spin(&self, ms: u64) -> Result<bool, Status>;
    /// Answers at once.
    async fn quick(&self) -> Result<u64, Status>;
    /// Waits until it is dropped.
    async fn hang(&self) -> Result<(), Status>;
}

#[derive(Clone, Default)]
struct Placing {
    release: Arc<AtomicBool>,
    /// `spin` calls started.
    spinning: Arc<AtomicU64>,
    /// `hang` calls started, and dropped.
    hung: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
}

struct OnDrop(Arc<AtomicU64>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Placed for Placing {
    async fn task(&self) -> Result<String, Status> {
        Ok(format!("{:?}", tokio::task::try_id()))
    }

    async fn spin(&self, ms: u64) -> Result<bool, Status> {
        self.spinning.fetch_add(1, Ordering::SeqCst);
        let until = std::time::Instant::now() + Duration::from_millis(ms);
        while !self.release.load(Ordering::SeqCst) {
            if std::time::Instant::now() >= until {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(true)
    }

    async fn quick(&self) -> Result<u64, Status> {
        Ok(7)
    }

    async fn hang(&self) -> Result<(), Status> {
        let _dropped = OnDrop(self.dropped.clone());
        self.hung.fetch_add(1, Ordering::SeqCst);
        std::future::pending::<()>().await;
        Ok(())
    }
}

async fn serve(placing: &Placing, builder: erpc::ServerBuilder) -> ServerHandle {
    builder
        .add_service(PlacedServer::new(placing.clone()))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("serves")
}

/// How long a `spin` holds its thread unless released.
const SPIN_MS: u64 = 60_000;
/// A spin's deadline: past its own end, so that on a loaded machine neither the client's
/// default 10 s deadline nor anything but the release or `SPIN_MS` ends it. (A spinning
/// handler cannot be stopped by the server's deadline: it never yields.)
const SPIN_DEADLINE: Duration = Duration::from_secs(120);

/// A client of one connection.
fn client(server: &ServerHandle) -> PlacedClient {
    PlacedClient::new(
        erpc::Client::builder()
            .connections(1)
            .build(server.local_addr().to_string().as_str())
            .expect("valid address"),
    )
}

async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let give_up = tokio::time::Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(
            tokio::time::Instant::now() < give_up,
            "waited 5 s for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The tasks three calls in a row on one connection ran on.
async fn tasks_of_three_calls(builder: erpc::ServerBuilder) -> Vec<String> {
    let placing = Placing::default();
    let server = serve(&placing, builder).await;
    let client = client(&server);
    let mut tasks = Vec::new();
    for _ in 0..3 {
        tasks.push(client.task().await.expect("answered"));
    }
    tasks
}

#[tokio::test(flavor = "current_thread")]
async fn calls_that_finish_at_once_run_on_the_connections_task() {
    let inline = tasks_of_three_calls(erpc::Server::builder()).await;
    assert!(inline[0].starts_with("Some"), "{inline:?}");
    assert!(inline.iter().all(|t| *t == inline[0]), "{inline:?}");
    let spawned = tasks_of_three_calls(erpc::Server::builder().inline_calls(false)).await;
    assert!(
        spawned[0] != spawned[1] && spawned[1] != spawned[2],
        "a task per call: {spawned:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_holding_its_thread_does_not_stop_other_connections() {
    let placing = Placing::default();
    let server = serve(&placing, erpc::Server::builder()).await;
    let (first, second) = (client(&server), client(&server));
    // The connection's first call: run inline, holding the reader's thread.
    let sent = std::time::Instant::now();
    let spin = tokio::spawn(async move { first.spin(SPIN_MS).timeout(SPIN_DEADLINE).await });
    wait_until("the spin to start", || {
        placing.spinning.load(Ordering::SeqCst) == 1
    })
    .await;
    let quick = tokio::time::timeout(Duration::from_secs(5), second.quick()).await;
    assert_eq!(
        quick
            .expect("answered while the other connection spins")
            .unwrap(),
        7
    );
    // Still spinning: it ends only when released (or after `SPIN_MS`, well past the 10 s the
    // waits above may take).
    if spin.is_finished() {
        panic!(
            "the spin ended before its release, {:?} after it was sent: {:?}",
            sent.elapsed(),
            spin.await
        );
    }
    placing.release.store(true, Ordering::SeqCst);
    assert!(spin.await.unwrap().unwrap(), "released");
}

/// Rounds of [`a_long_first_poll_does_not_stall_the_servers_runtime`]. Without the
/// watchdog about one round in three stalled, so twelve rounds all pass by luck about once
/// in a hundred runs.
const STALL_ROUNDS: u64 = 12;

/// One round: while a fresh connection's first call spins on one worker, calls on another
/// connection are answered; the longest wait. `round` counts the spins so far.
async fn answered_during_a_spin(placing: &Placing, server: &ServerHandle, round: u64) -> Duration {
    placing.release.store(false, Ordering::SeqCst);
    // Fresh connections: after a slow first poll a connection spawns its calls.
    let (first, second) = (client(server), client(server));
    // Both connected and idle, as a server's connections mostly are: the spin arrives on a
    // connection whose task the I/O driver wakes.
    assert_eq!(first.quick().await.unwrap(), 7, "connected");
    assert_eq!(second.quick().await.unwrap(), 7, "connected");
    let spin = tokio::spawn(async move { first.spin(SPIN_MS).timeout(SPIN_DEADLINE).await });
    wait_until("the spin to start", || {
        placing.spinning.load(Ordering::SeqCst) == round
    })
    .await;
    // A call every 20 ms while the spin lasts (0.3 s): the stall, when it came, came at any
    // point of it, not only at its start.
    let mut worst = Duration::ZERO;
    let mut failed = None;
    for _ in 0..15 {
        let asked = std::time::Instant::now();
        let quick = tokio::time::timeout(Duration::from_secs(2), second.quick()).await;
        worst = worst.max(asked.elapsed());
        match quick {
            Ok(Ok(7)) => {}
            other => {
                failed = Some(format!("{other:?}"));
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    placing.release.store(true, Ordering::SeqCst);
    assert!(spin.await.unwrap().unwrap(), "released");
    if let Some(failed) = failed {
        panic!(
            "round {round}: a call during the spin got {failed} (Err(Elapsed): no answer in 2 s)"
        );
    }
    worst
}

/// The server (`builder`) on a 2-worker runtime of its own, the clients on another:
/// [`STALL_ROUNDS`] rounds of [`answered_during_a_spin`], then one more after a quiet spell
/// long enough for the watchdog to sleep longer (`IDLE_AFTER` ticks, 1 s; other tests of
/// this file may make calls meanwhile, and then it stays awake and the round passes as
/// well).
fn no_stall_during_spins(builder: erpc::ServerBuilder) {
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let placing = Placing::default();
    let server = server_runtime.block_on(serve(&placing, builder));
    // A timer of the server's runtime, as a server's own periodic work: it must keep firing
    // (and its wake-ups are part of what schedules the workers, as in a real server).
    let late = Arc::new(AtomicU64::new(0));
    let ticker = server_runtime.spawn({
        let late = late.clone();
        async move {
            loop {
                let asked = std::time::Instant::now();
                tokio::time::sleep(Duration::from_millis(10)).await;
                let over = asked.elapsed().saturating_sub(Duration::from_millis(10));
                late.fetch_max(over.as_millis() as u64, Ordering::SeqCst);
            }
        }
    });
    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    clients.block_on(async {
        let mut worst = Duration::ZERO;
        for round in 1..=STALL_ROUNDS {
            worst = worst.max(answered_during_a_spin(&placing, &server, round).await);
        }
        println!("worst wait for a call during another connection's spin: {worst:?}");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let after_quiet = answered_during_a_spin(&placing, &server, STALL_ROUNDS + 1).await;
        println!("after a quiet spell: {after_quiet:?}");
    });
    ticker.abort();
    let late = late.load(Ordering::SeqCst);
    println!("the server's 10 ms timer fired at most {late} ms late");
    assert!(late < 1_000, "the server's timer fired {late} ms late");
}

/// While one connection's inline call holds a worker, the other worker must drive the
/// server's I/O, though tokio woke it for nothing (an inline call queues no task): the
/// watchdog wakes it.
#[test]
fn a_long_first_poll_does_not_stall_the_servers_runtime() {
    no_stall_during_spins(erpc::Server::builder());
}

/// The same with every call spawned: a task running on a worker queues nothing either, and
/// without the watchdog a blocking handler stalled other connections for its whole length
/// in about half the rounds.
#[test]
fn a_spawned_call_holding_its_worker_does_not_stall_the_servers_runtime() {
    no_stall_during_spins(erpc::Server::builder().inline_calls(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_slow_first_poll_a_connection_spawns_its_calls() {
    let placing = Placing::default();
    let server = serve(&placing, erpc::Server::builder()).await;
    let client = client(&server);
    // Inline, and slow: the connection spawns the calls of the next second.
    assert!(!client.spin(150).await.unwrap());
    let spinning = client.clone();
    let sent = std::time::Instant::now();
    let spin = tokio::spawn(async move { spinning.spin(SPIN_MS).timeout(SPIN_DEADLINE).await });
    wait_until("the second spin to start", || {
        placing.spinning.load(Ordering::SeqCst) == 2
    })
    .await;
    // Read and answered on the same connection while the spin holds a worker: it was
    // handed to a task. Inline, the reader would be held for the spin's 10 s.
    let quick = tokio::time::timeout(Duration::from_secs(5), client.quick()).await;
    assert_eq!(quick.expect("answered during the spin").unwrap(), 7);
    // Still spinning: it ends only when released (or after `SPIN_MS`, well past the 10 s the
    // waits above may take).
    if spin.is_finished() {
        panic!(
            "the spin ended before its release, {:?} after it was sent: {:?}",
            sent.elapsed(),
            spin.await
        );
    }
    placing.release.store(true, Ordering::SeqCst);
    assert!(spin.await.unwrap().unwrap(), "released");
}

#[tokio::test(flavor = "current_thread")]
async fn a_handler_pending_after_its_first_poll_is_cancelled_by_its_client() {
    let placing = Placing::default();
    let server = serve(&placing, erpc::Server::builder()).await;
    let client = client(&server);
    tokio::select! {
        _ = client.hang().into_future() => panic!("hang never answers"),
        _ = wait_until("the handler to start", || placing.hung.load(Ordering::SeqCst) == 1) => {}
    }
    // The call future dropped: CANCEL, and the server drops the handler.
    wait_until("the handler to be dropped", || {
        placing.dropped.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(client.quick().await.unwrap(), 7, "the connection goes on");
}

#[tokio::test(flavor = "current_thread")]
async fn a_handler_pending_after_its_first_poll_ends_at_its_deadline() {
    let placing = Placing::default();
    let server = serve(&placing, erpc::Server::builder()).await;
    let client = client(&server);
    let status = client
        .hang()
        .timeout(Duration::from_millis(100))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status}");
    wait_until("the handler to be dropped", || {
        placing.dropped.load(Ordering::SeqCst) == 1
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_handler_pending_after_its_first_poll_holds_a_running_call_slot() {
    let placing = Placing::default();
    let server = serve(&placing, erpc::Server::builder().max_in_flight(1)).await;
    let client = client(&server);
    let waiting = client.clone();
    let hang = tokio::spawn(async move { waiting.hang().await });
    wait_until("the handler to start", || {
        placing.hung.load(Ordering::SeqCst) == 1
    })
    .await;
    let refused = client.quick().await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused}");
    hang.abort();
    wait_until("the handler to be dropped", || {
        placing.dropped.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(client.quick().await.unwrap(), 7, "the slot is free again");
}
