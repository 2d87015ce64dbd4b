//! The center end to end: registration, discovery, leases, watch with resume, config,
//! durability across restarts, and the binary's lifecycle.

mod support;

use std::time::Duration;

use erpc_center::store::Store;
use erpc_center::store::memory::MemoryStore;
use erpc_center::store::redb::RedbStore;
use erpc_center::{
    Center, CenterClient, CenterConfig, CenterImpl, CenterServer, Change, Filter, Instance,
};
use erpc_core::{Code, ServerHandle};
use futures_util::StreamExt;
use tokio::time::Instant;

fn fast() -> CenterConfig {
    CenterConfig {
        min_ttl: Duration::from_millis(100),
        sweep: Duration::from_millis(50),
        ..CenterConfig::default()
    }
}

async fn serve(
    store: Box<dyn Store>,
    config: CenterConfig,
    addr: &str,
) -> (ServerHandle, CenterClient) {
    let center = CenterImpl::open(store, config).unwrap();
    let server = erpc_core::Server::builder()
        .add_service(CenterServer::new(center))
        .serve([addr])
        .await
        .unwrap();
    let client = CenterClient::new(erpc_core::Client::new(server.local_addr()).unwrap());
    (server, client)
}

fn inst(service: &str, id: &str) -> Instance {
    Instance::new(service, id, format!("tcp://127.0.0.1:{}", 7000 + id.len()))
}

#[tokio::test]
async fn register_discover_filter_deregister() {
    let (server, c) = serve(Box::new(MemoryStore), fast(), "tcp://127.0.0.1:0").await;
    let mut canary = inst("greeter", "b");
    canary.group = "canary".into();
    let l1 = c.register(inst("greeter", "a"), 5_000).await.unwrap();
    let l2 = c.register(canary.clone(), 5_000).await.unwrap();
    c.register(inst("other", "x"), 5_000).await.unwrap();
    assert!(l2.revision > l1.revision);
    let all = c
        .discover("greeter".into(), Filter::default())
        .await
        .unwrap();
    assert_eq!(all.instances.len(), 2);
    assert_eq!(all.revision, 3);
    let only = Filter {
        group: Some("canary".into()),
        ..Filter::default()
    };
    assert_eq!(
        c.discover("greeter".into(), only).await.unwrap().instances,
        vec![canary]
    );
    let rev = c.deregister("greeter".into(), "a".into()).await.unwrap();
    assert_eq!(rev, 4);
    let left = c
        .discover("greeter".into(), Filter::default())
        .await
        .unwrap();
    assert_eq!(left.instances.len(), 1);
    assert_eq!(c.renew(l1.id).await.unwrap_err().code(), Code::NotFound);
    let err = c.register(Instance::default(), 1000).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    server.shutdown().await;
}

#[tokio::test]
async fn a_silent_instance_is_removed_after_its_ttl_and_not_before() {
    let (server, c) = serve(Box::new(MemoryStore), fast(), "tcp://127.0.0.1:0").await;
    let ttl = 300u64;
    let mut bounds = Vec::new();
    for round in 0..5 {
        let id = format!("n{round}");
        let lease = c.register(inst("svc", &id), ttl).await.unwrap();
        // Renew twice, then fall silent (as a killed provider does).
        for _ in 0..2 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            c.renew(lease.id).await.unwrap();
        }
        let silent = Instant::now();
        loop {
            let listing = c.discover("svc".into(), Filter::default()).await.unwrap();
            if !listing.instances.iter().any(|i| i.id == id) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let gone = silent.elapsed();
        assert!(
            gone >= Duration::from_millis(ttl),
            "removed after {gone:?}, before its TTL"
        );
        assert!(
            gone < Duration::from_millis(ttl)
                + Duration::from_millis(50)
                + Duration::from_millis(200),
            "removed after {gone:?}: TTL + sweep + slack"
        );
        bounds.push(gone);
    }
    eprintln!("removal after the last renewal (TTL 300 ms, sweep 50 ms): {bounds:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_watch_replays_from_a_revision_then_follows_and_resumes() {
    let (server, c) = serve(Box::new(MemoryStore), fast(), "tcp://127.0.0.1:0").await;
    c.register(inst("svc", "a"), 5_000).await.unwrap(); // 1
    c.config_set("k".into(), "v".into()).await.unwrap(); // 2 (not an instance change)
    c.register(inst("svc", "b"), 5_000).await.unwrap(); // 3
    c.register(inst("elsewhere", "z"), 5_000).await.unwrap(); // 4
    let mut watch = c.watch("svc".into(), 0, 0).await.unwrap();
    let first = watch.message().await.unwrap().unwrap();
    let second = watch.message().await.unwrap().unwrap();
    assert_eq!((first.revision, second.revision), (1, 3));
    c.deregister("svc".into(), "a".into()).await.unwrap(); // 5
    let live = watch.message().await.unwrap().unwrap();
    assert_eq!(live.revision, 5);
    assert!(matches!(live.change, Change::Deregistered { ref id, .. } if id == "a"));
    drop(watch);
    // Resume after a disconnect from the last revision seen: nothing lost, nothing twice.
    c.register(inst("svc", "c"), 5_000).await.unwrap(); // 6
    let mut resumed = c.watch("svc".into(), 5, 0).await.unwrap();
    assert_eq!(resumed.message().await.unwrap().unwrap().revision, 6);
    // Every service: "" watches all instance changes.
    let all: Vec<u64> = c
        .watch(String::new(), 0, 0)
        .await
        .unwrap()
        .take(5)
        .map(|e| e.unwrap().revision)
        .collect()
        .await;
    assert_eq!(all, vec![1, 3, 4, 5, 6]);
    // Open watches would hold a graceful shutdown for its grace period.
    drop(resumed);
    server.shutdown().await;
}

#[tokio::test]
async fn a_revision_too_old_to_replay_is_an_explicit_error() {
    let config = CenterConfig {
        history: 5,
        ..fast()
    };
    let (server, c) = serve(Box::new(MemoryStore), config, "tcp://127.0.0.1:0").await;
    for i in 0..10 {
        c.config_set(format!("k{i}"), "v".into()).await.unwrap();
    }
    // A stream's outcome arrives on the stream: the refusal is its first item.
    let mut refused = c.watch(String::new(), 2, 0).await.unwrap();
    let err = refused.message().await.unwrap_err();
    assert_eq!(err.code(), Code::OutOfRange, "{err}");
    assert!(err.message().contains("too old"), "{err}");
    // The client re-lists and watches from the listing's revision.
    let listing = c.config_get("k".into()).await.unwrap();
    assert_eq!((listing.entries.len(), listing.revision), (10, 10));
    assert!(
        c.config_watch("k".into(), listing.revision, listing.epoch)
            .await
            .is_ok()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn config_is_read_and_followed_live() {
    let (server, c) = serve(Box::new(MemoryStore), fast(), "tcp://127.0.0.1:0").await;
    c.config_set("app/limits/rps".into(), "100".into())
        .await
        .unwrap();
    c.config_set("other".into(), "x".into()).await.unwrap();
    let listing = c.config_get("app/".into()).await.unwrap();
    assert_eq!(
        listing.entries,
        vec![("app/limits/rps".into(), "100".into())]
    );
    let mut watch = c
        .config_watch("app/".into(), listing.revision, listing.epoch)
        .await
        .unwrap();
    c.config_set("app/limits/rps".into(), "250".into())
        .await
        .unwrap();
    c.config_delete("app/limits/rps".into()).await.unwrap();
    let set = watch.message().await.unwrap().unwrap();
    assert!(matches!(set.change, Change::ConfigSet { ref value, .. } if value == "250"));
    let deleted = watch.message().await.unwrap().unwrap();
    assert!(matches!(deleted.change, Change::ConfigDeleted { .. }));
    drop(watch);
    server.shutdown().await;
}

#[tokio::test]
async fn a_restarted_center_keeps_registrations_and_evicts_nobody_healthy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("center.redb");
    let store = Box::new(RedbStore::open(&path).unwrap());
    let (server, c) = serve(store, fast(), "tcp://127.0.0.1:0").await;
    let addr = server.local_addr().to_string();
    let lease = c.register(inst("svc", "a"), 1_000).await.unwrap();
    c.register(inst("svc", "b"), 1_000).await.unwrap();
    c.config_set("k".into(), "v".into()).await.unwrap();
    let epoch = c.config_get("k".into()).await.unwrap().epoch;
    server.shutdown().await;
    // Down for longer than the TTL: nobody could renew meanwhile.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let store = Box::new(RedbStore::open(&path).unwrap());
    let (server, c) = serve(store, fast(), &addr).await;
    let listing = c.discover("svc".into(), Filter::default()).await.unwrap();
    assert_eq!(
        listing.instances.len(),
        2,
        "registrations survive the restart"
    );
    assert_eq!(listing.revision, 3);
    // A full TTL of grace: a healthy instance renews in time and stays.
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.renew(lease.id)
        .await
        .expect("the lease survived the restart");
    tokio::time::sleep(Duration::from_millis(900)).await;
    let listing = c.discover("svc".into(), Filter::default()).await.unwrap();
    let ids: Vec<_> = listing.instances.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(
        ids,
        vec!["a"],
        "the renewing instance stays; the silent one expired"
    );
    // Watchers resume across the restart from the persisted history: the same epoch.
    assert_eq!(listing.epoch, epoch);
    let mut watch = c.watch("svc".into(), 1, epoch).await.unwrap();
    assert_eq!(watch.message().await.unwrap().unwrap().revision, 2);
    // A watch never ends by itself; a graceful shutdown would wait its grace period for it.
    drop(watch);
    server.shutdown().await;
}

/// SIGTERM: the binary stops gracefully — open watches get their 2 s, then end
/// `unavailable` (their clients resume elsewhere) — and exits 0.
#[tokio::test]
async fn the_binary_serves_and_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let support::process::CenterProcess { mut child, addr } =
        support::process::spawn_center("tcp://127.0.0.1:0", &["--data-dir", data]).await;
    let c = CenterClient::new(erpc_core::Client::new(addr.as_str()).unwrap());
    c.register(inst("svc", "a"), 10_000).await.unwrap();
    let mut watch = c.watch("svc".into(), 1, 0).await.unwrap();
    support::process::child::signal(&child, "TERM");
    let ended = tokio::time::timeout(Duration::from_secs(5), watch.message())
        .await
        .expect("the watch ends within the grace period");
    assert_eq!(ended.unwrap_err().code(), Code::Unavailable);
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(dir.path().join("center.redb").exists());
}

/// `--help` answers at once, exits 0 and lists every option with its environment variable.
#[test]
fn the_binary_answers_help() {
    support::process::child::answers_help(
        env!("CARGO_BIN_EXE_erpc-center"),
        &[
            "--listen",
            "ERPC_CENTER_LISTEN",
            "--store",
            "ERPC_CENTER_STORE",
            "--data-dir",
            "ERPC_CENTER_DATA_DIR",
            "--min-ttl-ms",
            "ERPC_CENTER_MIN_TTL_MS",
            "--max-ttl-ms",
            "ERPC_CENTER_MAX_TTL_MS",
            "--sweep-ms",
            "ERPC_CENTER_SWEEP_MS",
            "--history",
            "ERPC_CENTER_HISTORY",
            "--token",
            "ERPC_CENTER_TOKEN",
            "--token-file",
            "ERPC_CENTER_TOKEN_FILE",
            "--protect-reads",
            "ERPC_CENTER_PROTECT_READS",
        ],
    );
    // Options out of bounds: refused with a message before anything starts.
    for (args, code) in [
        (&["--min-ttl-ms", "5000", "--max-ttl-ms", "1000"][..], 1),
        (&["--sweep-ms", "0"][..], 2),
        (&["--history", "0"][..], 2),
        (&["--protect-reads"][..], 1),
        (&["--token", " "][..], 1),
        (&["--token-file", "/nonexistent/erpc-center-token"][..], 1),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_erpc-center"))
            .args(["--store", "memory"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {out:?}");
        assert!(!out.stderr.is_empty(), "{args:?}: no message");
    }
}

/// An option given by its `ERPC_CENTER_*` variable is named by that variable when its value
/// is refused — by clap (a tip after its message) or by the center (the token file, the data
/// center's name) — so a person who typed no such flag knows what to fix.
#[test]
fn a_bad_value_from_the_environment_is_refused_naming_the_variable() {
    let run = |env: &[(&str, &str)], args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_erpc-center"))
            .args(["--store", "memory", "--listen", "tcp://127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = run(
        &[("ERPC_CENTER_TOKEN_FILE", "/nonexistent/erpc-token")],
        &[],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("ERPC_CENTER_TOKEN_FILE (--token-file) /nonexistent/erpc-token: "),
        "{stderr}"
    );
    // Typed, the flag names itself.
    let (code, stderr) = run(&[], &["--token-file", "/nonexistent/erpc-token"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("--token-file /nonexistent/erpc-token: "),
        "{stderr}"
    );
    assert!(!stderr.contains("ERPC_CENTER_TOKEN_FILE"), "{stderr}");
    let (code, stderr) = run(&[("ERPC_CENTER_TOKEN", " ")], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("the center token is empty: ERPC_CENTER_TOKEN (--token) is blank"),
        "{stderr}"
    );
    let (code, stderr) = run(&[("ERPC_CENTER_DC", "eu/west")], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(r#"ERPC_CENTER_DC (--dc) "eu/west" contains '/'"#),
        "{stderr}"
    );
    // clap's own refusals: the variable in a tip, the exit status clap's.
    let (code, stderr) = run(&[("ERPC_CENTER_MIN_TTL_MS", "0")], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("invalid value '0' for '--min-ttl-ms"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "tip: --min-ttl-ms was not typed: its value came from the environment variable ERPC_CENTER_MIN_TTL_MS"
        ),
        "{stderr}"
    );
    let (code, stderr) = run(&[], &["--min-ttl-ms", "0"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(!stderr.contains("environment variable"), "{stderr}");
    let both = [
        ("ERPC_CENTER_TOKEN", "x"),
        ("ERPC_CENTER_TOKEN_FILE", "/nonexistent/erpc-token"),
    ];
    let (code, stderr) = run(&both, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    for var in ["ERPC_CENTER_TOKEN", "ERPC_CENTER_TOKEN_FILE"] {
        assert!(
            stderr.contains(&format!(
                "its value came from the environment variable {var}\n"
            )),
            "{var}: {stderr}"
        );
    }
}

/// Every start-up check names a flag by the variable that gave its value, not only the
/// token and dc checks: the listeners, the store, the data directory, the config file and
/// the peers to follow. The log lines are plain text when stderr is not a terminal.
#[test]
fn every_start_up_refusal_names_the_variable_that_gave_the_value() {
    let run = |env: &[(&str, &str)]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_erpc-center"))
            .env("ERPC_CENTER_STORE", "memory")
            .env("ERPC_CENTER_LISTEN", "tcp://127.0.0.1:0")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for (var, value, expected) in [
        (
            "ERPC_CENTER_HTTP",
            "127.0.0.1",
            "ERPC_CENTER_HTTP (--http) 127.0.0.1: ",
        ),
        (
            "ERPC_CENTER_METRICS_LISTEN",
            "nope",
            "ERPC_CENTER_METRICS_LISTEN (--metrics-listen) nope: ",
        ),
        (
            "ERPC_CENTER_LISTEN",
            "127.0.0.1:1",
            "ERPC_CENTER_LISTEN (--listen) 127.0.0.1:1: ",
        ),
        (
            "ERPC_CENTER_STORE",
            "mongo",
            r#"ERPC_CENTER_STORE (--store) "mongo" is not a store"#,
        ),
        (
            "ERPC_CENTER_FOLLOW",
            "tcp://127.0.0.1:1,tcp://127.0.0.1:1",
            r#"ERPC_CENTER_FOLLOW (--follow) "tcp://127.0.0.1:1" is given twice"#,
        ),
        (
            "ERPC_CENTER_CONFIG",
            "/nonexistent/center.yaml",
            "ERPC_CENTER_CONFIG (--config) /nonexistent/center.yaml: ",
        ),
    ] {
        let (code, stderr) = run(&[(var, value)]);
        assert_eq!(code, Some(1), "{var}: {stderr}");
        assert!(stderr.contains(expected), "{var}: {stderr}");
        assert!(
            !stderr.contains('\u{1b}'),
            "{var}: colour escapes in {stderr:?}"
        );
    }
    let (code, stderr) = run(&[
        ("ERPC_CENTER_STORE", "redb"),
        ("ERPC_CENTER_DATA_DIR", "/proc/nonexistent"),
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("ERPC_CENTER_DATA_DIR (--data-dir) /proc/nonexistent: "),
        "{stderr}"
    );
}

/// `--listen tcp://H:P` and `--http H:P` (or `--metrics-listen`) on one port: refused at
/// start naming both flags, not a bare "Address already in use".
#[test]
fn flags_sharing_a_port_are_refused_naming_both() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("tcp://127.0.0.1:{port}");
    let http = format!("127.0.0.1:{port}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_erpc-center"))
        .args(["--store", "memory", "--listen", &listen, "--http", &http])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "--listen {listen} and --http {http} are the same address"
        )),
        "{stderr}"
    );
}

/// A boolean variable takes the usual spellings: 1/0, yes/no, true/false.
#[test]
fn boolean_variables_take_1_and_yes() {
    for value in ["1", "yes", "true"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_erpc-center"))
            .args(["--store", "memory", "--listen", "tcp://127.0.0.1:0"])
            .env("ERPC_CENTER_PROTECT_READS", value)
            .env_remove("ERPC_CENTER_TOKEN")
            .env_remove("ERPC_CENTER_TOKEN_FILE")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Read as true: then refused for want of a token, by the center, not by clap.
        assert_eq!(out.status.code(), Some(1), "{value}: {stderr}");
        assert!(
            stderr.contains("ERPC_CENTER_PROTECT_READS (--protect-reads) needs a token"),
            "{value}: {stderr}"
        );
    }
}

/// Without --data-dir the binary keeps its data in the per-user data directory
/// (`$XDG_DATA_HOME/erpc-center` here), says so at start, and writes nothing into the
/// directory it was started in; its address may come from the environment.
#[tokio::test]
async fn the_binary_keeps_its_data_in_the_per_user_directory_by_default() {
    let home = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let xdg = home.path().join("data");
    let log = home.path().join("stderr.log");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_erpc-center"))
        .current_dir(cwd.path())
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", &xdg)
        .env("ERPC_CENTER_LISTEN", "tcp://127.0.0.1:0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let addr = support::process::listening_addr(&mut child).await;
    let c = CenterClient::new(erpc_core::Client::new(addr.as_str()).unwrap());
    c.register(inst("svc", "a"), 10_000).await.unwrap();
    support::process::child::signal(&child, "TERM");
    assert!(child.wait().await.unwrap().success());
    let file = xdg.join("erpc-center").join("center.redb");
    assert!(file.exists(), "no {}", file.display());
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains(&file.display().to_string()),
        "the path is not in the log:\n{logged}"
    );
    let written: Vec<_> = std::fs::read_dir(cwd.path()).unwrap().collect();
    assert!(
        written.is_empty(),
        "wrote into the current directory: {written:?}"
    );
}

#[tokio::test]
async fn the_center_trait_is_usable_in_process() {
    // The implementation is a plain value too: tests and embedded centers call it directly.
    let center = CenterImpl::open(Box::new(MemoryStore), fast()).unwrap();
    center.register(inst("svc", "a"), 1000).await.unwrap();
    assert_eq!(
        center
            .discover("svc".into(), Filter::default())
            .await
            .unwrap()
            .instances
            .len(),
        1
    );
}

/// A revision this center has not reached is from another history (a restarted memory
/// center, another store): the watch is refused, not left waiting for it.
#[tokio::test]
async fn a_watch_from_a_future_revision_is_refused() {
    let (server, c) = serve(Box::new(MemoryStore), fast(), "tcp://127.0.0.1:0").await;
    c.register(inst("svc", "a"), 5_000).await.unwrap(); // 1
    support::refused_to_list_again(c.watch("svc".into(), 21, 0).await).await;
    support::refused_to_list_again(c.config_watch("app/".into(), 2, 0).await).await;
    // The current revision itself is fine: nothing to replay, live changes follow.
    let mut watch = c.watch("svc".into(), 1, 0).await.unwrap();
    c.register(inst("svc", "b"), 5_000).await.unwrap();
    assert_eq!(watch.message().await.unwrap().unwrap().revision, 2);
    drop(watch);
    server.shutdown().await;
}

/// A lease granted before a memory center restarted is unknown to the new center, even
/// once the new center has granted as many leases: renewing it says "register again", and
/// releasing it removes nobody else's registration.
#[tokio::test]
async fn a_lease_from_before_a_restart_is_not_another_instances_lease() {
    let (server, c) = serve(Box::new(MemoryStore), fast(), "tcp://127.0.0.1:0").await;
    let old = c.register(inst("svc", "a"), 5_000).await.unwrap();
    server.shutdown().await;
    // A port of its own, not the old one: rebinding a port just released raced the tests
    // running beside it for it ("address already in use"); the lease ids are the point.
    let (server, c) = serve(Box::new(MemoryStore), fast(), "tcp://127.0.0.1:0").await;
    let new = c.register(inst("svc", "b"), 5_000).await.unwrap();
    assert_ne!(old.id, new.id, "lease ids repeat across restarts");
    assert_eq!(c.renew(old.id).await.unwrap_err().code(), Code::NotFound);
    c.release(old.id).await.unwrap();
    let listing = c.discover("svc".into(), Filter::default()).await.unwrap();
    assert_eq!(listing.instances, vec![inst("svc", "b")]);
    server.shutdown().await;
}

/// What a client could not use is refused, naming the problem, rather than stored and then
/// skipped by every client: an instance without a service, an id, or an address; an address
/// that is not an erpc address; a location off the globe.
#[tokio::test]
async fn a_registration_clients_could_not_use_is_refused_naming_the_problem() {
    let (server, c) = serve(Box::new(MemoryStore), fast(), "tcp://127.0.0.1:0").await;
    let with = |change: fn(&mut Instance)| {
        let mut i = inst("svc", "a");
        change(&mut i);
        i
    };
    let cases = [
        (with(|i| i.service.clear()), "service"),
        (with(|i| i.id.clear()), "id"),
        (with(|i| i.addrs.clear()), "address"),
        (
            with(|i| i.addrs = vec!["10.0.0.5:7001".into()]),
            "10.0.0.5:7001",
        ),
        (with(|i| i.location = Some((91.0, 0.0))), "latitude"),
        (with(|i| i.location = Some((0.0, f64::NAN))), "longitude"),
    ];
    for (instance, named) in cases {
        let err = c.register(instance, 1_000).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err}");
        assert!(err.message().contains(named), "{named}: {err}");
    }
    let listing = c.discover("svc".into(), Filter::default()).await.unwrap();
    assert!(listing.instances.is_empty());
    assert_eq!(listing.revision, 0, "nothing was recorded");
    server.shutdown().await;
}

/// CENTER.md's table, method by method: TTLs are clamped to the center's bounds; renew
/// answers the TTL; deregister and release end the lease; removing what is not there, or
/// deleting an unset key, changes nothing and answers the current revision; a config key may
/// not be empty.
#[tokio::test]
async fn each_method_does_what_the_table_says() {
    let config = CenterConfig {
        max_ttl: Duration::from_secs(60),
        ..fast()
    };
    let (server, c) = serve(Box::new(MemoryStore), config, "tcp://127.0.0.1:0").await;
    let short = c.register(inst("svc", "a"), 1).await.unwrap();
    assert_eq!(short.ttl_ms, 100, "raised to the shortest lease");
    let long = c.register(inst("svc", "b"), u64::MAX).await.unwrap();
    assert_eq!(long.ttl_ms, 60_000, "lowered to the longest lease");
    assert_eq!(c.renew(long.id).await.unwrap(), 60_000);

    let revision = long.revision;
    assert_eq!(
        c.deregister("svc".into(), "nobody".into()).await.unwrap(),
        revision
    );
    assert_eq!(c.release(long.id + 1_000).await.unwrap(), revision);
    assert_eq!(c.config_delete("unset".into()).await.unwrap(), revision);

    assert_eq!(c.release(long.id).await.unwrap(), revision + 1);
    assert_eq!(c.renew(long.id).await.unwrap_err().code(), Code::NotFound);
    assert_eq!(
        c.deregister("svc".into(), "a".into()).await.unwrap(),
        revision + 2
    );
    assert_eq!(c.renew(short.id).await.unwrap_err().code(), Code::NotFound);

    let err = c.config_set(String::new(), "v".into()).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err}");
    server.shutdown().await;
}

/// A watcher that does not read falls behind the live changes; once more than its buffer is
/// waiting (4,096 changes by default; 16 here) it is ended `aborted`, told where to resume.
#[tokio::test]
async fn a_watcher_that_falls_behind_is_told_where_to_resume() {
    assert_eq!(CenterConfig::default().watch_buffer, 4_096);
    assert_eq!(CenterConfig::default().history, 10_000);
    let config = CenterConfig {
        watch_buffer: 16,
        ..fast()
    };
    let (server, c) = serve(Box::new(MemoryStore), config, "tcp://127.0.0.1:0").await;
    let mut watch = c.config_watch(String::new(), 0, 0).await.unwrap();
    // Large values fill the stream's window (256 KiB) and both buffers quickly.
    let value = "x".repeat(4_096);
    for i in 0..400 {
        c.config_set(format!("k{i}"), value.clone()).await.unwrap();
    }
    // RELIABILITY.md row 22: revisions out of order, repeated or skipped, counted.
    let mut violations = 0u64;
    let mut received = 0u64;
    let err = loop {
        match watch.message().await {
            Ok(Some(event)) => {
                violations += u64::from(event.revision != received + 1);
                received = event.revision;
            }
            Ok(None) => panic!("the watch ended without an error"),
            Err(e) => break e,
        }
    };
    assert_eq!(err.code(), Code::Aborted, "{err}");
    assert!(
        err.message()
            .contains(&format!("watch again from revision {received}")),
        "{err} (last received {received})"
    );
    let before = received;
    // Resumed from the revision named: the rest, each once and in order, then live ones.
    let mut resumed = c.config_watch(String::new(), received, 0).await.unwrap();
    c.config_set("after".into(), "v".into()).await.unwrap();
    while received < 401 {
        let event = resumed.message().await.unwrap().expect("a change");
        violations += u64::from(event.revision != received + 1);
        received = event.revision;
    }
    println!(
        "a watcher that stopped reading: ended `aborted` after {before} of 400 changes, named \
         revision {before}; resumed from it: {} replayed + 1 live, {violations} violations \
         (revisions out of order, repeated or skipped)",
        400 - before
    );
    assert_eq!(violations, 0);
    drop(resumed);
    server.shutdown().await;
}

/// A watch has no deadline unless its client gives one: opened from a client whose calls
/// default to 300 ms, on a center whose calls default to 300 ms, it still delivers a change
/// made a second later. (A stream's deadline would cover the whole stream, and a watch never
/// ends by itself.)
#[tokio::test]
async fn a_watch_outlives_the_default_call_deadlines() {
    let center = CenterImpl::open(Box::new(MemoryStore), fast()).unwrap();
    let server = erpc_core::Server::builder()
        .config(erpc_core::ServerConfig {
            default_deadline: Duration::from_millis(300),
            ..erpc_core::ServerConfig::default()
        })
        .add_service(CenterServer::new(center))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .unwrap();
    let client = erpc_core::Client::builder()
        .timeout(Duration::from_millis(300))
        .build(server.local_addr())
        .unwrap();
    let c = CenterClient::new(client);
    let mut watch = c.watch("svc".into(), 0, 0).await.unwrap();
    let mut config = c.config_watch("app/".into(), 0, 0).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    c.register(inst("svc", "a"), 5_000).await.unwrap();
    c.config_set("app/k".into(), "v".into()).await.unwrap();
    let event = watch.message().await.expect("the watch is alive");
    assert!(matches!(event, Some(ref e) if e.revision == 1), "{event:?}");
    let event = config.message().await.expect("the config watch is alive");
    assert!(matches!(event, Some(ref e) if e.revision == 2), "{event:?}");
    drop((watch, config));
    server.shutdown().await;
}

/// "JSON, codec 2, carries the same shapes": a client calling in JSON is answered in JSON.
#[tokio::test]
async fn the_center_answers_json_too() {
    let (server, c) = serve(Box::new(MemoryStore), fast(), "tcp://127.0.0.1:0").await;
    let json = erpc_core::CodecId::JSON;
    let lease = c
        .register(inst("svc", "a"), 5_000)
        .codec(json)
        .await
        .unwrap();
    assert_eq!(c.renew(lease.id).codec(json).await.unwrap(), 5_000);
    let listing = c
        .discover("svc".into(), Filter::default())
        .codec(json)
        .await
        .unwrap();
    assert_eq!(listing.instances, vec![inst("svc", "a")]);
    server.shutdown().await;
}

/// A center started with a token refuses registrations, lease calls and config writes
/// without it (`unauthenticated`, naming the metadata to send), and refuses a wrong token
/// on every method; reads stay open unless `--protect-reads`. `CenterRegistry::with_token`
/// sends it.
#[tokio::test]
async fn a_center_with_a_token_refuses_writes_without_it_and_reads_only_when_told() {
    use erpc_center::CenterRegistry;
    use erpc_core::auth::Credentials;
    use erpc_core::discovery::Register;

    const TOKEN: &str = "center-token-0123456789abcdef";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let file = file.to_str().unwrap();
    let with = |addr: &str, token: &str| {
        let client = erpc_core::Client::builder()
            .middleware(Credentials::bearer(token))
            .build(addr)
            .unwrap();
        CenterClient::new(client)
    };
    let refused = |result: Result<(), erpc_core::Status>, why: &str| {
        let err = result.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{err}");
        assert!(err.message().contains(why), "wanted {why:?}: {err}");
    };

    let support::process::CenterProcess { child: _open, addr } = support::process::spawn_center(
        "tcp://127.0.0.1:0",
        &["--store", "memory", "--token-file", file],
    )
    .await;
    let anonymous = CenterClient::new(erpc_core::Client::new(addr.as_str()).unwrap());
    refused(
        anonymous.register(inst("svc", "a"), 10_000).await.map(drop),
        "erpc.Center.register requires credentials: send metadata `authorization: Bearer <token>`",
    );
    refused(
        anonymous.renew(1).await.map(drop),
        "erpc.Center.renew requires",
    );
    refused(
        anonymous
            .deregister("svc".into(), "a".into())
            .await
            .map(drop),
        "requires",
    );
    refused(
        anonymous.config_set("k".into(), "v".into()).await.map(drop),
        "requires",
    );
    refused(
        anonymous.config_delete("k".into()).await.map(drop),
        "requires",
    );
    let wrong = with(&addr, "not-the-token");
    refused(
        wrong.register(inst("svc", "a"), 10_000).await.map(drop),
        "unknown bearer token",
    );
    refused(
        wrong
            .discover("svc".into(), Filter::default())
            .await
            .map(drop),
        "unknown bearer token",
    );

    let registry = CenterRegistry::with_token([addr.as_str()], TOKEN).unwrap();
    let _registration = registry.register(inst("svc", "a")).await.unwrap();
    with(&addr, TOKEN)
        .config_set("k".into(), "v".into())
        .await
        .unwrap();
    // Reads are open by default.
    let listing = anonymous
        .discover("svc".into(), Filter::default())
        .await
        .unwrap();
    assert_eq!(listing.instances.len(), 1);
    assert_eq!(
        anonymous
            .config_get("k".into())
            .await
            .unwrap()
            .entries
            .len(),
        1
    );

    let support::process::CenterProcess {
        child: _closed,
        addr,
    } = support::process::spawn_center(
        "tcp://127.0.0.1:0",
        &["--store", "memory", "--token", TOKEN, "--protect-reads"],
    )
    .await;
    let anonymous = CenterClient::new(erpc_core::Client::new(addr.as_str()).unwrap());
    refused(
        anonymous
            .discover("svc".into(), Filter::default())
            .await
            .map(drop),
        "erpc.Center.discover requires credentials",
    );
    refused(
        anonymous.config_get("k".into()).await.map(drop),
        "requires credentials",
    );
    // A watch's refusal arrives as its first item.
    let mut watch = anonymous.watch("svc".into(), 0, 0).await.unwrap();
    refused(watch.message().await.map(drop), "requires credentials");
    let listing = with(&addr, TOKEN)
        .discover("svc".into(), Filter::default())
        .await
        .unwrap();
    assert!(listing.instances.is_empty());
}

/// Names no registration could have are refused on every store, naming the field: a blank
/// service name or id, a control character in either — in a registration, and as the
/// service a discovery, watch or deregistration names.
#[tokio::test]
async fn blank_names_and_control_characters_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let stores: [(&str, Box<dyn Store>); 2] = [
        ("memory", Box::new(MemoryStore)),
        (
            "redb",
            Box::new(RedbStore::open(&dir.path().join("center.redb")).unwrap()),
        ),
    ];
    for (store, opened) in stores {
        let (server, c) = serve(opened, fast(), "tcp://127.0.0.1:0").await;
        let refused = |err: erpc_core::Status, field: &str| {
            assert_eq!(err.code(), Code::InvalidArgument, "{store}: {err}");
            assert!(err.message().starts_with(field), "{store}: {field}: {err}");
        };
        for (service, id, field) in [
            (" ", "a", "service name \" \" is blank"),
            ("\t\n", "a", "service name \"\\t\\n\" is blank"),
            (
                "svc\n",
                "a",
                "service name \"svc\\n\" contains a control character",
            ),
            ("svc", " ", "instance id \" \" of \"svc\" is blank"),
            (
                "svc",
                "a\nb",
                "instance id \"a\\nb\" of \"svc\" contains a control character",
            ),
            (
                "svc",
                "a\u{0}",
                "instance id \"a\\0\" of \"svc\" contains a control character",
            ),
        ] {
            let err = c.register(inst(service, id), 1_000).await.unwrap_err();
            refused(err, field);
            let err = c.deregister(service.into(), id.into()).await.unwrap_err();
            refused(err, field);
        }
        for service in [" ", "a/b", "svc\r"] {
            let err = c
                .discover(service.into(), Filter::default())
                .await
                .unwrap_err();
            refused(err, "service name");
            let mut watch = c
                .watch(service.into(), 0, 0)
                .await
                .expect("a stream's refusal comes on the stream");
            let first = tokio::time::timeout(Duration::from_secs(5), watch.message())
                .await
                .expect("refused at once");
            refused(first.expect_err("refused"), "service name");
        }
        // "" is every service; an id may be an address.
        c.register(inst("svc", "tcp://127.0.0.1:7001"), 1_000)
            .await
            .unwrap();
        let every = c.discover(String::new(), Filter::default()).await.unwrap();
        assert_eq!(every.instances.len(), 1, "{store}: only the good one");
        server.shutdown().await;
    }
}

/// A registry whose token the center refuses (or that has none where one is wanted) says
/// so once at WARN, naming the center — it keeps retrying, and an operator would otherwise
/// see only instances missing — and each call still fails with the center's refusal.
#[tokio::test(flavor = "current_thread")]
async fn a_registry_the_center_refuses_says_so_once_at_warn() {
    use erpc_center::CenterRegistry;
    use erpc_core::discovery::{Discover, Register};
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Logs(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Logs {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let logs = Logs::default();
    let writer = logs.clone();
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .finish(),
    );

    let center = CenterImpl::open(Box::new(MemoryStore), fast()).unwrap();
    let server = erpc_core::Server::builder()
        .add_service(CenterServer::new(center))
        .admission(erpc_center::auth::require_token("the-token", true))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .unwrap();
    let addr = server.local_addr().to_string();
    for (registry, said) in [
        (
            CenterRegistry::with_token([addr.as_str()], "not-the-token").unwrap(),
            "refused this registry's token",
        ),
        (
            CenterRegistry::new([addr.as_str()]).unwrap(),
            "wants a token and this registry has none",
        ),
    ] {
        logs.0.lock().unwrap().clear();
        for _ in 0..3 {
            let err = registry
                .register(inst("svc", "a"))
                .await
                .err()
                .expect("refused");
            assert_eq!(err.code(), Code::Unauthenticated, "{err}");
            let err = registry.subscribe("svc").await.expect_err("refused");
            assert_eq!(err.code(), Code::Unauthenticated, "{err}");
        }
        let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "one line for six refusals: {text}");
        assert!(
            lines[0].contains("WARN") && lines[0].contains(&format!("the center at {addr} {said}")),
            "{text}"
        );
    }
    server.shutdown().await;
}

/// `--dc` (flag, variable or the config file's `center.dc`) must be one plain name, as a
/// service name must: one with a `/`, a newline or only blanks stops the binary at start
/// (exit 1), naming where it came from and what is wrong.
#[test]
fn the_binary_refuses_a_dc_that_is_not_one_plain_name() {
    let run = |args: &[&str], env: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_erpc-center"));
        command
            .args(["--store", "memory", "--listen", "tcp://127.0.0.1:0"])
            .args(args)
            .env_remove("ERPC_CENTER_DC");
        if let Some(dc) = env {
            command.env("ERPC_CENTER_DC", dc);
        }
        // A center that took the name would serve until killed: give it 20 s to stop.
        let mut child = command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > Duration::from_secs(20) {
                child.kill().unwrap();
                panic!("{args:?} {env:?}: the center started instead of refusing the name");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for (args, env, said) in [
        (
            &["--dc", "eu/west"][..],
            None,
            "--dc \"eu/west\" contains '/'",
        ),
        (
            &["--dc", "eu\nwest"][..],
            None,
            "--dc \"eu\\nwest\" contains a control character",
        ),
        (&["--dc", " "][..], None, "--dc \" \" is blank"),
        (&["--dc", ""][..], None, "--dc \"\" is empty"),
        // From the variable: named by it.
        (
            &[][..],
            Some("a/b"),
            "ERPC_CENTER_DC (--dc) \"a/b\" contains '/'",
        ),
    ] {
        let (code, stderr) = run(args, env);
        assert_eq!(code, Some(1), "{args:?} {env:?}: {stderr}");
        assert!(stderr.contains(said), "{args:?} {env:?}: {stderr}");
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "center:\n  dc: \"eu/west\"\n").unwrap();
    let path = file.path().to_str().unwrap();
    let (code, stderr) = run(&["--config", path], None);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("center.dc in {path}:2 \"eu/west\" contains '/'")),
        "{stderr}"
    );
}
