//! The ceiling: `[u64 request id][payload]` frames with `LengthDelimitedCodec`, a batching
//! writer (feed many, flush once), a reader completing calls by id; the server echoes frames
//! without decoding them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

use crate::load::Caller;
use crate::message::Msg;

/// Echo every frame back, flushing once per batch of ready frames.
pub async fn serve(addr: SocketAddr) {
    let listener = TcpListener::bind(addr).await.expect("bind");
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        let _ = socket.set_nodelay(true);
        tokio::spawn(async move {
            let (mut sink, mut stream) = Framed::new(socket, LengthDelimitedCodec::new()).split();
            while let Some(Ok(frame)) = stream.next().await {
                if sink.feed(frame.freeze()).await.is_err() {
                    return;
                }
                while let Some(Some(Ok(frame))) = stream.next().now_or_never() {
                    if sink.feed(frame.freeze()).await.is_err() {
                        return;
                    }
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
        });
    }
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Bytes>>>>;

struct Conn {
    tx: mpsc::UnboundedSender<Bytes>,
    pending: Pending,
    next_id: AtomicU64,
}

/// Calls spread over raw connections by worker.
#[derive(Clone)]
pub struct RawCaller {
    conns: Arc<Vec<Conn>>,
}

/// Open `conns` connections, each with a batching writer and a reader task.
pub async fn connect(addr: SocketAddr, conns: usize) -> RawCaller {
    let mut all = Vec::new();
    for _ in 0..conns {
        let socket = TcpStream::connect(addr).await.expect("connect");
        socket.set_nodelay(true).expect("nodelay");
        let (mut sink, mut stream) = Framed::new(socket, LengthDelimitedCodec::new()).split();
        let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(256);
            while rx.recv_many(&mut batch, 256).await > 0 {
                for frame in batch.drain(..) {
                    if sink.feed(frame).await.is_err() {
                        return;
                    }
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
        });
        let pending: Pending = Arc::default();
        let reader_pending = pending.clone();
        tokio::spawn(async move {
            while let Some(Ok(frame)) = stream.next().await {
                if frame.len() < 8 {
                    continue;
                }
                let id = u64::from_be_bytes(frame[..8].try_into().unwrap_or_default());
                let reply = reader_pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
                if let Some(reply) = reply {
                    let _ = reply.send(frame.freeze());
                }
            }
        });
        all.push(Conn {
            tx,
            pending,
            next_id: AtomicU64::new(1),
        });
    }
    RawCaller {
        conns: Arc::new(all),
    }
}

impl Caller for RawCaller {
    async fn call(&self, worker: usize, msg: &Msg) -> Result<(), String> {
        let conn = &self.conns[worker % self.conns.len()];
        let id = conn.next_id.fetch_add(1, Ordering::Relaxed);
        let mut frame = BytesMut::with_capacity(8 + 8 + msg.name.len() + msg.payload.len());
        frame.put_u64(id);
        frame.put_i64(msg.id);
        frame.put_slice(msg.name.as_bytes());
        frame.put_slice(&msg.payload);
        let len = frame.len();
        let (reply, response) = oneshot::channel();
        conn.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, reply);
        conn.tx
            .send(frame.freeze())
            .map_err(|_| "connection closed")?;
        let echoed = response.await.map_err(|_| "connection closed")?;
        if echoed.len() != len {
            return Err(format!("echo of {} bytes, sent {len}", echoed.len()));
        }
        Ok(())
    }
}
