//! A queue client's and a bridge's normal end, on the real servers, says nothing at ERROR or
//! WARN (fu16 #8): a closing connection is not an error. Every event of the process is
//! captured (a global subscriber: this binary holds only these tests, run one at a time),
//! including those the backends' own threads log while the runtime shuts down. That the
//! capture sees the backends' events at all is checked too ([`Logged::check_quiet`]):
//! without it, "nothing at ERROR or WARN" could not fail.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use erpc_core::Metadata;
use support::{Backend, WorkClient};
use tracing::Level;
use tracing_subscriber::layer::{Context, SubscriberExt};

/// The ERROR and WARN events seen, as `LEVEL target: message fields`.
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Events of any level seen, counted by where they came from: `crate` (the target's first
/// part) and `crate@thread` (the thread's name, if it has one).
static SOURCES: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());
/// One scenario at a time: the capture is the whole process's.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
/// Whether a scenario runs: panics are recorded only then (not a test's own assertion).
static RECORDING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

struct Capture;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let level = *event.metadata().level();
        let from = event.metadata().target().split("::").next().unwrap_or("");
        {
            let mut sources = SOURCES.lock().unwrap_or_else(|p| p.into_inner());
            *sources.entry(from.to_owned()).or_default() += 1;
            if let Some(thread) = std::thread::current().name() {
                *sources.entry(format!("{from}@{thread}")).or_default() += 1;
            }
        }
        if level > Level::WARN {
            return;
        }
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!(" {}={value:?}", field.name()));
            }
        }
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        SEEN.lock().unwrap_or_else(|p| p.into_inner()).push(format!(
            "{level} {}:{}",
            event.metadata().target(),
            fields.0
        ));
    }
}

fn capture() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Capture))
            .expect("the only global subscriber");
        // A panic, even one caught, prints to stderr: noise at the end of a program too.
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if RECORDING.load(std::sync::atomic::Ordering::Acquire) {
                SEEN.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(format!("PANIC {info}"));
            }
            default(info);
        }));
    });
}

/// What was logged during a scenario.
#[derive(Debug)]
struct Logged {
    /// At ERROR and WARN, as `LEVEL target: message fields`.
    alarms: Vec<String>,
    /// Events of any level, counted by crate and by `crate@thread`.
    sources: BTreeMap<String, usize>,
}

impl Logged {
    /// Nothing at ERROR or WARN — and the capture saw the backend's client crate's own
    /// events (on RabbitMQ, some from lapin's I/O thread, which outlives the runtime), so
    /// that it would have seen its errors too.
    fn check_quiet(&self, backend: Backend) {
        let (client, thread) = match backend {
            Backend::Nats => ("async_nats", None),
            Backend::RabbitMq => ("lapin", Some("lapin@lapin-io-loop")),
        };
        let seen = |source: &str| self.sources.get(source).copied().unwrap_or(0);
        assert!(
            seen(client) > 0,
            "{backend:?}: the capture saw no event of {client}, so it would not see its errors either; seen: {:?}",
            self.sources
        );
        if let Some(thread) = thread {
            assert!(
                seen(thread) > 0,
                "{backend:?}: the capture saw no event from {thread}; seen: {:?}",
                self.sources
            );
        }
        assert!(self.alarms.is_empty(), "{backend:?}: {:#?}", self.alarms);
    }
}

/// Run `life` on a runtime of its own, then shut the runtime down as a program's end does,
/// give the backends' threads a moment to report, and return what was logged meanwhile.
/// What `life` returns (the queue server) lives until then: a program ends, not its broker.
fn logged_during<T, F: Future<Output = T>>(life: impl FnOnce() -> F) -> Logged {
    capture();
    let _one = ONE_AT_A_TIME.blocking_lock();
    SEEN.lock().unwrap_or_else(|p| p.into_inner()).clear();
    SOURCES.lock().unwrap_or_else(|p| p.into_inner()).clear();
    RECORDING.store(true, std::sync::atomic::Ordering::Release);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let kept = runtime.block_on(life());
    drop(runtime);
    // lapin's I/O thread outlives the runtime and reports what it meets after it.
    std::thread::sleep(Duration::from_millis(500));
    RECORDING.store(false, std::sync::atomic::Ordering::Release);
    let logged = Logged {
        alarms: std::mem::take(&mut *SEEN.lock().unwrap_or_else(|p| p.into_inner())),
        sources: std::mem::take(&mut *SOURCES.lock().unwrap_or_else(|p| p.into_inner())),
    };
    drop(kept);
    logged
}

/// A server, the Work service and a bridge, each on a connection of its own; `client` is
/// what the scenario does with a queue client of its own connection (calls, a send), after
/// which the bridge stops and its connection closes. Returns the server, still running.
async fn with_a_bridge<F: Future<Output = ()>>(
    backend: Backend,
    client: impl FnOnce(erpc_queue::QueueClient) -> F,
) -> support::servers::Server {
    let server = backend.server().await;
    let (service, seen) = support::service(Duration::ZERO).await;
    let bridge_queue = connect(&server).await;
    let config = support::bridge_config(backend, &server.url, &service.local_addr().to_string());
    let bridge = support::bridge(bridge_queue.clone(), config).await;
    let queue_client = queue_client(&server).await;
    client(queue_client).await;
    seen.wait_for(Duration::from_secs(20), |s| s.runs_of(100) == 1)
        .await;
    bridge.stop().await;
    bridge_queue
        .close()
        .await
        .expect("the bridge's queue closes");
    drop(bridge_queue);
    service.shutdown().await;
    server
}

/// A connection of its own to `server` (not the support's, which publishes a probe).
async fn connect(server: &support::servers::Server) -> Arc<dyn erpc_queue::Queue> {
    erpc_queue::connect(&erpc_queue::QueueConfig {
        backend: server.backend().into(),
        url: Some(server.url.clone()),
        ..Default::default()
    })
    .await
    .expect("connects")
}

/// A queue client on a connection of its own, with a timeout long enough for a loaded machine.
async fn queue_client(server: &support::servers::Server) -> erpc_queue::QueueClient {
    erpc_queue::QueueClient::connect(
        connect(server).await,
        erpc_queue::QueueClientOptions {
            timeout: Duration::from_secs(30),
            ..Default::default()
        },
    )
    .await
    .expect("the client subscribes")
}

/// Calls, a fire-and-forget, and a few answers in flight when the client closes.
async fn use_it(client: &erpc_queue::QueueClient) {
    let work = WorkClient::new(client.client());
    for n in 0..10 {
        assert_eq!(work.double(n).await.expect("answered"), n * 2);
    }
    let body = Bytes::from(rmp_serde::to_vec(&100u64).expect("encodes"));
    client
        .send("Work", "double", body, Metadata::new())
        .await
        .expect("persisted");
}

fn closed_quietly(backend: Backend) {
    let logged = logged_during(|| {
        with_a_bridge(backend, |client| async move {
            use_it(&client).await;
            client.close().await;
        })
    });
    logged.check_quiet(backend);
}

fn dropped_quietly(backend: Backend) {
    let logged = logged_during(|| {
        with_a_bridge(backend, |client| async move {
            use_it(&client).await;
            drop(client);
        })
    });
    logged.check_quiet(backend);
}

#[test]
fn nats_a_closed_client_and_a_stopped_bridge_log_no_error_or_warning() {
    closed_quietly(Backend::Nats);
}

#[test]
fn rabbitmq_a_closed_client_and_a_stopped_bridge_log_no_error_or_warning() {
    closed_quietly(Backend::RabbitMq);
}

#[test]
fn nats_a_client_dropped_without_close_logs_no_error_or_warning() {
    dropped_quietly(Backend::Nats);
}

#[test]
fn rabbitmq_a_client_dropped_without_close_logs_no_error_or_warning() {
    dropped_quietly(Backend::RabbitMq);
}

/// After `close`, the client refuses calls at once, naming why.
#[test]
fn a_closed_client_refuses_calls() {
    let _ = logged_during(|| async {
        let server = Backend::Nats.server().await;
        let client = erpc_queue::QueueClient::connect(
            connect(&server).await,
            erpc_queue::QueueClientOptions::default(),
        )
        .await
        .expect("subscribes");
        let other = client.clone();
        client.close().await;
        let refused = other
            .call("Work", "double", Bytes::new(), Metadata::new())
            .await
            .expect_err("closed");
        assert_eq!(refused.code(), erpc_core::Code::Cancelled, "{refused}");
        assert!(refused.message().contains("closed"), "{refused}");
        server
    });
}

/// A program that ends with its bridge still running (its task, holding the queue's only
/// reference, dropped while the runtime shuts down) logs nothing at ERROR or WARN, and
/// nothing panics (on NATS; see below for RabbitMQ).
fn a_bridge_left_running_ends_quietly(backend: Backend) {
    let logged = logged_during(|| async move {
        let server = backend.server().await;
        let (service, seen) = support::service(Duration::ZERO).await;
        let config =
            support::bridge_config(backend, &server.url, &service.local_addr().to_string());
        let bridge = erpc_queue::Bridge::new(connect(&server).await, config).expect("valid");
        let mut stats = bridge.stats();
        let (ready, consuming) = tokio::sync::oneshot::channel();
        tokio::spawn(bridge.run(
            move || {
                let _ = ready.send(());
            },
            std::future::pending(),
        ));
        consuming.await.expect("consuming");
        let client = erpc_queue::QueueClient::connect(
            connect(&server).await,
            erpc_queue::QueueClientOptions::default(),
        )
        .await
        .expect("subscribes");
        use_it(&client).await;
        client.close().await;
        // The requests `use_it` made (ten calls and a send) are the bridge's to finish: an
        // end that cuts an ack short says so, rightly (it will be redelivered). What is
        // checked is an idle bridge left running at the end, so every ack is awaited.
        tokio::time::timeout(Duration::from_secs(10), stats.wait_for(|s| s.acked >= 11))
            .await
            .expect("every request acked in time")
            .expect("the bridge runs");
        assert!(seen.runs_of(100) >= 1, "the sent request ran");
        server
    });
    logged.check_quiet(backend);
}

#[test]
fn nats_a_bridge_left_running_at_the_end_logs_no_error_or_warning() {
    a_bridge_left_running_ends_quietly(Backend::Nats);
}

/// How many programs the RabbitMQ close is tried in: its fault (lapin's I/O thread still on
/// the reactor when `close` returned) showed in 20–50 % of runs, so 20 runs miss it with a
/// chance of about 1 % at worst.
const RUNS: usize = 20;

/// fu16 #2: on RabbitMQ, a program whose runtime ends right after `close()` logged
/// `A Tokio 1.x context was found, but it is being shutdown` at ERROR from lapin's I/O thread
/// in a fraction of runs — `close` returned before that thread was done. Each run is a
/// program of its own: a runtime, a client on a connection of its own that sends and calls
/// (answered by a bridge on the test's own runtime), `close`, and the runtime shut down at
/// once. Each run must also have heard lapin's I/O thread (any level), or the capture could
/// not have seen its ERROR.
#[test]
fn rabbitmq_a_runtime_ended_right_after_close_logs_nothing_run_after_run() {
    let host = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let backend = Backend::RabbitMq;
    let (server, service, bridge, bridge_queue) = host.block_on(async {
        let server = backend.server().await;
        let (service, _seen) = support::service(Duration::ZERO).await;
        let bridge_queue = connect(&server).await;
        let config =
            support::bridge_config(backend, &server.url, &service.local_addr().to_string());
        let bridge = support::bridge(bridge_queue.clone(), config).await;
        (server, service, bridge, bridge_queue)
    });
    for run in 0..RUNS {
        let logged = logged_during(|| async {
            let client = queue_client(&server).await;
            let work = WorkClient::new(client.client());
            assert_eq!(
                work.double(run as u64).await.expect("answered"),
                run as u64 * 2
            );
            client.close().await;
        });
        // Quiet, and the capture heard lapin's I/O thread in this very run.
        logged.check_quiet(backend);
    }
    host.block_on(async {
        bridge.stop().await;
        bridge_queue
            .close()
            .await
            .expect("the bridge's queue closes");
        service.shutdown().await;
    });
    drop(server);
}

/// fu16 #6: a client whose `queue_type` is not the existing queue's gets erpc's clear error
/// at every call, but the broker is asked (and lapin logs the channel it closes, at ERROR)
/// once, not at each call — it used to be three raw ERROR lines per call.
#[test]
fn rabbitmq_a_queue_of_another_type_is_refused_with_one_lapin_error_not_one_per_call() {
    let logged = logged_during(|| async {
        let server = Backend::RabbitMq.server().await;
        let of_type = |queue_type| erpc_queue::QueueConfig {
            backend: "rabbitmq".into(),
            url: Some(server.url.clone()),
            rabbitmq: erpc_queue::RabbitConfig { queue_type },
            ..Default::default()
        };
        // erpc.requests made classic by a first user.
        let classic = erpc_queue::connect(&of_type(erpc_queue::RabbitQueueType::Classic))
            .await
            .expect("connects");
        classic
            .publish("erpc.requests", Bytes::from_static(b"x"))
            .await
            .expect("declared classic");
        let client = erpc_queue::QueueClient::connect(
            erpc_queue::connect(&of_type(erpc_queue::RabbitQueueType::Quorum))
                .await
                .expect("connects"),
            erpc_queue::QueueClientOptions::default(),
        )
        .await
        .expect("subscribes (reply queues are always classic)");
        for _ in 0..3 {
            let refused = client
                .send("Work", "double", Bytes::new(), Metadata::new())
                .await
                .expect_err("another type");
            assert!(
                refused.message().contains("another type than quorum"),
                "{refused}"
            );
        }
        client.close().await;
        classic.close().await.expect("closes");
        server
    });
    let from_lapin: Vec<_> = logged
        .alarms
        .iter()
        .filter(|line| line.starts_with("ERROR lapin"))
        .collect();
    assert_eq!(from_lapin.len(), 1, "{logged:#?}");
    assert!(from_lapin[0].contains("PRECONDITION_FAILED"), "{logged:#?}");
}

// Not on RabbitMQ: a queue still held by a task when the runtime shuts down cannot close in
// order — lapin's I/O thread meets the shutdown and logs it at ERROR. The bridge is to be
// stopped (and its queue closed) first, as `erpc-bridge` and the tests above do.
