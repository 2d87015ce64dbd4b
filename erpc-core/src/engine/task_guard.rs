//! How a task erpc spawns for a call or a connection ends when it fails: a panic becomes a
//! status naming what panicked, and a task dropped before it finished (aborted, a panic
//! unwinding through it, its runtime shutting down) still ends what it was responsible for —
//! the call fails now, the peer is told, the server's slot is freed — instead of leaving it
//! to a deadline.

use crate::status::Status;
use std::any::Any;

/// The text a panic was raised with, if it was a string.
pub(crate) fn panic_text(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// What `f` panicked with, or `None` if it returned: for tests of builders that refuse a
/// value with a panic naming it.
#[cfg(test)]
pub(crate) fn refusal<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> Option<String> {
    std::panic::catch_unwind(f)
        .err()
        .map(|payload| panic_text(payload.as_ref()).to_owned())
}

/// Run synchronous user code the engine calls inline (a hook, an observer) with a panic
/// caught: the panic becomes an `internal` status naming `what`, so it fails the one call or
/// connection the code was deciding about instead of the read loop or accept loop it ran on.
pub(crate) fn contained<T>(
    what: impl std::fmt::Display,
    code: impl FnOnce() -> T,
) -> Result<T, Status> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(code)).map_err(|panic| {
        let text = panic_text(panic.as_ref());
        tracing::error!(panic = text, "{what} panicked");
        Status::internal(format!("{what} panicked: {text}"))
    })
}

/// Runs an action when dropped, unless [`OnAbandon::disarm`]ed first: held by a task across
/// its work, it runs if the task never gets to the end.
pub(crate) struct OnAbandon<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> OnAbandon<F> {
    pub fn new(action: F) -> Self {
        OnAbandon(Some(action))
    }

    /// The task finished: do nothing on drop.
    pub fn disarm(mut self) {
        self.0 = None;
    }
}

impl<F: FnOnce()> Drop for OnAbandon<F> {
    fn drop(&mut self) {
        if let Some(action) = self.0.take() {
            action();
        }
    }
}

/// Why a task was abandoned, for messages: a panic unwinding through it, or a plain drop
/// (aborted, or its runtime shut down).
pub(crate) fn abandoned_how() -> &'static str {
    if std::thread::panicking() {
        "panicked"
    } else {
        "was stopped"
    }
}

/// Spawn one of a connection's own tasks (writer, deadline sweeper, shutdown drainer). If it
/// panics — a bug in erpc — `on_panic` gets the reason and ends the connection, instead of
/// the connection running on without the task (nothing written, no deadlines enforced)
/// until the peer gives up on it.
pub(crate) fn spawn_connection_task<F, P>(
    name: &'static str,
    task: F,
    on_panic: P,
) -> tokio::task::JoinHandle<()>
where
    F: std::future::Future<Output = ()> + Send + 'static,
    P: FnOnce(String) + Send + 'static,
{
    use futures_util::FutureExt;
    tokio::spawn(
        std::panic::AssertUnwindSafe(task)
            .catch_unwind()
            .map(move |outcome| {
                if let Err(panic) = outcome {
                    let why = format!(
                        "the connection's {name} panicked: {}",
                        panic_text(panic.as_ref())
                    );
                    tracing::error!("{why}");
                    on_panic(why);
                }
            }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn the_action_runs_when_a_task_panics_or_is_aborted_but_not_when_it_finishes() {
        let ran = Arc::new(AtomicU32::new(0));
        let guard = |ran: &Arc<AtomicU32>| {
            let ran = ran.clone();
            OnAbandon::new(move || {
                ran.fetch_add(1, Ordering::SeqCst);
            })
        };
        let finished = guard(&ran);
        tokio::spawn(async move { finished.disarm() })
            .await
            .unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 0);

        let panicking = guard(&ran);
        let task = tokio::spawn(async move {
            let _guard = panicking;
            panic!("on purpose");
        });
        assert!(task.await.unwrap_err().is_panic());
        assert_eq!(ran.load(Ordering::SeqCst), 1);

        let aborted = guard(&ran);
        let task = tokio::spawn(async move {
            let _guard = aborted;
            std::future::pending::<()>().await;
        });
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        assert_eq!(ran.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_panicking_connection_task_reports_why() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = spawn_connection_task("sweeper", async { panic!("on purpose") }, move |why| {
            let _ = tx.send(why);
        });
        task.await.expect("the panic is caught");
        assert_eq!(
            rx.await.unwrap(),
            "the connection's sweeper panicked: on purpose"
        );
    }

    #[test]
    fn panic_text_reads_both_kinds_of_string() {
        let payload = std::panic::catch_unwind(|| panic!("plain")).unwrap_err();
        assert_eq!(panic_text(payload.as_ref()), "plain");
        let payload = std::panic::catch_unwind(|| panic!("{}", 42)).unwrap_err();
        assert_eq!(panic_text(payload.as_ref()), "42");
    }
}
