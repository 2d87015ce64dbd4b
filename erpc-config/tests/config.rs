//! Loading settings: the example file is every default, the environment overrides the file,
//! and every mistake names its key, its file and its line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use erpc_config::{Settings, load_with_env};

mod support;
use support::{error_of, no_env, written};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/erpc.example.yaml")
}

#[test]
fn the_example_file_lists_every_default() {
    let loaded = load_with_env(example(), no_env()).expect("the example loads");
    assert_eq!(loaded, Settings::default());
}

#[test]
fn the_environment_overrides_the_file() {
    let file = written("server:\n  max_in_flight: 10\n  heartbeat:\n    interval: 1s\n");
    let env = vec![
        ("ERPC_SERVER__MAX_IN_FLIGHT".to_owned(), "2048".to_owned()),
        ("ERPC_CLIENT__TIMEOUT".to_owned(), "2s".to_owned()),
        // Not a settings variable: left alone, not an unknown key.
        ("ERPC_CENTER_LISTEN".to_owned(), "tcp://x:1".to_owned()),
        ("ERPC_SOAK_SECS".to_owned(), "5".to_owned()),
    ];
    let s = load_with_env(file.path(), env).expect("loads");
    assert_eq!(s.server.max_in_flight, 2048);
    assert_eq!(s.server.heartbeat.interval, Duration::from_secs(1));
    assert_eq!(s.client.timeout, Duration::from_secs(2));
    assert_eq!(s.center.listen, ["tcp://127.0.0.1:7070"]);
}

/// Every field reaches the `ServerConfig` it describes; `inline_calls` was added to the core
/// config without a settings field at first.
#[test]
fn inline_calls_is_read_and_reaches_the_server_config() {
    let file = written("server:\n  inline_calls: false\n");
    let s = load_with_env(file.path(), no_env()).expect("loads");
    assert!(!s.server.inline_calls);
    assert!(!s.server.server_config().expect("a config").inline_calls);
    let env = vec![("ERPC_SERVER__INLINE_CALLS".to_owned(), "false".to_owned())];
    let s = load_with_env(example(), env).expect("loads");
    assert!(!s.server.server_config().expect("a config").inline_calls);
    assert!(
        Settings::default()
            .server
            .server_config()
            .expect("a config")
            .inline_calls
    );
}

#[test]
fn an_unknown_key_is_named_with_its_line() {
    let (key, line, message) = error_of(
        "server:\n  max_in_flight: 10\n  heartbeat:\n    intervl: 5s\n",
        no_env(),
    );
    assert!(key.ends_with("intervl"), "{message}");
    assert_eq!(line, Some(4), "{message}");
    assert!(
        message.contains("interval"),
        "says what was expected: {message}"
    );
}

#[test]
fn a_value_of_the_wrong_type_is_named_with_its_line() {
    let (key, line, message) = error_of("client:\n  connections: lots\n", no_env());
    assert_eq!(key, "client.connections", "{message}");
    assert_eq!(line, Some(2), "{message}");
    let (key, line, message) = error_of("server:\n  shutdown_grace: 10 parsecs\n", no_env());
    assert_eq!(key, "server.shutdown_grace", "{message}");
    assert_eq!(line, Some(2), "{message}");
    let (key, _, message) = error_of("client:\n  codec: xml\n", no_env());
    assert_eq!(key, "client.codec", "{message}");
    assert!(message.contains("msgpack"), "lists the codecs: {message}");
}

/// A list where a mapping goes is refused at its key — serde would read it as the
/// mapping's keys in order (`max_in_flight: [3]` loaded as `{limit: 3}`) — while a list
/// where a list goes, or a mapping where a list goes, is judged as before.
#[test]
fn a_list_where_a_mapping_goes_is_refused_at_its_key() {
    for (yaml, at, line) in [
        ("client:\n  max_in_flight: [3]\n", "client.max_in_flight", 2),
        ("server: [1, 2]\n", "server", 1),
        ("server:\n  heartbeat: [1]\n", "server.heartbeat", 2),
        (
            "client:\n  breaker:\n    instance:\n      trip: [1]\n",
            "client.breaker.instance.trip",
            4,
        ),
        (
            "client:\n  rate_limit:\n    methods:\n      \"Kv.get\": [5]\n",
            "client.rate_limit.methods.\"Kv.get\"",
            4,
        ),
    ] {
        let (key, found, message) = error_of(yaml, no_env());
        assert_eq!(key, at, "{message}");
        assert_eq!(found, Some(line), "{message}");
        assert!(
            message.ends_with("expected a mapping of keys, found a list"),
            "{message}"
        );
    }
    // Lists where lists go: loaded, their entries judged as entries.
    let yaml = "server:\n  listen: [\"tcp://127.0.0.1:0\"]\nclient:\n  breaker:\n    instance: {failures: [unavailable]}\n";
    load_with_env(written(yaml).path(), no_env()).expect("lists where lists go");
    let (key, _, message) = error_of("server:\n  auth:\n    jwt:\n      keys: [1]\n", no_env());
    assert_eq!(key, "server.auth.jwt.keys[0]", "{message}");
    let (key, _, message) = error_of("server:\n  listen: {a: 1}\n", no_env());
    assert_eq!(key, "server.listen", "{message}");
    assert!(
        message.ends_with("expected a sequence, found a mapping"),
        "{message}"
    );
    let (_, _, message) = error_of("server:\n  max_in_flight: [3]\n", no_env());
    assert!(message.ends_with("found a list"), "{message}");
}

/// A kind that needs settings given by its name alone panicked inside the `config` crate
/// ("entered unreachable code"), and settings given to a kind that takes none were dropped.
#[test]
fn a_kind_is_a_name_or_one_name_with_its_settings() {
    let env = |var: &str, value: &str| vec![(var.to_owned(), value.to_owned())];
    for (yaml, env, at, reason) in [
        (
            "client:\n  fail_mode:\n    default: failover\n",
            no_env(),
            "client.fail_mode.default",
            "failover needs its settings, as a mapping: {failover: {retries: 2}}",
        ),
        (
            "client:\n  fail_mode:\n    methods:\n      \"Kv.get\": failbackup\n",
            no_env(),
            "client.fail_mode.methods.\"Kv.get\"",
            "failbackup needs its settings, as a mapping: {failbackup: {delay: 20ms}}",
        ),
        (
            "client:\n  balancer: nearest\n",
            no_env(),
            "client.balancer",
            "nearest needs its settings, as a mapping: {nearest: {zone: eu-west-1a}}",
        ),
        (
            "{}\n",
            env("ERPC_CLIENT__BALANCER", "consistent_hash"),
            "client.balancer",
            "consistent_hash needs its settings",
        ),
        (
            "{}\n",
            env("ERPC_CLIENT__FAIL_MODE__DEFAULT", "failtry"),
            "client.fail_mode.default",
            "failtry needs its settings",
        ),
        (
            "client:\n  fail_mode:\n    default: {failfast: 3}\n",
            no_env(),
            "client.fail_mode.default",
            "failfast takes no settings: write it alone, `failfast`",
        ),
        (
            "client:\n  balancer: {round_robin: 3}\n",
            no_env(),
            "client.balancer",
            "round_robin takes no settings",
        ),
        (
            "client:\n  fail_mode:\n    default: {failover: {retries: 2}, failtry: {retries: 1}}\n",
            no_env(),
            "client.fail_mode.default",
            "expected one name, found fail",
        ),
        (
            "client:\n  balancer: {}\n",
            no_env(),
            "client.balancer",
            "expected a balancer, found an empty mapping",
        ),
        (
            "client:\n  balancer: roundrobin\n",
            no_env(),
            "client.balancer",
            "round_robin",
        ),
        (
            "server:\n  auth:\n    acl: {default: {allow: 3}}\n",
            no_env(),
            "server.auth.acl.default",
            "",
        ),
    ] {
        let (key, _, message) = error_of(yaml, env);
        assert_eq!(key, at, "{message}");
        assert!(message.contains(reason), "{message}");
    }
    let (key, _, message) = error_of(
        "client:\n  fail_mode:\n    default: {failover: 2}\n",
        no_env(),
    );
    assert_eq!(key, "client.fail_mode.default.failover", "{message}");
    assert!(
        message.ends_with("expected a mapping of keys, found 2"),
        "{message}"
    );
    // The settings below a kind are still read and checked as before.
    let (key, _, message) = error_of(
        "client:\n  fail_mode:\n    default: {failover: {retrie: 2}}\n",
        no_env(),
    );
    assert_eq!(key, "client.fail_mode.default.failover.retrie", "{message}");
    let yaml = "client:\n  balancer: {nearest: {zone: a}}\n  fail_mode:\n    default: failfast\n    methods:\n      \"Kv.get\": {failover: {retries: 2}}\n      \"Kv.put\": {failbackup: {delay: p95}}\n";
    let settings = load_with_env(written(yaml).path(), no_env()).expect("loads");
    assert_eq!(
        settings.client.balancer,
        erpc_config::BalancerSettings::Nearest(erpc_config::NearestSettings {
            zone: Some("a".into()),
            ..Default::default()
        })
    );
    let settings =
        load_with_env(written("{}\n").path(), env("ERPC_CLIENT__BALANCER", "p2c")).expect("loads");
    assert_eq!(settings.client.balancer, erpc_config::BalancerSettings::P2c);
}

#[test]
fn a_value_that_cannot_work_is_named_with_its_line() {
    let (key, line, message) = error_of(
        "server:\n  default_deadline: 2h\n  max_deadline: 1h\n",
        no_env(),
    );
    assert_eq!(key, "server.default_deadline", "{message}");
    assert_eq!(line, Some(2), "{message}");
    let (key, line, message) = error_of(
        "clients:\n  billing:\n    backoff:\n      initial: 9s\n      max: 1s\n",
        no_env(),
    );
    assert_eq!(key, "clients.billing.backoff.initial", "{message}");
    assert_eq!(line, Some(4), "{message}");
    let (key, _, message) = error_of("client:\n  stream_window: 1024\n", no_env());
    assert_eq!(key, "client.stream_window", "{message}");
    assert!(message.contains("262144"), "{message}");
    let (key, _, message) = error_of("telemetry:\n  tracing:\n    sample_ratio: 3\n", no_env());
    assert_eq!(key, "telemetry.tracing.sample_ratio", "{message}");
}

#[test]
fn a_tls_file_that_cannot_be_read_is_named_with_its_key_and_line() {
    // Read when the file is loaded, not first when a listener binds: the center's and the
    // server's and the client's alike.
    for (text, key, line) in [
        (
            "center:\n  store: memory\n  tls:\n    cert: /nonexistent/c.pem\n    key: /nonexistent/k.pem\n",
            "center.tls.cert",
            4,
        ),
        (
            "server:\n  tls:\n    key: /nonexistent/k.pem\n    cert: /nonexistent/c.pem\n",
            "server.tls.cert",
            4,
        ),
        (
            "client:\n  tls:\n    ca: /nonexistent/ca.pem\n",
            "client.tls.ca",
            3,
        ),
    ] {
        let (got, at, message) = error_of(text, no_env());
        assert_eq!(got, key, "{message}");
        assert_eq!(at, Some(line), "{message}");
        assert!(
            message.contains("/nonexistent/"),
            "names the file: {message}"
        );
    }
    // A file that is there but holds no certificate: named too.
    let junk = written("not a certificate\n");
    let (got, _, message) = error_of(
        &format!(
            "center:\n  tls:\n    cert: {0}\n    key: {0}\n",
            junk.path().display()
        ),
        no_env(),
    );
    assert_eq!(got, "center.tls", "{message}");
    assert!(message.contains("certificate"), "{message}");
}

#[test]
fn a_bad_value_from_the_environment_names_the_variable_s_key() {
    let (key, line, message) = error_of(
        "server: {}\n",
        vec![("ERPC_SERVER__MAX_IN_FLIGHT".to_owned(), "many".to_owned())],
    );
    assert_eq!(key, "server.max_in_flight", "{message}");
    assert_eq!(line, None);
    assert!(message.contains("environment"), "{message}");
}

#[test]
fn a_file_that_is_not_yaml_or_not_there_is_named() {
    let file = written("server: [unclosed\n");
    let e = load_with_env(file.path(), no_env()).expect_err("not YAML");
    assert!(
        e.to_string().contains(&file.path().display().to_string()),
        "{e}"
    );
    let e = load_with_env("/nonexistent/erpc.yaml", no_env()).expect_err("missing");
    assert!(e.to_string().contains("/nonexistent/erpc.yaml"), "{e}");
}

#[erpc_macros::service(crate = "erpc_core")]
trait Echo {
    async fn say(&self, text: String) -> Result<String, erpc_core::Status>;
}

struct Echoer;

impl Echo for Echoer {
    async fn say(&self, text: String) -> Result<String, erpc_core::Status> {
        Ok(text)
    }
}

#[tokio::test]
async fn a_server_and_a_client_built_from_settings_talk() {
    let file = written(
        "server:\n  listen: [\"tcp://127.0.0.1:0\"]\n  max_in_flight: 8\nclient:\n  codec: json\n  timeout: 3s\n",
    );
    let s = load_with_env(file.path(), no_env()).expect("loads");
    let server = s
        .server
        .builder()
        .expect("builder")
        .add_service(EchoServer::new(Echoer))
        .serve(s.server.listen.iter().map(String::as_str))
        .await
        .expect("serves");
    let client = s
        .client
        .builder()
        .expect("builder")
        .connect(server.local_addr().to_string())
        .await
        .expect("connects");
    assert_eq!(client.config().timeout, Duration::from_secs(3));
    assert_eq!(client.config().codec, erpc_core::CodecId::JSON);
    let echo = EchoClient::new(client);
    assert_eq!(echo.say("hi".into()).await.expect("answer"), "hi");
    server.shutdown().await;
}

/// A client's per-method key naming a method its service lacks (`"Echo.sy"`) is refused
/// once the service's methods are known — a typed client, `EchoClient::METHODS` — naming
/// the key, the file, the line and the methods there are; keys of other services and the
/// right names pass.
#[tokio::test]
async fn a_client_key_naming_a_method_the_service_lacks_is_refused() {
    for (yaml, key, line) in [
        (
            "client:\n  target: tcp://127.0.0.1:1\n  fail_mode:\n    methods:\n      \"Echo.sy\": { failover: { retries: 2 } }\n",
            "client.fail_mode.methods.\"Echo.sy\"",
            5,
        ),
        (
            "client:\n  target: tcp://127.0.0.1:1\n  idempotent:\n    methods:\n      \"Other.x\": true\n      \"Echo.nope\": true\n",
            "client.idempotent.methods.\"Echo.nope\"",
            6,
        ),
        (
            "clients:\n  echo:\n    breaker:\n      method:\n        methods:\n          \"Echo.sayy\": { trip: { consecutive: 3 } }\n",
            "clients.echo.breaker.method.methods.\"Echo.sayy\"",
            6,
        ),
    ] {
        let file = written(yaml);
        let s = load_with_env(file.path(), no_env()).expect("loads: the service is not known yet");
        let client = s.clients.get("echo").unwrap_or(&s.client);
        let e = client
            .check_service(EchoClient::SERVICE, EchoClient::METHODS)
            .expect_err(key);
        let message = e.to_string();
        let erpc_config::ConfigError::Key {
            key: k, line: l, ..
        } = &e
        else {
            panic!("not a key error: {message}");
        };
        assert_eq!(k, key, "{message}");
        assert_eq!(*l, Some(line), "{message}");
        assert!(
            message.starts_with(&format!("{}:{line}: {key}", file.path().display())),
            "{message}"
        );
        assert!(message.contains("(it has \"say\")"), "{message}");
        let refused = client
            .connect_typed::<EchoClient>()
            .await
            .expect_err("refused before connecting");
        assert_eq!(
            refused.code(),
            erpc_core::Code::InvalidArgument,
            "{refused}"
        );
        assert!(refused.message().contains(key), "{refused}");
    }
    let file = written(
        "client:\n  fail_mode:\n    methods:\n      \"Echo.say\": { failover: { retries: 2 } }\n      Echo: failfast\n      \"Other.x\": failfast\n",
    );
    let s = load_with_env(file.path(), no_env()).expect("loads");
    s.client
        .check_service(EchoClient::SERVICE, EchoClient::METHODS)
        .expect("the right names pass");
}

#[test]
fn a_mistake_in_a_variable_names_the_variable_not_the_file() {
    for (var, value, key, says) in [
        (
            "ERPC_SERVER__MAX_IN_FLIGHTT",
            "3",
            "server.max_in_flightt",
            "unknown field",
        ),
        (
            "ERPC_CLIENT__TIMEOUT",
            "2parsecs",
            "client.timeout",
            "2parsecs",
        ),
        (
            "ERPC_SERVER__AUTH__JWT__KEYS",
            "k1",
            "server.auth.jwt.keys",
            "only be set in the file",
        ),
    ] {
        let file = written("server:\n  max_in_flight: 10\nclient:\n  timeout: 1s\n");
        let e = load_with_env(file.path(), vec![(var.to_owned(), value.to_owned())])
            .expect_err("refused");
        let message = e.to_string();
        assert!(
            message.starts_with(&format!("environment: {var}: {key}")),
            "{message}"
        );
        assert!(message.contains(says), "{message}");
        let path = file.path().display().to_string();
        assert!(!message.contains(&path), "not the file's fault: {message}");
    }
}

/// A variable meant as a setting but misspelt so that the loader would not read it stops
/// the load, naming it and the form it should have; other programs' `ERPC_*` variables (of
/// erpc-center, the CLI, the bridge, the demo) are left alone.
#[test]
fn a_misspelt_variable_is_refused_not_skipped() {
    let yaml = "server:\n  max_in_flight: 10\nclient:\n  timeout: 1s\n";
    for (var, says) in [
        (
            "ERPC_CLIENT_TIMEOUT",
            "two underscores, e.g. ERPC_CLIENT__TIMEOUT",
        ),
        ("ERPC_SERVER_MAX_IN_FLIGHT", "ERPC_SERVER__MAX_IN_FLIGHT"),
        ("ERPC_SERVR__MAX_IN_FLIGHT", "did you mean SERVER?"),
        (
            "ERPC_SERVR__MAX_IN_FLIGHT",
            "SERVER, CLIENT, CLIENTS, CENTER, TELEMETRY",
        ),
        (
            "erpc_server__max_in_flight",
            "capitals, ERPC_SERVER__MAX_IN_FLIGHT",
        ),
        (
            "ERPC_TELEMETRY_LOGGING__FILTER",
            "ERPC_TELEMETRY__LOGGING__FILTER",
        ),
    ] {
        let file = written(yaml);
        let e = load_with_env(file.path(), vec![(var.to_owned(), "5".to_owned())]).expect_err(var);
        let message = e.to_string();
        assert!(
            message.starts_with(&format!("environment: {var}: not a setting")),
            "{message}"
        );
        assert!(message.contains(says), "{message}");
        assert!(
            matches!(e, erpc_config::ConfigError::Variable { .. }),
            "{message}"
        );
    }
    let others = [
        "ERPC_CENTER",
        "ERPC_CENTER_LISTEN",
        "ERPC_CENTER_TOKEN",
        "ERPC_TOKEN",
        "ERPC_TOKEN_FILE",
        "ERPC_DEMO_CENTER",
        "ERPC_SOAK_SECS",
        "ERPC_SHOP_LISTEN",
        "ERPC_GATEWAY_DC",
        "ERPC_BRIDGE_CONFIG",
        "ERPC_BRIDGE__CONCURRENCY",
    ];
    let env = others.iter().map(|v| ((*v).to_owned(), "x".to_owned()));
    let s = load_with_env(written(yaml).path(), env).expect("others' variables left alone");
    assert_eq!(s.server.max_in_flight, 10);
}

#[test]
fn a_list_is_set_from_one_variable_with_commas() {
    let file = written("server:\n  listen: [\"tcp://127.0.0.1:1\"]\n");
    let env = vec![
        (
            "ERPC_SERVER__LISTEN".to_owned(),
            "tcp://0.0.0.0:7001,quic://0.0.0.0:7002".to_owned(),
        ),
        // Not a list: its commas stay.
        (
            "ERPC_TELEMETRY__LOGGING__FILTER".to_owned(),
            "info,erpc::access=off".to_owned(),
        ),
    ];
    let s = load_with_env(file.path(), env).expect("loads");
    assert_eq!(
        s.server.listen,
        ["tcp://0.0.0.0:7001", "quic://0.0.0.0:7002"]
    );
    assert_eq!(s.telemetry.logging.filter, "info,erpc::access=off");
}

#[test]
fn a_whole_number_out_of_range_is_refused_with_the_value_given() {
    let (key, line, message) = error_of(
        "server:\n  listen: []\n  max_in_flight: 99999999999999999999999\n",
        no_env(),
    );
    assert_eq!(key, "server.max_in_flight", "{message}");
    assert_eq!(line, Some(3), "{message}");
    assert!(
        message.contains("99999999999999999999999") && message.contains("9223372036854775807"),
        "the value given and the range: {message}"
    );
    let (key, line, message) = error_of(
        "server: {}\n",
        vec![(
            "ERPC_SERVER__MAX_IN_FLIGHT".to_owned(),
            "18446744073709551616".to_owned(),
        )],
    );
    assert_eq!(
        (key.as_str(), line),
        ("server.max_in_flight", None),
        "{message}"
    );
    assert!(
        message.starts_with("environment: ERPC_SERVER__MAX_IN_FLIGHT:")
            && message.contains("18446744073709551616"),
        "{message}"
    );
    // Live: the value as given, at its line.
    let e = erpc_config::parse_live(
        "server.rate_limit",
        "{default: {rate: 99999999999999999999}}",
        "erpc/config/Bank/server.rate_limit",
    )
    .expect_err("too big");
    let message = e.to_string();
    assert!(
        message.contains("99999999999999999999 is out of range"),
        "{message}"
    );
}

#[test]
fn a_live_value_s_error_has_its_line_as_the_docs_show() {
    let e = erpc_config::parse_live(
        "server.rate_limit",
        "{default: {rate: 0}}",
        "erpc/config/Bank/server.rate_limit",
    )
    .expect_err("rate 0");
    let message = e.to_string();
    assert!(
        message.starts_with(
            "erpc/config/Bank/server.rate_limit:1: server.rate_limit.default.rate: must be above 0"
        ),
        "{message}"
    );
}

#[test]
fn telemetry_mistakes_are_named_at_load() {
    let (key, line, message) = error_of(
        "telemetry:\n  logging:\n    filter: \"info,[[[\"\n",
        no_env(),
    );
    assert_eq!(key, "telemetry.logging.filter", "{message}");
    assert_eq!(line, Some(3), "{message}");
    assert!(message.contains("info,[[["), "{message}");
    for bad in ["not an addr", "127.0.0.1", "127.0.0.1:99999", ":9464"] {
        let (key, line, message) = error_of(
            &format!("telemetry:\n  metrics:\n    listen: \"{bad}\"\n"),
            no_env(),
        );
        assert_eq!(key, "telemetry.metrics.listen", "{message}");
        assert_eq!(line, Some(3), "{message}");
        assert!(message.contains(bad), "{message}");
    }
    for good in ["0.0.0.0:9464", "[::]:9464", "localhost:9464"] {
        let file = written(&format!("telemetry:\n  metrics:\n    listen: \"{good}\"\n"));
        load_with_env(file.path(), no_env()).expect(good);
    }
}

/// Log settings EnvFilter and tracing-appender took silently (a fresh user's report): an
/// empty filter, a misspelt level (a bare word is a *target* to EnvFilter, so every other
/// line went off), an empty log directory (files in the current directory, pruning broken),
/// an empty prefix or one with a path separator. Refused at load with the rules
/// erpc-telemetry's logging applies, naming the key.
#[test]
fn log_settings_that_would_silence_or_misplace_logs_are_refused_at_load() {
    for (filter, says) in [
        ("", "it is empty"),
        ("   ", "it is empty"),
        ("infoo", "did you mean info?"),
        ("debg", "did you mean debug?"),
        ("info,LOUD", "\"LOUD\" is not a level"),
    ] {
        let (key, line, message) = error_of(
            &format!("telemetry:\n  logging:\n    filter: \"{filter}\"\n"),
            no_env(),
        );
        assert_eq!(key, "telemetry.logging.filter", "{message}");
        assert_eq!(line, Some(3), "{message}");
        assert!(message.contains(says), "{filter:?}: {message}");
    }
    for (files, key, says) in [
        ("{directory: \"\", prefix: app}", "directory", "is empty"),
        ("{directory: \"  \", prefix: app}", "directory", "is empty"),
        ("{directory: logs, prefix: \"\"}", "prefix", "is empty"),
        ("{directory: logs, prefix: \"a/b\"}", "prefix", "\"a/b\""),
    ] {
        let (got, _, message) = error_of(
            &format!("telemetry:\n  logging:\n    files: {files}\n"),
            no_env(),
        );
        assert_eq!(got, format!("telemetry.logging.files.{key}"), "{message}");
        assert!(message.contains(says), "{files}: {message}");
    }
    // A span's service.name left empty: refused, not sent as "".
    let (key, line, message) =
        error_of("telemetry:\n  tracing:\n    service_name: \"\"\n", no_env());
    assert_eq!(key, "telemetry.tracing.service_name", "{message}");
    assert_eq!(line, Some(3), "{message}");
    // An error printed with `{:?}` (what `main` returning it shows) reads as its message.
    let file = written("server:\n  max_in_flight: many\n");
    let error = erpc_config::load_with_env(file.path(), no_env()).expect_err("bad value");
    assert_eq!(format!("{error:?}"), error.to_string());
    for good in ["off", "INFO", "warn, erpc_core=debug", "my_app::db"] {
        let file = written(&format!("telemetry:\n  logging:\n    filter: \"{good}\"\n"));
        load_with_env(file.path(), no_env()).expect(good);
    }
    let file =
        written("telemetry:\n  logging:\n    files: {directory: ., prefix: app, max_files: 0}\n");
    load_with_env(file.path(), no_env()).expect("the current directory, every file kept");
}

/// A key given twice is named by its path and line, not the YAML parser's Debug form
/// (`String("max_in_flight"): duplicated key in mapping at byte 45 …`).
#[test]
fn a_key_given_twice_is_named_with_its_path_and_line() {
    for (yaml, key, line) in [
        (
            "server:\n  max_in_flight: 10\n  max_in_flight: 20\n",
            "server.max_in_flight",
            3,
        ),
        (
            "client:\n  heartbeat:\n    interval: 1s\n    misses: 3\n    interval: 2s\n",
            "client.heartbeat.interval",
            5,
        ),
        (
            "client:\n  heartbeat: {interval: 1s, interval: 2s}\n",
            "client.heartbeat.interval",
            2,
        ),
        (
            "clients:\n  \"a.b\":\n    timeout: 1s\n    timeout: 2s\n",
            "clients.\"a.b\".timeout",
            4,
        ),
    ] {
        let (k, l, message) = error_of(yaml, no_env());
        assert_eq!(k, key, "{message}");
        assert_eq!(l, Some(line), "{message}");
        assert!(message.contains("given twice"), "{message}");
        assert!(!message.contains("String("), "no Debug form: {message}");
    }
}

/// A required key left out is named by its whole path (the fail mode's variant too), with
/// the line of the nearest key above it and what it expects, not `not found: KEY`.
#[test]
fn a_required_key_left_out_is_named_with_what_it_expects() {
    for (yaml, key, line, expects) in [
        (
            "client:\n  fail_mode:\n    default:\n      failover: {}\n",
            "client.fail_mode.default.failover.retries",
            4,
            "a number of retries",
        ),
        (
            "client:\n  fail_mode: { default: { failtry: {} } }\n",
            "client.fail_mode.default.failtry.retries",
            2,
            "e.g. 2",
        ),
        (
            "client:\n  fail_mode:\n    methods:\n      \"Kv.get\":\n        failover: {}\n",
            "client.fail_mode.methods.\"Kv.get\".failover.retries",
            5,
            "a number of retries",
        ),
        (
            "server:\n  rate_limit:\n    default: { burst: 3 }\n",
            "server.rate_limit.default.rate",
            3,
            "calls per second",
        ),
        (
            "server:\n  tls: { cert: /x }\n",
            "server.tls.key",
            2,
            "PEM private key",
        ),
        (
            "server:\n  auth:\n    jwt:\n      keys:\n        - file: /x\n",
            "server.auth.jwt.keys[0].alg",
            5,
            "hs256, rs256 or es256",
        ),
    ] {
        let (k, l, message) = error_of(yaml, no_env());
        assert_eq!(k, key, "{message}");
        assert_eq!(l, Some(line), "{message}");
        assert!(message.contains("is required"), "{message}");
        assert!(message.contains(expects), "{message}");
        assert!(!message.contains("not found"), "{message}");
    }
    // An unknown key below a variant is named with the variant too.
    let (k, l, message) = error_of(
        "client:\n  fail_mode:\n    default:\n      failover:\n        retrie: 2\n",
        no_env(),
    );
    assert_eq!(k, "client.fail_mode.default.failover.retrie", "{message}");
    assert_eq!(l, Some(5), "{message}");
}

/// `trip: {error_rate}` without `min_calls` trips only after the documented default of 20
/// calls.
#[test]
fn an_error_rate_without_min_calls_counts_twenty_calls() {
    let file = written("client:\n  breaker:\n    instance: { trip: { error_rate: 0.5 } }\n");
    let s = load_with_env(file.path(), no_env()).expect("loads");
    let spec = s.client.breaker.instance.expect("a breaker");
    assert_eq!(spec.trip.min_calls, None);
    let trip = format!("{:?}", spec.settings());
    assert!(
        trip.contains(&format!("min_calls: {}", erpc_config::DEFAULT_MIN_CALLS)),
        "{trip}"
    );
    assert_eq!(erpc_config::DEFAULT_MIN_CALLS, 20);
}

/// A check of two keys' values names where each came from — a line of the file, a
/// variable, or the default — so that a variable's value is never blamed on the file.
#[test]
fn a_check_of_two_keys_names_where_each_value_came_from() {
    let var = |name: &str, value: &str| vec![(name.to_owned(), value.to_owned())];
    // The default above a variable's maximum: neither is the file's.
    let file = written("server:\n  max_in_flight: 10\n");
    let e = load_with_env(file.path(), var("ERPC_SERVER__MAX_DEADLINE", "1s"))
        .expect_err("default above the maximum");
    assert_eq!(
        e.to_string(),
        "server.default_deadline: 10s (default) is above server.max_deadline 1s (environment: ERPC_SERVER__MAX_DEADLINE)"
    );
    // The file's value above a variable's maximum: the file's line, and the variable.
    let file = written("server:\n  default_deadline: 10s\n");
    let path = file.path().display().to_string();
    let e = load_with_env(file.path(), var("ERPC_SERVER__MAX_DEADLINE", "1s"))
        .expect_err("the file's value above the variable's");
    assert_eq!(
        e.to_string(),
        format!(
            "{path}:2: server.default_deadline: 10s is above server.max_deadline 1s (environment: ERPC_SERVER__MAX_DEADLINE)"
        )
    );
    // A variable above the file's maximum: the variable, and the file's line.
    let file = written("server:\n  max_deadline: 1s\n");
    let path = file.path().display().to_string();
    let e = load_with_env(file.path(), var("ERPC_SERVER__DEFAULT_DEADLINE", "5s"))
        .expect_err("the variable's value above the file's");
    assert_eq!(
        e.to_string(),
        format!(
            "environment: ERPC_SERVER__DEFAULT_DEADLINE: server.default_deadline: 5s is above server.max_deadline 1s ({path}:2)"
        )
    );
    // Both in the file, in a flow-style mapping (no line of their own).
    let (_, _, message) = error_of("client:\n  backoff: {initial: 9s, max: 1s}\n", no_env());
    assert!(
        message.contains("client.backoff.initial: 9s is above client.backoff.max 1s ("),
        "{message}"
    );
    // The other cross-key checks alike.
    for (yaml, env, says) in [
        (
            "client:\n  retry_backoff:\n    base: 5s\n",
            vec![],
            "client.retry_backoff.base: 5s is above client.retry_backoff.max 1s (default)",
        ),
        (
            "center:\n  min_ttl: 10m\n",
            vec![],
            "center.min_ttl: 10m is above center.max_ttl 5m (default)",
        ),
        (
            "server: {}\n",
            var("ERPC_SERVER__ADAPTIVE_LIMIT__MIN_LIMIT", "5000"),
            "server.adaptive_limit.max_limit: ",
        ),
    ] {
        let file = written(yaml);
        let e = load_with_env(file.path(), env).expect_err(says);
        assert!(e.to_string().contains(says), "{says:?} not in: {e}");
    }
}

/// The tracing endpoint is read as a URL: a port out of range (or none, or zero) is refused
/// naming the key, or the variable that set it.
#[test]
fn a_tracing_endpoint_with_a_bad_port_is_refused_naming_its_source() {
    let e = load_with_env(
        written("server:\n  max_in_flight: 10\n").path(),
        vec![(
            "ERPC_TELEMETRY__TRACING__ENDPOINT".to_owned(),
            "http://127.0.0.1:99999".to_owned(),
        )],
    )
    .expect_err("port 99999");
    let message = e.to_string();
    assert!(
        message.starts_with(
            "environment: ERPC_TELEMETRY__TRACING__ENDPOINT: telemetry.tracing.endpoint: \"http://127.0.0.1:99999\" has port \"99999\", expected 1 to 65535"
        ),
        "{message}"
    );
    for (bad, says) in [
        ("http://collector:0", "expected 1 to 65535"),
        ("http://collector:", "expected 1 to 65535"),
        ("http://", "not a URL"),
        ("collector:4317", "http:// or https://"),
        ("http://col lector:4317", "not a URL"),
    ] {
        let (key, line, message) = error_of(
            &format!("telemetry:\n  tracing:\n    endpoint: \"{bad}\"\n"),
            no_env(),
        );
        assert_eq!(key, "telemetry.tracing.endpoint", "{message}");
        assert_eq!(line, Some(3), "{message}");
        assert!(message.contains(says), "{bad}: {message}");
    }
    for good in [
        "http://127.0.0.1:4317",
        "https://[::1]:4317",
        "http://collector",
    ] {
        let file = written(&format!(
            "telemetry:\n  tracing:\n    endpoint: \"{good}\"\n"
        ));
        load_with_env(file.path(), no_env()).expect(good);
    }
}
/// The parser marks the end of the scalar before a tab (the line above); the tab's own
/// line is named.
#[test]
fn a_tab_is_placed_where_it_is() {
    let file = written("client:\n  timeout: 5s\n\tconnections: 3\n");
    let e = load_with_env(file.path(), no_env()).expect_err("a tab");
    let message = e.to_string();
    assert!(
        message.ends_with("found a tab at line 3 column 1: YAML indents with spaces, never tabs"),
        "{message}"
    );
}
/// Variables' mistakes named as such: a mapping a variable made, missing a required key, is
/// the variable's (not a line of the file); spaces around a number are said to be the
/// fault; spaces after a list's commas are not part of its entries.
#[test]
fn a_variable_s_mistakes_are_the_variable_s() {
    let env = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
    let (key, line, message) = error_of(
        "client:\n  timeout: 5s\n",
        env("ERPC_CLIENT__RATE_LIMIT__DEFAULT__BURST", "5"),
    );
    assert_eq!(key, "client.rate_limit.default.rate", "{message}");
    assert_eq!(line, None, "{message}");
    assert!(
        message.starts_with("environment: ERPC_CLIENT__RATE_LIMIT__DEFAULT__BURST: ")
            && message
                .contains("set it in the file or with ERPC_CLIENT__RATE_LIMIT__DEFAULT__RATE"),
        "{message}"
    );
    // The file gives the mapping: the file's line it is.
    let (_, line, message) = error_of(
        "client:\n  rate_limit:\n    default: {burst: 2}\n",
        env("ERPC_CLIENT__RATE_LIMIT__DEFAULT__BURST", "5"),
    );
    assert!(
        line.is_some() && !message.starts_with("environment"),
        "{message}"
    );
    for value in [" 12", "12 "] {
        let (_, _, message) = error_of("{}\n", env("ERPC_SERVER__MAX_IN_FLIGHT", value));
        assert!(
            message.ends_with(&format!(
                "expected a whole number, found {value:?}: remove the spaces around the number"
            )),
            "{message}"
        );
    }
    let settings = load_with_env(
        written("{}\n").path(),
        env(
            "ERPC_SERVER__LISTEN",
            "tcp://127.0.0.1:1, tcp://127.0.0.1:2",
        ),
    )
    .expect("loads");
    assert_eq!(
        settings.server.listen,
        ["tcp://127.0.0.1:1", "tcp://127.0.0.1:2"]
    );
}
/// The `config` crate reads `true` as 1 where a number goes: refused, in the file, a
/// variable and a live value alike; on/off keys and text keys still take it.
#[test]
fn a_boolean_where_a_number_goes_is_refused() {
    let env = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
    for (yaml, env, at) in [
        (
            "server: {max_in_flight: true}\n",
            no_env(),
            "server.max_in_flight",
        ),
        (
            "{}\n",
            env("ERPC_SERVER__MAX_IN_FLIGHT", "true"),
            "server.max_in_flight",
        ),
        (
            "telemetry: {tracing: {sample_ratio: false}}\n",
            no_env(),
            "telemetry.tracing.sample_ratio",
        ),
        (
            "client:\n  rate_limit: {default: {rate: true}}\n",
            no_env(),
            "client.rate_limit.default.rate",
        ),
    ] {
        let (key, _, message) = error_of(yaml, env);
        assert_eq!(key, at, "{message}");
        assert!(
            message.ends_with(
                "expected a number, found a boolean (true and false are for on/off keys)"
            ),
            "{message}"
        );
    }
    let settings = load_with_env(
        written("telemetry: {logging: {access_log: true}, tracing: {service_name: true}}\n").path(),
        env("ERPC_SERVER__HEALTH", "false"),
    )
    .expect("flags and text take true");
    assert!(settings.telemetry.logging.access_log);
    assert_eq!(settings.telemetry.tracing.service_name, "true");
    let message = erpc_config::parse_live("server.rate_limit", "{default: {rate: true}}", "k")
        .expect_err("live too")
        .to_string();
    assert!(message.contains("found a boolean"), "{message}");
}
/// Variables and the file's names: `null` turns off what the file turned on; a client is
/// set from a variable only if the file names it (in lower case: a variable's name is read
/// so — `Audit` or a misspelt name made a new client silently); per-method keys are the
/// file's (a method's dots and capitals do not survive a variable's name); a byte-order
/// mark is no part of the first key.
#[test]
fn variables_turn_off_name_clients_and_leave_methods_to_the_file() {
    let env = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
    let settings = load_with_env(
        written("server: {slow_call_log: 1s}\ntelemetry: {tracing: {endpoint: \"http://127.0.0.1:4317\"}}\n").path(),
        [
            ("ERPC_SERVER__SLOW_CALL_LOG".to_owned(), "null".to_owned()),
            ("ERPC_TELEMETRY__TRACING__ENDPOINT".to_owned(), "null".to_owned()),
        ],
    )
    .expect("loads");
    assert_eq!(settings.server.slow_call_log, None);
    assert_eq!(settings.telemetry.tracing.endpoint, None);
    for file in ["clients: {Audit: {timeout: 3s}}\n", "{}\n"] {
        let e = load_with_env(
            written(file).path(),
            env("ERPC_CLIENTS__AUDIT__TIMEOUT", "7s"),
        )
        .expect_err("no such client")
        .to_string();
        assert!(
            e.starts_with(
                "environment: ERPC_CLIENTS__AUDIT__TIMEOUT: clients.audit: names client \"audit\""
            ),
            "{e}"
        );
    }
    let settings = load_with_env(
        written("clients: {audit: {timeout: 3s}}\n").path(),
        env("ERPC_CLIENTS__AUDIT__TIMEOUT", "7s"),
    )
    .expect("loads");
    assert_eq!(settings.clients["audit"].timeout, Duration::from_secs(7));
    let e = load_with_env(
        written("{}\n").path(),
        env("ERPC_SERVER__RATE_LIMIT__METHODS__BANK__RATE", "2"),
    )
    .expect_err("methods are the file's")
    .to_string();
    assert!(
        e.contains("per-method settings (`methods:`) are set in the file only"),
        "{e}"
    );
    let settings = load_with_env(
        written("\u{feff}server: {max_in_flight: 7}\n").path(),
        no_env(),
    )
    .expect("a byte-order mark is read past");
    assert_eq!(settings.server.max_in_flight, 7);
}

/// A value changed in code after loading is checked again when the builder is made: the
/// load refuses `max_in_flight: 0`, and so does the builder (it served, refusing every call
/// with a message about calls running).
#[test]
fn settings_changed_in_code_are_checked_when_built() {
    let mut settings = load_with_env(written("{}\n").path(), no_env()).expect("loads");
    settings.server.max_in_flight = 0;
    let e = settings
        .server
        .builder()
        .map(|_| ())
        .expect_err("refused")
        .to_string();
    assert!(e.starts_with("server.max_in_flight: "), "{e}");
    settings.server.max_in_flight = 8;
    settings.server.default_deadline = Duration::from_secs(7200);
    let e = settings
        .server
        .builder()
        .map(|_| ())
        .expect_err("refused")
        .to_string();
    assert!(e.starts_with("server.default_deadline: "), "{e}");
    settings.client.connections = 0;
    let e = settings
        .client
        .builder()
        .map(|_| ())
        .expect_err("refused")
        .to_string();
    assert!(e.starts_with("client.connections: "), "{e}");
}

/// The file refuses what the builders refuse, in the code's words (`ClientConfig::check`,
/// `ServerConfig::check`): one heartbeat miss, a heartbeat under 10 ms or over a day, a
/// zero stream deadline, a first-frame or connect timeout over a day, more connections than
/// tokio's semaphore counts. Each was accepted and then failed at run time: healthy
/// connections declared dead, a reader or a call panicking on an overflowed clock, `serve`
/// panicking.
#[test]
fn values_the_builders_refuse_are_refused_by_key() {
    for (yaml, key, words) in [
        (
            "server: {heartbeat: {misses: 1}}\n",
            "server.heartbeat.misses",
            "must be at least 2",
        ),
        (
            "client: {heartbeat: {interval: 1ms}}\n",
            "client.heartbeat.interval",
            "must be at least 10ms",
        ),
        (
            "client: {heartbeat: {interval: 48h}}\n",
            "client.heartbeat.interval",
            "must be at most 24h",
        ),
        (
            "client: {stream_timeout: 0s}\n",
            "client.stream_timeout",
            "must be above zero",
        ),
        (
            "client: {connect_timeout: 48h}\n",
            "client.connect_timeout",
            "must be at most 24h",
        ),
        (
            "server: {default_stream_deadline: 0s}\n",
            "server.default_stream_deadline",
            "must be above zero",
        ),
        (
            "server: {first_frame_timeout: 48h}\n",
            "server.first_frame_timeout",
            "must be at most 24h",
        ),
        (
            "server: {max_connections: 9223372036854775807}\n",
            "server.max_connections",
            "must be at most 2305843009213693951",
        ),
    ] {
        let e = load_with_env(written(yaml).path(), no_env())
            .expect_err(yaml)
            .to_string();
        assert!(
            e.contains(&format!("{key}: ")) && e.contains(words),
            "{yaml}: {e}"
        );
    }
}
