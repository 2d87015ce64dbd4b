//! `--timeout` as a deadline for the whole command: the dial, the reflection lookup `erpc`
//! makes first and the call share it, and whichever step runs out says it was that step.

use std::future::Future;
use std::time::Duration;

use erpc_core::{Code, Status};
use tokio::time::Instant;

use crate::failure::Failure;

/// When the command must be done (`None`: no `--timeout`, each call has the client's
/// default, 10 s, streams none), and the `--timeout` as given, for messages.
#[derive(Clone, Copy)]
pub struct Deadline {
    given: Option<(Instant, Duration)>,
}

impl Deadline {
    /// The deadline `timeout` from now (`None`: none).
    pub fn new(timeout: Option<Duration>) -> Deadline {
        Deadline {
            given: timeout.map(|t| (Instant::now() + t, t)),
        }
    }

    /// The time left (zero once past), as a call's timeout; `None` without `--timeout`.
    pub fn left(&self) -> Option<Duration> {
        self.given
            .map(|(at, _)| at.saturating_duration_since(Instant::now()))
    }

    /// `step` bounded by the time left: past it, `deadline_exceeded` naming `what` (`looking
    /// up Shop's methods by reflection`) and the `--timeout` given. A `deadline_exceeded` the
    /// step returns itself is named the same way.
    pub async fn step<T>(
        &self,
        what: &str,
        step: impl Future<Output = Result<T, Failure>>,
    ) -> Result<T, Failure> {
        let outcome = match self.left() {
            None => step.await,
            Some(left) => match tokio::time::timeout(left, step).await {
                Ok(outcome) => outcome,
                Err(_) => Err(Failure::Call(Status::deadline_exceeded(
                    "deadline exceeded",
                ))),
            },
        };
        outcome.map_err(|failure| self.name(failure, what))
    }

    /// `failure`, if it is `deadline_exceeded`, saying it happened while doing `what`.
    pub fn name(&self, failure: Failure, what: &str) -> Failure {
        match failure {
            Failure::Call(status) if status.code() == Code::DeadlineExceeded => {
                let given = match self.given {
                    Some((_, t)) => format!("--timeout {}", humantime::format_duration(t)),
                    None => "the client's default timeout, 10s; give --timeout".to_owned(),
                };
                Failure::Call(Status::new(
                    Code::DeadlineExceeded,
                    format!("{} {what} ({given})", status.message()),
                ))
            }
            other => other,
        }
    }
}
