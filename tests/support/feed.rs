//! A streaming service for the streaming tests: every call shape, errors, hangs and push.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use erpc::stream::push::{self, Overflow, Pusher};
use erpc::{Context, Raw, ServerStream, Status, Streaming};
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};

use super::Msg;

#[erpc::service]
pub trait Feed {
    /// 0, 1, ... `to - 1`.
    async fn count(&self, to: u64) -> Result<ServerStream<u64>, Status>;
    /// The sum of the numbers sent.
    async fn sum(&self, numbers: Streaming<u64>) -> Result<u64, Status>;
    /// Reads three numbers, then answers with their sum without reading the rest.
    async fn take(&self, numbers: Streaming<u64>) -> Result<u64, Status>;
    /// Each message back, as it arrives.
    async fn echo(&self, messages: Streaming<Msg>) -> Result<ServerStream<Msg>, Status>;
    /// `n` numbers, then a failure with code `aborted`.
    async fn fail_after(&self, n: u64) -> Result<ServerStream<u64>, Status>;
    /// One number, then nothing until cancelled (counted in `aborted`).
    async fn hang(&self, cx: Context) -> Result<ServerStream<u64>, Status>;
    /// A push subscription: the pusher is handed to the test through `pushers`.
    async fn subscribe(
        &self,
        drop_oldest: Option<bool>,
        capacity: u64,
    ) -> Result<ServerStream<u64>, Status>;
    /// `count` messages of `size` bytes each.
    async fn blob(&self, count: u64, size: u64) -> Result<ServerStream<Raw>, Status>;
    /// The number back (the small unary call).
    async fn ping(&self, n: u64) -> Result<u64, Status>;
    /// The parts sent, concatenated: a client stream whose one response may be large.
    async fn gather(&self, parts: Streaming<Raw>) -> Result<Raw, Status>;
}

#[derive(Clone)]
pub struct FeedImpl {
    /// Numbers the `count` stream has produced so far.
    pub produced: Arc<AtomicU64>,
    /// Handlers dropped before they finished.
    pub aborted: watch::Sender<u64>,
    /// Numbers the `sum` handlers have received so far: tells a test its stream is open.
    pub summed: watch::Sender<u64>,
    /// Each subscription's pusher, handed to the test as the handler makes it.
    pushers: mpsc::UnboundedSender<Pusher<u64>>,
    subscribed: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Pusher<u64>>>>,
}

impl Default for FeedImpl {
    fn default() -> Self {
        let (pushers, subscribed) = mpsc::unbounded_channel();
        FeedImpl {
            produced: Arc::default(),
            aborted: watch::channel(0).0,
            summed: watch::channel(0).0,
            pushers,
            subscribed: Arc::new(tokio::sync::Mutex::new(subscribed)),
        }
    }
}

impl FeedImpl {
    /// The pusher of the next subscription, once its handler has run.
    pub async fn next_pusher(&self) -> Pusher<u64> {
        let mut subscribed = self.subscribed.lock().await;
        tokio::time::timeout(std::time::Duration::from_secs(5), subscribed.recv())
            .await
            .expect("a subscription within 5 s")
            .expect("the service is alive")
    }
}

/// Counts an abort when dropped (the handler's future or stream went away unfinished).
struct OnDrop(watch::Sender<u64>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n += 1);
    }
}

impl Feed for FeedImpl {
    async fn count(&self, to: u64) -> Result<ServerStream<u64>, Status> {
        let produced = self.produced.clone();
        Ok(ServerStream::new(futures_util::stream::iter(0..to).map(
            move |n| {
                produced.fetch_add(1, Ordering::Relaxed);
                Ok(n)
            },
        )))
    }

    async fn sum(&self, mut numbers: Streaming<u64>) -> Result<u64, Status> {
        let mut total = 0;
        while let Some(n) = numbers.message().await? {
            total += n;
            self.summed.send_modify(|count| *count += 1);
        }
        Ok(total)
    }

    async fn take(&self, mut numbers: Streaming<u64>) -> Result<u64, Status> {
        let mut total = 0;
        for _ in 0..3 {
            total += numbers.message().await?.unwrap_or(0);
        }
        Ok(total)
    }

    async fn echo(&self, messages: Streaming<Msg>) -> Result<ServerStream<Msg>, Status> {
        Ok(ServerStream::new(messages))
    }

    async fn fail_after(&self, n: u64) -> Result<ServerStream<u64>, Status> {
        let items = futures_util::stream::iter(0..n)
            .map(Ok)
            .chain(futures_util::stream::once(async {
                Err(Status::aborted("failed on purpose").with_details(vec![1, 2, 3]))
            }));
        Ok(ServerStream::new(items))
    }

    async fn hang(&self, _cx: Context) -> Result<ServerStream<u64>, Status> {
        let guard = OnDrop(self.aborted.clone());
        let items = futures_util::stream::once(async { Ok(7) }).chain(futures_util::stream::once(
            async move {
                let _guard = guard;
                std::future::pending::<()>().await;
                Ok(8)
            },
        ));
        Ok(ServerStream::new(items))
    }

    async fn subscribe(
        &self,
        drop_oldest: Option<bool>,
        capacity: u64,
    ) -> Result<ServerStream<u64>, Status> {
        let overflow = match drop_oldest {
            None => Overflow::Block,
            Some(true) => Overflow::DropOldest,
            Some(false) => Overflow::DropNewest,
        };
        let (pusher, stream) = push::channel(capacity as usize, overflow);
        let _ = self.pushers.send(pusher);
        Ok(stream)
    }

    async fn blob(&self, count: u64, size: u64) -> Result<ServerStream<Raw>, Status> {
        let chunk = bytes::Bytes::from(vec![0x5a; size as usize]);
        Ok(ServerStream::iter(
            (0..count).map(move |_| Raw(chunk.clone())),
        ))
    }

    async fn ping(&self, n: u64) -> Result<u64, Status> {
        Ok(n)
    }

    async fn gather(&self, mut parts: Streaming<Raw>) -> Result<Raw, Status> {
        let mut all = Vec::new();
        while let Some(part) = parts.message().await? {
            all.extend_from_slice(&part.0);
        }
        Ok(Raw(all.into()))
    }
}

/// A Feed server on `addr` (bound address returned) and its implementation.
pub async fn start_feed(
    addr: &str,
    config: erpc::ServerConfig,
) -> (erpc::ServerHandle, String, FeedImpl) {
    let feed = FeedImpl::default();
    let handle = erpc::Server::builder()
        .config(erpc::ServerConfig {
            transport: super::server_options(),
            ..config
        })
        .add_service(FeedServer::new(feed.clone()))
        .serve([addr])
        .await
        .expect("server starts");
    let addr = handle.local_addr().to_string();
    (handle, addr, feed)
}

/// A STREAM_OPEN of `method` on the Feed service with a 5 s deadline, for raw peers.
pub fn open(id: u64, method: &'static str) -> erpc::protocol::Frame {
    let mut frame = erpc::protocol::Frame::new(erpc::protocol::Kind::STREAM_OPEN, id);
    frame.head.service = Some("Feed".into());
    frame.head.method = Some(method.into());
    frame.head.deadline_micros = Some(5_000_000);
    frame
}
