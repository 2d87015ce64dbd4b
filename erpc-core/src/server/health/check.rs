//! Custom health checks: user functions the server runs on an interval, each under a
//! timeout; one that fails, times out or panics makes the services it covers `NOT_SERVING`
//! until it passes again.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::Health;
use crate::engine::task_guard::panic_text;

/// How often a check runs unless told otherwise: every 5 s.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// How long a check may take unless told otherwise: 2 s; slower counts as failing.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a check failed: any error (`?` converts most), or a message (`"disk full".into()`).
pub type CheckError = Box<dyn std::error::Error + Send + Sync>;

type CheckFn = dyn Fn() -> BoxFuture<'static, Result<(), CheckError>> + Send + Sync;

/// A named health check: a function, how often it runs, how long it may take, and the
/// services it covers. Add it with [`crate::ServerBuilder::health_check_with`] (or build
/// the common case with [`crate::ServerBuilder::health_check`]).
///
/// ```
/// # use erpc_core as erpc;
/// use std::time::Duration;
/// use erpc::server::health::check::HealthCheck;
///
/// let database = HealthCheck::new("database", || async {
///     // ping the database; an error makes the covered services NOT_SERVING
///     Ok(())
/// })
/// .interval(Duration::from_secs(1))
/// .timeout(Duration::from_millis(300))
/// .covers(["Orders", "Billing"]);
/// let builder = erpc::Server::builder().health_check_with(database);
/// ```
#[derive(Clone)]
pub struct HealthCheck {
    name: String,
    check: Arc<CheckFn>,
    interval: Duration,
    timeout: Duration,
    covers: Option<Vec<String>>,
}

impl std::fmt::Debug for HealthCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthCheck")
            .field("name", &self.name)
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .field("covers", &self.covers)
            .finish_non_exhaustive()
    }
}

impl HealthCheck {
    /// A check named `name` (for logs; names are unique per server, a second one replaces
    /// the first) running `check` every [`DEFAULT_INTERVAL`] under [`DEFAULT_TIMEOUT`],
    /// covering every service (so the overall status too).
    pub fn new<F, Fut>(name: impl Into<String>, check: F) -> HealthCheck
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), CheckError>> + Send + 'static,
    {
        HealthCheck {
            name: name.into(),
            check: Arc::new(move || Box::pin(check())),
            interval: DEFAULT_INTERVAL,
            timeout: DEFAULT_TIMEOUT,
            covers: None,
        }
    }

    /// The check's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Run it every `interval` (from the start of one run to the start of the next; a run
    /// never overlaps the one before). Default [`DEFAULT_INTERVAL`]. Zero is taken as 1 ms.
    pub fn interval(mut self, interval: Duration) -> HealthCheck {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }

    /// A run that takes longer than `timeout` is stopped and counts as failing. Default
    /// [`DEFAULT_TIMEOUT`].
    pub fn timeout(mut self, timeout: Duration) -> HealthCheck {
        self.timeout = timeout;
        self
    }

    /// The services its failure makes `NOT_SERVING` (the overall status always follows).
    /// Default: every service.
    pub fn covers<I, S>(mut self, services: I) -> HealthCheck
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.covers = Some(services.into_iter().map(Into::into).collect());
        self
    }

    /// Run once: `Err` with why it failed.
    async fn run_once(&self) -> Result<(), String> {
        let run = AssertUnwindSafe((self.check)()).catch_unwind();
        match tokio::time::timeout(self.timeout, run).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(e.to_string()),
            Ok(Err(panic)) => Err(format!("panicked: {}", panic_text(panic.as_ref()))),
            Err(_) => Err(format!(
                "did not finish within its timeout of {}",
                crate::human::duration(self.timeout)
            )),
        }
    }

    /// Run at its interval, first at once, reporting to `health`, until `stop`.
    pub(crate) async fn run(self, health: Health, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(self.interval);
        // A run that overran its interval is followed by the next one, not by a burst.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let outcome = tokio::select! {
                _ = stop.cancelled() => return,
                outcome = self.run_once() => outcome,
            };
            match (&outcome, failing) {
                (Err(why), false) => {
                    tracing::warn!(check = %self.name, %why, covers = ?self.covers, "health check failing: NOT_SERVING")
                }
                (Err(why), true) => {
                    tracing::debug!(check = %self.name, %why, "health check still failing")
                }
                (Ok(()), true) => tracing::info!(check = %self.name, "health check passing again"),
                (Ok(()), false) => {}
            }
            failing = outcome.is_err();
            health.check_result(&self.name, self.covers.as_deref(), failing);
        }
    }
}
