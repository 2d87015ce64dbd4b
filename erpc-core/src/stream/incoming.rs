//! Messages arriving on a stream: [`Incoming`] reassembles and decompresses them,
//! [`Streaming`] decodes them into a type.

use crate::codec_failure::{Site, decode_failed};
use crate::observe::{Direction, StreamWatch};
use crate::protocol::ByteStr;
use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use erpc_codec::compression::CompressionId;
use erpc_codec::{CodecId, Codecs, Message};
use futures_util::Stream;

use crate::body::decompress;
use crate::engine::stream::{Chunk, Item, Lent, StreamState};
use crate::protocol::CompressionList;
use crate::status::{Code, Status};

/// What a stream delivers: a message, or the news that the sender dropped some (a server
/// push under the drop policy, see [`crate::stream::push`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<T> {
    /// The next message.
    Message(T),
    /// The sender dropped this many messages here because this side could not keep up.
    Dropped(u64),
}

/// A message as it arrived: the codec it is in and its decompressed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// The codec of the body.
    pub codec: CodecId,
    /// The encoded body.
    pub body: Bytes,
}

/// What polling a stream gives.
type Polled<T> = Poll<Option<Result<Event<T>, Status>>>;

/// The untyped messages of a stream, reassembled from chunks and decompressed. Handlers get
/// it typed as a [`Streaming`].
pub struct Incoming {
    state: Arc<StreamState>,
    codecs: Arc<Codecs>,
    max_body: usize,
    max_decompressed: usize,
    /// What messages may be compressed with: the call's accept-compression list (a client),
    /// or `None` for anything supported (a server).
    accept: Option<CompressionList>,
    /// A message arriving in several chunks: its chunks so far and their total size. Copied
    /// together once the last is in (growing one buffer chunk by chunk copied a 1 MiB
    /// message about twice over).
    assembling: Option<(CodecId, CompressionId, Vec<Bytes>, usize)>,
    /// Assembled messages' buffers, reused once the message is decoded (or its consumer let
    /// go of it): a fresh one per message was new memory each time, every page a fault.
    lent: Lent,
    dropped: u64,
    done: bool,
    on_drop: Option<Box<dyn FnOnce() + Send + Sync>>,
    /// Runs once the stream is over for its reader: at its end, or when let go before it.
    on_end: Option<Box<dyn FnOnce() + Send + Sync>>,
    /// Who reads these messages, and for which call: named when one does not decode.
    site: Site,
    call: (ByteStr, ByteStr),
    /// Reports each message handed out, if an observer listens.
    watch: Option<StreamWatch>,
}

impl fmt::Debug for Incoming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("dropped", &self.dropped)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Incoming {
    /// `on_drop` runs when the consumer lets go (cancel, or detach on the server); `accept`
    /// is what messages may be compressed with (`None`: anything this build supports).
    pub(crate) fn new(
        state: Arc<StreamState>,
        codecs: Arc<Codecs>,
        limits: crate::protocol::Limits,
        accept: Option<CompressionList>,
        on_drop: Box<dyn FnOnce() + Send + Sync>,
        site: Site,
        call: (ByteStr, ByteStr),
    ) -> Self {
        Incoming {
            state,
            codecs,
            max_body: limits.max_body as usize,
            max_decompressed: limits.max_decompressed,
            accept,
            assembling: None,
            lent: Lent::default(),
            dropped: 0,
            done: false,
            on_drop: Some(on_drop),
            on_end: None,
            site,
            call,
            watch: None,
        }
    }

    /// Report each message handed out to `watch`'s observer, if there is one.
    pub(crate) fn watched(mut self, watch: Option<StreamWatch>) -> Self {
        self.watch = watch;
        self
    }

    /// Run `on_end` once the stream is over for its reader — it ended (the last message, or
    /// an error, was read) or was let go before that: a client's count of the call in its
    /// instance's load, so an ended stream no longer counts in flight however long its
    /// handle is kept.
    pub(crate) fn on_end(mut self, on_end: Box<dyn FnOnce() + Send + Sync>) -> Self {
        self.on_end = Some(on_end);
        self
    }

    /// Decode the messages as `T`.
    pub fn typed<T: Message>(self) -> Streaming<T> {
        Streaming {
            incoming: self,
            _type: PhantomData,
        }
    }

    /// Messages the sender reported dropping so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The next message (codec and decompressed body) or gap; `None` when the stream ended.
    pub fn poll_raw(&mut self, cx: &mut Context<'_>) -> Polled<RawMessage> {
        if self.done {
            return Poll::Ready(None);
        }
        let event = ready!(self.poll_event(cx));
        match &event {
            Some(Ok(_)) => {}
            None => self.end(Code::Ok),
            Some(Err(status)) => self.end(status.code()),
        }
        Poll::Ready(event)
    }

    /// The stream is over for its reader, the call ended with `code` (told to the watch).
    fn end(&mut self, code: Code) {
        self.done = true;
        if let Some(watch) = &self.watch {
            watch.ended(code);
        }
        if let Some(on_end) = self.on_end.take() {
            on_end();
        }
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Polled<RawMessage> {
        loop {
            let item = match ready!(self.state.inbox.poll_item(cx)) {
                None if self.assembling.is_some() => {
                    return Poll::Ready(Some(Err(Status::internal(
                        "the stream ended in the middle of a message",
                    ))));
                }
                None => return Poll::Ready(None),
                Some(Err(status)) => return Poll::Ready(Some(Err(status))),
                Some(Ok(item)) => item,
            };
            let chunk = match item {
                Item::Gap(_) if self.assembling.is_some() => {
                    return Poll::Ready(Some(Err(Status::internal(
                        "the peer reported a gap in the middle of a message",
                    ))));
                }
                Item::Gap(count) => {
                    self.dropped += count;
                    return Poll::Ready(Some(Ok(Event::Dropped(count))));
                }
                Item::Chunk(chunk) => chunk,
            };
            let Some((codec, compression, body)) = self.assemble(chunk)? else {
                continue;
            };
            let body = decompress(
                compression,
                body,
                self.max_decompressed,
                self.accept.as_ref(),
            )
            .map_err(|e| crate::body::side_status(self.site.side(), e))?;
            if let Some(watch) = &self.watch {
                watch.message(Direction::Received, body.len());
            }
            return Poll::Ready(Some(Ok(Event::Message(RawMessage { codec, body }))));
        }
    }

    /// Add a chunk; the whole message once its last chunk is in. A single-chunk message is
    /// passed on without a copy.
    fn assemble(
        &mut self,
        chunk: Chunk,
    ) -> Result<Option<(CodecId, CompressionId, Bytes)>, Status> {
        let Chunk {
            codec,
            compression,
            more,
            body,
        } = chunk;
        let (codec, compression, mut chunks, len) = match self.assembling.take() {
            None if !more => return Ok(Some((codec, compression, body))),
            // A 1 MiB message is 16 chunks of the largest size.
            None => (codec, compression, Vec::with_capacity(16), 0),
            Some(so_far) => so_far,
        };
        let len = len + body.len();
        chunks.push(body);
        if len > self.max_body {
            return Err(Status::resource_exhausted(format!(
                "{}: stream message of {}.{} exceeds the limit of {} bytes (limits.max_body)",
                self.site.side(),
                self.call.0,
                self.call.1,
                self.max_body
            )));
        }
        if more {
            self.assembling = Some((codec, compression, chunks, len));
            return Ok(None);
        }
        let mut whole = self
            .lent
            .reclaim(len)
            .unwrap_or_else(|| BytesMut::with_capacity(len));
        for chunk in chunks {
            whole.extend_from_slice(&chunk);
        }
        let whole = whole.freeze();
        self.lent.lend(&whole);
        Ok(Some((codec, compression, whole)))
    }

    fn decode<T: Message>(&self, codec: CodecId, body: Bytes) -> Result<T, Status> {
        let known = self.codecs.get(codec).ok_or_else(|| {
            Status::unimplemented(format!(
                "stream message of {}.{} in codec {codec}, which is not registered here (register_codec)",
                self.call.0, self.call.1
            ))
        })?;
        T::decode(known, body)
            .map_err(|e| decode_failed(self.site, (&self.call.0, &self.call.1), codec, e))
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if !self.done {
            // Let go before its end: the call is cancelled (`on_drop` tells the peer).
            self.end(Code::Cancelled);
        }
        if let Some(on_drop) = self.on_drop.take() {
            on_drop();
        }
    }
}

/// A stream of messages of type `T` from the peer: the requests of a client- or
/// bidirectional-streaming handler, the responses a client gets from a streaming call.
///
/// It is a [`Stream`] of `Result<T, Status>`: `Ok` items until the peer finishes, then the
/// end; or an `Err` with the status the call ended with (an error from the peer, the
/// deadline, a lost connection), after which it ends. Dropping it cancels the call (client)
/// or stops receiving (server).
///
/// ```
/// # use erpc_core as erpc;
/// # async fn f(mut numbers: erpc::Streaming<u32>) -> Result<u64, erpc::Status> {
/// let mut total = 0u64;
/// while let Some(n) = numbers.message().await? {
///     total += u64::from(n);
/// }
/// # Ok(total) }
/// ```
pub struct Streaming<T> {
    incoming: Incoming,
    _type: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for Streaming<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Streaming").field(&self.incoming).finish()
    }
}

impl<T: Message> Streaming<T> {
    /// The next message, `None` at the end. Gaps (messages the sender dropped) are counted in
    /// [`Streaming::dropped`] and skipped; use [`Streaming::event`] to see them in place.
    pub async fn message(&mut self) -> Result<Option<T>, Status> {
        std::future::poll_fn(|cx| self.poll_message(cx))
            .await
            .transpose()
    }

    /// The next message or gap, `None` at the end.
    pub async fn event(&mut self) -> Result<Option<Event<T>>, Status> {
        std::future::poll_fn(|cx| self.poll_typed(cx))
            .await
            .transpose()
    }

    /// Messages the sender reported dropping so far (server push under the drop policy).
    pub fn dropped(&self) -> u64 {
        self.incoming.dropped
    }

    /// The one message of a stream that must carry exactly one (a client-streaming call's
    /// response), after the stream's end has confirmed the call succeeded.
    pub async fn single(mut self) -> Result<T, Status> {
        let message = self
            .message()
            .await?
            .ok_or_else(|| Status::internal("the call ended without its response message"))?;
        match self.message().await? {
            None => Ok(message),
            Some(_) => Err(Status::internal(
                "the call sent more than the one response message it should",
            )),
        }
    }

    fn poll_typed(&mut self, cx: &mut Context<'_>) -> Polled<T> {
        let event = match ready!(self.incoming.poll_raw(cx)) {
            None => return Poll::Ready(None),
            Some(Err(status)) => Err(status),
            Some(Ok(Event::Dropped(n))) => Ok(Event::Dropped(n)),
            Some(Ok(Event::Message(raw))) => self
                .incoming
                .decode(raw.codec, raw.body)
                .map(Event::Message),
        };
        if let Err(status) = &event {
            self.incoming.end(status.code());
        }
        Poll::Ready(Some(event))
    }

    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, Status>>> {
        loop {
            return Poll::Ready(match ready!(self.poll_typed(cx)) {
                None => None,
                Some(Ok(Event::Dropped(_))) => continue,
                Some(Ok(Event::Message(message))) => Some(Ok(message)),
                Some(Err(status)) => Some(Err(status)),
            });
        }
    }
}

impl<T: Message> Stream for Streaming<T> {
    type Item = Result<T, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_message(cx)
    }
}
