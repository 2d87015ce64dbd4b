//! erpc: the generated client and server, MessagePack, one `Client` sharing `conns`
//! connections.

use std::net::SocketAddr;

use erpc::{ServerStream, Status, Streaming};

use crate::load::Caller;
use crate::message::Msg;

/// The benchmark service.
#[erpc::service]
pub trait Bench {
    /// Returns the message.
    async fn echo(&self, msg: Msg) -> Result<Msg, Status>;
    /// Returns each message of the stream as it arrives.
    async fn stream_echo(&self, msgs: Streaming<Msg>) -> Result<ServerStream<Msg>, Status>;
}

/// The echo implementation.
pub struct Echo;

impl Bench for Echo {
    async fn echo(&self, msg: Msg) -> Result<Msg, Status> {
        Ok(msg)
    }

    async fn stream_echo(&self, msgs: Streaming<Msg>) -> Result<ServerStream<Msg>, Status> {
        Ok(ServerStream::new(msgs))
    }
}

/// The erpc address of `transport` for the benchmark's socket address (unix and mem derive
/// a name from the port).
pub fn url(transport: &str, addr: SocketAddr) -> String {
    match transport {
        "unix" => format!(
            "unix://{}",
            std::env::temp_dir()
                .join(format!("erpc-bench-{}.sock", addr.port()))
                .display()
        ),
        "mem" => format!("mem://bench-{}", addr.port()),
        "ws" | "wss" => format!("{transport}://{addr}/erpc"),
        other => format!("{other}://{addr}"),
    }
}

/// Where a benchmark server leaves its self-signed certificate for its client.
fn cert_path(addr: SocketAddr) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("erpc-bench-{}.pem", addr.port()))
}

/// Serve over TCP until the process ends.
pub async fn serve(addr: SocketAddr) {
    serve_on("tcp", addr).await
}

/// Serve over `transport` until the process ends. TLS transports get a self-signed
/// certificate, left in a temporary file for the client.
pub async fn serve_on(transport: &str, addr: SocketAddr) {
    serve_layered(transport, addr, Layers::None).await
}

/// How the benchmark's no-op layers are added.
#[derive(Clone, Copy)]
pub enum Layers {
    /// None.
    None,
    /// Three, each with its own `layer` call: three erasures, the costliest way.
    ThreeApart,
    /// Three stacked in one `tower_layer::Stack` and added with one `layer` call: one
    /// erasure, as with a `tower::ServiceBuilder`.
    ThreeStacked,
}

impl Layers {
    /// Add the layers to a builder: `one` adds one no-op layer, `three` three as one.
    pub fn apply<B, S>(
        self,
        mut builder: B,
        one: impl Fn(B, tower_layer::LayerFn<fn(S) -> Noop<S>>) -> B,
        three: impl Fn(B, tower_layer::LayerFn<fn(S) -> Noop<Noop<Noop<S>>>>) -> B,
    ) -> B {
        match self {
            Layers::None => {}
            Layers::ThreeApart => {
                for _ in 0..3 {
                    builder = one(builder, tower_layer::layer_fn(Noop as fn(S) -> Noop<S>));
                }
            }
            Layers::ThreeStacked => {
                let stacked: fn(S) -> Noop<Noop<Noop<S>>> = |s| Noop(Noop(Noop(s)));
                builder = three(builder, tower_layer::layer_fn(stacked));
            }
        }
        builder
    }
}

/// Stream windows as tonic's runs with (hyper 1's HTTP/2 defaults: 1 MiB per stream for a
/// server, 2 MiB for a client), so the stream comparison is window for window; erpc's own
/// default is 256 KiB (BENCHMARKS.md, "streams: large buffers taken back"). Unary calls do
/// not use it.
pub const SERVER_STREAM_WINDOW: u32 = 1 << 20;
/// See [`SERVER_STREAM_WINDOW`].
pub const CLIENT_STREAM_WINDOW: u32 = 2 << 20;

/// Serve over `transport` with no-op layers around the handler.
pub async fn serve_layered(transport: &str, addr: SocketAddr, layers: Layers) {
    let cert = erpc::transport::ServerTls::self_signed(&["localhost"]).expect("certificate");
    std::fs::write(cert_path(addr), cert.certificate_pem()).expect("certificate file");
    let builder = layers.apply(
        erpc::Server::builder(),
        |b, l| b.layer(l),
        |b, l| b.layer(l),
    );
    let _server = builder
        .stream_window(SERVER_STREAM_WINDOW)
        .add_service(BenchServer::new(Echo))
        .transport(erpc::TransportOptions::default().server_tls(cert))
        .serve([url(transport, addr)])
        .await
        .expect("bind");
    std::future::pending::<()>().await;
}

/// A layer that does nothing: what the layer model itself costs.
#[derive(Clone)]
pub struct Noop<S>(S);

impl<S: erpc::layer::Service<R>, R> erpc::layer::Service<R> for Noop<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> S::Future {
        self.0.call(request)
    }
}

/// The caller.
#[derive(Clone)]
pub struct ErpcCaller(pub BenchClient);

/// One TCP client with `conns` connections.
pub async fn connect(addr: SocketAddr, conns: usize) -> ErpcCaller {
    connect_on("tcp", addr, conns).await
}

/// One client over `transport` with `conns` connections, trusting the server's certificate.
pub async fn connect_on(transport: &str, addr: SocketAddr, conns: usize) -> ErpcCaller {
    connect_layered(transport, addr, conns, Layers::None).await
}

/// Like [`connect_on`], with no-op call-level layers.
pub async fn connect_layered(
    transport: &str,
    addr: SocketAddr,
    conns: usize,
    layers: Layers,
) -> ErpcCaller {
    let mut options = erpc::TransportOptions::default();
    if let Ok(pem) = std::fs::read(cert_path(addr)) {
        options = options.client_tls(erpc::transport::ClientTls::trust_pem(&pem).expect("roots"));
    }
    let builder = layers.apply(
        erpc::Client::builder(),
        |b, l| b.layer(l),
        |b, l| b.layer(l),
    );
    let client = builder
        .stream_window(CLIENT_STREAM_WINDOW)
        .connections(conns)
        .transport(options)
        .connect(url(transport, addr))
        .await
        .expect("connect");
    ErpcCaller(BenchClient::new(client))
}

impl Caller for ErpcCaller {
    async fn call(&self, _worker: usize, msg: &Msg) -> Result<(), String> {
        let back = self.0.echo(msg.clone()).await.map_err(|e| e.to_string())?;
        if back.id != msg.id || back.payload.len() != msg.payload.len() {
            return Err("wrong echo".into());
        }
        Ok(())
    }
}

/// Echo `count` messages through one bidirectional stream; the number echoed back.
pub async fn stream_echo(addr: SocketAddr, msg: &Msg, count: usize) -> Result<usize, String> {
    let caller = connect(addr, 1).await;
    let msg = msg.clone();
    let requests = futures_util::stream::iter((0..count).map(move |_| msg.clone()));
    let mut responses = caller
        .0
        .stream_echo(requests)
        .timeout(std::time::Duration::from_secs(600))
        .await
        .map_err(|e| e.to_string())?;
    let mut echoed = 0;
    while let Some(item) = responses.message().await.map_err(|e| e.to_string())? {
        if item.id != 1 {
            return Err("wrong echo".into());
        }
        echoed += 1;
    }
    Ok(echoed)
}
