//! The `erpc` binary run as a process against a real server and a real center: its output,
//! its errors and its exit codes (0 done, 1 the call failed, 2 bad input).

use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use erpc::{Context, ServerStream, Status, Streaming};
use erpc_center::store::memory::MemoryStore;
use erpc_center::{CenterConfig, CenterImpl, CenterRegistry, CenterServer, Instance};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Order {
    item: String,
    qty: u32,
}

#[erpc::service]
pub trait Shop {
    #[idempotent]
    async fn price(&self, order: Order) -> Result<u64, Status>;
    /// Answers the `who` metadata entry.
    async fn whoami(&self, cx: Context) -> Result<String, Status>;
    async fn refuse(&self, why: String) -> Result<u64, Status>;
    async fn count(&self, n: u64) -> Result<ServerStream<u64>, Status>;
    async fn sum(&self, numbers: Streaming<u64>) -> Result<u64, Status>;
    /// The order back, with the name of the codec the request came in.
    async fn echo(&self, cx: Context, order: Order) -> Result<Echoed, Status>;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Echoed {
    codec: String,
    order: Order,
}

struct ShopImpl;

impl Shop for ShopImpl {
    async fn price(&self, order: Order) -> Result<u64, Status> {
        Ok(u64::from(order.qty) * 3)
    }
    async fn whoami(&self, cx: Context) -> Result<String, Status> {
        Ok(cx.metadata().get_str("who").unwrap_or("nobody").to_owned())
    }
    async fn refuse(&self, why: String) -> Result<u64, Status> {
        Err(Status::failed_precondition(why))
    }
    async fn count(&self, n: u64) -> Result<ServerStream<u64>, Status> {
        Ok(ServerStream::new(futures_util::stream::iter(
            (0..n).map(Ok),
        )))
    }
    async fn sum(&self, numbers: Streaming<u64>) -> Result<u64, Status> {
        let all: Vec<Result<u64, Status>> = numbers.collect().await;
        all.into_iter().sum()
    }
    async fn echo(&self, cx: Context, order: Order) -> Result<Echoed, Status> {
        let codec = cx.wire().codec.name().to_owned();
        Ok(Echoed { codec, order })
    }
}

/// A center on TCP, in this process.
async fn center() -> (erpc::ServerHandle, String) {
    center_with(None).await
}

/// A center on TCP, in this process; with `token`, it wants it on every call, reads too
/// (`erpc-center --token T --protect-reads`).
async fn center_with(token: Option<&str>) -> (erpc::ServerHandle, String) {
    let center = CenterImpl::open(Box::new(MemoryStore), CenterConfig::default()).expect("opens");
    let mut builder = erpc::Server::builder().add_service(CenterServer::new(center));
    if let Some(token) = token {
        builder = builder.admission(erpc_center::auth::require_token(token, true));
    }
    let server = builder
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("center serves");
    let addr = server.local_addr().to_string();
    (server, addr)
}

/// The shop on TCP, registered at `center` (if given) with weight 7, version 1.2, zone a.
async fn shop(center: Option<&str>) -> (erpc::ServerHandle, String) {
    shop_with(center, None).await
}

/// [`shop`], registering with the center's `token` if given.
async fn shop_with(center: Option<&str>, token: Option<&str>) -> (erpc::ServerHandle, String) {
    serve_shop(center, token, "1.2", false).await
}

/// The shop on TCP, registered at `center` (if given, with its `token`) with weight 7,
/// `version`, zone a; `guarded`: answering only calls with metadata `authorization: Bearer
/// s3cret` (reflection's and health's included).
async fn serve_shop(
    center: Option<&str>,
    token: Option<&str>,
    version: &str,
    guarded: bool,
) -> (erpc::ServerHandle, String) {
    let mut builder = erpc::Server::builder().add_service(ShopServer::new(ShopImpl));
    if guarded {
        use erpc::auth::{Authenticate, BearerTokens, Principal};
        let tokens = BearerTokens::new().token("s3cret", Principal::new("ann"));
        builder = builder.admission(Authenticate::new(tokens));
    }
    if let Some(center) = center {
        let registry = match token {
            Some(token) => CenterRegistry::with_token([center], token),
            None => CenterRegistry::new([center]),
        };
        let registry = Arc::new(registry.expect("center address"));
        let mut template = Instance::new("Shop", "", "");
        template.addrs.clear();
        template.weight = 7;
        template.version = version.into();
        template.metadata.insert("zone".into(), "a".into());
        builder = builder.register(registry, template);
    }
    let server = builder
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("shop serves");
    let addr = server.local_addr().to_string();
    (server, addr)
}

/// The next line of a child's output, within 30 s.
async fn next<R: tokio::io::AsyncBufRead + Unpin>(lines: &mut tokio::io::Lines<R>) -> String {
    tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("a line in time")
        .expect("readable")
        .expect("a line")
}

/// Run `erpc args…` with `stdin`, to completion.
async fn erpc(args: &[&str], stdin: &str) -> Output {
    erpc_env(args, stdin, &[]).await
}

/// [`erpc`] with the variables `env` set.
async fn erpc_env(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_erpc"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("erpc starts");
    let mut input = child.stdin.take().expect("piped");
    input
        .write_all(stdin.as_bytes())
        .await
        .expect("stdin written");
    drop(input);
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("erpc finishes in time")
        .expect("erpc ran")
}

/// `erpc watch args…` (with the variables `env`) running, once it says on stderr that the
/// watch is open (`watching WHAT at …`): nothing that happens after can be missed. Its
/// stdout lines, and the child (killed when dropped).
async fn watching(
    args: &[&str],
    env: &[(&str, &str)],
    what: &str,
) -> (
    tokio::process::Child,
    tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_erpc"))
        .arg("watch")
        .args(args)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("erpc watch starts");
    let lines = tokio::io::BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut notes = tokio::io::BufReader::new(child.stderr.take().expect("piped")).lines();
    let opened: String = next(&mut notes).await;
    assert!(
        opened.starts_with(&format!("watching {what} at ")),
        "{opened}"
    );
    (child, lines)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited")
}

/// Run `erpc args…` with `stdin` and check that it succeeded, printing `printed` (and
/// perhaps white space around it) on stdout.
async fn prints(args: &[&str], stdin: &str, printed: &str) {
    let out = erpc(args, stdin).await;
    assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
    assert_eq!(stdout(&out).trim(), printed, "{args:?}: {}", stderr(&out));
}

/// Run `erpc args…` (nothing on stdin) and check that it failed with exit code `exit`,
/// saying `says` on stderr; that stderr, for further checks.
async fn fails_saying(args: &[&str], exit: i32, says: &str) -> String {
    let out = erpc(args, "").await;
    let said = stderr(&out);
    assert_eq!(code(&out), exit, "{args:?}: {said}");
    assert!(said.contains(says), "{args:?}: {says:?} not in: {said}");
    said
}

#[tokio::test]
async fn call_answers_unary_stream_and_metadata_in_json() {
    let (server, addr) = shop(None).await;
    let out = erpc(
        &["call", &addr, "Shop.price", r#"{"item":"tea","qty":4}"#],
        "",
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&out)).expect("JSON"),
        json!(12)
    );

    // The request from stdin.
    prints(
        &["call", &addr, "Shop.price"],
        r#"{"item":"tea","qty":1}"#,
        "3",
    )
    .await;

    // -H sends metadata.
    prints(
        &["call", &addr, "Shop.whoami", "null", "-H", "who: ann"],
        "",
        "\"ann\"",
    )
    .await;

    // A server stream: one JSON line per message.
    let out = erpc(&["call", &addr, "Shop.count", "3"], "").await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "0\n1\n2\n");

    // A client stream: JSON lines from stdin.
    prints(&["call", &addr, "Shop.sum"], "1\n2\n\n39\n", "42").await;
    server.shutdown().await;
}

#[tokio::test]
async fn codec_msgpack_converts_the_json_request_and_the_answer() {
    let (server, addr) = shop(None).await;
    let order = r#"{"item":"tea","qty":4}"#;
    for (flag, seen) in [
        (None, "json"),
        (Some("json"), "json"),
        (Some("msgpack"), "msgpack"),
    ] {
        let mut args = vec!["call", addr.as_str(), "Shop.echo", order];
        if let Some(codec) = flag {
            args.extend(["--codec", codec]);
        }
        let out = erpc(&args, "").await;
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(
            serde_json::from_str::<Value>(&stdout(&out)).expect("JSON"),
            json!({"codec": seen, "order": {"item": "tea", "qty": 4}}),
            "--codec {flag:?}"
        );
    }
    // Streams too: a server stream's messages come back from MessagePack as JSON lines.
    let out = erpc(
        &["call", &addr, "Shop.count", "2", "--codec", "msgpack"],
        "",
    )
    .await;
    assert_eq!(stdout(&out), "0\n1\n", "{}", stderr(&out));

    // Codecs a JSON value cannot travel in, and unknown ones: bad input, saying why.
    fails_saying(
        &["call", &addr, "Shop.echo", order, "--codec", "protobuf"],
        2,
        "use json or msgpack",
    )
    .await;
    fails_saying(
        &["call", &addr, "Shop.echo", order, "--codec", "yaml"],
        2,
        "unknown codec \"yaml\"",
    )
    .await;
    server.shutdown().await;
}

#[tokio::test]
async fn failures_exit_with_the_code_and_a_message_to_act_on() {
    let (server, addr) = shop(None).await;
    // The call failed: exit 1, the status on stderr.
    let out = erpc(&["call", &addr, "Shop.refuse", r#""out of tea""#], "").await;
    assert_eq!(code(&out), 1);
    assert_eq!(stderr(&out).trim(), "failed_precondition: out of tea");
    assert!(stdout(&out).is_empty());

    // Bad JSON: exit 2, where.
    fails_saying(
        &["call", &addr, "Shop.price", r#"{"item": tea}"#],
        2,
        "at line 1 column 11",
    )
    .await;
    // A bad line in a client stream cancels the call: no answer to the lines before it.
    let out = erpc(&["call", &addr, "Shop.sum"], "1\n{oops\n3\n").await;
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("stdin line 2"), "{}", stderr(&out));
    // The position within the line, not serde_json's "line 1" of a one-line document.
    assert!(stderr(&out).contains("at column 2"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("line 1"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    let out = erpc(&["call", &addr, "Shop.sum", "1\n2\nx"], "").await;
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("request line 3"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the call was cancelled"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));

    // An unknown service: the ones there are; an unknown method: the service's methods.
    let said = fails_saying(&["call", &addr, "Shp.price", "{}"], 2, "\"Shp\"").await;
    assert!(said.contains("Shop"), "{said}");
    fails_saying(
        &["call", &addr, "Shop.prize", "{}"],
        2,
        "price, whoami, refuse, count, sum, echo",
    )
    .await;

    // A call of the wrong kind: the server's refusal names the method as it is written.
    let out = erpc(&["call", &addr, "Shop.count", "3", "--kind", "unary"], "").await;
    assert_eq!(code(&out), 1);
    assert_eq!(
        stderr(&out).trim(),
        "unimplemented: Shop.count is a streaming method; open it as a stream"
    );

    // Not SERVICE.METHOD, an unknown flag: usage, exit 2.
    assert_eq!(code(&erpc(&["call", &addr, "price", "{}"], "").await), 2);
    assert_eq!(
        code(&erpc(&["call", &addr, "Shop.price", "--nope"], "").await),
        2
    );
    server.shutdown().await;

    // Nobody listening: exit 1, naming the address.
    let out = erpc(&["call", &addr, "Shop.price", "{}"], "").await;
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("refused"), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("unavailable: "),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains(&addr), "{}", stderr(&out));
}

#[tokio::test]
async fn messages_name_the_schema_not_rust_types() {
    let (server, addr) = shop(None).await;
    // A request of another shape: the server's refusal names the method, the direction and
    // the codec as `--codec` names it — not the Rust type (`cli::Order`) nor `json(2)`.
    let out = erpc(&["call", &addr, "Shop.price", r#"{"item":"tea"}"#], "").await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.starts_with(
            "invalid_argument: server could not decode the request of Shop.price in json: missing field `qty`"
        ),
        "{said}"
    );
    assert!(!said.contains("::") && !said.contains("json(2)"), "{said}");
    // The same in MessagePack.
    let args = [
        "call",
        &addr,
        "Shop.price",
        r#"{"item":"tea"}"#,
        "--codec",
        "msgpack",
    ];
    let said = stderr(&erpc(&args, "").await);
    assert!(said.contains("Shop.price in msgpack: "), "{said}");
    assert!(!said.contains("::"), "{said}");

    // The reflection service describes its own types as PROTOCOL.md §16 names them.
    let out = erpc(&["describe", &addr, "erpc.Reflection"], "").await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("-> ListResponse"), "{text}");
    assert!(
        text.contains("describe(DescribeRequest) -> DescribeResponse"),
        "{text}"
    );
    assert!(!text.contains("::"), "{text}");
    server.shutdown().await;
}

#[tokio::test]
async fn metadata_keys_outside_the_rule_are_refused_naming_key_and_rule() {
    let (server, addr) = shop(None).await;
    let order = r#"{"item":"tea","qty":1}"#;
    // `Authorization` would travel, and never be the `authorization` a server reads.
    for (header, key) in [
        ("Bad Key:x", "\"Bad Key\""),
        ("Authorization: Bearer t", "\"Authorization\""),
        (":x", "\"\""),
    ] {
        let out = erpc(&["call", &addr, "Shop.price", order, "-H", header], "").await;
        assert_eq!(code(&out), 2, "{header}: {}", stderr(&out));
        let said = stderr(&out);
        assert!(said.contains(key), "{header}: {said}");
        assert!(
            said.contains("metadata keys are 1–255 characters of lowercase a-z, 0-9"),
            "{header}: {said}"
        );
        assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    }
    // `erpc list ADDR -H` and `erpc describe -H` take the same rule.
    let out = erpc(&["describe", &addr, "-H", "X-User:ann"], "").await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    prints(
        &["call", &addr, "Shop.whoami", "null", "-H", "who: ann"],
        "",
        "\"ann\"",
    )
    .await;
    server.shutdown().await;
}

#[tokio::test]
async fn describe_shows_kinds_idempotency_and_types() {
    let (server, addr) = shop(None).await;
    let out = erpc(&["describe", &addr, "Shop"], "").await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("service Shop"), "{text}");
    assert!(text.contains("price(Order) -> u64  [idempotent]"), "{text}");
    assert!(text.contains("count(u64) -> stream u64"), "{text}");
    assert!(text.contains("sum(stream u64) -> u64"), "{text}");
    assert!(text.contains("whoami(()) -> String"), "{text}");

    // Every service, as JSON: the built-in health and reflection services are among them.
    let out = erpc(&["describe", &addr, "--json"], "").await;
    let all: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let names: Vec<&str> = all
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["Shop", "erpc.Health", "erpc.Reflection"]);

    // `erpc list ADDR [SERVICE]`, as grpcurl: the services, a service's methods.
    let out = erpc(&["list", &addr], "").await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "Shop\nerpc.Health\nerpc.Reflection\n");
    let out = erpc(&["list", &addr, "Shop"], "").await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("Shop.price\nShop.whoami\n"),
        "{}",
        stdout(&out)
    );
    let out = erpc(&["list", &addr, "--json"], "").await;
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&out)).expect("JSON"),
        json!(["Shop", "erpc.Health", "erpc.Reflection"])
    );

    fails_saying(
        &["describe", &addr, "Nope"],
        2,
        "Shop, erpc.Health, erpc.Reflection",
    )
    .await;
    server.shutdown().await;
}

#[tokio::test]
async fn list_and_call_by_name_through_the_center() {
    let (center, center_addr) = center().await;
    let (shop, shop_addr) = shop(Some(&center_addr)).await;
    let out = erpc(&["list", "--center", &center_addr], "").await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Shop (1 instance)"), "{text}");
    assert!(text.contains(&shop_addr), "{text}");
    assert!(text.contains("weight=7  version=1.2  zone=a"), "{text}");

    // -H is for servers: given to a center's listing, it is refused, not dropped.
    fails_saying(
        &["list", "--center", &center_addr, "-H", "a:b"],
        2,
        "--center-token",
    )
    .await;

    let out = erpc(&["list", "--center", &center_addr, "Shop", "--json"], "").await;
    let instance: Value = serde_json::from_str(stdout(&out).trim()).expect("one JSON line");
    assert_eq!(instance["weight"], 7);

    // TARGET as a service name, resolved through the center.
    prints(
        &[
            "call",
            "--center",
            &center_addr,
            "Shop",
            "Shop.price",
            r#"{"item":"x","qty":2}"#,
        ],
        "",
        "6",
    )
    .await;
    // A name the center does not know is bad input too, listing the ones it does.
    let said = fails_saying(
        &["call", "--center", &center_addr, "Nope", "Nope.m", "{}"],
        2,
        "\"Nope\"",
    )
    .await;
    assert!(said.contains("registered there: Shop"), "{said}");
    // A name without --center is bad input.
    assert_eq!(
        code(&erpc(&["call", "Shop", "Shop.price", "{}"], "").await),
        2
    );
    shop.shutdown().await;
    center.shutdown().await;
}

#[tokio::test]
async fn watch_prints_registrations_and_departures_as_they_happen() {
    let (center, center_addr) = center().await;
    // --timeout bounds the watch's start, not the watch: changes after it still arrive.
    let args = ["--center", &center_addr, "Shop", "--timeout", "300ms"];
    let (mut child, mut lines) = watching(&args, &[], "Shop").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (shop, shop_addr) = shop(Some(&center_addr)).await;
    let line: String = next(&mut lines).await;
    assert!(line.starts_with("+ Shop  "), "{line}");
    assert!(
        line.contains(&shop_addr) && line.contains("zone=a"),
        "{line}"
    );
    shop.shutdown().await;
    let line: String = next(&mut lines).await;
    assert!(line.starts_with("- Shop  "), "{line}");
    assert!(line.contains("deregistered"), "{line}");
    child.kill().await.expect("killed");
    center.shutdown().await;
}

#[tokio::test]
async fn watch_json_prints_register_and_deregister_events() {
    let (center, center_addr) = center().await;
    let args = ["--center", &center_addr, "--json"];
    let (mut child, mut lines) = watching(&args, &[], "every service").await;
    let (shop, shop_addr) = shop(Some(&center_addr)).await;
    let line: String = next(&mut lines).await;
    let event: Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(event["event"], "register", "{line}");
    assert_eq!(event["service"], "Shop", "{line}");
    let id = event["id"].as_str().expect("id").to_owned();
    assert!(event["revision"].as_u64().is_some(), "{line}");
    assert_eq!(event["instance"]["addrs"], json!([shop_addr]), "{line}");
    assert_eq!(event["instance"]["weight"], 7, "{line}");
    assert_eq!(event["instance"]["metadata"]["zone"], "a", "{line}");
    shop.shutdown().await;
    let line: String = next(&mut lines).await;
    let event: Value = serde_json::from_str(&line).expect("a JSON line");
    let revision = event["revision"].clone();
    assert_eq!(
        event,
        json!({"event": "deregister", "revision": revision, "service": "Shop", "id": id,
               "reason": "deregistered"}),
    );
    child.kill().await.expect("killed");
    center.shutdown().await;
}

#[tokio::test]
async fn bench_reports_counts_that_add_up() {
    let (server, addr) = shop(None).await;
    let out = erpc(
        &[
            "bench",
            &addr,
            "Shop.price",
            r#"{"item":"x","qty":1}"#,
            "-c",
            "4",
            "-n",
            "200",
            "-z",
            "60s",
            "--json",
        ],
        "",
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).expect("JSON report");
    assert_eq!(report["count"], 200);
    assert_eq!(report["status"], json!({"ok": 200}));
    let in_bars: u64 = report["histogram"]
        .as_array()
        .expect("bars")
        .iter()
        .map(|b| b["count"].as_u64().expect("count"))
        .sum();
    assert_eq!(in_bars, 200);
    assert!(report["rps"].as_f64().expect("rps") > 0.0);
    let l = &report["latency_ms"];
    assert!(
        l["fastest"].as_f64() <= l["p50"].as_f64() && l["p50"].as_f64() <= l["slowest"].as_f64()
    );

    // Errors are counted by code; a short run by time; the text report names the parts.
    let out = erpc(
        &[
            "bench",
            &addr,
            "Shop.refuse",
            r#""no""#,
            "-c",
            "2",
            "-z",
            "300ms",
        ],
        "",
    )
    .await;
    // No call succeeded: the report, then exit 1 with a line saying so (ghz exits 0).
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("erpc: bench: no call succeeded (of ")
            && stderr(&out).contains("failed_precondition)"),
        "{}",
        stderr(&out)
    );
    let text = stdout(&out);
    for part in [
        "Requests/sec:",
        "Response time histogram:",
        "Latency distribution:",
        "[failed_precondition]",
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
    // Streams are not benched, in words a person reads (not `ServerStream`).
    let out = erpc(&["bench", &addr, "Shop.count", "1", "-z", "1s"], "").await;
    assert_eq!(code(&out), 2);
    assert_eq!(
        stderr(&out).trim(),
        "erpc: Shop.count is server-streaming; erpc bench loads unary methods"
    );
    // Zero of a count or the duration runs nothing: refused (exit 2) naming the flag.
    for (flag, value) in [
        ("-c", "0"),
        ("-n", "0"),
        ("-z", "0s"),
        ("--connections", "0"),
    ] {
        let out = erpc(&["bench", &addr, "Shop.price", "{}", flag, value], "").await;
        assert_eq!(code(&out), 2, "{flag}: {}", stderr(&out));
        assert!(stderr(&out).contains(flag), "{flag}: {}", stderr(&out));
    }
    // A timeout of zero would fail every call before it is sent: refused the same way, for
    // bench and call alike.
    for command in ["bench", "call"] {
        let out = erpc(&[command, &addr, "Shop.price", "{}", "--timeout", "0"], "").await;
        assert_eq!(code(&out), 2, "{command}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("--timeout"),
            "{command}: {}",
            stderr(&out)
        );
    }
    // Durations as erpc's config files write them (humantime's forms), and bare seconds.
    for timeout in ["2s", "500ms", "1m30s", "1.5s", "1h", "5", "0.5"] {
        let order = r#"{"item":"x","qty":1}"#;
        prints(
            &["call", &addr, "Shop.price", order, "--timeout", timeout],
            "",
            "3",
        )
        .await;
    }
    let said = fails_saying(
        &[
            "call",
            &addr,
            "Shop.price",
            "{}",
            "--timeout",
            "2 fortnights",
        ],
        2,
        "--timeout",
    )
    .await;
    assert!(said.contains("\"fortnights\""), "{said}");
    server.shutdown().await;
}

#[tokio::test]
async fn health_prints_the_status_with_grpc_health_probe_exit_codes() {
    let (server, addr) = shop(None).await;
    prints(&["health", &addr], "", "server: SERVING").await;
    prints(&["health", &addr, "Shop"], "", "Shop: SERVING").await;

    // grpc_health_probe's exit codes: 4 answered and not SERVING, the status on stdout.
    server
        .health()
        .set("Shop", erpc::server::health::ServingStatus::NotServing);
    let out = erpc(&["health", &addr, "Shop"], "").await;
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "Shop: NOT_SERVING");
    let out = erpc(&["health", &addr, "Nope"], "").await;
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "Nope: SERVICE_UNKNOWN");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    // 1 bad arguments.
    assert_eq!(code(&erpc(&["health", &addr, "--nope"], "").await), 1);
    assert_eq!(code(&erpc(&["health", "Shop"], "").await), 1);
    server.shutdown().await;
    // 2 nobody listening, naming the address.
    fails_saying(&["health", &addr], 2, &addr).await;

    // 3 the check call failed: refused without the credentials the server wants.
    let (guarded, addr) = guarded_shop().await;
    let out = erpc(&["health", &addr], "").await;
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("unauthenticated: "),
        "{}",
        stderr(&out)
    );
    guarded.shutdown().await;
}

#[tokio::test]
async fn routes_are_shown_set_checked_and_deleted() {
    let (center, center_addr) = center().await;
    let (shop, _) = shop(Some(&center_addr)).await;
    let routes = |args: &[&str]| {
        let mut all = vec!["routes"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--center", &center_addr]);
        all.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = async |args: Vec<String>, stdin: &str| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        erpc(&args, stdin).await
    };
    let out = run(routes(&["show", "Shop"]), "").await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("no routing rules for \"Shop\""),
        "{}",
        stdout(&out)
    );

    // Set from stdin; shown back as JSON.
    let table = r#"{"rules":[{"match":{"metadata":{"x-user-tier":"beta"}},"route":[{"subset":{"version":"1.2"}}]}]}"#;
    let out = run(routes(&["set", "Shop"]), table).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("1 rule, no default"),
        "{}",
        stdout(&out)
    );
    let out = run(routes(&["show", "Shop"]), "").await;
    let shown: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(shown["rules"][0]["route"][0]["subset"]["version"], "1.2");

    // Bad input is refused here (2); a subset with no instance by the center (1).
    let out = run(routes(&["set", "Shop", r#"{"rules":[{"rout":[]}]}"#]), "").await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unknown field `rout`"),
        "{}",
        stderr(&out)
    );
    let out = run(
        routes(&["set", "Shop", r#"{"default":[{"subset":{"version":"9"}}]}"#]),
        "",
    )
    .await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("invalid_argument: the center at")
            && stderr(&out).contains("no instance of \"Shop\" registered now"),
        "{}",
        stderr(&out)
    );

    let out = run(routes(&["delete", "Shop"]), "").await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = run(routes(&["show", "Shop"]), "").await;
    assert!(
        stdout(&out).contains("no routing rules"),
        "{}",
        stdout(&out)
    );
    // Deleting rules that are not there says so and fails (as kubectl's NotFound).
    let out = run(routes(&["delete", "Shop"]), "").await;
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(
        stderr(&out).starts_with("not_found: ")
            && stderr(&out).contains("no routing rules for \"Shop\""),
        "{}",
        stderr(&out)
    );
    assert!(!stdout(&out).contains("deleted"), "{}", stdout(&out));
    shop.shutdown().await;
    center.shutdown().await;
}

/// `erpc config`: a live setting is set, read, listed and deleted at a real center; a value
/// its followers would refuse is refused before it is written (exit 2), with the words a
/// follower logs; `--force` skips that check and the center's own refuses it (exit 1).
#[tokio::test]
async fn live_settings_are_set_checked_listed_and_deleted() {
    let (center, center_addr) = center_with(Some("t0k")).await;
    let config = |args: &[&str]| {
        let mut all = vec!["config"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--center", &center_addr, "--center-token", "t0k"]);
        all.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = async |args: Vec<String>, stdin: &str| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        erpc(&args, stdin).await
    };
    let out = run(config(&["list", "Shop"]), "").await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("no live settings for \"Shop\""),
        "{}",
        stdout(&out)
    );
    let out = run(config(&["get", "Shop", "server.weight"]), "").await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("not_found: no live setting server.weight for \"Shop\""),
        "{}",
        stderr(&out)
    );

    // Set from an argument and from stdin; read back as stored.
    let out = run(config(&["set", "Shop", "server.weight", "40"]), "").await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("erpc/config/Shop/server.weight set at revision "),
        "{}",
        stdout(&out)
    );
    let rates = "default: {rate: 100}\nmethods:\n  \"Shop.price\": {rate: 5}\n";
    let out = run(config(&["set", "Shop", "server.rate_limit"]), rates).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Stored; a program applies it only with the layer built: said, not left to a WARN in
    // the program's log.
    assert!(
        stderr(&out).contains("applies it only if it built the layer")
            && stderr(&out).contains("server.live_layers: true"),
        "{}",
        stderr(&out)
    );
    prints(
        &config(&["get", "Shop", "server.weight"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        "",
        "40",
    )
    .await;
    let out = run(config(&["list", "Shop"]), "").await;
    assert_eq!(
        stdout(&out),
        "erpc/config/Shop/server.rate_limit:\n  default: {rate: 100}\n  methods:\n    \"Shop.price\": {rate: 5}\nerpc/config/Shop/server.weight: 40\n"
    );
    let out = run(config(&["list", "--json"]), "").await;
    let listed: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(listed["erpc/config/Shop/server.weight"], "40");
    // A value from stdin is stored without the newline it was piped with.
    assert_eq!(
        listed["erpc/config/Shop/server.rate_limit"],
        rates.trim_end(),
        "{listed}"
    );

    // What a follower would refuse is refused here, in its words, and nothing is written.
    for (setting, value, says) in [
        (
            "server.rate_limit",
            "{default: {rate: 0}}",
            "erpc: erpc/config/Shop/server.rate_limit:1: server.rate_limit.default.rate: must be above 0",
        ),
        ("server.weight", "-1", "whole number of 0 to 4294967295"),
        (
            "client.ratelimit",
            "{default: {rate: 1}}",
            "\"client.ratelimit\" is not a live setting; expected one of client.rate_limit",
        ),
        ("log_filter", "info,[", "is not a log filter"),
    ] {
        let out = run(config(&["set", "Shop", setting, value]), "").await;
        assert_eq!(code(&out), 2, "{setting} {value}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with(says) || stderr(&out).contains(says),
            "{}",
            stderr(&out)
        );
        assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    }
    prints(
        &config(&["get", "Shop", "server.weight"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        "",
        "40",
    )
    .await;
    // --force skips this command's check, not the center's.
    let out = run(
        config(&["set", "Shop", "server.weight", "-1", "--force"]),
        "",
    )
    .await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("invalid_argument: the center at")
            && stderr(&out)
                .contains("erpc/config/Shop/server.weight: server.weight: expected a whole number"),
        "{}",
        stderr(&out)
    );
    // A service name the center would refuse is bad input.
    let out = run(config(&["set", "a/b", "server.weight", "1"]), "").await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));

    let out = run(config(&["delete", "Shop", "server.weight"]), "").await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("deleted at revision"),
        "{}",
        stdout(&out)
    );
    let out = run(config(&["delete", "Shop", "server.weight"]), "").await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("not_found: ") && stderr(&out).contains("nothing deleted"),
        "{}",
        stderr(&out)
    );
    // A misspelt setting is bad input for every command, as for `set`: exit 2, naming the
    // settings there are (not `not_found`, which would send one looking in the center).
    for command in ["get", "delete"] {
        let out = run(config(&[command, "Shop", "server.wieght"]), "").await;
        assert_eq!(code(&out), 2, "{command}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("\"server.wieght\" is not a live setting; expected one of")
                && stderr(&out).contains("server.weight"),
            "{command}: {}",
            stderr(&out)
        );
    }
    // Without the token: the center refuses, saying how to give it.
    let out = erpc(&["config", "list", "--center", &center_addr], "").await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("--center-token"), "{}", stderr(&out));
    center.shutdown().await;
}

/// The shop on TCP, answering only calls with metadata `authorization: Bearer s3cret`
/// (reflection's and health's included).
async fn guarded_shop() -> (erpc::ServerHandle, String) {
    serve_shop(None, None, "", true).await
}

#[tokio::test]
async fn headers_reach_a_server_that_authenticates_every_call() {
    let (server, addr) = guarded_shop().await;
    let auth = "authorization: Bearer s3cret";
    // The method's kind is looked up by reflection: with the headers, as the call itself.
    prints(
        &[
            "call",
            &addr,
            "Shop.price",
            r#"{"item":"x","qty":2}"#,
            "-H",
            auth,
        ],
        "",
        "6",
    )
    .await;
    let out = erpc(&["call", &addr, "Shop.count", "2", "-H", auth], "").await;
    assert_eq!(stdout(&out), "0\n1\n", "{}", stderr(&out));
    let out = erpc(&["describe", &addr, "Shop", "-H", auth], "").await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("service Shop"), "{}", stdout(&out));
    prints(&["health", &addr, "-H", auth], "", "server: SERVING").await;

    // Without them: refused, saying what the server wants.
    let out = erpc(
        &["call", &addr, "Shop.price", r#"{"item":"x","qty":2}"#],
        "",
    )
    .await;
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).starts_with("unauthenticated: "),
        "{}",
        stderr(&out)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_protected_center_is_reached_with_its_token() {
    let (center, center_addr) = center_with(Some("t0k")).await;
    let (shop, shop_addr) = shop_with(Some(&center_addr), Some("t0k")).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("token");
    std::fs::write(&file, "t0k\n").expect("token file written");
    let file = file.to_str().expect("UTF-8 path");

    // Without the token: refused, naming the center.
    let out = erpc(&["list", "--center", &center_addr], "").await;
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).starts_with("unauthenticated: the center at"),
        "{}",
        stderr(&out)
    );
    // … and saying how to give the token (not the metadata a server takes with -H).
    assert!(
        stderr(&out).contains("--center-token TOKEN") && stderr(&out).contains("ERPC_CENTER_TOKEN"),
        "{}",
        stderr(&out)
    );
    // The flag, the file, the variable.
    for (args, env) in [
        (vec!["--center-token", "t0k"], vec![]),
        (vec!["--center-token-file", file], vec![]),
        (vec![], vec![("ERPC_CENTER_TOKEN", "t0k")]),
        (vec![], vec![("ERPC_CENTER_TOKEN_FILE", file)]),
        // The first names, kept: the flags and the variables.
        (vec!["--token", "t0k"], vec![]),
        (vec!["--token-file", file], vec![]),
        (vec![], vec![("ERPC_TOKEN", "t0k")]),
        (vec![], vec![("ERPC_TOKEN_FILE", file)]),
        // The new variable wins over the old one.
        (
            vec![],
            vec![("ERPC_CENTER_TOKEN", "t0k"), ("ERPC_TOKEN", "old")],
        ),
        // A flag typed wins over the variables, even the other flag's.
        (
            vec!["--center-token-file", file],
            vec![("ERPC_CENTER_TOKEN", "wrong")],
        ),
        (
            vec!["--center-token", "t0k"],
            vec![("ERPC_CENTER_TOKEN_FILE", "/nonexistent")],
        ),
    ] {
        let mut all = vec!["list", "--center", &center_addr];
        all.extend(args.iter().copied());
        let out = erpc_env(&all, "", &env).await;
        assert_eq!(code(&out), 0, "{args:?} {env:?}: {}", stderr(&out));
        assert!(stdout(&out).contains(&shop_addr), "{}", stdout(&out));
    }
    // A wrong or empty token.
    let out = erpc(&["list", "--center", &center_addr, "--token", "nope"], "").await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    fails_saying(
        &["list", "--center", &center_addr, "--token", " "],
        2,
        "--center-token",
    )
    .await;

    // Calling by name through it, and its routing rules.
    let t = ["--token", "t0k"];
    let mut args = vec!["call", "--center", &center_addr, "Shop", "Shop.price", "2"];
    args.extend(t);
    args[5] = r#"{"item":"x","qty":2}"#;
    prints(&args, "", "6").await;
    let mut args = vec![
        "routes",
        "set",
        "Shop",
        r#"{"default":[{"subset":{"version":"1.2"}}]}"#,
    ];
    args.extend(["--center", &center_addr]);
    args.extend(t);
    let out = erpc(&args, "").await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = erpc(
        &[
            "routes",
            "show",
            "Shop",
            "--center",
            &center_addr,
            "--token",
            "t0k",
        ],
        "",
    )
    .await;
    assert!(stdout(&out).contains("1.2"), "{}", stderr(&out));
    let out = erpc(
        &[
            "routes",
            "delete",
            "Shop",
            "--center",
            &center_addr,
            "--token",
            "t0k",
        ],
        "",
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // The watch.
    let args = ["--center", &center_addr, "Shop"];
    let (mut child, mut lines) = watching(&args, &[("ERPC_TOKEN", "t0k")], "Shop").await;
    shop.shutdown().await;
    let line: String = next(&mut lines).await;
    assert!(line.starts_with("- Shop  "), "{line}");
    child.kill().await.expect("killed");
    center.shutdown().await;
}

/// A token given by a variable that cannot be used is bad input naming that variable — not
/// `--center-token-file`, which was not typed — and a token variable that is not UTF-8 is
/// refused, not ignored (the center here wants no token, so an ignored one would pass).
#[tokio::test]
async fn bad_token_variables_are_refused_naming_the_variable() {
    use std::os::unix::ffi::OsStrExt;
    let (center, center_addr) = center().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let blank = dir.path().join("blank");
    std::fs::write(&blank, "\n").expect("written");
    let blank = blank.to_str().expect("UTF-8 path");
    let list = ["list", "--center", center_addr.as_str()];
    for (var, value, says) in [
        (
            "ERPC_CENTER_TOKEN_FILE",
            "/nonexistent/token",
            "cannot be read",
        ),
        ("ERPC_TOKEN_FILE", "/nonexistent/token", "cannot be read"),
        ("ERPC_CENTER_TOKEN_FILE", blank, "first line is empty"),
        ("ERPC_CENTER_TOKEN", " ", "is set and empty"),
    ] {
        let out = erpc_env(&list, "", &[(var, value)]).await;
        let said = stderr(&out);
        assert_eq!(code(&out), 2, "{var}={value}: {said}");
        assert!(
            said.contains(&format!("{var} ")) && said.contains(says),
            "{var}={value}: {said}"
        );
        assert!(!said.contains("--center-token"), "{var}={value}: {said}");
    }
    for var in ["ERPC_CENTER_TOKEN", "ERPC_TOKEN"] {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_erpc"))
            .args(list)
            .env(var, std::ffi::OsStr::from_bytes(b"t0k\xff"))
            .kill_on_drop(true)
            .output()
            .await
            .expect("erpc ran");
        let said = stderr(&out);
        assert_eq!(code(&out), 2, "{var}: {said}");
        assert!(
            said.contains(&format!("{var} is not valid UTF-8")),
            "{var}: {said}"
        );
    }
    center.shutdown().await;
}

/// A certificate authority made here (rcgen): its PEM, and leaf certificates it signs.
struct Ca {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA certificate");
        Ca { cert, key }
    }

    /// A certificate for `names` and its key, as PEM.
    fn issue(&self, names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let params = rcgen::CertificateParams::new(names).expect("leaf params");
        let key = rcgen::KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("leaf certificate");
        (cert.pem(), key.serialize_pem())
    }
}

/// The shop on `tls://127.0.0.1`, its certificate from `ca`; with `clients`, it wants a
/// client certificate from that CA (mutual TLS).
async fn tls_shop(ca: &Ca, clients: Option<&Ca>) -> (erpc::ServerHandle, String) {
    use erpc::transport::ServerTls;
    let (cert, key) = ca.issue(&["127.0.0.1", "localhost"]);
    let tls = match clients {
        Some(clients) => ServerTls::mutual(
            cert.as_bytes(),
            key.as_bytes(),
            clients.cert.pem().as_bytes(),
        ),
        None => ServerTls::from_pem(cert.as_bytes(), key.as_bytes()),
    }
    .expect("server TLS");
    serve_tls_shop(tls).await
}

/// The shop on `tls://127.0.0.1` with `tls`.
async fn serve_tls_shop(tls: erpc::transport::ServerTls) -> (erpc::ServerHandle, String) {
    let server = erpc::Server::builder()
        .config(erpc::ServerConfig {
            transport: erpc::transport::Options::default().server_tls(tls),
            ..erpc::ServerConfig::default()
        })
        .add_service(ShopServer::new(ShopImpl))
        .serve(["tls://127.0.0.1:0"])
        .await
        .expect("TLS shop serves");
    let addr = server.local_addr().to_string();
    (server, addr)
}

#[tokio::test]
async fn tls_servers_are_reached_with_cacert_insecure_and_client_certificates() {
    let ca = Ca::new("shop CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, pem: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).expect("PEM written");
        path.to_str().expect("UTF-8 path").to_owned()
    };
    let ca_pem = write("ca.pem", &ca.cert.pem());
    let stranger = Ca::new("someone else");
    let stranger_pem = write("stranger.pem", &stranger.cert.pem());
    let (server, addr) = tls_shop(&ca, None).await;
    assert!(addr.starts_with("tls://"), "{addr}");
    let order = r#"{"item":"x","qty":2}"#;

    prints(
        &["call", &addr, "Shop.price", order, "--cacert", &ca_pem],
        "",
        "6",
    )
    .await;
    for args in [
        vec!["health", &addr, "--cacert", &ca_pem],
        vec!["list", &addr, "--cacert", &ca_pem],
        vec!["describe", &addr, "Shop", "--cacert", &ca_pem],
    ] {
        let out = erpc(&args, "").await;
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
    }
    // No CA: say which flag to give.
    fails_saying(&["call", &addr, "Shop.price", order], 2, "--cacert").await;
    // Another CA: refused, saying why.
    fails_saying(
        &[
            "call",
            &addr,
            "Shop.price",
            order,
            "--cacert",
            &stranger_pem,
        ],
        1,
        "not signed by a CA this side trusts",
    )
    .await;
    // --insecure: any certificate, and a warning that says so.
    let out = erpc(&["call", &addr, "Shop.price", order, "--insecure"], "").await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "6");
    assert!(stderr(&out).contains("NOT checked"), "{}", stderr(&out));
    server.shutdown().await;

    // Mutual TLS: the server wants a certificate from the clients' CA.
    let clients = Ca::new("clients CA");
    let (cert, key) = clients.issue(&["ann"]);
    let (cert, key) = (write("ann.pem", &cert), write("ann.key", &key));
    let (server, addr) = tls_shop(&ca, Some(&clients)).await;
    let mutual = ["--cacert", &ca_pem, "--cert", &cert, "--key", &key];
    let mut args = vec!["call", &addr, "Shop.price", order];
    args.extend(mutual);
    prints(&args, "", "6").await;
    let mut args = vec!["call", &addr, "Shop.price", order, "--insecure"];
    args.extend(&mutual[2..]);
    prints(&args, "", "6").await;
    // Without one: refused.
    let out = erpc(
        &["call", &addr, "Shop.price", order, "--cacert", &ca_pem],
        "",
    )
    .await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    // --cert without --key is bad input.
    let out = erpc(
        &[
            "call",
            &addr,
            "Shop.price",
            order,
            "--cacert",
            &ca_pem,
            "--cert",
            &cert,
        ],
        "",
    )
    .await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    server.shutdown().await;
}

/// Calls by name through the center obey the service's routing rules (CENTER.md "Routing
/// rules"), matched on the `-H` headers: two instances, version 1.2 answering anyone and
/// version 2 refusing calls without a token, so which one a call reached shows.
#[tokio::test]
async fn calls_through_the_center_follow_its_routing_rules() {
    let (center, c) = center().await;
    let (open, _) = serve_shop(Some(&c), None, "1.2", false).await;
    let (guarded, _) = serve_shop(Some(&c), None, "2", true).await;
    let table = r#"{"rules":[{"match":{"metadata":{"x-tier":"beta"}},"route":[{"subset":{"version":"2"}}]}],"default":[{"subset":{"version":"1.2"}}]}"#;
    let out = erpc(&["routes", "set", "Shop", table, "--center", &c], "").await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let order = r#"{"item":"x","qty":2}"#;

    // The default route: every call to the open instance, none refused by the guarded one.
    let bench = [
        "bench",
        "--center",
        &c,
        "Shop",
        "Shop.price",
        order,
        "-c",
        "2",
        "-n",
        "20",
        "-z",
        "60s",
        "--json",
    ];
    let out = erpc(&bench, "").await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).expect("JSON report");
    assert_eq!(report["status"], json!({"ok": 20}), "{}", stdout(&out));
    for _ in 0..3 {
        prints(
            &["call", "--center", &c, "Shop", "Shop.price", order],
            "",
            "6",
        )
        .await;
    }

    // The header rule: to the guarded instance only, which wants its token.
    let beta = [
        "call",
        "--center",
        &c,
        "Shop",
        "Shop.price",
        order,
        "-H",
        "x-tier:beta",
    ];
    let out = erpc(&beta, "").await;
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(
        stderr(&out).starts_with("unauthenticated: "),
        "{}",
        stderr(&out)
    );
    let mut authed = beta.to_vec();
    authed.extend(["-H", "authorization: Bearer s3cret"]);
    prints(&authed, "", "6").await;
    open.shutdown().await;
    guarded.shutdown().await;
    center.shutdown().await;
}

/// `erpc health --center ADDR Shop` checks the service it names, not the whole server.
#[tokio::test]
async fn health_by_name_checks_that_service() {
    let (center, c) = center().await;
    let (shop, _) = shop(Some(&c)).await;
    prints(&["health", "--center", &c, "Shop"], "", "Shop: SERVING").await;
    shop.shutdown().await;
    center.shutdown().await;
}

/// A center in this process with `Shop` registered at each of `addrs` (whether or not
/// anything answers there), for 5 minutes.
async fn center_listing(addrs: &[&str]) -> (erpc::ServerHandle, String) {
    use erpc_center::service::Center;
    let center = CenterImpl::open(Box::new(MemoryStore), CenterConfig::default()).expect("opens");
    for (n, addr) in addrs.iter().enumerate() {
        let instance = Instance::new("Shop", format!("shop-{n}"), *addr);
        center
            .register(instance, 300_000)
            .await
            .expect("registered");
    }
    let server = erpc::Server::builder()
        .add_service(CenterServer::new(center))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("center serves");
    let addr = server.local_addr().to_string();
    (server, addr)
}

/// Through the center as at an address, `erpc health` tells a connection that could not be
/// made (exit 2) from a check the server answered with an error (3): an instance nobody
/// listens at, and a server wanting a client certificate not given, are exit 2 with the
/// reason on stderr; a server refusing the check itself stays 3. `erpc call` says the reason
/// too (its exit code is 1 for both).
#[tokio::test]
async fn health_through_the_center_tells_a_failed_connection_from_a_failed_check() {
    // Port 1: nobody listens there (a port freed after binding port 0 could be reused).
    let dead = "tcp://127.0.0.1:1";
    let (center, c) = center_listing(&[dead]).await;
    let said = fails_saying(&["health", "--center", &c, "Shop"], 2, dead).await;
    assert!(said.contains("Connection refused"), "{said}");
    let order = r#"{"item":"x","qty":2}"#;
    let said = fails_saying(
        &["call", "--center", &c, "Shop", "Shop.price", order],
        1,
        dead,
    )
    .await;
    assert!(said.contains("Connection refused"), "{said}");
    // Nothing retries once erpc has exited: the message ends with the reason, without the
    // client's "; retrying in 224 ms" (which a gateway's answer keeps).
    for args in [
        vec!["call", "--center", &c, "Shop", "Shop.price", order],
        vec!["health", "--center", &c, "Shop"],
    ] {
        let said = stderr(&erpc(&args, "").await);
        assert!(
            said.trim_end()
                .ends_with("Connection refused (os error 111)"),
            "{args:?}: {said}"
        );
    }
    center.shutdown().await;

    // Mutual TLS without --cert/--key: the handshake is refused, at an address and through
    // the center alike.
    let ca = Ca::new("shop CA");
    let clients = Ca::new("clients CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let ca_pem = dir.path().join("ca.pem");
    std::fs::write(&ca_pem, ca.cert.pem()).expect("PEM written");
    let ca_pem = ca_pem.to_str().expect("UTF-8 path");
    let (server, addr) = tls_shop(&ca, Some(&clients)).await;
    let (center, c) = center_listing(&[&addr]).await;
    for args in [
        vec!["health", &addr, "--cacert", ca_pem],
        vec!["health", "--center", &c, "Shop", "--cacert", ca_pem],
    ] {
        let out = erpc(&args, "").await;
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("--cert"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    server.shutdown().await;
    center.shutdown().await;

    // The server answered: 3, through the center too.
    let (guarded, addr) = guarded_shop().await;
    let (center, c) = center_listing(&[&addr]).await;
    let out = erpc(&["health", "--center", &c, "Shop"], "").await;
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("unauthenticated: "),
        "{}",
        stderr(&out)
    );
    guarded.shutdown().await;
    center.shutdown().await;
}

/// Failures name the CLI's flags, not the Rust API beneath: a name mismatch `--server-name`,
/// a missing client certificate `--cert/--key`, an unknown scheme the schemes `erpc` speaks
/// (exit 2); `--insecure` warns only where there is TLS to be insecure about.
#[tokio::test]
async fn failures_name_flags_not_rust_apis() {
    let ca = Ca::new("shop CA");
    let clients = Ca::new("clients CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let ca_pem = dir.path().join("ca.pem");
    std::fs::write(&ca_pem, ca.cert.pem()).expect("PEM written");
    let ca_pem = ca_pem.to_str().expect("UTF-8 path");
    let order = r#"{"item":"x","qty":2}"#;
    let (server, addr) = tls_shop(&ca, Some(&clients)).await;
    fails_saying(
        &["call", &addr, "Shop.price", order, "--cacert", ca_pem],
        1,
        "--cert PEM --key PEM",
    )
    .await;
    let said = fails_saying(
        &[
            "call",
            &addr,
            "Shop.price",
            order,
            "--cacert",
            ca_pem,
            "--server-name",
            "elsewhere",
        ],
        1,
        "--server-name",
    )
    .await;
    assert!(!said.contains("ClientTls"), "{said}");
    server.shutdown().await;

    let said = fails_saying(&["call", "foo://x", "Shop.price", order], 2, "tcp://").await;
    assert!(!said.contains("ClientBuilder"), "{said}");

    fails_saying(&["health", "foo://x"], 1, "tcp://").await;
    // A center address too: the same words, not the library's.
    let said = fails_saying(
        &["list", "--center", "http://127.0.0.1:1"],
        2,
        "(erpc speaks tcp://",
    )
    .await;
    assert!(!said.contains("ClientBuilder"), "{said}");

    let (plain, addr) = shop(None).await;
    let out = erpc(&["call", &addr, "Shop.price", order, "--insecure"], "").await;
    assert_eq!(stdout(&out).trim(), "6", "{}", stderr(&out));
    assert!(!stderr(&out).contains("NOT checked"), "{}", stderr(&out));
    plain.shutdown().await;
}

/// `--cacert` takes a self-signed server certificate only if it is an end-entity one
/// (README): a CA:TRUE one, as `openssl req -x509` makes by default, fails saying how to
/// make the right one; a CA:FALSE one is trusted.
#[tokio::test]
async fn cacert_takes_a_self_signed_end_entity_certificate() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let dir = tempfile::tempdir().expect("temp dir");
    let order = r#"{"item":"x","qty":2}"#;
    for is_ca in [
        IsCa::Ca(BasicConstraints::Unconstrained),
        IsCa::ExplicitNoCa,
    ] {
        let end_entity = matches!(is_ca, IsCa::ExplicitNoCa);
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("params");
        params.is_ca = is_ca;
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("self-signed");
        let pem = dir.path().join(format!("self-{end_entity}.pem"));
        std::fs::write(&pem, cert.pem()).expect("PEM written");
        let tls = erpc::transport::ServerTls::from_pem(
            cert.pem().as_bytes(),
            key.serialize_pem().as_bytes(),
        )
        .expect("server TLS");
        let (server, addr) = serve_tls_shop(tls).await;
        let pem = pem.to_str().expect("UTF-8 path");
        let out = erpc(&["call", &addr, "Shop.price", order, "--cacert", pem], "").await;
        if end_entity {
            assert_eq!(stdout(&out).trim(), "6", "{}", stderr(&out));
        } else {
            assert_eq!(code(&out), 1, "{}", stderr(&out));
            assert!(
                stderr(&out).contains("basicConstraints=critical,CA:FALSE"),
                "{}",
                stderr(&out)
            );
        }
        server.shutdown().await;
    }
}

#[tokio::test]
async fn a_center_on_tls_is_reached_with_the_same_flags() {
    use erpc::transport::{ClientTls, Options, ServerTls};
    let ca = Ca::new("center CA");
    let (cert, key) = ca.issue(&["127.0.0.1"]);
    let tls = ServerTls::from_pem(cert.as_bytes(), key.as_bytes()).expect("server TLS");
    let center = CenterImpl::open(Box::new(MemoryStore), CenterConfig::default()).expect("opens");
    let center = erpc::Server::builder()
        .config(erpc::ServerConfig {
            transport: Options::default().server_tls(tls),
            ..erpc::ServerConfig::default()
        })
        .add_service(CenterServer::new(center))
        .serve(["tls://127.0.0.1:0"])
        .await
        .expect("TLS center serves");
    let center_addr = center.local_addr().to_string();
    let trust = ClientTls::trust_pem(ca.cert.pem().as_bytes()).expect("CA");
    let registry = CenterRegistry::builder()
        .transport(Options::default().client_tls(trust))
        .build([center_addr.as_str()])
        .expect("registry");
    let mut template = Instance::new("Shop", "", "");
    template.addrs.clear();
    let shop = erpc::Server::builder()
        .add_service(ShopServer::new(ShopImpl))
        .register(Arc::new(registry), template)
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("shop serves");
    let dir = tempfile::tempdir().expect("temp dir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.cert.pem()).expect("written");
    let ca_file = ca_file.to_str().expect("UTF-8 path");
    let order = r#"{"item":"x","qty":2}"#;
    let call = [
        "call",
        "--center",
        &center_addr,
        "Shop",
        "Shop.price",
        order,
    ];

    // Without a CA: bad input naming the flags, before anything is dialled.
    fails_saying(&call, 2, "give --cacert PEM").await;
    // With it: resolved through the center, called (the registration may still be on its
    // way: asked again until it is there).
    let mut args = call.to_vec();
    args.extend(["--cacert", ca_file]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let out = erpc(&args, "").await;
        if code(&out) == 0 {
            assert_eq!(stdout(&out).trim(), "6");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline && stderr(&out).contains("no instance"),
            "{}",
            stderr(&out)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shop.shutdown().await;
    center.shutdown().await;
}

/// An address that is not one — no port, an empty host, a port out of range — is bad input
/// as an unknown scheme is (exit 2, `erpc: …`; `erpc health`: 1, its bad arguments), for
/// every command that takes an address or `--center`: not a failed call (`invalid_argument`,
/// exit 1).
#[tokio::test]
async fn a_malformed_address_is_bad_input_for_every_command() {
    let portless = "tcp://127.0.0.1";
    for (args, exit) in [
        (vec!["call", portless, "Shop.price", "{}"], 2),
        (vec!["bench", portless, "Shop.price", "{}", "-n", "1"], 2),
        (vec!["describe", portless], 2),
        (vec!["list", portless], 2),
        (vec!["health", portless], 1),
        (vec!["list", "--center", portless], 2),
        (vec!["watch", "--center", portless], 2),
        (vec!["routes", "show", "Shop", "--center", portless], 2),
        (
            vec!["call", "--center", portless, "Shop", "Shop.price", "{}"],
            2,
        ),
        (vec!["health", "--center", portless, "Shop"], 1),
    ] {
        let said = fails_saying(&args, exit, "\"tcp://127.0.0.1\": expected host:port").await;
        assert!(said.starts_with("erpc: "), "{args:?}: {said}");
    }
    for (address, reason) in [
        ("tcp://:7000", "empty host"),
        ("tcp://127.0.0.1:70000", "port is not a number"),
    ] {
        let said = fails_saying(&["call", address, "Shop.price", "{}"], 2, reason).await;
        assert!(said.starts_with("erpc: "), "{address}: {said}");
    }
}

/// A port where another protocol answers — the center's dashboard (HTTP), a TLS server
/// dialled as `tcp://` — is a connection failure saying what answered and what it looks
/// like (`unavailable`, exit 1; `erpc health` exit 2, at an address and through the
/// center), not `internal` with the bytes' numbers.
#[tokio::test]
async fn a_port_that_does_not_speak_erpc_is_a_connection_failure_saying_what_answered() {
    use erpc_center::dashboard::{Dashboard, DashboardOptions};
    let center = CenterImpl::open(Box::new(MemoryStore), CenterConfig::default()).expect("opens");
    let dashboard = Dashboard::bind(&center, "127.0.0.1:0", DashboardOptions::default())
        .await
        .expect("dashboard serves");
    let http = format!("tcp://{}", dashboard.local_addr());
    let order = r#"{"item":"x","qty":2}"#;
    let answered = format!(
        "{http} is not an erpc server: it answered \"HTTP/1.1 400 Bad Request\" (an HTTP server: a gateway's, a dashboard's or a metrics port?)"
    );
    let out = erpc(&["call", &http, "Shop.price", order], "").await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(stderr(&out).trim(), format!("unavailable: {answered}"));
    let out = erpc(&["health", &http], "").await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert_eq!(stderr(&out).trim(), format!("unavailable: {answered}"));
    let (registry, c) = center_listing(&[&http]).await;
    fails_saying(&["health", "--center", &c, "Shop"], 2, &answered).await;
    registry.shutdown().await;
    dashboard.shutdown().await;

    let (server, addr) = tls_shop(&Ca::new("shop CA"), None).await;
    let plain = addr.replace("tls://", "tcp://");
    let out = erpc(&["call", &plain, "Shop.price", order], "").await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with(&format!(
            "unavailable: {plain} is not an erpc server: it answered the bytes 15 03 "
        )) && stderr(&out).contains("(a TLS server: dial it as tls://…)"),
        "{}",
        stderr(&out)
    );
    server.shutdown().await;
}

/// A TCP port that accepts connections and never says a word (a hung server), for as long
/// as the returned task runs.
async fn silent_port() -> (tokio::task::JoinHandle<()>, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = format!("tcp://{}", listener.local_addr().expect("bound"));
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (task, addr)
}

#[tokio::test]
async fn timeout_bounds_the_whole_command_and_names_the_step_that_ran_out() {
    let (silent, addr) = silent_port().await;
    let watch = format!(
        "deadline_exceeded: deadline exceeded starting the watch at the center {addr} (--timeout 1s)"
    );
    let cases: [(&[&str], i32, &str); 6] = [
        // The watch's start only: once watching, it runs until interrupted.
        (&["watch", "--center", &addr, "--timeout", "1s"], 1, &watch),
        (
            &["call", &addr, "Shop.price", "{}", "--timeout", "1s"],
            1,
            "deadline_exceeded: deadline exceeded looking up Shop's methods by reflection (--timeout 1s)",
        ),
        (
            &[
                "call",
                &addr,
                "Shop.price",
                "{}",
                "--timeout",
                "1s",
                "--kind",
                "unary",
            ],
            1,
            "deadline_exceeded: deadline exceeded calling Shop.price (--timeout 1s)",
        ),
        (
            &["describe", &addr, "--timeout", "1s"],
            1,
            "deadline_exceeded: deadline exceeded looking up the server's services by reflection (--timeout 1s)",
        ),
        (
            &["list", &addr, "Shop", "--timeout", "1s"],
            1,
            "deadline_exceeded: deadline exceeded looking up Shop's methods by reflection (--timeout 1s)",
        ),
        (
            &["health", &addr, "--timeout", "1s"],
            3,
            "deadline_exceeded: deadline exceeded checking health (--timeout 1s)",
        ),
    ];
    for (args, exit, says) in cases {
        let started = std::time::Instant::now();
        let out = erpc(args, "").await;
        let took = started.elapsed();
        assert_eq!(code(&out), exit, "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out).trim(), says, "{args:?}");
        // Not the client's default 10 s: the --timeout given, and the process's start-up.
        assert!(took < Duration::from_secs(4), "{args:?} took {took:?}");
    }
    // The same parsing as `call`'s: zero is refused as bad input.
    for command in ["describe", "list", "health", "watch"] {
        let out = erpc(&[command, &addr, "--timeout", "0s"], "").await;
        let bad = if command == "health" { 1 } else { 2 };
        assert_eq!(code(&out), bad, "{command}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("leaves a call no time"),
            "{}",
            stderr(&out)
        );
    }
    silent.abort();
}

#[tokio::test]
async fn help_gives_the_default_timeout_the_client_has() {
    let default = erpc::ClientConfig::default().timeout.as_secs();
    let said = format!("the client's, for each call ({default} s; streams none)");
    let out = erpc(&["call", "--help"], "").await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let help = stdout(&out)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(help.contains(&said), "{said:?} not in: {help}");
    for command in ["describe", "list", "health"] {
        let out = erpc(&[command, "--help"], "").await;
        let help = stdout(&out)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            help.contains(&format!("Default: the client's ({default} s)")),
            "{command}: {help}"
        );
    }
}

#[tokio::test]
async fn schemes_are_named_from_the_build_and_mem_is_in_process_only() {
    let out = erpc(&["call", "http://127.0.0.1:1", "Shop.price", "{}"], "").await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "(erpc speaks tcp://, unix://, tls://, ws://, wss://, quic://, udp:// and kcp:// addresses)"
        ),
        "{}",
        stderr(&out)
    );
    let in_process = "mem://shop is an in-process address: only the process serving it can dial it";
    for args in [
        &["call", "mem://shop", "Shop.price", "{}"][..],
        &["describe", "mem://shop"],
        &["list", "mem://shop"],
        &["list", "--center", "mem://center"],
        &[
            "call",
            "--center",
            "mem://center",
            "Shop",
            "Shop.price",
            "{}",
        ],
    ] {
        let out = erpc(args, "").await;
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        let said = stderr(&out).replace("mem://center", "mem://shop");
        assert!(said.contains(in_process), "{args:?}: {said}");
    }
    // health: bad arguments are its 1.
    fails_saying(&["health", "mem://shop"], 1, in_process).await;
    // A missing scheme's hint offers what erpc can dial, not mem://.
    fails_saying(
        &["list", "--center", "127.0.0.1:1"],
        2,
        "address \"127.0.0.1:1\" has no scheme: write it as tcp://host:port or unix:///path\n",
    )
    .await;
}

#[tokio::test]
async fn a_bad_service_name_at_a_center_is_bad_input_and_a_server_is_not_a_center() {
    let (registry, c) = center().await;
    let said = "service name \"bad/name\" contains '/'";
    fails_saying(&["list", "--center", &c, "bad/name"], 2, said).await;
    fails_saying(
        &["call", "--center", &c, "bad/name", "Shop.price", "{}"],
        2,
        said,
    )
    .await;
    let out = erpc(&["watch", "--center", &c, "bad/name"], "").await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains(said), "{}", stderr(&out));

    // A plain server given as the center: the failure says that it is not one.
    let (server, addr) = shop(None).await;
    fails_saying(
        &["list", "--center", &addr],
        1,
        &format!("{addr} is not a registry center (is it a server? `erpc list {addr}` lists its services)"),
    )
    .await;
    server.shutdown().await;
    registry.shutdown().await;
}

#[tokio::test]
async fn usage_lines_say_what_the_arguments_are() {
    let out = erpc(&["list", "--help"], "").await;
    assert!(
        stdout(&out).contains(
            "Usage: erpc list [OPTIONS] ADDR [SERVICE]\n       erpc list [OPTIONS] [--center ADDR] [SERVICE]"
        ),
        "{}",
        stdout(&out)
    );
    let out = erpc(&["bench", "--help"], "").await;
    let help = stdout(&out);
    assert!(
        help.contains("[REQUEST]  The request every call sends, as JSON"),
        "{help}"
    );
    assert!(!help.contains("streams, JSON lines"), "{help}");
}

/// Through the center, instances none can dial: the failure says why for each (README:
/// "says why for each, and nothing about a retry"), not the last attempt's alone.
#[tokio::test]
async fn instances_none_can_dial_are_each_named_with_their_reason() {
    // Ports 1–3: nobody listens there (a port freed after binding port 0 could be reused).
    let dead = [
        "tcp://127.0.0.1:1",
        "tcp://127.0.0.1:2",
        "tcp://127.0.0.1:3",
    ];
    let (center, c) = center_listing(&dead).await;
    let order = r#"{"item":"x","qty":2}"#;
    let said = fails_saying(
        &["call", "--center", &c, "Shop", "Shop.price", order],
        1,
        "unavailable: no instance of \"Shop\" is reachable: cannot connect to ",
    )
    .await;
    for addr in dead {
        assert!(
            said.contains(&format!("cannot connect to {addr}: Connection refused")),
            "{addr}: {said}"
        );
    }
    assert!(!said.contains("retrying"), "{said}");
    center.shutdown().await;
}
