//! Server workers on a real server with real clients: the handler worker limit, the async
//! task queue drained on shutdown, and the slow-call log.

use crate::support;

use std::future::IntoFuture;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use erpc::server::TaskQueue;
use erpc::{Code, ServerHandle, Status};
use support::*;

async fn serve_echo(
    build: impl FnOnce(erpc::ServerBuilder) -> erpc::ServerBuilder,
) -> (ServerHandle, Arc<Probe>, EchoClient) {
    let echo = EchoImpl::default();
    let probe = echo.probe.clone();
    let builder = erpc::Server::builder().add_service(EchoServer::new(echo));
    let handle = build(builder).serve(["tcp://127.0.0.1:0"]).await.unwrap();
    let client = client(&handle.local_addr().to_string());
    (handle, probe, client)
}

#[tokio::test]
async fn at_most_n_handlers_run_the_queue_waits_and_beyond_it_calls_are_refused() {
    let (server, probe, client) = serve_echo(|b| b.workers(2, 1).unwrap()).await;
    // Two calls take both workers; a third waits for one.
    let running: Vec<_> = (0..2)
        .map(|_| tokio::spawn(client.sleep(400).into_future()))
        .collect();
    wait_for(&probe.started, 2, Duration::from_secs(5)).await;
    let waiting = tokio::spawn(client.sleep(10).into_future());
    // It reaches the server and waits (it must not start: no worker is free).
    let workers = server.workers().expect("a worker limit").clone();
    eventually(
        || workers.waiting() == 1,
        || format!("{} waiting", workers.waiting()),
    )
    .await;
    assert_eq!(workers.running(), 2);
    assert_eq!(
        *probe.started.borrow(),
        2,
        "the third call ran without a worker"
    );
    // A fourth finds the queue full: refused at once, never run.
    let started = std::time::Instant::now();
    let refused = client.sleep(10).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused}");
    assert!(refused.message().contains("workers"), "{refused}");
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    for call in running {
        call.await.unwrap().unwrap();
    }
    // The waiting call ran once a worker was free.
    waiting.await.unwrap().unwrap();
    assert_eq!(*probe.started.borrow(), 3);
    // With the workers idle again, calls run.
    client.sleep(1).await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn a_call_waiting_for_a_worker_keeps_its_deadline() {
    let (server, probe, client) = serve_echo(|b| b.workers(1, 8).unwrap()).await;
    let busy = tokio::spawn(client.sleep(1_000).into_future());
    wait_for(&probe.started, 1, Duration::from_secs(5)).await;
    let started = std::time::Instant::now();
    let expired = client
        .sleep(1)
        .timeout(Duration::from_millis(150))
        .await
        .unwrap_err();
    assert_eq!(expired.code(), Code::DeadlineExceeded, "{expired}");
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
    busy.await.unwrap().unwrap();
    assert_eq!(*probe.started.borrow(), 1, "the expired call never ran");
    server.shutdown().await;
}

/// The built-in services are outside the worker limit: with the one worker busy and no
/// room to wait, a health check and a tool's reflection are answered while a call of the
/// application is refused.
#[tokio::test]
async fn a_busy_server_answers_health_and_reflection() {
    use erpc::server::health::service::{HealthCheckRequest, HealthCheckResponse};
    let (server, probe, client) = serve_echo(|b| b.workers(1, 0).unwrap()).await;
    let busy = tokio::spawn(client.sleep(1_000).into_future());
    wait_for(&probe.started, 1, Duration::from_secs(5)).await;
    let refused = client
        .sleep(1)
        .await
        .expect_err("no worker and no room to wait");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused}");
    let raw = erpc::Client::new(server.local_addr().clone()).unwrap();
    let health: Result<HealthCheckResponse, _> = raw
        .call(
            "erpc.Health",
            "check",
            HealthCheckRequest {
                service: String::new(),
            },
        )
        .await;
    assert!(health.is_ok(), "health while busy: {health:?}");
    let listed: Result<erpc::reflection::ListResponse, _> = raw
        .call(
            erpc::reflection::SERVICE,
            erpc::reflection::LIST,
            serde_json::json!({}),
        )
        .codec(erpc::CodecId::JSON)
        .await;
    assert!(listed.is_ok(), "reflection while busy: {listed:?}");
    busy.await.unwrap().unwrap();
    server.shutdown().await;
}

/// A call waiting in a rate limit's line holds no worker: with one worker, a call to
/// another method runs at once while a rate-limited call waits for its turn.
#[tokio::test]
async fn a_call_waiting_for_its_rate_takes_no_worker() {
    use erpc::per_method::PerMethod;
    use erpc::rate::Rate;
    use erpc::server::RateLimit;
    // `len`: one call, then one per 1.5 s, each waiting up to 3 s for its turn.
    let rate = Rate::every(Duration::from_millis(1_500)).max_wait(Duration::from_secs(3));
    let limit =
        RateLimit::per_method(PerMethod::new(None).method("Echo", "len", Some(rate))).unwrap();
    let line = limit.clone();
    let (server, _probe, client) = serve_echo(|b| b.workers(1, 8).unwrap().admission(limit)).await;
    client.len("a".into()).await.unwrap();
    let queued = tokio::spawn(client.len("ab".into()).into_future());
    // The second `len` reaches the server and waits in the rate's line (1.5 s) holding
    // neither a worker nor a place in the workers' queue.
    let workers = server.workers().expect("a worker limit").clone();
    eventually(
        || line.waiting() == 1,
        || format!("{} calls in the rate's line", line.waiting()),
    )
    .await;
    assert_eq!(
        (workers.running(), workers.waiting()),
        (0, 0),
        "(running, waiting for a worker) while the call waits for its rate"
    );
    let started = std::time::Instant::now();
    client.sleep(1).await.unwrap();
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(700),
        "a call waited {took:?} for the worker a rate-limited call held while in line"
    );
    assert!(!queued.is_finished(), "the rate-limited call did not wait");
    assert_eq!(queued.await.unwrap().unwrap(), 2);
    server.shutdown().await;
}

/// A service whose handler answers at once and leaves the work to a task queue.
#[erpc::service]
trait Orders {
    /// Queue `n`'s receipt; answer at once.
    async fn place(&self, n: u64) -> Result<(), Status>;
}

#[derive(Clone)]
struct OrdersImpl {
    queue: TaskQueue,
    /// Receipts sent, in order.
    sent: Arc<Mutex<Vec<u64>>>,
    /// How long sending a receipt takes.
    send_time: Duration,
}

impl Orders for OrdersImpl {
    async fn place(&self, n: u64) -> Result<(), Status> {
        let sent = self.sent.clone();
        let send_time = self.send_time;
        self.queue.submit(async move {
            tokio::time::sleep(send_time).await;
            sent.lock().unwrap().push(n);
        })
    }
}

async fn serve_orders(
    queue: &TaskQueue,
    send_time: Duration,
) -> (ServerHandle, OrdersClient, Arc<Mutex<Vec<u64>>>) {
    let orders = OrdersImpl {
        queue: queue.clone(),
        sent: Arc::default(),
        send_time,
    };
    let sent = orders.sent.clone();
    let server = erpc::Server::builder()
        .add_service(OrdersServer::new(orders))
        .task_queue(queue)
        .serve(["tcp://127.0.0.1:0"])
        .await
        .unwrap();
    let client = OrdersClient::new(erpc::Client::new(server.local_addr().clone()).unwrap());
    (server, client, sent)
}

#[tokio::test]
async fn queued_jobs_outlive_their_calls_and_a_full_queue_refuses() {
    // One worker, two places: the first job runs, two wait, the fourth is refused.
    let queue = TaskQueue::new(1, 2);
    let (server, client, sent) = serve_orders(&queue, Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    for n in 0..3 {
        client.place(n).await.unwrap();
    }
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "the calls waited for their jobs: {:?}",
        started.elapsed()
    );
    assert!(sent.lock().unwrap().is_empty());
    let refused = client.place(3).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused}");
    assert!(
        refused.message().contains("task queue is full"),
        "{refused}"
    );
    assert_eq!(queue.len(), 3);
    server.shutdown().await;
    // The shutdown drained the queue: every accepted job ran, in order.
    assert_eq!(*sent.lock().unwrap(), [0, 1, 2]);
    assert!(queue.is_empty());
    // And the queue takes no more.
    let late = queue.submit(async {}).unwrap_err();
    assert_eq!(late.code(), Code::Unavailable, "{late}");
}

#[tokio::test]
async fn jobs_still_running_after_the_grace_are_stopped() {
    let queue = TaskQueue::new(2, 0);
    let (server, client, sent) = serve_orders(&queue, Duration::from_secs(60)).await;
    client.place(1).await.unwrap();
    assert!(
        !queue.drain(Duration::from_millis(100)).await,
        "a 60 s job finished within 100 ms"
    );
    assert!(queue.is_empty());
    assert!(sent.lock().unwrap().is_empty());
    server.shutdown().await;
}

/// Captured log lines.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn calls_over_the_threshold_are_logged_with_service_method_peer_and_duration() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    // A current-thread runtime: the server's tasks log on this thread, to this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);
    // A threshold far from both calls: a loaded machine may add tens of milliseconds to
    // either (the fast one must stay under it, the slow one's duration is checked below).
    let (server, _, client) = serve_echo(|b| b.slow_call_log(Duration::from_millis(300))).await;
    client.sleep(10).await.unwrap();
    client.sleep(600).await.unwrap();
    server.shutdown().await;
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let slow: Vec<&str> = log.lines().filter(|l| l.contains("slow call")).collect();
    assert_eq!(slow.len(), 1, "one slow call, not the fast one:\n{log}");
    let line = slow[0];
    for field in [
        "WARN",
        "service=Echo",
        "method=sleep",
        "peer=tcp://127.0.0.1:",
        "threshold_ms=300",
        "code=\"ok\"",
    ] {
        assert!(line.contains(field), "{field:?} missing from {line}");
    }
    // The call's duration, in milliseconds: at least its 600 ms sleep.
    let took: f64 = line
        .split("took_ms=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no took_ms in {line}"));
    assert!((600.0..10_000.0).contains(&took), "took_ms={took}: {line}");
}
