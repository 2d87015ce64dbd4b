//! Governance from a file: every key parses into what it says, bad values are named with
//! their key and line, and a client or server built from the file behaves as it says —
//! failover past a dead instance, a rate refused over its limit, a breaker that opens,
//! credentials required.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use erpc_config::{BalancerSettings, DelaySettings, FailModeSettings, Settings, load_with_env};
use erpc_core::{Code, Status};

mod support;
use support::{error_of, no_env, written};

fn loaded(yaml: &str) -> Settings {
    let file = written(yaml);
    load_with_env(file.path(), no_env()).expect("loads")
}

#[erpc_macros::service(crate = "erpc_core")]
trait Echo {
    async fn say(&self, text: String) -> Result<String, Status>;
    async fn fail(&self, text: String) -> Result<String, Status>;
}

#[derive(Clone, Default)]
struct Echoer {
    failed: Arc<AtomicUsize>,
    /// `say` answers `unavailable`: an instance that is up but cannot serve.
    broken: bool,
}

impl Echo for Echoer {
    async fn say(&self, text: String) -> Result<String, Status> {
        if self.broken {
            return Err(Status::unavailable("this instance is broken"));
        }
        Ok(text)
    }

    async fn fail(&self, _text: String) -> Result<String, Status> {
        self.failed.fetch_add(1, Ordering::SeqCst);
        Err(Status::internal("told to fail"))
    }
}

/// A server built from `settings.server` (listening on a free port), and its address.
async fn serve(settings: &Settings, echo: Echoer) -> erpc_core::ServerHandle {
    settings
        .server
        .builder()
        .expect("server builder")
        .add_service(EchoServer::new(echo))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("serves")
}

#[test]
fn every_governance_key_is_read() {
    let s = loaded(
        r#"
client:
  balancer: {nearest: {dc: dc1, zone: eu-1a, region: eu, max_in_flight: 8}}
  fail_mode:
    default: {failover: {retries: 2}}
    methods:
      "Kv.get": {failbackup: {delay: p95, until_known: 30ms}}
      Bank: failfast
  idempotent: {methods: {"Kv.get": true}}
  retry_budget: {ratio: 0.2, min_per_sec: 5}
  breaker:
    instance: {trip: {error_rate: 0.5, min_calls: 10}, open_timeout: 2s, failures: [unavailable]}
    method: {methods: {"Kv.put": {trip: {consecutive: 3}}}}
  rate_limit: {default: {rate: 100, burst: 10, max_wait: 20ms}}
  max_in_flight: {limit: 64, max_wait: 10ms}
  discovery: {service: Kv, instances: ["tcp://127.0.0.1:1"]}
server:
  rate_limit: {methods: {"Bank.transfer": {rate: 5, leaky: true, max_wait: 1s}}}
  peer_rate_limit: {rate: 50, burst: 20}
  concurrency_limit: 100
  method_concurrency: {methods: {Reports: 8}}
  adaptive_limit: {max_limit: 500}
  workers: {workers: 4, queue: 16}
  slow_call_log: 500ms
  health: false
"#,
    );
    let c = &s.client;
    assert!(
        matches!(&c.balancer, BalancerSettings::Nearest(n) if n.dc.as_deref() == Some("dc1") && n.zone.as_deref() == Some("eu-1a") && n.max_in_flight == 8)
    );
    assert_eq!(
        c.fail_mode.default,
        FailModeSettings::Failover { retries: 2 }
    );
    assert_eq!(
        c.fail_mode.methods["Kv.get"],
        FailModeSettings::Failbackup {
            delay: DelaySettings::P95,
            until_known: Some(Duration::from_millis(30))
        },
        "method keys keep their case and dots"
    );
    assert_eq!(c.fail_mode.methods["Bank"], FailModeSettings::Failfast);
    assert_eq!(c.retry_budget.ratio, 0.2);
    let instance = c.breaker.instance.as_ref().expect("instance breaker");
    assert_eq!(instance.trip.error_rate, Some(0.5));
    assert_eq!(instance.open_timeout, Duration::from_secs(2));
    assert_eq!(c.rate_limit.default.expect("rate").burst, Some(10));
    assert_eq!(c.max_in_flight.expect("cap").limit, 64);
    assert_eq!(s.server.method_concurrency.methods["Reports"], Some(8));
    assert_eq!(s.server.adaptive_limit.expect("adaptive").max_limit, 500);
    assert!(!s.server.health);
    // And every layer builds.
    let gov = s.client.governance().expect("client layers");
    assert!(gov.fail_modes.is_some() && gov.instance_breakers.is_some());
    assert!(gov.method_breakers.is_some() && gov.rate_limit.is_some());
    let server = s.server.governance().expect("server hooks");
    assert!(server.rate_limit.is_some() && server.peer_rate_limit.is_some());
    assert!(server.adaptive_limit.is_some() && server.concurrency_limit.is_some());
}

#[test]
fn bad_governance_values_are_named_with_their_line() {
    let (key, line, message) = error_of("client:\n  balancer: fastest\n", no_env());
    assert_eq!(key, "client.balancer", "{message}");
    assert_eq!(line, Some(2), "{message}");
    assert!(
        message.contains("round_robin") && message.contains("p2c"),
        "lists them: {message}"
    );

    let (key, line, message) = error_of(
        "client:\n  rate_limit:\n    methods:\n      \"Bank.transfer\":\n        rate: 0\n",
        no_env(),
    );
    assert_eq!(
        key, "client.rate_limit.methods.\"Bank.transfer\".rate",
        "{message}"
    );
    assert_eq!(line, Some(5), "{message}");
    assert!(message.contains("must be above 0"), "{message}");

    let (key, line, message) = error_of(
        "client:\n  breaker:\n    instance:\n      trip: {error_rate: 1.5}\n",
        no_env(),
    );
    assert_eq!(key, "client.breaker.instance.trip.error_rate", "{message}");
    assert_eq!(line, Some(4), "{message}");
    assert!(message.contains("at most 1"), "{message}");

    let (key, line, message) = error_of(
        "server:\n  method_concurrency:\n    methods:\n      \"Bank..x\": 3\n",
        no_env(),
    );
    assert_eq!(
        key, "server.method_concurrency.methods.\"Bank..x\"",
        "{message}"
    );
    assert_eq!(line, Some(4), "{message}");
    assert!(
        message.contains("Service.method"),
        "says the shape: {message}"
    );

    let (key, line, message) = error_of(
        "client:\n  breaker:\n    instance:\n      failures: [unavailable, timeout]\n",
        no_env(),
    );
    assert_eq!(key, "client.breaker.instance.failures", "{message}");
    assert_eq!(line, Some(4), "{message}");
    assert!(
        message.contains("deadline_exceeded"),
        "lists the codes: {message}"
    );

    // A bad entry of a list is named by its index, on its own line.
    let (key, line, message) = error_of(
        "client:\n  discovery:\n    service: Kv\n    instances:\n      - tcp://127.0.0.1:7001\n      - nowhere\n",
        no_env(),
    );
    assert_eq!(key, "client.discovery.instances[1]", "{message}");
    assert_eq!(line, Some(6), "{message}");
    assert!(message.contains("\"nowhere\""), "{message}");
    let (key, _, message) = error_of(
        "client:\n  discovery: {service: Kv, instances: []}\n",
        no_env(),
    );
    assert_eq!(key, "client.discovery", "{message}");
    assert!(message.contains("not empty"), "{message}");

    // Values that parse but could never work: a success counted as a failure, a rate of
    // no calls.
    let (key, _, message) = error_of(
        "client:\n  breaker:\n    instance:\n      failures: [unavailable, ok]\n",
        no_env(),
    );
    assert_eq!(key, "client.breaker.instance.failures", "{message}");
    assert!(message.contains("ok is a success"), "{message}");
    let (key, _, message) = error_of(
        "client:\n  breaker:\n    instance:\n      trip: {error_rate: 0.5, min_calls: 0}\n",
        no_env(),
    );
    assert_eq!(key, "client.breaker.instance.trip.min_calls", "{message}");
    assert!(message.contains("at least 1"), "{message}");

    let (key, _, message) = error_of(
        "client:\n  fail_mode:\n    default: {failover: {retries: 0}}\n",
        no_env(),
    );
    assert_eq!(
        key, "client.fail_mode.default.failover.retries",
        "{message}"
    );
    // A count no deadline could hold, and a hedge that doubles every call: refused by name.
    let (key, _, message) = error_of(
        "client:\n  fail_mode:\n    methods:\n      Kv.get: {failtry: {retries: 100000}}\n",
        no_env(),
    );
    assert_eq!(
        key, "client.fail_mode.methods.\"Kv.get\".failtry.retries",
        "{message}"
    );
    assert!(
        message.contains("at most 10") && message.contains("100000"),
        "{message}"
    );
    let (key, _, message) = error_of(
        "client:\n  fail_mode:\n    default: {failbackup: {delay: 0ms}}\n",
        no_env(),
    );
    assert_eq!(
        key, "client.fail_mode.default.failbackup.delay",
        "{message}"
    );
    assert!(message.contains("more than 0"), "{message}");
    // A delay that would overflow the clock where the hedge's timer is set.
    let (key, _, message) = error_of(
        "client:\n  fail_mode:\n    default: {failbackup: {delay: 100years}}\n",
        no_env(),
    );
    assert_eq!(
        key, "client.fail_mode.default.failbackup.delay",
        "{message}"
    );
    assert!(message.contains("at most 1h"), "{message}");
    let (key, _, message) = error_of(
        "client:\n  fail_mode:\n    default: {failbackup: {delay: p95, until_known: 0s}}\n",
        no_env(),
    );
    assert_eq!(
        key, "client.fail_mode.default.failbackup.until_known",
        "{message}"
    );
    let (key, _, message) = error_of(
        "client:\n  fail_mode:\n    default: {failbackup: {delay: soon}}\n",
        no_env(),
    );
    assert!(key.starts_with("client.fail_mode"), "{key}: {message}");
    assert!(message.contains("p95"), "{message}");
    let (key, line, message) = error_of(
        "server:\n  auth:\n    acl:\n      default: deny\n      rules:\n        default: [{name: office, effect: allow, peer: 10.0.0.300/8}]\n",
        no_env(),
    );
    assert_eq!(key, "server.auth.acl.rules.default[0].peer", "{message}");
    assert_eq!(line, Some(6), "a flow-style list: its line: {message}");
    assert!(message.contains("CIDR"), "{message}");
    let (key, line, message) = error_of(
        "server:\n  registration:\n    centers: []\n    weight: 5\n",
        no_env(),
    );
    assert_eq!(key, "server.registration.centers", "{message}");
    assert_eq!(line, Some(3), "{message}");
    let (key, _, message) = error_of(
        "server:\n  registration: {centers: [\"tcp://c:1\"], health: sometimes}\n",
        no_env(),
    );
    assert_eq!(key, "server.registration.health", "{message}");
    assert!(message.contains("deregister"), "lists the modes: {message}");
    // A ring of u32::MAX points per instance (137 GB on the first keyed call), and none.
    let (key, _, message) = error_of(
        "client:\n  balancer: {consistent_hash: {virtual_nodes: 4294967295}}\n",
        no_env(),
    );
    assert_eq!(
        key, "client.balancer.consistent_hash.virtual_nodes",
        "{message}"
    );
    assert!(message.contains("at most 10000"), "{message}");
    let (key, _, message) = error_of(
        "client:\n  balancer: {consistent_hash: {virtual_nodes: 0}}\n",
        no_env(),
    );
    assert_eq!(
        key, "client.balancer.consistent_hash.virtual_nodes",
        "{message}"
    );
    assert!(message.contains("at least 1"), "{message}");
    // Bounds of shares the code refuses in the same words.
    let (key, _, message) = error_of(
        "client:\n  balancer: {nearest: {zone: a, max_error_rate: 5}}\n",
        no_env(),
    );
    assert_eq!(key, "client.balancer.nearest.max_error_rate", "{message}");
    assert!(message.contains("must be within 0..=1, got 5"), "{message}");
    let (key, _, message) = error_of(
        "client:\n  balancer: {network_quality: {tolerance: -1}}\n",
        no_env(),
    );
    assert_eq!(
        key, "client.balancer.network_quality.tolerance",
        "{message}"
    );
    assert!(message.contains("0 or more, got -1"), "{message}");
    // 0 workers would run no call: refused, not silently raised to 1.
    let (key, _, message) = error_of("server:\n  workers: {workers: 0, queue: 4}\n", no_env());
    assert_eq!(key, "server.workers.workers", "{message}");
}

/// README: a wait above 1h is refused, not cut — the concurrency cap's `max_wait` and the
/// retry backoff's ceiling as much as a rate limit's `max_wait`.
#[test]
fn waits_above_an_hour_are_refused_naming_the_key() {
    for (yaml, want, line) in [
        (
            "client:\n  max_in_flight: {limit: 5, max_wait: 3h}\n",
            "client.max_in_flight.max_wait",
            2,
        ),
        (
            "client:\n  retry_backoff:\n    max: 2h\n",
            "client.retry_backoff.max",
            3,
        ),
        (
            "client:\n  backoff:\n    max: 2h\n",
            "client.backoff.max",
            3,
        ),
        (
            "client:\n  rate_limit: {default: {rate: 10, max_wait: 2h}}\n",
            "client.rate_limit.default.max_wait",
            2,
        ),
    ] {
        let (key, at, message) = error_of(yaml, no_env());
        assert_eq!(key, want, "{message}");
        assert_eq!(at, Some(line), "{message}");
        assert!(message.contains("at most 1h"), "{message}");
    }
    // An hour exactly is the longest accepted.
    let settings =
        loaded("client:\n  max_in_flight: {limit: 5, max_wait: 1h}\n  retry_backoff: {max: 1h}\n");
    assert_eq!(
        settings.client.max_in_flight.and_then(|m| m.max_wait),
        Some(Duration::from_secs(3600))
    );
}

#[tokio::test]
async fn failover_from_the_file_gets_past_a_broken_instance() {
    let broken = Echoer {
        broken: true,
        ..Echoer::default()
    };
    let bad = serve(&Settings::default(), broken).await;
    let good = serve(&Settings::default(), Echoer::default()).await;
    let yaml = |mode: &str| {
        format!(
            "client:\n  fail_mode: {{default: {mode}}}\n  idempotent: {{methods: {{\"Echo.say\": true}}}}\n  discovery: {{service: Echo, instances: [\"{}\", \"{}\"]}}\n",
            bad.local_addr(),
            good.local_addr()
        )
    };
    // failfast: round-robin sends every other call to the broken instance, and it fails.
    let s = loaded(&yaml("failfast"));
    let echo = EchoClient::new(s.client.connect().await.expect("client"));
    let mut failed = 0;
    for _ in 0..4 {
        if let Err(e) = echo.say("hi".into()).await {
            assert_eq!(e.code(), Code::Unavailable, "{e:?}");
            failed += 1;
        }
    }
    assert!(failed > 0, "failfast never met the broken instance");
    // failover: every call is answered, by the other instance.
    let s = loaded(&yaml("{failover: {retries: 2}}"));
    let echo = EchoClient::new(s.client.connect().await.expect("client"));
    for i in 0..6 {
        let answer = echo.say(format!("hi {i}")).await;
        assert_eq!(answer.expect("failover answers"), format!("hi {i}"));
    }
    bad.shutdown().await;
    good.shutdown().await;
}

#[tokio::test]
async fn a_server_rate_limit_from_the_file_refuses_over_the_rate() {
    let s =
        loaded("server:\n  rate_limit:\n    methods:\n      \"Echo.say\": {rate: 1, burst: 2}\n");
    let server = serve(&s, Echoer::default()).await;
    let client = erpc_core::Client::connect(server.local_addr().to_string())
        .await
        .expect("client");
    let echo = EchoClient::new(client);
    echo.say("1".into()).await.expect("within the burst");
    echo.say("2".into()).await.expect("within the burst");
    let refused = echo.say("3".into()).await.expect_err("over the rate");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.retry_after().is_some(), "with a hint: {refused:?}");
    // Another method has no limit.
    for _ in 0..3 {
        assert!(
            echo.fail("x".into())
                .await
                .is_err_and(|s| s.code() == Code::Internal)
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_server_rate_limit_naming_a_missing_method_names_the_key_readably() {
    let s = loaded("server:\n  rate_limit:\n    methods:\n      \"Echo.sayy\": {rate: 1}\n");
    let e = s
        .server
        .builder()
        .expect("server builder")
        .add_service(EchoServer::new(Echoer::default()))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect_err("Echo has no sayy");
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    let shown = e.to_string();
    assert!(
        shown.starts_with("server.rate_limit.methods: \"Echo.sayy\" names method \"sayy\""),
        "{shown}"
    );
    assert!(shown.contains("(it has \"say\", \"fail\")"), "{shown}");
    // As `main` returning it prints it: the sentence, not an escaped string.
    let debug = format!("{e:?}");
    assert!(!debug.contains("\\\""), "{debug}");
}

#[tokio::test]
async fn a_client_rate_limit_from_the_file_refuses_unsent() {
    let echo = Echoer::default();
    let server = serve(&Settings::default(), echo.clone()).await;
    let s = loaded(&format!(
        "client:\n  target: \"{}\"\n  rate_limit:\n    methods:\n      Echo: {{rate: 1, burst: 1}}\n",
        server.local_addr()
    ));
    let client = EchoClient::new(s.client.connect().await.expect("client"));
    client.say("1".into()).await.expect("first");
    let refused = client.say("2".into()).await.expect_err("over the rate");
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(
        refused.message().contains("client: rate limit"),
        "{refused:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_breaker_from_the_file_opens_after_n_failures() {
    let echo = Echoer::default();
    let server = serve(&Settings::default(), echo.clone()).await;
    let s = loaded(&format!(
        "client:\n  target: \"{}\"\n  breaker:\n    method:\n      methods:\n        \"Echo.fail\": {{trip: {{consecutive: 3}}, open_timeout: 1m, failures: [internal]}}\n",
        server.local_addr()
    ));
    let client = EchoClient::new(s.client.connect().await.expect("client"));
    for _ in 0..3 {
        let failed = client.fail("x".into()).await.expect_err("fails");
        assert_eq!(failed.code(), Code::Internal);
    }
    let open = client.fail("x".into()).await.expect_err("breaker open");
    assert_eq!(open.code(), Code::Unavailable, "{open:?}");
    assert!(open.message().contains("circuit breaker open"), "{open:?}");
    assert_eq!(
        echo.failed.load(Ordering::SeqCst),
        3,
        "the fourth call was not sent"
    );
    // Another method has no breaker.
    client.say("still".into()).await.expect("say passes");
    server.shutdown().await;
}

#[tokio::test]
async fn auth_from_the_file_requires_a_listed_token_sent_from_a_token_file_and_applies_the_acl() {
    let tokens = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(
        tokens.path(),
        "# token subject roles\nops-token-0123456789abcdef0123456 ops admin\nweb-token-0123456789abcdef0123456 web\n",
    )
    .expect("written");
    let s = loaded(&format!(
        "server:\n  auth:\n    bearer: {{file: \"{}\"}}\n    acl:\n      default: allow\n      rules:\n        methods:\n          \"Echo.fail\": [{{name: admins only, effect: allow, role: admin}}, {{name: nobody else, effect: deny}}]\n",
        tokens.path().display()
    ));
    let server = serve(&s, Echoer::default()).await;
    let addr = server.local_addr().to_string();
    let anonymous = EchoClient::new(erpc_core::Client::connect(addr.as_str()).await.expect("c"));
    let refused = anonymous.say("x".into()).await.expect_err("no token");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    // Each client's token from its own file, as `client.credentials` says.
    let token_files = std::cell::RefCell::new(Vec::new());
    let as_of = |token: &str| {
        let file = tempfile::NamedTempFile::new().expect("tmp");
        std::fs::write(file.path(), format!("{token}\n")).expect("written");
        let s = loaded(&format!(
            "client:\n  target: \"{addr}\"\n  credentials: {{token_file: \"{}\"}}\n",
            file.path().display()
        ));
        token_files.borrow_mut().push(file);
        EchoClient::new(
            s.client
                .builder()
                .expect("builder")
                .build(addr.as_str())
                .expect("client"),
        )
    };
    let web = as_of("web-token-0123456789abcdef0123456");
    assert_eq!(web.say("hi".into()).await.expect("web may say"), "hi");
    let denied = web.fail("x".into()).await.expect_err("web may not fail");
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert!(denied.message().contains("nobody else"), "{denied:?}");
    let ops = as_of("ops-token-0123456789abcdef0123456");
    let failed = ops.fail("x".into()).await.expect_err("handler fails");
    assert_eq!(failed.code(), Code::Internal, "admins reach the handler");
    let wrong = as_of("not-a-token-0123456789abcdef01234");
    assert_eq!(
        wrong.say("x".into()).await.expect_err("unknown").code(),
        Code::Unauthenticated
    );
    server.shutdown().await;
}

#[test]
fn a_bad_tokens_file_is_named_with_its_line() {
    let tokens = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(tokens.path(), "# ok\nlonely-token\n").expect("written");
    // Read when the settings are loaded (and again when the server is built).
    let file = written(&format!(
        "server:\n  auth:\n    bearer: {{file: \"{}\"}}\n",
        tokens.path().display()
    ));
    let e = load_with_env(file.path(), no_env()).expect_err("bad line");
    let text = e.to_string();
    assert!(
        text.contains(&format!("{}:2", tokens.path().display())),
        "names the file and line: {text}"
    );
}

/// `live_layers: true` builds the layers live config changes even when the file sets none
/// (one not built cannot be added live); without it none is built.
#[test]
fn live_layers_builds_the_live_layers_empty() {
    let s = loaded("server:\n  live_layers: true\nclient:\n  live_layers: true\n");
    let server = s.server.governance().expect("built");
    assert!(server.rate_limit.is_some());
    let client = s.client.governance().expect("built");
    assert!(client.rate_limit.is_some() && client.method_breakers.is_some());
    let s = loaded("{}\n");
    assert!(s.server.governance().expect("built").rate_limit.is_none());
    let client = s.client.governance().expect("built");
    assert!(client.rate_limit.is_none() && client.method_breakers.is_none());
}

#[test]
fn an_empty_map_turns_a_setting_on_with_its_defaults() {
    let s = loaded("server:\n  adaptive_limit: {}\nclient:\n  breaker:\n    instance: {}\n");
    assert_eq!(
        s.server.adaptive_limit,
        Some(erpc_config::AdaptiveLimitSettings::default())
    );
    assert_eq!(
        s.client.breaker.instance,
        Some(erpc_config::BreakerSpec::default())
    );
}

/// Errors say where, one way: a quoted dotted method key keeps its quotes and its line for a
/// type error; a list entry's field has its index, a dot and its line; a bad ACL network names
/// the `peer:` line; a value from the environment names its variable, not the file; a file
/// the settings name that cannot be read, or holds a bad key, is named at its key's line in
/// the YAML (a JWT key by its index and kid).
#[test]
fn errors_name_the_key_its_line_and_where_the_value_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short.key");
    std::fs::write(&short, "0123456789abcdef").unwrap();
    let nope = dir.path().join("nope");
    let cases = [
        (
            "server:\n  rate_limit:\n    methods:\n      \"Bank.transfer\":\n        rate: 10\n        max_wait: soon\n".to_owned(),
            "server.rate_limit.methods.\"Bank.transfer\".max_wait",
            6,
            "soon",
        ),
        (
            "client:\n  idempotent:\n    methods:\n      \"Kv.get\": yes please\n".to_owned(),
            "client.idempotent.methods.\"Kv.get\"",
            4,
            "yes please",
        ),
        (
            format!("server:\n  auth:\n    jwt:\n      keys:\n        - alg: hs512\n          file: {}\n          kid: k1\n", short.display()),
            "server.auth.jwt.keys[0].alg",
            5,
            "hs256",
        ),
        (
            "server:\n  auth:\n    acl:\n      default: deny\n      rules:\n        default:\n          - name: x\n            effect: permit\n".to_owned(),
            "server.auth.acl.rules.default[0].effect",
            8,
            "allow deny",
        ),
        (
            "server:\n  auth:\n    acl:\n      default: deny\n      rules:\n        default:\n          - name: x\n            effect: allow\n          - name: y\n            effect: allow\n            peer: 10.0.0.0/33\n".to_owned(),
            "server.auth.acl.rules.default[1].peer",
            11,
            "10.0.0.0/33",
        ),
        (
            format!("server:\n  auth:\n    bearer:\n      file: {}\n", nope.display()),
            "server.auth.bearer.file",
            4,
            "cannot be read",
        ),
        (
            format!("server:\n  auth:\n    jwt:\n      keys:\n        - alg: hs256\n          kid: k0\n          file: {short}\n        - alg: hs256\n          file: {short}\n          kid: k1\n", short = nope.display()),
            "server.auth.jwt.keys[0].file",
            7,
            "key \"k0\"",
        ),
        (
            format!("client:\n  credentials:\n    token_file: {}\n", nope.display()),
            "client.credentials.token_file",
            3,
            "cannot be read",
        ),
    ];
    for (yaml, want_key, want_line, says) in cases {
        let (key, line, message) = error_of(&yaml, no_env());
        assert_eq!(key, want_key, "{message}");
        assert_eq!(line, Some(want_line), "{message}");
        assert!(message.contains(says), "{message}");
    }
    // The second key of two, short: named by its index and kid.
    let yaml = format!(
        "server:\n  auth:\n    jwt:\n      keys:\n        - {{alg: hs256, kid: k0, file: {long}}}\n        - alg: hs256\n          kid: k1\n          file: {short}\n",
        long = dir.path().join("long.key").display(),
        short = short.display()
    );
    std::fs::write(
        dir.path().join("long.key"),
        "0123456789abcdef0123456789abcdef",
    )
    .unwrap();
    let (key, line, message) = error_of(&yaml, no_env());
    assert_eq!(key, "server.auth.jwt.keys[1].file", "{message}");
    assert_eq!(line, Some(8), "{message}");
    assert!(
        message.contains("key \"k1\"") && message.contains("too short"),
        "{message}"
    );

    // A value from the environment: its variable, not the file's line.
    let env = vec![("ERPC_SERVER__CONCURRENCY_LIMIT".to_owned(), "0".to_owned())];
    let (key, line, message) = error_of("server:\n  concurrency_limit: 5\n", env);
    assert_eq!(
        (key.as_str(), line),
        ("server.concurrency_limit", None),
        "{message}"
    );
    assert!(
        message
            .starts_with("environment: ERPC_SERVER__CONCURRENCY_LIMIT: server.concurrency_limit: "),
        "{message}"
    );
}
