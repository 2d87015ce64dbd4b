//! tonic 0.14 + prost: gRPC over HTTP/2 with `TCP_NODELAY`, one channel per connection.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::load::Caller;
use crate::message::{Msg, PbMsg};

/// The generated service (see build.rs).
#[allow(missing_docs, clippy::all)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/bench.Echo.rs"));
}

struct Echo;

#[tonic::async_trait]
impl pb::echo_server::Echo for Echo {
    async fn echo(
        &self,
        request: tonic::Request<PbMsg>,
    ) -> Result<tonic::Response<PbMsg>, tonic::Status> {
        Ok(tonic::Response::new(request.into_inner()))
    }

    type StreamEchoStream = std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<PbMsg, tonic::Status>> + Send + 'static>,
    >;

    async fn stream_echo(
        &self,
        request: tonic::Request<tonic::Streaming<PbMsg>>,
    ) -> Result<tonic::Response<Self::StreamEchoStream>, tonic::Status> {
        Ok(tonic::Response::new(Box::pin(request.into_inner())))
    }
}

/// Serve until the process ends.
pub async fn serve(addr: SocketAddr) {
    tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .add_service(pb::echo_server::EchoServer::new(Echo))
        .serve(addr)
        .await
        .expect("serve");
}

/// One channel (HTTP/2 connection) per connection.
#[derive(Clone)]
pub struct TonicCaller(Arc<Vec<pb::echo_client::EchoClient<tonic::transport::Channel>>>);

/// Open `conns` connections.
pub async fn connect(addr: SocketAddr, conns: usize) -> TonicCaller {
    let mut clients = Vec::new();
    for _ in 0..conns {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .tcp_nodelay(true)
            .connect()
            .await
            .expect("connect");
        clients.push(pb::echo_client::EchoClient::new(channel));
    }
    TonicCaller(Arc::new(clients))
}

impl Caller for TonicCaller {
    async fn call(&self, worker: usize, msg: &Msg) -> Result<(), String> {
        let mut client = self.0[worker % self.0.len()].clone();
        let back = client
            .echo(PbMsg::from(msg))
            .await
            .map_err(|e| e.to_string())?
            .into_inner();
        if back.id != msg.id {
            return Err("wrong echo".into());
        }
        Ok(())
    }
}

/// Echo `count` messages through one bidirectional stream; the number echoed back.
pub async fn stream_echo(addr: SocketAddr, msg: &Msg, count: usize) -> Result<usize, String> {
    let caller = connect(addr, 1).await;
    let mut client = caller.0[0].clone();
    let msg = PbMsg::from(msg);
    let requests = futures_util::stream::iter((0..count).map(move |_| msg.clone()));
    let mut responses = client
        .stream_echo(requests)
        .await
        .map_err(|e| e.to_string())?
        .into_inner();
    let mut echoed = 0;
    while let Some(item) = responses.message().await.map_err(|e| e.to_string())? {
        if item.id != 1 {
            return Err("wrong echo".into());
        }
        echoed += 1;
    }
    Ok(echoed)
}
