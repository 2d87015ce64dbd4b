//! What a handler's own outgoing calls inherit without being told: today the call's
//! deadline (trace context will join it). It is carried in a tokio task-local, so it follows
//! the handler's future wherever that future is polled — inline `.await`s, `join!`,
//! `select!`, `FuturesUnordered` — but **a task-local does not cross a task boundary**: a
//! future given to `tokio::spawn` or `JoinSet::spawn` starts with nothing, and its calls get
//! the client's default deadline. To carry it across, wrap the future with
//! [`in_current_call`] (for a `JoinSet`, or any spawner) or spawn with [`spawn`]:
//!
//! ```
//! # use erpc_core as erpc;
//! # async fn handler(client: erpc::Client) -> Result<(), erpc::Status> {
//! let mut fan_out = tokio::task::JoinSet::new();
//! for shard in 0..3u32 {
//!     let client = client.clone();
//!     // Each shard's call is bounded by what is left of the handler's deadline.
//!     fan_out.spawn(erpc::in_current_call(async move {
//!         client.call::<u32, u32>("Shard", "count", shard).await
//!     }));
//! }
//! while let Some(result) = fan_out.join_next().await {
//!     let _count = result.map_err(|e| erpc::Status::internal(e.to_string()))??;
//! }
//! # Ok(()) }
//! ```
//!
//! **Cancellation** is not ambient: it is ownership. When a call is cancelled or its deadline
//! passes, erpc aborts the handler's task, which drops everything the handler owns — a
//! `JoinSet` aborts its tasks when dropped, and each dropped call sends CANCEL downstream. A
//! task detached with `tokio::spawn`/[`spawn`] is not owned by the handler and runs on after
//! it (bounded by the inherited deadline, if you carried it).

use std::future::Future;

use futures_util::future::Either;
use tokio::time::Instant;

tokio::task_local! {
    static CURRENT: Ambient;
}

/// The inherited state of the call being handled by this task.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ambient {
    /// The handler's deadline: outgoing calls use the earlier of their own and this one.
    pub deadline: Instant,
}

/// The ambient state of the call this task is handling, if any.
pub(crate) fn current() -> Option<Ambient> {
    CURRENT.try_with(|a| *a).ok()
}

/// Run `fut` with `ambient` as what its calls inherit.
pub(crate) fn scope<F: Future>(ambient: Ambient, fut: F) -> impl Future<Output = F::Output> {
    CURRENT.scope(ambient, fut)
}

/// Run `f` with `ambient` as what the calls it makes inherit: the synchronous [`scope`],
/// for a future polled once by hand (a call's first poll on its connection's task).
pub(crate) fn sync_scope<R>(ambient: Ambient, f: impl FnOnce() -> R) -> R {
    CURRENT.sync_scope(ambient, f)
}

/// `fut`, carrying what the current call's outgoing calls inherit (its deadline) into
/// wherever `fut` is polled — another task included. Captured now, when this is called;
/// outside a handler it is `fut` unchanged.
pub fn in_current_call<F: Future>(fut: F) -> impl Future<Output = F::Output> {
    match current() {
        Some(ambient) => Either::Left(scope(ambient, fut)),
        None => Either::Right(fut),
    }
}

/// `tokio::spawn`, carrying the current call's deadline into the new task (see
/// [`in_current_call`]). The task is detached: it is not aborted with the call.
pub fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(in_current_call(fut))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn what_is_inherited_crosses_a_spawn_only_when_carried() {
        let deadline = Instant::now() + Duration::from_millis(500);
        scope(Ambient { deadline }, async move {
            let plain = tokio::spawn(async { current().map(|a| a.deadline) });
            assert_eq!(plain.await.unwrap(), None, "a task-local stops at spawn");
            let carried = spawn(async { current().map(|a| a.deadline) });
            assert_eq!(carried.await.unwrap(), Some(deadline));
            let mut set = tokio::task::JoinSet::new();
            set.spawn(in_current_call(async { current().map(|a| a.deadline) }));
            assert_eq!(set.join_next().await.unwrap().unwrap(), Some(deadline));
        })
        .await;
        assert!(in_current_call(async { current() }).await.is_none());
    }
}
