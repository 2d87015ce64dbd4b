//! A server-wide handler worker limit: at most N handlers run at once; calls beyond that
//! wait their turn (first come, first served) in a bounded queue, within their deadline,
//! and calls beyond the queue are refused `resource_exhausted` before a task is spawned.
//!
//! Unlike [`super::ConcurrencyLimit`], which refuses at once, this lets a burst wait for a
//! worker instead of failing, while the queue's bound keeps the wait (and the memory of the
//! waiting calls) bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

use crate::human::count;
use crate::status::{Status, zero_cap};

/// The handler worker limit ([`crate::ServerBuilder::workers`]): `workers` unary and oneway
/// handlers run at once across every connection; up to `queue` more calls wait for a worker
/// (each within its deadline: one that passes is answered `deadline_exceeded` as usual);
/// calls beyond both are refused `resource_exhausted` on arrival, before anything is decoded
/// or spawned. A call that first waits for a rate limit's turn (`RateLimit` with a
/// maximum wait) holds neither a worker nor a place in the queue while it waits: it joins
/// (or is refused) once that wait is over.
///
/// Streaming calls are not counted: they live as long as their client wants (watches,
/// subscriptions) and would hold a worker each for that long; their own flow control and
/// [`super::ConcurrencyLimit`] bound them. The built-in `erpc.Health` and `erpc.Reflection`
/// are not counted either, so a busy server still answers its health checks and a tool's
/// describe.
#[derive(Debug, Clone)]
pub struct Workers {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    workers: usize,
    queue: usize,
    /// One permit per worker; tokio's semaphore serves waiters in order.
    running: Semaphore,
    /// Calls admitted: running or waiting. At most `workers + queue`.
    admitted: AtomicUsize,
}

impl Workers {
    /// `workers` handlers at once, `queue` more waiting (0: none wait). Errors:
    /// `invalid_argument` for 0 workers, which would run no call.
    pub fn new(workers: usize, queue: usize) -> Result<Workers, Status> {
        if workers == 0 {
            return Err(zero_cap("workers(0, _): 0 workers"));
        }
        Ok(Workers {
            inner: Arc::new(Inner {
                workers,
                queue,
                running: Semaphore::new(workers),
                admitted: AtomicUsize::new(0),
            }),
        })
    }

    /// Handlers running now.
    pub fn running(&self) -> usize {
        self.inner.workers - self.inner.running.available_permits()
    }

    /// Calls waiting for a worker now.
    pub fn waiting(&self) -> usize {
        self.inner
            .admitted
            .load(Ordering::Acquire)
            .saturating_sub(self.running())
    }

    /// Admit a call (it will run or wait), or refuse it: the queue is full.
    pub(crate) fn admit(&self) -> Result<Ticket, Status> {
        let inner = &self.inner;
        let bound = inner.workers + inner.queue;
        inner
            .admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < bound).then_some(n + 1)
            })
            .map(|_| Ticket(inner.clone()))
            .map_err(|_| {
                Status::resource_exhausted(format!(
                    "server: every worker busy ({}) and {} already waiting for one (ServerBuilder::workers)",
                    count(inner.workers, "worker"),
                    count(inner.queue, "call")
                ))
            })
    }
}

/// Where a call stands with the worker limit as its task starts.
pub(crate) enum Seat {
    /// Admitted on arrival: a place to run or wait in.
    Taken(Ticket),
    /// To be admitted once its wait for a rate limit's turn is over: a call in that line
    /// holds no place in the workers' queue.
    After(Workers),
}

impl Seat {
    /// The call's ticket: the one taken on arrival, or one taken now.
    pub(crate) fn ticket(self) -> Result<Ticket, Status> {
        match self {
            Seat::Taken(ticket) => Ok(ticket),
            Seat::After(workers) => workers.admit(),
        }
    }
}

/// An admitted call's place: it runs once [`Ticket::run`] has a worker for it; dropped, it
/// frees its place in the queue (and its worker).
pub(crate) struct Ticket(Arc<Inner>);

impl Ticket {
    /// Wait for a worker; the call runs on it while the permit lives. A borrow rather than
    /// a wrapping future, so the call's task future does not hold the handler's twice.
    pub(crate) async fn worker(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        // Never closed, so never an error; if it were, the call runs rather than hangs.
        self.0.running.acquire().await.ok()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}
