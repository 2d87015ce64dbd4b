//! Fail modes, retries, hedges, the retry budget, broadcast and fork, against in-process
//! instances of one service with injected faults (`erpc::testing::Faults` as a server layer,
//! so a faulted call was sent and refused by the server).

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use erpc::client::{
    BreakerSettings, FailMode, FailModes, HedgeDelay, InstanceBreakers, RetryBudget, Trip,
};
use erpc::discovery::StaticList;
use erpc::observe::{BreakerState, CallEvent, Observer, Retry, RetryKind, Side};
use erpc::testing::{Fault, Faults};
use erpc::{CallOptions, Status};
use futures_util::StreamExt;
use support::{eventually, mem_addr};
use tokio::time::Instant;

#[erpc::service]
pub trait Kv {
    /// Says which instance answered.
    #[idempotent]
    async fn get(&self, key: String) -> Result<String, Status>;
    /// The same, not idempotent.
    async fn put(&self, key: String) -> Result<String, Status>;
    /// Sleeps this instance's delay, then says which instance answered.
    #[idempotent]
    async fn slow(&self) -> Result<String, Status>;
}

/// What one instance saw.
#[derive(Default)]
struct Seen {
    /// Calls admitted (attempts that reached it, faulted or not).
    attempts: AtomicU64,
    /// Handlers dropped before they finished: cancelled by the client.
    cancelled: AtomicU64,
    /// `get` calls to fail `unavailable` before answering (counted down).
    fail_next: AtomicU64,
}

/// Counts the calls an instance admits.
struct Admitted(Arc<Seen>);

impl Observer for Admitted {
    fn call_started(&self, _side: Side, _call: &CallEvent<'_>) {
        self.0.attempts.fetch_add(1, Ordering::Relaxed);
    }
}

struct Instance {
    name: String,
    delay: Duration,
    seen: Arc<Seen>,
    /// What `get` fails with while `fail_next` counts down.
    failure: Status,
}

/// Counts a handler cancelled if dropped before `done`.
struct Running<'a>(&'a Seen, bool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if !self.1 {
            self.0.cancelled.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Kv for Instance {
    async fn get(&self, _key: String) -> Result<String, Status> {
        let failing = self
            .seen
            .fail_next
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        if failing.is_ok() {
            return Err(self.failure.clone());
        }
        Ok(self.name.clone())
    }
    async fn put(&self, _key: String) -> Result<String, Status> {
        Ok(self.name.clone())
    }
    async fn slow(&self) -> Result<String, Status> {
        let mut running = Running(&self.seen, false);
        tokio::time::sleep(self.delay).await;
        running.1 = true;
        Ok(self.name.clone())
    }
}

struct Backend {
    server: erpc::ServerHandle,
    name: String,
    seen: Arc<Seen>,
    faults: Faults,
}

impl Backend {
    fn attempts(&self) -> u64 {
        self.seen.attempts.load(Ordering::Relaxed)
    }
    fn cancelled(&self) -> u64 {
        self.seen.cancelled.load(Ordering::Relaxed)
    }
}

async fn backend_failing_with(name: &str, delay: Duration, failure: Status) -> Backend {
    let seen = Arc::new(Seen::default());
    let faults = Faults::seeded(7);
    let server = erpc::Server::builder()
        .observer(Admitted(seen.clone()))
        .layer(faults.layer())
        .add_service(KvServer::new(Instance {
            name: name.into(),
            delay,
            seen: seen.clone(),
            failure,
        }))
        .serve([mem_addr()])
        .await
        .expect("serve");
    Backend {
        server,
        name: name.into(),
        seen,
        faults,
    }
}

async fn backend(name: &str, delay: Duration) -> Backend {
    backend_failing_with(name, delay, Status::unavailable("injected: down")).await
}

async fn backends(names: &[&str]) -> Vec<Backend> {
    let mut all = Vec::new();
    for name in names {
        all.push(backend(name, Duration::ZERO).await);
    }
    all
}

/// A client of the backends' service, with `builder`'s layers.
async fn client_of(backends: &[Backend], builder: erpc::ClientBuilder) -> KvClient {
    let list = StaticList::addrs(backends.iter().map(|b| b.server.local_addr())).expect("list");
    KvClient::new(builder.discover(&list, "Kv").await.expect("discover"))
}

/// A balancer that always picks the first instance: whatever goes elsewhere was steered.
struct First;

impl erpc::discovery::Balancer for First {
    fn pick(&self, _: &erpc::discovery::Pick<'_>, _: &erpc::discovery::Candidates<'_>) -> usize {
        0
    }
}

/// Every instance fails every call `unavailable` (sent, refused by the server).
fn down() -> Fault {
    Fault::new().error(1.0, Status::unavailable("injected: down"))
}

/// Records the retries a fail mode reports.
#[derive(Clone, Default)]
struct Retries(Arc<std::sync::Mutex<Vec<Retry>>>);

impl Observer for Retries {
    fn retry(&self, _call: &CallEvent<'_>, retry: &Retry) {
        self.0.lock().unwrap().push(*retry);
    }
}

impl Retries {
    fn of(&self, kind: RetryKind) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.kind == kind && r.granted)
            .count()
    }
}

#[tokio::test]
async fn failover_lands_on_another_instance() {
    let all = backends(&["a", "b", "c"]).await;
    all[0].faults.set_all(down());
    let retries = Retries::default();
    let modes = FailModes::new(FailMode::Failover { retries: 2 }).observer(retries.clone());
    // The balancer always picks `a`, the down instance: only the retry's steer moves it.
    let list = StaticList::addrs(all.iter().map(|b| b.server.local_addr())).expect("list");
    let builder = erpc::Client::builder().layer(modes);
    let discovered = builder.discover_with(&list, "Kv", Arc::new(First)).await;
    let client = KvClient::new(discovered.expect("discover"));
    for i in 0..30 {
        let answer = client
            .get(format!("k{i}"))
            .await
            .expect("failover hides a down instance");
        assert_ne!(answer, "a", "the down instance cannot answer");
    }
    // Every first attempt went to `a` and was retried once, elsewhere: `a` saw no call
    // twice.
    assert_eq!(all[0].attempts(), 30);
    assert_eq!(retries.of(RetryKind::Failover), 30);
    assert_eq!(all[1].attempts() + all[2].attempts(), 30);
}

/// A governed client (a fail mode over the pick, a breaker per instance) runs a call's first
/// attempt straight on the wire when no other layer lies between them, and through the
/// layers when one does: the same outcome either way — every call fails over from the down
/// instance, whose breaker counts each failure and opens at its third, after which the pick
/// skips it.
#[tokio::test]
async fn a_governed_client_fails_over_and_trips_alike_with_or_without_a_layer_between() {
    for layer_between in [false, true] {
        let all = backends(&["a", "b"]).await;
        all[0].faults.set_all(down());
        let breakers = InstanceBreakers::new(
            BreakerSettings::default()
                .trip(Trip::ConsecutiveFailures(3))
                .open_timeout(Duration::from_secs(60)),
        );
        let mut builder = erpc::Client::builder()
            .layer(FailModes::new(FailMode::Failover { retries: 1 }))
            .attempt_layer(breakers.clone());
        if layer_between {
            // A layer that changes nothing, so attempts take the layered way.
            builder = builder.attempt_layer(tower::layer::util::Identity::new());
        }
        // Every first attempt is picked for `a` while its breaker lets it be.
        let list = StaticList::addrs(all.iter().map(|b| b.server.local_addr())).expect("list");
        let discovered = builder.discover_with(&list, "Kv", Arc::new(First)).await;
        let client = KvClient::new(discovered.expect("discover"));
        for i in 0..20 {
            let answer = client.get(format!("k{i}")).await;
            assert_eq!(
                answer.expect("failed over"),
                "b",
                "layer between: {layer_between}"
            );
        }
        assert_eq!(all[0].attempts(), 3, "layer between: {layer_between}");
        assert_eq!(all[1].attempts(), 20, "layer between: {layer_between}");
        let a = all[0].server.local_addr();
        assert_eq!(breakers.state(a), Some(BreakerState::Open));
    }
}

#[tokio::test]
async fn failtry_retries_the_same_instance() {
    let all = backends(&["a", "b"]).await;
    let retries = Retries::default();
    let modes = FailModes::new(FailMode::Failtry { retries: 3 }).observer(retries.clone());
    let client = client_of(&all, erpc::Client::builder().layer(modes)).await;
    for i in 0..20 {
        // The instance the call starts on fails it twice, then answers.
        for b in &all {
            b.seen.fail_next.store(2, Ordering::Relaxed);
        }
        let answer = client
            .get(format!("k{i}"))
            .await
            .expect("failtry gets through");
        let (tried, untouched) = if answer == "a" {
            (&all[0], &all[1])
        } else {
            (&all[1], &all[0])
        };
        assert_eq!(tried.seen.fail_next.load(Ordering::Relaxed), 0, "call {i}");
        assert_eq!(
            untouched.seen.fail_next.load(Ordering::Relaxed),
            2,
            "call {i} went to {answer} and must have stayed there"
        );
    }
    assert_eq!(all[0].attempts() + all[1].attempts(), 60);
    assert_eq!(retries.of(RetryKind::Failtry), 40);
}

#[tokio::test]
async fn sent_calls_of_methods_not_idempotent_are_never_retried() {
    let all = backends(&["a", "b"]).await;
    all[0].faults.set_all(down());
    let modes = FailModes::new(FailMode::Failover { retries: 3 });
    let client = client_of(&all, erpc::Client::builder().layer(modes)).await;
    let mut failed = 0;
    for i in 0..20 {
        match client.put(format!("k{i}")).await {
            Ok(answer) => assert_eq!(answer, "b"),
            Err(status) => {
                assert_eq!(status.code(), erpc::Code::Unavailable);
                failed += 1;
            }
        }
    }
    // Each call made one attempt: the ones on `a` failed, none was resent.
    assert_eq!(failed, 10);
    assert_eq!(all[0].attempts() + all[1].attempts(), 20);
    // The idempotent method, on the same client, is retried: every call ends on `b`.
    let on_a = all[0].attempts();
    for i in 0..20 {
        assert_eq!(client.get(format!("k{i}")).await.expect("retried"), "b");
    }
    assert_eq!(all[1].attempts(), 30);
    assert!(all[0].attempts() > on_a, "some calls started on a");
}

#[tokio::test]
async fn calls_never_sent_go_elsewhere_even_if_not_idempotent() {
    let all = backends(&["a", "b"]).await;
    let refused: erpc::transport::Address = all[0].server.local_addr().clone();
    // An attempt-level refusal before anything is written (as an open circuit breaker or a
    // client-side cap refuses): the server never sees the call.
    let refuse_a = tower::filter::FilterLayer::new(move |attempt: erpc::client::Attempt| {
        if *attempt.addr() == refused {
            Err(Status::unavailable("refused before sending"))
        } else {
            Ok(attempt)
        }
    });
    let modes = FailModes::new(FailMode::Failover { retries: 1 });
    let builder = erpc::Client::builder().layer(modes).attempt_layer(refuse_a);
    let client = client_of(&all, builder).await;
    for i in 0..20 {
        let answer = client
            .put(format!("k{i}"))
            .await
            .expect("never sent, so resent");
        assert_eq!(answer, "b");
    }
    assert_eq!(all[0].attempts(), 0);
    assert_eq!(all[1].attempts(), 20);
}

#[tokio::test]
async fn a_retry_hint_is_waited_and_exhaustion_without_one_is_final() {
    let hinted =
        Status::resource_exhausted("over the rate").with_retry_after(Duration::from_millis(80));
    let b = backend_failing_with("a", Duration::ZERO, hinted).await;
    let modes = FailModes::new(FailMode::Failtry { retries: 2 });
    let client = KvClient::new(
        erpc::Client::builder()
            .layer(modes)
            .build(b.server.local_addr())
            .expect("client"),
    );
    b.seen.fail_next.store(1, Ordering::Relaxed);
    let start = Instant::now();
    assert_eq!(
        client
            .get("k".into())
            .await
            .expect("retried after the hint"),
        "a"
    );
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(80), "retried after {took:?}");
    assert_eq!(b.attempts(), 2);
    // Without a hint, resource_exhausted is the answer.
    let plain = backend_failing_with("p", Duration::ZERO, Status::resource_exhausted("full")).await;
    let client = KvClient::new(
        erpc::Client::builder()
            .layer(FailModes::new(FailMode::Failtry { retries: 2 }))
            .build(plain.server.local_addr())
            .expect("client"),
    );
    plain.seen.fail_next.store(1, Ordering::Relaxed);
    let status = client.get("k".into()).await.expect_err("not retried");
    assert_eq!(status.code(), erpc::Code::ResourceExhausted);
    assert_eq!(plain.attempts(), 1);
}

#[tokio::test]
async fn failbackup_hedges_a_slow_call_and_cancels_the_loser_on_its_server() {
    let slow = backend("slow", Duration::from_secs(30)).await;
    let fast = backend("fast", Duration::from_millis(1)).await;
    let all = [slow, fast];
    let retries = Retries::default();
    let hedge = FailMode::Failbackup {
        delay: HedgeDelay::Fixed(Duration::from_millis(50)),
    };
    let modes = FailModes::new(hedge).observer(retries.clone());
    let client = client_of(&all, erpc::Client::builder().layer(modes)).await;
    let start = Instant::now();
    for _ in 0..6 {
        assert_eq!(
            client
                .slow()
                .timeout(Duration::from_secs(20))
                .await
                .expect("hedged"),
            "fast"
        );
    }
    // The calls that started on the slow instance (round-robin's turn, which a hedge's pick
    // does not move: every other call here) were hedged to the fast one; none waited for
    // the slow one.
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    let on_slow = all[0].attempts();
    assert!(on_slow >= 3, "{on_slow} calls started on the slow instance");
    assert_eq!(retries.of(RetryKind::Hedge) as u64, on_slow);
    // The losers were cancelled on the slow instance (CANCEL frames), not left running.
    eventually(
        || all[0].cancelled() == on_slow,
        || {
            format!(
                "slow instance cancelled {} of {on_slow}",
                all[0].cancelled()
            )
        },
    )
    .await;
    assert_eq!(all[1].cancelled(), 0);
}

#[tokio::test]
async fn the_hedge_delay_follows_the_observed_p95() {
    let b = backend("a", Duration::from_millis(20)).await;
    let c = backend("b", Duration::from_millis(20)).await;
    let all = [b, c];
    let retries = Retries::default();
    let hedge = FailMode::Failbackup {
        delay: HedgeDelay::P95 {
            until_known: Duration::from_millis(1),
        },
    };
    let modes = FailModes::new(hedge).observer(retries.clone());
    let client = client_of(&all, erpc::Client::builder().layer(modes)).await;
    // Before 16 answers, every call is hedged after 1 ms; after, only those slower than
    // the p95 of ~20 ms answers (on a loaded machine, a few).
    for _ in 0..16 {
        client.slow().await.expect("answer");
    }
    let early = retries.of(RetryKind::Hedge);
    assert!(early >= 15, "{early} of the first 16 calls hedged");
    for _ in 0..40 {
        client.slow().await.expect("answer");
    }
    let late = retries.of(RetryKind::Hedge) - early;
    assert!(
        late <= 12,
        "{late} of 40 calls hedged once the p95 was known"
    );
}

/// Issue 13: a hedge's (or a retry's) pick must not move round-robin's turn, else with two
/// instances the next call's original always lands where the last one did — every call
/// started on the slow instance and was hedged. Here originals alternate, so only the calls
/// that started on the slow instance are hedged (about half), with a fixed delay and with
/// the p95 one.
///
/// What the p95 delay does, measured: before 16 answers, `until_known` (250 ms), so a call
/// started on the slow instance takes ~251 ms. After, the p95 of the *answering* attempts'
/// own latencies — a hedged call records its hedge's time, and the cancelled original on
/// the slow instance is never recorded — so the slow instance's second does not enter it:
/// the p95 is the fast instance's (well under a millisecond in process, some 20–40 ms on a
/// loaded machine), and a call started on the slow instance is hedged within a few
/// milliseconds — far from `until_known`, which is what is checked. The fast instance's
/// calls are hedged only when slower than that p95 (about one in twenty of them).
#[tokio::test]
async fn hedges_do_not_move_round_robin_so_only_the_slow_instances_calls_are_hedged() {
    const CALLS: usize = 30;
    /// Answers before the p95 is known (hedge.rs's `ENOUGH`).
    const UNTIL_KNOWN: usize = 16;
    let until_known = Duration::from_millis(250);
    for delay in [
        HedgeDelay::Fixed(Duration::from_millis(30)),
        HedgeDelay::P95 { until_known },
    ] {
        // Slower than any hedge delay by far, so that the fast instance answers every call.
        let slow = backend("slow", Duration::from_secs(1)).await;
        let fast = backend("fast", Duration::ZERO).await;
        let all = [slow, fast];
        let retries = Retries::default();
        let modes = FailModes::new(FailMode::Failbackup { delay }).observer(retries.clone());
        let client = client_of(&all, erpc::Client::builder().layer(modes)).await;
        let start = Instant::now();
        let mut took = Vec::new();
        for _ in 0..CALLS {
            let call = Instant::now();
            assert_eq!(client.slow().await.expect("answer"), "fast");
            took.push(call.elapsed());
        }
        let elapsed = start.elapsed();
        let hedges = retries.of(RetryKind::Hedge);
        let (on_slow, on_fast) = (all[0].attempts() as usize, all[1].attempts() as usize);
        // The calls that waited for a hedge delay of 30 ms, or of `until_known` (an answer of
        // the fast instance is well under a millisecond in process; with the p95 delay, a
        // loaded machine's tens — once over a hundred — of milliseconds are far from 90% of
        // `until_known` still, and a call that waited for it took all of it).
        let over = match delay {
            HedgeDelay::Fixed(_) => Duration::from_millis(25),
            HedgeDelay::P95 { .. } => until_known * 9 / 10,
        };
        let waited = |calls: &[Duration]| calls.iter().filter(|t| **t > over).count();
        let (early, late) = took.split_at(UNTIL_KNOWN);
        let slowest_late = late.iter().max().copied().unwrap_or_default();
        println!(
            "{delay:?}: {CALLS} calls in {elapsed:?}; server calls fast={on_fast} slow={on_slow}; hedges {hedges}; calls that waited over {over:?}: {} of the first {UNTIL_KNOWN}, {} of the rest (slowest {slowest_late:?})",
            waited(early),
            waited(late),
        );
        // Originals alternate: half start on the slow instance, each hedged to the fast one;
        // the fast instance answers every call. A fast call hedged (slower than the delay on
        // a loaded machine) adds an attempt on the slow one: a little slack.
        let half = CALLS / 2;
        assert!(
            (half..=half + 3).contains(&on_slow),
            "{delay:?}: {on_slow} attempts on the slow instance of {CALLS} calls"
        );
        assert!(
            (half..=half + 3).contains(&hedges),
            "{delay:?}: {hedges} of {CALLS} calls hedged"
        );
        assert_eq!(on_fast, CALLS, "{delay:?}");
        match delay {
            // Every call started on the slow instance waited the 30 ms, no other did.
            HedgeDelay::Fixed(_) => {
                assert!((half..=half + 3).contains(&waited(&took)), "{:?}", took)
            }
            // Until the p95 is known, the slow instance's calls wait `until_known`; after,
            // the fast instance's p95, so none waits anywhere near as long.
            HedgeDelay::P95 { .. } => {
                assert!(
                    (UNTIL_KNOWN / 2..=UNTIL_KNOWN / 2 + 3).contains(&waited(early)),
                    "{early:?}"
                );
                assert_eq!(
                    waited(late),
                    0,
                    "calls once the p95 was known waited over {over:?} (slowest {slowest_late:?}): {late:?}"
                );
            }
        }
    }
}

/// The same for failover's retries: a retry's pick must not move the turn, or with two
/// instances one down, every call's first attempt goes to the down one.
#[tokio::test]
async fn failover_retries_do_not_move_round_robin() {
    let all = backends(&["down", "up"]).await;
    all[0].faults.set_all(down());
    let modes = FailModes::new(FailMode::Failover { retries: 1 }).budget(RetryBudget::new(1.0, 0));
    let client = client_of(&all, erpc::Client::builder().layer(modes)).await;
    for i in 0..20 {
        assert_eq!(client.get(format!("k{i}")).await.expect("failover"), "up");
    }
    // First attempts alternate (10 on each), each one on `down` retried on `up`.
    assert_eq!(all[0].attempts(), 10);
    assert_eq!(all[1].attempts(), 20);
}

#[tokio::test]
async fn retries_never_extend_the_deadline() {
    let all = backends(&["a", "b"]).await;
    for b in &all {
        let fault = Fault::new()
            .latency_between(Duration::from_millis(1), Duration::from_millis(5))
            .error(1.0, Status::unavailable("injected: down"));
        b.faults.set_all(fault);
    }
    let modes = FailModes::new(FailMode::Failover { retries: 10 })
        .backoff(Duration::from_millis(1), Duration::from_millis(500))
        .budget(RetryBudget::new(100.0, 10_000));
    let client = client_of(&all, erpc::Client::builder().layer(modes)).await;
    let timeout = Duration::from_millis(150);
    let calls = (0..100).map(|i| {
        let client = client.clone();
        async move {
            let start = Instant::now();
            let status = client
                .get(format!("k{i}"))
                .timeout(timeout)
                .await
                .expect_err("all down");
            (start.elapsed(), status)
        }
    });
    let results = futures_util::future::join_all(calls).await;
    let worst = results
        .iter()
        .map(|(took, _)| *took)
        .max()
        .unwrap_or_default();
    let overrun = worst.saturating_sub(timeout);
    let attempts = all[0].attempts() + all[1].attempts();
    println!(
        "100 calls with a {timeout:?} deadline, every attempt failing after 1-5 ms, backoff up to 500 ms: {attempts} attempts, worst overrun {overrun:?}"
    );
    // About 800 when the machine is quiet (up to 10 retries a call, cut by the deadline);
    // a loaded one fits fewer into 150 ms. More than one per call: retries happened.
    assert!(
        attempts > 100,
        "{attempts} attempts for 100 calls: the calls were not retried"
    );
    // Each attempt carries what is left of the call's deadline; none starts after it.
    assert!(
        overrun < Duration::from_millis(75),
        "overran by {overrun:?}"
    );
    for (_, status) in &results {
        assert!(
            matches!(
                status.code(),
                erpc::Code::Unavailable | erpc::Code::DeadlineExceeded
            ),
            "{status:?}"
        );
    }
}

/// RELIABILITY 16: half the instances fail every call; failover's extra load stays within
/// the retry budget (10% of calls plus 10 per second, 100 banked).
#[tokio::test]
async fn half_the_backends_failing_adds_load_within_the_budget() {
    async fn ratio(budget: RetryBudget) -> (f64, f64, u64) {
        let all = backends(&["a", "b", "c", "d"]).await;
        all[0].faults.set_all(down());
        all[1].faults.set_all(down());
        let modes = FailModes::new(FailMode::Failover { retries: 2 }).budget(budget);
        let client = client_of(&all, erpc::Client::builder().layer(modes)).await;
        let calls = 4000;
        let start = Instant::now();
        let outcomes: Vec<bool> = futures_util::stream::iter(0..calls)
            .map(|i| {
                let client = client.clone();
                async move { client.get(format!("k{i}")).await.is_ok() }
            })
            .buffer_unordered(16)
            .collect()
            .await;
        let secs = start.elapsed().as_secs_f64();
        let attempts: u64 = all.iter().map(Backend::attempts).sum();
        let ok = outcomes.iter().filter(|ok| **ok).count() as u64 * 100 / calls as u64;
        (attempts as f64 / calls as f64, secs, ok)
    }
    let (unbudgeted, _, ok_free) = ratio(RetryBudget::new(1000.0, 0)).await;
    let (budgeted, secs, ok_budget) = ratio(RetryBudget::default()).await;
    println!(
        "4 instances, 2 failing every call, failover with 2 retries, 4000 calls: attempts/calls {budgeted:.3} with the default budget ({ok_budget}% succeeded, {secs:.2} s), {unbudgeted:.3} without ({ok_free}% succeeded)"
    );
    // Without a budget, half the first attempts and some second ones are resent.
    assert!(unbudgeted > 1.3, "{unbudgeted}");
    // With it: at most 10% more, plus the 100 banked and 10 per second.
    let bound = 1.0 + 0.1 + (100.0 + 10.0 * secs.ceil()) / 4000.0;
    assert!(budgeted <= bound, "{budgeted} > {bound}");
}

/// A response cache passes a broadcast's and a fork's copies through: each asks its own
/// instance, and the cache's key names none (a fresh user saw `["a", "a", "a"]`: one
/// instance's cached answer for all three).
#[tokio::test]
async fn broadcast_and_fork_pass_through_a_response_cache() {
    use erpc::client::{CacheLayer, CacheSettings};
    let all = backends(&["a", "b", "c"]).await;
    let settings = CacheSettings::ttl(Duration::from_secs(30));
    let cache = CacheLayer::new(
        1 << 20,
        erpc::per_method::PerMethod::new(None).method("Kv", "get", Some(settings)),
    );
    let client = client_of(&all, erpc::Client::builder().layer(cache.clone())).await;
    let raw = client.client();
    for _ in 0..2 {
        let answers: Vec<String> = raw
            .broadcast("Kv", "get", &"k".to_string(), CallOptions::new())
            .await
            .expect("every instance answers");
        assert_eq!(answers, ["a", "b", "c"]);
    }
    // A fork's copies are not answered from the cache either: with `a` down, the fork
    // gets another instance's answer, though a plain call cached `a`'s.
    let cached = client.get("k".into()).await.unwrap();
    assert_eq!(client.get("k".into()).await.unwrap(), cached);
    assert_eq!((cache.stats().hits, cache.stats().misses), (1, 1));
    let down_one = all.iter().position(|b| b.name == cached).unwrap();
    all[down_one].faults.set_all(down());
    let forked: String = raw
        .fork("Kv", "get", &"k".to_string(), CallOptions::new())
        .await
        .expect("another instance answers");
    assert_ne!(forked, cached);
    assert_eq!((cache.stats().hits, cache.stats().misses), (1, 1));
}

#[tokio::test]
async fn broadcast_calls_every_instance_and_fork_takes_the_first_success() {
    let all = backends(&["a", "b", "c"]).await;
    let client = client_of(&all, erpc::Client::builder()).await;
    let raw = client.client();
    let answers: Vec<String> = raw
        .broadcast("Kv", "get", &"k".to_string(), CallOptions::new())
        .await
        .expect("every instance answers");
    assert_eq!(answers, ["a", "b", "c"]);
    // One failing instance fails the broadcast, naming it.
    all[1].faults.set_all(down());
    let status = raw
        .broadcast::<String, String>("Kv", "get", &"k".to_string(), CallOptions::new())
        .await
        .expect_err("b is down");
    assert_eq!(status.code(), erpc::Code::Unavailable);
    assert!(
        status
            .message()
            .contains(&all[1].server.local_addr().to_string()),
        "{status}"
    );
    // Fork: the first success wins even with one instance down.
    let answer: String = raw
        .fork("Kv", "get", &"k".to_string(), CallOptions::new())
        .await
        .expect("a or c answers");
    assert!(answer == "a" || answer == "c", "{answer}");
    for b in &all {
        assert_eq!(b.attempts(), 3, "{} saw every copy", b.name);
    }
}

/// An instance nobody listens on fails a broadcast with its address said once: the connect
/// failure names it already ("tcp://…: cannot connect to tcp://…" before).
#[tokio::test]
async fn a_broadcast_to_an_unreachable_instance_names_its_address_once() {
    let up = backend("up", Duration::ZERO).await;
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        format!("tcp://{}", listener.local_addr().expect("bound"))
    };
    let list = StaticList::addrs([up.server.local_addr().to_string(), dead.clone()]).expect("list");
    let client = erpc::Client::builder()
        .discover(&list, "Kv")
        .await
        .expect("discover");
    let status = client
        .broadcast::<String, String>("Kv", "get", &"k".to_string(), CallOptions::new())
        .await
        .expect_err("one instance is unreachable");
    assert_eq!(status.code(), erpc::Code::Unavailable, "{status}");
    assert_eq!(status.message().matches(&dead).count(), 1, "{status}");
}

#[tokio::test]
async fn fork_cancels_the_slower_copies_on_their_servers() {
    let all = [
        backend("slow-1", Duration::from_secs(30)).await,
        backend("fast", Duration::from_millis(1)).await,
        backend("slow-2", Duration::from_secs(30)).await,
    ];
    // Fail modes do not resend or redirect a pinned copy.
    let modes = FailModes::new(FailMode::Failover { retries: 2 });
    let client = client_of(&all, erpc::Client::builder().layer(modes)).await;
    let answer: String = client
        .client()
        .fork(
            "Kv",
            "slow",
            &(),
            CallOptions::new().timeout(Duration::from_secs(20)),
        )
        .await
        .expect("the fast one answers");
    assert_eq!(answer, "fast");
    eventually(
        || all[0].cancelled() == 1 && all[2].cancelled() == 1,
        || {
            format!(
                "cancelled: {} and {}",
                all[0].cancelled(),
                all[2].cancelled()
            )
        },
    )
    .await;
}

#[tokio::test]
async fn broadcast_and_fork_with_no_instance_each_name_themselves() {
    let empty = StaticList::addrs(Vec::<String>::new()).expect("list");
    let client = erpc::Client::builder()
        .discover(&empty, "Kv")
        .await
        .expect("a client of no instances yet");
    let status = client
        .broadcast::<String, String>("Kv", "get", &"k".to_string(), CallOptions::new())
        .await
        .expect_err("no instance");
    assert_eq!(status.code(), erpc::Code::Unavailable, "{status}");
    assert!(status.message().contains("to broadcast Kv.get"), "{status}");
    let status = client
        .fork::<String, String>("Kv", "get", &"k".to_string(), CallOptions::new())
        .await
        .expect_err("no instance");
    assert_eq!(status.code(), erpc::Code::Unavailable, "{status}");
    assert!(status.message().contains("to fork Kv.get"), "{status}");
    assert!(!status.message().contains("broadcast"), "{status}");
}

#[tokio::test]
async fn broadcast_fails_as_soon_as_one_instance_fails_and_forks_failure_names_every_instance() {
    // "stuck" answers `slow` after 30 s; "broken" fails it at once.
    let all = [
        backend("stuck", Duration::from_secs(30)).await,
        backend("broken", Duration::ZERO).await,
    ];
    all[1].faults.set_all(down());
    let client = client_of(&all, erpc::Client::builder()).await;
    let raw = client.client();
    let started = std::time::Instant::now();
    let status = raw
        .broadcast::<(), String>(
            "Kv",
            "slow",
            &(),
            CallOptions::new().timeout(Duration::from_secs(20)),
        )
        .await
        .expect_err("broken fails");
    assert_eq!(status.code(), erpc::Code::Unavailable, "{status}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "waited {:?} for the stuck instance",
        started.elapsed()
    );
    assert!(
        status
            .message()
            .contains(&all[1].server.local_addr().to_string()),
        "{status}"
    );
    // The stuck copy was cancelled on its server.
    eventually(
        || all[0].cancelled() == 1,
        || format!("cancelled: {}", all[0].cancelled()),
    )
    .await;
    // Fork with both down: the error names both instances and what each said.
    all[0].faults.set_all(down());
    let status = raw
        .fork::<(), String>("Kv", "slow", &(), CallOptions::new())
        .await
        .expect_err("both down");
    assert_eq!(status.code(), erpc::Code::Unavailable, "{status}");
    for b in &all {
        assert!(
            status
                .message()
                .contains(&b.server.local_addr().to_string()),
            "names {}: {status}",
            b.name
        );
    }
    assert!(status.message().contains("injected: down"), "{status}");
}

#[tokio::test]
async fn a_refusal_by_the_clients_own_rate_limit_is_not_retried_whatever_the_layer_order() {
    use erpc::client::ClientRateLimit;
    use erpc::rate::Rate;
    let all = backends(&["a", "b"]).await;
    // FailModes added first (outermost) sees the rate limit's refusal, which carries a
    // retry hint of ~500 ms and was never sent: it must be passed on, not retried.
    let limit = ClientRateLimit::new(Rate::every(Duration::from_millis(500))).expect("rate");
    let client = failover_over_a_limit(&all, limit).await;
    client
        .get("k".into())
        .await
        .expect("the first call has its turn");
    let started = Instant::now();
    let refused = client.get("k".into()).await.expect_err("over the rate");
    let took = started.elapsed();
    assert_eq!(refused.code(), erpc::Code::ResourceExhausted, "{refused}");
    assert!(refused.is_client_limit(), "{refused:?}");
    assert!(refused.retry_after().is_some(), "still hints: {refused:?}");
    assert!(
        took < Duration::from_millis(300),
        "retried: refused after {took:?}"
    );
    assert_eq!(all[0].attempts() + all[1].attempts(), 1);
}

#[tokio::test]
async fn a_retry_refused_by_the_clients_own_limit_ends_with_the_backends_failure() {
    use erpc::client::ClientRateLimit;
    use erpc::rate::Rate;
    let all = backends(&["a", "b"]).await;
    for b in &all {
        b.faults.set_all(down());
    }
    // The limit (below the fail mode) has two turns: the first attempt and one retry; the
    // second retry is refused. The caller must learn why the call failed — the backends'
    // `unavailable` — not that its own limit stopped a retry.
    let limit = ClientRateLimit::new(Rate::per_second(1).burst(2)).expect("rate");
    let client = failover_over_a_limit(&all, limit).await;
    let status = client.get("k".into()).await.expect_err("both down");
    assert_eq!(status.code(), erpc::Code::Unavailable, "{status}");
    assert!(status.message().contains("injected: down"), "{status}");
    assert!(!status.is_client_limit(), "{status:?}");
    assert_eq!(all[0].attempts() + all[1].attempts(), 2);
}

/// A client of `all` failing over up to twice, with `limit` below its fail mode (each
/// attempt takes a turn).
async fn failover_over_a_limit(all: &[Backend], limit: erpc::client::ClientRateLimit) -> KvClient {
    let builder = erpc::Client::builder()
        .layer(FailModes::new(FailMode::Failover { retries: 2 }))
        .layer(limit);
    client_of(all, builder).await
}

#[tokio::test]
async fn with_every_breaker_open_a_fail_mode_fails_at_once() {
    for mode in [
        FailMode::Failover { retries: 3 },
        FailMode::Failtry { retries: 3 },
    ] {
        let all = backends(&["a", "b"]).await;
        for b in &all {
            b.faults.set_all(down());
        }
        let breakers = InstanceBreakers::new(
            BreakerSettings::default()
                .trip(Trip::ConsecutiveFailures(1))
                .open_timeout(Duration::from_secs(60)),
        );
        let retries = Retries::default();
        let builder = erpc::Client::builder()
            .layer(FailModes::new(mode).observer(retries.clone()))
            .attempt_layer(breakers.clone());
        let client = client_of(&all, builder).await;
        let _ = client.get("k".into()).await;
        let retried = retries.0.lock().unwrap().len();
        for b in &all {
            let state = breakers.state(b.server.local_addr());
            assert_eq!(state, Some(BreakerState::Open), "{mode:?}");
        }
        // No retry can get past the same breakers: the refusal is the answer, at once
        // (the fail mode's backoff made it 24-57 ms).
        let began = Instant::now();
        let status = client
            .get("k".into())
            .await
            .expect_err("every breaker open");
        let took = began.elapsed();
        assert_eq!(status.code(), erpc::Code::Unavailable, "{status}");
        assert!(
            status.message().contains("circuit breaker open"),
            "{status}"
        );
        // The signal: no retry was tried (the timing follows from it).
        let after = retries.0.lock().unwrap().len();
        assert_eq!(after, retried, "{mode:?}: retried into the open breakers");
        assert!(took < Duration::from_millis(20), "{mode:?}: {took:?}");
    }
}

#[tokio::test]
async fn a_hedge_refused_by_the_clients_own_limit_leaves_the_original_running() {
    use erpc::client::ClientRateLimit;
    use erpc::rate::Rate;
    let all = vec![
        backend("a", Duration::from_millis(300)).await,
        backend("b", Duration::from_millis(300)).await,
    ];
    // One turn: the original takes it, the hedge 20 ms later is refused by the limit below
    // the fail mode. The call is the original's, still running, not the refusal.
    let limit = ClientRateLimit::new(Rate::per_second(1).burst(1)).expect("rate");
    let hedged = FailMode::Failbackup {
        delay: HedgeDelay::Fixed(Duration::from_millis(20)),
    };
    let builder = erpc::Client::builder()
        .layer(FailModes::new(hedged))
        .layer(limit);
    let client = client_of(&all, builder).await;
    let answer = client.slow().await.expect("the original answers");
    assert!(answer == "a" || answer == "b", "{answer}");
    assert_eq!(all[0].attempts() + all[1].attempts(), 1, "one copy sent");
}
