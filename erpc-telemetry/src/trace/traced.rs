//! The future of a traced call: the call's own future polled inside its span, the status
//! recorded on the span when it ends. One struct instead of an `async` block inside
//! `Instrumented`, so the span is held once (no second handle for recording the end).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use erpc_core::Status;
use futures_util::future::BoxFuture;

use super::attributes;

/// `call` inside `span`; at its end, `attributes::finish` with `server` (which statuses are
/// errors).
pub(crate) struct Traced<T> {
    span: tracing::Span,
    /// `None` once dropped inside the span (see `Drop`).
    call: Option<BoxFuture<'static, Result<T, Status>>>,
    server: bool,
    /// The call's deadline: a call dropped unfinished after it ended with
    /// `deadline_exceeded`, else `cancelled`.
    deadline: tokio::time::Instant,
}

impl<T> Traced<T> {
    pub(crate) fn new(
        span: tracing::Span,
        call: BoxFuture<'static, Result<T, Status>>,
        server: bool,
        deadline: tokio::time::Instant,
    ) -> Self {
        Traced {
            span,
            call: Some(call),
            server,
            deadline,
        }
    }
}

impl<T> Future for Traced<T> {
    type Output = Result<T, Status>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Every field is `Unpin` (the call is boxed).
        let this = self.get_mut();
        let _entered = this.span.enter();
        let Some(call) = this.call.as_mut() else {
            // A caller's bug, reported as a finished `async` block reports it.
            panic!("a traced call polled after it finished");
        };
        let result = std::task::ready!(call.as_mut().poll(cx));
        this.call = None;
        attributes::finish(&this.span, result.as_ref().map(|_| ()), this.server);
        Poll::Ready(result)
    }
}

impl<T> Drop for Traced<T> {
    fn drop(&mut self) {
        // A call dropped unfinished (cancelled) drops its future inside the span, as
        // `tracing::Instrumented` does, so what that runs is attributed to the call.
        if self.call.is_some() {
            let _entered = self.span.enter();
            self.call = None;
            // Ended all the same — at its deadline (the engine answers deadline_exceeded),
            // or cancelled: the span says so, as the access log does.
            let code = erpc_core::deadline::dropped_code(self.deadline);
            let status = Status::new(code, "the call was dropped before it ended");
            attributes::finish(&self.span, Err(&status), self.server);
        }
    }
}
