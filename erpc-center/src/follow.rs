//! What the registries' followers share: turning a service's instances into endpoints, and
//! waiting out a lost registry without outliving the client that follows it.

use std::collections::BTreeMap;
use std::time::Duration;

use erpc_core::discovery::{Endpoints, Instance};
use tokio::sync::watch;

/// First wait after the registry is lost; doubles up to [`MAX_BACKOFF`].
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between attempts while the registry is unreachable.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The endpoints of a service's instances (by id).
pub(crate) fn endpoints(instances: &BTreeMap<String, Instance>) -> Endpoints {
    instances.values().filter_map(Instance::endpoint).collect()
}

/// Wait `backoff` before trying the registry again (doubling it for next time), keeping the
/// last list meanwhile. `false` if every receiver went away: stop following.
pub(crate) async fn pause<T>(tx: &watch::Sender<T>, backoff: &mut Duration) -> bool {
    tokio::select! {
        _ = tx.closed() => return false,
        _ = tokio::time::sleep(*backoff) => {}
    }
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
    true
}
