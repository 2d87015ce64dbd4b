//! `erpc-center --config FILE`: options from the file, flags over them, mistakes named with
//! the file and line.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

fn config(yaml: &str) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new()
        .suffix(".yaml")
        .tempfile()
        .expect("tmp");
    std::fs::write(file.path(), yaml).expect("written");
    file
}

/// `erpc-center --config FILE ARGS…` running (killed when dropped), and its first `lines`
/// lines of output.
async fn started(
    file: &tempfile::NamedTempFile,
    args: &[&str],
    lines: usize,
) -> (tokio::process::Child, Vec<String>) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_erpc-center"))
        .arg("--config")
        .arg(file.path())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starts");
    let mut out = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut got = Vec::new();
    for _ in 0..lines {
        let line = tokio::time::timeout(Duration::from_secs(20), out.next_line())
            .await
            .expect("in time")
            .expect("readable")
            .expect("a line");
        got.push(line);
    }
    (child, got)
}

#[tokio::test]
async fn options_come_from_the_file_and_flags_win() {
    let data = tempfile::tempdir().expect("tmp");
    let file = config(&format!(
        "center:\n  listen: [\"tcp://127.0.0.1:0\"]\n  data_dir: {}\n  metrics_listen: 127.0.0.1:0\n  http: 127.0.0.1:0\n  min_ttl: 2s\n",
        data.path().display()
    ));
    // `--history` on the command line wins over the file's (default) history.
    let (_child, got) = started(&file, &["--history", "5"], 3).await;
    assert!(
        got[0].starts_with("erpc-center listening on tcp://127.0.0.1:"),
        "{got:?}"
    );
    assert!(
        got[1].starts_with("erpc-center metrics on http://127.0.0.1:"),
        "{got:?}"
    );
    // The file's dashboard address was used.
    assert!(
        got[2].starts_with("erpc-center dashboard on http://127.0.0.1:"),
        "{got:?}"
    );
    // The file's data_dir was used.
    assert!(data.path().join("center.redb").exists());
    // The file's min_ttl (2 s) holds: a 1 s lease is raised to it.
    let addr = got[0]
        .trim_start_matches("erpc-center listening on ")
        .to_owned();
    let center =
        erpc_center::CenterClient::new(erpc_core::Client::new(addr.as_str()).expect("address"));
    let lease = center
        .register(
            erpc_center::Instance::new("s", "a", "tcp://127.0.0.1:9"),
            1_000,
        )
        .await
        .expect("registered");
    assert_eq!(lease.ttl_ms, 2_000);
}

#[tokio::test]
async fn a_mistake_in_the_file_stops_the_center_naming_the_file_and_line() {
    let file = config("center:\n  listen: [\"tcp://127.0.0.1:0\"]\n  histroy: 5\n");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_erpc-center"))
        .arg("--config")
        .arg(file.path())
        .output()
        .await
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:3", file.path().display())) && stderr.contains("histroy"),
        "{stderr}"
    );
}

/// The center's stderr when started with `file` and the environment `env` (it fails).
async fn refused(file: &tempfile::NamedTempFile, env: &[(&str, &str)]) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_erpc-center"))
        .arg("--config")
        .arg(file.path())
        .envs(env.iter().copied())
        .output()
        .await
        .expect("runs");
    assert!(!out.status.success(), "started");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A value the center refuses at start-up is named by the file's key and line, or by the
/// variable that set it — not by a flag the user never gave (`--store "memroy" is not a
/// store` for a file's `store: memroy`).
#[tokio::test]
async fn a_refused_value_is_named_by_its_key_and_line_or_variable() {
    let path = |f: &tempfile::NamedTempFile| f.path().display().to_string();
    let file = config("center:\n  listen: [\"tcp://127.0.0.1:0\"]\n  store: memroy\n");
    let stderr = refused(&file, &[]).await;
    assert!(
        stderr.contains(&format!(
            "center.store in {}:3 \"memroy\" is not a store",
            path(&file)
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("--store"), "{stderr}");
    let file = config(
        "center:\n  listen: [\"tcp://127.0.0.1:27270\"]\n  store: memory\n  metrics_listen: 127.0.0.1:27270\n",
    );
    let stderr = refused(&file, &[]).await;
    assert!(
        stderr.contains(&format!("center.listen in {}:2", path(&file)))
            && stderr.contains(&format!("center.metrics_listen in {}:4", path(&file)))
            && stderr.contains("are the same address"),
        "{stderr}"
    );
    // A bad port is refused before the store is opened (a redb store in a directory that
    // cannot be made would fail first otherwise).
    let file = config(
        "center:\n  listen: [\"tcp://127.0.0.1:0\"]\n  data_dir: /proc/nope\n  http: \"localhost:8080x\"\n",
    );
    let stderr = refused(&file, &[]).await;
    assert!(
        stderr.contains(&format!(
            "center.http in {}:4 localhost:8080x: expected HOST:PORT",
            path(&file)
        )),
        "{stderr}"
    );
    // A variable over the file: the variable.
    let file = config("center:\n  listen: [\"tcp://127.0.0.1:0\"]\n  store: memory\n");
    let stderr = refused(&file, &[("ERPC_CENTER__STORE", "memroy")]).await;
    assert!(
        stderr.contains("ERPC_CENTER__STORE (center.store) \"memroy\" is not a store"),
        "{stderr}"
    );
    let stderr = refused(&file, &[("ERPC_CENTER__DC", "a/b")]).await;
    assert!(stderr.contains("ERPC_CENTER__DC (center.dc)"), "{stderr}");
    assert!(
        !stderr.contains(&path(&file)),
        "the file is not at fault: {stderr}"
    );
}

#[tokio::test]
async fn the_file_s_token_file_protects_writes() {
    let token = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(token.path(), "center-token-0123456789abcdef0123\n").expect("written");
    let file = config(&format!(
        "center:\n  listen: [\"tcp://127.0.0.1:0\"]\n  store: memory\n  token_file: \"{}\"\n",
        token.path().display()
    ));
    let (_child, got) = started(&file, &[], 1).await;
    let addr = got[0]
        .trim_start_matches("erpc-center listening on ")
        .to_owned();
    let anonymous =
        erpc_center::CenterClient::new(erpc_core::Client::new(addr.as_str()).expect("address"));
    let refused = anonymous
        .config_set("k".into(), "v".into())
        .await
        .expect_err("no token");
    assert_eq!(
        refused.code(),
        erpc_core::Code::Unauthenticated,
        "{refused:?}"
    );
    let with_token = erpc_center::CenterClient::new(
        erpc_core::Client::builder()
            .middleware(erpc_core::auth::Credentials::bearer(
                "center-token-0123456789abcdef0123",
            ))
            .build(addr.as_str())
            .expect("address"),
    );
    with_token
        .config_set("k".into(), "v".into())
        .await
        .expect("the token from the file is accepted");
}
