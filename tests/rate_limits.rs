//! Rate limits on both sides (feature `rate-limit`): the accepted rate is the configured one,
//! a maximum wait is honoured (wait up to it, else refused at once), every refusal is
//! `resource_exhausted` with a retry-after hint, and a server refusal costs no handler.
//! RELIABILITY.md row 18.

mod support;

use std::future::IntoFuture;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use erpc::client::ClientRateLimit;
use erpc::per_method::PerMethod;
use erpc::rate::Rate;
use erpc::server::{Admission, CallHead, CallKind, PeerRateLimit, RateLimit};
use erpc::transport::PeerAddr;
use erpc::{Code, Metadata, Status};
use support::*;

/// An Echo server on mem:// behind `hooks`, and how many calls reached a handler.
async fn serve_with(hooks: Vec<Arc<dyn Admission>>) -> (erpc::ServerHandle, Handled) {
    let handled = Handled::default();
    let mut builder = erpc::Server::builder().middleware(handled.clone());
    for hook in hooks {
        builder = builder.admission(ArcHook(hook));
    }
    let server = builder
        .add_service(EchoServer::new(EchoImpl::default()))
        .serve([mem_addr()])
        .await
        .unwrap();
    (server, handled)
}

/// Counts the calls that reached the handlers.
#[derive(Default, Clone)]
struct Handled {
    calls: Arc<AtomicU64>,
}

#[async_trait::async_trait]
impl erpc::Middleware for Handled {
    async fn call(
        &self,
        request: erpc::Request,
        next: erpc::Next<'_>,
    ) -> Result<erpc::Response, Status> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        next.run(request).await
    }
}

struct ArcHook(Arc<dyn Admission>);

impl Admission for ArcHook {
    fn admit(&self, call: &CallHead<'_>) -> Result<erpc::server::Admitted, Status> {
        self.0.admit(call)
    }

    fn refused_by(&self) -> erpc::observe::RefusedBy {
        self.0.refused_by()
    }

    fn counts_running(&self) -> bool {
        self.0.counts_running()
    }
}

/// What `callers` loops calling `len` for `run` saw: successes, and the refusals' latencies.
struct Offered {
    ok: u64,
    refused: Vec<Duration>,
    elapsed: Duration,
}

/// `callers` tasks call `len` for `run`, each pausing `pause` after a refusal (so the offered
/// load is a known multiple of the rate without spinning the CPU).
async fn offer(client: &EchoClient, callers: usize, run: Duration, pause: Duration) -> Offered {
    let ok = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let client = client.clone();
            let ok = ok.clone();
            tokio::spawn(async move {
                let mut refused = Vec::new();
                while start.elapsed() < run {
                    let sent = Instant::now();
                    match client.len("abc".into()).await {
                        Ok(3) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(n) => panic!("len answered {n}"),
                        Err(status) => {
                            refused.push(sent.elapsed());
                            assert_refusal(&status);
                            tokio::time::sleep(pause).await;
                        }
                    }
                }
                refused
            })
        })
        .collect();
    let mut refused = Vec::new();
    for task in tasks {
        refused.extend(task.await.unwrap());
    }
    Offered {
        ok: ok.load(Ordering::Relaxed),
        refused,
        elapsed: start.elapsed(),
    }
}

fn assert_refusal(status: &Status) {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status}");
    let hint = status.retry_after().expect("a retry-after hint");
    assert!(
        hint > Duration::ZERO && hint <= Duration::from_secs(1),
        "{hint:?}"
    );
}

fn p99(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples
        .get(samples.len() * 99 / 100)
        .copied()
        .unwrap_or_default()
}

/// The accepted rate over the run, the initial burst taken out.
fn accepted_rate(offered: &Offered, burst: u32) -> f64 {
    (offered.ok - u64::from(burst)) as f64 / offered.elapsed.as_secs_f64()
}

fn within(measured: f64, configured: f64, tolerance: f64) -> bool {
    (measured - configured).abs() <= configured * tolerance
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_token_bucket_accepts_its_configured_rate() {
    let (server, probe) = serve_with(vec![]).await;
    // A burst of 50 (250 ms of the rate): callers starved that long by a loaded machine
    // lose no turns.
    let limit = ClientRateLimit::new(Rate::per_second(200).burst(50)).unwrap();
    let addr = server.local_addr().to_string();
    let client = EchoClient::new(erpc::Client::builder().layer(limit).build(addr).unwrap());
    // 8 callers pausing 2 ms after a refusal: ~4,000 calls/s offered, 20× the rate.
    let offered = offer(&client, 8, Duration::from_secs(3), Duration::from_millis(2)).await;
    let rate = accepted_rate(&offered, 50);
    println!(
        "client 200/s: accepted {rate:.1}/s, {} refused",
        offered.refused.len()
    );
    assert!(within(rate, 200.0, 0.05), "accepted {rate:.1} calls/s");
    assert!(offered.refused.len() as u64 > offered.ok);
    // Refused calls were never sent.
    assert_eq!(probe.calls.load(Ordering::Relaxed), offered.ok);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_leaky_bucket_paces_a_burst_evenly_within_its_wait() {
    let (server, _probe) = serve_with(vec![]).await;
    let paced = Rate::per_second(100)
        .leaky()
        .max_wait(Duration::from_secs(2));
    let limit =
        ClientRateLimit::per_method(PerMethod::new(None).method("Echo", "len", Some(paced)))
            .unwrap();
    let addr = server.local_addr().to_string();
    let client = EchoClient::new(erpc::Client::builder().layer(limit).build(addr).unwrap());
    // 50 calls at once: one every 10 ms, none refused, the last after ~490 ms.
    let start = Instant::now();
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                client.len("ab".into()).await.unwrap();
                start.elapsed()
            })
        })
        .collect();
    let mut done = Vec::new();
    for call in calls {
        done.push(call.await.unwrap());
    }
    done.sort();
    let last = done[49];
    println!("leaky 100/s: 50 calls done after {last:?}");
    assert!(
        last >= Duration::from_millis(460),
        "50 calls at 100/s took only {last:?}"
    );
    assert!(last < Duration::from_millis(1500), "{last:?}");
    // Another method is not limited.
    let t = Instant::now();
    for _ in 0..20 {
        client.echo(Msg::new(1, 1)).await.unwrap();
    }
    assert!(t.elapsed() < Duration::from_millis(400));
    server.shutdown().await;
}

/// A leaky bucket (burst 1) kept saturated by waiting callers runs at its rate. Each turn
/// used to lose the lateness of the timer that woke its caller (up to a millisecond): at
/// 500 calls/s one worker got ~310 (found by a fresh user).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_leaky_bucket_keeps_its_rate() {
    let (server, _probe) = serve_with(vec![]).await;
    let paced = Rate::per_second(500)
        .leaky()
        .max_wait(Duration::from_secs(1));
    let limit = ClientRateLimit::new(paced).unwrap();
    let addr = server.local_addr().to_string();
    let client = EchoClient::new(erpc::Client::builder().layer(limit).build(addr).unwrap());
    // 8 callers in a loop, each call waiting its turn: the line never empties.
    let run = Duration::from_secs(2);
    let start = Instant::now();
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut done = 0u64;
                while start.elapsed() < run {
                    client.len("ab".into()).await.expect("waited, not refused");
                    done += 1;
                }
                done
            })
        })
        .collect();
    let mut calls = 0;
    for caller in callers {
        calls += caller.await.unwrap();
    }
    let rate = calls as f64 / start.elapsed().as_secs_f64();
    println!("leaky 500/s saturated: {rate:.1} calls/s");
    assert!(
        within(rate, 500.0, 0.05),
        "leaky 500/s ran at {rate:.1} calls/s"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_call_waits_up_to_its_maximum_wait_else_fails_at_once() {
    let (server, probe) = serve_with(vec![]).await;
    // One call per 100 ms, none saved up, waiting up to 150 ms.
    let rate = Rate::every(Duration::from_millis(100)).max_wait(Duration::from_millis(150));
    let limit = ClientRateLimit::new(rate).unwrap();
    let addr = server.local_addr().to_string();
    let client = EchoClient::new(erpc::Client::builder().layer(limit).build(addr).unwrap());
    let start = Instant::now();
    client.len("a".into()).await.unwrap();
    // The next turn is ~100 ms away: within the wait.
    let waiting = {
        let client = client.clone();
        tokio::spawn(async move {
            let r = client.len("b".into()).await;
            (r, start.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    // Behind it the turn is ~180 ms away: beyond the wait, refused at once.
    let t = Instant::now();
    let refused = client.len("c".into()).await.unwrap_err();
    let refused_in = t.elapsed();
    assert_refusal(&refused);
    assert!(refused.message().contains("maximum wait"), "{refused}");
    assert!(
        refused_in < Duration::from_millis(30),
        "refused after {refused_in:?}"
    );
    let (second, at) = waiting.await.unwrap();
    second.unwrap();
    assert!(
        at >= Duration::from_millis(85) && at <= Duration::from_millis(400),
        "the waiting call went through at {at:?}"
    );
    // A deadline nearer than the turn: refused at once rather than waiting past it.
    let t = Instant::now();
    let short = client
        .len("d".into())
        .timeout(Duration::from_millis(30))
        .await
        .unwrap_err();
    assert_eq!(short.code(), Code::ResourceExhausted, "{short}");
    assert!(t.elapsed() < Duration::from_millis(25), "{:?}", t.elapsed());
    // The deadline is the binding limit, and the refusal says so.
    assert!(
        short.message().contains("beyond the call's deadline"),
        "{short}"
    );
    assert_eq!(probe.calls.load(Ordering::Relaxed), 2);
    server.shutdown().await;
}

/// RELIABILITY 18: 10× the quota offered → accepted within 5% of the quota, refusals fast
/// and without a handler, memory flat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_times_the_servers_quota_is_refused_fast_and_the_quota_is_kept() {
    let limit = RateLimit::global(Rate::per_second(300).burst(30)).unwrap();
    let (server, probe) = serve_with(vec![Arc::new(limit)]).await;
    let addr = server.local_addr().to_string();
    let client = client(&addr);
    // 16 callers pausing 4 ms after a refusal: up to 4,000 calls/s offered, over 10× the
    // quota on an idle machine (benches/overload.rs measures the exact 10×).
    let warm = offer(
        &client,
        16,
        Duration::from_millis(700),
        Duration::from_millis(4),
    )
    .await;
    let rss_warm = rss_bytes();
    let offered = offer(
        &client,
        16,
        Duration::from_secs(3),
        Duration::from_millis(4),
    )
    .await;
    let rss_after = rss_bytes();
    // The bucket was emptied by the warm-up: no burst to take out.
    let rate = (offered.ok as f64) / offered.elapsed.as_secs_f64();
    let offered_rate =
        (offered.ok + offered.refused.len() as u64) as f64 / offered.elapsed.as_secs_f64();
    let refusal_p50 = {
        let mut r = offered.refused.clone();
        r.sort();
        r[r.len() / 2]
    };
    let refusal_p99 = p99(offered.refused.clone());
    println!(
        "server quota 300/s: offered {offered_rate:.0}/s, accepted {rate:.1}/s, refusal p50 {refusal_p50:?} p99 {refusal_p99:?}, rss {} -> {} KiB",
        rss_warm / 1024,
        rss_after / 1024
    );
    // At least 4× even on a loaded machine (7–8× on a quieter one).
    assert!(
        offered_rate > 1_200.0,
        "only {offered_rate:.0} calls/s offered"
    );
    assert!(within(rate, 300.0, 0.05), "accepted {rate:.1} calls/s");
    // Under 1 ms in a release build on an idle machine (benches/overload.rs); generous here
    // for a debug build on a loaded one — still far from queueing, which would cost turns
    // of 3.3 ms each.
    assert!(
        refusal_p50 < Duration::from_millis(2),
        "refusal p50 {refusal_p50:?}"
    );
    assert!(
        refusal_p99 < Duration::from_millis(25),
        "refusal p99 {refusal_p99:?}"
    );
    // No handler ran for a refused call.
    assert_eq!(probe.calls.load(Ordering::Relaxed), warm.ok + offered.ok);
    // Nothing grows with the refusals (nearly 9,000 of them): under 4 MiB more.
    assert!(
        rss_after.saturating_sub(rss_warm) < 4 << 20,
        "rss grew from {rss_warm} to {rss_after}"
    );
    server.shutdown().await;
}

/// Resident memory of this process, from /proc (0 where there is none).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_queues_up_to_the_maximum_wait_then_refuses_at_once() {
    // `len`: one call per 20 ms, none saved up, waiting up to 100 ms.
    let rate = Rate::every(Duration::from_millis(20)).max_wait(Duration::from_millis(100));
    let limit =
        RateLimit::per_method(PerMethod::new(None).method("Echo", "len", Some(rate))).unwrap();
    let (server, probe) = serve_with(vec![Arc::new(limit)]).await;
    let addr = server.local_addr().to_string();
    let client = client(&addr);
    let start = Instant::now();
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let r = client.len("abcd".into()).await;
                (r, start.elapsed())
            })
        })
        .collect();
    let (mut ok, mut refused) = (Vec::new(), Vec::new());
    for call in calls {
        match call.await.unwrap() {
            (Ok(4), at) => ok.push(at),
            (Ok(n), _) => panic!("len answered {n}"),
            (Err(status), at) => {
                assert_refusal(&status);
                refused.push(at)
            }
        }
    }
    println!(
        "queued: {ok:?}; refused: {} (p99 {:?})",
        refused.len(),
        p99(refused.clone())
    );
    // One at once and one per 20 ms within 100 ms: about 6 (timers and scheduling may cost
    // one either way on a loaded machine).
    assert!(
        (4..=7).contains(&ok.len()),
        "{} went through: {ok:?}",
        ok.len()
    );
    assert!(
        ok.iter().all(|at| *at < Duration::from_millis(400)),
        "{ok:?}"
    );
    // The rest were refused at once (measured from the start of all 20 spawns: a loaded
    // machine may start a couple late).
    let at_once = refused
        .iter()
        .filter(|at| **at < Duration::from_millis(30))
        .count();
    assert!(at_once + 2 >= refused.len(), "{refused:?}");
    assert!(
        refused.iter().all(|at| *at < Duration::from_millis(300)),
        "{refused:?}"
    );
    // No handler ran for them.
    assert_eq!(probe.calls.load(Ordering::Relaxed), ok.len() as u64);
    // Other methods are not limited.
    client.echo(Msg::new(1, 1)).await.unwrap();
    server.shutdown().await;
}

static NO_EXTENSIONS: erpc::Extensions = erpc::Extensions::new();

fn head<'a>(peer: &'a PeerAddr, metadata: &'a Metadata) -> CallHead<'a> {
    CallHead {
        peer_identity: None,
        extensions: &NO_EXTENSIONS,
        service: "Echo",
        method: "len",
        metadata,
        peer,
        kind: CallKind::Unary,
        deadline: tokio::time::Instant::now() + Duration::from_secs(1),
        wire: erpc::Wire {
            codec: erpc::CodecId::MSGPACK,
            compression: erpc::CompressionId::NONE,
            wire_len: 0,
            body_len: 0,
        },
    }
}

fn tcp_peer(n: u32) -> PeerAddr {
    PeerAddr::Tcp(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(n)), 40_000))
}

#[tokio::test]
async fn each_peer_has_its_own_bucket_and_the_table_stays_bounded() {
    let limit = PeerRateLimit::new(Rate::per_second(10).burst(5))
        .unwrap()
        .max_peers(1_000)
        .unwrap();
    // A table of no peer would hold no bucket: refused, not taken as 1.
    let none = PeerRateLimit::new(Rate::per_second(10))
        .unwrap()
        .max_peers(0);
    assert_eq!(none.unwrap_err().code(), Code::InvalidArgument);
    let metadata = Metadata::new();
    let (a, b) = (tcp_peer(1), tcp_peer(2));
    for _ in 0..5 {
        limit.admit(&head(&a, &metadata)).unwrap();
    }
    let refused = limit.admit(&head(&a, &metadata)).unwrap_err();
    assert_refusal(&refused);
    assert!(refused.message().contains("0.0.0.1"), "{refused}");
    // Another peer is untouched; another port of the same host is the same peer.
    limit.admit(&head(&b, &metadata)).unwrap();
    let a_again = PeerAddr::Tcp(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(1)), 40_001));
    limit.admit(&head(&a_again, &metadata)).unwrap_err();
    // 50,000 distinct peers: never more than 1,000 buckets.
    for n in 10..50_010 {
        let _ = limit.admit(&head(&tcp_peer(n), &metadata));
        assert!(limit.peers() <= 1_000, "{} buckets", limit.peers());
    }
}

#[tokio::test]
async fn invalid_rates_are_refused_naming_the_setting() {
    let zero = RateLimit::global(Rate::per_second(0)).unwrap_err();
    assert_eq!(zero.code(), Code::InvalidArgument);
    assert!(zero.message().contains("Rate::per_second(0)"), "{zero}");
    assert!(!zero.message().contains("1000000000 calls/s"), "{zero}");
    let huge = RateLimit::global(Rate::per_second(2_000_000_000)).unwrap_err();
    assert_eq!(huge.code(), Code::InvalidArgument);
    assert!(
        huge.message()
            .contains("Rate::per_second(2000000000) is too high"),
        "{huge}"
    );
    let never = ClientRateLimit::new(Rate::every(Duration::ZERO)).unwrap_err();
    assert!(never.message().contains("Rate::every(0)"), "{never}");
    assert!(!never.message().contains("1000000000 calls/s"), "{never}");
    let burst = ClientRateLimit::new(Rate::per_second(5).burst(0)).unwrap_err();
    assert!(burst.message().contains("burst of 0"), "{burst}");
    let line = PeerRateLimit::new(Rate::every(Duration::ZERO)).unwrap_err();
    assert_eq!(line.code(), Code::InvalidArgument);
    let nobody = ClientRateLimit::new(
        Rate::per_second(5)
            .max_wait(Duration::from_millis(5))
            .max_waiting(0),
    )
    .unwrap_err();
    assert!(nobody.message().contains("max_waiting 0"), "{nobody}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_concurrency_cap_fails_at_once_or_waits_up_to_its_maximum_wait() {
    use erpc::client::ClientConcurrencyLimit;
    let (server, handled) = serve_with(vec![]).await;
    let addr = server.local_addr().to_string();
    let cap = ClientConcurrencyLimit::new(2).unwrap();
    let client = EchoClient::new(
        erpc::Client::builder()
            .layer(cap.clone())
            .build(addr.as_str())
            .unwrap(),
    );
    let busy: Vec<_> = (0..2)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.sleep(400).await })
        })
        .collect();
    while cap.in_flight() < 2 {
        tokio::task::yield_now().await;
    }
    let t = Instant::now();
    let refused = client.len("x".into()).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused}");
    assert!(
        refused.message().contains("ClientConcurrencyLimit"),
        "{refused}"
    );
    assert!(t.elapsed() < Duration::from_millis(50), "{:?}", t.elapsed());
    // With a maximum wait, the third call waits for a slot and goes through.
    let patient = EchoClient::new(
        erpc::Client::builder()
            .layer(
                ClientConcurrencyLimit::new(1)
                    .unwrap()
                    .max_wait(Duration::from_secs(2)),
            )
            .build(addr.as_str())
            .unwrap(),
    );
    let first = {
        let patient = patient.clone();
        tokio::spawn(async move { patient.sleep(150).await })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    let t = Instant::now();
    assert_eq!(patient.len("ab".into()).await.unwrap(), 2);
    assert!(
        t.elapsed() >= Duration::from_millis(80),
        "{:?}",
        t.elapsed()
    );
    first.await.unwrap().unwrap();
    for call in busy {
        call.await.unwrap().unwrap();
    }
    // The refused call never reached the server.
    assert_eq!(handled.calls.load(Ordering::Relaxed), 4);
    server.shutdown().await;
}

/// A cap's refusal says which limit ended the wait: none configured (refused at once, not
/// "max wait 1 ms"), the maximum wait, or — `deadline_exceeded` — the call's deadline when
/// it came first (not the maximum wait that did not apply).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_concurrency_cap_refusal_names_what_ended_the_wait() {
    use erpc::client::ClientConcurrencyLimit;
    let (server, _handled) = serve_with(vec![]).await;
    let addr = server.local_addr().to_string();
    let capped = |cap: &ClientConcurrencyLimit| {
        EchoClient::new(
            erpc::Client::builder()
                .layer(cap.clone())
                .build(addr.as_str())
                .unwrap(),
        )
    };
    let occupy = |client: &EchoClient| {
        let client = client.clone();
        tokio::spawn(async move { client.sleep(600).await })
    };

    let at_once = ClientConcurrencyLimit::new(1).unwrap();
    let client = capped(&at_once);
    let busy = occupy(&client);
    while at_once.in_flight() < 1 {
        tokio::task::yield_now().await;
    }
    let refused = client.len("x".into()).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused}");
    assert!(refused.is_client_limit(), "{refused}");
    assert!(
        refused.message().contains("refused at once") && !refused.message().contains("max wait"),
        "{refused}"
    );
    busy.await.unwrap().unwrap();

    let patient = ClientConcurrencyLimit::new(1)
        .unwrap()
        .max_wait(Duration::from_millis(200));
    let client = capped(&patient);
    let busy = occupy(&client);
    while patient.in_flight() < 1 {
        tokio::task::yield_now().await;
    }
    // The maximum wait ends it.
    let refused = client.len("x".into()).await.unwrap_err();
    assert!(refused.is_client_limit(), "{refused}");
    assert!(
        refused
            .message()
            .contains("within the maximum wait of 200 ms"),
        "{refused}"
    );
    // The deadline, 100 ms away, comes before the maximum wait of 200 ms.
    let t = Instant::now();
    let refused = client
        .len("x".into())
        .timeout(Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(
        t.elapsed() < Duration::from_millis(190),
        "{:?}",
        t.elapsed()
    );
    // The call's deadline: `deadline_exceeded`, whichever of the cap's wait and the call's
    // own deadline timer (set for the same instant) ends it first; the cap's says so.
    assert_eq!(refused.code(), Code::DeadlineExceeded, "{refused}");
    let message = refused.message();
    assert!(
        !message.contains("ClientConcurrencyLimit")
            || (refused.is_client_limit()
                && message.contains("the call's deadline, ")
                && message.contains("passed while it waited for a slot")
                && message.contains("maximum wait 200 ms")),
        "{refused}"
    );
    busy.await.unwrap().unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_waits_its_turn_too_and_one_past_the_wait_is_refused() {
    use futures_util::StreamExt;
    use support::feed::{FeedClient, FeedImpl, FeedServer};
    // Feed.count: one stream per 100 ms, none saved up, waiting up to 150 ms.
    let rate = Rate::every(Duration::from_millis(100)).max_wait(Duration::from_millis(150));
    let limit =
        RateLimit::per_method(PerMethod::new(None).method("Feed", "count", Some(rate))).unwrap();
    let server = erpc::Server::builder()
        .admission(limit)
        .add_service(FeedServer::new(FeedImpl::default()))
        .serve([mem_addr()])
        .await
        .unwrap();
    let client = FeedClient::new(erpc::Client::new(server.local_addr().to_string()).unwrap());
    let start = Instant::now();
    let first: Vec<u64> = client
        .count(2)
        .await
        .unwrap()
        .map(|n| n.unwrap())
        .collect()
        .await;
    assert_eq!(first, [0, 1]);
    // The second waits ~100 ms for its turn, then runs in full.
    let second: Vec<u64> = client
        .count(3)
        .await
        .unwrap()
        .map(|n| n.unwrap())
        .collect()
        .await;
    let at = start.elapsed();
    assert_eq!(second, [0, 1, 2]);
    assert!(
        at >= Duration::from_millis(80),
        "the second stream ran after {at:?}"
    );
    // Two more at once: the first waits its turn, the second is past the wait and refused.
    let (a, b) = tokio::join!(client.count(1), client.count(1));
    let mut outcomes = Vec::new();
    for stream in [a, b] {
        let mut stream = stream.unwrap();
        outcomes.push(stream.message().await.map(|_| ()));
    }
    let refused: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert_eq!(refused.len(), 1, "{outcomes:?}");
    assert_refusal(refused[0]);
    server.shutdown().await;
}

/// What a burst of calls through a rate limit saw: each call's outcome and how long it took.
async fn burst_of(client: &EchoClient, calls: usize) -> Vec<(Result<u64, Status>, Duration)> {
    let tasks: Vec<_> = (0..calls)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let sent = Instant::now();
                let r = client
                    .len("abc".into())
                    .timeout(Duration::from_secs(30))
                    .await;
                (r, sent.elapsed())
            })
        })
        .collect();
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.unwrap());
    }
    seen
}

/// Every refusal of a leaky bucket with a maximum wait of `max_wait_ms` came at once, and
/// its numbers agree with its reason: the turn is beyond the wait, or the line is full.
fn assert_refused_when_joining(seen: &[(Result<u64, Status>, Duration)], max_wait_ms: u128) {
    for (r, took) in seen {
        let Err(status) = r else { continue };
        assert_refusal(status);
        let message = status.message();
        let away: u128 = message
            .split("the next turn is ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|ms| ms.parse().ok())
            .unwrap_or_else(|| panic!("no turn in {message}"));
        assert!(
            away > max_wait_ms || message.contains("line is full"),
            "a refusal contradicting itself after {took:?}: {message}"
        );
        // Refused at once, not after waiting in line (a generous bound for a loaded machine;
        // the turns admitted are 50 ms apart).
        assert!(
            *took < Duration::from_millis(120),
            "refused after {took:?}: {message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_admitted_to_the_line_is_never_refused_after_waiting() {
    // 20 calls/s paced (one per 50 ms), each waiting up to 200 ms; ten at once: the first
    // goes, four wait (their turns 50..200 ms away), the rest are refused at once.
    let rate = Rate::per_second(20)
        .leaky()
        .max_wait(Duration::from_millis(200));
    // The server's limit.
    let limit = RateLimit::global(rate).unwrap();
    let (server, _) = serve_with(vec![Arc::new(limit)]).await;
    let addr = server.local_addr().to_string();
    let seen = burst_of(&client(&addr), 10).await;
    assert_refused_when_joining(&seen, 200);
    let ok = seen.iter().filter(|(r, _)| r.is_ok()).count();
    assert!((4..=6).contains(&ok), "{ok} went through: {seen:?}");
    server.shutdown().await;
    // The client's limit: the same line (to a server without a limit).
    let (server, _) = serve_with(vec![]).await;
    let addr = server.local_addr().to_string();
    let limit = ClientRateLimit::new(rate).unwrap();
    let paced = EchoClient::new(erpc::Client::builder().layer(limit).build(addr).unwrap());
    let seen = burst_of(&paced, 10).await;
    assert_refused_when_joining(&seen, 200);
    let ok = seen.iter().filter(|(r, _)| r.is_ok()).count();
    assert!((4..=6).contains(&ok), "{ok} went through: {seen:?}");
    server.shutdown().await;
}

#[test]
fn a_concurrency_cap_of_zero_is_refused_where_it_is_given() {
    use erpc::client::ClientConcurrencyLimit;
    use erpc::server::{ConcurrencyLimit, MethodConcurrencyLimit};
    let client = ClientConcurrencyLimit::new(0).unwrap_err();
    assert_eq!(client.code(), Code::InvalidArgument);
    assert!(
        client.message().contains("ClientConcurrencyLimit::new(0)"),
        "{client}"
    );
    let server = ConcurrencyLimit::new(0).unwrap_err();
    assert!(
        server.message().contains("ConcurrencyLimit::new(0)"),
        "{server}"
    );
    let method = MethodConcurrencyLimit::new(PerMethod::new(None).method("Echo", "len", Some(0)))
        .unwrap_err();
    assert_eq!(method.code(), Code::InvalidArgument);
    let Err(workers) = erpc::Server::builder().workers(0, 8) else {
        panic!("0 workers accepted")
    };
    assert!(workers.message().contains("0 workers"), "{workers}");
    assert!(erpc::Server::builder().workers(1, 0).is_ok());
}

/// A call waiting for its rate-limit turn is not running: it holds no slot of any cap — the
/// workers' queue, `ConcurrencyLimit`, `MethodConcurrencyLimit`, `AdaptiveLimit`, the
/// connection's running-call cap — whichever order the hooks were added in, so another call
/// runs meanwhile under caps of one; once its wait is over it takes them (and is refused,
/// truly counted, when they are full).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_waiting_for_its_rate_holds_no_slot_of_any_cap_in_either_order() {
    use erpc::server::{AdaptiveLimit, AdaptiveSettings, ConcurrencyLimit, MethodConcurrencyLimit};
    for caps_first in [false, true] {
        // `len`: one call, then one a second, each waiting up to 2 s for its turn.
        let rate = Rate::every(Duration::from_secs(1)).max_wait(Duration::from_secs(2));
        let line =
            RateLimit::per_method(PerMethod::new(None).method("Echo", "len", Some(rate))).unwrap();
        let concurrency = ConcurrencyLimit::new(1).unwrap();
        let bulkhead = MethodConcurrencyLimit::new(PerMethod::new(Some(1))).unwrap();
        let one = AdaptiveSettings {
            initial_limit: 1,
            min_limit: 1,
            max_limit: 1,
            ..Default::default()
        };
        let adaptive = AdaptiveLimit::new(one);
        let mut builder = erpc::Server::builder()
            .add_service(EchoServer::new(EchoImpl::default()))
            .workers(1, 0)
            .unwrap()
            .max_in_flight(1);
        if !caps_first {
            builder = builder.admission(line.clone());
        }
        builder = builder
            .admission(concurrency.clone())
            .admission(bulkhead.clone())
            .admission(adaptive.clone());
        if caps_first {
            builder = builder.admission(line.clone());
        }
        let server = builder.serve([mem_addr()]).await.unwrap();
        let workers = server.workers().expect("a worker limit").clone();
        let client = client(&server.local_addr().to_string());
        let order = if caps_first {
            "caps first"
        } else {
            "rate first"
        };

        client.len("a".into()).await.unwrap();
        let queued = tokio::spawn(client.len("ab".into()).into_future());
        eventually(
            || line.waiting() == 1,
            || format!("{order}: {} calls in the rate's line", line.waiting()),
        )
        .await;
        let held = [
            ("ConcurrencyLimit", concurrency.running()),
            (
                "MethodConcurrencyLimit",
                bulkhead.running("Echo", "len").unwrap_or(9),
            ),
            ("AdaptiveLimit", adaptive.running()),
            ("workers running", workers.running()),
            ("workers' queue", workers.waiting()),
        ];
        assert!(
            held.iter().all(|(_, n)| *n == 0),
            "{order}: slots held while the call waits for its rate: {held:?}"
        );
        // Every cap is one, and the waiting call holds none: another call runs at once.
        let started = Instant::now();
        let other = client.sleep(1).await;
        assert!(other.is_ok(), "{order}: {other:?}");
        assert!(
            started.elapsed() < Duration::from_millis(700),
            "{order}: a call waited {:?} behind the one waiting for its rate",
            started.elapsed()
        );
        // Once its wait is over the call takes the caps: full now, it is refused, and the
        // refusal's count is of calls running.
        let busy = tokio::spawn(client.sleep(5_000).into_future());
        eventually(
            || concurrency.running() == 1,
            || format!("{order}: {} running", concurrency.running()),
        )
        .await;
        assert!(
            line.waiting() == 1,
            "{order}: the rate-limited call's turn came too early"
        );
        let status = queued.await.unwrap().unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted, "{order}: {status}");
        assert!(
            status
                .message()
                .contains("server: 1 call already running (ConcurrencyLimit)"),
            "{order}: {status}"
        );
        busy.abort();
        server.shutdown().await;
    }
}

/// The built-in services are outside the default rate (a load balancer's health checks,
/// `erpc call`'s describe), and limited by a rate given to them by name.
#[tokio::test]
async fn health_and_reflection_are_outside_the_default_rate() {
    use erpc::server::health::service::{HealthCheckRequest, HealthCheckResponse};
    let ask = || HealthCheckRequest {
        service: String::new(),
    };
    let one = Rate::per_second(1).burst(1);
    let limit = RateLimit::global(one).unwrap();
    let (server, _) = serve_with(vec![Arc::new(limit)]).await;
    let client = erpc::Client::new(server.local_addr().clone()).unwrap();
    for _ in 0..5 {
        let _: HealthCheckResponse = client
            .call("erpc.Health", "check", ask())
            .await
            .expect("health checks are not limited by the default rate");
        let _: erpc::reflection::ListResponse = client
            .call(
                erpc::reflection::SERVICE,
                erpc::reflection::LIST,
                serde_json::json!({}),
            )
            .codec(erpc::CodecId::JSON)
            .await
            .expect("reflection is not limited by the default rate");
    }
    let echo = EchoClient::new(client);
    echo.echo(Msg::new(1, 1)).await.expect("the burst");
    let refused = echo.echo(Msg::new(2, 1)).await.expect_err("over the rate");
    assert_eq!(refused.code(), Code::ResourceExhausted);
    server.shutdown().await;

    // Named: limited.
    let limit =
        RateLimit::per_method(PerMethod::new(None).service("erpc.Health", Some(one))).unwrap();
    let (server, _) = serve_with(vec![Arc::new(limit)]).await;
    let client = erpc::Client::new(server.local_addr().clone()).unwrap();
    let _: HealthCheckResponse = client
        .call("erpc.Health", "check", ask())
        .await
        .expect("the burst");
    let refused = client
        .call::<_, HealthCheckResponse>("erpc.Health", "check", ask())
        .await
        .expect_err("over its own rate");
    assert_eq!(refused.code(), Code::ResourceExhausted);
    server.shutdown().await;
}
