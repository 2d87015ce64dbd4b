//! Unary and oneway calls run on their connection's own task ([`ServerConfig::inline_calls`]):
//! the reader polls the handler once, right where it dispatched the call, and a handler that
//! finishes in that poll (most do: decode, compute, encode) is answered there — no task
//! allocated, no call future moved into one, no wake-up of another task. A handler still
//! pending after the poll goes on in a task of its own ([`Continuation`]), as every call did
//! before, so a handler waiting on I/O never holds the reader, and CANCEL, the deadline
//! sweeper and shutdown abort it through its task as they abort any call's.
//!
//! The trade-off is the first poll's: it runs on the reader, so while a handler computes
//! there, its connection reads nothing else, and on a multi-threaded runtime calls of one
//! connection that compute for long would run one after another instead of on several
//! workers. The connection watches for that ([`Inline`]): on a multi-threaded runtime a first
//! poll longer than [`SLOW_FIRST_POLL`] makes it spawn its calls for [`SPAWN_FOR`]. A
//! current-thread runtime has no other worker to hand a call to, so there it is not timed.
//!
//! On a multi-threaded runtime a first poll also holds a worker that may be the only one
//! awake: tokio wakes another only when a task is queued, and an inline call queues none, so
//! a long first poll would stall the runtime's I/O and timers for every connection. Each
//! first poll there is watched ([`stall_watch`]), and one that lasts over 10 to 20 ms wakes
//! another worker to drive them.
//!
//! [`ServerConfig::inline_calls`]: crate::ServerConfig::inline_calls

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio::time::Instant;

use crate::deadline;
use crate::engine::frame_queue;
use crate::engine::queue;
use crate::protocol::Header;
use crate::server::call_task::{Answered, on_abandon, panicked};
use crate::server::in_flight::InFlight;
use crate::server::stall_watch;
use crate::server::{Request, Response, Service, Shared};
use crate::status::Status;

/// A first poll longer than this, on a multi-threaded runtime, makes the connection spawn
/// its calls for a while: tokio's guidance is that a task reaches an `.await` every 10 to
/// 100 µs, and a handler's first poll is part of the reader's.
pub(crate) const SLOW_FIRST_POLL: Duration = Duration::from_micros(100);

/// How long a connection spawns its calls after a slow first poll, before it tries one
/// inline again. At most one slow call per connection per this long holds the reader.
pub(crate) const SPAWN_FOR: Duration = Duration::from_secs(1);

/// A connection's choice between running a call inline and spawning it.
pub(crate) struct Inline {
    /// [`crate::ServerConfig::inline_calls`].
    pub(crate) on: bool,
    /// Whether first polls are timed: on a multi-threaded runtime, where a call spawned
    /// runs on another worker while the reader goes on.
    pub(crate) timed: bool,
    /// After a slow first poll: calls arriving before this are spawned.
    pub(crate) spawn_until: Option<Instant>,
}

impl Inline {
    /// The policy for a connection served on the current runtime.
    pub(crate) fn new(on: bool) -> Inline {
        use tokio::runtime::{Handle, RuntimeFlavor};
        let timed = Handle::try_current().map_or(true, |handle| {
            handle.runtime_flavor() != RuntimeFlavor::CurrentThread
        });
        Inline {
            on,
            timed,
            spawn_until: None,
        }
    }

    /// Whether a call arriving at `now` may run inline.
    pub(crate) fn allows(&self, now: Instant) -> bool {
        self.on && self.spawn_until.is_none_or(|until| now >= until)
    }

    /// Watch the first poll about to run on this thread ([`stall_watch`]) until the guard
    /// is dropped: on a multi-threaded runtime, where another worker can drive I/O while
    /// this one is held.
    pub(crate) fn watch(&self) -> Option<stall_watch::PollUnderWay> {
        self.timed.then(stall_watch::poll_started)
    }

    /// A call that arrived at `arrived` has had its first poll: if that took too long on a
    /// multi-threaded runtime, spawn the calls of the next [`SPAWN_FOR`].
    pub(crate) fn polled(&mut self, arrived: Instant) {
        if !self.timed {
            return;
        }
        let now = Instant::now();
        if now.saturating_duration_since(arrived) > SLOW_FIRST_POLL {
            self.spawn_until = Some(now + SPAWN_FOR);
        }
    }
}

/// A handler's future together with the service it borrows, so that the pair can move into
/// a task of its own after its first poll.
pub(crate) struct Handler {
    // Declared before `_service`: fields drop in order, so the future, which borrows the
    // service, is dropped first.
    future: BoxFuture<'static, Result<Response, Status>>,
    _service: Arc<dyn Service>,
}

impl Handler {
    /// Start `service`'s handler for `request` (layers run their synchronous part here).
    fn start(service: Arc<dyn Service>, request: Request) -> Handler {
        let raw: *const dyn Service = Arc::as_ptr(&service);
        // SAFETY: the future borrows the service behind `raw`, which the `Arc` kept beside
        // it in `_service` holds alive at the same address (an `Arc` moving does not move
        // what it points to) until after the future is dropped (field order above). The
        // service is only ever borrowed shared, as `Service::call` takes `&self`.
        let future = unsafe { (*raw).call(request) };
        Handler {
            future,
            _service: service,
        }
    }
}

impl Future for Handler {
    type Output = Result<Response, Status>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        self.future.as_mut().poll(cx)
    }
}

/// What a call's first poll came to.
pub(crate) enum FirstPoll {
    /// The handler finished (or panicked, or the request could not be read).
    Done(Result<Response, Status>),
    /// The handler waits for something: it goes on in a task.
    Pending(Handler),
}

/// Start call `id`'s handler and poll it once, here, under the call's deadline scope, a
/// panic caught as a spawned call's is. Polled with a waker that does nothing: a handler
/// still pending is polled again, at once, by the task it goes on in, and registers that
/// task's waker then.
pub(crate) fn first_poll(
    id: u64,
    service: Arc<dyn Service>,
    request: Request,
    deadline: Instant,
) -> FirstPoll {
    let mut cx = std::task::Context::from_waker(Waker::noop());
    let polled = deadline::sync_scope(deadline, || {
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            let mut handler = Handler::start(service, request);
            match Pin::new(&mut handler).poll(&mut cx) {
                Poll::Ready(result) => FirstPoll::Done(result),
                Poll::Pending => FirstPoll::Pending(handler),
            }
        }))
    });
    polled.unwrap_or_else(|panic| FirstPoll::Done(Err(panicked(id, "handler", panic))))
}

/// The rest of a call whose handler was still pending after its first poll: its task.
pub(crate) struct Continuation {
    pub(crate) shared: Arc<Shared>,
    pub(crate) tx: frame_queue::Sender,
    pub(crate) in_flight: Arc<InFlight>,
    pub(crate) handler: Handler,
    pub(crate) header: Header,
    pub(crate) deadline: Instant,
    pub(crate) answered: Answered,
}

impl Continuation {
    /// Run the handler to its end and answer, as `CallTask::run` does once the handler is
    /// started.
    pub(crate) fn run(self) -> impl Future<Output = ()> + Send {
        let Continuation {
            shared,
            tx,
            in_flight,
            handler,
            header,
            deadline,
            answered,
        } = self;
        async move {
            let id = header.request_id;
            let abandoned = on_abandon(&in_flight, &tx, header.kind, id);
            // Cancellation, the deadline and shutdown abort this task through its abort
            // handle in `InFlight`, and answer for it.
            let outcome = deadline::scope(
                deadline,
                stall_watch::watched(AssertUnwindSafe(handler).catch_unwind()),
            )
            .await;
            abandoned.disarm();
            if !in_flight.finish(id) {
                return;
            }
            let result = outcome.unwrap_or_else(|panic| Err(panicked(id, "handler", panic)));
            if let Some(frame) = answered.frame(&shared, header.kind, id, result)
                && let Some(wait) = queue(&tx, frame.into())
            {
                wait.await;
            }
        }
    }
}
