//! What the registries' followers share: turning a service's instances into endpoints, and
//! waiting out a lost registry without outliving the client that follows it.

use std::collections::BTreeMap;
use std::time::Duration;

use erpc_core::discovery::{Endpoints, Instance};
use tokio::sync::watch;

/// The ceiling of the first (random) wait after the registry is lost; doubles up to
/// [`MAX_BACKOFF`].
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The largest ceiling of the wait between attempts while the registry is unreachable.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The endpoints of a service's instances (by id).
pub(crate) fn endpoints(instances: &BTreeMap<String, Instance>) -> Endpoints {
    instances.values().filter_map(Instance::endpoint).collect()
}

/// Wait a random time below `backoff` before trying the registry again (doubling it for
/// next time), keeping the last list meanwhile. `false` if every receiver went away: stop
/// following.
pub(crate) async fn pause<T>(tx: &watch::Sender<T>, backoff: &mut Duration) -> bool {
    tokio::select! {
        _ = tx.closed() => return false,
        _ = tokio::time::sleep(jittered(*backoff)) => {}
    }
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
    true
}

/// A uniformly random wait in `[0, ceiling)` ("Full Jitter", AWS's "Exponential Backoff and
/// Jitter", <https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/>):
/// the many clients that lost a registry together (a restart) do not all try it again in the
/// same instant at every step.
pub(crate) fn jittered(ceiling: Duration) -> Duration {
    ceiling.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Followers that lost the registry together must not retry it together.
    #[test]
    fn waits_spread_over_the_backoff() {
        let waits: Vec<Duration> = (0..100).map(|_| jittered(FIRST_BACKOFF)).collect();
        assert!(waits.iter().all(|w| *w < FIRST_BACKOFF));
        let (Some(min), Some(max)) = (waits.iter().min(), waits.iter().max()) else {
            unreachable!("100 waits")
        };
        // Uniform: 100 draws within half the window of each other has odds of ~2^-92.
        assert!(*max - *min > FIRST_BACKOFF / 2, "{min:?}..{max:?}");
    }
}
