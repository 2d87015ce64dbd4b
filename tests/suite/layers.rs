//! The layer model: tower layers on both sides — call-level above the balancer's pick,
//! attempt-level below it, around the server's handler — with tower's own layers reused
//! unchanged, and streams passing the same layers at their opening.

use crate::support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use erpc::client::{Attempt, AttemptService, CallService};
use erpc::discovery::StaticList;
use erpc::layer::ErasableLayer;
use erpc::testing::pair_with;
use erpc::{ClientRequest, ClientResponse, Code, Context, Request, ServerStream, Status};
use futures_util::StreamExt;
use support::mem_addr;
use tower::ServiceBuilder;
use tower::util::MapRequestLayer;

#[erpc::service]
pub trait Probe {
    /// This instance's name, or `unavailable` if it is set to fail.
    async fn who(&self, cx: Context) -> Result<String, Status>;
    /// Sleeps `ms`, then answers it.
    async fn slow(&self, ms: u64) -> Result<u64, Status>;
    /// The value of metadata `key` on the opening, then `n` numbers.
    async fn listen(&self, cx: Context, key: String) -> Result<ServerStream<String>, Status>;
}

struct Instance {
    name: &'static str,
    fails: bool,
    calls: Arc<AtomicUsize>,
}

impl Probe for Instance {
    async fn who(&self, cx: Context) -> Result<String, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fails {
            return Err(Status::unavailable(format!("{} is failing", self.name)));
        }
        let tag = cx.metadata().get_str("tag").unwrap_or("").to_owned();
        let layer = cx.extensions().get::<Seen>().map_or("", |s| s.0);
        Ok(format!("{}{tag}{layer}", self.name))
    }

    async fn slow(&self, ms: u64) -> Result<u64, Status> {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(ms)
    }

    async fn listen(&self, cx: Context, key: String) -> Result<ServerStream<String>, Status> {
        let value = cx.metadata().get_str(&key).unwrap_or("-").to_owned();
        Ok(ServerStream::iter([value, "end".to_owned()]))
    }
}

/// What a server layer leaves for the handler.
#[derive(Clone, Copy)]
struct Seen(&'static str);

async fn instance(name: &'static str, fails: bool) -> (erpc::ServerHandle, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let server = erpc::Server::builder()
        .add_service(ProbeServer::new(Instance {
            name,
            fails,
            calls: calls.clone(),
        }))
        .serve([mem_addr()])
        .await
        .unwrap();
    (server, calls)
}

/// Two instances, "good" and "bad" (which fails every call `unavailable`), listed in that
/// order; how many calls the bad one got.
async fn good_and_bad() -> (
    erpc::ServerHandle,
    erpc::ServerHandle,
    Arc<AtomicUsize>,
    StaticList,
) {
    let (good, _) = instance("good", false).await;
    let (bad, bad_calls) = instance("bad", true).await;
    let list = StaticList::addrs([good.local_addr(), bad.local_addr()]).unwrap();
    (good, bad, bad_calls, list)
}

/// A log of what each layer saw, in order.
type Log = Arc<Mutex<Vec<String>>>;

fn note(log: &Log, line: impl Into<String>) {
    log.lock().unwrap().push(line.into());
}

#[tokio::test]
async fn tower_layers_run_on_both_sides_first_added_outermost() {
    let log: Log = Log::default();
    let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
    let server = erpc::Server::builder()
        .add_service(ProbeServer::new(Instance {
            name: "a",
            fails: false,
            calls: Arc::default(),
        }))
        .layer(MapRequestLayer::new(move |mut request: Request| {
            note(&l1, format!("server-outer:{}", request.context().method()));
            request
                .context_mut()
                .extensions_mut()
                .insert(Seen("+layer"));
            request
        }))
        .layer(MapRequestLayer::new(move |request: Request| {
            note(&l2, "server-inner");
            request
        }))
        .serve([mem_addr()])
        .await
        .unwrap();
    let stack = ServiceBuilder::new()
        .layer(MapRequestLayer::new(move |mut request: ClientRequest| {
            note(&l3, "client-outer");
            request.metadata.set("tag", "+meta");
            request
        }))
        .layer(MapRequestLayer::new({
            let log = log.clone();
            move |request: ClientRequest| {
                note(&log, "client-inner");
                request
            }
        }));
    let client = ProbeClient::new(
        erpc::Client::builder()
            .layer(stack)
            .build(server.local_addr())
            .unwrap(),
    );
    assert_eq!(client.who().await.unwrap(), "a+meta+layer");
    assert_eq!(
        *log.lock().unwrap(),
        [
            "client-outer",
            "client-inner",
            "server-outer:who",
            "server-inner"
        ]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn towers_timeout_layer_ends_a_call_as_deadline_exceeded_and_cancels_it() {
    let (server, _) = instance("a", false).await;
    let client = ProbeClient::new(
        erpc::Client::builder()
            .layer(tower::timeout::TimeoutLayer::new(Duration::from_millis(50)))
            .build(server.local_addr())
            .unwrap(),
    );
    let started = std::time::Instant::now();
    let status = client.slow(5_000).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status}");
    assert!(status.message().contains("timeout"), "{status}");
    assert!(started.elapsed() < Duration::from_secs(2));
    // The layer dropped the call, which cancelled it on the server: the connection is free
    // for the next call.
    assert_eq!(client.slow(1).await.unwrap(), 1);
    server.shutdown().await;
}

/// Retries a call once when it fails `unavailable`: a call-level layer, above the pick.
fn retry_once() -> impl ErasableLayer<ClientRequest, ClientResponse> {
    tower::layer::layer_fn(|inner: CallService| {
        tower::service_fn(move |request: ClientRequest| {
            let inner = inner.clone();
            async move {
                match inner.oneshot(request.clone()).await {
                    Err(status) if status.code() == Code::Unavailable => {
                        inner.oneshot(request).await
                    }
                    other => other,
                }
            }
        })
    })
}

/// Logs each attempt's instance; on a failure, opens that instance's breaker if asked to.
fn per_instance(log: Log, open_breakers: bool) -> impl ErasableLayer<Attempt, ClientResponse> {
    tower::layer::layer_fn(move |inner: AttemptService| {
        let log = log.clone();
        tower::service_fn(move |attempt: Attempt| {
            note(&log, attempt.addr().to_string());
            let load = attempt.load().cloned();
            let inner = inner.clone();
            async move {
                let result = inner.oneshot(attempt).await;
                if open_breakers && result.is_err() {
                    if let Some(load) = load {
                        load.set_breaker_open(true);
                    }
                }
                result
            }
        })
    })
}

#[tokio::test]
async fn a_retry_above_the_pick_picks_again_and_attempts_see_their_instance() {
    let (good, bad, bad_calls, list) = good_and_bad().await;
    let attempts: Log = Log::default();
    let client = ProbeClient::new(
        erpc::Client::builder()
            .layer(retry_once())
            .attempt_layer(per_instance(attempts.clone(), false))
            .discover(&list, "Probe")
            .await
            .unwrap(),
    );
    for _ in 0..10 {
        // Round-robin alternates: a first attempt on the failing instance is retried, and
        // the retry, picked anew, goes to the other one.
        assert_eq!(client.who().await.unwrap(), "good");
    }
    let attempts = attempts.lock().unwrap().clone();
    let on_bad = attempts
        .iter()
        .filter(|a| **a == bad.local_addr().to_string())
        .count();
    assert_eq!(on_bad, bad_calls.load(Ordering::SeqCst));
    assert!(
        on_bad >= 4,
        "round-robin sent {on_bad} of 10 first attempts to the bad one"
    );
    assert_eq!(
        attempts.len(),
        10 + on_bad,
        "one extra attempt per failure: {attempts:?}"
    );
    good.shutdown().await;
    bad.shutdown().await;
}

#[tokio::test]
async fn a_breaker_below_the_pick_steers_the_balancer_away_from_its_instance() {
    let (good, bad, bad_calls, list) = good_and_bad().await;
    let attempts: Log = Log::default();
    let client = ProbeClient::new(
        erpc::Client::builder()
            .attempt_layer(per_instance(attempts.clone(), true))
            .discover(&list, "Probe")
            .await
            .unwrap(),
    );
    let mut failures = 0;
    for _ in 0..20 {
        if client.who().await.is_err() {
            failures += 1;
        }
    }
    // The first failure opened the bad instance's breaker; the pick skips it since.
    assert_eq!(failures, 1);
    assert_eq!(bad_calls.load(Ordering::SeqCst), 1);
    good.shutdown().await;
    bad.shutdown().await;
}

#[tokio::test]
async fn streams_pass_every_layer_at_their_opening() {
    let server_saw: Log = Log::default();
    let seen = server_saw.clone();
    let server = erpc::Server::builder()
        .add_service(ProbeServer::new(Instance {
            name: "a",
            fails: false,
            calls: Arc::default(),
        }))
        .layer(MapRequestLayer::new(move |request: Request| {
            note(
                &seen,
                format!(
                    "stream={} body={}",
                    request.is_stream(),
                    request.body().len()
                ),
            );
            request
        }))
        .serve([mem_addr()])
        .await
        .unwrap();
    let attempts: Log = Log::default();
    let client = ProbeClient::new(
        erpc::Client::builder()
            .layer(MapRequestLayer::new(|mut request: ClientRequest| {
                request.metadata.set("tag", "from-a-layer");
                request
            }))
            .attempt_layer(per_instance(attempts.clone(), false))
            .build(server.local_addr())
            .unwrap(),
    );
    let mut messages = client.listen("tag".to_owned()).await.unwrap();
    let mut got = Vec::new();
    while let Some(message) = messages.next().await {
        got.push(message.unwrap());
    }
    assert_eq!(got, ["from-a-layer", "end"]);
    assert_eq!(*server_saw.lock().unwrap(), ["stream=true body=0"]);
    assert_eq!(*attempts.lock().unwrap(), [server.local_addr().to_string()]);
    server.shutdown().await;
}

#[tokio::test]
async fn a_server_layer_refusing_a_stream_ends_it_with_that_status() {
    let server = erpc::Server::builder()
        .add_service(ProbeServer::new(Instance {
            name: "a",
            fails: false,
            calls: Arc::default(),
        }))
        .layer(tower::filter::FilterLayer::new(
            |request: Request| match request.context().metadata().get_str("token") {
                Some("ok") => Ok(request),
                _ => Err(Status::unauthenticated("no token")),
            },
        ));
    let (client, _server) = pair_with::<ProbeClient>(server, erpc::Client::builder()).await;
    let refused = match client.listen("k".to_owned()).await {
        Ok(mut messages) => messages.next().await.expect("an end").unwrap_err(),
        Err(status) => status,
    };
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused}");
    let status = client.who().await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status}");
    let ok = client.who().metadata("token", "ok").await.unwrap();
    assert_eq!(ok, "a");
}

#[tokio::test]
async fn a_server_layer_answering_a_stream_opening_itself_fails_the_call_naming_it() {
    let server = erpc::Server::builder()
        .add_service(ProbeServer::new(Instance {
            name: "a",
            fails: false,
            calls: Arc::default(),
        }))
        .layer(tower::layer::layer_fn(
            |_inner: erpc::server::HandlerService| {
                // Answers every call itself, passing nothing on.
                tower::service_fn(|_: Request| async { Ok::<_, Status>(erpc::Response::default()) })
            },
        ));
    let (client, _server) = pair_with::<ProbeClient>(server, erpc::Client::builder()).await;
    let status = match client.listen("k".to_owned()).await {
        Ok(mut messages) => messages.next().await.expect("an end").unwrap_err(),
        Err(status) => status,
    };
    assert_eq!(status.code(), Code::Internal, "{status}");
    assert!(
        status.message().contains("without passing its opening on"),
        "{status}"
    );
}

/// Retries once on `unavailable`, as middleware: `next` is cloned for the second try.
struct RetryMiddleware;

#[async_trait::async_trait]
impl erpc::ClientMiddleware for RetryMiddleware {
    async fn call(
        &self,
        request: ClientRequest,
        next: erpc::ClientNext<'_>,
    ) -> Result<ClientResponse, Status> {
        match next.clone().run(request.clone()).await {
            Err(status) if status.code() == Code::Unavailable => next.run(request).await,
            other => other,
        }
    }
}

#[tokio::test]
async fn client_middleware_can_retry_by_cloning_next() {
    let (good, bad, bad_calls, list) = good_and_bad().await;
    let client = ProbeClient::new(
        erpc::Client::builder()
            .middleware(RetryMiddleware)
            .discover(&list, "Probe")
            .await
            .unwrap(),
    );
    for _ in 0..4 {
        assert_eq!(client.who().await.unwrap(), "good");
    }
    assert!(
        bad_calls.load(Ordering::SeqCst) >= 2,
        "half the first tries went to bad"
    );
    good.shutdown().await;
    bad.shutdown().await;
}

#[tokio::test]
async fn a_cloned_builder_builds_clients_that_share_its_layers() {
    let (server, _) = instance("a", false).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let builder = erpc::Client::builder().layer(MapRequestLayer::new(move |r: ClientRequest| {
        counted.fetch_add(1, Ordering::SeqCst);
        r
    }));
    let one = ProbeClient::new(builder.clone().build(server.local_addr()).unwrap());
    let two = ProbeClient::new(builder.connections(2).build(server.local_addr()).unwrap());
    assert_eq!(one.who().await.unwrap(), "a");
    assert_eq!(two.who().await.unwrap(), "a");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one layer, two clients");
    server.shutdown().await;
}
