//! tarpc 0.38: bincode over length-delimited TCP with `TCP_NODELAY`, one client per
//! connection.

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::StreamExt;
use tarpc::server::{BaseChannel, Channel};
use tarpc::tokio_serde::formats::Bincode;
use tarpc::{client, context};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

use crate::load::Caller;
use crate::message::Msg;

/// The benchmark service, tarpc style.
#[tarpc::service]
pub trait TarpcBench {
    /// Returns the message.
    async fn echo(msg: Msg) -> Msg;
}

#[derive(Clone)]
struct Echo;

impl TarpcBench for Echo {
    async fn echo(self, _: context::Context, msg: Msg) -> Msg {
        msg
    }
}

fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(16 << 20)
        .new_codec()
}

/// Serve until the process ends.
pub async fn serve(addr: SocketAddr) {
    let listener = TcpListener::bind(addr).await.expect("bind");
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        let _ = socket.set_nodelay(true);
        let transport =
            tarpc::serde_transport::new(Framed::new(socket, codec()), Bincode::default());
        let channel = BaseChannel::with_defaults(transport);
        tokio::spawn(
            channel
                .execute(Echo.serve())
                .for_each(|response| async move {
                    tokio::spawn(response);
                }),
        );
    }
}

/// One tarpc client per connection.
#[derive(Clone)]
pub struct TarpcCaller(Arc<Vec<TarpcBenchClient>>);

/// Open `conns` connections.
pub async fn connect(addr: SocketAddr, conns: usize) -> TarpcCaller {
    let mut clients = Vec::new();
    for _ in 0..conns {
        let socket = TcpStream::connect(addr).await.expect("connect");
        socket.set_nodelay(true).expect("nodelay");
        let transport =
            tarpc::serde_transport::new(Framed::new(socket, codec()), Bincode::default());
        clients.push(TarpcBenchClient::new(client::Config::default(), transport).spawn());
    }
    TarpcCaller(Arc::new(clients))
}

impl Caller for TarpcCaller {
    async fn call(&self, worker: usize, msg: &Msg) -> Result<(), String> {
        let client = &self.0[worker % self.0.len()];
        let back = client
            .echo(context::current(), msg.clone())
            .await
            .map_err(|e| e.to_string())?;
        if back.id != msg.id {
            return Err("wrong echo".into());
        }
        Ok(())
    }
}
