//! The sending side of a stream: messages compressed, cut into chunks, each sent when the
//! peer's window allows, on the connection's data queue (behind unary traffic, see the
//! writer).

use std::sync::Arc;

use crate::engine::frame_queue;
use bytes::Bytes;
use erpc_codec::CodecId;
use erpc_codec::compression::CompressionId;

use crate::body::compress;
use crate::engine::OutFrame;
use crate::engine::stream::{MAX_CHUNK, StreamState, cost};
use crate::protocol::{Frame, HEADER_LEN, Header, Kind};
use crate::status::Status;

/// Small messages are encoded into one batch, queued as one item when it reaches this size or
/// the sender has nothing more ready: one channel operation and one copy per batch instead of
/// per message (64-byte messages: ~1.2 to ~1.6 million per second; BENCHMARKS.md).
const BATCH: usize = 32 * 1024;

/// Sends one side of one stream.
pub(crate) struct Outbound {
    pub id: u64,
    pub data: frame_queue::Sender,
    pub state: Arc<StreamState>,
    /// Compression asked for (messages under the threshold are sent uncompressed).
    pub compression: CompressionId,
    pub threshold: usize,
    /// Largest message sent, after compression.
    pub max_body: u32,
    /// Which side sends (`"client"`, `"server"`): errors say whose limit refused a message.
    pub side: &'static str,
    /// Encoded STREAM_DATA frames not queued yet (see [`Outbound::flush`]).
    pub batch: bytes::BytesMut,
    /// The size of the last batch queued: what the next one reserves.
    pub last_batch: usize,
}

/// What [`Outbound::start`] did with a message.
pub(crate) enum Started {
    /// Encoded into the batch; `flush` when the batch is full and is to be queued now.
    Batched { flush: bool },
    /// To be sent in chunks by [`Outbound::finish`] (large, or the window is used up): the
    /// body as it travels and the compression applied to it.
    Chunked(CompressionId, Bytes),
}

impl Outbound {
    /// Begin sending one encoded message, without waiting: a small message the window has
    /// room for goes into the batch here. Unless that is all ([`Started::Batched`] with
    /// `flush: false`), await [`Outbound::finish`], which waits while the peer's window is
    /// used up. A batched message may wait in the batch: call [`Outbound::flush`] when
    /// nothing more is ready to send. Two steps so that the common case builds no future (an
    /// `async fn send` holding the waits for credit and for the queue was moved per message,
    /// which showed in profiles).
    pub fn start(&mut self, codec: CodecId, body: Bytes) -> Result<Started, Status> {
        self.state.mark_sent();
        let mut compression = CompressionId::NONE;
        let rest = compress(self.compression, body, self.threshold, &mut compression)?;
        if rest.len() > self.max_body as usize {
            return Err(Status::resource_exhausted(format!(
                "{}: stream message of {} bytes exceeds the limit of {} bytes (limits.max_body)",
                self.side,
                rest.len(),
                self.max_body
            )));
        }
        if rest.len() < BATCH && self.state.credit.try_take(cost(rest.len())) {
            if self.batch.capacity() < HEADER_LEN + rest.len() {
                // Room for a batch as large as the last one at once, rather than growing
                // (and copying) it step by step: a busy stream's batches are all about
                // BATCH, a sparse stream's a message or two.
                self.batch
                    .reserve(self.last_batch.max(HEADER_LEN + rest.len()));
            }
            // The header straight into the batch: no header block, a body under the batch
            // size (building a whole `Frame` per small message showed up in profiles).
            Header {
                kind: Kind::STREAM_DATA,
                flags: 0,
                codec,
                compression,
                status: 0,
                request_id: self.id,
                head_len: 0,
                body_len: rest.len() as u32,
            }
            .encode(&mut self.batch);
            self.batch.extend_from_slice(&rest);
            return Ok(Started::Batched {
                flush: self.batch.len() >= BATCH,
            });
        }
        Ok(Started::Chunked(compression, rest))
    }

    /// The rest of sending a message [`Outbound::start`] began: queue the full batch, or
    /// send the message in chunks as the window allows.
    pub async fn finish(&mut self, codec: CodecId, started: Started) -> Result<(), Status> {
        let (compression, mut rest) = match started {
            Started::Batched { flush: true } => return self.flush().await,
            Started::Batched { flush: false } => return Ok(()),
            Started::Chunked(compression, rest) => (compression, rest),
        };
        self.flush().await?;
        loop {
            let chunk = rest.split_to(rest.len().min(MAX_CHUNK));
            let mut frame = Frame::new(Kind::STREAM_DATA, self.id);
            frame.header.codec = codec;
            frame.header.compression = compression;
            if !rest.is_empty() {
                frame.header.flags = Header::MORE;
            }
            self.state.credit.take(cost(chunk.len())).await?;
            frame.body = chunk;
            self.queue(frame).await?;
            if rest.is_empty() {
                return Ok(());
            }
        }
    }

    /// The next item of `source`, queueing the batch first if it is not ready: small messages
    /// batch up while the source has more ready, and go out as soon as it would wait.
    pub async fn next_from<S>(&mut self, source: &mut S) -> Result<Option<S::Item>, Status>
    where
        S: futures_util::Stream + Unpin,
    {
        use futures_util::{FutureExt, StreamExt};
        if let Some(next) = source.next().now_or_never() {
            return Ok(next);
        }
        self.flush().await?;
        Ok(source.next().await)
    }

    /// Queue the batch of small messages, if any.
    pub async fn flush(&mut self) -> Result<(), Status> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = self.batch.split().freeze();
        self.last_batch = batch.len();
        self.data
            .send(OutFrame::encoded(batch))
            .await
            .map_err(|_| Status::unavailable("the connection closed while streaming"))
    }

    /// Tell the peer `count` messages were dropped here.
    pub async fn gap(&mut self, count: u64) -> Result<(), Status> {
        self.state.mark_sent();
        self.flush().await?;
        let mut frame = Frame::new(Kind::STREAM_GAP, self.id);
        frame.body = Bytes::copy_from_slice(&count.to_be_bytes());
        self.state.credit.take(cost(8)).await?;
        self.queue(frame).await
    }

    /// Finish this side: STREAM_END with `status` (`None` for success). Not flow
    /// controlled: one per stream.
    pub async fn end(&mut self, status: Option<&Status>) -> Result<(), Status> {
        self.flush().await?;
        self.queue(end_frame(self.id, status)).await
    }

    async fn queue(&self, frame: Frame) -> Result<(), Status> {
        self.data
            .send(frame.into())
            .await
            .map_err(|_| Status::unavailable("the connection closed while streaming"))
    }
}

/// A STREAM_END frame: success, or the failure that ends the call.
pub(crate) fn end_frame(id: u64, status: Option<&Status>) -> Frame {
    match status {
        None => Frame::new(Kind::STREAM_END, id),
        Some(status) => {
            let mut frame = crate::status_wire::status_frame(id, status);
            frame.header.kind = Kind::STREAM_END;
            frame
        }
    }
}
