//! An async task queue for work that outlives the call that asks for it (send the e-mail,
//! write the audit record, refresh the cache): a handler submits a job and answers at once;
//! N workers run the jobs in order of submission; the queue is bounded, and a server's
//! graceful shutdown drains it — the gRPC-based frameworks' `RegisterAsyncHandler` /
//! `SubmitAsyncTask`, with a Rust future as the handler.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::engine::task_guard::panic_text;
use crate::status::Status;

/// A bounded queue of jobs run by a fixed number of workers. Cheap to clone; every clone is
/// the same queue. Hand it to the services that submit to it, and to the server
/// ([`crate::ServerBuilder::task_queue`]) so that its graceful shutdown drains it.
///
/// ```
/// # use erpc_core as erpc;
/// use erpc::server::TaskQueue;
///
/// # async fn handler(queue: &TaskQueue) -> Result<(), erpc::Status> {
/// // In a handler: answer now, send the receipt after.
/// queue.submit(async move {
///     // send the receipt ...
/// })?;
/// # Ok(()) }
/// let queue = TaskQueue::new(4, 1_000);
/// let server = erpc::Server::builder().task_queue(&queue);
/// ```
#[derive(Debug, Clone)]
pub struct TaskQueue {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    workers: usize,
    capacity: usize,
    /// One permit per worker, handed out in submission order (tokio's semaphore is fair).
    running: Arc<Semaphore>,
    /// One permit per place in the queue: a job holds one until a worker takes it.
    places: Arc<Semaphore>,
    /// Every job's task: what a drain waits for.
    jobs: TaskTracker,
    /// Set when a drain begins: no more jobs are taken.
    closed: AtomicBool,
    /// Fired when a drain's grace runs out: jobs still waiting or running stop.
    abort: CancellationToken,
}

impl TaskQueue {
    /// A queue run by `workers` workers (at least 1) holding up to `capacity` jobs waiting
    /// for one (0: a job is taken only if a worker is free). Jobs run as tasks on the Tokio
    /// runtime they are submitted from.
    pub fn new(workers: usize, capacity: usize) -> TaskQueue {
        let workers = workers.max(1);
        TaskQueue {
            inner: Arc::new(Inner {
                workers,
                capacity,
                running: Arc::new(Semaphore::new(workers)),
                places: Arc::new(Semaphore::new(capacity + workers)),
                jobs: TaskTracker::new(),
                closed: AtomicBool::new(false),
                abort: CancellationToken::new(),
            }),
        }
    }

    /// Queue `job` to run on a worker after the jobs submitted before it, and return at
    /// once. Refused with `resource_exhausted` if `capacity` jobs are already waiting, and
    /// with `unavailable` once the queue is draining (the server is shutting down). A job
    /// that panics is logged and ends; the others go on.
    ///
    /// # Panics
    /// Outside a Tokio runtime.
    pub fn submit<F>(&self, job: F) -> Result<(), Status>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Acquire) {
            return Err(Status::unavailable(
                "the task queue is draining (the server is shutting down); the job was not queued",
            ));
        }
        // A place is held from submission until the job ends; `capacity + workers` of them
        // bound the waiting jobs to `capacity`.
        let place = inner.places.clone().try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(format!(
                "the task queue is full: {} waiting for {}",
                crate::human::count(inner.capacity, "job"),
                crate::human::count(inner.workers, "worker")
            ))
        })?;
        let running = inner.running.clone();
        let abort = inner.abort.clone();
        inner.jobs.spawn(async move {
            let _place = place;
            let run = async {
                let _worker = running.acquire().await.ok();
                if let Err(panic) = AssertUnwindSafe(job).catch_unwind().await {
                    tracing::error!(panic = %panic_text(panic.as_ref()), "a queued job panicked");
                }
            };
            tokio::select! {
                _ = abort.cancelled() => {}
                _ = run => {}
            }
        });
        Ok(())
    }

    /// Jobs queued or running now.
    pub fn len(&self) -> usize {
        self.inner.jobs.len()
    }

    /// Whether no job is queued or running.
    pub fn is_empty(&self) -> bool {
        self.inner.jobs.is_empty()
    }

    /// Stop taking jobs and let those queued and running finish within `grace`; stop the
    /// rest then. `true` if every job finished. Later submissions are refused
    /// `unavailable`. A server given this queue does it on graceful shutdown, after its
    /// calls ended (they may submit), with its `shutdown_grace`.
    pub async fn drain(&self, grace: Duration) -> bool {
        let inner = &self.inner;
        inner.closed.store(true, Ordering::Release);
        inner.jobs.close();
        if tokio::time::timeout(grace, inner.jobs.wait()).await.is_ok() {
            return true;
        }
        let left = inner.jobs.len();
        tracing::warn!(
            left,
            ?grace,
            "queued jobs did not finish within the drain's grace; stopping them"
        );
        inner.abort.cancel();
        inner.jobs.wait().await;
        false
    }
}
