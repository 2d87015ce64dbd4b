//! Metrics of real calls: counted by method and code in the exported text, accepted by
//! `promtool check metrics`, and scraped by a real Prometheus that the test starts.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use erpc_core::client::{
    BreakerSettings, ClientConcurrencyLimit, ClientRateLimit, FailMode, FailModes, HedgeDelay,
    InstanceBreakers, Trip,
};
use erpc_core::observe::RefusedBy;
use erpc_core::observe::{
    BreakerChange, BreakerScope, BreakerState, CallEvent, HedgeOutcome, Observer, Retry, RetryKind,
    Side,
};
use erpc_core::per_method::PerMethod;
use erpc_core::rate::Rate;
use erpc_core::server::{Admission, Admitted, CallHead, RateLimit};
use erpc_core::{Client, Code, ServerHandle, Status};
use erpc_telemetry::{Metrics, MetricsServer};

#[erpc_macros::service(crate = "erpc_core")]
trait Echo {
    async fn say(&self, text: String) -> Result<String, Status>;
    /// Always `unavailable`.
    async fn fail(&self) -> Result<(), Status>;
}

#[derive(Default)]
struct Echoer {
    /// Calls of "slow once" so far: the first is slow (a hedge overtakes it).
    slow_once: AtomicU32,
}

impl Echo for Echoer {
    async fn say(&self, text: String) -> Result<String, Status> {
        match text.as_str() {
            "missing" => Err(Status::not_found("no such thing")),
            "down" => Err(Status::unavailable("injected: the backend is down")),
            "slow once" if self.slow_once.fetch_add(1, Ordering::Relaxed) == 0 => {
                tokio::time::sleep(Duration::from_secs(20)).await;
                Ok(text)
            }
            _ => Ok(text),
        }
    }

    async fn fail(&self) -> Result<(), Status> {
        Err(Status::unavailable("injected: the backend is down"))
    }
}

async fn served(metrics: &Metrics) -> (ServerHandle, EchoClient) {
    served_with(metrics, erpc_core::Server::builder(), Client::builder()).await
}

/// A server and a client built from these builders, both observed by `metrics`.
async fn served_with(
    metrics: &Metrics,
    server: erpc_core::ServerBuilder,
    client: erpc_core::ClientBuilder,
) -> (ServerHandle, EchoClient) {
    let server = server
        .observer(metrics.observer())
        .add_service(EchoServer::new(Echoer::default()))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("the server serves");
    let client = client
        .observer(metrics.observer())
        .connect(server.local_addr().to_string())
        .await
        .expect("the client connects");
    (server, EchoClient::new(client))
}

/// The value of the series whose line starts with `series` (name and labels, as encoded).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test]
async fn calls_are_counted_by_side_method_and_code() {
    let metrics = Metrics::new();
    let (server, echo) = served(&metrics).await;
    for _ in 0..5 {
        echo.say("hi".to_owned()).await.expect("an answer");
    }
    for _ in 0..2 {
        let err = echo.say("missing".to_owned()).await.expect_err("not found");
        assert_eq!(err.code(), erpc_core::Code::NotFound);
    }
    let text = metrics.encode();
    for side in ["server", "client"] {
        let call = format!("side=\"{side}\",service=\"Echo\",method=\"say\"");
        assert_eq!(
            value(&text, &format!("erpc_calls_started_total{{{call}}}")),
            Some(7.0),
            "{side} started\n{text}"
        );
        assert_eq!(
            value(
                &text,
                &format!("erpc_calls_handled_total{{{call},code=\"ok\"}}")
            ),
            Some(5.0),
            "{side} ok\n{text}"
        );
        assert_eq!(
            value(
                &text,
                &format!("erpc_calls_handled_total{{{call},code=\"not_found\"}}")
            ),
            Some(2.0),
            "{side} not_found\n{text}"
        );
        assert_eq!(
            value(
                &text,
                &format!("erpc_call_duration_seconds_count{{{call}}}")
            ),
            Some(7.0),
            "{side} histogram\n{text}"
        );
        assert_eq!(
            value(&text, &format!("erpc_calls_in_flight{{{call}}}")),
            Some(0.0),
            "{side} in flight\n{text}"
        );
        let sent = value(&text, &format!("erpc_call_sent_bytes_total{{{call}}}"));
        assert!(sent.is_some_and(|b| b > 0.0), "{side} bytes\n{text}");
        assert_eq!(
            value(
                &text,
                &format!("erpc_connections_opened_total{{side=\"{side}\"}}")
            ),
            Some(1.0),
            "{side} connections\n{text}"
        );
    }
    // The address the server serves on, as its clients name it: 1 while serving, then 0.
    let listening = format!(
        "erpc_server_listening{{server_address=\"{}\"}}",
        server.local_addr()
    );
    assert_value(&text, &listening, 1.0);
    server.shutdown().await;
    assert_value(&metrics.encode(), &listening, 0.0);
}

#[erpc_macros::service(crate = "erpc_core")]
trait Numbers {
    async fn count(&self, to: u32) -> Result<erpc_core::ServerStream<u32>, Status>;
    async fn sum(&self, numbers: erpc_core::Streaming<u32>) -> Result<u64, Status>;
    /// Two messages, then `data_loss`.
    async fn boom(&self) -> Result<erpc_core::ServerStream<u32>, Status>;
}

struct Counter;

impl Numbers for Counter {
    async fn count(&self, to: u32) -> Result<erpc_core::ServerStream<u32>, Status> {
        Ok(erpc_core::ServerStream::iter(0..to))
    }
    async fn sum(&self, mut numbers: erpc_core::Streaming<u32>) -> Result<u64, Status> {
        let mut total = 0;
        while let Some(n) = numbers.message().await? {
            total += u64::from(n);
        }
        Ok(total)
    }
    async fn boom(&self) -> Result<erpc_core::ServerStream<u32>, Status> {
        let items = [Ok(1), Ok(2), Err(Status::data_loss("injected"))];
        Ok(erpc_core::ServerStream::new(futures_util::stream::iter(
            items,
        )))
    }
}

/// A client's streams are calls too: started when opened, finished with the code they end
/// with — `ok` at the end of the messages, the server's status, `cancelled` when dropped
/// early, the failure of an opening that never reached the server.
#[tokio::test]
async fn a_clients_streams_are_counted_as_calls() {
    let metrics = Metrics::new();
    let server = erpc_core::Server::builder()
        .observer(metrics.observer())
        .add_service(NumbersServer::new(Counter))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("serves");
    let client = Client::builder()
        .observer(metrics.observer())
        .connect(server.local_addr().to_string())
        .await
        .expect("connects");
    let numbers = NumbersClient::new(client);
    let mut counted = numbers.count(3).await.expect("opened");
    while counted.message().await.expect("a message").is_some() {}
    assert_eq!(
        numbers
            .sum(futures_util::stream::iter(1..=4))
            .await
            .expect("summed"),
        10
    );
    let mut boom = numbers.boom().await.expect("opened");
    let err = loop {
        match boom.message().await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("ended without its error"),
            Err(status) => break status,
        }
    };
    assert_eq!(err.code(), Code::DataLoss);
    // Dropped after one message of a thousand: cancelled.
    let mut early = numbers.count(1000).await.expect("opened");
    early.message().await.expect("one").expect("a message");
    drop(early);
    let text = metrics.encode();
    let client = |method: &str| format!("side=\"client\",service=\"Numbers\",method=\"{method}\"");
    assert_value(
        &text,
        &format!("erpc_calls_started_total{{{}}}", client("count")),
        2.0,
    );
    assert_value(
        &text,
        &format!(
            "erpc_calls_handled_total{{{},code=\"ok\"}}",
            client("count")
        ),
        1.0,
    );
    assert_value(
        &text,
        &format!(
            "erpc_calls_handled_total{{{},code=\"cancelled\"}}",
            client("count")
        ),
        1.0,
    );
    assert_value(
        &text,
        &format!("erpc_calls_handled_total{{{},code=\"ok\"}}", client("sum")),
        1.0,
    );
    assert_value(
        &text,
        &format!(
            "erpc_calls_handled_total{{{},code=\"data_loss\"}}",
            client("boom")
        ),
        1.0,
    );
    assert_value(
        &text,
        &format!("erpc_call_duration_seconds_count{{{}}}", client("count")),
        2.0,
    );
    for method in ["count", "sum", "boom"] {
        assert_value(
            &text,
            &format!("erpc_calls_in_flight{{{}}}", client(method)),
            0.0,
        );
    }
    server.shutdown().await;
    // An opening that never reaches a server: started and finished `unavailable`.
    let closed = Client::builder()
        .observer(metrics.observer())
        .build(dead_address())
        .expect("a client");
    let err = NumbersClient::new(closed)
        .count(1)
        .await
        .expect_err("nobody listens");
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    let text = metrics.encode();
    assert_value(
        &text,
        &format!(
            "erpc_calls_handled_total{{{},code=\"unavailable\"}}",
            client("count")
        ),
        1.0,
    );
}

#[tokio::test]
async fn arbitrary_method_names_do_not_grow_the_metrics_without_end() {
    let metrics = Metrics::new();
    let (server, _echo) = served(&metrics).await;
    let raw = Client::builder()
        .observer(metrics.observer())
        .connect(server.local_addr().to_string())
        .await
        .expect("connects");
    // More distinct names than the cap: the client side keeps MAX_METHODS pairs, the rest
    // land under _other; the server refuses them all before they are calls.
    let n = Metrics::MAX_METHODS + 10;
    for i in 0..n {
        let err = raw
            .call::<String, String>("Echo", format!("m{i}"), String::new())
            .await
            .expect_err("no such method");
        assert_eq!(err.code(), erpc_core::Code::Unimplemented);
    }
    let text = metrics.encode();
    // A server answers an unknown method of a known service as a call (`unimplemented`),
    // counted under method `_unknown`: one series set, however many names are made up. The
    // client's names are its own calls: it keeps MAX_METHODS pairs and counts the rest
    // together.
    let started = |side: &str| {
        text.lines()
            .filter(|l| l.starts_with(&format!("erpc_calls_started_total{{side=\"{side}\"")))
            .count()
    };
    assert_eq!(started("server"), 1, "one _unknown series:\n{text}");
    assert_eq!(
        value(
            &text,
            "erpc_calls_started_total{side=\"server\",service=\"Echo\",method=\"_unknown\"}"
        ),
        Some(n as f64)
    );
    assert_eq!(
        value(
            &text,
            "erpc_calls_handled_total{side=\"server\",service=\"Echo\",method=\"_unknown\",code=\"unimplemented\"}"
        ),
        Some(n as f64)
    );
    assert_eq!(
        started("client"),
        Metrics::MAX_METHODS + 1,
        "the cap and _other"
    );
    assert_eq!(
        value(
            &text,
            "erpc_calls_started_total{side=\"client\",service=\"_other\",method=\"_other\"}"
        ),
        Some(10.0)
    );
    server.shutdown().await;
}

/// Builders for a server that lets one call of `Echo.say` through every ten minutes, and
/// a client whose instance breaker trips at the first failure, both observed by `metrics`.
fn governed(metrics: &Metrics) -> (erpc_core::ServerBuilder, erpc_core::ClientBuilder) {
    let rare = Rate::every(Duration::from_secs(600)).burst(1);
    let limit = RateLimit::per_method(PerMethod::new(None).method("Echo", "say", Some(rare)))
        .expect("a valid rate");
    let breakers = InstanceBreakers::new(
        BreakerSettings::default()
            .trip(Trip::ConsecutiveFailures(1))
            .open_timeout(Duration::from_secs(600)),
    )
    .observer(metrics.observer());
    (
        erpc_core::Server::builder().admission(limit),
        Client::builder().attempt_layer(breakers),
    )
}

/// Three calls in a row under [`governed`]'s rate limit (one through, two refused), then a
/// failure that trips the breaker.
async fn exercise_governance(echo: &EchoClient) {
    let mut codes = Vec::new();
    for _ in 0..3 {
        codes.push(echo.say("hi".to_owned()).await.map_err(|e| e.code()).err());
    }
    assert_eq!(
        codes,
        [
            None,
            Some(Code::ResourceExhausted),
            Some(Code::ResourceExhausted)
        ],
        "one call gets through"
    );
    let err = echo.fail().await.expect_err("down");
    assert_eq!(err.code(), Code::Unavailable);
    let err = echo
        .say("hi".to_owned())
        .await
        .expect_err("the breaker is open");
    assert!(err.message().contains("circuit breaker"), "{err}");
}

#[tokio::test]
async fn rate_limit_refusals_and_a_tripped_breaker_are_series() {
    let metrics = Metrics::new();
    let (server, client) = governed(&metrics);
    let (server, echo) = served_with(&metrics, server, client).await;
    exercise_governance(&echo).await;
    let text = metrics.encode();
    let call = "service=\"Echo\",method=\"say\"";
    assert_value(
        &text,
        &format!("erpc_refused_calls_total{{side=\"server\",{call},reason=\"rate_limit\"}}"),
        2.0,
    );
    let instance = server.local_addr().to_string();
    assert_eq!(
        value(
            &text,
            &format!(
                "erpc_breaker_state{{scope=\"instance\",server_address=\"{instance}\",service=\"\",method=\"\"}}"
            )
        ),
        Some(2.0),
        "open is 2\n{text}"
    );
    assert_value(
        &text,
        "erpc_breaker_transitions_total{scope=\"instance\",from=\"closed\",to=\"open\"}",
        1.0,
    );
    assert_value(&text, "erpc_breakers_open{scope=\"instance\"}", 1.0);
    // The call the open breaker kept from the only instance never left: still counted.
    assert_value(
        &text,
        &format!("erpc_calls_handled_total{{side=\"client\",{call},code=\"unavailable\"}}"),
        1.0,
    );
    server.shutdown().await;
}

#[tokio::test]
async fn retries_are_counted_by_kind_and_the_failure_before_them() {
    let metrics = Metrics::new();
    let modes = FailModes::new(FailMode::Failtry { retries: 2 })
        .idempotent(PerMethod::new(true))
        .backoff(Duration::from_millis(1), Duration::from_millis(5))
        .observer(metrics.observer());
    let client = Client::builder().layer(modes);
    let (server, echo) = served_with(&metrics, erpc_core::Server::builder(), client).await;
    let err = echo.say("down".to_owned()).await.expect_err("down");
    assert_eq!(err.code(), Code::Unavailable);
    let text = metrics.encode();
    assert_value(
        &text,
        "erpc_retries_total{service=\"Echo\",method=\"say\",kind=\"failtry\",reason=\"unavailable\"}",
        2.0,
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_hedge_that_overtakes_the_first_attempt_is_counted_as_won() {
    let metrics = Metrics::new();
    let modes = FailModes::new(FailMode::Failbackup {
        delay: HedgeDelay::Fixed(Duration::from_millis(100)),
    })
    .idempotent(PerMethod::new(true))
    .observer(metrics.observer());
    let client = Client::builder().layer(modes);
    let (server, echo) = served_with(&metrics, erpc_core::Server::builder(), client).await;
    let answer = echo
        .say("slow once".to_owned())
        .await
        .expect("the hedge answers");
    assert_eq!(answer, "slow once");
    let text = metrics.encode();
    let call = "service=\"Echo\",method=\"say\"";
    assert_value(
        &text,
        &format!("erpc_retries_total{{{call},kind=\"hedge\",reason=\"no_answer\"}}"),
        1.0,
    );
    assert_value(
        &text,
        &format!("erpc_hedges_total{{{call},outcome=\"hedge\"}}"),
        1.0,
    );
    server.shutdown().await;
}

#[tokio::test]
async fn client_rate_limit_refusals_and_waits_are_counted() {
    let metrics = Metrics::new();
    // A second call within 50 ms waits; a third while one waits is refused (max 1 waiting).
    let rate = Rate::per_second(20)
        .burst(1)
        .max_wait(Duration::from_secs(10))
        .max_waiting(1);
    let limit = ClientRateLimit::new(rate)
        .expect("a valid rate")
        .observer(metrics.observer());
    let client = Client::builder().layer(limit);
    let (server, echo) = served_with(&metrics, erpc_core::Server::builder(), client).await;
    let (a, b, c) = tokio::join!(
        echo.say("hi".to_owned()),
        echo.say("hi".to_owned()),
        echo.say("hi".to_owned())
    );
    let refused = [a, b, c]
        .into_iter()
        .filter(|r| {
            r.as_ref()
                .is_err_and(|e| e.code() == Code::ResourceExhausted)
        })
        .count();
    assert_eq!(refused, 1, "one through, one waits, one refused");
    let text = metrics.encode();
    let call = "side=\"client\",service=\"Echo\",method=\"say\"";
    assert_value(
        &text,
        &format!("erpc_refused_calls_total{{{call},reason=\"rate_limit\"}}"),
        1.0,
    );
    assert_value(
        &text,
        &format!("erpc_rate_limit_waits_total{{{call}}}"),
        1.0,
    );
    let waited = value(
        &text,
        &format!("erpc_rate_limit_wait_seconds_total{{{call}}}"),
    );
    assert!(waited.is_some_and(|s| s > 0.0), "{text}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_concurrency_cap_refusal_is_counted() {
    let metrics = Metrics::new();
    // A cap of 1, held by a call the server answers after 20 s (a cap of 0 is an error).
    let cap = ClientConcurrencyLimit::new(1)
        .expect("a cap of 1")
        .observer(metrics.observer());
    let client = Client::builder().layer(cap.clone());
    let (server, echo) = served_with(&metrics, erpc_core::Server::builder(), client).await;
    let holder = tokio::spawn({
        let echo = echo.clone();
        async move { echo.say("slow once".to_owned()).await }
    });
    while cap.in_flight() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let err = echo.say("hi".to_owned()).await.expect_err("over the cap");
    holder.abort();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert_value(
        &metrics.encode(),
        "erpc_refused_calls_total{side=\"client\",service=\"Echo\",method=\"say\",reason=\"concurrency\"}",
        1.0,
    );
    server.shutdown().await;
}

/// Makes every call of `Echo.fail` wait for a gate that refuses it; counts as shedding.
struct SheddingGate;

impl Admission for SheddingGate {
    fn admit(&self, call: &CallHead<'_>) -> Result<Admitted, Status> {
        if call.method != "fail" {
            return Ok(Admitted::now());
        }
        Ok(Admitted::now().after(async { Err(Status::resource_exhausted("shed while waiting")) }))
    }

    fn refused_by(&self) -> RefusedBy {
        RefusedBy::Shedding
    }
}

#[tokio::test]
async fn server_waits_and_refusals_after_a_wait_are_counted() {
    let metrics = Metrics::new();
    // A second call at once waits about 50 ms for its turn.
    let rate = Rate::per_second(20)
        .burst(1)
        .max_wait(Duration::from_secs(10));
    let limit = RateLimit::per_method(PerMethod::new(None).method("Echo", "say", Some(rate)))
        .expect("a valid rate");
    let server = erpc_core::Server::builder()
        .admission(limit)
        .admission(SheddingGate);
    let (server, echo) = served_with(&metrics, server, Client::builder()).await;
    let (a, b) = tokio::join!(echo.say("hi".to_owned()), echo.say("hi".to_owned()));
    a.expect("through at once");
    b.expect("through after its wait");
    let err = echo.fail().await.expect_err("shed");
    assert_eq!(err.code(), Code::ResourceExhausted);
    let text = metrics.encode();
    let say = "side=\"server\",service=\"Echo\",method=\"say\"";
    assert_value(&text, &format!("erpc_rate_limit_waits_total{{{say}}}"), 1.0);
    let fail = "side=\"server\",service=\"Echo\",method=\"fail\"";
    assert_value(
        &text,
        &format!("erpc_refused_calls_total{{{fail},reason=\"shedding\"}}"),
        1.0,
    );
    // Counted once, under its reason: the call refused after its wait never ran, so it is
    // neither started nor handled (nor in flight) on the server.
    assert_value(&text, &format!("erpc_calls_started_total{{{fail}}}"), 0.0);
    assert_value(&text, &format!("erpc_calls_in_flight{{{fail}}}"), 0.0);
    let handled = format!("erpc_calls_handled_total{{{fail},code=\"resource_exhausted\"}}");
    assert_eq!(value(&text, &handled), None, "{text}");
    // The call that waited and went on: started and handled once each.
    assert_value(&text, &format!("erpc_calls_started_total{{{say}}}"), 2.0);
    assert_value(
        &text,
        &format!("erpc_calls_handled_total{{{say},code=\"ok\"}}"),
        2.0,
    );
    assert_value(&text, &format!("erpc_calls_in_flight{{{say}}}"), 0.0);
    server.shutdown().await;
}

/// An address nothing listens on (a port bound and let go).
fn dead_address() -> String {
    format!("tcp://127.0.0.1:{}", free_port())
}

/// The sum of every series whose line starts with `prefix`.
fn sum(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter_map(|line| {
            line.strip_prefix(prefix)?
                .rsplit(' ')
                .next()?
                .parse::<f64>()
                .ok()
        })
        .sum()
}

#[tokio::test]
async fn calls_that_never_reach_an_instance_are_counted_unavailable() {
    let dead = dead_address();
    // A client of one address, without layers (the engine's direct path) and with an
    // attempt-level layer (the pick, then the layers): calls and a oneway, all refused at
    // the dial or while the instance backs off.
    for attempt_layer in [false, true] {
        let metrics = Metrics::new();
        let mut builder = Client::builder().observer(metrics.observer());
        if attempt_layer {
            let breakers = InstanceBreakers::new(
                BreakerSettings::default().trip(Trip::ConsecutiveFailures(1_000)),
            );
            builder = builder.attempt_layer(breakers);
        }
        let client = builder.build(dead.as_str()).expect("an address");
        let echo = EchoClient::new(client.clone());
        for _ in 0..3 {
            let err = echo.say("hi".to_owned()).await.expect_err("nobody listens");
            assert_eq!(err.code(), Code::Unavailable, "{err}");
        }
        let err = client
            .oneway("Echo", "note", "hi".to_owned())
            .await
            .expect_err("nobody listens");
        assert_eq!(err.code(), Code::Unavailable, "{err}");
        let text = metrics.encode();
        // The instance itself: no connection, and its failed connects (one per dial: the
        // calls made while it backed off were refused without one).
        assert_value(
            &text,
            &format!("erpc_client_connections{{server_address=\"{dead}\"}}"),
            0.0,
        );
        let failed = value(
            &text,
            &format!("erpc_client_connect_failures_total{{server_address=\"{dead}\"}}"),
        );
        assert!(failed.is_some_and(|n| n >= 1.0), "{failed:?}\n{text}");
        for (method, calls) in [("say", 3.0), ("note", 1.0)] {
            let call = format!("side=\"client\",service=\"Echo\",method=\"{method}\"");
            assert_value(&text, &format!("erpc_calls_started_total{{{call}}}"), calls);
            assert_value(
                &text,
                &format!("erpc_calls_handled_total{{{call},code=\"unavailable\"}}"),
                calls,
            );
            assert_value(&text, &format!("erpc_calls_in_flight{{{call}}}"), 0.0);
            assert_value(
                &text,
                &format!("erpc_call_duration_seconds_count{{{call}}}"),
                calls,
            );
        }
    }

    // Through discovery with failover: each attempt (the first and every retry the budget
    // grants) is counted, as attempts on the wire are.
    let metrics = Metrics::new();
    let list = erpc_core::discovery::StaticList::addrs([dead.as_str()]).expect("a list");
    let modes = FailModes::new(FailMode::Failover { retries: 2 })
        .backoff(Duration::from_millis(1), Duration::from_millis(5))
        .observer(metrics.observer());
    // A short deadline: a retry waits out the instance's backoff (its retry hint), which
    // soon grows past it, and then the call ends.
    let client = Client::builder()
        .observer(metrics.observer())
        .timeout(Duration::from_secs(1))
        .layer(modes)
        .discover(&list, "Echo")
        .await
        .expect("a client");
    let echo = EchoClient::new(client);
    for _ in 0..3 {
        let err = echo.say("hi".to_owned()).await.expect_err("nobody listens");
        assert_eq!(err.code(), Code::Unavailable, "{err}");
    }
    let text = metrics.encode();
    let call = "side=\"client\",service=\"Echo\",method=\"say\"";
    let retries = sum(
        &text,
        "erpc_retries_total{service=\"Echo\",method=\"say\",kind=\"failover\"",
    );
    assert_value(
        &text,
        &format!("erpc_calls_started_total{{{call}}}"),
        3.0 + retries,
    );
    assert_value(
        &text,
        &format!("erpc_calls_handled_total{{{call},code=\"unavailable\"}}"),
        3.0 + retries,
    );
    assert_value(&text, &format!("erpc_calls_in_flight{{{call}}}"), 0.0);
}

#[tokio::test]
async fn a_failtry_retry_of_a_call_never_sent_is_counted_as_failtry() {
    let metrics = Metrics::new();
    let modes = FailModes::new(FailMode::Failtry { retries: 2 })
        .backoff(Duration::from_millis(1), Duration::from_millis(5))
        .observer(metrics.observer());
    let client = Client::builder().layer(modes);
    let (server, echo) = served_with(&metrics, erpc_core::Server::builder(), client).await;
    echo.say("hi".to_owned()).await.expect("an answer");
    server.shutdown().await;
    // The connection closes and the redial is refused: the call is never sent, so its
    // retries go to "another" instance — still the failtry call's retries.
    for _ in 0..3 {
        let err = echo
            .say("hi".to_owned())
            .await
            .expect_err("the server is gone");
        assert_eq!(err.code(), Code::Unavailable, "{err}");
    }
    let text = metrics.encode();
    let retries = "erpc_retries_total{service=\"Echo\",method=\"say\"";
    assert!(
        sum(&text, &format!("{retries},kind=\"failtry\"")) > 0.0,
        "failtry retries\n{text}"
    );
    assert_eq!(
        sum(&text, &format!("{retries},kind=\"failover\"")),
        0.0,
        "no failover retries\n{text}"
    );
}

#[tokio::test]
async fn a_clients_connections_are_counted_per_instance_until_they_close() {
    let metrics = Metrics::new();
    let client = Client::builder().connections(2);
    let (server, echo) = served_with(&metrics, erpc_core::Server::builder(), client).await;
    for _ in 0..4 {
        echo.say("hi".to_owned()).await.expect("an answer");
    }
    let series = format!(
        "erpc_client_connections{{server_address=\"{}\"}}",
        server.local_addr()
    );
    assert_eq!(
        value(&metrics.encode(), &series),
        Some(2.0),
        "both slots dialled"
    );
    server.shutdown().await;
    let started = Instant::now();
    while value(&metrics.encode(), &series) != Some(0.0) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the client saw its connections close\n{}",
            metrics.encode()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn instances_are_bounded_like_methods() {
    let metrics = Metrics::new();
    let observer = metrics.observer();
    let n = Metrics::MAX_INSTANCES + 10;
    for i in 0..n {
        let port = 10_000 + i;
        let addr: erpc_core::Address = format!("tcp://127.0.0.1:{port}")
            .parse()
            .expect("an address");
        observer.instance_connection_opened(&addr);
        let instance = addr.to_string();
        observer.breaker_changed(&BreakerChange {
            breaker: &format!("instance {instance}"),
            scope: BreakerScope::Instance(&instance),
            from: BreakerState::Closed,
            to: BreakerState::Open,
        });
    }
    let text = metrics.encode();
    let count = |prefix: &str| text.lines().filter(|l| l.starts_with(prefix)).count();
    assert_eq!(
        count("erpc_client_connections{"),
        Metrics::MAX_INSTANCES + 1,
        "the cap and _other"
    );
    assert_eq!(
        value(&text, "erpc_client_connections{server_address=\"_other\"}"),
        Some(10.0)
    );
    // A gauge of many breakers' states would mean nothing: past the cap they have no state
    // series, and are still counted open.
    assert_eq!(count("erpc_breaker_state{"), Metrics::MAX_INSTANCES);
    assert_eq!(
        value(&text, "erpc_breakers_open{scope=\"instance\"}"),
        Some(n as f64)
    );
}

/// Assert that `series` has the value `want` in `text` (shown whole if not).
#[track_caller]
fn assert_value(text: &str, series: &str, want: f64) {
    assert_eq!(value(text, series), Some(want), "{series}\n{text}");
}

/// GET a URL's body as text.
fn get(url: &str) -> Result<String, String> {
    ureq::get(url)
        .timeout(Duration::from_secs(5))
        .call()
        .map_err(|e| e.to_string())?
        .into_string()
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn the_exported_text_passes_promtool() {
    let metrics = Metrics::new();
    let (server, echo) = served(&metrics).await;
    echo.say("hi".to_owned()).await.expect("an answer");
    let _ = echo.say("missing".to_owned()).await;
    // Every governance family, with a series or more each.
    let (governed_server, governed_client) = governed(&metrics);
    let (governed_server, governed_echo) =
        served_with(&metrics, governed_server, governed_client).await;
    exercise_governance(&governed_echo).await;
    every_other_governance_event(&metrics.observer());
    let exporter = MetricsServer::bind(metrics.clone(), "127.0.0.1:0")
        .await
        .expect("binds");
    let url = format!("http://{}/metrics", exporter.local_addr());
    let text = tokio::task::spawn_blocking(move || get(&url))
        .await
        .expect("joins")
        .expect("/metrics answers");
    assert!(text.contains("erpc_calls_handled_total"), "{text}");
    for family in [
        "erpc_refused_calls_total",
        "erpc_retries_total",
        "erpc_retries_refused_total",
        "erpc_hedges_total",
        "erpc_rate_limit_waits_total",
        "erpc_rate_limit_wait_seconds_total",
        "erpc_breaker_state",
        "erpc_breaker_transitions_total",
        "erpc_breakers_open",
        "erpc_client_connections",
    ] {
        assert!(text.contains(&format!("\n{family}{{")), "{family}\n{text}");
    }
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (scripts/install-deps.sh installs the prometheus package)");
    {
        use std::io::Write;
        let mut stdin = promtool.stdin.take().expect("piped");
        stdin.write_all(text.as_bytes()).expect("promtool reads");
    }
    let out = promtool.wait_with_output().expect("promtool ends");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    exporter.shutdown().await;
    server.shutdown().await;
    governed_server.shutdown().await;
}

/// The governance events [`exercise_governance`] does not cause, told to `observer`
/// directly: a retry and one its budget refused, a settled hedge, a rate-limit wait, a
/// method breaker's change and a failed connect.
fn every_other_governance_event(observer: &impl Observer) {
    let call = CallEvent {
        service: "Echo",
        method: "say",
        stream: false,
    };
    for granted in [true, false] {
        let retry = Retry {
            kind: RetryKind::Failover,
            attempt: 2,
            after: Some(Code::Unavailable),
            granted,
        };
        observer.retry(&call, &retry);
    }
    observer.hedge_settled(&call, HedgeOutcome::Original);
    observer.rate_limit_waited(Side::Client, &call, Duration::from_millis(5));
    observer.breaker_changed(&BreakerChange {
        breaker: "method Echo.say",
        scope: BreakerScope::Method {
            service: "Echo",
            method: "say",
        },
        from: BreakerState::Closed,
        to: BreakerState::Open,
    });
    let down: erpc_core::Address = "tcp://127.0.0.1:9".parse().expect("an address");
    observer.instance_connect_failed(&down);
}

/// A Prometheus server scraping one target every second, on a free port with its data in a
/// temporary directory; killed when dropped.
struct Prometheus {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Start Prometheus scraping `target`; tries a few ports, as one picked free may be taken
/// before Prometheus binds it.
fn prometheus(target: &str) -> Prometheus {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: erpc\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .expect("config written");
    for _ in 0..5 {
        let port = free_port();
        let mut child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus runs (scripts/install-deps.sh installs it)");
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(_)) = child.try_wait() {
                break; // exited: most likely the port was taken; try another
            }
            if get(&format!("{url}/-/ready")).is_ok() {
                return Prometheus {
                    child,
                    url,
                    _dir: dir,
                };
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("prometheus did not become ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_the_series() {
    let metrics = Metrics::new();
    let (server, echo) = served(&metrics).await;
    for _ in 0..3 {
        echo.say("hi".to_owned()).await.expect("an answer");
    }
    let _ = echo.say("missing".to_owned()).await;
    let handled = scraped_by_prometheus(
        &metrics,
        &[
            (
                "erpc_calls_handled_total{side=\"server\",service=\"Echo\",code=\"ok\"}",
                "\"code\":\"ok\"",
            ),
            (
                "erpc_calls_handled_total{side=\"server\",service=\"Echo\",code=\"not_found\"}",
                "\"code\":\"not_found\"",
            ),
        ],
    )
    .await;
    assert_eq!(handled, ["3", "1"], "ok, not_found");
    server.shutdown().await;
}

/// Serve `metrics` on /metrics, have a real Prometheus scrape it, and for each (PromQL query,
/// marker) the value of the first series after the marker in the query's answer, once an
/// answer has the marker.
async fn scraped_by_prometheus(metrics: &Metrics, queries: &[(&str, &str)]) -> Vec<String> {
    let exporter = MetricsServer::bind(metrics.clone(), "127.0.0.1:0")
        .await
        .expect("binds");
    let target = exporter.local_addr().to_string();
    let queries: Vec<(String, String)> = queries
        .iter()
        .map(|(q, m)| ((*q).to_owned(), (*m).to_owned()))
        .collect();
    let found = tokio::task::spawn_blocking(move || {
        let prom = prometheus(&target);
        queries
            .iter()
            .map(|(query, marker)| {
                let body = query_until(&prom, query, |body| body.contains(marker.as_str()))?;
                value_after(&body, marker).ok_or(body)
            })
            .collect::<Result<Vec<String>, String>>()
    })
    .await
    .expect("joins");
    exporter.shutdown().await;
    found.unwrap_or_else(|last| panic!("Prometheus never had the series: {last}"))
}

/// Query `prom` (PromQL `query`) every half second until `done` accepts the answer's body
/// (within a minute); else the last body.
fn query_until(
    prom: &Prometheus,
    query: &str,
    done: impl Fn(&str) -> bool,
) -> Result<String, String> {
    let mut encoded = String::new();
    for c in query.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '.' | '-' => encoded.push(c),
            other => encoded.push_str(&format!("%{:02X}", other as u32)),
        }
    }
    let url = format!("{}/api/v1/query?query={encoded}", prom.url);
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < Duration::from_secs(60) {
        if let Ok(body) = get(&url) {
            if done(&body) {
                return Ok(body);
            }
            last = body;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Err(last)
}

/// The value of the first series in a query's answer after `marker` (each series' value is
/// the last element of its `["<time>", "<value>"]` pair).
fn value_after(body: &str, marker: &str) -> Option<String> {
    body.split(marker)
        .nth(1)
        .and_then(|rest| rest.split("\"value\":[").nth(1))
        .and_then(|v| v.split('"').nth(1))
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_refusals_and_breaker_states() {
    let metrics = Metrics::new();
    let (server, client) = governed(&metrics);
    let (server, echo) = served_with(&metrics, server, client).await;
    exercise_governance(&echo).await;
    let values = scraped_by_prometheus(
        &metrics,
        &[
            (
                "erpc_refused_calls_total{side=\"server\",reason=\"rate_limit\"}",
                "\"method\":\"say\"",
            ),
            // By the instance's address, under its own name: a label `instance` would be
            // renamed `exported_instance` by Prometheus (its own, the scrape target's).
            (
                "erpc_breaker_state{scope=\"instance\",server_address=~\"tcp://.+\"}",
                "\"server_address\":\"tcp://",
            ),
            (
                "erpc_client_connections{server_address=~\"tcp://.+\"}",
                "\"server_address\":\"tcp://",
            ),
        ],
    )
    .await;
    assert_eq!(
        values,
        ["2", "2", "1"],
        "two refused; the breaker open; one connection"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_listener_that_cannot_bind_names_its_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let addr = taken.local_addr().expect("bound").to_string();
    let e = MetricsServer::bind(Metrics::new(), addr.as_str())
        .await
        .expect_err("the port is taken");
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}");
    assert!(e.to_string().contains(&addr), "{e}");
    let e = MetricsServer::bind(Metrics::new(), "not an addr")
        .await
        .expect_err("not an address");
    assert!(e.to_string().contains("not an addr"), "{e}");
}
