//! The gateway over real HTTP (ureq, a real client on a real socket) in front of real erpc
//! servers (TCP), found at an address or through a real registry center.

use std::sync::Arc;
use std::time::{Duration, Instant};

use erpc::{Code, Context, ServerStream, Status, Streaming};
use erpc_center::store::memory::MemoryStore;
use erpc_center::{CenterConfig, CenterImpl, CenterRegistry, CenterServer, Instance};
use erpc_core::discovery::Discover;
use erpc_gateway::cors::{AllowOrigin, CorsLayer};
use erpc_gateway::{Gateway, GatewayServer, HeaderName, Upstream};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Notify;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Order {
    item: String,
    qty: u32,
}

#[erpc::service]
pub trait Shop {
    #[idempotent]
    async fn price(&self, order: Order) -> Result<u64, Status>;
    /// The metadata the call arrived with, as `[key, value]` pairs.
    async fn seen(&self, cx: Context) -> Result<Vec<(String, String)>, Status>;
    /// Fails with the code numbered `code`; `resource_exhausted` carries a 1.5 s retry hint.
    async fn fail(&self, code: u8) -> Result<u64, Status>;
    /// Sleeps `ms`, then answers the milliseconds its deadline had left when it started.
    async fn slow(&self, cx: Context, ms: u64) -> Result<u64, Status>;
    /// 0..n, then `data_loss` if `fail`.
    async fn count(&self, n: u64, fail: bool) -> Result<ServerStream<u64>, Status>;
    /// "first", then waits for the test's go, then "second".
    async fn held(&self) -> Result<ServerStream<String>, Status>;
    /// Nothing until the test's go, then "late".
    async fn quiet(&self) -> Result<ServerStream<String>, Status>;
    async fn sum(&self, numbers: Streaming<u64>) -> Result<u64, Status>;
    #[oneway]
    async fn note(&self, text: String);
}

#[derive(Clone, Default)]
struct ShopImpl {
    go: Arc<Notify>,
    notes: Arc<Notify>,
    /// `price` answers `unavailable` (an instance that is going away).
    draining: bool,
}

impl Shop for ShopImpl {
    async fn price(&self, order: Order) -> Result<u64, Status> {
        if self.draining {
            return Err(Status::unavailable("draining"));
        }
        Ok(u64::from(order.qty) * 3)
    }
    async fn seen(&self, cx: Context) -> Result<Vec<(String, String)>, Status> {
        Ok(cx
            .metadata()
            .iter()
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v).into_owned()))
            .collect())
    }
    async fn fail(&self, code: u8) -> Result<u64, Status> {
        let status = Status::new(Code::from_u8(code), format!("failed with {code}"));
        if status.code() == Code::ResourceExhausted {
            return Err(status.with_retry_after(Duration::from_millis(1500)));
        }
        Err(status)
    }
    async fn slow(&self, cx: Context, ms: u64) -> Result<u64, Status> {
        let left = cx.remaining().as_millis() as u64;
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(left)
    }
    async fn count(&self, n: u64, fail: bool) -> Result<ServerStream<u64>, Status> {
        let numbers = futures_util::stream::iter((0..n).map(Ok));
        let end = fail.then(|| Err(Status::data_loss("the tape ran out")));
        Ok(ServerStream::new(
            numbers.chain(futures_util::stream::iter(end)),
        ))
    }
    async fn held(&self) -> Result<ServerStream<String>, Status> {
        let go = self.go.clone();
        let second = async move {
            go.notified().await;
            Ok("second".to_owned())
        };
        Ok(ServerStream::new(
            futures_util::stream::iter([Ok("first".to_owned())])
                .chain(futures_util::stream::once(second)),
        ))
    }
    async fn quiet(&self) -> Result<ServerStream<String>, Status> {
        let go = self.go.clone();
        let late = async move {
            go.notified().await;
            Ok("late".to_owned())
        };
        Ok(ServerStream::new(futures_util::stream::once(late)))
    }
    async fn sum(&self, numbers: Streaming<u64>) -> Result<u64, Status> {
        let all: Vec<Result<u64, Status>> = numbers.collect().await;
        all.into_iter().sum()
    }
    async fn note(&self, _text: String) {
        self.notes.notify_one();
    }
}

/// The shop on TCP, registered at the center if given, with the weight given.
async fn shop(shop: ShopImpl, center: Option<(&str, u32)>) -> erpc::ServerHandle {
    let mut builder = erpc::Server::builder().add_service(ShopServer::new(shop));
    if let Some((center, weight)) = center {
        let registry = Arc::new(CenterRegistry::new([center]).expect("center address"));
        let mut template = Instance::new("Shop", "", "");
        template.addrs.clear();
        template.weight = weight;
        builder = builder.register(registry, template);
    }
    builder
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("shop serves")
}

/// A gateway to one shop at its address, allowing `x-user`, bodies up to 1 KiB, CORS for
/// `https://app.example`.
async fn gateway_to(addr: &str) -> GatewayServer {
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(["https://app.example"
            .parse()
            .expect("origin")]))
        .allow_methods([erpc_gateway::http::Method::POST])
        .allow_headers([
            HeaderName::from_static("content-type"),
            HeaderName::from_static("x-user"),
        ]);
    Gateway::builder(Upstream::Address(addr.to_owned()))
        .allow_header(HeaderName::from_static("x-user"))
        .max_body(1024)
        .cors(cors)
        .build()
        .expect("gateway")
        .serve("127.0.0.1:0")
        .await
        .expect("gateway listens")
}

/// Refuses every call — the built-in reflection service's too — without `x-user`.
struct RequireUser;

#[async_trait::async_trait]
impl erpc::Middleware for RequireUser {
    async fn call(
        &self,
        request: erpc::Request,
        next: erpc::Next<'_>,
    ) -> Result<erpc::Response, Status> {
        match request.context().metadata().get_str("x-user") {
            Some(_) => next.run(request).await,
            None => Err(Status::unauthenticated("who are you?")),
        }
    }
}

/// A shop and a gateway to it ([`gateway_to`]).
async fn shop_and_gateway(shop_impl: ShopImpl) -> (erpc::ServerHandle, GatewayServer) {
    let server = shop(shop_impl, None).await;
    let gateway = gateway_to(&server.local_addr().to_string()).await;
    (server, gateway)
}

/// `path` at `gateway`.
fn url_of(gateway: &GatewayServer, path: &str) -> String {
    format!("http://{}{path}", gateway.local_addr())
}

/// An HTTP answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }
}

fn answer(response: ureq::Response) -> Answer {
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .map(|name| {
            let value = response.header(&name).unwrap_or("").to_owned();
            (name, value)
        })
        .collect();
    let body = response.into_string().expect("a body");
    Answer {
        status,
        headers,
        body,
    }
}

/// `method url` with `headers` and `body`, over a real connection (ureq, on the blocking
/// pool), within 60 s.
async fn http(method: &str, url: String, headers: &[(&str, &str)], body: Option<&str>) -> Answer {
    let (method, body) = (method.to_owned(), body.map(str::to_owned));
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let request = tokio::task::spawn_blocking(move || {
        let mut request = ureq::request(&method, &url).timeout(Duration::from_secs(60));
        for (k, v) in &headers {
            request = request.set(k, v);
        }
        let sent = match body {
            Some(body) => request.send_string(&body),
            None => request.call(),
        };
        match sent {
            Ok(response) | Err(ureq::Error::Status(_, response)) => answer(response),
            Err(e) => panic!("{method} {url}: {e}"),
        }
    });
    request.await.expect("the request ran")
}

async fn post(gateway: &GatewayServer, path: &str, body: &str) -> Answer {
    http("POST", url_of(gateway, path), &[], Some(body)).await
}

#[tokio::test]
async fn unary_calls_answer_json_and_errors_map_to_http_statuses() {
    let (server, gateway) = shop_and_gateway(ShopImpl::default()).await;

    let ok = post(&gateway, "/Shop/price", r#"{"item":"tea","qty":4}"#).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.header("content-type"), Some("application/json"));
    assert_eq!(ok.json(), json!(12));

    // Every erpc code, answered as grpc-gateway answers it, with the code and message.
    let table = [
        (1, 499),
        (2, 500),
        (3, 400),
        (4, 504),
        (5, 404),
        (6, 409),
        (7, 403),
        (8, 429),
        (9, 400),
        (10, 409),
        (11, 400),
        (12, 501),
        (13, 500),
        (14, 503),
        (15, 500),
        (16, 401),
    ];
    for (code, http_status) in table {
        let failed = post(&gateway, "/Shop/fail", &code.to_string()).await;
        assert_eq!(failed.status, http_status, "code {code}: {failed:?}");
        let name = Code::from_u8(code).as_str();
        assert_eq!(
            failed.json(),
            json!({"code": name, "message": format!("failed with {code}")})
        );
        // The retry hint (1.5 s) is Retry-After in whole seconds, rounded up.
        let retry_after = (code == 8).then_some("2");
        assert_eq!(failed.header("retry-after"), retry_after, "code {code}");
    }

    // A oneway call: 202, no body, and the server got it.
    let notes = ShopImpl::default();
    let (noted, other) = (notes.notes.clone(), shop(notes, None).await);
    let to_other = gateway_to(&other.local_addr().to_string()).await;
    let sent = post(&to_other, "/Shop/note", r#""hello""#).await;
    assert_eq!((sent.status, sent.body.as_str()), (202, ""), "{sent:?}");
    tokio::time::timeout(Duration::from_secs(30), noted.notified())
        .await
        .expect("the oneway call arrived");
    server.shutdown().await;
    other.shutdown().await;
}

#[tokio::test]
async fn bad_input_is_answered_with_what_is_wrong() {
    let (server, gateway) = shop_and_gateway(ShopImpl::default()).await;

    let bad = post(&gateway, "/Shop/price", r#"{"item": tea}"#).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["code"], "invalid_argument");
    let message = bad.json()["message"]
        .as_str()
        .expect("a message")
        .to_owned();
    assert!(
        message.contains("not JSON") && message.contains("line 1 column 11"),
        "{message}"
    );

    // A JSON body the method cannot take: the server's invalid_argument, as a 400.
    let wrong = post(&gateway, "/Shop/price", r#"{"item":"tea"}"#).await;
    assert_eq!(wrong.status, 400, "{wrong:?}");

    let unknown = post(&gateway, "/Shp/price", "{}").await;
    assert_eq!(unknown.status, 404);
    let message = unknown.json()["message"]
        .as_str()
        .expect("a message")
        .to_owned();
    assert!(
        message.contains("\"Shp\"") && message.contains("Shop"),
        "{message}"
    );

    let unknown = post(&gateway, "/Shop/prize", "{}").await;
    assert_eq!(unknown.status, 404);
    let message = unknown.json()["message"]
        .as_str()
        .expect("a message")
        .to_owned();
    assert!(
        message.contains("price, seen, fail, slow, count, held, quiet, sum, note"),
        "{message}"
    );

    // Over the 1 KiB limit: 413, before anything is called.
    let big = format!("{{\"item\":\"{}\",\"qty\":1}}", "x".repeat(2048));
    let refused = post(&gateway, "/Shop/price", &big).await;
    assert_eq!(refused.status, 413, "{refused:?}");
    assert_eq!(
        refused.json(),
        json!({"code": "resource_exhausted", "message": "the request body is over the gateway's limit of 1024 bytes"})
    );
    // Just under it is called.
    let fits = format!("{{\"item\":\"{}\",\"qty\":1}}", "x".repeat(900));
    assert_eq!(post(&gateway, "/Shop/price", &fits).await.status, 200);

    // A client stream cannot be called over HTTP: 501 saying so.
    let stream = post(&gateway, "/Shop/sum", "1").await;
    assert_eq!(stream.status, 501);
    assert!(stream.body.contains("client stream"), "{stream:?}");

    // Not a route; not POST.
    let nowhere = post(&gateway, "/Shop/price/extra", "{}").await;
    assert_eq!(nowhere.status, 404);
    assert_eq!(nowhere.json()["code"], "not_found");
    let get = http("GET", url_of(&gateway, "/Shop/price"), &[], None).await;
    assert_eq!(get.status, 405);
    server.shutdown().await;
}

#[tokio::test]
async fn allowed_headers_become_metadata_and_the_timeout_header_the_deadline() {
    let (server, gateway) = shop_and_gateway(ShopImpl::default()).await;
    let url = |path: &str| url_of(&gateway, path);

    let headers = [
        ("X-User", "ann"),
        ("X-Secret", "hunter2"),
        ("Cookie", "id=1"),
    ];
    let seen = http("POST", url("/Shop/seen"), &headers, Some("")).await;
    assert_eq!(seen.status, 200, "{seen:?}");
    let pairs = seen.json();
    assert!(
        pairs
            .as_array()
            .expect("pairs")
            .contains(&json!(["x-user", "ann"])),
        "{pairs}"
    );
    for unsent in ["x-secret", "cookie"] {
        assert!(!seen.body.contains(unsent), "{unsent} was sent: {pairs}");
    }

    // A server that authenticates every call: the allowed headers go with the reflection
    // call the gateway makes first, too.
    let guarded = erpc::Server::builder()
        .middleware(RequireUser)
        .add_service(ShopServer::new(ShopImpl::default()))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("serves");
    let to_guarded = gateway_to(&guarded.local_addr().to_string()).await;
    let guarded_url = url_of(&to_guarded, "/Shop/price");
    let order = r#"{"item":"tea","qty":1}"#;
    let anonymous = http("POST", guarded_url.clone(), &[], Some(order)).await;
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
    let ann = http("POST", guarded_url, &[("x-user", "ann")], Some(order)).await;
    assert_eq!((ann.status, ann.json()), (200, json!(3)), "{ann:?}");
    guarded.shutdown().await;

    // The timeout header is the handler's deadline...
    let headers = [("x-erpc-timeout", "3s")];
    let left = http("POST", url("/Shop/slow"), &headers, Some("0")).await;
    assert_eq!(left.status, 200, "{left:?}");
    let left = left.json().as_u64().expect("milliseconds");
    assert!(left <= 3000 && left > 0, "{left} ms left of 3 s");

    // ...and a call past it is a 504, answered when the deadline passes, not when the
    // handler would have finished.
    let started = Instant::now();
    let headers = [("x-erpc-timeout", "300ms")];
    let late = http("POST", url("/Shop/slow"), &headers, Some("20000")).await;
    assert_eq!(late.status, 504, "{late:?}");
    assert_eq!(late.json()["code"], "deadline_exceeded");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );

    // A timeout that is not one.
    let headers = [("x-erpc-timeout", "soon")];
    let bad = http("POST", url("/Shop/slow"), &headers, Some("0")).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("x-erpc-timeout"), "{bad:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn server_streams_come_as_ndjson_or_server_sent_events() {
    let shop_impl = ShopImpl::default();
    let go = shop_impl.go.clone();
    let (server, gateway) = shop_and_gateway(shop_impl).await;
    let url = |path: &str| url_of(&gateway, path);

    let lines = post(&gateway, "/Shop/count", "[3, false]").await;
    assert_eq!(lines.status, 200);
    assert_eq!(lines.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(
        lines.body,
        "{\"result\":0}\n{\"result\":1}\n{\"result\":2}\n"
    );
    // A failure after messages: the last line.
    let failed = post(&gateway, "/Shop/count", "[1, true]").await;
    assert_eq!(
        failed.body,
        "{\"result\":0}\n{\"error\":{\"code\":\"data_loss\",\"message\":\"the tape ran out\"}}\n"
    );

    let sse = [("accept", "text/event-stream")];
    let events = http("POST", url("/Shop/count"), &sse, Some("[2, true]")).await;
    assert_eq!(events.status, 200);
    assert_eq!(events.header("content-type"), Some("text/event-stream"));
    assert_eq!(
        events.body,
        "data: 0\n\ndata: 1\n\nevent: error\ndata: {\"code\":\"data_loss\",\"message\":\"the tape ran out\"}\n\n"
    );

    // Messages are sent as they come: the first arrives while the stream is still open.
    let url = url("/Shop/held");
    let (first_tx, first_rx) = tokio::sync::oneshot::channel();
    let reading = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let response = ureq::post(&url)
            .timeout(Duration::from_secs(60))
            .send_string("")
            .expect("200");
        let mut lines = std::io::BufReader::new(response.into_reader()).lines();
        let first = lines.next().expect("a line").expect("readable");
        let _ = first_tx.send(first);
        lines.map(|l| l.expect("readable")).collect::<Vec<String>>()
    });
    let first = tokio::time::timeout(Duration::from_secs(30), first_rx)
        .await
        .expect("the first message before the stream ends")
        .expect("sent");
    assert_eq!(first, r#"{"result":"first"}"#);
    go.notify_one();
    assert_eq!(reading.await.expect("read"), [r#"{"result":"second"}"#]);
    server.shutdown().await;
}

/// `GatewayBuilder::explain` rewords every failure a caller sees the same way: a JSON error
/// answer, and a stream's last item (the NDJSON error line, the SSE error event) alike.
#[tokio::test]
async fn a_stream_error_is_worded_as_the_answered_errors_are() {
    let server = shop(ShopImpl::default(), None).await;
    let gateway = Gateway::builder(Upstream::Address(server.local_addr().to_string()))
        .explain(|message| message.replace("tape", "ribbon"))
        .build()
        .expect("gateway")
        .serve("127.0.0.1:0")
        .await
        .expect("gateway listens");
    // Failing before its first message: answered as a unary call.
    let early = post(&gateway, "/Shop/count", "[0, true]").await;
    assert_json_failure(&early, 500, "data_loss");
    assert_eq!(early.json()["message"], "the ribbon ran out", "{early:?}");
    // Failing after one: in the body, in the same words.
    let late = post(&gateway, "/Shop/count", "[1, true]").await;
    assert_eq!(
        late.body,
        "{\"result\":0}\n{\"error\":{\"code\":\"data_loss\",\"message\":\"the ribbon ran out\"}}\n"
    );
    let sse = [("accept", "text/event-stream")];
    let events = http(
        "POST",
        url_of(&gateway, "/Shop/count"),
        &sse,
        Some("[1, true]"),
    )
    .await;
    assert_eq!(
        events.body,
        "data: 0\n\nevent: error\ndata: {\"code\":\"data_loss\",\"message\":\"the ribbon ran out\"}\n\n"
    );
    server.shutdown().await;
}

/// Refuses `Shop.price` and `Shop.count` — not the reflection lookups before them — from
/// `x-user: mallory`.
struct NotMallory;

impl erpc::server::Admission for NotMallory {
    fn admit(&self, call: &erpc::server::CallHead<'_>) -> Result<erpc::server::Admitted, Status> {
        let refused = matches!(call.method, "price" | "count")
            && call.metadata.get_str("x-user") == Some("mallory");
        match refused {
            true => Err(Status::permission_denied("not you, mallory")),
            false => Ok(erpc::server::Admitted::now()),
        }
    }
}

/// A server stream its server refuses before it starts — a request that does not decode, or
/// metadata it refuses — or fails before its first message is answered as a unary call is:
/// the HTTP status of its code and the JSON error body, not a 200 whose only line is the
/// error; NDJSON and server-sent events alike. A failure after the first message stays the
/// body's last item.
#[tokio::test]
async fn a_stream_failing_before_it_starts_is_answered_as_a_unary_call() {
    let server = erpc::Server::builder()
        .admission(NotMallory)
        .add_service(ShopServer::new(ShopImpl::default()))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("shop serves");
    // A long open wait: a loaded machine's refusal still comes within it.
    let gateway = Gateway::builder(Upstream::Address(server.local_addr().to_string()))
        .allow_header(HeaderName::from_static("x-user"))
        .stream_open_wait(Duration::from_secs(20))
        .build()
        .expect("gateway")
        .serve("127.0.0.1:0")
        .await
        .expect("gateway listens");
    let url = |path: &str| url_of(&gateway, path);
    let sse = ("accept", "text/event-stream");

    // The unary route's answers, for comparison.
    let unary = post(&gateway, "/Shop/price", r#"{"item":"tea"}"#).await;
    assert_json_failure(&unary, 400, "invalid_argument");
    let mallory = ("x-user", "mallory");
    let order = r#"{"item":"tea","qty":1}"#;
    let unary = http("POST", url("/Shop/price"), &[mallory], Some(order)).await;
    assert_json_failure(&unary, 403, "permission_denied");

    for accept in [None, Some(sse)] {
        let with = |header: Option<(&'static str, &'static str)>| {
            accept.into_iter().chain(header).collect::<Vec<_>>()
        };
        // Not the method's request ((u64, bool)): the server cannot decode it.
        let refused = http("POST", url("/Shop/count"), &with(None), Some(r#"{"n":3}"#)).await;
        assert_json_failure(&refused, 400, "invalid_argument");
        assert!(
            refused.json()["message"]
                .as_str()
                .is_some_and(|m| m.contains("could not decode the request of Shop.count")),
            "{refused:?}"
        );
        // Metadata the server refuses.
        let refused = http(
            "POST",
            url("/Shop/count"),
            &with(Some(mallory)),
            Some("[1, false]"),
        )
        .await;
        assert_json_failure(&refused, 403, "permission_denied");
        // Failed before its first message.
        let failed = http("POST", url("/Shop/count"), &with(None), Some("[0, true]")).await;
        assert_json_failure(&failed, 500, "data_loss");
        // After it: in the body, last.
        let late = http("POST", url("/Shop/count"), &with(None), Some("[1, true]")).await;
        assert_eq!(late.status, 200, "{late:?}");
        assert!(late.body.contains("the tape ran out"), "{late:?}");
        // No message at all: an empty stream.
        let empty = http("POST", url("/Shop/count"), &with(None), Some("[0, false]")).await;
        assert_eq!((empty.status, empty.body.as_str()), (200, ""), "{empty:?}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn cors_preflights_health_and_metrics() {
    let (server, gateway) = shop_and_gateway(ShopImpl::default()).await;
    let url = |path: &str| url_of(&gateway, path);

    let preflight = [
        ("origin", "https://app.example"),
        ("access-control-request-method", "POST"),
        ("access-control-request-headers", "content-type, x-user"),
    ];
    let allowed = http("OPTIONS", url("/Shop/price"), &preflight, None).await;
    assert_eq!(allowed.status, 200, "{allowed:?}");
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(allowed.header("access-control-allow-methods"), Some("POST"));
    let headers = allowed.header("access-control-allow-headers").unwrap_or("");
    assert!(headers.contains("x-user"), "{allowed:?}");
    // Another origin gets no permission.
    let elsewhere = [
        ("origin", "https://evil.example"),
        preflight[1],
        preflight[2],
    ];
    let denied = http("OPTIONS", url("/Shop/price"), &elsewhere, None).await;
    assert_eq!(
        denied.header("access-control-allow-origin"),
        None,
        "{denied:?}"
    );
    // The call itself carries the origin's permission.
    let origin = [("origin", "https://app.example")];
    let call = http(
        "POST",
        url("/Shop/price"),
        &origin,
        Some(r#"{"item":"a","qty":1}"#),
    )
    .await;
    assert_eq!(
        call.header("access-control-allow-origin"),
        Some("https://app.example")
    );

    let health = http("GET", url("/healthz"), &[], None).await;
    assert_eq!(
        (health.status, health.json()),
        (200, json!({"status": "SERVING"}))
    );

    let metrics = http("GET", url("/metrics"), &[], None).await;
    assert_eq!(metrics.status, 200);
    let line =
        r#"erpc_calls_handled_total{side="client",service="Shop",method="price",code="ok"} 1"#;
    assert!(metrics.body.contains(line), "{}", metrics.body);
    // The gateway's own counter: the three preflights and calls (200) and /healthz above.
    let line = r#"erpc_gateway_requests_total{status="200"} 4"#;
    assert!(metrics.body.contains(line), "{}", metrics.body);
    server.shutdown().await;
}

#[tokio::test]
async fn services_are_found_through_the_center_balanced_and_retried() {
    let center = CenterImpl::open(Box::new(MemoryStore), CenterConfig::default()).expect("opens");
    let center = erpc::Server::builder()
        .add_service(CenterServer::new(center))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("center serves");
    let center_addr = center.local_addr().to_string();
    let server = shop(ShopImpl::default(), Some((&center_addr, 100))).await;
    // A second instance, whose calls fail with `unavailable`, registered with weight 0.
    let draining = ShopImpl {
        draining: true,
        ..ShopImpl::default()
    };
    let draining = shop(draining, Some((&center_addr, 0))).await;
    let registry = CenterRegistry::new([center_addr.as_str()]).expect("center address");
    let mut endpoints = registry.subscribe("Shop").await.expect("subscribed");
    while endpoints.borrow_and_update().len() < 2 {
        tokio::time::timeout(Duration::from_secs(30), endpoints.changed())
            .await
            .expect("both instances registered in time")
            .expect("the center is followed");
    }

    let gateway = Gateway::builder(Upstream::Center(center_addr.clone()))
        .client(|| {
            use erpc_core::client::{FailMode, FailModes};
            let modes = erpc_core::per_method::PerMethod::new(FailMode::Failover { retries: 2 });
            erpc_core::Client::builder().layer(FailModes::new(modes))
        })
        .build()
        .expect("gateway")
        .serve("127.0.0.1:0")
        .await
        .expect("gateway listens");

    // Round-robin sends every other call to the draining instance; `price` is idempotent
    // (the gateway learns it from reflection and tells the client), so failover resends
    // them: every call is answered.
    let price = |gateway: &GatewayServer, qty: u32| {
        let body = format!(r#"{{"item":"tea","qty":{qty}}}"#);
        let url = url_of(gateway, "/Shop/price");
        async move { http("POST", url, &[], Some(&body)).await }
    };
    for qty in 1..=8 {
        let ok = price(&gateway, qty).await;
        assert_eq!((ok.status, ok.json()), (200, json!(qty * 3)), "{ok:?}");
    }
    // A weighted balancer and no retries: the weight-0 instance gets no call.
    let weighted = Gateway::builder(Upstream::Center(center_addr.clone()))
        .balancer(|| Arc::new(erpc_core::discovery::Weighted::default()))
        .build()
        .expect("gateway")
        .serve("127.0.0.1:0")
        .await
        .expect("gateway listens");
    for qty in 1..=8 {
        let ok = price(&weighted, qty).await;
        assert_eq!((ok.status, ok.json()), (200, json!(qty * 3)), "{ok:?}");
    }
    let unknown = post(&gateway, "/Nope/price", "{}").await;
    assert_eq!(unknown.status, 404);
    let message = unknown.json()["message"]
        .as_str()
        .expect("a message")
        .to_owned();
    assert!(
        message.contains("\"Nope\"") && message.contains("registered: Shop"),
        "{message}"
    );
    server.shutdown().await;
    draining.shutdown().await;
    center.shutdown().await;
}

/// The rest of a child's stderr, line by line.
type StderrLines = tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>;

/// The `erpc-gateway` binary, started with `args`; the address it listens on, from its
/// first stderr line (`erpc-gateway on http://ADDR, calling …`), and the lines after it.
async fn gateway_process(args: &[&str]) -> (tokio::process::Child, String, StderrLines) {
    gateway_process_env(args, &[]).await
}

/// [`gateway_process`] with the variables `env` set.
async fn gateway_process_env(
    args: &[&str],
    env: &[(&str, &str)],
) -> (tokio::process::Child, String, StderrLines) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_erpc-gateway"))
        .args(args)
        .envs(env.iter().copied())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("erpc-gateway starts");
    let stderr = child.stderr.take().expect("piped");
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("a line in time")
        .expect("readable")
        .expect("a line");
    let addr = line
        .strip_prefix("erpc-gateway on http://")
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (child, addr, lines)
}

#[tokio::test]
async fn the_binary_serves_with_its_flags_and_refuses_bad_ones() {
    let server = shop(ShopImpl::default(), None).await;
    let target = server.local_addr().to_string();
    let args = [
        "--target",
        &target,
        "--listen",
        "127.0.0.1:0",
        "-H",
        "X-User",
        "--cors-origin",
        "https://app.example",
        "--max-body",
        "64B",
        "--drain",
        "1s",
    ];
    let (mut child, addr, mut stderr) = gateway_process(&args).await;
    let url = |path: &str| format!("http://{addr}{path}");

    let headers = [("x-user", "ann"), ("x-other", "no")];
    let seen = http("POST", url("/Shop/seen"), &headers, None).await;
    assert_eq!(seen.json(), json!([["x-user", "ann"]]), "{seen:?}");
    let big = format!("\"{}\"", "x".repeat(100));
    let refused = http("POST", url("/Shop/seen"), &[], Some(&big)).await;
    assert_eq!(refused.status, 413);
    let preflight = [
        ("origin", "https://app.example"),
        ("access-control-request-method", "POST"),
        ("access-control-request-headers", "x-user, x-erpc-timeout"),
    ];
    let allowed = http("OPTIONS", url("/Shop/seen"), &preflight, None).await;
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example"),
        "{allowed:?}"
    );

    // SIGTERM while a stream is open (its second message never comes): the gateway waits
    // --drain for it, then stops, exit 0.
    let held = url("/Shop/held");
    let (first_tx, first_rx) = tokio::sync::oneshot::channel();
    let reading = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let response = ureq::post(&held)
            .timeout(Duration::from_secs(60))
            .send_string("")
            .expect("200");
        let mut lines = std::io::BufReader::new(response.into_reader()).lines();
        let _ = first_tx.send(lines.next());
        // Ends when the gateway cuts the stream (stopping on an error, which a `Lines`
        // iterator would repeat for ever).
        lines.map_while(Result::ok).collect::<Vec<String>>()
    });
    let first = tokio::time::timeout(Duration::from_secs(30), first_rx)
        .await
        .expect("the first message")
        .expect("sent");
    assert!(matches!(first, Some(Ok(_))), "{first:?}");
    let pid = child.id().expect("running").to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill runs");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("stops in time")
        .expect("waited");
    assert_eq!(status.code(), Some(0));
    let said = stderr.next_line().await.expect("readable");
    assert_eq!(
        said.as_deref(),
        Some("erpc-gateway: requests still open after 1s; stopping")
    );
    // The cut stream's last line says why it ended.
    let rest = reading.await.expect("the stream's reader ended");
    let last: Value = serde_json::from_str(rest.last().expect("a final line")).expect("JSON");
    assert_eq!(last["error"]["code"], "unavailable", "{rest:?}");
    assert!(
        last["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("shutting down")),
        "{rest:?}"
    );

    // Bad flags: exit 2, naming the problem.
    for (args, says) in [
        (vec!["--listen", "127.0.0.1:0"], "--target"),
        (
            vec!["--target", &target, "-H", "bad header"],
            "metadata keys are 1–255 characters of lowercase a-z",
        ),
        (vec!["--target", &target, "--max-body", "0"], "--max-body"),
        // An unknown scheme: the schemes the binaries speak, as `erpc` says them.
        (
            vec!["--target", "http://127.0.0.1:1"],
            "(erpc speaks tcp://",
        ),
        (
            vec!["--center", "http://127.0.0.1:1"],
            "(erpc speaks tcp://",
        ),
        (
            vec!["--target", &target, "--cors-origin", "not a url"],
            "--cors-origin \"not a url\" is not an origin",
        ),
        (vec!["--target", "nowhere:1"], "nowhere"),
        (
            vec!["--center", &target, "--balance", "nope"],
            "round-robin",
        ),
        (
            vec!["--center", &target, "--center-token", " "],
            "the center's token is empty",
        ),
        (vec!["--target", &target, "--center-token", "t"], "--center"),
        (
            vec!["--target", &target, "--max-body", "1x"],
            "a size in bytes, e.g. 1048576 or 1MiB",
        ),
        // A header whose name cannot be a metadata key.
        (
            vec!["--target", &target, "-H", "x!user"],
            "metadata keys are 1–255 characters of lowercase a-z",
        ),
        (
            vec!["--target", "tls://127.0.0.1:1"],
            "give --cacert PEM (the CA that signed its certificate), or --insecure",
        ),
        (
            vec![
                "--center",
                &target,
                "--center-token-file",
                "/nonexistent/token",
            ],
            "--center-token-file /nonexistent/token",
        ),
        // A data center name the center would refuse for its own --dc.
        (
            vec!["--center", &target, "--dc", "eu/west"],
            "--dc \"eu/west\" contains '/': a data center name is one path segment",
        ),
        (
            vec!["--center", &target, "--dc", " "],
            "--dc \" \" is blank",
        ),
        // A zone is checked as a data center is.
        (
            vec!["--center", &target, "--zone", "a\nb"],
            "--zone \"a\\nb\" contains a control character",
        ),
        // Only the process serving a mem:// address can dial it; a gateway is another process.
        (
            vec!["--target", "mem://shop"],
            "--target mem://shop: mem://shop is an in-process address: only the process serving it can dial it; erpc speaks tcp://",
        ),
        (
            vec!["--center", "mem://center"],
            "--center mem://center: mem://center is an in-process address",
        ),
        // Zero would refuse every caller's timeout.
        (
            vec!["--target", &target, "--max-timeout", "0s"],
            "invalid value '0s' for '--max-timeout <MAX_TIMEOUT>': must be more than zero",
        ),
    ] {
        let stderr = refused_at_start(&args).await;
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    // Given by a variable, a bad value is named by it.
    let from_env = |var: &'static str, value: &'static str, args: Vec<String>| async move {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_erpc-gateway"))
            .args(&args)
            .env(var, value)
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(Duration::from_secs(30), out)
            .await
            .unwrap_or_else(|_| panic!("{var}={value:?}: still running after 30 s"))
            .expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let center_args = vec!["--center".to_owned(), target.clone()];
    let (code, stderr) = from_env("ERPC_GATEWAY_DC", "eu\nwest", center_args.clone()).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(r#"ERPC_GATEWAY_DC (--dc) "eu\nwest" contains a control character"#),
        "{stderr}"
    );
    let (code, stderr) = from_env("ERPC_GATEWAY_ZONE", "z\n1", center_args.clone()).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(r#"ERPC_GATEWAY_ZONE (--zone) "z\n1" contains a control character"#),
        "{stderr}"
    );
    // The center's address from ERPC_CENTER: named by it.
    let (code, stderr) = from_env("ERPC_CENTER", "127.0.0.1:1", Vec::new()).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr
            .contains("ERPC_CENTER (--center) 127.0.0.1:1: address \"127.0.0.1:1\" has no scheme: write it as tcp://host:port or unix:///path\n"),
        "{stderr}"
    );
    let (code, stderr) = from_env("ERPC_GATEWAY_LISTEN", "nowhere", center_args).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot listen on nowhere (from ERPC_GATEWAY_LISTEN (--listen)): "),
        "{stderr}"
    );
    server.shutdown().await;
}

/// The rest of a gateway's stderr, to its end (the process stopped).
async fn read_all(mut lines: StderrLines) -> String {
    let mut all = String::new();
    while let Ok(Some(line)) = lines.next_line().await {
        all.push_str(&line);
        all.push('\n');
    }
    all
}

/// Runs `erpc-gateway args…`, asserts it exits 2 (bad arguments) within 30 s, and returns
/// its stderr. One still running then was not refused: it is killed, and that is a failure.
async fn refused_at_start(args: &[&str]) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_erpc-gateway"))
        .args(args)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), out)
        .await
        .unwrap_or_else(|_| panic!("{args:?}: still running after 30 s, not refused"))
        .expect("runs");
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {said}");
    said
}

/// Asserts the gateway at `addr` (HOST:PORT) prices an order of 2 teas: 200, `6`.
async fn assert_priced(addr: &str) {
    let order = r#"{"item":"tea","qty":2}"#;
    let ok = http(
        "POST",
        format!("http://{addr}/Shop/price"),
        &[],
        Some(order),
    )
    .await;
    assert_eq!((ok.status, ok.json()), (200, json!(6)), "{addr}: {ok:?}");
}

/// Asserts `answer` is a failure with `status` and the JSON body `{code, message}`.
fn assert_json_failure(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert_eq!(
        answer.header("content-type"),
        Some("application/json"),
        "{answer:?}"
    );
    let body = answer.json();
    assert_eq!(body["code"], code, "{answer:?}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{answer:?}"
    );
}

#[tokio::test]
async fn every_failure_of_the_gateway_has_a_json_body() {
    let (server, gateway) = shop_and_gateway(ShopImpl::default()).await;
    let url = |path: &str| url_of(&gateway, path);

    // Unknown paths, at any depth but a method's.
    for path in ["/", "/nope", "/Shop/price/extra", "/a/b/c/d"] {
        let nowhere = http("GET", url(path), &[], None).await;
        assert_json_failure(&nowhere, 404, "not_found");
        assert!(nowhere.body.contains(path), "{nowhere:?}");
        let nowhere = http("POST", url(path), &[], Some("{}")).await;
        assert_json_failure(&nowhere, 404, "not_found");
    }
    // A method's path: an unknown service (POST), a route asked with another method (GET).
    let nowhere = post(&gateway, "/api/nope", "{}").await;
    assert_json_failure(&nowhere, 404, "not_found");
    let message = nowhere.json()["message"].as_str().map(str::to_owned);
    assert!(
        message.is_some_and(|m| m.contains("\"api\"")),
        "{nowhere:?}"
    );
    // A route asked with another method: 405, saying which method a route takes.
    for (method, path, allow) in [
        ("GET", "/api/nope", "POST"),
        ("GET", "/Shop/price", "POST"),
        ("PUT", "/Shop/price", "POST"),
        ("DELETE", "/Shop/price", "POST"),
        ("POST", "/healthz", "GET,HEAD"),
        ("POST", "/readyz", "GET,HEAD"),
        ("PUT", "/metrics", "GET,HEAD"),
    ] {
        let body = (method != "GET").then_some("{}");
        let wrong = http(method, url(path), &[], body).await;
        assert_json_failure(&wrong, 405, "unimplemented");
        assert!(wrong.body.contains(method), "{wrong:?}");
        assert_eq!(wrong.header("allow"), Some(allow), "{method} {path}");
    }
    // A path that does not decode.
    for (path, segment) in [("/Shop/%FF", "%FF"), ("/%C3%28/price", "%C3%28")] {
        let undecodable = post(&gateway, path, "{}").await;
        assert_json_failure(&undecodable, 400, "invalid_argument");
        let message = undecodable.json()["message"].as_str().map(str::to_owned);
        assert!(
            message.is_some_and(|m| m.contains(&format!("{segment:?}")) && m.contains("UTF-8")),
            "{path}: {undecodable:?}"
        );
    }
    // A malformed percent-encoding is bad input, named — not a service called "%ZZ" (404).
    for (path, bad) in [
        ("/%ZZ/price", "%ZZ"),
        ("/Shop/pri%2", "%2"),
        ("/Sh%/price", "%"),
    ] {
        let malformed = post(&gateway, path, "{}").await;
        assert_json_failure(&malformed, 400, "invalid_argument");
        let message = malformed.json()["message"].as_str().map(str::to_owned);
        assert!(
            message
                .is_some_and(|m| m.contains(&format!("{bad:?}")) && m.contains("two hex digits")),
            "{path}: {malformed:?}"
        );
    }
    // A request of another shape: the method, direction and codec by name, no Rust type.
    let shapeless = post(&gateway, "/Shop/price", r#"{"item":"tea"}"#).await;
    assert_json_failure(&shapeless, 400, "invalid_argument");
    let message = shapeless.json()["message"].as_str().map(str::to_owned);
    assert!(
        message.as_deref().is_some_and(|m| m.contains(
            "server could not decode the request of Shop.price in json: missing field `qty`"
        ) && !m.contains("::")),
        "{shapeless:?}"
    );
    // Not JSON; over the limit; unknown service and method; a stream of requests.
    assert_json_failure(
        &post(&gateway, "/Shop/price", "{").await,
        400,
        "invalid_argument",
    );
    let big = format!("\"{}\"", "x".repeat(2048));
    assert_json_failure(
        &post(&gateway, "/Shop/price", &big).await,
        413,
        "resource_exhausted",
    );
    assert_json_failure(&post(&gateway, "/Nope/price", "{}").await, 404, "not_found");
    assert_json_failure(&post(&gateway, "/Shop/nope", "{}").await, 404, "not_found");
    assert_json_failure(
        &post(&gateway, "/Shop/sum", "1").await,
        501,
        "unimplemented",
    );
    // A timeout, a bad timeout header, a disallowed query on /readyz.
    let late = http(
        "POST",
        url("/Shop/slow"),
        &[("x-erpc-timeout", "200ms")],
        Some("20000"),
    )
    .await;
    assert_json_failure(&late, 504, "deadline_exceeded");
    let bad = http(
        "POST",
        url("/Shop/slow"),
        &[("x-erpc-timeout", "soon")],
        Some("0"),
    )
    .await;
    assert_json_failure(&bad, 400, "invalid_argument");
    let bad = http("GET", url("/readyz?verbose=1"), &[], None).await;
    assert_json_failure(&bad, 400, "invalid_argument");
    server.shutdown().await;
}

#[tokio::test]
async fn an_instance_backing_off_is_a_503_with_retry_after_and_a_readable_wait() {
    // A port nothing listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let dead = format!("tcp://{}", free.local_addr().expect("an address"));
    drop(free);
    // A redial wait of 2 to 6 s: long enough that the next request meets it.
    let gateway = Gateway::builder(Upstream::Address(dead.clone()))
        .client(|| {
            erpc_core::Client::builder().backoff(Duration::from_secs(2), Duration::from_secs(6))
        })
        .build()
        .expect("gateway")
        .serve("127.0.0.1:0")
        .await
        .expect("gateway listens");
    // The first call dials and fails; one after it meets the wait (a loaded machine may
    // take long enough between two requests that a wait passes: ask a few times).
    let mut waited = None;
    for _ in 0..10 {
        let refused = post(&gateway, "/Shop/price", r#"{"item":"tea","qty":1}"#).await;
        assert_json_failure(&refused, 503, "unavailable");
        if refused.body.contains("retrying in") {
            waited = Some(refused);
            break;
        }
    }
    let waited = waited.expect("a call met the redial wait");
    let message = waited.json()["message"]
        .as_str()
        .expect("a message")
        .to_owned();
    // "… is unreachable; retrying in 2.4 s" (or "…in 950 ms"), not "2.400123456s".
    let wait = message
        .split("retrying in ")
        .nth(1)
        .unwrap_or_else(|| panic!("{message}"));
    let (number, unit) = wait.split_once(' ').unwrap_or_else(|| panic!("{message}"));
    match unit {
        "ms" => assert!(number.parse::<u64>().is_ok(), "{message}"),
        "s" => {
            let tenths = number.split_once('.').map_or("0", |(_, t)| t);
            assert!(
                number.parse::<f64>().is_ok() && tenths.len() == 1,
                "{message}"
            );
        }
        _ => panic!("{message}"),
    }
    let retry_after: u64 = waited
        .header("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After: {waited:?}"))
        .parse()
        .expect("whole seconds");
    assert!((1..=6).contains(&retry_after), "{waited:?}");
}

/// Opens `path` on `gateway` with `headers` and an empty body; the response as soon as its
/// headers are in (within 30 s): status, content type, and a reader of the body.
async fn open_stream(
    gateway: &GatewayServer,
    path: &str,
    headers: &[(&'static str, &'static str)],
) -> (u16, String, Box<dyn std::io::Read + Send + Sync>) {
    let (url, headers) = (url_of(gateway, path), headers.to_vec());
    let opening = tokio::task::spawn_blocking(move || {
        let mut request = ureq::post(&url).timeout(Duration::from_secs(60));
        for (k, v) in headers {
            request = request.set(k, v);
        }
        let response = request.send_string("").expect("opens");
        let content_type = response.header("content-type").unwrap_or("").to_owned();
        (response.status(), content_type, response.into_reader())
    });
    tokio::time::timeout(Duration::from_secs(30), opening)
        .await
        .expect("the headers came before the stream's first message")
        .expect("ran")
}

/// The rest of `body`, read on the blocking pool.
async fn read_rest(mut body: Box<dyn std::io::Read + Send + Sync>) -> String {
    tokio::task::spawn_blocking(move || {
        let mut rest = String::new();
        // A body cut short is an error after what was read: keep what was.
        let _ = body.read_to_string(&mut rest);
        rest
    })
    .await
    .expect("read")
}

#[tokio::test]
async fn a_quiet_stream_sends_its_headers_at_once() {
    let shop_impl = ShopImpl::default();
    let go = shop_impl.go.clone();
    let (server, gateway) = shop_and_gateway(shop_impl).await;

    // The first message waits for the test: the client has the headers before it.
    let (status, content_type, body) = open_stream(&gateway, "/Shop/quiet", &[]).await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "application/x-ndjson")
    );
    go.notify_one();
    assert_eq!(read_rest(body).await, "{\"result\":\"late\"}\n");

    let sse = [("accept", "text/event-stream")];
    let (status, content_type, body) = open_stream(&gateway, "/Shop/quiet", &sse).await;
    assert_eq!((status, content_type.as_str()), (200, "text/event-stream"));
    go.notify_one();
    assert_eq!(read_rest(body).await, "data: \"late\"\n\n");
    server.shutdown().await;
}

#[tokio::test]
async fn streams_cut_by_a_drain_or_a_lost_server_end_with_an_error() {
    // The gateway's drain: a stream still open at its end gets a final error.
    let (server, gateway) = shop_and_gateway(ShopImpl::default()).await;
    let (_, _, ndjson) = open_stream(&gateway, "/Shop/held", &[]).await;
    let sse = [("accept", "text/event-stream")];
    let (_, _, events) = open_stream(&gateway, "/Shop/held", &sse).await;
    let drained = gateway
        .drain(Duration::from_millis(300))
        .await
        .expect("drained");
    assert_eq!(drained, erpc_gateway::Drained::Cut);
    let lines = read_rest(ndjson).await;
    let lines: Vec<&str> = lines.lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0], r#"{"result":"first"}"#);
    let last: Value = serde_json::from_str(lines[1]).expect("JSON");
    assert_eq!(last["error"]["code"], "unavailable", "{lines:?}");
    let events = read_rest(events).await;
    assert!(
        events.starts_with("data: \"first\"\n\nevent: error\ndata: {\"code\":\"unavailable\""),
        "{events:?}"
    );
    assert!(events.ends_with("\n\n"), "{events:?}");
    server.shutdown().await;

    // The server going away (its own shutdown, its grace short): the stream's final error.
    let shop_impl = ShopImpl::default();
    let leaving = erpc::Server::builder()
        .shutdown_grace(Duration::from_millis(200))
        .add_service(ShopServer::new(shop_impl))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("serves");
    let gateway = gateway_to(&leaving.local_addr().to_string()).await;
    let (_, _, ndjson) = open_stream(&gateway, "/Shop/held", &[]).await;
    leaving.shutdown().await;
    let lines = read_rest(ndjson).await;
    let lines: Vec<&str> = lines.lines().collect();
    assert_eq!(lines.first(), Some(&r#"{"result":"first"}"#), "{lines:?}");
    let last: Value = serde_json::from_str(lines.last().expect("a line")).expect("JSON");
    assert!(last["error"]["code"].is_string(), "{lines:?}");
}

/// A center in this process, its address; with `token`, it requires it on reads too.
async fn center(token: Option<&str>) -> (erpc::ServerHandle, String) {
    let center = CenterImpl::open(Box::new(MemoryStore), CenterConfig::default()).expect("opens");
    let mut builder = erpc::Server::builder();
    if let Some(token) = token {
        builder = builder.admission(erpc_center::auth::require_token(token, true));
    }
    let center = builder
        .add_service(CenterServer::new(center))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("center serves");
    let addr = center.local_addr().to_string();
    (center, addr)
}

/// A shop registered at `registry` as `template` says.
async fn registered_shop(
    shop_impl: ShopImpl,
    registry: &CenterRegistry,
    template: Instance,
) -> erpc::ServerHandle {
    let mut template = template;
    template.addrs.clear();
    erpc::Server::builder()
        .add_service(ShopServer::new(shop_impl))
        .register(Arc::new(registry.clone()), template)
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("shop serves")
}

/// Waits until `registry` lists `n` instances of Shop.
async fn shops_listed(registry: &CenterRegistry, n: usize) {
    let mut endpoints = registry.subscribe("Shop").await.expect("subscribed");
    while endpoints.borrow_and_update().len() < n {
        tokio::time::timeout(Duration::from_secs(30), endpoints.changed())
            .await
            .expect("registered in time")
            .expect("the center is followed");
    }
}

#[tokio::test]
async fn readiness_is_503_while_draining_or_with_nothing_to_call() {
    // An address: ready while its server answers its health check.
    let (server, gateway) = shop_and_gateway(ShopImpl::default()).await;
    let ready = http("GET", url_of(&gateway, "/readyz"), &[], None).await;
    assert_eq!(
        (ready.status, ready.json()),
        (200, json!({"status": "SERVING", "instances": 1})),
        "{ready:?}"
    );
    let ready = http("GET", url_of(&gateway, "/readyz?service=Shop"), &[], None).await;
    assert_eq!(ready.status, 200, "{ready:?}");
    let unknown = http("GET", url_of(&gateway, "/readyz?service=Nope"), &[], None).await;
    assert_json_failure(&unknown, 503, "unavailable");
    assert!(unknown.body.contains("SERVICE_UNKNOWN"), "{unknown:?}");

    // Draining: the router served beside the gateway's own listener shares its state.
    let beside = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let beside_addr = beside.local_addr().expect("an address");
    let shop_impl = ShopImpl::default();
    let go = shop_impl.go.clone();
    let held_server = shop(shop_impl, None).await;
    let built = Gateway::builder(Upstream::Address(held_server.local_addr().to_string()))
        .build()
        .expect("gateway");
    let router = built.router();
    tokio::spawn(async move { axum::serve(beside, router).await });
    let draining = built.serve("127.0.0.1:0").await.expect("listens");
    let (_, _, held) = open_stream(&draining, "/Shop/held", &[]).await;
    let readyz = format!("http://{beside_addr}/readyz");
    assert_eq!(http("GET", readyz.clone(), &[], None).await.status, 200);
    let stopping = tokio::spawn(draining.drain(Duration::from_secs(60)));
    let mut answer = http("GET", readyz.clone(), &[], None).await;
    for _ in 0..100 {
        if answer.status != 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        answer = http("GET", readyz.clone(), &[], None).await;
    }
    assert_json_failure(&answer, 503, "unavailable");
    assert!(answer.body.contains("shutting down"), "{answer:?}");
    // Liveness stays.
    let live = http("GET", format!("http://{beside_addr}/healthz"), &[], None).await;
    assert_eq!(live.status, 200);
    go.notify_one();
    let _ = read_rest(held).await;
    let stopped = tokio::time::timeout(Duration::from_secs(30), stopping)
        .await
        .expect("the drain ends when the stream does")
        .expect("ran")
        .expect("no error");
    assert_eq!(stopped, erpc_gateway::Drained::Finished);
    held_server.shutdown().await;

    // A center: ready while at least one instance is registered.
    let (center, center_addr) = center(None).await;
    let gateway = Gateway::builder(Upstream::Center(center_addr.clone()))
        .build()
        .expect("gateway")
        .serve("127.0.0.1:0")
        .await
        .expect("gateway listens");
    let empty = http("GET", url_of(&gateway, "/readyz"), &[], None).await;
    assert_json_failure(&empty, 503, "unavailable");
    assert!(empty.body.contains("no instance"), "{empty:?}");
    let registry = CenterRegistry::new([center_addr.as_str()]).expect("address");
    let one = registered_shop(
        ShopImpl::default(),
        &registry,
        Instance::new("Shop", "", ""),
    )
    .await;
    shops_listed(&registry, 1).await;
    let ready = http("GET", url_of(&gateway, "/readyz?service=Shop"), &[], None).await;
    assert_eq!(
        (ready.status, ready.json()),
        (200, json!({"status": "SERVING", "instances": 1})),
        "{ready:?}"
    );
    let other = http("GET", url_of(&gateway, "/readyz?service=Nope"), &[], None).await;
    assert_json_failure(&other, 503, "unavailable");
    one.shutdown().await;
    center.shutdown().await;
    // The center gone: not ready, saying so.
    let gone = http("GET", url_of(&gateway, "/readyz"), &[], None).await;
    assert_json_failure(&gone, 503, "unavailable");
    assert!(gone.body.contains(&center_addr), "{gone:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn an_instance_the_gateway_cannot_reach_does_not_make_it_ready() {
    let (center, center_addr) = center(None).await;
    // Shop's only instance: registered at a port nothing listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let dead_addr = free.local_addr().expect("an address");
    let dead = format!("tcp://{dead_addr}");
    drop(free);
    let admin = erpc_center::CenterClient::new(
        erpc_core::Client::new(center_addr.as_str()).expect("address"),
    );
    admin
        .register(Instance::new("Shop", "dead-1", dead.as_str()), 60_000)
        .await
        .expect("registered");
    let gateway = Gateway::builder(Upstream::Center(center_addr.clone()))
        .build()
        .expect("gateway")
        .serve("127.0.0.1:0")
        .await
        .expect("gateway listens");
    let ready = |query: &'static str| http("GET", url_of(&gateway, query), &[], None);
    // Shop's readiness polled until it is SERVING with one instance (at most 10 s).
    let serving_within_10s = || async {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut answer = ready("/readyz?service=Shop").await;
        while answer.status != 200 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            answer = ready("/readyz?service=Shop").await;
        }
        assert_eq!(
            (answer.status, answer.json()),
            (200, json!({"status": "SERVING", "instances": 1})),
            "{answer:?}"
        );
    };
    // Never tried: nothing is known against it.
    let untried = ready("/readyz?service=Shop").await;
    assert_eq!(
        (untried.status, untried.json()),
        (200, json!({"status": "SERVING", "instances": 1})),
        "{untried:?}"
    );
    // A call finds it dead: from then on it does not count, and the answer says why.
    let refused = post(&gateway, "/Shop/price", r#"{"item":"tea","qty":1}"#).await;
    assert_json_failure(&refused, 503, "unavailable");
    for query in ["/readyz?service=Shop", "/readyz"] {
        let dead_now = ready(query).await;
        assert_json_failure(&dead_now, 503, "unavailable");
        let message = dead_now.json()["message"]
            .as_str()
            .expect("a message")
            .to_owned();
        assert!(message.starts_with("no instance"), "{query}: {message}");
        assert!(
            message.contains("is reachable: cannot connect to"),
            "{query}: {message}"
        );
        assert!(message.contains(&dead), "{query}: {message}");
    }
    // A live instance beside it: ready, counting only that one.
    let registry = CenterRegistry::new([center_addr.as_str()]).expect("address");
    let live = registered_shop(
        ShopImpl::default(),
        &registry,
        Instance::new("Shop", "live-1", ""),
    )
    .await;
    shops_listed(&registry, 2).await;
    serving_within_10s().await;
    live.shutdown().await;
    // The dead instance comes back, and no call is made: the probes' re-checks find it.
    let revived = erpc::Server::builder()
        .add_service(ShopServer::new(ShopImpl::default()))
        .serve([dead.as_str()])
        .await
        .expect("serves at the dead instance's address again");
    serving_within_10s().await;
    revived.shutdown().await;
    center.shutdown().await;
}

#[tokio::test]
async fn a_protected_center_is_asked_with_the_token() {
    let (center, center_addr) = center(Some("s3cret")).await;
    let registry =
        CenterRegistry::with_token([center_addr.as_str()], "s3cret").expect("center address");
    let shop_server = registered_shop(
        ShopImpl::default(),
        &registry,
        Instance::new("Shop", "", ""),
    )
    .await;
    shops_listed(&registry, 1).await;
    let order = r#"{"item":"tea","qty":2}"#;

    // Without the token, the center refuses the gateway's discovery: the gateway is not set
    // up, which no credential of the caller's would fix — 503 (not the center's 401),
    // naming the center and what to set.
    let anonymous = Gateway::builder(Upstream::Center(center_addr.clone()))
        .build()
        .expect("gateway")
        .serve("127.0.0.1:0")
        .await
        .expect("gateway listens");
    let refused = post(&anonymous, "/Shop/price", order).await;
    assert_json_failure(&refused, 503, "unavailable");
    assert!(refused.body.contains(&center_addr), "{refused:?}");
    assert!(
        refused
            .body
            .contains("the center wants a token and the gateway has none")
            && refused.body.contains(erpc_gateway::CENTER_TOKEN_HINT),
        "{refused:?}"
    );
    let ready = http("GET", url_of(&anonymous, "/readyz"), &[], None).await;
    assert_json_failure(&ready, 503, "unavailable");
    assert!(ready.body.contains("wants a token"), "{ready:?}");
    // A wrong token: the same, saying so.
    let wrong = Gateway::builder(Upstream::Center(center_addr.clone()))
        .center_token("nope")
        .build()
        .expect("gateway")
        .serve("127.0.0.1:0")
        .await
        .expect("gateway listens");
    let refused = post(&wrong, "/Shop/price", order).await;
    assert_json_failure(&refused, 503, "unavailable");
    assert!(
        refused.body.contains("refused the gateway's token"),
        "{refused:?}"
    );

    // The binary without a token: says so once at start, naming its flag and variable, and
    // answers 503 with the same words.
    let args = ["--center", &center_addr, "--listen", "127.0.0.1:0"];
    let (_child, addr, mut stderr) = gateway_process(&args).await;
    let said = tokio::time::timeout(Duration::from_secs(30), stderr.next_line())
        .await
        .expect("a line in time")
        .expect("readable")
        .expect("a line");
    assert!(
        said.starts_with(&format!(
            "erpc-gateway: the center at {center_addr} refused the gateway"
        )) && said.contains("the center wants a token and the gateway has none")
            && said.contains("--center-token")
            && said.contains("ERPC_CENTER_TOKEN")
            && !said.contains("GatewayBuilder"),
        "{said}"
    );
    let refused = http(
        "POST",
        format!("http://{addr}/Shop/price"),
        &[],
        Some(order),
    )
    .await;
    assert_json_failure(&refused, 503, "unavailable");
    assert!(
        refused.body.contains("--center-token") && !refused.body.contains("GatewayBuilder"),
        "{refused:?}"
    );

    let with_token = Gateway::builder(Upstream::Center(center_addr.clone()))
        .center_token("s3cret")
        .build()
        .expect("gateway")
        .serve("127.0.0.1:0")
        .await
        .expect("gateway listens");
    let ok = post(&with_token, "/Shop/price", order).await;
    assert_eq!((ok.status, ok.json()), (200, json!(6)), "{ok:?}");
    let ready = http("GET", url_of(&with_token, "/readyz"), &[], None).await;
    assert_eq!(ready.status, 200, "{ready:?}");

    // The binary, with the token in a file (its first line).
    let dir = std::env::temp_dir().join(format!("erpc-gateway-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let file = dir.join("token");
    std::fs::write(&file, "s3cret\nignored\n").expect("written");
    let file = file.to_string_lossy().into_owned();
    let file_args = [
        "--center",
        &center_addr,
        "--center-token-file",
        &file,
        "--listen",
        "127.0.0.1:0",
    ];
    let (_child, addr, _stderr) = gateway_process(&file_args).await;
    assert_priced(&addr).await;
    // The variables `erpc` reads too: ERPC_CENTER_TOKEN(_FILE), and its first ERPC_TOKEN.
    for env in [
        ("ERPC_CENTER_TOKEN", "s3cret"),
        ("ERPC_CENTER_TOKEN_FILE", file.as_str()),
        ("ERPC_TOKEN", "s3cret"),
    ] {
        let args = ["--center", &center_addr, "--listen", "127.0.0.1:0"];
        let (_child, addr, _stderr) = gateway_process_env(&args, &[env]).await;
        assert_priced(&addr).await;
    }
    // A flag typed wins over a variable, even the other flag's (no conflict).
    let (_child, addr, _stderr) =
        gateway_process_env(&file_args, &[("ERPC_CENTER_TOKEN", "wrong")]).await;
    assert_priced(&addr).await;
    // The variable, set for `erpc` in the same shell, does not stop a gateway with --target
    // (the flag typed with --target does: it would be unused).
    let target = shop_server.local_addr().to_string();
    let args = ["--target", &target, "--listen", "127.0.0.1:0"];
    let (_child, addr, _stderr) =
        gateway_process_env(&args, &[("ERPC_CENTER_TOKEN", "s3cret")]).await;
    assert_priced(&addr).await;
    let _ = std::fs::remove_dir_all(&dir);
    shop_server.shutdown().await;
    center.shutdown().await;
}

#[tokio::test]
async fn routing_rules_at_the_center_are_followed() {
    let (center, center_addr) = center(None).await;
    let registry = CenterRegistry::new([center_addr.as_str()]).expect("center address");
    let mut v1 = Instance::new("Shop", "v1", "");
    v1.version = "1".into();
    let mut v2 = Instance::new("Shop", "v2", "");
    v2.version = "2".into();
    let one = registered_shop(ShopImpl::default(), &registry, v1).await;
    // Version 2's `price` answers `unavailable`: which version answered shows in the status.
    let draining = ShopImpl {
        draining: true,
        ..ShopImpl::default()
    };
    let two = registered_shop(draining, &registry, v2).await;
    shops_listed(&registry, 2).await;
    // Beta users go to version 2; everyone else to version 1.
    let admin = erpc_center::CenterClient::new(
        erpc_core::Client::new(center_addr.as_str()).expect("address"),
    );
    let rules = r#"{"rules":[{"match":{"metadata":{"x-user":"beta"}},"route":[{"subset":{"version":"2"}}]}],"default":[{"subset":{"version":"1"}}]}"#;
    admin
        .config_set(erpc_core::discovery::routes_key("Shop"), rules.to_owned())
        .await
        .expect("the rules are stored");

    // No retries: a call sent to version 2 would fail.
    let gateway = Gateway::builder(Upstream::Center(center_addr.clone()))
        .allow_header(HeaderName::from_static("x-user"))
        .build()
        .expect("gateway")
        .serve("127.0.0.1:0")
        .await
        .expect("gateway listens");
    let url = url_of(&gateway, "/Shop/price");
    let order = r#"{"item":"tea","qty":1}"#;
    for _ in 0..8 {
        let ok = http("POST", url.clone(), &[("x-user", "ann")], Some(order)).await;
        assert_eq!((ok.status, ok.json()), (200, json!(3)), "{ok:?}");
    }
    for _ in 0..4 {
        let beta = http("POST", url.clone(), &[("x-user", "beta")], Some(order)).await;
        assert_json_failure(&beta, 503, "unavailable");
        assert!(beta.body.contains("draining"), "{beta:?}");
    }
    one.shutdown().await;
    two.shutdown().await;
    center.shutdown().await;
}

/// A certificate authority made here (rcgen), as erpc-cli's TLS tests make theirs.
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

    /// The shop's TLS settings: a certificate for 127.0.0.1 signed by this CA.
    fn server_tls(&self) -> erpc::transport::ServerTls {
        let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        let params = rcgen::CertificateParams::new(names).expect("leaf params");
        let key = rcgen::KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("leaf certificate");
        erpc::transport::ServerTls::from_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes())
            .expect("server TLS")
    }
}

/// The shop on `tls://127.0.0.1` with a certificate of `ca`, registered at `center` if
/// given.
async fn tls_shop(ca: &Ca, center: Option<&str>) -> erpc::ServerHandle {
    let mut builder = erpc::Server::builder()
        .config(erpc::ServerConfig {
            transport: erpc::transport::Options::default().server_tls(ca.server_tls()),
            ..erpc::ServerConfig::default()
        })
        .add_service(ShopServer::new(ShopImpl::default()));
    if let Some(center) = center {
        let registry = Arc::new(CenterRegistry::new([center]).expect("center address"));
        let mut template = Instance::new("Shop", "", "");
        template.addrs.clear();
        builder = builder.register(registry, template);
    }
    builder
        .serve(["tls://127.0.0.1:0"])
        .await
        .expect("TLS shop serves")
}

#[tokio::test]
async fn tls_services_are_called_with_the_cli_tls_flags() {
    let ca = Ca::new("shop CA");
    let dir = std::env::temp_dir().join(format!("erpc-gateway-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.cert.pem()).expect("written");
    let ca_file = ca_file.to_string_lossy().into_owned();
    let order = r#"{"item":"tea","qty":2}"#;

    // One TLS server: without a CA the gateway does not start, saying what to pass.
    let server = tls_shop(&ca, None).await;
    let target = server.local_addr().to_string();
    assert!(target.starts_with("tls://"), "{target}");
    let said = refused_at_start(&["--target", &target, "--listen", "127.0.0.1:0"]).await;
    assert!(
        said.contains(&format!(
            "--target {target} is a TLS address: give --cacert PEM"
        )) && said.contains("--insecure"),
        "{said}"
    );
    // --insecure for a target without TLS: no warning (it changes nothing), as `erpc`.
    let plain = shop(ShopImpl::default(), None).await;
    let plain_target = plain.local_addr().to_string();
    let args = [
        "--target",
        &plain_target,
        "--listen",
        "127.0.0.1:0",
        "--insecure",
    ];
    let (mut child, addr, stderr) = gateway_process(&args).await;
    assert_priced(&addr).await;
    child.kill().await.expect("killed");
    let said = read_all(stderr).await;
    assert!(!said.contains("NOT checked"), "{said}");
    plain.shutdown().await;
    // With --cacert, calls go through; with --insecure too, after a warning.
    for flags in [vec!["--cacert", ca_file.as_str()], vec!["--insecure"]] {
        let mut args = vec!["--target", &target, "--listen", "127.0.0.1:0"];
        args.extend(flags.iter().copied());
        let (_child, addr, mut stderr) = gateway_process(&args).await;
        assert_priced(&addr).await;
        if flags == ["--insecure"] {
            // Bounded: a gateway that never warns keeps stderr open and would hang the test.
            let warned = tokio::time::timeout(Duration::from_secs(30), stderr.next_line())
                .await
                .expect("a warning within 30 s")
                .expect("readable");
            assert!(
                warned.is_some_and(|w| w.contains("certificate is NOT checked")),
                "{flags:?}"
            );
        }
    }
    // A file that is not there: exit 2, naming the flag.
    let said = refused_at_start(&["--target", &target, "--cacert", "/nonexistent/ca.pem"]).await;
    assert!(said.contains("--cacert /nonexistent/ca.pem"), "{said}");
    server.shutdown().await;

    // Instances found through a center, on TLS: without a CA each call is refused with the
    // dial's reason, naming the flag to give (not the Rust API the transport names) and the
    // one address tried, without an ellipsis for more there are not; with it, answered.
    let (center, center_addr) = center(None).await;
    let server = tls_shop(&ca, Some(&center_addr)).await;
    shops_listed(
        &CenterRegistry::new([center_addr.as_str()]).expect("center"),
        1,
    )
    .await;
    let args = ["--center", &center_addr, "--listen", "127.0.0.1:0"];
    let (_child, addr, _stderr) = gateway_process(&args).await;
    let refused = http(
        "POST",
        format!("http://{addr}/Shop/price"),
        &[],
        Some(order),
    )
    .await;
    assert_json_failure(&refused, 503, "unavailable");
    let said = refused.json()["message"].as_str().unwrap_or("").to_owned();
    assert!(
        said.starts_with("no instance of \"Shop\" is reachable: cannot connect to tls://")
            && said.contains("needs TLS settings")
            && said.contains("--cacert PEM")
            && !said.contains("ClientTls")
            && !said.contains("GatewayBuilder"),
        "{said}"
    );
    let tried = server.local_addr().to_string();
    assert_eq!(said.matches(tried.as_str()).count(), 1, "{said}");
    assert!(!said.contains('…'), "{said}");
    let args = [
        "--center",
        &center_addr,
        "--listen",
        "127.0.0.1:0",
        "--cacert",
        &ca_file,
    ];
    let (_child, addr, _stderr) = gateway_process(&args).await;
    assert_priced(&addr).await;
    let _ = std::fs::remove_dir_all(&dir);
    server.shutdown().await;
    center.shutdown().await;
}

#[tokio::test]
async fn a_center_on_tls_is_reached_with_the_same_flags() {
    use erpc::transport::{ClientTls, Options};
    let ca = Ca::new("center CA");
    let dir = std::env::temp_dir().join(format!("erpc-gateway-tls-center-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.cert.pem()).expect("written");
    let ca_file = ca_file.to_string_lossy().into_owned();
    let center_impl =
        CenterImpl::open(Box::new(MemoryStore), CenterConfig::default()).expect("opens");
    let center = erpc::Server::builder()
        .config(erpc::ServerConfig {
            transport: Options::default().server_tls(ca.server_tls()),
            ..erpc::ServerConfig::default()
        })
        .add_service(CenterServer::new(center_impl))
        .serve(["tls://127.0.0.1:0"])
        .await
        .expect("TLS center serves");
    let center_addr = center.local_addr().to_string();
    let trust = ClientTls::trust_pem(ca.cert.pem().as_bytes()).expect("CA");
    let registry = CenterRegistry::builder()
        .transport(Options::default().client_tls(trust))
        .build([center_addr.as_str()])
        .expect("registry");
    let shop = registered_shop(
        ShopImpl::default(),
        &registry,
        Instance::new("Shop", "", ""),
    )
    .await;
    shops_listed(&registry, 1).await;

    // Without a CA the gateway does not start, saying what to pass.
    let said = refused_at_start(&["--center", &center_addr, "--listen", "127.0.0.1:0"]).await;
    assert!(
        said.contains(&format!(
            "--center {center_addr} is a TLS address: give --cacert PEM"
        )),
        "{said}"
    );
    // With it, the center is followed and the shop called.
    let args = [
        "--center",
        &center_addr,
        "--listen",
        "127.0.0.1:0",
        "--cacert",
        &ca_file,
    ];
    let (_child, addr, _stderr) = gateway_process(&args).await;
    assert_priced(&addr).await;
    let _ = std::fs::remove_dir_all(&dir);
    shop.shutdown().await;
    center.shutdown().await;
}

/// Several instances none can reach: the 503 says why for each (up to three), not only the
/// last one tried.
#[tokio::test]
async fn instances_none_can_reach_are_a_503_saying_why_for_each() {
    let (center, center_addr) = center(None).await;
    let admin = erpc_center::CenterClient::new(
        erpc_core::Client::new(center_addr.as_str()).expect("address"),
    );
    let mut dead = Vec::new();
    for n in 1..=3 {
        // A port nothing listens on.
        let free = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let addr = format!("tcp://{}", free.local_addr().expect("an address"));
        drop(free);
        admin
            .register(
                Instance::new("Shop", format!("dead-{n}"), addr.as_str()),
                60_000,
            )
            .await
            .expect("registered");
        dead.push(addr);
    }
    let gateway = Gateway::builder(Upstream::Center(center_addr.clone()))
        .build()
        .expect("gateway")
        .serve("127.0.0.1:0")
        .await
        .expect("gateway listens");
    let refused = post(&gateway, "/Shop/price", r#"{"item":"tea","qty":1}"#).await;
    assert_json_failure(&refused, 503, "unavailable");
    let message = refused.json()["message"]
        .as_str()
        .expect("a message")
        .to_owned();
    assert!(
        message.starts_with("no instance of \"Shop\" is reachable: cannot connect to "),
        "{message}"
    );
    for addr in &dead {
        assert!(
            message.contains(&format!("cannot connect to {addr}")),
            "{addr}: {message}"
        );
    }
    center.shutdown().await;
}
