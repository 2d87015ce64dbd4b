//! Shared by the integration tests: an instrumented service, a custom codec, servers on
//! every transport, and raw-socket helpers.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use erpc::codec::codec::DeserializeFn;
use erpc::{Codec, CodecError, CodecId, Context, Proto, Raw, ServerConfig, ServerHandle, Status};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

pub mod ca;
pub mod feed;
pub mod udp;

/// The benchmark-shaped message.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Msg {
    pub id: i64,
    pub name: String,
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
}

impl Msg {
    pub fn new(id: i64, payload: usize) -> Msg {
        Msg {
            id,
            name: format!("message-{id:08}"),
            payload: (0..payload).map(|i| (i % 251) as u8).collect(),
        }
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Point {
    #[prost(int64, tag = "1")]
    pub x: i64,
    #[prost(int64, tag = "2")]
    pub y: i64,
}

#[erpc::service]
pub trait Whoami {
    /// The name of the instance that answered.
    async fn name(&self) -> Result<String, Status>;
}

/// A Whoami instance answering its name.
pub struct Named(pub String);

impl Whoami for Named {
    async fn name(&self) -> Result<String, Status> {
        Ok(self.0.clone())
    }
}

#[erpc::service]
pub trait Echo {
    /// Returns the message.
    async fn echo(&self, msg: Msg) -> Result<Msg, Status>;
    /// Sleeps, recording whether it finished or was aborted.
    async fn sleep(&self, cx: Context, ms: u64) -> Result<u64, Status>;
    /// Fails with the given code.
    async fn fail(&self, code: u8, message: String) -> Result<(), Status>;
    /// Panics.
    async fn boom(&self) -> Result<(), Status>;
    /// A metadata value of the request.
    async fn meta(&self, cx: Context, key: String) -> Result<Option<String>, Status>;
    /// Milliseconds left until the call's deadline.
    async fn remaining_ms(&self, cx: Context) -> Result<u64, Status>;
    /// Length of a string.
    async fn len(&self, text: String) -> Result<u64, Status>;
    /// Raw bytes back.
    async fn raw(&self, data: Raw) -> Result<Raw, Status>;
    /// Length of raw bytes.
    async fn raw_len(&self, data: Raw) -> Result<u64, Status>;
    /// `n` raw bytes: a large response to a small request.
    async fn fill(&self, n: u64) -> Result<Raw, Status>;
    /// A protobuf point, mirrored.
    async fn mirror(&self, p: Proto<Point>) -> Result<Proto<Point>, Status>;
    /// The caller's address as the server sees it: tells connections apart.
    async fn peer(&self, cx: Context) -> Result<String, Status>;
    /// Counts a oneway notification.
    #[oneway]
    async fn notify(&self, n: u64);
    /// A slow oneway call: sleeps `ms`, then counts a notification (an abort is counted).
    #[oneway]
    async fn nap(&self, ms: u64);
}

/// What the server side saw: counters tests wait on.
#[derive(Debug)]
pub struct Probe {
    pub started: watch::Sender<u64>,
    pub aborted: watch::Sender<u64>,
    pub finished: watch::Sender<u64>,
    pub notified: watch::Sender<u64>,
    pub last_remaining_ms: AtomicU64,
}

impl Default for Probe {
    fn default() -> Self {
        Probe {
            started: watch::channel(0).0,
            aborted: watch::channel(0).0,
            finished: watch::channel(0).0,
            notified: watch::channel(0).0,
            last_remaining_ms: AtomicU64::new(0),
        }
    }
}

fn bump(counter: &watch::Sender<u64>, by: u64) {
    counter.send_modify(|n| *n += by);
}

/// Poll `done` every 5 ms until it holds, for what can only be polled (an observer's
/// records); panic with `what()` if it does not within 5 s.
pub async fn eventually(mut done: impl FnMut() -> bool, what: impl Fn() -> String) {
    let by = std::time::Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(std::time::Instant::now() < by, "{}", what());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Wait until `counter` reaches `at_least`, or panic after `limit`.
pub async fn wait_for(counter: &watch::Sender<u64>, at_least: u64, limit: Duration) -> u64 {
    let mut rx = counter.subscribe();
    match tokio::time::timeout(limit, rx.wait_for(|n| *n >= at_least)).await {
        Ok(Ok(n)) => *n,
        _ => panic!(
            "counter stayed at {} (wanted {at_least}) for {limit:?}",
            *counter.borrow()
        ),
    }
}

#[derive(Clone, Default)]
pub struct EchoImpl {
    pub probe: Arc<Probe>,
}

impl EchoImpl {
    /// Sleep `ms`, counting the start, and an abort if dropped before the end.
    async fn sleep_counted(&self, ms: u64) {
        let mut guard = AbortGuard {
            probe: self.probe.clone(),
            done: false,
        };
        bump(&self.probe.started, 1);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        guard.done = true;
    }
}

/// Counts an abort if dropped before `done` is set.
struct AbortGuard {
    probe: Arc<Probe>,
    done: bool,
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if !self.done {
            bump(&self.probe.aborted, 1);
        }
    }
}

impl Echo for EchoImpl {
    async fn echo(&self, msg: Msg) -> Result<Msg, Status> {
        Ok(msg)
    }

    async fn sleep(&self, cx: Context, ms: u64) -> Result<u64, Status> {
        self.probe
            .last_remaining_ms
            .store(cx.remaining().as_millis() as u64, Ordering::SeqCst);
        self.sleep_counted(ms).await;
        bump(&self.probe.finished, 1);
        Ok(ms)
    }

    async fn fail(&self, code: u8, message: String) -> Result<(), Status> {
        Err(Status::new(erpc::Code::from_u8(code), message).with_details(&b"details"[..]))
    }

    async fn boom(&self) -> Result<(), Status> {
        panic!("handler exploded on purpose")
    }

    async fn meta(&self, cx: Context, key: String) -> Result<Option<String>, Status> {
        Ok(cx.metadata().get_str(&key).map(str::to_owned))
    }

    async fn remaining_ms(&self, cx: Context) -> Result<u64, Status> {
        Ok(cx.remaining().as_millis() as u64)
    }

    async fn len(&self, text: String) -> Result<u64, Status> {
        Ok(text.len() as u64)
    }

    async fn raw(&self, data: Raw) -> Result<Raw, Status> {
        Ok(data)
    }

    async fn raw_len(&self, data: Raw) -> Result<u64, Status> {
        Ok(data.0.len() as u64)
    }

    async fn fill(&self, n: u64) -> Result<Raw, Status> {
        Ok(Raw(vec![7u8; n as usize].into()))
    }

    async fn mirror(&self, p: Proto<Point>) -> Result<Proto<Point>, Status> {
        Ok(Proto(Point { x: p.0.y, y: p.0.x }))
    }

    async fn peer(&self, cx: Context) -> Result<String, Status> {
        cx.peer()
            .map(|p| p.to_string())
            .ok_or_else(|| Status::internal("no peer"))
    }

    async fn notify(&self, n: u64) {
        bump(&self.probe.notified, n);
    }

    async fn nap(&self, ms: u64) {
        self.sleep_counted(ms).await;
        bump(&self.probe.notified, 1);
    }
}

/// A custom codec for tests: JSON with a trailing newline, id 200.
pub struct JsonLines;

pub const JSON_LINES: CodecId = CodecId(200);

impl Codec for JsonLines {
    fn id(&self) -> CodecId {
        JSON_LINES
    }
    fn name(&self) -> &'static str {
        "json-lines"
    }
    fn encode_erased(
        &self,
        value: &dyn erased_serde::Serialize,
        out: &mut BytesMut,
    ) -> Result<(), CodecError> {
        let mut ser = serde_json::Serializer::new(out.writer());
        value
            .erased_serialize(&mut <dyn erased_serde::Serializer>::erase(&mut ser))
            .map_err(|e| CodecError::Encode(e.to_string()))?;
        out.put_u8(b'\n');
        Ok(())
    }
    fn decode_erased(&self, body: &[u8], visit: &mut DeserializeFn<'_>) -> Result<(), CodecError> {
        let body = body
            .strip_suffix(b"\n")
            .ok_or_else(|| CodecError::Decode("missing newline".into()))?;
        let mut de = serde_json::Deserializer::from_slice(body);
        visit(&mut <dyn erased_serde::Deserializer>::erase(&mut de))
            .map_err(|e| CodecError::Decode(e.to_string()))
    }
}

/// A fresh in-memory address.
pub fn mem_addr() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "mem://test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Keeps a Unix socket's directory alive for the test.
pub struct Place {
    pub addr: String,
    _dir: Option<tempfile::TempDir>,
}

/// An address to bind for each transport.
pub fn place(transport: &str) -> Place {
    match transport {
        "tcp" => Place {
            addr: "tcp://127.0.0.1:0".into(),
            _dir: None,
        },
        "unix" => {
            let dir = tempfile::tempdir().expect("temp dir");
            Place {
                addr: format!("unix://{}", dir.path().join("erpc.sock").display()),
                _dir: Some(dir),
            }
        }
        "mem" => Place {
            addr: mem_addr(),
            _dir: None,
        },
        "ws" | "wss" => Place {
            addr: format!("{transport}://127.0.0.1:0/erpc"),
            _dir: None,
        },
        "tls" | "quic" | "udp" | "kcp" => Place {
            addr: format!("{transport}://127.0.0.1:0"),
            _dir: None,
        },
        other => panic!("unknown transport {other}"),
    }
}

/// Every transport: the conformance suite runs over each.
pub const TRANSPORTS: [&str; 9] = [
    "tcp", "unix", "mem", "tls", "ws", "wss", "quic", "udp", "kcp",
];

/// The transports that carry streaming calls (all but UDP).
pub const STREAM_TRANSPORTS: [&str; 8] = ["tcp", "unix", "mem", "tls", "ws", "wss", "quic", "kcp"];

/// One development certificate for the whole test process.
fn dev_tls() -> &'static (erpc::transport::ServerTls, erpc::transport::ClientTls) {
    static TLS: std::sync::OnceLock<(erpc::transport::ServerTls, erpc::transport::ClientTls)> =
        std::sync::OnceLock::new();
    TLS.get_or_init(|| {
        let server = erpc::transport::ServerTls::self_signed(&["localhost"]).expect("certificate");
        let client = erpc::transport::ClientTls::trust_pem(server.certificate_pem().as_bytes())
            .expect("roots");
        (server, client)
    })
}

/// Transport settings of test servers: the development certificate.
pub fn server_options() -> erpc::TransportOptions {
    erpc::TransportOptions::default().server_tls(dev_tls().0.clone())
}

/// Transport settings of test clients: trusting the development certificate.
pub fn client_options() -> erpc::TransportOptions {
    erpc::TransportOptions::default().client_tls(dev_tls().1.clone())
}

/// A running Echo server and what it saw.
pub struct TestServer {
    pub handle: ServerHandle,
    pub probe: Arc<Probe>,
    /// The Feed service the server also serves.
    pub feed: feed::FeedImpl,
    pub addr: String,
    _place: Place,
}

pub async fn start(transport: &str, config: ServerConfig) -> TestServer {
    let place = place(transport);
    let echo = EchoImpl::default();
    let probe = echo.probe.clone();
    let feed = feed::FeedImpl::default();
    let handle = erpc::Server::builder()
        .config(ServerConfig {
            transport: server_options(),
            ..config
        })
        .register_codec(Arc::new(JsonLines))
        .add_service(EchoServer::new(echo))
        .add_service(feed::FeedServer::new(feed.clone()))
        .serve([place.addr.as_str()])
        .await
        .expect("server starts");
    let addr = handle.local_addr().to_string();
    TestServer {
        handle,
        probe,
        feed,
        addr,
        _place: place,
    }
}

pub fn client(addr: &str) -> EchoClient {
    EchoClient::new(
        erpc::Client::builder()
            .register_codec(Arc::new(JsonLines))
            .transport(client_options())
            .build(addr)
            .expect("valid address"),
    )
}

/// A raw byte-level peer, for feeding a server frames no well-behaved client would send:
/// the engine's byte stream on any transport.
pub struct RawPeer {
    pub stream: erpc::transport::BoxIo,
    buf: BytesMut,
    decoder: erpc::protocol::FrameDecoder,
}

impl RawPeer {
    pub async fn connect(addr: &str) -> RawPeer {
        let addr: erpc::Address = addr.parse().expect("an address");
        let link = erpc::transport::connect_with(&addr, &client_options())
            .await
            .expect("connect");
        RawPeer::over(link.io)
    }

    /// A raw peer over an established byte stream: the server side of a socket a real
    /// client connected to, to see exactly what the client sends.
    pub fn over(stream: erpc::transport::BoxIo) -> RawPeer {
        RawPeer {
            stream,
            buf: BytesMut::new(),
            decoder: erpc::protocol::FrameDecoder::new(Default::default()),
        }
    }

    /// A raw peer over a byte stream connected elsewhere (a socket with its own options).
    pub fn from_io(stream: erpc::transport::BoxIo) -> RawPeer {
        RawPeer {
            stream,
            buf: BytesMut::new(),
            decoder: erpc::protocol::FrameDecoder::new(Default::default()),
        }
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        self.stream.write_all(bytes).await.expect("write");
        self.stream.flush().await.expect("flush");
    }

    pub async fn send(&mut self, frame: &erpc::protocol::Frame) {
        let mut out = BytesMut::new();
        frame.encode(&mut out).expect("encodable");
        self.send_bytes(&out).await;
    }

    /// The next frame, or None when the server closed the connection.
    pub async fn recv(&mut self) -> Option<erpc::protocol::Frame> {
        use tokio::io::AsyncReadExt;
        loop {
            if let Some(decoded) = self
                .decoder
                .decode(&mut self.buf)
                .expect("server speaks erpc")
            {
                match decoded {
                    erpc::protocol::Decoded::Frame(f) => return Some(f),
                    other => panic!("unexpected {other:?}"),
                }
            }
            let n =
                tokio::time::timeout(Duration::from_secs(5), self.stream.read_buf(&mut self.buf))
                    .await
                    .expect("server answers within 5 s")
                    .ok()?;
            if n == 0 {
                return None;
            }
        }
    }

    /// The next frame that is not a PING.
    pub async fn recv_reply(&mut self) -> Option<erpc::protocol::Frame> {
        loop {
            let f = self.recv().await?;
            if f.header.kind != erpc::protocol::Kind::PING {
                return Some(f);
            }
        }
    }
}

/// A request frame for the Echo service.
pub fn request(
    id: u64,
    method: &'static str,
    codec: CodecId,
    body: &[u8],
) -> erpc::protocol::Frame {
    let mut f = erpc::protocol::Frame::new(erpc::protocol::Kind::REQUEST, id);
    f.header.codec = codec;
    f.head.service = Some("Echo".into());
    f.head.method = Some(method.into());
    f.head.deadline_micros = Some(5_000_000);
    f.body = bytes::Bytes::copy_from_slice(body);
    f
}

/// A scripted server, for what a client does with frames a real server would not send:
/// accepts one TCP connection and answers each frame it reads with the frames `answer`
/// returns, written back to back. Its `tcp://` address, and its task.
pub async fn scripted_server<F>(mut answer: F) -> (String, tokio::task::JoinHandle<()>)
where
    F: FnMut(erpc::protocol::Frame) -> Vec<erpc::protocol::Frame> + Send + 'static,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("tcp://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut decoder = erpc::protocol::FrameDecoder::new(Default::default());
        let mut buf = BytesMut::new();
        loop {
            while let Some(erpc::protocol::Decoded::Frame(frame)) =
                decoder.decode(&mut buf).unwrap()
            {
                let mut out = BytesMut::new();
                for reply in answer(frame) {
                    reply.encode(&mut out).unwrap();
                }
                socket.write_all(&out).await.unwrap();
            }
            if socket.read_buf(&mut buf).await.unwrap() == 0 {
                return;
            }
        }
    });
    (addr, task)
}

/// An observer keeping what the server's connection hooks denied: (peer, the refusal's
/// message).
#[derive(Clone, Default)]
pub struct Denials(Arc<std::sync::Mutex<Vec<(erpc::PeerAddr, String)>>>);

impl Denials {
    pub fn seen(&self) -> Vec<(erpc::PeerAddr, String)> {
        self.0.lock().unwrap().clone()
    }
}

impl erpc::observe::Observer for Denials {
    fn connection_closed(
        &self,
        _side: erpc::observe::Side,
        peer: &erpc::PeerAddr,
        reason: &erpc::observe::CloseReason,
    ) {
        if let erpc::observe::CloseReason::Denied(why) = reason {
            self.0.lock().unwrap().push((peer.clone(), why.clone()));
        }
    }
}

/// Raise the soft limit on open files to the hard limit; the soft limit now in force.
pub fn raise_open_files_limit() -> libc::rlim_t {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            ..limit
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
            limit = raised;
        }
    }
    limit.rlim_cur
}
