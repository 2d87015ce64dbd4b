//! Live config from a real center: a rate limit changed in the center is enforced by the
//! running server and client without a restart; a bad value is refused, logged, and the
//! rate in force stays.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use erpc_center::live_config::{self, LiveTargets};
use erpc_center::store::memory::MemoryStore;
use erpc_center::{CenterClient, CenterConfig, CenterImpl, CenterRegistry, CenterServer};
use erpc_core::{Code, ServerHandle, Status};
use support::{Named, WhoamiClient, WhoamiServer};

async fn center() -> ServerHandle {
    let center = CenterImpl::open(Box::new(MemoryStore), CenterConfig::default()).unwrap();
    erpc_core::Server::builder()
        .add_service(CenterServer::new(center))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .unwrap()
}

/// Log lines written while the test runs.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// This thread's log lines (INFO and up) captured until the guard is dropped.
fn capture_logs() -> (Logs, tracing::subscriber::DefaultGuard) {
    let logs = Logs::default();
    let writer = logs.clone();
    let guard = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish(),
    );
    (logs, guard)
}

/// Set `erpc/config/Whoami/<name>` to `value` in the center.
async fn set(admin: &CenterClient, name: &str, value: &str) {
    let key = format!("{}{name}", live_config::prefix("Whoami"));
    admin.config_set(key, value.into()).await.unwrap();
}

/// Setting `erpc/config/Whoami/<name>` to `value`, which the center refuses
/// (`invalid_argument`): that refusal.
async fn refused_by_center(admin: &CenterClient, name: &str, value: &str) -> Status {
    let key = format!("{}{name}", live_config::prefix("Whoami"));
    let refused = admin
        .config_set(key.clone(), value.into())
        .await
        .expect_err("a value the followers would refuse");
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused}");
    assert!(refused.message().starts_with(&key), "{refused}");
    refused
}

/// The first refusal of a few quick calls, polling until `until` says it is the one
/// expected (the change reached the layer) or 10 s pass.
async fn refusal_when(client: &WhoamiClient, until: impl Fn(&Status) -> bool) -> Status {
    let give_up = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        for _ in 0..4 {
            if let Err(refused) = client.name().await {
                if until(&refused) {
                    return refused;
                }
            }
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "the live change never took effect"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_for_log(logs: &Logs, needle: &str) {
    let give_up = tokio::time::Instant::now() + Duration::from_secs(10);
    while !logs.text().contains(needle) {
        assert!(
            tokio::time::Instant::now() < give_up,
            "no log line with {needle:?}; logs:\n{}",
            logs.text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn rate_limits_change_live_and_a_bad_value_is_refused_and_logged() {
    let (logs, _log) = capture_logs();
    let center = center().await;
    let center_addr = center.local_addr().to_string();
    let admin = CenterClient::new(erpc_core::Client::new(center_addr.as_str()).unwrap());

    // A server and a client from a file, both with generous limits.
    let file = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    std::fs::write(
        file.path(),
        "server:\n  rate_limit: {default: {rate: 10000}}\nclient:\n  rate_limit: {default: {rate: 10000}}\n",
    )
    .unwrap();
    let settings = erpc_config::load_with_env(file.path(), Vec::new()).unwrap();
    let server_gov = settings.server.governance().unwrap();
    let server = server_gov
        .apply(settings.server.plain_builder().unwrap())
        .add_service(WhoamiServer::new(Named("a".into())))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .unwrap();
    let client_gov = settings.client.governance().unwrap();
    let client = WhoamiClient::new(
        client_gov
            .apply(settings.client.plain_builder().unwrap())
            .connect(server.local_addr().to_string())
            .await
            .unwrap(),
    );
    for _ in 0..20 {
        client.name().await.expect("far below the rate");
    }

    let registry = CenterRegistry::new([center_addr.as_str()]).unwrap();
    let targets = LiveTargets {
        client: Some(client_gov),
        server: Some(server_gov),
        weights: None,
    };
    let follow = live_config::follow(&registry, "Whoami", targets)
        .await
        .unwrap();
    // The server's rate drops to 1/s (burst 2): it refuses within a few calls.
    set(
        &admin,
        "server.rate_limit",
        "{default: {rate: 1, burst: 2}}",
    )
    .await;
    let refused = refusal_when(&client, |s| s.message().contains("server: rate limit")).await;
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused.message().contains("1 call/s (burst 2)"),
        "{refused:?}"
    );
    wait_for_log(&logs, "live config applied to the server's rate limits").await;

    // A bad value: refused by the center as the follower would refuse it (the writer is
    // told, with its key, line and what was expected); nothing is stored, 1/s stays.
    let refused = refused_by_center(&admin, "server.rate_limit", "{default: {rate: 0}}").await;
    assert!(
        refused.message().starts_with(
            "erpc/config/Whoami/server.rate_limit:1: server.rate_limit.default.rate: must be above 0"
        ),
        "{refused}"
    );
    // A misspelt level (a bare word EnvFilter would take as a target, silencing every log)
    // and an empty filter: refused at write, with the follower's reason.
    for (filter, reason) in [("debg", "did you mean debug?"), ("", "it is empty")] {
        let refused = refused_by_center(&admin, live_config::LOG_FILTER, filter).await;
        assert!(refused.message().contains(reason), "{refused}");
    }
    let refused = refusal_when(&client, |s| s.message().contains("server: rate limit")).await;
    assert!(
        refused.message().contains("1 call/s (burst 2)"),
        "the old rate stays: {refused:?}"
    );

    // A misspelt method (and a service not served): refused as at start, naming the key and
    // what is served, and 1/s stays — not a limit silently set on nothing.
    for (value, named, served) in [
        (
            "{methods: {\"Whoami.nme\": {rate: 1000}}}",
            "\"Whoami.nme\"",
            "(it has \"name\")",
        ),
        (
            "{methods: {\"Nope.x\": {rate: 1000}}}",
            "\"Nope.x\"",
            "it serves",
        ),
    ] {
        set(&admin, "server.rate_limit", value).await;
        wait_for_log(&logs, named).await;
        let text = logs.text();
        let line = text.lines().find(|l| l.contains(named)).unwrap();
        assert!(
            line.contains("WARN") && line.contains("live config refused"),
            "{line}"
        );
        assert!(line.contains(served), "{line}");
    }
    let refused = refusal_when(&client, |s| s.message().contains("server: rate limit")).await;
    assert!(
        refused.message().contains("1 call/s (burst 2)"),
        "the old rate stays: {refused:?}"
    );

    // The server's limit lifted, the client's own drops to 1/s: its refusals are its own.
    set(&admin, "server.rate_limit", "{default: null}").await;
    set(
        &admin,
        "client.rate_limit",
        "{methods: {Whoami: {rate: 1, burst: 1}}}",
    )
    .await;
    let refused = refusal_when(&client, |s| s.message().contains("client: rate limit")).await;
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused.message().contains("1 call/s (burst 1)"),
        "{refused:?}"
    );

    follow.abort();
    server.shutdown().await;
    center.shutdown().await;
}

#[erpc_macros::service(crate = "erpc_core")]
trait Flaky {
    async fn fail(&self) -> Result<(), Status>;
}

struct Failing(Arc<std::sync::atomic::AtomicUsize>);

impl Flaky for Failing {
    async fn fail(&self) -> Result<(), Status> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err(Status::internal("always"))
    }
}

#[tokio::test]
async fn breaker_settings_change_live_keeping_the_program_running() {
    let (logs, _log) = capture_logs();
    let reached = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let server = erpc_core::Server::builder()
        .add_service(FlakyServer::new(Failing(reached.clone())))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .unwrap();
    // A method breaker that would take 100 failures in a row to open.
    let file = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    std::fs::write(
        file.path(),
        format!(
            "client:\n  target: \"{}\"\n  breaker:\n    method: {{methods: {{Flaky: {{trip: {{consecutive: 100}}, failures: [internal]}}}}}}\n",
            server.local_addr()
        ),
    )
    .unwrap();
    let settings = erpc_config::load_with_env(file.path(), Vec::new()).unwrap();
    let governance = settings.client.governance().unwrap();
    let client = FlakyClient::new(
        governance
            .apply(settings.client.plain_builder().unwrap())
            .connect(server.local_addr().to_string())
            .await
            .unwrap(),
    );
    for _ in 0..3 {
        assert_eq!(client.fail().await.unwrap_err().code(), Code::Internal);
    }
    // Any followed map will do (the center's is tested above): a watch channel here.
    let prefix = live_config::prefix("Flaky");
    let (config, followed) =
        tokio::sync::watch::channel(Arc::new(std::collections::BTreeMap::<String, String>::new()));
    let targets = LiveTargets {
        client: Some(governance),
        server: None,
        weights: None,
    };
    let follow = live_config::follow_map(followed, prefix.clone(), targets);
    let set = setter(config, prefix.clone());
    // The instance breaker was never built: refused with a warning, not ignored. The server
    // side is not this program's (it follows only its client): nothing to say of it.
    set(&[
        ("server.rate_limit", "{default: {rate: 5}}"),
        ("client.breaker.instance", "{trip: {consecutive: 1}}"),
    ]);
    wait_for_log(&logs, "no instance breaker to change").await;
    // Two failures in a row now open it; the breaker's state (3 failures) is kept.
    set(&[(
        "client.breaker.method",
        "{methods: {Flaky: {trip: {consecutive: 2}, open_timeout: 1m, failures: [internal]}}}",
    )]);
    wait_for_log(&logs, "live config applied to the method breakers").await;
    // Changes are handled one whole map at a time, in key order (client.* before server.*):
    // this later change being applied means the server key above was handled, silently.
    assert!(
        !logs.text().contains("server rate limit"),
        "a side not followed is not warned of: {}",
        logs.text()
    );
    let before = reached.load(std::sync::atomic::Ordering::SeqCst);
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        outcomes.push(client.fail().await.unwrap_err());
    }
    assert_eq!(outcomes[0].code(), Code::Internal, "{outcomes:?}");
    let open = &outcomes[2];
    assert_eq!(open.code(), Code::Unavailable, "{outcomes:?}");
    assert!(open.message().contains("circuit breaker open"), "{open:?}");
    assert!(
        reached.load(std::sync::atomic::Ordering::SeqCst) - before < 3,
        "an open breaker sends nothing"
    );
    // Deleted from the center: the value in force stays, and the log says so.
    set(&[]);
    wait_for_log(
        &logs,
        "live setting deleted from the center: the value in force stays",
    )
    .await;
    follow.abort();
    server.shutdown().await;
}

/// A layer the program did not build cannot be added live — unless `live_layers: true` had
/// it built empty, when a rate limit set later is in force at once.
#[tokio::test]
async fn live_layers_let_a_rate_limit_be_added_later() {
    let (logs, _log) = capture_logs();
    let reached = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let serve = |settings: erpc_config::ServerSettings, reached| async move {
        let governance = settings.governance().unwrap();
        let server = governance
            .apply(settings.plain_builder().unwrap())
            .add_service(FlakyServer::new(Failing(reached)))
            .serve(["tcp://127.0.0.1:0"])
            .await
            .unwrap();
        (server, governance)
    };
    let (config, followed) =
        tokio::sync::watch::channel(Arc::new(std::collections::BTreeMap::<String, String>::new()));
    let prefix = live_config::prefix("Flaky");
    let set = setter(config, prefix.clone());
    // Without: refused, saying how to have one.
    let (plain, governance) = serve(erpc_config::ServerSettings::default(), reached.clone()).await;
    assert!(governance.rate_limit.is_none());
    let targets = LiveTargets {
        client: None,
        server: Some(governance),
        weights: None,
    };
    let follow = live_config::follow_map(followed.clone(), prefix.clone(), targets);
    set(&[("server.rate_limit", "{default: {rate: 0.01, burst: 1}}")]);
    wait_for_log(
        &logs,
        "it builds one only when its settings set server.rate_limit or server.live_layers: true",
    )
    .await;
    follow.abort();
    plain.shutdown().await;
    // With: built empty, every call passes until a rate is set live.
    let settings = erpc_config::ServerSettings {
        live_layers: true,
        ..Default::default()
    };
    let (server, governance) = serve(settings, reached).await;
    let targets = LiveTargets {
        client: None,
        server: Some(governance),
        weights: None,
    };
    let client = FlakyClient::new(
        erpc_core::Client::connect(server.local_addr().to_string())
            .await
            .unwrap(),
    );
    for _ in 0..3 {
        assert_eq!(client.fail().await.unwrap_err().code(), Code::Internal);
    }
    let follow = live_config::follow_map(followed, prefix.clone(), targets);
    set(&[("server.rate_limit", "{default: {rate: 0.01, burst: 1}}")]);
    wait_for_log(&logs, "live config applied to the server's rate limits").await;
    assert_eq!(client.fail().await.unwrap_err().code(), Code::Internal);
    assert_eq!(
        client.fail().await.unwrap_err().code(),
        Code::ResourceExhausted,
        "the rate set live is in force"
    );
    follow.abort();
    server.shutdown().await;
}

/// A setter of the followed map `config`: each call replaces every entry with `entries`,
/// their keys under `prefix`.
fn setter(
    config: tokio::sync::watch::Sender<Arc<std::collections::BTreeMap<String, String>>>,
    prefix: String,
) -> impl Fn(&[(&str, &str)]) {
    move |entries| {
        let map = entries
            .iter()
            .map(|(k, v)| (format!("{prefix}{k}"), (*v).to_owned()))
            .collect();
        config.send(Arc::new(map)).unwrap();
    }
}

/// A client of `Flaky` (whose one method always fails) with `breaker` as its settings'
/// `client.breaker`, its governance, and live settings fed from a watch channel: `set`
/// replaces every entry.
async fn flaky_client(
    breaker: &str,
    reached: Arc<std::sync::atomic::AtomicUsize>,
) -> (
    ServerHandle,
    FlakyClient,
    erpc_config::ClientGovernance,
    impl Fn(&[(&str, &str)]),
    tokio::task::JoinHandle<()>,
) {
    let server = erpc_core::Server::builder()
        .add_service(FlakyServer::new(Failing(reached)))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .unwrap();
    let file = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    std::fs::write(
        file.path(),
        format!(
            "client:\n  target: \"{}\"\n  breaker: {breaker}\n  rate_limit: {{default: {{rate: 10000}}}}\n",
            server.local_addr()
        ),
    )
    .unwrap();
    let settings = erpc_config::load_with_env(file.path(), Vec::new()).unwrap();
    let governance = settings.client.governance().unwrap();
    let client = FlakyClient::new(
        governance
            .apply(settings.client.plain_builder().unwrap())
            .connect(server.local_addr().to_string())
            .await
            .unwrap(),
    );
    let prefix = live_config::prefix("Flaky");
    let (config, followed) =
        tokio::sync::watch::channel(Arc::new(std::collections::BTreeMap::<String, String>::new()));
    let targets = LiveTargets {
        client: Some(governance.clone()),
        server: None,
        weights: None,
    };
    let follow = live_config::follow_map(followed, prefix.clone(), targets);
    let set = setter(config, prefix.clone());
    (server, client, governance, set, follow)
}

/// The first call's outcome that `until` accepts, polling for up to 10 s.
async fn outcome_when(client: &FlakyClient, until: impl Fn(&Status) -> bool) -> Status {
    let give_up = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let outcome = client.fail().await.unwrap_err();
        if until(&outcome) {
            return outcome;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "never came; last: {outcome:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_shorter_open_timeout_live_releases_breakers_already_open() {
    let (logs, _log) = capture_logs();
    let reached = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (server, client, _governance, set, follow) = flaky_client(
        "{instance: {trip: {consecutive: 100}, failures: [internal]}, method: {default: {trip: {consecutive: 100}, failures: [internal]}}}",
        reached.clone(),
    )
    .await;
    // A fresh user's mistake: a timeout beyond any use is refused, naming the key.
    set(&[(
        "client.breaker.method",
        "{default: {trip: {consecutive: 1}, open_timeout: 100000000000h}}",
    )]);
    wait_for_log(&logs, "live config refused").await;
    assert!(
        logs.text()
            .contains("client.breaker.method.default.open_timeout: must be at most 1h"),
        "{}",
        logs.text()
    );
    // An hour's timeout (the longest) opens the method's breaker on the first failure ...
    set(&[
        (
            "client.breaker.method",
            "{default: {trip: {consecutive: 1}, open_timeout: 1h, failures: [internal]}}",
        ),
        (
            "client.breaker.instance",
            "{trip: {consecutive: 1}, open_timeout: 1h, failures: [internal]}",
        ),
    ]);
    wait_for_log(&logs, "live config applied to the method breakers").await;
    wait_for_log(&logs, "live config applied to the instance breakers").await;
    let open = outcome_when(&client, |s| s.message().contains("circuit breaker open")).await;
    assert_eq!(open.code(), Code::Unavailable, "{open:?}");
    // ... and a second's, given live, releases it: the wait counts from its opening, so
    // trial calls reach the server again at once (gobreaker keeps no such change; erpc
    // recounts the wait).
    set(&[
        (
            "client.breaker.method",
            "{default: {trip: {consecutive: 5}, open_timeout: 1s, failures: [internal]}}",
        ),
        (
            "client.breaker.instance",
            "{trip: {consecutive: 5}, open_timeout: 1s, failures: [internal]}",
        ),
    ]);
    let released = outcome_when(&client, |s| s.code() == Code::Internal).await;
    assert_eq!(released.message(), "always", "{released:?}");
    follow.abort();
    server.shutdown().await;
}

#[tokio::test]
async fn fractional_rates_null_limits_and_method_keys_of_a_client_live() {
    let (logs, _log) = capture_logs();
    let reached = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (server, client, governance, set, follow) =
        flaky_client("{method: null}", reached.clone()).await;
    // 2.5 calls/s is kept, and said, as given: not rounded to 3.
    set(&[("client.rate_limit", "{default: {rate: 2.5, max_wait: 0ms}}")]);
    let refused = outcome_when(&client, |s| s.message().contains("client: rate limit")).await;
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused.message().contains("2.5 calls/s (burst 3)"),
        "{refused:?}"
    );
    // `null`: no limit any more (as CENTER.md says).
    set(&[("client.rate_limit", "null")]);
    wait_for_log(&logs, "client.rate_limit value=null").await;
    let text = logs.text();
    let line = text.lines().find(|l| l.contains("value=null")).unwrap();
    assert!(
        line.contains("live config applied to the client's rate limits"),
        "{line}"
    );
    for _ in 0..20 {
        let outcome = client.fail().await.unwrap_err();
        assert_eq!(outcome.code(), Code::Internal, "no limit: {outcome:?}");
    }
    // A method key of a client whose methods are not known: applied, with a warning that
    // it could not be checked.
    set(&[(
        "client.rate_limit",
        "{methods: {\"Flaky.fial\": {rate: 1}}}",
    )]);
    wait_for_log(&logs, "no known method").await;
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("no known method"))
        .unwrap();
    assert!(
        line.contains("WARN") && line.contains("\"Flaky.fial\" matches no known method"),
        "{line}"
    );
    // Declared (the typed client's methods): the same mistake is refused, as at start.
    governance.calls_typed::<FlakyClient>();
    set(&[("client.breaker.method", "{methods: {\"Flaky.fial\": {}}}")]);
    wait_for_log(&logs, "names method \"fial\"").await;
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("names method \"fial\""))
        .unwrap();
    assert!(
        line.contains("WARN")
            && line.contains("live config refused")
            && line.contains("(it has \"fail\")"),
        "{line}"
    );
    follow.abort();
    server.shutdown().await;
}

#[tokio::test]
async fn a_server_s_registered_weight_changes_live() {
    let (_logs, _log) = capture_logs();
    let center = center().await;
    let center_addr = center.local_addr().to_string();
    let admin = CenterClient::new(erpc_core::Client::new(center_addr.as_str()).unwrap());
    let registry = CenterRegistry::new([center_addr.as_str()]).unwrap();
    let server = support::provider(Arc::new(registry.clone()), "a").await;
    let mut list = support::subscribe(&registry).await;
    let weight_is =
        |w: u32| move |l: &erpc_core::discovery::Endpoints| l.len() == 1 && l[0].weight == w;
    tokio::time::timeout(Duration::from_secs(10), list.wait_for(weight_is(100)))
        .await
        .expect("registered with the default weight")
        .unwrap();
    let targets = LiveTargets {
        weights: Some(server.weights()),
        ..LiveTargets::default()
    };
    let follow = live_config::follow(&registry, "Whoami", targets)
        .await
        .unwrap();
    set(&admin, "server.weight", "7").await;
    tokio::time::timeout(Duration::from_secs(10), list.wait_for(weight_is(7)))
        .await
        .expect("clients see the new weight")
        .unwrap();
    // A weight that is not one is refused at the center; 7 stays.
    let refused = refused_by_center(&admin, "server.weight", "heavy").await;
    assert!(refused.message().contains("whole number"), "{refused}");
    assert_eq!(list.borrow()[0].weight, 7);
    follow.abort();
    server.shutdown().await;
    center.shutdown().await;
}
