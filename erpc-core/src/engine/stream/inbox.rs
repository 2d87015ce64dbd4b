//! The receiving side of a stream: frames the reader pushed, waiting for the consumer, and
//! the credit returned to the peer as the consumer takes them.
//!
//! The reader never waits here: the peer may only send what it was granted, so the queue
//! holds at most the window. A peer that sends more is breaking the protocol.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use crate::engine::frame_queue;
use bytes::Bytes;
use erpc_codec::CodecId;
use erpc_codec::compression::CompressionId;

use crate::engine::stream::{INITIAL_WINDOW, cost};
use crate::engine::{OutFrame, queue};
use crate::protocol::{Frame, Header, Kind};
use crate::status::Status;

/// One STREAM_DATA frame's content.
#[derive(Debug)]
pub(crate) struct Chunk {
    pub codec: CodecId,
    pub compression: CompressionId,
    /// The message continues in the next chunk.
    pub more: bool,
    pub body: Bytes,
}

/// What the consumer takes off the queue.
#[derive(Debug)]
pub(crate) enum Item {
    Chunk(Chunk),
    /// The peer dropped this many messages here.
    Gap(u64),
}

/// What became of a frame the reader pushed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued (or, with nobody consuming, discarded and its credit returned).
    Taken,
    /// The stream had already ended: a frame that crossed our end on the wire.
    Late,
    /// The peer sent more than its credit, or a malformed stream frame.
    Violation(String),
}

enum End {
    /// Still open.
    Open,
    /// The peer half-closed its side; `Err` if it ended the call with a failure.
    Peer(Result<(), Status>),
    /// The end has been reported to the consumer.
    Reported,
}

struct State {
    queue: VecDeque<(Item, u32)>,
    end: End,
    /// Credit the peer still has (what we granted minus what it used).
    peer_credit: u64,
    /// Credit of frames the consumer took since the last grant.
    consumed: u64,
    /// Nobody will consume: frames are discarded and their credit returned at once.
    detached: bool,
    waker: Option<Waker>,
}

pub(crate) struct Inbox {
    id: u64,
    window: u32,
    tx: frame_queue::Sender,
    state: Mutex<State>,
}

impl Inbox {
    /// An inbox for stream `id` that lets the peer have `window` bytes in flight (at least
    /// the protocol's initial window), granting through `tx`.
    pub fn new(id: u64, window: u32, tx: frame_queue::Sender) -> Self {
        let window = window.max(INITIAL_WINDOW);
        Inbox {
            id,
            window,
            tx,
            state: Mutex::new(State {
                queue: VecDeque::new(),
                end: End::Open,
                peer_credit: u64::from(INITIAL_WINDOW),
                consumed: 0,
                detached: false,
                waker: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The grant that raises the peer's credit from the protocol's initial window to ours;
    /// to be sent right after the stream opens.
    pub fn initial_grant(&self) -> Option<OutFrame> {
        let extra = self.window - INITIAL_WINDOW;
        if extra == 0 {
            return None;
        }
        self.lock().peer_credit += u64::from(extra);
        Some(window_frame(self.id, extra))
    }

    /// A frame for this stream from the reader: STREAM_DATA, STREAM_GAP or STREAM_END.
    pub fn push(&self, frame: Frame) -> Pushed {
        let mut state = self.lock();
        if !matches!(state.end, End::Open) {
            return Pushed::Late;
        }
        let header = frame.header;
        let item = match header.kind {
            Kind::STREAM_END => {
                state.end = End::Peer(crate::status_wire::status_of(&frame));
                wake(&mut state);
                return Pushed::Taken;
            }
            Kind::STREAM_GAP => match <[u8; 8]>::try_from(&frame.body[..]) {
                Ok(count) => Item::Gap(u64::from_be_bytes(count)),
                Err(_) => return Pushed::Violation("STREAM_GAP body is not 8 bytes".into()),
            },
            _ => Item::Chunk(Chunk {
                codec: header.codec,
                compression: header.compression,
                more: header.flags & Header::MORE != 0,
                body: frame.body,
            }),
        };
        let cost = cost(header.body_len as usize);
        if u64::from(cost) > state.peer_credit {
            return Pushed::Violation(format!(
                "stream {} sent {cost} bytes with {} bytes of credit",
                self.id, state.peer_credit
            ));
        }
        state.peer_credit -= u64::from(cost);
        if state.detached {
            state.consumed += u64::from(cost);
            self.flush_grant(&mut state, 1);
            return Pushed::Taken;
        }
        state.queue.push_back((item, cost));
        wake(&mut state);
        Pushed::Taken
    }

    /// Take the next item: `None` once the peer's side ended cleanly, the failure once if it
    /// did not.
    pub fn poll_item(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Item, Status>>> {
        let mut state = self.lock();
        if let Some((item, cost)) = state.queue.pop_front() {
            self.returned(&mut state, cost);
            return Poll::Ready(Some(Ok(item)));
        }
        if matches!(state.end, End::Open) {
            if !state
                .waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                state.waker = Some(cx.waker().clone());
            }
            return Poll::Pending;
        }
        // A failure is reported once; after it, and after a clean end, the stream is over.
        match std::mem::replace(&mut state.end, End::Reported) {
            End::Peer(Err(status)) => Poll::Ready(Some(Err(status))),
            _ => Poll::Ready(None),
        }
    }

    /// End the stream locally with `status` (deadline, lost connection): what is queued is
    /// dropped and the consumer gets `status` next.
    pub fn fail(&self, status: Status) {
        let mut state = self.lock();
        if matches!(state.end, End::Open) {
            state.queue.clear();
            state.end = End::Peer(Err(status));
            wake(&mut state);
        }
    }

    /// The consumer is gone: drop what is queued and keep the peer's credit flowing, so a
    /// peer still sending (the other half of a bidirectional call) is not stalled.
    pub fn detach(&self) {
        let mut state = self.lock();
        state.detached = true;
        let queued: u64 = state.queue.drain(..).map(|(_, cost)| u64::from(cost)).sum();
        state.consumed += queued;
        self.flush_grant(&mut state, 1);
    }

    /// Count `cost` as consumed, granting the peer more once a quarter of the window is
    /// used up (often enough that a fast consumer never starves the producer).
    fn returned(&self, state: &mut State, cost: u32) {
        state.consumed += u64::from(cost);
        self.flush_grant(state, u64::from(self.window / 4));
    }

    fn flush_grant(&self, state: &mut State, threshold: u64) {
        if state.consumed < threshold || !matches!(state.end, End::Open) {
            return;
        }
        let grant = u32::try_from(state.consumed).unwrap_or(u32::MAX);
        state.consumed -= u64::from(grant);
        state.peer_credit += u64::from(grant);
        let frame = window_frame(self.id, grant);
        // Outside a runtime (a stream dropped at shutdown) there is nobody to send for.
        if let Some(wait) = queue(&self.tx, frame) {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(wait);
            }
        }
    }
}

fn wake(state: &mut State) {
    if let Some(waker) = state.waker.take() {
        waker.wake();
    }
}

/// A STREAM_WINDOW frame granting `increment` bytes on stream `id`.
pub(crate) fn window_frame(id: u64, increment: u32) -> OutFrame {
    let mut frame = Frame::new(Kind::STREAM_WINDOW, id);
    frame.body = Bytes::copy_from_slice(&increment.to_be_bytes());
    frame.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::task::noop_waker_ref;

    fn data(id: u64, len: usize) -> Frame {
        let mut frame = Frame::new(Kind::STREAM_DATA, id);
        frame.body = Bytes::from(vec![7u8; len]);
        frame.header.body_len = len as u32;
        frame
    }

    fn take(inbox: &Inbox) -> Poll<Option<Result<Item, Status>>> {
        inbox.poll_item(&mut Context::from_waker(noop_waker_ref()))
    }

    #[tokio::test]
    async fn the_peer_cannot_send_past_its_credit_and_consuming_grants_more() {
        let (tx, mut rx) = frame_queue::channel(16);
        let inbox = Inbox::new(5, INITIAL_WINDOW, tx);
        let len = 64 * 1024 - 32;
        for _ in 0..4 {
            assert_eq!(inbox.push(data(5, len)), Pushed::Taken);
        }
        assert!(matches!(inbox.push(data(5, 1)), Pushed::Violation(_)));
        assert!(
            rx.try_recv().is_err(),
            "granted before anything was consumed"
        );
        assert!(matches!(
            take(&inbox),
            Poll::Ready(Some(Ok(Item::Chunk(_))))
        ));
        let grant = rx
            .try_recv()
            .expect("a grant after a quarter of the window");
        assert_eq!(grant.frame.header.kind, Kind::STREAM_WINDOW);
        assert_eq!(&grant.frame.body[..], &(64u32 * 1024).to_be_bytes());
        assert_eq!(inbox.push(data(5, len)), Pushed::Taken);
    }

    #[tokio::test]
    async fn end_is_reported_after_the_queue_and_late_frames_are_recognised() {
        let (tx, _rx) = frame_queue::channel(16);
        let inbox = Inbox::new(1, INITIAL_WINDOW, tx);
        assert_eq!(inbox.push(data(1, 3)), Pushed::Taken);
        let mut end = Frame::new(Kind::STREAM_END, 1);
        end.header.status = crate::status::Code::Aborted as u8;
        assert_eq!(inbox.push(end), Pushed::Taken);
        assert_eq!(inbox.push(data(1, 3)), Pushed::Late);
        assert!(matches!(take(&inbox), Poll::Ready(Some(Ok(_)))));
        assert!(
            matches!(take(&inbox), Poll::Ready(Some(Err(s))) if s.code() == crate::status::Code::Aborted)
        );
        assert!(matches!(take(&inbox), Poll::Ready(None)));
    }

    #[tokio::test]
    async fn a_detached_inbox_keeps_the_peers_credit_flowing() {
        let (tx, mut rx) = frame_queue::channel(256);
        let inbox = Inbox::new(1, INITIAL_WINDOW, tx);
        inbox.detach();
        for _ in 0..100 {
            assert_eq!(inbox.push(data(1, 60_000)), Pushed::Taken);
        }
        let granted: u64 = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|f| u64::from(u32::from_be_bytes(f.frame.body[..].try_into().unwrap())))
            .sum();
        assert_eq!(granted, 100 * 60_032);
    }
}
