//! The bounded queue between a connection's senders and its writer task.
//!
//! Why not `tokio::sync::mpsc`: a tokio channel allocates its first block of 32 slots when it
//! is created, 32 × `size_of::<OutFrame>()` ≈ 8.5 KiB, and a connection has two — half the
//! memory of an idle connection (BENCHMARKS.md, "memory per idle connection"). This queue is a
//! `VecDeque` behind a mutex: it allocates on first use, grows only as far as the frames
//! actually queued, and gives its memory back when it is empty and the owner says the
//! connection is idle ([`Sender::release_if_empty`], [`Receiver::shrink_if_empty`]).
//!
//! Semantics are those of the tokio channel it replaces: many senders, one receiver, at most
//! `capacity` frames queued (senders then wait, or get [`TrySendError::Full`]); the receiver
//! sees `None` once every sender is gone and the queue is empty; senders get their frame back
//! once the receiver is gone. Frames from one sender arrive in the order it sent them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::engine::OutFrame;

/// A queue holding at most `capacity` frames (at least one): its sending and receiving ends.
pub(crate) fn channel(capacity: usize) -> (Sender, Receiver) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            frames: VecDeque::new(),
            receiver_gone: false,
        }),
        senders: AtomicUsize::new(1),
        capacity: capacity.max(1),
        ready: Notify::new(),
        room: Notify::new(),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

struct Shared {
    state: Mutex<State>,
    /// Live [`Sender`]s: an atomic, so cloning a sender (once per call on some paths) takes
    /// no lock.
    senders: AtomicUsize,
    capacity: usize,
    /// Wakes the receiver: a frame was queued into an empty queue, or the last sender left.
    ready: Notify,
    /// Wakes waiting senders: a frame was taken off a full queue, or the receiver left.
    room: Notify,
}

struct State {
    frames: VecDeque<OutFrame>,
    receiver_gone: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing in here panics while holding the lock; if something did, the queue's
        // contents are still whole frames.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Why [`Sender::try_send`] gave the frame back.
#[derive(Debug)]
pub(crate) enum TrySendError {
    /// `capacity` frames are queued.
    Full(OutFrame),
    /// The writer is gone: the connection is closed.
    Closed(OutFrame),
}

/// [`Sender::send`] found the writer gone; the frame was not queued.
#[derive(Debug)]
pub(crate) struct SendError(#[allow(dead_code)] pub OutFrame);

/// [`Receiver::try_recv`] found nothing queued.
#[derive(Debug)]
pub(crate) struct Empty;

/// A sending end; clones share the queue. The receiver sees the end of the queue once every
/// clone is dropped.
pub(crate) struct Sender {
    shared: Arc<Shared>,
}

impl Clone for Sender {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        // AcqRel: the receiver that sees zero also sees every frame this sender queued.
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.ready.notify_one();
        }
    }
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("capacity", &self.shared.capacity)
            .finish_non_exhaustive()
    }
}

impl Sender {
    /// Queue `out` if there is room, never waiting.
    // The frame comes back in the error, as with tokio's channel: a caller that cannot queue
    // it may still need it (to wait for room, or to fail the call it belongs to).
    #[allow(clippy::result_large_err)]
    pub fn try_send(&self, out: OutFrame) -> Result<(), TrySendError> {
        let was_empty = {
            let mut state = self.shared.lock();
            if state.receiver_gone {
                return Err(TrySendError::Closed(out));
            }
            if state.frames.len() >= self.shared.capacity {
                return Err(TrySendError::Full(out));
            }
            state.frames.push_back(out);
            state.frames.len() == 1
        };
        // The receiver only waits after finding the queue empty, so only the frame that
        // ends an empty queue needs to wake it (a wake-up is stored if it is not waiting yet).
        if was_empty {
            self.shared.ready.notify_one();
        }
        Ok(())
    }

    /// Queue `out`, waiting for room while the queue is full. Cancel-safe: dropping the
    /// future before it completes drops the frame unqueued.
    #[allow(clippy::result_large_err)]
    pub async fn send(&self, mut out: OutFrame) -> Result<(), SendError> {
        loop {
            let room = self.shared.room.notified();
            tokio::pin!(room);
            // Registered before looking, so room made in between is not missed.
            room.as_mut().enable();
            match self.try_send(out) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(back)) => return Err(SendError(back)),
                Err(TrySendError::Full(back)) => out = back,
            }
            room.await;
        }
    }

    /// Give the queue's memory back if nothing is queued: called when the connection is
    /// idle (a heartbeat tick with nothing read), so an idle connection holds no slots.
    pub fn release_if_empty(&self) {
        let mut state = self.shared.lock();
        if state.frames.is_empty() && state.frames.capacity() > 0 {
            state.frames = VecDeque::new();
        }
    }
}

/// The receiving end: the connection's writer.
pub(crate) struct Receiver {
    shared: Arc<Shared>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let frames = {
            let mut state = self.shared.lock();
            state.receiver_gone = true;
            std::mem::take(&mut state.frames)
        };
        // Dropped outside the lock: a frame's drop may run arbitrary code (its body's owner).
        drop(frames);
        self.shared.room.notify_waiters();
    }
}

impl Receiver {
    /// The next frame; `None` once every sender is gone and nothing is left. Cancel-safe.
    pub async fn recv(&mut self) -> Option<OutFrame> {
        loop {
            if let Ok(out) = self.try_recv() {
                return Some(out);
            }
            if self.shared.senders.load(Ordering::Acquire) == 0 {
                // The last sender may have queued a frame just before it left.
                return self.try_recv().ok();
            }
            self.shared.ready.notified().await;
        }
    }

    /// The next frame if one is queued, never waiting.
    pub fn try_recv(&mut self) -> Result<OutFrame, Empty> {
        let (out, was_full) = {
            let mut state = self.shared.lock();
            let was_full = state.frames.len() >= self.shared.capacity;
            (state.frames.pop_front().ok_or(Empty)?, was_full)
        };
        if was_full {
            self.shared.room.notify_waiters();
        }
        Ok(out)
    }

    /// Frames queued now.
    pub fn len(&self) -> usize {
        self.shared.lock().frames.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Give the memory back if nothing is queued and more than `keep` slots are held: after
    /// a burst, the writer keeps what steady traffic needs and returns the rest.
    pub fn shrink_if_empty(&mut self, keep: usize) {
        let mut state = self.shared.lock();
        if state.frames.is_empty() && state.frames.capacity() > keep {
            state.frames = VecDeque::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::control;
    use crate::protocol::Kind;
    use std::time::Duration;

    fn id(out: &OutFrame) -> u64 {
        out.frame.header.request_id
    }

    #[tokio::test]
    async fn frames_arrive_in_order_and_the_end_follows_the_last_sender() {
        let (tx, mut rx) = channel(8);
        let other = tx.clone();
        for n in 1..=3 {
            tx.try_send(control(Kind::PING, n)).unwrap();
        }
        drop(tx);
        other.send(control(Kind::PING, 4)).await.unwrap();
        assert_eq!(rx.len(), 4);
        for n in 1..=4 {
            assert_eq!(id(&rx.recv().await.unwrap()), n);
        }
        let waiting = tokio::spawn(async move { rx.recv().await.is_none() });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "a sender is still there");
        drop(other);
        assert!(waiting.await.unwrap());
    }

    #[tokio::test]
    async fn a_full_queue_refuses_then_makes_a_sender_wait_for_room() {
        let (tx, mut rx) = channel(2);
        tx.try_send(control(Kind::PING, 1)).unwrap();
        tx.try_send(control(Kind::PING, 2)).unwrap();
        assert!(matches!(
            tx.try_send(control(Kind::PING, 3)),
            Err(TrySendError::Full(out)) if id(&out) == 3
        ));
        let tx2 = tx.clone();
        let blocked = tokio::spawn(async move { tx2.send(control(Kind::PING, 3)).await.is_ok() });
        tokio::task::yield_now().await;
        assert!(!blocked.is_finished(), "no room yet");
        assert_eq!(id(&rx.try_recv().unwrap()), 1);
        assert!(
            tokio::time::timeout(Duration::from_secs(10), blocked)
                .await
                .expect("room made wakes the sender")
                .unwrap()
        );
        assert_eq!(id(&rx.recv().await.unwrap()), 2);
        assert_eq!(id(&rx.recv().await.unwrap()), 3);
        assert!(rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn senders_get_their_frame_back_once_the_receiver_is_gone() {
        let (tx, rx) = channel(1);
        tx.try_send(control(Kind::PING, 1)).unwrap();
        let tx2 = tx.clone();
        let blocked = tokio::spawn(async move { tx2.send(control(Kind::PING, 2)).await });
        tokio::task::yield_now().await;
        drop(rx);
        let back = tokio::time::timeout(Duration::from_secs(10), blocked)
            .await
            .expect("the receiver's end wakes the sender")
            .unwrap();
        assert!(matches!(back, Err(SendError(out)) if id(&out) == 2));
        assert!(matches!(
            tx.try_send(control(Kind::PING, 3)),
            Err(TrySendError::Closed(_))
        ));
    }

    #[tokio::test]
    async fn an_empty_queue_holds_no_memory_until_used_and_after_release() {
        let (tx, mut rx) = channel(4096);
        assert_eq!(tx.shared.lock().frames.capacity(), 0, "nothing before use");
        tx.try_send(control(Kind::PING, 1)).unwrap();
        tx.release_if_empty();
        assert!(
            tx.shared.lock().frames.capacity() > 0,
            "a queued frame is kept"
        );
        rx.try_recv().unwrap();
        rx.shrink_if_empty(64);
        assert!(
            tx.shared.lock().frames.capacity() > 0,
            "a small queue survives the writer's shrink"
        );
        tx.release_if_empty();
        assert_eq!(tx.shared.lock().frames.capacity(), 0, "released when idle");
        for n in 0..100 {
            tx.try_send(control(Kind::PING, n)).unwrap();
        }
        while rx.try_recv().is_ok() {}
        rx.shrink_if_empty(64);
        assert_eq!(
            tx.shared.lock().frames.capacity(),
            0,
            "a burst's slots go back once drained"
        );
    }
}
