//! What a streaming handler sends back: [`ServerStream`], typed; [`ResponseStream`], the
//! untyped form a [`crate::Service`] returns.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use erpc_codec::Message;
use futures_util::{Stream, StreamExt, stream};

use crate::server::{Responder, Response};
use crate::status::Status;

/// One step of a server's outgoing stream, before encoding.
pub(crate) enum Produced<T> {
    Item(Result<T, Status>),
    /// Messages dropped here (push under the drop policy).
    Gap(u64),
}

/// The messages a streaming handler sends, in order. An `Err` item ends the call with that
/// status; the end of the stream ends it successfully.
///
/// ```
/// # use erpc_core as erpc;
/// use erpc::{ServerStream, Status};
/// use futures_util::stream;
///
/// let fixed: ServerStream<u32> = ServerStream::iter([1, 2, 3]);
/// let computed = ServerStream::new(stream::iter(0..10u32).map(|n| Ok::<_, Status>(n * n)));
/// # use futures_util::StreamExt;
/// ```
pub struct ServerStream<T> {
    inner: Pin<Box<dyn Stream<Item = Produced<T>> + Send>>,
}

impl<T> fmt::Debug for ServerStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerStream")
    }
}

impl<T: Send + 'static> ServerStream<T> {
    /// Send what `stream` yields.
    pub fn new<S>(stream: S) -> Self
    where
        S: Stream<Item = Result<T, Status>> + Send + 'static,
    {
        ServerStream {
            inner: Box::pin(stream.map(Produced::Item)),
        }
    }

    /// Send these messages.
    pub fn iter<I>(items: I) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
    {
        Self::new(stream::iter(items.into_iter().map(Ok)))
    }

    /// Send nothing; the call ends successfully.
    pub fn empty() -> Self {
        Self::new(stream::empty())
    }

    /// This stream, ended with `status` as soon as `stop` resolves (unless it ended first).
    /// For a stream that never ends by itself (a watch, a subscription):
    /// `stream.until(cx.shutting_down(), Status::unavailable("… resume from revision N"))`
    /// ends it when the server begins a graceful shutdown, telling the client where to
    /// resume, instead of holding the shutdown for its whole grace period.
    pub fn until<F>(self, stop: F, status: Status) -> Self
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        ServerStream::produced(Until {
            inner: self.inner,
            stop: Some(Box::pin(stop)),
            status: Some(status),
        })
    }

    pub(crate) fn produced<S>(stream: S) -> Self
    where
        S: Stream<Item = Produced<T>> + Send + 'static,
    {
        ServerStream {
            inner: Box::pin(stream),
        }
    }

    /// The untyped form, each message encoded by `responder`.
    pub(crate) fn into_responses(self, responder: Responder) -> ResponseStream
    where
        T: Message,
    {
        let mut scratch = crate::engine::stream::Scratch::default();
        Box::pin(self.inner.map(move |produced| {
            match produced {
                Produced::Item(Ok(message)) => responder
                    .respond_in(&message, &mut scratch)
                    .map(Outgoing::Message),
                Produced::Item(Err(status)) => Err(status),
                Produced::Gap(count) => Ok(Outgoing::Dropped(count)),
            }
        }))
    }
}

#[cfg(test)]
impl<T> ServerStream<T> {
    /// The next step, gaps included.
    pub(crate) fn poll_produced(&mut self, cx: &mut Context<'_>) -> Poll<Option<Produced<T>>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// The messages; gaps (from a push channel) are skipped.
impl<T> Stream for ServerStream<T> {
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            return match self.inner.as_mut().poll_next(cx) {
                Poll::Ready(Some(Produced::Gap(_))) => continue,
                Poll::Ready(Some(Produced::Item(item))) => Poll::Ready(Some(item)),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            };
        }
    }
}

/// One step of an untyped outgoing stream.
#[derive(Debug)]
pub enum Outgoing {
    /// An encoded message.
    Message(Response),
    /// This many messages were dropped here; the client sees [`crate::stream::Event::Dropped`].
    Dropped(u64),
}

/// What a [`crate::Service`] returns for a streaming call: encoded messages until the end
/// (success) or an `Err` (the call fails with it).
pub type ResponseStream = Pin<Box<dyn Stream<Item = Result<Outgoing, Status>> + Send>>;

/// [`ServerStream::until`]'s stream: the inner one until `stop` resolves, then `status`.
struct Until<T> {
    inner: Pin<Box<dyn Stream<Item = Produced<T>> + Send>>,
    stop: Option<Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
    status: Option<Status>,
}

impl<T> Stream for Until<T> {
    type Item = Produced<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(stop) = &mut self.stop
            && stop.as_mut().poll(cx).is_ready()
        {
            self.stop = None;
            return Poll::Ready(self.status.take().map(|s| Produced::Item(Err(s))));
        }
        if self.stop.is_none() {
            // Stopped: the status was the last item.
            return Poll::Ready(None);
        }
        let next = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(None) = next {
            // Ended by itself: nothing more, and the stop no longer matters.
            self.stop = None;
            self.status = None;
        }
        next
    }
}
