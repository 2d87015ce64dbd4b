//! lapin's internal tasks of one connection, run in order on one task of the runtime.
//!
//! lapin hands work of its own to its executor: its command loop, and for many commands a
//! small task (a closed channel's removal from its table, an ack, a cancel). On tokio's
//! multi-threaded scheduler those tasks run in no set order: a task spawned from a worker
//! sits in that worker's LIFO slot, which no other worker takes. So on a loaded machine a
//! channel closed just before its connection could still be in the table when the
//! connection's close-ok came: lapin removed it twice, and the second removal, failing
//! (`invalid channel: 2`), was logged at ERROR as a connection error — after a normal
//! `close` (the close tests' RabbitMQ runs, about one run in three under load). Here every
//! task spawned for the connection is polled by one driver task, which, before it waits
//! again, runs the tasks spawned meanwhile — so the removal runs before the command loop
//! takes its next command — and says when it went idle ([`Serial::settled`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use async_trait::async_trait;
use executor_trait::{BlockingExecutor, Executor, FullExecutor, Task};
use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{mpsc, oneshot, watch};

type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The executor given to lapin (clones share the driver).
#[derive(Clone)]
pub(super) struct Serial {
    jobs: mpsc::UnboundedSender<Job>,
    state: Arc<State>,
    tokio: tokio_executor_trait::Tokio,
}

struct State {
    /// Polls of the driver begun (the number of the one under way, if any).
    polls: AtomicU64,
    /// The number of the driver's last poll that ended with nothing left to run.
    idle: watch::Sender<u64>,
}

impl Serial {
    /// A driver on the current runtime.
    pub(super) fn start() -> Serial {
        let (jobs, queued) = mpsc::unbounded_channel();
        let state = Arc::new(State {
            polls: AtomicU64::new(0),
            idle: watch::Sender::new(0),
        });
        tokio::spawn(drive(queued, state.clone()));
        Serial {
            jobs,
            state,
            tokio: tokio_executor_trait::Tokio::current(),
        }
    }

    /// Resolves once every task spawned, and every command lapin queued for its loop,
    /// before the call has been run as far as it can go (a removal of a channel whose
    /// close-ok came in, for one). A marker task is sent to the driver: lapin's loop,
    /// woken before, is polled before it (the driver's tasks run in the order they were
    /// woken), and what the loop spawns then runs before the driver's poll ends idle.
    pub(super) async fn settled(&self) {
        let (ran, running) = oneshot::channel();
        let state = self.state.clone();
        let marker = async move {
            let _ = ran.send(state.polls.load(Ordering::SeqCst));
        };
        // An error: the driver is gone (its runtime shutting down), nothing to wait for.
        if self.jobs.send(Box::pin(marker)).is_err() {
            return;
        }
        let Ok(poll) = running.await else {
            return;
        };
        let mut idle = self.state.idle.subscribe();
        let _ = idle.wait_for(|&idle| idle >= poll).await;
    }
}

async fn drive(mut queued: mpsc::UnboundedReceiver<Job>, state: Arc<State>) {
    let mut running = FuturesUnordered::new();
    let mut open = true;
    std::future::poll_fn(move |cx: &mut Context<'_>| {
        let poll = state.polls.fetch_add(1, Ordering::SeqCst) + 1;
        loop {
            while open {
                match queued.poll_recv(cx) {
                    Poll::Ready(Some(job)) => running.push(job),
                    Poll::Ready(None) => open = false,
                    Poll::Pending => break,
                }
            }
            match running.poll_next_unpin(cx) {
                Poll::Ready(Some(())) => continue,
                Poll::Ready(None) if !open => return Poll::Ready(()),
                Poll::Ready(None) | Poll::Pending => {}
            }
            // Spawned while the others ran: run now, not after another wake.
            if open && !queued.is_empty() {
                continue;
            }
            state.idle.send_replace(poll);
            return Poll::Pending;
        }
    })
    .await
}

/// A task's end, awaited through lapin's handle (it never cancels one).
struct Done(oneshot::Receiver<()>);

impl Future for Done {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.poll_unpin(cx).map(drop)
    }
}

#[async_trait(?Send)]
impl Task for Done {
    async fn cancel(self: Box<Self>) -> Option<()> {
        None
    }
}

impl Executor for Serial {
    fn block_on(&self, f: Pin<Box<dyn Future<Output = ()>>>) {
        self.tokio.block_on(f)
    }

    fn spawn(&self, f: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn Task> {
        let (done, ended) = oneshot::channel();
        let job = async move {
            // A panic ends its task only, as a task of its own would.
            let _ = std::panic::AssertUnwindSafe(f).catch_unwind().await;
            let _ = done.send(());
        };
        match self.jobs.send(Box::pin(job)) {
            Ok(()) => Box::new(Done(ended)),
            // The driver is gone (its runtime shutting down): as tokio would.
            Err(refused) => self.tokio.spawn(refused.0),
        }
    }
}

#[async_trait]
impl BlockingExecutor for Serial {
    async fn spawn_blocking(&self, f: Box<dyn FnOnce() + Send + 'static>) {
        self.tokio.spawn_blocking(f).await
    }
}

impl FullExecutor for Serial {}
