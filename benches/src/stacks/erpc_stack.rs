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

/// Serve until the process ends.
pub async fn serve(addr: SocketAddr) {
    let _server = erpc::Server::builder()
        .add_service(BenchServer::new(Echo))
        .serve([format!("tcp://{addr}")])
        .await
        .expect("bind");
    std::future::pending::<()>().await;
}

/// The caller.
#[derive(Clone)]
pub struct ErpcCaller(BenchClient);

/// One client with `conns` connections.
pub async fn connect(addr: SocketAddr, conns: usize) -> ErpcCaller {
    let client = erpc::Client::builder()
        .connections(conns)
        .connect(format!("tcp://{addr}"))
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
