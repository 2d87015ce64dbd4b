//! The testing kit (`erpc::testing`): `pair` serves and connects in one line, generated mocks
//! record calls and fail tests with messages naming what was expected, `mockall` works with
//! the generated traits, and the fault layer injects what it is told, when it is told.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use erpc::testing::{self, Fault, Faults};
use erpc::{Client, Code, Context, Server, ServerStream, Status};
use futures_util::StreamExt;
use tokio::time::Instant;

#[erpc::service]
pub trait Greeter {
    async fn hello(&self, name: String) -> Result<String, Status>;
    async fn add(&self, cx: Context, a: i64, b: i64) -> Result<i64, Status>;
    #[oneway]
    async fn note(&self, line: String);
    async fn count(&self, n: u32) -> Result<ServerStream<u32>, Status>;
}

struct Real(Arc<AtomicUsize>);

impl Greeter for Real {
    async fn hello(&self, name: String) -> Result<String, Status> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(format!("hello, {name}"))
    }
    async fn add(&self, _cx: Context, a: i64, b: i64) -> Result<i64, Status> {
        Ok(a + b)
    }
    async fn note(&self, _line: String) {}
    async fn count(&self, n: u32) -> Result<ServerStream<u32>, Status> {
        Ok(ServerStream::iter(0..n))
    }
}

fn mock() -> MockGreeter {
    MockGreeter::new()
        .hello(|name| Ok(format!("hi {name}")))
        .add(|a, b| Ok(a + b))
}

#[tokio::test]
async fn pair_serves_any_service_and_shutdown_stops_it() {
    let served = Arc::new(AtomicUsize::new(0));
    let (client, server) =
        testing::pair::<GreeterClient>(GreeterServer::new(Real(served.clone()))).await;
    assert_eq!(client.hello("ada".into()).await.unwrap(), "hello, ada");
    assert_eq!(served.load(Ordering::SeqCst), 1);
    let other: GreeterClient = server.client().await;
    assert_eq!(other.add(2, 3).await.unwrap(), 5);
    let addr = server.addr().to_owned();
    server.shutdown().await;
    assert!(
        Client::connect(addr.as_str()).await.is_err(),
        "nothing listens on {addr} after shutdown"
    );
}

#[tokio::test]
async fn two_pairs_never_share_an_address() {
    let (_a, one) = testing::pair::<Client>(mock()).await;
    let (_b, two) = testing::pair::<Client>(mock()).await;
    assert_ne!(one.addr(), two.addr());
}

#[tokio::test]
async fn a_mock_records_arguments_metadata_and_deadline() {
    let mock = mock();
    let (client, _server) = testing::pair::<GreeterClient>(mock.clone()).await;
    let before = Instant::now();
    let sum = client
        .add(2, 3)
        .timeout(Duration::from_secs(30))
        .metadata("tenant", "t1")
        .await
        .unwrap();
    assert_eq!(sum, 5);
    client.hello("ada".into()).await.unwrap();
    assert_eq!(mock.add_calls(), [(2, 3)]);
    assert_eq!(mock.hello_calls(), ["ada"]);
    let calls = mock.recorder().calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].method, "add");
    assert_eq!(calls[0].metadata.get_str("tenant"), Some("t1"));
    let left = calls[0].deadline.saturating_duration_since(before);
    assert!(
        left > Duration::from_secs(20) && left <= Duration::from_secs(31),
        "the server saw the client's 30 s timeout, got {left:?}"
    );
}

#[tokio::test]
async fn a_method_without_a_closure_answers_unimplemented_naming_it() {
    let (client, _server) = testing::pair::<GreeterClient>(MockGreeter::new()).await;
    let status = client.hello("x".into()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert!(
        status
            .message()
            .contains("mock Greeter.hello has no handler"),
        "{status}"
    );
}

#[tokio::test]
async fn oneway_and_streaming_methods_are_mocked_too() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mock = MockGreeter::new()
        .note(move |line| {
            let _ = tx.send(line);
        })
        .count(|n| Ok(ServerStream::iter((0..n).rev())));
    let (client, _server) = testing::pair::<GreeterClient>(mock.clone()).await;
    client.note("written".into()).await.unwrap();
    assert_eq!(rx.recv().await.as_deref(), Some("written"));
    assert_eq!(mock.note_calls(), ["written"]);
    let numbers: Vec<u32> = client
        .count(3)
        .await
        .unwrap()
        .map(|n| n.unwrap())
        .collect()
        .await;
    assert_eq!(numbers, [2, 1, 0]);
    let opening = &mock.recorder().calls_to("count")[0];
    assert!(opening.stream);
    assert_eq!(
        opening.args::<u32>().unwrap_err().code(),
        Code::Unimplemented
    );
}

#[tokio::test]
async fn expectations_met_pass() {
    let mock = mock().expect_hello(2).expect_add(0);
    mock.recorder().expect_order(["hello", "hello"]);
    let (client, _server) = testing::pair::<GreeterClient>(mock.clone()).await;
    client.hello("a".into()).await.unwrap();
    client.hello("b".into()).await.unwrap();
    mock.recorder().verify();
}

#[tokio::test]
#[should_panic(expected = "mock Greeter.hello: expected 2 calls, got 1")]
async fn a_count_expectation_missed_fails_naming_service_method_expected_and_actual() {
    let mock = mock().expect_hello(2);
    let (client, _server) = testing::pair::<GreeterClient>(mock.clone()).await;
    client.hello("a".into()).await.unwrap();
    mock.recorder().verify();
}

#[tokio::test]
async fn an_order_expectation_missed_fails_with_both_orders() {
    let mock = mock();
    mock.recorder().expect_order(["hello", "add"]);
    let (client, _server) = testing::pair::<GreeterClient>(mock.clone()).await;
    client.add(1, 1).await.unwrap();
    client.hello("a".into()).await.unwrap();
    let panic = std::panic::catch_unwind(AssertUnwindSafe(|| mock.recorder().verify()))
        .expect_err("the order was wrong");
    let message = panic.downcast_ref::<String>().expect("a formatted message");
    assert_eq!(
        message,
        r#"mock Greeter: expected calls in order ["hello", "add"], got ["add", "hello"]"#
    );
}

mockall::mock! {
    pub Greeting {}
    impl Greeter for Greeting {
        fn hello(&self, name: String) -> impl Future<Output = Result<String, Status>> + Send;
        fn add(&self, cx: Context, a: i64, b: i64) -> impl Future<Output = Result<i64, Status>> + Send;
        fn note(&self, line: String) -> impl Future<Output = ()> + Send;
        fn count(&self, n: u32) -> impl Future<Output = Result<ServerStream<u32>, Status>> + Send;
    }
}

#[tokio::test]
async fn mockall_works_with_the_generated_trait() {
    let mut mock = MockGreeting::new();
    mock.expect_hello()
        .withf(|name| name == "ada")
        .times(1)
        .returning(|name| Box::pin(std::future::ready(Ok(format!("mockall {name}")))));
    let (client, _server) = testing::pair::<GreeterClient>(GreeterServer::new(mock)).await;
    assert_eq!(client.hello("ada".into()).await.unwrap(), "mockall ada");
}

/// `n` calls of `hello` through `client`, counted by outcome code.
async fn outcomes(client: &GreeterClient, n: usize) -> std::collections::HashMap<Code, usize> {
    let mut counts = std::collections::HashMap::new();
    for _ in 0..n {
        let code = match client.hello("x".into()).await {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        };
        *counts.entry(code).or_insert(0) += 1;
    }
    counts
}

#[tokio::test]
async fn errors_are_injected_at_the_rate_asked_on_either_side() {
    for side in ["client", "server"] {
        let faults = Faults::seeded(1);
        let (mut server, mut client) = (Server::builder(), Client::builder());
        if side == "client" {
            client = client.layer(faults.layer());
        } else {
            server = server.layer(faults.layer());
        }
        let (client, _server) =
            testing::pair_with::<GreeterClient>(server.add_service(mock()), client).await;
        faults.set_all(Fault::new().error(0.3, Status::unavailable("injected")));
        let counts = outcomes(&client, 1000).await;
        let failed = counts.get(&Code::Unavailable).copied().unwrap_or(0);
        assert!(
            (200..=400).contains(&failed),
            "{side}: 30 % of 1000 calls should fail, {failed} did ({counts:?})"
        );
        assert_eq!(failed + counts.get(&Code::Ok).copied().unwrap_or(0), 1000);
    }
}

#[tokio::test]
async fn faults_switch_at_run_time_and_per_method() {
    let faults = Faults::new();
    let server = Server::builder().layer(faults.layer()).add_service(mock());
    let (client, _server) = testing::pair_with::<GreeterClient>(server, Client::builder()).await;
    assert!(client.hello("x".into()).await.is_ok(), "no fault yet");
    faults.set("Greeter.hello", Fault::new().reset(1.0));
    let reset = client.hello("x".into()).await.unwrap_err();
    assert_eq!(reset.code(), Code::Unavailable);
    // The server closed the connection: the client saw it go.
    assert!(reset.message().contains("closed by peer"), "{reset}");
    assert_eq!(client.add(1, 2).await.unwrap(), 3, "add has no fault");
    faults.set_all(Fault::new().error(1.0, Status::internal("everything")));
    assert_eq!(client.add(1, 2).await.unwrap_err().code(), Code::Internal);
    assert_eq!(
        client.hello("x".into()).await.unwrap_err().code(),
        Code::Unavailable,
        "the method's own fault wins over the one for all"
    );
    faults.clear();
    assert!(client.hello("x".into()).await.is_ok(), "cleared");
    assert!(client.add(1, 2).await.is_ok(), "cleared");
}

#[tokio::test]
async fn latency_is_added_fixed_or_within_its_range() {
    let faults = Faults::seeded(3);
    let client = Client::builder().layer(faults.layer());
    let (client, _server) =
        testing::pair_with::<GreeterClient>(Server::builder().add_service(mock()), client).await;
    faults.set("hello", Fault::new().latency(Duration::from_millis(150)));
    let start = Instant::now();
    client.hello("x".into()).await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(150));
    let start = Instant::now();
    client.add(1, 1).await.unwrap();
    assert!(
        start.elapsed() < Duration::from_millis(150),
        "add is not delayed"
    );
    faults.set(
        "hello",
        Fault::new().latency_between(Duration::from_millis(20), Duration::from_millis(60)),
    );
    let start = Instant::now();
    for _ in 0..10 {
        client.hello("x".into()).await.unwrap();
    }
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(200),
        "10 calls of ≥ 20 ms took {took:?}"
    );
}

#[tokio::test]
async fn a_dropped_response_hangs_until_the_deadline_on_either_side() {
    for side in ["client", "server"] {
        let faults = Faults::new();
        let served = Arc::new(AtomicUsize::new(0));
        let (mut server, mut client) = (Server::builder(), Client::builder());
        if side == "client" {
            client = client.layer(faults.layer());
        } else {
            server = server.layer(faults.layer());
        }
        let server = server.add_service(GreeterServer::new(Real(served.clone())));
        let (client, _server) = testing::pair_with::<GreeterClient>(server, client).await;
        faults.set_all(Fault::new().drop_response(1.0));
        let start = Instant::now();
        let status = client
            .hello("x".into())
            .timeout(Duration::from_millis(300))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::DeadlineExceeded, "{side}: {status}");
        assert!(start.elapsed() >= Duration::from_millis(290), "{side}");
        assert_eq!(
            served.load(Ordering::SeqCst),
            1,
            "{side}: the call was made"
        );
    }
}

#[test]
#[should_panic(expected = "Fault::error: probability 1.5 is not within 0.0..=1.0")]
fn a_probability_out_of_range_is_refused_naming_it() {
    let _ = Fault::new().error(1.5, Status::internal("x"));
}

#[tokio::test]
async fn the_same_seed_draws_the_same_faults() {
    let mut runs = Vec::new();
    for _ in 0..2 {
        let faults = Faults::seeded(9);
        faults.set_all(Fault::new().error(0.5, Status::unavailable("injected")));
        let client = Client::builder().layer(faults.layer());
        let (client, _server) =
            testing::pair_with::<GreeterClient>(Server::builder().add_service(mock()), client)
                .await;
        let mut run = Vec::new();
        for _ in 0..64 {
            run.push(client.hello("x".into()).await.is_ok());
        }
        runs.push(run);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(
        runs[0].contains(&true) && runs[0].contains(&false),
        "{:?}",
        runs[0]
    );
}

/// Counts the client's connections opened and closed.
#[derive(Clone, Default)]
struct Connections(Arc<(AtomicUsize, AtomicUsize)>);

impl erpc::observe::Observer for Connections {
    fn connection_opened(&self, _: erpc::observe::Side, _: &erpc::PeerAddr) {
        self.0.0.fetch_add(1, Ordering::SeqCst);
    }
    fn connection_closed(
        &self,
        _: erpc::observe::Side,
        _: &erpc::PeerAddr,
        _: &erpc::observe::CloseReason,
    ) {
        self.0.1.fetch_add(1, Ordering::SeqCst);
    }
}

impl Connections {
    async fn wait(&self, opened: usize, closed: usize) {
        let by = Instant::now() + Duration::from_secs(5);
        while self.0.0.load(Ordering::SeqCst) < opened || self.0.1.load(Ordering::SeqCst) < closed {
            assert!(
                Instant::now() < by,
                "connections never reached {opened} opened / {closed} closed"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[tokio::test]
async fn a_reset_on_either_side_closes_the_connection_and_the_client_dials_anew() {
    for server_side in [true, false] {
        let faults = Faults::new();
        let connections = Connections::default();
        let server = Server::builder().add_service(GreeterServer::new(Real(Arc::default())));
        let client = Client::builder().observer(connections.clone());
        let (server, client) = if server_side {
            (server.layer(faults.layer()), client)
        } else {
            (server, client.attempt_layer(faults.layer()))
        };
        let (client, test_server) = testing::pair_with::<GreeterClient>(server, client).await;
        assert_eq!(client.add(1, 2).await.unwrap(), 3);
        connections.wait(1, 0).await;
        faults.set("Greeter.hello", Fault::new().reset(1.0));
        let reset = client.hello("x".into()).await.unwrap_err();
        assert_eq!(reset.code(), Code::Unavailable, "{reset}");
        // The connection itself went down, and the next call dials a new one.
        connections.wait(1, 1).await;
        assert_eq!(client.add(2, 3).await.unwrap(), 5);
        connections.wait(2, 1).await;
        test_server.shutdown().await;
    }
}

#[tokio::test]
async fn client_side_latency_ends_at_the_calls_deadline() {
    let faults = Faults::new();
    let server = Server::builder().add_service(mock());
    let client = Client::builder().layer(faults.layer());
    let (client, _server) = testing::pair_with::<GreeterClient>(server, client).await;
    faults.set_all(Fault::new().latency(Duration::from_secs(3600)));
    let started = Instant::now();
    let late = client
        .hello("x".into())
        .timeout(Duration::from_millis(100))
        .await
        .unwrap_err();
    assert_eq!(late.code(), Code::DeadlineExceeded, "{late}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // Latency as long as a Duration can be does not overflow the clock.
    faults.set_all(Fault::new().latency(Duration::MAX));
    let late = client
        .hello("x".into())
        .timeout(Duration::from_millis(50))
        .await;
    assert_eq!(late.unwrap_err().code(), Code::DeadlineExceeded);
}

#[tokio::test]
async fn a_oneway_call_has_no_response_to_drop() {
    let faults = Faults::new();
    let server = Server::builder().add_service(mock());
    let client = Client::builder().layer(faults.layer());
    let (client, _server) = testing::pair_with::<GreeterClient>(server, client).await;
    faults.set_all(Fault::new().drop_response(1.0));
    let started = Instant::now();
    client
        .note("x".into())
        .timeout(Duration::from_secs(5))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_server_side_reset_the_next_calls_dial_anew_on_a_multi_threaded_runtime() {
    let faults = Faults::new();
    let server = Server::builder()
        .layer(faults.layer())
        .add_service(GreeterServer::new(Real(Arc::default())));
    let (client, _server) = testing::pair_with::<GreeterClient>(server, Client::builder()).await;
    for _ in 0..20 {
        faults.set("Greeter.hello", Fault::new().reset(1.0));
        assert!(client.hello("r".into()).await.is_err());
        faults.clear();
        // The failure of the reset call arrives once the connection is out of the pool, so
        // the very next call dials a new one.
        assert_eq!(client.add(1, 1).await.unwrap(), 2);
    }
}
