//! `Feed`: the streaming calls — every shape, streams larger than the 256 KiB window in each
//! direction (so a client that ignores flow control stalls or is disconnected), messages
//! larger than one 64 KiB chunk, a failure mid-stream and a stream that never ends.

use std::sync::Arc;

use erpc::{ServerStream, Status, Streaming};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::probe::{Probe, Unfinished};

/// What `gather` received.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Digest {
    /// Messages received.
    pub messages: u64,
    /// Bytes received, all messages together.
    pub bytes: u64,
    /// FNV-1a (32-bit) of every byte in order: proves the bytes arrived whole and in order.
    pub fnv1a: u32,
}

#[erpc::service(name = "Feed")]
pub trait Feed {
    /// Server stream: 0, 1, … `to - 1`.
    async fn count(&self, to: u64) -> Result<ServerStream<u64>, Status>;
    /// Client stream: the sum of the numbers sent.
    async fn sum(&self, numbers: Streaming<i64>) -> Result<i64, Status>;
    /// Bidirectional: each number doubled, as it arrives.
    async fn double(&self, numbers: Streaming<i64>) -> Result<ServerStream<i64>, Status>;
    /// Server stream of `count` byte strings of `size` bytes; byte `i` of message `k` is
    /// `(k + i) % 251`.
    async fn blob(&self, count: u64, size: u64) -> Result<ServerStream<ByteBuf>, Status>;
    /// Client stream of byte strings: how many, how large, and their checksum.
    async fn gather(&self, parts: Streaming<ByteBuf>) -> Result<Digest, Status>;
    /// Bidirectional: each byte string back, as it arrives.
    async fn echo(&self, parts: Streaming<ByteBuf>) -> Result<ServerStream<ByteBuf>, Status>;
    /// Server stream: `n` numbers, then status `aborted` "failed on purpose" with details
    /// `01 02 03`.
    async fn fail_after(&self, n: u64) -> Result<ServerStream<u64>, Status>;
    /// Server stream: 7, then nothing until cancelled (counted in `Echo.stats`).
    async fn hang(&self) -> Result<ServerStream<u64>, Status>;
}

/// The implementation; clones share the probe.
#[derive(Clone)]
pub struct FeedImpl {
    pub probe: Arc<Probe>,
}

/// FNV-1a, 32-bit, continued from `hash`.
fn fnv1a(mut hash: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

const FNV_OFFSET: u32 = 0x811c_9dc5;

impl Feed for FeedImpl {
    async fn count(&self, to: u64) -> Result<ServerStream<u64>, Status> {
        Ok(ServerStream::iter(0..to))
    }

    async fn sum(&self, mut numbers: Streaming<i64>) -> Result<i64, Status> {
        let mut total: i64 = 0;
        while let Some(n) = numbers.message().await? {
            total = total.wrapping_add(n);
        }
        Ok(total)
    }

    async fn double(&self, numbers: Streaming<i64>) -> Result<ServerStream<i64>, Status> {
        Ok(ServerStream::new(
            numbers.map(|n| n.map(|n| n.wrapping_mul(2))),
        ))
    }

    async fn blob(&self, count: u64, size: u64) -> Result<ServerStream<ByteBuf>, Status> {
        if size > 4 << 20 {
            return Err(Status::invalid_argument(format!(
                "size {size} is over the 4 MiB message limit"
            )));
        }
        Ok(ServerStream::iter((0..count).map(move |k| {
            ByteBuf::from(
                (0..size)
                    .map(|i| ((k + i) % 251) as u8)
                    .collect::<Vec<u8>>(),
            )
        })))
    }

    async fn gather(&self, mut parts: Streaming<ByteBuf>) -> Result<Digest, Status> {
        let mut digest = Digest {
            messages: 0,
            bytes: 0,
            fnv1a: FNV_OFFSET,
        };
        while let Some(part) = parts.message().await? {
            digest.messages += 1;
            digest.bytes += part.len() as u64;
            digest.fnv1a = fnv1a(digest.fnv1a, &part);
        }
        Ok(digest)
    }

    async fn echo(&self, parts: Streaming<ByteBuf>) -> Result<ServerStream<ByteBuf>, Status> {
        Ok(ServerStream::new(parts))
    }

    async fn fail_after(&self, n: u64) -> Result<ServerStream<u64>, Status> {
        let items = futures_util::stream::iter(0..n)
            .map(Ok)
            .chain(futures_util::stream::once(async {
                Err(Status::aborted("failed on purpose").with_details(vec![1u8, 2, 3]))
            }));
        Ok(ServerStream::new(items))
    }

    async fn hang(&self) -> Result<ServerStream<u64>, Status> {
        let probe = self.probe.clone();
        let items = futures_util::stream::once(async { Ok(7) }).chain(futures_util::stream::once(
            async move {
                // Dropped, never finished, when the client cancels: counted as aborted.
                let _running = Unfinished::start(&probe);
                std::future::pending::<()>().await;
                Ok(8)
            },
        ));
        Ok(ServerStream::new(items))
    }
}
