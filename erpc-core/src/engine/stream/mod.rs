//! The engine's half of streaming calls: per-stream flow control ([`Credit`] on the sending
//! side, [`Inbox`] on the receiving side) and the sender that chunks messages
//! ([`Outbound`]). The typed surface (`Streaming`, `ServerStream`, push) is in
//! `crate::stream`.
//!
//! Flow control is by bytes, per stream and direction, as in HTTP/2: a sender may have at
//! most the receiver's window in flight; the receiver grants more (STREAM_WINDOW) as its
//! consumer takes messages, so a slow consumer holds the producer instead of growing a buffer.

mod credit;
mod inbox;
mod lent;
mod outbound;
mod scratch;

pub(crate) use credit::Credit;
pub(crate) use inbox::{Chunk, Inbox, Item, Pushed};
pub(crate) use lent::Lent;
pub(crate) use outbound::{Outbound, Started, end_frame};
pub(crate) use scratch::Scratch;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::engine::reader::Verdict;

use tokio::task::AbortHandle;

pub use crate::protocol::INITIAL_WINDOW;
/// The most body bytes one STREAM_DATA frame carries; larger messages are chunked, so a
/// big message never holds the writer for more than one chunk.
pub const MAX_CHUNK: usize = 64 * 1024;
/// Credit a STREAM_DATA frame costs on top of its body: buffered messages cost memory even
/// when empty, so a flood of empty messages is bounded too.
pub const FRAME_COST: u32 = 32;

/// The credit a STREAM_DATA frame with a body of `len` bytes costs.
pub(crate) fn cost(len: usize) -> u32 {
    // Bodies are at most u32::MAX (the frame decoder bounds them far lower).
    u32::try_from(len)
        .unwrap_or(u32::MAX)
        .saturating_add(FRAME_COST)
}

/// One stream's shared state: what the peer sent us, what we may send, and (client side)
/// the task feeding our messages.
pub(crate) struct StreamState {
    pub inbox: Inbox,
    pub credit: Credit,
    feeder: Mutex<Option<AbortHandle>>,
    /// This side has sent a message (or a gap): the peer may be reacting to it, so its
    /// CANCEL is no rapid reset.
    sent: AtomicBool,
}

impl StreamState {
    pub fn new(inbox: Inbox) -> Self {
        StreamState {
            inbox,
            credit: Credit::new(INITIAL_WINDOW),
            feeder: Mutex::new(None),
            sent: AtomicBool::new(false),
        }
    }

    /// A message (or gap) is being sent on this stream.
    pub fn mark_sent(&self) {
        self.sent.store(true, Ordering::Relaxed);
    }

    /// Whether this side has sent anything on the stream.
    pub fn has_sent(&self) -> bool {
        self.sent.load(Ordering::Relaxed)
    }

    /// Remember the task sending this side's messages, so the stream's end can stop it.
    pub fn set_feeder(&self, handle: AbortHandle) {
        let mut feeder = self.feeder.lock().unwrap_or_else(|p| p.into_inner());
        if self.credit.is_closed() {
            handle.abort();
        } else {
            *feeder = Some(handle);
        }
    }

    /// Stop sending: the credit closes (a sender waiting on it wakes with `status`) and the
    /// feeding task, if any, is aborted.
    pub fn stop_sending(&self, status: crate::status::Status) {
        self.credit.close(status);
        let feeder = self.feeder.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = feeder {
            handle.abort();
        }
    }

    /// The call is over with `status`: nothing more is sent or received.
    pub fn fail(&self, status: crate::status::Status) {
        self.inbox.fail(status.clone());
        self.stop_sending(status);
    }
}

/// The stream the previous frame of this read went to. Under load a read holds many frames
/// of one stream in a row: they look it up once instead of once per frame (a locked table
/// lookup and a reference count each; profiled at ~200 instructions per 64-byte message on
/// the server). Forgotten at the end of every read ([`LastStream::forget`]), so a stream
/// that ended meanwhile is looked up afresh; within one read it is no staler than a lookup
/// made just before its frame.
#[derive(Default)]
pub(crate) struct LastStream(Option<(u64, Arc<StreamState>)>);

impl LastStream {
    /// Stream `id`'s state: the remembered one if it is `id`'s, else what `lookup` finds
    /// (remembered for the next frame).
    pub fn get(
        &mut self,
        id: u64,
        lookup: impl FnOnce() -> Option<Arc<StreamState>>,
    ) -> Option<&Arc<StreamState>> {
        if !matches!(&self.0, Some((last, _)) if *last == id) {
            self.0 = Some((id, lookup()?));
        }
        self.0.as_ref().map(|(_, state)| state)
    }

    /// Forget the stream (the read is over, or it ended).
    pub fn forget(&mut self) {
        self.0 = None;
    }
}

/// Hand a frame of a running stream to it: STREAM_WINDOW to its sender's credit, the others
/// to its inbox. Shared by the client's and the server's read paths.
pub(crate) fn route_stream_frame(state: &StreamState, frame: crate::protocol::Frame) -> Verdict {
    if frame.header.kind == crate::protocol::Kind::STREAM_WINDOW {
        let Ok(increment) = <[u8; 4]>::try_from(&frame.body[..]) else {
            return Verdict::Abuse("a STREAM_WINDOW body is 4 bytes".into());
        };
        if !state.credit.grant(u32::from_be_bytes(increment)) {
            return Verdict::Abuse("a stream window grew past 2^31 - 1 bytes".into());
        }
        return Verdict::Useful;
    }
    match state.inbox.push(frame) {
        Pushed::Taken | Pushed::Late => Verdict::Useful,
        Pushed::Violation(why) => Verdict::Abuse(why),
    }
}
