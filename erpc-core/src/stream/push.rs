//! Server push: a handler returns the [`ServerStream`] half of a [`channel`] to a client that
//! subscribed, keeps the [`Pusher`] (in a registry, a task, anywhere) and sends whenever it
//! likes. When the client reads slower than the pusher sends, the [`Overflow`] policy says
//! what happens, explicitly: hold the pusher, or drop messages, count them, and tell the
//! client where ([`crate::stream::Event::Dropped`]). Nothing is ever dropped silently.
//!
//! ```
//! # use erpc_core as erpc;
//! use erpc::stream::push::{self, Overflow};
//! use erpc::{ServerStream, Status};
//!
//! async fn subscribe(registry: &std::sync::Mutex<Vec<push::Pusher<String>>>)
//!     -> Result<ServerStream<String>, Status> {
//!     let (pusher, stream) = push::channel(64, Overflow::DropOldest);
//!     registry.lock().unwrap().push(pusher);
//!     Ok(stream)
//! }
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use futures_util::Stream;
use tokio::sync::Notify;

use crate::status::Status;
use crate::stream::server_stream::{Produced, ServerStream};

/// What a push channel does when it holds `capacity` messages the client has not taken yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// [`Pusher::send`] waits for room: the pusher is held back to the client's pace.
    Block,
    /// The new message is dropped and counted; the client sees the gap after the messages
    /// it will still receive.
    DropNewest,
    /// The oldest queued message is dropped and counted, so the client gets the most recent
    /// ones; it sees the gap where the message was.
    DropOldest,
}

/// The client went away (cancelled, disconnected, deadline): the message was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed<T>(pub T);

impl<T> fmt::Display for Closed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the subscriber is gone")
    }
}

impl<T: fmt::Debug> std::error::Error for Closed<T> {}

enum Slot<T> {
    Message(T),
    Gap(u64),
}

struct State<T> {
    queue: VecDeque<Slot<T>>,
    /// Messages in `queue` (gaps are not counted).
    messages: usize,
    dropped: u64,
    pushers: usize,
    /// The receiving side is gone.
    closed: bool,
    failed: Option<Status>,
    waker: Option<Waker>,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    room: Notify,
    capacity: usize,
    overflow: Overflow,
}

impl<T> Shared<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A channel for pushing messages to one subscribed client, holding up to `capacity`
/// (at least 1) messages it has not taken yet.
pub fn channel<T: Send + 'static>(
    capacity: usize,
    overflow: Overflow,
) -> (Pusher<T>, ServerStream<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            messages: 0,
            dropped: 0,
            pushers: 1,
            closed: false,
            failed: None,
            waker: None,
        }),
        room: Notify::new(),
        capacity: capacity.max(1),
        overflow,
    });
    let receiver = Receiver {
        shared: shared.clone(),
    };
    (Pusher { shared }, ServerStream::produced(receiver))
}

/// The sending half of a push channel. Clone it to push from several places; the client's
/// stream ends (successfully) when the last one is dropped — unless one was dropped by a
/// panic unwinding through its task: then the stream ends with `internal` ("a pusher
/// panicked") after what was already queued, since the messages it would have sent never
/// come.
pub struct Pusher<T> {
    shared: Arc<Shared<T>>,
}

impl<T> fmt::Debug for Pusher<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pusher")
            .field("overflow", &self.shared.overflow)
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl<T> Clone for Pusher<T> {
    fn clone(&self) -> Self {
        self.shared.lock().pushers += 1;
        Pusher {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Pusher<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.pushers -= 1;
        if std::thread::panicking() {
            // The task holding this pusher is unwinding: what it would have pushed never
            // comes, so the subscriber must not see the stream end as if it had succeeded.
            state.failed.get_or_insert_with(|| {
                Status::internal("a pusher panicked; the stream is incomplete")
            });
            wake(&mut state);
        } else if state.pushers == 0 {
            wake(&mut state);
        }
    }
}

impl<T> Pusher<T> {
    /// Push a message. Under [`Overflow::Block`] this waits while the channel is full; under
    /// the drop policies it never waits. `Err` once the client is gone.
    pub async fn send(&self, message: T) -> Result<(), Closed<T>> {
        let mut message = Some(message);
        loop {
            let room = self.shared.room.notified();
            match self.offer(&mut message) {
                Poll::Ready(result) => return result,
                Poll::Pending => room.await,
            }
        }
    }

    /// Push without waiting: under [`Overflow::Block`] a full channel gives the message back.
    pub fn try_send(&self, message: T) -> Result<(), TrySendError<T>> {
        let mut message = Some(message);
        match self.offer(&mut message) {
            Poll::Ready(Ok(())) => Ok(()),
            Poll::Ready(Err(Closed(m))) => Err(TrySendError::Closed(m)),
            Poll::Pending => match message {
                Some(m) => Err(TrySendError::Full(m)),
                None => Ok(()),
            },
        }
    }

    fn offer(&self, message: &mut Option<T>) -> Poll<Result<(), Closed<T>>> {
        let mut state = self.shared.lock();
        let Some(m) = message.take() else {
            return Poll::Ready(Ok(()));
        };
        if state.closed {
            return Poll::Ready(Err(Closed(m)));
        }
        if state.messages >= self.shared.capacity {
            match self.shared.overflow {
                Overflow::Block => {
                    *message = Some(m);
                    return Poll::Pending;
                }
                Overflow::DropNewest => {
                    state.dropped += 1;
                    match state.queue.back_mut() {
                        Some(Slot::Gap(n)) => *n += 1,
                        _ => state.queue.push_back(Slot::Gap(1)),
                    }
                    wake(&mut state);
                    return Poll::Ready(Ok(()));
                }
                Overflow::DropOldest => drop_oldest(&mut state),
            }
        }
        state.queue.push_back(Slot::Message(m));
        state.messages += 1;
        wake(&mut state);
        Poll::Ready(Ok(()))
    }

    /// End the client's stream with `status` after what is already queued.
    pub fn fail(&self, status: Status) {
        let mut state = self.shared.lock();
        state.failed.get_or_insert(status);
        wake(&mut state);
    }

    /// Messages dropped under the overflow policy so far.
    pub fn dropped(&self) -> u64 {
        self.shared.lock().dropped
    }

    /// Whether the client is gone.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    /// Wait until the client is gone (it cancelled, or its stream ended): a producer that
    /// waits for something else to push (a subscription, a timer) selects on this to stop
    /// instead of lingering until its next message fails.
    pub async fn closed(&self) {
        loop {
            // Registered before the check, so a close in between still wakes us.
            let room = self.shared.room.notified();
            if self.is_closed() {
                return;
            }
            room.await;
        }
    }
}

/// Why [`Pusher::try_send`] gave the message back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The channel is full (only under [`Overflow::Block`]).
    Full(T),
    /// The client is gone.
    Closed(T),
}

/// Drop the oldest message, recording the gap where it was.
fn drop_oldest<T>(state: &mut State<T>) {
    // Gaps before the oldest message stay where they are; it becomes part of the one after.
    let Some(at) = state
        .queue
        .iter()
        .position(|slot| matches!(slot, Slot::Message(_)))
    else {
        return;
    };
    state.queue.remove(at);
    state.messages -= 1;
    state.dropped += 1;
    match state.queue.get_mut(at) {
        Some(Slot::Gap(n)) => *n += 1,
        _ => match at
            .checked_sub(1)
            .and_then(|before| state.queue.get_mut(before))
        {
            Some(Slot::Gap(n)) => *n += 1,
            _ => state.queue.insert(at, Slot::Gap(1)),
        },
    }
}

fn wake<T>(state: &mut State<T>) {
    if let Some(waker) = state.waker.take() {
        waker.wake();
    }
}

/// The receiving half, inside the [`ServerStream`] the handler returns.
struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Stream for Receiver<T> {
    type Item = Produced<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Produced<T>>> {
        let mut state = self.shared.lock();
        match state.queue.pop_front() {
            Some(Slot::Message(m)) => {
                state.messages -= 1;
                drop(state);
                self.shared.room.notify_waiters();
                Poll::Ready(Some(Produced::Item(Ok(m))))
            }
            Some(Slot::Gap(n)) => Poll::Ready(Some(Produced::Gap(n))),
            None => {
                if let Some(status) = state.failed.take() {
                    state.pushers = 0;
                    return Poll::Ready(Some(Produced::Item(Err(status))));
                }
                if state.pushers == 0 {
                    return Poll::Ready(None);
                }
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closed = true;
        state.queue.clear();
        drop(state);
        self.shared.room.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closed_resolves_when_the_subscriber_goes_away() {
        let (pusher, stream) = channel::<u32>(4, Overflow::Block);
        let waiting = tokio::spawn(async move { pusher.closed().await });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(stream);
        tokio::time::timeout(std::time::Duration::from_secs(1), waiting)
            .await
            .expect("closed() resolved")
            .unwrap();
    }
    use futures_util::StreamExt;

    async fn collect(mut stream: ServerStream<u32>) -> Vec<String> {
        let mut seen = Vec::new();
        while let Some(p) = stream.inner_next().await {
            seen.push(match p {
                Produced::Item(Ok(m)) => m.to_string(),
                Produced::Item(Err(s)) => format!("err:{}", s.message()),
                Produced::Gap(n) => format!("gap:{n}"),
            });
        }
        seen
    }

    impl<T> ServerStream<T> {
        async fn inner_next(&mut self) -> Option<Produced<T>> {
            std::future::poll_fn(|cx| self.poll_produced(cx)).await
        }
    }

    #[tokio::test]
    async fn drop_newest_keeps_the_first_and_marks_the_gap_after_them() {
        let (pusher, stream) = channel(2, Overflow::DropNewest);
        for n in 1..=5 {
            pusher.send(n).await.unwrap();
        }
        assert_eq!(pusher.dropped(), 3);
        pusher.fail(Status::aborted("bye"));
        drop(pusher);
        assert_eq!(collect(stream).await, ["1", "2", "gap:3", "err:bye"]);
    }

    #[tokio::test]
    async fn drop_oldest_keeps_the_latest_and_marks_the_gap_before_them() {
        let (pusher, stream) = channel(2, Overflow::DropOldest);
        for n in 1..=5 {
            pusher.send(n).await.unwrap();
        }
        drop(pusher);
        assert_eq!(collect(stream).await, ["gap:3", "4", "5"]);
    }

    #[tokio::test]
    async fn block_holds_the_pusher_until_there_is_room() {
        let (pusher, mut stream) = channel(1, Overflow::Block);
        pusher.send(1).await.unwrap();
        assert!(matches!(pusher.try_send(2), Err(TrySendError::Full(2))));
        let second = tokio::spawn(async move {
            pusher.send(2).await.unwrap();
            pusher
        });
        tokio::task::yield_now().await;
        assert!(!second.is_finished());
        assert_eq!(stream.next().await.unwrap().unwrap(), 1);
        let pusher = second.await.unwrap();
        assert_eq!(stream.next().await.unwrap().unwrap(), 2);
        assert_eq!(pusher.dropped(), 0);
        drop(stream);
        assert_eq!(pusher.send(3).await, Err(Closed(3)));
    }
}
