//! `failbackup`: hedged requests. If the first attempt has not answered within a delay, a
//! second copy goes to another instance; the first answer wins and the other attempt's
//! future is dropped, which sends CANCEL for it (PROTOCOL.md §8), so its server stops
//! working on it.
//!
//! The delay is fixed, or the method's observed 95th-percentile latency, as Dean and
//! Barroso's "The Tail at Scale" (CACM 2013) suggests: hedging after the p95 costs about 5%
//! more requests and cuts the tail that one slow instance causes. Hedges spend the retry
//! budget like retries, and only idempotent methods are hedged (two copies of a call may
//! both run).
//!
//! Which answer wins: a success, or a failure that is not worth waiting past (one
//! [`retry_allowed`] would not retry, such as `not_found` — the application's answer). A
//! retryable failure of one copy waits for the other; if both fail, the later failure is
//! returned.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::future::{Either, select};
use tokio::time::Instant;

use crate::client::fail_mode::{Call, HedgeDelay, Outcome, retry_allowed};
use crate::client::{ClientRequest, ClientResponse};
use crate::discovery::{Steer, Want};
use crate::observe::{HedgeOutcome, RetryKind};
use crate::status::Status;

/// Answers remembered per method for its p95.
const WINDOW: usize = 128;
/// Answers needed before the p95 is trusted.
const ENOUGH: usize = 16;
/// The p95 is recomputed after this many new answers (a sort of the window).
const RECOMPUTE_EVERY: usize = 16;

/// The recent latencies of each method's answers, for [`HedgeDelay::P95`].
#[derive(Default)]
pub(crate) struct Latencies {
    /// Keyed by service, then method, so a lookup borrows both names.
    methods: Mutex<HashMap<String, HashMap<String, Window>>>,
}

/// One method's last answers and its p95 as last computed.
#[derive(Default)]
struct Window {
    samples: Vec<Duration>,
    next: usize,
    since_computed: usize,
    p95: Option<Duration>,
}

impl Latencies {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashMap<String, Window>>> {
        self.methods.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remember that a call of `service.method` was answered after `took`.
    pub(crate) fn record(&self, service: &str, method: &str, took: Duration) {
        let mut methods = self.lock();
        if !methods.contains_key(service) {
            methods.insert(service.to_owned(), HashMap::new());
        }
        let Some(of_service) = methods.get_mut(service) else {
            return;
        };
        if !of_service.contains_key(method) {
            of_service.insert(method.to_owned(), Window::default());
        }
        let Some(window) = of_service.get_mut(method) else {
            return;
        };
        if window.samples.len() < WINDOW {
            window.samples.push(took);
        } else {
            window.samples[window.next] = took;
        }
        window.next = (window.next + 1) % WINDOW;
        window.since_computed += 1;
        if window.samples.len() >= ENOUGH && window.since_computed >= RECOMPUTE_EVERY {
            let mut sorted = window.samples.clone();
            sorted.sort_unstable();
            let at = (sorted.len() * 95).div_ceil(100).saturating_sub(1);
            window.p95 = sorted.get(at).copied();
            window.since_computed = 0;
        }
    }

    /// The p95 of `service.method`'s recent answers, once enough were seen.
    pub(crate) fn p95(&self, service: &str, method: &str) -> Option<Duration> {
        self.lock().get(service)?.get(method)?.p95
    }
}

/// How long to wait before hedging a call of `request`'s method.
fn delay_of(call: &Call, request: &ClientRequest, delay: HedgeDelay) -> Duration {
    match delay {
        HedgeDelay::Fixed(d) => d,
        HedgeDelay::P95 { until_known } => call
            .settings()
            .latencies
            .p95(&request.service, &request.method)
            .unwrap_or(until_known),
    }
}

/// Run `request` under `failbackup`.
pub(crate) async fn run(
    call: Call,
    request: ClientRequest,
    delay: HedgeDelay,
) -> Result<ClientResponse, Status> {
    let started = Instant::now();
    let wait = delay_of(&call, &request, delay);
    let first_steer = Steer::new(Want::Any, Vec::new());
    let first = Box::pin(timed(&call, &request, first_steer.clone()));
    let timer = Box::pin(tokio::time::sleep_until(started + wait));
    let first = match select(first, timer).await {
        Either::Left(((outcome, took), _)) => {
            let status = match outcome.result {
                Ok(response) => {
                    call.answered(&request, took);
                    return Ok(response);
                }
                Err(status) => status,
            };
            // Failed before the delay: one retry elsewhere, if that is safe.
            let sent = outcome.landed.as_ref().is_some_and(|l| l.sent);
            if !retry_allowed(&status, sent, call.idempotent)
                || Instant::now() >= request.deadline
                || !call.spend(&request, RetryKind::Failover, 2, Some(status.code()))
            {
                return Err(status);
            }
            let tried = outcome.landed.into_iter().map(|l| l.addr).collect();
            let (outcome, took) = timed(&call, &request, Steer::new(Want::Other, tried)).await;
            // Refused by this client's own limit: the call ends with the failure that
            // prompted the retry, as a spent budget ends it (`fail_mode`'s retry loop).
            let result = match outcome.result {
                Err(refused) if refused.is_client_limit() => Err(status),
                result => result,
            };
            return finish(&call, &request, result, took);
        }
        Either::Right((_, first)) => first,
    };
    // No answer within the delay. Hedge only what may run twice, within the deadline and
    // the budget; else keep waiting for the first.
    if !call.idempotent
        || Instant::now() >= request.deadline
        || !call.spend(&request, RetryKind::Hedge, 2, None)
    {
        let (outcome, took) = first.await;
        return finish(&call, &request, outcome.result, took);
    }
    // Away from where the first went (if it got that far: it may still be dialling).
    let tried = first_steer.landed().into_iter().map(|l| l.addr).collect();
    let second = Box::pin(timed(&call, &request, Steer::new(Want::Other, tried)));
    let (done, other, (first_copy, other_copy)) = match select(first, second).await {
        Either::Left((done, other)) => (done, other, (HedgeOutcome::Original, HedgeOutcome::Hedge)),
        Either::Right((done, other)) => {
            (done, other, (HedgeOutcome::Hedge, HedgeOutcome::Original))
        }
    };
    let (outcome, took) = done;
    // The hedge refused by this client's own limit (a layer below): as if the budget had
    // been spent — the original, still running, is the call.
    let hedge_refused = first_copy == HedgeOutcome::Hedge
        && outcome.result.as_ref().is_err_and(Status::is_client_limit);
    match outcome.result {
        // A retryable failure of one copy: the other may still succeed.
        Err(status) if hedge_refused || retry_allowed(&status, true, true) => {
            let (outcome, took) = other.await;
            let taken = match outcome.result {
                Ok(_) => other_copy,
                Err(_) => HedgeOutcome::BothFailed,
            };
            call.hedge_settled(&request, taken);
            finish(&call, &request, outcome.result, took)
        }
        // Dropping `other` on return cancels the losing attempt on its server.
        result => {
            call.hedge_settled(&request, first_copy);
            finish(&call, &request, result, took)
        }
    }
}

/// The call's result, a success's latency recorded: the answering copy's own time, not the
/// call's. A hedge that won records its own latency and the cancelled original none, so an
/// instance that is always slow never enters the p95 (recording the call's time — delay plus
/// hedge — would instead raise the delay by a little after each such call, until it reached
/// the slow instance's latency and hedging stopped helping).
fn finish(
    call: &Call,
    request: &ClientRequest,
    result: Result<ClientResponse, Status>,
    took: Duration,
) -> Result<ClientResponse, Status> {
    if result.is_ok() {
        call.answered(request, took);
    }
    result
}

/// One attempt and how long it took.
async fn timed(call: &Call, request: &ClientRequest, steer: Steer) -> (Outcome, Duration) {
    let started = Instant::now();
    let outcome = call.attempt(request, steer).await;
    (outcome, started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_p95_is_known_after_enough_answers_and_follows_the_window() {
        let latencies = Latencies::default();
        for ms in 1..ENOUGH as u64 {
            latencies.record("S", "m", Duration::from_millis(ms));
        }
        assert_eq!(latencies.p95("S", "m"), None, "not enough answers yet");
        let mut shuffled: Vec<u64> = (1..=100).collect();
        fastrand::shuffle(&mut shuffled);
        let latencies = Latencies::default();
        for ms in &shuffled {
            latencies.record("S", "m", Duration::from_millis(*ms));
        }
        // 100 answers of 1..=100 ms, recomputed after the 96th: its p95 is near 95 ms.
        let p95 = latencies.p95("S", "m").unwrap_or_default();
        assert!(
            (Duration::from_millis(85)..=Duration::from_millis(100)).contains(&p95),
            "{p95:?}"
        );
        assert_eq!(latencies.p95("S", "other"), None);
        // The window keeps the last 128: a method that became fast gets a short delay.
        for _ in 0..WINDOW {
            latencies.record("S", "m", Duration::from_millis(2));
        }
        assert_eq!(latencies.p95("S", "m"), Some(Duration::from_millis(2)));
    }
}
