//! Engine internals the fuzz targets in `fuzz/` (through `fuzz-checks/`) drive. Not part of
//! the API: thin wrappers, so the stream flow-control types stay crate-private and the
//! targets see plain values instead of the writer's queue.

use crate::engine::frame_queue;
use bytes::Bytes;

use crate::engine::stream::{Credit, Inbox, Item, Pushed};
use crate::engine::{OutFrame, stream::INITIAL_WINDOW};
use crate::protocol::{Frame, Kind};
use crate::status::Status;

pub use crate::engine::stream::{FRAME_COST, MAX_CHUNK};

/// Grants queued by one operation: at most one STREAM_WINDOW per push, take or detach, so
/// this never fills between two drains.
const GRANT_QUEUE: usize = 1024;

/// A stream's receiving side (the engine's `Inbox`) and the STREAM_WINDOW grants it sends.
pub struct StreamInbox {
    inbox: Inbox,
    grants: frame_queue::Receiver,
}

/// What became of a pushed frame (the crate's `Pushed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// Queued, or discarded with its credit returned when nobody consumes.
    Taken,
    /// The stream had already ended.
    Late,
    /// Over the peer's credit, or malformed; the text names it.
    Violation(String),
}

/// What the consumer took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// A STREAM_DATA chunk: its MORE flag and body.
    Chunk {
        /// The message continues in the next chunk.
        more: bool,
        /// The chunk's body.
        body: Bytes,
    },
    /// A STREAM_GAP of this many messages.
    Gap(u64),
    /// The stream failed with this status (reported once).
    Failed(Status),
    /// The stream is over.
    Ended,
    /// Nothing yet.
    Pending,
}

impl StreamInbox {
    /// An inbox for stream `id` granting `window` bytes (at least [`INITIAL_WINDOW`]).
    pub fn new(id: u64, window: u32) -> StreamInbox {
        let (tx, grants) = frame_queue::channel(GRANT_QUEUE);
        StreamInbox {
            inbox: Inbox::new(id, window, tx),
            grants,
        }
    }

    /// The protocol's initial window, which the peer starts with.
    pub fn initial_window() -> u32 {
        INITIAL_WINDOW
    }

    /// The extra grant sent right after the stream opens, if the window is larger.
    pub fn initial_grant(&self) -> Option<u32> {
        self.inbox.initial_grant().map(|f| increment(&f))
    }

    /// The reader pushes a frame.
    pub fn push(&self, frame: Frame) -> PushOutcome {
        match self.inbox.push(frame) {
            Pushed::Taken => PushOutcome::Taken,
            Pushed::Late => PushOutcome::Late,
            Pushed::Violation(why) => PushOutcome::Violation(why),
        }
    }

    /// The consumer polls once.
    pub fn take(&self) -> Taken {
        let waker = futures_util::task::noop_waker_ref();
        match self
            .inbox
            .poll_item(&mut std::task::Context::from_waker(waker))
        {
            std::task::Poll::Pending => Taken::Pending,
            std::task::Poll::Ready(None) => Taken::Ended,
            std::task::Poll::Ready(Some(Err(status))) => Taken::Failed(status),
            std::task::Poll::Ready(Some(Ok(Item::Gap(n)))) => Taken::Gap(n),
            std::task::Poll::Ready(Some(Ok(Item::Chunk(c)))) => Taken::Chunk {
                more: c.more,
                body: c.body,
            },
        }
    }

    /// End the stream locally (deadline, lost connection).
    pub fn fail(&self, status: Status) {
        self.inbox.fail(status);
    }

    /// The consumer is gone.
    pub fn detach(&self) {
        self.inbox.detach();
    }

    /// The STREAM_WINDOW increments sent since the last call, in order.
    pub fn grants(&mut self) -> Vec<u32> {
        std::iter::from_fn(|| self.grants.try_recv().ok())
            .map(|f| {
                assert_eq!(f.frame.header.kind, Kind::STREAM_WINDOW);
                increment(&f)
            })
            .collect()
    }
}

fn increment(f: &OutFrame) -> u32 {
    // The inbox writes exactly four bytes; anything else is the bug the target looks for.
    let four: [u8; 4] = f.frame.body[..]
        .try_into()
        .expect("a 4-byte STREAM_WINDOW body");
    u32::from_be_bytes(four)
}

/// The credit a STREAM_DATA frame with a body of `len` bytes costs.
pub fn cost(len: usize) -> u32 {
    crate::engine::stream::cost(len)
}

/// A stream's sending side (the engine's `Credit`).
pub struct SendCredit(Credit);

impl SendCredit {
    /// A window of `initial` bytes.
    pub fn new(initial: u32) -> SendCredit {
        SendCredit(Credit::new(initial))
    }
    /// The peer's grant; false past the maximum window.
    pub fn grant(&self, increment: u32) -> bool {
        self.0.grant(increment)
    }
    /// Take `cost` bytes if available now.
    pub fn try_take(&self, cost: u32) -> bool {
        self.0.try_take(cost)
    }
    /// Stop the sender.
    pub fn close(&self, status: Status) {
        self.0.close(status);
    }
    /// Whether it was stopped.
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}
